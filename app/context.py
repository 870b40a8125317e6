"""Per-request values that services may read without importing the web framework."""

from contextvars import ContextVar
from datetime import datetime

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Set only by `hep simulate` (and the scenario tests that run the same code): the moment the services
# take as "now", so weeks of a synthetic patient's sessions play out in seconds. Never set by requests.
simulated_now_var: ContextVar[datetime | None] = ContextVar("simulated_now", default=None)
