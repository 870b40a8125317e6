"""Webhooks end to end: a real receiver on 127.0.0.1 verifies every message with the `standardwebhooks`
library, while dispatchers (in this process, or `hep worker` processes) drain the outbox.

The dispatchers here use a compressed retry schedule; production waits follow DESIGN.md section 6.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import certifi
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.config import get_settings
from app.db import get_engine
from app.dispatcher import Dispatcher
from app.main import create_app
from app.models.webhook import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from app.services import events
from app.webhooks.policy import DeliveryPolicy
from tests.helpers import REPO, free_port, start_worker, stop_worker, wait_until
from tests.webhook_receiver import Receiver

ENDPOINTS = "/v1/webhook-endpoints"

FAST = DeliveryPolicy(
    schedule=tuple(timedelta(seconds=s) for s in (0, 0.05, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1)), timeout_seconds=2
)
# Long enough (about 10 s in all) for a receiver to be down for a while and come back.
PATIENT = DeliveryPolicy(
    schedule=tuple(timedelta(seconds=s) for s in (0, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 3.2)), timeout_seconds=2
)


@pytest.fixture
def receiver():
    receiver = Receiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def dispatch():
    """Start in-process dispatchers (stopped at the end of the test)."""
    started: list[Dispatcher] = []

    def start(policy: DeliveryPolicy = FAST, **options) -> Dispatcher:
        options = {"allow_private": True, "concurrency": 4, "poll_interval": 0.05} | options
        dispatcher = Dispatcher(get_engine(), policy=policy, **options)
        dispatcher.start()
        started.append(dispatcher)
        return dispatcher

    yield start
    for dispatcher in started:
        dispatcher.stop()


def _rows(statement) -> list:
    # A session of its own, closed at once: an open read transaction would hold SQLite's write lock.
    with Session(get_engine()) as session:
        return list(session.exec(statement).all())


def _deliveries(endpoint_id) -> list[Delivery]:
    return _rows(
        select(Delivery).where(Delivery.endpoint_id == uuid.UUID(str(endpoint_id))).order_by(Delivery.id)
    )


def _endpoint(endpoint_id) -> WebhookEndpoint:
    return _rows(select(WebhookEndpoint).where(WebhookEndpoint.id == uuid.UUID(str(endpoint_id))))[0]


def _subscribe(client, headers, receiver: Receiver, name: str, **options) -> dict:
    created = client.post(ENDPOINTS, json={"url": receiver.url(name)}, headers=headers)
    assert created.status_code == 201, created.text
    endpoint = created.json()
    receiver.add(name, endpoint["secret"], **options)
    return endpoint


def _all_done(endpoint_id) -> bool:
    deliveries = _deliveries(endpoint_id)
    return bool(deliveries) and all(d.status != "pending" for d in deliveries)


def test_every_committed_event_arrives_exactly_as_committed(client, world, receiver, dispatch, unique):
    headers = world.a.headers["api_key"]
    endpoint = _subscribe(client, headers, receiver, "ehr")
    other = _subscribe(client, world.b.headers["api_key"], receiver, "other-clinic")
    dispatch()

    upsert = f"/v1/patients/by-external-id/EHR-{unique}"
    client.put(upsert, json={"display_name": "Ann"}, headers=headers)  # patient.created
    client.put(upsert, json={"display_name": "Ann"}, headers=headers)  # no change: no event
    client.put(upsert, json={"display_name": "Ann Lee", "birth_year": 1970}, headers=headers)  # updated
    bo = client.post("/v1/patients", json={"display_name": "Bo"}, headers=headers).json()  # created
    client.patch(f"/v1/patients/{bo['id']}", json={"display_name": "Bo"}, headers=headers)  # no change
    client.patch(f"/v1/patients/{bo['id']}", json={"timezone": "Europe/Oslo"}, headers=headers)  # updated
    refused = client.post(
        "/v1/patients", json={"display_name": "Dup", "external_id": f"EHR-{unique}"}, headers=headers
    )
    assert refused.status_code == 409  # rolled back: no event

    since = datetime.fromisoformat(endpoint["created_at"])
    committed = _rows(
        select(Event)
        .where(Event.clinic_id == world.a.clinic.id, Event.occurred_at >= since)
        .order_by(Event.id)
    )
    assert [e.type for e in committed] == [
        "patient.created",
        "patient.updated",
        "patient.created",
        "patient.updated",
    ]
    wait_until(lambda: len(receiver.messages("ehr")) >= len(committed) and _all_done(endpoint["id"]))
    time.sleep(0.2)  # nothing more comes

    received = receiver.messages("ehr")
    assert receiver.refused == []  # every signature verified
    assert len(received) == len(committed)  # exactly once each
    by_id = {message.message_id: message.payload for message in received}
    for event in committed:
        assert by_id[str(event.id)] == json.loads(events.present(event).model_dump_json())
        assert by_id[str(event.id)]["clinic_id"] == str(world.a.clinic.id)
    assert set(by_id[str(committed[0].id)]["data"]) == {"patient_id", "external_id"}
    assert receiver.messages("other-clinic") == []
    assert all(d.status == "succeeded" and d.attempt_count == 1 for d in _deliveries(endpoint["id"]))
    assert _deliveries(other["id"]) == []

    log = client.get(f"{ENDPOINTS}/{endpoint['id']}/deliveries", headers=headers).json()["items"]
    assert [attempt["status_code"] for d in log for attempt in d["attempts"]] == [200] * len(committed)
    assert all(d["attempts"][0]["duration_ms"] >= 0 and d["attempts"][0]["error"] is None for d in log)


def test_receiver_down_for_a_while_then_up_gets_everything(client, world, receiver, dispatch):
    headers = world.a.headers["admin"]
    endpoint = _subscribe(client, headers, receiver, "flaky")
    receiver.stop()
    dispatch(PATIENT)
    patients = [
        client.post("/v1/patients", json={"display_name": f"P{i}"}, headers=headers).json() for i in range(5)
    ]

    # Every delivery has failed at least twice (connection refused) before the receiver comes back.
    wait_until(lambda: all(d.attempt_count >= 2 for d in _deliveries(endpoint["id"])))
    receiver.start()
    wait_until(lambda: all(d.status == "succeeded" for d in _deliveries(endpoint["id"])))

    received = receiver.messages("flaky")
    assert sorted(m.payload["data"]["patient_id"] for m in received) == sorted(p["id"] for p in patients)
    assert receiver.refused == []
    log = client.get(f"{ENDPOINTS}/{endpoint['id']}/deliveries", headers=headers).json()["items"]
    for delivery in log:
        *failures, success = delivery["attempts"]
        assert len(failures) >= 2 and all(a["status_code"] is None and a["error"] for a in failures)
        assert success["status_code"] == 200 and success["error"] is None
        assert delivery["attempt_count"] == len(delivery["attempts"])
    assert _endpoint(endpoint["id"]).failing_since is None  # a success ends the failing streak


def test_410_disables_the_endpoint(client, world, receiver, dispatch):
    headers = world.a.headers["admin"]
    endpoint = _subscribe(client, headers, receiver, "gone", status=410)
    for name in ("Q", "R", "S"):
        client.post("/v1/patients", json={"display_name": name}, headers=headers)
    dispatch(concurrency=1)

    wait_until(lambda: _all_done(endpoint["id"]))
    disabled = client.get(f"{ENDPOINTS}/{endpoint['id']}", headers=headers).json()
    assert disabled["enabled"] is False and disabled["disabled_reason"] == "gone"
    assert sorted(d.status for d in _deliveries(endpoint["id"])) == ["cancelled", "cancelled", "failed"]
    assert len(receiver.messages("gone")) == 1  # nothing more was sent after the 410

    client.post("/v1/patients", json={"display_name": "T"}, headers=headers)
    assert len(_deliveries(endpoint["id"])) == 3  # a disabled endpoint gets no new deliveries


def test_continuous_failure_disables_the_endpoint_and_attempts_run_out(client, world, receiver, dispatch):
    headers = world.a.headers["admin"]
    failing = _subscribe(client, headers, receiver, "failing", status=500)
    client.post("/v1/patients", json={"display_name": "U"}, headers=headers)
    # 5 days in production; 300 ms here.
    dispatch(DeliveryPolicy(schedule=FAST.schedule, disable_after=timedelta(seconds=0.3)))

    wait_until(lambda: not _endpoint(failing["id"]).enabled)
    endpoint = _endpoint(failing["id"])
    assert endpoint.disabled_reason == "failing" and endpoint.failing_since is not None
    assert [d.status for d in _deliveries(failing["id"])] == ["cancelled"]


def test_attempts_stop_after_the_schedule(client, world, receiver, dispatch):
    headers = world.a.headers["admin"]
    endpoint = _subscribe(client, headers, receiver, "broken", status=503)
    client.post("/v1/patients", json={"display_name": "V"}, headers=headers)
    dispatch()

    wait_until(lambda: _all_done(endpoint["id"]))
    [delivery] = _deliveries(endpoint["id"])
    assert delivery.status == "failed" and delivery.attempt_count == len(FAST.schedule)
    assert delivery.last_status_code == 503 and delivery.next_attempt_at is None
    attempts = _rows(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery.id))
    assert [a.status_code for a in attempts] == [503] * len(FAST.schedule)
    assert len(receiver.messages("broken")) == len(FAST.schedule)

    # A manual retry sends once more.
    receiver.hooks["broken"].status = 200
    assert client.post(f"/v1/deliveries/{delivery.id}/retry", headers=headers).status_code == 202
    wait_until(lambda: _deliveries(endpoint["id"])[0].status == "succeeded")


def test_the_address_is_checked_again_at_send_time(client, world, receiver, dispatch):
    """Saved while private addresses were allowed, the host name now resolves to a private address (as
    after a DNS rebinding): nothing is sent, and the attempt says why."""
    headers = world.a.headers["admin"]
    url = f"https://localhost:{receiver.port}/hooks/rebound"
    endpoint = client.post(ENDPOINTS, json={"url": url}, headers=headers).json()
    receiver.add("rebound", endpoint["secret"])
    client.post("/v1/patients", json={"display_name": "W"}, headers=headers)
    dispatch(allow_private=False)

    wait_until(lambda: _deliveries(endpoint["id"])[0].attempt_count >= 2)
    delivery = _deliveries(endpoint["id"])[0]
    assert delivery.last_status_code is None and "private or reserved address" in delivery.last_error
    assert receiver.messages("rebound") == [] and receiver.refused == []


@pytest.mark.skipif(
    shutil.which("openssl") is None, reason="needs the openssl command for a test certificate"
)
def test_https_connects_to_the_checked_address_under_the_host_name(
    client, world, dispatch, tmp_path, monkeypatch
):
    """In production every URL is https: the send goes to the address that was checked, while the TLS
    certificate is still verified against the URL's host name (and Host names it too), for every host name
    that resolves to that address, also when a send to another of them has just finished."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=hooks.test"]
        + ["-addext", "subjectAltName=DNS:hooks.test", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    receiver = Receiver(tls=(key, cert))
    receiver.start()
    real_getaddrinfo = socket.getaddrinfo

    def fake_dns(host, *args, **kwargs):  # both names point at the receiver; only one is on its certificate
        return real_getaddrinfo(
            "127.0.0.1" if host in ("hooks.test", "other.test") else host, *args, **kwargs
        )

    monkeypatch.setattr(socket, "getaddrinfo", fake_dns)
    monkeypatch.setattr(certifi, "where", lambda: str(cert))  # the dispatcher trusts the test certificate
    try:
        headers = world.a.headers["admin"]
        endpoints = {}
        for name, host in (("tls", "hooks.test"), ("wrong-name", "other.test")):
            url = f"https://{host}:{receiver.port}/hooks/{name}"
            endpoints[name] = client.post(ENDPOINTS, json={"url": url}, headers=headers).json()
            receiver.add(name, endpoints[name]["secret"])
        # A timeout well above any handshake on a loaded machine: a timed-out send would be sent again.
        dispatch(DeliveryPolicy(schedule=FAST.schedule, timeout_seconds=15))

        # One after the other (a test event goes to one endpoint): the second send starts when the first
        # is recorded, so a connection kept open by the first would be there for the second to reuse.
        client.post(f"{ENDPOINTS}/{endpoints['tls']['id']}/test", headers=headers)
        wait_until(lambda: _all_done(endpoints["tls"]["id"]))
        [message] = receiver.messages("tls")
        assert message.payload["type"] == "webhook.test" and receiver.refused == []
        client.post(f"{ENDPOINTS}/{endpoints['wrong-name']['id']}/test", headers=headers)
        [wrong] = wait_until(
            lambda: [d for d in _deliveries(endpoints["wrong-name"]["id"]) if d.attempt_count >= 1]
        )
        assert wrong.last_status_code is None, "sent over the connection checked for the other host name"
        assert "CERTIFICATE_VERIFY_FAILED" in wrong.last_error
        assert receiver.messages("wrong-name") == []
        assert receiver.hosts == [f"hooks.test:{receiver.port}"]
    finally:
        receiver.stop()


def test_after_rotation_both_secrets_sign_for_a_day(client, world, receiver, dispatch):
    headers = world.a.headers["admin"]
    endpoint = _subscribe(client, headers, receiver, "rotating")
    old_secret = endpoint["secret"]
    new_secret = client.post(f"{ENDPOINTS}/{endpoint['id']}/rotate-secret", headers=headers).json()["secret"]
    receiver.hooks["rotating"].secrets = [old_secret, new_secret]  # each alone must verify the message
    dispatch()
    client.post(f"{ENDPOINTS}/{endpoint['id']}/test", headers=headers)

    [message] = wait_until(lambda: receiver.messages("rotating"))
    assert message.signatures == 2 and receiver.refused == []
    assert message.payload["type"] == "webhook.test"
    assert message.payload["data"] == {"endpoint_id": endpoint["id"]}


def test_the_api_process_delivers_by_default(world, receiver):
    """HEP_DISPATCHER=inprocess (the default): the app's lifespan runs a dispatcher and stops it."""
    settings = get_settings().model_copy(update={"dispatcher": "inprocess"})
    with TestClient(create_app(settings)) as client:
        headers = world.a.headers["api_key"]
        _subscribe(client, headers, receiver, "in-process")
        client.post("/v1/patients", json={"display_name": "X"}, headers=headers)
        [message] = wait_until(lambda: receiver.messages("in-process"), interval=0.005)
    assert message.payload["type"] == "patient.created"
    assert not any(thread.name == "webhook-dispatcher" for thread in threading.enumerate())


def _worker(*options: str) -> subprocess.Popen:
    return start_worker("--poll-interval", "0.05", *options)


def _emit_many(clinic_id: uuid.UUID, count: int) -> None:
    with Session(get_engine()) as session:
        for i in range(count):
            events.emit(session, clinic_id, "patient.updated", {"patient_id": uuid.uuid4(), "n": i})
        session.commit()


@pytest.mark.skipif(
    get_settings().is_sqlite, reason="SQLite deployments run one dispatcher (the API's); see docs/webhooks.md"
)
def test_two_workers_on_postgresql_deliver_each_event_once(client, world, receiver):
    endpoint = _subscribe(client, world.a.headers["admin"], receiver, "scaled")
    count = 200
    _emit_many(world.a.clinic.id, count)  # all due before the workers start, so they compete for them
    workers = [_worker("--concurrency", "8"), _worker("--concurrency", "8")]
    try:
        started = time.monotonic()
        wait_until(lambda: all(d.status == "succeeded" for d in _deliveries(endpoint["id"])), timeout=60)
        elapsed = time.monotonic() - started
    finally:
        outputs = [stop_worker(worker) for worker in workers]
    ids = [message.message_id for message in receiver.messages("scaled")]
    assert len(ids) == count and len(set(ids)) == count, outputs
    assert all(d.attempt_count == 1 for d in _deliveries(endpoint["id"]))
    assert all("Stopped." in output for output in outputs), outputs
    print(f"\n{count} deliveries by two workers in {elapsed:.2f} s ({count / elapsed:.0f}/s)")


def test_killing_a_worker_mid_batch_loses_nothing(client, world, receiver):
    endpoint = _subscribe(client, world.a.headers["admin"], receiver, "crash", gate=threading.Event())
    count = 8
    _emit_many(world.a.clinic.id, count)
    # A short timeout, so that the killed worker's claims (4 × timeout) expire soon.
    worker = _worker("--concurrency", "5", "--timeout", "1")
    try:
        # Five sends under way (the worker's senders, within what one endpoint takes), none answered.
        assert DeliveryPolicy().sends_per_endpoint >= 5
        wait_until(lambda: receiver.hooks["crash"].arrived >= 5)
        worker.kill()
    finally:
        stop_worker(worker)
    assert all(d.attempt_count == 0 for d in _deliveries(endpoint["id"]))  # it died before recording any

    receiver.hooks["crash"].gate.set()
    successor = _worker()
    try:
        wait_until(lambda: all(d.status == "succeeded" for d in _deliveries(endpoint["id"])))
    finally:
        output = stop_worker(successor)
    assert "SIGTERM: finishing the sends under way" in output and "Stopped." in output, output
    received = {message.message_id for message in receiver.messages("crash")}
    event_ids = {str(d.event_id) for d in _deliveries(endpoint["id"])}
    assert len(event_ids) == count and event_ids <= received


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def test_the_receiver_in_the_docs_verifies_and_prints_events(client, world, dispatch, tmp_path):
    docs = (REPO / "docs" / "webhooks.md").read_text()
    script = tmp_path / "receiver.py"
    script.write_text(re.search(r"## Verifying signatures.*?```python\n(.*?)```", docs, re.DOTALL).group(1))
    port = free_port()
    headers = world.a.headers["api_key"]
    endpoint = client.post(ENDPOINTS, json={"url": f"http://127.0.0.1:{port}/"}, headers=headers).json()
    env = {**os.environ, "WEBHOOK_SECRET": endpoint["secret"], "PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_until(lambda: _listening(port) or process.poll() is not None)
        dispatch()
        client.post(f"{ENDPOINTS}/{endpoint['id']}/test", headers=headers)
        wait_until(lambda: _all_done(endpoint["id"]))
        [delivery] = _deliveries(endpoint["id"])
        assert delivery.status == "succeeded" and delivery.last_status_code == 204
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert f"webhook.test {{'endpoint_id': '{endpoint['id']}'}}" in output


def test_two_dispatchers_claiming_in_batches_send_each_delivery_once(client, world, receiver, dispatch):
    """Each dispatcher claims a batch per round and keeps claims in line for its senders; two of them
    (in one process here, so this runs on SQLite too) still send every delivery exactly once."""
    endpoint = _subscribe(client, world.a.headers["admin"], receiver, "batched")
    count = 300
    _emit_many(world.a.clinic.id, count)
    dispatch(concurrency=8)
    dispatch(concurrency=8)

    wait_until(lambda: all(d.status == "succeeded" for d in _deliveries(endpoint["id"])), timeout=60)
    ids = [message.message_id for message in receiver.messages("batched")]
    assert len(ids) == count and len(set(ids)) == count
    deliveries = _deliveries(endpoint["id"])
    assert len(deliveries) == count and all(d.attempt_count == 1 for d in deliveries)
    attempts = _rows(select(DeliveryAttempt).where(DeliveryAttempt.clinic_id == world.a.clinic.id))
    assert sorted(a.delivery_id for a in attempts) == sorted(d.id for d in deliveries)
    assert all(a.status_code == 200 and a.error is None for a in attempts)


def test_receivers_that_hang_hold_one_sender_each_not_the_others(client, world, receiver, dispatch):
    headers = world.a.headers["admin"]
    stuck = client.post(
        ENDPOINTS, json={"url": receiver.url("stuck"), "event_types": ["patient.created"]}, headers=headers
    ).json()
    receiver.add("stuck", stuck["secret"], gate=threading.Event())
    flowing = _subscribe(client, headers, receiver, "flowing")
    for i in range(3):  # to both endpoints
        client.post("/v1/patients", json={"display_name": f"Stuck {i}"}, headers=headers)
    _emit_many(world.a.clinic.id, 30)  # patient.updated: to the flowing endpoint only
    dispatch(DeliveryPolicy(schedule=FAST.schedule, timeout_seconds=15), concurrency=5)

    # Three senders wait on the stuck receiver; the other two carry all the rest meanwhile.
    wait_until(lambda: len(receiver.messages("flowing")) == 33 and _all_done(flowing["id"]))
    assert receiver.hooks["stuck"].arrived == 3
    assert all(d.attempt_count == 0 for d in _deliveries(stuck["id"]))  # still under way
    receiver.hooks["stuck"].gate.set()
    wait_until(lambda: all(d.status == "succeeded" for d in _deliveries(stuck["id"])))


def test_stopping_hands_back_the_claims_no_sender_has_started(client, world, receiver, dispatch):
    endpoint = _subscribe(client, world.a.headers["admin"], receiver, "held", gate=threading.Event())
    _emit_many(world.a.clinic.id, 3)
    # One send under way, two claims in line behind it.
    dispatcher = dispatch(DeliveryPolicy(schedule=FAST.schedule, timeout_seconds=15), concurrency=1)
    wait_until(lambda: receiver.hooks["held"].arrived == 1)
    # (Other clinics' leftovers from earlier tests take their turns in the claims first: wait for ours.)
    wait_until(lambda: sum(d.locked_until is not None for d in _deliveries(endpoint["id"])) == 2)

    stopping = threading.Thread(target=dispatcher.stop)
    stopping.start()  # waits for the send under way
    wait_until(lambda: sum(d.locked_until is not None for d in _deliveries(endpoint["id"])) == 1)
    receiver.hooks["held"].gate.set()
    stopping.join(timeout=20)
    assert not stopping.is_alive()
    deliveries = _deliveries(endpoint["id"])
    assert sorted(d.status for d in deliveries) == ["pending", "pending", "succeeded"]
    # The two never sent are due again at once, not after their lease.
    unsent = [(d.locked_until, d.attempt_count) for d in deliveries if d.status == "pending"]
    assert unsent == [(None, 0), (None, 0)]
    assert receiver.hooks["held"].arrived == 1


@pytest.mark.skipif(get_settings().is_sqlite, reason="PostgreSQL's NOTIFY wakes workers in other processes")
def test_a_commit_wakes_a_worker_in_another_process_at_once(client, world, receiver):
    endpoint = _subscribe(client, world.a.headers["admin"], receiver, "notified")
    # Polls only every 60 s: a prompt delivery is the notification's doing.
    worker = start_worker("--poll-interval", "60")
    try:
        time.sleep(3)  # started, first poll done, listening
        for _ in range(3):
            started = time.monotonic()
            count = len(receiver.messages("notified"))
            _emit_many(world.a.clinic.id, 1)
            wait_until(lambda: len(receiver.messages("notified")) > count, timeout=10)  # noqa: B023
            assert time.monotonic() - started < 5
    finally:
        output = stop_worker(worker)
    assert _all_done(endpoint["id"]), output


# --- fair delivery (issue 19, F4) ---------------------------------------------------------------------


def _emit(clinic_id: uuid.UUID, type: str, data: dict) -> str:
    with Session(get_engine()) as session:
        event = events.emit(session, clinic_id, type, data)
        session.commit()
    return str(event.id)


def _emergency(clinic_id: uuid.UUID) -> str:
    data = {"alert_id": uuid.uuid4(), "patient_id": uuid.uuid4(), "tier": "emergency", "reasons": ["saddle"]}
    return _emit(clinic_id, "safety.alert_raised", data)


def test_claims_put_urgent_alerts_first_and_take_clinics_in_turn(client, world, receiver, dispatch):
    _subscribe(client, world.a.headers["admin"], receiver, "busy")
    _subscribe(client, world.b.headers["admin"], receiver, "quiet")
    _emit_many(world.a.clinic.id, 40)  # clinic A's backlog, all due first
    quiet = {_emit(world.b.clinic.id, "patient.updated", {"patient_id": uuid.uuid4()}) for _ in range(5)}
    alert = _emergency(world.b.clinic.id)  # committed last of all
    dispatch(concurrency=1)  # one sender: the order of arrival is the order of the claims

    wait_until(lambda: len(receiver.received) == 46)
    order = [message.message_id for message in receiver.received]
    assert order[0] == alert  # the emergency alert before the backlog that was due before it
    # Clinic B's events take turns with clinic A's backlog instead of waiting behind all 40 of it.
    assert max(order.index(message_id) for message_id in quiet) <= 12
    assert len(set(order)) == 46


def test_an_endpoint_that_keeps_failing_is_backed_off_and_cannot_hold_the_senders(
    client, world, receiver, dispatch
):
    down = _subscribe(client, world.a.headers["admin"], receiver, "down", status=500)
    up = _subscribe(client, world.b.headers["admin"], receiver, "up")
    _emit_many(world.a.clinic.id, 30)
    patient_id = uuid.uuid4()
    for _ in range(10):
        _emit(world.b.clinic.id, "patient.updated", {"patient_id": patient_id})
    policy = DeliveryPolicy(schedule=(timedelta(0), *[timedelta(seconds=2)] * 7), timeout_seconds=2)
    dispatch(policy, concurrency=4)

    wait_until(lambda: _all_done(up["id"]))
    assert len(receiver.messages("up")) == 10
    # The failing endpoint got at most one claim's worth of its line, then was left alone.
    assert receiver.hooks["down"].arrived <= policy.sends_per_endpoint
    endpoint = _endpoint(down["id"])
    assert endpoint.failures_in_row >= 1 and endpoint.backoff_until > endpoint.failing_since
    untried = [d for d in _deliveries(down["id"]) if d.attempt_count == 0]
    assert len(untried) >= 30 - policy.sends_per_endpoint  # waiting for the endpoint, not spending tries

    receiver.hooks["down"].status = 200  # it recovers: its first success ends the streak
    wait_until(lambda: _all_done(down["id"]), timeout=30)
    endpoint = _endpoint(down["id"])
    assert (endpoint.failing_since, endpoint.failures_in_row, endpoint.backoff_until) == (None, 0, None)
    assert {message.message_id for message in receiver.messages("down")} == {
        str(d.event_id) for d in _deliveries(down["id"])
    }


def test_sends_that_fail_together_count_as_one_failure_in_a_row(client, world, receiver):
    from app.services import deliveries

    endpoint = _subscribe(client, world.a.headers["admin"], receiver, "blip")
    _emit_many(world.a.clinic.id, 8)
    policy = DeliveryPolicy(schedule=(timedelta(0), *[timedelta(seconds=30 * 2**n) for n in range(7)]))
    blip_id = uuid.UUID(endpoint["id"])
    with Session(get_engine()) as session:
        claimed = deliveries.claim_due(session, 1000, policy)
        # The claim is the dispatcher's: it also takes what earlier tests left due; handed back at once.
        deliveries.release(session, [claim for claim in claimed if claim.endpoint_id != blip_id])
        session.commit()
    claims = [claim for claim in claimed if claim.endpoint_id == blip_id]
    assert len(claims) == len(_deliveries(blip_id)) == policy.sends_per_endpoint == 8
    started = datetime.now(UTC)
    timed_out = deliveries.Outcome(started, 2000, None, "timeout")
    with Session(get_engine()) as session:  # the round's sends all time out
        for claim in claims:
            deliveries.record_attempt(session, claim, timed_out, policy)
        session.commit()
    blip = _endpoint(endpoint["id"])
    assert blip.failures_in_row == 1  # not one per send: the endpoint failed once
    assert blip.backoff_until == started + policy.endpoint_backoff(1)

    # The next attempt, once the backoff has run out, is the second failure in a row.
    with Session(get_engine()) as session:
        later = blip.backoff_until + timedelta(seconds=1)
        deliveries.record_attempt(session, claims[0], deliveries.Outcome(later, 2000, 503), policy)
        session.commit()
    blip = _endpoint(endpoint["id"])
    assert blip.failures_in_row == 2
    assert blip.backoff_until == later + policy.endpoint_backoff(2) > started + policy.endpoint_backoff(1)


# --- what leaves the service (issue 19, F7 and F8) ------------------------------------------------------


def test_webhook_urls_query_strings_never_reach_the_logs(client, world, receiver, dispatch):
    import io
    import logging

    from app.observability import JsonFormatter

    secret_token = f"receiver-token-{uuid.uuid4().hex}"
    created = client.post(
        ENDPOINTS,
        json={"url": f"{receiver.url('tokened')}?token={secret_token}"},
        headers=world.a.headers["admin"],
    ).json()
    receiver.add("tokened", created["secret"])
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        dispatch()
        _emit_many(world.a.clinic.id, 2)
        wait_until(lambda: len(receiver.messages("tokened")) == 2)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    lines = written.getvalue()
    assert "/hooks/tokened?…" in lines  # the HTTP client did log each request's URL
    assert secret_token not in lines


def test_clinical_codes_reach_only_the_endpoints_that_opted_in(client, world, receiver, dispatch):
    headers = world.a.headers["admin"]
    _subscribe(client, headers, receiver, "ids")
    opted = client.post(
        ENDPOINTS, json={"url": receiver.url("clinical"), "clinical_codes": True}, headers=headers
    ).json()
    assert opted["clinical_codes"] is True
    receiver.add("clinical", opted["secret"])
    alert = _emergency(world.a.clinic.id)
    log_data = {
        "log_id": uuid.uuid4(),
        "patient_id": uuid.uuid4(),
        "programme_id": uuid.uuid4(),
        "item_id": uuid.uuid4(),
        "colour": "red",
    }
    logged = _emit(world.a.clinic.id, "session.logged", log_data)
    dispatch()
    wait_until(lambda: len(receiver.messages("ids")) == 2 and len(receiver.messages("clinical")) == 2)

    def data(hook: str, event_id: str) -> dict:
        return next(m.payload["data"] for m in receiver.messages(hook) if m.message_id == event_id)

    assert set(data("ids", alert)) == {"alert_id", "patient_id"}
    assert set(data("ids", logged)) == {"log_id", "patient_id", "programme_id", "item_id"}
    assert data("clinical", alert)["tier"] == "emergency" and data("clinical", alert)["reasons"] == ["saddle"]
    assert data("clinical", logged)["colour"] == "red"
    # The feed, read with the clinic's own credentials and audited, keeps them.
    stored = _rows(select(Event).where(Event.id == uuid.UUID(alert)))[0]
    assert stored.data["tier"] == "emergency"
