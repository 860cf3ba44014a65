"""What the routers share: the services as FastAPI dependencies, and the JSON-only body check.

The services are built once, in the app's lifespan (`app.main`), and kept on `app.state`; routes
receive them only through these dependencies (`orders: OrdersDep`), so a test can swap one with
`app.dependency_overrides`. They are `async def` on purpose: FastAPI runs a plain `def` dependency
in its thread pool, a thread hop per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from app.domain.customers import CustomerService
from app.domain.orders import OrderService
from app.health_checks import HealthChecks
from app.settings import Settings


async def customer_service(request: Request) -> CustomerService:
    service: CustomerService = request.app.state.customers
    return service


async def order_service(request: Request) -> OrderService:
    service: OrderService = request.app.state.orders
    return service


async def health_checks(request: Request) -> HealthChecks:
    checks: HealthChecks = request.app.state.health
    return checks


async def settings(request: Request) -> Settings:
    value: Settings = request.app.state.settings
    return value


CustomersDep = Annotated[CustomerService, Depends(customer_service)]
OrdersDep = Annotated[OrderService, Depends(order_service)]
HealthDep = Annotated[HealthChecks, Depends(health_checks)]
SettingsDep = Annotated[Settings, Depends(settings)]


async def require_json(request: Request) -> None:
    """415 for a body that is not JSON (`application/json` or `application/*+json`), before FastAPI
    tries to parse it: FastAPI reads any `+json` type as JSON, and anything else fails validation.
    400 for JSON that is not UTF-8 (RFC 8259 §8.1), which Python's parser would read as well."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise HTTPException(415, "the request body must be application/json")
    if _utf16_or_32(await request.body()):  # read once: FastAPI keeps it for the route
        raise HTTPException(400, "the request body must be UTF-8")


def _utf16_or_32(body: bytes) -> bool:
    """JSON text starts with an ASCII character, which UTF-16 and UTF-32 write with a NUL byte beside
    it; or with their byte order mark. UTF-8 JSON has neither (a NUL in a string must be escaped)."""
    return b"\x00" in body[:4] or body.startswith((b"\xff\xfe", b"\xfe\xff"))
