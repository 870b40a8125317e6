"""The exercise library: the shared catalogue (read-only) and the clinic's own exercises."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.deps import ClinicActor, ExerciseDep, LocaleDep, PageDep, SessionDep, StaffActor
from app.models.common import Page
from app.models.exercise import ExerciseChain, ExerciseCreate, ExercisePublic, ExerciseSearch, ExerciseUpdate
from app.routing import UnitOfWorkRoute
from app.services import exercises

router = APIRouter(prefix="/v1/exercises", tags=["exercises"], route_class=UnitOfWorkRoute)


@router.get("", response_model=Page[ExercisePublic])
def list_exercises(
    search: Annotated[ExerciseSearch, Query()],
    session: SessionDep,
    actor: ClinicActor,
    page: PageDep,
    locale: LocaleDep,
):
    return exercises.list_exercises(session, actor, page, search, locale)


@router.post("", response_model=ExercisePublic, status_code=status.HTTP_201_CREATED)
def create_exercise(body: ExerciseCreate, session: SessionDep, actor: StaffActor, locale: LocaleDep):
    exercise = exercises.create_exercise(session, actor, body)
    public = exercises.present(session, exercise, locale)
    return public


@router.get("/{id_or_slug}", response_model=ExercisePublic)
def get_exercise(id_or_slug: str, exercise: ExerciseDep, session: SessionDep, locale: LocaleDep):
    return exercises.present(session, exercise, locale)


@router.get("/{id_or_slug}/chain", response_model=ExerciseChain)
def get_exercise_chain(
    id_or_slug: str, exercise: ExerciseDep, session: SessionDep, actor: ClinicActor, locale: LocaleDep
):
    return exercises.get_chain(session, actor, exercise, locale)


@router.patch("/{id_or_slug}", response_model=ExercisePublic)
def update_exercise(
    id_or_slug: str,
    body: ExerciseUpdate,
    actor: StaffActor,
    exercise: ExerciseDep,
    session: SessionDep,
    locale: LocaleDep,
):
    exercises.update_exercise(session, actor, exercise, body)
    public = exercises.present(session, exercise, locale)
    return public


@router.delete("/{id_or_slug}", status_code=status.HTTP_204_NO_CONTENT)
def archive_exercise(
    id_or_slug: str, actor: StaffActor, exercise: ExerciseDep, session: SessionDep
) -> Response:
    exercises.archive_exercise(session, exercise)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
