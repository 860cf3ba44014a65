"""Per-request context read by log processors and error bodies (a ContextVar: cheap, async-safe)."""

from __future__ import annotations

from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
