"""The request shape: every API route runs in one unit of work, opened and committed by its route class.

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

After Polar's AutoCommitAPIRoute. Routes and services never commit; docs/architecture.md says more.
"""

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute

from app.db import Deferred, UnitOfWork, current_unit

_WRAPPED = "__hep_unit_of_work__"


def in_unit_of_work(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """The endpoint run inside the request's unit of work, its signature kept for FastAPI.

    A plain `def` endpoint runs in one hop to the thread pool together with the deferred values before it
    and the commit after it: the commit happens before FastAPI shapes and sends the answer, and the
    wrapper being async, FastAPI validates the answer on the event loop instead of in a second hop.
    An async endpoint does no database work of its own; its deferred values and a commit, if any, still
    run in the thread pool.
    """
    if getattr(endpoint, _WRAPPED, False):
        return endpoint
    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def run_async(**arguments: Any) -> Any:
            unit = current_unit()
            if any(isinstance(value, Deferred) for value in arguments.values()):
                arguments = await run_in_threadpool(unit.resolve, arguments)
            result = await endpoint(**arguments)
            if unit.in_transaction:
                await run_in_threadpool(unit.commit)
            return result

        wrapper = run_async
    else:

        @functools.wraps(endpoint)
        async def run(**arguments: Any) -> Any:
            return await run_in_threadpool(current_unit().run, endpoint, arguments)

        wrapper = run
    setattr(wrapper, _WRAPPED, True)
    return wrapper


class UnitOfWorkRoute(APIRoute):
    """The route class of every API router: one unit of work per request, committed once by the wrapped
    endpoint (see in_unit_of_work), closed here whatever happened. The app's engine is
    `app.state.engine` when create_app was given one (tests), else the configured one."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, in_unit_of_work(endpoint), **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_in_unit_of_work(request: Request) -> Response:
            unit = UnitOfWork(getattr(request.app.state, "engine", None))
            try:
                with unit.as_current():
                    return await handle(request)
            finally:
                # Rolling back is database work: off the event loop when there is any.
                if unit.in_transaction:
                    await run_in_threadpool(unit.close)
                else:
                    unit.close()

        return handle_in_unit_of_work
