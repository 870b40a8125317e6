"""The read-only FHIR view: programmes as CarePlans, exercises as ActivityDefinitions (see app/fhir.py)."""

import uuid
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from app import fhir
from app.models.catalogue_files import DEFAULT_LOCALE
from app.models.common import Actor, Page
from app.models.exercise import Exercise
from app.models.programme import Programme, ProgrammePublic
from app.services import audit, exercises, patients, programmes
from app.services.pagination import PageParams, paginate


def _care_plans(
    session: Session, actor: Actor, external_id: str | None, views: list[ProgrammePublic]
) -> list[dict[str, Any]]:
    used = {item.exercise_id for view in views for phase in view.phases for item in phase.items}
    owners = dict(
        session.exec(
            select(Exercise.id, Exercise.owner_clinic_id).where(
                col(Exercise.id).in_(used),
                or_(
                    col(Exercise.owner_clinic_id).is_(None), col(Exercise.owner_clinic_id) == actor.clinic_id
                ),
            )
        ).all()
    )
    return [
        fhir.care_plan(view, clinic_id=actor.clinic_id, external_id=external_id, exercise_owners=owners)
        for view in views
    ]


def read_care_plan(session: Session, actor: Actor, programme: Programme) -> dict[str, Any]:
    patient = patients.get_patient(session, actor, programme.patient_id)
    audit.record(session, actor, "programme.fhir.read", "programme", programme.id, programme.patient_id)
    return _care_plans(session, actor, patient.external_id, programmes.current_views(session, [programme]))[0]


def search_care_plans(
    session: Session, actor: Actor, patient_id: uuid.UUID, params: PageParams
) -> Page[dict[str, Any]]:
    """The patient's programmes, oldest first. An unknown patient, or another clinic's, matches nothing."""
    statement = programmes.scoped(actor).where(Programme.patient_id == patient_id)
    page = paginate(session, statement, Programme.id, params)
    audit.record(session, actor, "programme.fhir.search", "programme", patient_id=patient_id)
    if not page.items:
        return Page[dict[str, Any]](items=[], next_cursor=None)
    patient = patients.get_patient(session, actor, patient_id)
    views = programmes.current_views(session, list(page.items))
    return page.mapped(lambda _rows: _care_plans(session, actor, patient.external_id, views))


def read_activity_definition(session: Session, exercise: Exercise) -> dict[str, Any]:
    # Catalogue content, not patient data: no audit event.
    return fhir.activity_definition(exercise, exercises.present(session, exercise, DEFAULT_LOCALE))
