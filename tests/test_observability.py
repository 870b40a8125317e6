"""Operations: /metrics (who may read it, what it counts) and the JSON request log."""

import io
import json
import logging
import signal
import socket
import time
import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.config import get_settings
from app.db import get_engine
from app.deps import current_settings
from app.dispatcher import Dispatcher
from app.observability import JsonFormatter
from tests.factories import make_test_delivery, make_webhook_endpoint
from tests.helpers import assert_problem, start_worker


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(text: str, name: str, **labels: str) -> float:
    return _samples(text).get((name, frozenset(labels.items())), 0.0)


def test_requests_are_counted_by_route_template_never_by_raw_path(client, world):
    headers = world.a.headers["physio"]
    route = "/v1/patients/{patient_id}"
    before = client.get("/metrics").text
    client.get(f"/v1/patients/{world.a.patient.id}", headers=headers)
    client.get(f"/v1/patients/{uuid.uuid4()}", headers=headers)
    client.get(f"/v1/no-such-thing/{uuid.uuid4()}")
    client.request("BREW", "/healthz")
    after = client.get("/metrics").text

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("hep_http_requests_total", method="GET", route=route, status="200") == 1
    assert delta("hep_http_requests_total", method="GET", route=route, status="404") == 1
    assert delta("hep_http_request_duration_seconds_count", method="GET", route=route) == 2
    assert delta("hep_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert delta("hep_http_requests_total", method="OTHER", route="/healthz", status="405") == 1
    # No id, and nothing else a client chose, ever becomes a label.
    assert str(world.a.patient.id) not in after and "no-such-thing" not in after and "BREW" not in after


def test_metrics_token_when_set(app, client):
    settings = get_settings().model_copy(update={"metrics_token": "scrape-secret-0123456789"})
    app.dependency_overrides[current_settings] = lambda: settings
    try:
        assert_problem(client.get("/metrics"), 401, "unauthorized")
        assert_problem(client.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
        granted = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret-0123456789"})
        assert granted.status_code == 200 and "hep_http_requests_total" in granted.text
    finally:
        app.dependency_overrides.pop(current_settings)
    assert client.get("/metrics").status_code == 200  # no token set: open (keep it off the public port)


def test_delivery_queue_and_outcomes(client, world, session):
    endpoint = make_webhook_endpoint(session, world.a.clinic)  # nothing listens there
    make_test_delivery(session, endpoint)
    session.commit()
    before = client.get("/metrics").text
    assert _value(before, "hep_database_up") == 1
    assert _value(before, "hep_webhook_deliveries_pending") >= 1
    assert _value(before, "hep_webhook_deliveries_due") >= 1
    assert _value(before, "hep_webhook_oldest_due_seconds") >= 0

    def refused_attempts(text: str) -> float:
        return _value(text, "hep_webhook_delivery_attempts_total", outcome="connection_error")

    dispatcher = Dispatcher(get_engine(), allow_private=True, poll_interval=0.05)
    dispatcher.start()
    try:
        deadline = time.monotonic() + 20
        while refused_attempts(client.get("/metrics").text) <= refused_attempts(before):
            assert time.monotonic() < deadline, "no attempt was counted"
            time.sleep(0.05)
    finally:
        dispatcher.stop()


def test_each_request_logs_one_json_line_with_its_request_id_and_no_patient_data(client, world):
    name = "Zebedee Quixote-Patient"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("hep.request")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        created = client.post(
            "/v1/patients",
            json={"display_name": name, "external_id": "MRN-SECRET-1"},
            headers={**world.a.headers["physio"], "X-Request-ID": "req-abc-123"},
        )
        client.get("/v1/patients", params={"external_id": "MRN-SECRET-1"}, headers=world.a.headers["physio"])
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    assert created.status_code == 201
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    first = lines[0]
    assert first["request_id"] == "req-abc-123" and first["message"] == "request"
    assert first["method"] == "POST" and first["route"] == "/v1/patients" and first["status"] == 201
    assert first["duration_ms"] >= 0 and first["level"] == "INFO" and first["time"]
    assert lines[1]["route"] == "/v1/patients" and len(lines[1]["request_id"]) == 32
    text = stream.getvalue()
    assert name not in text and "MRN-SECRET" not in text and created.json()["id"] not in text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_worker_serves_its_metrics_and_logs_json(world):
    port = _free_port()
    process = start_worker("--poll-interval", "0.05", "--metrics-port", str(port))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "no metrics port"
                time.sleep(0.1)
        assert _value(scraped.text, "hep_database_up") == 1
        assert ("hep_webhook_deliveries_pending", frozenset()) in _samples(scraped.text)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    lines = [json.loads(line) for line in output.splitlines()]  # every line is JSON
    assert [line["message"] for line in lines][-2:] == [
        "SIGTERM: finishing the sends under way...",
        "Stopped.",
    ]
