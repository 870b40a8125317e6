"""Sliding-window counters of failed sign-ins, kept in the database so every API process shares them."""

import math
from datetime import timedelta

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from app.db import utcnow
from app.errors import RateLimited
from app.models.auth import LoginFailure


def check_failures(session: Session, limits: dict[str, int], window_seconds: int) -> None:
    """Raise RateLimited when any key has reached its limit within the window."""
    now = utcnow()
    since = now - timedelta(seconds=window_seconds)
    rows = session.execute(
        select(LoginFailure.scope_key, func.count(), func.min(LoginFailure.occurred_at))
        .where(col(LoginFailure.scope_key).in_(list(limits)), LoginFailure.occurred_at > since)
        .group_by(LoginFailure.scope_key)
    ).all()
    retry_after = 0
    for key, count, oldest in rows:
        if count >= limits[key]:
            oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
            retry_after = max(retry_after, math.ceil((oldest - since).total_seconds()))
    if retry_after:
        raise RateLimited(retry_after, "Too many failed attempts. Wait before trying again.")


def record_failures(session: Session, keys: list[str], window_seconds: int) -> None:
    now = utcnow()
    # Keep the table small: rows older than the window no longer count.
    session.execute(
        delete(LoginFailure).where(
            col(LoginFailure.scope_key).in_(keys),
            col(LoginFailure.occurred_at) <= now - timedelta(seconds=window_seconds),
        )
    )
    for key in keys:
        session.add(LoginFailure(scope_key=key, occurred_at=now))


def clear_failures(session: Session, keys: list[str]) -> None:
    session.execute(delete(LoginFailure).where(col(LoginFailure.scope_key).in_(keys)))
