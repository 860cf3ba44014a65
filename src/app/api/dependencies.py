"""Dependencies shared by the routers: services from app state, JSON-only bodies."""

from __future__ import annotations

from fastapi import Request
from starlette.exceptions import HTTPException

from app.domain.customers import CustomerService
from app.domain.orders import OrderService


# async on purpose: FastAPI runs a plain `def` dependency in its threadpool, a thread hop per request.
async def customers(request: Request) -> CustomerService:
    service: CustomerService = request.app.state.customers
    return service


async def orders(request: Request) -> OrderService:
    service: OrderService = request.app.state.orders
    return service


async def require_json(request: Request) -> None:
    """415 for a body that is not JSON, before FastAPI tries to parse it."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise HTTPException(415, "the request body must be application/json")
