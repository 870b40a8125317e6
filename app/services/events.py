"""The webhook outbox: events written in the caller's transaction, one delivery row per subscribed
endpoint, and the pull feed. The dispatcher's side (claiming due deliveries, recording each attempt) is
app.services.deliveries.

Other services call `emit()` inside the transaction that makes the change, so a change and its event
commit together or not at all.
"""

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import bindparam, text, update
from sqlalchemy import event as sa_event
from sqlmodel import Session, col, select

from app.db import utcnow
from app.models.common import Actor, Page, new_id
from app.models.webhook import (
    CLINICAL_FIELDS,
    TEST_EVENT_TYPE,
    Delivery,
    DisabledReason,
    Event,
    EventPublic,
    EventType,
    WebhookEndpoint,
)
from app.query import Insert, Query
from app.services import audit
from app.services.pagination import PageParams, paginate

# Set on a session whose transaction scheduled deliveries, so a dispatcher can be woken by its commit: in
# this process by a callback, in others (`hep worker`, other API processes) on PostgreSQL by a NOTIFY on
# this channel.
_SCHEDULED_KEY = "hep_deliveries_scheduled"
DELIVERIES_CHANNEL = "hep_deliveries"


# emit() runs in nearly every write (every session log): its statements are built once and run on the
# driver (app.query), without the ORM's unit of work, which cost several times the statements themselves.
_EVENT, _DELIVERY, _ENDPOINT = (
    model.__table__  # type: ignore[union-attr]
    for model in (Event, Delivery, WebhookEndpoint)
)
_INSERT_EVENT = Insert(_EVENT)
_INSERT_DELIVERIES = Insert(_DELIVERY)
_SUBSCRIBERS = Query(
    select(_ENDPOINT.c.id, _ENDPOINT.c.event_types).where(
        _ENDPOINT.c.clinic_id == bindparam("clinic_id"), _ENDPOINT.c.enabled.is_(True)
    )
)


# Alerts that send a patient to care (DESIGN.md section 5) are claimed before anything else.
URGENT, ROUTINE = 0, 1
_URGENT_TIERS = frozenset({"emergency", "urgent"})


def _priority(type: str, data: dict[str, Any]) -> int:
    return URGENT if type == "safety.alert_raised" and data.get("tier") in _URGENT_TIERS else ROUTINE


def _new_delivery(
    clinic_id: uuid.UUID,
    event_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    now: datetime,
    priority: int = ROUTINE,
) -> dict[str, Any]:
    """A delivery due now, as column values."""
    return {
        "priority": priority,
        "id": new_id(),
        "clinic_id": clinic_id,
        "event_id": event_id,
        "endpoint_id": endpoint_id,
        "status": "pending",
        "attempt_count": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def emit(session: Session, clinic_id: uuid.UUID, type: EventType, data: dict[str, Any]) -> Event:
    """Write the event and one delivery per enabled endpoint subscribed to its type; the caller commits.

    `data` carries ids and minimal fields only, never notes or other free text: it leaves the service.
    """
    now = utcnow()
    event = Event.model_construct(
        id=new_id(), clinic_id=clinic_id, type=type, data=to_jsonable_python(data), occurred_at=now
    )
    connection = session.connection()
    _INSERT_EVENT.run(connection, [{column.name: getattr(event, column.name) for column in _EVENT.columns}])
    priority = _priority(type, data)
    deliveries = [
        _new_delivery(clinic_id, event.id, endpoint.id, now, priority)
        for endpoint in _SUBSCRIBERS.all(connection, {"clinic_id": clinic_id})
        if not endpoint.event_types or type in endpoint.event_types
    ]
    if deliveries:
        _INSERT_DELIVERIES.run(connection, deliveries)
        session.info[_SCHEDULED_KEY] = True
    return event


def schedule(session: Session, event_id: uuid.UUID, endpoint: WebhookEndpoint) -> Delivery:
    """A new delivery of the event to the endpoint, due now."""
    delivery = Delivery(**_new_delivery(endpoint.clinic_id, event_id, endpoint.id, utcnow()))
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
    _committed_callbacks.append(callback)
    return lambda: _committed_callbacks.remove(callback)


_committed_callbacks: list[Callable[[], None]] = []


@sa_event.listens_for(Session, "before_commit")
def _notify_other_processes(session: Session) -> None:
    # PostgreSQL delivers the notification when (and only if) the transaction commits.
    if session.info.get(_SCHEDULED_KEY) and session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {DELIVERIES_CHANNEL}"))


@sa_event.listens_for(Session, "after_commit")
def _wake_this_process(session: Session) -> None:
    if session.info.pop(_SCHEDULED_KEY, False):
        for callback in list(_committed_callbacks):
            callback()


@sa_event.listens_for(Session, "after_rollback")
def _forget_scheduled(session: Session) -> None:
    session.info.pop(_SCHEDULED_KEY, None)


def webhook_data(type: str, data: dict[str, Any], clinical_codes: bool) -> dict[str, Any]:
    """An event's data as sent to an endpoint: without clinical codes unless the endpoint opted in."""
    hidden = CLINICAL_FIELDS.get(type)
    if clinical_codes or not hidden:
        return data
    return {key: value for key, value in data.items() if key not in hidden}


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
    pending = (col(Delivery.endpoint_id) == endpoint.id, col(Delivery.status) == "pending")
    session.execute(select(Delivery.id).where(*pending).order_by(col(Delivery.id)).with_for_update())
    session.execute(
        update(Delivery).where(*pending).values(status="cancelled", next_attempt_at=None, locked_until=None)
    )
