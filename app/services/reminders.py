"""Reminders: the patient's preferences, the coming reminder instants, and the iCalendar feed.

The instants are computed, never stored: for each local day of the coming window (in the patient's time
zone) on which the active programmes have something due and that is one of the reminder days, one instant
per chosen local time outside the quiet hours. A local time turned to UTC follows RFC 5545 §3.3.5: a time
that does not exist (clocks going forward) is read with the offset before the gap, a time that happens
twice (clocks going back) is its first occurrence; so each chosen time gives exactly one instant a day,
across daylight-saving changes. The app schedules them as local notifications and works offline; the
calendar feed carries the same instants for calendar apps.
"""

import secrets
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event
from sqlalchemy import update
from sqlmodel import Session, col, select

from app.db import utcnow
from app.errors import InvalidValue, NotFound
from app.models.common import Actor
from app.models.patient import Patient
from app.models.programme import Programme, ProgrammeRevision
from app.models.reminders import (
    CALENDAR_ALARM_TEXT,
    CALENDAR_EVENT_TITLE,
    CALENDAR_NAME,
    DEFAULT_EVENING,
    MAX_TIMES_PER_DAY,
    CalendarToken,
    ReminderDue,
    ReminderInstant,
    ReminderPreference,
    ReminderPreferences,
    ReminderPreferencesIn,
    ReminderSchedule,
)
from app.models.safety_text import localised
from app.security import sha256_hex
from app.services import adherence, audit, patients

FEED_DAYS = 28
EVENT_MINUTES = 15
# Reminder times by sessions a day when the patient has chosen none: morning, then spread to the evening.
_DEFAULT_TIMES = {1: ["09:00"], 2: ["09:00", "18:00"], 3: ["09:00", "13:00", "18:00"]}
_FIRST, _LAST = 8 * 60, 20 * 60
_UID_NAMESPACE = uuid.UUID("6f1f4f2e-6a58-4c86-9b3e-3f7c0b1f9a52")

Schedules = list[tuple[uuid.UUID, dict[str, Any]]]


def _default_times(sessions_a_day: int) -> list[str]:
    if sessions_a_day in _DEFAULT_TIMES:
        return _DEFAULT_TIMES[sessions_a_day]
    count = min(sessions_a_day, MAX_TIMES_PER_DAY)
    step = (_LAST - _FIRST) // (count - 1)
    return [f"{(_FIRST + i * step) // 60:02d}:{(_FIRST + i * step) % 60:02d}" for i in range(count)]


def _schedules(session: Session, patient: Patient) -> Schedules:
    """What each active programme's current revision makes due (its schedule)."""
    rows = session.exec(
        select(ProgrammeRevision.programme_id, ProgrammeRevision.schedule)
        .join(
            Programme,
            (col(Programme.id) == ProgrammeRevision.programme_id)
            & (col(Programme.revision) == ProgrammeRevision.number),
        )
        .where(
            Programme.clinic_id == patient.clinic_id,
            Programme.patient_id == patient.id,
            Programme.status == "active",
            ProgrammeRevision.clinic_id == patient.clinic_id,
        )
        .order_by(col(Programme.id))
    ).all()
    return [(programme_id, dict(schedule)) for programme_id, schedule in rows]


def _current_items(schedules: Schedules) -> list[dict[str, Any]]:
    return [
        item
        for _, schedule in schedules
        for item in schedule["items"]
        if item["phase"] == schedule["current_phase"]
    ]


def _preferences(session: Session, patient: Patient, schedules: Schedules) -> ReminderPreferences:
    saved = session.exec(
        select(ReminderPreference).where(
            ReminderPreference.clinic_id == patient.clinic_id, ReminderPreference.patient_id == patient.id
        )
    ).first()
    items = _current_items(schedules)
    programme_days = sorted({day for item in items for day in item["days_of_week"]}) or list(range(1, 8))
    if saved is not None:
        return ReminderPreferences(
            times=saved.times,
            days=saved.days or programme_days,
            quiet_start=saved.quiet_start,
            quiet_end=saved.quiet_end,
            evening=saved.evening,
            timezone=patient.timezone,
            source="saved",
        )
    sessions_a_day = max((item["times_per_day"] for item in items), default=1)
    return ReminderPreferences(
        times=_default_times(sessions_a_day),
        days=programme_days,
        quiet_start=None,
        quiet_end=None,
        evening=DEFAULT_EVENING,
        timezone=patient.timezone,
        source="default",
    )


def read_preferences(session: Session, actor: Actor, patient_id: uuid.UUID) -> ReminderPreferences:
    patient = patients.get_patient(session, actor, patient_id)
    audit.record(session, actor, "reminders.preferences.read", "patient", patient.id, patient.id)
    return _preferences(session, patient, _schedules(session, patient))


def save_preferences(
    session: Session, actor: Actor, patient_id: uuid.UUID, body: ReminderPreferencesIn
) -> ReminderPreferences:
    """Replace the patient's preferences (and their time zone, when sent: one time zone for the plan,
    adherence and reminders)."""
    patient = patients.get_patient(session, actor, patient_id)
    saved = session.exec(
        select(ReminderPreference).where(
            ReminderPreference.clinic_id == patient.clinic_id, ReminderPreference.patient_id == patient.id
        )
    ).first() or ReminderPreference(clinic_id=patient.clinic_id, patient_id=patient.id, times=[], evening="")
    saved.times, saved.days = body.times, body.days or None
    saved.quiet_start, saved.quiet_end, saved.evening = body.quiet_start, body.quiet_end, body.evening
    saved.updated_at = utcnow()
    session.add(saved)
    if body.timezone is not None and body.timezone != patient.timezone:
        patient.timezone, patient.updated_at = body.timezone, utcnow()
        session.add(patient)
    session.flush()
    audit.record(session, actor, "reminders.preferences.update", "patient", patient.id, patient.id)
    return _preferences(session, patient, _schedules(session, patient))


def _quiet(clock: str, preferences: ReminderPreferences) -> bool:
    start, end = preferences.quiet_start, preferences.quiet_end
    if start is None or end is None:
        return False
    return start <= clock < end if start < end else clock >= start or clock < end


def instants(
    preferences: ReminderPreferences, schedules: Schedules, start: date, days: int, now: datetime
) -> list[ReminderInstant]:
    """The reminder instants of `days` local days from `start`, none before `now` (pure: no database)."""
    zone = ZoneInfo(preferences.timezone)
    clocks = [clock for clock in preferences.times if not _quiet(clock, preferences)]
    found: list[ReminderInstant] = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        if day.isoweekday() not in preferences.days:
            continue
        due = [
            ReminderDue(programme_id=programme_id, item_id=uuid.UUID(item_id), sessions=sessions)
            for programme_id, schedule in schedules
            for item_id, sessions in adherence.due_on(schedule, day).items()
        ]
        if not due:
            continue
        for clock in clocks:
            # fold=0: the offset before a gap, the first of two occurrences (RFC 5545 §3.3.5).
            at = datetime.combine(day, time.fromisoformat(clock), zone).astimezone(UTC)
            if at < now:
                continue
            # With its fixed offset: the wall time and offset the app shows, and a plain value to compare.
            wall = at.astimezone(zone)
            local = wall.replace(tzinfo=timezone(wall.utcoffset() or timedelta(0)))
            found.append(ReminderInstant(at=at, local=local, local_date=day, local_time=clock, due=due))
    return found


MAX_DAYS_AHEAD = 60


def coming(session: Session, actor: Actor, days: int, now: datetime | None = None) -> ReminderSchedule:
    """The patient's own coming reminders (the patient app): `days` local days from today, 1–60."""
    if not 1 <= days <= MAX_DAYS_AHEAD:
        raise InvalidValue(f"Ask for 1 to {MAX_DAYS_AHEAD} days.")
    now = now or utcnow()
    patient = patients.get_patient(session, actor, actor.id)
    schedules = _schedules(session, patient)
    preferences = _preferences(session, patient, schedules)
    start = adherence.today(patient.timezone, now)
    audit.record(session, actor, "reminders.read", "patient", patient.id, patient.id)
    return ReminderSchedule(
        timezone=patient.timezone,
        start=start,
        end=start + timedelta(days=days - 1),
        reminders=instants(preferences, schedules, start, days, now),
    )


# --- the calendar feed ---------------------------------------------------------------------------


def create_feed(session: Session, actor: Actor) -> tuple[str, CalendarToken]:
    """A new feed secret for the patient (the previous one stops working); returns it once, with its row."""
    patient = patients.get_patient(session, actor, actor.id)
    _revoke(session, patient)
    secret = secrets.token_urlsafe(32)
    token = CalendarToken(clinic_id=patient.clinic_id, patient_id=patient.id, token_hash=sha256_hex(secret))
    session.add(token)
    session.flush()
    audit.record(session, actor, "reminders.calendar.create", "patient", patient.id, patient.id)
    return secret, token


def revoke_feed(session: Session, actor: Actor, patient_id: uuid.UUID) -> None:
    """Turn the patient's calendar feed off (the patient, or staff for them)."""
    patient = patients.get_patient(session, actor, patient_id)
    _revoke(session, patient)
    audit.record(session, actor, "reminders.calendar.revoke", "patient", patient.id, patient.id)


def _revoke(session: Session, patient: Patient) -> None:
    session.execute(
        update(CalendarToken)
        .where(
            col(CalendarToken.clinic_id) == patient.clinic_id,
            col(CalendarToken.patient_id) == patient.id,
            col(CalendarToken.revoked_at).is_(None),
        )
        .values(revoked_at=utcnow())
    )


def feed(session: Session, secret: str, now: datetime | None = None) -> bytes:
    """The iCalendar document of the coming reminders for the secret's patient; NotFound once revoked."""
    now = now or utcnow()
    found = session.exec(
        select(CalendarToken, Patient)
        .join(Patient, col(Patient.id) == CalendarToken.patient_id)
        .where(CalendarToken.token_hash == sha256_hex(secret), col(CalendarToken.revoked_at).is_(None))
    ).first()
    if found is None:
        raise NotFound("No such calendar feed: it may have been replaced or turned off.")
    token, patient = found
    actor = Actor(kind="patient", id=patient.id, clinic_id=patient.clinic_id, locale=patient.locale)
    audit.record(session, actor, "reminders.calendar.read", "patient", patient.id, patient.id)
    schedules = _schedules(session, patient)
    preferences = _preferences(session, patient, schedules)
    start = adherence.today(patient.timezone, now)
    return _calendar(patient, instants(preferences, schedules, start, FEED_DAYS, now), now)


def _calendar(patient: Patient, found: list[ReminderInstant], now: datetime) -> bytes:
    locale = patient.locale.split("-")[0]
    calendar = Calendar()
    calendar.add("prodid", "-//hep//home exercise reminders//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", localised(CALENDAR_NAME, locale))
    calendar.add("refresh-interval", timedelta(hours=12), parameters={"VALUE": "DURATION"})
    for instant in found:
        event = Event()
        # Stable across fetches (a calendar app updates the event rather than adding another), and no id
        # of the patient in clear.
        uid = uuid.uuid5(_UID_NAMESPACE, f"{patient.id}:{instant.local_date}:{instant.local_time}")
        event.add("uid", f"{uid}@hep")
        event.add("dtstamp", now)
        event.add("dtstart", instant.at)
        event.add("duration", timedelta(minutes=EVENT_MINUTES))
        event.add("summary", localised(CALENDAR_EVENT_TITLE, locale))
        event.add("transp", "TRANSPARENT")
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", localised(CALENDAR_ALARM_TEXT, locale))
        alarm.add("trigger", timedelta(0))
        event.add_component(alarm)
        calendar.add_component(event)
    document: bytes = calendar.to_ical()
    return document
