"""Adherence, exactly as published (DESIGN §5), and the patient's progress.

For each local day of the window (in the patient's timezone) the revision in force at the end of that day
decides what was due: if the programme was active and the day within its dates, each item of the current
phase whose days_of_week include the day is due times_per_day sessions. Done is the number of logs for that
item that day, capped at what was due. Adherence = Σ done / Σ due.
"""

import bisect
import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.db import utcnow
from app.errors import Code, InvalidInput
from app.models.clinic import Clinic
from app.models.common import Actor
from app.models.patient import Patient
from app.models.programme import Programme, ProgrammeRevision
from app.models.session_log import (
    AdherenceDay,
    AdherenceItem,
    AdherenceReport,
    AdherenceWeek,
    PainDay,
    ProgressReport,
    SessionLog,
)
from app.models.webhook import Event
from app.services import audit, events

MAX_WINDOW_DAYS = 366
LOW_ADHERENCE_WINDOW_DAYS = 7
PROGRESS_DAYS = 56  # the patient's progress, in numbers and as a chart: the last 8 weeks by default


def ratio(done: int, due: int) -> float | None:
    return round(done / due, 4) if due else None


def due_on(schedule: dict[str, Any], day: date) -> dict[str, int]:
    """Sessions due per item id on a local day under one revision's schedule."""
    if schedule["status"] != "active":
        return {}
    start = date.fromisoformat(schedule["start_date"])
    end = date.fromisoformat(schedule["end_date"]) if schedule["end_date"] else None
    if day < start or (end is not None and day > end):
        return {}
    weekday = day.isoweekday()
    return {
        str(item["id"]): item["times_per_day"]
        for item in schedule["items"]
        if item["phase"] == schedule["current_phase"] and weekday in item["days_of_week"]
    }


class _History:
    """The schedules of one programme's revisions in order, to find the one in force at a moment."""

    def __init__(self, revisions: list[tuple[datetime, dict[str, Any]]]) -> None:
        self.moments = [created_at for created_at, _ in revisions]
        self.schedules = [schedule for _, schedule in revisions]

    def at(self, moment: datetime) -> dict[str, Any] | None:
        index = bisect.bisect_left(self.moments, moment)
        return self.schedules[index - 1] if index else None


def _histories(session: Session, clinic_id: uuid.UUID, patient_id: uuid.UUID) -> dict[uuid.UUID, _History]:
    # The patient's programmes first (an IN subquery): as a join, SQLite's planner walked every revision of
    # the clinic and looked each one's programme up (adherence took 1.6x as long at 10,000 patients as at
    # 100). Only the columns the history needs: a snapshot is the largest value in the row.
    mine = select(Programme.id).where(
        Programme.clinic_id == clinic_id, Programme.patient_id == patient_id, Programme.status != "draft"
    )
    rows = session.exec(
        select(
            col(ProgrammeRevision.programme_id),
            col(ProgrammeRevision.created_at),
            col(ProgrammeRevision.schedule),
        )
        .where(ProgrammeRevision.clinic_id == clinic_id, col(ProgrammeRevision.programme_id).in_(mine))
        .order_by(col(ProgrammeRevision.programme_id), col(ProgrammeRevision.number))
    ).all()
    grouped: dict[uuid.UUID, list[tuple[datetime, dict[str, Any]]]] = defaultdict(list)
    for programme_id, created_at, schedule in rows:
        grouped[programme_id].append((created_at, schedule))
    return {programme_id: _History(revisions) for programme_id, revisions in grouped.items()}


def _logged(
    session: Session, clinic_id: uuid.UUID, patient_id: uuid.UUID, start: date, end: date
) -> dict[tuple[date, str], int]:
    rows = session.exec(
        select(col(SessionLog.local_date), col(SessionLog.item_id), func.count())
        .where(
            SessionLog.clinic_id == clinic_id,
            SessionLog.patient_id == patient_id,
            SessionLog.local_date >= start,
            SessionLog.local_date <= end,
        )
        .group_by(col(SessionLog.local_date), col(SessionLog.item_id))
    ).all()
    return {(local_date, str(item_id)): count for local_date, item_id, count in rows}


def today(timezone: str, now: datetime | None = None) -> date:
    """The calendar date at `now` (default: this moment) in a patient's time zone."""
    return (now or utcnow()).astimezone(ZoneInfo(timezone)).date()


def window(
    patient: Patient, start: date | None, end: date | None, default_days: int = 28
) -> tuple[date, date]:
    end = end or today(patient.timezone)
    start = start or end - timedelta(days=default_days - 1)
    if start > end:
        raise InvalidInput("from must not be after to.", code=Code.INVALID_WINDOW)
    if (end - start).days >= MAX_WINDOW_DAYS:
        raise InvalidInput(f"A window covers at most {MAX_WINDOW_DAYS} days.", code=Code.INVALID_WINDOW)
    return start, end


def compute(session: Session, patient: Patient, start: date, end: date) -> AdherenceReport:
    zone = ZoneInfo(patient.timezone)
    histories = _histories(session, patient.clinic_id, patient.id)
    logged = _logged(session, patient.clinic_id, patient.id, start, end)
    days: list[AdherenceDay] = []
    weeks: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    items: dict[tuple[uuid.UUID, str], list[int]] = defaultdict(lambda: [0, 0])
    day = start
    while day <= end:
        end_of_day = datetime.combine(day + timedelta(days=1), time(), zone)
        due_total = done_total = 0
        for programme_id, history in histories.items():
            schedule = history.at(end_of_day)
            if schedule is None:
                continue
            for item_id, due in due_on(schedule, day).items():
                done = min(logged.get((day, item_id), 0), due)
                due_total, done_total = due_total + due, done_total + done
                items[(programme_id, item_id)][0] += due
                items[(programme_id, item_id)][1] += done
        days.append(
            AdherenceDay(date=day, due=due_total, done=done_total, adherence=ratio(done_total, due_total))
        )
        week = weeks[day - timedelta(days=day.isoweekday() - 1)]
        week[0], week[1] = week[0] + due_total, week[1] + done_total
        day += timedelta(days=1)
    due_sum, done_sum = sum(d.due for d in days), sum(d.done for d in days)
    return AdherenceReport(
        patient_id=patient.id,
        start=start,
        end=end,
        timezone=patient.timezone,
        due=due_sum,
        done=done_sum,
        adherence=ratio(done_sum, due_sum),
        by_day=days,
        by_week=[
            AdherenceWeek(week_start=w, due=d, done=n, adherence=ratio(n, d)) for w, (d, n) in weeks.items()
        ],
        by_item=[
            AdherenceItem(programme_id=p, item_id=uuid.UUID(i), due=d, done=n, adherence=ratio(n, d))
            for (p, i), (d, n) in items.items()
        ],
    )


def report(
    session: Session, actor: Actor, patient: Patient, start: date | None, end: date | None
) -> AdherenceReport:
    start, end = window(patient, start, end)
    audit.record(session, actor, "adherence.read", "patient", patient.id, patient.id)
    return compute(session, patient, start, end)


def pain_by_day(session: Session, patient: Patient, start: date, end: date) -> list[PainDay]:
    """Each local day with sessions between two dates: how many, the mean pain during and after, the reds."""
    rows = session.execute(
        sa_select(
            col(SessionLog.local_date),
            func.count(),
            func.avg(SessionLog.pain_during),
            func.avg(SessionLog.pain_after),
            func.sum(case((col(SessionLog.colour) == "red", 1), else_=0)),
        )
        .where(
            col(SessionLog.clinic_id) == patient.clinic_id,
            col(SessionLog.patient_id) == patient.id,
            col(SessionLog.local_date) >= start,
            col(SessionLog.local_date) <= end,
        )
        .group_by(col(SessionLog.local_date))
        .order_by(col(SessionLog.local_date))
    ).all()
    return [
        PainDay(
            date=local_date,
            sessions=count,
            pain_during_mean=round(float(during), 2),
            pain_after_mean=round(float(after), 2) if after is not None else None,
            red=int(red or 0),
        )
        for local_date, count, during, after, red in rows
    ]


def progress(session: Session, actor: Actor, patient: Patient) -> ProgressReport:
    """What the app charts: the last 8 weeks' adherence and each day's pain."""
    start, end = window(patient, None, None, default_days=PROGRESS_DAYS)
    pain = pain_by_day(session, patient, start, end)
    audit.record(session, actor, "progress.read", "patient", patient.id, patient.id)
    return ProgressReport(adherence=compute(session, patient, start, end), pain=pain)


def check_low_adherence(
    session: Session, now: datetime, clinic_id: uuid.UUID, patient_ids: list[uuid.UUID]
) -> int:
    """The daily adherence check (a periodic job): emit adherence.low for each active programme of the
    patients given whose patient is under the clinic's threshold over the last 7 whole days, at most once per
    programme per 7 days. Returns how many were emitted."""
    emitted = 0
    active = session.exec(
        select(Programme, Patient, Clinic)
        .join(Patient, col(Patient.id) == Programme.patient_id)
        .join(Clinic, col(Clinic.id) == Programme.clinic_id)
        .where(
            Programme.clinic_id == clinic_id,
            Programme.status == "active",
            col(Programme.patient_id).in_(patient_ids),
        )
        .order_by(col(Programme.id))
    ).all()
    recent = session.exec(
        select(Event.data).where(
            Event.clinic_id == clinic_id,
            Event.type == "adherence.low",
            Event.occurred_at > now - timedelta(days=LOW_ADHERENCE_WINDOW_DAYS),
        )
    ).all()
    told = {data.get("programme_id") for data in recent}
    for programme, patient, clinic in active:
        end = now.astimezone(ZoneInfo(patient.timezone)).date() - timedelta(days=1)  # whole days only
        start = end - timedelta(days=LOW_ADHERENCE_WINDOW_DAYS - 1)
        result = compute(session, patient, start, end)
        if result.adherence is None or result.adherence * 100 >= clinic.adherence_low_threshold:
            continue
        if str(programme.id) in told:
            continue
        events.emit(
            session,
            clinic.id,
            "adherence.low",
            {
                "programme_id": programme.id,
                "patient_id": patient.id,
                "start": start,
                "end": end,
                "due": result.due,
                "done": result.done,
                "threshold_percent": clinic.adherence_low_threshold,
            },
        )
        emitted += 1
    return emitted
