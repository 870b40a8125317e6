"""A programme as a document: checking it against the database, writing its rows, and recording revisions.

Every change to a programme bumps its revision with a conditional UPDATE (`WHERE revision = expected`),
so of two edits made against the same revision exactly one wins and the other changes nothing; the new
revision's immutable snapshot is what the patient app, FHIR and adherence read. Pending progression
suggestions that a revision makes moot are superseded here too.
"""

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import delete, or_, update
from sqlmodel import Session, col, select

from app.db import utcnow
from app.errors import Code, InvalidInput, PreconditionFailed
from app.models.common import Actor
from app.models.exercise import Exercise
from app.models.programme import (
    Programme,
    ProgrammeItem,
    ProgrammePhase,
    ProgrammePublic,
    ProgrammeRevision,
    Template,
    days_to_mask,
    mask_to_days,
)
from app.models.programme_document import (
    PRESCRIPTION_FIELDS,
    ItemDocument,
    PhaseDocument,
    ProgrammeCreate,
    RevisionReason,
)
from app.models.progression import ProgressionSuggestion
from app.models.webhook import EventType
from app.services import events, exercises


def _item_error(
    errors: list[dict[str, Any]], phase: int, item: int, field: str, message: str, kind: str
) -> None:
    errors.append({"loc": ["body", "phases", phase, "items", item, field], "message": message, "type": kind})


def resolve_items(
    session: Session, actor: Actor, phases: list[PhaseDocument], existing: dict[uuid.UUID, ProgrammeItem]
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
                elif actor.kind != "staff" and not (
                    unchanged and before is not None and before.clinician_unlocked
                ):
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
            "The programme has items that cannot be prescribed.", code=Code.INVALID_PROGRAMME, errors=errors
        )
    return found


def current_items(session: Session, programme: Programme) -> dict[uuid.UUID, ProgrammeItem]:
    rows = session.exec(
        select(ProgrammeItem).where(
            ProgrammeItem.clinic_id == programme.clinic_id,
            ProgrammeItem.programme_id == programme.id,
            col(ProgrammeItem.removed_at).is_(None),
        )
    )
    return {row.id: row for row in rows}


def write_structure(
    session: Session,
    programme: Programme,
    phases: list[PhaseDocument],
    found: dict[str, Exercise],
    existing: dict[uuid.UUID, ProgrammeItem],
    by_clinician: bool = False,
    overrides: dict[tuple[int, int], dict[str, Any]] | None = None,
) -> None:
    """Make the phase and item rows match the document; items left out are marked removed, not deleted.
    A stopped item stays stopped unless a clinician gives it another exercise (that is their review)."""
    session.execute(
        delete(ProgrammePhase).where(
            col(ProgrammePhase.clinic_id) == programme.clinic_id,
            col(ProgrammePhase.programme_id) == programme.id,
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
            before = (row.exercise_id, *(getattr(row, field) for field in PRESCRIPTION_FIELDS))
            row.phase_position, row.position = position, item_position
            row.exercise_id = found[item.exercise].id
            if row.exercise_id != before[0]:
                row.contraindication_override = None  # an override is for one exercise
                if by_clinician:
                    row.suspension = None
            if overrides and (position, item_position) in overrides:
                row.contraindication_override = overrides[(position, item_position)]
            row.clinician_unlocked = item.clinician_unlocked
            for field in PRESCRIPTION_FIELDS:
                setattr(row, field, getattr(item, field))
            if row.id not in existing or before != (
                row.exercise_id,
                *(getattr(row, f) for f in PRESCRIPTION_FIELDS),
            ):
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


def snapshot(session: Session, programme: Programme) -> dict[str, Any]:
    """The whole programme after a change, plus every locale of every exercise it uses (for offline use)."""
    phases = session.exec(
        select(ProgrammePhase)
        .where(ProgrammePhase.clinic_id == programme.clinic_id, ProgrammePhase.programme_id == programme.id)
        .order_by(col(ProgrammePhase.position))
    ).all()
    items = session.exec(
        select(ProgrammeItem)
        .where(
            ProgrammeItem.clinic_id == programme.clinic_id,
            ProgrammeItem.programme_id == programme.id,
            col(ProgrammeItem.removed_at).is_(None),
        )
        .order_by(col(ProgrammeItem.phase_position), col(ProgrammeItem.position))
    ).all()
    used = session.exec(
        select(Exercise).where(col(Exercise.id).in_({item.exercise_id for item in items}))
    ).all()
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
            **{field: getattr(item, field) for field in PRESCRIPTION_FIELDS},
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


def schedule(view: dict[str, Any]) -> dict[str, Any]:
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


def bump_revision(session: Session, programme: Programme, expected: int) -> None:
    """Claim the next revision number, or fail with 412 if someone else changed the programme first."""
    claimed = session.exec(
        update(Programme)
        .where(col(Programme.id) == programme.id, col(Programme.revision) == expected)
        .values(revision=expected + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise PreconditionFailed(
            "The programme changed since the revision you sent; fetch it again and re-apply your change.",
            code=Code.STALE_REVISION,
        )
    programme.revision = expected + 1
    programme.updated_at = utcnow()


def record_revision(session: Session, actor: Actor, programme: Programme, reason: RevisionReason) -> None:
    session.add(programme)
    session.flush()
    document = snapshot(session, programme)
    session.add(
        ProgrammeRevision(
            clinic_id=programme.clinic_id,
            programme_id=programme.id,
            number=programme.revision,
            reason=reason,
            author_kind=actor.kind,
            author_id=actor.id,
            snapshot=document,
            schedule=schedule(document["programme"]),
        )
    )
    session.flush()


def document_from_template(template: Template, data: ProgrammeCreate) -> list[PhaseDocument]:
    phases = [PhaseDocument.model_validate(phase) for phase in template.phases]
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
            phases[override.phase].items[override.item] = ItemDocument.model_validate(
                {**target.model_dump(), **changes}
            )
        except ValueError as exc:
            errors.append(
                {"loc": ["body", "item_overrides", index], "message": str(exc), "type": "invalid_override"}
            )
    if errors:
        raise InvalidInput(
            "Some item overrides do not fit the template.", code=Code.INVALID_PROGRAMME, errors=errors
        )
    return phases


def supersede_pending(
    session: Session, programme: Programme, item_ids: Collection[uuid.UUID] | None = None, phase: bool = False
) -> None:
    """Mark the pending progression suggestions a new revision made moot as superseded: the row is kept,
    decided by no one (the revision that caused it is audited). `item_ids` None: every pending suggestion
    of the programme; else those for these items and, with `phase`, a proposed phase advance."""
    which = []
    if item_ids is not None:
        chosen = [col(ProgressionSuggestion.item_id).in_(list(item_ids))] if item_ids else []
        if phase:
            chosen.append(col(ProgressionSuggestion.item_id).is_(None))
        if not chosen:
            return
        which.append(or_(*chosen))
    session.execute(
        update(ProgressionSuggestion)
        .where(
            col(ProgressionSuggestion.clinic_id) == programme.clinic_id,
            col(ProgressionSuggestion.programme_id) == programme.id,
            col(ProgressionSuggestion.status) == "pending",
            *which,
        )
        .values(status="superseded", decided_at=utcnow(), decided_by=None)
    )


def touched(
    programme: Programme, existing: dict[uuid.UUID, ProgrammeItem], placed: dict[uuid.UUID, tuple[int, Any]]
) -> list[uuid.UUID]:
    """The items an edit changed for the progression rules: exercise or dose (write_structure gave them
    this revision as their dose_revision), progression rule or phase; or removed."""
    return [
        item_id
        for item_id, row in existing.items()
        if row.dose_revision == programme.revision
        or row.removed_at is not None
        or placed[item_id] != (row.phase_position, row.progression_rule)
    ]


def latest(session: Session, programme: Programme) -> None:
    """Changes the service makes on its own (a safety hold, a stopped exercise) apply to the programme as it
    is now, not as this request first read it: lock the row and read its revision again (on PostgreSQL;
    SQLite's writers are serialised already), so a concurrent edit cannot make them fail and lose an alert."""
    session.flush()
    session.refresh(programme, with_for_update=True)
