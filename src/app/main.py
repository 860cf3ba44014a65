"""create_app(): wiring only. Routers, middleware, error handlers, and the lifespan that opens and
closes the pools, Redis and the tracer provider. No logic lives here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from app.api import customers, health_routes, orders, problems
from app.api.auth import ApiKeyMiddleware
from app.api.body_limit import BodyLimitMiddleware
from app.api.openapi import DocumentedAPI
from app.api.security_headers import SecurityHeadersMiddleware
from app.domain.customers import CustomerService
from app.domain.orders import OrderService
from app.flags import EnvFlagProvider
from app.health_checks import HealthChecks
from app.observability import metrics
from app.observability.middleware import ObservabilityMiddleware
from app.observability.tracing import Tracing, instrument_redis
from app.settings import Settings
from app.store.idempotency import IdempotencyStore, create_redis
from app.store.postgres import Postgres

API_ROUTERS = (orders.router, customers.router)  # served under /v1, behind the API key


def create_app(settings: Settings, tracing: Tracing | None = None) -> FastAPI:
    """The app. With `tracing`, requests are traced as its sampler picks them."""
    app = DocumentedAPI(
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
    app.state.tracing = tracing  # read by the lifespan and by `as_served`
    metrics.set_build_info(settings.app_version, settings.release_id)
    for router in API_ROUTERS:
        # The key is checked by ApiKeyMiddleware, before routing, and declared by DocumentedAPI.
        app.include_router(router, prefix="/v1")
    app.include_router(health_routes.router)
    problems.install(app)
    _add_middleware(app, settings)
    return app


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    """Innermost first: the key is checked before the body is read, inside CORS (a browser's preflight
    carries no key). The security headers and the telemetry go on outside the app, in `as_served`."""
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(ApiKeyMiddleware, keys=tuple(k.get_secret_value().encode() for k in settings.api_keys))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=api_methods(*API_ROUTERS),  # a route's new method needs no edit here
            allow_headers=["Content-Type", "X-API-Key", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Location", "Idempotent-Replayed"],
        )


def as_served(app: FastAPI) -> ASGIApp:
    """The app as uvicorn serves it: observability outermost, then the security headers, around
    everything, FastAPI's own 500s included (those are sent by its outermost error middleware, past
    any `add_middleware`)."""
    traced: Tracing | None = app.state.tracing
    tracer = traced.provider.get_tracer("app") if traced is not None else None
    sampler = traced.sampler if traced is not None else None
    return ObservabilityMiddleware(SecurityHeadersMiddleware(app), tracer=tracer, sampler=sampler)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Opens the pools and Redis, builds the services onto `app.state`, and closes it all at shutdown."""
    settings: Settings = app.state.settings
    traced: Tracing | None = app.state.tracing
    db = await Postgres.open(
        settings.database_url.get_secret_value(),
        pool_size=settings.db_pool_size,
        pool_timeout=settings.db_pool_timeout,
        connect_timeout=settings.db_connect_timeout,
        statement_timeout=settings.db_statement_timeout,
    )
    redis = create_redis(
        settings.redis_url.get_secret_value(),
        timeout=settings.redis_timeout,
        max_connections=settings.redis_max_connections,
    )
    idempotency = IdempotencyStore(redis, settings.redis_key_prefix)
    if traced is not None:
        db.tracer = traced.provider.get_tracer("app.store")
        instrument_redis(traced.provider, redis)
    _build_services(app, settings, db, idempotency)
    lag_watcher = asyncio.create_task(metrics.watch_event_loop_lag())
    # The first connection, opened beside start-up rather than in its way: the listener is up at once
    # even when Postgres accepts connections and never answers. Best effort: an unreachable database
    # is readiness's to report.
    warm_up = asyncio.create_task(_warm_up(db, settings))
    app.state.health.mark_ready()
    try:
        yield
    finally:
        # A warm-up still connecting gets a moment to finish (asyncpg logs a cancelled connect's error
        # as never retrieved), not DB_CONNECT_TIMEOUT: shutdown waits for no database.
        await asyncio.wait([warm_up], timeout=settings.health_timeout)
        for task in (lag_watcher, warm_up):
            task.cancel()
        await asyncio.gather(lag_watcher, warm_up, return_exceptions=True)
        await idempotency.close()
        await db.close()
        if traced is not None:
            traced.provider.shutdown()


def _build_services(app: FastAPI, settings: Settings, db: Postgres, idempotency: IdempotencyStore) -> None:
    flags = EnvFlagProvider({"new_checkout": settings.ff_new_checkout})
    app.state.customers = CustomerService(db)
    app.state.orders = OrderService(db, idempotency, flags, idempotency_ttl=settings.idempotency_ttl)
    app.state.health = HealthChecks(
        database=db.ping,
        redis=idempotency.ping,
        timeout=settings.health_timeout,
        cache_seconds=settings.health_cache_seconds,
    )


def api_methods(*routers: APIRouter) -> list[str]:
    """The HTTP methods the API's routes take, for CORS: a browser may send what a route takes."""
    return sorted(
        {
            method
            for router in routers
            for route in router.routes
            if isinstance(route, APIRoute)
            for method in route.methods or ()
        }
    )


async def _warm_up(db: Postgres, settings: Settings) -> None:
    with suppress(Exception):
        async with asyncio.timeout(settings.db_connect_timeout):
            await db.ping()
