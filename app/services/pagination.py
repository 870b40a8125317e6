"""Keyset pagination over time-ordered UUID primary keys: stable under concurrent inserts."""

import base64
import binascii
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, or_
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import Session
from sqlmodel.sql.expression import SelectOfScalar

from app.errors import InvalidInput
from app.models.common import Page

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None

    @classmethod
    def clamped(cls, limit: int | None, cursor: str | None) -> "PageParams":
        return cls(limit=min(max(limit or DEFAULT_LIMIT, 1), MAX_LIMIT), cursor=cursor or None)


def encode_cursor(last_id: uuid.UUID, last_time: datetime | None = None) -> str:
    raw = last_id.bytes + (struct.pack(">q", _micros(last_time)) if last_time is not None else b"")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[uuid.UUID, datetime | None]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if len(raw) not in (16, 24):
            raise ValueError("wrong length")
        last_time = _from_micros(struct.unpack(">q", raw[16:])[0]) if len(raw) == 24 else None
        return uuid.UUID(bytes=raw[:16]), last_time
    except (binascii.Error, ValueError, OverflowError) as exc:
        raise InvalidInput("The cursor is not one this service issued.", code="invalid_cursor") from exc


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1)


def _from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def paginate(
    session: Session,
    statement: SelectOfScalar[T],
    id_column: InstrumentedAttribute[Any] | Any,
    params: PageParams,
    time_column: InstrumentedAttribute[Any] | Any | None = None,
) -> Page[T]:
    """One page in id order, or in (time_column, id) order when rows' ids are not time-ordered (e.g. ids
    chosen by clients). The cursor carries the last row's keys, so pages stay stable under inserts."""
    if params.cursor:
        last_id, last_time = decode_cursor(params.cursor)
        if time_column is None:
            statement = statement.where(id_column > last_id)
        else:
            if last_time is None:
                raise InvalidInput("The cursor is not one this service issued.", code="invalid_cursor")
            statement = statement.where(
                or_(time_column > last_time, and_(time_column == last_time, id_column > last_id))
            )
    order = (id_column,) if time_column is None else (time_column, id_column)
    rows = list(session.exec(statement.order_by(*order).limit(params.limit + 1)))
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor(
            last.id, getattr(last, time_column.key) if time_column is not None else None
        )
    return Page[Any](items=rows, next_cursor=next_cursor)
