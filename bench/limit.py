"""The same-work limit: the app's data routes on bare FastAPI with one asyncpg pool, and nothing else.

Each route validates its request with the app's own models and header bounds and runs the app's own
SQL text (`app.store.customers`, `app.store.orders`), on a pool configured as the app's, and answers
the same body (a list page's cursor made and read by the app's own functions). Left out: telemetry,
the API key, security headers, problem documents (an error is FastAPI's default) and the idempotency
records in Redis. Without those records a retried Idempotency-Key is answered from Postgres: the
order by its key first, then, for a new key, the customer and the insert (a concurrent duplicate
answers with the order under the key).

    python bench/serve.py limit      # DATABASE_URL, DB_POOL_SIZE, DB_STATEMENT_TIMEOUT as the app reads them
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
import orjson
from fastapi import FastAPI, Header, HTTPException, Query, Request
from starlette.responses import Response

from app.api.schemas import CustomerIn, CustomerOut, OrderIn
from app.domain.customers import email_key
from app.domain.orders import CURSOR_PATTERN, MAX_PAGE, page_cursor, read_cursor
from app.settings import Settings
from app.store import customers, orders

IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")
]


async def _no_reset(_: asyncpg.Connection) -> None:
    return None


async def _json_codec(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads
    )


def limit_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(
            settings.database_url.get_secret_value().replace("postgresql+asyncpg://", "postgresql://", 1),
            min_size=0,
            max_size=settings.db_pool_size,
            command_timeout=settings.db_statement_timeout,
            server_settings={"statement_timeout": str(int(settings.db_statement_timeout * 1000))},
            init=_json_codec,
            reset=_no_reset,
            max_inactive_connection_lifetime=0,
        )
        yield
        await app.state.pool.close()

    app = FastAPI(lifespan=lifespan, redirect_slashes=False)

    @app.post("/v1/customers", status_code=201, response_model=CustomerOut)
    async def sign_up(body: CustomerIn, request: Request) -> Any:
        row = await request.app.state.pool.fetchrow(
            customers._INSERT.sql,
            uuid.uuid4(), body.email.lower(), email_key(body.email), body.name, body.beta_group,
        )  # fmt: skip
        if row is None:
            raise HTTPException(409)
        return dict(row)

    @app.get("/v1/customers/{customer_id}", response_model=CustomerOut)
    async def get_customer(customer_id: uuid.UUID, request: Request) -> Any:
        row = await request.app.state.pool.fetchrow(customers._BY_ID.sql, customer_id)
        if row is None:
            raise HTTPException(404)
        return dict(row)

    @app.post("/v1/orders", status_code=201)
    async def place_order(
        body: OrderIn, request: Request, idempotency_key: IdempotencyKey = None
    ) -> Response:
        pool = request.app.state.pool
        if idempotency_key is not None:
            row = await pool.fetchrow(orders._BY_IDEMPOTENCY_KEY.sql, idempotency_key)
            if row is not None:
                return _order(row)
        if await pool.fetchrow(customers._BY_ID.sql, body.customer_id) is None:
            raise HTTPException(422)
        items = [item.model_dump() for item in body.items]
        total = sum(item.quantity * item.unit_price_cents for item in body.items)
        fingerprint = hashlib.sha256(orjson.dumps(items)).hexdigest() if idempotency_key else None
        row = await pool.fetchrow(
            orders._INSERT.sql,
            uuid.uuid4(), body.customer_id, "legacy", total, items, idempotency_key, fingerprint,
        )  # fmt: skip
        if row is None:
            row = await pool.fetchrow(orders._BY_IDEMPOTENCY_KEY.sql, idempotency_key)
        return _order(row)

    @app.get("/v1/orders/{order_id}")
    async def get_order(order_id: uuid.UUID, request: Request) -> Response:
        row = await request.app.state.pool.fetchrow(orders._BY_ID.sql, order_id)
        if row is None:
            raise HTTPException(404)
        return _order(row, status=200)

    _add_list_and_cancel(app)
    return app


def _add_list_and_cancel(app: FastAPI) -> None:
    """A customer's orders, a page at a time, and the cancel: the same statements as the app's."""

    @app.get("/v1/customers/{customer_id}/orders")
    async def list_orders(
        customer_id: uuid.UUID,
        request: Request,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
        after: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
    ) -> Response:
        pool = request.app.state.pool
        values: dict[str, object] = {"customer_id": customer_id, "limit": limit + 1}
        query = orders._FIRST_PAGE
        if after is not None:
            created_at, order_id = read_cursor(after)
            values |= {"created_at": created_at, "id": order_id}
            query = orders._PAGE_AFTER
        rows = await pool.fetch(query.sql, *query.args(values))
        if not rows and await pool.fetchrow(customers._BY_ID.sql, customer_id) is None:
            raise HTTPException(404)
        page = rows[:limit]
        body = {
            "items": [orjson.Fragment(_document(row)) for row in page],
            "next": page_cursor(page[-1]) if len(rows) > limit else None,
        }
        return Response(orjson.dumps(body), media_type="application/json")

    @app.post("/v1/orders/{order_id}/cancel")
    async def cancel_order(order_id: uuid.UUID, request: Request) -> Response:
        pool = request.app.state.pool
        change = {"id": order_id, "from_status": "placed", "to_status": "cancelled"}
        row = await pool.fetchrow(orders._CHANGE_STATUS.sql, *orders._CHANGE_STATUS.args(change))
        if row is None:
            row = await pool.fetchrow(orders._BY_ID.sql, order_id)
            if row is None:
                raise HTTPException(404)
            if row["status"] != "cancelled":
                raise HTTPException(409)
        return _order(row, status=200)


def _document(row: asyncpg.Record) -> bytes:
    return orjson.dumps(
        {
            "id": str(row["id"]),
            "customer_id": str(row["customer_id"]),
            "checkout_flow": row["checkout_flow"],
            "items": row["items"],
            "total_cents": row["total_cents"],
            "created_at": row["created_at"],
            "status": row["status"],
        }
    )


def _order(row: asyncpg.Record, status: int = 201) -> Response:
    return Response(_document(row), status_code=status, media_type="application/json")
