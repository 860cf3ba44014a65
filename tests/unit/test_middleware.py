"""ObservabilityMiddleware around a plain ASGI app: what is traced, what a trace looks like, and what
is recorded when a request ends."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import REGISTRY
from starlette.types import Message, Receive, Scope, Send
from structlog.testing import capture_logs

from app.observability.context import inbound_trace_id, request_id
from app.observability.logging import add_context
from app.observability.middleware import ObservabilityMiddleware
from app.observability.tracing import UNTRACED, HeadSampler

SAMPLED = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
NOT_SAMPLED = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"


class Recorder:
    """An app answering `status`, noting whether instrumentation was on and a span was current."""

    def __init__(self, status: int = 200, error: Exception | None = None) -> None:
        self.status, self.error = status, error
        self.instrumented: list[bool] = []
        self.traced: list[bool] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.instrumented.append(is_instrumentation_enabled())
        self.traced.append(get_current_span().is_recording())
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
        if self.error:
            raise self.error


async def _call(
    middleware: ObservabilityMiddleware, path: str = "/v1/x", method: str = "GET", **headers: bytes
) -> list[Message]:
    scope: dict[str, Any] = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(name.replace("_", "-").encode(), value) for name, value in headers.items()],
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5000),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    await middleware(scope, receive, send)
    return sent


def _traced(app: Recorder, ratio: float = 1.0) -> tuple[ObservabilityMiddleware, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sampler = HeadSampler(ratio, parent_rate=1000)
    middleware = ObservabilityMiddleware(app, tracer=provider.get_tracer("test"), sampler=sampler)
    return middleware, exporter


def _only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = exporter.get_finished_spans()
    return span


async def test_an_untraced_request_makes_no_span_and_suppresses_client_instrumentation() -> None:
    app = Recorder()
    middleware, exporter = _traced(app, ratio=0.0)
    await _call(middleware)
    assert exporter.get_finished_spans() == ()
    assert app.instrumented == [False]  # DB and Redis instrumentations skip: no non-recording spans


async def test_requests_without_a_traceparent_are_traced_at_the_ratio() -> None:
    middleware, exporter = _traced(Recorder(), ratio=0.1)
    for _ in range(2_000):
        await _call(middleware)
    assert 120 < len(exporter.get_finished_spans()) < 280  # 10 % of 2,000, with a wide margin


@pytest.fixture(params=["tracecontext,baggage", "baggage,tracecontext"])
def propagators(request: pytest.FixtureRequest) -> Iterator[None]:
    """Both orders of the default propagators: the baggage one starts from the current context."""
    kinds = {"tracecontext": TraceContextTextMapPropagator, "baggage": W3CBaggagePropagator}
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(CompositePropagator([kinds[name]() for name in request.param.split(",")]))
    yield
    propagate.set_global_textmap(previous)


@pytest.mark.usefixtures("propagators")
async def test_in_an_untraced_context_a_traced_request_still_instruments_its_clients() -> None:
    """Started from UNTRACED (as a request inside another untraced one would be), a traced request's
    DB and Redis spans are recorded all the same: its context is the caller's, not the one it started
    in, whichever order the propagators run in."""
    app = Recorder()

    async def requests() -> object:
        otel_context.attach(UNTRACED)
        middleware, exporter = _traced(app, ratio=0.0)
        exporters.append(exporter)
        await _call(middleware)  # not sampled
        await _call(middleware, traceparent=SAMPLED)  # the caller sampled it
        return otel_context.get_current()

    # A context of its own, so the rest of this test process is not left untraced.
    exporters: list[InMemorySpanExporter] = []
    after = await asyncio.get_running_loop().create_task(requests(), context=contextvars.Context())
    (exporter,) = exporters
    assert app.instrumented == [False, True]
    assert app.traced == [False, True]
    assert after is UNTRACED  # each request left the context as it found it
    assert len(exporter.get_finished_spans()) == 1


async def test_a_traced_request_has_a_server_span_current_inside_the_app() -> None:
    app = Recorder()
    middleware, exporter = _traced(app)
    await _call(middleware, user_agent=b"probe/1")
    span = _only_span(exporter)
    assert app.traced == [True]
    assert app.instrumented == [True]
    assert span.kind.name == "SERVER"
    assert span.name == "GET"
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["url.path"] == "/v1/x"
    assert span.attributes["user_agent.original"] == "probe/1"
    assert "http.route" not in span.attributes


@pytest.mark.parametrize(("header", "traced"), [(SAMPLED, True), (NOT_SAMPLED, False)])
async def test_the_callers_sampled_flag_decides(header: bytes, traced: bool) -> None:
    middleware, exporter = _traced(Recorder(), ratio=0.5)
    for _ in range(20):
        await _call(middleware, traceparent=header)
    spans = exporter.get_finished_spans()
    assert len(spans) == (20 if traced else 0)
    assert all(format(span.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c" for span in spans)


async def test_a_malformed_traceparent_counts_as_none() -> None:
    middleware, exporter = _traced(Recorder(), ratio=1.0)
    await _call(middleware, traceparent=b"00-garbage-00")
    assert _only_span(exporter).parent is None  # a new root, at the ratio


@pytest.mark.parametrize("path", ["/health", "/health/live", "/health/ready"])
async def test_the_probe_paths_are_never_traced_counted_or_logged(path: str) -> None:
    app = Recorder()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    middleware = ObservabilityMiddleware(app, tracer=provider.get_tracer("test"))
    before = _count("GET", path, "200")
    with capture_logs() as lines:
        sent = await _call(middleware, path)
    assert exporter.get_finished_spans() == ()
    assert app.instrumented == [False]
    assert lines == []
    assert any(name == b"x-request-id" for name, _ in sent[0]["headers"])
    assert _count("GET", path, "200") == before


@pytest.mark.parametrize("path", ["/healthXYZ", "/health/", "/health-anything/etc/passwd", "/health/live/x"])
async def test_paths_that_only_start_like_a_probe_are_observed(path: str) -> None:
    middleware = ObservabilityMiddleware(Recorder(status=404))
    before = _count("GET", "unmatched", "404")
    with capture_logs() as lines:
        await _call(middleware, path)
    assert [line["path"] for line in lines] == [path]
    assert _count("GET", "unmatched", "404") == before + 1


async def test_a_500_marks_the_span_as_an_error_with_the_exception() -> None:
    middleware, exporter = _traced(Recorder(status=500, error=RuntimeError("boom")))
    await _call(middleware)  # the response went out: the error is recorded, not re-raised
    span = _only_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "RuntimeError"
    assert [event.name for event in span.events] == ["exception"]


async def test_an_unknown_method_is_recorded_as_other() -> None:
    middleware, exporter = _traced(Recorder())
    await _call(middleware, method="BREW")
    span = _only_span(exporter)
    assert span.name == "HTTP"
    assert span.attributes is not None
    assert (span.attributes["http.request.method"], span.attributes["http.request.method_original"]) == (
        "_OTHER",
        "BREW",
    )


async def test_a_request_is_counted_and_logged_by_the_time_it_has_ended() -> None:
    """The RED observation and the access line are recorded in the request's own `finally`: nothing
    waits for a later pass of the event loop, so nothing is lost with a process killed after it."""
    middleware = ObservabilityMiddleware(Recorder(status=418))
    before = _count("GET", "unmatched", "418")
    with capture_logs(processors=[add_context]) as lines:  # the processor that adds the request ID
        await _call(middleware, traceparent=NOT_SAMPLED, x_request_id=b"req-418")
    assert _count("GET", "unmatched", "418") == before + 1
    (line,) = lines
    assert line == {
        "event": "request",
        "log_level": "info",
        "path": "/v1/x",
        "method": "GET",
        "route": "unmatched",
        "status": 418,
        "duration_ms": line["duration_ms"],
        "request_id": "req-418",
        "trace_id": "0af7651916cd43dd8448eb211c80319c",  # the caller's, though not traced here
        "span_id": None,
    }
    assert isinstance(line["duration_ms"], float)
    assert _active("GET") == 0


async def test_a_traced_request_leaves_its_trace_id_as_the_buckets_exemplar() -> None:
    middleware, exporter = _traced(Recorder(status=202))
    await _call(middleware)
    trace_id = format(_only_span(exporter).context.trace_id, "032x")
    (metric,) = [m for m in REGISTRY.collect() if m.name == "http_server_request_duration_seconds"]
    exemplars = [
        s.exemplar
        for s in metric.samples
        if s.labels.get("http_response_status_code") == "202" and s.exemplar is not None
    ]
    assert [exemplar.labels for exemplar in exemplars] == [{"trace_id": trace_id}]


def _count(method: str, route: str, status: str) -> float:
    labels = {"http_request_method": method, "http_route": route, "http_response_status_code": status}
    return REGISTRY.get_sample_value("http_server_request_duration_seconds_count", labels) or 0.0


def _active(method: str) -> float | None:
    return REGISTRY.get_sample_value("http_server_active_requests", {"http_request_method": method})


async def test_the_request_context_is_left_as_found_even_when_the_app_fails_before_answering() -> None:
    """In-process callers (tests, an embedding app) share the caller's context: the request's IDs and
    OTel context are reset after it, whether it answered, failed, or was a health probe."""
    ids_before = (request_id.get(), inbound_trace_id.get(), otel_context.get_current())
    middleware, _ = _traced(Recorder(), ratio=1.0)
    await _call(middleware, traceparent=SAMPLED)
    await _call(middleware, path="/health/live", traceparent=NOT_SAMPLED)
    tracer = TracerProvider().get_tracer("test")
    failing = ObservabilityMiddleware(_fails_at_once, tracer=tracer, sampler=HeadSampler(0.0, parent_rate=1))
    with pytest.raises(RuntimeError):
        await _call(failing, traceparent=NOT_SAMPLED)
    assert (request_id.get(), inbound_trace_id.get(), otel_context.get_current()) == ids_before


async def _fails_at_once(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("no response")
