"""The health endpoints: `/health/live`, `/health/ready` and `/health`, answered as
`application/health+json` from `app.health_checks`' results; this module chooses the status codes.

No API key (they are outside `/v1/`), and no metrics, traces or access lines: the middleware leaves
exactly these three paths unobserved (`app.observability.middleware.UNOBSERVED_PATHS`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.responses import Response

from app.api.dependencies import HealthDep, SettingsDep
from app.health_checks import CheckResult

HEALTH_JSON = "application/health+json"
router = APIRouter(prefix="/health", tags=["health"])


class HealthResponse(Response):
    """Declares the media type these endpoints answer with, `application/health+json`, in the OpenAPI
    document, so a client generated from it expects what is sent."""

    media_type = HEALTH_JSON


_BODY = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string", "enum": ["pass", "warn", "fail"]}},
}
_OK: dict[int | str, dict[str, Any]] = {200: {"content": {HEALTH_JSON: {"schema": _BODY}}}}
# Readiness and the full report answer 503 when Postgres is down, while starting and while draining.
_OK_OR_UNAVAILABLE = _OK | {503: {"description": "Not ready", "content": {HEALTH_JSON: {"schema": _BODY}}}}


def _respond(status: int, body: dict[str, Any]) -> Response:
    return HealthResponse(orjson.dumps(body), status_code=status, headers={"Cache-Control": "no-store"})


@router.head("/live", include_in_schema=False)  # a probe may ask with HEAD
@router.get(
    "/live",
    summary="Liveness: the process and its event loop answer",
    response_class=HealthResponse,
    responses=_OK,
)
async def live() -> Response:
    return _respond(200, {"status": "pass"})


@router.get(
    "/ready",
    summary="Readiness: Postgres up (Redis down only degrades); 503 while starting/draining",
    response_class=HealthResponse,
    responses=_OK_OR_UNAVAILABLE,
)
async def ready(health: HealthDep) -> Response:
    status = await health.readiness()
    return _respond(503 if status == "fail" else 200, {"status": status, "phase": health.phase.value})


@router.get(
    "",
    summary="Full health report (health+json)",
    response_class=HealthResponse,
    responses=_OK_OR_UNAVAILABLE,
)
async def report(health: HealthDep, settings: SettingsDep) -> Response:
    """The source document's fields plus the health+json shape; 503 when Postgres is down."""
    found = await health.report()
    body = {
        "status": health.status(found),
        "version": settings.app_version,
        "releaseId": settings.release_id,
        "phase": health.phase.value,
        "uptime": round(health.uptime_seconds, 3),
        "timestamp": datetime.now(UTC).isoformat(),
        "database": _healthy_or_not(found.database),
        "redis": _healthy_or_not(found.redis),
        "checks": {
            f"{check.name}:responseTime": [_check_json(check)] for check in (found.database, found.redis)
        },
    }
    return _respond(200 if found.database.ok else 503, body)


def _healthy_or_not(check: CheckResult) -> str:
    return "healthy" if check.ok else "unhealthy"


def _check_json(check: CheckResult) -> dict[str, Any]:
    """One health+json check: the probe's response time and outcome."""
    return {
        "componentType": "datastore",
        "observedValue": round(check.response_ms, 3),
        "observedUnit": "ms",
        "status": "pass" if check.ok else "fail",
        "time": check.checked_at.isoformat(),
    }
