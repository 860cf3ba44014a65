"""Customer rows in Postgres: written and read in a transaction with SQLAlchemy, read alone on the
read pool (the rule: `app.store.database`)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.store.database import Database
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
    """The customer, inside the caller's transaction."""
    row = (await conn.execute(select(customers).where(customers.c.id == customer_id))).mappings().first()
    return dict(row) if row else None


# Plain SQL for the driver (Database.fetchrow); the columns are the table's.
_CUSTOMER_BY_ID = f"SELECT {', '.join(customers.c.keys())} FROM customers WHERE id = $1"  # noqa: S608


async def read_customer(db: Database, customer_id: uuid.UUID) -> dict[str, Any] | None:
    """The customer, on its own (no transaction)."""
    row = await db.fetchrow(_CUSTOMER_BY_ID, customer_id)
    return dict(row) if row else None
