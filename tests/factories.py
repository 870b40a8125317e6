"""Small factories: real rows through the services, tokens minted the way the service mints them."""

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlmodel import Session

from app.config import get_settings
from app.models.clinic import Clinic
from app.models.common import Actor
from app.models.patient import Patient, PatientCreate
from app.models.user import User
from app.security import create_access_token
from app.services import api_keys, clinics, patients, users

PASSWORD = "correct horse battery"


def make_clinic(session: Session, name: str = "Clinic") -> Clinic:
    return clinics.create_clinic(session, name, f"c-{uuid.uuid4().hex[:12]}")


def make_user(session: Session, clinic: Clinic, role: str = "physio", email: str | None = None) -> User:
    email = email or f"{role}-{uuid.uuid4().hex[:10]}@example.org"
    return users.create_user(session, clinic.id, email, f"{role.title()} User", role, PASSWORD)  # type: ignore[arg-type]


def make_patient(session: Session, clinic: Clinic, **fields) -> Patient:
    actor = Actor(kind="system", id=uuid.UUID(int=0), clinic_id=clinic.id)
    data = PatientCreate(display_name=fields.pop("display_name", "Pat Example"), **fields)
    return patients.create_patient(session, actor, data)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def staff_headers(user: User) -> dict[str, str]:
    settings = get_settings()
    token = create_access_token(
        settings.secret_key,
        kind="staff",
        subject=user.id,
        clinic_id=user.clinic_id,
        role=user.role,
        lifetime=timedelta(minutes=settings.access_token_minutes),
    )
    return bearer(token)


def patient_headers(patient: Patient) -> dict[str, str]:
    settings = get_settings()
    token = create_access_token(
        settings.secret_key,
        kind="patient",
        subject=patient.id,
        clinic_id=patient.clinic_id,
        lifetime=timedelta(minutes=settings.patient_access_token_minutes),
    )
    return bearer(token)


@dataclass
class Tenant:
    clinic: Clinic
    admin: User
    physio: User
    patient: Patient
    api_key: str
    headers: dict[str, dict[str, str]] = field(default_factory=dict)


def make_tenant(session: Session) -> Tenant:
    clinic = make_clinic(session)
    admin = make_user(session, clinic, "admin")
    physio = make_user(session, clinic, "physio")
    patient = make_patient(session, clinic, external_id=f"MRN-{uuid.uuid4().hex[:8]}")
    _, key = api_keys.create_api_key(session, clinic.id, "EHR", admin.id)
    tenant = Tenant(clinic, admin, physio, patient, key)
    tenant.headers = {
        "admin": staff_headers(admin),
        "physio": staff_headers(physio),
        "patient": patient_headers(patient),
        "api_key": bearer(key),
    }
    return tenant


@dataclass
class World:
    a: Tenant
    b: Tenant


def make_world(session: Session) -> World:
    world = World(make_tenant(session), make_tenant(session))
    session.commit()
    return world
