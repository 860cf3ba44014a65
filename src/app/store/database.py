"""Postgres: two bounded pools with timeouts, their saturation metrics, and one error for "unavailable".

- The main pool is SQLAlchemy's (writes, transactions, every query but one).
- The read pool holds plain asyncpg connections, for the hot single-row read (`fetchrow`). Measured
  on a primary-key read, SQLAlchemy's async checkout and release (greenlet hops, pool events,
  connection wrappers) cost more CPU than the query itself (bench/README.md,
  docs/adr/0008-order-cache.md); `read_pool.py` says why it is not asyncpg's pool either.
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Any

import asyncpg
import orjson
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer
from sqlalchemy import exc, make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app.observability import metrics
from app.settings import Settings
from app.store.read_pool import ReadPool


class DatabaseUnavailableError(Exception):
    """Postgres could not serve the request in time: the API answers 503, never 500."""


class PoolLine:
    """Where a pool's callers wait for a connection: first come first served, up to the pool timeout.

    SQLAlchemy's `AsyncAdaptedQueuePool` (and asyncpg's `Pool`, which the read pool once was) waits on
    an `asyncio.Queue`. A released connection goes to whichever task asks next, and a woken waiter that
    finds it taken goes to the back of the line, so under load some requests went round several times:
    a p99 several times the median, and now and then a timeout. `asyncio.Semaphore` is first come first
    served (Python 3.12): with one slot per connection, waiting happens here and the pool always has a
    connection to give (the read pool has no waiting of its own).

    It also counts the waiters, the waits and the timeouts, in plain values that the pool collector
    reads at scrape time (`metrics.register_pools`), as the RED metrics are kept. prometheus-client's
    locked gauge and histogram, with a timeout scope around every checkout, made entering and leaving
    ~6.8 µs; a caller that finds a free slot and nobody ahead now takes it at once (~0.9 µs, both).
    """

    def __init__(self, pool_name: str, size: int, timeout: float) -> None:
        self.pool_name = pool_name
        self._slots = asyncio.Semaphore(size)
        self._timeout = timeout
        self.pending = 0
        self.timeouts = 0
        self.waits = [0] * (len(metrics.DB_POOL_WAIT_BUCKETS) + 1)  # per bucket, the last is +Inf
        self.wait_seconds = 0.0

    async def enter(self) -> None:
        if not self._slots.locked():  # a free slot and nobody waiting for it: no wait, no timer
            await self._slots.acquire()
            self.waits[0] += 1
            return
        self.pending += 1
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                await self._slots.acquire()
        except TimeoutError as error:
            self.timeouts += 1
            raise DatabaseUnavailableError(
                f"no {self.pool_name} connection within the pool timeout"
            ) from error
        finally:
            self.pending -= 1
            waited = time.perf_counter() - started
            self.waits[bisect_left(metrics.DB_POOL_WAIT_BUCKETS, waited)] += 1
            self.wait_seconds += waited

    def leave(self) -> None:
        self._slots.release()

    def full(self) -> bool:
        """Every connection is taken (or promised to a waiter)."""
        return self._slots.locked()


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
            "server_settings": _server_settings(settings),
        },
    )


def _server_settings(settings: Settings) -> dict[str, str]:
    return {
        "application_name": "orders-api",
        "statement_timeout": str(int(settings.db_statement_timeout * 1000)),
    }


def create_read_pool(settings: Settings) -> ReadPool:
    """The hot-read pool. It opens connections on demand, so the service starts, and reports itself
    not ready, while Postgres is away."""
    dsn = make_url(settings.database_url.get_secret_value()).set(drivername="postgresql")
    dsn_text = dsn.render_as_string(hide_password=False)

    async def connect() -> asyncpg.Connection:
        conn = await asyncpg.connect(
            dsn_text,
            timeout=settings.db_connect_timeout,
            command_timeout=settings.db_statement_timeout,
            server_settings=_server_settings(settings),
        )
        try:
            await _decode_json(conn)
        except BaseException:
            conn.terminate()
            raise
        return conn

    return ReadPool(connect, settings.db_read_pool_size)


async def _decode_json(conn: asyncpg.Connection) -> None:
    """JSON columns as Python values, as SQLAlchemy's dialect returns them on the main pool."""
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(type_name, schema="pg_catalog", encoder=_dumps, decoder=orjson.loads)


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


class Database:
    """Hands out connections and turns pool and connection failures into one typed error."""

    def __init__(
        self, engine: AsyncEngine, pool_capacity: int, read_pool: ReadPool, pool_timeout: float
    ) -> None:
        self.engine = engine
        self.read_pool = read_pool
        self._main_line = PoolLine("main", pool_capacity, pool_timeout)
        self._read_line = PoolLine("reads", read_pool.max_size, pool_timeout)
        # Set when tracing is on: fetchrow bypasses SQLAlchemy, so its query span is made here.
        self.tracer: Tracer | None = None
        metrics.DB_POOL_MAX.labels(pool_name="main").set(pool_capacity)
        metrics.DB_POOL_MAX.labels(pool_name="reads").set(read_pool.max_size)
        metrics.register_pools(engine.sync_engine.pool, read_pool, (self._main_line, self._read_line))

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
        await self._main_line.enter()
        try:
            async with self._checked_out() as conn:
                yield conn
        finally:
            self._main_line.leave()  # after the connection is back in the pool

    @asynccontextmanager
    async def _checked_out(self) -> AsyncIterator[AsyncConnection]:
        try:
            conn = await self.engine.connect()
        except exc.TimeoutError as error:  # not expected: the line keeps checkouts within the pool's size
            raise DatabaseUnavailableError("connection pool exhausted") from error
        except (exc.DBAPIError, OSError, TimeoutError) as error:
            raise DatabaseUnavailableError("cannot connect to the database") from error
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
        """A hot-path read on the read pool: one statement, no transaction."""
        conn = await self._acquire_read()
        reusable = False
        try:
            record = await self._fetchrow(conn, query, args)
            reusable = True
            return record
        except (
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,  # "another operation is in progress": a connection cut mid-query
            OSError,
        ) as error:
            raise DatabaseUnavailableError("database connection lost") from error
        except TimeoutError as error:  # command_timeout, beside the server's statement_timeout
            raise DatabaseUnavailableError("database did not answer in time") from error
        except asyncpg.PostgresError as error:
            if _unavailable_sqlstate(error.sqlstate):
                raise DatabaseUnavailableError("database did not answer in time") from error
            raise
        finally:
            try:
                self.read_pool.release(conn, reusable=reusable)
            finally:
                self._read_line.leave()  # whatever happens, the slot is freed (a lost slot is never found)

    async def _fetchrow(
        self, conn: asyncpg.Connection, query: str, args: tuple[object, ...]
    ) -> Mapping[str, Any] | None:
        if self.tracer is not None and trace.get_current_span().is_recording():
            with self.tracer.start_as_current_span(
                query.split(" ", 1)[0],
                kind=SpanKind.CLIENT,
                attributes={"db.system.name": "postgresql", "db.query.text": query},
            ):
                return await conn.fetchrow(query, *args)  # type: ignore[no-any-return]
        record: Mapping[str, Any] | None = await conn.fetchrow(query, *args)
        return record

    async def _acquire_read(self) -> asyncpg.Connection:
        await self._read_line.enter()
        try:
            conn = await self.read_pool.acquire()
        except BaseException as error:
            self._read_line.leave()
            if isinstance(error, asyncpg.PostgresError | asyncpg.InterfaceError | OSError):
                raise DatabaseUnavailableError("cannot connect to the database") from error
            raise
        return conn

    async def ping(self) -> None:
        """Raises when Postgres cannot be reached: for the readiness probe only.

        A pool whose every connection is checked out is busy, not down: its connections are serving
        queries, and each of those fails within DB_STATEMENT_TIMEOUT if Postgres goes away. Waiting for
        a free slot instead would time the probe out, and a load spike would take every task out of the
        load balancer at once (the fault tests found readiness 503 under a full pool).
        """
        if self._main_line.full():
            return
        async with self.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.read_pool.close()
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
