"""The line in front of each connection pool: first come first served, bounded by the pool timeout."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from app.store.database import DatabaseUnavailableError, _Line


async def test_a_caller_that_just_released_waits_behind_those_already_waiting() -> None:
    """The unfairness of the pools' own queues: a task that releases a connection and asks again at
    once took it back before the woken waiter ran. Under load some requests lost that race repeatedly."""
    line = _Line("main", 1, timeout=1.0)
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


async def test_a_full_line_gives_up_at_the_pool_timeout_and_counts_it() -> None:
    line = _Line("reads", 1, timeout=0.05)
    before = REGISTRY.get_sample_value("db_client_connections_timeouts_total", {"pool_name": "reads"}) or 0
    await line.enter()
    assert line.full()
    with pytest.raises(DatabaseUnavailableError, match="no reads connection within the pool timeout"):
        await line.enter()
    after = REGISTRY.get_sample_value("db_client_connections_timeouts_total", {"pool_name": "reads"})
    assert after == before + 1
    line.leave()
    assert not line.full()
    await line.enter()  # the slot that timed out was not lost
