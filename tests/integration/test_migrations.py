"""`python -m app migrate` on an empty database, twice (the second run is a no-op)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import asyncpg

from tests.conftest import ADMIN_DSN, API_KEY


async def _tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row["tablename"] for row in rows}
    finally:
        await conn.close()


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def test_migrate_creates_the_schema_and_is_repeatable() -> None:
    name = f"app_migrate_{uuid.uuid4().hex[:8]}"
    dsn = ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": dsn, "API_KEYS": API_KEY}
        for _ in range(2):
            result = subprocess.run(
                [sys.executable, "-m", "app", "migrate"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert result.returncode == 0, result.stdout + result.stderr
        assert {"alembic_version", "customers", "orders"} <= asyncio.run(_tables(dsn))
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
