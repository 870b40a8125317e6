"""The dispatcher: claims due deliveries, sends them signed, records every attempt.

One claim is a short transaction (the deliveries get a lease), the sends happen outside any transaction,
and each result is recorded in its own transaction. A dispatcher that dies after claiming leaves only
leases behind; when they expire the deliveries are due again, so a crash delays delivery but never
loses it (at least once). Runs in the API process (a thread, see app/main.py) or as `hep worker`.
"""

import contextlib
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.observability import DELIVERY_ATTEMPTS
from app.services import events
from app.services.events import Claim, Outcome
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


class _Deadline:
    """Ends an attempt when the whole of it has taken `seconds`.

    httpx's timeouts bound each socket operation, so a receiver that sends a byte now and then (a status
    line a character at a time) would hold a sending slot for ever. At the deadline this shuts the
    attempt's socket down, which makes the read under way fail at once.
    """

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def trace(self, event: str, info: dict) -> None:
        # httpx's "trace" request extension: keep the connection's socket (TCP, then the TLS one over it).
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            sock = info["return_value"].get_extra_info("socket")
            with self._lock:
                if sock is not None:
                    self._sockets.append(sock)
                expired = self.expired
            if expired:
                self._shut()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
        self._shut()

    def _shut(self) -> None:
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed: the attempt is over anyway
                # The plain socket method, also on a TLS socket: shut the connection, not the TLS state.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


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
    def __init__(
        self,
        engine: Engine,
        *,
        allow_private: bool,
        policy: DeliveryPolicy | None = None,
        concurrency: int = 10,
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
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _claim(self, limit: int) -> list[Claim]:
        with Session(self.engine, expire_on_commit=False) as session:
            claims = events.claim_due(session, limit, self.policy.lease)
            session.commit()
        return claims

    def _deliver(self, claim: Claim) -> None:
        outcome = self._send(claim)
        DELIVERY_ATTEMPTS.labels(_outcome_label(outcome)).inc()
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                events.record_attempt(session, claim, outcome, self.policy)
                session.commit()
        except Exception:
            # The lease runs out and the delivery is sent again: a duplicate, never a loss.
            logger.exception(
                "could not record a webhook attempt", extra={"delivery_id": str(claim.delivery_id)}
            )

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
        deadline = _Deadline(self.policy.timeout_seconds)
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
        """Deliver until stopped, then let the sends under way finish and be recorded.

        New claims are made as sending slots free up, so one slow receiver holds one slot, not a batch.
        """
        slots = threading.BoundedSemaphore(self.concurrency)
        unsubscribe = events.on_deliveries_committed(self._wake.set)
        try:
            with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="webhook") as pool:
                while not self._stop.is_set():
                    free = 0
                    while free < self.concurrency and slots.acquire(blocking=False):
                        free += 1
                    if free == 0:  # every slot busy: wait for one
                        if slots.acquire(timeout=self.poll_interval):
                            slots.release()
                        continue
                    self._wake.clear()
                    try:
                        claims = self._claim(free)
                    except Exception:
                        logger.exception("could not claim webhook deliveries")
                        claims = []
                    for _ in range(free - len(claims)):
                        slots.release()
                    for claim in claims:
                        pool.submit(self._deliver, claim).add_done_callback(lambda _: slots.release())
                    if len(claims) < free:  # nothing more due: sleep until the next poll or a commit
                        self._wake.wait(self.poll_interval)
        finally:
            unsubscribe()

    def start(self) -> None:
        self._stop.clear()
        # A daemon, so that a process that never calls stop() can still exit (at least once covers it).
        self._thread = threading.Thread(target=self._serve, name="webhook-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop claiming, wait for the sends under way to be recorded, release the HTTP client."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._client.close()
