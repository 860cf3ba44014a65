"""In-process clients: the real app (as served, with its middleware) over httpx, real backends; and
an empty database for the tests that migrate one themselves."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.main import as_served, create_app
from app.observability.tracing import Tracing
from tests.conftest import ADMIN_DSN, API_KEY, make_settings

ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def make_client(database_url: str, redis_prefix: str) -> AsyncIterator[ClientFactory]:
    """Build a client for an app with settings overrides, e.g. `await make_client(ff_new_checkout="beta")`;
    `tracing=Tracing(provider)` traces every request."""
    async with AsyncExitStack() as stack:

        async def factory(*, tracing: Tracing | None = None, **overrides: Any) -> httpx.AsyncClient:
            values = {"database_url": database_url, "redis_key_prefix": redis_prefix} | overrides
            settings = make_settings(**values)
            app: FastAPI = create_app(settings, tracing)
            await stack.enter_async_context(LifespanManager(app))
            transport = httpx.ASGITransport(app=as_served(app))
            client = httpx.AsyncClient(
                transport=transport, base_url="http://test", headers={"X-API-Key": API_KEY}
            )
            client.app = app  # type: ignore[attr-defined]  # tests reach app.state through it
            return await stack.enter_async_context(client)

        yield factory


@pytest.fixture
async def client(make_client: ClientFactory) -> httpx.AsyncClient:
    return await make_client()


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A database of the test's own with nothing in it (no migration run), dropped afterwards."""
    name = f"app_empty_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
