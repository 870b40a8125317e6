"""A clinic's webhook endpoints: settings, secrets, test events, replays, the delivery log and retries."""

import uuid
from datetime import datetime, timedelta

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.config import Settings
from app.db import utcnow
from app.errors import Code, Conflict, NotFound
from app.models.common import Actor, Page
from app.models.webhook import (
    TEST_EVENT_TYPE,
    Delivery,
    DeliveryAttempt,
    DeliveryAttemptPublic,
    DeliveryPublic,
    DeliveryStatus,
    Event,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointUpdate,
)
from app.services import audit, events
from app.services.pagination import PageParams, paginate
from app.webhooks.signing import new_secret
from app.webhooks.url_safety import check_url

# How long the old secret keeps signing after a rotation, so receivers can switch without losing messages.
ROTATION_OVERLAP = timedelta(hours=24)


def _scoped(actor: Actor) -> SelectOfScalar[WebhookEndpoint]:
    return select(WebhookEndpoint).where(WebhookEndpoint.clinic_id == actor.clinic_id)


def _require_enabled(endpoint: WebhookEndpoint) -> None:
    if not endpoint.enabled:
        raise Conflict("The endpoint is disabled; enable it first.", code=Code.ENDPOINT_DISABLED)


def create_endpoint(
    session: Session, settings: Settings, actor: Actor, data: WebhookEndpointCreate
) -> WebhookEndpoint:
    url = str(data.url)
    check_url(url, allow_private=settings.webhook_allow_private)
    endpoint = WebhookEndpoint(
        clinic_id=actor.clinic_id,
        url=url,
        description=data.description,
        event_types=list(data.event_types),
        enabled=data.enabled,
        clinical_codes=data.clinical_codes,
        disabled_reason=None if data.enabled else "manual",
        secret=new_secret(),
    )
    session.add(endpoint)
    session.flush()
    audit.record(session, actor, "webhook_endpoint.create", "webhook_endpoint", endpoint.id)
    return endpoint


def list_endpoints(session: Session, actor: Actor, params: PageParams) -> Page[WebhookEndpoint]:
    return paginate(session, _scoped(actor), WebhookEndpoint.id, params)


def get_endpoint(session: Session, actor: Actor, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = session.exec(_scoped(actor).where(WebhookEndpoint.id == endpoint_id)).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def update_endpoint(
    session: Session, settings: Settings, actor: Actor, endpoint: WebhookEndpoint, data: WebhookEndpointUpdate
) -> WebhookEndpoint:
    # None means "not sent" here: none of these fields can be emptied.
    changes = {
        field: value for field, value in data.model_dump(exclude_unset=True).items() if value is not None
    }
    if "url" in changes:
        changes["url"] = str(data.url)
        check_url(changes["url"], allow_private=settings.webhook_allow_private)
    enabled = changes.pop("enabled", None)
    for field, value in changes.items():
        setattr(endpoint, field, value)
    endpoint.updated_at = utcnow()
    session.add(endpoint)
    if enabled is False and endpoint.enabled:
        events.disable_endpoint(session, endpoint, "manual")
    elif enabled is True and not endpoint.enabled:
        endpoint.enabled, endpoint.disabled_reason, endpoint.failing_since = True, None, None
        endpoint.failures_in_row, endpoint.backoff_until = 0, None
    session.flush()
    audit.record(session, actor, "webhook_endpoint.update", "webhook_endpoint", endpoint.id)
    return endpoint


def delete_endpoint(session: Session, actor: Actor, endpoint: WebhookEndpoint) -> None:
    session.delete(endpoint)  # its deliveries go with it (ON DELETE CASCADE); the events stay in the feed
    session.flush()
    audit.record(session, actor, "webhook_endpoint.delete", "webhook_endpoint", endpoint.id)


def rotate_secret(session: Session, actor: Actor, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret signs from now on; the one it replaces also signs for ROTATION_OVERLAP."""
    now = utcnow()
    endpoint.previous_secret, endpoint.previous_secret_expires_at = endpoint.secret, now + ROTATION_OVERLAP
    endpoint.secret = new_secret()
    endpoint.updated_at = now
    session.add(endpoint)
    session.flush()
    audit.record(session, actor, "webhook_endpoint.rotate_secret", "webhook_endpoint", endpoint.id)
    return endpoint


def send_test(session: Session, actor: Actor, endpoint: WebhookEndpoint) -> DeliveryPublic:
    _require_enabled(endpoint)
    event = Event(clinic_id=actor.clinic_id, type=TEST_EVENT_TYPE, data={"endpoint_id": str(endpoint.id)})
    session.add(event)
    session.flush()  # the event row before its delivery (the foreign key)
    delivery = events.schedule(session, event.id, endpoint)
    session.flush()
    return present_deliveries(session, actor, [delivery])[0]


def replay(session: Session, actor: Actor, endpoint: WebhookEndpoint, since: datetime) -> int:
    """Schedule a new delivery to this endpoint of every event since `since` that it subscribes to."""
    _require_enabled(endpoint)
    statement = select(Event.id).where(
        Event.clinic_id == actor.clinic_id, Event.occurred_at >= since, Event.type != TEST_EVENT_TYPE
    )
    if endpoint.event_types:
        statement = statement.where(col(Event.type).in_(endpoint.event_types))
    event_ids = session.exec(statement.order_by(col(Event.id))).all()
    for event_id in event_ids:
        events.schedule(session, event_id, endpoint)
    session.flush()
    audit.record(session, actor, "webhook_endpoint.replay", "webhook_endpoint", endpoint.id)
    return len(event_ids)


def present_deliveries(session: Session, actor: Actor, deliveries: list[Delivery]) -> list[DeliveryPublic]:
    if not deliveries:
        return []
    event_types = dict(
        session.exec(
            select(Event.id, Event.type).where(
                col(Event.id).in_({delivery.event_id for delivery in deliveries})
            )
        ).all()
    )
    attempts: dict[uuid.UUID, list[DeliveryAttemptPublic]] = {delivery.id: [] for delivery in deliveries}
    for attempt in session.exec(
        select(DeliveryAttempt)
        .where(
            DeliveryAttempt.clinic_id == actor.clinic_id,
            col(DeliveryAttempt.delivery_id).in_(list(attempts)),
        )
        .order_by(col(DeliveryAttempt.id))
    ):
        attempts[attempt.delivery_id].append(DeliveryAttemptPublic.model_validate(attempt))
    return [
        DeliveryPublic.model_validate(
            delivery,
            update={"event_type": event_types[delivery.event_id], "attempts": attempts[delivery.id]},
        )
        for delivery in deliveries
    ]


def list_deliveries(
    session: Session,
    actor: Actor,
    endpoint: WebhookEndpoint,
    params: PageParams,
    status: DeliveryStatus | None = None,
) -> Page[DeliveryPublic]:
    statement = select(Delivery).where(
        Delivery.clinic_id == actor.clinic_id, Delivery.endpoint_id == endpoint.id
    )
    if status is not None:
        statement = statement.where(Delivery.status == status)
    page = paginate(session, statement, Delivery.id, params)
    return page.mapped(lambda rows: present_deliveries(session, actor, rows))


def get_delivery(session: Session, actor: Actor, delivery_id: uuid.UUID) -> Delivery:
    delivery = session.exec(
        select(Delivery).where(Delivery.clinic_id == actor.clinic_id, Delivery.id == delivery_id)
    ).first()
    if delivery is None:
        raise NotFound("No such delivery.")
    return delivery


def retry_delivery(session: Session, actor: Actor, delivery: Delivery) -> DeliveryPublic:
    """Send the delivery again now, whatever its status; a failure continues its retry schedule."""
    endpoint = get_endpoint(session, actor, delivery.endpoint_id)
    _require_enabled(endpoint)
    if delivery.locked_until is not None and delivery.locked_until > utcnow():
        raise Conflict("The delivery is being sent right now.", code=Code.DELIVERY_IN_FLIGHT)
    events.reschedule(session, delivery)
    session.flush()
    return present_deliveries(session, actor, [delivery])[0]
