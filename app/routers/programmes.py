"""Programmes and templates for clinicians and the EHR."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from app.deps import (
    ClinicActor,
    ClinicianActor,
    PageDep,
    PatientDep,
    ProgrammeDep,
    SessionDep,
    StaffActor,
    SuggestionToDecideDep,
    TemplateDep,
)
from app.errors import Code, InvalidInput, PreconditionRequired
from app.models.common import Page, QueryInt
from app.models.programme import (
    ProgrammePublic,
    ProgrammeSummary,
    RevisionPublic,
    RevisionSummary,
    TemplatePublic,
)
from app.models.programme_document import (
    ProgrammeCreate,
    ProgrammeDocument,
    ProgrammeStatus,
    ReinstateRequest,
    TemplateCreate,
)
from app.models.progression import RejectRequest, SuggestionPublic, SuggestionStatus
from app.routing import UnitOfWorkRoute
from app.services import programme_changes, programmes, progression, suggestions, templates

router = APIRouter(tags=["programmes"], route_class=UnitOfWorkRoute)

IfMatch = Annotated[str | None, Header(description='The programme revision you edited, e.g. "3"')]


def parse_revision_tag(value: str) -> int:
    tag = value.strip().removeprefix("W/").strip('"')
    if not tag.isdigit() or len(tag) > 9:
        raise InvalidInput(
            'If-Match must be the programme revision as an ETag, e.g. "3".', code=Code.INVALID_IF_MATCH
        )
    return int(tag)


def _with_etag(response: Response, programme: ProgrammePublic) -> ProgrammePublic:
    response.headers["ETag"] = f'"{programme.revision}"'
    return programme


@router.post(
    "/v1/patients/{patient_id}/programmes",
    response_model=ProgrammePublic,
    status_code=status.HTTP_201_CREATED,
)
def create_programme(
    patient_id: uuid.UUID,
    body: ProgrammeCreate,
    patient: PatientDep,
    session: SessionDep,
    actor: ClinicActor,
    response: Response,
):
    programme = programmes.create_programme(session, actor, patient, body)
    view = programmes.read_programme(session, actor, programme)
    return _with_etag(response, view)


@router.get("/v1/programmes", response_model=Page[ProgrammeSummary])
def list_programmes(
    session: SessionDep,
    actor: ClinicActor,
    page: PageDep,
    patient_id: Annotated[uuid.UUID | None, Query()] = None,
    status: Annotated[ProgrammeStatus | None, Query()] = None,
):
    return programmes.list_programmes(session, actor, page, patient_id, status)


@router.get("/v1/programmes/{programme_id}", response_model=ProgrammePublic)
def get_programme(
    programme_id: uuid.UUID,
    programme: ProgrammeDep,
    session: SessionDep,
    actor: ClinicActor,
    response: Response,
):
    view = programmes.read_programme(session, actor, programme)
    return _with_etag(response, view)


@router.put(
    "/v1/programmes/{programme_id}",
    response_model=ProgrammePublic,
    responses={
        412: {"description": "If-Match names a revision that is no longer the current one"},
        428: {"description": "If-Match is missing"},
    },
)
def replace_programme(
    programme_id: uuid.UUID,
    body: ProgrammeDocument,
    programme: ProgrammeDep,
    session: SessionDep,
    actor: ClinicActor,
    response: Response,
    if_match: IfMatch = None,
):
    if if_match is None:
        raise PreconditionRequired(
            "Send If-Match with the revision you edited (the ETag of GET /v1/programmes/{id}).",
            code=Code.IF_MATCH_REQUIRED,
        )
    programmes.replace_programme(session, actor, programme, body, parse_revision_tag(if_match))
    view = programmes.read_programme(session, actor, programme)
    return _with_etag(response, view)


def _transition_route(action: str) -> None:
    def handler(
        programme_id: uuid.UUID,
        programme: ProgrammeDep,
        session: SessionDep,
        actor: ClinicActor,
        response: Response,
        if_match: IfMatch = None,
    ) -> ProgrammePublic:
        expected = parse_revision_tag(if_match) if if_match is not None else None
        programmes.transition(session, actor, programme, action, expected)
        view = programmes.read_programme(session, actor, programme)
        return _with_etag(response, view)

    handler.__name__ = f"{action}_programme"
    router.post(
        f"/v1/programmes/{{programme_id}}/{action}",
        response_model=ProgrammePublic,
        summary=f"{action.capitalize()} a programme",
        description="If-Match is optional here; when sent it must be the current revision.",
    )(handler)


for _action in programmes.TRANSITIONS:
    _transition_route(_action)


@router.post("/v1/programmes/{programme_id}/items/{item_id}/reinstate", response_model=ProgrammePublic)
def reinstate_item(
    programme_id: uuid.UUID,
    item_id: uuid.UUID,
    body: ReinstateRequest,
    programme: ProgrammeDep,
    session: SessionDep,
    actor: ClinicianActor,
    response: Response,
    if_match: IfMatch = None,
):
    """A clinician reviewed an exercise stopped after a red session and lets the patient do it again."""
    expected = parse_revision_tag(if_match) if if_match is not None else None
    programme_changes.reinstate_item(session, actor, programme, item_id, body.note, expected)
    view = programmes.read_programme(session, actor, programme)
    return _with_etag(response, view)


@router.get("/v1/programmes/{programme_id}/revisions", response_model=Page[RevisionSummary])
def list_revisions(
    programme_id: uuid.UUID, programme: ProgrammeDep, session: SessionDep, actor: ClinicActor, page: PageDep
):
    return programmes.list_revisions(session, actor, programme, page)


@router.get("/v1/programmes/{programme_id}/revisions/{number}", response_model=RevisionPublic)
def get_revision(
    programme_id: uuid.UUID,
    number: QueryInt,
    programme: ProgrammeDep,
    session: SessionDep,
    actor: ClinicActor,
):
    return programmes.get_revision(session, actor, programme, number)


@router.get(
    "/v1/programmes/{programme_id}/suggestions", response_model=Page[SuggestionPublic], tags=["progression"]
)
def list_suggestions(
    programme_id: uuid.UUID,
    programme: ProgrammeDep,
    session: SessionDep,
    actor: ClinicActor,
    page: PageDep,
    status: Annotated[SuggestionStatus | None, Query()] = None,
):
    return suggestions.list_suggestions(session, actor, programme, page, status)


@router.post(
    "/v1/programmes/{programme_id}/evaluate", response_model=list[SuggestionPublic], tags=["progression"]
)
def evaluate_programme(
    programme_id: uuid.UUID, programme: ProgrammeDep, session: SessionDep, actor: ClinicActor
):
    """Run the progression rules now; returns what they proposed (or applied, with auto_progress=auto)."""
    return progression.evaluate(session, actor, programme)


@router.post("/v1/suggestions/{suggestion_id}/accept", response_model=SuggestionPublic, tags=["progression"])
def accept_suggestion(
    suggestion_id: uuid.UUID,
    suggestion: SuggestionToDecideDep,
    session: SessionDep,
    actor: StaffActor,
    if_match: IfMatch = None,
):
    expected = parse_revision_tag(if_match) if if_match is not None else None
    suggestions.accept(session, actor, suggestion, expected)
    return suggestions.public(suggestion)


@router.post("/v1/suggestions/{suggestion_id}/reject", response_model=SuggestionPublic, tags=["progression"])
def reject_suggestion(
    suggestion_id: uuid.UUID,
    body: RejectRequest,
    suggestion: SuggestionToDecideDep,
    session: SessionDep,
    actor: StaffActor,
):
    suggestions.reject(session, actor, suggestion, body.reason)
    return suggestions.public(suggestion)


@router.get("/v1/templates", response_model=Page[TemplatePublic], tags=["templates"])
def list_templates(session: SessionDep, actor: ClinicActor, page: PageDep):
    return templates.list_templates(session, actor, page)


@router.post(
    "/v1/templates", response_model=TemplatePublic, status_code=status.HTTP_201_CREATED, tags=["templates"]
)
def create_template(body: TemplateCreate, session: SessionDep, actor: ClinicActor):
    template = templates.create_template(session, actor, body)
    return templates.template_public(template)


@router.get("/v1/templates/{template_id}", response_model=TemplatePublic, tags=["templates"])
def get_template(template_id: uuid.UUID, template: TemplateDep):
    return templates.template_public(template)


@router.put("/v1/templates/{template_id}", response_model=TemplatePublic, tags=["templates"])
def replace_template(
    template_id: uuid.UUID,
    body: TemplateCreate,
    template: TemplateDep,
    session: SessionDep,
    actor: ClinicActor,
):
    templates.replace_template(session, actor, template, body)
    return templates.template_public(template)


@router.delete("/v1/templates/{template_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["templates"])
def delete_template(template_id: uuid.UUID, template: TemplateDep, session: SessionDep) -> Response:
    templates.delete_template(session, template)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
