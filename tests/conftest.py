"""Session fixtures: a database of its own and a Redis key prefix of its own for every test run.

Tests talk to the real Postgres and Redis (no mocks). `TEST_DATABASE_URL` is an admin DSN used only
to create and drop the per-run database; `TEST_REDIS_URL` is the Redis to use. Nothing touches dev data,
and nothing reads the developer's `.env`: settings are built with `_env_file=None` (`make_settings`),
and `python -m app` runs in APP_CWD, an empty directory, because the app reads `.env` from its working
directory (tests/integration/test_dotenv.py proves both with a hostile `.env`).
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from app.migrations.runner import upgrade_head
from app.settings import Settings

ADMIN_DSN = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
API_KEY = "test-key-0123456789abcdef"
OLD_API_KEY = "old-key-0123456789abcdef"
RUN_ID = uuid.uuid4().hex[:10]
# The working directory of every `python -m app` the tests start: empty, so no `.env` is found there.
_APP_CWD = tempfile.TemporaryDirectory(prefix=f"app-cwd-{RUN_ID}-")
APP_CWD = Path(_APP_CWD.name)

# Set by docker-compose.yml's `tests` service. Tests marked below need the host itself and skip there.
IN_CONTAINER = os.environ.get("TEST_IN_CONTAINER") == "1"
HOST_ONLY = {
    "faults": "it stops and starts the host's own Postgres and Redis (scripts/services.sh)",
    "prometheus": "it runs a prometheus binary, which the dev image does not carry",
    "git": "it copies the project with git, which the dev image does not carry",
}


# Under CI every test runs; on a laptop a test that needs what the machine lacks skips, saying what.
IN_CI = os.environ.get("CI") == "true"


@functools.cache
def _can_be_root() -> bool:
    """Root, or passwordless sudo: what a private mount namespace needs (test_readonly_run.py)."""
    if os.geteuid() == 0:
        return True
    sudo = shutil.which("sudo")
    return (
        sudo is not None
        and subprocess.run([sudo, "-n", "true"], capture_output=True, check=False).returncode == 0
    )


def _lacking(item: pytest.Item) -> str | None:
    if item.get_closest_marker("prometheus") and shutil.which("prometheus") is None:
        return (
            "the prometheus binary is not installed (Debian: `make tools`, scripts/install-tools.sh --system)"
        )
    if item.get_closest_marker("root") and not _can_be_root():
        return "it needs root or passwordless sudo for a private mount namespace"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        host_only = [reason for marker, reason in HOST_ONLY.items() if item.get_closest_marker(marker)]
        if IN_CONTAINER and host_only:
            item.add_marker(
                pytest.mark.skip(reason=f"host only: {host_only[0]}; run it outside the container")
            )
        elif not IN_CI and (lacking := _lacking(item)):
            item.add_marker(pytest.mark.skip(reason=f"not on this machine: {lacking}; CI runs it"))


def _with_database(dsn: str, name: str) -> str:
    return dsn.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A freshly migrated database for this test run, dropped at the end."""
    name = f"app_test_{RUN_ID}"

    async def create() -> None:
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()

    async def drop() -> None:
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(create())
    url = _with_database(ADMIN_DSN, name)
    try:
        asyncio.run(upgrade_head(make_settings(database_url=url)))
        yield url
    finally:
        asyncio.run(drop())


@pytest.fixture(scope="session")
def redis_prefix() -> Iterator[str]:
    """A key prefix for this run; its keys are deleted at the end."""
    prefix = f"test:{RUN_ID}:"
    yield prefix

    async def clean() -> None:
        client = Redis.from_url(REDIS_URL)
        try:
            keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()

    asyncio.run(clean())


def make_settings(**overrides: Any) -> Settings:
    """Settings for tests: explicit values only, never the developer's .env file."""
    values: dict[str, Any] = {
        "app_env": "test",
        "database_url": _with_database(ADMIN_DSN, f"app_test_{RUN_ID}"),
        "redis_url": REDIS_URL,
        "api_keys": f"{API_KEY},{OLD_API_KEY}",
        "redis_key_prefix": f"test:{RUN_ID}:",
        "health_cache_seconds": 0,
        "drain_seconds": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(database_url: str, redis_prefix: str) -> Settings:
    return make_settings(database_url=database_url, redis_key_prefix=redis_prefix)


@pytest.fixture
async def redis_client() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()
