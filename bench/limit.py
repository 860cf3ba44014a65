"""The same-work limit: the app's data routes on bare FastAPI with one asyncpg pool, and nothing else.

Each route validates its request with the app's own models and header bounds and runs the app's own
SQL text (`app.store.customers`, `app.store.orders`), on a pool configured as the app's, and answers
the same body. Left out: telemetry, the API key, security headers, problem documents (an error is
FastAPI's default), the order cache and the idempotency records in Redis. Without those records a
retried Idempotency-Key is answered from Postgres: the order by its key first, then, for a new key,
the customer and the insert (a concurrent duplicate answers with the order under the key).

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
from fastapi import FastAPI, Header, HTTPException, Request
from starlette.responses import Response

from app.api.schemas import CustomerIn, CustomerOut, OrderIn
from app.domain.customers import email_key
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

    return app


def _order(row: asyncpg.Record, status: int = 201) -> Response:
    document = orjson.dumps(
        {
            "id": str(row["id"]),
            "customer_id": str(row["customer_id"]),
            "checkout_flow": row["checkout_flow"],
            "items": row["items"],
            "total_cents": row["total_cents"],
            "created_at": row["created_at"],
        }
    )
    return Response(document, status_code=status, media_type="application/json")
