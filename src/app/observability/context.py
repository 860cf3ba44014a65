"""Per-request context read by log processors and error bodies (a ContextVar: cheap, async-safe)."""

from __future__ import annotations

from contextvars import ContextVar

# Paths no telemetry touches (no metrics, span or access line): health probes poll constantly.
UNOBSERVED_PATHS = ("/health",)

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# What a request leaves for its RED observation and access line, recorded once per event-loop pass
# (ObservabilityMiddleware): its request ID, trace ID, span ID, method, route template, path, status,
# and duration in seconds. A plain tuple: built and unpacked per request.
type FinishedRequest = tuple[str, str | None, str | None, str, str, str, int, float]
# The caller's W3C trace ID, for the log lines of a request that is not traced here (not sampled).
inbound_trace_id: ContextVar[str | None] = ContextVar("inbound_trace_id", default=None)
