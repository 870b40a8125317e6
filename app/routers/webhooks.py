"""Webhook endpoints, their delivery log, and the event feed: for clinic admins and the clinic's EHR."""

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.deps import (
    DeliveryDep,
    IntegrationActor,
    PageDep,
    SessionDep,
    SettingsDep,
    WebhookEndpointDep,
)
from app.models.common import Page
from app.models.webhook import (
    DeliveryPublic,
    DeliveryStatus,
    EventPublic,
    ReplayRequest,
    ReplayResult,
    WebhookEndpointCreate,
    WebhookEndpointPublic,
    WebhookEndpointUpdate,
    WebhookEndpointWithSecret,
)
from app.routing import UnitOfWorkRoute
from app.services import events, webhook_endpoints

router = APIRouter(tags=["webhooks"], route_class=UnitOfWorkRoute)
ENDPOINT = "/v1/webhook-endpoints/{endpoint_id}"


def _with_secret(endpoint) -> WebhookEndpointWithSecret:
    return WebhookEndpointWithSecret.model_validate(endpoint)


@router.post(
    "/v1/webhook-endpoints", response_model=WebhookEndpointWithSecret, status_code=status.HTTP_201_CREATED
)
def create_endpoint(
    body: WebhookEndpointCreate, session: SessionDep, settings: SettingsDep, actor: IntegrationActor
):
    endpoint = webhook_endpoints.create_endpoint(session, settings, actor, body)
    return _with_secret(endpoint)


@router.get("/v1/webhook-endpoints", response_model=Page[WebhookEndpointPublic])
def list_endpoints(session: SessionDep, actor: IntegrationActor, page: PageDep):
    return webhook_endpoints.list_endpoints(session, actor, page)


@router.get(ENDPOINT, response_model=WebhookEndpointPublic)
def get_endpoint(endpoint_id: uuid.UUID, endpoint: WebhookEndpointDep):
    return endpoint


@router.patch(ENDPOINT, response_model=WebhookEndpointPublic)
def update_endpoint(
    endpoint_id: uuid.UUID,
    body: WebhookEndpointUpdate,
    endpoint: WebhookEndpointDep,
    session: SessionDep,
    settings: SettingsDep,
    actor: IntegrationActor,
):
    webhook_endpoints.update_endpoint(session, settings, actor, endpoint, body)
    return endpoint


@router.delete(ENDPOINT, status_code=status.HTTP_204_NO_CONTENT)
def delete_endpoint(
    endpoint_id: uuid.UUID, endpoint: WebhookEndpointDep, session: SessionDep, actor: IntegrationActor
) -> Response:
    webhook_endpoints.delete_endpoint(session, actor, endpoint)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(f"{ENDPOINT}/rotate-secret", response_model=WebhookEndpointWithSecret)
def rotate_secret(
    endpoint_id: uuid.UUID, endpoint: WebhookEndpointDep, session: SessionDep, actor: IntegrationActor
):
    webhook_endpoints.rotate_secret(session, actor, endpoint)
    return _with_secret(endpoint)


@router.post(f"{ENDPOINT}/test", response_model=DeliveryPublic, status_code=status.HTTP_202_ACCEPTED)
def send_test_event(
    endpoint_id: uuid.UUID, endpoint: WebhookEndpointDep, session: SessionDep, actor: IntegrationActor
):
    delivery = webhook_endpoints.send_test(session, actor, endpoint)
    return delivery


@router.post(f"{ENDPOINT}/replay", response_model=ReplayResult, status_code=status.HTTP_202_ACCEPTED)
def replay_events(
    endpoint_id: uuid.UUID,
    body: ReplayRequest,
    endpoint: WebhookEndpointDep,
    session: SessionDep,
    actor: IntegrationActor,
):
    scheduled = webhook_endpoints.replay(session, actor, endpoint, body.since)
    return ReplayResult(deliveries=scheduled)


@router.get(f"{ENDPOINT}/deliveries", response_model=Page[DeliveryPublic])
def list_deliveries(
    endpoint_id: uuid.UUID,
    endpoint: WebhookEndpointDep,
    session: SessionDep,
    actor: IntegrationActor,
    page: PageDep,
    delivery_status: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
):
    return webhook_endpoints.list_deliveries(session, actor, endpoint, page, delivery_status)


@router.post(
    "/v1/deliveries/{delivery_id}/retry", response_model=DeliveryPublic, status_code=status.HTTP_202_ACCEPTED
)
def retry_delivery(
    delivery_id: uuid.UUID, delivery: DeliveryDep, session: SessionDep, actor: IntegrationActor
):
    public = webhook_endpoints.retry_delivery(session, actor, delivery)
    return public


@router.get("/v1/events", response_model=Page[EventPublic])
def list_events(
    session: SessionDep,
    settings: SettingsDep,
    actor: IntegrationActor,
    page: PageDep,
    after: Annotated[
        uuid.UUID | None, Query(description="The last event id you processed; only later events are listed.")
    ] = None,
):
    return events.list_events(
        session, actor, page, after, timedelta(seconds=settings.event_feed_settle_seconds)
    )
