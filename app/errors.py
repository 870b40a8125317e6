"""Domain errors (each with its HTTP status and a stable code) and the one problem+json renderer."""

from typing import Any

from pydantic import BaseModel, Field

PROBLEM_JSON = "application/problem+json"


class FieldProblem(BaseModel):
    loc: list[str | int] = Field(description='Where the problem is, e.g. ["body", "phases", 0, "name"]')
    message: str
    type: str


class Problem(BaseModel):
    """An error answer (RFC 9457). Program against `status` and `code`; `title` and `detail` are prose."""

    type: str = Field(description="urn:hep:problem:<code>")
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable, machine-readable error code")
    errors: list[FieldProblem] | None = Field(default=None, description="Field problems (422)")


class DomainError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if code:
            self.code = code
        self.errors = errors
        self.headers = headers or {}


class InvalidInput(DomainError):
    status, code, title = 400, "invalid_input", "Invalid input"


class Unauthorized(DomainError):
    status, code, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class Forbidden(DomainError):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(DomainError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(DomainError):
    status, code, title = 409, "conflict", "Conflict"


class PreconditionFailed(DomainError):
    status, code, title = 412, "precondition_failed", "Precondition failed"


class PreconditionRequired(DomainError):
    status, code, title = 428, "precondition_required", "Precondition required"


class RateLimited(DomainError):
    status, code, title = 429, "rate_limited", "Too many requests"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = max(1, retry_after)


class ServiceUnavailable(DomainError):
    status, code, title = 503, "unavailable", "Service unavailable"


def problem(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:hep:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail or title,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    return body
