"""Metrics and traces of the in-process app: route templates, exclusions, span parentage."""

from __future__ import annotations

import uuid

import httpx
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from prometheus_client import REGISTRY

from app.observability.tracing import Tracing
from tests.integration.conftest import ClientFactory


def _count(route: str, status: str, method: str = "GET") -> float:
    value = REGISTRY.get_sample_value(
        "http_server_request_duration_seconds_count",
        {"http_request_method": method, "http_route": route, "http_response_status_code": status},
    )
    return value or 0.0


def _series() -> set[tuple[str, str, str]]:
    return {
        (s.labels["http_request_method"], s.labels["http_route"], s.labels["http_response_status_code"])
        for metric in REGISTRY.collect()
        if metric.name == "http_server_request_duration_seconds"
        for s in metric.samples
        if s.name.endswith("_count")
    }


async def test_red_metrics_use_the_route_template(client: httpx.AsyncClient) -> None:
    before = _count("/v1/orders/{order_id}", "404")
    await client.get(f"/v1/orders/{uuid.uuid4()}")
    assert _count("/v1/orders/{order_id}", "404") == before + 1


async def test_random_paths_add_one_series_not_one_each(client: httpx.AsyncClient) -> None:
    await client.get("/warm-up-unmatched")
    before = _series()
    for _ in range(50):
        await client.get(f"/{uuid.uuid4()}/{uuid.uuid4()}")
    added = _series() - before
    assert added == set(), f"random paths created series: {sorted(added)[:5]}"
    assert ("GET", "unmatched", "404") in _series()


async def test_health_stays_out_of_red_metrics(client: httpx.AsyncClient) -> None:
    await client.get("/health/live")
    await client.get("/health/ready")
    assert not any(route.startswith("/health") for _, route, _ in _series())


async def test_business_metrics_count_signups(client: httpx.AsyncClient) -> None:
    before = REGISTRY.get_sample_value("customers_signed_up_total") or 0.0
    email = f"m-{uuid.uuid4().hex[:8]}@example.com"
    assert (await client.post("/v1/customers", json={"email": email, "name": "M"})).status_code == 201
    assert REGISTRY.get_sample_value("customers_signed_up_total") == before + 1


async def test_server_span_with_db_and_redis_children(make_client: ClientFactory) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = await make_client(tracing=Tracing(provider))
    email = f"t-{uuid.uuid4().hex[:8]}@example.com"
    customer = (await client.post("/v1/customers", json={"email": email, "name": "T"})).json()
    items = [{"sku": "S", "quantity": 1, "unit_price_cents": 5}]
    exporter.clear()

    # An idempotent order: Redis (the key's record) and Postgres (SQLAlchemy) under the server span.
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    placed = await client.post(
        "/v1/orders",
        json={"customer_id": customer["id"], "items": items},
        headers={"traceparent": traceparent, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert placed.status_code == 201
    server, children = _server_span_and_children(exporter)
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/v1/orders"
    assert server.attributes["http.response.status_code"] == 201
    assert format(server.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"  # W3C context in
    systems = {
        str((span.attributes or {}).get("db.system", (span.attributes or {}).get("db.system.name")))
        for span in children
    }
    assert {"postgresql", "redis"} <= systems, [(s.name, s.attributes) for s in children]

    # The first read of that order bypasses SQLAlchemy (the read pool): its query span is made by hand.
    exporter.clear()
    response = await client.get(f"/v1/orders/{placed.json()['id']}")
    assert response.status_code == 200
    server, children = _server_span_and_children(exporter)
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/v1/orders/{order_id}"
    queries = [str((span.attributes or {}).get("db.query.text", "")) for span in children]
    assert any(query.startswith("SELECT") and "FROM orders" in query for query in queries), queries


def _server_span_and_children(exporter: InMemorySpanExporter) -> tuple[ReadableSpan, list[ReadableSpan]]:
    spans = exporter.get_finished_spans()
    server = next(span for span in spans if span.kind.name == "SERVER")
    children = [
        span for span in spans if span.parent is not None and span.parent.span_id == server.context.span_id
    ]
    return server, children


async def test_health_requests_make_no_spans(make_client: ClientFactory) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = await make_client(tracing=Tracing(provider))
    await client.get("/health/live")
    assert not [span for span in exporter.get_finished_spans() if span.kind.name == "SERVER"]
