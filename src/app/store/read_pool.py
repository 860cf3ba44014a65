"""The hot-read pool: plain asyncpg connections on a list, each serving one single-row read at a time.

Written here rather than using `asyncpg.Pool`, because that pool's bookkeeping cost more than the
read's own Python: its acquire runs a timeout scope, a queue and a holder and hands out a proxy that
forwards every call; its release goes through `asyncio.shield` and a new task. Counted with cachegrind
in the server (bench/README.md), this pool took the uncached order read from ~937k to ~815k
instructions, and its CPU from ~278 to ~240 µs per request.

What it keeps of a pool: a bounded number of connections, opened on demand (none at start, so the
service starts, and reports itself not ready, while Postgres is away); a connection that failed or
was closed by the server is never handed out again; the least recently used is closed at the first
release after it has idled `max_idle` seconds (a pool that no read touches keeps its connections, as
the main pool does).
What it leaves out: waiting. `Database` lets at most `max_size` reads in at once (its `PoolLine`,
first come first served with a timeout), so `acquire` always finds an idle connection or room for a
new one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress

import asyncpg

Connect = Callable[[], Awaitable[asyncpg.Connection]]


class ReadPool:
    def __init__(self, connect: Connect, max_size: int, max_idle: float = 300.0) -> None:
        self.max_size = max_size
        self.in_use = 0
        self._connect = connect
        self._max_idle = max_idle
        # Idle connections and when each was released, the most recently used last: `acquire` takes
        # from the end, so under light load the same few connections serve and the rest age out.
        self._idle: list[tuple[asyncpg.Connection, float]] = []
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def idle(self) -> int:
        return len(self._idle)

    async def acquire(self) -> asyncpg.Connection:
        """An open connection: an idle one, else a new one. The caller holds one of `max_size` slots."""
        while self._idle:
            conn = self._idle.pop()[0]
            if not conn.is_closed():
                self.in_use += 1
                return conn
            conn.terminate()  # the server closed it while it sat idle: free what asyncpg still holds
        if self._closed:
            raise asyncpg.InterfaceError("the read pool is closed")
        conn = await self._connect()
        self.in_use += 1
        return conn

    def release(self, conn: asyncpg.Connection, *, reusable: bool) -> None:
        """Back to the pool, or closed at once if the read failed: a connection cut mid-statement can
        be left in a protocol state the next read cannot use (the outage test found a 500 that way)."""
        self.in_use -= 1
        if not reusable or self._closed:
            conn.terminate()
            return
        now = time.monotonic()
        self._idle.append((conn, now))
        if now - self._idle[0][1] > self._max_idle:  # the least recently used has idled too long
            self._close_in_background(self._idle.pop(0)[0])

    def _close_in_background(self, conn: asyncpg.Connection) -> None:
        task = asyncio.get_running_loop().create_task(_close(conn))
        self._closing.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Close the idle connections. Connections still in use are closed when they come back (the
        server has finished its requests before the app shuts down, so normally there are none)."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*self._closing, *(_close(conn) for conn, _ in idle))


_CLOSE_TIMEOUT = 5.0


async def _close(conn: asyncpg.Connection) -> None:
    """Close with the protocol's goodbye; asyncpg aborts the connection itself if that fails."""
    with suppress(Exception):
        await conn.close(timeout=_CLOSE_TIMEOUT)
