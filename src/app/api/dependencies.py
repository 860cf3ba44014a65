"""What the routers share: the services on app state, and the JSON-only body check.

Services are read from `request.app.state` by plain functions, not injected with `Depends`: FastAPI
resolves every dependency on every request, and on the order read that resolution cost ~8 % of the
request's instructions (bench/README.md). Tests need no override: they build the app with real
services.
"""

from __future__ import annotations

from fastapi import Request
from starlette.exceptions import HTTPException

from app.domain.customers import CustomerService
from app.domain.orders import OrderService


def customers(request: Request) -> CustomerService:
    service: CustomerService = request.app.state.customers
    return service


def orders(request: Request) -> OrderService:
    service: OrderService = request.app.state.orders
    return service


# async on purpose: FastAPI runs a plain `def` dependency in its threadpool, a thread hop per request.
async def require_json(request: Request) -> None:
    """415 for a body that is not JSON, before FastAPI tries to parse it."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise HTTPException(415, "the request body must be application/json")
