"""Engine, naming-convention metadata, column types, and the units of work: the only owners of a commit.

A request's work runs in its UnitOfWork (app.routing opens one per request and commits it once, after the
route succeeded and before the answer is sent); work that must be stored whatever becomes of the request
runs in an independent_unit_of_work(). docs/architecture.md draws the request shape.
"""

import sqlite3
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Generic, TypeVar, cast

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
# transaction) or a bare pooled connection (the patient app's read routes).
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


T = TypeVar("T")
R = TypeVar("R")


class Deferred(Generic[T]):
    """A dependency's value that needs the database, computed by the unit of work just before the route's
    own work, on the route's own connection: the patient app's caller, whose row is checked on every
    request without a trip to the thread pool of its own. The route receives the computed value."""

    __slots__ = ("args", "compute")

    def __init__(self, compute: Callable[..., T], *args: Any) -> None:
        self.compute, self.args = compute, args

    def value(self, db: Db) -> T:
        return self.compute(db, *self.args)


class UnitOfWork:
    """One request's transaction, and the only place that commits it.

    A writing unit (a `def` route) makes its session at first use, and the session takes a connection at
    its first statement, so a request that needs no database costs nothing here. `run` is the route's one
    hop: the deferred values, the route, then the commit. `close` rolls back whatever was not committed:
    any error, wherever it was raised, leaves nothing behind. expire_on_commit=False: the answer is shaped
    from the objects after the commit.

    A read unit (an `async def` route) has no session: `connection` is a pooled connection of the read
    engine, used on the event loop, and the rows the route must store (its audit) wait in `pending` for
    the group commit (app.routing hands them over once the route has succeeded).
    """

    __slots__ = ("_engine", "_reads", "_session", "pending", "read_only")

    def __init__(self, engine: Engine | None = None, *, read_only: bool = False) -> None:
        self._engine = engine
        self._session: Session | None = None
        self._reads: Connection | None = None
        self.read_only = read_only
        self.pending: list[tuple[Any, dict[str, Any]]] = []

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = get_engine()
        return self._engine

    @property
    def session(self) -> Session:
        if self.read_only:
            raise RuntimeError("A read route has no ORM session: it reads through app.store.")
        if self._session is None:
            self._session = Session(self.engine, expire_on_commit=False)
        return self._session

    @property
    def connection(self) -> Connection:
        """The connection this unit's statements run on: the read connection of a read unit, else the
        session's (in its transaction)."""
        if not self.read_only:
            return self.session.connection()
        if self._reads is None:
            self._reads = read_engine(self.engine).connect()
        return self._reads

    def store_later(self, table: Any, row: dict[str, Any]) -> None:
        """A row a read unit stores through the group commit once its route has succeeded."""
        self.pending.append((table, row))

    @property
    def in_transaction(self) -> bool:
        """Whether committing or closing has database work to do (then it belongs in a worker thread)."""
        return self._session is not None and self._session.in_transaction()

    def resolve(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments with every Deferred value computed in this unit."""
        if not any(isinstance(value, Deferred) for value in arguments.values()):
            return arguments
        db: Db = self.connection if self.read_only else self.session
        return {
            name: value.value(db) if isinstance(value, Deferred) else value
            for name, value in arguments.items()
        }

    def run(self, work: Callable[..., R], arguments: dict[str, Any]) -> R:
        """Deferred values first, then the work, then the one commit, all in the calling thread. Whatever
        raises, commits nothing: close() rolls back."""
        result = work(**self.resolve(arguments))
        self.commit()
        return result

    def commit(self) -> None:
        if self._session is not None and self._session.in_transaction():
            _commit(self._session)

    def release(self) -> None:
        """Give the read connection back to its pool (a read unit does this before it waits for the group
        commit, so that waiting requests hold no connection)."""
        if self._reads is not None:
            self._reads.close()
            self._reads = None

    def close(self) -> None:
        self.release()
        if self._session is not None:
            self._session.close()

    @contextmanager
    def as_current(self) -> Iterator["UnitOfWork"]:
        """This unit is the one SessionDep and independent_unit_of_work() find, in this context and the
        worker threads it hands work to (context variables travel with the hop)."""
        token = _current_unit.set(self)
        try:
            yield self
        finally:
            _current_unit.reset(token)

    def make_way(self) -> None:
        """Let an independent unit of work take SQLite's one write lock.

        The request's unit took the lock with its first statement (see _sqlite_begin) and would hold it
        until the request ends, so an independent unit would wait on its own request until busy_timeout.
        A transaction that has changed nothing yet (the caller check, the reads before a failed sign-in)
        is ended here; its loaded objects stay as they are, and the next statement begins a new one. One
        that has changed something cannot be ended without committing or losing that change: that is a
        mistake in the calling code, refused at once rather than waited out. PostgreSQL runs the two
        transactions side by side: nothing to do.
        """
        session = self._session
        if session is None or not session.in_transaction() or self.engine.dialect.name != "sqlite":
            return
        connection = session.connection()
        if (
            session.new
            or session.dirty
            or session.deleted
            or _sqlite_changes(connection) != connection.info.get(_CHANGES_AT_BEGIN)
        ):
            raise RuntimeError(
                "An independent unit of work was opened after the request's own unit changed something: "
                "on SQLite the two would wait on each other. Open it before the request's writes."
            )
        _commit(session)  # a transaction that changed nothing: this only ends it (and frees the lock)


_current_unit: ContextVar[UnitOfWork | None] = ContextVar("hep_unit_of_work", default=None)


def current_unit() -> UnitOfWork:
    """The request's unit of work (set by app.routing.UnitOfWorkRoute for every API route)."""
    unit = _current_unit.get()
    if unit is None:
        raise LookupError("No unit of work here: API routes get theirs from app.routing.UnitOfWorkRoute.")
    return unit


@contextmanager
def independent_unit_of_work() -> Iterator[Session]:
    """A transaction of its own, for work that must be stored whatever becomes of the request.

    Use it only for that, and name why where it is used. Today: a failed sign-in's count and a revoked
    token family (app.services.auth), which must stay although the request answers 401; and a symptom
    check's record (app.services.safety.check_in), which must be stored although the request's answer is
    the advice, and whose answer must say whether it was stored. Everything else a request does belongs
    in the request's one unit of work, committed by its owner, never here.

    The block's work is committed when the block ends without an error (a failed commit raises, so the
    caller knows) and rolled back when an error escapes. The request's own unit is left alone: it commits
    or rolls back with the request. Inside a request it uses the request's engine; open it before the
    request's own writes (see UnitOfWork.make_way: on SQLite the request's unit yields the write lock).
    """
    unit = _current_unit.get()
    engine = unit.engine if unit is not None else get_engine()
    if unit is not None:
        unit.make_way()
    with Session(engine, expire_on_commit=False) as session:
        yield session
        _commit(session)


def _commit(session: Session) -> None:
    try:
        session.commit()
    except BaseException:
        # A COMMIT that failed can leave the connection inside a transaction SQLAlchemy no longer tracks
        # (SQLite keeps a transaction whose COMMIT was refused), and closing the session would then hand it
        # back to the pool as it is: discard the connection instead of passing it to the next request.
        session.invalidate()
        raise
