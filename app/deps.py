"""Dependency aliases: the database session, the caller, role checks, pagination and resource loaders."""

import hmac
import uuid
from collections.abc import Callable
from typing import Annotated, Concatenate

from fastapi import Depends, Header, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from app.config import Settings, get_settings
from app.db import P, R, get_session, in_db, new_session
from app.errors import Forbidden, Unauthorized
from app.models.common import Actor, QueryInt
from app.models.exercise import Exercise
from app.models.patient import Patient
from app.models.programme import Programme, Template
from app.models.progression import ProgressionSuggestion
from app.models.safety import SafetyAlert
from app.models.user import User
from app.models.webhook import Delivery, WebhookEndpoint
from app.services import (
    alerts,
    auth,
    exercises,
    patients,
    programmes,
    suggestions,
    templates,
    users,
    webhook_endpoints,
)
from app.services.pagination import PageParams


async def current_settings() -> Settings:
    """The settings, as a dependency (tests override this one). Async: a plain `def` dependency costs a
    trip through the thread pool on every request."""
    return get_settings()


# Every dependency below is async: those with no I/O run on the event loop, and those that touch the
# database make one trip to the thread pool through in_db. A plain `def` dependency would cost a trip
# each, the session's opening and closing one more each.
SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(current_settings)]

_bearer = HTTPBearer(
    auto_error=False,
    description="A staff or patient access token (JWT), or a clinic API key starting with `hep_`.",
)


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("Send an Authorization: Bearer header.", code="unauthorized")
    return credentials.credentials


async def _current_actor(session: SessionDep, settings: SettingsDep, credentials: Credentials) -> Actor:
    return await in_db(auth.authenticate, session, settings, _bearer_token(credentials))


CurrentActor = Annotated[Actor, Depends(_current_actor)]


async def _clinic_actor(actor: CurrentActor) -> Actor:
    """Clinic staff or the clinic's EHR (API key): everything but the patient app."""
    if actor.kind not in ("staff", "api_key"):
        raise Forbidden("This endpoint is for clinic staff and integrations.", code="staff_only")
    return actor


async def _clinician_actor(actor: CurrentActor) -> Actor:
    """A signed-in clinician, for the safety decisions an integration's API key may never make."""
    if actor.kind != "staff":
        raise Forbidden("Only a signed-in clinician can do this.", code="clinician_required")
    return actor


async def _staff_actor(actor: CurrentActor) -> Actor:
    if actor.kind != "staff":
        raise Forbidden("This endpoint is for signed-in clinic staff.", code="staff_only")
    return actor


def _require_patient(actor: Actor) -> Actor:
    if actor.kind != "patient":
        raise Forbidden("This endpoint is for the patient app.", code="patient_only")
    return actor


async def _patient_actor(actor: CurrentActor) -> Actor:
    return _require_patient(actor)


class PatientWork:
    """A patient-app request's database work, done in one trip: open a session, authenticate the caller,
    check it is a patient, run the service, commit once, close.

    The same checks as PatientActor, with one dependency instead of a chain of them (session, settings,
    actor, loader): the patient app's routes carry most of the traffic, and each dependency FastAPI
    solves, and each trip to a database thread, costs more than the queries. Who may call is settled
    before the body is read (see _patient_work); that the patient still exists, with the work.
    """

    __slots__ = ("settings", "token")

    def __init__(self, settings: Settings, token: str) -> None:
        self.settings, self.token = settings, token

    async def __call__(self, work: Callable[Concatenate[Session, Actor, P], R], *args: P.args) -> R:
        def unit() -> R:
            with new_session() as session:
                actor = _require_patient(auth.authenticate(session, self.settings, self.token))
                result = work(session, actor, *args)
                session.commit()
                return result

        return await in_db(unit)


def _check_not_patient(settings: Settings, token: str) -> None:
    with new_session() as session:
        _require_patient(auth.authenticate(session, settings, token))


async def _patient_work(settings: SettingsDep, credentials: Credentials) -> PatientWork:
    token = _bearer_token(credentials)
    # Who may call is settled before the request body is read, as with PatientActor: a patient token by
    # its verified claims here (the patient's row is checked with the work), anything else by the full
    # check, which answers 401 or 403 exactly as PatientActor would.
    if not auth.is_patient_token(settings, token):
        await in_db(_check_not_patient, settings, token)
    return PatientWork(settings, token)


def require_role(*roles: str):
    async def _check(actor: Annotated[Actor, Depends(_staff_actor)]) -> Actor:
        if actor.role not in roles:
            raise Forbidden(f"This needs the {' or '.join(roles)} role.", code="role_required")
        return actor

    return _check


async def _integration_actor(actor: Annotated[Actor, Depends(_clinic_actor)]) -> Actor:
    """A clinic admin or the clinic's EHR (API key): who may wire up and read integrations."""
    if actor.kind == "staff" and actor.role != "admin":
        raise Forbidden("This needs the admin role or an API key.", code="role_required")
    return actor


_metrics_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="MetricsToken",
    description="The operator's HEP_METRICS_TOKEN; /metrics is open when none is set.",
)


async def _metrics_reader(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_metrics_bearer)],
) -> None:
    """Anyone, unless HEP_METRICS_TOKEN is set: then only a bearer of that token (the Prometheus job)."""
    if not settings.metrics_token:
        return
    presented = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(presented.encode(), settings.metrics_token.encode()):
        raise Unauthorized("Send the metrics token as an Authorization: Bearer header.")


MetricsReader = Depends(_metrics_reader)
ClinicActor = Annotated[Actor, Depends(_clinic_actor)]
IntegrationActor = Annotated[Actor, Depends(_integration_actor)]
StaffActor = Annotated[Actor, Depends(_staff_actor)]
ClinicianActor = Annotated[Actor, Depends(_clinician_actor)]
AdminActor = Annotated[Actor, Depends(require_role("admin"))]
PatientActor = Annotated[Actor, Depends(_patient_actor)]
AsPatient = Annotated[PatientWork, Depends(_patient_work)]


async def _page_params(
    limit: Annotated[QueryInt | None, Query(description="Page size; clamped to 1–200.")] = None,
    cursor: Annotated[
        str | None, Query(max_length=64, description="next_cursor of the previous page")
    ] = None,
) -> PageParams:
    return PageParams.clamped(limit, cursor)


PageDep = Annotated[PageParams, Depends(_page_params)]


async def _locale(
    session: SessionDep,
    actor: ClinicActor,
    locale: Annotated[
        str | None,
        Query(description="Language of the text, e.g. `es`; wins over Accept-Language. Default English."),
    ] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> str:
    return await in_db(exercises.resolve_locale, session, actor, locale, accept_language)


LocaleDep = Annotated[str, Depends(_locale)]


async def _load_patient(patient_id: uuid.UUID, session: SessionDep, actor: ClinicActor) -> Patient:
    return await in_db(patients.get_patient, session, actor, patient_id)


async def _load_user(user_id: uuid.UUID, session: SessionDep, actor: AdminActor) -> User:
    return await in_db(users.get_user, session, actor, user_id)


async def _load_exercise(id_or_slug: str, session: SessionDep, actor: ClinicActor) -> Exercise:
    return await in_db(exercises.get_exercise, session, actor, id_or_slug)


async def _load_exercise_for_fhir(exercise_slug: str, session: SessionDep, actor: ClinicActor) -> Exercise:
    # FHIR ids are slugs, or the exercise id when a clinic's slug is too long for a FHIR id.
    return await in_db(exercises.get_exercise, session, actor, exercise_slug)


async def _load_webhook_endpoint(
    endpoint_id: uuid.UUID, session: SessionDep, actor: IntegrationActor
) -> WebhookEndpoint:
    return await in_db(webhook_endpoints.get_endpoint, session, actor, endpoint_id)


async def _load_delivery(delivery_id: uuid.UUID, session: SessionDep, actor: IntegrationActor) -> Delivery:
    return await in_db(webhook_endpoints.get_delivery, session, actor, delivery_id)


async def _load_programme(programme_id: uuid.UUID, session: SessionDep, actor: ClinicActor) -> Programme:
    return await in_db(programmes.get_programme, session, actor, programme_id)


async def _load_template(template_id: uuid.UUID, session: SessionDep, actor: ClinicActor) -> Template:
    return await in_db(templates.get_template, session, actor, template_id)


async def _load_alert(alert_id: uuid.UUID, session: SessionDep, actor: ClinicActor) -> SafetyAlert:
    return await in_db(alerts.get_alert, session, actor, alert_id)


async def _load_suggestion_to_decide(
    suggestion_id: uuid.UUID, session: SessionDep, actor: StaffActor
) -> ProgressionSuggestion:
    # Deciding is a clinician's act: the role is checked before the id is looked up.
    return await in_db(suggestions.get_suggestion, session, actor, suggestion_id)


PatientDep = Annotated[Patient, Depends(_load_patient)]
SuggestionToDecideDep = Annotated[ProgressionSuggestion, Depends(_load_suggestion_to_decide)]
AlertDep = Annotated[SafetyAlert, Depends(_load_alert)]
ProgrammeDep = Annotated[Programme, Depends(_load_programme)]
TemplateDep = Annotated[Template, Depends(_load_template)]
UserDep = Annotated[User, Depends(_load_user)]
ExerciseDep = Annotated[Exercise, Depends(_load_exercise)]
FhirExerciseDep = Annotated[Exercise, Depends(_load_exercise_for_fhir)]
WebhookEndpointDep = Annotated[WebhookEndpoint, Depends(_load_webhook_endpoint)]
DeliveryDep = Annotated[Delivery, Depends(_load_delivery)]
