"""What each webhook event's `data` carries (docs/webhooks.md), published as OpenAPI 3.1 `webhooks`.

Ids and a few codes only, never free text: the payload leaves the service. tests/test_openapi.py checks
every event the suite stores against these models.
"""

import uuid
from datetime import date, datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from app.models.outcome import Instrument
from app.models.programme_document import ProgrammeStatus
from app.models.progression import Direction, SuggestionKind
from app.models.safety import Tier
from app.models.session_log import Colour


class PatientEvent(BaseModel):
    patient_id: uuid.UUID
    external_id: str | None


class ProgrammeEvent(BaseModel):
    programme_id: uuid.UUID
    patient_id: uuid.UUID
    status: ProgrammeStatus
    revision: int


class ProgressionEvent(BaseModel):
    suggestion_id: uuid.UUID
    programme_id: uuid.UUID
    patient_id: uuid.UUID
    item_id: uuid.UUID | None
    kind: SuggestionKind
    direction: Direction | None = Field(
        default=None, description="Only for endpoints that opted in to clinical codes (clinical_codes)"
    )
    revision: int | None


class SessionLoggedEvent(BaseModel):
    log_id: uuid.UUID
    patient_id: uuid.UUID
    programme_id: uuid.UUID
    item_id: uuid.UUID
    colour: Colour | None = Field(
        default=None, description="Only for endpoints that opted in to clinical codes (clinical_codes)"
    )


class AdherenceLowEvent(BaseModel):
    programme_id: uuid.UUID
    patient_id: uuid.UUID
    start: date
    end: date
    due: int
    done: int
    threshold_percent: int


class MissedDayEvent(BaseModel):
    patient_id: uuid.UUID
    date: date
    missed_in_a_row: int


class AlertRaisedEvent(BaseModel):
    alert_id: uuid.UUID
    patient_id: uuid.UUID
    programme_id: uuid.UUID | None
    tier: Tier | None = Field(
        default=None, description="Only for endpoints that opted in to clinical codes (clinical_codes)"
    )
    reasons: list[str] | None = Field(
        default=None, description="Only for endpoints that opted in to clinical codes (clinical_codes)"
    )


class AlertResolvedEvent(BaseModel):
    alert_id: uuid.UUID
    patient_id: uuid.UUID
    tier: Tier | None = Field(
        default=None, description="Only for endpoints that opted in to clinical codes (clinical_codes)"
    )


class OutcomeRecordedEvent(BaseModel):
    patient_id: uuid.UUID
    outcome_id: uuid.UUID
    instrument: Instrument


class WebhookTestEvent(BaseModel):
    endpoint_id: uuid.UUID


Data = TypeVar("Data", bound=BaseModel)


class WebhookPayload(BaseModel, Generic[Data]):
    """The body of every delivery and every feed item: the event id is also the `webhook-id` header."""

    id: uuid.UUID
    type: str
    timestamp: datetime
    clinic_id: uuid.UUID
    data: Data


WEBHOOK_PAYLOADS: dict[str, type[BaseModel]] = {
    "patient.created": PatientEvent,
    "patient.updated": PatientEvent,
    "patient.signed_out": PatientEvent,
    "programme.created": ProgrammeEvent,
    "programme.activated": ProgrammeEvent,
    "programme.revised": ProgrammeEvent,
    "programme.paused": ProgrammeEvent,
    "programme.completed": ProgrammeEvent,
    "programme.cancelled": ProgrammeEvent,
    "progression.suggested": ProgressionEvent,
    "progression.applied": ProgressionEvent,
    "session.logged": SessionLoggedEvent,
    "adherence.low": AdherenceLowEvent,
    "adherence.missed_day": MissedDayEvent,
    "safety.alert_raised": AlertRaisedEvent,
    "safety.alert_resolved": AlertResolvedEvent,
    "outcome.recorded": OutcomeRecordedEvent,
    "webhook.test": WebhookTestEvent,
}
