"""Column helpers shared by every table, and the caller identity passed to services."""

import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, Strict
from pydantic_core import PydanticCustomError
from sqlmodel import Field
from sqlmodel._compat import SQLModelConfig

from app.db import UTCDateTime, utcnow


def new_id() -> uuid.UUID:
    """UUIDv7: time-ordered, so primary keys double as a stable creation order for cursor pagination."""
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80
    value |= int.from_bytes(os.urandom(10), "big") & ((1 << 80) - 1)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return uuid.UUID(int=value)


def id_field() -> Any:
    return Field(default_factory=new_id, primary_key=True)


def utc_field(*, nullable: bool = False, index: bool = False, default_now: bool = False) -> Any:
    if default_now:
        return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=nullable, index=index)
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def clinic_fk() -> Any:
    return Field(foreign_key="clinic.id", nullable=False, ondelete="CASCADE")


# The calendar the service works in. Dates a client sends outside it (year 1, year 9999) are refused at
# validation; arithmetic on them (a window's day before, a conversion to UTC) would overflow.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2199, 12, 31)


def in_calendar(value: datetime) -> datetime:
    """For datetime validators: refuse a moment outside the service's calendar (raises ValueError)."""
    date_in_calendar(value.date())
    return value


def known_timezone(value: str | None) -> str | None:
    """For validators: an IANA time zone name this machine knows (raises ValueError), or None."""
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("must be an IANA timezone name such as Europe/London") from exc
    return value


def date_in_calendar(value: date) -> date:
    """For date validators: refuse a day outside the service's calendar (raises ValueError)."""
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(f"must be between {EARLIEST_DATE.year} and {LATEST_DATE.year}")
    return value


# --- request input: exactly the published schema ---------------------------------------------------
#
# Request bodies are validated strictly (`INPUT`): a JSON string is never taken for a number or a
# boolean, nor a number for a boolean, as Pydantic's default (lax) mode would; the OpenAPI document
# publishes the types, and clinical data sent as the wrong type is more likely a client bug than intent.
# FastAPI validates a parsed body as Python data, where strict mode would want date, datetime and UUID
# objects, so fields of those types are declared with the types below: their JSON form, a string, and
# nothing else (not a Unix time, not a number). Built as SQLModel's ConfigDict (it adds the table keys),
# which both Pydantic models and SQLModel input classes accept.
INPUT = SQLModelConfig(extra="forbid", strict=True)

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_ISO_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def _date_text(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise PydanticCustomError("date_type", "Input should be a date string, YYYY-MM-DD")
    return value


def _datetime_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATETIME.match(value):
        raise PydanticCustomError(
            "datetime_type", "Input should be a date-time string, e.g. 2026-11-21T09:30:00+01:00"
        )
    return value


def _uuid_text(value: Any) -> Any:
    if not isinstance(value, str | uuid.UUID):
        raise PydanticCustomError("uuid_type", "Input should be a UUID string")
    return value


def _integer_text(value: Any) -> Any:
    # A query or path integer is written in digits: not "1.0", "+1", " 1" or "1_000", which lax parsing
    # would take, nor so many that it overflows a database integer.
    if isinstance(value, int) or (isinstance(value, str) and _INTEGER.fullmatch(value)):
        return value
    raise PydanticCustomError("int_parsing", "Input should be a whole number of at most 18 digits")


def _boolean_text(value: Any) -> Any:
    # A boolean query parameter is serialised as `true` or `false`; "1", "yes" or "on" are not published.
    if isinstance(value, bool) or value in ("true", "false"):
        return value
    raise PydanticCustomError("bool_parsing", "Input should be true or false")


IsoDate = Annotated[date, Strict(False), BeforeValidator(_date_text)]
IsoDateTime = Annotated[datetime, Strict(False), BeforeValidator(_datetime_text)]
IsoUUID = Annotated[uuid.UUID, Strict(False), BeforeValidator(_uuid_text)]
# A day in the service's calendar (1900–2199): programme dates, and date query parameters, which would
# otherwise reach date arithmetic that overflows (a window's day after 9999-12-31).
CalendarDate = Annotated[IsoDate, AfterValidator(date_in_calendar)]
QueryBool = Annotated[bool, BeforeValidator(_boolean_text)]
QueryInt = Annotated[int, BeforeValidator(_integer_text)]


T = TypeVar("T")

ActorKind = Literal["staff", "patient", "api_key", "system"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is calling: every service call is scoped to `clinic_id`, and for patients to their own id."""

    kind: ActorKind
    id: uuid.UUID
    clinic_id: uuid.UUID
    role: str | None = None
    # A patient's language and time zone, read with the check that the patient still exists: the patient
    # app's requests need nothing else from the patient's row.
    locale: str | None = None
    timezone: str | None = None


class Page(BaseModel, Generic[T]):
    """The one list shape: a slice of items in a deterministic order, and where to continue."""

    items: list[T]
    next_cursor: str | None = None

    def mapped(self, present: "Callable[[list[Any]], list[Any]]") -> "Page[Any]":
        """The same page with its rows presented (e.g. table rows as their Public models)."""
        return Page[Any](items=present(self.items), next_cursor=self.next_cursor)
