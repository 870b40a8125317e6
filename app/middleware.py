"""The ASGI middlewares every request passes: request context (id, security headers, body limits, NUL
refusal, metrics and the log line) and the concurrency limit; and the problem+json response they share
with the error handlers in app.main."""

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.context import request_id_var
from app.errors import PROBLEM_JSON, Code, problem
from app.observability import record_request

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
_SIGN_IN = ("/v1/auth/", "/v1/patient-auth/")


def problem_response(
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


class PayloadTooLarge(StarletteHTTPException):
    def __init__(self) -> None:
        super().__init__(413, "The request body is larger than this service accepts.")


# NUL (U+0000) is refused anywhere in a request: PostgreSQL cannot store it in text and SQLite would, so
# the same request would be stored on one database and refused on the other. Written `\u0000` in JSON
# (after an even number of backslashes, else it is the text "\u0000"), `%00` in a query string or form.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_FORM_NUL = b"%00"
# How much of the previous chunk is scanned again with the next, for a NUL written across the two.
_NUL_OVERLAP = 64


class NulInText(StarletteHTTPException):
    def __init__(self) -> None:
        super().__init__(422, "Text may not contain the NUL character (U+0000).")


def _nul_finder(headers: list[tuple[bytes, bytes]]) -> Callable[[bytes], bool] | None:
    """How to find a NUL in this request's body, by its media type (None: a body it does not apply to)."""
    media_type = next((value for name, value in headers if name == b"content-type"), b"").split(b";")[0]
    media_type = media_type.strip().lower()
    if media_type == b"application/json" or media_type.endswith(b"+json"):
        return lambda text: _JSON_NUL.search(text) is not None
    if media_type == b"application/x-www-form-urlencoded":
        return lambda text: _FORM_NUL in text
    return None


def _has_nul_outside_body(scope: Scope) -> bool:
    return "\x00" in scope["path"] or _FORM_NUL in scope["query_string"] or b"\x00" in scope["query_string"]


class RequestContextMiddleware:
    """Request id in and out, default security headers, the request body size limit, and the request's
    metrics and log line (a plain ASGI middleware: it is on every request's path, so it stays cheap)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_sign_in_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_sign_in_body_bytes = max_sign_in_body_bytes

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
        finds_nul = _nul_finder(scope["headers"])
        tail = b""
        limit = self.max_sign_in_body_bytes if scope["path"].startswith(_SIGN_IN) else self.max_body_bytes

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                nonlocal tail
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    raise PayloadTooLarge()
                if finds_nul is not None and finds_nul(tail + chunk):
                    raise NulInText()
                tail = (tail + chunk)[-_NUL_OVERLAP:]
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
            if declared_length is not None and declared_length.isdigit() and int(declared_length) > limit:
                response = problem_response(
                    413, Code.PAYLOAD_TOO_LARGE, "Payload too large", PayloadTooLarge().detail
                )
                await response(scope, receive, send_with_headers)
                return
            if _has_nul_outside_body(scope):
                response = problem_response(422, Code.INVALID_VALUE, "Invalid value", NulInText().detail)
                await response(scope, receive, send_with_headers)
                return
            await self.app(scope, limited_receive, send_with_headers)
        finally:
            # The router leaves the matched route in the scope: label by its template, not the raw path.
            route = getattr(scope.get("route"), "path", None)
            record_request(scope["method"], route, status, time.perf_counter() - started, request_id)
            request_id_var.reset(token)
