"""`/v1/customers`: sign up, look up, and list a customer's orders.

As in `/v1/orders`, the domain builds each body once, as JSON bytes, and the routes return them as
they are; `CustomerOut` documents the body in the OpenAPI document."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from app.api.dependencies import CustomersDep, OrdersDep, require_json
from app.api.problems import ALREADY_EXISTS
from app.api.schemas import CustomerIn, CustomerOut, OrderPage, problem_responses
from app.domain.orders import CURSOR_PATTERN, MAX_PAGE

router = APIRouter(prefix="/customers", tags=["customers"])


_CREATED: dict[int | str, dict[str, Any]] = {201: {"model": CustomerOut, "description": "Signed up"}}
_CUSTOMER: dict[int | str, dict[str, Any]] = {200: {"model": CustomerOut, "description": "The customer"}}


@router.post(
    "",
    status_code=201,
    response_model=None,
    dependencies=[Depends(require_json)],
    responses=_CREATED | problem_responses(400, 401, ALREADY_EXISTS, 413, 415, 422, 503),
)
async def sign_up(body: CustomerIn, customers: CustomersDep) -> Response:
    customer = await customers.sign_up(email=body.email, name=body.name, beta_group=body.beta_group)
    headers = {"Location": f"/v1/customers/{customer.id}"}
    return Response(customer.document(), status_code=201, media_type="application/json", headers=headers)


@router.get(
    "/{customer_id}", response_model=None, responses=_CUSTOMER | problem_responses(401, 404, 422, 503)
)
async def get_customer(customer_id: uuid.UUID, customers: CustomersDep) -> Response:
    customer = await customers.get(customer_id)
    return Response(customer.document(), media_type="application/json")


_PAGE: dict[int | str, dict[str, Any]] = {200: {"model": OrderPage, "description": "A page of orders"}}


@router.get(
    "/{customer_id}/orders",
    response_model=None,
    responses=_PAGE | problem_responses(401, 404, 422, 503),
)
async def list_orders(
    customer_id: uuid.UUID,
    orders: OrdersDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Orders on the page.")] = 20,
    after: Annotated[
        str | None, Query(pattern=CURSOR_PATTERN, description="The `next` of the page before, as it came.")
    ] = None,
) -> Response:
    """The customer's orders, newest first, a page at a time (docs/api.md)."""
    document = await orders.list_document(customer_id, limit=limit, after=after)
    return Response(document, media_type="application/json")
