"""Missed-day nudges: nothing logged by the patient's evening time on a day something was due.

A periodic job (app/services/jobs.py, every quarter of an hour) emits `adherence.missed_day` once for that
day; the clinic's SMS or messaging system acts on it. Each day whose evening time passed in the last 24
hours is looked at, so a runner that was down for a while still nudges, and never twice (one `missed_day`
row per patient and local day). No nudge while the programme is paused or the patient is on a safety
hold. Several missed days in a row bring the 7-day adherence under the clinic's threshold, and the daily
check then emits `adherence.low` as before.

It runs every quarter of an hour over the clinic's active programmes, so it reads set-wise: the current
schedules, the days already nudged, the days with a log and the patients on a hold, one statement each;
what was due that day is the programme's current schedule (`adherence.due_on`).
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app import store
from app.models.patient import Patient
from app.models.programme import Programme, ProgrammeRevision
from app.models.reminders import DEFAULT_EVENING, MissedDay, ReminderPreference
from app.models.safety import HOLDING_TIERS, SafetyAlert
from app.models.session_log import SessionLog
from app.services import adherence, events

LOOK_BACK = timedelta(hours=24)

_TABLE = MissedDay.__table__  # type: ignore[attr-defined]
_INSERT_NEW = store.InsertNew(_TABLE)


@dataclass
class _Patient:
    id: uuid.UUID
    timezone: str
    evening: str
    activated_at: datetime | None = None
    schedules: list[dict[str, Any]] = field(default_factory=list)


def evening_moments(timezone: str, evening: str, now: datetime) -> list[tuple[date, datetime]]:
    """The local days whose evening time passed in the 24 hours up to `now`, with that moment."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    clock = time.fromisoformat(evening)
    moments = [(day, datetime.combine(day, clock, zone)) for day in (today - timedelta(days=1), today)]
    return [(day, moment) for day, moment in moments if timedelta(0) <= now - moment < LOOK_BACK]


def _active(
    session: Session, clinic_id: uuid.UUID, patient_ids: list[uuid.UUID]
) -> dict[uuid.UUID, _Patient]:
    rows = session.execute(
        sa_select(
            col(Patient.id),
            col(Patient.timezone),
            col(ReminderPreference.evening),
            col(Programme.activated_at),
            col(ProgrammeRevision.schedule),
        )
        .join(Programme, col(Programme.patient_id) == Patient.id)
        .join(
            ProgrammeRevision,
            (col(ProgrammeRevision.programme_id) == Programme.id)
            & (col(ProgrammeRevision.number) == Programme.revision),
        )
        .outerjoin(
            ReminderPreference,
            (col(ReminderPreference.clinic_id) == clinic_id)
            & (col(ReminderPreference.patient_id) == Patient.id),
        )
        .where(
            col(Patient.clinic_id) == clinic_id,
            col(Programme.clinic_id) == clinic_id,
            col(Programme.status) == "active",
            col(Programme.patient_id).in_(patient_ids),
            col(ProgrammeRevision.clinic_id) == clinic_id,
        )
        .order_by(col(Patient.id))
    ).all()
    found: dict[uuid.UUID, _Patient] = {}
    for patient_id, timezone, evening, activated_at, schedule in rows:
        patient = found.setdefault(patient_id, _Patient(patient_id, timezone, evening or DEFAULT_EVENING))
        if activated_at is not None and (patient.activated_at is None or activated_at < patient.activated_at):
            patient.activated_at = activated_at
        patient.schedules.append(dict(schedule))
    return found


def nudge(session: Session, clinic_id: uuid.UUID, now: datetime, patient_ids: list[uuid.UUID]) -> int:
    """Emit adherence.missed_day for each of the patients given who missed a due day; returns how many."""
    candidates = [
        (patient, day)
        for patient in _active(session, clinic_id, patient_ids).values()
        for day, moment in evening_moments(patient.timezone, patient.evening, now)
        # not a day whose evening came before the programme began
        if patient.activated_at is not None and patient.activated_at <= moment
    ]
    if not candidates:
        return 0
    first = min(day for _, day in candidates)
    ids = [patient.id for patient, _ in candidates]
    logged = set(
        session.exec(
            select(col(SessionLog.patient_id), col(SessionLog.local_date))
            .where(
                SessionLog.clinic_id == clinic_id,
                col(SessionLog.patient_id).in_(ids),
                SessionLog.local_date >= first,
            )
            .distinct()
        ).all()
    )
    nudged = _nudged(session, clinic_id, ids, first - timedelta(days=adherence.LOW_ADHERENCE_WINDOW_DAYS))
    held = set(
        session.exec(
            select(SafetyAlert.patient_id).where(
                SafetyAlert.clinic_id == clinic_id,
                col(SafetyAlert.patient_id).in_(ids),
                col(SafetyAlert.tier).in_(HOLDING_TIERS),
                SafetyAlert.status != "resolved",
            )
        ).all()
    )
    emitted = 0
    for patient, day in candidates:
        if day in nudged[patient.id] or (patient.id, day) in logged or patient.id in held:
            continue
        if not any(adherence.due_on(schedule, day) for schedule in patient.schedules):
            continue
        if _record(session, clinic_id, patient.id, day):
            nudged[patient.id].add(day)
            _emit(session, clinic_id, patient.id, day, nudged[patient.id])
            emitted += 1
    return emitted


def _nudged(
    session: Session, clinic_id: uuid.UUID, ids: list[uuid.UUID], since: date
) -> dict[uuid.UUID, set[date]]:
    found: dict[uuid.UUID, set[date]] = defaultdict(set)
    for patient_id, local_date in session.exec(
        select(col(MissedDay.patient_id), col(MissedDay.local_date)).where(
            MissedDay.clinic_id == clinic_id,
            col(MissedDay.patient_id).in_(ids),
            MissedDay.local_date >= since,
        )
    ):
        found[patient_id].add(local_date)
    return found


def _record(session: Session, clinic_id: uuid.UUID, patient_id: uuid.UUID, day: date) -> bool:
    """The day's row; False if it was there (another runner nudged this day a moment ago)."""
    connection = session.connection()
    row = MissedDay(clinic_id=clinic_id, patient_id=patient_id, local_date=day)
    values = {column.name: getattr(row, column.name) for column in _TABLE.columns}
    return _INSERT_NEW(connection, values)


def _emit(
    session: Session, clinic_id: uuid.UUID, patient_id: uuid.UUID, day: date, nudged: set[date]
) -> None:
    in_a_row = 0
    while day - timedelta(days=in_a_row) in nudged:
        in_a_row += 1
    # Ids and the day only: the receiving system decides what to say, in the patient's language.
    events.emit(
        session,
        clinic_id,
        "adherence.missed_day",
        {"patient_id": patient_id, "date": day, "missed_in_a_row": in_a_row},
    )
