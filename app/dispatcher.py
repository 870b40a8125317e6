"""The dispatcher: claims due deliveries, sends them signed, records every attempt.

Claims and results go through short transactions (a claim gives the delivery a lease); the sends happen
outside any transaction. A dispatcher that dies after claiming leaves only leases behind; when they expire
the deliveries are due again, so a crash delays delivery but never loses it (at least once). Runs in the
API process (a thread, see app/main.py) or as `hep worker`.
"""

import logging
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.observability import DELIVERY_ATTEMPTS
from app.services import deliveries, events
from app.services.deliveries import Claim, Outcome
from app.webhooks.deadlines import Deadlines
from app.webhooks.policy import DeliveryPolicy
from app.webhooks.signing import signature_header
from app.webhooks.url_safety import UnsafeUrl, pin

logger = logging.getLogger("hep.webhooks")

USER_AGENT = "hep-webhooks/1"
MAX_ERROR_LENGTH = 500
MAX_RESPONSE_BYTES = 65536
# How an attempt's error starts when nothing was sent, or no answer came in time.
NOT_SENT = "not sent"
TIMED_OUT = "timed out"


def _drain(response: httpx.Response) -> None:
    """Read a short response body so the connection can be reused; a longer one is dropped unread."""
    received = 0
    for chunk in response.iter_raw():
        received += len(chunk)
        if received > MAX_RESPONSE_BYTES:
            break


def _outcome_label(outcome: Outcome) -> str:
    if outcome.succeeded:
        return "succeeded"
    if outcome.status_code is not None:
        return "http_error"
    error = outcome.error or ""
    if error.startswith(TIMED_OUT):
        return "timeout"
    if error.startswith(NOT_SENT):
        return "refused_address"
    return "connection_error"


class Dispatcher:
    """One thread does the database work, in rounds: record the finished attempts and claim due
    deliveries, in one transaction. `concurrency` threads send, so at most that many requests are under
    way at once. Up to `concurrency` more claims wait in line for a sender, so that a sender that finishes
    starts its next send at once instead of waiting for a round. A slow receiver holds one sender, not a
    batch; a claim in line gets a sender within one timeout (each send ends by then), well inside its lease.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        allow_private: bool,
        policy: DeliveryPolicy | None = None,
        concurrency: int = 20,
        poll_interval: float = 0.5,
    ) -> None:
        self.engine = engine
        self.allow_private = allow_private
        self.policy = policy or DeliveryPolicy()
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self._client = httpx.Client(
            timeout=self.policy.timeout_seconds,
            follow_redirects=False,
            trust_env=False,  # an HTTP(S)_PROXY from the environment would bypass the address checks
            # No kept-alive connections: the pool knows a connection by address and port only, not by the
            # TLS host name, so a connection opened (and its certificate checked) for one host name would
            # carry the next send to another host name at the same address without checking its
            # certificate. Every send opens its own connection to the address checked for it.
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=0),
            headers={"user-agent": USER_AGENT, "content-type": "application/json"},
        )
        self._deadlines: Deadlines | None = None
        # Guards the three below: attempts sent and not yet recorded, a wake-up, a stop request.
        self._changed = threading.Condition()
        self._finished: list[tuple[Claim, Outcome | None]] = []  # None: not sent (see _gone)
        # Endpoints that answered 410 since the last round: the claims in line for them are not sent
        # (recording the 410 disables the endpoint and cancels its deliveries; "stop" means stop now).
        self._gone: set[uuid.UUID] = set()
        self._woken = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._listener: threading.Thread | None = None

    def _wake(self) -> None:
        with self._changed:
            self._woken = True
            self._changed.notify_all()

    def _record_and_claim(
        self, finished: list[tuple[Claim, Outcome]], limit: int, released: list[Claim] | None = None
    ) -> tuple[list[Claim], set[uuid.UUID]]:
        """Record the finished attempts, then claim up to `limit` due deliveries (or hand `released`
        claims back).

        A failure may change its endpoint (a retry streak, a 410 that disables it), so failures are
        recorded first, each in a transaction of its own: locking one endpoint at a time cannot deadlock,
        and the claim then sees an endpoint disabled by them. The successes are recorded and the claim made
        in one transaction (on SQLite every transaction queues for the one write lock, so fewer is faster);
        a success that ends its endpoint's failing streak is recorded on its own after it.

        Returns the claims, and the endpoints found disabled (or deleted) while recording.
        """
        successes = [(claim, outcome) for claim, outcome in finished if outcome.succeeded]
        disabled = {
            claim.endpoint_id
            for claim, outcome in finished
            if not outcome.succeeded and not self._record_one(claim, outcome)
        }
        claims: list[Claim] = []
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                streak_ends = deliveries.record_successes(session, successes) if successes else []
                if limit:
                    claims = deliveries.claim_due(session, limit, self.policy)
                if released:
                    deliveries.release(session, released)
                session.commit()
        except Exception:
            logger.exception("could not record and claim webhook deliveries")
            streak_ends, claims = successes, []
        for claim, outcome in streak_ends:
            self._record_one(claim, outcome)
        return claims, disabled

    def _record_one(self, claim: Claim, outcome: Outcome) -> bool:
        """Record one attempt; False if its endpoint takes no more deliveries."""
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                enabled = deliveries.record_attempt(session, claim, outcome, self.policy)
                session.commit()
            return enabled
        except Exception:
            # The lease runs out and the delivery is sent again: a duplicate, never a loss.
            logger.exception(
                "could not record a webhook attempt", extra={"delivery_id": str(claim.delivery_id)}
            )
            return True

    def _attempt(self, claim: Claim) -> None:
        outcome: Outcome | None = None
        if claim.endpoint_id not in self._gone:
            started = datetime.now(UTC)  # a failing streak counts attempts by when they began
            try:
                outcome = self._send(claim)
            except Exception as exc:  # a fault here, not at the receiver: still a failed attempt
                logger.exception("could not send a webhook", extra={"delivery_id": str(claim.delivery_id)})
                error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
                outcome = Outcome(started, 0, None, error)
            DELIVERY_ATTEMPTS.labels(_outcome_label(outcome)).inc()
            if outcome.status_code == 410:
                self._gone.add(claim.endpoint_id)
        with self._changed:
            self._finished.append((claim, outcome))
            self._changed.notify_all()

    def _send(self, claim: Claim) -> Outcome:
        attempted_at = datetime.now(UTC)
        started = time.perf_counter()

        def outcome(status_code: int | None = None, error: str | None = None) -> Outcome:
            duration_ms = round((time.perf_counter() - started) * 1000)
            return Outcome(attempted_at, duration_ms, status_code, error and error[:MAX_ERROR_LENGTH])

        try:
            target = pin(claim.url, allow_private=self.allow_private)
        except UnsafeUrl as exc:
            return outcome(error=f"{NOT_SENT}: {exc.detail}")
        timestamp = int(attempted_at.timestamp())
        headers = {
            "host": target.host_header,
            "webhook-id": claim.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(
                claim.signing_secrets, claim.message_id, timestamp, claim.body
            ),
        }
        assert self._deadlines is not None
        deadline = self._deadlines.start()
        try:
            with self._client.stream(
                "POST",
                target.url,
                content=claim.body,
                headers=headers,
                extensions={"sni_hostname": target.sni_hostname, "trace": deadline.trace},
            ) as response:
                _drain(response)
        except httpx.TimeoutException as exc:
            return outcome(error=f"{TIMED_OUT}: {type(exc).__name__}")
        except Exception as exc:  # whatever stops the send fails this attempt, and the log says what it was
            if deadline.expired:
                return outcome(error=f"{TIMED_OUT}: the whole attempt took longer than the timeout")
            return outcome(error=f"{type(exc).__name__}: {exc}")
        finally:
            deadline.cancel()
        if response.is_redirect:
            return outcome(response.status_code, "redirects are not followed")
        return outcome(response.status_code)

    def _serve(self) -> None:
        """Deliver until stopped; then release the claims not yet being sent, and let the sends under way
        finish and be recorded."""
        # Claimed and not yet recorded: sending, queued for a sender, or sent and waiting to be recorded.
        outstanding: dict[uuid.UUID, tuple[Claim, Future]] = {}
        room = 2 * self.concurrency
        next_poll = time.monotonic()
        more_due = False  # the last claim took all it could: there may be more due at once
        released_all = False  # once stopping: the claims in line have been handed back
        unsubscribe = events.on_deliveries_committed(self._wake)
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="webhook")
        try:
            while True:
                with self._changed:
                    while not (
                        self._finished
                        or (self._stopping and not (released_all and outstanding))
                        or (
                            not self._stopping
                            and len(outstanding) < room
                            and (self._woken or more_due or time.monotonic() >= next_poll)
                        )
                    ):
                        idle = not self._stopping and len(outstanding) < room
                        self._changed.wait(next_poll - time.monotonic() if idle else None)
                    finished, self._finished = self._finished, []
                    woken, self._woken = self._woken, False
                    stopping = self._stopping
                for claim, _ in finished:
                    del outstanding[claim.delivery_id]
                sent = [(claim, outcome) for claim, outcome in finished if outcome is not None]
                if stopping:
                    # Claims no sender has started are handed back now rather than left for their lease
                    # to expire.
                    released = [claim for claim, future in outstanding.values() if future.cancel()]
                    for claim in released:
                        del outstanding[claim.delivery_id]
                    released_all = True
                    if sent or released:
                        self._record_and_claim(sent, 0, released)
                    if not outstanding:
                        return
                    continue
                limit = room - len(outstanding)
                # A finished send frees a place in its endpoint's line (deliveries.claim_due takes a few
                # per endpoint at once): what waited for it can be claimed now.
                if not (woken or more_due or sent or time.monotonic() >= next_poll):
                    limit = 0  # nothing known to be due: record only
                if limit:
                    next_poll = time.monotonic() + self.poll_interval
                if sent or limit:
                    claims, disabled = self._record_and_claim(sent, limit)
                    self._gone.difference_update(c.endpoint_id for c, o in sent if o.status_code == 410)
                    # Disabling cancelled the endpoint's pending deliveries, those in line here too
                    # (a 410 means stop now): drop the ones no sender has started.
                    for claim, future in list(outstanding.values()):
                        if claim.endpoint_id in disabled and future.cancel():
                            del outstanding[claim.delivery_id]
                    if limit:
                        more_due = len(claims) == limit
                    for claim in claims:
                        outstanding[claim.delivery_id] = (claim, pool.submit(self._attempt, claim))
        finally:
            pool.shutdown(wait=True)
            unsubscribe()

    def _listen(self) -> None:
        """PostgreSQL: wake on every commit that scheduled deliveries, in any process (LISTEN/NOTIFY), so
        that a worker does not wait for its next poll. Polling goes on regardless: this only makes it fast.
        """
        while not self._stopping:
            try:
                pooled = self.engine.raw_connection()
                connection = pooled.driver_connection
                pooled.detach()  # its own connection, closed at the end, never handed back to the pool
                try:
                    assert connection is not None  # None only for an invalidated connection
                    connection.rollback()
                    connection.autocommit = True
                    connection.execute(f"LISTEN {events.DELIVERIES_CHANNEL}")
                    self._wake()  # anything scheduled before the LISTEN took effect
                    while not self._stopping:
                        for _ in connection.notifies(timeout=min(self.poll_interval, 1.0), stop_after=1):
                            self._wake()
                finally:
                    pooled.close()
            except Exception:
                logger.warning("not listening for new webhook deliveries; polling only", exc_info=True)
                with self._changed:
                    self._changed.wait_for(lambda: self._stopping, timeout=max(self.poll_interval, 5.0))

    def start(self) -> None:
        self._stopping = False
        self._deadlines = Deadlines(self.policy.timeout_seconds)
        # A daemon, so that a process that never calls stop() can still exit (at least once covers it).
        self._thread = threading.Thread(target=self._serve, name="webhook-dispatcher", daemon=True)
        self._thread.start()
        if self.engine.dialect.name == "postgresql":
            self._listener = threading.Thread(target=self._listen, name="webhook-listener", daemon=True)
            self._listener.start()

    def stop(self) -> None:
        """Stop claiming, wait for the sends under way to be recorded, release the HTTP client."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._listener is not None:
            self._listener.join()
            self._listener = None
        if self._deadlines is not None:
            self._deadlines.stop()
            self._deadlines = None
        self._client.close()
