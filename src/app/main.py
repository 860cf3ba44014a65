"""create_app(): wiring only. Routers, middleware, error handlers, and the lifespan that opens and
closes the pool, Redis and the tracer provider. No logic lives here."""

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

from app.api import customers, health, orders, problems
from app.api.auth import ApiKeyMiddleware, document_api_key
from app.api.body_limit import BodyLimitMiddleware
from app.api.security_headers import SecurityHeadersMiddleware
from app.domain.customers import CustomerService
from app.domain.orders import OrderService
from app.flags import EnvFlagProvider
from app.health import Health
from app.observability import metrics, tracing
from app.observability.middleware import ObservabilityMiddleware
from app.settings import Settings
from app.store.cache import Cache, create_redis
from app.store.database import Database, create_engine, create_read_pool


def create_app(
    settings: Settings,
    tracer_provider: TracerProvider | None = None,
    head_sampler: tracing.HeadSampler | None = None,
) -> FastAPI:
    """The app. With a tracer provider, `head_sampler` picks the traced requests (default: all)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(
            create_engine(settings),
            settings.db_pool_size + settings.db_max_overflow,
            create_read_pool(settings),
            settings.db_pool_timeout,
        )
        redis = create_redis(settings)
        cache = Cache(redis, settings.redis_key_prefix)
        if tracer_provider is not None:
            tracing.instrument_clients(tracer_provider, db, redis)
        flags = EnvFlagProvider({"new_checkout": settings.ff_new_checkout})
        app.state.customers = CustomerService(db)
        app.state.orders = OrderService(
            db, cache, flags, documents=_order_cache(settings), idempotency_ttl=settings.idempotency_ttl
        )
        app.state.health = Health(
            {"postgresql": db.ping, "redis": cache.ping},
            timeout=settings.health_timeout,
            cache_seconds=settings.health_cache_seconds,
        )
        lag_watcher = asyncio.create_task(metrics.watch_event_loop_lag())
        # Open the first connection before taking traffic, so the first probe and the first request
        # do not pay for it. Best effort: an unreachable database is readiness's to report.
        with suppress(Exception):
            async with asyncio.timeout(settings.db_connect_timeout):
                await db.ping()
        app.state.health.mark_ready()
        try:
            yield
        finally:
            lag_watcher.cancel()
            with suppress(asyncio.CancelledError):
                await lag_watcher
            await cache.close()
            await db.close()
            if tracer_provider is not None:
                tracer_provider.shutdown()

    app = FastAPI(
        title="Orders API",
        version=settings.app_version,
        description="Reference deployable FastAPI service: customers sign up, orders go through checkout.",
        docs_url="/docs" if settings.show_docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.show_docs else None,
        lifespan=lifespan,
        # FastAPI's built-in telemetry stays off: ObservabilityMiddleware makes the server span after
        # its own sampling decision, the RED metrics and the access line, in one pass (ADR 0005).
        telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
    )
    app.state.settings = settings
    app.state.tracer = tracer_provider.get_tracer("app") if tracer_provider is not None else None
    app.state.head_sampler = head_sampler or tracing.HeadSampler(1.0)
    metrics.set_build_info(settings.app_version, settings.release_id)

    # Each router is included directly: FastAPI 0.165 matches nested routers level by level, twice per
    # request, and a `/v1` router around these cost ~15 % of an order read (bench/README.md).
    for router in (orders.router, customers.router):
        app.include_router(router, prefix="/v1")  # every /v1/ path needs a key: ApiKeyMiddleware
    app.include_router(health.router)
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


def as_served(app: FastAPI, *, telemetry: bool = True) -> ASGIApp:
    """The app as uvicorn serves it. Security headers, then observability, wrap everything, FastAPI's
    own 500s included: those are sent by its outermost error middleware, past any `add_middleware`.
    `telemetry=False` is for the benchmark's baseline."""
    secured = SecurityHeadersMiddleware(app)
    if not telemetry:
        return secured
    return ObservabilityMiddleware(secured, tracer=app.state.tracer, sampler=app.state.head_sampler)
