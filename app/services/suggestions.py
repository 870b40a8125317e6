"""Progression suggestions: proposing a change the rules found, applying it, and a clinician's decision.

A proposal is made once per rule and evidence: a pending one blocks the next for its item until decided,
and a rejected change waits for the rule's window of sessions received after the rejection. With
`auto_progress: "auto"` a proposal that needs no clinician is applied at once; otherwise a physio accepts
it (applied as a new revision; accepting a locked step is their explicit unlock) or rejects it with a
reason. Both emit events. Pending ones are superseded by the revisions that make them moot
(app.services.programme_documents.supersede_pending).
"""

import hashlib
import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from app.db import utcnow
from app.errors import Code, Conflict, NotFound
from app.models.common import Actor, Page
from app.models.programme import Programme, ProgrammeFacts, ProgrammeItem, ProgrammePhase
from app.models.programme_document import DOSE_NUMBERS, RevisionReason
from app.models.progression import (
    Direction,
    ProgressionSuggestion,
    SuggestionKind,
    SuggestionPublic,
    SuggestionStatus,
)
from app.models.session_log import SessionLog
from app.services import audit, events, programme_changes, programmes
from app.services.pagination import PageParams, paginate

# Dose fields an exercise's default dose can set when an item moves to another exercise of its chain.


def system_actor(programme: ProgrammeFacts) -> Actor:
    """The engine acts in its own name: revisions it makes are authored by the rules, not the patient."""
    return Actor(kind="system", id=uuid.UUID(int=0), clinic_id=programme.clinic_id)


def propose(
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
    earlier = session.execute(
        select(
            ProgressionSuggestion.status,
            ProgressionSuggestion.evidence_key,
            ProgressionSuggestion.decided_at,
            ProgressionSuggestion.change,
        ).where(
            ProgressionSuggestion.clinic_id == programme.clinic_id,
            ProgressionSuggestion.programme_id == programme.id,
            col(ProgressionSuggestion.item_id) == item_id
            if item_id
            else col(ProgressionSuggestion.item_id).is_(None),
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
            *logs, col(SessionLog.id).in_(ids), SessionLog.received_at <= rejected_at
        )
        return session.exec(older).one() == 0
    phase = session.get(ProgrammePhase, (programme.id, programme.current_phase))
    needed = (phase.green_streak or phase.min_sessions or 1) if phase else 1
    newer = (
        select(func.count())
        .select_from(SessionLog)
        .join(ProgrammeItem, col(ProgrammeItem.id) == SessionLog.item_id)
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
    status: SuggestionStatus,
    expected_revision: int | None = None,
) -> None:
    change = suggestion.change
    reason: RevisionReason = "progression" if suggestion.direction == "progress" else "regression"
    # Decided before the revision is made: the revision supersedes the other pending suggestions it touches.
    suggestion.status = status
    suggestion.decided_by = actor.id if actor.kind == "staff" else None
    suggestion.decided_at = utcnow()
    session.add(suggestion)
    session.flush()
    if suggestion.kind == "phase":
        if programme.current_phase != change["phase_from"]:
            raise _stale()
        programme_changes.advance_phase(session, actor, programme, change["phase_to"], expected_revision)
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
        programme_changes.apply_item_change(
            session, actor, programme, item, changes, reason, expected_revision
        )
    suggestion.applied_revision = programme.revision
    session.add(suggestion)
    session.flush()
    events.emit(session, programme.clinic_id, "progression.applied", _event_data(suggestion))


def _exercise_item_changes(
    item: ProgrammeItem, change: dict[str, Any], unlocked_by_clinician: bool
) -> dict[str, Any]:
    dose = {field: change["dose"].get(field) for field in DOSE_NUMBERS}
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
        "The programme changed since this was proposed; it no longer applies.", code=Code.SUGGESTION_STALE
    )


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
            code=Code.SUGGESTION_SUPERSEDED,
        )
    if suggestion.status != "pending":
        raise Conflict(f"The suggestion is {suggestion.status} already.", code=Code.INVALID_TRANSITION)


def accept(
    session: Session, actor: Actor, suggestion: ProgressionSuggestion, expected_revision: int | None
) -> ProgressionSuggestion:
    """A physio accepts: applied as a new revision; accepting a locked next step is the explicit unlock."""
    _pending(suggestion)
    programme = programmes.get_programme(session, actor, suggestion.programme_id)
    if programme.status not in programmes.EDITABLE:
        raise Conflict(
            f"A {programme.status} programme can no longer be changed.", code=Code.PROGRAMME_CLOSED
        )
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
