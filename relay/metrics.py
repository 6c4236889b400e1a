"""Prometheus metrics, served at ``GET /metrics`` (bearer: the admin token or ``RELAY_METRICS_TOKEN``).

Counters and histograms belong to the process that counts them: a scraper reads each web and worker process on
its own (one process per container or pod; with ``relay serve --workers N`` a scrape reaches one of the N).
The backlog gauges describe the shared Redis and are computed at scrape time, so any process reports the same.

Recording functions are small and never raise; callers (the callback route, the delivery worker, the tunnel)
call them at the point where the thing happened.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from relay.auth import require_admin
from relay.errors import Unauthorized
from relay.providers import PROVIDER_NAMES
from relay.store.backlog import Backlog, read_backlog
from relay.store.deliveries import DeliveryStatus

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)

# Acks are milliseconds when healthy; the top buckets show Redis trouble before providers give up (15 s).
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ATTEMPT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)
# From an event's arrival to its successful delivery: seconds when healthy, hours while retrying.
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 7200.0, 36000.0, 86400.0)

CALLBACKS = Counter(
    "relay_callbacks",
    "Provider callbacks by provider and outcome: stored, duplicate, unrecognized (stored, no adapter understood "
    "it), rejected (4xx: token, signature, limits), unavailable (503: Redis down or slow).",
    ["provider", "outcome"],
    registry=REGISTRY,
)
ACK_SECONDS = Histogram(
    "relay_callback_ack_seconds",
    "Time from a callback's arrival to its acknowledgement (stored or duplicate).",
    ["provider"],
    buckets=ACK_BUCKETS,
    registry=REGISTRY,
)
ATTEMPTS = Counter(
    "relay_delivery_attempts",
    "Delivery attempts by outcome (succeeded, http_error, timeout, ...) and the status they left the delivery in "
    "(succeeded, failed = retry scheduled, dead).",
    ["outcome", "status"],
    registry=REGISTRY,
)
ATTEMPT_SECONDS = Histogram(
    "relay_delivery_attempt_seconds",
    "Duration of one delivery attempt (the subscriber's answer, or the timeout).",
    buckets=ATTEMPT_BUCKETS,
    registry=REGISTRY,
)
LAG_SECONDS = Histogram(
    "relay_delivery_lag_seconds",
    "Time from an event's arrival to its successful delivery, retries included.",
    buckets=LAG_BUCKETS,
    registry=REGISTRY,
)
DEAD = Counter(
    "relay_deliveries_dead",
    "Deliveries that gave up: retries exhausted, 410 Gone, or their subscription deleted or disabled.",
    registry=REGISTRY,
)
TUNNEL_CLIENTS = Gauge(
    "relay_tunnel_clients_connected",
    "Local tunnel clients connected to this process.",
    registry=REGISTRY,
)
DUE = Gauge(
    "relay_deliveries_due",
    "Deliveries due now and not claimed by any worker (the backlog), from Redis at scrape time.",
    registry=REGISTRY,
)
SCHEDULED = Gauge(
    "relay_deliveries_scheduled",
    "Unfinished deliveries in the schedule: due, waiting for a retry, or being attempted (from Redis).",
    registry=REGISTRY,
)
OLDEST_DUE_AGE = Gauge(
    "relay_deliveries_oldest_due_age_seconds",
    "How long the longest-waiting due delivery has been due (0 when none is), from Redis at scrape time.",
    registry=REGISTRY,
)
REDIS_UP = Gauge("relay_redis_up", "1 when Redis answered this scrape's backlog queries.", registry=REGISTRY)
TASK_POLLS = Counter(
    "relay_task_polls",
    "Turns of the task poller (relay.tasks) by provider and outcome: answered (the provider's answer was read), "
    "error (an error status, garbage, a timeout), throttled (429), overdue (no key or endpoint), timed_out.",
    ["provider", "outcome"],
    registry=REGISTRY,
)
TASK_POLL_OUTCOMES = ("answered", "error", "throttled", "overdue", "timed_out")


def _provider_label(provider: str) -> str:
    # The provider comes from the URL path: an unknown one must not mint a new time series per request.
    return provider if provider in PROVIDER_NAMES else "unknown"


# Label children bound once: prometheus-client's .labels() validates and locks on every call. Keys are known
# providers and the fixed outcomes only, so names from URLs cannot grow these.
_COUNTERS: dict[tuple[str, str], Counter] = {}
_HISTOGRAMS: dict[str, Histogram] = {}


def callback_received(provider: str, outcome: str, ack_s: float | None = None) -> None:
    """Count a callback; ``ack_s`` is the time to its acknowledgement when it was acknowledged."""
    label = _provider_label(provider)
    counter = _COUNTERS.get((label, outcome))
    if counter is None:
        counter = _COUNTERS[(label, outcome)] = CALLBACKS.labels(label, outcome)
    counter.inc()
    if ack_s is not None:
        histogram = _HISTOGRAMS.get(label)
        if histogram is None:
            histogram = _HISTOGRAMS[label] = ACK_SECONDS.labels(label)
        histogram.observe(ack_s)


def delivery_attempted(outcome: str, status: str, seconds: float, received_s: float | None = None) -> None:
    """Count one attempt; ``received_s`` (the event's arrival, unix s) gives the lag when it succeeded."""
    ATTEMPTS.labels(outcome, status).inc()
    ATTEMPT_SECONDS.observe(seconds)
    if status == DeliveryStatus.DEAD:
        DEAD.inc()
    elif status == DeliveryStatus.SUCCEEDED and received_s is not None:
        LAG_SECONDS.observe(max(time.time() - received_s, 0.0))


def delivery_abandoned() -> None:
    """A delivery went dead without an attempt (its subscription is gone or disabled)."""
    DEAD.inc()


def task_polled(provider: str, outcome: str) -> None:
    """One turn of the task poller; ``provider`` is a tracked task's (a known provider), ``outcome`` one of
    :data:`TASK_POLL_OUTCOMES`."""
    TASK_POLLS.labels(provider, outcome).inc()


def tunnel_client_connected() -> None:
    TUNNEL_CLIENTS.inc()


def tunnel_client_disconnected() -> None:
    TUNNEL_CLIENTS.dec()


def _set_backlog(backlog: Backlog | None) -> None:
    REDIS_UP.set(0 if backlog is None else 1)
    if backlog is not None:
        DUE.set(backlog.due)
        SCHEDULED.set(backlog.scheduled)
        OLDEST_DUE_AGE.set(backlog.oldest_due_age_s)


def _authorize(request: Request) -> None:
    token = request.state.settings.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and _equal(given.strip(), str(token)):
            return
    try:
        require_admin(request)
    except Unauthorized:
        raise Unauthorized("missing or wrong token; send `Authorization: Bearer` the admin or metrics token") from None


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest())


async def metrics(request: Request) -> Response:
    _authorize(request)
    state = request.state
    try:
        backlog: Backlog | None = await read_backlog(
            state.redis, state.settings.partitions, int(state.clock() * 1000), state.settings.store_timeout_s
        )
    except (RedisError, OSError, TimeoutError):
        backlog = None
    _set_backlog(backlog)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
