"""Per-request context read by log processors and error bodies (ContextVars: async-safe)."""

from __future__ import annotations

from contextvars import ContextVar

# The paths no telemetry touches (no metrics, span or access line): the health probes, polled
# constantly. Exactly these paths: `/healthz` or `/health/` is an ordinary (observed) 404.
UNOBSERVED_PATHS = frozenset({"/health", "/health/live", "/health/ready"})

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# The caller's W3C trace ID, for the log lines of a request that is not traced here (not sampled).
inbound_trace_id: ContextVar[str | None] = ContextVar("inbound_trace_id", default=None)
