"""Webhook endpoints, the outbox and the event feed over the API; signing, URL safety and retry policy.

Delivery over HTTP to a real receiver is in test_webhooks_delivery.py.
"""

import socket
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select
from standardwebhooks import Webhook, WebhookVerificationError

from app.config import get_settings
from app.db import get_engine, utcnow
from app.deps import current_settings
from app.models.webhook import Delivery, Event
from app.services import events
from app.webhooks.policy import STANDARD_SCHEDULE, DeliveryPolicy
from app.webhooks.signing import new_secret, signature_header
from app.webhooks.url_safety import UnsafeUrl, check_url, pin
from tests.factories import UNREACHABLE_URL, make_webhook_endpoint
from tests.helpers import assert_problem

ENDPOINTS = "/v1/webhook-endpoints"


def _rows(statement) -> list:
    # A session of its own, closed at once: an open read transaction would hold SQLite's write lock.
    with Session(get_engine()) as session:
        return list(session.exec(statement).all())


def _events(clinic_id: uuid.UUID) -> list[Event]:
    return _rows(select(Event).where(Event.clinic_id == clinic_id).order_by(Event.id))


def _deliveries(endpoint_id: str) -> list[Delivery]:
    return _rows(select(Delivery).where(Delivery.endpoint_id == uuid.UUID(endpoint_id)).order_by(Delivery.id))


def _create(client, headers, **body) -> dict:
    response = client.post(ENDPOINTS, json={"url": UNREACHABLE_URL, **body}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def no_feed_delay(app):
    """The feed without its settling delay, so a test can read events it has just written."""
    settings = get_settings().model_copy(update={"event_feed_settle_seconds": 0})
    app.dependency_overrides[current_settings] = lambda: settings
    yield
    app.dependency_overrides.pop(current_settings)


@pytest.fixture
def private_urls_refused(app):
    settings = get_settings().model_copy(update={"webhook_allow_private": False})
    app.dependency_overrides[current_settings] = lambda: settings
    yield
    app.dependency_overrides.pop(current_settings)


# -- signing, URL safety, retry policy -------------------------------------------------------------------


def test_signatures_verify_with_the_standardwebhooks_library():
    current, previous = new_secret(), new_secret()
    assert current.startswith("whsec_") and current != previous
    body, msg_id, timestamp = (
        b'{"type":"patient.created"}',
        str(uuid.uuid4()),
        int(datetime.now(UTC).timestamp()),
    )
    for signing_secrets in ([current], [current, previous]):
        header = signature_header(signing_secrets, msg_id, timestamp, body)
        headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": header}
        assert len(header.split(" ")) == len(signing_secrets)
        for secret in signing_secrets:
            assert Webhook(secret).verify(body, headers) == {"type": "patient.created"}
        with pytest.raises(WebhookVerificationError):
            Webhook(new_secret()).verify(body, headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(current).verify(body + b" ", headers)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://93.184.215.14/hook", "webhook_url_not_https"),
        ("ftp://93.184.215.14/hook", "webhook_url_not_https"),
        ("https://127.0.0.1/hook", "webhook_url_not_public"),
        ("https://localhost:8443/hook", "webhook_url_not_public"),
        ("https://10.1.2.3/", "webhook_url_not_public"),
        ("https://172.16.0.1/", "webhook_url_not_public"),
        ("https://192.168.1.1/", "webhook_url_not_public"),
        ("https://100.64.0.1/", "webhook_url_not_public"),  # carrier-grade NAT
        ("https://169.254.169.254/latest/meta-data", "webhook_url_not_public"),  # cloud metadata
        ("https://0.0.0.0/", "webhook_url_not_public"),
        ("https://224.0.0.1/", "webhook_url_not_public"),  # multicast
        ("https://240.0.0.1/", "webhook_url_not_public"),  # reserved
        ("https://[::1]/", "webhook_url_not_public"),
        ("https://[::]/", "webhook_url_not_public"),
        ("https://[fe80::1]/", "webhook_url_not_public"),
        ("https://[fd00::1]/", "webhook_url_not_public"),
        ("https://[::ffff:127.0.0.1]/", "webhook_url_not_public"),  # IPv4-mapped IPv6
        ("https://[::ffff:10.0.0.1]/", "webhook_url_not_public"),
        ("https://[2002:7f00:1::1]/", "webhook_url_not_public"),  # 6to4 wrapping 127.0.0.1
        ("https://[::ffff:a9fe:a9fe]/", "webhook_url_not_public"),  # mapped metadata address, in hex
        ("https://[64:ff9b::a00:1]/", "webhook_url_not_public"),  # NAT64 of 10.0.0.1
        ("https://[64:ff9b:1::a00:1]/", "webhook_url_not_public"),  # local-use NAT64
        ("https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "webhook_url_not_public"),  # Teredo
        ("https://[fec0::1]/", "webhook_url_not_public"),  # deprecated site-local
        ("https://2130706433/", "webhook_url_not_public"),  # 127.0.0.1 as one decimal number
        ("https://0x7f.0.0.1/", "webhook_url_not_public"),  # hexadecimal octet
        ("https://127.1/", "webhook_url_not_public"),  # shortened dotted form
        ("https://0/", "webhook_url_not_public"),  # 0.0.0.0
        ("https://0177.0.0.1/", "webhook_url_invalid"),  # octal octet (refused by the URL parser)
        ("https://hooks.example.org@127.0.0.1/", "webhook_url_not_public"),  # user info before the host
        ("https:///no-host", "webhook_url_invalid"),
    ],
)
def test_url_checker_refuses_non_https_and_non_public_addresses(url, code):
    with pytest.raises(UnsafeUrl) as raised:
        check_url(url, allow_private=False)
    assert raised.value.code == code and raised.value.status == 400


def test_url_checker_accepts_public_addresses_and_allow_private_lifts_the_rules():
    check_url("https://93.184.215.14/hook", allow_private=False)
    check_url("https://[2606:4700:4700::1111]/hook", allow_private=False)
    check_url("http://127.0.0.1:9/hook", allow_private=True)
    check_url("http://10.0.0.1/hook", allow_private=True)


def _fake_dns(monkeypatch, answers: dict[str, list[str]]) -> None:
    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in answers[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_host_names_are_judged_by_every_address_they_resolve_to(monkeypatch):
    _fake_dns(
        monkeypatch,
        {"hooks.example.org": ["93.184.215.14"], "mixed.example.org": ["93.184.215.14", "10.0.0.7"]},
    )
    check_url("https://hooks.example.org/in", allow_private=False)
    with pytest.raises(UnsafeUrl) as raised:
        check_url("https://mixed.example.org/in", allow_private=False)
    assert raised.value.code == "webhook_url_not_public"
    with pytest.raises(UnsafeUrl) as raised:
        check_url("https://nowhere.example.org/in", allow_private=False)
    assert raised.value.code == "webhook_url_unresolvable"

    # The send connects to the checked address; the name travels in Host and TLS SNI.
    pinned = pin("https://hooks.example.org:8443/in?x=1", allow_private=False)
    assert str(pinned.url) == "https://93.184.215.14:8443/in?x=1"
    assert pinned.host_header == "hooks.example.org:8443" and pinned.sni_hostname == "hooks.example.org"


def test_retry_schedule_and_jitter():
    assert [delay.total_seconds() for delay in STANDARD_SCHEDULE] == [
        0,
        5,
        300,
        1800,
        7200,
        18000,
        36000,
        36000,
    ]
    policy = DeliveryPolicy()
    assert policy.retry_delay(0) == timedelta(0)
    for attempts_made, base in enumerate(STANDARD_SCHEDULE):
        for _ in range(20):
            delay = policy.retry_delay(attempts_made)
            assert base * 0.8 <= delay <= base * 1.2
    assert policy.retry_delay(len(STANDARD_SCHEDULE)) is None
    assert policy.lease > timedelta(seconds=policy.timeout_seconds)


# -- endpoints over the API ------------------------------------------------------------------------------


def test_endpoint_lifecycle_secret_shown_once(client, world):
    headers = world.a.headers["admin"]
    created = _create(client, headers, description="EHR", event_types=["patient.created"])
    assert created["secret"].startswith("whsec_")
    assert created["enabled"] is True and created["event_types"] == ["patient.created"]
    url = f"{ENDPOINTS}/{created['id']}"

    fetched = client.get(url, headers=headers).json()
    assert "secret" not in fetched and fetched["description"] == "EHR"
    listed = client.get(ENDPOINTS, headers=headers).json()
    assert [e["id"] for e in listed["items"]] == [created["id"]] and "secret" not in listed["items"][0]

    patched = client.patch(url, json={"event_types": [], "description": "all events"}, headers=headers)
    assert patched.status_code == 200
    assert patched.json()["event_types"] == [] and patched.json()["url"] == UNREACHABLE_URL

    assert client.delete(url, headers=headers).status_code == 204
    assert_problem(client.get(url, headers=headers), 404, "not_found")
    assert client.get(ENDPOINTS, headers=headers).json()["items"] == []


def test_admins_and_api_keys_only(client, world):
    by_key = _create(client, world.a.headers["api_key"])
    assert client.get(f"{ENDPOINTS}/{by_key['id']}", headers=world.a.headers["admin"]).status_code == 200
    for path in (ENDPOINTS, f"{ENDPOINTS}/{by_key['id']}", "/v1/events"):
        assert_problem(client.get(path, headers=world.a.headers["physio"]), 403, "role_required")
        assert_problem(client.get(path, headers=world.a.headers["patient"]), 403, "staff_only")
    assert_problem(
        client.post(ENDPOINTS, json={"url": UNREACHABLE_URL}, headers=world.a.headers["physio"]), 403
    )
    # Another clinic's endpoint does not exist for this one.
    assert_problem(client.get(f"{ENDPOINTS}/{by_key['id']}", headers=world.b.headers["admin"]), 404)
    assert client.get(ENDPOINTS, headers=world.b.headers["api_key"]).json()["items"] == []


def test_endpoint_input_is_validated(client, world):
    headers = world.a.headers["admin"]
    for body in (
        {"url": "not a url"},
        {"url": "ftp://127.0.0.1/x"},
        {"url": UNREACHABLE_URL, "event_types": ["patient.deleted"]},
        {"url": UNREACHABLE_URL, "event_types": ["patient.created", "patient.created"]},
        {"url": UNREACHABLE_URL, "event_types": "patient.created"},
        {"url": UNREACHABLE_URL, "description": "x" * 501},
        {"url": UNREACHABLE_URL, "secret": "whsec_mine"},
        {"url": "https://" + "a" * 3000 + ".example.org/"},
        {},
    ):
        assert_problem(client.post(ENDPOINTS, json=body, headers=headers), 422, "validation_error")
    created = _create(client, headers)
    url = f"{ENDPOINTS}/{created['id']}"
    assert_problem(client.patch(url, json={"enabled": "sometimes"}, headers=headers), 422)
    assert_problem(client.post(f"{url}/replay", json={"since": "2026-01-01T00:00:00"}, headers=headers), 422)
    assert_problem(client.get("/v1/events", params={"after": "x"}, headers=headers), 422)
    assert_problem(client.get(f"{url}/deliveries", params={"status": "lost"}, headers=headers), 422)


def test_urls_must_be_https_and_public_unless_allowed(client, world, private_urls_refused):
    headers = world.a.headers["admin"]
    body = assert_problem(
        client.post(ENDPOINTS, json={"url": "http://93.184.215.14/hook"}, headers=headers),
        400,
        "webhook_url_not_https",
    )
    assert "https" in body["detail"]
    assert_problem(
        client.post(ENDPOINTS, json={"url": "https://127.0.0.1/hook"}, headers=headers),
        400,
        "webhook_url_not_public",
    )
    created = _create(client, headers, url="https://93.184.215.14/hook")
    assert_problem(
        client.patch(
            f"{ENDPOINTS}/{created['id']}", json={"url": "https://169.254.169.254/"}, headers=headers
        ),
        400,
        "webhook_url_not_public",
    )


def test_rotation_keeps_the_old_secret_signing_for_a_day(client, world):
    headers = world.a.headers["admin"]
    created = _create(client, headers)
    rotated = client.post(f"{ENDPOINTS}/{created['id']}/rotate-secret", headers=headers)
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["secret"].startswith("whsec_") and new["secret"] != created["secret"]
    overlap = datetime.fromisoformat(new["previous_secret_expires_at"]) - utcnow()
    assert timedelta(hours=23, minutes=59) < overlap <= timedelta(hours=24)
    assert "secret" not in client.get(f"{ENDPOINTS}/{created['id']}", headers=headers).json()


# -- the outbox -------------------------------------------------------------------------------------------


def test_events_commit_with_the_change_or_not_at_all(session, world):
    clinic_id, patient_id = world.a.clinic.id, world.a.patient.id  # a rollback expires loaded objects
    before = len(_events(clinic_id))
    events.emit(session, clinic_id, "patient.updated", {"patient_id": patient_id})
    session.rollback()
    assert len(_events(clinic_id)) == before

    event = events.emit(session, clinic_id, "patient.updated", {"patient_id": patient_id})
    session.commit()
    stored = _events(clinic_id)[-1]
    assert stored.id == event.id and stored.data == {"patient_id": str(patient_id)}


def test_a_commit_that_scheduled_deliveries_wakes_the_dispatcher(session, world):
    clinic_id = world.a.clinic.id
    wakes = []
    unsubscribe = events.on_deliveries_committed(lambda: wakes.append(1))
    try:
        events.emit(session, clinic_id, "patient.updated", {})
        session.commit()
        assert wakes == []  # no endpoint, no delivery: nothing to wake for
        make_webhook_endpoint(session, world.a.clinic)
        session.commit()
        events.emit(session, clinic_id, "patient.updated", {})
        session.rollback()
        session.commit()
        assert wakes == []  # rolled back: nothing was scheduled after all
        events.emit(session, clinic_id, "patient.updated", {})
        session.commit()
        assert wakes == [1]
    finally:
        unsubscribe()


def test_patient_changes_emit_events_only_when_something_changed(client, world, unique):
    headers = world.a.headers["api_key"]
    clinic = world.a.clinic.id
    seen = len(_events(clinic))

    def new_types() -> list[str]:
        nonlocal seen
        stored = _events(clinic)
        fresh, seen = stored[seen:], len(stored)
        return [event.type for event in fresh]

    url = f"/v1/patients/by-external-id/EHR-{unique}"
    assert client.put(url, json={"display_name": "Ann"}, headers=headers).status_code == 201
    assert new_types() == ["patient.created"]
    assert client.put(url, json={"display_name": "Ann"}, headers=headers).status_code == 200
    assert new_types() == []  # the same data again: nothing changed, nothing to tell
    assert client.put(url, json={"display_name": "Ann B"}, headers=headers).status_code == 200
    assert new_types() == ["patient.updated"]

    created = client.post("/v1/patients", json={"display_name": "Bo"}, headers=headers).json()
    patient_url = f"/v1/patients/{created['id']}"
    assert client.patch(patient_url, json={"display_name": "Bo"}, headers=headers).status_code == 200
    assert client.patch(patient_url, json={"locale": "es"}, headers=headers).status_code == 200
    assert new_types() == ["patient.created", "patient.updated"]

    taken = client.post(
        "/v1/patients", json={"display_name": "Dup", "external_id": f"EHR-{unique}"}, headers=headers
    )
    assert_problem(taken, 409, "external_id_taken")
    assert new_types() == []  # the refused change emitted nothing

    last = _events(clinic)[-1]
    # Identifiers only: no names, notes or other patient detail leave the service.
    assert last.data == {"patient_id": created["id"], "external_id": None}


def test_one_delivery_per_enabled_endpoint_subscribed_to_the_type(client, world):
    headers = world.a.headers["admin"]
    every = _create(client, headers)
    updates_only = _create(client, headers, event_types=["patient.updated"])
    disabled = _create(client, headers, enabled=False)
    assert disabled["disabled_reason"] == "manual"
    _create(client, world.b.headers["admin"])  # another clinic's endpoint hears nothing of clinic A

    patient = client.post("/v1/patients", json={"display_name": "C"}, headers=headers).json()
    client.patch(f"/v1/patients/{patient['id']}", json={"display_name": "D"}, headers=headers)
    assert [d.status for d in _deliveries(every["id"])] == ["pending", "pending"]
    assert len(_deliveries(updates_only["id"])) == 1
    assert _deliveries(disabled["id"]) == []
    created, updated = _events(world.a.clinic.id)[-2:]
    assert [d.event_id for d in _deliveries(every["id"])] == [created.id, updated.id]
    assert _deliveries(updates_only["id"])[0].event_id == updated.id


def test_disabling_cancels_pending_deliveries_and_enabling_starts_afresh(client, world):
    headers = world.a.headers["admin"]
    endpoint = _create(client, headers)
    url = f"{ENDPOINTS}/{endpoint['id']}"
    client.post("/v1/patients", json={"display_name": "E"}, headers=headers)
    off = client.patch(url, json={"enabled": False}, headers=headers).json()
    assert off["enabled"] is False and off["disabled_reason"] == "manual"
    assert [d.status for d in _deliveries(endpoint["id"])] == ["cancelled"]
    assert_problem(client.post(f"{url}/test", headers=headers), 409, "endpoint_disabled")

    on = client.patch(url, json={"enabled": True}, headers=headers).json()
    assert on["enabled"] is True and on["disabled_reason"] is None
    client.post("/v1/patients", json={"display_name": "F"}, headers=headers)
    assert [d.status for d in _deliveries(endpoint["id"])] == ["cancelled", "pending"]


def test_test_event_replay_retry_and_the_delivery_log(client, world):
    headers = world.a.headers["api_key"]
    start = utcnow()
    for name in ("G", "H"):
        client.post("/v1/patients", json={"display_name": name}, headers=headers)
    endpoint = _create(client, headers, event_types=["patient.created"])
    url = f"{ENDPOINTS}/{endpoint['id']}"

    test = client.post(f"{url}/test", headers=headers)
    assert test.status_code == 202
    assert test.json()["event_type"] == "webhook.test" and test.json()["status"] == "pending"

    replay = client.post(f"{url}/replay", json={"since": start.isoformat()}, headers=headers)
    assert replay.status_code == 202 and replay.json() == {"deliveries": 2}
    later = (utcnow() + timedelta(minutes=1)).isoformat()
    assert client.post(f"{url}/replay", json={"since": later}, headers=headers).json() == {"deliveries": 0}

    log = client.get(f"{url}/deliveries", params={"limit": 2}, headers=headers).json()
    assert [d["event_type"] for d in log["items"]] == ["webhook.test", "patient.created"]
    rest = client.get(f"{url}/deliveries", params={"cursor": log["next_cursor"]}, headers=headers).json()
    assert [d["event_type"] for d in rest["items"]] == ["patient.created"] and rest["next_cursor"] is None
    assert all(d["attempts"] == [] and d["attempt_count"] == 0 for d in log["items"] + rest["items"])
    pending = client.get(f"{url}/deliveries", params={"status": "pending"}, headers=headers).json()
    assert len(pending["items"]) == 3

    delivery_id = test.json()["id"]
    with Session(get_engine()) as session:  # as a dispatcher would leave it: given up on
        delivery = session.get(Delivery, uuid.UUID(delivery_id))
        delivery.status, delivery.next_attempt_at = "failed", None
        session.add(delivery)
        session.commit()
    retried = client.post(f"/v1/deliveries/{delivery_id}/retry", headers=headers)
    assert retried.status_code == 202 and retried.json()["status"] == "pending"

    with Session(get_engine()) as session:  # being sent right now
        delivery = session.get(Delivery, uuid.UUID(delivery_id))
        delivery.locked_until = utcnow() + timedelta(minutes=1)
        session.add(delivery)
        session.commit()
    assert_problem(
        client.post(f"/v1/deliveries/{delivery_id}/retry", headers=headers), 409, "delivery_in_flight"
    )
    assert_problem(
        client.post(f"/v1/deliveries/{delivery_id}/retry", headers=world.b.headers["api_key"]), 404
    )


def test_deleting_an_endpoint_removes_its_deliveries_not_the_events(client, world):
    headers = world.a.headers["admin"]
    endpoint = _create(client, headers)
    client.post("/v1/patients", json={"display_name": "I"}, headers=headers)
    assert len(_deliveries(endpoint["id"])) == 1
    events_before = len(_events(world.a.clinic.id))
    assert client.delete(f"{ENDPOINTS}/{endpoint['id']}", headers=headers).status_code == 204
    assert _deliveries(endpoint["id"]) == []
    assert len(_events(world.a.clinic.id)) == events_before


# -- the pull feed ----------------------------------------------------------------------------------------


def test_event_feed_is_ordered_paged_scoped_and_resumable(client, world, no_feed_delay):
    headers = world.a.headers["api_key"]
    created = [
        client.post("/v1/patients", json={"display_name": f"N{i}"}, headers=headers).json() for i in range(5)
    ]
    endpoint = _create(client, headers)
    client.post(f"{ENDPOINTS}/{endpoint['id']}/test", headers=headers)  # never in the feed
    client.post("/v1/patients", json={"display_name": "other"}, headers=world.b.headers["api_key"])

    items, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/events", params=params, headers=headers).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    ids = [item["id"] for item in items]
    assert ids == sorted(ids, key=uuid.UUID) and len(set(ids)) == len(ids)
    assert {item["clinic_id"] for item in items} == {str(world.a.clinic.id)}
    assert "webhook.test" not in {item["type"] for item in items}
    assert [item["data"]["patient_id"] for item in items[-5:]] == [p["id"] for p in created]
    first = items[-5]
    assert first.keys() == {"id", "type", "timestamp", "clinic_id", "data"}
    assert first["type"] == "patient.created" and first["timestamp"].endswith("Z")

    # A consumer resumes from the last id it processed.
    after = client.get("/v1/events", params={"after": items[-3]["id"]}, headers=headers).json()
    assert [item["id"] for item in after["items"]] == ids[-2:] and after["next_cursor"] is None


def test_event_feed_holds_back_events_until_they_settle(client, world):
    headers = world.a.headers["admin"]
    before = client.get("/v1/events", headers=headers).json()["items"]
    client.post("/v1/patients", json={"display_name": "too new"}, headers=headers)
    assert get_settings().event_feed_settle_seconds >= 1
    assert client.get("/v1/events", headers=headers).json()["items"] == before


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3)
    ),
    max_leaves=8,
)
# Local or malformed URLs only: a dispatcher in a later test sends to whatever these tests save.
endpoint_like = st.fixed_dictionaries(
    {},
    optional={
        "url": json_values
        | st.sampled_from(
            ["http://127.0.0.1:9/x", "https://[::1]:9/", "http://xn--/", "https://a..b/", "http://[::1"]
        ),
        "description": json_values,
        "event_types": json_values | st.lists(st.sampled_from(["patient.created", "nope", ""]), max_size=3),
        "enabled": json_values,
        "since": json_values | st.just("2026-01-01T00:00:00Z"),
    },
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=endpoint_like | json_values)
def test_random_endpoint_bodies_never_500(client, world, body):
    headers = world.a.headers["api_key"]
    endpoint = client.get(ENDPOINTS, params={"limit": 1}, headers=headers).json()["items"] or [
        _create(client, headers)
    ]
    url = f"{ENDPOINTS}/{endpoint[0]['id']}"
    for response in (
        client.post(ENDPOINTS, json=body, headers=headers),
        client.patch(url, json=body, headers=headers),
        client.post(f"{url}/replay", json=body, headers=headers),
    ):
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert_problem(response, response.status_code)
