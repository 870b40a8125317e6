"""The patient app's own view."""

import datetime as dt
import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from app.deps import MyProgrammeDep, PageDep, PatientActor, SessionDep
from app.models.common import Page
from app.models.outcome import Instrument, OutcomeIn, OutcomePublic
from app.models.patient import PatientPublic
from app.models.programme import ProgrammeSummary
from app.models.safety import SymptomCheckIn, SymptomCheckResult
from app.models.session_log import (
    BatchResponse,
    Plan,
    ProgressReport,
    SessionBatchIn,
    SessionLogIn,
    SessionLogPublic,
)
from app.services import adherence, outcomes, patient_app, patients, safety, sessions

logger = logging.getLogger("hep.me")

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


@router.get("/plan", response_model=Plan)
def my_plan(
    session: SessionDep,
    actor: PatientActor,
    date: Annotated[
        dt.date | None, Query(description="A local date (default: today where the patient is)")
    ] = None,
):
    result = patient_app.plan(session, actor, date)
    session.commit()
    return result


@router.post(
    "/sessions",
    response_model=SessionLogPublic,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "This log was stored before (a retry): the stored log"}},
)
def log_session(body: SessionLogIn, session: SessionDep, actor: PatientActor, response: Response):
    log, created = sessions.log_one(session, actor, body)
    session.commit()
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return log


@router.post("/sessions/batch", response_model=BatchResponse)
def log_sessions(body: SessionBatchIn, session: SessionDep, actor: PatientActor):
    results = sessions.log_batch(session, actor, body.logs)
    session.commit()
    return BatchResponse(results=results)


@router.get("/sessions", response_model=Page[SessionLogPublic])
def my_sessions(
    session: SessionDep,
    actor: PatientActor,
    page: PageDep,
    start: Annotated[dt.date | None, Query(alias="from")] = None,
    end: Annotated[dt.date | None, Query(alias="to")] = None,
):
    result = sessions.list_logs(session, actor, actor.id, start, end, page)
    session.commit()
    return result


@router.post("/symptom-checks", response_model=SymptomCheckResult, status_code=status.HTTP_201_CREATED)
def symptom_check(body: SymptomCheckIn, session: SessionDep, actor: PatientActor):
    locale = patient_app.patient_locale(session, actor)
    result = safety.check_in(session, actor, body.answers, locale)
    try:
        session.commit()
    except Exception:  # noqa: BLE001 — the instruction must reach the patient even if storing fails
        session.rollback()
        logger.exception("symptom check-in commit failed")
        result = result.model_copy(
            update={"id": None, "recorded": False, "programme_paused": False, "alert_raised": False}
        )
    return result


@router.post("/outcomes", response_model=OutcomePublic, status_code=status.HTTP_201_CREATED)
def record_outcome(body: OutcomeIn, session: SessionDep, actor: PatientActor):
    result = outcomes.record(session, actor, actor.id, body)
    session.commit()
    return result


@router.get("/outcomes", response_model=list[OutcomePublic])
def my_outcomes(
    session: SessionDep, actor: PatientActor, instrument: Annotated[Instrument | None, Query()] = None
):
    result = outcomes.list_outcomes(session, actor, actor.id, instrument)
    session.commit()
    return result


@router.get("/progress", response_model=ProgressReport)
def my_progress(session: SessionDep, actor: PatientActor):
    patient = patients.get_patient(session, actor, actor.id)
    result = adherence.progress(session, actor, patient)
    session.commit()
    return result
