"""Progress charts (SVG) for the patient app and for clinic staff."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from app.deps import ClinicActor, LocaleDep, PatientActor, PatientDep, SessionDep
from app.models.common import CalendarDate
from app.routing import UnitOfWorkRoute
from app.services import patient_app, progress_charts

router = APIRouter(tags=["progress"], route_class=UnitOfWorkRoute)

SVG = "image/svg+xml"
_SVG_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Pain during and after exercise by day, how far down the leg symptoms reached, "
        "sessions done per week and outcome scores with their meaningful-change line; with a title and a "
        "description for screen readers",
        "content": {SVG: {"schema": {"type": "string"}}},
    }
}


def _svg(body: str) -> Response:
    return Response(body, media_type=SVG, headers={"Cache-Control": "no-store"})


@router.get("/v1/me/progress.svg", response_class=Response, responses=_SVG_ANSWER)
def my_progress_chart(session: SessionDep, actor: PatientActor) -> Response:
    """The last 8 weeks, in the patient's language."""
    return _svg(progress_charts.my_chart(session, actor, patient_app.patient_locale(actor)))


@router.get("/v1/patients/{patient_id}/progress.svg", response_class=Response, responses=_SVG_ANSWER)
def patient_progress_chart(
    patient_id: uuid.UUID,
    patient: PatientDep,
    session: SessionDep,
    actor: ClinicActor,
    locale: LocaleDep,
    start: Annotated[
        CalendarDate | None, Query(alias="from", description="First local date (default: 8 weeks ago)")
    ] = None,
    end: Annotated[
        CalendarDate | None, Query(alias="to", description="Last local date (default: today)")
    ] = None,
) -> Response:
    """Labels in `locale` (or Accept-Language); the window is at most 366 days."""
    return _svg(progress_charts.chart(session, actor, patient, start, end, locale))
