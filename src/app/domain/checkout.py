"""The two checkout flows behind the `new_checkout` flag.

Both price the same basket identically; they differ in how they shape it. The legacy flow records the
lines exactly as submitted; the new flow merges lines of the same SKU and price and orders them by SKU,
which is what downstream fulfilment wants. The order records which flow placed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.flags import CheckoutFlow


@dataclass(frozen=True, slots=True)
class LineItem:
    sku: str
    quantity: int
    unit_price_cents: int

    @property
    def subtotal_cents(self) -> int:
        return self.quantity * self.unit_price_cents


def legacy_checkout(items: Sequence[LineItem]) -> list[LineItem]:
    return list(items)


def new_checkout(items: Sequence[LineItem]) -> list[LineItem]:
    merged: dict[tuple[str, int], int] = {}
    for item in items:
        key = (item.sku, item.unit_price_cents)
        merged[key] = merged.get(key, 0) + item.quantity
    return [LineItem(sku, quantity, price) for (sku, price), quantity in sorted(merged.items())]


FLOWS = {CheckoutFlow.LEGACY: legacy_checkout, CheckoutFlow.NEW: new_checkout}


def total_cents(items: Sequence[LineItem]) -> int:
    return sum(item.subtotal_cents for item in items)
