"""Application factory: routers, middleware and the one problem+json error renderer."""

import functools
import gc
import logging
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

from app import group_commit
from app.config import Settings, get_settings
from app.context import request_id_var
from app.db import get_engine
from app.dispatcher import Dispatcher
from app.docs import install_docs
from app.errors import Code, DomainError
from app.middleware import RequestContextMiddleware, problem_response
from app.openapi import install_contract
from app.routers import (
    admin,
    auth,
    charts,
    clinical,
    exercises,
    fhir,
    handouts,
    health,
    me,
    media,
    monitoring,
    patients,
    programmes,
    reminders,
    users,
    webhooks,
)
from app.routing import WriteSlots
from app.scheduler import Scheduler
from app.unit_of_work import close_loop_connection

logger = logging.getLogger("hep")

_HTTP_CODES = {
    400: Code.BAD_REQUEST,
    401: Code.UNAUTHORIZED,
    403: Code.FORBIDDEN,
    404: Code.NOT_FOUND,
    405: Code.METHOD_NOT_ALLOWED,
    406: Code.NOT_ACCEPTABLE,
    413: Code.PAYLOAD_TOO_LARGE,
    415: Code.UNSUPPORTED_MEDIA_TYPE,
    422: Code.INVALID_VALUE,  # a NUL character (app.middleware); other 422s are validation errors
}


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
        return problem_response(exc.status, exc.code, exc.title, exc.detail, exc.errors, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        if any(e["type"] == "json_invalid" for e in errors):
            return problem_response(
                422, Code.MALFORMED_JSON, "Malformed JSON", "The body is not valid JSON.", errors
            )
        return problem_response(
            422, Code.VALIDATION_ERROR, "Invalid request", "Some fields are missing or not valid.", errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, Code.HTTP_ERROR)
        title = code.replace("_", " ").capitalize()
        detail = exc.detail if isinstance(exc.detail, str) else title
        if exc.status_code == 404 and detail == "Not Found":
            detail = "There is no such endpoint."
        return problem_response(exc.status_code, code, title, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    async def _unstorable(_: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the schemas let through (e.g. a NUL character on PostgreSQL).
        return problem_response(
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
        return problem_response(
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
            return problem_response(
                503,
                "database_busy",
                "Database busy",
                "The database is busy with other writes; try again.",
                headers={"Retry-After": "1"},
            )
        logger.error("database unavailable: %s", _first_line(exc), extra={"error": type(exc).__name__})
        return problem_response(
            503,
            "database_unavailable",
            "Service unavailable",
            "The database cannot be reached or has no connection free; try again shortly.",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", extra={"request_id": request_id_var.get()})
        return problem_response(
            500, Code.INTERNAL_ERROR, "Internal error", "Something went wrong on our side."
        )


def _first_line(exc: Exception) -> str:
    # The driver's message without the SQL statement (whose parameters are hidden anyway).
    return str(getattr(exc, "orig", None) or exc).splitlines()[0][:300]


@functools.cache
def _freeze_startup_heap() -> None:
    """Once per process, when the first app starts: the objects built so far (modules, the metadata,
    routes and schemas, the catalogue: ~220,000) are moved out of the cyclic garbage collector's sight.
    A full collection walked them all and paused the event loop ~180 ms each time (measured under load:
    the p99 of every route); they live as long as the process anyway. Garbage made before is collected
    first, so none is kept; objects made afterwards are collected as usual."""
    gc.collect()
    gc.freeze()


def _lifespan(settings: Settings, engine: Engine | None):
    """Runs the webhook dispatcher and the periodic jobs inside the API process unless HEP_DISPATCHER=off;
    at shutdown, stores what the group commit still holds (app.group_commit: a clean stop loses no audit
    row) and gives back the event loop's read connection."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        dispatcher: Dispatcher | None = None
        scheduler: Scheduler | None = None
        if settings.dispatcher != "off":
            dispatcher = Dispatcher(engine or get_engine(), allow_private=settings.webhook_allow_private)
            scheduler = Scheduler(engine or get_engine(), interval=settings.jobs_interval_seconds)
            dispatcher.start()
            scheduler.start()
        _freeze_startup_heap()
        try:
            yield
        finally:
            # Waits for the sends under way (up to the send timeout) and the job under way, off the loop.
            if scheduler is not None:
                await run_in_threadpool(scheduler.stop)
            if dispatcher is not None:
                await run_in_threadpool(dispatcher.stop)
            await run_in_threadpool(group_commit.close_all)
            close_loop_connection(engine or get_engine())

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
    app.state.write_slots = WriteSlots(settings.concurrent_requests)  # writing routes at once (app.routing)
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
        media.router,
        programmes.router,
        clinical.router,
        admin.router,
        webhooks.router,
        fhir.router,
        reminders.router,
        monitoring.router,
        handouts.router,
        charts.router,
    )
    for router in routers:
        app.include_router(router)
    install_contract(app, routers)
    install_docs(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["ETag", "X-Request-ID", "Retry-After"],
        )
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_sign_in_body_bytes=settings.max_sign_in_body_bytes,
    )
    return app
