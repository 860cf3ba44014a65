"""Customer rows in Postgres."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.store.tables import customers


async def insert_customer(
    conn: AsyncConnection,
    *,
    customer_id: uuid.UUID,
    email: str,
    email_key: str,
    name: str,
    beta_group: bool,
) -> dict[str, Any] | None:
    """Insert a customer; None when the email key is taken (no exception round trip, no aborted txn)."""
    statement = (
        pg_insert(customers)
        .values(id=customer_id, email=email, email_key=email_key, name=name, beta_group=beta_group)
        .on_conflict_do_nothing(index_elements=[customers.c.email_key])
        .returning(*customers.c)
    )
    row = (await conn.execute(statement)).mappings().first()
    return dict(row) if row else None


async def get_customer(conn: AsyncConnection, customer_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(select(customers).where(customers.c.id == customer_id))).mappings().first()
    return dict(row) if row else None
