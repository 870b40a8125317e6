"""Small factories: real rows through the services, tokens minted the way the service mints them."""

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlmodel import Session

from app.config import get_settings
from app.models.clinic import Clinic
from app.models.common import Actor
from app.models.exercise import Exercise, ExerciseCreate
from app.models.outcome import NprsAnswers, NprsOutcomeCreate
from app.models.patient import Patient, PatientCreate
from app.models.programme import Programme, Template
from app.models.programme_document import ItemDocument, PhaseDocument, ProgrammeCreate, TemplateCreate
from app.models.progression import ProgressionSuggestion
from app.models.safety import SafetyAlert
from app.models.user import User
from app.models.webhook import DeliveryPublic, WebhookEndpoint, WebhookEndpointCreate
from app.security import create_access_token
from app.services import (
    api_keys,
    clinics,
    exercises,
    outcomes,
    patients,
    programmes,
    reminders,
    safety,
    templates,
    users,
    webhook_endpoints,
)

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


def exercise_body(**fields) -> dict:
    """A valid POST /v1/exercises body for a clinic's own exercise; keyword arguments override fields."""
    slug = fields.pop("slug", f"own-{uuid.uuid4().hex[:10]}")
    body = {
        "slug": slug,
        "chain": "clinic-extras",
        "step": 1,
        "category": "strength",
        "body_region": "hip",
        "position": "supine",
        "equipment": ["mat"],
        "default_dose": {"sets": 2, "reps": 8, "times_per_day": 1, "days_per_week": 3},
        "requires_clinician_unlock": False,
        "indications": ["chronic_lbp"],
        "stop_rules": ["pain_above_5"],
        "text": {"en": {"name": f"Own {slug}", "summary": "A clinic's own exercise.", "steps": ["Do it."]}},
    }
    return body | fields


def make_exercise(session: Session, clinic: Clinic, **fields) -> Exercise:
    actor = Actor(kind="staff", id=uuid.UUID(int=0), clinic_id=clinic.id, role="physio")
    return exercises.create_exercise(session, actor, ExerciseCreate.model_validate(exercise_body(**fields)))


# Nothing listens on the discard port, so a dispatcher that picks up these deliveries fails fast and locally.
UNREACHABLE_URL = "http://127.0.0.1:9/hooks"


def make_webhook_endpoint(
    session: Session, clinic: Clinic, url: str = UNREACHABLE_URL, **fields
) -> WebhookEndpoint:
    actor = Actor(kind="system", id=uuid.UUID(int=0), clinic_id=clinic.id)
    data = WebhookEndpointCreate.model_validate({"url": url, **fields})
    return webhook_endpoints.create_endpoint(session, get_settings(), actor, data)


def make_test_delivery(session: Session, endpoint: WebhookEndpoint) -> DeliveryPublic:
    actor = Actor(kind="system", id=uuid.UUID(int=0), clinic_id=endpoint.clinic_id)
    return webhook_endpoints.send_test(session, actor, endpoint)


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


def make_programme(session: Session, patient: Patient, **fields) -> Programme:
    actor = Actor(kind="system", id=uuid.UUID(int=0), clinic_id=patient.clinic_id)
    data = ProgrammeCreate(
        title=fields.pop("title", "Factory programme"),
        start_date=fields.pop("start_date", date(2026, 11, 2)),
        phases=fields.pop("phases", None)
        or [PhaseDocument(name="Start", items=[ItemDocument(exercise="double-leg-bridge", sets=2, reps=10)])],
        **fields,
    )
    return programmes.create_programme(session, actor, patient, data)


def make_template(session: Session, clinic: Clinic) -> Template:
    actor = Actor(kind="system", id=uuid.UUID(int=0), clinic_id=clinic.id)
    data = TemplateCreate(
        name="Factory template",
        phases=[PhaseDocument(name="Start", items=[ItemDocument(exercise="cat-camel", reps=6)])],
    )
    return templates.create_template(session, actor, data)


def make_alert(session: Session, patient: Patient) -> SafetyAlert:
    actor = Actor(kind="system", id=uuid.UUID(int=0), clinic_id=patient.clinic_id)
    return safety.raise_alert(session, actor, patient.id, "routine", ["test"], [], "session_log")


def make_suggestion(session: Session, programme: Programme) -> ProgressionSuggestion:
    suggestion = ProgressionSuggestion(
        clinic_id=programme.clinic_id,
        programme_id=programme.id,
        patient_id=programme.patient_id,
        kind="phase",
        direction="progress",
        change={"phase_from": 0, "phase_to": 1},
        evidence=[],
        evidence_key=uuid.uuid4().hex,
        based_on_revision=programme.revision,
    )
    session.add(suggestion)
    session.flush()
    return suggestion


def make_resources(session: Session, tenant: Tenant) -> dict[str, str]:
    """One of each of a tenant's resources, by the path parameter name that addresses it.

    The route-table tests (the tenancy matrix, the schema fuzzer) fill every path with these; a route with
    a new path parameter fails them until it gets an entry here. The user and the API key are spares, not
    the tenant's callers, so that a test that deactivates or revokes them keeps its own credentials.
    """
    spare_user = make_user(session, tenant.clinic, "physio")
    spare_key, _ = api_keys.create_api_key(session, tenant.clinic.id, "spare", tenant.admin.id)
    own_exercise = make_exercise(session, tenant.clinic)  # the catalogue is shared, so use a clinic's own
    endpoint = make_webhook_endpoint(session, tenant.clinic)
    delivery = make_test_delivery(session, endpoint)
    programme = make_programme(session, tenant.patient)
    template = make_template(session, tenant.clinic)
    alert = make_alert(session, tenant.patient)
    suggestion = make_suggestion(session, programme)
    as_patient = Actor(kind="patient", id=tenant.patient.id, clinic_id=tenant.clinic.id)
    calendar_secret, _ = reminders.create_feed(session, as_patient)
    outcome = outcomes.record(
        session,
        as_patient,
        tenant.patient.id,
        NprsOutcomeCreate(instrument="nprs", answers=NprsAnswers(back=5)),
    )
    resources = {
        "patient_id": str(tenant.patient.id),
        "user_id": str(spare_user.id),
        "key_id": str(spare_key.id),
        "external_id": tenant.patient.external_id or "",
        "id_or_slug": str(own_exercise.id),
        "exercise_slug": own_exercise.slug,
        "endpoint_id": str(endpoint.id),
        "delivery_id": str(delivery.id),
        "programme_id": str(programme.id),
        "item_id": str(
            programmes.latest_revision(session, programme).snapshot["programme"]["phases"][0]["items"][0][
                "id"
            ]
        ),
        "template_id": str(template.id),
        "number": "1",
        "day": (date.today() - timedelta(days=1)).isoformat(),  # the next-morning answer for yesterday
        "alert_id": str(alert.id),
        "suggestion_id": str(suggestion.id),
        "secret": calendar_secret,
        "outcome_id": str(outcome.id),
        "questionnaire_id": "nprs",  # instrument forms ship with the service, the same for every clinic
    }
    session.commit()  # an open transaction would hold SQLite's write lock
    return resources
