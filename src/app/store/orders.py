"""Order rows in Postgres: written and read in a transaction with SQLAlchemy, read alone on the read
pool (the rule: `app.store.database`)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.store.database import Database
from app.store.tables import orders


async def insert_order(conn: AsyncConnection, values: dict[str, Any]) -> dict[str, Any] | None:
    """Insert an order; None when its idempotency key is already taken (a concurrent retry won)."""
    statement = (
        pg_insert(orders)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[orders.c.idempotency_key])
        .returning(*orders.c)
    )
    row = (await conn.execute(statement)).mappings().first()
    return dict(row) if row else None


async def get_order_by_idempotency_key(conn: AsyncConnection, key: str) -> dict[str, Any] | None:
    """The order placed with this key, inside the caller's transaction."""
    statement = select(orders).where(orders.c.idempotency_key == key)
    row = (await conn.execute(statement)).mappings().first()
    return dict(row) if row else None


# Plain SQL for the driver (Database.fetchrow); the columns are the table's.
_COLUMNS = ", ".join(orders.c.keys())
_ORDER_BY_ID = f"SELECT {_COLUMNS} FROM orders WHERE id = $1"  # noqa: S608
_ORDER_BY_IDEMPOTENCY_KEY = f"SELECT {_COLUMNS} FROM orders WHERE idempotency_key = $1"  # noqa: S608


async def read_order(db: Database, order_id: uuid.UUID) -> dict[str, Any] | None:
    """The order, on its own (no transaction)."""
    row = await db.fetchrow(_ORDER_BY_ID, order_id)
    return dict(row) if row else None


async def read_order_by_idempotency_key(db: Database, key: str) -> dict[str, Any] | None:
    """The order placed with this key, on its own (no transaction)."""
    row = await db.fetchrow(_ORDER_BY_IDEMPOTENCY_KEY, key)
    return dict(row) if row else None
