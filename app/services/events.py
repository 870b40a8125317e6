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
from sqlalchemy import bindparam, insert, or_, update
from sqlalchemy import event as sa_event
from sqlmodel import Session, select

from app.db import utcnow
from app.models.common import Actor, Page, new_id
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
    # Endpoint row first, then its deliveries in id order: the lock orders of record_attempt and
    # record_successes, so no deadlock.
    session.flush()
    pending = (Delivery.endpoint_id == endpoint.id, Delivery.status == "pending")
    session.execute(select(Delivery.id).where(*pending).order_by(Delivery.id).with_for_update())
    session.execute(
        update(Delivery).where(*pending).values(status="cancelled", next_attempt_at=None, locked_until=None)
    )


@dataclass(frozen=True, slots=True)
class Claim:
    """Everything needed to send one delivery attempt, taken out of the claiming transaction."""

    delivery_id: uuid.UUID
    clinic_id: uuid.UUID
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
    rows = session.execute(
        select(
            Delivery.id.label("delivery_id"),
            Delivery.clinic_id,
            Delivery.endpoint_id,
            WebhookEndpoint.enabled,
            WebhookEndpoint.url,
            WebhookEndpoint.secret,
            WebhookEndpoint.previous_secret,
            WebhookEndpoint.previous_secret_expires_at,
            Event.id.label("event_id"),
            Event.type,
            Event.occurred_at,
            Event.data,
        )
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
    claims, cancelled = [], []
    for row in rows:
        if not row.enabled:  # disabled after this delivery was scheduled
            cancelled.append(row.delivery_id)
            continue
        signing_secrets = [row.secret]
        expires = row.previous_secret_expires_at
        if row.previous_secret and expires is not None and expires > now:
            signing_secrets.append(row.previous_secret)
        body = EventPublic(
            id=row.event_id, type=row.type, timestamp=row.occurred_at, clinic_id=row.clinic_id, data=row.data
        )
        claims.append(
            Claim(
                delivery_id=row.delivery_id,
                clinic_id=row.clinic_id,
                endpoint_id=row.endpoint_id,
                url=row.url,
                signing_secrets=signing_secrets,
                message_id=str(row.event_id),
                body=body.model_dump_json().encode(),
            )
        )
    if cancelled:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(cancelled))
            .values(status="cancelled", next_attempt_at=None)
            .execution_options(synchronize_session=False)
        )
    if claims:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_([claim.delivery_id for claim in claims]))
            .values(locked_until=now + lease)
            .execution_options(synchronize_session=False)
        )
    return claims


def record_successes(session: Session, results: list[tuple[Claim, Outcome]]) -> list[tuple[Claim, Outcome]]:
    """Log successful attempts together, in a few statements whatever their number; the caller commits.

    Only the deliveries are locked, in id order (as disable_endpoint locks them), so that this cannot
    deadlock with another dispatcher or with an endpoint being disabled. A success that ends its
    endpoint's failing streak changes the endpoint, which must be locked first: those are returned
    untouched, for record_attempt after this transaction. Deliveries deleted meanwhile (with their
    endpoint) are skipped.
    """
    by_delivery = {claim.delivery_id: (claim, outcome) for claim, outcome in results}
    rows = session.execute(
        select(Delivery.id, WebhookEndpoint.failing_since)
        .join(WebhookEndpoint, WebhookEndpoint.id == Delivery.endpoint_id)
        .where(Delivery.id.in_(by_delivery))
        .order_by(Delivery.id)
        .with_for_update(of=Delivery)
    ).all()
    healthy = [by_delivery[row.id] for row in rows if row.failing_since is None]
    if healthy:
        session.execute(
            insert(DeliveryAttempt),
            [
                {
                    "id": new_id(),
                    "clinic_id": claim.clinic_id,
                    "delivery_id": claim.delivery_id,
                    "attempted_at": outcome.attempted_at,
                    "status_code": outcome.status_code,
                    "duration_ms": outcome.duration_ms,
                }
                for claim, outcome in healthy
            ],
        )
        delivery = Delivery.__table__
        session.execute(
            update(delivery)
            .where(delivery.c.id == bindparam("delivery_id"))
            .values(
                status="succeeded",
                attempt_count=delivery.c.attempt_count + 1,
                last_status_code=bindparam("status_code"),
                last_error=None,
                next_attempt_at=None,
                locked_until=None,
            ),
            [
                {"delivery_id": claim.delivery_id, "status_code": outcome.status_code}
                for claim, outcome in healthy
            ],
        )
    return [by_delivery[row.id] for row in rows if row.failing_since is not None]


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
