"""Per-request context read by log processors and error bodies (ContextVars: async-safe)."""

from __future__ import annotations

from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# The caller's W3C trace ID, for the log lines of a request that is not traced here (not sampled).
inbound_trace_id: ContextVar[str | None] = ContextVar("inbound_trace_id", default=None)
