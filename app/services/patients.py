"""Patients of a clinic, including the EHR's idempotent upsert by its own identifier."""

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from app.db import utcnow
from app.errors import Code, Conflict, NotFound
from app.models.common import Actor, Page
from app.models.patient import Patient, PatientCreate, PatientUpdate, PatientUpsert
from app.models.webhook import EventType
from app.services import audit, events
from app.services.pagination import PageParams, paginate

EXTERNAL_ID_TAKEN = "Another patient in this clinic already has this external_id."


def _emit(session: Session, type: EventType, patient: Patient) -> None:
    # Identifiers only: the receiver reads the record through the API if it needs more.
    events.emit(
        session, patient.clinic_id, type, {"patient_id": patient.id, "external_id": patient.external_id}
    )


def _scoped(actor: Actor) -> SelectOfScalar[Patient]:
    return select(Patient).where(Patient.clinic_id == actor.clinic_id)


def list_patients(
    session: Session, actor: Actor, params: PageParams, external_id: str | None = None
) -> Page[Patient]:
    statement = _scoped(actor)
    if external_id is not None:
        statement = statement.where(Patient.external_id == external_id)
    page = paginate(session, statement, Patient.id, params)
    audit.record(session, actor, "patient.list", "patient")
    return page


def get_patient(session: Session, actor: Actor, patient_id: uuid.UUID) -> Patient:
    """Load a patient of the caller's clinic (a patient caller only themself), or raise NotFound."""
    statement = _scoped(actor).where(Patient.id == patient_id)
    if actor.kind == "patient" and actor.id != patient_id:
        raise NotFound("No such patient.")
    patient = session.exec(statement).first()
    if patient is None:
        raise NotFound("No such patient.")
    return patient


def read_patient(session: Session, actor: Actor, patient: Patient) -> Patient:
    audit.record(session, actor, "patient.read", "patient", patient.id, patient.id)
    return patient


def _insert(session: Session, patient: Patient) -> None:
    try:
        with session.begin_nested():
            session.add(patient)
    except IntegrityError as exc:
        raise Conflict(EXTERNAL_ID_TAKEN, code=Code.EXTERNAL_ID_TAKEN) from exc


def _external_id_taken(session: Session, actor: Actor, external_id: str, except_id: uuid.UUID | None) -> bool:
    statement = _scoped(actor).where(Patient.external_id == external_id)
    found = session.exec(statement).first()
    return found is not None and found.id != except_id


def create_patient(session: Session, actor: Actor, data: PatientCreate) -> Patient:
    if data.external_id and _external_id_taken(session, actor, data.external_id, None):
        raise Conflict(EXTERNAL_ID_TAKEN, code=Code.EXTERNAL_ID_TAKEN)
    patient = Patient(clinic_id=actor.clinic_id, **data.model_dump())
    _insert(session, patient)
    audit.record(session, actor, "patient.create", "patient", patient.id, patient.id)
    _emit(session, "patient.created", patient)
    return patient


def _apply(patient: Patient, changes: dict[str, Any]) -> bool:
    changed = False
    for field, value in changes.items():
        if getattr(patient, field) != value:
            setattr(patient, field, value)
            changed = True
    if changed:
        patient.updated_at = utcnow()
    return changed


def update_patient(session: Session, actor: Actor, patient: Patient, data: PatientUpdate) -> Patient:
    changes = data.model_dump(exclude_unset=True)
    for required in ("display_name", "timezone", "locale", "directional_preference"):
        if required in changes and changes[required] is None:
            changes.pop(required)
    new_external_id = changes.get("external_id")
    if new_external_id and _external_id_taken(session, actor, new_external_id, patient.id):
        raise Conflict(EXTERNAL_ID_TAKEN, code=Code.EXTERNAL_ID_TAKEN)
    changed = _apply(patient, changes)
    session.add(patient)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(EXTERNAL_ID_TAKEN, code=Code.EXTERNAL_ID_TAKEN) from exc
    audit.record(session, actor, "patient.update", "patient", patient.id, patient.id)
    if changed:
        _emit(session, "patient.updated", patient)
    return patient


def upsert_by_external_id(
    session: Session, actor: Actor, external_id: str, data: PatientUpsert
) -> tuple[Patient, bool]:
    """Create or update the patient with this EHR identifier; returns (patient, created)."""
    fields = data.model_dump(exclude_unset=True)
    existing = session.exec(_scoped(actor).where(Patient.external_id == external_id)).first()
    if existing is None:
        patient = Patient(clinic_id=actor.clinic_id, external_id=external_id, **data.model_dump())
        try:
            with session.begin_nested():
                session.add(patient)
        except IntegrityError:
            # A concurrent upsert created it first: fall through and update that row instead.
            existing = session.exec(_scoped(actor).where(Patient.external_id == external_id)).one()
        else:
            audit.record(session, actor, "patient.create", "patient", patient.id, patient.id)
            _emit(session, "patient.created", patient)
            return patient, True
    changed = _apply(existing, fields)
    session.add(existing)
    session.flush()
    audit.record(session, actor, "patient.update", "patient", existing.id, existing.id)
    if changed:
        _emit(session, "patient.updated", existing)
    return existing, False
