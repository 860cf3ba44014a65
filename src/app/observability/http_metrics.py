"""The RED metrics of the HTTP server, counted in plain Python values and exported by a collector.

prometheus-client's `Histogram` and `Gauge` take a lock on every change: an observation is a sum and a
bucket, each under its own lock, and the active-requests gauge is two more. Counted with cachegrind on
the cached order read, that was ~20k instructions per request, a fifth of what the middleware cost
(bench/README.md). Only the event loop's thread changes these values, so they need no lock: the
middleware adds to lists and dicts, and the scrape (prometheus-client's exposition, on the metrics
thread) copies them. Copying a list or dict is one C call, so the GIL makes each copy whole; a scrape
may see a request in the active gauge and not yet in the histogram, as it could before.
This relies on the GIL: a free-threaded Python build would need the lock back.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable, Sequence

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

from app.observability.context import FinishedRequest

DURATION = "http_server_request_duration_seconds"
ACTIVE = "http_server_active_requests"
LABELS = ("http_request_method", "http_route", "http_response_status_code")


class HttpServerMetrics(Collector):
    """`http_server_request_duration_seconds` (method, route, status) and `http_server_active_requests`
    (method), with a `trace_id` exemplar on the bucket of each traced request."""

    def __init__(self, buckets: Sequence[float]) -> None:
        self.bounds = tuple(sorted(buckets))
        self._edges = [floatToGoString(b) for b in self.bounds] + ["+Inf"]  # type: ignore[no-untyped-call]
        # Per label set: one count per bucket (the last is +Inf), then the sum of the durations.
        self._series: dict[tuple[str, str, int], list[float]] = {}
        self._exemplars: dict[tuple[str, str, int], list[Exemplar | None]] = {}
        self.active: dict[str, int] = {}

    def started(self, method: str) -> None:
        self.active[method] = self.active.get(method, 0) + 1

    def record(self, finished: Iterable[FinishedRequest]) -> None:
        """Observe requests that ended: one loop for an event-loop pass's requests, its lookups done once."""
        active, all_series, bounds, size = self.active, self._series, self.bounds, len(self.bounds) + 2
        for _, trace_id, _, method, route, _, status, seconds in finished:
            active[method] -= 1
            key = (method, route, status)
            series = all_series.get(key)
            if series is None:
                series = all_series[key] = [0] * size
            bucket = bisect_left(bounds, seconds)  # the first edge >= seconds: Prometheus's `le`
            series[bucket] += 1
            series[-1] += seconds
            if trace_id:
                exemplars = self._exemplars.setdefault(key, [None] * (size - 1))
                exemplars[bucket] = Exemplar({"trace_id": trace_id}, seconds, time.time())

    def collect(self) -> Iterable[Metric]:
        durations = HistogramMetricFamily(DURATION, "Duration of HTTP server requests.", labels=LABELS)
        for (method, route, status), values in list(self._series.items()):
            counts = list(values)
            exemplars = list(self._exemplars.get((method, route, status), ())) or [None] * len(self._edges)
            cumulative, buckets = 0.0, list[tuple[str, float] | tuple[str, float, Exemplar]]()
            for edge, count, exemplar in zip(self._edges, counts[:-1], exemplars, strict=True):
                cumulative += count
                buckets.append((edge, cumulative, exemplar) if exemplar else (edge, cumulative))
            durations.add_metric([method, route, str(status)], buckets, counts[-1])
        yield durations
        active = GaugeMetricFamily(ACTIVE, "Number of in-flight HTTP server requests.", labels=LABELS[:1])
        for method, count in list(self.active.items()):
            active.add_metric([method], count)
        yield active
