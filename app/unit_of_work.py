"""The units of work: the only owners of a commit.

A request's work runs in its UnitOfWork (app.routing opens one per request and commits it once, after the
route succeeded and before the answer is sent); work that must be stored whatever becomes of the request
runs in an independent_unit_of_work(). docs/architecture.md draws the request shape.
"""

import asyncio
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from app.db import Db, get_engine, read_engine, sqlite_changed_since_begin


class _LoopConnection:
    """One read connection kept open for one event loop, whose read routes all use it in turn.

    A read route's statements run on the event loop one request at a time, each fetching its rows whole
    (app.query), in autocommit: no transaction, cursor or snapshot outlives a statement, so requests can
    share the connection without handing it back to the pool in between. A pool checkout and return cost
    more than the patient read's own statement on SQLite (docs/performance.md, sixth round). One loop per
    read engine holds one (a server runs one loop); a unit elsewhere (a worker thread, a second live loop
    in tests) checks one out of the pool as before. A loop that has closed gives its connection back.
    """

    _lock = threading.Lock()
    # By the writing engine, as read_engine's twins are: the held connection refers to the twin only, so
    # an engine that is dropped (tests make many) takes its entry with it.
    _held: "weakref.WeakKeyDictionary[Engine, tuple[asyncio.AbstractEventLoop, Connection]]" = (
        weakref.WeakKeyDictionary()
    )

    @classmethod
    def get(cls, engine: Engine) -> Connection | None:
        """The running loop's connection to the engine's read twin, or None when it has none (then use
        the pool)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        held = cls._held.get(engine)
        if held is not None and held[0] is loop:
            return held[1]
        with cls._lock:
            held = cls._held.get(engine)
            if held is not None and not held[0].is_closed():
                return held[1] if held[0] is loop else None
            connection = read_engine(engine).connect()
            cls._held[engine] = (loop, connection)
        if held is not None:
            held[1].close()
        return connection

    @classmethod
    def close(cls, engine: Engine) -> None:
        """Give back the connection held for an engine's reads (the API's shutdown, on its loop): the
        running loop's, or a closed loop's; never one another live loop is reading on."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        with cls._lock:
            held = cls._held.get(engine)
            if held is None or (held[0] is not running and not held[0].is_closed()):
                return
            del cls._held[engine]
        held[1].close()


loop_connection = _LoopConnection.get
close_loop_connection = _LoopConnection.close


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

    A read unit (an `async def` route) has no session: `connection` is the event loop's connection of
    the read engine (_LoopConnection), and the rows the route must store (its audit) wait in `pending` for
    the group commit (app.routing hands them over once the route has succeeded).
    """

    __slots__ = ("_engine", "_reads", "_pooled", "_session", "pending", "read_only")

    def __init__(self, engine: Engine | None = None, *, read_only: bool = False) -> None:
        self._engine = engine
        self._session: Session | None = None
        self._reads: Connection | None = None
        self._pooled = False
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
            self._reads = loop_connection(self.engine)
            self._pooled = self._reads is None
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
        """Done with the read connection (a read unit, before it waits for the group commit): the loop's
        stays open for the next read, one from the pool goes back to it. SQLAlchemy marks a transaction
        begun even in autocommit when a statement runs through `Connection.execute` rather than app.query;
        left on the loop's connection, that mark would keep it from reconnecting after a lost connection
        (PendingRollbackError on every later read), so it is ended here (no round trip in autocommit)."""
        if self._reads is not None and self._pooled:
            self._reads.close()
        elif self._reads is not None and self._reads.in_transaction():
            self._reads.rollback()
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
        if session.new or session.dirty or session.deleted or sqlite_changed_since_begin(connection):
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
