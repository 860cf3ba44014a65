"""HttpServerMetrics exports what prometheus-client's own Histogram and Gauge would, without their locks."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from app.observability.context import FinishedRequest
from app.observability.http_metrics import HttpServerMetrics

BUCKETS = (0.01, 0.1, 1.0)
ROUTE = "/v1/orders/{order_id}"
DURATIONS = (0.004, 0.01, 0.05, 0.1, 0.7, 3.0)  # below, on and between the edges, and past the last


def _ours(*observations: tuple[str, str, int, float]) -> tuple[CollectorRegistry, HttpServerMetrics]:
    registry = CollectorRegistry()
    metrics = HttpServerMetrics(BUCKETS)
    registry.register(metrics)
    for method, route, status, seconds in observations:
        metrics.started(method)
        metrics.record([_finished(method, route, status, seconds)])
    return registry, metrics


def _finished(
    method: str, route: str, status: int, seconds: float, trace_id: str | None = None
) -> FinishedRequest:
    """A request as the middleware records it (only these fields reach the metrics)."""
    return ("rid", trace_id, None, method, route, route, status, seconds)


def test_the_exposition_is_prometheus_clients_own() -> None:
    """Bucket edges (`le` is "at most"), cumulative counts, sum, count and label values: the same text
    prometheus-client's Histogram and Gauge produce (without their `_created` series)."""
    observations = [("GET", ROUTE, 200, d) for d in DURATIONS] + [("POST", "/v1/orders", 201, 0.02)]
    ours, _ = _ours(*observations)

    reference = CollectorRegistry()
    histogram = Histogram(
        "http_server_request_duration_seconds",
        "Duration of HTTP server requests.",
        ["http_request_method", "http_route", "http_response_status_code"],
        buckets=BUCKETS,
        registry=reference,
    )
    active = Gauge(
        "http_server_active_requests",
        "Number of in-flight HTTP server requests.",
        ["http_request_method"],
        registry=reference,
    )
    for method, route, status, seconds in observations:
        histogram.labels(method, route, str(status)).observe(seconds)
        active.labels(method).set(0)

    def without_created(text: bytes) -> list[str]:
        return [line for line in text.decode().splitlines() if "_created" not in line]

    assert without_created(generate_latest(ours)) == without_created(generate_latest(reference))


def test_active_requests_count_what_started_and_has_not_finished() -> None:
    registry, metrics = _ours()
    metrics.started("GET")
    metrics.started("GET")
    metrics.started("POST")
    metrics.record([_finished("GET", ROUTE, 200, 0.001)])
    assert registry.get_sample_value("http_server_active_requests", {"http_request_method": "GET"}) == 1
    assert registry.get_sample_value("http_server_active_requests", {"http_request_method": "POST"}) == 1


def test_a_traced_request_leaves_its_trace_id_on_its_bucket_for_openmetrics_only() -> None:
    registry, metrics = _ours(("GET", ROUTE, 200, 0.002))
    metrics.started("GET")
    metrics.record([_finished("GET", ROUTE, 200, 0.05, "0af7651916cd43dd8448eb211c80319c")])
    openmetrics = generate_openmetrics(registry).decode()  # type: ignore[no-untyped-call]
    (line,) = [line for line in openmetrics.splitlines() if "trace_id" in line]
    assert line.startswith('http_server_request_duration_seconds_bucket{http_request_method="GET",')
    assert 'le="0.1"' in line  # 0.05 s falls in the 0.1 bucket, not the first one
    assert '# {trace_id="0af7651916cd43dd8448eb211c80319c"} 0.05' in line
    assert "trace_id" not in generate_latest(registry).decode()
