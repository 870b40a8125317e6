"""The patient app's own view."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from app.deps import MyProgrammeDep, PatientActor, SessionDep
from app.models.patient import PatientPublic
from app.models.programme import ProgrammeSummary
from app.services import patient_app, patients

router = APIRouter(prefix="/v1/me", tags=["patient app"])

# The app may keep a revision offline and revalidate; it must not be stored by shared caches.
PRIVATE_REVALIDATE = "private, no-cache"


@router.get("", response_model=PatientPublic)
def me(session: SessionDep, actor: PatientActor):
    patient = patients.get_patient(session, actor, actor.id)
    patients.read_patient(session, actor, patient)
    session.commit()
    return patient


@router.get("/programmes", response_model=list[ProgrammeSummary])
def my_programmes(session: SessionDep, actor: PatientActor):
    result = patient_app.list_mine(session, actor)
    session.commit()
    return result


@router.get(
    "/programmes/{programme_id}",
    responses={
        200: {"description": "The programme in the patient's language, with everything needed offline"},
        304: {"description": "Not modified since the ETag sent in If-None-Match"},
    },
)
def my_programme(
    programme_id: uuid.UUID,
    programme: MyProgrammeDep,
    session: SessionDep,
    actor: PatientActor,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    locale = patient_app.patient_locale(session, actor)
    tag = patient_app.etag(programme, locale)
    headers = {"ETag": tag, "Cache-Control": PRIVATE_REVALIDATE}
    if if_none_match is not None and tag in (t.strip() for t in if_none_match.split(",")):
        patient_app.record_not_modified(session, actor, programme)
        session.commit()
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    body = patient_app.read_mine(session, actor, programme, locale)
    session.commit()
    return Response(content=body, media_type="application/json", headers=headers)
