"""The request shape: every API route runs in one unit of work, opened and finished by its route class.

A writing route (`def`):

    request ─▶ UnitOfWorkRoute handler: a UnitOfWork for this request (no I/O yet), set as the current one
                 │
                 ├─ dependencies (event loop): token claims, parameters, body; staff callers and loaders
                 │  are plain `def` dependencies (a hop each, in the same unit)
                 ▼
               one thread hop: Deferred values (the patient row checked) ─▶ route ─▶ service ─▶ COMMIT
                 │                        any error on the way: nothing committed
                 ▼
               response validated and sent (after the commit: a failed commit is an error answer)
                 │
               finally: the unit closes; what was not committed is rolled back

A read route (`async def`) does the same on the event loop, without a hop or a session: its unit reads on
the loop's read-only connection (app.store through the same services), is done with it, then waits for
the group commit of its audit rows (app.group_commit) before the answer is sent.

After Polar's AutoCommitAPIRoute. Routes and services never commit; docs/architecture.md says more.
"""

import asyncio
import contextlib
import functools
import inspect
import logging
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute

from app.config import get_settings
from app.group_commit import writer_for
from app.idempotency import honour_idempotency_key
from app.unit_of_work import UnitOfWork, current_unit

_log = logging.getLogger("hep.audit")
_WRAPPED = "__hep_unit_of_work__"
_READS = "__hep_reads_only__"


def _report_unstored(stored: "asyncio.Future[None]") -> None:
    """HEP_AUDIT_WAIT=0: the answer has gone; a failed group commit can only be told to the operator."""
    if not stored.cancelled() and stored.exception() is not None:
        _log.error("A read's audit rows could not be stored", exc_info=stored.exception())


def in_unit_of_work(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """The endpoint run inside the request's unit of work, its signature kept for FastAPI.

    A plain `def` endpoint runs in one hop to the thread pool together with the deferred values before it
    and the commit after it: the commit happens before FastAPI shapes and sends the answer, and the
    wrapper being async, FastAPI validates the answer on the event loop instead of in a second hop.
    An `async def` endpoint is a read route: its deferred values and its work run on the event loop on
    the unit's read connection, and its pending rows go to the group commit once it has succeeded.
    """
    if getattr(endpoint, _WRAPPED, False):
        return endpoint
    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def read(**arguments: Any) -> Any:
            unit = current_unit()
            try:
                result = await endpoint(**unit.resolve(arguments))
            finally:
                unit.release()
            if unit.pending:
                stored = writer_for(unit.engine).store(unit.pending)
                if get_settings().audit_wait:
                    await stored
                else:
                    stored.add_done_callback(_report_unstored)
            return result

        wrapper = read
    else:

        @functools.wraps(endpoint)
        async def run(**arguments: Any) -> Any:
            return await run_in_threadpool(current_unit().run, endpoint, arguments)

        wrapper = run
    setattr(wrapper, _WRAPPED, True)
    setattr(wrapper, _READS, inspect.iscoroutinefunction(endpoint))
    return wrapper


class WriteSlots:
    """At most `limit` writing requests (`def` routes) inside the app at once, queued on the event loop
    before they take a worker thread or a database lock.

    SQLite has one writer, and a writing request takes the write lock at its first statement (app/db.py),
    in a worker thread. Unbounded, a burst fills the thread pool with requests blocked on that lock while
    the request holding it waits for a free thread to go on: the server stalls until busy_timeout. Queuing
    here means the lock holder always finds a thread. On PostgreSQL a handful at once overlap their
    database waits; dozens only take turns at the interpreter. Read routes take no slot: they run on the
    event loop, take no lock (a WAL reader never waits) and need no thread. 0: no limit.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        # One semaphore per event loop: a server runs one loop, but a test client may start several.
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def slot(self) -> asyncio.Semaphore | contextlib.nullcontext[None]:
        if not self.limit:
            return contextlib.nullcontext()
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        return semaphore


_NO_LIMIT = WriteSlots(0)


class UnitOfWorkRoute(APIRoute):
    """The route class of every API router: one unit of work per request, committed once by the wrapped
    endpoint (see in_unit_of_work), closed here whatever happened. The app's engine is
    `app.state.engine` when create_app was given one (tests), else the configured one."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        endpoint = in_unit_of_work(honour_idempotency_key(endpoint, path, kwargs))
        self.reads_only: bool = getattr(endpoint, _READS)
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_in_unit_of_work(request: Request) -> Response:
            state = request.app.state
            unit = UnitOfWork(getattr(state, "engine", None), read_only=self.reads_only)
            slots = _NO_LIMIT if self.reads_only else getattr(state, "write_slots", _NO_LIMIT)
            async with slots.slot():
                try:
                    with unit.as_current():
                        return await handle(request)
                finally:
                    # Rolling back is database work: off the event loop when there is any (and inside
                    # the slot, so that the next writer does not wait for this one's lock).
                    if unit.in_transaction:
                        await run_in_threadpool(unit.close)
                    else:
                        unit.close()

        return handle_in_unit_of_work
