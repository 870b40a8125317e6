"""Scoring of outcome measures and their change against the patient's first response.

Scoring rules and change thresholds: clinical-content.md §4 (NPRS MCID 2 points or 30 %; ODI 10 points
or 30 %; RMDQ 5 points or 30 %; PSFS MDC 2 points on the mean; STarT Back classification).
"""

import uuid
from typing import Any

from sqlmodel import Session, select

from app.db import utcnow
from app.models.common import Actor
from app.models.outcome import ANSWER_MODELS, Instrument, OutcomeIn, OutcomePublic, OutcomeResponse
from app.models.webhook import EventType
from app.services import audit, events

BOTHERSOME_POINTS = {"not_at_all": 0, "slightly": 0, "moderately": 0, "very_much": 1, "extremely": 1}


def score(instrument: Instrument, answers: dict[str, Any]) -> dict[str, Any]:
    """Scores from validated item answers (pure: the tests check it against the reference's examples)."""
    parsed = ANSWER_MODELS[instrument].model_validate(answers)
    if instrument == "nprs":
        return {key: getattr(parsed, key) for key in ("back", "leg") if getattr(parsed, key) is not None}
    if instrument == "psfs":
        values = [activity.score for activity in parsed.activities]
        return {
            "mean": round(sum(values) / len(values), 2),
            "by_activity": {a.activity: a.score for a in parsed.activities},
        }
    if instrument == "odi":
        answered = [section for section in parsed.sections if section is not None]
        total = sum(answered)
        return {
            "sum": total,
            "max": 5 * len(answered),
            "percent": round(total / (5 * len(answered)) * 100, 1),
        }
    if instrument == "rmdq":
        return {"score": sum(parsed.items)}
    items = [int(agree) for agree in parsed.items] + [BOTHERSOME_POINTS[parsed.bothersome]]
    total, distress = sum(items), sum(items[4:9])  # the distress subscale is items 5–9
    risk = "low" if total <= 3 else ("high" if distress >= 4 else "medium")
    return {"total": total, "distress": distress, "risk": risk}


def _lower_is_better(baseline: float, current: float, points: float) -> dict[str, Any]:
    improvement = baseline - current
    relative = improvement / baseline if baseline else 0.0
    return {
        "baseline": baseline,
        "difference": round(current - baseline, 2),
        "improved_meaningfully": improvement >= points or (baseline > 0 and relative >= 0.30),
        "worsened_meaningfully": -improvement >= points,
    }


def change(
    instrument: Instrument, baseline: OutcomeResponse, current: OutcomeResponse
) -> dict[str, Any] | None:
    if baseline.id == current.id:
        return None
    before, after = baseline.scores, current.scores
    if instrument == "nprs":
        return {
            site: _lower_is_better(before[site], after[site], 2)
            for site in ("back", "leg")
            if site in before and site in after
        } or None
    if instrument == "odi":
        return _lower_is_better(before["percent"], after["percent"], 10)
    if instrument == "rmdq":
        return _lower_is_better(before["score"], after["score"], 5)
    if instrument == "psfs":
        # Only the activities named at baseline count, re-rated by the same name (§4.4).
        common = [name for name in before["by_activity"] if name in after["by_activity"]]
        if not common:
            return None
        then = sum(before["by_activity"][n] for n in common) / len(common)
        now = sum(after["by_activity"][n] for n in common) / len(common)
        return {
            "activities": common,
            "baseline": round(then, 2),
            "difference": round(now - then, 2),
            "improved_meaningfully": now - then >= 2,
            "worsened_meaningfully": then - now >= 2,
        }
    return {"baseline_risk": before["risk"], "risk_changed": before["risk"] != after["risk"]}


def _baseline(
    session: Session, actor: Actor, patient_id: uuid.UUID, instrument: str
) -> OutcomeResponse | None:
    return session.exec(
        select(OutcomeResponse)
        .where(
            OutcomeResponse.clinic_id == actor.clinic_id,
            OutcomeResponse.patient_id == patient_id,
            OutcomeResponse.instrument == instrument,
        )
        .order_by(OutcomeResponse.taken_at, OutcomeResponse.id)
        .limit(1)
    ).first()


def _public(row: OutcomeResponse, baseline: OutcomeResponse | None) -> OutcomePublic:
    return OutcomePublic(
        id=row.id,
        instrument=row.instrument,
        answers=row.answers,
        scores=row.scores,
        taken_at=row.taken_at,
        change=change(row.instrument, baseline, row) if baseline is not None else None,
    )


def record(session: Session, actor: Actor, patient_id: uuid.UUID, data: OutcomeIn) -> OutcomePublic:
    row = OutcomeResponse(
        clinic_id=actor.clinic_id,
        patient_id=patient_id,
        instrument=data.instrument,
        answers=data.answers,
        scores=score(data.instrument, data.answers),
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
    return _public(row, _baseline(session, actor, patient_id, row.instrument))


def list_outcomes(
    session: Session, actor: Actor, patient_id: uuid.UUID, instrument: Instrument | None = None
) -> list[OutcomePublic]:
    """Every response, oldest first, each with its change against the first of its instrument."""
    statement = select(OutcomeResponse).where(
        OutcomeResponse.clinic_id == actor.clinic_id, OutcomeResponse.patient_id == patient_id
    )
    if instrument is not None:
        statement = statement.where(OutcomeResponse.instrument == instrument)
    rows = session.exec(statement.order_by(OutcomeResponse.taken_at, OutcomeResponse.id)).all()
    audit.record(session, actor, "outcome.list", "outcome", patient_id=patient_id)
    first: dict[str, OutcomeResponse] = {}
    result = []
    for row in rows:
        baseline = first.setdefault(row.instrument, row)
        result.append(_public(row, baseline))
    return result
