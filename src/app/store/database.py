"""Postgres: two bounded pools with timeouts, their saturation metrics, and one error for "unavailable".

Which path a query takes: a transaction or a write goes through SQLAlchemy (`Database.begin`); a
single-row read outside a transaction goes through `Database.fetchrow`, on asyncpg's own pool.

SQLAlchemy's async connection checkout and release cost several times the CPU of the primary-key read
itself (docs/adr/0005-telemetry-and-reads-on-library-types.md has the numbers), so those reads skip it
and use asyncpg's pool directly. Both pools are entered through a `PoolLine`: first come, first served.
"""

from __future__ import annotations

import asyncio
import time
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

# Errors of the connection, not of the query: the read's connection is not to be trusted again.
_CONNECTION_ERRORS = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # "another operation is in progress": a connection cut mid-query
    OSError,
)


class DatabaseUnavailableError(Exception):
    """Postgres could not serve the request in time: the API answers 503, never 500."""


class PoolLine:
    """Where a pool's callers wait for a connection: first come first served, up to the pool timeout.

    SQLAlchemy's and asyncpg's pools wait on an `asyncio.Queue`: a released connection goes to
    whichever task asks next, and a woken waiter that finds it taken goes to the back of the line, so
    under load a few requests go round several times (a long latency tail, and now and then a
    timeout). `asyncio.Semaphore` is first come first served: with one slot per connection, waiting
    happens here and the pool behind always has a connection to give.
    """

    def __init__(self, pool_name: str, size: int, timeout: float) -> None:
        self.pool_name = pool_name
        self._slots = asyncio.Semaphore(size)
        self._timeout = timeout
        self._pending = metrics.DB_POOL_PENDING.labels(pool_name=pool_name)
        self._timeouts = metrics.DB_POOL_TIMEOUTS.labels(pool_name=pool_name)
        self._waits = metrics.DB_POOL_WAIT.labels(pool_name=pool_name)

    async def enter(self) -> None:
        if not self._slots.locked():  # a free slot and nobody waiting for it: no wait, no timer
            await self._slots.acquire()
            self._waits.observe(0.0)
            return
        self._pending.inc()
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                await self._slots.acquire()
        except TimeoutError as error:
            self._timeouts.inc()
            raise DatabaseUnavailableError(
                f"no {self.pool_name} connection within the pool timeout"
            ) from error
        finally:
            self._pending.dec()
            self._waits.observe(time.perf_counter() - started)

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


def create_read_pool(settings: Settings) -> asyncpg.Pool:
    """asyncpg's pool for single-row reads, not yet initialised (`await` it, as `Database.open` does).

    No connection at start (`min_size=0`), so the service starts, and reports itself not ready, while
    Postgres is away. Idle connections are kept, at most DB_READ_POOL_SIZE, as the main pool keeps
    its own: closing them after a while costs a timer set and cancelled on every read; a connection
    the server closed is replaced when it is next acquired.
    """
    dsn = make_url(settings.database_url.get_secret_value()).set(drivername="postgresql")
    return asyncpg.create_pool(
        dsn.render_as_string(hide_password=False),
        min_size=0,
        max_size=settings.db_read_pool_size,
        timeout=settings.db_connect_timeout,
        command_timeout=settings.db_statement_timeout,
        server_settings=_server_settings(settings),
        init=_decode_json,
        reset=_keep_session,
        max_inactive_connection_lifetime=0,
    )


async def _decode_json(conn: asyncpg.Connection) -> None:
    """JSON columns as Python values, as SQLAlchemy's dialect returns them on the main pool."""
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(type_name, schema="pg_catalog", encoder=_dumps, decoder=orjson.loads)


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to reset: a read on this pool changes no session state (no SET, LISTEN, advisory lock
    or cursor), so the reset query asyncpg runs by default would be one more round trip per read. A
    read that fails takes its connection out of the pool instead (`Database.fetchrow`)."""


class Database:
    """Hands out connections and turns pool and connection failures into one typed error."""

    def __init__(self, engine: AsyncEngine, read_pool: asyncpg.Pool, settings: Settings) -> None:
        self.engine = engine
        self.read_pool = read_pool
        capacity = settings.db_pool_size + settings.db_max_overflow
        self._main_line = PoolLine("main", capacity, settings.db_pool_timeout)
        self._read_line = PoolLine("reads", settings.db_read_pool_size, settings.db_pool_timeout)
        # Set when tracing is on: fetchrow bypasses SQLAlchemy's instrumentation, so its span is made here.
        self.tracer: Tracer | None = None
        _export_pool_usage(engine, read_pool, capacity, settings.db_read_pool_size)

    @classmethod
    async def open(cls, settings: Settings) -> Database:
        """Both pools, ready to hand out connections; neither has connected yet."""
        return cls(create_engine(settings), await create_read_pool(settings), settings)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction: committed on success, rolled back on error."""
        async with self._connect() as conn, conn.begin():
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
            # can fail (asyncpg: "another operation is in progress"). The request's outcome stands: the
            # result was already read or committed, or the request's own error is on its way. The
            # connection is back in the pool regardless, which discards it when its reset fails too.
            with suppress(exc.DBAPIError, OSError, TimeoutError):
                await conn.close()

    async def fetchrow(self, query: str, *args: object) -> Mapping[str, Any] | None:
        """One row (or None) of a single-statement read, outside any transaction, on the read pool."""
        await self._read_line.enter()
        try:
            return await self._fetchrow_in_line(query, args)
        finally:
            self._read_line.leave()  # whatever happens, the slot is freed

    async def _fetchrow_in_line(self, query: str, args: tuple[object, ...]) -> Mapping[str, Any] | None:
        try:
            async with self.read_pool.acquire() as conn:
                try:
                    if self.tracer is not None and trace.get_current_span().is_recording():
                        return await self._traced_fetchrow(self.tracer, conn, query, args)
                    record: Mapping[str, Any] | None = await conn.fetchrow(query, *args)
                    return record
                except BaseException:
                    # Any failure, cancellation included, may leave the connection mid-protocol; with
                    # no reset on release, it must not serve another read. (A connection the server
                    # closed is already back in the pool, and refuses the call.)
                    with suppress(asyncpg.InterfaceError):
                        conn.terminate()
                    raise
        except _CONNECTION_ERRORS as error:
            raise DatabaseUnavailableError("database connection lost") from error
        except TimeoutError as error:  # connect timeout or command_timeout, beside statement_timeout
            raise DatabaseUnavailableError("database did not answer in time") from error
        except asyncpg.PostgresError as error:
            if _unavailable_sqlstate(error.sqlstate):
                raise DatabaseUnavailableError("database did not answer in time") from error
            raise

    @staticmethod
    async def _traced_fetchrow(
        tracer: Tracer, conn: asyncpg.Connection, query: str, args: tuple[object, ...]
    ) -> Mapping[str, Any] | None:
        """The read under a client span of its own, as SQLAlchemy's instrumentation makes for its queries."""
        with tracer.start_as_current_span(
            query.split(" ", 1)[0],
            kind=SpanKind.CLIENT,
            attributes={"db.system.name": "postgresql", "db.query.text": query},
        ):
            record: Mapping[str, Any] | None = await conn.fetchrow(query, *args)
            return record

    async def ping(self) -> None:
        """Raises when Postgres cannot be reached: for the readiness probe only.

        A pool whose every connection is checked out is busy, not down: its connections are serving
        queries, and each of those fails within DB_STATEMENT_TIMEOUT if Postgres goes away. Waiting for
        a free slot instead would time the probe out, and a load spike would take every task out of the
        load balancer at once.
        """
        if self._main_line.full():
            return
        async with self._connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.read_pool.close()
        await self.engine.dispose()


def _export_pool_usage(engine: AsyncEngine, read_pool: asyncpg.Pool, main_max: int, reads_max: int) -> None:
    """Each pool's size and occupancy, read from the pool itself when Prometheus scrapes."""
    main = engine.sync_engine.pool
    metrics.DB_POOL_MAX.labels(pool_name="main").set(main_max)
    metrics.DB_POOL_MAX.labels(pool_name="reads").set(reads_max)
    usage = metrics.DB_POOL_USAGE
    usage.labels(pool_name="main", state="used").set_function(main.checkedout)  # type: ignore[attr-defined]
    usage.labels(pool_name="main", state="idle").set_function(main.checkedin)  # type: ignore[attr-defined]
    usage.labels(pool_name="reads", state="used").set_function(
        lambda: read_pool.get_size() - read_pool.get_idle_size()
    )
    usage.labels(pool_name="reads", state="idle").set_function(read_pool.get_idle_size)


def _is_unavailable(error: exc.DBAPIError) -> bool:
    """Errors that mean "the database is not there right now", as opposed to a bad query."""
    if isinstance(error, exc.OperationalError | exc.InterfaceError):
        return True
    return _unavailable_sqlstate(getattr(error.orig, "sqlstate", None))


def _unavailable_sqlstate(sqlstate: str | None) -> bool:
    """SQLSTATE classes 08 (connection exception) and 57 (operator intervention: admin shutdown,
    query cancelled by the statement timeout)."""
    return (sqlstate or "").startswith(("08", "57"))
