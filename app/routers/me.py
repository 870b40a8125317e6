"""The patient app's own view."""

import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from app.deps import AsPatient, PageDep, PatientActor, SessionDep
from app.models.common import CalendarDate, Page
from app.models.next_morning import NextMorningIn, NextMorningResult
from app.models.outcome import Instrument, OutcomeIn, OutcomePublic
from app.models.patient import PatientPublic
from app.models.programme import ProgrammeSummary
from app.models.programme_view import ProgrammeView
from app.models.safety import RedFlagQuestion, SymptomCheckIn, SymptomCheckResult
from app.models.session_log import (
    BatchResponse,
    Plan,
    ProgressReport,
    SessionBatchIn,
    SessionLogIn,
    SessionLogPublic,
)
from app.services import next_morning as next_morning_reports
from app.services import outcomes, patient_app, safety, sessions

logger = logging.getLogger("hep.me")

router = APIRouter(prefix="/v1/me", tags=["patient app"])

# The app may keep a revision offline and revalidate; it must not be stored by shared caches.
PRIVATE_REVALIDATE = "private, no-cache"


# Every route but the symptom check does its work through AsPatient: the caller's checks, the service and
# the one commit in a single trip to the database (see app.deps.PatientWork).


@router.get("", response_model=PatientPublic)
async def me(work: AsPatient):
    return await work(patient_app.profile)


@router.get("/programmes", response_model=Page[ProgrammeSummary])
async def my_programmes(work: AsPatient, page: PageDep):
    return await work(patient_app.list_mine, page)


@router.get(
    "/programmes/{programme_id}",
    response_model=ProgrammeView,
    responses={
        200: {"description": "The programme in the patient's language, with everything needed offline"},
        304: {"description": "Not modified since the ETag sent in If-None-Match"},
    },
)
async def my_programme(
    programme_id: uuid.UUID, work: AsPatient, if_none_match: Annotated[str | None, Header()] = None
) -> Response:
    tag, body = await work(patient_app.read_mine, programme_id, if_none_match)
    headers = {"ETag": tag, "Cache-Control": PRIVATE_REVALIDATE}
    if body is None:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)


@router.get("/plan", response_model=Plan)
async def my_plan(
    work: AsPatient,
    date: Annotated[
        CalendarDate | None, Query(description="A local date (default: today where the patient is)")
    ] = None,
):
    plan = await work(patient_app.plan, date)
    # Already a validated Plan: sent as its JSON rather than validated again on the way out.
    return Response(plan.model_dump_json(), media_type="application/json")


@router.post(
    "/sessions",
    response_model=SessionLogPublic,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "This log was stored before (a retry): the stored log"}},
)
async def log_session(body: SessionLogIn, work: AsPatient):
    log, created = await work(sessions.log_one, body)
    # Already a validated SessionLogPublic: sent as its JSON rather than validated again on the way out.
    return Response(
        log.model_dump_json(),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        media_type="application/json",
    )


@router.post("/sessions/batch", response_model=BatchResponse)
async def log_sessions(body: SessionBatchIn, work: AsPatient):
    return BatchResponse(results=await work(sessions.log_batch, body.logs))


@router.get("/sessions", response_model=Page[SessionLogPublic])
async def my_sessions(
    work: AsPatient,
    page: PageDep,
    start: Annotated[
        CalendarDate | None, Query(alias="from", description="First local date (your timezone), 1900–2199")
    ] = None,
    end: Annotated[
        CalendarDate | None, Query(alias="to", description="Last local date, inclusive, 1900–2199")
    ] = None,
):
    return await work(lambda session, actor: sessions.list_logs(session, actor, actor.id, start, end, page))


# Not through AsPatient: the safety instruction must reach the patient even when storing the check fails.
@router.post("/symptom-checks", response_model=SymptomCheckResult, status_code=status.HTTP_201_CREATED)
def symptom_check(body: SymptomCheckIn, session: SessionDep, actor: PatientActor):
    locale = patient_app.patient_locale(actor)
    result = safety.check_in(session, actor, body.answers, locale)
    try:
        session.commit()
    except Exception:  # noqa: BLE001 — the instruction must reach the patient even if storing fails
        session.rollback()
        logger.exception("symptom check-in commit failed")
        result = safety.unrecorded(result, locale)
    return result


@router.put("/next-morning/{day}", response_model=NextMorningResult)
async def next_morning(day: CalendarDate, body: NextMorningIn, work: AsPatient):
    """How the back and legs feel this morning, for the sessions of `day` (your local date, usually
    yesterday). Send it again to change the answer. Worse mornings twice in a row tell your physio."""
    return await work(next_morning_reports.report, day, body)


@router.get("/red-flag-questions", response_model=list[RedFlagQuestion])
def red_flag_questions(actor: PatientActor):
    """The symptom check-in's questions, worded for the patient in their language, in the order to ask."""
    return safety.questions(patient_app.patient_locale(actor))


@router.post("/outcomes", response_model=OutcomePublic, status_code=status.HTTP_201_CREATED)
async def record_outcome(body: OutcomeIn, work: AsPatient):
    return await work(lambda session, actor: outcomes.record(session, actor, actor.id, body))


@router.get("/outcomes", response_model=Page[OutcomePublic])
async def my_outcomes(
    work: AsPatient, page: PageDep, instrument: Annotated[Instrument | None, Query()] = None
):
    return await work(
        lambda session, actor: outcomes.list_outcomes(session, actor, actor.id, instrument, page)
    )


@router.get("/progress", response_model=ProgressReport)
async def my_progress(work: AsPatient):
    return await work(patient_app.progress)
