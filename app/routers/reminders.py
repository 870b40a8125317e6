"""Reminders: preferences (the patient, or staff for them), the coming instants, the calendar feed."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from app.deps import ClinicActor, PatientActor, PatientDep, SessionDep, StaffActor
from app.models.common import QueryInt
from app.models.reminders import (
    CalendarFeedPublic,
    ReminderPreferences,
    ReminderPreferencesIn,
    ReminderSchedule,
)
from app.routing import UnitOfWorkRoute
from app.services import reminders

router = APIRouter(tags=["reminders"], route_class=UnitOfWorkRoute)

ICALENDAR = "text/calendar"


@router.get("/v1/me/reminder-preferences", response_model=ReminderPreferences)
def my_reminder_preferences(session: SessionDep, actor: PatientActor):
    return reminders.read_preferences(session, actor, actor.id)


@router.put("/v1/me/reminder-preferences", response_model=ReminderPreferences)
def set_my_reminder_preferences(body: ReminderPreferencesIn, session: SessionDep, actor: PatientActor):
    return reminders.save_preferences(session, actor, actor.id, body)


@router.get("/v1/me/reminders", response_model=ReminderSchedule)
def my_reminders(
    session: SessionDep,
    actor: PatientActor,
    days: Annotated[QueryInt, Query(description="How many local days, from today (1–60)")] = 14,
):
    return reminders.coming(session, actor, days)


@router.post("/v1/me/calendar-feed", response_model=CalendarFeedPublic, status_code=status.HTTP_201_CREATED)
def new_calendar_feed(request: Request, session: SessionDep, actor: PatientActor):
    """A new calendar feed URL, shown once; the previous URL stops working."""
    secret, token = reminders.create_feed(session, actor)
    url = str(request.url_for("calendar_feed", secret=secret))
    return CalendarFeedPublic(url=url, created_at=token.created_at)


@router.delete("/v1/me/calendar-feed", status_code=status.HTTP_204_NO_CONTENT)
def revoke_my_calendar_feed(session: SessionDep, actor: PatientActor):
    reminders.revoke_feed(session, actor, actor.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/v1/calendar/{secret}.ics",
    name="calendar_feed",
    response_class=Response,
    responses={200: {"content": {ICALENDAR: {"schema": {"type": "string"}}}, "description": "RFC 5545"}},
)
def calendar_feed(secret: Annotated[str, Path(max_length=64)], session: SessionDep):
    """The coming 28 days of reminders, for calendar apps (the URL is the credential)."""
    body = reminders.feed(session, secret)
    return Response(body, media_type=ICALENDAR, headers={"cache-control": "private, max-age=3600"})


@router.get("/v1/patients/{patient_id}/reminder-preferences", response_model=ReminderPreferences)
def patient_reminder_preferences(
    patient_id: uuid.UUID, patient: PatientDep, session: SessionDep, actor: ClinicActor
):
    return reminders.read_preferences(session, actor, patient.id)


@router.put("/v1/patients/{patient_id}/reminder-preferences", response_model=ReminderPreferences)
def set_patient_reminder_preferences(
    patient_id: uuid.UUID,
    body: ReminderPreferencesIn,
    patient: PatientDep,
    session: SessionDep,
    actor: StaffActor,
):
    return reminders.save_preferences(session, actor, patient.id, body)


@router.delete("/v1/patients/{patient_id}/calendar-feed", status_code=status.HTTP_204_NO_CONTENT)
def revoke_patient_calendar_feed(
    patient_id: uuid.UUID, patient: PatientDep, session: SessionDep, actor: StaffActor
):
    reminders.revoke_feed(session, actor, patient.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
