"""The phase and the dependency probes behind readiness and the full health report, with a
single-flight probe cache.

Probes run Postgres `SELECT 1` and Redis `PING` concurrently, each under HEALTH_TIMEOUT. One probe
runs at a time and its result is reused for HEALTH_CACHE_SECONDS, so a hundred pollers cost one
database round trip, and a busy pool reads as "busy", not as a flapping "dead". This module returns
what it found (`Report`, a `Status`); `app.api.health_routes` chooses the status code and the body.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from app.observability import metrics

Probe = Callable[[], Awaitable[None]]
# health+json's status: pass, warn (Redis down: the service degrades) or fail.
Status = Literal["pass", "warn", "fail"]


class Phase(StrEnum):
    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str  # health+json component name, e.g. "postgresql"
    ok: bool
    response_ms: float
    checked_at: datetime


@dataclass(frozen=True, slots=True)
class Report:
    database: CheckResult
    redis: CheckResult

    @property
    def status(self) -> Status:
        if not self.database.ok:
            return "fail"
        return "pass" if self.redis.ok else "warn"


class HealthChecks:
    """The service's phase and its dependency probes, run at most once per HEALTH_CACHE_SECONDS."""

    def __init__(self, *, database: Probe, redis: Probe, timeout: float, cache_seconds: float) -> None:
        self.database = database
        self.redis = redis
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self.phase = Phase.STARTING
        self.started = time.monotonic()
        self._report: Report | None = None
        self._report_at = 0.0
        self._inflight: asyncio.Task[Report] | None = None
        metrics.APP_READY.set(0)

    def mark_ready(self) -> None:
        self.phase = Phase.READY

    def mark_draining(self) -> None:
        self.phase = Phase.DRAINING
        metrics.APP_READY.set(0)

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started

    async def report(self) -> Report:
        """The latest probe results: cached, and shared by concurrent callers."""
        if self._report is not None and time.monotonic() - self._report_at < self.cache_seconds:
            return self._report
        if self._inflight is None:
            self._inflight = asyncio.create_task(self._probe_all())
            self._inflight.add_done_callback(self._clear_inflight)
        # shield: a caller that gives up (client gone) must not cancel the probe for everyone else.
        return await asyncio.shield(self._inflight)

    def status(self, report: Report) -> Status:
        """The service's status: the report's while ready; fail while starting or draining."""
        return report.status if self.phase is Phase.READY else "fail"

    async def readiness(self) -> Status:
        """The status for readiness: probes run only while ready. Updates `app_ready`."""
        if self.phase is not Phase.READY:
            metrics.APP_READY.set(0)
            return "fail"
        # `status` reads the phase after the probe: SIGTERM may have arrived while it ran.
        status = self.status(await self.report())
        metrics.APP_READY.set(0 if status == "fail" else 1)
        return status

    def _clear_inflight(self, _: asyncio.Task[Report]) -> None:
        self._inflight = None

    async def _probe_all(self) -> Report:
        database, redis = await asyncio.gather(
            self._probe("postgresql", self.database), self._probe("redis", self.redis)
        )
        self._report, self._report_at = Report(database, redis), time.monotonic()
        return self._report

    async def _probe(self, name: str, probe: Probe) -> CheckResult:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                await probe()
            ok = True
        except Exception:  # any failure means "down"; the reason stays out of the public body
            ok = False
        metrics.HEALTH_UP.labels(check=name).set(1 if ok else 0)
        return CheckResult(name, ok, (time.perf_counter() - started) * 1000, datetime.now(UTC))
