"""Health endpoints: no API key, no metrics, no traces, no access lines (see ObservabilityMiddleware)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from app.health import Health

HEALTH_JSON = "application/health+json"
router = APIRouter(prefix="/health", tags=["health"])


class HealthResponse(Response):
    """Documents `application/health+json` in the OpenAPI document (the fuzzer found it undocumented)."""

    media_type = HEALTH_JSON


_BODY = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string", "enum": ["pass", "warn", "fail"]}},
}
_OK: dict[int | str, dict[str, Any]] = {200: {"content": {HEALTH_JSON: {"schema": _BODY}}}}
# Readiness and the full report answer 503 when Postgres is down, while starting and while draining.
_OK_OR_UNAVAILABLE = _OK | {503: {"description": "Not ready", "content": {HEALTH_JSON: {"schema": _BODY}}}}


def _health(request: Request) -> Health:
    health: Health = request.app.state.health
    return health


def _respond(status: int, body: dict[str, Any]) -> Response:
    return HealthResponse(orjson.dumps(body), status_code=status, headers={"Cache-Control": "no-store"})


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
async def ready(request: Request) -> Response:
    return _respond(*await _health(request).readiness())


@router.get(
    "",
    summary="Full health report (health+json)",
    response_class=HealthResponse,
    responses=_OK_OR_UNAVAILABLE,
)
async def report(request: Request) -> Response:
    settings = request.app.state.settings
    return _respond(
        *await _health(request).full(version=settings.app_version, release_id=settings.release_id)
    )
