"""Order rows in Postgres."""

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


# The hot read, in plain SQL for the driver (Database.fetchrow); the columns are the table's.
_ORDER_BY_ID = f"SELECT {', '.join(orders.c.keys())} FROM orders WHERE id = $1"  # noqa: S608


async def get_order(db: Database, order_id: uuid.UUID) -> dict[str, Any] | None:
    row = await db.fetchrow(_ORDER_BY_ID, order_id)
    return dict(row) if row else None


async def get_order_by_idempotency_key(conn: AsyncConnection, key: str) -> dict[str, Any] | None:
    statement = select(orders).where(orders.c.idempotency_key == key)
    row = (await conn.execute(statement)).mappings().first()
    return dict(row) if row else None
