"""The webhook outbox: events written in the caller's transaction, the pull feed, and the delivery
lifecycle the dispatcher drives (claim due deliveries, record each attempt).

Other services call `emit()` inside the transaction that makes the change, so a change and its event
commit together or not at all.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import event as sa_event
from sqlalchemy import or_, update
from sqlmodel import Session, select

from app.db import utcnow
from app.models.common import Actor, Page
from app.models.webhook import (
    TEST_EVENT_TYPE,
    Delivery,
    DeliveryAttempt,
    DisabledReason,
    Event,
    EventPublic,
    EventType,
    WebhookEndpoint,
)
from app.services import audit
from app.services.pagination import PageParams, paginate
from app.webhooks.policy import DeliveryPolicy

# Set on a session whose transaction scheduled deliveries, so a dispatcher can be woken by its commit.
_SCHEDULED_KEY = "hep_deliveries_scheduled"


def emit(session: Session, clinic_id: uuid.UUID, type: EventType, data: dict[str, Any]) -> Event:
    """Write the event and one delivery per enabled endpoint subscribed to its type; the caller commits.

    `data` carries ids and minimal fields only, never notes or other free text: it leaves the service.
    """
    event = Event(clinic_id=clinic_id, type=type, data=to_jsonable_python(data))
    session.add(event)
    session.flush()  # the event row before its deliveries (the foreign key)
    endpoints = session.exec(
        select(WebhookEndpoint).where(WebhookEndpoint.clinic_id == clinic_id, WebhookEndpoint.enabled)
    ).all()
    for endpoint in endpoints:
        if endpoint.subscribes_to(type):
            schedule(session, event.id, endpoint)
    session.flush()
    return event


def schedule(session: Session, event_id: uuid.UUID, endpoint: WebhookEndpoint) -> Delivery:
    """A new delivery of the event to the endpoint, due now."""
    delivery = Delivery(
        clinic_id=endpoint.clinic_id, event_id=event_id, endpoint_id=endpoint.id, next_attempt_at=utcnow()
    )
    session.add(delivery)
    session.info[_SCHEDULED_KEY] = True
    return delivery


def reschedule(session: Session, delivery: Delivery) -> None:
    """Make a delivery due now again, whatever its state (a manual retry)."""
    delivery.status, delivery.next_attempt_at = "pending", utcnow()
    session.add(delivery)
    session.info[_SCHEDULED_KEY] = True


def on_deliveries_committed(callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback` after every commit (in this process) that scheduled deliveries.

    Returns the function that unregisters it.
    """

    def after_commit(session: Session) -> None:
        if session.info.pop(_SCHEDULED_KEY, False):
            callback()

    def after_rollback(session: Session) -> None:
        session.info.pop(_SCHEDULED_KEY, None)

    sa_event.listen(Session, "after_commit", after_commit)
    sa_event.listen(Session, "after_rollback", after_rollback)

    def unsubscribe() -> None:
        sa_event.remove(Session, "after_commit", after_commit)
        sa_event.remove(Session, "after_rollback", after_rollback)

    return unsubscribe


def present(event: Event) -> EventPublic:
    return EventPublic(
        id=event.id, type=event.type, timestamp=event.occurred_at, clinic_id=event.clinic_id, data=event.data
    )


def list_events(
    session: Session, actor: Actor, params: PageParams, after: uuid.UUID | None, settle: timedelta
) -> Page[EventPublic]:
    """The clinic's events in id order, from `after` (exclusive) on.

    Events younger than `settle` are held back: an event's id is taken before its transaction commits,
    so a slower transaction can commit an event with a smaller id than one already listed. The wait
    lets such transactions finish before a reader's cursor moves past their ids.
    """
    statement = select(Event).where(
        Event.clinic_id == actor.clinic_id,
        Event.type != TEST_EVENT_TYPE,
        Event.occurred_at <= utcnow() - settle,
    )
    if after is not None:
        statement = statement.where(Event.id > after)
    page = paginate(session, statement, Event.id, params)
    audit.record(session, actor, "event.list", "event")
    return page.mapped(lambda rows: [present(event) for event in rows])


def disable_endpoint(session: Session, endpoint: WebhookEndpoint, reason: DisabledReason) -> None:
    """Stop sending to the endpoint: pending deliveries are cancelled (replay can send them later)."""
    endpoint.enabled = False
    endpoint.disabled_reason = reason
    endpoint.updated_at = utcnow()
    session.add(endpoint)
    # Endpoint row first, deliveries after: the same lock order as record_attempt, so no deadlock.
    session.flush()
    session.execute(
        update(Delivery)
        .where(Delivery.endpoint_id == endpoint.id, Delivery.status == "pending")
        .values(status="cancelled", next_attempt_at=None, locked_until=None)
    )


@dataclass(frozen=True, slots=True)
class Claim:
    """Everything needed to send one delivery attempt, taken out of the claiming transaction."""

    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    url: str
    signing_secrets: list[str]
    message_id: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    attempted_at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def claim_due(session: Session, limit: int, lease: timedelta) -> list[Claim]:
    """Take up to `limit` due deliveries for this dispatcher until `lease` from now; the caller commits.

    On PostgreSQL, rows another dispatcher is claiming are skipped (FOR UPDATE SKIP LOCKED); once it
    commits, their `locked_until` keeps them out. SQLite has no row locks, but its writers are serialised
    (BEGIN IMMEDIATE), which gives the same guarantee.
    """
    now = utcnow()
    rows = session.exec(
        select(Delivery, Event, WebhookEndpoint)
        .join(Event, Event.id == Delivery.event_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == Delivery.endpoint_id)
        .where(
            Delivery.status == "pending",
            Delivery.next_attempt_at <= now,
            or_(Delivery.locked_until.is_(None), Delivery.locked_until <= now),
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
        # Lock only the deliveries: locking endpoint rows would stop other dispatchers from sending
        # further deliveries to the same endpoint.
        .with_for_update(skip_locked=True, of=Delivery)
    ).all()
    claims = []
    for delivery, event, endpoint in rows:
        if not endpoint.enabled:  # disabled after this delivery was scheduled
            delivery.status, delivery.next_attempt_at = "cancelled", None
            session.add(delivery)
            continue
        delivery.locked_until = now + lease
        session.add(delivery)
        signing_secrets = [endpoint.secret]
        expires = endpoint.previous_secret_expires_at
        if endpoint.previous_secret and expires is not None and expires > now:
            signing_secrets.append(endpoint.previous_secret)
        claims.append(
            Claim(
                delivery_id=delivery.id,
                endpoint_id=endpoint.id,
                url=endpoint.url,
                signing_secrets=signing_secrets,
                message_id=str(event.id),
                body=present(event).model_dump_json().encode(),
            )
        )
    session.flush()
    return claims


def record_attempt(session: Session, claim: Claim, outcome: Outcome, policy: DeliveryPolicy) -> None:
    """Log the attempt and decide what follows: done, retry later, give up, or disable the endpoint."""
    endpoint = session.get(WebhookEndpoint, claim.endpoint_id)
    if endpoint is not None and (not outcome.succeeded or endpoint.failing_since is not None):
        # This attempt changes the endpoint: lock it, and before the delivery (disable_endpoint's lock
        # order). The common case, a success on a healthy endpoint, locks only the delivery, so results
        # for one busy endpoint are recorded in parallel.
        endpoint = session.exec(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.id == claim.endpoint_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
    delivery = session.exec(
        select(Delivery).where(Delivery.id == claim.delivery_id).with_for_update()
    ).first()
    if endpoint is None or delivery is None:  # the endpoint was deleted meanwhile
        return
    session.add(
        DeliveryAttempt(
            clinic_id=delivery.clinic_id,
            delivery_id=delivery.id,
            attempted_at=outcome.attempted_at,
            status_code=outcome.status_code,
            duration_ms=outcome.duration_ms,
            error=outcome.error,
        )
    )
    delivery.attempt_count += 1
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    delivery.locked_until = None
    if outcome.succeeded:
        delivery.status, delivery.next_attempt_at = "succeeded", None
        if endpoint.failing_since is not None:
            endpoint.failing_since = None
            session.add(endpoint)
    elif outcome.status_code == 410:  # Gone: the receiver asks us to stop
        delivery.status, delivery.next_attempt_at = "failed", None
        if endpoint.enabled:
            disable_endpoint(session, endpoint, "gone")
    else:
        if delivery.status == "pending":  # not cancelled while in flight
            delay = policy.retry_delay(delivery.attempt_count)
            if delay is None:
                delivery.status, delivery.next_attempt_at = "failed", None
            else:
                delivery.next_attempt_at = outcome.attempted_at + delay
        endpoint.failing_since = endpoint.failing_since or outcome.attempted_at
        session.add(endpoint)
        if endpoint.enabled and outcome.attempted_at - endpoint.failing_since >= policy.disable_after:
            disable_endpoint(session, endpoint, "failing")
    session.add(delivery)
    session.flush()
