"""Remote monitoring: staff interactions with a patient, and the facts a clinic bills from.

Days with data: the patient's local days with a session log, a symptom check or an outcome, counted per
30-day period from the window's first day. Interaction minutes and whether a live (real-time, two-way)
contact happened: per calendar month. Every figure counts the days of the window only, in the patient's
time zone; the API reports facts, never billing codes (the clinic's EHR decides).
"""

import csv
import io
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.db import utcnow
from app.models.common import Actor, Page
from app.models.monitoring import (
    MAX_WINDOW_DAYS,
    PERIOD_DAYS,
    Interaction,
    InteractionIn,
    MonitoringMonth,
    MonitoringPeriod,
    MonitoringReport,
    MonitoringSummary,
    MonitoringWindow,
)
from app.models.outcome import OutcomeResponse
from app.models.patient import Patient
from app.models.programme import Programme
from app.models.safety import SymptomCheck
from app.models.session_log import SessionLog
from app.services import adherence, audit
from app.services.pagination import PageParams, paginate


def record_interaction(session: Session, actor: Actor, patient: Patient, body: InteractionIn) -> Interaction:
    interaction = Interaction(
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        user_id=actor.id,
        minutes=body.minutes,
        kind=body.kind,
        occurred_at=(body.occurred_at or utcnow()).astimezone(UTC),
        note=body.note,
    )
    session.add(interaction)
    session.flush()
    audit.record(session, actor, "interaction.create", "interaction", interaction.id, patient.id)
    return interaction


def list_interactions(
    session: Session, actor: Actor, patient: Patient, page: PageParams
) -> Page[Interaction]:
    statement = select(Interaction).where(
        Interaction.clinic_id == patient.clinic_id, Interaction.patient_id == patient.id
    )
    audit.record(session, actor, "interaction.list", "interaction", patient_id=patient.id)
    return paginate(session, statement, Interaction.id, page, time_column=Interaction.occurred_at)


def _local_range(zone: ZoneInfo, start: date, end: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(start, time(), zone).astimezone(UTC),
        datetime.combine(end + timedelta(days=1), time(), zone).astimezone(UTC),
    )


def days_with_data(session: Session, patient: Patient, start: date, end: date) -> set[date]:
    """The patient's local days in [start, end] with a session log, a symptom check or an outcome."""
    zone = ZoneInfo(patient.timezone)
    days: set[date] = set(
        session.exec(
            select(col(SessionLog.local_date))
            .where(
                SessionLog.clinic_id == patient.clinic_id,
                SessionLog.patient_id == patient.id,
                SessionLog.local_date >= start,
                SessionLog.local_date <= end,
            )
            .distinct()
        ).all()
    )
    since, until = _local_range(zone, start, end)
    for moment in (
        select(SymptomCheck.created_at).where(
            SymptomCheck.clinic_id == patient.clinic_id,
            SymptomCheck.patient_id == patient.id,
            SymptomCheck.created_at >= since,
            SymptomCheck.created_at < until,
        ),
        select(OutcomeResponse.taken_at).where(
            OutcomeResponse.clinic_id == patient.clinic_id,
            OutcomeResponse.patient_id == patient.id,
            OutcomeResponse.taken_at >= since,
            OutcomeResponse.taken_at < until,
        ),
    ):
        days.update(at.astimezone(zone).date() for at in session.exec(moment).all())
    return days


def _minutes_by_day(
    session: Session, patient: Patient, start: date, end: date
) -> dict[date, tuple[int, bool]]:
    """Interaction minutes per local day in [start, end], and whether a live one happened that day."""
    zone = ZoneInfo(patient.timezone)
    since, until = _local_range(zone, start, end)
    rows = session.exec(
        select(Interaction.occurred_at, Interaction.minutes, Interaction.kind).where(
            Interaction.clinic_id == patient.clinic_id,
            Interaction.patient_id == patient.id,
            Interaction.occurred_at >= since,
            Interaction.occurred_at < until,
        )
    ).all()
    by_day: dict[date, tuple[int, bool]] = defaultdict(lambda: (0, False))
    for occurred_at, minutes, kind in rows:
        day = occurred_at.astimezone(zone).date()
        total, live = by_day[day]
        by_day[day] = (total + minutes, live or kind == "live")
    return by_day


def monitoring_start(session: Session, patient: Patient) -> date | None:
    """The local day the patient's first programme was activated: where the 30-day periods begin."""
    first = session.exec(
        select(func.min(Programme.activated_at)).where(
            Programme.clinic_id == patient.clinic_id, Programme.patient_id == patient.id
        )
    ).one()
    return first.astimezone(ZoneInfo(patient.timezone)).date() if first is not None else None


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def report(session: Session, actor: Actor, patient: Patient, window: MonitoringWindow) -> MonitoringReport:
    end = window.end or adherence.today(patient.timezone)
    start = window.start or monitoring_start(session, patient) or end - timedelta(days=PERIOD_DAYS - 1)
    start = max(min(start, end), end - timedelta(days=MAX_WINDOW_DAYS - 1))
    audit.record(session, actor, "monitoring.read", "patient", patient.id, patient.id)
    data = days_with_data(session, patient, start, end)
    periods = []
    period_start = start
    while period_start <= end:
        period_end = period_start + timedelta(days=PERIOD_DAYS - 1)
        periods.append(
            MonitoringPeriod(
                start=period_start,
                end=period_end,
                complete=period_end <= end,
                days_with_data=sum(1 for day in data if period_start <= day <= period_end),
            )
        )
        period_start = period_end + timedelta(days=1)
    by_day = _minutes_by_day(session, patient, start, end)
    months = []
    month = _month_start(start)
    while month <= end:
        following = _next_month(month)
        inside = [figures for day, figures in by_day.items() if month <= day < following]
        months.append(
            MonitoringMonth(
                month=month.strftime("%Y-%m"),
                complete=month >= start and following - timedelta(days=1) <= end,
                interaction_minutes=sum(minutes for minutes, _ in inside),
                live_contact=any(live for _, live in inside),
            )
        )
        month = following
    return MonitoringReport(
        patient_id=patient.id, timezone=patient.timezone, start=start, end=end, periods=periods, months=months
    )


CSV_COLUMNS = (
    "patient_id",
    "timezone",
    "row",
    "start",
    "end",
    "complete",
    "days_with_data",
    "interaction_minutes",
    "live_contact",
)


def as_csv(found: MonitoringReport) -> str:
    """The same figures as the JSON, one row per 30-day period, then one per calendar month (its first
    and last day as start and end)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    common = [str(found.patient_id), found.timezone]
    for period in found.periods:
        flags = [str(period.complete).lower(), period.days_with_data, "", ""]
        writer.writerow([*common, "period", period.start, period.end, *flags])
    for month in found.months:
        first = date.fromisoformat(f"{month.month}-01")
        last = _next_month(first) - timedelta(days=1)
        flags = [str(month.complete).lower(), "", month.interaction_minutes, str(month.live_contact).lower()]
        writer.writerow([*common, "month", first, last, *flags])
    return out.getvalue()


def clinic_summary(session: Session, actor: Actor, page: PageParams) -> Page[MonitoringSummary]:
    """Every patient with an active or paused programme: the 30-day period under way (from the first
    activation) and the calendar month under way, up to today in the patient's time zone."""
    current = select(Programme.patient_id).where(
        Programme.clinic_id == actor.clinic_id, col(Programme.status).in_(("active", "paused"))
    )
    statement = select(Patient).where(Patient.clinic_id == actor.clinic_id, col(Patient.id).in_(current))
    patients = paginate(session, statement, Patient.id, page)
    audit.record(session, actor, "monitoring.list", "patient")
    return Page[MonitoringSummary](
        items=[_summary(session, patient) for patient in patients.items], next_cursor=patients.next_cursor
    )


def _summary(session: Session, patient: Patient) -> MonitoringSummary:
    today = adherence.today(patient.timezone)
    anchor = min(monitoring_start(session, patient) or today, today)
    period_start = anchor + timedelta(days=(today - anchor).days // PERIOD_DAYS * PERIOD_DAYS)
    month = _month_start(today)
    data = days_with_data(session, patient, period_start, today)
    by_day = _minutes_by_day(session, patient, month, today)
    return MonitoringSummary(
        patient_id=patient.id,
        external_id=patient.external_id,
        display_name=patient.display_name,
        period_start=period_start,
        period_end=period_start + timedelta(days=PERIOD_DAYS - 1),
        days_with_data=len(data),
        month=month.strftime("%Y-%m"),
        interaction_minutes=sum(minutes for minutes, _ in by_day.values()),
        live_contact=any(live for _, live in by_day.values()),
    )
