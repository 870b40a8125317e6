"""Templates and programmes: whole-document validation, the lifecycle, and immutable revisions.

Every change to a programme bumps its revision with a conditional UPDATE (`WHERE revision = expected`),
so of two edits made against the same revision exactly one wins and the other changes nothing.
"""

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import Row, bindparam, delete, or_, tuple_, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.db import utcnow
from app.errors import Conflict, Forbidden, InvalidInput, NotFound, PreconditionFailed
from app.models.clinic import Clinic
from app.models.common import Actor, Page
from app.models.exercise import Exercise
from app.models.patient import Patient
from app.models.programme import (
    CURRENT_STATUSES,
    ItemIn,
    PhaseIn,
    Programme,
    ProgrammeCreate,
    ProgrammeDocument,
    ProgrammeItem,
    ProgrammePhase,
    ProgrammePublic,
    ProgrammeRevision,
    ProgrammeStatus,
    ProgrammeSummary,
    RevisionPublic,
    RevisionReason,
    RevisionSummary,
    Template,
    TemplateIn,
    TemplatePublic,
    days_to_mask,
    mask_to_days,
)
from app.models.progression import ProgressionSuggestion
from app.models.webhook import EventType
from app.services import audit, events, exercises, holds, prescribing
from app.services.pagination import PageParams, paginate

# action → (statuses it may start from, status it leads to, the event it emits)
TRANSITIONS: dict[str, tuple[tuple[ProgrammeStatus, ...], ProgrammeStatus, EventType]] = {
    "activate": (("draft",), "active", "programme.activated"),
    "pause": (("active",), "paused", "programme.paused"),
    "resume": (("paused",), "active", "programme.activated"),
    "complete": (("active", "paused"), "completed", "programme.completed"),
    "cancel": (("draft", "active", "paused"), "cancelled", "programme.cancelled"),
}
EDITABLE: tuple[ProgrammeStatus, ...] = ("draft", "active", "paused")
DOSE_FIELDS = ("sets", "reps", "reps_max", "hold_s", "rest_s", "duration_s", "load", "side", "times_per_day")


# --- templates --------------------------------------------------------------------------------------


def _templates(actor: Actor):
    return select(Template).where(Template.clinic_id == actor.clinic_id)


def template_public(template: Template) -> TemplatePublic:
    return TemplatePublic.model_validate(template, from_attributes=True)


def list_templates(session: Session, actor: Actor, params: PageParams) -> Page[TemplatePublic]:
    page = paginate(session, _templates(actor), Template.id, params)
    return page.mapped(lambda rows: [template_public(t) for t in rows])


def get_template(session: Session, actor: Actor, template_id: uuid.UUID) -> Template:
    template = session.exec(_templates(actor).where(Template.id == template_id)).first()
    if template is None:
        raise NotFound("No such template in this clinic.")
    return template


def _template_phases(session: Session, actor: Actor, data: TemplateIn) -> list[dict[str, Any]]:
    # Templates hold no item ids: items get theirs when a programme is made from the template.
    _resolve_items(session, actor, data.phases, existing={})
    return [phase.model_dump(mode="json", exclude={"items": {"__all__": {"id"}}}) for phase in data.phases]


def create_template(session: Session, actor: Actor, data: TemplateIn) -> Template:
    template = Template(
        clinic_id=actor.clinic_id,
        name=data.name,
        description=data.description,
        phases=_template_phases(session, actor, data),
        created_by=actor.id,
    )
    session.add(template)
    session.flush()
    return template


def replace_template(session: Session, actor: Actor, template: Template, data: TemplateIn) -> Template:
    template.name, template.description = data.name, data.description
    template.phases = _template_phases(session, actor, data)
    template.updated_at = utcnow()
    session.add(template)
    session.flush()
    return template


def delete_template(session: Session, template: Template) -> None:
    session.delete(template)  # programmes made from it keep their copy; their template_id is set null
    session.flush()


# --- reading programmes ------------------------------------------------------------------------------


def scoped(actor: Actor):
    """Programmes the caller may see: the clinic's, or for a patient their own that are not drafts."""
    statement = select(Programme).where(Programme.clinic_id == actor.clinic_id)
    if actor.kind == "patient":
        statement = statement.where(Programme.patient_id == actor.id, Programme.status != "draft")
    return statement


# scoped() built once with bound parameters, for the statements that run on nearly every request (the
# patient app's reads, every session log): building a statement costs more than running it.
_COLUMNS = Programme.__table__.c  # type: ignore[attr-defined]
_CLINIC_SCOPE = (_COLUMNS.clinic_id == bindparam("clinic_id"),)
_PATIENT_SCOPE = (*_CLINIC_SCOPE, _COLUMNS.patient_id == bindparam("patient_id"), _COLUMNS.status != "draft")
_BY_ID = _COLUMNS.id == bindparam("programme_id")
# The patient app's own reads take only the columns its hot paths need.
_MINE = sa_select(
    _COLUMNS.id, _COLUMNS.clinic_id, _COLUMNS.revision, _COLUMNS.status, _COLUMNS.activated_at
).where(*_PATIENT_SCOPE)
_MINE_BY_ID = _MINE.where(_BY_ID)
_MINE_CURRENT = _MINE.where(_COLUMNS.status.in_(CURRENT_STATUSES))
_CLINIC_GET = select(Programme).where(*_CLINIC_SCOPE, _BY_ID)
_PATIENT_GET = select(Programme).where(*_PATIENT_SCOPE, _BY_ID)


def my_programme(session: Session, actor: Actor, programme_id: uuid.UUID) -> Row[Any]:
    """A patient's own programme (not a draft): id, clinic_id, revision, status and activated_at; NotFound
    otherwise."""
    row = (
        session.connection()
        .execute(
            _MINE_BY_ID, {"clinic_id": actor.clinic_id, "patient_id": actor.id, "programme_id": programme_id}
        )
        .first()
    )
    if row is None:
        raise NotFound("No such programme.")
    return row


def my_current_programme(session: Session, actor: Actor) -> Row[Any] | None:
    """A patient's current (active or paused) programme, as my_programme's columns, if there is one."""
    return (
        session.connection()
        .execute(_MINE_CURRENT, {"clinic_id": actor.clinic_id, "patient_id": actor.id})
        .first()
    )


def get_programme(session: Session, actor: Actor, programme_id: uuid.UUID) -> Programme:
    statement = _PATIENT_GET if actor.kind == "patient" else _CLINIC_GET
    params = {"clinic_id": actor.clinic_id, "programme_id": programme_id, "patient_id": actor.id}
    programme = session.execute(statement, params).scalars().first()
    if programme is None:
        raise NotFound("No such programme.")
    return programme


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


def latest_revision(session: Session, programme: Programme | Row[Any]) -> ProgrammeRevision:
    return session.exec(
        select(ProgrammeRevision).where(
            ProgrammeRevision.clinic_id == programme.clinic_id,
            ProgrammeRevision.programme_id == programme.id,
            ProgrammeRevision.number == programme.revision,
        )
    ).one()


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


def get_revision(session: Session, actor: Actor, programme: Programme, number: int) -> RevisionPublic:
    revision = session.exec(
        select(ProgrammeRevision).where(
            ProgrammeRevision.clinic_id == programme.clinic_id,
            ProgrammeRevision.programme_id == programme.id,
            ProgrammeRevision.number == number,
        )
    ).first()
    if revision is None:
        raise NotFound(f"Programme has no revision {number}.")
    audit.record(session, actor, "programme.revision.read", "programme", programme.id, programme.patient_id)
    return RevisionPublic.model_validate(
        {**revision.model_dump(), "programme": revision.snapshot["programme"]}
    )


# --- validating a document against the database ------------------------------------------------------


def _item_error(
    errors: list[dict[str, Any]], phase: int, item: int, field: str, message: str, kind: str
) -> None:
    errors.append({"loc": ["body", "phases", phase, "items", item, field], "message": message, "type": kind})


def _resolve_items(
    session: Session, actor: Actor, phases: list[PhaseIn], existing: dict[uuid.UUID, ProgrammeItem]
) -> dict[str, Exercise]:
    """Check every item against the clinic's exercises and the programme's items; raise all problems."""
    found = exercises.resolve_refs(
        session, actor, {item.exercise for phase in phases for item in phase.items}
    )
    errors: list[dict[str, Any]] = []
    for p, phase in enumerate(phases):
        for i, item in enumerate(phase.items):
            exercise = found.get(item.exercise)
            before = existing.get(item.id) if item.id is not None else None
            if item.id is not None and before is None:
                _item_error(
                    errors, p, i, "id", "This item id is not one of this programme's items.", "unknown_item"
                )
            if exercise is None:
                _item_error(errors, p, i, "exercise", "No such exercise in this clinic.", "unknown_exercise")
                continue
            unchanged = before is not None and before.exercise_id == exercise.id
            if exercise.archived_at is not None and not unchanged:
                _item_error(errors, p, i, "exercise", "This exercise is archived.", "exercise_archived")
            if exercise.side_required and item.side not in ("left", "right"):
                message = "Choose the leg for this exercise: side left or right."
                _item_error(errors, p, i, "side", message, "side_required")
            if exercise.requires_clinician_unlock:
                if not item.clinician_unlocked:
                    _item_error(
                        errors,
                        p,
                        i,
                        "clinician_unlocked",
                        "This exercise needs a clinician's explicit unlock (clinician_unlocked: true).",
                        "exercise_locked",
                    )
                elif actor.kind != "staff" and not (unchanged and before.clinician_unlocked):
                    _item_error(
                        errors,
                        p,
                        i,
                        "clinician_unlocked",
                        "Only a signed-in clinician can unlock this exercise.",
                        "unlock_needs_clinician",
                    )
    if errors:
        raise InvalidInput(
            "The programme has items that cannot be prescribed.", code="invalid_programme", errors=errors
        )
    return found


def _ensure_stopped_items_kept(
    actor: Actor, phases: list[PhaseIn], found: dict[str, Exercise], existing: dict[uuid.UUID, ProgrammeItem]
) -> None:
    """Only a clinician may remove, or change the exercise of, an item stopped after a red session."""
    if actor.kind == "staff":
        return
    kept = {item.id: found[item.exercise].id for phase in phases for item in phase.items if item.id}
    if any(row.suspension is not None and kept.get(row.id) != row.exercise_id for row in existing.values()):
        raise Forbidden(
            "Only a clinician can remove or replace an exercise stopped after a red session.",
            code="clinician_required",
        )


def _check_prescription(
    actor: Actor,
    patient: Patient,
    phases: list[PhaseIn],
    found: dict[str, Exercise],
    existing: dict[uuid.UUID, ProgrammeItem],
    reason: str | None,
) -> dict[tuple[int, int], dict[str, Any]]:
    """Contraindications against the patient's screening record (app.services.prescribing); returns the
    new overrides by (phase, item) position."""
    places, lines = [], []
    for p, phase in enumerate(phases):
        for i, item in enumerate(phase.items):
            exercise = found[item.exercise]
            before = existing.get(item.id) if item.id is not None else None
            standing = (
                before.contraindication_override if before and before.exercise_id == exercise.id else None
            )
            places.append((p, i))
            lines.append((["body", "phases", p, "items", i, "exercise"], exercise, standing))
    made = prescribing.check(actor, patient, lines, reason)
    return {places[index]: override for index, override in made.items()}


# --- writing programmes -------------------------------------------------------------------------------


def _current_items(session: Session, programme: Programme) -> dict[uuid.UUID, ProgrammeItem]:
    rows = session.exec(
        select(ProgrammeItem).where(
            ProgrammeItem.clinic_id == programme.clinic_id,
            ProgrammeItem.programme_id == programme.id,
            ProgrammeItem.removed_at.is_(None),
        )
    )
    return {row.id: row for row in rows}


def _write_structure(
    session: Session,
    programme: Programme,
    phases: list[PhaseIn],
    found: dict[str, Exercise],
    existing: dict[uuid.UUID, ProgrammeItem],
    by_clinician: bool = False,
    overrides: dict[tuple[int, int], dict[str, Any]] | None = None,
) -> None:
    """Make the phase and item rows match the document; items left out are marked removed, not deleted.
    A stopped item stays stopped unless a clinician gives it another exercise (that is their review)."""
    session.execute(
        delete(ProgrammePhase).where(
            ProgrammePhase.clinic_id == programme.clinic_id, ProgrammePhase.programme_id == programme.id
        )
    )
    kept: set[uuid.UUID] = set()
    for position, phase in enumerate(phases):
        session.add(
            ProgrammePhase(
                programme_id=programme.id,
                position=position,
                clinic_id=programme.clinic_id,
                name=phase.name,
                goal=phase.goal,
                **phase.advance_criteria.model_dump(),
            )
        )
        for item_position, item in enumerate(phase.items):
            row = existing.get(item.id) if item.id else None
            if row is None:
                row = ProgrammeItem(
                    clinic_id=programme.clinic_id,
                    programme_id=programme.id,
                    phase_position=0,
                    position=0,
                    exercise_id=found[item.exercise].id,
                )
            kept.add(row.id)
            before = (row.exercise_id, *(getattr(row, field) for field in DOSE_FIELDS))
            row.phase_position, row.position = position, item_position
            row.exercise_id = found[item.exercise].id
            if row.exercise_id != before[0]:
                row.contraindication_override = None  # an override is for one exercise
                if by_clinician:
                    row.suspension = None
            if overrides and (position, item_position) in overrides:
                row.contraindication_override = overrides[(position, item_position)]
            row.clinician_unlocked = item.clinician_unlocked
            for field in DOSE_FIELDS:
                setattr(row, field, getattr(item, field))
            if row.id not in existing or before != (row.exercise_id, *(getattr(row, f) for f in DOSE_FIELDS)):
                row.dose_revision = programme.revision
            row.days_mask = days_to_mask(item.days_of_week)
            row.notes = item.notes
            row.progression_rule = item.progression_rule.model_dump() if item.progression_rule else None
            session.add(row)
    now = utcnow()
    for item_id, row in existing.items():
        if item_id not in kept:
            row.removed_at = now
            session.add(row)
    session.flush()


def _snapshot(session: Session, programme: Programme) -> dict[str, Any]:
    """The whole programme after a change, plus every locale of every exercise it uses (for offline use)."""
    phases = session.exec(
        select(ProgrammePhase)
        .where(ProgrammePhase.clinic_id == programme.clinic_id, ProgrammePhase.programme_id == programme.id)
        .order_by(ProgrammePhase.position)
    ).all()
    items = session.exec(
        select(ProgrammeItem)
        .where(
            ProgrammeItem.clinic_id == programme.clinic_id,
            ProgrammeItem.programme_id == programme.id,
            ProgrammeItem.removed_at.is_(None),
        )
        .order_by(ProgrammeItem.phase_position, ProgrammeItem.position)
    ).all()
    used = session.exec(select(Exercise).where(Exercise.id.in_({item.exercise_id for item in items}))).all()
    rendered = exercises.present_every_locale(session, list(used))
    by_id = {exercise.id: exercise for exercise in used}

    def item_view(item: ProgrammeItem) -> dict[str, Any]:
        exercise = by_id[item.exercise_id]
        return {
            "id": item.id,
            "position": item.position,
            "exercise_id": exercise.id,
            "exercise_slug": exercise.slug,
            "exercise_name": rendered[exercise.id]["en"].name,
            "requires_clinician_unlock": exercise.requires_clinician_unlock,
            "clinician_unlocked": item.clinician_unlocked,
            **{field: getattr(item, field) for field in DOSE_FIELDS},
            "days_of_week": mask_to_days(item.days_mask),
            "notes": item.notes,
            "progression_rule": item.progression_rule,
            "suspension": item.suspension,
            "contraindication_override": item.contraindication_override,
        }

    view = ProgrammePublic.model_validate(
        {
            **programme.model_dump(),
            "phases": [
                {
                    "position": phase.position,
                    "name": phase.name,
                    "goal": phase.goal,
                    "advance_criteria": phase.model_dump(
                        include={"min_days", "min_sessions", "min_adherence_pct", "max_pain", "green_streak"}
                    ),
                    "items": [item_view(item) for item in items if item.phase_position == phase.position],
                }
                for phase in phases
            ],
        }
    )
    return {
        "programme": view.model_dump(mode="json"),
        "exercises": {
            str(exercise_id): {locale: public.model_dump(mode="json") for locale, public in by_locale.items()}
            for exercise_id, by_locale in rendered.items()
        },
    }


def _schedule(view: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": view["status"],
        "start_date": view["start_date"],
        "end_date": view["end_date"],
        "current_phase": view["current_phase"],
        "items": [
            {
                "id": item["id"],
                "phase": phase["position"],
                "times_per_day": item["times_per_day"],
                "days_of_week": item["days_of_week"],
            }
            for phase in view["phases"]
            for item in phase["items"]
            if item["suspension"] is None  # a stopped exercise is not due
        ],
    }


def emit_programme_event(session: Session, programme: Programme, event_type: EventType) -> None:
    # Ids, status and revision only: the EHR reads the content as FHIR or through the API.
    events.emit(
        session,
        programme.clinic_id,
        event_type,
        {
            "programme_id": programme.id,
            "patient_id": programme.patient_id,
            "status": programme.status,
            "revision": programme.revision,
        },
    )


def _bump_revision(session: Session, programme: Programme, expected: int) -> None:
    """Claim the next revision number, or fail with 412 if someone else changed the programme first."""
    claimed = session.execute(
        update(Programme)
        .where(Programme.id == programme.id, Programme.revision == expected)
        .values(revision=expected + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise PreconditionFailed(
            "The programme changed since the revision you sent; fetch it again and re-apply your change.",
            code="stale_revision",
        )
    programme.revision = expected + 1
    programme.updated_at = utcnow()


def _record_revision(session: Session, actor: Actor, programme: Programme, reason: RevisionReason) -> None:
    session.add(programme)
    session.flush()
    snapshot = _snapshot(session, programme)
    session.add(
        ProgrammeRevision(
            clinic_id=programme.clinic_id,
            programme_id=programme.id,
            number=programme.revision,
            reason=reason,
            author_kind=actor.kind,
            author_id=actor.id,
            snapshot=snapshot,
            schedule=_schedule(snapshot["programme"]),
        )
    )
    session.flush()


def _document_from_template(template: Template, data: ProgrammeCreate) -> list[PhaseIn]:
    phases = [PhaseIn.model_validate(phase) for phase in template.phases]
    errors: list[dict[str, Any]] = []
    for index, override in enumerate(data.item_overrides):
        if override.phase >= len(phases) or override.item >= len(phases[override.phase].items):
            errors.append(
                {
                    "loc": ["body", "item_overrides", index],
                    "message": "No such phase/item in the template.",
                    "type": "unknown_item",
                }
            )
            continue
        target = phases[override.phase].items[override.item]
        changes = override.model_dump(exclude_unset=True, exclude={"phase", "item"})
        try:
            phases[override.phase].items[override.item] = ItemIn.model_validate(
                {**target.model_dump(), **changes}
            )
        except ValueError as exc:
            errors.append(
                {"loc": ["body", "item_overrides", index], "message": str(exc), "type": "invalid_override"}
            )
    if errors:
        raise InvalidInput(
            "Some item overrides do not fit the template.", code="invalid_programme", errors=errors
        )
    return phases


def create_programme(session: Session, actor: Actor, patient: Patient, data: ProgrammeCreate) -> Programme:
    template = get_template(session, actor, data.template_id) if data.template_id else None
    phases = _document_from_template(template, data) if template else data.phases or []
    clinic = session.get(Clinic, actor.clinic_id)
    document = ProgrammeDocument(
        title=data.title or (template.name if template else ""),
        start_date=data.start_date,
        end_date=data.end_date,
        auto_progress=data.auto_progress or (clinic.auto_progress_default if clinic else "suggest"),
        phases=phases,
    )
    found = _resolve_items(session, actor, document.phases, existing={})
    overrides = _check_prescription(
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
    _write_structure(session, programme, document.phases, found, existing={}, overrides=overrides)
    _record_revision(session, actor, programme, "edit")
    audit.record(session, actor, "programme.create", "programme", programme.id, patient.id)
    _audit_overrides(session, actor, programme, overrides, data.override_contraindications)
    emit_programme_event(session, programme, "programme.created")
    return programme


def replace_programme(
    session: Session, actor: Actor, programme: Programme, document: ProgrammeDocument, if_match: int
) -> Programme:
    if programme.status not in EDITABLE:
        raise Conflict(f"A {programme.status} programme can no longer be edited.", code="programme_closed")
    existing = _current_items(session, programme)
    found = _resolve_items(session, actor, document.phases, existing)
    _ensure_stopped_items_kept(actor, document.phases, found, existing)
    patient = session.get(Patient, programme.patient_id)
    assert patient is not None  # the foreign key keeps it
    reason = document.override_contraindications
    overrides = _check_prescription(actor, patient, document.phases, found, existing, reason)
    _bump_revision(session, programme, if_match)
    programme.title, programme.start_date, programme.end_date = (
        document.title,
        document.start_date,
        document.end_date,
    )
    moved_on = document.current_phase != programme.current_phase
    programme.auto_progress, programme.current_phase = document.auto_progress, document.current_phase
    placed = {item_id: (row.phase_position, row.progression_rule) for item_id, row in existing.items()}
    _write_structure(session, programme, document.phases, found, existing, actor.kind == "staff", overrides)
    # Proposals for the items this edit changed, or for the phase, no longer stand; none do if it moved
    # the programme to another phase.
    touched = None if moved_on else _touched(programme, existing, placed)
    supersede_pending(session, programme, touched, phase=True)
    _record_revision(session, actor, programme, "edit")
    audit.record(session, actor, "programme.update", "programme", programme.id, programme.patient_id)
    _audit_overrides(session, actor, programme, overrides, reason)
    emit_programme_event(session, programme, "programme.revised")
    return programme


def transition(
    session: Session, actor: Actor, programme: Programme, action: str, if_match: int | None
) -> Programme:
    allowed_from, target, event_type = TRANSITIONS[action]
    if programme.status not in allowed_from:
        raise Conflict(
            f"Cannot {action} a {programme.status} programme (only from {', '.join(allowed_from)}).",
            code="invalid_transition",
        )
    if target == "active":
        holds.ensure_no_hold(session, actor, programme)
        _ensure_stopped_exercises_reviewed(session, actor, programme)
    elif target in ("completed", "cancelled"):
        holds.ensure_clinician_during_hold(session, actor, programme)
        programme.safety_hold = None  # a closed programme is not what the patient follows any more
    if target in CURRENT_STATUSES and programme.status not in CURRENT_STATUSES:
        _ensure_no_other_current(session, programme)
    _bump_revision(session, programme, programme.revision if if_match is None else if_match)
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
        supersede_pending(session, programme)
    _record_revision(session, actor, programme, "status")
    audit.record(session, actor, f"programme.{action}", "programme", programme.id, programme.patient_id)
    emit_programme_event(session, programme, event_type)
    return programme


def supersede_pending(
    session: Session, programme: Programme, item_ids: Collection[uuid.UUID] | None = None, phase: bool = False
) -> None:
    """Mark the pending progression suggestions a new revision made moot as superseded: the row is kept,
    decided by no one (the revision that caused it is audited). `item_ids` None: every pending suggestion
    of the programme; else those for these items and, with `phase`, a proposed phase advance."""
    which = []
    if item_ids is not None:
        chosen = [ProgressionSuggestion.item_id.in_(list(item_ids))] if item_ids else []
        if phase:
            chosen.append(ProgressionSuggestion.item_id.is_(None))
        if not chosen:
            return
        which.append(or_(*chosen))
    session.execute(
        update(ProgressionSuggestion)
        .where(
            ProgressionSuggestion.clinic_id == programme.clinic_id,
            ProgressionSuggestion.programme_id == programme.id,
            ProgressionSuggestion.status == "pending",
            *which,
        )
        .values(status="superseded", decided_at=utcnow(), decided_by=None)
    )


def _touched(
    programme: Programme, existing: dict[uuid.UUID, ProgrammeItem], placed: dict[uuid.UUID, tuple[int, Any]]
) -> list[uuid.UUID]:
    """The items an edit changed for the progression rules: exercise or dose (_write_structure gave them
    this revision as their dose_revision), progression rule or phase; or removed."""
    return [
        item_id
        for item_id, row in existing.items()
        if row.dose_revision == programme.revision
        or row.removed_at is not None
        or placed[item_id] != (row.phase_position, row.progression_rule)
    ]


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
    _bump_revision(session, programme, programme.revision if expected_revision is None else expected_revision)
    for field, value in changes.items():
        setattr(item, field, value)
    item.dose_revision = programme.revision
    session.add(item)
    supersede_pending(session, programme, [item.id])
    _record_revision(session, actor, programme, reason)
    audit.record(session, actor, f"programme.{reason}", "programme", programme.id, programme.patient_id)


def advance_phase(
    session: Session, actor: Actor, programme: Programme, to_phase: int, expected_revision: int | None = None
) -> None:
    _bump_revision(session, programme, programme.revision if expected_revision is None else expected_revision)
    programme.current_phase = to_phase
    programme.phase_started_at = utcnow()
    supersede_pending(session, programme)  # proposals for the finished phase's items, or its advance
    _record_revision(session, actor, programme, "progression")
    audit.record(session, actor, "programme.progression", "programme", programme.id, programme.patient_id)


def set_safety_hold(
    session: Session, actor: Actor, programme: Programme, hold: dict[str, Any] | None
) -> bool:
    """Show (or clear) a safety hold on the programme, as a new revision; an active programme is paused.
    Returns True if it was paused. Lifting the hold leaves it paused: a clinician resumes it."""
    _latest(session, programme)
    programme.safety_hold = hold
    if hold is not None and programme.status == "active":
        transition(session, actor, programme, "pause", None)
        return True
    _bump_revision(session, programme, programme.revision)
    _record_revision(session, actor, programme, "status")
    action = "programme.hold" if hold is not None else "programme.hold_lifted"
    audit.record(session, actor, action, "programme", programme.id, programme.patient_id)
    return False


def suspend_item(
    session: Session, actor: Actor, programme: Programme, item: ProgrammeItem, suspension: dict[str, Any]
) -> None:
    """Stop one exercise after a red session, as a new revision: not due, not progressed, until reinstated."""
    _latest(session, programme)
    _bump_revision(session, programme, programme.revision)
    item.suspension = suspension
    session.add(item)
    supersede_pending(session, programme, [item.id])
    _record_revision(session, actor, programme, "regression")
    audit.record(session, actor, "programme.item_suspended", "programme", programme.id, programme.patient_id)


def reinstate_item(
    session: Session, actor: Actor, programme: Programme, item_id: uuid.UUID, note: str, if_match: int | None
) -> Programme:
    """A clinician reviewed a stopped exercise and lets the patient do it again."""
    if programme.status not in EDITABLE:
        raise Conflict(f"A {programme.status} programme can no longer be changed.", code="programme_closed")
    item = _current_items(session, programme).get(item_id)
    if item is None:
        raise NotFound("No such item in this programme.")
    if item.suspension is None:
        raise Conflict("This exercise is not stopped.", code="item_not_suspended")
    _bump_revision(session, programme, programme.revision if if_match is None else if_match)
    item.suspension = None
    session.add(item)
    supersede_pending(session, programme, [item.id])  # e.g. the step back offered after the red session
    _record_revision(session, actor, programme, "edit")
    audit.record(
        session,
        actor,
        "programme.item_reinstated",
        "programme",
        programme.id,
        programme.patient_id,
        detail=note,
    )
    emit_programme_event(session, programme, "programme.revised")
    return programme


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


def _latest(session: Session, programme: Programme) -> None:
    """Changes the service makes on its own (a safety hold, a stopped exercise) apply to the programme as it
    is now, not as this request first read it: lock the row and read its revision again (on PostgreSQL;
    SQLite's writers are serialised already), so a concurrent edit cannot make them fail and lose an alert."""
    session.flush()
    session.refresh(programme, with_for_update=True)


def _ensure_stopped_exercises_reviewed(session: Session, actor: Actor, programme: Programme) -> None:
    """An exercise stopped after a red session comes back only through a clinician: an integration cannot
    activate a programme that gives the patient an exercise stopped in another of their programmes."""
    if actor.kind != "api_key":
        return
    stopped = session.exec(
        select(ProgrammeItem.exercise_id).where(
            ProgrammeItem.clinic_id == programme.clinic_id,
            ProgrammeItem.programme_id.in_(
                select(Programme.id).where(
                    Programme.clinic_id == programme.clinic_id, Programme.patient_id == programme.patient_id
                )
            ),
            ProgrammeItem.suspension.is_not(None),
        )
    ).all()
    if set(stopped) & {item.exercise_id for item in _current_items(session, programme).values()}:
        raise Forbidden(
            "An exercise in this programme was stopped after a red session: a clinician must review it.",
            code="clinician_required",
        )


def _already_current() -> Conflict:
    return Conflict(
        "The patient already has an active or paused programme; complete or cancel it first.",
        code="patient_has_current_programme",
    )


def _ensure_no_other_current(session: Session, programme: Programme) -> None:
    other = session.exec(
        select(Programme.id).where(
            Programme.clinic_id == programme.clinic_id,
            Programme.patient_id == programme.patient_id,
            Programme.status.in_(CURRENT_STATUSES),
            Programme.id != programme.id,
        )
    ).first()
    if other is not None:
        raise _already_current()
