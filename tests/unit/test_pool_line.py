"""The line in front of each connection pool: first come first served, bounded by the pool timeout."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import QueuePool

from app.observability import metrics
from app.store.database import DatabaseUnavailableError, PoolLine
from app.store.read_pool import ReadPool


async def test_a_caller_that_just_released_waits_behind_those_already_waiting() -> None:
    """The unfairness of the pools' own queues: a task that releases a connection and asks again at
    once took it back before the woken waiter ran. Under load some requests lost that race repeatedly."""
    line = PoolLine("main", 1, timeout=1.0)
    await line.enter()
    served: list[str] = []

    async def request(name: str) -> None:
        await line.enter()
        served.append(name)
        await asyncio.sleep(0)
        line.leave()

    waiting = [asyncio.create_task(request(name)) for name in ("first", "second")]
    await asyncio.sleep(0)  # both are in line now
    line.leave()
    await line.enter()  # the releasing task asks again in the same tick
    served.append("again")
    line.leave()
    await asyncio.gather(*waiting)
    assert served == ["first", "second", "again"]


async def test_a_full_line_gives_up_at_the_pool_timeout_and_exports_its_counts() -> None:
    line = PoolLine("reads", 1, timeout=0.05)
    main = PoolLine("main", 1, timeout=0.05)
    registered = metrics._pool_collector.main, metrics._pool_collector.reads, metrics._pool_collector.lines
    metrics.register_pools(QueuePool(_never_creates), ReadPool(_never_connects, 1), (main, line))
    try:
        await _time_out_once(line)
    finally:
        metrics.register_pools(*registered)  # type: ignore[arg-type]  # None before any app started
    line.leave()
    assert not line.full()
    await line.enter()  # the slot that timed out was not lost


async def _time_out_once(line: PoolLine) -> None:
    await line.enter()  # a free slot: no wait
    assert line.full()
    waiter = asyncio.create_task(line.enter())
    await asyncio.sleep(0)
    assert _sample("db_client_connections_pending_requests") == 1
    with pytest.raises(DatabaseUnavailableError, match="no reads connection within the pool timeout"):
        await waiter
    assert _sample("db_client_connections_pending_requests") == 0
    assert _sample("db_client_connections_timeouts_total") == 1
    assert _sample("db_client_connections_wait_time_seconds_count") == 2
    assert _sample("db_client_connections_wait_time_seconds_bucket", le="0.001") == 1  # the first
    assert _sample("db_client_connections_wait_time_seconds_bucket", le="0.01") == 1
    assert _sample("db_client_connections_wait_time_seconds_bucket", le="+Inf") == 2  # the timed out
    assert 0.05 <= (_sample("db_client_connections_wait_time_seconds_sum") or 0) < 1.0
    assert _sample("db_client_connections_timeouts_total", pool_name="main") == 0


def _sample(name: str, pool_name: str = "reads", **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"pool_name": pool_name, **labels})


async def _never_connects() -> asyncpg.Connection:
    raise AssertionError("the collector opened a connection")


def _never_creates() -> DBAPIConnection:
    raise AssertionError("the collector opened a connection")
