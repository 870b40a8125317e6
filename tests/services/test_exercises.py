"""The exercise library API: search per filter and locale, ladders, and a clinic's own exercises.

Expected results are computed from the chain files themselves, so these tests follow the catalogue.
"""

import uuid

import pytest
from sqlmodel import select

from app.models.catalogue_files import STOP_RULES, ExerciseSpec, load_catalogue
from app.models.dose_words import fill, without_placeholders
from app.models.exercise import Exercise
from app.services import exercises
from tests.factories import exercise_body, make_clinic, make_user, staff_headers
from tests.helpers import assert_problem

CATALOGUE = load_catalogue()
SPECS: dict[str, ExerciseSpec] = {spec.slug: spec for chain in CATALOGUE for spec in chain.exercises}
CHAIN_OF = {spec.slug: chain.chain for chain in CATALOGUE for spec in chain.exercises}
LOCKED = {"prone-press-up-overpressure", "slump-slider", "sciatic-tensioner", "side-lying-femoral-tensioner"}
NEURO_RULES = ["leg_symptoms_spread", "nerve_glide_symptoms", "leg_pain_above_3"]


@pytest.fixture(scope="module")
def reader() -> dict[str, str]:
    """A physio of a clinic with no exercises of its own, shared by the tests that change nothing
    (a world per parametrised case would be most of this module's run time)."""
    from sqlmodel import Session

    from app.db import get_engine

    with Session(get_engine(), expire_on_commit=False) as session:
        physio = make_user(session, make_clinic(session))
        session.commit()
        return staff_headers(physio)


def search(client, headers, **params) -> list[dict]:
    """Every result of a search, following next_cursor."""
    items, cursor = [], None
    while True:
        query = {"limit": 200, **params} | ({"cursor": cursor} if cursor else {})
        response = client.get("/v1/exercises", params=query, headers=headers)
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if not cursor:
            return items


def catalogue_search(client, headers, **params) -> set[str]:
    return {item["slug"] for item in search(client, headers, include_own=False, **params)}


def matches(spec: ExerciseSpec, q: str, locale: str) -> bool:
    text = spec.localised(locale)
    needle = " ".join(q.split()).casefold()
    haystacks = [text.name.casefold(), without_placeholders(text.summary).casefold(), *spec.tags]
    return any(needle in haystack for haystack in haystacks)


def filled(spec: ExerciseSpec, line: str, locale: str) -> str:
    return fill(line, spec.default_dose.model_dump(), locale)


# --- reading the catalogue ----------------------------------------------------------------------


def test_catalogue_is_readable_by_staff_and_api_keys_not_patients(client, world):
    for who in ("admin", "physio", "api_key"):
        assert catalogue_search(client, world.a.headers[who]) == set(SPECS)
    assert_problem(client.get("/v1/exercises", headers=world.a.headers["patient"]), 403, "staff_only")
    assert_problem(
        client.get("/v1/exercises/bird-dog", headers=world.a.headers["patient"]), 403, "staff_only"
    )


def test_pages_cover_everything_once_in_id_order(client, reader):
    headers = reader
    seen, cursor = [], None
    while True:
        params = {"limit": 7, "include_own": False} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/exercises", params=params, headers=headers).json()
        assert len(page["items"]) <= 7
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == len(SPECS)
    assert seen == sorted(seen, key=uuid.UUID)


def test_response_shape_and_clinician_lock(client, reader):
    headers = reader
    by_slug = {item["slug"]: item for item in search(client, headers, include_own=False)}
    assert {slug for slug, item in by_slug.items() if item["requires_clinician_unlock"]} == LOCKED
    press_up = by_slug["prone-press-up"]
    spec = SPECS["prone-press-up"]
    assert press_up["owner"] == "catalogue" and press_up["chain"] == "extension"
    assert press_up["progression_slug"] == spec.progression
    assert press_up["regression_slug"] == spec.regression
    assert press_up["default_dose"] == spec.default_dose.model_dump()
    assert press_up["steps"] == [filled(spec, step, "en") for step in spec.text["en"].steps]
    assert press_up["contraindications"] == spec.contraindications
    assert "pregnancy" in press_up["contraindications"] and press_up["side_required"] is False
    assert press_up["available_locales"] == ["en", "es"]
    assert press_up["stop_rules"] == [{"code": c, "text": STOP_RULES[c]["en"]} for c in spec.stop_rules]
    assert press_up["media"][0]["alt"] == spec.illustration.alt["en"]
    assert press_up["media"][0]["url"].startswith("/media/exercises/prone-press-up.svg?locale=en&v=")
    assert press_up["archived_at"] is None and press_up["locale"] == "en"


FILTERS = [
    pytest.param({"category": "neurodynamics"}, lambda s: s.category == "neurodynamics", id="category"),
    pytest.param({"chain": "bridge"}, lambda s: CHAIN_OF[s.slug] == "bridge", id="chain"),
    pytest.param({"position": "prone"}, lambda s: s.position == "prone", id="position"),
    pytest.param({"equipment": "band"}, lambda s: "band" in s.equipment, id="equipment"),
    pytest.param({"equipment": "strap"}, lambda s: "strap" in s.equipment, id="equipment-in-a-longer-list"),
    pytest.param({"tag": "mckenzie"}, lambda s: "mckenzie" in s.tags, id="tag"),
    pytest.param({"body_region": "hip"}, lambda s: s.body_region == "hip", id="body-region"),
    pytest.param(
        {"chain": "extension", "position": "standing"},
        lambda s: CHAIN_OF[s.slug] == "extension" and s.position == "standing",
        id="filters-combine-with-and",
    ),
    pytest.param({"tag": "no-such-tag"}, lambda s: False, id="unknown-tag-matches-nothing"),
]


@pytest.mark.parametrize(("params", "predicate"), FILTERS)
def test_each_filter_matches_the_files(client, reader, params, predicate):
    expected = {slug for slug, spec in SPECS.items() if predicate(spec)}
    assert catalogue_search(client, reader, **params) == expected
    if params.get("tag") != "no-such-tag":
        assert expected, "the filter should select something in the real catalogue"


QUERIES = [
    pytest.param("bridge", "en", id="english-name"),
    pytest.param("PRESS-UP", "en", id="case-insensitive"),
    pytest.param("  prone   press ", "en", id="whitespace-collapsed"),
    pytest.param("mcgill", "en", id="tag"),
    pytest.param("puente", "es", id="spanish-name"),
    pytest.param("puente", "en", id="spanish-word-in-english"),
    pytest.param("EXTENSIÓN", "es", id="non-ascii-case-folding"),
    pytest.param("plancha", "es", id="spanish-planks"),
    pytest.param("nervio", "es", id="spanish-nerve-glides"),
    pytest.param("deslizamiento", "es", id="spanish-glides"),
    pytest.param("reps", "en", id="placeholders-are-not-searched"),
    pytest.param("bird-dog", "es", id="falls-back-to-english-text"),
    pytest.param("%", "en", id="percent-is-literal"),
    pytest.param("_", "en", id="underscore-is-literal"),
    pytest.param("zzz-nothing", "en", id="no-match"),
]


@pytest.mark.parametrize(("q", "locale"), QUERIES)
def test_free_text_search_per_locale(client, reader, q, locale):
    expected = {slug for slug, spec in SPECS.items() if matches(spec, q, locale)}
    found = catalogue_search(client, reader, q=q, locale=locale)
    assert found == expected


def test_searches_find_what_they_should():
    # Guards the oracle above: these queries are meant to select something.
    assert {slug for slug, spec in SPECS.items() if matches(spec, "puente", "es")} >= {"double-leg-bridge"}
    assert any(matches(spec, "EXTENSIÓN", "es") for spec in SPECS.values())
    assert not any(matches(spec, "EXTENSIÓN", "en") for spec in SPECS.values())
    assert "bird-dog" in {slug for slug, spec in SPECS.items() if matches(spec, "bird-dog", "es")}
    assert not any(matches(spec, "reps", "en") for spec in SPECS.values())
    assert any("{reps}" in spec.text["en"].summary for spec in SPECS.values())


TENSIONERS = {"sciatic-tensioner", "side-lying-femoral-tensioner"}
SPANISH_SEARCHES = [
    pytest.param("plancha", lambda slug: CHAIN_OF[slug] in {"front-plank", "side-plank"}, id="planks"),
    pytest.param("puente", lambda slug: CHAIN_OF[slug] == "bridge", id="bridges"),
    pytest.param("nervio", lambda slug: SPECS[slug].category == "neurodynamics", id="nerve-glides"),
    pytest.param(
        "deslizamiento",
        lambda slug: SPECS[slug].category == "neurodynamics" and slug not in TENSIONERS,
        id="glides-but-not-tensioners",
    ),
]


@pytest.mark.parametrize(("q", "expected"), SPANISH_SEARCHES)
def test_spanish_search_finds_planks_bridges_and_nerve_glides(client, reader, q, expected):
    found = catalogue_search(client, reader, q=q, locale="es")
    assert found == {slug for slug in SPECS if expected(slug)}
    assert len(found) >= 4


def test_spanish_text_and_english_fallback_per_exercise(client, world):
    headers = world.a.headers["physio"] | {"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"}
    bridge = client.get("/v1/exercises/double-leg-bridge", headers=headers).json()
    assert (bridge["locale"], bridge["name"]) == ("es", "Puente")
    assert bridge["stop_rules"][0]["text"] == STOP_RULES[bridge["stop_rules"][0]["code"]]["es"]
    assert bridge["media"][0]["alt"] == SPECS["double-leg-bridge"].illustration.alt["es"]
    own = create(client, world.a.headers["physio"])  # a clinic's own exercise may be English only
    served = client.get(f"/v1/exercises/{own['id']}", headers=headers).json()
    assert (served["locale"], served["name"]) == ("en", own["name"])
    assert served["stop_rules"][0]["text"] == STOP_RULES[served["stop_rules"][0]["code"]]["en"]
    assert served["available_locales"] == ["en"]


def test_every_catalogue_exercise_is_served_in_spanish_with_its_dose_filled(client, reader):
    items = search(client, reader, include_own=False, locale="es")
    assert len(items) == len(SPECS) and {item["locale"] for item in items} == {"es"}
    for item in items:
        spec = SPECS[item["slug"]]
        assert item["summary"] == filled(spec, spec.text["es"].summary, "es")
        assert item["steps"] == [filled(spec, step, "es") for step in spec.text["es"].steps]
        assert item["cautions"] == [filled(spec, caution, "es") for caution in spec.text["es"].cautions]
        assert "{" not in " ".join([item["summary"], *item["steps"], *item["cautions"]]), item["slug"]
        assert (item["contraindications"], item["side_required"]) == (
            spec.contraindications,
            spec.side_required,
        )


def test_dose_words_come_from_the_default_dose(client, reader):
    bridge = client.get("/v1/exercises/double-leg-bridge", headers=reader).json()
    assert "Do 2 sets of 10, holding each for 3 seconds at the top." in bridge["summary"]
    assert "Hold for 3 seconds, then lower slowly." in bridge["steps"]
    spanish = client.get("/v1/exercises/double-leg-bridge", params={"locale": "es"}, headers=reader).json()
    assert "Haz 2 series de 10, aguantando 3 segundos arriba cada vez." in spanish["summary"]
    walk = client.get("/v1/exercises/short-walks", headers=reader).json()
    assert walk["summary"].startswith("Take short walks at an easy pace: 5 minutes at a time, twice a day.")


def test_side_and_contraindications_of_the_nerve_glides(client, reader):
    slump = client.get("/v1/exercises/slump-slider", headers=reader).json()
    assert slump["side_required"] is True and slump["requires_clinician_unlock"] is True
    assert set(slump["contraindications"]) == {"flexion_intolerant", "osteoporosis", "recent_spinal_surgery"}
    assert "the leg your physio chose" in " ".join(slump["steps"])
    strap = client.get("/v1/exercises/strap-hamstring-stretch", headers=reader).json()
    assert strap["contraindications"] == ["neurodynamic_sensitivity"] and strap["side_required"] is False


def test_snapshots_keep_the_placeholders(session):
    row = session.exec(
        select(Exercise).where(Exercise.slug == "double-leg-bridge", Exercise.owner_clinic_id.is_(None))
    ).one()
    raw = exercises.present_every_locale(session, [row])[row.id]
    assert set(raw) == {"en", "es"}
    assert raw["en"].summary == SPECS["double-leg-bridge"].text["en"].summary
    assert "{sets} of {reps}" in raw["en"].summary and "{hold}" in " ".join(raw["es"].steps)
    assert raw["en"].contraindications == ["uncontrolled_hypertension"]
    assert "{" not in exercises.present(session, row, "en").summary


LOCALES = [
    pytest.param({"locale": "es"}, {}, "es", id="param"),
    pytest.param({"locale": "es-MX"}, {}, "es", id="param-region-to-language"),
    pytest.param({"locale": "ES"}, {}, "es", id="param-case"),
    pytest.param({"locale": "fr"}, {"Accept-Language": "es"}, "en", id="param-wins-over-header"),
    pytest.param({}, {"Accept-Language": "fr-FR, es;q=0.5, en;q=0.4"}, "es", id="first-supported"),
    pytest.param({}, {"Accept-Language": "en;q=0.3, es;q=0.8"}, "es", id="q-values-order"),
    pytest.param({}, {"Accept-Language": "es;q=0, en"}, "en", id="q-zero-excluded"),
    pytest.param({}, {"Accept-Language": "fr, de"}, "en", id="unsupported-falls-back"),
    pytest.param({}, {}, "en", id="default"),
    pytest.param({"locale": "x" * 500}, {}, "en", id="param-oversize"),
    pytest.param({"locale": "'; drop table exercise; --"}, {}, "en", id="param-malformed"),
    pytest.param({"locale": "*"}, {}, "en", id="param-wildcard"),
    pytest.param({}, {"Accept-Language": "es;q=abc, ;;;, *;q=0.1"}, "en", id="header-malformed"),
    pytest.param({}, {"Accept-Language": "es;q=2"}, "en", id="header-q-out-of-range"),
    pytest.param({}, {"Accept-Language": ",".join(["fr"] * 1000) + ",es"}, "en", id="header-long"),
]


@pytest.mark.parametrize(("params", "headers", "served"), LOCALES)
def test_locale_negotiation_never_fails(client, reader, params, headers, served):
    response = client.get("/v1/exercises/double-leg-bridge", params=params, headers=reader | headers)
    assert response.status_code == 200, response.text
    assert response.json()["locale"] == served


def test_get_by_id_or_slug(client, world):
    headers = world.a.headers["api_key"]
    by_slug = client.get("/v1/exercises/sciatic-tensioner", headers=headers).json()
    assert by_slug["requires_clinician_unlock"] is True
    assert client.get(f"/v1/exercises/{by_slug['id']}", headers=headers).json() == by_slug
    for missing in (str(uuid.uuid4()), "no-such-exercise", "Bird-Dog", "x" * 300, "%25", "bird_dog"):
        assert_problem(client.get(f"/v1/exercises/{missing}", headers=headers), 404, "not_found")
    # A NUL is refused before any route runs (app/middleware.py).
    assert_problem(client.get("/v1/exercises/a%00b", headers=headers), 422, "invalid_value")


def test_chain_is_the_ladder_easiest_first(client, reader):
    headers = reader
    response = client.get("/v1/exercises/prone-press-up/chain", headers=headers)
    assert response.status_code == 200, response.text
    ladder = response.json()
    extension = next(chain for chain in CATALOGUE if chain.chain == "extension")
    assert ladder["chain"] == "extension" and ladder["title"] == extension.title["en"]
    assert [item["slug"] for item in ladder["exercises"]] == [spec.slug for spec in extension.exercises]
    assert ladder["exercises"][ladder["position"]]["slug"] == "prone-press-up"
    spanish = client.get("/v1/exercises/prone-press-up/chain", params={"locale": "es"}, headers=headers)
    assert spanish.json()["title"] == extension.title["es"]
    assert spanish.json()["exercises"][0]["locale"] == "es"


# --- a clinic's own exercises -------------------------------------------------------------------


def create(client, headers, **fields) -> dict:
    response = client.post("/v1/exercises", json=exercise_body(**fields), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_own_exercise_is_visible_only_to_its_clinic(client, world, unique):
    own = create(client, world.a.headers["physio"], tags=[f"tag-{unique}"])
    assert own["owner"] == "clinic" and own["requires_clinician_unlock"] is False
    assert own["available_locales"] == ["en"]

    mine = search(client, world.a.headers["api_key"], tag=f"tag-{unique}")
    assert [item["id"] for item in mine] == [own["id"]]
    assert search(client, world.a.headers["physio"], tag=f"tag-{unique}", include_own=False) == []
    assert search(client, world.b.headers["physio"], tag=f"tag-{unique}") == []
    assert search(client, world.b.headers["physio"], q=own["name"]) == []
    for path in (own["id"], own["slug"], f"{own['id']}/chain", f"{own['slug']}/chain"):
        assert_problem(client.get(f"/v1/exercises/{path}", headers=world.b.headers["admin"]), 404)
    assert client.get(f"/v1/exercises/{own['slug']}", headers=world.a.headers["physio"]).json() == own


def test_own_exercise_joins_a_catalogue_ladder_for_its_clinic_only(client, world, unique):
    own = create(
        client,
        world.a.headers["physio"],
        chain="bridge",
        step=2,
        category="strength",
        progression="marching-bridge",
        regression="double-leg-bridge",
        alternatives={"easier": ["posterior-pelvic-tilt"], "harder": []},
    )
    ladder = client.get(f"/v1/exercises/{own['slug']}/chain", headers=world.a.headers["physio"]).json()
    bridge = next(chain for chain in CATALOGUE if chain.chain == "bridge")
    slugs = [item["slug"] for item in ladder["exercises"]]
    assert ladder["title"] == bridge.title["en"]
    assert slugs == [
        "double-leg-bridge",
        "banded-bridge",
        own["slug"],
        "marching-bridge",
        "single-leg-bridge",
    ]
    assert ladder["position"] == 2
    other = client.get("/v1/exercises/banded-bridge/chain", headers=world.b.headers["physio"]).json()
    assert own["slug"] not in [item["slug"] for item in other["exercises"]]


def test_own_chain_title_defaults_and_can_be_set(client, world, unique):
    headers = world.a.headers["physio"]
    first = create(client, headers, chain=f"pool-{unique}")
    ladder = client.get(f"/v1/exercises/{first['id']}/chain", headers=headers).json()
    assert ladder["title"] == first["name"] and ladder["position"] == 0
    titled = create(client, headers, chain=f"ball-{unique}", chain_title={"en": "Ball work", "es": "Pelota"})
    ladder = client.get(f"/v1/exercises/{titled['id']}/chain", params={"locale": "es"}, headers=headers)
    assert ladder.json()["title"] == "Pelota"


def test_slugs_are_unique_per_clinic_and_never_shadow_the_catalogue(client, world, unique):
    headers = world.a.headers["physio"]
    assert_problem(
        client.post("/v1/exercises", json=exercise_body(slug="bird-dog"), headers=headers), 409, "slug_taken"
    )
    create(client, headers, slug=f"mine-{unique}")
    assert_problem(
        client.post("/v1/exercises", json=exercise_body(slug=f"mine-{unique}"), headers=headers),
        409,
        "slug_taken",
    )
    create(client, world.b.headers["physio"], slug=f"mine-{unique}")  # another clinic may use it


def test_translations_are_added_by_patching_text(client, world):
    headers = world.a.headers["physio"]
    own = create(client, headers)
    spanish = {"name": "Propio", "summary": "Un ejercicio propio.", "steps": ["Hazlo."], "cautions": ["Ojo."]}
    patched = client.patch(f"/v1/exercises/{own['id']}", json={"text": {"es": spanish}}, headers=headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["available_locales"] == ["en", "es"]
    assert patched.json()["name"] == own["name"]  # served in English: no locale was asked for
    served = client.get(f"/v1/exercises/{own['id']}", params={"locale": "es"}, headers=headers).json()
    assert (served["locale"], served["name"], served["cautions"]) == ("es", "Propio", ["Ojo."])
    assert search(client, headers, q="propio", locale="es")[0]["id"] == own["id"]
    new_english = {"name": "Renamed", "summary": "Changed.", "steps": ["One.", "Two."]}
    renamed = client.patch(f"/v1/exercises/{own['id']}", json={"text": {"en": new_english}}, headers=headers)
    assert renamed.json()["name"] == "Renamed" and renamed.json()["available_locales"] == ["en", "es"]


def test_own_exercise_carries_contraindications_side_and_dose_words(client, world):
    headers = world.a.headers["physio"]
    text = {
        "name": "Wall sit",
        "summary": "Hold for {hold}, {per_day}.",
        "steps": ["Sit back.", "Do {reps}."],
    }
    own = create(
        client,
        headers,
        contraindications=["pregnancy", "hip_replacement"],
        side_required=True,
        default_dose={"sets": 2, "reps": 8, "hold_s": 20, "times_per_day": 2, "days_per_week": 3},
        text={"en": text},
    )
    assert own["contraindications"] == ["pregnancy", "hip_replacement"] and own["side_required"] is True
    assert (own["summary"], own["steps"]) == ("Hold for 20 seconds, twice a day.", ["Sit back.", "Do 8."])
    patched = client.patch(
        f"/v1/exercises/{own['id']}", json={"contraindications": [], "side_required": False}, headers=headers
    ).json()
    assert (patched["contraindications"], patched["side_required"]) == ([], False)
    assert patched["summary"] == own["summary"]
    plain = create(client, headers)
    assert (plain["contraindications"], plain["side_required"]) == ([], False)
    assert_problem(
        client.patch(f"/v1/exercises/{own['id']}", json={"contraindications": ["gout"]}, headers=headers),
        422,
        "validation_error",
    )


def test_patch_changes_only_what_was_sent(client, world):
    headers = world.a.headers["physio"]
    own = create(client, headers, tags=["one"])
    patched = client.patch(
        f"/v1/exercises/{own['slug']}",
        json={
            "requires_clinician_unlock": True,
            "default_dose": {"hold_s": 10, "times_per_day": 2, "days_per_week": 7},
        },
        headers=headers,
    ).json()
    assert patched["requires_clinician_unlock"] is True
    assert patched["default_dose"]["hold_s"] == 10 and patched["default_dose"]["reps"] is None
    assert {k: v for k, v in patched.items() if k not in ("requires_clinician_unlock", "default_dose")} == {
        k: v for k, v in own.items() if k not in ("requires_clinician_unlock", "default_dose")
    }


def test_catalogue_is_read_only_and_writes_are_for_staff(client, world):
    staff = world.a.headers["physio"]
    assert_problem(
        client.patch("/v1/exercises/bird-dog", json={"tags": ["x"]}, headers=staff),
        403,
        "catalogue_read_only",
    )
    assert_problem(client.delete("/v1/exercises/bird-dog", headers=staff), 403, "catalogue_read_only")
    assert_problem(
        client.post("/v1/exercises", json=exercise_body(), headers=world.a.headers["api_key"]),
        403,
        "staff_only",
    )
    own = create(client, staff)
    assert_problem(
        client.patch(f"/v1/exercises/{own['id']}", json={}, headers=world.a.headers["api_key"]),
        403,
        "staff_only",
    )
    assert_problem(client.delete(f"/v1/exercises/{own['id']}", headers=world.a.headers["api_key"]), 403)


def test_archived_exercises_stay_readable_but_leave_search(client, world, unique):
    headers = world.a.headers["physio"]
    own = create(client, headers, chain=f"arch-{unique}", tags=[f"arch-{unique}"])
    sibling = create(client, headers, chain=f"arch-{unique}", step=2)
    for _ in range(2):  # archiving is idempotent
        response = client.delete(f"/v1/exercises/{own['id']}", headers=headers)
        assert response.status_code == 204 and response.content == b""
    read = client.get(f"/v1/exercises/{own['id']}", headers=headers).json()
    assert read["archived_at"] is not None
    assert search(client, headers, tag=f"arch-{unique}") == []
    assert [item["id"] for item in search(client, headers, tag=f"arch-{unique}", include_archived=True)] == [
        own["id"]
    ]
    sibling_ladder = client.get(f"/v1/exercises/{sibling['id']}/chain", headers=headers).json()
    assert [item["id"] for item in sibling_ladder["exercises"]] == [sibling["id"]]
    own_ladder = client.get(f"/v1/exercises/{own['id']}/chain", headers=headers).json()
    assert [item["id"] for item in own_ladder["exercises"]] == [own["id"], sibling["id"]]
    assert own_ladder["position"] == 0


INVALID_BODIES = [
    pytest.param({"text": {"es": {"name": "X", "summary": "Y", "steps": ["Z"]}}}, id="english-required"),
    pytest.param({"equipment": ["none", "mat"]}, id="none-stands-alone"),
    pytest.param({"stop_rules": ["nerve_glide_symptoms"]}, id="nerve-rule-on-strength"),
    pytest.param(
        {"category": "neurodynamics", "stop_rules": [*NEURO_RULES, "pain_above_5"]}, id="nerve-5-of-10"
    ),
    pytest.param(
        {"category": "neurodynamics", "stop_rules": ["leg_symptoms_spread"]}, id="nerve-rules-missing"
    ),
    pytest.param({"contraindications": ["heart_disease"]}, id="unknown-contraindication"),
    pytest.param({"contraindications": ["pregnancy", "pregnancy"]}, id="duplicate-contraindication"),
    pytest.param({"side_required": "left"}, id="side-required-boolean"),
    pytest.param(
        {"text": {"en": {"name": "X", "summary": "Do {count}.", "steps": ["Z"]}}}, id="bad-placeholder"
    ),
    pytest.param({"default_dose": {"times_per_day": 1, "days_per_week": 3}}, id="dose-without-amount"),
    pytest.param({"step": 51}, id="step-range"),
    pytest.param({"category": "yoga"}, id="unknown-category"),
    pytest.param({"slug": "Not A Slug"}, id="slug-pattern"),
    pytest.param({"colour": "red"}, id="unknown-field"),
    pytest.param({"step": "1"}, id="strict-types"),
    pytest.param({"requires_clinician_unlock": None}, id="unlock-is-explicit"),
]


@pytest.mark.parametrize("fields", INVALID_BODIES)
def test_create_applies_the_file_rules(client, reader, fields):
    body = exercise_body(**fields)
    response = client.post("/v1/exercises", json=body, headers=reader)
    assert_problem(response, 422, "validation_error")


def test_a_nul_anywhere_in_an_exercise_is_refused(client, reader):
    # Inside a nested map: refused before any route runs (app/middleware.py), on both databases.
    body = exercise_body(tags=["ok"], indications=["a"], media=[], chain_title={"en": "a\x00"})
    assert_problem(client.post("/v1/exercises", json=body, headers=reader), 422, "invalid_value")


INVALID_LINKS = [
    pytest.param({"progression": "no-such-exercise"}, "progression", id="unknown"),
    pytest.param({"chain": "bridge", "regression": "bird-dog"}, "regression", id="other-chain"),
    pytest.param(
        {"alternatives": {"easier": [], "harder": ["sciatic-tensioner"]}},
        "alternatives.harder[0]",
        id="locked",
    ),
]


@pytest.mark.parametrize(("fields", "field"), INVALID_LINKS)
def test_links_must_name_a_fitting_exercise(client, reader, fields, field):
    response = client.post("/v1/exercises", json=exercise_body(**fields), headers=reader)
    body = assert_problem(response, 400, "invalid_exercise")
    assert [error["loc"] for error in body["errors"]] == [["body", field]]


REGRESSIONS_THAT_ARE_NOT_A_STEP_BACK = [
    pytest.param(
        {"chain": "extension", "step": 7, "regression": "prone-press-up-overpressure"},
        "clinician_locked",
        id="locked",
    ),
    pytest.param({"chain": "bridge", "step": 2, "regression": "banded-bridge"}, "not_easier", id="same-step"),
    pytest.param(
        {"chain": "bridge", "step": 2, "regression": "marching-bridge"}, "not_easier", id="higher-step"
    ),
]


@pytest.mark.parametrize(("fields", "kind"), REGRESSIONS_THAT_ARE_NOT_A_STEP_BACK)
def test_a_regression_must_be_an_easier_unlocked_step(client, reader, fields, kind):
    response = client.post("/v1/exercises", json=exercise_body(**fields), headers=reader)
    body = assert_problem(response, 400, "invalid_exercise")
    assert [(error["loc"], error["type"]) for error in body["errors"]] == [(["body", "regression"], kind)]


def test_a_regression_may_skip_steps_without_being_pointed_back_at(client, world):
    headers = world.a.headers["physio"]
    own = create(client, headers, chain="extension", step=7, regression="prone-press-up")
    assert own["regression_slug"] == "prone-press-up"
    # A PATCH is checked on the whole exercise: moving it down to its regression's step is refused.
    body = assert_problem(
        client.patch(f"/v1/exercises/{own['id']}", json={"step": 4}, headers=headers), 400, "invalid_exercise"
    )
    assert [(error["loc"], error["type"]) for error in body["errors"]] == [
        (["body", "regression"], "not_easier")
    ]


def test_links_to_another_clinics_exercise_are_unknown(client, world):
    theirs = create(client, world.b.headers["physio"], chain="bridge")
    response = client.post(
        "/v1/exercises",
        json=exercise_body(chain="bridge", progression=theirs["slug"]),
        headers=world.a.headers["physio"],
    )
    assert_problem(response, 400, "invalid_exercise")


def test_patch_is_checked_as_a_whole(client, world):
    headers = world.a.headers["physio"]
    own = create(client, headers, category="neurodynamics", stop_rules=NEURO_RULES)
    url = f"/v1/exercises/{own['id']}"
    # Each field is fine alone; together with the stored stop rules the exercise would break a rule.
    body = assert_problem(
        client.patch(url, json={"category": "strength"}, headers=headers), 400, "invalid_exercise"
    )
    assert body["errors"][0]["loc"] == ["body", "stop_rules"]
    assert_problem(client.patch(url, json={"category": None}, headers=headers), 422, "validation_error")
    assert_problem(client.patch(url, json={"slug": "renamed"}, headers=headers), 422, "validation_error")
    nul_text = {"es": {"name": "N\x00", "summary": "S", "steps": ["S"]}}
    assert_problem(client.patch(url, json={"text": nul_text}, headers=headers), 422, "invalid_value")
    assert_problem(
        client.patch(url, json={"progression": own["slug"]}, headers=headers), 400, "invalid_exercise"
    )
    assert_problem(
        client.patch(url, json={"progression": "bird-dog"}, headers=headers), 400, "invalid_exercise"
    )
    cleared = client.patch(url, json={"progression": None, "category": "neurodynamics"}, headers=headers)
    assert cleared.status_code == 200 and cleared.json()["progression_slug"] is None


BAD_QUERIES = [
    pytest.param({"cursor": "!!!"}, 400, "invalid_cursor", id="bad-cursor"),
    pytest.param({"cursor": "AAAA"}, 400, "invalid_cursor", id="short-cursor"),
    pytest.param({"q": "x" * 101}, 422, "validation_error", id="oversize-q"),
    pytest.param({"category": "yoga"}, 422, "validation_error", id="unknown-category"),
    pytest.param({"position": "upside_down"}, 422, "validation_error", id="unknown-position"),
    pytest.param({"equipment": "rocket"}, 422, "validation_error", id="unknown-equipment"),
    pytest.param({"body_region": "neck"}, 422, "validation_error", id="unknown-body-region"),
    pytest.param({"tag": "Not A Tag"}, 422, "validation_error", id="malformed-tag"),
    pytest.param({"chain": "../etc"}, 422, "validation_error", id="malformed-chain"),
    pytest.param({"include_own": "perhaps"}, 422, "validation_error", id="bad-boolean"),
    pytest.param({"q": "a\x00b"}, 422, "invalid_value", id="nul-in-q"),
]


@pytest.mark.parametrize(("params", "status", "code"), BAD_QUERIES)
def test_bad_search_input_is_a_problem_not_a_500(client, reader, params, status, code):
    response = client.get("/v1/exercises", params=params, headers=reader)
    assert_problem(response, status, code)


def test_limit_is_clamped(client, reader):
    headers = reader
    assert len(client.get("/v1/exercises", params={"limit": 10**9}, headers=headers).json()["items"]) > 0
    assert len(client.get("/v1/exercises", params={"limit": -5}, headers=headers).json()["items"]) == 1
