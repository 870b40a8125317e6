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
  the end of the programme (app.services.programmes.supersede_pending).
"""

import hashlib
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, func, select

from app.db import utcnow
from app.errors import Conflict, NotFound
from app.models.common import Actor, Page
from app.models.exercise import Exercise
from app.models.patient import Patient
from app.models.programme import (
    DOSE_BOUNDS,
    Programme,
    ProgrammeItem,
    ProgrammePhase,
    ProgressionRule,
)
from app.models.progression import Direction, ProgressionSuggestion, SuggestionKind, SuggestionPublic
from app.models.session_log import SessionLog
from app.services import adherence, audit, events, pacing, prescribing, programmes, reviews, safety
from app.services.pagination import PageParams, paginate

DEFAULT_MIN_ADHERENCE_PCT = 80
ADHERENCE_DAYS = 7
EVIDENCE_LIMIT = 20
# Dose fields an exercise's default dose can set when an item moves to another exercise of its chain.
STARTING_DOSE_FIELDS = ("sets", "reps", "reps_max", "hold_s", "rest_s", "duration_s")
# Exercises that load one direction (McKenzie chains) or the nerve: after a red session, doing less of the
# same is not offered by default (clinical review H3).
DIRECTION_SPECIFIC = ("directional_preference", "neurodynamics")


def system_actor(programme: Programme) -> Actor:
    """The engine acts in its own name: revisions it makes are authored by the rules, not the patient."""
    return Actor(kind="system", id=uuid.UUID(int=0), clinic_id=programme.clinic_id)


# --- evaluation --------------------------------------------------------------------------------------


def on_log(session: Session, log: SessionLog) -> None:
    """Evaluate the item a new log is for, then the phase. Runs in the log's transaction."""
    programme = session.get(Programme, log.programme_id)
    item = session.get(ProgrammeItem, log.item_id)
    if programme is None or item is None or not _engine_may_act(programme) or item.removed_at is not None:
        return
    if log.colour == "red":
        if log.revision >= item.dose_revision:
            _offer_regression(session, programme, item, log)
        return
    _progress_item(session, programme, item)
    if log.colour == "yellow" and item.suspension is None:
        exercise = session.get(Exercise, item.exercise_id)
        is_directional = exercise is not None and pacing.directional(exercise.category)
        reviews.after_log(session, system_actor(programme), programme, item, log, is_directional)
    _advance_phase(session, programme)


def evaluate(session: Session, actor: Actor, programme: Programme) -> list[SuggestionPublic]:
    """Run the progression rules now over every item of the current phase (a clinician's 'check now')."""
    audit.record(session, actor, "programme.evaluate", "programme", programme.id, programme.patient_id)
    if not _engine_may_act(programme):
        return []
    made: list[ProgressionSuggestion] = []
    for item in _current_items(session, programme):
        made += _progress_item(session, programme, item)
    made += _advance_phase(session, programme)
    return [public(s) for s in made]


def _engine_may_act(programme: Programme) -> bool:
    return programme.status == "active" and programme.auto_progress != "off"


def _current_items(session: Session, programme: Programme) -> list[ProgrammeItem]:
    return list(
        session.exec(
            select(ProgrammeItem)
            .where(
                ProgrammeItem.clinic_id == programme.clinic_id,
                ProgrammeItem.programme_id == programme.id,
                ProgrammeItem.phase_position == programme.current_phase,
                ProgrammeItem.removed_at.is_(None),
            )
            .order_by(ProgrammeItem.position)
        )
    )


def _adherence_met(session: Session, programme: Programme, threshold_pct: int) -> bool:
    patient = session.get(Patient, programme.patient_id)
    if patient is None:
        return False
    end = adherence.today(patient.timezone) - timedelta(days=1)  # whole days only
    result = adherence.compute(session, patient, end - timedelta(days=ADHERENCE_DAYS - 1), end)
    return result.adherence is not None and result.adherence * 100 >= threshold_pct


def _phase(session: Session, programme: Programme, position: int) -> ProgrammePhase | None:
    return session.get(ProgrammePhase, (programme.id, position))


_LOGS = SessionLog.__table__.c  # type: ignore[attr-defined]
# The item's latest logs at its current dose, with what the rule reads from them (built once: it runs
# after every log).
_RECENT_AT_DOSE = (
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
    session: Session, programme: Programme, item: ProgrammeItem
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
    recent = session.connection().execute(_RECENT_AT_DOSE, params).all()
    exercise = session.get(Exercise, item.exercise_id)
    is_directional = exercise is not None and pacing.directional(exercise.category)
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
        return _propose(
            session, programme, item, "dose", "progress", change, evidence, force_suggest=is_directional
        )
    if rule.at_ceiling != "advance":
        return []
    target = _neighbour(session, programme, exercise.progression_slug if exercise else None, exercise)
    if target is None or exercise is None:
        return []
    change = _exercise_change(exercise, target, item)
    # Never on its own into a locked exercise, one contraindicated for the patient, or more force in one
    # direction: a clinician decides those.
    needs_clinician = (
        target.requires_clinician_unlock or is_directional or _contraindicated(session, programme, target)
    )
    return _propose(
        session, programme, item, "exercise", "progress", change, evidence, force_suggest=needs_clinician
    )


def _contraindicated(session: Session, programme: Programme, exercise: Exercise) -> bool:
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
            _propose(session, programme, item, "dose", "regress", change, [str(log.id)], force_suggest=True)
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
    _propose(session, programme, item, "exercise", "regress", change, [str(log.id)], force_suggest=True)


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
            SessionLog.local_date.in_(days),
        )
        .order_by(SessionLog.performed_at, SessionLog.id)
    ).all()
    latest = {log.item_id: log for log in logs}
    for item in _current_items(session, programme):
        if item.id in latest and item.suspension is None:
            _offer_regression(session, programme, item, latest[item.id])


def _neighbour(
    session: Session, programme: Programme, slug: str | None, exercise: Exercise | None
) -> Exercise | None:
    """The next or previous step of the chain, if the clinic can see it and it is not archived."""
    if slug is None or exercise is None:
        return None
    candidates = session.exec(
        select(Exercise)
        .where(
            Exercise.slug == slug,
            Exercise.chain == exercise.chain,
            Exercise.archived_at.is_(None),
            (Exercise.owner_clinic_id.is_(None)) | (Exercise.owner_clinic_id == programme.clinic_id),
        )
        .order_by(Exercise.owner_clinic_id.is_(None))
    ).all()
    return candidates[0] if candidates else None


def _exercise_change(exercise: Exercise, target: Exercise, item: ProgrammeItem) -> dict[str, Any]:
    dose = {field: target.default_dose.get(field) for field in STARTING_DOSE_FIELDS}
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
_PHASE_AND_NEXT = sa_select(_PHASES).where(
    _PHASES.c.programme_id == bindparam("programme_id"),
    _PHASES.c.position.between(bindparam("position"), bindparam("next_position")),
)


def _advance_phase(session: Session, programme: Programme) -> list[ProgressionSuggestion]:
    # Both phases in one statement (built once): this runs after every log.
    params = {
        "programme_id": programme.id,
        "position": programme.current_phase,
        "next_position": programme.current_phase + 1,
    }
    phases = {phase.position: phase for phase in session.connection().execute(_PHASE_AND_NEXT, params)}
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
        .join(ProgrammeItem, ProgrammeItem.id == SessionLog.item_id)
        .where(
            SessionLog.clinic_id == programme.clinic_id,
            SessionLog.programme_id == programme.id,
            ProgrammeItem.phase_position == programme.current_phase,
            SessionLog.performed_at >= programme.phase_started_at,
        )
        .order_by(SessionLog.performed_at, SessionLog.id)
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
    if any(item.suspension is not None for item in _current_items(session, programme)):
        return []  # an exercise stopped after a red session waits for its review before the phase moves on
    change = {"phase_from": programme.current_phase, "phase_to": programme.current_phase + 1}
    evidence = [str(log.id) for log in logs[-EVIDENCE_LIMIT:]]
    return _propose(session, programme, None, "phase", "progress", change, evidence)


# --- proposing and applying -------------------------------------------------------------------------------


def _propose(
    session: Session,
    programme: Programme,
    item: ProgrammeItem | None,
    kind: SuggestionKind,
    direction: Direction,
    change: dict[str, Any],
    evidence: list[str],
    force_suggest: bool = False,
) -> list[ProgressionSuggestion]:
    item_id = item.id if item is not None else None
    key = hashlib.sha256(
        f"{programme.id}|{item_id}|{kind}|{direction}|{','.join(sorted(evidence))}".encode()
    ).hexdigest()
    earlier = session.exec(
        select(
            ProgressionSuggestion.status,
            ProgressionSuggestion.evidence_key,
            ProgressionSuggestion.decided_at,
            ProgressionSuggestion.change,
        ).where(
            ProgressionSuggestion.clinic_id == programme.clinic_id,
            ProgressionSuggestion.programme_id == programme.id,
            ProgressionSuggestion.item_id == item_id if item_id else ProgressionSuggestion.item_id.is_(None),
            (ProgressionSuggestion.status == "pending")
            | (ProgressionSuggestion.evidence_key == key)
            | (
                (ProgressionSuggestion.status == "rejected")
                & (ProgressionSuggestion.kind == kind)
                & (ProgressionSuggestion.direction == direction)
            ),
        )
    ).all()
    if any(row.status == "pending" or row.evidence_key == key for row in earlier):
        return []  # the physio has not decided on the last proposal yet, or this evidence was judged already
    rejections = [row for row in earlier if row.status == "rejected"]
    if kind == "phase":  # a rejected advance from another phase says nothing about this one
        rejections = [row for row in rejections if row.change["phase_from"] == change["phase_from"]]
    rejected_at = max((row.decided_at for row in rejections), default=None)
    if rejected_at is not None and not _after_rejection(session, programme, item, evidence, rejected_at):
        return []
    suggestion = ProgressionSuggestion(
        clinic_id=programme.clinic_id,
        programme_id=programme.id,
        patient_id=programme.patient_id,
        item_id=item_id,
        kind=kind,
        direction=direction,
        change=change,
        evidence=evidence,
        evidence_key=key,
        based_on_revision=programme.revision,
    )
    session.add(suggestion)
    session.flush()
    if programme.auto_progress == "auto" and not force_suggest:
        _apply(session, system_actor(programme), suggestion, programme, "applied")
    else:
        events.emit(session, programme.clinic_id, "progression.suggested", _event_data(suggestion))
    return [suggestion]


def _after_rejection(
    session: Session,
    programme: Programme,
    item: ProgrammeItem | None,
    evidence: list[str],
    rejected_at: datetime,
) -> bool:
    """A rejected change is made again only on the rule's window of sessions received after the rejection:
    for an item, every log of its evidence (so `sessions_needed` new ones, or the one new red session of a
    step back); for a phase, at least its `green_streak` (else `min_sessions`, else 1) logs of the phase."""
    logs = (SessionLog.clinic_id == programme.clinic_id,)
    if item is not None:
        ids = [uuid.UUID(log_id) for log_id in evidence]
        older = select(func.count()).where(
            *logs, SessionLog.id.in_(ids), SessionLog.received_at <= rejected_at
        )
        return session.exec(older).one() == 0
    phase = _phase(session, programme, programme.current_phase)
    needed = (phase.green_streak or phase.min_sessions or 1) if phase else 1
    newer = (
        select(func.count())
        .select_from(SessionLog)
        .join(ProgrammeItem, ProgrammeItem.id == SessionLog.item_id)
        .where(
            *logs,
            SessionLog.programme_id == programme.id,
            ProgrammeItem.phase_position == programme.current_phase,
            SessionLog.received_at > rejected_at,
        )
    )
    return session.exec(newer).one() >= needed


def _event_data(suggestion: ProgressionSuggestion) -> dict[str, Any]:
    return {
        "suggestion_id": suggestion.id,
        "programme_id": suggestion.programme_id,
        "patient_id": suggestion.patient_id,
        "item_id": suggestion.item_id,
        "kind": suggestion.kind,
        "direction": suggestion.direction,
        "revision": suggestion.applied_revision,
    }


def _apply(
    session: Session,
    actor: Actor,
    suggestion: ProgressionSuggestion,
    programme: Programme,
    status: str,
    expected_revision: int | None = None,
) -> None:
    change, reason = suggestion.change, "progression" if suggestion.direction == "progress" else "regression"
    # Decided before the revision is made: the revision supersedes the other pending suggestions it touches.
    suggestion.status = status  # type: ignore[assignment]
    suggestion.decided_by = actor.id if actor.kind == "staff" else None
    suggestion.decided_at = utcnow()
    session.add(suggestion)
    session.flush()
    if suggestion.kind == "phase":
        if programme.current_phase != change["phase_from"]:
            raise _stale()
        programmes.advance_phase(session, actor, programme, change["phase_to"], expected_revision)
    else:
        item = session.get(ProgrammeItem, suggestion.item_id)
        if item is None or item.removed_at is not None or item.phase_position != programme.current_phase:
            raise _stale()
        if suggestion.kind == "dose":
            if getattr(item, change["variable"]) != change["from"]:
                raise _stale()
            changes: dict[str, Any] = {change["variable"]: change["to"]}
        else:
            if str(item.exercise_id) != change["exercise_from_id"]:
                raise _stale()
            changes = _exercise_item_changes(item, change, unlocked_by_clinician=actor.kind == "staff")
        if suggestion.direction == "regress" and actor.kind == "staff":
            changes["suspension"] = None  # the clinician reviewed the stopped item and chose the step back
        programmes.apply_item_change(session, actor, programme, item, changes, reason, expected_revision)
    suggestion.applied_revision = programme.revision
    session.add(suggestion)
    session.flush()
    events.emit(session, programme.clinic_id, "progression.applied", _event_data(suggestion))


def _exercise_item_changes(
    item: ProgrammeItem, change: dict[str, Any], unlocked_by_clinician: bool
) -> dict[str, Any]:
    dose = {field: change["dose"].get(field) for field in STARTING_DOSE_FIELDS}
    if dose["reps"] is None and dose["hold_s"] is None and dose["duration_s"] is None:
        dose["reps"] = item.reps or 1  # the database requires an amount; keep the item's own
    rule = item.progression_rule
    if rule is not None:
        value = dose.get(rule["variable"])
        if value is None or value > rule["ceiling"]:
            rule = None  # the rule does not fit the new exercise's dose: the clinician sets a new one
    return {
        "exercise_id": uuid.UUID(change["exercise_to_id"]),
        "clinician_unlocked": change["requires_clinician_unlock"] and unlocked_by_clinician,
        **dose,
        "progression_rule": rule,
    }


def _stale() -> Conflict:
    return Conflict(
        "The programme changed since this was proposed; it no longer applies.", code="suggestion_stale"
    )


# --- the clinician's side ---------------------------------------------------------------------------------


def public(suggestion: ProgressionSuggestion) -> SuggestionPublic:
    return SuggestionPublic.model_validate(suggestion, from_attributes=True)


def list_suggestions(
    session: Session, actor: Actor, programme: Programme, params: PageParams, status: str | None
) -> Page[SuggestionPublic]:
    statement = select(ProgressionSuggestion).where(
        ProgressionSuggestion.clinic_id == actor.clinic_id, ProgressionSuggestion.programme_id == programme.id
    )
    if status is not None:
        statement = statement.where(ProgressionSuggestion.status == status)
    page = paginate(session, statement, ProgressionSuggestion.id, params)
    audit.record(session, actor, "suggestion.list", "programme", programme.id, programme.patient_id)
    return page.mapped(lambda rows: [public(s) for s in rows])


def get_suggestion(session: Session, actor: Actor, suggestion_id: uuid.UUID) -> ProgressionSuggestion:
    suggestion = session.exec(
        select(ProgressionSuggestion).where(
            ProgressionSuggestion.clinic_id == actor.clinic_id, ProgressionSuggestion.id == suggestion_id
        )
    ).first()
    if suggestion is None:
        raise NotFound("No such suggestion.")
    return suggestion


def _pending(suggestion: ProgressionSuggestion) -> None:
    if suggestion.status == "superseded":
        raise Conflict(
            "A later change to the programme replaced this suggestion; it no longer applies.",
            code="suggestion_superseded",
        )
    if suggestion.status != "pending":
        raise Conflict(f"The suggestion is {suggestion.status} already.", code="invalid_transition")


def accept(
    session: Session, actor: Actor, suggestion: ProgressionSuggestion, expected_revision: int | None
) -> ProgressionSuggestion:
    """A physio accepts: applied as a new revision; accepting a locked next step is the explicit unlock."""
    _pending(suggestion)
    programme = programmes.get_programme(session, actor, suggestion.programme_id)
    if programme.status not in programmes.EDITABLE:
        raise Conflict(f"A {programme.status} programme can no longer be changed.", code="programme_closed")
    _apply(session, actor, suggestion, programme, "accepted", expected_revision)
    audit.record(session, actor, "suggestion.accept", "programme", programme.id, programme.patient_id)
    return suggestion


def reject(
    session: Session, actor: Actor, suggestion: ProgressionSuggestion, reason: str
) -> ProgressionSuggestion:
    _pending(suggestion)
    suggestion.status = "rejected"
    suggestion.rejection_reason = reason
    suggestion.decided_by, suggestion.decided_at = actor.id, utcnow()
    session.add(suggestion)
    session.flush()
    audit.record(
        session, actor, "suggestion.reject", "programme", suggestion.programme_id, suggestion.patient_id
    )
    return suggestion
