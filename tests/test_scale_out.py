"""Scale-out on PostgreSQL: two `hep serve` processes and two `hep worker`s on one database, one of each
killed with SIGKILL mid-run (docs/scaling.md, "Numbers").

Two patients' phones (two clinics) send their session logs, in batches and one at a time, with ids they
chose, to the two APIs in turn; a request whose connection dies, or that finds its API gone, is sent again
unchanged to the other API, as a phone behind a load balancer would. Each clinic's EHR receives the
webhooks on a real receiver that verifies every signature. One API is killed while a batch is on its way
to it; one worker is killed while it holds claims with sends under way. Afterwards every log is stored
once with one `session.logged` event, every event reached its receiver at least once (duplicates are
counted and printed: at least once allows them), and the surviving worker sent what the dead one had
claimed once their leases ran out.
"""

import os
import signal
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, col, func, select

from app.config import get_settings
from app.db import get_engine
from app.models.session_log import SessionLog
from app.models.webhook import Delivery, DeliveryAttempt, Event
from tests.helpers import free_port, hep_serve, start_worker, stop_worker, wait_until
from tests.logging_helpers import active_programme, item_ids, log_body, now_iso
from tests.webhook_receiver import Receiver

pytestmark = [
    pytest.mark.skipif(
        get_settings().is_sqlite,
        reason="scale-out needs PostgreSQL: SQLite deployments run one API process with its in-process "
        "dispatcher (docs/scaling.md)",
    ),
    pytest.mark.skipif(
        not Path("/proc/net/tcp").exists(), reason="finds the worker with sends under way in Linux's /proc"
    ),
]

BATCH = 10
# Each phase, per phone: four rounds of a batch and two single logs (48 logs in 12 requests).
PHASE = [BATCH, 1, 1] * 4
# The request of the first phase that the first phone is sending when its API is killed: a batch, and its
# turn is the first API's (requests go to the two APIs in turn).
KILL_AT = 6
# The workers wait this long for a receiver; a claim's lease is 4 times as long (DeliveryPolicy.lease),
# so the dead worker's claims are due again 8 s after they were made.
WORKER_TIMEOUT = "2"


@dataclass
class Phone:
    """A patient's app: sends requests to the APIs in turn; one whose connection dies, or whose API is
    gone, is sent again, unchanged, to the other API."""

    headers: dict[str, str]
    programme: dict
    apis: list[str] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)  # log id -> status of the answer that came
    failures: Counter = field(default_factory=Counter)  # transport errors, by kind
    retries: int = 0
    turn: int = 0
    made: int = 0

    def run(self, sizes: list[int], kill_at: int | None = None, kill: Callable | None = None) -> None:
        with httpx.Client(headers=self.headers, timeout=30) as http:
            for index, size in enumerate(sizes):
                trace = kill if index == kill_at else None
                self.send(http, [self.make_log() for _ in range(size)], trace)

    def make_log(self) -> dict:
        """A new log, with a new id, of the programme's items in turn, done now."""
        items = item_ids(self.programme)
        self.made += 1
        return log_body(self.programme, items[self.made % len(items)], now_iso())

    def send(self, http: httpx.Client, logs: list[dict], trace: Callable | None) -> None:
        path, body = (
            ("/v1/me/sessions", logs[0]) if len(logs) == 1 else ("/v1/me/sessions/batch", {"logs": logs})
        )
        for attempt in range(4):
            api = self.apis[(self.turn + attempt) % len(self.apis)]
            try:
                response = http.post(api + path, json=body, extensions={"trace": trace} if trace else {})
                break
            except httpx.TransportError as exc:
                self.failures[type(exc).__name__] += 1
                self.retries += 1
                trace = None
        else:
            raise AssertionError(f"no API answered: {self.failures}")
        self.turn += 1
        if len(logs) == 1:
            self.answers[logs[0]["id"]] = response.status_code
        else:
            assert response.status_code == 200, response.text
            self.answers |= {result["id"]: result["status"] for result in response.json()["results"]}


def _kill_once_sent(pid: int, killed: threading.Event) -> Callable:
    """An httpx trace hook: SIGKILL `pid` as soon as the request's body has been sent to it, so the
    request is on its way (or being stored) when its API dies."""

    def trace(event: str, info: dict) -> None:
        if event == "http11.send_request_body.complete" and not killed.is_set():
            os.kill(pid, signal.SIGKILL)
            killed.set()

    return trace


def _sends_under_way(pid: int, port: int) -> int:
    """Connections process `pid` has open to 127.0.0.1:`port` (its socket inodes among /proc/net/tcp's
    established rows). The dispatcher keeps no connection alive, so each one is a send under way."""
    sockets = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            sockets.add(target[len("socket:[") : -1])
    count = 0
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = row.split()
        remote_port, state, inode = int(fields[2].split(":")[1], 16), fields[3], fields[9]
        count += remote_port == port and state == "01" and inode in sockets
    return count


def _rows(statement) -> list:
    with Session(get_engine()) as session:
        return list(session.exec(statement).all())


def test_two_apis_and_two_workers_lose_nothing_when_one_of_each_is_killed(client, world, tmp_path):
    receiver = Receiver()
    tenants = {"a": world.a, "b": world.b}
    endpoints: dict[str, uuid.UUID] = {}
    phones: dict[str, Phone] = {}
    for name, tenant in tenants.items():
        created = client.post(
            "/v1/webhook-endpoints", json={"url": receiver.url(name)}, headers=tenant.headers["admin"]
        )
        assert created.status_code == 201, created.text
        endpoints[name] = uuid.UUID(created.json()["id"])
        receiver.add(name, created.json()["secret"])
        phones[name] = Phone(tenant.headers["patient"], active_programme(client, tenant))

    api_killed = threading.Event()
    with ExitStack() as stack:
        receiver.start()
        stack.callback(receiver.stop)
        options = ["--concurrency", "8", "--poll-interval", "0.05", "--timeout", WORKER_TIMEOUT]
        logs = [tmp_path / f"worker{index}.log" for index in range(2)]
        workers = [start_worker(*options, log=log) for log in logs]
        stack.callback(lambda: [stop_worker(worker) for worker in workers])

        def serve(index: int):
            env = {**os.environ, "HEP_PORT": str(free_port()), "HEP_DEMO": "0"}
            return stack.enter_context(hep_serve(env, tmp_path / f"serve{index}.log"))

        with ThreadPoolExecutor(max_workers=2) as starting:  # both start at once (each takes seconds)
            apis = list(starting.map(serve, range(2)))
        for phone in phones.values():
            phone.apis = [api.url for api in apis]
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=len(phones)))

        # Phase 1: both phones log; the first API dies while a batch of phone a's is on its way to it.
        kill_api = _kill_once_sent(apis[0].process.pid, api_killed)
        for done in [
            pool.submit(phones["a"].run, PHASE, KILL_AT, kill_api),
            pool.submit(phones["b"].run, PHASE),
        ]:
            done.result()
        assert api_killed.is_set() and apis[0].process.wait(timeout=10) == -signal.SIGKILL
        assert phones["a"].failures.keys() - {"ConnectError"}, phones["a"].failures  # died on its way

        # Phase 2: the receivers hold every request until the worker with sends under way is killed.
        for hook in receiver.hooks.values():
            hook.gate = threading.Event()
        phase = [pool.submit(phone.run, PHASE) for phone in phones.values()]

        def sends_under_way() -> dict[int, int] | None:
            """Each worker's sends under way, once there are 8 in all: each endpoint takes 8 at once from
            all dispatchers together (DeliveryPolicy.sends_per_endpoint), and each worker has 8 senders."""
            found = {worker.pid: _sends_under_way(worker.pid, receiver.port) for worker in workers}
            return found if sum(found.values()) >= 8 else None

        sending = wait_until(sends_under_way)
        victim = next(worker for worker in workers if worker.pid == max(sending, key=sending.get))
        victim.kill()
        killed_at = datetime.now(UTC)
        victim.wait(timeout=10)
        leased = {
            row.id: row
            for row in _rows(
                select(Delivery).where(
                    col(Delivery.endpoint_id).in_(endpoints.values()),
                    Delivery.status == "pending",
                    col(Delivery.locked_until) > killed_at,
                )
            )
        }
        for hook in receiver.hooks.values():
            hook.gate.set()
        for done in phase:
            done.result()
        # Phase 3: one API and one worker left.
        for done in [pool.submit(phone.run, PHASE) for phone in phones.values()]:
            done.result()

        def all_delivered() -> bool:
            pending = _rows(
                select(func.count())
                .select_from(Delivery)
                .where(
                    col(Delivery.endpoint_id).in_(endpoints.values()),
                    Delivery.status != "succeeded",
                )
            )
            return pending == [0]

        wait_until(all_delivered, timeout=45, interval=0.1)
    survivor_output = logs[1 - workers.index(victim)].read_text()
    assert "SIGTERM: finishing the sends under way" in survivor_output, survivor_output[-2000:]
    assert "Stopped." in survivor_output, survivor_output[-2000:]

    # Every log the phones sent was answered as stored, and is stored once, with one event.
    sent = {log_id for phone in phones.values() for log_id in phone.answers}
    assert len(sent) == 3 * 2 * sum(PHASE)
    statuses = Counter(status for phone in phones.values() for status in phone.answers.values())
    assert set(statuses) <= {200, 201}, statuses
    patients = [tenant.patient.id for tenant in tenants.values()]
    stored = _rows(select(SessionLog.id).where(col(SessionLog.patient_id).in_(patients)))
    assert sorted(map(str, stored)) == sorted(sent)
    logged = _rows(
        select(Event).where(
            col(Event.clinic_id).in_([t.clinic.id for t in tenants.values()]), Event.type == "session.logged"
        )
    )
    assert Counter(str(event.data["log_id"]) for event in logged) == Counter(sent)

    # The dead worker's claims were sent by the survivor once their leases had run out; the survivor's own
    # claims at the kill were sent before theirs ran out.
    first_attempts: dict[uuid.UUID, DeliveryAttempt] = {}
    for attempt in _rows(
        select(DeliveryAttempt)
        .where(col(DeliveryAttempt.delivery_id).in_(list(leased)))
        .order_by(col(DeliveryAttempt.attempted_at).desc())
    ):
        first_attempts[attempt.delivery_id] = attempt  # the earliest comes last
    taken_over = [
        first_attempts[delivery.id]
        for delivery in leased.values()
        if first_attempts[delivery.id].attempted_at >= delivery.locked_until
    ]
    assert len(taken_over) >= sending[victim.pid] >= 1, (sending, len(leased))
    picked_up = min(a.attempted_at for a in taken_over) - killed_at
    recovered = max(a.attempted_at + timedelta(milliseconds=a.duration_ms) for a in taken_over) - killed_at

    # Every event scheduled for the receivers reached them, signed (nothing refused); at least once, and
    # twice only for what the dead worker had sent without recording it.
    received = Counter()
    for name, endpoint_id in endpoints.items():
        scheduled = {
            str(d.event_id) for d in _rows(select(Delivery).where(Delivery.endpoint_id == endpoint_id))
        }
        assert {str(e.id) for e in logged if e.clinic_id == tenants[name].clinic.id} <= scheduled
        arrived = Counter(message.message_id for message in receiver.messages(name))
        assert set(arrived) == scheduled
        received += arrived
    assert not receiver.refused, receiver.refused
    duplicated = {message_id for message_id, count in received.items() if count > 1}
    assert duplicated <= {str(leased[a.delivery_id].event_id) for a in taken_over}
    assert received.total() - len(received) == len(duplicated)  # none arrived three times

    print(
        f"\n{len(sent)} logs in {sum(p.turn for p in phones.values())} requests "
        f"({statuses[201]} stored, {statuses[200]} replayed), {sum(p.retries for p in phones.values())} "
        f"sent again to the other API ({dict(phones['a'].failures + phones['b'].failures)}); "
        f"{len(received)} events, {received.total()} webhooks received, {len(duplicated)} duplicates; "
        f"the dead worker had {sending[victim.pid]} sends under way and {len(taken_over)} claims, picked "
        f"up {picked_up.total_seconds():.1f} s and all delivered {recovered.total_seconds():.1f} s after "
        "the kill"
    )
