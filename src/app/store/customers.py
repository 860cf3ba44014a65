"""Customer rows: each query a SQLAlchemy statement compiled once, run on the pool (`app.store.postgres`)."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert

from app.store.postgres import Postgres, Row, compile_query
from app.store.tables import customers

_INSERT = compile_query(
    insert(customers)
    .values({name: bindparam(name) for name in ("id", "email", "email_key", "name", "beta_group")})
    .on_conflict_do_nothing(index_elements=[customers.c.email_key])
    .returning(*customers.c)
)
_BY_ID = compile_query(select(customers).where(customers.c.id == bindparam("id")))


async def insert_customer(
    db: Postgres, *, customer_id: uuid.UUID, email: str, email_key: str, name: str, beta_group: bool
) -> Row | None:
    """The new customer; None when the email key is taken (one statement: no exception, no transaction)."""
    return await db.fetchrow(
        _INSERT, id=customer_id, email=email, email_key=email_key, name=name, beta_group=beta_group
    )


async def read_customer(db: Postgres, customer_id: uuid.UUID) -> Row | None:
    return await db.fetchrow(_BY_ID, id=customer_id)
