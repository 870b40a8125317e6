"""The patient's progress as a chart (SVG): pain, leg-symptom extent, weekly adherence, outcome scores.

The numbers are the published ones (adherence as DESIGN §5 defines it, outcome change as
app.services.outcomes judges it); the drawing is app.services.chart_svg.
"""

from datetime import date

from sqlmodel import Session, col, select

from app.models.common import Actor
from app.models.patient import Patient
from app.models.progress_chart import LegPoint, PainPoint, ProgressChart, WeekPoint
from app.models.session_log import LEG_RANK, SessionLog
from app.services import adherence, audit, chart_svg, outcomes, patients

_LEVEL_BY_RANK = {rank: level for level, rank in LEG_RANK.items()}


def my_chart(session: Session, actor: Actor, locale: str) -> str:
    """The patient's own chart of the last 8 weeks."""
    return chart(session, actor, patients.get_patient(session, actor, actor.id), None, None, locale)


def chart(
    session: Session, actor: Actor, patient: Patient, start: date | None, end: date | None, locale: str
) -> str:
    """The chart of the patient's local days from `start` to `end` (the last 8 weeks by default)."""
    start, end = adherence.window(patient, start, end, default_days=adherence.PROGRESS_DAYS)
    audit.record(session, actor, "progress.chart", "patient", patient.id, patient.id)
    data = ProgressChart(
        start=start,
        end=end,
        pain=[
            PainPoint(day=day.date, during=day.pain_during_mean, after=day.pain_after_mean)
            for day in adherence.pain_by_day(session, patient, start, end)
        ],
        leg=_leg_by_day(session, patient, start, end),
        weeks=[
            WeekPoint(week_start=week.week_start, due=week.due, done=week.done)
            for week in adherence.compute(session, patient, start, end).by_week
        ],
        outcomes=outcomes.chart_series(session, actor, patient, start, end),
    )
    return chart_svg.render(data, locale)


def _leg_by_day(session: Session, patient: Patient, start: date, end: date) -> list[LegPoint]:
    """Each local day with sessions: the furthest down the leg the symptoms reached after a session."""
    rows = session.exec(
        select(col(SessionLog.local_date), col(SessionLog.leg_symptoms))
        .distinct()
        .where(
            SessionLog.clinic_id == patient.clinic_id,
            SessionLog.patient_id == patient.id,
            SessionLog.local_date >= start,
            SessionLog.local_date <= end,
        )
    ).all()
    furthest: dict[date, int] = {}
    for day, level in rows:
        furthest[day] = max(furthest.get(day, 0), LEG_RANK[level])
    return [LegPoint(day=day, furthest=_LEVEL_BY_RANK[rank]) for day, rank in sorted(furthest.items())]
