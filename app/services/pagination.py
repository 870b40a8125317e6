"""Keyset pagination over time-ordered UUID primary keys: stable under concurrent inserts."""

import base64
import binascii
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import Session
from sqlmodel.sql.expression import SelectOfScalar

from app.errors import InvalidInput
from app.models.common import Page

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None

    @classmethod
    def clamped(cls, limit: int | None, cursor: str | None) -> "PageParams":
        return cls(limit=min(max(limit or DEFAULT_LIMIT, 1), MAX_LIMIT), cursor=cursor or None)


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("The cursor is not one this service issued.", code="invalid_cursor") from exc


def paginate(
    session: Session,
    statement: SelectOfScalar[T],
    id_column: InstrumentedAttribute[Any] | Any,
    params: PageParams,
) -> Page[T]:
    if params.cursor:
        statement = statement.where(id_column > decode_cursor(params.cursor))
    rows = list(session.exec(statement.order_by(id_column).limit(params.limit + 1)))
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    return Page[Any](items=rows, next_cursor=encode_cursor(rows[-1].id) if more else None)
