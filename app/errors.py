"""Domain errors (each with its HTTP status and a stable code) and the one problem+json renderer."""

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class Code(StrEnum):
    """Every stable error code a client can program against: the problem's `code`, and its `type`
    (`urn:hep:problem:<code>`). Raise errors with these, never with a string typed in place."""

    BAD_REQUEST = "bad_request"
    BEFORE_ACTIVATION = "before_activation"
    CATALOGUE_READ_ONLY = "catalogue_read_only"
    CLINICIAN_REQUIRED = "clinician_required"
    CLINIC_REQUIRED = "clinic_required"
    CONFLICT = "conflict"
    CONTRAINDICATED = "contraindicated"
    DATABASE_UNAVAILABLE = "database_unavailable"
    DELIVERY_IN_FLIGHT = "delivery_in_flight"
    EMAIL_TAKEN = "email_taken"
    ENDPOINT_DISABLED = "endpoint_disabled"
    EXTERNAL_ID_TAKEN = "external_id_taken"
    FORBIDDEN = "forbidden"
    HTTP_ERROR = "http_error"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IF_MATCH_REQUIRED = "if_match_required"
    INTERNAL_ERROR = "internal_error"
    INVALID_API_KEY = "invalid_api_key"
    INVALID_CURSOR = "invalid_cursor"
    INVALID_CREDENTIALS = "invalid_credentials"
    INVALID_DATE = "invalid_date"
    INVALID_ENROLMENT_CODE = "invalid_enrolment_code"
    INVALID_EXERCISE = "invalid_exercise"
    INVALID_IF_MATCH = "invalid_if_match"
    INVALID_INPUT = "invalid_input"
    INVALID_PATIENT_REFERENCE = "invalid_patient_reference"
    INVALID_PROGRAMME = "invalid_programme"
    INVALID_REFRESH_TOKEN = "invalid_refresh_token"
    INVALID_TOKEN = "invalid_token"
    INVALID_TRANSITION = "invalid_transition"
    INVALID_VALUE = "invalid_value"
    INVALID_WINDOW = "invalid_window"
    ITEM_NOT_SUSPENDED = "item_not_suspended"
    LAST_ADMIN = "last_admin"
    LOG_ID_CONFLICT = "log_id_conflict"
    MALFORMED_JSON = "malformed_json"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    MIGRATIONS_PENDING = "migrations_pending"
    NO_PROGRAMME = "no_programme"
    NOT_ACCEPTABLE = "not_acceptable"
    NOT_FOUND = "not_found"
    PATIENT_GONE = "patient_gone"
    PATIENT_HAS_CURRENT_PROGRAMME = "patient_has_current_programme"
    PATIENT_ONLY = "patient_only"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    PERFORMED_IN_FUTURE = "performed_in_future"
    PRECONDITION_FAILED = "precondition_failed"
    PRECONDITION_REQUIRED = "precondition_required"
    PROGRAMME_CLOSED = "programme_closed"
    RATE_LIMITED = "rate_limited"
    REFRESH_TOKEN_EXPIRED = "refresh_token_expired"
    REFRESH_TOKEN_REUSED = "refresh_token_reused"
    ROLE_REQUIRED = "role_required"
    SAFETY_HOLD = "safety_hold"
    SIGNED_OUT = "signed_out"
    SLUG_TAKEN = "slug_taken"
    STAFF_ONLY = "staff_only"
    STALE_REVISION = "stale_revision"
    SUGGESTION_STALE = "suggestion_stale"
    SUGGESTION_SUPERSEDED = "suggestion_superseded"
    TOKEN_EXPIRED = "token_expired"
    UNAUTHORIZED = "unauthorized"
    UNAVAILABLE = "unavailable"
    UNKNOWN_ITEM = "unknown_item"
    UNKNOWN_REVISION = "unknown_revision"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    VALIDATION_ERROR = "validation_error"
    WEBHOOK_URL_INVALID = "webhook_url_invalid"
    WEBHOOK_URL_NOT_ALLOWED = "webhook_url_not_allowed"
    WEBHOOK_URL_NOT_HTTPS = "webhook_url_not_https"
    WEBHOOK_URL_NOT_PUBLIC = "webhook_url_not_public"
    WEBHOOK_URL_UNRESOLVABLE = "webhook_url_unresolvable"


PROBLEM_JSON = "application/problem+json"
# An answer never lists more field problems than this: a body of thousands of unknown keys would
# otherwise get an answer several times its own size (amplification), and take long to render.
MAX_FIELD_PROBLEMS = 20


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
    errors: list[FieldProblem] | None = Field(
        default=None, description=f"Field problems (422), the first {MAX_FIELD_PROBLEMS}"
    )
    errors_omitted: int | None = Field(
        default=None, description="How many more field problems there were beyond those listed"
    )


class DomainError(Exception):
    status: int = 400
    code: str = Code.BAD_REQUEST
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
    status, code, title = 400, Code.INVALID_INPUT, "Invalid input"


class InvalidValue(DomainError):
    """A well-formed request whose value is out of range (422, like a schema violation)."""

    status, code, title = 422, Code.INVALID_VALUE, "Invalid value"


class Unauthorized(DomainError):
    status, code, title = 401, Code.UNAUTHORIZED, "Authentication required"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class Forbidden(DomainError):
    status, code, title = 403, Code.FORBIDDEN, "Not allowed"


class NotFound(DomainError):
    status, code, title = 404, Code.NOT_FOUND, "Not found"


class Conflict(DomainError):
    status, code, title = 409, Code.CONFLICT, "Conflict"


class PreconditionFailed(DomainError):
    status, code, title = 412, Code.PRECONDITION_FAILED, "Precondition failed"


class PreconditionRequired(DomainError):
    status, code, title = 428, Code.PRECONDITION_REQUIRED, "Precondition required"


class RateLimited(DomainError):
    status, code, title = 429, Code.RATE_LIMITED, "Too many requests"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = max(1, retry_after)


class ServiceUnavailable(DomainError):
    status, code, title = 503, Code.UNAVAILABLE, "Service unavailable"


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
        body["errors"] = errors[:MAX_FIELD_PROBLEMS]
        if len(errors) > MAX_FIELD_PROBLEMS:
            body["errors_omitted"] = len(errors) - MAX_FIELD_PROBLEMS
    return body


class OAuthError(BaseModel):
    """An error answer of the OAuth2 token endpoint (RFC 6749 §5.2), the one endpoint that does not answer
    problem+json: OAuth2 clients parse this shape. `code` is the service's own stable code."""

    error: str = Field(description="invalid_request, invalid_grant, unsupported_grant_type, …")
    error_description: str
    code: str = Field(description="Stable, machine-readable error code, as in problem+json")


def oauth_error(exc: DomainError) -> tuple[int, OAuthError]:
    """A domain error raised at the token endpoint as RFC 6749 §5.2 says it: 400 with `error`.

    A credential that is wrong, expired or revoked is `invalid_grant`; too many failed sign-ins keep their
    429 (and Retry-After) as `temporarily_unavailable`, a try-later the client can tell from a wrong password.
    """
    if exc.status == 401:
        status, error = 400, "invalid_grant"
    elif exc.status == 429:
        status, error = 429, "temporarily_unavailable"
    elif exc.code == Code.UNSUPPORTED_GRANT_TYPE:
        status, error = 400, "unsupported_grant_type"
    elif exc.status < 500:
        status, error = 400, "invalid_request"
    else:
        status, error = exc.status, "server_error"
    return status, OAuthError(error=error, error_description=exc.detail, code=exc.code)
