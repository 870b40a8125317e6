"""The read-only FHIR view: programmes as CarePlans, exercises as ActivityDefinitions, patients as Patients
(see app/fhir.py). Every read of patient data is audited."""

import uuid
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from app import fhir
from app.fhir import Canonicals
from app.models.catalogue_files import DEFAULT_LOCALE
from app.models.common import Actor, Page
from app.models.exercise import Exercise
from app.models.programme import Programme, ProgrammePublic
from app.services import audit, exercises, patients, programmes
from app.services.pagination import PageParams, paginate


def _care_plans(
    session: Session, actor: Actor, urls: Canonicals, external_id: str | None, views: list[ProgrammePublic]
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
        fhir.care_plan(
            view, urls=urls, clinic_id=actor.clinic_id, external_id=external_id, exercise_owners=owners
        )
        for view in views
    ]


def read_patient(session: Session, actor: Actor, urls: Canonicals, patient_id: uuid.UUID) -> dict[str, Any]:
    patient = patients.get_patient(session, actor, patient_id)
    audit.record(session, actor, "patient.fhir.read", "patient", patient.id, patient.id)
    return fhir.patient(patient, urls)


def read_care_plan(session: Session, actor: Actor, urls: Canonicals, programme: Programme) -> dict[str, Any]:
    patient = patients.get_patient(session, actor, programme.patient_id)
    audit.record(session, actor, "programme.fhir.read", "programme", programme.id, programme.patient_id)
    views = programmes.current_views(session, [programme])
    return _care_plans(session, actor, urls, patient.external_id, views)[0]


def search_care_plans(
    session: Session, actor: Actor, urls: Canonicals, patient_id: uuid.UUID, params: PageParams
) -> tuple[Page[dict[str, Any]], int]:
    """One page of the patient's programmes, oldest first, and how many match in all. An unknown patient,
    or another clinic's, matches nothing."""
    statement = programmes.scoped(actor).where(Programme.patient_id == patient_id)
    page = paginate(session, statement, Programme.id, params)
    audit.record(session, actor, "programme.fhir.search", "programme", patient_id=patient_id)
    if not page.items:
        return Page[dict[str, Any]](items=[], next_cursor=None), 0
    total = session.exec(select(func.count()).select_from(statement.subquery())).one()
    patient = patients.get_patient(session, actor, patient_id)
    views = programmes.current_views(session, list(page.items))
    return page.mapped(lambda _rows: _care_plans(session, actor, urls, patient.external_id, views)), total


def read_activity_definition(session: Session, exercise: Exercise, urls: Canonicals) -> dict[str, Any]:
    # Catalogue content, not patient data: no audit event.
    text = exercises.present(session, exercise, DEFAULT_LOCALE)
    return fhir.activity_definition(exercise, text, urls)
