"""Missed-day nudges: adherence.missed_day once for a due day with nothing logged by the patient's evening
time; none when something was logged, while paused or on a safety hold; a late runner still nudges."""

from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session, select

from app.db import get_engine
from app.models.webhook import Event
from app.scheduler import Scheduler
from app.services import jobs
from tests.logging_helpers import active_programme, item_ids, log_body

BEFORE_START = datetime(2026, 11, 1, 8, tzinfo=UTC)
DAILY = [{"exercise": "cat-camel", "reps": 6, "times_per_day": 1}]
MISSED_DAY = tuple(job for job in jobs.JOBS if job.name == "missed_day")


def _nudges(tenant) -> list[dict]:
    with Session(get_engine()) as session:
        rows = session.exec(
            select(Event)
            .where(Event.clinic_id == tenant.clinic.id, Event.type == "adherence.missed_day")
            .order_by(Event.id)
        ).all()
    return [row.data for row in rows]


def _run(tenant, now: datetime) -> None:
    Scheduler(get_engine(), job_list=MISSED_DAY).run_due(now, [tenant.clinic.id])


def _setup(client, tenant, zone="Europe/London", **preferences):
    client.patch(
        f"/v1/patients/{tenant.patient.id}", json={"timezone": zone}, headers=tenant.headers["physio"]
    )
    programme = active_programme(client, tenant, items=DAILY, backdate=BEFORE_START)
    if preferences:
        saved = client.put("/v1/me/reminder-preferences", json=preferences, headers=tenant.headers["patient"])
        assert saved.status_code == 200, saved.text
    return programme


def test_one_nudge_for_a_due_day_with_nothing_logged_by_the_evening(client, world):
    _setup(client, world.a)
    patient = str(world.a.patient.id)
    _run(world.a, datetime(2026, 11, 9, 19, 59, tzinfo=UTC))  # 19:59 in London (GMT): the 8th's evening
    assert _nudges(world.a) == [{"patient_id": patient, "date": "2026-11-08", "missed_in_a_row": 1}]
    _run(world.a, datetime(2026, 11, 9, 20, 5, tzinfo=UTC))
    _run(world.a, datetime(2026, 11, 9, 20, 20, tzinfo=UTC))  # the next quarter: not again
    _run(world.a, datetime(2026, 11, 10, 10, 0, tzinfo=UTC))  # the next morning: not again either
    _run(world.a, datetime(2026, 11, 10, 19, 59, tzinfo=UTC))  # not yet the 10th's evening
    assert _nudges(world.a)[1:] == [{"patient_id": patient, "date": "2026-11-09", "missed_in_a_row": 2}]
    _run(world.a, datetime(2026, 11, 10, 20, 0, tzinfo=UTC))
    assert [(n["date"], n["missed_in_a_row"]) for n in _nudges(world.a)][2:] == [("2026-11-10", 3)]
    assert _nudges(world.b) == []  # the other clinic's patient has no programme


def test_no_nudge_when_something_was_logged(client, world):
    programme = _setup(client, world.a)
    body = log_body(programme, item_ids(programme)[0], "2026-11-12T09:00:00+00:00")
    assert client.post("/v1/me/sessions", json=body, headers=world.a.headers["patient"]).status_code == 201
    _run(world.a, datetime(2026, 11, 12, 21, 0, tzinfo=UTC))
    assert _nudges(world.a) == []  # the 12th had a session (the 11th's evening is over 24 h ago)
    _run(world.a, datetime(2026, 11, 13, 21, 0, tzinfo=UTC))
    assert [n["date"] for n in _nudges(world.a)] == ["2026-11-13"]  # the 13th had none


def test_the_patients_evening_time_and_time_zone(client, world):
    _setup(client, world.a, zone="America/New_York", times=["08:00"], evening="18:30")
    _run(world.a, datetime(2026, 11, 12, 23, 29, tzinfo=UTC))  # 18:29 EST
    assert [n["date"] for n in _nudges(world.a)] == ["2026-11-11"]
    _run(world.a, datetime(2026, 11, 12, 23, 30, tzinfo=UTC))  # 18:30 EST
    assert [n["date"] for n in _nudges(world.a)] == ["2026-11-11", "2026-11-12"]


def test_a_runner_back_after_a_gap_nudges_yesterday_once(client, world):
    _setup(client, world.a)
    _run(world.a, datetime(2026, 11, 14, 10, 0, tzinfo=UTC))  # down since before 20:00 on the 13th
    assert [n["date"] for n in _nudges(world.a)] == ["2026-11-13"]  # the 12th's evening is 38 h ago
    _run(world.a, datetime(2026, 11, 14, 20, 30, tzinfo=UTC))  # the 13th again (within 24 h), and the 14th
    assert [n["date"] for n in _nudges(world.a)] == ["2026-11-13", "2026-11-14"]


def _future_evening(days: int) -> datetime:
    day = datetime.now(UTC).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, 20, 30, tzinfo=UTC)


def test_no_nudge_while_paused(client, world):
    programme = _setup(client, world.a)
    paused = client.post(f"/v1/programmes/{programme['id']}/pause", headers=world.a.headers["physio"])
    assert paused.status_code == 200, paused.text
    _run(world.a, _future_evening(2))
    assert _nudges(world.a) == []  # neither that day nor the day before
    resumed = client.post(f"/v1/programmes/{programme['id']}/resume", headers=world.a.headers["physio"])
    assert resumed.status_code == 200, resumed.text
    _run(world.a, _future_evening(3))
    _run(world.a, _future_evening(4))
    assert [date.fromisoformat(n["date"]) for n in _nudges(world.a)] == [
        _future_evening(3).date(),
        _future_evening(4).date(),
    ]


def test_no_nudge_on_a_safety_hold(client, world):
    from app.models.safety_text import RED_FLAG_QUESTIONS

    _setup(client, world.a)
    answers = dict.fromkeys(RED_FLAG_QUESTIONS, False) | {"saddle_numbness": True}
    check = client.post(
        "/v1/me/symptom-checks", json={"answers": answers}, headers=world.a.headers["patient"]
    )
    assert check.status_code == 201 and check.json()["tier"] == "emergency", check.text
    _run(world.a, _future_evening(2))
    assert _nudges(world.a) == []


def test_missed_days_in_a_row_lead_to_adherence_low(client, world):
    programme = _setup(client, world.a)
    now = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
    ran = Scheduler(get_engine()).run_due(now, [world.a.clinic.id])
    assert {r.job: r.outcome for r in ran}["missed_day"] == "1 emitted"
    with Session(get_engine()) as session:
        low = session.exec(
            select(Event).where(Event.clinic_id == world.a.clinic.id, Event.type == "adherence.low")
        ).all()
    assert [e.data["programme_id"] for e in low] == [programme["id"]]
