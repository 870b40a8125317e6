"""Reminder preferences, the coming reminder instants, the calendar feed's token and missed-day nudges."""

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, field_validator, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import JSON, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.common import INPUT, clinic_fk, id_field, known_timezone, utc_field

MAX_TIMES_PER_DAY = 12
DEFAULT_EVENING = "20:00"
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


def _clock(value: str) -> str:
    if not _CLOCK.fullmatch(value):
        raise ValueError("must be a local time HH:MM, 00:00 to 23:59")
    return value


def _sorted_unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("must not repeat a time")
    return sorted(values)


def _weekdays(values: list[int]) -> list[int]:
    if len(set(values)) != len(values):
        raise ValueError("must not repeat a day")
    return sorted(values)


Clock = Annotated[str, AfterValidator(_clock), PydanticField(examples=["08:30"])]
Weekday = Annotated[int, PydanticField(ge=1, le=7, description="ISO weekday: 1 Monday … 7 Sunday")]


class ReminderPreference(SQLModel, table=True):
    """A patient's saved reminder choices (absent: the defaults derived from the programme)."""

    __tablename__ = "reminder_preference"
    __table_args__ = (UniqueConstraint("clinic_id", "patient_id"),)

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    patient_id: uuid.UUID = Field(foreign_key="patient.id", ondelete="CASCADE")
    times: list[str] = Field(sa_type=JSON)
    days: list[int] | None = Field(default=None, sa_type=JSON)
    quiet_start: str | None = Field(default=None, max_length=5)
    quiet_end: str | None = Field(default=None, max_length=5)
    evening: str = Field(max_length=5)
    updated_at: datetime = utc_field(default_now=True)


class ReminderPreferencesIn(BaseModel):
    """Body of PUT …/reminder-preferences: the whole set (what is left out takes its default)."""

    model_config = INPUT

    times: Annotated[list[Clock], PydanticField(max_length=MAX_TIMES_PER_DAY), AfterValidator(_sorted_unique)]
    days: Annotated[
        list[Weekday] | None,
        PydanticField(min_length=1, max_length=7, description="Empty or null: the programme's days"),
        AfterValidator(lambda v: v and _weekdays(v)),
    ] = None
    quiet_start: Clock | None = PydanticField(default=None, description="No reminder from this local time…")
    quiet_end: Clock | None = PydanticField(default=None, description="…until this one (may cross midnight)")
    evening: Clock = PydanticField(
        default=DEFAULT_EVENING,
        description="Nothing logged by this local time on a due day: a missed-day nudge",
    )
    timezone: str | None = PydanticField(
        default=None, max_length=64, description="The patient's IANA time zone, if it changed (e.g. moving)"
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        return known_timezone(value)

    @model_validator(mode="after")
    def _quiet_hours(self) -> "ReminderPreferencesIn":
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise ValueError("quiet_start and quiet_end go together")
        if self.quiet_start is not None and self.quiet_start == self.quiet_end:
            raise ValueError("quiet hours must not start and end at the same time")
        return self


class ReminderPreferences(BaseModel):
    times: list[str] = PydanticField(description="Local times of the reminders, HH:MM, in order")
    days: list[int] = PydanticField(description="ISO weekdays the reminders are for")
    quiet_start: str | None
    quiet_end: str | None
    evening: str
    timezone: str
    source: Literal["saved", "default"] = PydanticField(
        description="default: derived from the programme's times per day and days of the week"
    )


class ReminderDue(BaseModel):
    programme_id: uuid.UUID
    item_id: uuid.UUID
    sessions: int = PydanticField(description="Sessions of this item due that day")


class ReminderInstant(BaseModel):
    at: datetime = PydanticField(description="The moment, in UTC")
    local: datetime = PydanticField(description="The same moment in the patient's time zone, with its offset")
    local_date: date
    local_time: str = PydanticField(description="The chosen reminder time (HH:MM) this instant is for")
    due: list[ReminderDue]


class ReminderSchedule(BaseModel):
    timezone: str
    start: date
    end: date
    reminders: list[ReminderInstant]


class CalendarToken(SQLModel, table=True):
    """The secret of a patient's calendar feed URL (stored hashed); revoking it stops the URL at once."""

    __tablename__ = "calendar_token"
    __table_args__ = (Index("ix_calendar_token_clinic_id_patient_id", "clinic_id", "patient_id"),)

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    patient_id: uuid.UUID = Field(foreign_key="patient.id", ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = utc_field(default_now=True)
    revoked_at: datetime | None = utc_field(nullable=True)


class CalendarFeedPublic(BaseModel):
    url: str = PydanticField(description="Shown once: anyone with it can read the reminder times")
    created_at: datetime


class MissedDay(SQLModel, table=True):
    """One row per patient and local day that was nudged: the nudge is emitted once for that day."""

    __tablename__ = "missed_day"
    __table_args__ = (UniqueConstraint("clinic_id", "patient_id", "local_date"),)

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    patient_id: uuid.UUID = Field(foreign_key="patient.id", ondelete="CASCADE")
    local_date: date
    created_at: datetime = utc_field(default_now=True)


# What a calendar app shows: no exercise, no condition, nothing about health beyond "exercises".
CALENDAR_NAME = {"en": "Home exercises", "es": "Ejercicios en casa"}
CALENDAR_EVENT_TITLE = {"en": "Home exercises", "es": "Ejercicios en casa"}
CALENDAR_ALARM_TEXT = {"en": "Time for your home exercises", "es": "Es la hora de tus ejercicios en casa"}
