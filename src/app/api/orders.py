"""`/v1/orders`: place an order (idempotently), read one, cancel one.

Order bodies are built once, as JSON bytes, by the domain, so these routes return them as they are
instead of parsing and re-serialising them.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from starlette.responses import Response

from app.api.dependencies import OrdersDep, require_json
from app.api.problems import IDEMPOTENCY_KEY_REUSED, TRANSITION_NOT_ALLOWED
from app.api.schemas import OrderIn, OrderOut, problem_responses
from app.domain.checkout import LineItem

router = APIRouter(prefix="/orders", tags=["orders"])
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Makes a retried POST return the first result instead of placing a second order.",
    ),
]


_ORDER_CREATED: dict[int | str, dict[str, Any]] = {
    201: {"model": OrderOut, "description": "Created or replayed"}
}
_ORDER: dict[int | str, dict[str, Any]] = {200: {"model": OrderOut, "description": "The order"}}


def _json(document: bytes, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(document, status_code=status, media_type="application/json", headers=headers)


@router.post(
    "",
    status_code=201,
    response_model=None,
    dependencies=[Depends(require_json)],
    responses=_ORDER_CREATED | problem_responses(400, 401, 413, 415, 422, IDEMPOTENCY_KEY_REUSED, 503),
)
async def place_order(body: OrderIn, orders: OrdersDep, idempotency_key: IdempotencyKey = None) -> Response:
    items = [LineItem(item.sku, item.quantity, item.unit_price_cents) for item in body.items]
    placed = await orders.place(body.customer_id, items, idempotency_key)
    headers = {"Idempotent-Replayed": "true"} if placed.replayed else None
    return _json(placed.document, 201, headers)


@router.get(
    "/{order_id}",
    response_model=None,
    responses=_ORDER | problem_responses(401, 404, 422, 503),
)
async def get_order(order_id: uuid.UUID, orders: OrdersDep) -> Response:
    return _json(await orders.get_document(order_id), 200)


@router.post(
    "/{order_id}/cancel",
    response_model=None,
    responses=_ORDER | problem_responses(401, 404, TRANSITION_NOT_ALLOWED, 422, 503),
)
async def cancel_order(order_id: uuid.UUID, orders: OrdersDep) -> Response:
    """Cancel a placed order; cancelling a cancelled one answers the same (docs/api.md)."""
    return _json(await orders.cancel(order_id), 200)
