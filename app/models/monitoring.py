"""Staff interactions with a patient and the remote-monitoring report (facts, never billing codes)."""

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, field_validator, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import CheckConstraint, Index, String
from sqlmodel import Field, SQLModel

from app.models.common import INPUT, CalendarDate, IsoDateTime, clinic_fk, id_field, in_calendar, utc_field

InteractionKind = Literal["live", "async"]
MAX_INTERACTION_MINUTES = 600
PERIOD_DAYS = 30
MAX_WINDOW_DAYS = 732


class Interaction(SQLModel, table=True):
    __tablename__ = "interaction"
    __table_args__ = (
        CheckConstraint("kind IN ('live', 'async')", name="kind_values"),
        CheckConstraint(f"minutes BETWEEN 1 AND {MAX_INTERACTION_MINUTES}", name="minutes_range"),
        Index("ix_interaction_clinic_id_patient_id_occurred_at", "clinic_id", "patient_id", "occurred_at"),
    )

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    patient_id: uuid.UUID = Field(foreign_key="patient.id", ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="staff_user.id", ondelete="CASCADE")
    minutes: int
    kind: InteractionKind = Field(sa_type=String(8))
    occurred_at: datetime = utc_field()
    note: str | None = Field(default=None, max_length=2000)
    created_at: datetime = utc_field(default_now=True)


class InteractionIn(BaseModel):
    model_config = INPUT

    minutes: int = PydanticField(ge=1, le=MAX_INTERACTION_MINUTES)
    kind: InteractionKind = PydanticField(description="live: a real-time two-way contact (call, video)")
    occurred_at: IsoDateTime | None = PydanticField(default=None, description="When it began (default: now)")
    note: str | None = PydanticField(default=None, max_length=2000)

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a UTC offset")
        return value and in_calendar(value)


class InteractionPublic(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    user_id: uuid.UUID
    minutes: int
    kind: InteractionKind
    occurred_at: datetime
    note: str | None
    created_at: datetime


class MonitoringWindow(BaseModel):
    """The query of GET …/monitoring: local dates in the patient's time zone, both inclusive."""

    model_config = {"extra": "forbid"}

    start: CalendarDate | None = PydanticField(
        default=None, alias="from", description="First day (default: when monitoring began)"
    )
    end: CalendarDate | None = PydanticField(
        default=None, alias="to", description="Last day (default: today)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> "MonitoringWindow":
        if self.start is not None and self.end is not None:
            if self.start > self.end:
                raise ValueError("from must not be after to")
            if (self.end - self.start).days >= MAX_WINDOW_DAYS:
                raise ValueError(f"a window covers at most {MAX_WINDOW_DAYS} days")
        return self


class MonitoringPeriod(BaseModel):
    start: date = PydanticField(description=f"First day of a {PERIOD_DAYS}-day period")
    end: date = PydanticField(description="Its last day")
    complete: bool = PydanticField(description="The whole period lies in the window")
    days_with_data: int = PydanticField(
        description="Days of the period, within the window, with a session log, symptom check or outcome"
    )


class MonitoringMonth(BaseModel):
    month: str = PydanticField(description="YYYY-MM", examples=["2026-11"])
    complete: bool = PydanticField(description="The whole month lies in the window")
    interaction_minutes: int = PydanticField(description="Staff minutes with the patient, within the window")
    live_contact: bool = PydanticField(description="At least one live (real-time, two-way) interaction")


class MonitoringReport(BaseModel):
    patient_id: uuid.UUID
    timezone: str
    start: date
    end: date
    periods: list[MonitoringPeriod]
    months: list[MonitoringMonth]


class MonitoringSummary(BaseModel):
    """A patient's figures today: the 30-day period under way and the calendar month under way."""

    patient_id: uuid.UUID
    external_id: str | None
    display_name: str
    period_start: date
    period_end: date
    days_with_data: int
    month: str
    interaction_minutes: int
    live_contact: bool
