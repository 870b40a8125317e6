"""The request shape: one unit of work per request, committed once after the route succeeded and before the
answer is sent, rolled back on any error; and the independent units of work for what must be stored
whatever becomes of the request (app/unit_of_work.py, app/routing.py, docs/architecture.md)."""

import importlib
import pkgutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

import app.routers
from app.db import get_engine, utcnow
from app.errors import Conflict
from app.models.audit import AuditEvent
from app.models.auth import LoginFailure, RefreshToken
from app.models.patient import Patient
from app.models.session_log import SessionLog
from app.routing import UnitOfWorkRoute
from app.security import sha256_hex
from app.services import patients
from app.unit_of_work import UnitOfWork, independent_unit_of_work
from tests.factories import make_patient, make_tenant, patient_headers
from tests.helpers import assert_oauth_error, assert_problem, listening
from tests.logging_helpers import active_programme, item_ids, log_body


def fresh(statement):
    """What a session of its own sees now: only what was committed."""
    with Session(get_engine()) as session:
        return session.exec(statement).all()


def test_every_api_route_runs_in_a_unit_of_work():
    modules = [
        importlib.import_module(f"app.routers.{m.name}") for m in pkgutil.iter_modules(app.routers.__path__)
    ]
    routes = [route for module in modules for route in module.router.routes]
    assert len(routes) > 50
    assert all(isinstance(route, UnitOfWorkRoute) for route in routes), [
        route.path for route in routes if not isinstance(route, UnitOfWorkRoute)
    ]


def test_a_route_whose_service_fails_after_writing_commits_nothing(client, world, monkeypatch):
    name = f"Half-made {uuid.uuid4().hex[:8]}"
    written: list[uuid.UUID] = []

    def fail_after_the_writes(session, event_type, patient):
        # The patient row and its audit row are in the request's transaction by now.
        written.append(session.exec(select(Patient.id).where(Patient.display_name == name)).one())
        raise Conflict("Failed after the patient was written.", code="simulated_failure")

    monkeypatch.setattr(patients, "_emit", fail_after_the_writes)
    response = client.post("/v1/patients", json={"display_name": name}, headers=world.a.headers["physio"])
    assert_problem(response, 409, "simulated_failure")
    [patient_id] = written
    assert fresh(select(Patient).where(Patient.display_name == name)) == []
    assert fresh(select(AuditEvent).where(AuditEvent.resource_id == patient_id)) == []


def test_a_failed_sign_in_is_counted_although_the_request_fails(client, world):
    email = world.a.physio.email
    account = "acct:" + sha256_hex(email)[:40]
    response = client.post("/v1/auth/token", data={"username": email, "password": "not the password"})
    assert_oauth_error(response, 400, "invalid_grant", "invalid_credentials")
    assert len(fresh(select(LoginFailure).where(LoginFailure.scope_key == account))) == 1


def test_a_failed_enrolment_is_counted_although_the_request_answers_401(client):
    enrol_failures = select(LoginFailure).where(LoginFailure.scope_key.startswith("enrol-addr:"))
    before = len(fresh(enrol_failures))
    wrong_code = client.post("/v1/patient-auth/enrol", json={"code": "ABCD-EFGH"})
    assert_problem(wrong_code, 401, "invalid_enrolment_code")
    assert len(fresh(enrol_failures)) == before + 1


def test_a_reused_refresh_token_revokes_its_family_although_the_request_answers_401(client, world):
    code = client.post(
        f"/v1/patients/{world.a.patient.id}/enrolment-codes", headers=world.a.headers["physio"]
    ).json()["code"]
    first = client.post("/v1/patient-auth/enrol", json={"code": code}).json()
    second = client.post("/v1/patient-auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    reused = client.post("/v1/patient-auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert_problem(reused, 401, "refresh_token_reused")
    [latest] = fresh(
        select(RefreshToken).where(RefreshToken.token_hash == sha256_hex(second.json()["refresh_token"]))
    )
    assert latest.revoked_at is not None


def _watching(app, look, seen):
    """The app, with `look()` run the moment the answer starts to go out."""

    async def watched(scope, receive, send):
        async def send_and_look(message):
            if message["type"] == "http.response.start":
                seen.append(look())
            await send(message)

        await app(scope, receive, send_and_look)

    return watched


def test_the_commit_happens_before_the_answer_is_sent(app, world):
    name = f"Committed first {uuid.uuid4().hex[:8]}"
    seen: list[int] = []
    watched = _watching(app, lambda: len(fresh(select(Patient).where(Patient.display_name == name))), seen)
    with TestClient(watched) as client:
        response = client.post("/v1/patients", json={"display_name": name}, headers=world.a.headers["physio"])
    assert response.status_code == 201, response.text
    assert seen == [1]  # another session saw the row before the first byte of the answer


def test_a_patient_log_is_committed_before_its_answer(app, client, world):
    programme = active_programme(client, world.a)
    body = log_body(programme, item_ids(programme)[0], datetime.now(UTC).isoformat())
    seen: list[int] = []
    watched = _watching(
        app, lambda: len(fresh(select(SessionLog).where(SessionLog.id == uuid.UUID(body["id"])))), seen
    )
    with TestClient(watched) as patient_app:
        response = patient_app.post("/v1/me/sessions", json=body, headers=world.a.headers["patient"])
    assert response.status_code == 201, response.text
    assert seen == [1]


@contextmanager
def failing_next_commit(of_a_transaction_that_inserted_into: str | None = None) -> Iterator[list[int]]:
    """The next COMMIT (of a transaction that inserted into that table, when one is named) fails before it
    reaches the database, as SQLite's does when it is refused."""
    engine = get_engine()
    failures: list[int] = []
    inserting: set[int] = set()

    def note_insert(connection, _cursor, statement, *_):
        if of_a_transaction_that_inserted_into and statement.startswith(
            f"INSERT INTO {of_a_transaction_that_inserted_into} "
        ):
            inserting.add(id(connection))

    def fail_once(connection):
        if not failures and (of_a_transaction_that_inserted_into is None or id(connection) in inserting):
            failures.append(1)
            raise OperationalError("COMMIT", None, Exception("disk I/O error"))

    with listening((engine, "before_cursor_execute", note_insert), (engine, "commit", fail_once)):
        yield failures


def test_a_failed_commit_answers_problem_json_not_a_hidden_success(client, world):
    name = f"Never stored {uuid.uuid4().hex[:8]}"
    with failing_next_commit() as failures:
        response = client.post("/v1/patients", json={"display_name": name}, headers=world.a.headers["physio"])
    assert failures == [1]
    assert_problem(response, 503, "database_unavailable")
    assert fresh(select(Patient).where(Patient.display_name == name)) == []
    # The connection whose commit failed was discarded, not handed to the next request mid-transaction.
    again = client.post("/v1/patients", json={"display_name": name}, headers=world.a.headers["physio"])
    assert again.status_code == 201, again.text
    assert len(fresh(select(Patient).where(Patient.display_name == name))) == 1


def test_a_patient_log_whose_commit_fails_is_not_stored_and_its_retry_is(client, world):
    programme = active_programme(client, world.a)
    body = log_body(programme, item_ids(programme)[0], datetime.now(UTC).isoformat())
    with failing_next_commit() as failures:
        failed = client.post("/v1/me/sessions", json=body, headers=world.a.headers["patient"])
    assert failures == [1]
    assert_problem(failed, 503, "database_unavailable")
    assert fresh(select(SessionLog).where(SessionLog.id == uuid.UUID(body["id"]))) == []
    retried = client.post("/v1/me/sessions", json=body, headers=world.a.headers["patient"])
    assert retried.status_code == 201, retried.text


def test_a_symptom_check_whose_record_cannot_be_committed_still_gives_the_advice(client, world):
    with failing_next_commit(of_a_transaction_that_inserted_into="symptom_check") as failures:
        response = client.post(
            "/v1/me/symptom-checks",
            json={"answers": {"saddle_numbness": True}},
            headers=world.a.headers["patient"],
        )
    assert failures == [1]  # the record's own commit
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["tier"] == "emergency" and result["recorded"] is False and result["id"] is None
    assert result["instruction"][0].startswith("Go to an emergency department now")
    assert "We could not tell your clinic. Call them now." in result["instruction"]
    alerts = client.get(
        "/v1/alerts", params={"patient_id": str(world.a.patient.id)}, headers=world.a.headers["physio"]
    )
    assert alerts.json()["items"] == []


def test_the_patient_row_is_checked_in_the_routes_hop_on_every_request(client, session):
    tenant = make_tenant(session)
    patient = make_patient(session, tenant.clinic)
    session.commit()
    headers = patient_headers(patient)
    assert client.get("/v1/me", headers=headers).status_code == 200
    session.delete(session.get(Patient, patient.id))
    session.commit()
    assert_problem(client.get("/v1/me/plan", headers=headers), 401, "invalid_token")
    programme = active_programme(client, tenant)
    body = log_body(programme, item_ids(programme)[0], datetime.now(UTC).isoformat())
    assert_problem(client.post("/v1/me/sessions", json=body, headers=headers), 401, "invalid_token")
    assert fresh(select(SessionLog).where(SessionLog.id == uuid.UUID(body["id"]))) == []


def test_a_patient_read_settles_its_caller_before_it_validates_the_path(client, world):
    """The programme read's loader checks the caller and reads the programme in one statement; the token
    is still checked first, so a malformed id tells a caller without a patient token nothing."""
    path = "/v1/me/programmes/not-a-uuid"
    assert_problem(client.get(path), 401, "unauthorized")
    assert_problem(client.get(path, headers=world.a.headers["physio"]), 403, "patient_only")
    assert client.get(path, headers=world.a.headers["patient"]).status_code == 422


def test_an_independent_unit_is_stored_although_the_requests_unit_rolls_back():
    kept, dropped = f"test:kept:{uuid.uuid4().hex}", f"test:dropped:{uuid.uuid4().hex}"
    unit = UnitOfWork(get_engine())
    try:
        with unit.as_current():
            # The request's unit has read (on SQLite it now holds the one write lock) ...
            unit.session.exec(select(LoginFailure).where(LoginFailure.scope_key == kept)).all()
            with independent_unit_of_work() as named:
                named.add(LoginFailure(scope_key=kept, occurred_at=utcnow()))
            # ... and goes on after the independent unit committed, then fails.
            unit.session.add(LoginFailure(scope_key=dropped, occurred_at=utcnow()))
            unit.session.flush()
    finally:
        unit.close()
    assert [row.scope_key for row in fresh(select(LoginFailure).where(LoginFailure.scope_key == kept))] == [
        kept
    ]
    assert fresh(select(LoginFailure).where(LoginFailure.scope_key == dropped)) == []


def test_an_independent_unit_after_the_requests_own_write(database_url):
    """On PostgreSQL the two transactions run side by side. On SQLite (one writer) the request's unit would
    hold the lock the independent unit waits for: refused at once, never a wait until busy_timeout."""
    written, named_key = f"test:request:{uuid.uuid4().hex}", f"test:named:{uuid.uuid4().hex}"
    unit = UnitOfWork(get_engine())
    try:
        with unit.as_current():
            unit.session.add(LoginFailure(scope_key=written, occurred_at=utcnow()))
            unit.session.flush()
            if get_engine().dialect.name == "sqlite":
                refused = pytest.raises(RuntimeError, match="after the request's own unit changed something")
                with refused, independent_unit_of_work() as named:
                    named.add(LoginFailure(scope_key=named_key, occurred_at=utcnow()))
            else:
                with independent_unit_of_work() as named:
                    named.add(LoginFailure(scope_key=named_key, occurred_at=utcnow()))
                unit.commit()
    finally:
        unit.close()
    stored = {
        row.scope_key for row in fresh(select(LoginFailure).where(LoginFailure.scope_key.like("test:%")))
    }
    if get_engine().dialect.name == "sqlite":
        assert written not in stored and named_key not in stored
    else:
        assert {written, named_key} <= stored


def test_an_async_route_still_gets_its_patient_checked_in_a_hop(session):
    """A route with no database work of its own may stay async; what its caller defers still runs."""
    from fastapi import APIRouter

    from app.deps import PatientActor
    from app.main import create_app

    router = APIRouter(route_class=UnitOfWorkRoute)

    @router.get("/test/whoami")
    async def whoami(actor: PatientActor) -> dict[str, str]:
        return {"id": str(actor.id), "locale": actor.locale or ""}

    api = create_app()
    api.include_router(router)
    tenant = make_tenant(session)
    patient = make_patient(session, tenant.clinic)
    session.commit()
    headers = patient_headers(patient)
    with TestClient(api) as client:
        assert client.get("/test/whoami", headers=headers).json() == {"id": str(patient.id), "locale": "en"}
        assert_problem(client.get("/test/whoami", headers=tenant.headers["physio"]), 403, "patient_only")
        session.delete(session.get(Patient, patient.id))
        session.commit()
        assert_problem(client.get("/test/whoami", headers=headers), 401, "invalid_token")
