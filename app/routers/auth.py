"""Sign-in endpoints for staff (OAuth2 password and refresh_token grants) and the patient app (enrolment
code)."""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.deps import SessionDep, SettingsDep
from app.errors import Code, DomainError, InvalidInput, OAuthError, oauth_error
from app.models.auth import EnrolRequest, RefreshRequest, TokenPair, TokenRequest
from app.routing import UnitOfWorkRoute
from app.services import auth

# A failed sign-in is counted (and a reused refresh token's family revoked) in a unit of work of its own,
# inside the service: it is stored although the request answers 401 and its own unit rolls back.
router = APIRouter(tags=["auth"], route_class=UnitOfWorkRoute)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class OAuthTokenRoute(UnitOfWorkRoute):
    """The token endpoint answers its errors as RFC 6749 §5.2 says (`{"error": ...}`), which OAuth2 clients
    parse; every other endpoint answers problem+json. A unit-of-work route like every other."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer_as_oauth(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError:
                exc: DomainError = InvalidInput("The token request's form is not valid.")
            except DomainError as raised:
                exc = raised
            status_code, body = oauth_error(exc)
            headers = {key: value for key, value in exc.headers.items() if key == "Retry-After"}
            return JSONResponse(body.model_dump(), status_code=status_code, headers=headers)

        return answer_as_oauth


def _required(value: str | None, name: str) -> str:
    if not value:
        raise InvalidInput(f"`{name}` is required for this grant.")
    return value


def staff_token(
    form: Annotated[TokenRequest, Form()],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> TokenPair:
    """OAuth2 password grant (`username` = email) and refresh_token grant (the refresh token rotates).
    `client_id` (optional) is the clinic's slug, needed only when one email and password open accounts at
    more than one clinic (emails are unique per clinic)."""
    grant = form.grant_type or "password"
    if grant == "password":
        username, password = _required(form.username, "username"), _required(form.password, "password")
        return auth.login(session, settings, username, password, _address(request), form.client_id or None)
    if grant == "refresh_token":
        return auth.refresh(session, settings, _required(form.refresh_token, "refresh_token"), "staff")
    raise InvalidInput("Use grant_type password or refresh_token.", code=Code.UNSUPPORTED_GRANT_TYPE)


router.add_api_route(
    "/v1/auth/token",
    staff_token,
    methods=["POST"],
    response_model=TokenPair,
    route_class_override=OAuthTokenRoute,
    responses={
        400: {"model": OAuthError, "description": "RFC 6749 §5.2: invalid_request, invalid_grant, …"},
        429: {"model": OAuthError, "description": "Too many failed sign-ins: temporarily_unavailable"},
    },
)


@router.post("/v1/auth/refresh", response_model=TokenPair)
def staff_refresh(body: RefreshRequest, session: SessionDep, settings: SettingsDep) -> TokenPair:
    return auth.refresh(session, settings, body.refresh_token, "staff")


@router.post("/v1/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(body: RefreshRequest, session: SessionDep) -> Response:
    auth.logout(session, body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/v1/patient-auth/enrol", response_model=TokenPair)
def patient_enrol(
    body: EnrolRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> TokenPair:
    return auth.enrol(session, settings, body.code, _address(request))


@router.post("/v1/patient-auth/refresh", response_model=TokenPair)
def patient_refresh(body: RefreshRequest, session: SessionDep, settings: SettingsDep) -> TokenPair:
    return auth.refresh(session, settings, body.refresh_token, "patient")


@router.post("/v1/patient-auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def patient_logout(body: RefreshRequest, session: SessionDep) -> Response:
    auth.logout(session, body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
