"""Bad input of every kind answers problem+json, never a 500."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import assert_problem


def test_unknown_route_and_method(client):
    assert_problem(client.get("/v1/nothing-here"), 404, "not_found")
    assert_problem(client.delete("/healthz"), 405, "method_not_allowed")


def test_malformed_json(client, world):
    response = client.post(
        "/v1/patients",
        content=b'{"display_name": "x",',
        headers={**world.a.headers["physio"], "Content-Type": "application/json"},
    )
    assert_problem(response, 422, "malformed_json")


def test_wrong_types_oversize_strings_and_unknown_fields(client, world):
    headers = world.a.headers["physio"]
    for body in (
        {"display_name": 42},
        {"display_name": ["a"]},
        {"display_name": "x" * 10_000},
        {"display_name": "x", "birth_year": "nineteen eighty"},
        {"display_name": "x", "neurodynamic_sensitivity": "maybe"},
        {"display_name": "x", "clinic_id": "00000000-0000-0000-0000-000000000000"},
        [],
        "just a string",
    ):
        body_problem = assert_problem(
            client.post("/v1/patients", json=body, headers=headers), 422, "validation_error"
        )
        assert body_problem["errors"] and all(
            {"loc", "message", "type"} == e.keys() for e in body_problem["errors"]
        )


def test_validation_errors_do_not_echo_input(client, world):
    secret = "Jane Q Patient 1961"
    response = client.post(
        "/v1/patients", json={"display_name": secret, "birth_year": secret}, headers=world.a.headers["physio"]
    )
    assert_problem(response, 422)
    assert secret not in response.text


def test_bad_uuids(client, world):
    headers = world.a.headers["admin"]
    for path in ("/v1/patients/not-a-uuid", "/v1/users/123"):
        assert_problem(client.get(path, headers=headers), 422, "validation_error")
    # NUL is refused before routing, anywhere in the request (tests/test_security_findings.py).
    assert_problem(client.get("/v1/patients/%00", headers=headers), 422, "invalid_value")


def test_body_size_limit(client, world):
    headers = {**world.a.headers["physio"], "Content-Type": "application/json"}
    huge = json.dumps({"display_name": "x" * 2_000_000}).encode()
    assert_problem(client.post("/v1/patients", content=huge, headers=headers), 413, "payload_too_large")

    def chunks():
        for _ in range(40):
            yield b" " * 65536

    assert_problem(client.post("/v1/patients", content=chunks(), headers=headers), 413, "payload_too_large")


def test_request_id_is_echoed_or_generated(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers["x-request-id"]
    assert generated != "bad id with spaces" and len(generated) == 32


def test_security_headers(client):
    headers = client.get("/healthz").headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4)
    ),
    max_leaves=12,
)
patient_like = st.fixed_dictionaries(
    {},
    optional={
        "display_name": json_values,
        "external_id": json_values,
        "timezone": json_values | st.sampled_from(["UTC", "Europe/London", "Nowhere/City", ""]),
        "locale": json_values,
        "birth_year": json_values,
        "directional_preference": json_values,
        "red_flags_screened_at": json_values | st.just("2026-01-01T00:00:00Z"),
        "startback_risk": json_values,
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=patient_like | json_values)
def test_random_patient_bodies_never_500(client, world, body):
    headers = world.a.headers["api_key"]
    for response in (
        client.post("/v1/patients", json=body, headers=headers),
        client.put("/v1/patients/by-external-id/fuzz", json=body, headers=headers),
        client.patch(f"/v1/patients/{world.a.patient.id}", json=body, headers=headers),
    ):
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert_problem(response, response.status_code)


def test_nul_characters_never_500(client, world):
    headers = world.a.headers["physio"]
    response = client.get("/v1/patients", params={"external_id": "a\x00b"}, headers=headers)
    assert response.status_code in (200, 422), response.text  # SQLite stores NUL; PostgreSQL refuses it
    if response.status_code == 422:
        assert_problem(response, 422, "invalid_value")
    created = client.post("/v1/patients", json={"display_name": "nul\x00name"}, headers=headers)
    assert created.status_code in (201, 422), created.text


def test_dates_at_the_edge_of_the_calendar_never_500(client, world):
    """Found by the schema fuzzer: year 1 and year 9999 overflowed date arithmetic (500s)."""
    headers = world.a.headers["physio"]
    for body in (
        {"display_name": "x", "red_flags_screened_at": "0001-01-01T00:00:00+00:01"},
        {"display_name": "x", "red_flags_screened_at": "9999-12-31T23:59:59-00:01"},
    ):
        assert_problem(client.post("/v1/patients", json=body, headers=headers), 422, "validation_error")
    url = f"/v1/patients/{world.a.patient.id}/adherence"
    for params in ({"to": "0001-01-01"}, {"from": "9999-12-30", "to": "9999-12-31"}):
        assert_problem(client.get(url, params=params, headers=headers), 422, "validation_error")
    patient = world.a.headers["patient"]
    for params in ({"to": "0001-01-01"}, {"from": "9999-12-30", "to": "9999-12-31"}):
        response = client.get("/v1/me/sessions", params=params, headers=patient)
        assert response.status_code < 500, response.text
    logged = client.post(
        "/v1/me/sessions",
        json={
            "id": "00000000-0000-4000-8000-000000000001",
            "programme_id": "00000000-0000-4000-8000-000000000002",
            "item_id": "00000000-0000-4000-8000-000000000003",
            "revision": 1,
            "performed_at": "0001-01-01T00:00:00+00:01",
            "sets_done": 1,
            "pain_during": 0,
            "leg_symptoms": "none",
            "response": "same",
        },
        headers=patient,
    )
    assert logged.status_code < 500 and logged.headers["content-type"].startswith("application/problem+json")


def test_calendar_bounds_on_every_client_moment(client, world):
    """Found by the schema fuzzer: a moment in year 1 overflowed on its way to the database (500s)."""
    endpoint = client.post(
        "/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/hooks"}, headers=world.a.headers["admin"]
    ).json()
    response = client.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/replay",
        json={"since": "0001-01-01T00:00:00+00:01"},
        headers=world.a.headers["admin"],
    )
    assert_problem(response, 422, "validation_error")
    outcome = client.post(
        "/v1/me/outcomes",
        json={"instrument": "nprs", "answers": {"back": 3}, "taken_at": "0001-01-01T00:00:00+00:01"},
        headers=world.a.headers["patient"],
    )
    assert_problem(outcome, 422, "validation_error")


def test_an_overflow_the_models_missed_answers_422_not_500():
    """The safety net behind the models' bounds: an overflow anywhere in a request is the client's value
    out of range (422 invalid_value); any other statement error is still ours (500)."""
    from fastapi.testclient import TestClient
    from sqlalchemy.exc import StatementError

    from app.main import create_app

    app = create_app()

    @app.get("/overflow", include_in_schema=False)
    def overflow():
        raise OverflowError("date value out of range")

    @app.get("/overflow-while-binding", include_in_schema=False)
    def overflow_while_binding():
        raise StatementError("bind", "INSERT …", {}, OverflowError("date value out of range"))

    @app.get("/statement-bug", include_in_schema=False)
    def statement_bug():
        raise StatementError("bind", "INSERT …", {}, TypeError("not a date"))

    with TestClient(app, raise_server_exceptions=False) as client:
        assert_problem(client.get("/overflow"), 422, "invalid_value")
        assert_problem(client.get("/overflow-while-binding"), 422, "invalid_value")
        assert_problem(client.get("/statement-bug"), 500, "internal_error")
