"""Scoring of outcome measures, their change against the patient's first response, and what a response
sets in motion: the STarT Back risk group on the patient, and a routine review when there is no meaningful
improvement at about four weeks.

Scoring rules and change thresholds: clinical-content.md §4; the meaningful-change rule chosen for each
instrument, with its sources: docs/clinical-rules.md, "Outcome measures".
"""

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.db import utcnow
from app.errors import NotFound
from app.models.common import Actor, Page
from app.models.outcome import (
    ANSWER_MODELS,
    Instrument,
    NprsAnswers,
    OdiAnswers,
    OutcomeCreate,
    OutcomePublic,
    OutcomeResponse,
    PsfsAnswers,
    RmdqAnswers,
    StartBackAnswers,
    activity_key,
)
from app.models.patient import Patient
from app.models.progress_chart import OutcomePoint, OutcomeSeries
from app.models.webhook import EventType
from app.services import audit, events, reviews
from app.services.pagination import PageParams, paginate

BOTHERSOME_POINTS = {"not_at_all": 0, "slightly": 0, "moderately": 0, "very_much": 1, "extremely": 1}
REVIEW_AFTER = timedelta(days=26)  # "about four weeks" after the baseline
NO_MEANINGFUL_IMPROVEMENT = "no_meaningful_improvement"

# Responses compared with each other: one instrument and, for NPRS, one recall period (review M10).
Series = tuple[str, str | None]


def score(instrument: Instrument, answers: dict[str, Any]) -> dict[str, Any]:
    """Scores from validated item answers (pure: the tests check it against the reference's examples)."""
    parsed = ANSWER_MODELS[instrument].model_validate(answers)
    if isinstance(parsed, NprsAnswers):
        return {key: getattr(parsed, key) for key in ("back", "leg") if getattr(parsed, key) is not None}
    if isinstance(parsed, PsfsAnswers):
        values = [activity.score for activity in parsed.activities]
        return {
            "mean": round(sum(values) / len(values), 2),
            "by_activity": {a.activity: a.score for a in parsed.activities},
        }
    if isinstance(parsed, OdiAnswers):
        answered = [section for section in parsed.sections if section is not None]
        total = sum(answered)
        return {
            "sum": total,
            "max": 5 * len(answered),
            "percent": round(total / (5 * len(answered)) * 100, 1),
        }
    if isinstance(parsed, RmdqAnswers):
        return {"score": sum(parsed.items)}
    assert isinstance(parsed, StartBackAnswers)  # the one instrument left
    items = [int(agree) for agree in parsed.items] + [BOTHERSOME_POINTS[parsed.bothersome]]
    total, distress = sum(items), sum(items[4:9])  # the distress subscale is items 5–9
    risk = "low" if total <= 3 else ("high" if distress >= 4 else "medium")
    return {"total": total, "distress": distress, "risk": risk}


@dataclass(frozen=True, slots=True)
class Meaningful:
    """A meaningful change of one score, the same rule for better and for worse: at least `points`, or at
    least `relative` of the baseline, and never less than `floor`, the minimal detectable change."""

    points: float
    floor: float
    relative: float | None
    best: float  # the best score there is: how much room the baseline leaves to improve

    @property
    def lower_is_better(self) -> bool:
        return self.best == 0

    def reached(self, baseline: float, amount: float) -> bool:
        amount = round(amount, 2)  # means are floats: PSFS 2.8 − 0.8 is 1.9999999999999998
        if amount < self.floor:
            return False
        return amount >= self.points or (
            self.relative is not None and baseline > 0 and amount >= self.relative * baseline
        )

    def possible(self, baseline: float) -> bool:
        """Whether a meaningful improvement is possible at all from this baseline (NPRS 1 leaves none)."""
        return self.reached(baseline, abs(self.best - baseline))

    def target(self, baseline: float) -> float | None:
        """The score that is the smallest meaningful improvement on ``baseline`` (the line a progress chart
        draws); None when the baseline leaves no room for one."""
        if not self.possible(baseline):
            return None
        relative = self.relative * baseline if self.relative is not None and baseline > 0 else self.points
        amount = round(max(self.floor, min(self.points, relative)), 2)
        return baseline - amount if self.lower_is_better else baseline + amount

    def compare(self, baseline: float, current: float) -> dict[str, Any]:
        improvement = baseline - current if self.lower_is_better else current - baseline
        return {
            "baseline": baseline,
            "difference": round(current - baseline, 2),
            "improved_meaningfully": self.reached(baseline, improvement),
            "worsened_meaningfully": self.reached(baseline, -improvement),
        }


MEANINGFUL: dict[str, Meaningful] = {
    "nprs": Meaningful(points=2, floor=2, relative=0.30, best=0),  # per site, 0–10
    "odi": Meaningful(points=10, floor=10, relative=0.30, best=0),  # percentage points
    "rmdq": Meaningful(points=5, floor=4, relative=0.30, best=0),  # 0–24
    "psfs": Meaningful(points=2, floor=2, relative=None, best=10),  # the mean, 0–10
}


def series(instrument: str, answers: dict[str, Any]) -> Series:
    return instrument, answers.get("recall") if instrument == "nprs" else None


def _psfs_change(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any] | None:
    # Only the activities named at baseline count, re-rated under the same name (§4.4), matched ignoring
    # case and spacing (review M11).
    rated_now = {activity_key(name): value for name, value in after["by_activity"].items()}
    common = [name for name in before["by_activity"] if activity_key(name) in rated_now]
    if not common:
        return None
    then = sum(before["by_activity"][name] for name in common) / len(common)
    now = sum(rated_now[activity_key(name)] for name in common) / len(common)
    return {"activities": common, **MEANINGFUL["psfs"].compare(round(then, 2), round(now, 2))}


def change(
    instrument: Instrument, baseline: OutcomeResponse, current: OutcomeResponse
) -> dict[str, Any] | None:
    same_series = series(instrument, baseline.answers) == series(instrument, current.answers)
    if baseline.id == current.id or not same_series:
        return None
    before, after = baseline.scores, current.scores
    if instrument == "nprs":
        return {
            site: MEANINGFUL["nprs"].compare(before[site], after[site])
            for site in ("back", "leg")
            if site in before and site in after
        } or None
    if instrument == "odi":
        return MEANINGFUL["odi"].compare(before["percent"], after["percent"])
    if instrument == "rmdq":
        return MEANINGFUL["rmdq"].compare(before["score"], after["score"])
    if instrument == "psfs":
        return _psfs_change(before, after)
    return {"baseline_risk": before["risk"], "risk_changed": before["risk"] != after["risk"]}


def short_of_meaningful(instrument: str, found: dict[str, Any]) -> bool:
    """Some compared score (an NPRS site) that had room to improve meaningfully did not."""
    rule = MEANINGFUL[instrument]
    compared = list(found.values()) if instrument == "nprs" else [found]
    return any(rule.possible(c["baseline"]) and not c["improved_meaningfully"] for c in compared)


# The score of each instrument that a progress chart draws, and its scale's top (ODI is a percentage).
CHARTED: dict[str, tuple[str, float]] = {"odi": ("percent", 100), "rmdq": ("score", 24), "psfs": ("mean", 10)}


def _charted(row: OutcomeResponse) -> list[tuple[str, float]]:
    """(series key, value) for each score of a response that is charted: NPRS per site, one score else."""
    if row.instrument == "nprs":
        return [(f"nprs.{site}", row.scores[site]) for site in ("back", "leg") if site in row.scores]
    if row.instrument in CHARTED:
        return [(row.instrument, row.scores[CHARTED[row.instrument][0]])]
    return []


def chart_series(
    session: Session, actor: Actor, patient: Patient, start: date, end: date
) -> list[OutcomeSeries]:
    """Each charted score taken between two local dates of the patient, with the meaningful-change line from
    the first response of its series (whenever that was). The caller records the audit."""
    zone = ZoneInfo(patient.timezone)
    rows = session.exec(
        _scoped(actor, patient.id)
        .where(
            col(OutcomeResponse.taken_at) >= datetime.combine(start, time(), zone),
            col(OutcomeResponse.taken_at) < datetime.combine(end + timedelta(days=1), time(), zone),
        )
        .order_by(col(OutcomeResponse.taken_at), col(OutcomeResponse.id))
    ).all()
    baselines = _baselines(session, actor, patient.id) if rows else {}
    points: dict[tuple[str, str | None], list[OutcomePoint]] = {}
    firsts: dict[tuple[str, str | None], float] = {}
    for row in rows:
        recall = series(row.instrument, row.answers)[1]
        first = dict(_charted(baselines[series(row.instrument, row.answers)]))
        for key, value in _charted(row):
            day = row.taken_at.astimezone(zone).date()
            points.setdefault((key, recall), []).append(OutcomePoint(day=day, value=value))
            firsts.setdefault((key, recall), first.get(key, value))
    return [
        OutcomeSeries(
            key=key,
            recall=recall,
            top=CHARTED.get(key, ("", 10))[1],
            baseline=firsts[(key, recall)],
            meaningful_at=MEANINGFUL[key.split(".")[0]].target(firsts[(key, recall)]),
            points=found,
        )
        for (key, recall), found in points.items()
    ]


def _scoped(actor: Actor, patient_id: uuid.UUID) -> SelectOfScalar[OutcomeResponse]:
    return select(OutcomeResponse).where(
        OutcomeResponse.clinic_id == actor.clinic_id, OutcomeResponse.patient_id == patient_id
    )


def of_patient(
    actor: Actor, patient_id: uuid.UUID, instruments: Collection[str] | None = None
) -> SelectOfScalar[OutcomeResponse]:
    """The patient's responses, to the given instruments only when they are given."""
    statement = _scoped(actor, patient_id)
    if instruments is not None:
        statement = statement.where(col(OutcomeResponse.instrument).in_(sorted(instruments)))
    return statement


def get_outcome(session: Session, actor: Actor, outcome_id: uuid.UUID) -> OutcomeResponse:
    """A response of the caller's clinic; another clinic's answers as an unknown id does. The caller
    records the audit."""
    row = session.exec(
        select(OutcomeResponse).where(
            OutcomeResponse.clinic_id == actor.clinic_id, OutcomeResponse.id == outcome_id
        )
    ).first()
    if row is None:
        raise NotFound("No such outcome response.")
    return row


def _baselines(
    session: Session, actor: Actor, patient_id: uuid.UUID, instrument: str | None = None
) -> dict[Series, OutcomeResponse]:
    """The first response of each series, in one statement."""
    recall = col(OutcomeResponse.answers)["recall"].as_string()
    first = func.row_number().over(
        partition_by=(OutcomeResponse.instrument, recall),
        order_by=(col(OutcomeResponse.taken_at), col(OutcomeResponse.id)),
    )
    ranked = select(col(OutcomeResponse.id), first.label("position")).where(
        OutcomeResponse.clinic_id == actor.clinic_id, OutcomeResponse.patient_id == patient_id
    )
    if instrument is not None:
        ranked = ranked.where(OutcomeResponse.instrument == instrument)
    firsts = ranked.subquery()
    rows = session.exec(
        select(OutcomeResponse).join(firsts, firsts.c.id == OutcomeResponse.id).where(firsts.c.position == 1)
    ).all()
    return {series(row.instrument, row.answers): row for row in rows}


def _public(row: OutcomeResponse, baseline: OutcomeResponse | None) -> OutcomePublic:
    return OutcomePublic(
        id=row.id,
        instrument=row.instrument,
        answers=row.answers,
        scores=row.scores,
        taken_at=row.taken_at,
        change=change(row.instrument, baseline, row) if baseline is not None else None,
    )


def _store_risk_group(session: Session, actor: Actor, row: OutcomeResponse) -> None:
    """The patient's STarT Back risk group is that of their latest response (a back-dated one changes
    nothing)."""
    latest = session.exec(
        _scoped(actor, row.patient_id)
        .where(OutcomeResponse.instrument == "startback")
        .order_by(col(OutcomeResponse.taken_at).desc(), col(OutcomeResponse.id).desc())
        .limit(1)
    ).one()
    if latest.id != row.id:
        return
    session.exec(
        update(Patient)
        .where(col(Patient.clinic_id) == actor.clinic_id, col(Patient.id) == row.patient_id)
        .values(startback_risk=row.scores["risk"], updated_at=utcnow())
    )
    # Audited as any change to the patient; the outcome.create row of the same request says why.
    audit.record(session, actor, "patient.update", "patient", row.patient_id, row.patient_id)


def _review_if_not_improving(
    session: Session, actor: Actor, row: OutcomeResponse, baseline: OutcomeResponse, found: dict[str, Any]
) -> None:
    """One routine review per series when, about four weeks on, the improvement is below the rule."""
    if row.taken_at - baseline.taken_at < REVIEW_AFTER or not short_of_meaningful(row.instrument, found):
        return
    reviews.raise_once(
        session,
        actor,
        row.patient_id,
        f"{NO_MEANINGFUL_IMPROVEMENT}:{baseline.id}",  # one per series: its baseline stands for it
        [NO_MEANINGFUL_IMPROVEMENT, f"instrument:{row.instrument}"],
        [str(row.id)],
    )


def record(session: Session, actor: Actor, patient_id: uuid.UUID, data: OutcomeCreate) -> OutcomePublic:
    answers = data.answers.model_dump()
    row = OutcomeResponse(
        clinic_id=actor.clinic_id,
        patient_id=patient_id,
        instrument=data.instrument,
        answers=answers,
        scores=score(data.instrument, answers),
        taken_at=data.taken_at or utcnow(),
    )
    session.add(row)
    session.flush()
    audit.record(session, actor, "outcome.create", "outcome", row.id, patient_id)
    event_type: EventType = "outcome.recorded"
    events.emit(
        session,
        actor.clinic_id,
        event_type,
        {"patient_id": patient_id, "outcome_id": row.id, "instrument": row.instrument},
    )
    baseline = _baselines(session, actor, patient_id, row.instrument)[series(row.instrument, row.answers)]
    public = _public(row, baseline)
    if row.instrument == "startback":
        _store_risk_group(session, actor, row)
    elif public.change is not None:
        _review_if_not_improving(session, actor, row, baseline, public.change)
    return public


def list_outcomes(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    instrument: Instrument | None,
    params: PageParams,
) -> Page[OutcomePublic]:
    """Responses in the order they were taken, each with its change against the first of its series."""
    statement = of_patient(actor, patient_id, None if instrument is None else [instrument])
    page = paginate(session, statement, OutcomeResponse.id, params, time_column=OutcomeResponse.taken_at)
    audit.record(session, actor, "outcome.list", "outcome", patient_id=patient_id)
    baselines = _baselines(session, actor, patient_id, instrument) if page.items else {}
    return page.mapped(
        lambda rows: [_public(row, baselines.get(series(row.instrument, row.answers))) for row in rows]
    )
