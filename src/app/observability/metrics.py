"""Every Prometheus metric the service exports, declared here and nowhere else (docs/observability.md).

prometheus-client's own types throughout. RED metrics follow the OpenTelemetry HTTP semantic
conventions; the pool metrics follow its database-client conventions and are updated by the store
(`app.store.postgres`), which imports this module: observability never imports the store. The
default registry also carries the process collector (CPU, memory, fds) and the Python GC collector.
"""

from __future__ import annotations

import asyncio
import functools

from prometheus_client import Counter, Gauge, Histogram

from app.observability import metrics_server

# Every alert threshold is a bucket edge (p99 > 2 s needs a 2.0 edge).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0)
UNMATCHED_ROUTE = "unmatched"

HTTP_DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Duration of HTTP server requests.",
    ["http_request_method", "http_route", "http_response_status_code"],
    buckets=LATENCY_BUCKETS,
)
HTTP_ACTIVE = Gauge(
    "http_server_active_requests", "Number of in-flight HTTP server requests.", ["http_request_method"]
)


# Every request observes one child of each HTTP metric. `labels()` builds the label key and takes the
# metric's lock on each call; the children are looked up once per label set instead (the sets are
# bounded: known methods, route templates, status codes) and kept.
@functools.lru_cache(maxsize=4096)
def http_duration(method: str, route: str, status: int) -> Histogram:
    return HTTP_DURATION.labels(method, route, str(status))


@functools.lru_cache(maxsize=64)
def http_active(method: str) -> Gauge:
    return HTTP_ACTIVE.labels(method)


EVENT_LOOP_LAG = Gauge("event_loop_lag_seconds", "How late the event loop ran a timer, last sample.")

# One pool, asyncpg's, labelled `pool_name="main"` as the conventions ask for a pool name; the store
# updates these around each checkout (`app.store.postgres`).
DB_POOL_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0)
DB_POOL_MAX = Gauge("db_client_connections_max", "Most connections the pool may open.", ["pool_name"])
DB_POOL_USAGE = Gauge(
    "db_client_connections_usage", "Connections in the pool by state.", ["pool_name", "state"]
)  # state: used | idle, read from the pool at scrape time
DB_POOL_PENDING = Gauge(
    "db_client_connections_pending_requests", "Callers waiting for a pool connection.", ["pool_name"]
)
DB_POOL_TIMEOUTS = Counter("db_client_connections_timeouts", "Pool checkouts that timed out.", ["pool_name"])
DB_POOL_WAIT = Histogram(
    "db_client_connections_wait_time_seconds",
    "Time spent waiting for a pool connection.",
    ["pool_name"],
    buckets=DB_POOL_WAIT_BUCKETS,
)

REDIS_ERRORS = Counter("redis_client_errors", "Redis calls that failed; the service degraded.", ["kind"])

HEALTH_UP = Gauge("health_check_up", "Last dependency probe result (1 up, 0 down).", ["check"])
APP_READY = Gauge("app_ready", "1 while /health/ready answers 200.")

SIGNUPS = Counter("customers_signed_up", "Customers who signed up.")
ORDERS_PLACED = Counter("orders_placed", "Orders placed.", ["checkout_flow"])
ORDERS_VALUE = Counter("orders_value_cents", "Value of the orders placed, in cents.", ["checkout_flow"])
BUILD_INFO = Gauge("build_info", "Always 1; labels carry the build.", ["version", "commit"])

# Create every known label set at zero, so `rate()` sees the first increment and dashboards show 0,
# not "no data", before anything has happened.
for _kind in ("timeout", "connection", "other"):
    REDIS_ERRORS.labels(kind=_kind)
for _flow in ("legacy", "new"):
    ORDERS_PLACED.labels(checkout_flow=_flow)
    ORDERS_VALUE.labels(checkout_flow=_flow)
DB_POOL_PENDING.labels(pool_name="main")
DB_POOL_TIMEOUTS.labels(pool_name="main")
DB_POOL_WAIT.labels(pool_name="main")


def serve_metrics(port: int, host: str) -> None:
    """Serve /metrics on its own port (a daemon thread), never on the public listener."""
    metrics_server.start(port, host)


async def watch_event_loop_lag(interval: float = 0.5) -> None:
    """Sample how late a timer fires: a blocked loop shows up here before it shows up as latency."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(interval)
        EVENT_LOOP_LAG.set(max(0.0, loop.time() - started - interval))


def set_build_info(version: str, commit: str) -> None:
    BUILD_INFO.labels(version=version, commit=commit).set(1)
