"""The patient's programme document as a typed ProgrammeView: a real response validates against it, keeps
every field the app reads, and speaks the patient's language."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from app.db import get_engine
from app.models.programme_view import (
    ExerciseView,
    ItemView,
    PhaseView,
    ProgrammeView,
    SafetyView,
    StoppedNotice,
)
from app.models.safety_text import RED_FLAG_QUESTIONS
from tests.factories import exercise_body
from tests.logging_helpers import backdate_activation, item_ids, log_body

# The document's keys, in order, as the patient app has read them since before the typed view.
KEYS = {
    "programme": [
        "id", "title", "status", "start_date", "end_date", "current_phase", "revision", "locale", "safety",
        "safety_hold", "phases",
    ],
    "safety": ["emergency_warning", "stop_rules_intro"],
    "safety_hold": ["tier", "since", "instruction"],
    "phase": ["position", "name", "goal", "items"],
    "item": [
        "id", "position", "sets", "reps", "reps_max", "hold_s", "rest_s", "duration_s", "load", "side",
        "times_per_day", "days_of_week", "notes", "dose_text", "exercise", "stopped",
    ],
    "exercise": [
        "id", "slug", "locale", "name", "media", "stop_rules", "position", "summary", "steps", "cautions",
    ],
    "media": ["kind", "url", "alt", "size_bytes", "sha256"],
    "stop_rule": ["code", "text"],
    "stopped": ["since", "reasons", "message"],
}  # fmt: skip


def held_programme(client, tenant, locale="en"):
    """An active programme with everything the document can say: two phases with a goal, an end date, a
    reps range, a load, a note, a clinic's own exercise (English text only), an exercise stopped by a red
    session and a safety hold."""
    client.patch(
        f"/v1/patients/{tenant.patient.id}", json={"locale": locale}, headers=tenant.headers["physio"]
    )
    own = client.post("/v1/exercises", json=exercise_body(), headers=tenant.headers["physio"])
    assert own.status_code == 201, own.text
    first = [
        {"exercise": "prone-lying-over-pillows", "duration_s": 120, "times_per_day": 6},
        {"exercise": "bird-dog", "sets": 2, "reps": 6, "reps_max": 8, "hold_s": 8, "days_of_week": [1, 3],
         "load": "none", "notes": "Slowly.", "side": "alternating"},
        {"exercise": own.json()["slug"], "sets": 3, "reps": 5},
    ]  # fmt: skip
    document = {
        "title": "Back pain, two phases",
        "start_date": (datetime.now(UTC) - timedelta(days=1)).date().isoformat(),
        "end_date": (datetime.now(UTC) + timedelta(days=60)).date().isoformat(),
        "phases": [
            {"name": "Calm", "goal": "Settle the leg pain", "items": first},
            {"name": "Build", "items": [{"exercise": "double-leg-bridge", "sets": 2, "reps": 10}]},
        ],
    }
    created = client.post(
        f"/v1/patients/{tenant.patient.id}/programmes", json=document, headers=tenant.headers["physio"]
    )
    assert created.status_code == 201, created.text
    programme = client.post(
        f"/v1/programmes/{created.json()['id']}/activate", headers=tenant.headers["physio"]
    ).json()
    with Session(get_engine()) as session:
        backdate_activation(session, programme, datetime.now(UTC) - timedelta(days=1))
        session.commit()
    now = datetime.now(UTC)
    for leg_symptoms, hours_ago in (("thigh", 2), ("below_knee", 1)):
        at = (now - timedelta(hours=hours_ago)).isoformat()
        body = log_body(programme, item_ids(programme)[0], at, leg_symptoms=leg_symptoms)
        assert client.post("/v1/me/sessions", json=body, headers=tenant.headers["patient"]).status_code == 201
    answers = dict.fromkeys(RED_FLAG_QUESTIONS, False) | {"walking_difficulty": True}
    check = client.post("/v1/me/symptom-checks", json={"answers": answers}, headers=tenant.headers["patient"])
    assert check.json()["tier"] == "urgent"
    return programme


def get_view(client, tenant, programme):
    response = client.get(f"/v1/me/programmes/{programme['id']}", headers=tenant.headers["patient"])
    assert response.status_code == 200, response.text
    return response


def test_a_real_document_validates_as_a_programme_view(client, world):
    programme = held_programme(client, world.a)
    response = get_view(client, world.a, programme)
    view = ProgrammeView.model_validate_json(response.content)
    assert view.model_dump_json().encode() == response.content  # served exactly as the model writes it
    assert str(view.id) == programme["id"] and view.revision == programme["revision"] + 2
    assert view.status == "paused" and view.safety_hold is not None and view.safety_hold.tier == "urgent"
    assert view.end_date is not None and [phase.goal for phase in view.phases] == [
        "Settle the leg pain",
        None,
    ]
    stopped, bird_dog, own = view.phases[0].items
    assert stopped.stopped is not None and stopped.stopped.reasons == ["leg_symptoms_spread"]
    assert bird_dog.stopped is None and (bird_dog.reps, bird_dog.reps_max, bird_dog.load) == (6, 8, "none")
    assert bird_dog.exercise.media and bird_dog.exercise.stop_rules and bird_dog.exercise.steps
    assert own.exercise.slug.startswith("own-") and own.exercise.locale == "en"


def test_every_field_the_app_reads_is_there_in_order(client, world):
    view = get_view(client, world.a, held_programme(client, world.a)).json()
    assert list(view) == KEYS["programme"]
    assert list(view["safety"]) == KEYS["safety"]
    assert list(view["safety_hold"]) == KEYS["safety_hold"]
    for phase in view["phases"]:
        assert list(phase) == KEYS["phase"]
        for item in phase["items"]:
            assert list(item) == KEYS["item"]
            assert list(item["exercise"]) == KEYS["exercise"]
            assert all(list(media) == KEYS["media"] for media in item["exercise"]["media"])
            assert all(list(rule) == KEYS["stop_rule"] for rule in item["exercise"]["stop_rules"])
    stopped = view["phases"][0]["items"][0]["stopped"]
    assert list(stopped) == KEYS["stopped"]


def test_a_spanish_patient_gets_spanish_text_and_dose_words(client, world):
    view = ProgrammeView.model_validate_json(
        get_view(client, world.a, held_programme(client, world.a, locale="es")).content
    )
    assert view.locale == "es" and "urgencias" in " ".join(view.safety.emergency_warning)
    assert view.safety_hold is not None
    assert (
        view.safety_hold.instruction[0] == "Tu programa está en pausa hasta que te revise tu fisioterapeuta."
    )
    stopped, bird_dog, own = view.phases[0].items
    assert (
        stopped.stopped is not None
        and stopped.stopped.message[0] == "Deja de hacer este ejercicio por ahora."
    )
    assert bird_dog.exercise.locale == "es"
    assert bird_dog.dose_text == "2 series de 6–8, aguanta 8 segundos, los lunes y miércoles"
    text = " ".join([bird_dog.exercise.summary, *bird_dog.exercise.steps])
    assert "8 segundos" in text and "{" not in text
    assert all(rule.text != "" for rule in bird_dog.exercise.stop_rules)
    # A clinic's own exercise with English text only: its text falls back, the dose words do not.
    assert own.exercise.locale == "en" and own.dose_text == "3 series de 5, todos los días"


@pytest.mark.parametrize(
    "model", [ProgrammeView, PhaseView, ItemView, ExerciseView, SafetyView, StoppedNotice]
)
def test_every_field_is_typed_and_described(model):
    for name, field in model.model_fields.items():
        assert field.description, f"{model.__name__}.{name} has no description"
    properties = model.model_json_schema()["properties"]
    assert all("type" in schema or "$ref" in schema or "anyOf" in schema or "enum" in schema
               for schema in properties.values()), properties  # fmt: skip


def test_the_plan_reads_the_same_view(client, world):
    programme = held_programme(client, world.a, locale="es")
    view = get_view(client, world.a, programme).json()
    plan = client.get("/v1/me/plan", headers=world.a.headers["patient"]).json()
    stopped, *doable = view["phases"][0]["items"]
    assert plan["revision"] == view["revision"] and plan["phase"] == view["current_phase"] == 0
    assert plan["safety_hold"] == view["safety_hold"]
    assert [item["exercise"] for item in plan["items"]] == [item["exercise"] for item in doable]
    assert [(s["item_id"], s["exercise_name"]) for s in plan["stopped"]] == [
        (stopped["id"], stopped["exercise"]["name"])
    ]
    assert {key: plan["stopped"][0][key] for key in KEYS["stopped"]} == stopped["stopped"]
    assert plan["items"][0]["reps_max"] == 8 and plan["items"][0]["side"] == "alternating"
    assert all(item["sessions_due"] == 0 for item in plan["items"])  # on hold: paused, nothing due


def test_the_openapi_document_declares_the_programme_view_and_a_real_response_matches_it(client, world):
    """The contract a generated client sees: the 200 of GET /v1/me/programmes/{id} is a ProgrammeView, and a
    real response validates against the schema in the published document (not only the Python model)."""
    import jsonschema_rs

    document = client.get("/openapi.json").json()
    answer = document["paths"]["/v1/me/programmes/{programme_id}"]["get"]["responses"]["200"]
    schema = answer["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ProgrammeView"}
    body = get_view(client, world.a, held_programme(client, world.a)).json()
    published = {"components": document["components"], "$ref": "#/components/schemas/ProgrammeView"}
    assert jsonschema_rs.is_valid(published, body)
    body["phases"][0]["items"][0]["exercise"]["steps"] = "not a list"
    assert not jsonschema_rs.is_valid(published, body)
