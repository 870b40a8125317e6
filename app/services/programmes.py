"""Programmes: reading them (for staff and for the patient app), creating and editing them as whole
documents, and their lifecycle. Checking and writing a document and recording its revision is in
app.services.programme_documents; changes to one item between edits in app.services.programme_changes.
"""

import uuid
from typing import Any

from sqlalchemy import bindparam, tuple_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app import store
from app.db import Db, utcnow
from app.errors import Code, Conflict, Forbidden, NotFound
from app.models.clinic import Clinic
from app.models.common import Actor, Page
from app.models.patient import Patient
from app.models.programme import (
    ItemFacts,
    Programme,
    ProgrammeFacts,
    ProgrammeItem,
    ProgrammePublic,
    ProgrammeRevision,
    ProgrammeSummary,
    RevisionPublic,
    RevisionSummary,
)
from app.models.programme_document import (
    CURRENT_STATUSES,
    ProgrammeCreate,
    ProgrammeDocument,
    ProgrammeStatus,
)
from app.models.webhook import EventType
from app.query import Record
from app.services import audit, holds, prescribing, templates
from app.services import programme_documents as documents
from app.services.pagination import PageParams, paginate

# action → (statuses it may start from, status it leads to, the event it emits)
TRANSITIONS: dict[str, tuple[tuple[ProgrammeStatus, ...], ProgrammeStatus, EventType]] = {
    "activate": (("draft",), "active", "programme.activated"),
    "pause": (("active",), "paused", "programme.paused"),
    "resume": (("paused",), "active", "programme.activated"),
    "complete": (("active", "paused"), "completed", "programme.completed"),
    "cancel": (("draft", "active", "paused"), "cancelled", "programme.cancelled"),
}


REVISION_MAX = 2**31 - 1

EDITABLE: tuple[ProgrammeStatus, ...] = ("draft", "active", "paused")


def scoped(actor: Actor) -> SelectOfScalar[Programme]:
    """Programmes the caller may see: the clinic's, or for a patient their own that are not drafts."""
    statement = select(Programme).where(Programme.clinic_id == actor.clinic_id)
    if actor.kind == "patient":
        statement = statement.where(Programme.patient_id == actor.id, Programme.status != "draft")
    return statement


# The staff side's single-programme reads, built once with bound parameters (app.store holds the patient
# app's own).
_COLUMNS = Programme.__table__.c  # type: ignore[attr-defined]
_BY_ID = _COLUMNS.id == bindparam("programme_id")
_CLINIC_GET = select(Programme).where(_COLUMNS.clinic_id == bindparam("clinic_id"), _BY_ID)
_PATIENT_GET = select(Programme).where(*store.PATIENT_SCOPE, _BY_ID)


def my_current_programme(db: Db, actor: Actor) -> Record | None:
    """A patient's current (active or paused) programme, id, clinic_id, revision, status, activated_at."""
    return store.my_current_programme(db, actor.clinic_id, actor.id)


def get_programme(session: Session, actor: Actor, programme_id: uuid.UUID) -> Programme:
    statement = _PATIENT_GET if actor.kind == "patient" else _CLINIC_GET
    params = {"clinic_id": actor.clinic_id, "programme_id": programme_id, "patient_id": actor.id}
    programme = session.exec(statement, params=params).first()
    if programme is None:
        raise NotFound("No such programme.")
    return programme


def attached_programme(session: Session, programme: ProgrammeFacts) -> Programme:
    """The ORM object of a programme a rule read as facts (a row of app.store, or the object already):
    what a rule that changes it works on, from the session's identity map or read once."""
    if isinstance(programme, Programme):
        return programme
    found = session.get(Programme, programme.id)
    if found is None:
        raise NotFound("No such programme.")
    return found


def attached(session: Session, programme: ProgrammeFacts, item: ItemFacts) -> tuple[Programme, ProgrammeItem]:
    """attached_programme, and its item's ORM object likewise."""
    found = item if isinstance(item, ProgrammeItem) else session.get(ProgrammeItem, item.id)
    if found is None:
        raise NotFound("No such programme item.")
    return attached_programme(session, programme), found


def list_programmes(
    session: Session,
    actor: Actor,
    params: PageParams,
    patient_id: uuid.UUID | None = None,
    status: ProgrammeStatus | None = None,
) -> Page[ProgrammeSummary]:
    statement = scoped(actor)
    if patient_id is not None:
        statement = statement.where(Programme.patient_id == patient_id)
    if status is not None:
        statement = statement.where(Programme.status == status)
    page = paginate(session, statement, Programme.id, params)
    audit.record(session, actor, "programme.list", "programme", patient_id=patient_id)
    return page.mapped(lambda rows: [ProgrammeSummary.model_validate(p, from_attributes=True) for p in rows])


def latest_revision(session: Session, programme: Programme | Record) -> ProgrammeRevision:
    return revision_by_number(session, programme, programme.revision)


def _view(programme: Programme, revision: ProgrammeRevision) -> ProgrammePublic:
    # Top-level fields come from the live row: a deleted template nulls template_id after the snapshot.
    live = ProgrammeSummary.model_validate(programme, from_attributes=True).model_dump()
    return ProgrammePublic.model_validate({**revision.snapshot["programme"], **live})


def read_programme(session: Session, actor: Actor, programme: Programme) -> ProgrammePublic:
    audit.record(session, actor, "programme.read", "programme", programme.id, programme.patient_id)
    return _view(programme, latest_revision(session, programme))


def current_views(session: Session, programmes: list[Programme]) -> list[ProgrammePublic]:
    """Whole programmes as of their current revisions, read in one query; the caller records the audit."""
    if not programmes:
        return []
    revisions = session.exec(
        select(ProgrammeRevision).where(
            ProgrammeRevision.clinic_id == programmes[0].clinic_id,
            tuple_(ProgrammeRevision.programme_id, ProgrammeRevision.number).in_(
                [(programme.id, programme.revision) for programme in programmes]
            ),
        )
    )
    by_programme = {revision.programme_id: revision for revision in revisions}
    return [_view(programme, by_programme[programme.id]) for programme in programmes]


def list_revisions(
    session: Session, actor: Actor, programme: Programme, params: PageParams
) -> Page[RevisionSummary]:
    statement = select(ProgrammeRevision).where(
        ProgrammeRevision.clinic_id == programme.clinic_id, ProgrammeRevision.programme_id == programme.id
    )
    page = paginate(session, statement, ProgrammeRevision.id, params)
    audit.record(session, actor, "programme.revisions", "programme", programme.id, programme.patient_id)
    return page.mapped(lambda rows: [RevisionSummary.model_validate(r, from_attributes=True) for r in rows])


def revision_by_number(session: Session, programme: Programme | Record, number: int) -> ProgrammeRevision:
    """One revision of the programme, or NotFound."""
    # Revisions count from 1 and are stored as 32-bit integers: a number outside names none, on any database
    # (PostgreSQL would refuse to compare it with the column).
    if not 1 <= number <= REVISION_MAX:
        raise NotFound(f"Programme has no revision {number}.")
    found = session.exec(
        select(ProgrammeRevision).where(
            ProgrammeRevision.clinic_id == programme.clinic_id,
            ProgrammeRevision.programme_id == programme.id,
            ProgrammeRevision.number == number,
        )
    ).first()
    if found is None:
        raise NotFound(f"Programme has no revision {number}.")
    return found


def get_revision(session: Session, actor: Actor, programme: Programme, number: int) -> RevisionPublic:
    found = revision_by_number(session, programme, number)
    audit.record(session, actor, "programme.revision.read", "programme", programme.id, programme.patient_id)
    return RevisionPublic.model_validate({**found.model_dump(), "programme": found.snapshot["programme"]})


def create_programme(session: Session, actor: Actor, patient: Patient, data: ProgrammeCreate) -> Programme:
    template = templates.get_template(session, actor, data.template_id) if data.template_id else None
    phases = documents.document_from_template(template, data) if template else data.phases or []
    clinic = session.get(Clinic, actor.clinic_id)
    document = ProgrammeDocument(
        title=data.title or (template.name if template else ""),
        start_date=data.start_date,
        end_date=data.end_date,
        auto_progress=data.auto_progress or (clinic.auto_progress_default if clinic else "suggest"),
        phases=phases,
    )
    found = documents.resolve_items(session, actor, document.phases, existing={})
    overrides = prescribing.check_prescription(
        actor, patient, document.phases, found, {}, data.override_contraindications
    )
    programme = Programme(
        clinic_id=actor.clinic_id,
        patient_id=patient.id,
        template_id=template.id if template else None,
        title=document.title,
        start_date=document.start_date,
        end_date=document.end_date,
        auto_progress=document.auto_progress,
        created_by=actor.id,
    )
    session.add(programme)
    session.flush()
    documents.write_structure(session, programme, document.phases, found, existing={}, overrides=overrides)
    documents.record_revision(session, actor, programme, "edit")
    audit.record(session, actor, "programme.create", "programme", programme.id, patient.id)
    _audit_overrides(session, actor, programme, overrides, data.override_contraindications)
    documents.emit_programme_event(session, programme, "programme.created")
    return programme


def replace_programme(
    session: Session, actor: Actor, programme: Programme, document: ProgrammeDocument, if_match: int
) -> Programme:
    if programme.status not in EDITABLE:
        raise Conflict(f"A {programme.status} programme can no longer be edited.", code=Code.PROGRAMME_CLOSED)
    existing = documents.current_items(session, programme)
    found = documents.resolve_items(session, actor, document.phases, existing)
    prescribing.ensure_stopped_items_kept(actor, document.phases, found, existing)
    patient = session.get(Patient, programme.patient_id)
    assert patient is not None  # the foreign key keeps it
    reason = document.override_contraindications
    overrides = prescribing.check_prescription(actor, patient, document.phases, found, existing, reason)
    documents.bump_revision(session, programme, if_match)
    programme.title, programme.start_date, programme.end_date = (
        document.title,
        document.start_date,
        document.end_date,
    )
    moved_on = document.current_phase != programme.current_phase
    programme.auto_progress, programme.current_phase = document.auto_progress, document.current_phase
    placed = {item_id: (row.phase_position, row.progression_rule) for item_id, row in existing.items()}
    documents.write_structure(
        session, programme, document.phases, found, existing, actor.kind == "staff", overrides
    )
    # Proposals for the items this edit changed, or for the phase, no longer stand; none do if it moved
    # the programme to another phase.
    touched = None if moved_on else documents.touched(programme, existing, placed)
    documents.supersede_pending(session, programme, touched, phase=True)
    documents.record_revision(session, actor, programme, "edit")
    audit.record(session, actor, "programme.update", "programme", programme.id, programme.patient_id)
    _audit_overrides(session, actor, programme, overrides, reason)
    documents.emit_programme_event(session, programme, "programme.revised")
    return programme


def transition(
    session: Session, actor: Actor, programme: Programme, action: str, if_match: int | None
) -> Programme:
    allowed_from, target, event_type = TRANSITIONS[action]
    if programme.status not in allowed_from:
        raise Conflict(
            f"Cannot {action} a {programme.status} programme (only from {', '.join(allowed_from)}).",
            code=Code.INVALID_TRANSITION,
        )
    if target == "active":
        holds.ensure_no_hold(session, actor, programme)
        _ensure_stopped_exercises_reviewed(session, actor, programme)
    elif target in ("completed", "cancelled"):
        holds.ensure_clinician_during_hold(session, actor, programme)
        programme.safety_hold = None  # a closed programme is not what the patient follows any more
    if target in CURRENT_STATUSES and programme.status not in CURRENT_STATUSES:
        _ensure_no_other_current(session, programme)
    documents.bump_revision(session, programme, programme.revision if if_match is None else if_match)
    if target == "active" and programme.status == "draft":
        programme.activated_at = utcnow()  # the first activation only: a resume keeps it
    programme.status = target
    if target == "active" and programme.phase_started_at is None:
        programme.phase_started_at = utcnow()
    try:
        with session.begin_nested():
            session.add(programme)
            session.flush()
    except IntegrityError as exc:  # a concurrent activation for the same patient won the unique index
        raise _already_current() from exc
    if target != "active":  # paused, completed or cancelled: nothing proposed before still stands
        documents.supersede_pending(session, programme)
    documents.record_revision(session, actor, programme, "status")
    audit.record(session, actor, f"programme.{action}", "programme", programme.id, programme.patient_id)
    documents.emit_programme_event(session, programme, event_type)
    return programme


def _ensure_stopped_exercises_reviewed(session: Session, actor: Actor, programme: Programme) -> None:
    """An exercise stopped after a red session comes back only through a clinician: an integration cannot
    activate a programme that gives the patient an exercise stopped in another of their programmes."""
    if actor.kind != "api_key":
        return
    stopped = session.exec(
        select(ProgrammeItem.exercise_id).where(
            ProgrammeItem.clinic_id == programme.clinic_id,
            col(ProgrammeItem.programme_id).in_(
                select(Programme.id).where(
                    Programme.clinic_id == programme.clinic_id, Programme.patient_id == programme.patient_id
                )
            ),
            col(ProgrammeItem.suspension).is_not(None),
        )
    ).all()
    if set(stopped) & {item.exercise_id for item in documents.current_items(session, programme).values()}:
        raise Forbidden(
            "An exercise in this programme was stopped after a red session: a clinician must review it.",
            code=Code.CLINICIAN_REQUIRED,
        )


def _already_current() -> Conflict:
    return Conflict(
        "The patient already has an active or paused programme; complete or cancel it first.",
        code=Code.PATIENT_HAS_CURRENT_PROGRAMME,
    )


def _ensure_no_other_current(session: Session, programme: Programme) -> None:
    other = session.exec(
        select(Programme.id).where(
            Programme.clinic_id == programme.clinic_id,
            Programme.patient_id == programme.patient_id,
            col(Programme.status).in_(CURRENT_STATUSES),
            Programme.id != programme.id,
        )
    ).first()
    if other is not None:
        raise _already_current()


def _audit_overrides(
    session: Session,
    actor: Actor,
    programme: Programme,
    overrides: dict[tuple[int, int], dict[str, Any]],
    reason: str | None,
) -> None:
    if overrides:
        audit.record(
            session,
            actor,
            "programme.contraindication_override",
            "programme",
            programme.id,
            programme.patient_id,
            detail=reason,
        )
