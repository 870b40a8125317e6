"""The dispatcher: claims due deliveries, sends them signed, records every attempt.

One claim is a short transaction (the deliveries get a lease), the sends happen outside any transaction,
and each result is recorded in its own transaction. A dispatcher that dies after claiming leaves only
leases behind; when they expire the deliveries are due again, so a crash delays delivery but never
loses it (at least once). Runs in the API process (a thread, see app/main.py) or as `hep worker`.
"""

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.services import events
from app.services.events import Claim, Outcome
from app.webhooks.policy import DeliveryPolicy
from app.webhooks.signing import signature_header
from app.webhooks.url_safety import UnsafeUrl, pin

logger = logging.getLogger("hep.webhooks")

USER_AGENT = "hep-webhooks/1"
MAX_ERROR_LENGTH = 500
MAX_RESPONSE_BYTES = 65536


def _drain(response: httpx.Response) -> None:
    """Read a short response body so the connection can be reused; a longer one is dropped unread."""
    received = 0
    for chunk in response.iter_raw():
        received += len(chunk)
        if received > MAX_RESPONSE_BYTES:
            break


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
            limits=httpx.Limits(max_connections=concurrency),
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
            return outcome(error=f"not sent: {exc.detail}")
        timestamp = int(attempted_at.timestamp())
        headers = {
            "host": target.host_header,
            "webhook-id": claim.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(
                claim.signing_secrets, claim.message_id, timestamp, claim.body
            ),
        }
        try:
            with self._client.stream(
                "POST",
                target.url,
                content=claim.body,
                headers=headers,
                extensions={"sni_hostname": target.sni_hostname},
            ) as response:
                _drain(response)
        except httpx.TimeoutException as exc:
            return outcome(error=f"timed out: {type(exc).__name__}")
        except Exception as exc:  # whatever stops the send fails this attempt, and the log says what it was
            return outcome(error=f"{type(exc).__name__}: {exc}")
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
