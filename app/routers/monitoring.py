"""Remote monitoring: interactions staff record, and the report billing staff read (JSON or CSV)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from app.deps import ClinicActor, PageDep, PatientDep, SessionDep, StaffActor
from app.models.common import Page
from app.models.monitoring import (
    InteractionIn,
    InteractionPublic,
    MonitoringReport,
    MonitoringSummary,
    MonitoringWindow,
)
from app.routing import UnitOfWorkRoute
from app.services import monitoring

router = APIRouter(tags=["monitoring"], route_class=UnitOfWorkRoute)

CSV = "text/csv"


@router.post(
    "/v1/patients/{patient_id}/interactions",
    response_model=InteractionPublic,
    status_code=status.HTTP_201_CREATED,
)
def record_interaction(
    patient_id: uuid.UUID, body: InteractionIn, patient: PatientDep, session: SessionDep, actor: StaffActor
):
    return monitoring.record_interaction(session, actor, patient, body)


@router.get("/v1/patients/{patient_id}/interactions", response_model=Page[InteractionPublic])
def patient_interactions(
    patient_id: uuid.UUID, patient: PatientDep, session: SessionDep, actor: ClinicActor, page: PageDep
):
    return monitoring.list_interactions(session, actor, patient, page)


@router.get(
    "/v1/patients/{patient_id}/monitoring",
    response_model=MonitoringReport,
    responses={200: {"content": {CSV: {"schema": {"type": "string"}}}, "description": "JSON, or CSV"}},
)
def patient_monitoring(
    patient_id: uuid.UUID,
    patient: PatientDep,
    session: SessionDep,
    actor: ClinicActor,
    window: Annotated[MonitoringWindow, Query()],
    accept: Annotated[str | None, Header()] = None,
):
    """Days with data per 30-day period and interaction minutes per calendar month; `Accept: text/csv`
    gives the same figures as CSV."""
    found = monitoring.report(session, actor, patient, window)
    if accept is not None and CSV in accept:
        return Response(
            monitoring.as_csv(found),
            media_type=f"{CSV}; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="monitoring-{patient.id}.csv"'},
        )
    return found


@router.get("/v1/monitoring", response_model=Page[MonitoringSummary])
def clinic_monitoring(session: SessionDep, actor: ClinicActor, page: PageDep):
    """Every patient with an active or paused programme: the figures of the period and month under way."""
    return monitoring.clinic_summary(session, actor, page)
