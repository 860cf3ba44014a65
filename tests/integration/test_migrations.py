"""`python -m app migrate`: on an empty database, twice (the second run is a no-op), with the database
settings only (no API_KEYS); migration 0002's email keys over existing customers; migration 0003's
status on a live table (no rewrite, a bounded lock wait)."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Callable

import asyncpg
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.migrations.runner import alembic_config
from tests.integration.server import run_app


async def _tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row["tablename"] for row in rows}
    finally:
        await conn.close()


def _run(command: str, dsn: str) -> subprocess.CompletedProcess[str]:
    """`python -m app <command>` with the database settings only: no API_KEYS."""
    return run_app(command, {"PATH": "/usr/bin:/bin", "DATABASE_URL": dsn})


def test_migrate_creates_the_schema_and_is_repeatable(empty_database: str) -> None:
    for _ in range(2):
        result = _run("migrate", empty_database)
        assert result.returncode == 0, result.stdout + result.stderr
    assert {"alembic_version", "customers", "orders"} <= asyncio.run(_tables(empty_database))


def test_serve_still_requires_api_keys(empty_database: str) -> None:
    result = _run("serve", empty_database)
    assert result.returncode == 2
    assert result.stderr.strip() == "invalid setting API_KEYS: Field required"


async def _on_connection(dsn: str, action: Callable[[Connection], object]) -> None:
    """Run `action` on a connection outside any transaction, as the runner does (a revision's
    transactions are Alembic's own)."""
    engine = create_async_engine(dsn.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(action)
    finally:
        await engine.dispose()


def _migrate(direction: Callable[[Config, str], None], revision: str) -> Callable[[Connection], None]:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        direction(config, revision)

    return run


async def _upgrade_to(dsn: str, revision: str) -> None:
    await _on_connection(dsn, _migrate(command.upgrade, revision))


async def _sql(dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
        return rows
    finally:
        await conn.close()


def _customer(dsn: str, email: str) -> str:
    rows = asyncio.run(
        _sql(
            dsn,
            "INSERT INTO customers (id, email, name) VALUES ($1, $2, 'x') RETURNING id",
            uuid.uuid4(),
            email,
        )
    )
    return str(rows[0]["id"])


def test_the_email_key_migration_refuses_existing_collisions_then_fills_keys(empty_database: str) -> None:
    dsn = empty_database
    asyncio.run(_upgrade_to(dsn, "0001"))
    older, newer = _customer(dsn, "strasse@example.com"), _customer(dsn, "straße@example.com")
    alone = _customer(dsn, "ΣΑΣ@example.com")

    refused = _run("migrate", dsn)
    assert refused.returncode != 0
    assert f"{older}, {newer}" in refused.stderr  # the colliding customers, oldest first
    assert alone not in refused.stderr
    columns = asyncio.run(
        _sql(dsn, "SELECT column_name FROM information_schema.columns WHERE table_name = 'customers'")
    )
    assert "email_key" not in {row["column_name"] for row in columns}  # nothing was changed

    asyncio.run(_sql(dsn, "DELETE FROM customers WHERE id = $1", uuid.UUID(newer)))
    result = _run("migrate", dsn)
    assert result.returncode == 0, result.stdout + result.stderr
    keys = asyncio.run(_sql(dsn, "SELECT id::text, email_key FROM customers"))
    assert {row["id"]: row["email_key"] for row in keys} == {
        older: "strasse@example.com",
        alone: "\u03c3\u03b1\u03c3@example.com",
    }


def _order(dsn: str, customer_id: str) -> None:
    asyncio.run(
        _sql(
            dsn,
            "INSERT INTO orders (id, customer_id, checkout_flow, total_cents, items)"
            " VALUES ($1, $2, 'legacy', 100, '[]')",
            uuid.uuid4(),
            uuid.UUID(customer_id),
        )
    )


_ORDERS_STORAGE = "SELECT relfilenode FROM pg_class WHERE relname = 'orders'"


def test_the_status_migration_keeps_orders_rewrites_nothing_and_goes_down_again(empty_database: str) -> None:
    dsn = empty_database
    asyncio.run(_upgrade_to(dsn, "0001"))
    customer = _customer(dsn, "ann@example.com")
    for _ in range(3):
        _order(dsn, customer)
    asyncio.run(_upgrade_to(dsn, "0002"))
    storage = asyncio.run(_sql(dsn, _ORDERS_STORAGE))

    result = _run("migrate", dsn)
    assert result.returncode == 0, result.stdout + result.stderr
    assert asyncio.run(_sql(dsn, _ORDERS_STORAGE)) == storage  # the same file: no table rewrite
    statuses = asyncio.run(_sql(dsn, "SELECT status FROM orders"))
    assert [row["status"] for row in statuses] == ["placed"] * 3
    constraint = asyncio.run(
        _sql(dsn, "SELECT convalidated FROM pg_constraint WHERE conname = 'ck_orders_status'")
    )
    assert constraint[0]["convalidated"] is True
    index = asyncio.run(
        _sql(
            dsn,
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_orders_customer_id_created_at'::regclass",
        )
    )
    assert index[0]["indisvalid"] is True
    with pytest.raises(asyncpg.CheckViolationError):
        asyncio.run(_sql(dsn, "UPDATE orders SET status = 'lost'"))

    asyncio.run(_on_connection(dsn, _migrate(command.downgrade, "0002")))
    columns = asyncio.run(
        _sql(dsn, "SELECT column_name FROM information_schema.columns WHERE table_name = 'orders'")
    )
    assert "status" not in {row["column_name"] for row in columns}
    assert _run("migrate", dsn).returncode == 0


async def _migrate_while_a_transaction_holds_orders(dsn: str) -> subprocess.CompletedProcess[str]:
    holder = await asyncpg.connect(dsn)
    try:
        async with holder.transaction():
            await holder.execute("LOCK TABLE orders IN ROW EXCLUSIVE MODE")  # what any open write holds
            return await asyncio.to_thread(_run, "migrate", dsn)
    finally:
        await holder.close()


def test_the_status_migration_gives_up_on_a_busy_table_instead_of_queueing_traffic(
    empty_database: str,
) -> None:
    """A long transaction on `orders` would make the migration's brief exclusive lock wait, and every
    request queue behind it: the migration waits at most its lock_timeout, fails, and changes nothing."""
    dsn = empty_database
    asyncio.run(_upgrade_to(dsn, "0002"))
    result = asyncio.run(_migrate_while_a_transaction_holds_orders(dsn))
    assert result.returncode != 0
    assert "lock timeout" in result.stderr
    version = asyncio.run(_sql(dsn, "SELECT version_num FROM alembic_version"))
    assert version[0]["version_num"] == "0002"
    assert _run("migrate", dsn).returncode == 0  # once the transaction is gone, it goes through
