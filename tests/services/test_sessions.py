"""Session logs: idempotency by the app's id, validation, colour and alerts."""

import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta

from sqlmodel import func, select

from app.models.safety import SafetyAlert
from app.models.session_log import SessionLog
from app.models.webhook import Event
from tests.helpers import assert_problem
from tests.logging_helpers import active_programme, item_ids, log_body, now_iso

# Programmes that tests log into days ago were activated before those days (a log before activation is 409).
RUNNING_SINCE = datetime(2026, 11, 1, tzinfo=UTC)


def post(client, tenant, body):
    return client.post("/v1/me/sessions", json=body, headers=tenant.headers["patient"])


def test_log_is_idempotent_by_its_id(client, world):
    programme = active_programme(client, world.a)
    body = log_body(programme, item_ids(programme)[0], now_iso())
    first = post(client, world.a, body)
    assert first.status_code == 201, first.text
    assert first.json()["colour"] == "yellow" and first.json()["revision"] == 2
    again = post(client, world.a, body)
    assert again.status_code == 200 and again.json() == first.json()
    assert_problem(post(client, world.a, {**body, "pain_during": 3}), 409, "log_id_conflict")
    # Another patient reusing the id learns nothing and stores nothing.
    other = active_programme(client, world.b)
    theirs = {**log_body(other, item_ids(other)[0], now_iso()), "id": body["id"]}
    assert_problem(post(client, world.b, theirs), 409, "log_id_conflict")


def test_logs_are_refused_when_they_do_not_fit(client, world):
    programme = active_programme(client, world.a)
    item = item_ids(programme)[0]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert_problem(post(client, world.a, log_body(programme, item, future)), 400, "performed_in_future")
    skewed = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert post(client, world.a, log_body(programme, item, skewed)).status_code == 201
    assert_problem(
        post(client, world.a, log_body(programme, str(uuid.uuid4()), now_iso())), 400, "unknown_item"
    )
    assert_problem(
        post(client, world.a, log_body(programme, item, now_iso(), revision=99)), 400, "unknown_revision"
    )
    other = active_programme(client, world.b)
    assert_problem(post(client, world.a, log_body(other, item_ids(other)[0], now_iso())), 404, "not_found")
    foreign_item = log_body(programme, item_ids(other)[0], now_iso())
    assert_problem(post(client, world.a, foreign_item), 400, "unknown_item")
    for bad in (
        {"pain_during": 11},
        {"pain_after": -1},
        {"effort": 11},
        {"performed_at": "2026-11-02T10:00:00"},
        {"leg_symptoms": "knee"},
        {"response": "fine"},
        {"reps_done": [10]},
        {"note": "x" * 1001},
        {"colour": "green"},
    ):
        assert_problem(
            post(client, world.a, {**log_body(programme, item, now_iso()), **bad}), 422, "validation_error"
        )


def test_draft_programme_cannot_be_logged_against(client, world):
    body = {
        "title": "Draft",
        "start_date": "2026-11-02",
        "phases": [{"name": "One", "items": [{"exercise": "cat-camel", "reps": 6}]}],
    }
    draft = client.post(
        f"/v1/patients/{world.a.patient.id}/programmes", json=body, headers=world.a.headers["physio"]
    )
    draft = draft.json()
    assert_problem(post(client, world.a, log_body(draft, item_ids(draft)[0], now_iso())), 404)


def test_log_against_an_older_revision_keeps_it(client, world):
    programme = active_programme(client, world.a)
    client.post(f"/v1/programmes/{programme['id']}/pause", headers=world.a.headers["physio"])
    client.post(f"/v1/programmes/{programme['id']}/resume", headers=world.a.headers["physio"])
    old = log_body(programme, item_ids(programme)[0], now_iso(), revision=2)
    response = post(client, world.a, old)
    assert response.status_code == 201 and response.json()["revision"] == 2


def test_batch_reports_each_log(client, world):
    programme = active_programme(client, world.a, backdate=RUNNING_SINCE)
    first, second = item_ids(programme)
    base = datetime.now(UTC) - timedelta(days=2)
    logs = [
        log_body(programme, first, (base + timedelta(hours=2)).isoformat()),
        log_body(programme, str(uuid.uuid4()), base.isoformat()),
        log_body(programme, second, base.isoformat(), pain_during=7),
    ]
    response = client.post("/v1/me/sessions/batch", json={"logs": logs}, headers=world.a.headers["patient"])
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["id"], r["status"]) for r in results] == [
        (logs[0]["id"], 201),
        (logs[1]["id"], 400),
        (logs[2]["id"], 201),
    ]
    assert results[1]["code"] == "unknown_item" and results[2]["log"]["colour"] == "red"
    again = client.post(
        "/v1/me/sessions/batch", json={"logs": logs}, headers=world.a.headers["patient"]
    ).json()
    assert [r["status"] for r in again["results"]] == [200, 400, 200]
    too_many = {"logs": [logs[0]] * 501}
    assert_problem(
        client.post("/v1/me/sessions/batch", json=too_many, headers=world.a.headers["patient"]), 422
    )


def test_each_log_of_a_batch_is_checked_against_what_the_logs_before_it_changed(client, world):
    """A red session stops its exercise in a new revision: a later log of the same batch may name that
    revision, and a second red session does not stop the exercise again."""
    programme = active_programme(client, world.a, backdate=RUNNING_SINCE)
    item, revision = item_ids(programme)[0], programme["revision"]
    base = datetime.now(UTC) - timedelta(days=1)
    at = [(base + timedelta(hours=hours)).isoformat() for hours in range(3)]
    logs = [
        log_body(programme, item, at[0], pain_during=7),
        {**log_body(programme, item, at[1]), "revision": revision + 1},
        log_body(programme, item, at[2], pain_during=7),
    ]
    headers = world.a.headers["patient"]
    results = client.post("/v1/me/sessions/batch", json={"logs": logs}, headers=headers).json()["results"]
    assert [r["status"] for r in results] == [201, 201, 201], results
    assert [r["log"]["colour"] for r in results] == ["red", "yellow", "red"]
    assert results[2]["log"]["safety"]["item_suspended"] is True
    after = client.get(f"/v1/programmes/{programme['id']}", headers=world.a.headers["physio"]).json()
    assert after["revision"] == revision + 1


def test_concurrent_duplicate_batches_store_one_row_per_id(client, world, session):
    programme = active_programme(client, world.a, backdate=RUNNING_SINCE)
    items = item_ids(programme)
    base = datetime.now(UTC) - timedelta(days=3)
    logs = [log_body(programme, items[i % 2], (base + timedelta(minutes=i)).isoformat()) for i in range(30)]
    statuses: list[list[int]] = []
    barrier = threading.Barrier(4)

    def send() -> None:
        barrier.wait()
        response = client.post(
            "/v1/me/sessions/batch", json={"logs": logs}, headers=world.a.headers["patient"]
        )
        assert response.status_code == 200, response.text
        statuses.append([r["status"] for r in response.json()["results"]])

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [uuid.UUID(log["id"]) for log in logs]
    stored = session.exec(select(func.count()).where(SessionLog.id.in_(ids))).one()
    session.commit()
    assert stored == 30
    assert len(statuses) == 4 and all(set(s) <= {200, 201} for s in statuses)
    # Every id was created exactly once across the four concurrent batches.
    assert [sum(s[i] == 201 for s in statuses) for i in range(30)] == [1] * 30


def test_colours(client, world):
    programme = active_programme(client, world.a, backdate=RUNNING_SINCE)
    item = item_ids(programme)[0]
    start = datetime.now(UTC) - timedelta(days=1)

    def log(minutes, **fields):
        response = post(
            client,
            world.a,
            log_body(programme, item, (start + timedelta(minutes=minutes)).isoformat(), **fields),
        )
        assert response.status_code == 201, response.text
        return response.json()["colour"]

    assert log(0, leg_symptoms="thigh") == "yellow"
    assert log(10, leg_symptoms="buttock") == "green"  # retreating toward the spine
    assert log(20, leg_symptoms="buttock", response="better") == "green"
    assert log(30, leg_symptoms="buttock", pain_during=5) == "yellow"  # 5/10 is still allowed
    assert log(40, leg_symptoms="below_knee") == "red"  # spreading down the leg
    assert log(50, leg_symptoms="below_knee", pain_during=6) == "red"
    assert log(60, leg_symptoms="none", new_numbness_or_weakness=True, response="better") == "red"
    assert log(70, leg_symptoms="none", response="worse") == "yellow"  # worse back pain alone is not red


def test_red_logs_raise_one_alert_and_a_streak_escalates_it(client, world, session):
    programme = active_programme(client, world.a, backdate=RUNNING_SINCE)
    first, second = item_ids(programme)
    start = datetime.now(UTC) - timedelta(days=1)
    one = post(client, world.a, log_body(programme, first, start.isoformat(), pain_during=7)).json()
    alerts = client.get(
        "/v1/alerts",
        params={"patient_id": str(world.a.patient.id), "status": "open"},
        headers=world.a.headers["physio"],
    ).json()["items"]
    assert len(alerts) == 1
    assert alerts[0]["tier"] == "routine" and alerts[0]["reasons"] == ["red_response"]
    assert alerts[0]["evidence"] == [one["id"]] and alerts[0]["item_id"] == first

    post(
        client,
        world.a,
        log_body(programme, second, (start + timedelta(minutes=5)).isoformat(), pain_during=8),
    )
    two = post(
        client,
        world.a,
        log_body(programme, first, (start + timedelta(hours=1)).isoformat(), pain_during=9),
    ).json()
    alerts = client.get(
        "/v1/alerts", params={"patient_id": str(world.a.patient.id)}, headers=world.a.headers["physio"]
    ).json()["items"]
    by_item = {a["item_id"]: a for a in alerts}
    assert len(alerts) == 2
    assert by_item[first]["reasons"] == ["red_response", "two_red_sessions_in_a_row"]
    assert by_item[first]["evidence"] == [one["id"], two["id"]]
    raised = session.exec(
        select(Event).where(Event.clinic_id == world.a.clinic.id, Event.type == "safety.alert_raised")
    ).all()
    logged = session.exec(
        select(Event).where(Event.clinic_id == world.a.clinic.id, Event.type == "session.logged")
    ).all()
    session.commit()
    assert len(raised) == 3  # two new alerts, and the streak on the first
    assert all("note" not in e.data and "pain_during" not in e.data for e in logged)
    assert {e.data["log_id"] for e in logged} >= {one["id"], two["id"]}


def test_session_lists_for_patient_and_clinician(client, world):
    programme = active_programme(client, world.a, backdate=RUNNING_SINCE)
    item = item_ids(programme)[0]
    times = [datetime(2026, 11, 10, 9, tzinfo=UTC) + timedelta(days=i) for i in range(5)]
    ids = [
        post(client, world.a, log_body(programme, item, t.isoformat())).json()["id"] for t in reversed(times)
    ]
    mine, cursor = [], None
    while True:
        params = {"limit": 2, "from": "2026-11-10", "to": "2026-11-13"} | (
            {"cursor": cursor} if cursor else {}
        )
        page = client.get("/v1/me/sessions", params=params, headers=world.a.headers["patient"]).json()
        mine += [log["id"] for log in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert mine == list(reversed(ids))[:4]  # in the order they were done, 10–13 November
    staff = client.get(
        f"/v1/patients/{world.a.patient.id}/sessions", headers=world.a.headers["physio"]
    ).json()
    assert [log["id"] for log in staff["items"]] == list(reversed(ids))
    assert_problem(
        client.get(f"/v1/patients/{world.a.patient.id}/sessions", headers=world.b.headers["physio"]), 404
    )


def test_alert_queue_moves(client, world):
    programme = active_programme(client, world.a)
    post(client, world.a, log_body(programme, item_ids(programme)[0], now_iso(), pain_during=9))
    alert = client.get(
        "/v1/alerts", params={"patient_id": str(world.a.patient.id)}, headers=world.a.headers["physio"]
    ).json()["items"][0]
    url = f"/v1/alerts/{alert['id']}"
    assert_problem(client.post(f"{url}/acknowledge", headers=world.a.headers["api_key"]), 403, "staff_only")
    acked = client.post(f"{url}/acknowledge", headers=world.a.headers["physio"]).json()
    assert acked["status"] == "acknowledged" and acked["acknowledged_by"] == str(world.a.physio.id)
    assert_problem(
        client.post(f"{url}/acknowledge", headers=world.a.headers["physio"]), 409, "invalid_transition"
    )
    note = {"note": "Called the patient: pain settles with rest."}
    assert_problem(client.post(f"{url}/resolve", headers=world.a.headers["admin"]), 422)
    assert_problem(
        client.post(f"{url}/resolve", json=note, headers=world.a.headers["api_key"]),
        403,
        "clinician_required",
    )
    resolved = client.post(f"{url}/resolve", json=note, headers=world.a.headers["admin"]).json()
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == str(world.a.admin.id)
    assert resolved["resolution_note"] == note["note"]
    assert_problem(
        client.post(f"{url}/resolve", json=note, headers=world.a.headers["admin"]), 409, "invalid_transition"
    )
    assert_problem(client.post(f"{url}/resolve", json=note, headers=world.b.headers["admin"]), 404)
    opened = client.get(
        "/v1/alerts",
        params={"status": "open", "patient_id": str(world.a.patient.id)},
        headers=world.a.headers["physio"],
    ).json()["items"]
    assert alert["id"] not in {a["id"] for a in opened}


def test_alert_rows_are_scoped(session, world):
    count = session.exec(select(func.count()).where(SafetyAlert.clinic_id == world.b.clinic.id)).one()
    session.commit()
    assert count == 0


def test_a_log_before_the_programme_was_activated_is_refused(client, world):
    programme = active_programme(client, world.a)  # activated just now
    item = item_ids(programme)[0]
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert_problem(post(client, world.a, log_body(programme, item, yesterday)), 409, "before_activation")
    batch = client.post(
        "/v1/me/sessions/batch",
        json={"logs": [log_body(programme, item, yesterday)]},
        headers=world.a.headers["patient"],
    ).json()
    assert [(r["status"], r["code"]) for r in batch["results"]] == [(409, "before_activation")]
    # A phone's clock a few minutes behind is not a session before the activation.
    behind = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    assert post(client, world.a, log_body(programme, item, behind)).status_code == 201


def test_a_resume_keeps_the_first_activation(client, world):
    programme = active_programme(client, world.a, backdate=datetime.now(UTC) - timedelta(days=3))
    for action in ("pause", "resume"):
        moved = client.post(f"/v1/programmes/{programme['id']}/{action}", headers=world.a.headers["physio"])
        assert moved.status_code == 200, moved.text
    item = item_ids(programme)[0]
    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    assert post(client, world.a, log_body(programme, item, two_days_ago)).status_code == 201
    four_days_ago = (datetime.now(UTC) - timedelta(days=4)).isoformat()
    assert_problem(post(client, world.a, log_body(programme, item, four_days_ago)), 409, "before_activation")


def test_a_new_process_can_build_a_log_before_its_first_orm_query():
    """The log path reads a table model's attributes (SessionLog.model_construct) before it has run any ORM
    query, which is where SQLAlchemy would set the mappers up: a new server's first request may be a log."""
    code = (
        "from app.services import sessions\n"
        "from app.models.session_log import SessionLog\n"
        "log = SessionLog.model_construct(colour='green')\n"
        "print(log.colour, all(m.configured for m in SessionLog.__mapper__.registry.mappers))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["green", "True"]
