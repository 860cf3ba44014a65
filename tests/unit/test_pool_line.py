"""The line in front of each connection pool: first come first served, bounded by the pool timeout."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from app.store.database import DatabaseUnavailableError, PoolLine


async def test_a_caller_that_just_released_waits_behind_those_already_waiting() -> None:
    """The line is fair where the pools' own queues are not: there, a task that releases a connection
    and asks again at once takes it back before the woken waiter runs, and under load a few requests
    lose that race again and again."""
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
    """The counts are prometheus-client's, shared by every line of the same pool name in this process:
    the test compares them before and after."""
    line = PoolLine("reads", 1, timeout=0.05)
    before = _samples()
    await line.enter()  # a free slot: no wait
    assert line.full()
    waiter = asyncio.create_task(line.enter())
    await asyncio.sleep(0)
    assert _sample("db_client_connections_pending_requests") == 1
    with pytest.raises(DatabaseUnavailableError, match="no reads connection within the pool timeout"):
        await waiter
    assert _sample("db_client_connections_pending_requests") == 0
    added = {name: value - before[name] for name, value in _samples().items()}
    assert added["timeouts"] == 1
    assert added["main timeouts"] == 0
    assert added["waits"] == 2
    assert (added["le 0.001"], added["le 0.01"], added["le +Inf"]) == (1, 1, 2)  # the timed out: +Inf
    assert 0.05 <= added["waited"] < 1.0
    line.leave()
    assert not line.full()
    await line.enter()  # the slot that timed out was not lost


def _samples() -> dict[str, float]:
    bucket = "db_client_connections_wait_time_seconds_bucket"
    values = {
        "timeouts": _sample("db_client_connections_timeouts_total"),
        "main timeouts": _sample("db_client_connections_timeouts_total", pool_name="main"),
        "waits": _sample("db_client_connections_wait_time_seconds_count"),
        "waited": _sample("db_client_connections_wait_time_seconds_sum"),
        **{f"le {le}": _sample(bucket, le=le) for le in ("0.001", "0.01", "+Inf")},
    }
    return {name: value or 0.0 for name, value in values.items()}


def _sample(name: str, pool_name: str = "reads", **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"pool_name": pool_name, **labels})
