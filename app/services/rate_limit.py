"""Sliding-window counters of failed sign-ins, kept in the database so every API process shares them."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from app.db import utcnow
from app.errors import RateLimited
from app.models.auth import LoginFailure
from app.security import sha256_hex


@dataclass(frozen=True, slots=True)
class Failures:
    """A key's failures within the window."""

    count: int
    oldest: datetime
    latest: datetime


def _utc(moment: datetime) -> datetime:
    # An aggregate's result is not typed as the column, so SQLite gives it back without a zone.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def failures(session: Session, keys: list[str], window_seconds: int) -> dict[str, Failures]:
    """The failures of each key (those with any) within the window, in one query."""
    since = utcnow() - timedelta(seconds=window_seconds)
    rows = session.execute(
        select(
            LoginFailure.scope_key,
            func.count(),
            func.min(LoginFailure.occurred_at),
            func.max(LoginFailure.occurred_at),
        )
        .where(col(LoginFailure.scope_key).in_(keys), LoginFailure.occurred_at > since)
        .group_by(LoginFailure.scope_key)
    ).all()
    return {key: Failures(count, _utc(oldest), _utc(latest)) for key, count, oldest, latest in rows}


def refuse_at_limit(seen: dict[str, Failures], limits: dict[str, int], window_seconds: int) -> None:
    """Raise RateLimited when any key has reached its limit: until its oldest failure leaves the window."""
    since = utcnow() - timedelta(seconds=window_seconds)
    retry_after = 0
    for key, limit in limits.items():
        found = seen.get(key)
        if found is not None and found.count >= limit:
            retry_after = max(retry_after, math.ceil((found.oldest - since).total_seconds()))
    if retry_after:
        raise RateLimited(retry_after, "Too many failed attempts. Wait before trying again.")


def refuse_until(latest: datetime, delay_seconds: float) -> None:
    """Raise RateLimited until `delay_seconds` after `latest` (a growing delay between guesses)."""
    wait = (latest + timedelta(seconds=delay_seconds) - utcnow()).total_seconds()
    if wait > 0:
        raise RateLimited(math.ceil(wait), "Too many failed attempts. Wait before trying again.")


def account_key(email: str) -> str:
    return "acct:" + sha256_hex(email)[:40]


def address_key(purpose: str, address: str) -> str:
    return f"{purpose}:" + sha256_hex(address)[:40]


def pair_key(email: str, address: str) -> str:
    """One account at one address: the failures the growing delay is counted by."""
    return "acct-addr:" + sha256_hex(f"{email} {address}")[:40]


def slow_the_guesser(
    seen: dict[str, Failures], account: str, pair: str, account_limit: int, window_seconds: int
) -> None:
    """Past the per-account limit, an address that has itself failed on this account waits a delay that
    doubles with every further failure on the account (1 s, 2 s, 4 s, … up to the window). An address
    with no failure on it is never refused here: the owner signs in from their own device even while
    someone else guesses at the account (docs/security.md, F3)."""
    over = seen[account].count - account_limit if account in seen else -1
    if over >= 0 and pair in seen:
        refuse_until(seen[pair].latest, min(window_seconds, 2 ** min(over, 20)))


def check_failures(session: Session, limits: dict[str, int], window_seconds: int) -> None:
    """Raise RateLimited when any key has reached its limit within the window."""
    refuse_at_limit(failures(session, list(limits), window_seconds), limits, window_seconds)


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
