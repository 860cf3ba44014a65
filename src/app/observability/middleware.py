"""One pure-ASGI pass per request: request ID, head-sampled server span, RED metrics, the access line.

It wraps the whole application (outside FastAPI's error middleware), so every response, a 500 and a
413 included, gets its `X-Request-ID`, is counted and is logged exactly once. Excluded paths (health
probes) get only the request ID.

Written by hand rather than assembled from libraries, because the assembly is what made telemetry
expensive (docs/adr/0005-hand-written-asgi-telemetry.md has the measurements):
- the sampling decision comes first, so an untraced request creates no span, context or attribute
  dict, and DB/Redis instrumentation is suppressed for it instead of producing non-recording spans;
- the RED metrics are plain values read by a collector at scrape time (`http_metrics.py`), not
  prometheus-client's children with a lock per change;
- the access line is one orjson call for its own fields (and one per pass for the fields its lines share),
  not a structlog processor chain (`logging.write_access_lines`);
- a request's RED observation and access line are recorded at the end of the event loop's pass, for
  every request that ended in it, with one write (`_record_finished`).
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Awaitable
from contextvars import Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability import metrics
from app.observability.context import UNOBSERVED_PATHS, FinishedRequest, inbound_trace_id, request_id
from app.observability.logging import write_access_lines
from app.observability.tracing import UNTRACED, HeadSampler

REQUEST_ID_HEADER = b"x-request-id"
# A caller's ID is kept only when it is short and plain; anything else is replaced, never echoed.
_SAFE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_TRACEPARENT = re.compile(rb"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})")
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
        excluded_prefixes: tuple[str, ...] = UNOBSERVED_PATHS,
    ) -> None:
        self.app = app
        self.tracer = tracer
        self.sampler = sampler or HeadSampler(1.0)
        self.excluded_prefixes = excluded_prefixes
        self._finished: list[FinishedRequest] = []  # requests that ended in this pass of the event loop
        # Whether an untraced request must attach UNTRACED, so the DB and Redis instrumentations stand
        # aside for it. A server builds this middleware after `tracing.untraced_by_default()`, in the
        # context its requests inherit, and has nothing to attach or check (~3k instructions a request);
        # in-process callers (tests, an embedding app) get it attached per request.
        self._attach_untraced = tracer is not None and otel_context.get_current() is not UNTRACED
        # The chance that a root request (no caller's `traceparent`: most requests) is traced. That draw
        # is made inline in `__call__`, HeadSampler's rule for a root, as a call costs ~1.5k instructions.
        self._root_ratio = self.sampler.ratio if tracer is not None else 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # One coroutine for the whole observed request, not a call into a second: a coroutine layer
        # costs ~1.6k instructions a request (counted), hence this method's length.
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid, traceparent = _read_headers(scope)
        rid_header = (REQUEST_ID_HEADER, rid.encode())
        match = _TRACEPARENT.fullmatch(traceparent) if traceparent else None
        inbound = match.group(1).decode() if match else None  # the caller's trace ID
        if scope["path"].startswith(self.excluded_prefixes):
            await self._unobserved(scope, receive, _with_header(send, rid_header), rid, inbound)
            return
        token = request_id.set(rid)
        # Only a caller's trace is set: most requests carry none, and None is the default.
        trace_token = inbound_trace_id.set(inbound) if inbound else None
        try:
            method = scope["method"] if scope["method"] in _KNOWN_METHODS else _OTHER
            status = 500
            started_response = False
            error: BaseException | None = None
            if match is None and random.random() >= self._root_ratio:  # noqa: S311  # a root, not sampled
                span, otel_token = None, otel_context.attach(UNTRACED) if self._attach_untraced else None
            else:
                span, otel_token = self._enter_trace(scope, method, match)
            metrics.HTTP_SERVER.started(method)
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
                # FastAPI re-raises after its handler logged the error and sent the 500; answered
                # once, logged once. Raise only what never became a response.
                error = exc
                if not started_response:
                    raise
            finally:
                ended = time.perf_counter()
                if otel_token is not None:
                    otel_context.detach(otel_token)
                template = route_template(scope)
                trace_id = span_id = None
                if span is not None:
                    trace_id, span_id = _end_server_span(span, method, template, status, error)
                if not self._finished:
                    asyncio.get_running_loop().call_soon(self._record_finished)
                seconds = ended - started
                self._finished.append(
                    (rid, trace_id or inbound, span_id, method, template, scope["path"], status, seconds)
                )
        finally:
            if trace_token is not None:
                inbound_trace_id.reset(trace_token)
            request_id.reset(token)

    def _enter_trace(
        self, scope: Scope, method: str, traceparent: re.Match[bytes] | None
    ) -> tuple[Span | None, Token[Context] | None]:
        """The server span of a root request drawn for tracing, or of a caller's traced request (the
        caller's sampled flag decides, as HeadSampler says), and the token of the context it runs in."""
        sampled = self.sampler.sampled(bool(int(traceparent.group(2), 16) & 1)) if traceparent else True
        if self.tracer is not None and sampled:
            span, span_context = _start_server_span(self.tracer, scope, method)
            return span, otel_context.attach(span_context)
        return None, otel_context.attach(UNTRACED) if self._attach_untraced else None

    async def _unobserved(
        self, scope: Scope, receive: Receive, send: Send, rid: str, inbound: str | None
    ) -> None:
        """An excluded path (a health probe): its request ID for its own log lines, nothing more."""
        token = request_id.set(rid)
        trace_token = inbound_trace_id.set(inbound) if inbound else None
        otel_token = otel_context.attach(UNTRACED) if self._attach_untraced else None
        try:
            await self.app(scope, receive, send)
        finally:
            if otel_token is not None:
                otel_context.detach(otel_token)
            if trace_token is not None:
                inbound_trace_id.reset(trace_token)
            request_id.reset(token)

    def _record_finished(self) -> None:
        """The RED observations and access lines of the requests that ended in the last loop pass.

        Once per pass rather than once per request: the same instructions run together, not between
        the app's, and took telemetry on the cached order read from 17 % to 14 % of its throughput
        (bench/README.md); the pass's lines go out in one write, stamped with the time they are written.
        A pass lasts milliseconds, so metrics and logs lag the response by that much; lines of a
        process killed mid-pass are lost with it, as a log shipper's buffer would be.
        """
        finished, self._finished = self._finished, []
        metrics.HTTP_SERVER.record(finished)
        write_access_lines(finished)


def _start_server_span(tracer: Tracer, scope: Scope, method: str) -> tuple[Span, Context]:
    """The request's server span (HTTP semantic conventions), child of the caller's context if any,
    and the context to run the request in: the caller's with the span current, not the process's
    UNTRACED, so the DB and Redis instrumentations record child spans."""
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
    Looked up with `try` (free when nothing raises), not `.get(..., {})`: ~1k instructions a request.
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
    # (`to_bytes().hex()` formats them in half the time of an f-string's `:032x`.)
    return rid or random.getrandbits(128).to_bytes(16).hex(), traceparent


def _with_header(send: Send, header: tuple[bytes, bytes]) -> Send:
    def send_with_header(message: Message) -> Awaitable[None]:  # returns the server's send, as above
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), header]
        return send(message)

    return send_with_header
