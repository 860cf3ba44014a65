"""Orders: place one (idempotently, through the flagged checkout flow), read one, list a customer's,
cancel one.

Reads come from Postgres every time, on every replica: an order's status changes, so a copy kept in
a process would go stale on every other one (docs/adr/0008-order-cache.md has the measurements).

Status changes follow `TRANSITIONS`: each is one conditional UPDATE (`WHERE status = <from>`), so
concurrent requests cannot both make it, and nothing reads the order first to decide.

Idempotency: Postgres is the source of truth (a unique key on the order row), Redis only remembers
recent keys to answer retries without a query. A lost or flushed Redis therefore costs a query, never
a duplicate order. A replay answers with the first response, the order as placed, whatever happened
to the order since.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson

from app.domain.checkout import FLOWS, LineItem, total_cents
from app.domain.customers import Customer
from app.domain.errors import (
    IdempotencyKeyReusedError,
    NotFoundError,
    TransitionNotAllowedError,
    UnprocessableError,
)
from app.flags import CheckoutFlow, FlagProvider, checkout_flow
from app.observability import metrics
from app.store import customers as customer_rows
from app.store import orders as order_rows
from app.store.idempotency import IdempotencyStore
from app.store.postgres import Postgres, Row


class OrderStatus(StrEnum):
    PLACED = "placed"
    CANCELLED = "cancelled"


# action -> (the status it leaves, the status it makes). An order in any other status answers 409:
# one a newer release adds (say `shipped`) is never cancelled by a replica that does not know it.
TRANSITIONS = {"cancel": (OrderStatus.PLACED, OrderStatus.CANCELLED)}
MAX_PAGE = 100  # orders on one page of a customer's list, at most


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    document: bytes  # the order as JSON, exactly as the API returns it
    replayed: bool  # True when an Idempotency-Key retry returned the first result


class OrderService:
    def __init__(
        self,
        db: Postgres,
        idempotency: IdempotencyStore,
        flags: FlagProvider,
        *,
        idempotency_ttl: int,
    ) -> None:
        self.db = db
        self.idempotency = idempotency  # Redis: recent Idempotency-Keys and their results
        self.flags = flags
        self.idempotency_ttl = idempotency_ttl

    async def place(
        self, customer_id: uuid.UUID, items: Sequence[LineItem], idempotency_key: str | None
    ) -> PlacedOrder:
        # What a retry must repeat: only a keyed request is ever compared.
        fingerprint = _fingerprint(customer_id, items) if idempotency_key is not None else ""
        if idempotency_key is not None:
            recorded = await self.idempotency.get(_idempotency_key(idempotency_key))
            if recorded is not None:
                return _from_record(recorded, fingerprint)

        # Two statements, no transaction: the customer's row for the flag, then the order, whose
        # foreign key holds even if the two interleave with other writes (customers are never deleted).
        customer_row = await customer_rows.read_customer(self.db, customer_id)
        if customer_row is None:
            # A key already used answers as it did, whatever is wrong with this body.
            replayed = (
                None if idempotency_key is None else await self._replay_stored(idempotency_key, fingerprint)
            )
            if replayed is not None:
                return replayed
            raise UnprocessableError("customer not found", location=("body", "customer_id"))
        flow = checkout_flow(self.flags, Customer.from_row(customer_row))
        row = await self._insert(customer_id, flow, items, idempotency_key, fingerprint)
        if row is None:
            # Only an Idempotency-Key conflicts: its order exists, placed by an earlier attempt whose
            # Redis record is gone, or by a concurrent one that committed before this insert returned.
            assert idempotency_key is not None
            replayed = await self._replay_stored(idempotency_key, fingerprint)
            assert replayed is not None  # the conflict guarantees the row exists and is committed
            return replayed
        return await self._placed(row, flow, idempotency_key, fingerprint)

    async def _insert(
        self,
        customer_id: uuid.UUID,
        flow: CheckoutFlow,
        items: Sequence[LineItem],
        idempotency_key: str | None,
        fingerprint: str,
    ) -> Row | None:
        """The order as its checkout flow shapes it; None when its Idempotency-Key is taken."""
        shaped = FLOWS[flow](items)
        return await order_rows.insert_order(
            self.db,
            order_id=uuid.uuid4(),
            customer_id=customer_id,
            checkout_flow=flow.value,
            total_cents=total_cents(shaped),
            items=[_item_json(item) for item in shaped],
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint if idempotency_key else None,
        )

    async def _placed(
        self, row: Row, flow: CheckoutFlow, idempotency_key: str | None, fingerprint: str
    ) -> PlacedOrder:
        """A new order: counted, and remembered under its Idempotency-Key for the retries."""
        document = _document(row)
        metrics.ORDERS_PLACED.labels(checkout_flow=flow.value).inc()
        metrics.ORDERS_VALUE.labels(checkout_flow=flow.value).inc(row["total_cents"])
        if idempotency_key is not None:
            await self._remember(idempotency_key, fingerprint, document)
        return PlacedOrder(document, replayed=False)

    async def get_document(self, order_id: uuid.UUID) -> bytes:
        """The order's JSON, as Postgres has it now."""
        row = await order_rows.read_order(self.db, order_id)
        if row is None:
            raise NotFoundError("order not found")
        return _document(row)

    async def list_document(self, customer_id: uuid.UUID, *, limit: int, after: str | None) -> bytes:
        """A page of the customer's orders, newest first, as `{"items": [...], "next": cursor | null}`.

        One more row than the page is read: its presence is what says there is a next page. An empty
        page costs a second read, to tell a customer with no orders from no customer at all.
        """
        position = None if after is None else read_cursor(after)
        rows = await order_rows.read_customer_orders(self.db, customer_id, limit=limit + 1, after=position)
        if not rows and await customer_rows.read_customer(self.db, customer_id) is None:
            raise NotFoundError("customer not found")
        page = rows[:limit]
        cursor = page_cursor(page[-1]) if len(rows) > limit else None
        return orjson.dumps({"items": [orjson.Fragment(_document(row)) for row in page], "next": cursor})

    async def cancel(self, order_id: uuid.UUID) -> bytes:
        """The order, cancelled. Cancelling a cancelled order changes nothing and answers the same."""
        from_status, to_status = TRANSITIONS["cancel"]
        row = await order_rows.change_status(self.db, order_id, from_status=from_status, to_status=to_status)
        if row is None:  # not placed: already cancelled, in a status a cancel may not leave, or absent
            row = await order_rows.read_order(self.db, order_id)
            if row is None:
                raise NotFoundError("order not found")
            if row["status"] != to_status:
                raise TransitionNotAllowedError(f"an order that is {row['status']} cannot be cancelled")
        return _document(row)

    async def _replay_stored(self, key: str, fingerprint: str) -> PlacedOrder | None:
        """The order Postgres holds under this key, as a replay (and remembered in Redis again)."""
        row = await order_rows.read_order_by_idempotency_key(self.db, key)
        if row is None:
            return None
        if row["request_fingerprint"] != fingerprint:
            raise _reused()
        document = _document(row, status=OrderStatus.PLACED)  # the first response, as it was sent
        await self._remember(key, fingerprint, document)
        return PlacedOrder(document, replayed=True)

    async def _remember(self, key: str, fingerprint: str, document: bytes) -> None:
        record = orjson.dumps({"fingerprint": fingerprint, "document": document.decode()})
        await self.idempotency.set(_idempotency_key(key), record, self.idempotency_ttl)


def _reused() -> IdempotencyKeyReusedError:
    return IdempotencyKeyReusedError("this Idempotency-Key was already used with a different request")


def _from_record(recorded: bytes, fingerprint: str) -> PlacedOrder:
    record = orjson.loads(recorded)
    if record["fingerprint"] != fingerprint:
        raise _reused()
    return PlacedOrder(record["document"].encode(), replayed=True)


def _idempotency_key(key: str) -> str:
    # Hash the caller's key: bounded length, and no caller bytes inside our key space.
    return "idem:" + hashlib.sha256(key.encode()).hexdigest()


def _fingerprint(customer_id: uuid.UUID, items: Sequence[LineItem]) -> str:
    payload = orjson.dumps({"customer_id": customer_id, "items": [_item_json(item) for item in items]})
    return hashlib.sha256(payload).hexdigest()


def _item_json(item: LineItem) -> dict[str, Any]:
    return {"sku": item.sku, "quantity": item.quantity, "unit_price_cents": item.unit_price_cents}


def _document(row: Mapping[str, Any], *, status: str | None = None) -> bytes:
    """The order as the API returns it; `status` overrides the row's (a replay's first response)."""
    return orjson.dumps(
        {
            "id": str(row["id"]),
            "customer_id": str(row["customer_id"]),
            "checkout_flow": row["checkout_flow"],
            "items": row["items"],
            "total_cents": row["total_cents"],
            "created_at": row["created_at"],
            "status": status or row["status"],
        }
    )


# A cursor is the last order's (created_at, id): 7 bytes of microseconds since the epoch (any value is
# a time, up to the year 4253) and the UUID's 16, base64url without padding. Opaque to clients, and
# every string of CURSOR_PATTERN is a position, so the OpenAPI document describes exactly the cursors
# that are accepted; anything else is refused before it reaches the database.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{30}[AEIMQUYcgkosw048]$"  # 23 bytes: the last character's low bits 0
_TIME_BYTES = 7
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def page_cursor(row: Mapping[str, Any]) -> str:
    micros = (row["created_at"] - _EPOCH) // _MICROSECOND
    packed = micros.to_bytes(_TIME_BYTES, "big") + row["id"].bytes
    return base64.urlsafe_b64encode(packed).decode().rstrip("=")


def read_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        packed = base64.b64decode(cursor + "=", altchars=b"-_", validate=True)
        if len(packed) != _TIME_BYTES + 16:
            raise ValueError(len(packed))
        micros = int.from_bytes(packed[:_TIME_BYTES], "big")
        return _EPOCH + micros * _MICROSECOND, uuid.UUID(bytes=packed[_TIME_BYTES:])
    except (binascii.Error, ValueError) as error:  # a str with a non-ASCII character is a ValueError
        raise UnprocessableError(
            "not a cursor this service made: pass `next` back as it came", location=("query", "after")
        ) from error
