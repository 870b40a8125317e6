"""Read-only FHIR R4 for the clinic's EHR: its CapabilityStatement, patients as Patients, programmes as
CarePlans, exercises as ActivityDefinitions, outcome responses as QuestionnaireResponses with their scores
as Observations, and the Questionnaires whose text is free to ship.

Answers are `application/fhir+json`. A failed read or search (404, 400) answers with an OperationOutcome,
which is what FHIR clients parse; a missing or refused credential (401, 403) stays problem+json, as on
every other endpoint. See docs/fhir.md.
"""

import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app import fhir
from app.deps import ClinicActor, FhirExerciseDep, ProgrammeDep, SessionDep, SettingsDep
from app.errors import Code, InvalidInput, NotFound
from app.models.common import Page, QueryInt
from app.routing import UnitOfWorkRoute
from app.services import fhir_reads
from app.services.pagination import PageParams

PREFIX = "/fhir/r4"


class FhirJSONResponse(JSONResponse):
    media_type = "application/fhir+json"


def _outcome(status: int, issue_code: str, code: str, diagnostics: str) -> FhirJSONResponse:
    return FhirJSONResponse(fhir.operation_outcome(issue_code, code, diagnostics), status_code=status)


class FhirRoute(UnitOfWorkRoute):
    """Turns the not-found and invalid-input errors of a FHIR route into OperationOutcomes; every other
    error (authentication, permission) goes on to the service's problem+json handler. A unit-of-work
    route like every other: the unit has rolled back by the time an error is turned into an answer."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer_as_fhir(request: Request) -> Response:
            try:
                return await handler(request)
            except NotFound as exc:
                return _outcome(404, "not-found", exc.code, exc.detail)
            except InvalidInput as exc:
                return _outcome(400, "invalid", exc.code, exc.detail)
            except RequestValidationError as exc:
                errors = exc.errors()
                # A malformed id in the path names no resource: FHIR answers that read with 404.
                if all(error["loc"][0] == "path" for error in errors):
                    return _outcome(404, "not-found", "not_found", "No such resource.")
                # Location and message only, never the rejected value (as in problem+json).
                diagnostics = "; ".join(
                    f"{'.'.join(map(str, error['loc'][1:]))}: {error['msg']}" for error in errors
                )
                return _outcome(400, "invalid", "validation_error", diagnostics)

        return answer_as_fhir


_OUTCOME = {
    FhirJSONResponse.media_type: {
        "schema": {
            "type": "object",
            "required": ["resourceType", "issue"],
            "properties": {
                "resourceType": {"type": "string", "const": "OperationOutcome"},
                "issue": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["severity", "code"],
                        "properties": {
                            "severity": {"type": "string"},
                            "code": {"type": "string"},
                            "details": {"type": "object"},
                            "diagnostics": {"type": "string"},
                        },
                    },
                },
            },
        }
    }
}
router = APIRouter(
    prefix=PREFIX,
    tags=["fhir"],
    route_class=FhirRoute,
    default_response_class=FhirJSONResponse,
    responses={
        400: {"description": "Invalid search parameters (an OperationOutcome)", "content": _OUTCOME},
        404: {
            "description": "No such resource in the caller's clinic (an OperationOutcome)",
            "content": _OUTCOME,
        },
    },
)


def _fhir_base(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}{PREFIX}"


def _canonicals(request: Request, settings: SettingsDep) -> fhir.Canonicals:
    return fhir.Canonicals(settings.fhir_canonical_base or _fhir_base(request))


Canonicals = Annotated[fhir.Canonicals, Depends(_canonicals)]


def _resource(kind: str) -> dict[Any, Any]:
    """The 200 answer of a route: a FHIR resource of this type (its full structure is FHIR R4's own)."""
    schema = {
        "type": "object",
        "title": f"Fhir{kind}",
        "description": f"A FHIR R4 {kind} (http://hl7.org/fhir/R4/{kind.lower()}.html)",
        "required": ["resourceType"],
        "properties": {"resourceType": {"type": "string", "const": kind}, "id": {"type": "string"}},
        "additionalProperties": True,
    }
    return {200: {"description": f"A {kind}", "content": {FhirJSONResponse.media_type: {"schema": schema}}}}


# The search parameters every search here takes: whose resources, and the page.
PatientParam = Annotated[str | None, Query(max_length=100, description="The patient's id, or `Patient/{id}`")]
SubjectParam = Annotated[
    str | None, Query(max_length=100, description="The same as `patient`: `Patient/{id}`")
]
CountParam = Annotated[QueryInt | None, Query(alias="_count", description="Page size; clamped to 1–200.")]
CursorParam = Annotated[
    str | None, Query(alias="_cursor", max_length=64, description="Set by the Bundle's `next` link")
]


def _patient_id(patient: str | None, subject: str | None) -> uuid.UUID:
    """`patient` or `subject` (the same search here): an id or a reference `Patient/{id}`."""
    reference = patient or subject
    if reference is None or (patient and subject and patient != subject):
        raise InvalidInput(
            "Search by `patient` or `subject` (one patient).", code=Code.INVALID_PATIENT_REFERENCE
        )
    try:
        return uuid.UUID(reference.removeprefix("Patient/"))
    except ValueError as exc:
        raise InvalidInput(
            "`patient` must be a patient id or a reference `Patient/{id}`.",
            code=Code.INVALID_PATIENT_REFERENCE,
        ) from exc


@dataclass(frozen=True, slots=True)
class PatientSearch:
    """A search for one patient's resources: whose (`patient` or `subject`), and which page."""

    patient_id: uuid.UUID
    page: PageParams


def _patient_search(
    patient: PatientParam = None,
    subject: SubjectParam = None,
    count: CountParam = None,
    cursor: CursorParam = None,
) -> PatientSearch:
    return PatientSearch(_patient_id(patient, subject), PageParams.clamped(count, cursor))


PatientSearchDep = Annotated[PatientSearch, Depends(_patient_search)]


def _bundle(request: Request, page: Page[dict[str, Any]], total: int) -> dict[str, Any]:
    """A search's page as a searchset Bundle, with the link to the next page when there is one."""
    next_url = None
    if page.next_cursor is not None:
        next_url = str(request.url.include_query_params(_cursor=page.next_cursor))
    return fhir.search_bundle(
        page.items, total=total, base_url=_fhir_base(request), self_url=str(request.url), next_url=next_url
    )


@router.get(
    "/metadata",
    summary="The server's CapabilityStatement",
    response_model=None,
    responses=_resource("CapabilityStatement"),
)
async def capabilities(request: Request) -> dict[str, Any]:
    """Public, as FHIR clients expect: it says what can be read and searched, not any data."""
    return fhir.capability_statement(base_url=_fhir_base(request), version=request.app.version)


@router.get(
    "/Patient/{patient_id}",
    summary="Read a patient as a FHIR Patient",
    response_model=None,
    responses=_resource("Patient"),
)
def read_patient(
    patient_id: uuid.UUID, session: SessionDep, actor: ClinicActor, urls: Canonicals
) -> dict[str, Any]:
    return fhir_reads.read_patient(session, actor, urls, patient_id)


@router.get(
    "/CarePlan/{programme_id}",
    summary="Read a programme as a CarePlan",
    response_model=None,
    responses=_resource("CarePlan"),
)
def read_care_plan(
    programme_id: uuid.UUID,
    programme: ProgrammeDep,
    session: SessionDep,
    actor: ClinicActor,
    response: Response,
    urls: Canonicals,
) -> dict[str, Any]:
    resource = fhir_reads.read_care_plan(session, actor, urls, programme)
    response.headers["ETag"] = f'W/"{programme.revision}"'
    response.headers["Last-Modified"] = format_datetime(programme.updated_at, usegmt=True)
    return resource


@router.get(
    "/CarePlan",
    summary="Search a patient's programmes as CarePlans (a searchset Bundle)",
    response_model=None,
    responses=_resource("Bundle"),
)
def search_care_plans(
    request: Request, session: SessionDep, actor: ClinicActor, urls: Canonicals, search: PatientSearchDep
) -> dict[str, Any]:
    page, total = fhir_reads.search_care_plans(session, actor, urls, search.patient_id, search.page)
    return _bundle(request, page, total)


@router.get(
    "/ActivityDefinition/{exercise_slug}",
    summary="Read an exercise as an ActivityDefinition",
    response_model=None,
    responses=_resource("ActivityDefinition"),
)
def read_activity_definition(
    exercise_slug: str, exercise: FhirExerciseDep, session: SessionDep, response: Response, urls: Canonicals
) -> dict[str, Any]:
    response.headers["Last-Modified"] = format_datetime(exercise.updated_at, usegmt=True)
    return fhir_reads.read_activity_definition(session, exercise, urls)


@router.get(
    "/QuestionnaireResponse/{outcome_id}",
    summary="Read an outcome response as a QuestionnaireResponse",
    response_model=None,
    responses=_resource("QuestionnaireResponse"),
)
def read_questionnaire_response(
    outcome_id: uuid.UUID, session: SessionDep, actor: ClinicActor, urls: Canonicals
) -> dict[str, Any]:
    return fhir_reads.read_outcome(session, actor, urls, "QuestionnaireResponse", outcome_id)


@router.get(
    "/QuestionnaireResponse",
    summary="Search a patient's outcome responses as QuestionnaireResponses (a searchset Bundle)",
    response_model=None,
    responses=_resource("Bundle"),
)
def search_questionnaire_responses(
    request: Request, session: SessionDep, actor: ClinicActor, urls: Canonicals, search: PatientSearchDep
) -> dict[str, Any]:
    page, total = fhir_reads.search_outcomes(
        session, actor, urls, "QuestionnaireResponse", search.patient_id, search.page
    )
    return _bundle(request, page, total)


@router.get(
    "/Observation/{outcome_id}",
    summary="Read an outcome response's scores as an Observation",
    response_model=None,
    responses=_resource("Observation"),
)
def read_observation(
    outcome_id: uuid.UUID, session: SessionDep, actor: ClinicActor, urls: Canonicals
) -> dict[str, Any]:
    return fhir_reads.read_outcome(session, actor, urls, "Observation", outcome_id)


@router.get(
    "/Observation",
    summary="Search a patient's outcome scores as Observations (a searchset Bundle)",
    response_model=None,
    responses=_resource("Bundle"),
)
def search_observations(
    request: Request,
    session: SessionDep,
    actor: ClinicActor,
    urls: Canonicals,
    search: PatientSearchDep,
    code: Annotated[
        str | None,
        Query(max_length=500, description="`code`, `system|code` or `system|`; commas for any of several"),
    ] = None,
) -> dict[str, Any]:
    page, total = fhir_reads.search_outcomes(
        session, actor, urls, "Observation", search.patient_id, search.page, code
    )
    return _bundle(request, page, total)


@router.get(
    "/Questionnaire/{questionnaire_id}",
    summary="Read an outcome instrument whose text is free to ship as a Questionnaire",
    response_model=None,
    responses=_resource("Questionnaire"),
)
def read_questionnaire(
    questionnaire_id: Annotated[str, Path(max_length=64)], actor: ClinicActor, urls: Canonicals
) -> dict[str, Any]:
    return fhir_reads.read_questionnaire(urls, questionnaire_id)
