"""Redis: the idempotency store, best effort. Every call is bounded by REDIS_TIMEOUT and never raises.

It remembers recent Idempotency-Keys so a retry is answered without a query. Redis is a speed-up
only: when it is down or slow, callers get a miss and go to Postgres, the source of truth. Failures are
counted (`redis_client_errors_total`) and logged once per kind per minute, not once per request.
"""

from __future__ import annotations

import time
from typing import cast

import structlog
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.observability import metrics

log = structlog.get_logger(__name__)
_LOG_EVERY_SECONDS = 60.0


def create_redis(url: str, *, timeout: float, max_connections: int) -> Redis:
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        max_connections=max_connections,
        health_check_interval=30,
        # One attempt: a retry would double the worst-case wait that we promised to bound.
        retry=Retry(NoBackoff(), 0),
    )


class IdempotencyStore:
    """Records by key under a prefix, each with a time to live."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._last_logged: dict[str, float] = {}

    async def get(self, key: str) -> bytes | None:
        try:
            value = cast("bytes | None", await self.client.get(self.prefix + key))  # no decoding
        except (redis_errors.RedisError, OSError) as error:
            self._failed(error)
            return None
        return value

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        try:
            await self.client.set(self.prefix + key, value, ex=ttl)
        except (redis_errors.RedisError, OSError) as error:
            self._failed(error)

    async def ping(self) -> None:
        """Raises when Redis is not answering: for the readiness probe only."""
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()

    def _failed(self, error: Exception) -> None:
        kind = _kind(error)
        metrics.REDIS_ERRORS.labels(kind=kind).inc()
        now = time.monotonic()
        if now - self._last_logged.get(kind, -_LOG_EVERY_SECONDS) >= _LOG_EVERY_SECONDS:
            self._last_logged[kind] = now
            log.warning("redis unavailable, serving without cache", kind=kind, error=type(error).__name__)


def _kind(error: Exception) -> str:
    if isinstance(error, redis_errors.TimeoutError | TimeoutError):
        return "timeout"
    if isinstance(error, redis_errors.ConnectionError | OSError):
        return "connection"
    return "other"
