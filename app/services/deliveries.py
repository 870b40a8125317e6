"""The dispatcher's side of the webhook outbox: claim due deliveries, send them outside the database,
record each attempt (retry schedule, disabling an endpoint that is gone or keeps failing).
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, case, func, insert, literal, or_, union_all, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.db import UTCDateTime, utcnow
from app.models.common import new_id
from app.models.webhook import Delivery, DeliveryAttempt, Event, EventPublic, WebhookEndpoint
from app.services import events
from app.webhooks.policy import MAX_SENDS_PER_ENDPOINT, DeliveryPolicy


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


# The dispatcher's statements, built once: it runs them for every batch, and building a statement costs
# more than running it on SQLite. They go to the connection as Core statements (no ORM objects).
_delivery = Delivery.__table__  # type: ignore[attr-defined]
_endpoint = WebhookEndpoint.__table__  # type: ignore[attr-defined]
_NOW = bindparam("now", type_=UTCDateTime())
# Fair claims (docs/webhooks.md, "Fair delivery"). The cost of a claim grows with the number of
# endpoints, never with the backlog: each endpoint's line is read from an index, a few rows at a time.
# 1. the endpoints that take sends now (not backed off), how many places each has (`sends_per_endpoint`,
#    one while it is failing), and their clinic's sends under way (claimed by any dispatcher, lease not
#    run out: the leased rows of ix_delivery_status_locked_until);
_CLINIC_SENDING = (
    sa_select(_delivery.c.clinic_id, func.count().label("sending"))
    .where(_delivery.c.status == "pending", _delivery.c.locked_until > _NOW)
    .group_by(_delivery.c.clinic_id)
    .subquery("clinic_sending")
)
_OPEN = (
    sa_select(
        _endpoint.c.id,
        _endpoint.c.clinic_id,
        case((_endpoint.c.failing_since.is_(None), bindparam("per_endpoint")), else_=1).label("places"),
        func.coalesce(_CLINIC_SENDING.c.sending, 0).label("clinic_sending"),
    )
    .outerjoin(_CLINIC_SENDING, _CLINIC_SENDING.c.clinic_id == _endpoint.c.clinic_id)
    .where(or_(_endpoint.c.backoff_until.is_(None), _endpoint.c.backoff_until <= _NOW))
    .cte("open_endpoints")
)
# 2. the first places of each endpoint's line of due deliveries, in claim order (alerts that send a
#    patient to care first), read from ix_delivery_endpoint_line: one SELECT per place, as neither
#    database takes an OFFSET from the outer query. The sends under way hold the first places (they are
#    the oldest), so an endpoint gets only the places they leave free: the claim skips leased rows;
_line = _delivery.alias("line")


def _candidate_at(place: int) -> Select[Any]:
    in_line = (
        sa_select(_line.c.id)
        .where(
            _line.c.endpoint_id == _OPEN.c.id,
            _line.c.status == "pending",
            _line.c.next_attempt_at <= _NOW,
        )
        .order_by(_line.c.priority, _line.c.next_attempt_at, _line.c.id)
        .limit(1)
        .offset(place - 1)
        .correlate(_OPEN)
        .scalar_subquery()
    )
    return sa_select(
        _OPEN.c.clinic_id,
        literal(place).label("place"),
        _OPEN.c.clinic_sending,
        in_line.label("delivery_id"),
    ).where(_OPEN.c.places >= place)


_CANDIDATES = union_all(*(_candidate_at(place) for place in range(1, MAX_SENDS_PER_ENDPOINT + 1))).subquery(
    "candidates"
)
# 3. each clinic's turns, endpoint by endpoint (every endpoint's first place, then every second place,
#    …), after the clinic's sends under way; the claim takes priority first, then the turns, so clinics
#    alternate and a clinic with a backlog (and sends under way) waits for one without.
_candidate = _delivery.alias("candidate")
_TURNS = (
    sa_select(
        _CANDIDATES.c.delivery_id.label("id"),
        _candidate.c.priority,
        (
            func.row_number().over(
                partition_by=_CANDIDATES.c.clinic_id,
                order_by=(
                    _CANDIDATES.c.place,
                    _candidate.c.priority,
                    _candidate.c.next_attempt_at,
                    _candidate.c.id,
                ),
            )
            + _CANDIDATES.c.clinic_sending
        ).label("turn"),
    )
    .join(_candidate, _candidate.c.id == _CANDIDATES.c.delivery_id)
    .where(or_(_candidate.c.locked_until.is_(None), _candidate.c.locked_until <= _NOW))
    .subquery("turns")
)
_DUE: Select[*tuple[Any, ...]] = (
    sa_select(
        col(Delivery.id).label("delivery_id"),
        col(Delivery.clinic_id),
        col(Delivery.endpoint_id),
        col(WebhookEndpoint.enabled),
        col(WebhookEndpoint.url),
        col(WebhookEndpoint.secret),
        col(WebhookEndpoint.previous_secret),
        col(WebhookEndpoint.previous_secret_expires_at),
        col(WebhookEndpoint.clinical_codes),
        col(Event.id).label("event_id"),
        col(Event.type),
        col(Event.occurred_at),
        col(Event.data),
    )
    .join(_TURNS, _TURNS.c.id == Delivery.id)
    .join(Event, col(Event.id) == Delivery.event_id)
    .join(WebhookEndpoint, col(WebhookEndpoint.id) == Delivery.endpoint_id)
    # Again here: under the row lock, a delivery another dispatcher has just claimed (or sent) no longer
    # qualifies. The status is compared through coalesce() so that SQLite drives the join from the few
    # candidates, not from the status index over the whole backlog.
    .where(
        func.coalesce(_delivery.c.status, "") == "pending",
        _delivery.c.next_attempt_at <= _NOW,
        or_(_delivery.c.locked_until.is_(None), _delivery.c.locked_until <= _NOW),
    )
    .order_by(_TURNS.c.priority, _TURNS.c.turn, col(Delivery.next_attempt_at), col(Delivery.id))
    .limit(bindparam("limit"))
    # Lock only the deliveries: locking endpoint rows would stop other dispatchers from sending further
    # deliveries to the same endpoint.
    .with_for_update(skip_locked=True, of=Delivery)
)
_LEASE = (
    update(_delivery)
    .where(_delivery.c.id.in_(bindparam("ids", expanding=True)))
    .values(locked_until=bindparam("until", type_=UTCDateTime()))
)
_CANCEL = (
    update(_delivery)
    .where(_delivery.c.id.in_(bindparam("ids", expanding=True)))
    .values(status="cancelled", next_attempt_at=None)
)
# In id order, as disable_endpoint locks them.
_LOCK_FOR_RECORD = (
    select(Delivery.id, WebhookEndpoint.failing_since)
    .join(WebhookEndpoint, col(WebhookEndpoint.id) == Delivery.endpoint_id)
    .where(col(Delivery.id).in_(bindparam("ids", expanding=True)))
    .order_by(col(Delivery.id))
    .with_for_update(of=Delivery)
)
_INSERT_ATTEMPT = insert(DeliveryAttempt.__table__)  # type: ignore[attr-defined]
_SUCCEEDED = (
    update(_delivery)
    .where(_delivery.c.id == bindparam("delivery_id"))
    .values(
        status="succeeded",
        attempt_count=_delivery.c.attempt_count + 1,
        last_status_code=bindparam("status_code"),
        last_error=None,
        next_attempt_at=None,
        locked_until=None,
    )
)


def claim_due(session: Session, limit: int, policy: DeliveryPolicy) -> list[Claim]:
    """Take up to `limit` due deliveries for this dispatcher until the policy's lease from now, fairly
    (see _DUE); the caller commits.

    On PostgreSQL, rows another dispatcher is claiming are skipped (FOR UPDATE SKIP LOCKED); once it
    commits, their `locked_until` keeps them out. SQLite has no row locks, but its writers are serialised
    (BEGIN IMMEDIATE), which gives the same guarantee.
    """
    now = utcnow()
    connection = session.connection()
    rows = connection.execute(
        _DUE, {"now": now, "limit": limit, "per_endpoint": policy.sends_per_endpoint}
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
            id=row.event_id,
            type=row.type,
            timestamp=row.occurred_at,
            clinic_id=row.clinic_id,
            data=events.webhook_data(row.type, row.data, row.clinical_codes),
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
        connection.execute(_CANCEL, {"ids": cancelled})
    if claims:
        ids = [claim.delivery_id for claim in claims]
        connection.execute(_LEASE, {"ids": ids, "until": now + policy.lease})
    return claims


def release(session: Session, claims: list[Claim]) -> None:
    """Hand back claims that will not be sent: due again at once. The caller commits."""
    session.connection().execute(_LEASE, {"ids": [claim.delivery_id for claim in claims], "until": None})


def record_successes(session: Session, results: list[tuple[Claim, Outcome]]) -> list[tuple[Claim, Outcome]]:
    """Log successful attempts together, in a few statements whatever their number; the caller commits.

    Only the deliveries are locked, in id order (as disable_endpoint locks them), so that this cannot
    deadlock with another dispatcher or with an endpoint being disabled. A success that ends its
    endpoint's failing streak changes the endpoint, which must be locked first: those are returned
    untouched, for record_attempt after this transaction. Deliveries deleted meanwhile (with their
    endpoint) are skipped.
    """
    by_delivery = {claim.delivery_id: (claim, outcome) for claim, outcome in results}
    connection = session.connection()
    rows = connection.execute(_LOCK_FOR_RECORD, {"ids": list(by_delivery)}).all()
    healthy = [by_delivery[row.id] for row in rows if row.failing_since is None]
    if healthy:
        attempts = [
            {
                "id": new_id(),
                "clinic_id": claim.clinic_id,
                "delivery_id": claim.delivery_id,
                "attempted_at": outcome.attempted_at,
                "status_code": outcome.status_code,
                "duration_ms": outcome.duration_ms,
                "error": None,
            }
            for claim, outcome in healthy
        ]
        connection.execute(_INSERT_ATTEMPT, attempts)
        succeeded = [
            {"delivery_id": claim.delivery_id, "status_code": outcome.status_code}
            for claim, outcome in healthy
        ]
        connection.execute(_SUCCEEDED, succeeded)
    return [by_delivery[row.id] for row in rows if row.failing_since is not None]


def record_attempt(session: Session, claim: Claim, outcome: Outcome, policy: DeliveryPolicy) -> bool:
    """Log the attempt and decide what follows: done, retry later, give up, or disable the endpoint.

    Returns whether the endpoint still takes deliveries (False: disabled, by this attempt or before, or
    deleted).
    """
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
        return False
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
            endpoint.failing_since, endpoint.failures_in_row, endpoint.backoff_until = None, 0, None
            session.add(endpoint)
    elif outcome.status_code == 410:  # Gone: the receiver asks us to stop
        delivery.status, delivery.next_attempt_at = "failed", None
        if endpoint.enabled:
            events.disable_endpoint(session, endpoint, "gone")
    else:
        if delivery.status == "pending":  # not cancelled while in flight
            delay = policy.retry_delay(delivery.attempt_count)
            if delay is None:
                delivery.status, delivery.next_attempt_at = "failed", None
            else:
                delivery.next_attempt_at = outcome.attempted_at + delay
        endpoint.failing_since = endpoint.failing_since or outcome.attempted_at
        # One round of failures counts once: the sends that were under way together (up to
        # sends_per_endpoint) all started before the first of them failed and set the backoff, so only
        # an attempt made once that backoff had run out is a new failure in a row. Counted per attempt,
        # eight sends timing out together took the endpoint straight to the longest backoff.
        if endpoint.backoff_until is None or outcome.attempted_at >= endpoint.backoff_until:
            endpoint.failures_in_row += 1
            endpoint.backoff_until = outcome.attempted_at + policy.endpoint_backoff(endpoint.failures_in_row)
        session.add(endpoint)
        if endpoint.enabled and outcome.attempted_at - endpoint.failing_since >= policy.disable_after:
            events.disable_endpoint(session, endpoint, "failing")
    session.add(delivery)
    session.flush()
    return endpoint.enabled
