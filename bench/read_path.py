"""CPU per single-row read by path: SQLAlchemy's async connection, asyncpg's pool as the store
configures it, and a bare asyncpg connection (the floor). Sequential reads on one event loop, so the
figure is the client's own CPU per read, not throughput.

    uv run --frozen python bench/read_path.py        # TEST_DATABASE_URL, default local Postgres
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable

import asyncpg
import uvloop
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

DSN = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
QUERY = "SELECT 1 AS one WHERE $1::int = 1"
READS = 3_000


async def cpu_per_read(read: Callable[[], Awaitable[object]]) -> float:
    for _ in range(200):  # warm: connections open, statements prepared
        await read()
    started = time.process_time()
    for _ in range(READS):
        await read()
    return (time.process_time() - started) / READS * 1e6


async def main() -> None:
    async def keep_session(_: asyncpg.Connection) -> None:
        return None

    engine = create_async_engine(DSN.replace("postgresql://", "postgresql+asyncpg://"), pool_size=4)
    pool = await asyncpg.create_pool(
        DSN, min_size=0, max_size=4, reset=keep_session, max_inactive_connection_lifetime=0
    )
    conn = await asyncpg.connect(DSN)

    async def sqlalchemy() -> object:
        async with engine.connect() as sa_conn:
            await sa_conn.execution_options(isolation_level="AUTOCOMMIT")
            return (await sa_conn.execute(text("SELECT 1 AS one WHERE :n = 1"), {"n": 1})).first()

    async def asyncpg_pool() -> object:
        async with pool.acquire() as pooled:
            return await pooled.fetchrow(QUERY, 1)

    async def asyncpg_connection() -> object:
        return await conn.fetchrow(QUERY, 1)

    try:
        for name, read in [("SQLAlchemy async", sqlalchemy), ("asyncpg pool", asyncpg_pool),
                           ("asyncpg connection", asyncpg_connection)]:  # fmt: skip
            print(f"{name:<20} {await cpu_per_read(read):6.1f} µs CPU per read", flush=True)
    finally:
        await conn.close()
        await pool.close()
        await engine.dispose()


if __name__ == "__main__":
    uvloop.run(main())
