"""Programmes: whole-document validation, lifecycle, revisions with If-Match, templates, patient views."""

import hashlib
import threading
import uuid

import pytest
from sqlmodel import func, select

from app.models.programme import ProgrammePhase, ProgrammeRevision
from app.services import patient_app
from tests.helpers import assert_problem
from tests.logging_helpers import document_of


def item(exercise="double-leg-bridge", **dose):
    return {"exercise": exercise, "sets": 2, "reps": 10, "hold_s": 3, "times_per_day": 1, **dose}


def body(*phases, **fields):
    phases = phases or ([item(), item("cat-camel", sets=None, reps=6, hold_s=None)],)
    return {
        "title": "Back pain, phase plan",
        "start_date": "2026-11-02",
        "phases": [{"name": f"Phase {i + 1}", "items": items} for i, items in enumerate(phases)],
        **fields,
    }


def create(client, tenant, payload=None, who="physio"):
    response = client.post(
        f"/v1/patients/{tenant.patient.id}/programmes", json=payload or body(), headers=tenant.headers[who]
    )
    assert response.status_code == 201, response.text
    return response.json()


def put(client, tenant, programme, document, revision=None, who="physio"):
    headers = {**tenant.headers[who], "If-Match": f'"{revision or programme["revision"]}"'}
    return client.put(f"/v1/programmes/{programme['id']}", json=document, headers=headers)


def action(client, tenant, programme_id, name, **headers):
    return client.post(
        f"/v1/programmes/{programme_id}/{name}", headers={**tenant.headers["physio"], **headers}
    )


# --- creating and validating -----------------------------------------------------------------------


def test_create_from_scratch(client, world):
    response = client.post(
        f"/v1/patients/{world.a.patient.id}/programmes", json=body(), headers=world.a.headers["physio"]
    )
    assert response.status_code == 201, response.text
    programme = response.json()
    assert response.headers["ETag"] == '"1"'
    assert programme["status"] == "draft" and programme["revision"] == 1
    assert programme["auto_progress"] == "suggest"  # the clinic's default
    items = programme["phases"][0]["items"]
    assert [i["exercise_slug"] for i in items] == ["double-leg-bridge", "cat-camel"]
    assert items[0]["days_of_week"] == [1, 2, 3, 4, 5, 6, 7]
    assert items[0]["exercise_name"] == "Bridge"
    assert all(uuid.UUID(i["id"]) for i in items)


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("sets", 0),
        ("sets", 11),
        ("reps", 0),
        ("reps", 101),
        ("hold_s", 0),
        ("hold_s", 601),
        ("rest_s", -1),
        ("rest_s", 601),
        ("duration_s", 0),
        ("duration_s", 7201),
        ("times_per_day", 0),
        ("times_per_day", 13),
        ("reps_max", 101),
        ("days_of_week", [0]),
        ("days_of_week", [8]),
        ("days_of_week", []),
        ("days_of_week", [1, 1]),
        ("side", "up"),
        ("notes", "x" * 1001),
        ("load", "x" * 101),
        ("reps_max", 5),
    ],
)
def test_every_dose_bound_is_enforced(client, world, field, bad):
    document = body([item(**{field: bad})])
    response = client.post(
        f"/v1/patients/{world.a.patient.id}/programmes", json=document, headers=world.a.headers["physio"]
    )
    assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize(
    ("field", "edge"),
    [
        ("sets", 1),
        ("sets", 10),
        ("reps", 1),
        ("reps", 100),
        ("hold_s", 600),
        ("rest_s", 0),
        ("rest_s", 600),
        ("duration_s", 7200),
        ("times_per_day", 12),
        ("days_of_week", [7, 1]),
    ],
)
def test_dose_bounds_are_inclusive(client, world, field, edge):
    programme = create(client, world.a, body([item(**{field: edge})]))
    stored = programme["phases"][0]["items"][0][field]
    assert stored == (sorted(edge) if isinstance(edge, list) else edge)


@pytest.mark.parametrize(
    "document",
    [
        body(start_date="2026-11-10", end_date="2026-11-09"),
        body(current_phase=1),
        {**body(), "phases": []},
        body([]),
        body([item(reps=None, hold_s=None)]),
        body([item(progression_rule={"variable": "duration_s", "step": 5, "ceiling": 60})]),
        body([item(progression_rule={"variable": "reps", "step": 2, "ceiling": 8})]),
        body([item(progression_rule={"variable": "reps", "step": 2, "ceiling": 101})]),
        body([item(progression_rule={"variable": "reps", "step": 0, "ceiling": 15})]),
        {**body(), "unknown": 1},
        body([{**item(), "colour": "red"}]),
        body(*[[item()]] * 13),
    ],
)
def test_document_shape_is_validated(client, world, document):
    response = client.post(
        f"/v1/patients/{world.a.patient.id}/programmes", json=document, headers=world.a.headers["physio"]
    )
    assert_problem(response, 422, "validation_error")


def test_exercises_must_exist_and_be_visible(client, world, session):
    from tests.factories import make_exercise

    theirs = make_exercise(session, world.b.clinic)
    session.commit()
    document = body([item("no-such-exercise"), item(theirs.slug), item(str(uuid.uuid4()))])
    response = client.post(
        f"/v1/patients/{world.a.patient.id}/programmes", json=document, headers=world.a.headers["physio"]
    )
    problem = assert_problem(response, 400, "invalid_programme")
    assert [(e["loc"][-2], e["type"]) for e in problem["errors"]] == [
        (0, "unknown_exercise"),
        (1, "unknown_exercise"),
        (2, "unknown_exercise"),
    ]


def test_locked_exercise_needs_a_clinicians_unlock(client, world):
    locked = item("sciatic-tensioner", sets=None, reps=5, hold_s=None, side="left")
    response = client.post(
        f"/v1/patients/{world.a.patient.id}/programmes",
        json=body([locked]),
        headers=world.a.headers["physio"],
    )
    problem = assert_problem(response, 400, "invalid_programme")
    assert problem["errors"][0]["type"] == "exercise_locked"

    unlocked = {**locked, "clinician_unlocked": True}
    by_ehr = client.post(
        f"/v1/patients/{world.a.patient.id}/programmes",
        json=body([unlocked]),
        headers=world.a.headers["api_key"],
    )
    assert assert_problem(by_ehr, 400, "invalid_programme")["errors"][0]["type"] == "unlock_needs_clinician"

    programme = create(client, world.a, body([unlocked]))
    it = programme["phases"][0]["items"][0]
    assert it["requires_clinician_unlock"] is True and it["clinician_unlocked"] is True
    # The EHR may still edit the programme as long as it keeps the clinician's unlock as it was.
    document = document_of(programme)
    document["title"] = "Edited by the EHR"
    assert put(client, world.a, programme, document, who="api_key").status_code == 200


def test_archived_exercise_cannot_be_added_but_stays_where_used(client, world, session):
    from tests.factories import make_exercise

    own = make_exercise(session, world.a.clinic)
    session.commit()
    programme = create(client, world.a, body([item(own.slug)]))
    assert client.delete(f"/v1/exercises/{own.slug}", headers=world.a.headers["physio"]).status_code == 204
    again = client.post(
        f"/v1/patients/{world.a.patient.id}/programmes",
        json=body([item(own.slug)]),
        headers=world.a.headers["physio"],
    )
    assert assert_problem(again, 400, "invalid_programme")["errors"][0]["type"] == "exercise_archived"
    document = document_of(programme)
    document["title"] = "Still fine"
    assert put(client, world.a, programme, document).status_code == 200


# --- lifecycle --------------------------------------------------------------------------------------


def test_lifecycle_moves_and_revisions(client, world):
    programme = create(client, world.a)
    pid = programme["id"]
    expected = [
        ("activate", "active"),
        ("pause", "paused"),
        ("resume", "active"),
        ("pause", "paused"),
        ("complete", "completed"),
    ]
    for number, (name, status) in enumerate(expected, start=2):
        response = action(client, world.a, pid, name)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
        assert response.json()["revision"] == number
        assert response.headers["ETag"] == f'"{number}"'
    revisions = client.get(f"/v1/programmes/{pid}/revisions", headers=world.a.headers["physio"]).json()[
        "items"
    ]
    assert [(r["number"], r["reason"]) for r in revisions] == [(1, "edit")] + [
        (n, "status") for n in range(2, 7)
    ]


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([], ["pause", "resume", "complete"]),
        (["activate"], ["activate", "resume"]),
        (["activate", "pause"], ["activate", "pause"]),
        (["activate", "complete"], ["activate", "pause", "resume", "complete", "cancel"]),
        (["cancel"], ["activate", "pause", "resume", "complete", "cancel"]),
    ],
)
def test_illegal_moves_are_409(client, world, path, illegal):
    programme = create(client, world.a)
    for name in path:
        assert action(client, world.a, programme["id"], name).status_code == 200
    for name in illegal:
        assert_problem(action(client, world.a, programme["id"], name), 409, "invalid_transition")


@pytest.mark.parametrize("path", [[], ["activate"], ["activate", "pause"]])
def test_cancel_from_every_open_state(client, world, path):
    programme = create(client, world.a)
    for name in path:
        action(client, world.a, programme["id"], name)
    assert action(client, world.a, programme["id"], "cancel").json()["status"] == "cancelled"


def test_closed_programme_cannot_be_edited(client, world):
    programme = create(client, world.a)
    closed = action(client, world.a, programme["id"], "cancel").json()
    assert_problem(put(client, world.a, closed, document_of(closed)), 409, "programme_closed")


def test_one_current_programme_per_patient(client, world):
    first = create(client, world.a)
    second = create(client, world.a)
    assert action(client, world.a, first["id"], "activate").status_code == 200
    assert_problem(action(client, world.a, second["id"], "activate"), 409, "patient_has_current_programme")
    action(client, world.a, first["id"], "pause")
    assert_problem(action(client, world.a, second["id"], "activate"), 409, "patient_has_current_programme")
    action(client, world.a, first["id"], "complete")
    assert action(client, world.a, second["id"], "activate").status_code == 200


# --- If-Match and revisions ---------------------------------------------------------------------------


def test_put_needs_if_match_and_refuses_stale(client, world):
    programme = create(client, world.a)
    url = f"/v1/programmes/{programme['id']}"
    document = document_of(programme)
    assert_problem(
        client.put(url, json=document, headers=world.a.headers["physio"]), 428, "if_match_required"
    )
    for bad in ("abc", '"1.es"', '"-1"'):
        headers = {**world.a.headers["physio"], "If-Match": bad}
        assert_problem(client.put(url, json=document, headers=headers), 400, "invalid_if_match")
    assert_problem(put(client, world.a, programme, document, revision=7), 412, "stale_revision")
    assert put(client, world.a, programme, document, revision=1).status_code == 200
    assert_problem(put(client, world.a, programme, document, revision=1), 412, "stale_revision")
    assert_problem(
        action(client, world.a, programme["id"], "activate", **{"If-Match": '"1"'}), 412, "stale_revision"
    )


def test_edit_keeps_item_ids_and_freezes_old_revisions(client, world):
    programme = create(client, world.a)
    first_ids = [i["id"] for i in programme["phases"][0]["items"]]
    document = document_of(programme)
    document["phases"][0]["items"][0]["reps"] = 12
    del document["phases"][0]["items"][1]  # remove cat-camel
    document["phases"].append({"name": "Build", "items": [item("marching-bridge", reps=6)]})
    edited = put(client, world.a, programme, document)
    assert edited.status_code == 200, edited.text
    new = edited.json()
    assert new["revision"] == 2 and edited.headers["ETag"] == '"2"'
    assert new["phases"][0]["items"][0]["id"] == first_ids[0]
    assert new["phases"][0]["items"][0]["reps"] == 12
    assert [len(p["items"]) for p in new["phases"]] == [1, 1]

    old = client.get(
        f"/v1/programmes/{programme['id']}/revisions/1", headers=world.a.headers["physio"]
    ).json()
    assert [i["id"] for i in old["programme"]["phases"][0]["items"]] == first_ids
    assert old["programme"]["phases"][0]["items"][0]["reps"] == 10 and old["reason"] == "edit"
    assert_problem(
        client.get(f"/v1/programmes/{programme['id']}/revisions/9", headers=world.a.headers["physio"]), 404
    )

    foreign = document_of(new)
    foreign["phases"][0]["items"][0]["id"] = str(uuid.uuid4())
    problem = assert_problem(put(client, world.a, new, foreign), 400, "invalid_programme")
    assert problem["errors"][0]["type"] == "unknown_item"


def test_concurrent_edits_with_the_same_if_match(client, world, session):
    programme = create(client, world.a)
    results: dict[str, int] = {}
    start = threading.Barrier(2)

    def edit(title: str) -> None:
        document = document_of(programme)
        document["title"] = title
        document["phases"][0]["name"] = title
        start.wait()
        results[title] = put(client, world.a, programme, document, revision=1).status_code

    threads = [threading.Thread(target=edit, args=(title,)) for title in ("Alpha", "Bravo")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results.values()) == [200, 412], results
    winner = next(title for title, code in results.items() if code == 200)
    current = client.get(f"/v1/programmes/{programme['id']}", headers=world.a.headers["physio"]).json()
    assert current["revision"] == 2 and current["title"] == winner
    pid = uuid.UUID(programme["id"])
    revisions = session.exec(select(func.count()).where(ProgrammeRevision.programme_id == pid)).one()
    names = session.exec(select(ProgrammePhase.name).where(ProgrammePhase.programme_id == pid)).all()
    session.commit()
    assert revisions == 2 and names == [winner]  # the loser wrote nothing


# --- templates ---------------------------------------------------------------------------------------


def template_body(name="Sciatica, extension preference, acute"):
    return {
        "name": name,
        "description": "Directional-preference start",
        "phases": [
            {
                "name": "Settle",
                "items": [
                    item(
                        "prone-lying-over-pillows",
                        sets=1,
                        reps=None,
                        hold_s=None,
                        duration_s=120,
                        times_per_day=6,
                    )
                ],
            },
            {"name": "Load", "items": [item(), item("bird-dog", sets=1, reps=10, hold_s=5)]},
        ],
    }


def test_template_crud_and_programme_from_template(client, world):
    headers = world.a.headers["physio"]
    created = client.post("/v1/templates", json=template_body(), headers=headers)
    assert created.status_code == 201, created.text
    template = created.json()
    assert template["id"] in {t["id"] for t in client.get("/v1/templates", headers=headers).json()["items"]}
    replaced = client.put(f"/v1/templates/{template['id']}", json=template_body("Renamed"), headers=headers)
    assert replaced.json()["name"] == "Renamed"
    assert client.get(f"/v1/templates/{template['id']}", headers=headers).json()["name"] == "Renamed"

    overrides = [{"phase": 1, "item": 0, "reps": 8, "notes": "Go gently"}]
    programme = create(
        client,
        world.a,
        {"template_id": template["id"], "start_date": "2026-11-02", "item_overrides": overrides},
    )
    assert programme["title"] == "Renamed" and programme["template_id"] == template["id"]
    bridge = programme["phases"][1]["items"][0]
    assert (bridge["reps"], bridge["sets"], bridge["notes"]) == (8, 2, "Go gently")
    assert programme["phases"][0]["items"][0]["duration_s"] == 120

    bad = {
        "template_id": template["id"],
        "start_date": "2026-11-02",
        "item_overrides": [{"phase": 5, "item": 0}],
    }
    response = client.post(f"/v1/patients/{world.a.patient.id}/programmes", json=bad, headers=headers)
    assert_problem(response, 400, "invalid_programme")
    bad_dose = {**bad, "item_overrides": [{"phase": 1, "item": 0, "reps": 0}]}
    response = client.post(f"/v1/patients/{world.a.patient.id}/programmes", json=bad_dose, headers=headers)
    assert_problem(response, 422, "validation_error")

    assert client.delete(f"/v1/templates/{template['id']}", headers=headers).status_code == 204
    assert_problem(client.get(f"/v1/templates/{template['id']}", headers=headers), 404)
    kept = client.get(f"/v1/programmes/{programme['id']}", headers=headers).json()
    assert kept["template_id"] is None and kept["title"] == "Renamed"


def test_template_items_are_checked(client, world):
    document = template_body()
    document["phases"][0]["items"][0]["exercise"] = "nope"
    assert_problem(
        client.post("/v1/templates", json=document, headers=world.a.headers["physio"]),
        400,
        "invalid_programme",
    )


def test_programme_list_filters(client, world):
    first = create(client, world.a)
    action(client, world.a, first["id"], "activate")
    create(client, world.a)
    headers = world.a.headers["physio"]
    listed = client.get(
        "/v1/programmes", params={"patient_id": str(world.a.patient.id)}, headers=headers
    ).json()
    assert len(listed["items"]) >= 2
    active = client.get(
        "/v1/programmes", params={"patient_id": str(world.a.patient.id), "status": "active"}, headers=headers
    ).json()["items"]
    assert [p["id"] for p in active] == [first["id"]]
    assert_problem(client.get("/v1/programmes", params={"status": "sleeping"}, headers=headers), 422)
    other = client.get("/v1/programmes", headers=world.b.headers["physio"]).json()["items"]
    assert first["id"] not in {p["id"] for p in other}


# --- the patient app ----------------------------------------------------------------------------------


def test_patient_sees_own_non_draft_programmes_in_their_language(client, world):
    patient_headers = world.a.headers["patient"]
    client.patch(
        f"/v1/patients/{world.a.patient.id}", json={"locale": "es"}, headers=world.a.headers["physio"]
    )
    programme = create(client, world.a, body([item(), item("knee-plank", reps=4, hold_s=10)]))
    assert programme["id"] not in {
        p["id"] for p in client.get("/v1/me/programmes", headers=patient_headers).json()["items"]
    }
    assert_problem(client.get(f"/v1/me/programmes/{programme['id']}", headers=patient_headers), 404)

    action(client, world.a, programme["id"], "activate")
    assert programme["id"] in {
        p["id"] for p in client.get("/v1/me/programmes", headers=patient_headers).json()["items"]
    }
    response = client.get(f"/v1/me/programmes/{programme['id']}", headers=patient_headers)
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == f'"2.es.{patient_app.TEXT_VERSION}"'
    assert response.headers["Cache-Control"] == "private, no-cache"
    view = response.json()
    assert view["locale"] == "es" and view["revision"] == 2
    bridge, plank = (i["exercise"] for i in view["phases"][0]["items"])
    assert bridge["locale"] == "es" and bridge["name"] == "Puente" and bridge["steps"]
    assert plank["locale"] == "es"  # every catalogue exercise has Spanish (a clinic's own may fall back)
    assert bridge["stop_rules"] and all(rule["text"] for rule in bridge["stop_rules"])
    # The document names the drawing (in the patient's language) with its size and hash, for offline use.
    picture = bridge["media"][0]
    assert picture["url"].startswith("/media/exercises/double-leg-bridge.svg?locale=es&v=")
    served = client.get(picture["url"])
    assert served.status_code == 200 and len(served.content) == picture["size_bytes"]
    assert hashlib.sha256(served.content).hexdigest() == picture["sha256"]
    assert '<title id="title">Puente</title>' in served.text
    assert "urgencias" in " ".join(view["safety"]["emergency_warning"])
    assert "notes" in view["phases"][0]["items"][0]

    assert_problem(
        client.get(f"/v1/me/programmes/{programme['id']}", headers=world.b.headers["patient"]), 404
    )


def test_etag_and_304(client, world):
    programme = create(client, world.a)
    action(client, world.a, programme["id"], "activate")
    url = f"/v1/me/programmes/{programme['id']}"
    headers = world.a.headers["patient"]
    first = client.get(url, headers=headers)
    tag = first.headers["ETag"]
    not_modified = client.get(url, headers={**headers, "If-None-Match": tag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["ETag"] == tag
    assert client.get(url, headers={**headers, "If-None-Match": '"1.en"'}).status_code == 200

    action(client, world.a, programme["id"], "pause")
    changed = client.get(url, headers={**headers, "If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag
    assert changed.json()["status"] == "paused"
    # A locale change is a different representation: the old tag no longer matches.
    client.patch(
        f"/v1/patients/{world.a.patient.id}", json={"locale": "es"}, headers=world.a.headers["physio"]
    )
    relocalised = client.get(url, headers={**headers, "If-None-Match": changed.headers["ETag"]})
    assert relocalised.status_code == 200 and relocalised.json()["locale"] == "es"


def test_programme_changes_emit_events_with_ids_only(client, world, session):
    from app.models.webhook import Event

    programme = create(client, world.a)
    for name in ("activate", "pause", "resume", "complete"):
        action(client, world.a, programme["id"], name)
    rows = session.exec(
        select(Event)
        .where(Event.clinic_id == world.a.clinic.id, Event.type.like("programme.%"))
        .order_by(Event.id)
    ).all()
    session.commit()
    mine = [e for e in rows if e.data["programme_id"] == programme["id"]]
    assert [(e.type, e.data["revision"]) for e in mine] == [
        ("programme.created", 1),
        ("programme.activated", 2),
        ("programme.paused", 3),
        ("programme.activated", 4),
        ("programme.completed", 5),
    ]
    assert set(mine[0].data) == {"programme_id", "patient_id", "status", "revision"}
