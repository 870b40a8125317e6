"""Keyset pagination: stable under concurrent inserts, because the cursor carries the last row's sort keys.

A page is ordered by up to two leading keys (a rank, then a time) and always last by the id. Each leading
key travels in the cursor as a signed 64-bit integer after the id's 16 bytes.
"""

import base64
import binascii
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import and_, or_
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import Session
from sqlmodel.sql.expression import SelectOfScalar

from app.errors import Code, InvalidInput
from app.models.common import Page


class _Identified(Protocol):
    """A table row with a UUID primary key named id (every table a list pages through)."""

    @property
    def id(self) -> uuid.UUID: ...


# paginate's `Page[T]` is in quotes: evaluated, it would make Pydantic build a Page of this protocol.
T = TypeVar("T", bound=_Identified)

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


@dataclass(frozen=True, slots=True)
class SortKey:
    """A key a page is ordered by before the id: a non-null SQL expression, the same value read from a
    loaded row, and how that value becomes the integer the cursor carries (and back)."""

    expression: Any
    of_row: Callable[[Any], Any]
    to_int: Callable[[Any], int] = int
    from_int: Callable[[int], Any] = int


def time_key(column: InstrumentedAttribute[Any] | Any) -> SortKey:
    """A UTC datetime column, carried in the cursor as microseconds since the epoch."""
    return SortKey(column, lambda row: getattr(row, column.key), _micros, _from_micros)


def encode_cursor(last_id: uuid.UUID, *keys: int) -> str:
    raw = last_id.bytes + b"".join(struct.pack(">q", key) for key in keys)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, key_count: int = 0) -> tuple[uuid.UUID, tuple[int, ...]]:
    """The id and the leading keys of a cursor issued for a list ordered by `key_count` keys before the id."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if len(raw) != 16 + 8 * key_count:
            raise ValueError("wrong length")
        return uuid.UUID(bytes=raw[:16]), struct.unpack(f">{key_count}q", raw[16:])
    except (binascii.Error, ValueError, struct.error) as exc:
        raise InvalidInput("The cursor is not one this service issued.", code=Code.INVALID_CURSOR) from exc


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1)


def _from_micros(micros: int) -> datetime:
    try:
        return _EPOCH + timedelta(microseconds=micros)
    except OverflowError as exc:
        raise InvalidInput("The cursor is not one this service issued.", code=Code.INVALID_CURSOR) from exc


def _after(expressions: list[Any], values: list[Any]) -> Any:
    """(e1, …, en) > (v1, …, vn) in lexicographic order, spelt out so every backend can use it."""
    condition = expressions[-1] > values[-1]
    for expression, value in zip(reversed(expressions[:-1]), reversed(values[:-1]), strict=True):
        condition = or_(expression > value, and_(expression == value, condition))
    return condition


def paginate(
    session: Session,
    statement: SelectOfScalar[T],
    id_column: InstrumentedAttribute[Any] | Any,
    params: PageParams,
    time_column: InstrumentedAttribute[Any] | Any | None = None,
    rank: SortKey | None = None,
) -> "Page[T]":
    """One page in id order; in (time_column, id) order when rows' ids are not time-ordered (e.g. ids chosen
    by clients) or another time matters; with `rank` (e.g. a CASE over a tier), by rank first."""
    keys = [] if rank is None else [rank]
    if time_column is not None:
        keys.append(time_key(time_column))
    expressions = [key.expression for key in keys] + [id_column]
    if params.cursor:
        last_id, last_keys = decode_cursor(params.cursor, len(keys))
        values = [key.from_int(value) for key, value in zip(keys, last_keys, strict=True)]
        statement = statement.where(_after(expressions, [*values, last_id]))
    rows = list(session.exec(statement.order_by(*expressions).limit(params.limit + 1)))
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor(last.id, *(key.to_int(key.of_row(last)) for key in keys))
    return Page[Any](items=rows, next_cursor=next_cursor)
