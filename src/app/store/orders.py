"""Order rows: each query a SQLAlchemy statement compiled once, run on the pool (`app.store.postgres`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, tuple_, update
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
# A customer's orders, newest first: a keyset page, served by ix_orders_customer_id_created_at. The
# next page starts strictly after the last (created_at, id) seen, so no offset is ever skipped over.
_NEWEST_OF_CUSTOMER = (
    select(orders)
    .where(orders.c.customer_id == bindparam("customer_id"))
    .order_by(orders.c.created_at.desc(), orders.c.id.desc())
    .limit(bindparam("limit"))
)
_FIRST_PAGE = compile_query(_NEWEST_OF_CUSTOMER)
_PAGE_AFTER = compile_query(
    _NEWEST_OF_CUSTOMER.where(
        tuple_(orders.c.created_at, orders.c.id)
        < tuple_(
            bindparam("created_at", type_=orders.c.created_at.type), bindparam("id", type_=orders.c.id.type)
        )
    )
)
_CHANGE_STATUS = compile_query(
    update(orders)
    .where(orders.c.id == bindparam("id"), orders.c.status == bindparam("from_status"))
    .values(status=bindparam("to_status"))
    .returning(*orders.c)
)


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


async def read_customer_orders(
    db: Postgres, customer_id: uuid.UUID, *, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> list[Row]:
    """Up to `limit` of the customer's orders, newest first; with `after` (an order's created_at and
    id), those older than it."""
    if after is None:
        return await db.fetch(_FIRST_PAGE, customer_id=customer_id, limit=limit)
    created_at, order_id = after
    return await db.fetch(
        _PAGE_AFTER, customer_id=customer_id, limit=limit, created_at=created_at, id=order_id
    )


async def change_status(db: Postgres, order_id: uuid.UUID, *, from_status: str, to_status: str) -> Row | None:
    """The order, changed to `to_status`; None when no order with this id is in `from_status`. One
    conditional statement: of concurrent changes, exactly one finds the order in `from_status`."""
    return await db.fetchrow(_CHANGE_STATUS, id=order_id, from_status=from_status, to_status=to_status)
