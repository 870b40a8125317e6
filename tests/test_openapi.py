"""The published contract (app/openapi.py): stable operation ids, who may call, declared errors and
preconditions, typed answers, and the webhook payloads as OpenAPI 3.1 `webhooks`."""

import re
from pathlib import Path

import pytest
from sqlmodel import select

from app.models.webhook import EVENT_TYPES, TEST_EVENT_TYPE, Event
from app.models.webhook_payloads import WEBHOOK_PAYLOADS
from app.openapi import OPERATIONS
from tests.services.test_outcomes import _record as record_outcome
from tests.services.test_programmes import action, create

# Published ids: a line here is a promise to client generators and never changes (add, never edit).
PINNED = Path(__file__).with_name("openapi_operation_ids.txt")
PUBLIC = {
    # The calendar feed's URL is its own credential; catalogue drawings need no sign-in (a clinic's own
    # answer 404 without that clinic's token: tests/services/test_illustrations.py).
    "getCalendarFeed",
    "getExerciseIllustration",
    "getHealth",
    "getReadiness",
    "createStaffToken",
    "refreshStaffToken",
    "logoutStaff",
    "enrolPatient",
    "refreshPatientToken",
    "logoutPatient",
    "fhirCapabilities",
}


@pytest.fixture(scope="module")
def document(app):
    return app.openapi()


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def test_every_operation_has_its_stable_id_from_the_one_table(document):
    seen = {}
    for method, path, operation in operations(document):
        assert (method, path) in OPERATIONS, f"{method} {path}: add its id to app/openapi.py OPERATIONS"
        operation_id = operation["operationId"]
        assert re.fullmatch(r"[a-z][A-Za-z0-9]{2,40}", operation_id), operation_id
        assert operation_id not in seen, (operation_id, seen.get(operation_id))
        seen[operation_id] = (method, path)
    # Nothing in the table that no route serves.
    assert set(OPERATIONS) == set(seen.values())


def test_published_operation_ids_never_change(document):
    live = {f"{method} {path} {operation['operationId']}" for method, path, operation in operations(document)}
    pinned = set(PINNED.read_text().splitlines())
    assert pinned <= live, sorted(pinned - live)


def test_security_names_the_three_callers_and_public_operations_say_so(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["staffOAuth2"]["flows"]["password"] == {
        "tokenUrl": "/v1/auth/token",
        "refreshUrl": "/v1/auth/token",
        "scopes": {},
    }
    assert schemes["patientBearer"]["scheme"] == "bearer" and schemes["ehrApiKey"]["scheme"] == "bearer"
    by_id = {operation["operationId"]: operation for _, _, operation in operations(document)}
    assert {name for name, operation in by_id.items() if operation["security"] == []} == PUBLIC
    assert by_id["getMyProgramme"]["security"] == [{"patientBearer": []}]
    assert by_id["listPatients"]["security"] == [{"ehrApiKey": []}, {"staffOAuth2": []}]
    assert by_id["acceptSuggestion"]["security"] == [{"staffOAuth2": []}]  # never an API key
    assert by_id["resolveAlert"]["security"] == [{"staffOAuth2": []}]
    assert by_id["fhirReadCarePlan"]["security"] == [{"ehrApiKey": []}, {"staffOAuth2": []}]


def test_errors_preconditions_and_answers_are_declared(document):
    by_id = {operation["operationId"]: operation for _, _, operation in operations(document)}
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    patient = by_id["getPatient"]["responses"]
    assert {"401", "403", "404", "422", "default"} <= patient.keys()
    assert all(patient[status]["content"] == problem for status in ("401", "403", "404", "422"))
    replace = by_id["replaceProgramme"]
    [if_match] = [p for p in replace["parameters"] if p["name"].lower() == "if-match"]
    assert if_match["required"] is True and {"412", "428"} <= replace["responses"].keys()
    retry = by_id["logMySession"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert retry == {"$ref": "#/components/schemas/SessionLogPublic"}
    programme = by_id["getMyProgramme"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert programme == {"$ref": "#/components/schemas/ProgrammeView"}
    # Read from the request by the route (app.deps.IF_NONE_MATCH), declared all the same, with its 304.
    [if_none_match] = [p for p in by_id["getMyProgramme"]["parameters"] if p["in"] == "header"]
    assert if_none_match["name"] == "if-none-match" and if_none_match["required"] is False
    assert "304" in by_id["getMyProgramme"]["responses"]
    outcome = by_id["fhirReadCarePlan"]["responses"]["404"]["content"]["application/fhir+json"]["schema"]
    assert outcome["properties"]["issue"]["items"]["required"] == ["severity", "code"]
    token = by_id["createStaffToken"]["responses"]
    assert token["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OAuthError"
    }
    assert "422" not in token and "422" not in by_id["fhirSearchCarePlans"]["responses"]
    for _, _, operation in operations(document):
        assert any(status.startswith("4") for status in operation["responses"]), operation["operationId"]


def test_every_event_type_has_its_webhook(document):
    assert set(document["webhooks"]) == {*EVENT_TYPES, TEST_EVENT_TYPE} == set(WEBHOOK_PAYLOADS)
    created = document["webhooks"]["patient.created"]["post"]
    ref = created["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    payload = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(payload["required"]) == {"id", "type", "timestamp", "clinic_id", "data"}


def test_stored_events_carry_exactly_the_documented_data(client, world, session):
    headers = world.a.headers["physio"]
    programme = create(client, world.a)
    for name in ("activate", "pause", "resume", "complete"):
        action(client, world.a, programme["id"], name)
    client.patch(f"/v1/patients/{world.a.patient.id}", json={"locale": "es"}, headers=headers)
    record_outcome(client, world.a, "nprs", {"back": 6, "leg": 3}, "2026-11-01T09:00:00Z")
    events = session.exec(select(Event).where(Event.clinic_id == world.a.clinic.id)).all()
    expected = {"programme.created", "programme.activated", "programme.completed", "patient.updated"}
    assert expected | {"outcome.recorded"} <= {e.type for e in events}
    for event in events:
        model = WEBHOOK_PAYLOADS[event.type]
        model.model_validate(event.data)
        assert set(event.data) == set(model.model_fields), event.type
