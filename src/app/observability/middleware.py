"""One pure-ASGI pass per request: request ID, head-sampled server span, RED metrics, the access line.

It wraps the whole application (outside FastAPI's error middleware), so every response, a 500 and a
413 included, gets its `X-Request-ID`, is counted and is logged exactly once, in the request's own
`finally`. The probe paths (`UNOBSERVED_PATHS`) get only the request ID.

One middleware rather than an assembly of libraries' (docs/adr/0005-telemetry-and-reads-on-library-types.md):
the sampling decision (`HeadSampler`) comes first, so an untraced request creates no span, context or
attribute dict, and DB/Redis instrumentation is suppressed for it instead of producing non-recording
spans. Built as Starlette builds its own (`GZipMiddleware`): the middleware reads the request's
headers and hands each observed request to a small responder, `ObservedRequest`, whose one `_record`
step, in its `finally`, ends the span, observes the duration (prometheus-client's `Histogram`) and
writes the access line (structlog, logger `app.access`).
"""

from __future__ import annotations

import random
import re
import time
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability import context as request_context
from app.observability import metrics
from app.observability.tracing import UNTRACED, HeadSampler, valid_traceparent

# The paths no telemetry touches (no metrics, span or access line): the health probes, polled
# constantly. Exactly these paths: `/healthz` or `/health/` is an ordinary (observed) 404.
UNOBSERVED_PATHS = frozenset({"/health", "/health/live", "/health/ready"})
REQUEST_ID_HEADER = "x-request-id"
# A caller's ID is kept only when it is short and plain; anything else is replaced, never echoed.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# HTTP semantic conventions: methods outside the known set are recorded as _OTHER (bounded labels).
_OTHER = "_OTHER"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
_MAX_LOGGED_PATH = 256
access_log = structlog.get_logger("app.access")


class ObservabilityMiddleware:
    """`sampler` picks the traced requests when there is a `tracer`; without one, every request."""

    def __init__(
        self, app: ASGIApp, *, tracer: Tracer | None = None, sampler: HeadSampler | None = None
    ) -> None:
        self.app = app
        self.tracer = tracer
        self.sampler = sampler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        traceparent = valid_traceparent(headers.get("traceparent"))
        request_id = _request_id(headers.get(REQUEST_ID_HEADER))
        id_token = request_context.request_id.set(request_id)
        trace_token = request_context.inbound_trace_id.set(traceparent.group(1) if traceparent else None)
        try:
            if scope["path"] in UNOBSERVED_PATHS:
                await self._unobserved(scope, receive, send, request_id)
            else:
                span, context = self._start_span(scope, headers, traceparent)
                await ObservedRequest(self.app, request_id, span, context)(scope, receive, send)
        finally:
            request_context.inbound_trace_id.reset(trace_token)
            request_context.request_id.reset(id_token)

    def _start_span(
        self, scope: Scope, headers: Headers, traceparent: re.Match[str] | None
    ) -> tuple[Span | None, Context | None]:
        """The request's server span if the sampler traces it (the caller's sampled flag counts), and
        the context to run the request in: UNTRACED when not traced, so the DB and Redis
        instrumentations stand aside; else the caller's context with the span current, so they
        record child spans. Without a tracer, neither."""
        if self.tracer is None:
            return None, None
        parent_sampled = bool(int(traceparent.group(2), 16) & 1) if traceparent else None
        if self.sampler is not None and not self.sampler.sampled(parent_sampled):
            return None, UNTRACED
        return _start_server_span(self.tracer, scope, headers)

    async def _unobserved(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        """A probe path: its request ID for its own log lines, nothing more."""

        async def send_with_request_id(message: Message) -> None:
            _add_request_id(message, request_id)
            await send(message)

        otel_token = otel_context.attach(UNTRACED) if self.tracer is not None else None
        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            if otel_token is not None:
                otel_context.detach(otel_token)


class ObservedRequest:
    """One observed request: runs it in its trace context, notes its status, then `_record`s it."""

    def __init__(self, app: ASGIApp, request_id: str, span: Span | None, context: Context | None) -> None:
        self.app = app
        self.request_id = request_id
        self.span = span
        self.context = context
        self.status = 500  # until a response starts: what the server answers for an app that raised
        self.started_response = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.send = send
        method = _method(scope)
        otel_token = otel_context.attach(self.context) if self.context is not None else None
        error: Exception | None = None
        started = time.perf_counter()
        try:
            with metrics.http_active(method).track_inprogress():
                await self.app(scope, receive, self.send_with_request_id)
        except Exception as exc:
            # FastAPI re-raises after its handler logged the error and sent the 500; answered once,
            # logged once. Raise only what never became a response.
            error = exc
            if not self.started_response:
                raise
        finally:
            seconds = time.perf_counter() - started
            if otel_token is not None:
                otel_context.detach(otel_token)
            self._record(scope, method, seconds, error)

    async def send_with_request_id(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status, self.started_response = message["status"], True
            _add_request_id(message, self.request_id)
        await self.send(message)

    def _record(self, scope: Scope, method: str, seconds: float, error: Exception | None) -> None:
        """The span's end, the RED observation and the access line, all before the request returns."""
        route = route_template(scope)
        ids = _end_server_span(self.span, method, route, self.status, error) if self.span else None
        trace_id, span_id = ids or (
            request_context.inbound_trace_id.get(),
            None,
        )  # a span not sampled has no IDs to give
        exemplar = {"trace_id": trace_id} if trace_id else None
        metrics.http_duration(method, route, self.status).observe(seconds, exemplar)
        path = scope["path"][:_MAX_LOGGED_PATH]  # credentials in it are masked by the log's `redact`
        access_log.info(
            "request", path=path, method=method, route=route, status=self.status,
            duration_ms=int(seconds * 1_000_000) / 1000, trace_id=trace_id, span_id=span_id,
        )  # fmt: skip


def _start_server_span(tracer: Tracer, scope: Scope, headers: Headers) -> tuple[Span, Context]:
    """The request's server span (HTTP semantic conventions), child of the caller's context if any,
    and that context with the span current."""
    method = _method(scope)
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
    if user_agent := headers.get("user-agent"):
        attributes["user_agent.original"] = user_agent
    # From an empty context, not the current one: some propagators (baggage) start from the current
    # context when given none, and would carry UNTRACED into the traced request.
    parent = propagate.extract(headers, context=Context())
    span = tracer.start_span(_span_method(method), parent, kind=SpanKind.SERVER, attributes=attributes)
    return span, trace.set_span_in_context(span, parent)


def _end_server_span(
    span: Span, method: str, route: str, status: int, error: Exception | None
) -> tuple[str, str] | None:
    """Name the span after its route, record the outcome, end it; its IDs for logs and exemplars
    (None when it was not sampled)."""
    if route != metrics.UNMATCHED_ROUTE:  # semantic conventions: no route, no http.route
        span.update_name(f"{_span_method(method)} {route}")
        span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if error is not None:
        span.record_exception(error)
    if status >= 500:
        span.set_attribute("error.type", type(error).__qualname__ if error else str(status))
        span.set_status(StatusCode.ERROR)
    span.end()
    context = span.get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def _method(scope: Scope) -> str:
    method: str = scope["method"]
    return method if method in _KNOWN_METHODS else _OTHER


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


def _request_id(presented: str | None) -> str:
    """The caller's request ID if it is safe to echo, else a new one: 128 random bits as 32 hex digits,
    as a UUID4 has, without the UUID object (an ID, not a secret)."""
    if presented and _SAFE_REQUEST_ID.fullmatch(presented):
        return presented
    return random.getrandbits(128).to_bytes(16).hex()


def _add_request_id(message: Message, value: str) -> None:
    if message["type"] == "http.response.start":
        message.setdefault("headers", [])
        MutableHeaders(scope=message).append(REQUEST_ID_HEADER, value)
