"""A read unit's connection: the event loop's own, shared by its read routes in turn, given back when the
loop closes or the app stops; a pooled one anywhere else (app/unit_of_work.py, docs/architecture.md)."""

import asyncio
import gc
import threading
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app import store
from app.db import get_engine, make_engine, read_engine
from app.unit_of_work import UnitOfWork, close_loop_connection, loop_connection
from tests.helpers import assert_problem, listening

READS = 5


@contextmanager
def watching_the_read_pool() -> Iterator[dict[str, list]]:
    """The read engine's pool checkouts, and the driver connection each read statement ran on."""
    reads = read_engine(get_engine())
    seen: dict[str, list] = {"checkouts": [], "ran_on": []}

    def checkout(dbapi_connection, *_):
        seen["checkouts"].append(dbapi_connection)

    def before(connection, *_):
        seen["ran_on"].append(connection.connection.dbapi_connection)

    with listening((reads, "checkout", checkout), (reads, "before_cursor_execute", before)):
        yield seen


def test_the_loops_read_routes_share_one_connection_without_a_checkout_each(app, world):
    headers = world.a.headers["patient"]
    with TestClient(app) as client, watching_the_read_pool() as seen:
        for _ in range(READS):
            assert client.get("/v1/me/plan", headers=headers).status_code == 200
        # Each plan read runs statements (the caller and their programme, the hold without one) ...
        assert len(seen["ran_on"]) >= READS
        # ... all on one connection, taken from the pool once for this loop.
        assert len({id(connection) for connection in seen["ran_on"]}) == 1
        assert len(seen["checkouts"]) == 1
    # The app's shutdown gave it back.
    assert read_engine(get_engine()).pool.checkedout() == 0


def test_a_closed_loops_connection_is_given_back_when_the_next_loop_reads(app, world):
    """Without a lifespan (no `with`), each request runs on a loop of its own, closed after it: the next
    loop takes the read connection's place and gives the old one back, so the pool never runs dry."""
    pool = read_engine(get_engine()).pool
    client = TestClient(app)
    for _ in range(READS):
        assert client.get("/v1/me/plan", headers=world.a.headers["patient"]).status_code == 200
        assert pool.checkedout() == 1
    close_loop_connection(get_engine())
    assert pool.checkedout() == 0


def test_a_read_unit_off_the_loop_checks_one_out_of_the_pool_and_gives_it_back():
    pool = read_engine(get_engine()).pool
    found: dict[str, int] = {}

    def read_in_a_worker_thread() -> None:
        unit = UnitOfWork(get_engine(), read_only=True)
        assert unit.connection.exec_driver_sql("SELECT 1").scalar_one() == 1
        found["during"] = pool.checkedout()
        unit.release()
        found["after"] = pool.checkedout()

    before = pool.checkedout()
    worker = threading.Thread(target=read_in_a_worker_thread)
    worker.start()
    worker.join()
    assert found == {"during": before + 1, "after": before}


def test_a_statement_outside_app_query_does_not_keep_the_loops_connection_from_reconnecting():
    """SQLAlchemy marks a transaction begun, even in autocommit, for a statement run through
    Connection.execute; left on the loop's connection, a lost connection would then fail every later read
    with PendingRollbackError. The unit ends the mark when it is done with the connection."""

    async def reads() -> None:
        unit = UnitOfWork(get_engine(), read_only=True)
        assert unit.connection.exec_driver_sql("SELECT 1").scalar_one() == 1
        unit.release()
        held = loop_connection(get_engine())
        assert held is not None and not held.in_transaction()
        held.invalidate()  # as SQLAlchemy does when the server connection is lost
        after = UnitOfWork(get_engine(), read_only=True)
        assert store.patient_row(after.connection, uuid.uuid4()) is None  # reconnected
        after.release()
        close_loop_connection(get_engine())

    asyncio.run(reads())


def test_shutting_one_app_down_leaves_another_live_loops_connection_alone():
    pool = read_engine(get_engine()).pool
    loop = asyncio.new_event_loop()
    running = threading.Thread(target=loop.run_forever)
    running.start()

    async def read() -> int | None:
        unit = UnitOfWork(get_engine(), read_only=True)
        try:
            return store.patient_row(unit.connection, uuid.uuid4()) is None and pool.checkedout()
        finally:
            unit.release()

    try:
        assert asyncio.run_coroutine_threadsafe(read(), loop).result(10) == 1
        close_loop_connection(get_engine())  # from elsewhere, while that loop is live: not its to close
        assert pool.checkedout() == 1
        assert asyncio.run_coroutine_threadsafe(read(), loop).result(10) == 1  # still usable there
    finally:
        loop.call_soon_threadsafe(loop.stop)
        running.join()
        loop.close()
    close_loop_connection(get_engine())  # the loop has closed: now it goes back
    assert pool.checkedout() == 0


def test_an_engine_dropped_after_a_loop_read_on_it_is_not_kept_alive(database_url):
    """The loop's connection is held by the writing engine, weakly, as its read twin is (tests make many
    engines; a server keeps one)."""
    engine = make_engine(database_url)

    async def read(on: Engine) -> None:
        unit = UnitOfWork(on, read_only=True)
        assert unit.connection.exec_driver_sql("SELECT 1").scalar_one() == 1
        unit.release()

    asyncio.run(read(engine))
    dropped = weakref.ref(engine), weakref.ref(read_engine(engine))
    del engine
    for _ in range(3):  # each collection's weakref callbacks free the next link of the chain
        gc.collect()
    assert [ref() for ref in dropped] == [None, None]


@pytest.mark.skipif("get_engine().dialect.name != 'postgresql'", reason="a server to lose: PostgreSQL")
def test_the_loops_connection_comes_back_after_its_server_connection_is_lost(app, world):
    """The read engine has no pre-ping: the first read on a lost connection answers 503 (the app retries)
    and the next one reconnects, on the loop's connection as on a pooled one."""
    headers = world.a.headers["patient"]
    with TestClient(app) as client, watching_the_read_pool() as seen:
        assert client.get("/v1/me/plan", headers=headers).status_code == 200
        (held,) = set(seen["ran_on"])
        backend = held.info.backend_pid
        with get_engine().connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({int(backend)})")
        assert_problem(client.get("/v1/me/plan", headers=headers), 503, "database_unavailable")
        assert client.get("/v1/me/plan", headers=headers).status_code == 200
        assert seen["ran_on"][-1].info.backend_pid != backend
