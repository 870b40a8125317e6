"""The read-only FHIR view: programmes as CarePlans, exercises as ActivityDefinitions, patients as Patients
(see app/fhir.py), outcome responses as QuestionnaireResponses and their scores as Observations (see
app/fhir_outcomes.py). Every read of patient data is audited."""

import uuid
from typing import Any, Literal

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from app import fhir, fhir_outcomes
from app.errors import NotFound
from app.fhir import Canonicals
from app.models.catalogue_files import DEFAULT_LOCALE
from app.models.common import Actor, Page
from app.models.exercise import Exercise
from app.models.outcome import OutcomeResponse
from app.models.programme import Programme, ProgrammePublic
from app.services import audit, exercises, outcomes, patients, programmes
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


def _count(session: Session, statement: Any) -> int:
    """How many rows a search matches in all (Bundle.total), not only this page's."""
    return session.exec(select(func.count()).select_from(statement.subquery())).one()


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
    total = _count(session, statement)
    patient = patients.get_patient(session, actor, patient_id)
    views = programmes.current_views(session, list(page.items))
    return page.mapped(lambda _rows: _care_plans(session, actor, urls, patient.external_id, views)), total


def read_activity_definition(session: Session, exercise: Exercise, urls: Canonicals) -> dict[str, Any]:
    # Catalogue content, not patient data: no audit event.
    text = exercises.present(session, exercise, DEFAULT_LOCALE)
    return fhir.activity_definition(exercise, text, urls)


# What the service calls an outcome response's FHIR forms in its audit trail.
OutcomeKind = Literal["QuestionnaireResponse", "Observation"]
_AUDITED_AS: dict[str, str] = {"QuestionnaireResponse": "outcome", "Observation": "outcome_score"}


def read_outcome(
    session: Session, actor: Actor, urls: Canonicals, kind: OutcomeKind, outcome_id: uuid.UUID
) -> dict[str, Any]:
    """One outcome response as a QuestionnaireResponse, or its scores as an Observation."""
    row = outcomes.get_outcome(session, actor, outcome_id)
    audit.record(session, actor, f"{_AUDITED_AS[kind]}.fhir.read", "outcome", row.id, row.patient_id)
    return fhir_outcomes.resources([row], kind, urls)[0]


def search_outcomes(
    session: Session,
    actor: Actor,
    urls: Canonicals,
    kind: OutcomeKind,
    patient_id: uuid.UUID,
    params: PageParams,
    code: str | None = None,
) -> tuple[Page[dict[str, Any]], int]:
    """One page of the patient's responses (those whose Observation has the `code` token, when given),
    oldest first, and how many match in all. An unknown patient, or another clinic's, matches nothing."""
    instruments = None if code is None else fhir_outcomes.instruments_with_code(urls, code)
    statement = outcomes.of_patient(actor, patient_id, instruments)
    page = paginate(session, statement, OutcomeResponse.id, params, time_column=OutcomeResponse.taken_at)
    audit.record(session, actor, f"{_AUDITED_AS[kind]}.fhir.search", "outcome", patient_id=patient_id)
    if not page.items:
        return Page[dict[str, Any]](items=[], next_cursor=None), 0
    total = _count(session, statement)
    return page.mapped(lambda rows: fhir_outcomes.resources(rows, kind, urls)), total


def read_questionnaire(urls: Canonicals, questionnaire_id: str) -> dict[str, Any]:
    # Instrument text, not patient data: no audit event. Licensed instruments are not shipped.
    resource = fhir_outcomes.questionnaire(questionnaire_id, urls)
    if resource is None:
        raise NotFound("No such questionnaire: only instruments whose text is free to ship are served.")
    return resource
