"""The patient app's own view."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from app.deps import (
    IF_NONE_MATCH,
    MyCurrentProgrammeRead,
    MyProgrammeRead,
    PageDep,
    PatientActor,
    SessionDep,
    if_none_match,
)
from app.models.common import CalendarDate, Page
from app.models.next_morning import NextMorningResult, NextMorningUpsert
from app.models.outcome import Instrument, OutcomeCreate, OutcomePublic
from app.models.patient import PatientPublic
from app.models.programme import ProgrammeSummary
from app.models.programme_view import ProgrammeView
from app.models.safety import RedFlagQuestion, SymptomCheckCreate, SymptomCheckResult
from app.models.session_log import (
    BatchResponse,
    Plan,
    ProgressReport,
    SessionBatchCreate,
    SessionLogCreate,
    SessionLogPublic,
)
from app.routing import UnitOfWorkRoute
from app.services import next_morning as next_morning_reports
from app.services import outcomes, patient_app, safety, sessions

router = APIRouter(prefix="/v1/me", tags=["patient app"], route_class=UnitOfWorkRoute)

# The app may keep a revision offline and revalidate; it must not be stored by shared caches.
PRIVATE_REVALIDATE = "private, no-cache"


# Every route has the same shape as the staff routes: the caller (PatientActor: the token's claims before
# the body is read, the patient's row on the route's own connection before its work), the request's unit
# of work, one service call. A `def` route writes: one hop, the ORM session, one commit before the answer.
# The two hot reads are `async def` read routes: on the event loop, on its read-only connection, their
# caller checked in the same statement as the programme they read (MyProgrammeRead,
# MyCurrentProgrammeRead: the read carries its connection), their audit row group-committed before the
# answer (docs/architecture.md). Routes are matched in the order they are declared: these two first.


@router.get(
    "/programmes/{programme_id}",
    response_model=ProgrammeView,
    responses={
        200: {"description": "The programme in the patient's language, with everything needed offline"},
        304: {"description": "Not modified since the ETag sent in If-None-Match"},
    },
    openapi_extra=IF_NONE_MATCH,
)
async def my_programme(read: MyProgrammeRead, request: Request) -> Response:
    tag, body = patient_app.read_mine(read, if_none_match(request))
    headers = {"ETag": tag, "Cache-Control": PRIVATE_REVALIDATE}
    if body is None:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)


@router.get("/plan", response_model=Plan)
async def my_plan(
    read: MyCurrentProgrammeRead,
    date: Annotated[
        CalendarDate | None, Query(description="A local date (default: today where the patient is)")
    ] = None,
):
    # A validated Plan, rendered once for its inputs: sent as its JSON rather than validated again.
    return Response(patient_app.plan(read, date)[1], media_type="application/json")


@router.get("", response_model=PatientPublic)
def me(session: SessionDep, actor: PatientActor):
    return patient_app.profile(session, actor)


@router.get("/programmes", response_model=Page[ProgrammeSummary])
def my_programmes(session: SessionDep, actor: PatientActor, page: PageDep):
    return patient_app.list_mine(session, actor, page)


@router.post(
    "/sessions",
    response_model=SessionLogPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {
            "model": SessionLogPublic,
            "description": "This log was stored before (a retry): the stored log",
        }
    },
)
def log_session(body: SessionLogCreate, session: SessionDep, actor: PatientActor):
    log, created = sessions.log_one(session, actor, body)
    # Already a validated SessionLogPublic: sent as its JSON rather than validated again on the way out.
    return Response(
        log.model_dump_json(),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        media_type="application/json",
    )


@router.post("/sessions/batch", response_model=BatchResponse)
def log_sessions(body: SessionBatchCreate, session: SessionDep, actor: PatientActor):
    return BatchResponse(results=sessions.log_batch(session, actor, body.logs))


@router.get("/sessions", response_model=Page[SessionLogPublic])
def my_sessions(
    session: SessionDep,
    actor: PatientActor,
    page: PageDep,
    start: Annotated[
        CalendarDate | None, Query(alias="from", description="First local date (your timezone), 1900–2199")
    ] = None,
    end: Annotated[
        CalendarDate | None, Query(alias="to", description="Last local date, inclusive, 1900–2199")
    ] = None,
):
    return sessions.list_logs(session, actor, actor.id, start, end, page)


@router.post("/symptom-checks", response_model=SymptomCheckResult, status_code=status.HTTP_201_CREATED)
def symptom_check(body: SymptomCheckCreate, session: SessionDep, actor: PatientActor):
    """Red-flag answers → a tier and what to do now. The check is stored in a unit of work of its own
    (safety.check_in), so the instruction reaches the patient even when storing it fails (`recorded`)."""
    return safety.check_in(session, actor, body.answers, patient_app.patient_locale(actor))


@router.put("/next-morning/{day}", response_model=NextMorningResult)
def next_morning(day: CalendarDate, body: NextMorningUpsert, session: SessionDep, actor: PatientActor):
    """How the back and legs feel this morning, for the sessions of `day` (your local date, usually
    yesterday). Send it again to change the answer. Worse mornings twice in a row tell your physio."""
    return next_morning_reports.report(session, actor, day, body)


@router.get("/red-flag-questions", response_model=list[RedFlagQuestion])
def red_flag_questions(actor: PatientActor):
    """The symptom check-in's questions, worded for the patient in their language, in the order to ask."""
    return safety.questions(patient_app.patient_locale(actor))


@router.post("/outcomes", response_model=OutcomePublic, status_code=status.HTTP_201_CREATED)
def record_outcome(body: OutcomeCreate, session: SessionDep, actor: PatientActor):
    return outcomes.record(session, actor, actor.id, body)


@router.get("/outcomes", response_model=Page[OutcomePublic])
def my_outcomes(
    session: SessionDep,
    actor: PatientActor,
    page: PageDep,
    instrument: Annotated[Instrument | None, Query()] = None,
):
    return outcomes.list_outcomes(session, actor, actor.id, instrument, page)


@router.get("/progress", response_model=ProgressReport)
def my_progress(session: SessionDep, actor: PatientActor):
    return patient_app.progress(session, actor)
