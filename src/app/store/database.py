"""The Postgres engine: a bounded asyncpg pool with timeouts, and its saturation metrics."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Any

import asyncpg
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app.observability import metrics
from app.settings import Settings


class DatabaseUnavailableError(Exception):
    """Postgres could not serve the request in time: the API answers 503, never 500."""


def create_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(
        settings.database_url.get_secret_value(),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        # No pre-ping: asyncpg's costs BEGIN, `;` and ROLLBACK on every checkout, three round trips per
        # request. A connection Postgres dropped fails its statement instead; SQLAlchemy then discards
        # every pooled connection made before the failure, so one request answers 503 and the pool heals
        # (tests/integration/test_faults.py).
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args={
            "timeout": settings.db_connect_timeout,
            "command_timeout": settings.db_statement_timeout,
            "server_settings": {
                "application_name": "orders-api",
                "statement_timeout": str(int(settings.db_statement_timeout * 1000)),
            },
        },
    )


class Database:
    """Hands out connections and turns pool and connection failures into one typed error."""

    def __init__(self, engine: AsyncEngine, pool_capacity: int) -> None:
        self.engine = engine
        self.pool_capacity = pool_capacity
        # Set when tracing is on: fetchrow bypasses SQLAlchemy, so its query span is made here.
        self.tracer: Tracer | None = None
        metrics.DB_POOL_MAX.set(pool_capacity)
        metrics.register_pool(engine.sync_engine.pool)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction: committed on success, rolled back on error."""
        async with self._connect() as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection for single-statement reads: autocommit, so no BEGIN and ROLLBACK round trips."""
        async with self._connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        metrics.DB_POOL_PENDING.inc()
        started = time.perf_counter()
        try:
            conn = await self.engine.connect()
        except exc.TimeoutError as error:
            metrics.DB_POOL_TIMEOUTS.inc()
            raise DatabaseUnavailableError("connection pool exhausted") from error
        except (exc.DBAPIError, OSError, TimeoutError) as error:
            raise DatabaseUnavailableError("cannot connect to the database") from error
        finally:
            metrics.DB_POOL_PENDING.dec()
            metrics.DB_POOL_WAIT.observe(time.perf_counter() - started)
        try:
            yield conn
        except exc.DBAPIError as error:
            if error.connection_invalidated or _is_unavailable(error):
                raise DatabaseUnavailableError("database connection lost") from error
            raise
        except (OSError, TimeoutError) as error:
            raise DatabaseUnavailableError("database did not answer in time") from error
        finally:
            # Releasing rolls back, and on a connection that Postgres cut mid-operation that rollback
            # can fail (asyncpg: "another operation is in progress"). That failure used to replace the
            # request's outcome with a 500 (the Postgres outage fault test found it). The outcome stands:
            # the result was already read or committed, or the request's own error is on its way. The
            # connection is back in the pool regardless, which discards it when its reset fails too.
            with suppress(exc.DBAPIError, OSError, TimeoutError):
                await conn.close()

    async def fetchrow(self, query: str, *args: object) -> Mapping[str, Any] | None:
        """A hot-path read straight on the pooled asyncpg connection.

        SQLAlchemy's async execution layer costs most of a primary-key read here (greenlet hops,
        result processing: bench/README.md); such a read needs none of it. The connection still comes
        from, and goes back to, the one pool, with its limits, metrics and error mapping.
        """
        async with self._connect() as conn:
            driver: asyncpg.Connection = (await conn.get_raw_connection()).driver_connection
            try:
                if self.tracer is not None and trace.get_current_span().is_recording():
                    with self.tracer.start_as_current_span(
                        query.split(" ", 1)[0],
                        kind=SpanKind.CLIENT,
                        attributes={"db.system.name": "postgresql", "db.query.text": query},
                    ):
                        return await driver.fetchrow(query, *args)  # type: ignore[no-any-return]
                record: Mapping[str, Any] | None = await driver.fetchrow(query, *args)
            except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError) as error:
                await conn.invalidate()  # never hand a broken connection to the next caller
                raise DatabaseUnavailableError("database connection lost") from error
            except asyncpg.PostgresError as error:
                if _unavailable_sqlstate(error.sqlstate):
                    raise DatabaseUnavailableError("database did not answer in time") from error
                raise
            return record

    async def ping(self) -> None:
        """Raises when Postgres cannot be reached: for the readiness probe only.

        A pool whose every connection is checked out is busy, not down: its connections are serving
        queries, and each of those fails within DB_STATEMENT_TIMEOUT if Postgres goes away. Waiting for
        a free slot instead would time the probe out, and a load spike would take every task out of the
        load balancer at once (the fault tests found readiness 503 under a full pool).
        """
        if self.engine.sync_engine.pool.checkedout() >= self.pool_capacity:  # type: ignore[attr-defined]
            return
        async with self.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


def _is_unavailable(error: exc.DBAPIError) -> bool:
    """Errors that mean "the database is not there right now", as opposed to a bad query."""
    if isinstance(error, exc.OperationalError | exc.InterfaceError):
        return True
    return _unavailable_sqlstate(getattr(error.orig, "sqlstate", None))


def _unavailable_sqlstate(sqlstate: str | None) -> bool:
    """SQLSTATE classes 08 (connection exception) and 57 (operator intervention: admin shutdown,
    query cancelled by the statement timeout)."""
    return (sqlstate or "").startswith(("08", "57"))
