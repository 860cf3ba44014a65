"""The store's pool against the real Postgres: connections opened on demand and reused, what is never
handed out again, the line and its timeout, cancellation, closing, and the one statement each store
query is."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from prometheus_client import REGISTRY

from app.settings import Settings
from app.store.postgres import DatabaseUnavailableError, Postgres, Query, Row
from tests.integration.conftest import ClientFactory
from tests.integration.faults import wait_for

_PID = Query("SELECT pg_backend_pid() AS pid", (), "SELECT")
_SLEEP = Query("SELECT $1::int AS n, pg_sleep($2::float8) AS slept", ("n", "seconds"), "SELECT")


async def _open(settings: Settings, **overrides: float) -> Postgres:
    values = {
        "pool_size": settings.db_pool_size,
        "pool_timeout": settings.db_pool_timeout,
        "connect_timeout": settings.db_connect_timeout,
        "statement_timeout": settings.db_statement_timeout,
    } | overrides
    return await Postgres.open(settings.database_url.get_secret_value(), **values)  # type: ignore[arg-type]


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Postgres]:
    database = await _open(settings)
    yield database
    await database.close()


async def _pid(db: Postgres) -> int:
    row = await db.fetchrow(_PID)
    assert row is not None
    pid: int = row["pid"]
    return pid


async def test_connections_are_opened_on_demand_and_reused(db: Postgres) -> None:
    assert db.pool.get_size() == 0, "a connection was opened before it was needed"
    first = await _pid(db)
    assert await _pid(db) == first
    assert (db.pool.get_size(), db.pool.get_idle_size()) == (1, 1)


async def test_json_goes_in_and_comes_back_as_python_values(db: Postgres) -> None:
    """Order items are JSONB: written from Python values, read back as Python values."""
    row = await db.fetchrow(Query("SELECT $1::jsonb AS item", ("item",), "SELECT"), item={"sku": "A-1"})
    assert row is not None
    assert row["item"] == {"sku": "A-1"}


async def test_fetch_returns_every_row(db: Postgres) -> None:
    rows = await db.fetch(Query("SELECT generate_series(1, $1::int) AS n", ("last",), "SELECT"), last=3)
    assert [row["n"] for row in rows] == [1, 2, 3]


async def test_a_connection_whose_query_failed_is_closed_not_reused(db: Postgres) -> None:
    """The pool skips asyncpg's reset query on release, so a connection a failure may have left
    mid-operation never serves the next query. The query's own error reaches the caller as it is."""
    first = await _pid(db)
    with pytest.raises(asyncpg.DivisionByZeroError):
        await db.fetchrow(Query("SELECT 1 / 0", (), "SELECT"))
    assert db.pool.get_idle_size() == 0, "the failed connection was kept"
    assert await _pid(db) != first  # a fresh one is opened


async def test_a_connection_the_server_closed_while_idle_is_skipped(db: Postgres, database_url: str) -> None:
    pid = await _pid(db)
    await _terminate(database_url, pid)

    async def seen_closed() -> bool:  # the client sees the close when the event loop reads the socket
        return bool(db.pool.get_size() == 0)

    await wait_for(seen_closed, within=5)
    assert await _pid(db) != pid


async def test_a_connection_the_server_closed_mid_query_is_a_503_and_frees_its_place(
    settings: Settings, database_url: str
) -> None:
    db = await _open(settings, pool_size=1, pool_timeout=0.5)
    try:
        pid = await _pid(db)
        sleeping = asyncio.create_task(db.fetchrow(_SLEEP, n=1, seconds=5))
        await asyncio.sleep(0.3)
        await _terminate(database_url, pid)
        with pytest.raises(DatabaseUnavailableError):
            await sleeping
        # The pool's only connection is free again: the next query opens a new one, no pool timeout.
        assert await _pid(db) != pid
    finally:
        await db.close()


async def test_an_exhausted_pool_refuses_after_the_pool_timeout_and_counts_it(settings: Settings) -> None:
    db = await _open(settings, pool_size=1, pool_timeout=0.2)
    timeouts = REGISTRY.get_sample_value("db_client_connections_timeouts_total", {"pool_name": "main"})
    try:
        holder = asyncio.create_task(db.fetchrow(_SLEEP, n=1, seconds=0.6))
        await asyncio.sleep(0.2)
        started = time.perf_counter()
        waiter = asyncio.create_task(db.fetchrow(_PID))
        await asyncio.sleep(0.05)
        assert REGISTRY.get_sample_value("db_client_connections_pending_requests", {"pool_name": "main"}) == 1
        with pytest.raises(DatabaseUnavailableError, match="no connection within the pool timeout"):
            await waiter
        assert 0.18 <= time.perf_counter() - started < 1.0
        await db.ping()  # a full pool is busy, not down: the probe passes without waiting
        assert (await holder) is not None
        assert await _pid(db) > 0  # served again once the connection is back
    finally:
        await db.close()
    after = REGISTRY.get_sample_value("db_client_connections_timeouts_total", {"pool_name": "main"})
    assert (after or 0) - (timeouts or 0) == 1
    assert REGISTRY.get_sample_value("db_client_connections_pending_requests", {"pool_name": "main"}) == 0


async def test_callers_get_a_connection_in_the_order_they_asked(settings: Settings) -> None:
    """asyncpg's pool hands a released connection to whichever task asks next, so a task that releases
    and asks again at once would go ahead of those already waiting; the line in front of the pool
    serves them first come, first served."""
    db = await _open(settings, pool_size=1)
    served: list[str] = []

    async def query(name: str, seconds: float = 0.0) -> None:
        await db.fetchrow(_SLEEP, n=0, seconds=seconds)
        served.append(name)

    async def holder() -> None:
        await query("holder", seconds=0.3)
        await query("again")  # asks again as soon as its connection is back

    try:
        holding = asyncio.create_task(holder())
        await asyncio.sleep(0.1)
        waiting = [asyncio.create_task(query(name)) for name in ("first", "second")]
        await asyncio.gather(holding, *waiting)
    finally:
        await db.close()
    assert served == ["holder", "first", "second", "again"]


async def test_cancelled_queries_give_back_their_connections(settings: Settings) -> None:
    """Queries cancelled while waiting for a connection or mid-query (a client gone, a timeout above)
    leave nothing behind: every connection is back or closed, and the next query is served."""
    db = await _open(settings, pool_size=2)
    try:
        queries = [asyncio.create_task(db.fetchrow(_SLEEP, n=n, seconds=0.05)) for n in range(20)]
        await asyncio.sleep(0.02)  # two are querying, the rest wait for a connection
        for query in queries[::2]:
            query.cancel()
        results = await asyncio.gather(*queries, return_exceptions=True)
        assert all(isinstance(result, asyncio.CancelledError) for result in results[::2])
        served = [row for row in results[1::2] if row is not None and not isinstance(row, BaseException)]
        assert [row["n"] for row in served] == list(range(1, 20, 2))
        assert db.pool.get_size() == db.pool.get_idle_size() <= 2
        assert await _pid(db) > 0
    finally:
        await db.close()


async def test_a_closed_pool_refuses_queries_as_unavailable(settings: Settings) -> None:
    db = await _open(settings)
    await _pid(db)
    await db.close()
    with pytest.raises(DatabaseUnavailableError):
        await db.fetchrow(_PID)


async def test_each_request_runs_one_statement_per_store_query(make_client: ClientFactory) -> None:
    """The data path: every store query is one statement on the pool, with no BEGIN or COMMIT around
    it; a sign-up is one insert, an order a customer read and one insert."""
    client = await make_client()
    db: Postgres = client.app.state.orders.db  # type: ignore[attr-defined]
    ran: list[str] = []
    fetchrow = db.fetchrow

    async def recorded(query: Query, **values: object) -> Row | None:
        ran.append(query.summary)
        return await fetchrow(query, **values)

    db.fetchrow = recorded  # type: ignore[method-assign]
    email = f"path-{uuid.uuid4().hex[:8]}@example.com"
    customer = (await client.post("/v1/customers", json={"email": email, "name": "P"})).json()
    items = [{"sku": "S", "quantity": 1, "unit_price_cents": 5}]
    order = (await client.post("/v1/orders", json={"customer_id": customer["id"], "items": items})).json()
    assert ran == ["INSERT customers", "SELECT customers", "INSERT orders"]
    assert (await client.get(f"/v1/customers/{customer['id']}")).status_code == 200
    assert (await client.get(f"/v1/orders/{order['id']}")).status_code == 200
    assert ran[3:] == ["SELECT customers", "SELECT orders"]


async def _terminate(database_url: str, pid: int) -> None:
    admin = await asyncpg.connect(database_url)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
