"""When to try a delivery again, how long to wait for a receiver, and when to give up on an endpoint."""

import random
from dataclasses import dataclass
from datetime import timedelta

# DESIGN.md section 6: the first attempt at once, then these waits between attempts.
STANDARD_SCHEDULE = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)


# The most sends_per_endpoint can be (the claim reads that many places of each endpoint's line at most).
MAX_SENDS_PER_ENDPOINT = 8


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """Tests pass a compressed schedule here; production uses the defaults."""

    schedule: tuple[timedelta, ...] = STANDARD_SCHEDULE
    jitter: float = 0.2
    timeout_seconds: float = 15.0
    # An endpoint failing without a single success for this long is disabled.
    disable_after: timedelta = timedelta(days=5)
    # Sends claimed for one endpoint at once, by all dispatchers together; one while it is failing. So a
    # receiver that hangs holds a few senders, never all of them.
    sends_per_endpoint: int = 8
    # A failing endpoint is left alone as a whole (its deliveries wait, new ones too) for the schedule's
    # wait after its n-th failure in a row, at most this long; a success ends the streak.
    max_endpoint_backoff: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if not 1 <= self.sends_per_endpoint <= MAX_SENDS_PER_ENDPOINT:
            raise ValueError(f"sends_per_endpoint must be between 1 and {MAX_SENDS_PER_ENDPOINT}")

    @property
    def lease(self) -> timedelta:
        """How long a claim keeps other dispatchers off a delivery: longer than one attempt can take
        (connect, write and read may each use the whole timeout)."""
        return timedelta(seconds=4 * self.timeout_seconds)

    def endpoint_backoff(self, failures_in_row: int) -> timedelta:
        """How long a failing endpoint is left alone after its `failures_in_row`-th failure in a row."""
        index = min(max(failures_in_row, 1), len(self.schedule) - 1)
        return min(self.schedule[index], self.max_endpoint_backoff)

    def retry_delay(self, attempts_made: int) -> timedelta | None:
        """The wait before the next attempt, with jitter so retries spread out; None: no attempts left."""
        if attempts_made >= len(self.schedule):
            return None
        delay = self.schedule[attempts_made]
        return delay * random.uniform(1 - self.jitter, 1 + self.jitter)
