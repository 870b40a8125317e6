"""Clinics (tenants) and the demo set-up that `make run` offers a newcomer."""

import secrets
from dataclasses import dataclass

from sqlmodel import Session, select

from app.config import Settings
from app.errors import Code, Conflict, NotFound
from app.models.clinic import Clinic
from app.models.common import Actor
from app.models.patient import Patient
from app.services import auth, users

DEMO_SLUG = "demo"


def create_clinic(session: Session, name: str, slug: str, timezone: str = "UTC") -> Clinic:
    if session.exec(select(Clinic.id).where(Clinic.slug == slug)).first() is not None:
        raise Conflict(f"A clinic with slug {slug!r} already exists.", code=Code.SLUG_TAKEN)
    clinic = Clinic(name=name, slug=slug, timezone=timezone)
    session.add(clinic)
    session.flush()
    return clinic


def get_clinic_by_slug(session: Session, slug: str) -> Clinic:
    clinic = session.exec(select(Clinic).where(Clinic.slug == slug)).first()
    if clinic is None:
        raise NotFound(f"No clinic with slug {slug!r}.")
    return clinic


@dataclass
class DemoCredentials:
    clinic: Clinic
    admin_email: str
    admin_password: str
    physio_email: str
    physio_password: str
    patient: Patient
    enrolment_code: str


def create_demo(session: Session, settings: Settings) -> DemoCredentials | None:
    """Create the demo clinic once; None when it exists already (its secrets were printed then)."""
    if session.exec(select(Clinic.id).where(Clinic.slug == DEMO_SLUG)).first() is not None:
        return None
    clinic = create_clinic(session, "Demo Physiotherapy", DEMO_SLUG, "Europe/London")
    admin_password, physio_password = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    admin = users.create_user(session, clinic.id, "admin@demo.example", "Demo Admin", "admin", admin_password)
    users.create_user(session, clinic.id, "physio@demo.example", "Demo Physio", "physio", physio_password)
    patient = Patient(
        clinic_id=clinic.id,
        external_id="DEMO-0001",
        display_name="Demo Patient",
        timezone="Europe/London",
        directional_preference="extension",
    )
    session.add(patient)
    session.flush()
    actor = Actor(kind="staff", id=admin.id, clinic_id=clinic.id, role="admin")
    code, _ = auth.issue_enrolment_code(session, settings, actor, patient)
    return DemoCredentials(
        clinic, admin.email, admin_password, "physio@demo.example", physio_password, patient, code
    )
