"""Liveness, readiness and the full health report, with a single-flight probe cache.

Probes run Postgres `SELECT 1` and Redis `PING` concurrently, each under HEALTH_TIMEOUT. One probe
runs at a time and its result is reused for HEALTH_CACHE_SECONDS, so a hundred pollers cost one
database round trip, and a busy pool reads as "busy", not as a flapping "dead".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from app.observability import metrics

Probe = Callable[[], Awaitable[None]]


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


class HealthChecks:
    """The service's phase and its dependency probes, run at most once per HEALTH_CACHE_SECONDS."""

    def __init__(self, probes: dict[str, Probe], *, timeout: float, cache_seconds: float) -> None:
        self.probes = probes  # {"postgresql": ..., "redis": ...}
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

    async def report(self) -> Report:
        """The latest probe results: cached, and shared by concurrent callers."""
        if self._report is not None and time.monotonic() - self._report_at < self.cache_seconds:
            return self._report
        if self._inflight is None:
            self._inflight = asyncio.create_task(self._probe_all())
            self._inflight.add_done_callback(self._clear_inflight)
        # shield: a caller that gives up (client gone) must not cancel the probe for everyone else.
        return await asyncio.shield(self._inflight)

    def _clear_inflight(self, _: asyncio.Task[Report]) -> None:
        self._inflight = None

    async def _probe_all(self) -> Report:
        database, redis = await asyncio.gather(
            self._probe("postgresql", self.probes["postgresql"]), self._probe("redis", self.probes["redis"])
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

    async def readiness(self) -> tuple[int, dict[str, Any]]:
        """(status code, body): 503 while starting or draining or when Postgres is down."""
        if self.phase is not Phase.READY:
            metrics.APP_READY.set(0)
            return 503, {"status": "fail", "phase": self.phase.value}
        report = await self.report()
        status = _status(report)
        metrics.APP_READY.set(1 if status != "fail" else 0)
        code = 503 if status == "fail" else 200
        # Re-check the phase: SIGTERM may have arrived while the probe ran.
        if self.phase is not Phase.READY:
            return 503, {"status": "fail", "phase": self.phase.value}
        return code, {"status": status, "phase": self.phase.value}

    async def full(self, *, version: str, release_id: str) -> tuple[int, dict[str, Any]]:
        """The full report: the source document's fields plus the health+json shape."""
        report = await self.report()
        status = _status(report) if self.phase is Phase.READY else "fail"
        body = {
            "status": status,
            "version": version,
            "releaseId": release_id,
            "phase": self.phase.value,
            "uptime": round(time.monotonic() - self.started, 3),
            "timestamp": datetime.now(UTC).isoformat(),
            "database": _word(report.database),
            "redis": _word(report.redis),
            "checks": {
                f"{check.name}:responseTime": [_check(check)] for check in (report.database, report.redis)
            },
        }
        return (200 if report.database.ok else 503), body


def _status(report: Report) -> str:
    if not report.database.ok:
        return "fail"
    return "pass" if report.redis.ok else "warn"


def _word(check: CheckResult) -> str:
    return "healthy" if check.ok else "unhealthy"


def _check(check: CheckResult) -> dict[str, Any]:
    return {
        "componentType": "datastore",
        "observedValue": round(check.response_ms, 3),
        "observedUnit": "ms",
        "status": "pass" if check.ok else "fail",
        "time": check.checked_at.isoformat(),
    }
