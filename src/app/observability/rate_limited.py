"""Warnings a client can cause, written at most once per event and interval.

A flood of bad requests (or of silent connections to the metrics port) must not become a flood of log
lines: each event is written at most once per `INTERVAL`, and the next line written counts those left
out (`suppressed`). Every place that throttles a log line uses `warn` here.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import structlog

INTERVAL = 10.0  # seconds
log = structlog.get_logger(__name__)


class RateLimitedWarnings:
    """At most one warning per event and interval; the next one written counts those left out."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[str, tuple[float, int]] = {}  # event -> (when last written, left out since)
        self._lock = threading.Lock()  # the metrics server warns from its own threads

    def warn(self, event: str, **fields: Any) -> None:
        now = time.monotonic()
        with self._lock:
            written, left_out = self._last.get(event, (now - self.interval, 0))
            if now - written < self.interval:
                self._last[event] = (written, left_out + 1)
                return
            self._last[event] = (now, 0)
        log.warning(event, suppressed=left_out, **fields)


warn = RateLimitedWarnings(INTERVAL).warn
