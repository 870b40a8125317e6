"""Printable handouts (PDF) of a programme revision, for clinic staff and for the patient app."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from app.deps import ClinicActor, PatientActor, ProgrammeDep, SessionDep
from app.models.common import QueryInt
from app.models.handout import Paper
from app.routing import UnitOfWorkRoute
from app.services import handouts

router = APIRouter(tags=["handouts"], route_class=UnitOfWorkRoute)

PDF = "application/pdf"
_PDF_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The handout: the current phase's exercises in the patient's language, with the "
        "emergency warning on every page",
        "content": {PDF: {"schema": {"type": "string", "format": "binary"}}},
    }
}
PaperQuery = Annotated[Paper, Query(description="Paper size: `a4` (default) or `letter` (US Letter)")]


def _pdf(body: bytes, programme_id: uuid.UUID) -> Response:
    # Health data: kept by no cache, shared or private; the file name carries no patient detail.
    return Response(
        body,
        media_type=PDF,
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'inline; filename="programme-{programme_id}.pdf"',
        },
    )


@router.get("/v1/programmes/{programme_id}/handout.pdf", response_class=Response, responses=_PDF_ANSWER)
def clinic_handout(
    programme_id: uuid.UUID,
    programme: ProgrammeDep,
    session: SessionDep,
    actor: ClinicActor,
    revision: Annotated[
        QueryInt | None, Query(description="The revision to print (default: current)")
    ] = None,
    paper: PaperQuery = "a4",
) -> Response:
    return _pdf(handouts.clinic_handout(session, actor, programme, revision, paper), programme_id)


@router.get("/v1/me/programmes/{programme_id}/handout.pdf", response_class=Response, responses=_PDF_ANSWER)
def my_handout(
    programme_id: uuid.UUID, session: SessionDep, actor: PatientActor, paper: PaperQuery = "a4"
) -> Response:
    return _pdf(handouts.my_handout(session, actor, programme_id, paper), programme_id)
