"""The hot-read pool against the real Postgres: reuse, what is never handed out again, idling, closing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from app.settings import Settings
from app.store.database import Database, create_read_pool
from app.store.read_pool import ReadPool
from tests.integration.conftest import ClientFactory
from tests.integration.faults import wait_for


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[ReadPool]:
    read_pool = create_read_pool(settings)
    yield read_pool
    await read_pool.close()


async def backend_pid(pool: ReadPool) -> int:
    conn = await pool.acquire()
    try:
        pid: int = await conn.fetchval("SELECT pg_backend_pid()")
    finally:
        pool.release(conn, reusable=True)
    return pid


async def test_connections_are_opened_on_demand_and_reused(pool: ReadPool) -> None:
    assert (pool.idle, pool.in_use) == (0, 0), "a connection was opened before it was needed"
    first = await backend_pid(pool)
    assert await backend_pid(pool) == first
    assert (pool.idle, pool.in_use) == (1, 0)


async def test_json_columns_come_back_as_python_values(pool: ReadPool) -> None:
    """As SQLAlchemy's dialect returns them on the main pool (order items are JSONB)."""
    conn = await pool.acquire()
    try:
        assert await conn.fetchval("""SELECT '{"sku": "A-1"}'::jsonb""") == {"sku": "A-1"}
    finally:
        pool.release(conn, reusable=True)


async def test_a_connection_that_failed_is_closed_not_reused(pool: ReadPool) -> None:
    conn = await pool.acquire()
    pool.release(conn, reusable=False)
    assert conn.is_closed()
    assert (pool.idle, pool.in_use) == (0, 0)


async def test_a_connection_the_server_closed_while_idle_is_skipped(
    pool: ReadPool, database_url: str
) -> None:
    conn = await pool.acquire()
    pid = conn.get_server_pid()
    pool.release(conn, reusable=True)
    admin = await asyncpg.connect(database_url)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()

    async def seen_closed() -> bool:  # the client sees the close when the event loop reads the socket
        return bool(conn.is_closed())

    await wait_for(seen_closed, within=5)
    assert await backend_pid(pool) != pid


async def test_the_least_recently_used_connection_is_closed_once_it_has_idled_too_long(
    settings: Settings,
) -> None:
    pool = create_read_pool(settings)
    pool._max_idle = 0.05  # the default is minutes
    try:
        old, recent = await pool.acquire(), await pool.acquire()
        pool.release(old, reusable=True)
        pool.release(recent, reusable=True)
        await asyncio.sleep(0.1)
        conn = await pool.acquire()
        assert conn is recent, "the most recently used connection is handed out first"
        pool.release(conn, reusable=True)
        await asyncio.sleep(0.1)  # closed in the background
        assert old.is_closed()
        assert not recent.is_closed()
        assert pool.idle == 1
    finally:
        await pool.close()


async def test_closing_closes_idle_connections_and_refuses_new_reads(pool: ReadPool) -> None:
    idle = await pool.acquire()
    busy = await pool.acquire()
    pool.release(idle, reusable=True)
    await pool.close()
    assert idle.is_closed()
    pool.release(busy, reusable=True)  # came back after the close
    assert busy.is_closed()
    with pytest.raises(asyncpg.InterfaceError):
        await pool.acquire()


async def test_cancelled_reads_give_back_their_connections_and_slots(make_client: ClientFactory) -> None:
    """Reads cancelled while waiting for a slot or mid-query (a client gone, a timeout above) leave
    nothing behind: every connection is back or closed, every slot free, the next read served."""
    client = await make_client(db_read_pool_size=2)
    database: Database = client.app.state.orders.db  # type: ignore[attr-defined]
    reads = [
        asyncio.create_task(database.fetchrow("SELECT $1::int AS n, pg_sleep(0.05)", n)) for n in range(20)
    ]
    await asyncio.sleep(0.02)  # two reads are querying, the rest wait in line
    for read in reads[::2]:
        read.cancel()
    results = await asyncio.gather(*reads, return_exceptions=True)
    assert all(isinstance(result, asyncio.CancelledError) for result in results[::2])
    served = [row for row in results[1::2] if row is not None and not isinstance(row, BaseException)]
    assert [row["n"] for row in served] == list(range(1, 20, 2))
    assert database.read_pool.in_use == 0
    assert database.read_pool.idle <= database.read_pool.max_size
    assert not database._read_line.full()
    assert dict(await database.fetchrow("SELECT 1 AS one") or {}) == {"one": 1}
