"""Postgres: one bounded asyncpg pool, the queries it runs, and one error for "unavailable".

Every query, read or write, is one statement on this pool: a SQLAlchemy Core statement over the
tables of `app.store.tables`, compiled once, at import, into SQL text for asyncpg (`compile_query`),
and run by `Postgres.fetchrow` (one row or None) or `Postgres.fetch` (every row). A statement runs in
its own implicit transaction: a write that fits one statement needs no BEGIN and COMMIT around it, and
the project's writes are written to fit (`INSERT ... ON CONFLICT DO NOTHING RETURNING`).
docs/adr/0012-one-data-path.md has the measurements behind the choice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, cast

import asyncpg
import orjson
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer
from sqlalchemy import Delete, Insert, Select, Update
from sqlalchemy.engine import make_url
from sqlalchemy.sql.expression import TableClause

from app.observability import metrics

Row = Mapping[str, Any]  # an asyncpg Record: columns by name

# Errors of the connection, not of the query: the connection is not to be trusted again.
_CONNECTION_ERRORS = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # "another operation is in progress": a connection cut mid-query
    OSError,
)
_DIALECT = make_url("postgresql+asyncpg://").get_dialect()()  # compiles; never connects
POOL_NAME = "main"  # the `pool_name` label of the pool metrics: the service has one pool


class DatabaseUnavailableError(Exception):
    """Postgres could not serve the request in time: the API answers 503, never 500."""


@dataclass(frozen=True, slots=True)
class Query:
    """A statement compiled for asyncpg: its SQL text and the names of its `$1, $2, ...` parameters."""

    sql: str
    params: tuple[str, ...]
    summary: str  # "INSERT orders": the span's name (OpenTelemetry's `db.query.summary`)
    fixed: Mapping[str, object] = field(default_factory=dict)  # values written in the statement itself

    def args(self, values: Mapping[str, object]) -> list[object]:
        return [values[name] if name in values else self.fixed[name] for name in self.params]


def compile_query(statement: Select[Any] | Insert | Update | Delete) -> Query:
    """Compile once, at import: SQLAlchemy describes the statement, asyncpg runs its text. A value
    that varies is a named `bindparam`, given when the query runs; one written in the statement
    (`orders.c.status == "placed"`) is kept with the query."""
    compiled = statement.compile(dialect=_DIALECT)
    params = tuple(compiled.positiontup or ())
    fixed = {
        name: compiled.binds[name].effective_value for name in params if not compiled.binds[name].required
    }
    verb = compiled.string.split(None, 1)[0]
    target = statement.get_final_froms()[0] if isinstance(statement, Select) else statement.table
    summary = f"{verb} {target.name}" if isinstance(target, TableClause) else verb
    return Query(compiled.string, params, summary, fixed)


class Postgres:
    """The pool, and the only place a query runs: failures of the pool or of the connection come out
    as `DatabaseUnavailableError`; an error of the query itself (a bug) propagates as it is."""

    def __init__(self, pool: asyncpg.Pool, *, pool_size: int, pool_timeout: float) -> None:
        self.pool = pool
        self.pool_size = pool_size
        self.pool_timeout = pool_timeout
        # Set when tracing is on: each query gets a client span, a child of the request's.
        self.tracer: Tracer | None = None
        self._pending = metrics.DB_POOL_PENDING.labels(pool_name=POOL_NAME)
        self._timeouts = metrics.DB_POOL_TIMEOUTS.labels(pool_name=POOL_NAME)
        self._waits = metrics.DB_POOL_WAIT.labels(pool_name=POOL_NAME)
        self._line = asyncio.Semaphore(pool_size)  # `_wait_in_line`
        _export_pool_usage(pool, pool_size)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        pool_size: int,
        pool_timeout: float,
        connect_timeout: float,
        statement_timeout: float,
    ) -> Postgres:
        """The pool, ready to hand out connections; none is opened yet (`min_size=0`), so the service
        starts, and reports itself not ready, while Postgres is away.

        Idle connections are kept, up to `pool_size`: closing them after a while costs a timer set and
        cancelled on every query; a connection the server closed is replaced when it is next acquired.
        """
        pool = await asyncpg.create_pool(
            url.replace("postgresql+asyncpg://", "postgresql://", 1),  # Alembic's URL form too
            min_size=0,
            max_size=pool_size,
            timeout=connect_timeout,
            command_timeout=statement_timeout,  # the client's own bound, beside the server's below
            server_settings={
                "application_name": "orders-api",
                "statement_timeout": str(int(statement_timeout * 1000)),
            },
            init=_decode_json,
            reset=_keep_session,
            max_inactive_connection_lifetime=0,
        )
        return cls(pool, pool_size=pool_size, pool_timeout=pool_timeout)

    async def fetchrow(self, query: Query, **values: object) -> Row | None:
        """The statement's first row, or None."""
        return cast("Row | None", await self._run("fetchrow", query, values))

    async def fetch(self, query: Query, **values: object) -> list[Row]:
        """Every row of the statement."""
        return cast("list[Row]", await self._run("fetch", query, values))

    async def ping(self) -> None:
        """Raises when Postgres cannot be reached: for the readiness probe only.

        A pool whose every connection is checked out is busy, not down: its connections are serving
        queries, and each of those fails within DB_STATEMENT_TIMEOUT if Postgres goes away. Waiting for
        a free connection instead would time the probe out, and a load spike would take every task out
        of the load balancer at once.
        """
        if self._full():
            return
        await self._run("fetchrow", _PING, {})

    async def close(self) -> None:
        await self.pool.close()

    async def _run(self, method: str, query: Query, values: Mapping[str, object]) -> object:
        await self._wait_in_line()
        try:
            conn = await self._acquire()
            try:
                if self.tracer is not None and trace.get_current_span().is_recording():
                    with self.tracer.start_as_current_span(
                        query.summary,
                        kind=SpanKind.CLIENT,
                        attributes={"db.system.name": "postgresql", "db.query.text": query.sql},
                    ):
                        return await getattr(conn, method)(query.sql, *query.args(values))
                return await getattr(conn, method)(query.sql, *query.args(values))
            except BaseException as error:
                # Any failure, cancellation included, may leave the connection mid-protocol; with no
                # reset on release, it must not serve another query. (A connection the server closed
                # is already closed, and refuses the call.)
                with suppress(asyncpg.InterfaceError):
                    conn.terminate()
                unavailable = _unavailable(error)
                if unavailable is None:
                    raise
                raise unavailable from error
            finally:
                await self.pool.release(conn)
        finally:
            self._line.release()  # after the connection is back in the pool

    async def _wait_in_line(self) -> None:
        """A place in line for one of the pool's connections, within DB_POOL_TIMEOUT, or 503.

        asyncpg's pool waits on an `asyncio.Queue`: a released connection goes to whichever task asks
        next, and a woken waiter that finds it taken goes to the back of the queue, so under load a
        few requests go round several times (a long latency tail, now and then a timeout).
        `asyncio.Semaphore` wakes its waiters first come, first served: with one place per
        connection, the waiting happens here and the pool always has a connection to hand out.
        """
        if not self._line.locked():  # a free place and nobody waiting for it: no timer, no wait
            await self._line.acquire()
            self._waits.observe(0.0)
            return
        self._pending.inc()
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.pool_timeout):
                await self._line.acquire()
        except TimeoutError as error:
            self._timeouts.inc()
            raise DatabaseUnavailableError("no connection within the pool timeout") from error
        finally:
            self._pending.dec()
            self._waits.observe(time.perf_counter() - started)

    async def _acquire(self) -> asyncpg.Connection:
        """The pool's connection for a caller in line: idle, or opened within DB_CONNECT_TIMEOUT."""
        try:
            return await self.pool.acquire()
        except (*_CONNECTION_ERRORS, TimeoutError, asyncpg.PostgresError) as error:
            raise DatabaseUnavailableError("cannot connect to the database") from error

    def _full(self) -> bool:
        """Every connection is taken (or promised to a caller in line)."""
        return self._line.locked()


_PING = Query("SELECT 1", (), "SELECT")


def _unavailable(error: BaseException) -> DatabaseUnavailableError | None:
    """`DatabaseUnavailableError` when Postgres, not the query, failed; None for the query's own error."""
    if isinstance(error, _CONNECTION_ERRORS):
        return DatabaseUnavailableError("database connection lost")
    if isinstance(error, TimeoutError):  # command_timeout, beside the server's statement_timeout
        return DatabaseUnavailableError("database did not answer in time")
    if isinstance(error, asyncpg.PostgresError) and _unavailable_sqlstate(error.sqlstate):
        return DatabaseUnavailableError("database did not answer in time")
    return None


def _unavailable_sqlstate(sqlstate: str | None) -> bool:
    """SQLSTATE classes 08 (connection exception) and 57 (operator intervention: admin shutdown,
    query cancelled by the statement timeout)."""
    return (sqlstate or "").startswith(("08", "57"))


async def _decode_json(conn: asyncpg.Connection) -> None:
    """JSON columns as Python values both ways (order items are JSONB)."""
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(type_name, schema="pg_catalog", encoder=_dumps, decoder=orjson.loads)


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to reset: a query here changes no session state (no SET, LISTEN, advisory lock, cursor
    or open transaction), so the reset query asyncpg runs by default would be one more round trip per
    query. A query that fails takes its connection out of the pool instead (`Postgres._run`)."""


def _export_pool_usage(pool: asyncpg.Pool, pool_size: int) -> None:
    """The pool's size and occupancy, read from the pool itself when Prometheus scrapes."""
    metrics.DB_POOL_MAX.labels(pool_name=POOL_NAME).set(pool_size)
    usage = metrics.DB_POOL_USAGE
    usage.labels(pool_name=POOL_NAME, state="used").set_function(
        lambda: pool.get_size() - pool.get_idle_size()
    )
    usage.labels(pool_name=POOL_NAME, state="idle").set_function(pool.get_idle_size)
