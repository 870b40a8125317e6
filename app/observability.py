"""What the service tells its operators: Prometheus metrics and JSON log lines.

Requests are labelled by route template (`/v1/patients/{patient_id}`), never by the path itself, so the
number of series is fixed by the route table and no id (or anything else a client sends) becomes a label.
Log lines carry the request id, the route template, the status and the duration; never bodies, query
strings or names: patient data stays out of the logs. Every line's message and exception have URLs' query
strings cut (webhook receivers' tokens), whoever logged them.
"""

import json
import logging
import logging.config
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from app.context import request_id_var

# No `_created` series: they double the series count and Prometheus does not need them.
disable_created_metrics()

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"

REQUESTS = Counter(
    "hep_http_requests_total",
    "HTTP requests answered, by route template and status",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "hep_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DELIVERY_ATTEMPTS = Counter(
    "hep_webhook_delivery_attempts_total",
    "Webhook delivery attempts made by this process, by outcome "
    "(succeeded, http_error, timeout, connection_error, refused_address)",
    ["outcome"],
)

request_logger = logging.getLogger("hep.request")
# Bounded like the series themselves: methods × route templates × statuses.
_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def record_request(method: str, route: str | None, status: int, seconds: float, request_id: str) -> None:
    """Count and log one answered request (called by the request middleware once the answer is sent)."""
    method = method if method in METHODS else "OTHER"  # a client may send any method name
    route = route or UNMATCHED
    key = (method, route, status)
    series = _series.get(key)
    if series is None:  # looked up once per (method, route, status): labels() costs more than the update
        series = _series[key] = (
            REQUESTS.labels(method, route, str(status)),
            REQUEST_SECONDS.labels(method, route),
        )
    series[0].inc()
    series[1].observe(seconds)
    if request_logger.isEnabledFor(logging.INFO):
        request_logger.info(
            "request",
            extra={
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
                "request_id": request_id,
            },
        )


@dataclass(frozen=True, slots=True)
class DeliveryQueue:
    pending: int  # waiting to be sent: due now or retrying later
    due: int  # of those, due now (the dispatchers' backlog)
    oldest_due_seconds: float  # how long the oldest due delivery has waited (0 when none is due)


class DeliveryQueueCollector(Collector):
    """Reads the delivery table at scrape time, so every process reports the same, current numbers."""

    def __init__(self, read: Callable[[], DeliveryQueue | None]) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        queue = self.read()
        yield GaugeMetricFamily(
            "hep_database_up", "1 if the database answered this scrape, else 0", value=int(queue is not None)
        )
        if queue is None:
            return
        yield GaugeMetricFamily(
            "hep_webhook_deliveries_pending",
            "Webhook deliveries not yet sent or given up",
            value=queue.pending,
        )
        yield GaugeMetricFamily("hep_webhook_deliveries_due", "Webhook deliveries due now", value=queue.due)
        yield GaugeMetricFamily(
            "hep_webhook_oldest_due_seconds",
            "How long the oldest due webhook delivery has been waiting",
            value=queue.oldest_due_seconds,
        )


def render_metrics(read_queue: Callable[[], DeliveryQueue | None]) -> bytes:
    """The Prometheus text exposition: this process's counters, then the delivery queue."""
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(DeliveryQueueCollector(read_queue))
    return generate_latest(REGISTRY) + generate_latest(scrape)


_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# A URL's query string and fragment: webhook URLs carry receivers' tokens there, and the HTTP client logs
# every request's URL (httpx, at INFO).
_URL_QUERY = re.compile(r"""([a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#"'<>]*)[?#][^\s"'<>]*""")


def without_url_queries(text: str) -> str:
    """The text with every URL's query string and fragment replaced by `?…`."""
    return _URL_QUERY.sub(r"\1?…", text) if "://" in text else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request id, and the record's extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": without_url_queries(record.getMessage()),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = without_url_queries(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def logging_config(level: str) -> dict[str, Any]:
    """dictConfig for `hep serve` (uvicorn applies it in every worker process) and `hep worker`.

    uvicorn's access log is off: it prints the raw path and query string, which can carry patient
    identifiers; the request log line above replaces it.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
            "alembic": {"level": "WARNING"},  # its plugin set-up chatter at import
        },
    }


def configure_logging(level: str) -> None:
    logging.config.dictConfig(logging_config(level))
