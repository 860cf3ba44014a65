"""Database against the real Postgres: single-row reads on asyncpg's pool (reuse, what is never handed
out again, cancellation, closing), and which path each kind of query takes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from app.settings import Settings
from app.store.database import Database, DatabaseUnavailableError
from tests.integration.conftest import ClientFactory
from tests.integration.faults import wait_for


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = await Database.open(settings)
    yield database
    await database.close()


async def _pid(db: Database) -> int:
    row = await db.fetchrow("SELECT pg_backend_pid() AS pid")
    assert row is not None
    pid: int = row["pid"]
    return pid


async def test_read_connections_are_opened_on_demand_and_reused(db: Database) -> None:
    assert db.read_pool.get_size() == 0, "a connection was opened before it was needed"
    first = await _pid(db)
    assert await _pid(db) == first
    assert (db.read_pool.get_size(), db.read_pool.get_idle_size()) == (1, 1)


async def test_json_columns_come_back_as_python_values(db: Database) -> None:
    """As SQLAlchemy's dialect returns them on the main pool (order items are JSONB)."""
    row = await db.fetchrow("""SELECT '{"sku": "A-1"}'::jsonb AS item""")
    assert row is not None
    assert row["item"] == {"sku": "A-1"}


async def test_a_read_connection_that_failed_is_closed_not_reused(db: Database) -> None:
    """The read pool skips asyncpg's reset query on release, so a connection a failure may have left
    mid-operation never serves the next read."""
    first = await _pid(db)
    with pytest.raises(asyncpg.DivisionByZeroError):
        await db.fetchrow("SELECT 1 / 0")
    assert db.read_pool.get_idle_size() == 0, "the failed connection was kept"
    assert await _pid(db) != first  # a fresh one is opened


async def test_a_read_connection_the_server_closed_while_idle_is_skipped(
    db: Database, database_url: str
) -> None:
    pid = await _pid(db)
    await _terminate(database_url, pid)

    async def seen_closed() -> bool:  # the client sees the close when the event loop reads the socket
        return bool(db.read_pool.get_size() == 0)

    await wait_for(seen_closed, within=5)
    assert await _pid(db) != pid


async def test_a_read_connection_the_server_closed_mid_read_is_a_503_and_frees_its_slot(
    make_client: ClientFactory, database_url: str
) -> None:
    client = await make_client(db_read_pool_size=1, db_pool_timeout=0.5)
    db: Database = client.app.state.orders.db  # type: ignore[attr-defined]
    pid = await _pid(db)
    sleeping = asyncio.create_task(db.fetchrow("SELECT pg_sleep(5)"))
    await asyncio.sleep(0.3)
    await _terminate(database_url, pid)
    with pytest.raises(DatabaseUnavailableError):
        await sleeping
    # The pool's only slot is free again: the next read gets a new connection, not a pool timeout.
    assert dict(await db.fetchrow("SELECT 2 AS two") or {}) == {"two": 2}


async def test_cancelled_reads_give_back_their_connections_and_slots(make_client: ClientFactory) -> None:
    """Reads cancelled while waiting for a slot or mid-query (a client gone, a timeout above) leave
    nothing behind: every connection is back or closed, every slot free, the next read served."""
    client = await make_client(db_read_pool_size=2)
    db: Database = client.app.state.orders.db  # type: ignore[attr-defined]
    reads = [asyncio.create_task(db.fetchrow("SELECT $1::int AS n, pg_sleep(0.05)", n)) for n in range(20)]
    await asyncio.sleep(0.02)  # two reads are querying, the rest wait in line
    for read in reads[::2]:
        read.cancel()
    results = await asyncio.gather(*reads, return_exceptions=True)
    assert all(isinstance(result, asyncio.CancelledError) for result in results[::2])
    served = [row for row in results[1::2] if row is not None and not isinstance(row, BaseException)]
    assert [row["n"] for row in served] == list(range(1, 20, 2))
    assert db.read_pool.get_size() == db.read_pool.get_idle_size() <= 2
    assert not db._read_line.full()
    assert dict(await db.fetchrow("SELECT 1 AS one") or {}) == {"one": 1}


async def test_a_closed_database_refuses_reads_as_unavailable(settings: Settings) -> None:
    db = await Database.open(settings)
    await _pid(db)
    await db.close()
    with pytest.raises(DatabaseUnavailableError):
        await db.fetchrow("SELECT 1")


async def test_customer_and_order_reads_take_the_read_pool_and_writes_the_main_pool(
    make_client: ClientFactory,
) -> None:
    """The rule `app.store.database` states: a single-row read outside a transaction is served by the
    read pool, a write (and what it reads in its transaction) by SQLAlchemy's."""
    client = await make_client(cache_ttl=0)
    db: Database = client.app.state.orders.db  # type: ignore[attr-defined]
    reads: list[str] = []
    fetchrow = db.fetchrow

    async def recorded(query: str, *args: object) -> Any:
        reads.append(query.split(" FROM ", 1)[1])
        return await fetchrow(query, *args)

    db.fetchrow = recorded  # type: ignore[method-assign]
    email = f"path-{uuid.uuid4().hex[:8]}@example.com"
    customer = (await client.post("/v1/customers", json={"email": email, "name": "P"})).json()
    items = [{"sku": "S", "quantity": 1, "unit_price_cents": 5}]
    order = (await client.post("/v1/orders", json={"customer_id": customer["id"], "items": items})).json()
    assert reads == [], "a write read through the read pool"
    assert (await client.get(f"/v1/customers/{customer['id']}")).status_code == 200
    assert (await client.get(f"/v1/orders/{order['id']}")).status_code == 200
    assert reads == ["customers WHERE id = $1", "orders WHERE id = $1"]


async def test_a_failed_release_of_a_main_pool_connection_does_not_fail_the_caller(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Releasing rolls back, and on a connection Postgres cut mid-operation that rollback fails
    ("another operation is in progress"): the caller's result stands, and the pool is whole."""
    await db.ping()  # the pool's first connection, made before the failure is set up
    dialect = db.engine.sync_engine.dialect
    rollback = dialect.do_rollback

    def cut_once(dbapi_connection: Any) -> None:
        monkeypatch.setattr(dialect, "do_rollback", rollback)
        raise dialect.loaded_dbapi.InternalError(
            "cannot switch to state 15; another operation is in progress"
        )

    monkeypatch.setattr(dialect, "do_rollback", cut_once)
    await db.ping()  # SELECT 1 on the main pool; raises if the failed release replaced its outcome
    assert dialect.do_rollback is rollback, "the release did not fail: the test proved nothing"
    await db.ping()
    assert db.engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def _terminate(database_url: str, pid: int) -> None:
    admin = await asyncpg.connect(database_url)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
