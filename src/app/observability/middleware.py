"""One pure-ASGI pass per request: request ID, head-sampled server span, RED metrics, the access line.

It wraps the whole application (outside FastAPI's error middleware), so every response, a 500 and a
413 included, gets its `X-Request-ID`, is counted and is logged exactly once, in the request's own
`finally`. The probe paths (`UNOBSERVED_PATHS`) get only the request ID.

One middleware rather than an assembly of libraries' (docs/adr/0005-telemetry-and-reads-on-library-types.md):
the sampling decision (`HeadSampler`) comes first, so an untraced request creates no span, context or
attribute dict, and DB/Redis instrumentation is suppressed for it instead of producing non-recording
spans. Metrics are prometheus-client's (`app.observability.metrics`); the access line is structlog's
JSON, written directly (`app.observability.logging.write_access_line`).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Awaitable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from prometheus_client import Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability import metrics
from app.observability.context import UNOBSERVED_PATHS, inbound_trace_id, request_id
from app.observability.logging import AccessLog, access_fields, log_access
from app.observability.tracing import UNTRACED, HeadSampler, valid_traceparent

REQUEST_ID_HEADER = b"x-request-id"
# A caller's ID is kept only when it is short and plain; anything else is replaced, never echoed.
_SAFE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
# HTTP semantic conventions: methods outside the known set are recorded as _OTHER (bounded labels).
_OTHER = "_OTHER"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})


class ObservabilityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        tracer: Tracer | None = None,
        sampler: HeadSampler | None = None,
        access_log: AccessLog = log_access,
        unobserved_paths: frozenset[str] = UNOBSERVED_PATHS,
    ) -> None:
        self.app = app
        self.tracer = tracer
        self.sampler = sampler or HeadSampler(1.0)
        self.access_log = access_log
        self.unobserved_paths = unobserved_paths
        # prometheus-client's children by label values, looked up once: `labels()` takes the metric's
        # lock and checks the values on every call, and these label sets are few and fixed.
        self._active: dict[str, Gauge] = {}
        self._durations: dict[tuple[str, str, int], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid, traceparent = _read_headers(scope)
        match = valid_traceparent(traceparent)
        inbound = match.group(1).decode() if match else None  # the caller's trace ID
        token = request_id.set(rid)
        trace_token = inbound_trace_id.set(inbound)
        try:
            if scope["path"] in self.unobserved_paths:
                await self._unobserved(scope, receive, _with_header(send, (REQUEST_ID_HEADER, rid.encode())))
            else:
                await self._observed(scope, receive, send, rid, match)
        finally:
            inbound_trace_id.reset(trace_token)
            request_id.reset(token)

    async def _observed(
        self, scope: Scope, receive: Receive, send: Send, rid: str, traceparent: re.Match[bytes] | None
    ) -> None:
        rid_header = (REQUEST_ID_HEADER, rid.encode())
        method = scope["method"] if scope["method"] in _KNOWN_METHODS else _OTHER
        status = 500
        started_response = False
        error: BaseException | None = None
        span, context = self._start_span(scope, method, traceparent)
        otel_token = otel_context.attach(context) if self.tracer is not None else None
        active = self._active_gauge(method)
        active.inc()
        started = time.perf_counter()

        def send_observed(message: Message) -> Awaitable[None]:
            # Not a coroutine itself: it hands back the server's send, to be awaited by the app.
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status, started_response = message["status"], True
                message["headers"] = [*message.get("headers", ()), rid_header]
            return send(message)

        try:
            await self.app(scope, receive, send_observed)
        except Exception as exc:
            # FastAPI re-raises after its handler logged the error and sent the 500; answered once,
            # logged once. Raise only what never became a response.
            error = exc
            if not started_response:
                raise
        finally:
            seconds = time.perf_counter() - started
            if otel_token is not None:
                otel_context.detach(otel_token)
            active.dec()
            template = route_template(scope)
            trace_id = span_id = None
            if span is not None:
                trace_id, span_id = _end_server_span(span, method, template, status, error)
            trace_id = trace_id or inbound_trace_id.get()
            exemplar = {"trace_id": trace_id} if trace_id else None
            self._duration(method, template, status).observe(seconds, exemplar)
            self.access_log(
                access_fields(
                    path=scope["path"], method=method, route=template, status=status, seconds=seconds,
                    rid=rid, trace_id=trace_id, span_id=span_id,
                )
            )  # fmt: skip

    def _active_gauge(self, method: str) -> Gauge:
        gauge = self._active.get(method)
        if gauge is None:
            gauge = self._active[method] = metrics.HTTP_ACTIVE.labels(method)
        return gauge

    def _duration(self, method: str, template: str, status: int) -> Histogram:
        key = (method, template, status)
        child = self._durations.get(key)
        if child is None:
            child = self._durations[key] = metrics.HTTP_DURATION.labels(method, template, str(status))
        return child

    def _start_span(
        self, scope: Scope, method: str, traceparent: re.Match[bytes] | None
    ) -> tuple[Span | None, Context]:
        """The request's server span if the sampler traces it (the caller's sampled flag counts), and
        the context to run the request in: UNTRACED when not traced, so the DB and Redis
        instrumentations stand aside; else the caller's context with the span current, so they
        record child spans."""
        if self.tracer is None:
            return None, UNTRACED
        parent_sampled = bool(int(traceparent.group(2), 16) & 1) if traceparent else None
        if not self.sampler.sampled(parent_sampled):
            return None, UNTRACED
        return _start_server_span(self.tracer, scope, method)

    async def _unobserved(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A probe path: its request ID for its own log lines, nothing more."""
        otel_token = otel_context.attach(UNTRACED) if self.tracer is not None else None
        try:
            await self.app(scope, receive, send)
        finally:
            if otel_token is not None:
                otel_context.detach(otel_token)


def _start_server_span(tracer: Tracer, scope: Scope, method: str) -> tuple[Span, Context]:
    """The request's server span (HTTP semantic conventions), child of the caller's context if any,
    and that context with the span current."""
    carrier = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    attributes: dict[str, Any] = {
        "http.request.method": method,
        "url.scheme": scope.get("scheme", "http"),
        "url.path": scope["path"],
        "network.protocol.version": scope.get("http_version", "1.1"),
    }
    if method == _OTHER:
        attributes["http.request.method_original"] = scope["method"]
    if server := scope.get("server"):
        attributes["server.address"], attributes["server.port"] = server[0], server[1]
    if client := scope.get("client"):
        attributes["client.address"] = client[0]
    if user_agent := carrier.get("user-agent"):
        attributes["user_agent.original"] = user_agent
    # From an empty context, not the current one: some propagators (baggage) start from the current
    # context when given none, and would carry UNTRACED into the traced request.
    parent = propagate.extract(carrier, context=Context())
    span = tracer.start_span(_span_method(method), parent, kind=SpanKind.SERVER, attributes=attributes)
    return span, trace.set_span_in_context(span, parent)


def _end_server_span(
    span: Span, method: str, template: str, status: int, error: BaseException | None
) -> tuple[str | None, str | None]:
    """Name the span after its route, record the outcome, end it; its IDs for logs and exemplars."""
    if template != metrics.UNMATCHED_ROUTE:  # semantic conventions: no route, no http.route
        span.update_name(f"{_span_method(method)} {template}")
        span.set_attribute("http.route", template)
    span.set_attribute("http.response.status_code", status)
    if error is not None:
        span.record_exception(error)
    if status >= 500:
        span.set_attribute("error.type", type(error).__qualname__ if error else str(status))
        span.set_status(StatusCode.ERROR)
    span.end()
    context = span.get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None, None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def _span_method(method: str) -> str:
    return "HTTP" if method == _OTHER else method


def route_template(scope: Scope) -> str:
    """The matched route's full template (`/v1/orders/{order_id}`), never the raw path.

    FastAPI 0.165 applies `include_router` prefixes lazily: `scope["route"].path` lacks them, and the
    full template lives on the effective route context (pinned FastAPI minor; a test guards it).
    """
    try:
        template: str = scope["fastapi"]["effective_route_context"].path_format
    except (KeyError, AttributeError):  # a Starlette route, or none matched
        template = ""
    return template or getattr(scope.get("route"), "path", None) or metrics.UNMATCHED_ROUTE


def _read_headers(scope: Scope) -> tuple[str, bytes | None]:
    """The request ID (the caller's if it is safe, else a new one) and the raw `traceparent`, in one
    pass over the headers."""
    rid: str | None = None
    traceparent: bytes | None = None
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == REQUEST_ID_HEADER and rid is None:
            rid = value.decode() if _SAFE_REQUEST_ID.fullmatch(value) else ""
        elif name == b"traceparent":
            traceparent = value
    # 128 random bits as 32 hex digits, as a UUID4 has, without the UUID object: an ID, not a secret.
    return rid or random.getrandbits(128).to_bytes(16).hex(), traceparent


def _with_header(send: Send, header: tuple[bytes, bytes]) -> Send:
    def send_with_header(message: Message) -> Awaitable[None]:  # returns the server's send, as above
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), header]
        return send(message)

    return send_with_header
