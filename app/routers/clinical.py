"""What clinicians read about a patient's home practice: sessions, adherence, outcomes and safety alerts."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import AlertDep, ClinicActor, ClinicianActor, PageDep, PatientDep, SessionDep, StaffActor
from app.models.common import CalendarDate, Page
from app.models.outcome import Instrument, OutcomePublic
from app.models.safety import AlertPage, AlertResolveRequest, AlertStatus, SafetyAlertPublic, Tier
from app.models.session_log import AdherenceReport, SessionLogPublic
from app.routing import UnitOfWorkRoute
from app.services import adherence, alerts, outcomes, safety, sessions

router = APIRouter(tags=["clinical"], route_class=UnitOfWorkRoute)

From = Annotated[
    CalendarDate | None,
    Query(alias="from", description="First local date (patient's timezone), 1900–2199"),
]
To = Annotated[CalendarDate | None, Query(alias="to", description="Last local date, inclusive, 1900–2199")]


@router.get("/v1/patients/{patient_id}/sessions", response_model=Page[SessionLogPublic])
def patient_sessions(
    patient_id: uuid.UUID,
    patient: PatientDep,
    session: SessionDep,
    actor: ClinicActor,
    page: PageDep,
    start: From = None,
    end: To = None,
):
    return sessions.list_logs(session, actor, patient.id, start, end, page)


@router.get("/v1/patients/{patient_id}/adherence", response_model=AdherenceReport)
def patient_adherence(
    patient_id: uuid.UUID,
    patient: PatientDep,
    session: SessionDep,
    actor: ClinicActor,
    start: From = None,
    end: To = None,
):
    return adherence.report(session, actor, patient, start, end)


@router.get("/v1/patients/{patient_id}/outcomes", response_model=Page[OutcomePublic])
def patient_outcomes(
    patient_id: uuid.UUID,
    patient: PatientDep,
    session: SessionDep,
    actor: ClinicActor,
    page: PageDep,
    instrument: Annotated[Instrument | None, Query()] = None,
):
    return outcomes.list_outcomes(session, actor, patient.id, instrument, page)


@router.get("/v1/alerts", response_model=AlertPage)
def list_alerts(
    session: SessionDep,
    actor: ClinicActor,
    page: PageDep,
    status: Annotated[AlertStatus | None, Query()] = None,
    tier: Annotated[Tier | None, Query()] = None,
    patient_id: Annotated[uuid.UUID | None, Query()] = None,
):
    return alerts.list_alerts(session, actor, page, status, tier, patient_id)


@router.post("/v1/alerts/{alert_id}/acknowledge", response_model=SafetyAlertPublic)
def acknowledge_alert(alert_id: uuid.UUID, alert: AlertDep, session: SessionDep, actor: StaffActor):
    safety.acknowledge(session, actor, alert)
    return SafetyAlertPublic.model_validate(alert, from_attributes=True)


@router.post("/v1/alerts/{alert_id}/resolve", response_model=SafetyAlertPublic)
def resolve_alert(
    alert_id: uuid.UUID,
    body: AlertResolveRequest,
    alert: AlertDep,
    session: SessionDep,
    actor: ClinicianActor,
):
    """Close an alert with a note. Resolving the last open emergency or urgent alert lifts the safety hold;
    the programme stays paused until a clinician resumes it."""
    safety.resolve(session, actor, alert, body.note)
    return SafetyAlertPublic.model_validate(alert, from_attributes=True)
