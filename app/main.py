"""Application factory: routers, middleware and the one problem+json error renderer."""

import asyncio
import logging
import re
import time
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, DisconnectionError, InterfaceError, OperationalError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings, get_settings
from app.context import request_id_var
from app.db import get_engine
from app.dispatcher import Dispatcher
from app.docs import install_docs
from app.errors import PROBLEM_JSON, Code, DomainError, problem
from app.observability import record_request
from app.openapi import install_contract
from app.routers import (
    admin,
    auth,
    clinical,
    exercises,
    fhir,
    health,
    me,
    patients,
    programmes,
    users,
    webhooks,
)

logger = logging.getLogger("hep")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
_HTTP_CODES = {
    400: Code.BAD_REQUEST,
    401: Code.UNAUTHORIZED,
    403: Code.FORBIDDEN,
    404: Code.NOT_FOUND,
    405: Code.METHOD_NOT_ALLOWED,
    406: Code.NOT_ACCEPTABLE,
    413: Code.PAYLOAD_TOO_LARGE,
    415: Code.UNSUPPORTED_MEDIA_TYPE,
}


class PayloadTooLarge(StarletteHTTPException):
    def __init__(self) -> None:
        super().__init__(413, "The request body is larger than this service accepts.")


class ConcurrencyLimitMiddleware:
    """At most `limit` requests inside the app at once, queued in the event loop (not in worker threads).

    SQLite has one writer, and every request takes the write lock at its first statement (see app/db.py).
    Unbounded, a burst fills the thread pool with requests blocked on that lock while the request holding
    it waits for a free thread to go on: the server stalls until busy_timeout. Queuing before the thread
    pool means the lock holder always finds a thread. On PostgreSQL a handful at once overlap their
    database waits; dozens only take turns at the interpreter, and every one of them pays for it.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        # One semaphore per event loop: a server runs one loop, but a test client may start several.
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        async with semaphore:
            await self.app(scope, receive, send)


class RequestContextMiddleware:
    """Request id in and out, default security headers, the request body size limit, and the request's
    metrics and log line (a plain ASGI middleware: it is on every request's path, so it stays cheap)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        declared_length = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                request_id = candidate if _REQUEST_ID.match(candidate) else None
            elif name == b"content-length":
                declared_length = value
        request_id = request_id or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500  # an exception that escapes before any answer is counted as a server error
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise PayloadTooLarge()
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {name for name, _ in headers}
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(h for h in _SECURITY_HEADERS if h[0] not in present)
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            if (
                declared_length is not None
                and declared_length.isdigit()
                and int(declared_length) > self.max_body_bytes
            ):
                response = _problem_response(
                    413, Code.PAYLOAD_TOO_LARGE, "Payload too large", PayloadTooLarge().detail
                )
                await response(scope, receive, send_with_headers)
                return
            await self.app(scope, limited_receive, send_with_headers)
        finally:
            # The router leaves the matched route in the scope: label by its template, not the raw path.
            route = getattr(scope.get("route"), "path", None)
            record_request(scope["method"], route, status, time.perf_counter() - started, request_id)
            request_id_var.reset(token)


def _problem_response(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        problem(status, code, title, detail, errors),
        status_code=status,
        headers=headers,
        media_type=PROBLEM_JSON,
    )


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Only location, message and type: the rejected input itself may be patient data.
    return [
        {
            "loc": [part if isinstance(part, int) else str(part) for part in err.get("loc", ())],
            "message": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return _problem_response(exc.status, exc.code, exc.title, exc.detail, exc.errors, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        if any(e["type"] == "json_invalid" for e in errors):
            return _problem_response(
                422, Code.MALFORMED_JSON, "Malformed JSON", "The body is not valid JSON.", errors
            )
        return _problem_response(
            422, Code.VALIDATION_ERROR, "Invalid request", "Some fields are missing or not valid.", errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, Code.HTTP_ERROR)
        title = code.replace("_", " ").capitalize()
        detail = exc.detail if isinstance(exc.detail, str) else title
        if exc.status_code == 404 and detail == "Not Found":
            detail = "There is no such endpoint."
        return _problem_response(exc.status_code, code, title, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    async def _unstorable(_: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the schemas let through (e.g. a NUL character on PostgreSQL).
        return _problem_response(
            422,
            Code.INVALID_VALUE,
            "Invalid value",
            "A value in the request cannot be stored or searched for.",
        )

    @app.exception_handler(OverflowError)
    @app.exception_handler(StatementError)
    async def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
        # A client's value reached arithmetic it cannot survive (date arithmetic at the edge of the
        # calendar, also while binding it for the database). The models refuse such values where they are
        # known (models.common.in_calendar); this keeps any other from becoming a 500. Logged, so that the
        # model can be given its bound.
        if isinstance(exc, StatementError) and not isinstance(exc.orig, OverflowError):
            return await _unexpected(request, exc)
        logger.warning("value out of range", exc_info=exc)
        return _problem_response(
            422,
            "invalid_value",
            "Invalid value",
            "A value in the request is outside the range this service handles.",
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(DisconnectionError)
    @app.exception_handler(PoolTimeout)
    async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        # The database is down, unreachable, restarting, out of connections or (SQLite) held by another
        # writer beyond the busy timeout. The client may retry; the pool reconnects by itself
        # (pool_pre_ping), so the service recovers without a restart.
        if "database is locked" in str(exc):
            logger.warning("database busy", extra={"error": type(exc).__name__})
            return _problem_response(
                503,
                "database_busy",
                "Database busy",
                "The database is busy with other writes; try again.",
                headers={"Retry-After": "1"},
            )
        logger.error("database unavailable: %s", _first_line(exc), extra={"error": type(exc).__name__})
        return _problem_response(
            503,
            "database_unavailable",
            "Service unavailable",
            "The database cannot be reached or has no connection free; try again shortly.",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", extra={"request_id": request_id_var.get()})
        return _problem_response(
            500, Code.INTERNAL_ERROR, "Internal error", "Something went wrong on our side."
        )


def _first_line(exc: Exception) -> str:
    # The driver's message without the SQL statement (whose parameters are hidden anyway).
    return str(getattr(exc, "orig", None) or exc).splitlines()[0][:300]


def _lifespan(settings: Settings, engine: Engine | None):
    """Runs the webhook dispatcher inside the API process unless HEP_DISPATCHER=off."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.dispatcher == "off":
            yield
            return
        dispatcher = Dispatcher(engine or get_engine(), allow_private=settings.webhook_allow_private)
        dispatcher.start()
        try:
            yield
        finally:
            # Waits for the sends under way (up to the send timeout), off the event loop.
            await run_in_threadpool(dispatcher.stop)

    return lifespan


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The API. `engine`: the database to use instead of the configured one (tests that take it away)."""
    settings = settings or get_settings()
    app = FastAPI(
        lifespan=_lifespan(settings, engine),
        title="Home-exercise prescription service",
        version="0.1.0",
        description=(
            "Open REST API for clinics prescribing home exercise for back pain and sciatica. "
            "Errors are RFC 9457 problem+json with a stable `code`."
        ),
        servers=[{"url": "/", "description": "This deployment"}],
        docs_url=None,
        redoc_url=None,
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
        contact={"name": "Home-exercise prescription service maintainers"},
    )
    app.state.engine = engine  # every request's unit of work runs on it (app.routing)
    install_error_handlers(app)
    # Routes are matched in this order, one pattern after another: the patient app's, which carry most
    # of the traffic, come first.
    routers = (
        me.router,
        health.router,
        auth.router,
        users.router,
        patients.router,
        exercises.router,
        programmes.router,
        clinical.router,
        admin.router,
        webhooks.router,
        fhir.router,
    )
    for router in routers:
        app.include_router(router)
    install_contract(app, routers)
    install_docs(app)
    if settings.concurrent_requests:
        app.add_middleware(ConcurrencyLimitMiddleware, limit=settings.concurrent_requests)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["ETag", "X-Request-ID", "Retry-After"],
        )
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    return app
