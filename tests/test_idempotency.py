"""Idempotency-Key on the POSTs that create (app/idempotency.py): the first answer comes back, byte for
byte, never a second resource; another request under the same key is refused; a failed request leaves the
key free; keys are the caller's own; concurrent retries against the real server on both databases."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from app.db import utcnow
from app.idempotency import HEADER, OWN_IDEMPOTENCY, REPLAYED
from app.models.audit import AuditEvent
from app.models.idempotency import IdempotencyKey
from app.models.patient import Patient
from app.models.programme import Programme
from app.models.user import User
from app.models.webhook import Event, WebhookEndpoint
from tests.factories import exercise_body, make_patient
from tests.helpers import assert_problem

PHASES = [{"name": "Start", "items": [{"exercise": "cat-camel", "reps": 6}]}]

# Every operation that takes the key: (path, the caller that may create, the body). A new POST that answers
# 201 fails test_the_creating_posts_take_the_key until it is here or in OWN_IDEMPOTENCY.
CREATES = {
    "/v1/patients": ("api_key", lambda: {"display_name": "Ana", "external_id": f"MRN-{uuid.uuid4().hex}"}),
    "/v1/users": (
        "admin",
        lambda: {
            "email": f"{uuid.uuid4().hex[:12]}@example.org",
            "name": "Bo",
            "password": "a-long-password",
        },
    ),
    "/v1/patients/{patient_id}/enrolment-codes": ("physio", lambda: None),
    "/v1/exercises": ("physio", exercise_body),
    "/v1/patients/{patient_id}/programmes": (
        "physio",
        lambda: {"title": "Back", "start_date": "2026-11-02", "phases": PHASES},
    ),
    "/v1/templates": ("physio", lambda: {"name": "Sciatica, acute", "phases": PHASES}),
    "/v1/api-keys": ("admin", lambda: {"name": "EHR"}),
    "/v1/webhook-endpoints": ("admin", lambda: {"url": f"http://127.0.0.1:9/{uuid.uuid4().hex}"}),
    "/v1/me/calendar-feed": ("patient", lambda: None),
    "/v1/me/outcomes": ("patient", lambda: {"instrument": "nprs", "answers": {"back": 4, "leg": 2}}),
    "/v1/patients/{patient_id}/interactions": ("physio", lambda: {"minutes": 10, "kind": "live"}),
}


def _post(client, tenant, path, body, key, caller=None, patient_id=None):
    caller = caller or CREATES[path][0]
    url = path.replace("{patient_id}", str(patient_id or tenant.patient.id))
    headers = {**tenant.headers[caller], **({HEADER: key} if key is not None else {})}
    return client.post(url, json=body, headers=headers)


def test_the_creating_posts_take_the_key(client):
    document = client.get("/openapi.json").json()
    taking = {
        path
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if any(parameter["name"] == HEADER for parameter in operation.get("parameters", []))
        and method == "post"
        and "409" in operation["responses"]
    }
    created_by_post = {
        path
        for path, operations in document["paths"].items()
        if "201" in operations.get("post", {}).get("responses", {})
    }
    assert taking == set(CREATES)
    assert created_by_post == set(CREATES) | set(OWN_IDEMPOTENCY)


@pytest.mark.parametrize("path", sorted(CREATES))
def test_a_retry_gets_the_first_answer_and_creates_nothing(client, world, session, path):
    patient = make_patient(session, world.a.clinic)  # a patient without a programme, for the creates on one
    session.commit()
    body, key = CREATES[path][1](), str(uuid.uuid4())
    first = _post(client, world.a, path, body, key, patient_id=patient.id)
    assert first.status_code == 201, first.text
    assert REPLAYED not in first.headers
    retry = _post(client, world.a, path, body, key, patient_id=patient.id)
    assert (retry.status_code, retry.content) == (first.status_code, first.content)
    assert retry.headers[REPLAYED] == "true"
    for header in ("content-type", "etag", "location"):
        assert retry.headers.get(header) == first.headers.get(header)
    # Without the key (or with another one) the same request is a new create: a different answer.
    other = _post(client, world.a, path, CREATES[path][1](), str(uuid.uuid4()), patient_id=patient.id)
    assert other.status_code == 201 and other.content != first.content, other.text


def _events(session, clinic_id) -> int:
    count = session.scalar(
        select(func.count()).where(Event.type == "patient.created", Event.clinic_id == clinic_id)
    )
    session.commit()  # end the read: on SQLite an open transaction holds the write lock
    return count


def test_a_replay_emits_no_event_and_no_second_create_audit(client, world, session):
    body, key = CREATES["/v1/patients"][1](), "retry-" + uuid.uuid4().hex
    events_before = _events(session, world.a.clinic.id)
    first = _post(client, world.a, "/v1/patients", body, key)
    replays = [_post(client, world.a, "/v1/patients", body, key) for _ in range(3)]
    assert {r.status_code for r in replays} == {201} and {r.content for r in replays} == {first.content}
    patient_id = uuid.UUID(first.json()["id"])
    events = _events(session, world.a.clinic.id) - events_before
    actions = session.scalars(
        select(AuditEvent.action).where(
            AuditEvent.clinic_id == world.a.clinic.id,
            AuditEvent.resource_id.in_(
                [
                    patient_id,
                    *session.scalars(
                        select(IdempotencyKey.id).where(IdempotencyKey.clinic_id == world.a.clinic.id)
                    ),
                ]
            ),
        )
    ).all()
    assert events == 1
    assert sorted(actions).count("request.replayed") == 3
    assert [a for a in actions if a != "request.replayed"] == ["patient.create"]


def test_the_same_key_with_another_request_is_refused(client, world):
    key = str(uuid.uuid4())
    body = CREATES["/v1/patients"][1]()
    assert _post(client, world.a, "/v1/patients", body, key).status_code == 201
    changed = {**body, "display_name": "Someone else"}
    assert_problem(_post(client, world.a, "/v1/patients", changed, key), 409, "idempotency_key_reused")
    # The same key on another route is another request too.
    assert_problem(
        _post(client, world.a, "/v1/templates", CREATES["/v1/templates"][1](), key, "api_key"), 409
    )
    # JSON is compared by content: another key order or spacing is the same request.
    reordered = dict(reversed(list(body.items())))
    assert _post(client, world.a, "/v1/patients", reordered, key).headers[REPLAYED] == "true"


def test_a_failed_request_leaves_the_key_free(client, world):
    key = str(uuid.uuid4())
    taken = {"display_name": "Ana", "external_id": world.a.patient.external_id}
    assert_problem(_post(client, world.a, "/v1/patients", taken, key), 409, "external_id_taken")
    fixed = CREATES["/v1/patients"][1]()
    created = _post(client, world.a, "/v1/patients", fixed, key)
    assert created.status_code == 201 and REPLAYED not in created.headers


def test_a_key_is_its_callers_own(client, world):
    key, body = str(uuid.uuid4()), {"name": "Shared key"}
    first = _post(client, world.a, "/v1/api-keys", body, key)
    other_clinic = _post(client, world.b, "/v1/api-keys", body, key)
    assert other_clinic.status_code == 201 and REPLAYED not in other_clinic.headers
    assert other_clinic.json()["id"] != first.json()["id"]
    same_clinic_other_caller = _post(
        client, world.a, "/v1/templates", CREATES["/v1/templates"][1](), key, "physio"
    )
    assert same_clinic_other_caller.status_code == 201


def test_another_clinic_never_gets_the_answer(client, world):
    key, body = str(uuid.uuid4()), {"minutes": 5, "kind": "async"}
    path = "/v1/patients/{patient_id}/interactions"
    assert _post(client, world.a, path, body, key).status_code == 201
    assert_problem(_post(client, world.b, path, body, key, patient_id=world.a.patient.id), 404)


def test_a_body_nested_deeper_than_the_json_parser_goes_is_no_server_error(client, world):
    # The enrolment-code route reads no body, so FastAPI never parses it: only the fingerprint sees it.
    headers = {**world.a.headers["physio"], HEADER: str(uuid.uuid4()), "content-type": "text/plain"}
    url = f"/v1/patients/{world.a.patient.id}/enrolment-codes"
    first = client.post(url, content=b"[" * 100_000, headers=headers)
    assert first.status_code == 201, first.text
    again = client.post(url, content=b"[" * 100_000, headers=headers)
    assert again.status_code == 201 and again.headers[REPLAYED] == "true"
    assert again.content == first.content


def test_a_caller_who_lost_the_right_gets_no_replay(client, world, session):
    key, body = str(uuid.uuid4()), {"name": "EHR"}
    assert _post(client, world.a, "/v1/api-keys", body, key).status_code == 201
    session.execute(update(User).where(User.id == world.a.admin.id).values(role="physio"))
    session.commit()
    assert_problem(_post(client, world.a, "/v1/api-keys", body, key), 403, "role_required")


@pytest.mark.parametrize("key", ["", "x" * 256, "clé".encode(), "tab\there"])
def test_a_malformed_key_is_refused(client, world, key):
    headers = {**world.a.headers["api_key"], HEADER: key}
    response = client.post("/v1/patients", json=CREATES["/v1/patients"][1](), headers=headers)
    assert_problem(response, 422, "validation_error")


def test_a_key_answers_for_24_hours(client, world, session):
    key, body = str(uuid.uuid4()), CREATES["/v1/patients"][1]()
    first = _post(client, world.a, "/v1/patients", body, key)
    session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.clinic_id == world.a.clinic.id)
        .values(created_at=utcnow() - timedelta(hours=24, seconds=1))
    )
    session.commit()
    # Expired: a new first use (the external id is taken now, so the same body is refused as a create).
    assert_problem(_post(client, world.a, "/v1/patients", body, key), 409, "external_id_taken")
    again = _post(client, world.a, "/v1/patients", {**body, "external_id": f"MRN-{uuid.uuid4().hex}"}, key)
    assert again.status_code == 201 and again.json()["id"] != first.json()["id"]


def _concurrently(base: str, requests: list[tuple[dict, dict]], path: str) -> list[httpx.Response]:
    """The requests sent at once from threads, each on its own connection, released together."""
    start = threading.Barrier(len(requests))

    def send(request: tuple[dict, dict]) -> httpx.Response:
        headers, body = request
        with httpx.Client(base_url=base, timeout=60) as http:
            start.wait()
            return http.post(path, json=body, headers=headers)

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(send, requests))


# What each concurrent create may leave behind: the rows it made, counted from the first answer.
STORED = {
    "/v1/patients": lambda session, answer: session.scalar(
        select(func.count()).where(Patient.external_id == answer["external_id"])
    ),
    "/v1/patients/{patient_id}/programmes": lambda session, answer: session.scalar(
        select(func.count()).where(Programme.patient_id == uuid.UUID(answer["patient_id"]))
    ),
    "/v1/webhook-endpoints": lambda session, answer: session.scalar(
        select(func.count()).where(WebhookEndpoint.url == answer["url"])
    ),
}


@pytest.mark.parametrize("path", sorted(STORED))
def test_concurrent_retries_create_once(live_server, world, session, path):
    """Eight copies of one create, sent at once to the real server: one creates, seven get its answer."""
    patient = make_patient(session, world.a.clinic)
    session.commit()
    caller, body = CREATES[path][0], CREATES[path][1]()
    headers = {**world.a.headers[caller], HEADER: str(uuid.uuid4())}
    events_before = _events(session, world.a.clinic.id)
    url = path.replace("{patient_id}", str(patient.id))
    answers = _concurrently(live_server, [(headers, body)] * 8, url)
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.content for a in answers}) == 1
    assert sum(a.headers.get(REPLAYED) == "true" for a in answers) == 7
    assert STORED[path](session, answers[0].json()) == 1
    session.commit()
    expected_events = 1 if path == "/v1/patients" else 0
    assert _events(session, world.a.clinic.id) - events_before == expected_events


def test_concurrent_different_requests_under_one_key_create_once(live_server, world, session):
    headers = {**world.a.headers["api_key"], HEADER: str(uuid.uuid4())}
    bodies = [CREATES["/v1/patients"][1]() for _ in range(6)]
    answers = _concurrently(live_server, [(headers, body) for body in bodies], "/v1/patients")
    assert sorted(a.status_code for a in answers) == [201] + [409] * 5, [a.text for a in answers]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"idempotency_key_reused"}
    stored = session.scalar(
        select(func.count()).where(Patient.external_id.in_([body["external_id"] for body in bodies]))
    )
    assert stored == 1
