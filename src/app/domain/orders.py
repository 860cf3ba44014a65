"""Orders: place one (idempotently, through the flagged checkout flow) and read one (cached in-process).

Reads: an order never changes once placed, so its JSON is cached in the process (bounded in entries
and time) and no replica can serve a stale one. Redis is not on the read path: a Redis round trip
costs more CPU than the primary-key read it would save (docs/adr/0008-order-cache.md).

Idempotency: Postgres is the source of truth (a unique key on the order row), Redis only remembers
recent keys to answer retries without a query. A lost or flushed Redis therefore costs a query, never
a duplicate order.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from app.domain.checkout import FLOWS, LineItem, total_cents
from app.domain.customers import Customer
from app.domain.errors import IdempotencyKeyReusedError, NotFoundError, UnprocessableError
from app.flags import FlagProvider, checkout_flow
from app.observability import metrics
from app.store import customers as customer_rows
from app.store import orders as order_rows
from app.store.idempotency import IdempotencyStore
from app.store.postgres import Postgres


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
        order_cache: MutableMapping[uuid.UUID, bytes] | None,
        idempotency_ttl: int,
    ) -> None:
        self.db = db
        self.idempotency = idempotency  # Redis: recent Idempotency-Keys and their results
        self.flags = flags
        self.order_cache = order_cache  # in-process order JSON by id; None when CACHE_TTL=0
        self.idempotency_ttl = idempotency_ttl

    async def place(
        self, customer_id: uuid.UUID, items: Sequence[LineItem], idempotency_key: str | None
    ) -> PlacedOrder:
        fingerprint = _fingerprint(customer_id, items)
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
        shaped = FLOWS[flow](items)
        row = await order_rows.insert_order(
            self.db,
            order_id=uuid.uuid4(),
            customer_id=customer_id,
            checkout_flow=flow.value,
            total_cents=total_cents(shaped),
            items=[_item_json(item) for item in shaped],
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint if idempotency_key else None,
        )
        if row is None:
            # Only an Idempotency-Key conflicts: its order exists, placed by an earlier attempt whose
            # Redis record is gone, or by a concurrent one that committed before this insert returned.
            assert idempotency_key is not None
            replayed = await self._replay_stored(idempotency_key, fingerprint)
            assert replayed is not None  # the conflict guarantees the row exists and is committed
            return replayed

        document = _document(row)
        metrics.ORDERS_PLACED.labels(checkout_flow=flow.value).inc()
        metrics.ORDERS_VALUE.labels(checkout_flow=flow.value).inc(row["total_cents"])
        if idempotency_key is not None:
            await self._remember(idempotency_key, fingerprint, document)
        return PlacedOrder(document, replayed=False)

    async def get_document(self, order_id: uuid.UUID) -> bytes:
        """The order's JSON, from this process's cache, else from Postgres (then cached)."""
        if self.order_cache is not None:
            document = self.order_cache.get(order_id)
            if document is not None:
                _CACHE_HIT.inc()
                return document
            _CACHE_MISS.inc()
        row = await order_rows.read_order(self.db, order_id)
        if row is None:
            raise NotFoundError("order not found")  # not cached: an order may be placed with this id
        document = _document(row)
        if self.order_cache is not None:
            self.order_cache[order_id] = document
        return document

    async def _replay_stored(self, key: str, fingerprint: str) -> PlacedOrder | None:
        """The order Postgres holds under this key, as a replay (and remembered in Redis again)."""
        row = await order_rows.read_order_by_idempotency_key(self.db, key)
        if row is None:
            return None
        if row["request_fingerprint"] != fingerprint:
            raise _reused()
        document = _document(row)
        await self._remember(key, fingerprint, document)
        return PlacedOrder(document, replayed=True)

    async def _remember(self, key: str, fingerprint: str, document: bytes) -> None:
        record = orjson.dumps({"fingerprint": fingerprint, "document": document.decode()})
        await self.idempotency.set(_idempotency_key(key), record, self.idempotency_ttl)


_CACHE_HIT = metrics.ORDER_CACHE_LOOKUPS.labels(result="hit")
_CACHE_MISS = metrics.ORDER_CACHE_LOOKUPS.labels(result="miss")


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


def _document(row: Mapping[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "id": str(row["id"]),
            "customer_id": str(row["customer_id"]),
            "checkout_flow": row["checkout_flow"],
            "items": row["items"],
            "total_cents": row["total_cents"],
            "created_at": row["created_at"],
        }
    )
