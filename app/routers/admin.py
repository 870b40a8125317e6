"""Clinic administration: API keys for the EHR and the audit trail."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.deps import AdminActor, PageDep, SessionDep
from app.models.audit import AuditEventPublic
from app.models.auth import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from app.models.common import Page
from app.routing import UnitOfWorkRoute
from app.services import api_keys, audit

router = APIRouter(tags=["admin"], route_class=UnitOfWorkRoute)


@router.post("/v1/api-keys", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
def create_api_key(body: ApiKeyCreate, session: SessionDep, actor: AdminActor):
    key, secret = api_keys.create_api_key(session, actor.clinic_id, body.name, actor.id)
    return ApiKeyCreated(**ApiKeyPublic.model_validate(key).model_dump(), key=secret)


@router.get("/v1/api-keys", response_model=Page[ApiKeyPublic])
def list_api_keys(session: SessionDep, actor: AdminActor, page: PageDep):
    return api_keys.list_api_keys(session, actor, page)


@router.delete("/v1/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_api_key(key_id: uuid.UUID, session: SessionDep, actor: AdminActor) -> Response:
    api_keys.revoke_api_key(session, actor, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/audit-events", response_model=Page[AuditEventPublic])
def list_audit_events(
    session: SessionDep,
    actor: AdminActor,
    page: PageDep,
    patient_id: Annotated[uuid.UUID | None, Query()] = None,
):
    return audit.list_events(session, actor, page, patient_id)
