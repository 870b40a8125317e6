"""The progression engine: advance, regress or hold each item on the patient's own logs.

Rules (DESIGN §5, clinical-content.md §2.3–2.4):
- Progress an item one step (its rule's variable by `step`, up to `ceiling`; at the ceiling, the next
  exercise of the chain at its starting dose when the rule says `advance`) when the last `sessions_needed`
  sessions since its dose last changed were all green with the prescribed dose done, the last 7 days'
  adherence meets the phase's threshold (default 80 %), the patient has no open alert, and the programme
  is active. Never into a clinician-locked exercise: that is always a suggestion for a physio.
- A red session stops the item (app.services.sessions suspends it until a clinician reviews it). Then a
  step back may be offered, as a suggestion only, never applied by the engine: a dose cut by the rule's
  `regression_step`, or else the exercise's regression if it is unlocked and at a lower step. Never for
  directional-preference and nerve-glide exercises, where less of the same provoking direction is not the
  answer: the clinician decides.
- Advance the phase when every advance criterion set on the current phase holds.
- One change per revision. `auto_progress`: `off` does nothing, `suggest` proposes to the physio, `auto`
  applies at once; both emit events. A rejected proposal is not made again until the rule's window of
  sessions received after the rejection (`_after_rejection`). A pending one is superseded by any revision
  that makes it moot: an edit of its item (or any edit, for a phase advance), a phase advance, a pause,
  the end of the programme (app.services.programme_documents.supersede_pending).
"""

from datetime import date, timedelta
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.db import utcnow
from app.models.common import Actor
from app.models.exercise import Exercise
from app.models.patient import Patient
from app.models.programme import ItemFacts, Programme, ProgrammeFacts, ProgrammeItem, ProgrammePhase
from app.models.programme_document import DOSE_BOUNDS, DOSE_NUMBERS, ProgressionRule
from app.models.progression import ProgressionSuggestion, SuggestionPublic
from app.models.session_log import SessionLog
from app.query import Query
from app.services import (
    adherence,
    audit,
    pacing,
    prescribing,
    programmes,
    reviews,
    safety,
    suggestions,
)

DEFAULT_MIN_ADHERENCE_PCT = 80
ADHERENCE_DAYS = 7
EVIDENCE_LIMIT = 20
# Exercises that load one direction (McKenzie chains) or the nerve: after a red session, doing less of the
# same is not offered by default (clinical review H3).
DIRECTION_SPECIFIC = ("directional_preference", "neurodynamics")


# --- evaluation --------------------------------------------------------------------------------------


def on_log(
    session: Session, log: SessionLog, programme: ProgrammeFacts, item: ItemFacts, category: str
) -> None:
    """Evaluate the item a new log is for, then the phase. Runs in the log's transaction, on the
    programme and item as the log read them (rows, or the ORM objects after a red session changed them);
    a rule that changes them takes their ORM objects (programmes.attached)."""
    if not _engine_may_act(programme) or item.removed_at is not None:
        return
    if log.colour == "red":
        if log.revision >= item.dose_revision:
            _offer_regression(session, *programmes.attached(session, programme, item), log)
        return
    if _progress_item(session, programme, item, category):
        # A proposal was made, or applied at once: what follows reads the objects as they are now.
        programme, item = programmes.attached(session, programme, item)
    if log.colour == "yellow" and item.suspension is None:
        actor = suggestions.system_actor(programme)
        reviews.after_log(session, actor, programme, item, log, pacing.directional(category))
    _advance_phase(session, programme)


def evaluate(session: Session, actor: Actor, programme: Programme) -> list[SuggestionPublic]:
    """Run the progression rules now over every item of the current phase (a clinician's 'check now')."""
    audit.record(session, actor, "programme.evaluate", "programme", programme.id, programme.patient_id)
    if not _engine_may_act(programme):
        return []
    made: list[ProgressionSuggestion] = []
    for item in _current_phase_items(session, programme):
        exercise = session.get(Exercise, item.exercise_id)
        made += _progress_item(session, programme, item, exercise.category if exercise else "")
    made += _advance_phase(session, programme)
    return [suggestions.public(s) for s in made]


def _engine_may_act(programme: ProgrammeFacts) -> bool:
    return programme.status == "active" and programme.auto_progress != "off"


def _current_phase_items(session: Session, programme: ProgrammeFacts) -> list[ProgrammeItem]:
    return list(
        session.exec(
            select(ProgrammeItem)
            .where(
                ProgrammeItem.clinic_id == programme.clinic_id,
                ProgrammeItem.programme_id == programme.id,
                ProgrammeItem.phase_position == programme.current_phase,
                col(ProgrammeItem.removed_at).is_(None),
            )
            .order_by(col(ProgrammeItem.position))
        )
    )


def _adherence_met(session: Session, programme: ProgrammeFacts, threshold_pct: int) -> bool:
    patient = session.get(Patient, programme.patient_id)
    if patient is None:
        return False
    end = adherence.today(patient.timezone) - timedelta(days=1)  # whole days only
    result = adherence.compute(session, patient, end - timedelta(days=ADHERENCE_DAYS - 1), end)
    return result.adherence is not None and result.adherence * 100 >= threshold_pct


def _phase(session: Session, programme: ProgrammeFacts, position: int) -> ProgrammePhase | None:
    return session.get(ProgrammePhase, (programme.id, position))


_LOGS = SessionLog.__table__.c  # type: ignore[attr-defined]
# The item's latest logs at its current dose, with what the rule reads from them (built once: it runs
# after every log).
_RECENT_AT_DOSE = Query(
    sa_select(
        _LOGS.id,
        _LOGS.colour,
        _LOGS.sets_done,
        _LOGS.reps_done,
        _LOGS.hold_s,
        _LOGS.duration_s,
        _LOGS.effort,
        _LOGS.performed_at,
        _LOGS.local_date,
    )
    .where(
        _LOGS.clinic_id == bindparam("clinic_id"),
        _LOGS.item_id == bindparam("item_id"),
        _LOGS.revision >= bindparam("dose_revision"),
    )
    .order_by(_LOGS.performed_at.desc(), _LOGS.id.desc())
    .limit(bindparam("n"))
)


def _progress_item(
    session: Session, programme: ProgrammeFacts, item: ItemFacts, category: str
) -> list[ProgressionSuggestion]:
    if (
        item.progression_rule is None
        or item.phase_position != programme.current_phase
        or item.suspension is not None
    ):
        return []
    rule = ProgressionRule.model_validate(item.progression_rule)
    params = {
        "clinic_id": programme.clinic_id,
        "item_id": item.id,
        "dose_revision": item.dose_revision,
        "n": rule.sessions_needed,
    }
    recent = _RECENT_AT_DOSE.all(session.connection(), params)
    is_directional = pacing.directional(category)
    if not pacing.sessions_ready(item, recent, rule.sessions_needed, is_directional):
        return []
    if safety.has_open_alert(session, programme.clinic_id, programme.patient_id):
        return []
    if is_directional and not pacing.sustained(session, programme, item):
        return []
    since = (utcnow() - pacing.SUSTAINED).date() if is_directional else recent[-1].local_date
    if not pacing.mornings_ready(session, programme, since, is_directional):
        return []
    phase = _phase(session, programme, item.phase_position)
    threshold = (
        phase.min_adherence_pct
        if phase and phase.min_adherence_pct is not None
        else DEFAULT_MIN_ADHERENCE_PCT
    )
    if not _adherence_met(session, programme, threshold):
        return []
    evidence = [str(log.id) for log in reversed(recent)]
    current = getattr(item, rule.variable)
    if current < rule.ceiling:
        change = {"variable": rule.variable, "from": current, "to": min(current + rule.step, rule.ceiling)}
        return suggestions.propose(
            session,
            *programmes.attached(session, programme, item),
            "dose",
            "progress",
            change,
            evidence,
            force_suggest=is_directional,
        )
    if rule.at_ceiling != "advance":
        return []
    exercise = session.get(Exercise, item.exercise_id)
    target = _neighbour(session, programme, exercise.progression_slug if exercise else None, exercise)
    if target is None or exercise is None:
        return []
    change = _exercise_change(exercise, target, item)
    # Never on its own into a locked exercise, one contraindicated for the patient, or more force in one
    # direction: a clinician decides those.
    needs_clinician = (
        target.requires_clinician_unlock or is_directional or _contraindicated(session, programme, target)
    )
    return suggestions.propose(
        session,
        *programmes.attached(session, programme, item),
        "exercise",
        "progress",
        change,
        evidence,
        force_suggest=needs_clinician,
    )


def _contraindicated(session: Session, programme: ProgrammeFacts, exercise: Exercise) -> bool:
    patient = session.get(Patient, programme.patient_id)
    return patient is not None and bool(prescribing.conflicts(exercise, prescribing.conditions(patient)))


def _offer_regression(session: Session, programme: Programme, item: ProgrammeItem, log: SessionLog) -> None:
    exercise = session.get(Exercise, item.exercise_id)
    if exercise is None or exercise.category in DIRECTION_SPECIFIC:
        return
    rule = ProgressionRule.model_validate(item.progression_rule) if item.progression_rule else None
    if rule is not None and rule.regression_step is not None:
        current = getattr(item, rule.variable)
        lowest = DOSE_BOUNDS[rule.variable][0]
        if current > lowest:
            change = {
                "variable": rule.variable,
                "from": current,
                "to": max(lowest, current - rule.regression_step),
            }
            suggestions.propose(
                session, programme, item, "dose", "regress", change, [str(log.id)], force_suggest=True
            )
        return
    target = _neighbour(session, programme, exercise.regression_slug, exercise)
    if (
        target is None
        or target.requires_clinician_unlock
        or target.step >= exercise.step
        or _contraindicated(session, programme, target)
    ):
        return  # never a step back into a locked, harder or contraindicated exercise
    change = _exercise_change(exercise, target, item)
    suggestions.propose(
        session, programme, item, "exercise", "regress", change, [str(log.id)], force_suggest=True
    )


def step_back_after_worse_mornings(session: Session, programme: Programme, days: list[date]) -> None:
    """Worse mornings twice in a row: offer the clinician a step back for each exercise done on those days
    (the same rules as after a red session: never more of a provoking direction, never locked or harder)."""
    if not _engine_may_act(programme):
        return
    logs = session.exec(
        select(SessionLog)
        .where(
            SessionLog.clinic_id == programme.clinic_id,
            SessionLog.programme_id == programme.id,
            col(SessionLog.local_date).in_(days),
        )
        .order_by(col(SessionLog.performed_at), col(SessionLog.id))
    ).all()
    latest = {log.item_id: log for log in logs}
    for item in _current_phase_items(session, programme):
        if item.id in latest and item.suspension is None:
            _offer_regression(session, programme, item, latest[item.id])


def _neighbour(
    session: Session, programme: ProgrammeFacts, slug: str | None, exercise: Exercise | None
) -> Exercise | None:
    """The next or previous step of the chain, if the clinic can see it and it is not archived."""
    if slug is None or exercise is None:
        return None
    candidates = session.exec(
        select(Exercise)
        .where(
            Exercise.slug == slug,
            Exercise.chain == exercise.chain,
            col(Exercise.archived_at).is_(None),
            col(Exercise.owner_clinic_id).is_(None) | (col(Exercise.owner_clinic_id) == programme.clinic_id),
        )
        .order_by(col(Exercise.owner_clinic_id).is_(None))
    ).all()
    return candidates[0] if candidates else None


def _exercise_change(exercise: Exercise, target: Exercise, item: ItemFacts) -> dict[str, Any]:
    dose = {field: target.default_dose.get(field) for field in DOSE_NUMBERS}
    if dose["duration_s"] is None and target.default_dose.get("duration_min"):
        dose["duration_s"] = min(target.default_dose["duration_min"] * 60, DOSE_BOUNDS["duration_s"][1])
    return {
        "exercise_from": exercise.slug,
        "exercise_from_id": str(exercise.id),
        "exercise_to": target.slug,
        "exercise_to_id": str(target.id),
        "requires_clinician_unlock": target.requires_clinician_unlock,
        "dose": dose,
    }


_PHASES = ProgrammePhase.__table__  # type: ignore[attr-defined]
_PHASE_AND_NEXT = Query(
    sa_select(_PHASES).where(
        _PHASES.c.programme_id == bindparam("programme_id"),
        _PHASES.c.position.between(bindparam("position"), bindparam("next_position")),
    )
)


def _advance_phase(session: Session, programme: ProgrammeFacts) -> list[ProgressionSuggestion]:
    # Both phases in one statement (built once): this runs after every log.
    params = {
        "programme_id": programme.id,
        "position": programme.current_phase,
        "next_position": programme.current_phase + 1,
    }
    phases = {phase.position: phase for phase in _PHASE_AND_NEXT.all(session.connection(), params)}
    phase, following = phases.get(programme.current_phase), phases.get(programme.current_phase + 1)
    criteria = ("min_days", "min_sessions", "min_adherence_pct", "max_pain", "green_streak")
    if phase is None or following is None or all(getattr(phase, c) is None for c in criteria):
        return []
    if programme.phase_started_at is None or safety.has_open_alert(
        session, programme.clinic_id, programme.patient_id
    ):
        return []
    logs = session.exec(
        select(SessionLog)
        .join(ProgrammeItem, col(ProgrammeItem.id) == SessionLog.item_id)
        .where(
            SessionLog.clinic_id == programme.clinic_id,
            SessionLog.programme_id == programme.id,
            ProgrammeItem.phase_position == programme.current_phase,
            SessionLog.performed_at >= programme.phase_started_at,
        )
        .order_by(col(SessionLog.performed_at), col(SessionLog.id))
    ).all()
    now = utcnow()
    if phase.min_days is not None and (now - programme.phase_started_at) < timedelta(days=phase.min_days):
        return []
    if phase.min_sessions is not None and len(logs) < phase.min_sessions:
        return []
    if phase.max_pain is not None and (not logs or max(log.pain_during for log in logs) > phase.max_pain):
        return []
    if phase.green_streak is not None and (
        len(logs) < phase.green_streak or any(log.colour != "green" for log in logs[-phase.green_streak :])
    ):
        return []
    if phase.min_adherence_pct is not None and not _adherence_met(
        session, programme, phase.min_adherence_pct
    ):
        return []
    if any(item.suspension is not None for item in _current_phase_items(session, programme)):
        return []  # an exercise stopped after a red session waits for its review before the phase moves on
    change = {"phase_from": programme.current_phase, "phase_to": programme.current_phase + 1}
    evidence = [str(log.id) for log in logs[-EVIDENCE_LIMIT:]]
    orm = programmes.attached_programme(session, programme)
    return suggestions.propose(session, orm, None, "phase", "progress", change, evidence)


# --- proposing and applying -------------------------------------------------------------------------------


# --- the clinician's side ---------------------------------------------------------------------------------
