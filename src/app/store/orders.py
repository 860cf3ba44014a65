"""Order rows: each query a SQLAlchemy statement compiled once, run on the pool (`app.store.postgres`)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert

from app.store.postgres import Postgres, Row, compile_query
from app.store.tables import orders

_WRITTEN = (
    "id",
    "customer_id",
    "checkout_flow",
    "total_cents",
    "items",
    "idempotency_key",
    "request_fingerprint",
)
_INSERT = compile_query(
    insert(orders)
    .values({name: bindparam(name) for name in _WRITTEN})
    .on_conflict_do_nothing(index_elements=[orders.c.idempotency_key])
    .returning(*orders.c)
)
_BY_ID = compile_query(select(orders).where(orders.c.id == bindparam("id")))
_BY_IDEMPOTENCY_KEY = compile_query(select(orders).where(orders.c.idempotency_key == bindparam("key")))


async def insert_order(
    db: Postgres,
    *,
    order_id: uuid.UUID,
    customer_id: uuid.UUID,
    checkout_flow: str,
    total_cents: int,
    items: list[dict[str, Any]],
    idempotency_key: str | None,
    request_fingerprint: str | None,
) -> Row | None:
    """The new order; None when its idempotency key is taken (a retry, or a concurrent one, came
    first). The customer must exist: the foreign key refuses the row otherwise."""
    return await db.fetchrow(
        _INSERT,
        id=order_id,
        customer_id=customer_id,
        checkout_flow=checkout_flow,
        total_cents=total_cents,
        items=items,
        idempotency_key=idempotency_key,
        request_fingerprint=request_fingerprint,
    )


async def read_order(db: Postgres, order_id: uuid.UUID) -> Row | None:
    return await db.fetchrow(_BY_ID, id=order_id)


async def read_order_by_idempotency_key(db: Postgres, key: str) -> Row | None:
    return await db.fetchrow(_BY_IDEMPOTENCY_KEY, key=key)
