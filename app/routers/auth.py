"""Sign-in endpoints for staff (password) and the patient app (enrolment code)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from app.deps import SessionDep, SettingsDep
from app.models.auth import EnrolRequest, RefreshRequest, TokenPair
from app.routing import UnitOfWorkRoute
from app.services import auth

# A failed sign-in is counted (and a reused refresh token's family revoked) in a unit of work of its own,
# inside the service: it is stored although the request answers 401 and its own unit rolls back.
router = APIRouter(tags=["auth"], route_class=UnitOfWorkRoute)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/v1/auth/token", response_model=TokenPair)
def staff_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> TokenPair:
    # client_id (optional): the clinic's slug, needed only when one email and password open accounts at
    # more than one clinic (emails are unique per clinic).
    return auth.login(
        session, settings, form.username, form.password, _address(request), form.client_id or None
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
