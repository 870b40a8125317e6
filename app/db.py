"""Engine, naming-convention metadata, column types and the session factory."""

import functools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import ParamSpec, TypeVar

import anyio.to_thread
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, create_engine

from app.config import get_settings
from app.context import simulated_now_var

# Stable constraint names so that Alembic autogenerate and downgrades are deterministic on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata


def utcnow() -> datetime:
    return simulated_now_var.get() or datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset, so store naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):  # type: ignore[override]
        return None if value is None else value.replace(tzinfo=UTC)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Let SQLAlchemy, not the driver, start transactions (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA cache_size=-32768")  # KiB: 32 MiB of pages kept per connection (default 2)
    cursor.close()


def _sqlite_begin(connection) -> None:
    # Most requests read then write (every patient read writes an audit row). A deferred transaction
    # that later needs the write lock fails at once with "database is locked" when another writer holds
    # it; taking the lock up front makes writers queue on busy_timeout instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # LIFO: requests take turns on SQLite, so the most recently used connection, whose page cache is
        # warm, serves the next one instead of the pool cycling through cold ones.
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 10},
            hide_parameters=True,
            pool_use_lifo=True,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True)


@lru_cache
def get_engine() -> Engine:
    return make_engine(get_settings().database_url)


P = ParamSpec("P")
R = TypeVar("R")


async def in_db(work: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run blocking database work for an async dependency or route, in the thread pool.

    Async dependencies and routes put their database work through here in as few trips as they can: each
    trip is a thread hand-off, and a plain `def` dependency costs one for every dependency of every
    request (the profile of `make bench` put more than half a request's time in those). Running the work
    on the event loop itself was measured too, on SQLite where requests are serialized anyway: no faster
    under load, and the slowest 1 % of requests waited 6× longer (docs/performance.md).
    """
    return await anyio.to_thread.run_sync(functools.partial(work, *args, **kwargs))


def new_session() -> Session:
    # expire_on_commit=False: routes shape the response from objects after their one commit.
    return Session(get_engine(), expire_on_commit=False)


async def get_session() -> AsyncIterator[Session]:
    """The request's session. Creating one does no I/O (a connection is taken at the first statement);
    closing one that still holds a connection (a request that failed before its commit) rolls back, which
    is database work, so it goes through in_db."""
    session = new_session()
    try:
        yield session
    finally:
        if session.in_transaction():
            await in_db(session.close)
        else:
            session.close()
