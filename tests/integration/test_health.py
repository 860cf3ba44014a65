"""Health: liveness checks nothing, readiness probes Postgres and Redis concurrently, with a timeout,
a shared in-flight probe and a short cache; the full report in health+json."""

from __future__ import annotations

import asyncio

import httpx

from app.health_checks import HealthChecks, Phase
from tests.integration.conftest import ClientFactory

DEAD_POSTGRES = "postgresql://postgres@127.0.0.1:1/none"
DEAD_REDIS = "redis://127.0.0.1:1/0"


async def test_ready_passes_with_both_up(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/health+json"
    assert response.json()["status"] == "pass"


async def test_redis_down_is_warn_but_ready(make_client: ClientFactory) -> None:
    client = await make_client(redis_url=DEAD_REDIS)
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "warn"


async def test_postgres_down_is_503_fail_and_live_still_passes(make_client: ClientFactory) -> None:
    client = await make_client(database_url=DEAD_POSTGRES)
    ready = await client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["status"] == "fail"
    assert (await client.get("/health/live")).status_code == 200


async def test_full_report_keeps_the_source_fields_and_hides_internals(make_client: ClientFactory) -> None:
    client = await make_client(database_url=DEAD_POSTGRES, release_id="abc123", app_version="1.2.3")
    response = await client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "unhealthy"
    assert body["redis"] == "healthy"
    assert body["status"] == "fail"
    assert body["version"] == "1.2.3"
    assert body["releaseId"] == "abc123"
    assert isinstance(body["uptime"], float)
    assert "timestamp" in body
    assert body["checks"]["postgresql:responseTime"][0]["status"] == "fail"
    assert body["checks"]["redis:responseTime"][0]["observedUnit"] == "ms"
    assert "127.0.0.1:1" not in response.text
    assert "postgres@" not in response.text


async def test_starting_and_draining_are_503(client: httpx.AsyncClient) -> None:
    health: HealthChecks = client.app.state.health  # type: ignore[attr-defined]
    health.phase = Phase.STARTING
    assert (await client.get("/health/ready")).status_code == 503
    health.mark_draining()
    response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["phase"] == "draining"


async def test_a_hanging_dependency_is_cut_off_by_the_timeout_while_the_other_is_probed() -> None:
    """Each probe waits for the other to start, so probes run one after the other would both time
    out: a "warn" shows they ran at once, and that the hanging one was cut off."""
    started = {"postgresql": asyncio.Event(), "redis": asyncio.Event()}

    async def database() -> None:
        started["postgresql"].set()
        await started["redis"].wait()

    async def redis_hangs() -> None:
        started["redis"].set()
        await started["postgresql"].wait()
        await asyncio.Event().wait()  # never set

    health = HealthChecks(database=database, redis=redis_hangs, timeout=0.2, cache_seconds=0)
    health.mark_ready()
    async with asyncio.timeout(10):  # bounds a test that would hang, not a speed assertion
        assert await health.readiness() == "warn"  # Redis down degrades; it does not fail readiness


async def test_concurrent_pollers_share_one_probe_and_results_are_cached() -> None:
    calls = 0

    async def counted() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)

    health = HealthChecks(database=counted, redis=counted, timeout=0.5, cache_seconds=60)
    health.mark_ready()
    results = await asyncio.gather(*(health.readiness() for _ in range(100)))
    assert set(results) == {"pass"}
    assert calls == 2  # one Postgres probe and one Redis probe for a hundred callers
    await health.readiness()
    assert calls == 2  # and the next caller within the cache window reuses it
