"""Column helpers shared by every table, and the caller identity passed to services."""

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel
from sqlmodel import Field

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
    if not EARLIEST_DATE <= value.date() <= LATEST_DATE:
        raise ValueError(f"must be between {EARLIEST_DATE.year} and {LATEST_DATE.year}")
    return value


T = TypeVar("T")

ActorKind = Literal["staff", "patient", "api_key", "system"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is calling: every service call is scoped to `clinic_id`, and for patients to their own id."""

    kind: ActorKind
    id: uuid.UUID
    clinic_id: uuid.UUID
    role: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.kind == "staff" and self.role == "admin"


class Page(BaseModel, Generic[T]):
    """The one list shape: a slice of items in a deterministic order, and where to continue."""

    items: list[T]
    next_cursor: str | None = None

    def mapped(self, present: "Callable[[list[Any]], list[Any]]") -> "Page[Any]":
        """The same page with its rows presented (e.g. table rows as their Public models)."""
        return Page[Any](items=present(self.items), next_cursor=self.next_cursor)
