"""POST/GET /v1/orders: totals, checkout flags, idempotency and reads, on real Postgres and Redis."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from tests.integration.conftest import ClientFactory

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: Redis is "down"
ITEMS = [
    {"sku": "B-2", "quantity": 1, "unit_price_cents": 250},
    {"sku": "A-1", "quantity": 2, "unit_price_cents": 1000},
    {"sku": "A-1", "quantity": 1, "unit_price_cents": 1000},
]


async def _customer(client: httpx.AsyncClient, *, beta: bool = False) -> str:
    email = f"c-{uuid.uuid4().hex[:10]}@example.com"
    response = await client.post("/v1/customers", json={"email": email, "name": "C", "beta_group": beta})
    assert response.status_code == 201
    customer_id: str = response.json()["id"]
    return customer_id


async def _order(client: httpx.AsyncClient, customer_id: str, **headers: str) -> httpx.Response:
    return await client.post("/v1/orders", json={"customer_id": customer_id, "items": ITEMS}, headers=headers)


async def _orders_in_db(database_url: str, customer_id: str) -> list[Any]:
    conn = await asyncpg.connect(database_url)
    try:
        rows: list[Any] = await conn.fetch(
            "SELECT * FROM orders WHERE customer_id = $1", uuid.UUID(customer_id)
        )
        return rows
    finally:
        await conn.close()


async def test_the_server_computes_the_total(client: httpx.AsyncClient) -> None:
    response = await _order(client, await _customer(client))
    assert response.status_code == 201
    assert response.json()["total_cents"] == 250 + 2 * 1000 + 1000


@pytest.mark.parametrize(
    ("rollout", "beta", "flow"),
    [
        ("false", True, "legacy"),
        ("true", False, "new"),
        ("beta", True, "new"),
        ("beta", False, "legacy"),
    ],
)
async def test_the_flag_chooses_the_checkout_flow(
    make_client: ClientFactory, rollout: str, beta: bool, flow: str
) -> None:
    client = await make_client(ff_new_checkout=rollout)
    body = (await _order(client, await _customer(client, beta=beta))).json()
    assert body["checkout_flow"] == flow
    if flow == "new":  # merged by SKU and price, sorted by SKU
        assert body["items"] == [
            {"sku": "A-1", "quantity": 3, "unit_price_cents": 1000},
            {"sku": "B-2", "quantity": 1, "unit_price_cents": 250},
        ]
    else:  # as submitted
        assert body["items"] == ITEMS


async def test_a_retried_post_places_exactly_one_order(client: httpx.AsyncClient, database_url: str) -> None:
    customer_id = await _customer(client)
    key = f"key-{uuid.uuid4()}"
    first = await _order(client, customer_id, **{"Idempotency-Key": key})
    retry = await _order(client, customer_id, **{"Idempotency-Key": key})
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(await _orders_in_db(database_url, customer_id)) == 1


async def test_concurrent_retries_place_exactly_one_order(
    client: httpx.AsyncClient, database_url: str
) -> None:
    customer_id = await _customer(client)
    key = f"key-{uuid.uuid4()}"
    responses = await asyncio.gather(
        *(_order(client, customer_id, **{"Idempotency-Key": key}) for _ in range(8))
    )
    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["id"] for response in responses}) == 1
    assert len(await _orders_in_db(database_url, customer_id)) == 1


async def test_a_reused_key_with_another_body_is_rejected(client: httpx.AsyncClient) -> None:
    customer_id = await _customer(client)
    key = f"key-{uuid.uuid4()}"
    assert (await _order(client, customer_id, **{"Idempotency-Key": key})).status_code == 201
    other = await client.post(
        "/v1/orders",
        json={"customer_id": customer_id, "items": [{"sku": "X", "quantity": 1, "unit_price_cents": 1}]},
        headers={"Idempotency-Key": key},
    )
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["detail"]


async def test_a_lost_redis_never_causes_a_duplicate(
    client: httpx.AsyncClient, redis_client: Redis, redis_prefix: str, database_url: str
) -> None:
    customer_id = await _customer(client)
    key = f"key-{uuid.uuid4()}"
    first = await _order(client, customer_id, **{"Idempotency-Key": key})
    # Redis forgets everything this run stored: the database still knows the key.
    keys = [k async for k in redis_client.scan_iter(match=redis_prefix + "*")]
    await redis_client.delete(*keys)
    retry = await _order(client, customer_id, **{"Idempotency-Key": key})
    assert retry.json()["id"] == first.json()["id"]
    assert len(await _orders_in_db(database_url, customer_id)) == 1


async def test_idempotent_writes_stay_correct_with_redis_down(
    make_client: ClientFactory, database_url: str
) -> None:
    client = await make_client(redis_url=DEAD_REDIS)
    customer_id = await _customer(client)
    key = f"key-{uuid.uuid4()}"
    first = await _order(client, customer_id, **{"Idempotency-Key": key})
    retry = await _order(client, customer_id, **{"Idempotency-Key": key})
    assert first.status_code == retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    assert len(await _orders_in_db(database_url, customer_id)) == 1


async def _delete_order(database_url: str, order_id: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("DELETE FROM orders WHERE id = $1", uuid.UUID(order_id))
    finally:
        await conn.close()


async def test_order_reads_come_from_postgres_every_time_never_from_redis(
    client: httpx.AsyncClient, redis_client: Redis, redis_prefix: str, database_url: str
) -> None:
    order = (await _order(client, await _customer(client))).json()
    first = await client.get(f"/v1/orders/{order['id']}")
    assert first.status_code == 200
    assert first.json() == order
    assert [k async for k in redis_client.scan_iter(match=f"{redis_prefix}order:*")] == []
    # Nothing kept in the process either: the row gone from Postgres is gone from the API at once.
    await _delete_order(database_url, order["id"])
    assert (await client.get(f"/v1/orders/{order['id']}")).status_code == 404


async def test_order_reads_fall_back_to_postgres_with_redis_down(make_client: ClientFactory) -> None:
    client = await make_client(redis_url=DEAD_REDIS)
    order = (await _order(client, await _customer(client))).json()
    for _ in range(2):
        response = await client.get(f"/v1/orders/{order['id']}")
        assert response.status_code == 200
        assert response.json() == order


async def test_unknown_order_and_unknown_customer(client: httpx.AsyncClient) -> None:
    missing = await client.get(f"/v1/orders/{uuid.uuid4()}")
    assert missing.status_code == 404
    response = await _order(client, str(uuid.uuid4()))
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/body/customer_id"


@pytest.mark.parametrize(
    ("items", "pointer"),
    [
        ([{"sku": "A", "quantity": -1, "unit_price_cents": 1}], "#/body/items/0/quantity"),
        ([{"sku": "A", "quantity": 1, "unit_price_cents": 10**30}], "#/body/items/0/unit_price_cents"),
        ([{"sku": "A", "quantity": 1, "unit_price_cents": 1}] * 101, "#/body/items"),
        ([], "#/body/items"),
        ([{"sku": "bad sku!", "quantity": 1, "unit_price_cents": 1}], "#/body/items/0/sku"),
    ],
)
async def test_absurd_orders_are_422(client: httpx.AsyncClient, items: list[Any], pointer: str) -> None:
    response = await client.post("/v1/orders", json={"customer_id": str(uuid.uuid4()), "items": items})
    assert response.status_code == 422
    assert pointer in {error["pointer"] for error in response.json()["errors"]}


async def test_a_hostile_idempotency_key_is_422_and_not_echoed(client: httpx.AsyncClient) -> None:
    hostile = "x" * 300
    response = await _order(client, str(uuid.uuid4()), **{"Idempotency-Key": hostile})
    assert response.status_code == 422
    assert hostile not in response.text
