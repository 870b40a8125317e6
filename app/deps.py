"""Dependency aliases: the database session, the caller, role checks, pagination and resource loaders.

Every route runs in the request's unit of work (app.routing): SessionDep is its session. Dependencies with
no I/O are async and run on the event loop; those that read the database are plain `def` (FastAPI runs
each in the thread pool, in the same unit). The patient app's caller needs no hop of its own: its token is
checked here, its row at the start of the route's hop (a Deferred value).

A caller check is one dependency that reads its header from the request: FastAPI solves every dependency
node on every request (about 30 function calls each in FastAPI 0.165), and a check built from a bearer
scheme, the settings and the session took four nodes for what one does (docs/performance.md).
"""

import hmac
import uuid
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlmodel import Session

from app.config import Settings, get_settings
from app.errors import Code, Forbidden, Unauthorized
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
    patient_app,
    patients,
    programmes,
    suggestions,
    templates,
    users,
    webhook_endpoints,
)
from app.services.pagination import PageParams
from app.services.patient_app import PatientRead
from app.unit_of_work import Deferred, current_unit


async def current_settings() -> Settings:
    """The settings, as a dependency of the routes that read them (tests override it there). The caller
    checks read get_settings() themselves: one dependency node each (see the module)."""
    return get_settings()


async def request_session() -> Session:
    """The request's unit of work's session (made at first use; no I/O until its first statement)."""
    return current_unit().session


SessionDep = Annotated[Session, Depends(request_session)]
SettingsDep = Annotated[Settings, Depends(current_settings)]


def _bearer_credential(request: Request) -> str | None:
    """The bearer credential of the Authorization header (RFC 6750), if one is sent. Read here rather than
    by a security dependency of its own: each dependency is a node FastAPI solves on every request, and a
    caller check is on every request's path. The document states the schemes (CALLER_SCHEMES)."""
    scheme, credential = get_authorization_scheme_param(request.headers.get("authorization"))
    return credential if scheme.lower() == "bearer" and credential else None


def _bearer_token(request: Request) -> str:
    credential = _bearer_credential(request)
    if credential is None:
        raise Unauthorized("Send an Authorization: Bearer header.", code=Code.UNAUTHORIZED)
    return credential


def _current_actor(request: Request) -> Actor:
    return auth.authenticate(current_unit().session, get_settings(), _bearer_token(request))


CurrentActor = Annotated[Actor, Depends(_current_actor)]


def _optional_actor(request: Request) -> Actor | None:
    """The caller if a bearer token is sent (checked as on any route), else None: for the public media."""
    credential = _bearer_credential(request)
    if credential is None:
        return None
    return auth.authenticate(current_unit().session, get_settings(), credential)


OptionalActor = Annotated[Actor | None, Depends(_optional_actor)]


async def _clinic_actor(actor: CurrentActor) -> Actor:
    """Clinic staff or the clinic's EHR (API key): everything but the patient app."""
    if actor.kind not in ("staff", "api_key"):
        raise Forbidden("This endpoint is for clinic staff and integrations.", code=Code.STAFF_ONLY)
    return actor


async def _clinician_actor(actor: CurrentActor) -> Actor:
    """A signed-in clinician, for the safety decisions an integration's API key may never make."""
    if actor.kind != "staff":
        raise Forbidden("Only a signed-in clinician can do this.", code=Code.CLINICIAN_REQUIRED)
    return actor


async def _staff_actor(actor: CurrentActor) -> Actor:
    if actor.kind != "staff":
        raise Forbidden("This endpoint is for signed-in clinic staff.", code=Code.STAFF_ONLY)
    return actor


def _require_patient(actor: Actor) -> Actor:
    if actor.kind != "patient":
        raise Forbidden("This endpoint is for the patient app.", code=Code.PATIENT_ONLY)
    return actor


def _refuse_non_patient(settings: Settings, token: str) -> None:
    """A credential that is not a patient token: 401 if it is not valid, else 403 (another kind of
    caller), as on any route."""
    with Session(bind=current_unit().connection) as session:
        _require_patient(auth.authenticate(session, settings, token))


async def _patient_token_claims(request: Request) -> tuple[uuid.UUID, uuid.UUID, int]:
    settings, token = get_settings(), _bearer_token(request)
    # Who may call is settled before the body is read: a patient token by its verified claims here (its
    # row is checked on the route's own connection just before the route's work), anything else by the
    # full check, which answers 401 or 403.
    claims = auth.patient_claims(settings, token)
    if claims is None:
        await run_in_threadpool(_refuse_non_patient, settings, token)
        raise AssertionError("a credential that is not a patient token is refused")  # pragma: no cover
    return claims


async def _patient_actor(request: Request) -> Deferred[Actor]:
    return Deferred(auth.patient_actor, *await _patient_token_claims(request))


# The patient app's programme reads: the caller check and the programme the route reads in one statement
# (patient_app.caller_with_programme), as the staff side's loaders below load what a route names. The
# token's claims are a dependency of their own so that, as on every route, the caller is settled (401,
# 403) before the path is validated (422).
PatientClaims = Annotated[tuple[uuid.UUID, uuid.UUID, int], Depends(_patient_token_claims)]


async def _my_programme(programme_id: uuid.UUID, claims: PatientClaims) -> Deferred[PatientRead]:
    return Deferred(patient_app.caller_with_programme, programme_id, *claims)


async def _my_current_programme(claims: PatientClaims) -> Deferred[PatientRead]:
    return Deferred(patient_app.caller_with_programme, None, *claims)


# If-None-Match of the programme read, read from the request rather than declared as a header parameter:
# FastAPI extracts and validates a declared one on every request, about 35 µs of a 304's 450 on SQLite
# (docs/performance.md, sixth round), as the caller checks read Authorization. The document declares it
# all the same, as FastAPI would have.
IF_NONE_MATCH: dict[str, Any] = {
    "parameters": [
        {
            "name": "if-none-match",
            "in": "header",
            "required": False,
            "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "If-None-Match"},
        }
    ]
}


def if_none_match(request: Request) -> str | None:
    return request.headers.get("if-none-match")


def require_role(*roles: str):
    async def _check(actor: Annotated[Actor, Depends(_staff_actor)]) -> Actor:
        if actor.role not in roles:
            raise Forbidden(f"This needs the {' or '.join(roles)} role.", code=Code.ROLE_REQUIRED)
        return actor

    return _check


async def _integration_actor(actor: Annotated[Actor, Depends(_clinic_actor)]) -> Actor:
    """A clinic admin or the clinic's EHR (API key): who may wire up and read integrations."""
    if actor.kind == "staff" and actor.role != "admin":
        raise Forbidden("This needs the admin role or an API key.", code=Code.ROLE_REQUIRED)
    return actor


_metrics_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="metricsToken",
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
# The route receives the Actor: the unit of work computes the Deferred value in the route's hop.
PatientActor = Annotated[Actor, Depends(_patient_actor)]
MyProgrammeRead = Annotated[PatientRead, Depends(_my_programme)]
MyCurrentProgrammeRead = Annotated[PatientRead, Depends(_my_current_programme)]

# Who may call, as the OpenAPI document states it (app/openapi.py): the security schemes each caller check
# accepts. A route's schemes are those every caller check on its way accepts.
STAFF, PATIENT, EHR = "staffOAuth2", "patientBearer", "ehrApiKey"
CALLER_SCHEMES: dict[object, frozenset[str]] = {
    _current_actor: frozenset({STAFF, PATIENT, EHR}),
    _clinic_actor: frozenset({STAFF, EHR}),
    _integration_actor: frozenset({STAFF, EHR}),
    _staff_actor: frozenset({STAFF}),
    _clinician_actor: frozenset({STAFF}),
    _patient_actor: frozenset({PATIENT}),
    _my_programme: frozenset({PATIENT}),
    _my_current_programme: frozenset({PATIENT}),
    _metrics_reader: frozenset({"metricsToken"}),
}


async def _page_params(
    limit: Annotated[QueryInt | None, Query(description="Page size; clamped to 1–200.")] = None,
    cursor: Annotated[
        str | None, Query(max_length=64, description="next_cursor of the previous page")
    ] = None,
) -> PageParams:
    return PageParams.clamped(limit, cursor)


PageDep = Annotated[PageParams, Depends(_page_params)]


def _locale(
    session: SessionDep,
    actor: ClinicActor,
    locale: Annotated[
        str | None,
        Query(description="Language of the text, e.g. `es`; wins over Accept-Language. Default English."),
    ] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> str:
    return exercises.resolve_locale(session, actor, locale, accept_language)


LocaleDep = Annotated[str, Depends(_locale)]


def _load_patient(patient_id: uuid.UUID, session: SessionDep, actor: ClinicActor) -> Patient:
    return patients.get_patient(session, actor, patient_id)


def _load_user(user_id: uuid.UUID, session: SessionDep, actor: AdminActor) -> User:
    return users.get_user(session, actor, user_id)


def _load_exercise(id_or_slug: str, session: SessionDep, actor: ClinicActor) -> Exercise:
    return exercises.get_exercise(session, actor, id_or_slug)


def _load_exercise_for_fhir(exercise_slug: str, session: SessionDep, actor: ClinicActor) -> Exercise:
    # FHIR ids are slugs, or the exercise id when a clinic's slug is too long for a FHIR id.
    return exercises.get_exercise(session, actor, exercise_slug)


def _load_webhook_endpoint(
    endpoint_id: uuid.UUID, session: SessionDep, actor: IntegrationActor
) -> WebhookEndpoint:
    return webhook_endpoints.get_endpoint(session, actor, endpoint_id)


def _load_delivery(delivery_id: uuid.UUID, session: SessionDep, actor: IntegrationActor) -> Delivery:
    return webhook_endpoints.get_delivery(session, actor, delivery_id)


def _load_programme(programme_id: uuid.UUID, session: SessionDep, actor: ClinicActor) -> Programme:
    return programmes.get_programme(session, actor, programme_id)


def _load_template(template_id: uuid.UUID, session: SessionDep, actor: ClinicActor) -> Template:
    return templates.get_template(session, actor, template_id)


def _load_alert(alert_id: uuid.UUID, session: SessionDep, actor: ClinicActor) -> SafetyAlert:
    return alerts.get_alert(session, actor, alert_id)


def _load_suggestion_to_decide(
    suggestion_id: uuid.UUID, session: SessionDep, actor: StaffActor
) -> ProgressionSuggestion:
    # Deciding is a clinician's act: the role is checked before the id is looked up.
    return suggestions.get_suggestion(session, actor, suggestion_id)


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
