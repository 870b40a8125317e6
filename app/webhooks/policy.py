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


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """Tests pass a compressed schedule here; production uses the defaults."""

    schedule: tuple[timedelta, ...] = STANDARD_SCHEDULE
    jitter: float = 0.2
    timeout_seconds: float = 15.0
    # An endpoint failing without a single success for this long is disabled.
    disable_after: timedelta = timedelta(days=5)

    @property
    def lease(self) -> timedelta:
        """How long a claim keeps other dispatchers off a delivery: longer than one attempt can take
        (connect, write and read may each use the whole timeout)."""
        return timedelta(seconds=4 * self.timeout_seconds)

    def retry_delay(self, attempts_made: int) -> timedelta | None:
        """The wait before the next attempt, with jitter so retries spread out; None: no attempts left."""
        if attempts_made >= len(self.schedule):
            return None
        delay = self.schedule[attempts_made]
        return delay * random.uniform(1 - self.jitter, 1 + self.jitter)
