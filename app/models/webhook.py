"""Webhook endpoints, the event outbox, deliveries and their attempts."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, HttpUrl, field_validator
from pydantic import Field as PydanticField
from sqlalchemy import JSON, CheckConstraint, Index, SmallInteger, String, false
from sqlmodel import Field, SQLModel

from app.models.common import INPUT, IsoDateTime, clinic_fk, id_field, in_calendar, utc_field

EventType = Literal[
    "patient.created",
    "patient.updated",
    "patient.signed_out",
    "programme.created",
    "programme.activated",
    "programme.revised",
    "programme.paused",
    "programme.completed",
    "programme.cancelled",
    "progression.suggested",
    "progression.applied",
    "session.logged",
    "adherence.low",
    "adherence.missed_day",
    "safety.alert_raised",
    "safety.alert_resolved",
    "outcome.recorded",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
# Sent only to the endpoint it was asked for; never in the feed, never replayed.
TEST_EVENT_TYPE = "webhook.test"
# What an event's data says about the patient's health (a session's colour, an alert's tier and reasons,
# a change's direction): in a webhook payload only when its endpoint opts in (`clinical_codes`), since the
# payload leaves the service tied to a patient id. The feed, read with the clinic's own credentials and
# audited, carries them.
CLINICAL_FIELDS: dict[str, frozenset[str]] = {
    "session.logged": frozenset({"colour"}),
    "safety.alert_raised": frozenset({"tier", "reasons"}),
    "safety.alert_resolved": frozenset({"tier"}),
    "progression.suggested": frozenset({"direction"}),
    "progression.applied": frozenset({"direction"}),
}
ClinicalCodes = Annotated[
    bool,
    PydanticField(
        description="Send clinical codes (alert tier and reasons, session colour, progression direction) "
        "in payloads; without it payloads carry ids only"
    ),
]

DeliveryStatus = Literal["pending", "succeeded", "failed", "cancelled"]
DisabledReason = Literal["manual", "gone", "failing"]


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("must not repeat an event type")
    return values


EventTypeFilter = Annotated[
    list[EventType], PydanticField(max_length=len(EVENT_TYPES)), AfterValidator(_unique)
]
Description = Annotated[str, PydanticField(max_length=500)]


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "webhook_endpoint"
    __table_args__ = (
        CheckConstraint("disabled_reason IN ('manual', 'gone', 'failing')", name="disabled_reason_values"),
        Index("ix_webhook_endpoint_clinic_id_id", "clinic_id", "id"),
    )

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    url: str = Field(max_length=2048)
    description: str = Field(default="", max_length=500)
    # Empty: every event type.
    event_types: list[str] = Field(default_factory=list, sa_type=JSON)
    enabled: bool = True
    disabled_reason: DisabledReason | None = Field(default=None, sa_type=String(8))
    # Stored as is, not hashed: signing needs the secret itself (docs/security.md).
    secret: str = Field(max_length=64)
    # After a rotation the old secret signs alongside the new one until it expires.
    previous_secret: str | None = Field(default=None, max_length=64)
    previous_secret_expires_at: datetime | None = utc_field(nullable=True)
    # First failed attempt since the last success; reset by any success.
    failing_since: datetime | None = utc_field(nullable=True)
    # Failed attempts since the last success, and until when the endpoint is then left alone as a whole
    # (deliveries.claim_due): a receiver that keeps failing cannot hold the dispatcher's senders.
    failures_in_row: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    backoff_until: datetime | None = utc_field(nullable=True)
    # Clinical codes (alert tier and reasons, a session's colour) in payloads only when opted in.
    clinical_codes: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    created_at: datetime = utc_field(default_now=True)
    updated_at: datetime = utc_field(default_now=True)


class WebhookEndpointCreate(SQLModel):
    model_config = INPUT

    url: HttpUrl
    description: Description = ""
    event_types: EventTypeFilter = Field(default_factory=list, description="Empty: every event type.")
    enabled: bool = True
    clinical_codes: ClinicalCodes = False


class WebhookEndpointUpdate(SQLModel):
    model_config = INPUT

    url: HttpUrl | None = None
    description: Description | None = None
    event_types: EventTypeFilter | None = None
    enabled: bool | None = None
    clinical_codes: ClinicalCodes | None = None


class WebhookEndpointPublic(SQLModel):
    id: uuid.UUID
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    clinical_codes: bool
    disabled_reason: DisabledReason | None
    failing_since: datetime | None
    backoff_until: datetime | None = Field(
        description="A failing endpoint is left alone until then (each failure in a row doubles the wait)."
    )
    previous_secret_expires_at: datetime | None = Field(
        description="Until then the previous secret also signs every message (after a rotation)."
    )
    created_at: datetime
    updated_at: datetime


class WebhookEndpointWithSecret(WebhookEndpointPublic):
    secret: str = Field(description="The signing secret. It is shown only in this response; store it now.")


class Event(SQLModel, table=True):
    """An outbox row. Its id is the `webhook-id` header and, being time-ordered, the feed cursor."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_clinic_id_id", "clinic_id", "id"),)

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    type: str = Field(max_length=40)
    data: dict[str, Any] = Field(sa_type=JSON)
    occurred_at: datetime = utc_field(default_now=True)


class EventPublic(SQLModel):
    """The webhook body and a feed item alike."""

    id: uuid.UUID
    type: str
    timestamp: datetime
    clinic_id: uuid.UUID
    data: dict[str, Any]


class Delivery(SQLModel, table=True):
    """One event to one endpoint, retried on the delivery policy's schedule."""

    __tablename__ = "delivery"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed', 'cancelled')", name="status_values"),
        Index("ix_delivery_clinic_id_endpoint_id_id", "clinic_id", "endpoint_id", "id"),
        # The dispatcher's queries run across clinics (on Citus: on every shard), so these indexes do
        # not lead with clinic_id: the due count (metrics), each endpoint's line in claim order, and the
        # sends under way (leased rows only).
        Index("ix_delivery_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_delivery_endpoint_line", "endpoint_id", "status", "priority", "next_attempt_at", "id"),
        Index("ix_delivery_status_locked_until", "status", "locked_until", "clinic_id"),
    )

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    event_id: uuid.UUID = Field(foreign_key="event.id", ondelete="CASCADE")
    endpoint_id: uuid.UUID = Field(foreign_key="webhook_endpoint.id", ondelete="CASCADE")
    status: DeliveryStatus = Field(default="pending", sa_type=String(16))
    # Claimed in this order before anything else: 0 for alerts that send a patient to care, 1 otherwise.
    priority: int = Field(default=1, sa_type=SmallInteger, sa_column_kwargs={"server_default": "1"})
    attempt_count: int = 0
    next_attempt_at: datetime | None = utc_field(nullable=True)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    # Set while a dispatcher is sending it; a crashed dispatcher's claim simply expires.
    locked_until: datetime | None = utc_field(nullable=True)
    created_at: datetime = utc_field(default_now=True)


class DeliveryAttempt(SQLModel, table=True):
    __tablename__ = "delivery_attempt"
    __table_args__ = (
        Index("ix_delivery_attempt_clinic_id_delivery_id_id", "clinic_id", "delivery_id", "id"),
    )

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    delivery_id: uuid.UUID = Field(foreign_key="delivery.id", ondelete="CASCADE")
    attempted_at: datetime = utc_field()
    status_code: int | None = None
    duration_ms: int
    error: str | None = Field(default=None, max_length=500)


class DeliveryAttemptPublic(SQLModel):
    attempted_at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None


class DeliveryPublic(SQLModel):
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    endpoint_id: uuid.UUID
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    attempts: list[DeliveryAttemptPublic]


class ReplayRequest(SQLModel):
    model_config = INPUT

    since: IsoDateTime = Field(description="Resend every event that occurred at or after this time.")

    @field_validator("since")
    @classmethod
    def _in_calendar(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must include a UTC offset")
        return in_calendar(value)


class ReplayResult(SQLModel):
    deliveries: int = Field(description="How many deliveries were scheduled.")
