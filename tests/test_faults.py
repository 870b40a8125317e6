"""Faults: receivers that misbehave, a database that goes away and comes back, concurrent writers.

Every server here listens on 127.0.0.1 and is stopped by the test that started it.
"""

import contextlib
import os
import socket
import sqlite3
import struct
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from app.config import get_settings
from app.db import get_engine, make_engine
from app.dispatcher import Dispatcher
from app.main import create_app
from app.models.webhook import Delivery, DeliveryAttempt
from app.webhooks.policy import DeliveryPolicy
from tests import dbutil
from tests.factories import make_tenant
from tests.helpers import assert_problem, wait_until
from tests.logging_helpers import active_programme, item_ids, log_body, now_iso

ENDPOINTS = "/v1/webhook-endpoints"


class BadReceiver:
    """A raw TCP server on 127.0.0.1; the request path chooses how it misbehaves.

    /hang      reads the request and never answers
    /reset     reads the request and resets the connection (TCP RST)
    /garbage   answers bytes that are not HTTP
    /drip      answers the status line one byte at a time, never finishing the headers
    /endless   answers 200, then a body that never ends
    /ok        answers 204, like a healthy receiver
    /redirect  answers 307 to /followed (a redirect must never be followed)
    """

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.paths: list[str] = []

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}"

    def start(self) -> None:
        self._listener.settimeout(0.1)
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = connection.recv(4096)
                if not chunk:
                    return
                head += chunk
            path = head.split(b" ", 2)[1].decode()
            self.paths.append(path)
            with contextlib.suppress(OSError):  # the dispatcher gave up on us first: that is the point
                getattr(self, "_" + path.strip("/"))(connection)

    def _hang(self, connection: socket.socket) -> None:
        self._stop.wait()

    def _reset(self, connection: socket.socket) -> None:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _garbage(self, connection: socket.socket) -> None:
        connection.sendall(b"\x00\xff\xfenot http at all\r\n\r\n")

    def _drip(self, connection: socket.socket) -> None:
        # For 4 s at most, so that a dispatcher without a deadline fails this test instead of hanging it.
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 60:
            if self._stop.wait(0.05):
                return
            connection.sendall(bytes([byte]))

    def _endless(self, connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        while not self._stop.is_set():
            connection.sendall(b"x" * 65536)

    def _ok(self, connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")

    def _redirect(self, connection: socket.socket) -> None:
        # Where an attacker would point: an address the URL check refuses, here our own /followed.
        location = f"http://127.0.0.1:{self.port}/followed".encode()
        connection.sendall(
            b"HTTP/1.1 307 Temporary Redirect\r\nContent-Length: 0\r\nLocation: " + location + b"\r\n\r\n"
        )

    _followed = _ok


def _deliveries(endpoint_id: str) -> list[Delivery]:
    with Session(get_engine()) as session:
        return list(session.exec(select(Delivery).where(Delivery.endpoint_id == uuid.UUID(endpoint_id))))


def _attempts(endpoint_id: str) -> list[DeliveryAttempt]:
    with Session(get_engine()) as session:
        return list(
            session.exec(
                select(DeliveryAttempt)
                .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
                .where(Delivery.endpoint_id == uuid.UUID(endpoint_id))
            )
        )


def test_the_dispatcher_survives_receivers_that_hang_reset_or_answer_garbage(client, world):
    """One attempt per misbehaving receiver is recorded as a failure within the timeout, the dispatcher
    keeps delivering to the healthy receiver throughout, and it stops promptly."""
    timeout = 0.5
    receiver = BadReceiver()
    receiver.start()
    headers = world.a.headers["admin"]
    modes = ("hang", "reset", "garbage", "drip", "endless", "ok")
    endpoints = {}
    for mode in modes:
        created = client.post(ENDPOINTS, json={"url": receiver.url(mode)}, headers=headers)
        assert created.status_code == 201, created.text
        endpoints[mode] = created.json()["id"]
    policy = DeliveryPolicy(schedule=(timedelta(0), timedelta(seconds=0.05)), timeout_seconds=timeout)
    # Fewer slots than bad receivers: a receiver that holds its slot past the timeout would starve /ok.
    dispatcher = Dispatcher(
        get_engine(), allow_private=True, policy=policy, concurrency=3, poll_interval=0.05
    )
    dispatcher.start()
    try:
        client.post("/v1/patients", json={"display_name": "Faults"}, headers=headers)
        started = time.monotonic()
        wait_until(lambda: all(d.status != "pending" for m in modes for d in _deliveries(endpoints[m])))
        elapsed = time.monotonic() - started
    finally:
        stopping = time.monotonic()
        dispatcher.stop()
        stop_seconds = time.monotonic() - stopping
        receiver.stop()

    outcome = {mode: _deliveries(endpoints[mode])[0] for mode in modes}
    assert outcome["ok"].status == "succeeded" and outcome["ok"].last_status_code == 204
    # A 200 with an endless body is a success: the body is read up to a bound, then dropped.
    assert outcome["endless"].status == "succeeded" and outcome["endless"].last_status_code == 200
    for mode in ("hang", "reset", "garbage", "drip"):
        delivery = outcome[mode]
        assert delivery.status == "failed" and delivery.attempt_count == 2, (mode, delivery)
        assert delivery.last_status_code is None and delivery.last_error, (mode, delivery)
        for attempt in _attempts(endpoints[mode]):
            # Each attempt ends within the timeout (plus scheduling slack), however the receiver stalls.
            assert attempt.duration_ms < (timeout + 0.5) * 1000, (mode, attempt)
    assert outcome["hang"].last_error.startswith("timed out")
    assert outcome["drip"].last_error.startswith("timed out")
    # Two attempts at each of six receivers, three at a time, each bounded by the timeout.
    assert elapsed < 10, elapsed
    assert stop_seconds < 2 * timeout + 1, stop_seconds


def test_redirects_are_never_followed(client, world):
    """A receiver cannot bounce a webhook onward (e.g. to an internal address): the 307 is the answer,
    recorded as a failure, and the Location is never requested."""
    receiver = BadReceiver()
    receiver.start()
    created = client.post(ENDPOINTS, json={"url": receiver.url("redirect")}, headers=world.a.headers["admin"])
    endpoint = created.json()["id"]
    policy = DeliveryPolicy(schedule=(timedelta(0),), timeout_seconds=2)
    dispatcher = Dispatcher(get_engine(), allow_private=True, policy=policy, poll_interval=0.05)
    dispatcher.start()
    try:
        client.post(f"{ENDPOINTS}/{endpoint}/test", headers=world.a.headers["admin"])
        [delivery] = wait_until(lambda: [d for d in _deliveries(endpoint) if d.status != "pending"])
    finally:
        dispatcher.stop()
        receiver.stop()
    assert delivery.status == "failed" and delivery.last_status_code == 307
    assert delivery.last_error == "redirects are not followed"
    assert receiver.paths == ["/redirect"]


# --- The database goes away and comes back ---------------------------------------------------------


class Outage:
    """A database of the test's own (migrated, with one clinic), and the switch that takes it away.

    PostgreSQL: the server refuses new connections to it and ends the open ones (as in a failover or a
    restart). SQLite: the folder that holds the file is gone (a volume not mounted yet); the file's open
    connections would keep it alive, so the app starts while it is away.
    """

    def __init__(self, base_url: str | None, tmp_path: Path) -> None:
        self.folder = tmp_path / "volume"
        self.folder.mkdir()
        self.url = dbutil.create_database(base_url, self.folder / "hep.db")
        self.postgres = not self.url.startswith("sqlite")
        dbutil.migrate(self.url)
        engine = make_engine(self.url)
        with Session(engine, expire_on_commit=False) as session:
            self.tenant = make_tenant(session)
            session.commit()
        engine.dispose()

    def _admin(self, statement: str) -> None:
        url = make_url(self.url)
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(statement.format(name=url.database)))
        admin.dispose()

    def down(self) -> None:
        if self.postgres:
            self._admin('ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            self._admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
        else:
            self.folder.rename(self.folder.with_name("volume-away"))

    def up(self) -> None:
        if self.postgres:
            self._admin('ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        else:
            self.folder.with_name("volume-away").rename(self.folder)

    def drop(self) -> None:
        if not self.postgres and not self.folder.exists():
            self.up()
        if self.postgres:
            self.up()
        dbutil.drop_database(self.url)


@pytest.fixture
def outage(tmp_path):
    outage = Outage(os.environ.get("HEP_TEST_DATABASE_URL"), tmp_path)
    yield outage
    outage.drop()


def test_database_outage_answers_503_and_recovers_without_a_restart(outage):
    """A second app on a database that goes away: /readyz and ordinary requests answer 503
    `database_unavailable` (problem+json, Retry-After), /metrics says the database is down, and once the
    database is back the same app answers again."""
    engine = make_engine(outage.url)
    app = create_app(engine=engine)
    ehr = outage.tenant.headers["api_key"]
    try:
        with TestClient(app) as client:
            patient = outage.tenant.headers["patient"]
            if outage.postgres:  # first a working app, with connections in its pools
                assert client.get("/readyz").status_code == 200
                assert client.get("/v1/patients", headers=ehr).status_code == 200
                assert client.get("/v1/me/plan", headers=patient).status_code == 200
            outage.down()

            assert_problem(client.get("/readyz"), 503, "database_unavailable")
            for _ in range(3):  # again and again: nothing is left broken in the pool
                failed = client.get("/v1/patients", headers=ehr)
                assert_problem(failed, 503, "database_unavailable")
                assert failed.headers["retry-after"] == "5"
            failed = client.post("/v1/patients", json={"display_name": "Held"}, headers=ehr)
            assert_problem(failed, 503, "database_unavailable")
            for _ in range(2):  # a read route, on the read engine's pool
                assert_problem(client.get("/v1/me/plan", headers=patient), 503, "database_unavailable")
            metrics = client.get("/metrics")
            assert metrics.status_code == 200 and "hep_database_up 0.0" in metrics.text

            outage.up()
            assert client.get("/readyz").json()["status"] == "ready"
            assert client.get("/v1/patients", headers=ehr).status_code == 200
            created = client.post("/v1/patients", json={"display_name": "Back"}, headers=ehr)
            assert created.status_code == 201, created.text
            assert client.get("/v1/me/plan", headers=patient).status_code == 200
            assert "hep_database_up 1.0" in client.get("/metrics").text
    finally:
        engine.dispose()


@pytest.mark.skipif(not get_settings().is_sqlite, reason="SQLite's single write lock")
def test_a_write_lock_held_beyond_the_busy_timeout_answers_503_database_busy(world, database_url):
    """Writers wait for SQLite's write lock (busy_timeout, 10 s in the service). Should one wait run out,
    the answer is 503 `database_busy` with Retry-After, never a 500; the next request works again.
    This app waits 0.1 s, so the test need not hold the lock for 10."""
    engine = make_engine(database_url)
    event.listen(engine, "connect", lambda connection, _: connection.execute("PRAGMA busy_timeout=100"))
    app = create_app(engine=engine)
    ehr = world.a.headers["api_key"]
    holder = sqlite3.connect(make_url(database_url).database, isolation_level=None)
    try:
        with TestClient(app) as client:
            holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
            busy = client.post("/v1/patients", json={"display_name": "Waits"}, headers=ehr)
            assert_problem(busy, 503, "database_busy")
            assert busy.headers["retry-after"] == "1"
            holder.execute("ROLLBACK")
            done = client.post("/v1/patients", json={"display_name": "Waits"}, headers=ehr)
            assert done.status_code == 201, done.text
    finally:
        holder.close()
        engine.dispose()


# --- Concurrent writers ----------------------------------------------------------------------------


@pytest.fixture
def live_server(app):
    """The suite's app behind a real uvicorn on 127.0.0.1 (its thread pool runs requests in parallel)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=10)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_concurrent_writers_through_the_api_never_see_a_5xx(live_server, client, world):
    """Staff create and update patients while the patient app logs sessions, 12 clients at once. On
    SQLite every writer queues for the one write lock (BEGIN IMMEDIATE, busy_timeout), so `database is
    locked` is waited out, never answered; on PostgreSQL the rows simply interleave."""
    tenant = world.a
    programme = active_programme(client, tenant)
    item = item_ids(programme)[0]
    statuses: list[int] = []
    lock = threading.Lock()

    def staff(worker: int) -> None:
        with httpx.Client(base_url=live_server, headers=tenant.headers["physio"], timeout=30) as http:
            for i in range(10):
                created = http.post("/v1/patients", json={"display_name": f"W{worker}-{i}"})
                updated = http.patch(f"/v1/patients/{created.json()['id']}", json={"locale": "es"})
                read = http.get(f"/v1/patients/{tenant.patient.id}")  # a read that writes an audit row
                with lock:
                    statuses.extend((created.status_code, updated.status_code, read.status_code))

    def patient(_: int) -> None:
        with httpx.Client(base_url=live_server, headers=tenant.headers["patient"], timeout=30) as http:
            for _ in range(10):
                logged = http.post("/v1/me/sessions", json=log_body(programme, item, now_iso()))
                with lock:
                    statuses.append(logged.status_code)

    with ThreadPoolExecutor(max_workers=12) as pool:
        futures = [pool.submit(staff, n) for n in range(8)] + [pool.submit(patient, n) for n in range(4)]
        for future in futures:
            future.result()

    assert len(statuses) == 8 * 10 * 3 + 4 * 10
    assert not [status for status in statuses if status >= 500], sorted(set(statuses))
    assert set(statuses) <= {200, 201}, sorted(set(statuses))
    mine = client.get("/v1/me/sessions", params={"limit": 200}, headers=tenant.headers["patient"]).json()
    assert len(mine["items"]) == 40
