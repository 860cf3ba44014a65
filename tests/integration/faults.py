"""Fault injection for the fault tests: stop and start the machine's Postgres and Redis, pause Redis,
read the server's Prometheus metrics, and wait for a condition.

Every fault is a context manager that undoes itself whatever happens inside it, so a failing test never
leaves the rest of the session without its databases. Loopback only: these drive the local services
through `scripts/services.sh`, the same script CI uses to start them.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from tests.conftest import API_KEY, REDIS_URL

SERVICES = Path(__file__).resolve().parents[2] / "scripts" / "services.sh"
PROBLEM_JSON = "application/problem+json"
ITEMS = [{"sku": "A-1", "quantity": 2, "unit_price_cents": 1000}]


async def wait_for(check: Callable[[], Awaitable[bool]], within: float) -> float:
    """Poll until `check()` is true; returns when (monotonic), fails after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return time.monotonic()
        await asyncio.sleep(0.05)
    pytest.fail(f"condition not met within {within} s")


def services(action: str) -> None:
    """`scripts/services.sh <action>`: start-postgres, stop-postgres, start-redis, stop-redis, ensure."""
    result = subprocess.run([str(SERVICES), action], capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 0, f"scripts/services.sh {action} failed:\n{result.stdout}{result.stderr}"


@asynccontextmanager
async def postgres_stopped() -> AsyncIterator[None]:
    """Postgres is down inside the block (fast shutdown cuts open sessions) and up again after it.

    The scripts run in a thread, so the test's own traffic keeps flowing while Postgres stops.
    """
    try:
        await asyncio.to_thread(services, "stop-postgres")
        yield
    finally:
        await asyncio.to_thread(services, "start-postgres")


@asynccontextmanager
async def redis_stopped() -> AsyncIterator[None]:
    """Redis is down inside the block and up again (empty: it keeps no data) after it."""
    try:
        await asyncio.to_thread(services, "stop-redis")
        yield
    finally:
        await asyncio.to_thread(services, "start-redis")


@asynccontextmanager
async def redis_paused(milliseconds: int) -> AsyncIterator[None]:
    """Redis accepts connections but answers no command for `milliseconds`.

    `CLIENT PAUSE ... ALL` rather than `DEBUG SLEEP`: Redis 7 disables DEBUG by default
    (`enable-debug-command no`). The pause holds every connection, the pausing one's `CLIENT UNPAUSE`
    included, so leaving the block waits for the pause to end: its socket timeout outlasts the pause.
    """
    client = Redis.from_url(REDIS_URL, socket_timeout=milliseconds / 1000 + 5)
    try:
        await client.client_pause(milliseconds, all=True)
        yield
    finally:
        await client.client_unpause()
        await client.aclose()


async def metric(metrics_url: str, sample: str, **labels: str) -> float:
    """The sum of a sample's values (e.g. `db_client_connections_timeouts_total`) matching `labels`."""
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(metrics_url)).text
    return sum(
        found.value
        for family in text_string_to_metric_families(text)
        for found in family.samples
        if found.name == sample and labels.items() <= found.labels.items()
    )


def api(url: str, timeout: float = 10.0) -> httpx.AsyncClient:
    """A client for the API with a valid key; `timeout` bounds every call, so a hang fails the test."""
    return httpx.AsyncClient(base_url=url, headers={"X-API-Key": API_KEY}, timeout=timeout)


async def new_customer(client: httpx.AsyncClient) -> str:
    email = f"fault-{uuid.uuid4().hex[:12]}@example.com"
    response = await client.post("/v1/customers", json={"email": email, "name": "Fault"})
    assert response.status_code == 201, response.text
    customer_id: str = response.json()["id"]
    return customer_id


async def new_order(client: httpx.AsyncClient, customer_id: str, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await client.post("/v1/orders", json={"customer_id": customer_id, "items": ITEMS}, headers=headers)


def assert_problem(response: httpx.Response, status: int) -> None:
    """An RFC 9457 problem with the given status (and Retry-After on a 503)."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"] == PROBLEM_JSON, response.headers
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "request_id"} <= body.keys()
    if status == 503:
        assert response.headers.get("retry-after", "").isdigit(), "a 503 must say when to retry"


async def orders_by_key(database_url: str, keys: list[str]) -> dict[str, list[str]]:
    """Order ids in the database for each Idempotency-Key."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT idempotency_key, id FROM orders WHERE idempotency_key = ANY($1::text[])", keys
        )
    finally:
        await conn.close()
    found: dict[str, list[str]] = {key: [] for key in keys}
    for row in rows:
        found[row["idempotency_key"]].append(str(row["id"]))
    return found
