"""Engines (the writing one and its read-only twin), naming-convention metadata and column types.

The units of work that use them, the only owners of a commit, are in app.unit_of_work.
"""

import sqlite3
import weakref
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import DateTime, MetaData, Row, event
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.pool import ConnectionPoolEntry
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

# A Core result row of any columns (SQLAlchemy types a row by its columns' types: Row[int] has one).
AnyRow = Row[*tuple[Any, ...]]
# What the data-access layer (app.store) runs on: the request's ORM session (its connection, in its
# transaction) or a bare read connection (the patient app's read routes: their event loop's own).
Db = Session | Connection
# Set on the connections of a read engine (see read_engine): what a statement on them may not do, the
# audit service hands to the unit of work's group commit instead.
READ_ONLY = "hep_read_only"


def connection_of(db: Db) -> Connection:
    """The connection to run a Core statement on. A session's pending changes are flushed first, so that
    the statement sees them, as the session's own queries would (autoflush)."""
    if isinstance(db, Connection):
        return db
    if db.new or db.dirty or db.deleted:
        db.flush()
    return db.connection()


def utcnow() -> datetime:
    return simulated_now_var.get() or datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset, so store naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy, not the driver, start transactions (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA cache_size=-32768")  # KiB: 32 MiB of pages kept per connection (default 2)
    cursor.close()


_CHANGES_AT_BEGIN = "hep_changes_at_begin"


def _sqlite_changes(connection: Connection) -> int:
    return cast(sqlite3.Connection, connection.connection.dbapi_connection).total_changes


def sqlite_changed_since_begin(connection: Connection) -> bool:
    """Whether the SQLite transaction on this connection has changed anything yet."""
    return _sqlite_changes(connection) != connection.info.get(_CHANGES_AT_BEGIN)


def _sqlite_begin(connection: Connection) -> None:
    # Most requests read then write (every patient read writes an audit row). A deferred transaction
    # that later needs the write lock fails at once with "database is locked" when another writer holds
    # it; taking the lock up front makes writers queue on busy_timeout instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")
    # Where the connection's change count stood when the transaction began: whether the transaction has
    # changed anything yet, for UnitOfWork.make_way.
    connection.info[_CHANGES_AT_BEGIN] = _sqlite_changes(connection)


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


def _read_only_sqlite(dbapi_connection: sqlite3.Connection, record: ConnectionPoolEntry) -> None:
    _sqlite_pragmas(dbapi_connection, record)
    dbapi_connection.execute("PRAGMA query_only=ON")
    record.info[READ_ONLY] = True


def _read_only_postgresql(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[READ_ONLY] = True


# Weak keys: a read twin lives as long as its engine (tests make many).
_read_engines: "weakref.WeakKeyDictionary[Engine, Engine]" = weakref.WeakKeyDictionary()


def read_engine(engine: Engine) -> Engine:
    """The read-only twin of an engine, for the routes that only read (async routes, see app.routing).

    Autocommit: no BEGIN, COMMIT or ROLLBACK round trips; each statement reads a consistent snapshot of
    its own. The database refuses writes on it (SQLite's query_only, PostgreSQL's read-only default), so a
    read route cannot store anything by mistake: its audit rows go to the group commit. In WAL mode a
    SQLite reader never waits for a writer, which is what lets these statements run on the event loop; on
    PostgreSQL a statement timeout bounds how long one can hold it. Made once per engine.
    """
    twin = _read_engines.get(engine)
    if twin is not None:
        return twin
    url = engine.url
    if url.get_backend_name() == "sqlite":
        twin = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 10},
            hide_parameters=True,
            pool_use_lifo=True,
            isolation_level="AUTOCOMMIT",
        )
        event.listen(twin, "connect", _read_only_sqlite)
    else:
        # No pre-ping: it would cost a round trip per read. After a server restart the first read on each
        # stale connection fails (a 503 the app retries) and SQLAlchemy then replaces the pool's older
        # connections; the writing engine keeps its pre-ping, so no write is lost.
        twin = create_engine(
            url,
            pool_size=4,
            max_overflow=8,
            hide_parameters=True,
            isolation_level="AUTOCOMMIT",
            connect_args={"options": "-c default_transaction_read_only=on -c statement_timeout=5000"},
        )
        event.listen(twin, "connect", _read_only_postgresql)
    return _read_engines.setdefault(engine, twin)
