"""Requests are held to the types the OpenAPI document publishes, and dates to the service's calendar.

Request bodies are validated strictly: a string is not taken for a number or a boolean, a number not for
a boolean, a date or an id; dates, date-times and ids are taken in their JSON form (ISO 8601 strings,
UUID strings) only. The schema fuzzer checks the same for every operation (`negative_data_rejection`
in tests/test_fuzz.py); these are the cases it found or that matter most for clinical data, stated.
"""

import uuid

import pytest

from tests.helpers import assert_problem
from tests.logging_helpers import active_programme, item_ids, log_body, now_iso

UNIX_TIME = 1_795_000_000


def programme_body(**fields):
    item = {"exercise": "double-leg-bridge", "sets": 2, "reps": 10}
    return {
        "title": "Plan",
        "start_date": "2026-11-02",
        "phases": [{"name": "One", "items": [item]}],
        **fields,
    }


def with_item(**dose):
    body = programme_body()
    body["phases"][0]["items"][0].update(dose)
    return body


@pytest.mark.parametrize(
    "body",
    [
        {"display_name": "x", "birth_year": "1980"},
        {"display_name": "x", "birth_year": 1980.0},
        {"display_name": "x", "neurodynamic_sensitivity": 1},
        {"display_name": "x", "stenosis_features": "true"},
        {"display_name": "x", "red_flags_screened_at": UNIX_TIME},
        {"display_name": "x", "red_flags_screened_at": str(UNIX_TIME)},
        {"display_name": 42},
    ],
)
def test_patient_bodies_take_only_their_published_types(client, world, body):
    headers = world.a.headers["api_key"]
    assert_problem(client.post("/v1/patients", json=body, headers=headers), 422, "validation_error")
    upsert = client.put("/v1/patients/by-external-id/MRN-types", json=body, headers=headers)
    assert_problem(upsert, 422, "validation_error")
    patch = client.patch(f"/v1/patients/{world.a.patient.id}", json=body, headers=headers)
    assert_problem(patch, 422, "validation_error")


def test_patient_iso_moments_are_still_taken(client, world):
    body = {"display_name": "x", "birth_year": 1980, "red_flags_screened_at": "2026-11-02T09:30:00+01:00"}
    created = client.post("/v1/patients", json=body, headers=world.a.headers["api_key"])
    assert created.status_code == 201, created.text
    assert created.json()["red_flags_screened_at"].startswith("2026-11-02T08:30:00")


def test_staff_bodies_take_only_their_published_types(client, world):
    """Found by the fuzzer: `{"active": 0}` deactivated a user."""
    headers = world.a.headers["admin"]
    url = f"/v1/users/{world.a.physio.id}"
    for body in ({"active": 0}, {"active": "false"}, {"role": 1}):
        assert_problem(client.patch(url, json=body, headers=headers), 422, "validation_error")
    assert client.get(url, headers=headers).json()["active"] is True


@pytest.mark.parametrize(
    "body",
    [
        programme_body(start_date=20261102),
        programme_body(start_date=UNIX_TIME),
        programme_body(start_date=str(UNIX_TIME)),
        programme_body(start_date="2026-11-02T00:00:00"),
        programme_body(template_id=5),
        with_item(sets="2"),
        with_item(sets=2.0),
        with_item(reps=True),
        with_item(clinician_unlocked=1),
        with_item(days_of_week=["1"]),
    ],
)
def test_programme_documents_take_only_their_published_types(client, world, body):
    response = client.post(
        f"/v1/patients/{world.a.patient.id}/programmes", json=body, headers=world.a.headers["physio"]
    )
    assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize(
    ("start", "end", "status"),
    [
        ("9999-01-01", None, 422),
        ("2026-11-02", "9999-12-31", 422),
        ("1899-12-31", None, 422),
        ("0001-01-01", "2026-11-02", 422),
        ("1900-01-01", "2199-12-31", 201),
    ],
)
def test_programme_dates_stay_in_the_calendar(client, world, start, end, status):
    body = programme_body(start_date=start, end_date=end)
    response = client.post(
        f"/v1/patients/{world.a.patient.id}/programmes", json=body, headers=world.a.headers["physio"]
    )
    if status == 201:
        assert response.status_code == 201, response.text
        programme = response.json()
        document = programme_body(start_date="2026-11-02", end_date="9999-12-31")
        headers = {**world.a.headers["physio"], "If-Match": '"1"'}
        replaced = client.put(f"/v1/programmes/{programme['id']}", json=document, headers=headers)
        assert_problem(replaced, 422, "validation_error")
    else:
        assert_problem(response, status, "validation_error")


def test_session_logs_take_only_their_published_types(client, world):
    """The patient app's logs (single and batched) are clinical data: a wrong type is refused, not
    guessed at; ISO date-times with an offset (or Z) and UUID strings are what the app sends."""
    programme = active_programme(client, world.a)
    item = item_ids(programme)[0]
    headers = world.a.headers["patient"]
    for bad in (
        {"pain_during": "2"},
        {"pain_during": 2.0},
        {"new_numbness_or_weakness": 0},
        {"performed_at": UNIX_TIME},
        {"performed_at": str(UNIX_TIME)},
        {"id": 12345},
        {"revision": "2"},
        {"reps_done": ["10", "10"]},
    ):
        body = {**log_body(programme, item, now_iso()), **bad}
        assert_problem(client.post("/v1/me/sessions", json=body, headers=headers), 422, "validation_error")
        batch = client.post("/v1/me/sessions/batch", json={"logs": [body]}, headers=headers)
        assert_problem(batch, 422, "validation_error")
    zulu = now_iso().replace("+00:00", "Z")
    logged = client.post("/v1/me/sessions", json=log_body(programme, item, zulu), headers=headers)
    assert logged.status_code == 201, logged.text
    batch = client.post(
        "/v1/me/sessions/batch",
        json={"logs": [log_body(programme, item, now_iso()), log_body(programme, item, zulu)]},
        headers=headers,
    )
    assert batch.status_code == 200 and [r["status"] for r in batch.json()["results"]] == [201, 201]


def test_patient_reports_take_only_their_published_types(client, world):
    headers = world.a.headers["patient"]
    for body in (
        {"instrument": "nprs", "answers": {"back": "3"}},
        {"instrument": "nprs", "answers": {"back": 3}, "taken_at": UNIX_TIME},
        {"instrument": "rmdq", "answers": {"items": [1] * 24}},
    ):
        assert_problem(client.post("/v1/me/outcomes", json=body, headers=headers), 422, "validation_error")
    check = client.post("/v1/me/symptom-checks", json={"answers": {"saddle_numbness": 1}}, headers=headers)
    assert_problem(check, 422, "validation_error")


def test_integration_bodies_take_only_their_published_types(client, world):
    headers = world.a.headers["api_key"]
    endpoint = client.post(
        "/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/hooks"}, headers=headers
    ).json()
    for since in (0, str(UNIX_TIME), "2026-11-02T09:30:00"):
        response = client.post(
            f"/v1/webhook-endpoints/{endpoint['id']}/replay", json={"since": since}, headers=headers
        )
        assert_problem(response, 422, "validation_error")
    for body in ({"enabled": 1}, {"enabled": "true"}):
        response = client.patch(f"/v1/webhook-endpoints/{endpoint['id']}", json=body, headers=headers)
        assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize("route", ["sessions", "adherence"])
@pytest.mark.parametrize(
    "params",
    [
        {"from": "0.0"},
        {"to": str(UNIX_TIME)},
        {"from": "9999-12-30", "to": "9999-12-31"},
        {"to": "0001-01-01"},
        {"from": "1899-12-31"},
        {"to": "2200-01-01"},
    ],
)
def test_date_query_parameters_stay_in_the_calendar(client, world, route, params):
    url = f"/v1/patients/{world.a.patient.id}/{route}"
    assert_problem(client.get(url, params=params, headers=world.a.headers["physio"]), 422, "validation_error")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/me/sessions", {"from": "0.0"}),
        ("/v1/me/sessions", {"from": "9999-12-30", "to": "9999-12-31"}),
        ("/v1/me/sessions", {"to": "0001-01-01"}),
        ("/v1/me/plan", {"date": "0.0"}),
    ],
)
def test_the_patient_apps_date_parameters_stay_in_the_calendar(client, world, path, params):
    assert_problem(
        client.get(path, params=params, headers=world.a.headers["patient"]), 422, "validation_error"
    )


def test_boolean_query_parameters_are_true_or_false(client, world):
    headers = world.a.headers["physio"]
    for value in ("1", "yes", "on", "T"):
        response = client.get("/v1/exercises", params={"include_archived": value}, headers=headers)
        assert_problem(response, 422, "validation_error")
    for value in ("true", "false"):
        assert client.get("/v1/exercises", params={"include_own": value}, headers=headers).status_code == 200


def test_internal_callers_still_pass_python_values(session, world):
    """Services and the simulation build these models from Python dates, datetimes and UUIDs."""
    from datetime import UTC, date, datetime

    from app.models.programme_document import ItemDocument, ProgrammeCreate
    from app.models.session_log import SessionLogCreate

    created = ProgrammeCreate(
        title="Plan",
        start_date=date(2026, 11, 2),
        phases=[{"name": "One", "items": [ItemDocument(id=uuid.uuid4(), exercise="cat-camel", reps=6)]}],
    )
    assert created.start_date == date(2026, 11, 2)
    log = SessionLogCreate(
        id=uuid.uuid4(),
        programme_id=uuid.uuid4(),
        item_id=uuid.uuid4(),
        revision=1,
        performed_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
        sets_done=1,
        pain_during=0,
        leg_symptoms="none",
        response="same",
    )
    assert log.performed_at.tzinfo is not None


@pytest.mark.parametrize("value", ["1.0", "+1", " 1", "1_0", "1e1", "9" * 19])
def test_integer_parameters_are_written_in_digits(client, world, value):
    """Found by the fuzzer: `limit=0.0` was taken as 0. Lax parsing also takes "+1", " 1" and "1_0"."""
    headers = world.a.headers["physio"]
    programme = client.post(
        f"/v1/patients/{world.a.patient.id}/programmes", json=programme_body(), headers=headers
    ).json()
    revision = client.get(f"/v1/programmes/{programme['id']}/revisions/{value}", headers=headers)
    assert_problem(revision, 422, "validation_error")
    search = client.get(
        "/fhir/r4/CarePlan", params={"patient": str(world.a.patient.id), "_count": value}, headers=headers
    )
    assert search.status_code == 400 and search.json()["resourceType"] == "OperationOutcome"
    assert client.get(f"/v1/programmes/{programme['id']}/revisions/1", headers=headers).status_code == 200


@pytest.mark.parametrize("value", ["0.0", "+1", "1_0"])
def test_page_size_is_written_in_digits(client, world, value):
    response = client.get("/v1/patients", params={"limit": value}, headers=world.a.headers["physio"])
    assert_problem(response, 422, "validation_error")
