"""The read path (app/routing.py, app/store.py, app/group_commit.py): async routes read on a read-only
connection on the event loop, and their audit rows are group-committed before the answer."""

import asyncio
import threading
import time
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from app.db import get_engine, read_engine, utcnow
from app.group_commit import writer_for
from app.main import create_app
from app.models.audit import AuditEvent
from app.store import AUDIT_TABLE
from tests.factories import make_patient, make_tenant, patient_headers
from tests.logging_helpers import active_programme


def _audit_rows(request_ids: list[str]) -> list[AuditEvent]:
    with Session(get_engine()) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.request_id.in_(request_ids))).all())


def test_the_read_engine_refuses_writes():
    """A read route cannot store anything by mistake: the database itself refuses it."""
    with read_engine(get_engine()).connect() as connection, pytest.raises(DBAPIError):
        connection.execute(text("DELETE FROM audit_event"))


def test_a_read_is_audited_before_its_answer(client, world):
    programme = active_programme(client, world.a)
    request_id = uuid.uuid4().hex
    response = client.get(
        f"/v1/me/programmes/{programme['id']}",
        headers={**world.a.headers["patient"], "X-Request-Id": request_id},
    )
    assert response.status_code == 200
    # Read by a session of its own right after the answer: committed, not merely queued.
    [row] = _audit_rows([request_id])
    assert (row.action, row.patient_id, row.resource_id) == (
        "programme.read",
        world.a.patient.id,
        uuid.UUID(programme["id"]),
    )


def test_a_failed_read_stores_no_audit_row(client, world):
    request_id = uuid.uuid4().hex
    response = client.get(
        f"/v1/me/programmes/{uuid.uuid4()}",
        headers={**world.a.headers["patient"], "X-Request-Id": request_id},
    )
    assert response.status_code == 404
    assert _audit_rows([request_id]) == []


async def _concurrent_reads(api, headers: dict[str, str], path: str, count: int) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        return await asyncio.gather(
            *(client.get(path, headers={**headers, "X-Request-Id": uuid.uuid4().hex}) for _ in range(count))
        )


def test_concurrent_reads_share_commits_and_every_one_is_audited(client, world):
    programme = active_programme(client, world.a)
    api = create_app()
    writer = writer_for(get_engine())
    batches_before, rows_before = writer.batches, writer.rows
    responses = asyncio.run(
        _concurrent_reads(api, world.a.headers["patient"], f"/v1/me/programmes/{programme['id']}", 40)
    )
    assert [r.status_code for r in responses] == [200] * 40
    request_ids = [r.headers["x-request-id"] for r in responses]
    assert len(_audit_rows(request_ids)) == 40
    assert writer.rows - rows_before == 40
    # Group commit: forty reads in flight at once took fewer commits than reads.
    assert writer.batches - batches_before < 40


def test_a_read_waiting_for_its_audit_commit_does_not_hold_up_the_event_loop(client, world, database_url):
    """On SQLite another process's writer can hold the one write lock; the read's statements do not wait
    for it (a WAL reader never does), its audit commit waits in the writer thread, and the event loop
    serves other requests meanwhile. The read is answered once its row is committed."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's single write lock")
    programme = active_programme(client, world.a)
    api = create_app()
    released = threading.Event()

    def hold_the_write_lock() -> None:
        with get_engine().connect() as connection:  # BEGIN IMMEDIATE (app/db.py): the write lock
            connection.execute(text("SELECT 1"))
            released.wait(5)
            time.sleep(0.5)
            connection.rollback()

    async def scenario() -> tuple[float, float, tuple[int, int]]:
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            started = time.monotonic()
            read = asyncio.create_task(
                http.get(f"/v1/me/programmes/{programme['id']}", headers=world.a.headers["patient"])
            )
            await asyncio.sleep(0.1)
            health = await http.get("/healthz")
            health_after = time.monotonic() - started
            released.set()
            answer = await read
            return health_after, time.monotonic() - started, (answer.status_code, health.status_code)

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    time.sleep(0.1)
    try:
        health_after, read_after, statuses = asyncio.run(scenario())
    finally:
        released.set()
        holder.join()
    assert statuses == (200, 200)
    assert health_after < 0.5  # answered while the read waited for the lock
    assert read_after >= 0.5  # the read's answer waited for its audit row's commit


def test_an_inline_read_route_has_no_orm_session(session):
    """The two tools do not mix in one unit: a read route that asks for the ORM session fails loudly."""
    from fastapi import APIRouter

    from app.deps import SessionDep
    from app.routing import UnitOfWorkRoute

    router = APIRouter(route_class=UnitOfWorkRoute)

    @router.get("/test/mixed")
    async def mixed(db: SessionDep) -> dict[str, str]:
        return {}

    api = create_app()
    api.include_router(router)
    tenant = make_tenant(session)
    patient = make_patient(session, tenant.clinic)
    session.commit()
    from fastapi.testclient import TestClient

    with TestClient(api, raise_server_exceptions=False) as http:
        assert http.get("/test/mixed", headers=patient_headers(patient)).status_code == 500


def test_one_requests_bad_row_fails_that_request_alone(world):
    """Rows gathered into one transaction: when it fails, each request's rows are tried on their own."""
    writer = writer_for(get_engine())

    def row(clinic_id: uuid.UUID, request_id: str) -> dict:
        return {
            "id": uuid.uuid4(),
            "clinic_id": clinic_id,
            "actor_kind": "patient",
            "actor_id": world.a.patient.id,
            "action": "programme.read",
            "resource_type": "programme",
            "resource_id": None,
            "patient_id": None,
            "request_id": request_id,
            "detail": None,
            "occurred_at": utcnow(),
        }

    good = [uuid.uuid4().hex for _ in range(3)]

    async def scenario() -> list[BaseException | None]:
        futures = [writer.store([(AUDIT_TABLE, row(world.a.clinic.id, request_id))]) for request_id in good]
        futures.insert(1, writer.store([(AUDIT_TABLE, row(uuid.uuid4(), "no-such-clinic"))]))
        return await asyncio.gather(*futures, return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert outcomes[0] is None and outcomes[2:] == [None, None]
    assert isinstance(outcomes[1], DBAPIError)  # the unknown clinic: a foreign key refused
    assert sorted(row.request_id for row in _audit_rows(good)) == sorted(good)


def test_an_empty_store_is_settled_after_the_rows_stored_before_it(world):
    """`store([])` waits for the commits queued before it (how bench/cpu.py charges reads that did not wait
    for their audit rows) and is no commit of its own: nothing stored, no batch counted."""
    writer = writer_for(get_engine())
    request_ids = [uuid.uuid4().hex for _ in range(5)]
    row = {
        "clinic_id": world.a.clinic.id,
        "actor_kind": "patient",
        "actor_id": world.a.patient.id,
        "action": "programme.read",
        "resource_type": "programme",
        "resource_id": None,
        "patient_id": world.a.patient.id,
        "detail": None,
    }

    async def scenario() -> tuple[list[bool], list[bool]]:
        stored = [
            writer.store(
                [(AUDIT_TABLE, {**row, "id": uuid.uuid4(), "request_id": r, "occurred_at": utcnow()})]
            )
            for r in request_ids
        ]
        await asyncio.sleep(0)  # handed over: the empty store comes in a later turn of the loop
        empty = writer.store([])
        done_before = [future.done() for future in stored]
        await empty
        return done_before, [future.done() and future.exception() is None for future in stored]

    batches_before, rows_before = writer.batches, writer.rows
    done_before, done_after = asyncio.run(scenario())
    assert done_before == [False] * 5  # not committed yet when the empty store joined the line
    assert done_after == [True] * 5
    assert sorted(r.request_id for r in _audit_rows(request_ids)) == sorted(request_ids)
    assert (writer.batches - batches_before, writer.rows - rows_before) == (1, 5)
