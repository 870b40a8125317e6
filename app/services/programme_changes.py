"""Changes to one item or the phase between edits: the engine's steps, a safety hold, a stopped exercise.

Each is one new revision (app.services.programme_documents). The engine, a clinician accepting a
suggestion, the safety service and the session log make these; a clinician's whole-document edit goes
through app.services.programmes.replace_programme instead.
"""

import uuid
from typing import Any

from sqlmodel import Session

from app.db import utcnow
from app.errors import Code, Conflict, NotFound
from app.models.common import Actor
from app.models.programme import Programme, ProgrammeItem
from app.models.programme_document import RevisionReason
from app.services import audit, programmes
from app.services import programme_documents as documents


def apply_item_change(
    session: Session,
    actor: Actor,
    programme: Programme,
    item: ProgrammeItem,
    changes: dict[str, Any],
    reason: RevisionReason,
    expected_revision: int | None = None,
) -> None:
    """One change to one item (the progression engine's, or a clinician accepting it) as a new revision."""
    documents.bump_revision(
        session, programme, programme.revision if expected_revision is None else expected_revision
    )
    for field, value in changes.items():
        setattr(item, field, value)
    item.dose_revision = programme.revision
    session.add(item)
    documents.supersede_pending(session, programme, [item.id])
    documents.record_revision(session, actor, programme, reason)
    audit.record(session, actor, f"programme.{reason}", "programme", programme.id, programme.patient_id)


def advance_phase(
    session: Session, actor: Actor, programme: Programme, to_phase: int, expected_revision: int | None = None
) -> None:
    documents.bump_revision(
        session, programme, programme.revision if expected_revision is None else expected_revision
    )
    programme.current_phase = to_phase
    programme.phase_started_at = utcnow()
    documents.supersede_pending(
        session, programme
    )  # proposals for the finished phase's items, or its advance
    documents.record_revision(session, actor, programme, "progression")
    audit.record(session, actor, "programme.progression", "programme", programme.id, programme.patient_id)


def set_safety_hold(
    session: Session, actor: Actor, programme: Programme, hold: dict[str, Any] | None
) -> bool:
    """Show (or clear) a safety hold on the programme, as a new revision; an active programme is paused.
    Returns True if it was paused. Lifting the hold leaves it paused: a clinician resumes it."""
    documents.latest(session, programme)
    programme.safety_hold = hold
    if hold is not None and programme.status == "active":
        programmes.transition(session, actor, programme, "pause", None)
        return True
    documents.bump_revision(session, programme, programme.revision)
    documents.record_revision(session, actor, programme, "status")
    action = "programme.hold" if hold is not None else "programme.hold_lifted"
    audit.record(session, actor, action, "programme", programme.id, programme.patient_id)
    return False


def suspend_item(
    session: Session, actor: Actor, programme: Programme, item: ProgrammeItem, suspension: dict[str, Any]
) -> None:
    """Stop one exercise after a red session, as a new revision: not due, not progressed, until reinstated."""
    documents.latest(session, programme)
    documents.bump_revision(session, programme, programme.revision)
    item.suspension = suspension
    session.add(item)
    documents.supersede_pending(session, programme, [item.id])
    documents.record_revision(session, actor, programme, "regression")
    audit.record(session, actor, "programme.item_suspended", "programme", programme.id, programme.patient_id)


def reinstate_item(
    session: Session, actor: Actor, programme: Programme, item_id: uuid.UUID, note: str, if_match: int | None
) -> Programme:
    """A clinician reviewed a stopped exercise and lets the patient do it again."""
    if programme.status not in programmes.EDITABLE:
        raise Conflict(
            f"A {programme.status} programme can no longer be changed.", code=Code.PROGRAMME_CLOSED
        )
    item = documents.current_items(session, programme).get(item_id)
    if item is None:
        raise NotFound("No such item in this programme.")
    if item.suspension is None:
        raise Conflict("This exercise is not stopped.", code=Code.ITEM_NOT_SUSPENDED)
    documents.bump_revision(session, programme, programme.revision if if_match is None else if_match)
    item.suspension = None
    session.add(item)
    documents.supersede_pending(
        session, programme, [item.id]
    )  # e.g. the step back offered after the red session
    documents.record_revision(session, actor, programme, "edit")
    audit.record(
        session,
        actor,
        "programme.item_reinstated",
        "programme",
        programme.id,
        programme.patient_id,
        detail=note,
    )
    documents.emit_programme_event(session, programme, "programme.revised")
    return programme
