"""Health endpoints: no API key, no metrics, no traces, no access lines (see ObservabilityMiddleware)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from app.health import Health

HEALTH_JSON = "application/health+json"
router = APIRouter(prefix="/health", tags=["health"])


def _health(request: Request) -> Health:
    health: Health = request.app.state.health
    return health


def _respond(status: int, body: dict[str, Any]) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type=HEALTH_JSON, headers={"Cache-Control": "no-store"}
    )


@router.get("/live", summary="Liveness: the process and its event loop answer")
async def live() -> Response:
    return _respond(200, {"status": "pass"})


@router.get(
    "/ready", summary="Readiness: Postgres up (Redis down only degrades); 503 while starting/draining"
)
async def ready(request: Request) -> Response:
    return _respond(*await _health(request).readiness())


@router.get("", summary="Full health report (health+json)")
async def report(request: Request) -> Response:
    settings = request.app.state.settings
    return _respond(
        *await _health(request).full(version=settings.app_version, release_id=settings.release_id)
    )
