"""Every Prometheus metric the service exports, in one place (names: docs/observability.md).

RED metrics follow the OpenTelemetry HTTP semantic conventions. The default registry also carries the
process collector (CPU, memory, fds) and the Python GC collector.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from itertools import accumulate
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, Counter, Gauge, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sqlalchemy.pool import Pool

from app.observability.http_metrics import HttpServerMetrics
from app.store.read_pool import ReadPool

if TYPE_CHECKING:
    from app.store.database import PoolLine  # which imports this module

# Every alert threshold is a bucket edge (p99 > 2 s needs a 2.0 edge).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0)
UNMATCHED_ROUTE = "unmatched"

# http_server_request_duration_seconds and http_server_active_requests, without a lock per change.
HTTP_SERVER = HttpServerMetrics(LATENCY_BUCKETS)
REGISTRY.register(HTTP_SERVER)

EVENT_LOOP_LAG = Gauge("event_loop_lag_seconds", "How late the event loop ran a timer, last sample.")

# Two pools, by `pool_name`: "main" (SQLAlchemy: writes and every other query) and "reads" (asyncpg:
# the hot order read).
DB_POOL_MAX = Gauge(
    "db_client_connections_max", "Most connections the pool may open (size + overflow).", ["pool_name"]
)
# Waiters, waits and timeouts are counted by each pool's line (`store/database.py`) in plain values and
# exported with the pools' occupancy by `_PoolCollector`: db_client_connections_pending_requests,
# db_client_connections_wait_time_seconds (these buckets) and db_client_connections_timeouts_total.
DB_POOL_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0)

REDIS_ERRORS = Counter("redis_client_errors", "Redis calls that failed; the service degraded.", ["kind"])

HEALTH_UP = Gauge("health_check_up", "Last dependency probe result (1 up, 0 down).", ["check"])
APP_READY = Gauge("app_ready", "1 while /health/ready answers 200.")

SIGNUPS = Counter("customers_signed_up", "Customers who signed up.")
ORDERS_PLACED = Counter("orders_placed", "Orders placed.", ["checkout_flow"])
ORDER_CACHE_LOOKUPS = Counter(
    "order_cache_lookups", "Order reads looked up in the in-process cache.", ["result"]
)  # result: hit | miss
ORDERS_VALUE = Counter("orders_value_cents", "Value of the orders placed, in cents.", ["checkout_flow"])
BUILD_INFO = Gauge("build_info", "Always 1; labels carry the build.", ["version", "commit"])

# Create every known label set at zero, so `rate()` sees the first increment and dashboards show 0,
# not "no data", before anything has happened.
for _kind in ("timeout", "connection", "other"):
    REDIS_ERRORS.labels(kind=_kind)
for _flow in ("legacy", "new"):
    ORDERS_PLACED.labels(checkout_flow=_flow)
    ORDERS_VALUE.labels(checkout_flow=_flow)


class _PoolCollector(Collector):
    """Reads the pools' occupancy and their lines' counts at scrape time: the request path only adds
    to plain values (see `HttpServerMetrics` for why that is safe without a lock)."""

    def __init__(self) -> None:
        self.main: Pool | None = None
        self.reads: ReadPool | None = None
        self.lines: tuple[PoolLine, ...] = ()
        self._edges = [floatToGoString(b) for b in DB_POOL_WAIT_BUCKETS] + ["+Inf"]  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        usage = GaugeMetricFamily(
            "db_client_connections_usage", "Connections in the pool by state.", labels=["pool_name", "state"]
        )
        if self.main is not None:
            usage.add_metric(["main", "used"], self.main.checkedout())  # type: ignore[attr-defined]
            usage.add_metric(["main", "idle"], self.main.checkedin())  # type: ignore[attr-defined]
        if self.reads is not None:
            usage.add_metric(["reads", "used"], self.reads.in_use)
            usage.add_metric(["reads", "idle"], self.reads.idle)
        yield usage
        pending = GaugeMetricFamily(
            "db_client_connections_pending_requests",
            "Callers waiting for a pool connection.",
            labels=["pool_name"],
        )
        timeouts = CounterMetricFamily(
            "db_client_connections_timeouts", "Pool checkouts that timed out.", labels=["pool_name"]
        )
        waits = HistogramMetricFamily(
            "db_client_connections_wait_time_seconds",
            "Time spent waiting for a pool connection.",
            labels=["pool_name"],
        )
        for line in self.lines:
            pending.add_metric([line.pool_name], line.pending)
            timeouts.add_metric([line.pool_name], line.timeouts)
            cumulative = accumulate(list(line.waits))  # copied in one C call: whole under the GIL
            waits.add_metric(
                [line.pool_name], list(zip(self._edges, cumulative, strict=True)), line.wait_seconds
            )
        yield from (pending, timeouts, waits)


_pool_collector = _PoolCollector()
REGISTRY.register(_pool_collector)


def register_pools(main: Pool, reads: ReadPool, lines: tuple[PoolLine, ...]) -> None:
    _pool_collector.main, _pool_collector.reads, _pool_collector.lines = main, reads, lines


def serve_metrics(port: int, host: str) -> None:
    """Serve /metrics on its own port (a daemon thread), never on the public listener."""
    start_http_server(port, addr=host)


async def watch_event_loop_lag(interval: float = 0.5) -> None:
    """Sample how late a timer fires: a blocked loop shows up here before it shows up as latency."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(interval)
        EVENT_LOOP_LAG.set(max(0.0, loop.time() - started - interval))


def set_build_info(version: str, commit: str) -> None:
    BUILD_INFO.labels(version=version, commit=commit).set(1)
