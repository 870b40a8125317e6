"""Application factory: routers, middleware and the one problem+json error renderer."""

import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings, get_settings
from app.context import request_id_var
from app.db import get_engine
from app.errors import PROBLEM_JSON, DomainError, problem
from app.routers import admin, auth, clinical, exercises, health, me, patients, programmes, users, webhooks
from app.webhooks.dispatcher import Dispatcher

logger = logging.getLogger("hep")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class PayloadTooLarge(StarletteHTTPException):
    def __init__(self) -> None:
        super().__init__(413, "The request body is larger than this service accepts.")


class RequestContextMiddleware:
    """Request id in and out, default security headers, and the request body size limit."""

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
            if message["type"] == "http.response.start":
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
                    413, "payload_too_large", "Payload too large", PayloadTooLarge().detail
                )
                await response(scope, receive, send_with_headers)
                return
            await self.app(scope, limited_receive, send_with_headers)
        finally:
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
            "loc": [str(part) for part in err.get("loc", ())],
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
                422, "malformed_json", "Malformed JSON", "The body is not valid JSON.", errors
            )
        return _problem_response(
            422, "validation_error", "Invalid request", "Some fields are missing or not valid.", errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        title = code.replace("_", " ").capitalize()
        detail = exc.detail if isinstance(exc.detail, str) else title
        if exc.status_code == 404 and detail == "Not Found":
            detail = "There is no such endpoint."
        return _problem_response(exc.status_code, code, title, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    async def _unstorable(_: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the schemas let through (e.g. a NUL character on PostgreSQL).
        return _problem_response(
            422, "invalid_value", "Invalid value", "A value in the request cannot be stored or searched for."
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", extra={"request_id": request_id_var.get()})
        return _problem_response(500, "internal_error", "Internal error", "Something went wrong on our side.")


def _lifespan(settings: Settings):
    """Runs the webhook dispatcher inside the API process unless HEP_DISPATCHER=off."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.dispatcher == "off":
            yield
            return
        dispatcher = Dispatcher(get_engine(), allow_private=settings.webhook_allow_private)
        dispatcher.start()
        try:
            yield
        finally:
            # Waits for the sends under way (up to the send timeout), off the event loop.
            await run_in_threadpool(dispatcher.stop)

    return lifespan


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        lifespan=_lifespan(settings),
        title="Home-exercise prescription service",
        version="0.1.0",
        description=(
            "Open REST API for clinics prescribing home exercise for back pain and sciatica. "
            "Errors are RFC 9457 problem+json with a stable `code`."
        ),
    )
    install_error_handlers(app)
    for router in (
        health.router,
        auth.router,
        users.router,
        patients.router,
        exercises.router,
        programmes.router,
        clinical.router,
        me.router,
        admin.router,
        webhooks.router,
    ):
        app.include_router(router)
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
