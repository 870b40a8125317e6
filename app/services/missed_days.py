"""Missed-day nudges: nothing logged by the patient's evening time on a day something was due.

A periodic job (app/services/jobs.py, every quarter of an hour) emits `adherence.missed_day` once for that
day; the clinic's SMS or messaging system acts on it. Each day whose evening time passed in the last 24
hours is looked at, so a runner that was down for a while still nudges, and never twice (one `missed_day`
row per patient and local day). No nudge while the programme is paused or the patient is on a safety
hold. Several missed days in a row bring the 7-day adherence under the clinic's threshold, and the daily
check then emits `adherence.low` as before.
"""

import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from app.models.patient import Patient
from app.models.programme import Programme
from app.models.reminders import DEFAULT_EVENING, MissedDay, ReminderPreference
from app.models.session_log import SessionLog
from app.services import adherence, events, holds

LOOK_BACK = timedelta(hours=24)

_TABLE = MissedDay.__table__  # type: ignore[attr-defined]
_INSERT_NEW = {
    name: insert(_TABLE).on_conflict_do_nothing().returning(_TABLE.c.id)
    for name, insert in (("sqlite", sqlite_insert), ("postgresql", postgresql_insert))
}


def evening_moments(timezone: str, evening: str, now: datetime) -> list[tuple[date, datetime]]:
    """The local days whose evening time passed in the 24 hours up to `now`, with that moment."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    clock = time.fromisoformat(evening)
    moments = [(day, datetime.combine(day, clock, zone)) for day in (today - timedelta(days=1), today)]
    return [(day, moment) for day, moment in moments if timedelta(0) <= now - moment < LOOK_BACK]


def nudge(session: Session, clinic_id: uuid.UUID, now: datetime) -> int:
    """Emit adherence.missed_day for each patient of the clinic who missed a due day; returns how many."""
    active = (
        select(Programme.patient_id, func.min(Programme.activated_at))
        .where(
            Programme.clinic_id == clinic_id,
            Programme.status == "active",
        )
        .group_by(col(Programme.patient_id))
        .subquery()
    )
    rows = session.exec(
        select(Patient, active.c[1], ReminderPreference.evening)
        .join(active, active.c.patient_id == Patient.id)
        .outerjoin(
            ReminderPreference,
            (col(ReminderPreference.clinic_id) == clinic_id)
            & (col(ReminderPreference.patient_id) == Patient.id),
        )
        .where(Patient.clinic_id == clinic_id)
        .order_by(col(Patient.id))
    ).all()
    emitted = 0
    for patient, activated_at, evening in rows:
        for day, moment in evening_moments(patient.timezone, evening or DEFAULT_EVENING, now):
            if activated_at is None or activated_at > moment:
                continue  # the day's evening came before the programme began
            if _missed(session, patient, day) and _record(session, patient, day):
                _emit(session, patient, day)
                emitted += 1
    return emitted


def _missed(session: Session, patient: Patient, day: date) -> bool:
    logged = session.exec(
        select(SessionLog.id).where(
            SessionLog.clinic_id == patient.clinic_id,
            SessionLog.patient_id == patient.id,
            SessionLog.local_date == day,
        )
    ).first()
    if logged is not None:
        return False
    if adherence.compute(session, patient, day, day).due == 0:
        return False
    return holds.holding_alert(session, patient.clinic_id, patient.id) is None


def _record(session: Session, patient: Patient, day: date) -> bool:
    """The day's row; False if it was there (this day was nudged already)."""
    connection = session.connection()
    row = MissedDay(clinic_id=patient.clinic_id, patient_id=patient.id, local_date=day)
    values = {column.name: getattr(row, column.name) for column in _TABLE.columns}
    return connection.execute(_INSERT_NEW[connection.dialect.name], values).first() is not None


def _emit(session: Session, patient: Patient, day: date) -> None:
    recent = set(
        session.exec(
            select(col(MissedDay.local_date)).where(
                MissedDay.clinic_id == patient.clinic_id,
                MissedDay.patient_id == patient.id,
                col(MissedDay.local_date) > day - timedelta(days=adherence.LOW_ADHERENCE_WINDOW_DAYS),
            )
        ).all()
    )
    in_a_row = 0
    while day - timedelta(days=in_a_row) in recent:
        in_a_row += 1
    # Ids and the day only: the receiving system decides what to say, in the patient's language.
    events.emit(
        session,
        patient.clinic_id,
        "adherence.missed_day",
        {"patient_id": patient.id, "date": day, "missed_in_a_row": in_a_row},
    )
