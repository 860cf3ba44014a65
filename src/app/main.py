"""create_app(): wiring only. Routers, middleware, error handlers, and the lifespan that opens and
closes the pools, Redis and the tracer provider. No logic lives here."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from cachetools import TTLCache
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from app.api import customers, health_routes, orders, problems
from app.api.auth import ApiKeyMiddleware, document_api_key
from app.api.body_limit import BodyLimitMiddleware
from app.api.security_headers import SecurityHeadersMiddleware
from app.domain.customers import CustomerService
from app.domain.orders import OrderService
from app.flags import EnvFlagProvider
from app.health_checks import HealthChecks
from app.observability import metrics, tracing
from app.observability.logging import AccessLog, log_access
from app.observability.middleware import ObservabilityMiddleware
from app.settings import Settings
from app.store.database import Database
from app.store.idempotency import IdempotencyStore, create_redis


def create_app(
    settings: Settings,
    tracer_provider: TracerProvider | None = None,
    head_sampler: tracing.HeadSampler | None = None,
) -> FastAPI:
    """The app. With a tracer provider, `head_sampler` picks the traced requests (default: all)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = await Database.open(settings)
        redis = create_redis(settings)
        idempotency = IdempotencyStore(redis, settings.redis_key_prefix)
        if tracer_provider is not None:
            db.tracer = tracer_provider.get_tracer("app.store")
            tracing.instrument_clients(tracer_provider, db.engine, redis)
        flags = EnvFlagProvider({"new_checkout": settings.ff_new_checkout})
        app.state.customers = CustomerService(db)
        app.state.orders = OrderService(
            db,
            idempotency,
            flags,
            order_cache=_order_cache(settings),
            idempotency_ttl=settings.idempotency_ttl,
        )
        app.state.health = HealthChecks(
            {"postgresql": db.ping, "redis": idempotency.ping},
            timeout=settings.health_timeout,
            cache_seconds=settings.health_cache_seconds,
        )
        lag_watcher = asyncio.create_task(metrics.watch_event_loop_lag())
        # The first connection, opened beside start-up rather than in its way: the listener is up at
        # once even when Postgres accepts connections and never answers. Best effort: an unreachable
        # database is readiness's to report.
        warm_up = asyncio.create_task(_warm_up(db, settings))
        app.state.health.mark_ready()
        try:
            yield
        finally:
            # A warm-up still connecting gets a moment to finish (asyncpg logs a cancelled connect's
            # error as never retrieved), not DB_CONNECT_TIMEOUT: shutdown waits for no database.
            await asyncio.wait([warm_up], timeout=settings.health_timeout)
            for task in (lag_watcher, warm_up):
                task.cancel()
            await asyncio.gather(lag_watcher, warm_up, return_exceptions=True)
            await idempotency.close()
            await db.close()
            if tracer_provider is not None:
                tracer_provider.shutdown()

    app = FastAPI(
        title="orders-api",  # the service name, so `make rename` renames it
        version=settings.app_version,
        description="Reference deployable FastAPI service: customers sign up, orders go through checkout.",
        docs_url="/docs" if settings.show_docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.show_docs else None,
        lifespan=lifespan,
        # No redirect from `/health/` to `/health`: such a redirect is built from the request's Host
        # header, and a 307 makes clients resend a POST. An unknown path is a 404 problem.
        redirect_slashes=False,
        # FastAPI's built-in telemetry stays off: ObservabilityMiddleware makes the server span after
        # its own sampling decision, the RED metrics and the access line, in one pass (ADR 0005).
        telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
    )
    app.state.settings = settings
    app.state.tracer = tracer_provider.get_tracer("app") if tracer_provider is not None else None
    app.state.head_sampler = head_sampler or tracing.HeadSampler(1.0)  # read by `as_served`
    metrics.set_build_info(settings.app_version, settings.release_id)

    for router in (orders.router, customers.router):
        app.include_router(router, prefix="/v1")  # every /v1/ path needs a key: ApiKeyMiddleware
    app.include_router(health_routes.router)
    problems.install(app)

    document_api_key(app)

    # Innermost first: the key is checked before the body is read, inside CORS (a browser's preflight
    # carries no key). The security headers go on outside the app, in `as_served`.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(ApiKeyMiddleware, keys=tuple(k.get_secret_value().encode() for k in settings.api_keys))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Location", "Idempotent-Replayed"],
        )
    return app


def _order_cache(settings: Settings) -> TTLCache[uuid.UUID, bytes] | None:
    """Bounded in entries (least recently used go first) and in time; None when CACHE_TTL=0."""
    if not settings.cache_ttl:
        return None
    return TTLCache(maxsize=settings.cache_max_entries, ttl=settings.cache_ttl)


def as_served(app: FastAPI, *, access_log: AccessLog = log_access, telemetry: bool = True) -> ASGIApp:
    """The app as uvicorn serves it. Security headers, then observability, wrap everything, FastAPI's
    own 500s included: those are sent by its outermost error middleware, past any `add_middleware`.
    `access_log` is what `configure_logging` returned; `telemetry=False` is for the benchmark's
    baseline."""
    secured = SecurityHeadersMiddleware(app)
    if not telemetry:
        return secured
    return ObservabilityMiddleware(
        secured, tracer=app.state.tracer, sampler=app.state.head_sampler, access_log=access_log
    )


async def _warm_up(db: Database, settings: Settings) -> None:
    with suppress(Exception):
        async with asyncio.timeout(settings.db_connect_timeout):
            await db.ping()
