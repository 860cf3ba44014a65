"""A customer's orders, a page at a time, and cancelling an order: the contract in docs/api.md, on real
Postgres and Redis."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from app.api import problems
from app.migrations.runner import upgrade_head
from app.store import orders as order_rows
from tests.conftest import ADMIN_DSN, make_settings
from tests.integration.conftest import ClientFactory

ITEMS = [{"sku": "A-1", "quantity": 1, "unit_price_cents": 100}]


async def _customer(client: httpx.AsyncClient) -> str:
    email = f"c-{uuid.uuid4().hex[:10]}@example.com"
    response = await client.post("/v1/customers", json={"email": email, "name": "C"})
    assert response.status_code == 201
    customer_id: str = response.json()["id"]
    return customer_id


async def _order(client: httpx.AsyncClient, customer_id: str, **headers: str) -> dict[str, Any]:
    response = await client.post(
        "/v1/orders", json={"customer_id": customer_id, "items": ITEMS}, headers=headers
    )
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    return body


async def _sql(dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
        return rows
    finally:
        await conn.close()


async def _script(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _pointers(response: httpx.Response) -> list[str]:
    return [error["pointer"] for error in response.json()["errors"]]


@pytest.fixture
async def own_database() -> AsyncIterator[str]:
    """A migrated database of this test's own, for what the shared one must not see (a trigger, a
    status the schema does not allow)."""
    name = f"app_cancel_{uuid.uuid4().hex[:8]}"
    await _sql(ADMIN_DSN, f'CREATE DATABASE "{name}"')
    dsn = ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    try:
        await upgrade_head(make_settings(database_url=dsn))
        yield dsn
    finally:
        await _sql(ADMIN_DSN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the list --------------------------------------------------------------------------------------


async def test_pages_go_newest_first_and_cover_every_order_once(client: httpx.AsyncClient) -> None:
    customer_id = await _customer(client)
    placed = [(await _order(client, customer_id))["id"] for _ in range(5)]
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params = {"limit": "2"} | ({"after": after} if after else {})
        response = await client.get(f"/v1/customers/{customer_id}/orders", params=params)
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"items", "next"}
        assert len(body["items"]) <= 2
        seen += [order["id"] for order in body["items"]]
        pages += 1
        if pages == 1:  # an order placed meanwhile shifts nothing: it is newer than every page
            await _order(client, customer_id)
        after = body["next"]
        if after is None:
            break
    assert seen == placed[::-1]
    assert pages == 3


async def test_the_default_page_is_20_and_an_order_is_the_order_document(client: httpx.AsyncClient) -> None:
    customer_id = await _customer(client)
    orders = [await _order(client, customer_id) for _ in range(21)]
    body = (await client.get(f"/v1/customers/{customer_id}/orders")).json()
    assert len(body["items"]) == 20
    assert body["items"][0] == orders[-1]
    last = (await client.get(f"/v1/customers/{customer_id}/orders", params={"after": body["next"]})).json()
    assert last == {"items": [orders[0]], "next": None}


async def test_no_orders_is_an_empty_page_and_no_customer_a_404(client: httpx.AsyncClient) -> None:
    customer_id = await _customer(client)
    empty = await client.get(f"/v1/customers/{customer_id}/orders")
    assert (empty.status_code, empty.json()) == (200, {"items": [], "next": None})
    missing = await client.get(f"/v1/customers/{uuid.uuid4()}/orders")
    assert missing.status_code == 404
    assert missing.json()["type"] == problems.NOT_FOUND.uri


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "2.5"])
async def test_a_bad_limit_is_a_422_pointing_at_the_parameter(client: httpx.AsyncClient, limit: str) -> None:
    customer_id = await _customer(client)
    response = await client.get(f"/v1/customers/{customer_id}/orders", params={"limit": limit})
    assert response.status_code == 422
    assert response.json()["type"] == problems.VALIDATION.uri
    assert _pointers(response) == ["#/query/limit"]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "!!!!",
        _b64(b"\x00" * 23),  # a position, but padded: not as the service hands it out
        "A" * 30 + "B",  # bits past the last byte
        "A" * 32,  # a byte too many
        "é" * 31,
        "x" * 65,
    ],
)
async def test_a_cursor_we_did_not_make_is_a_422_pointing_at_the_parameter(
    client: httpx.AsyncClient, cursor: str
) -> None:
    customer_id = await _customer(client)
    response = await client.get(f"/v1/customers/{customer_id}/orders", params={"after": cursor})
    assert response.status_code == 422
    assert response.json()["type"] == problems.VALIDATION.uri
    assert _pointers(response) == ["#/query/after"]


async def _plan(dsn: str, sql: str, *args: object) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        plan: dict[str, Any] = json.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args))[0]
        return plan
    finally:
        await conn.close()


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


_BULK = """
INSERT INTO customers (id, email, email_key, name)
  SELECT gen_random_uuid(), n || '@bulk.example', n || '@bulk.example', 'bulk' FROM generate_series(1, 100) n;
INSERT INTO orders (id, customer_id, checkout_flow, total_cents, items)
  SELECT gen_random_uuid(), c.id, 'legacy', 1, '[]' FROM customers c, generate_series(1, 200);
ANALYZE orders;
"""


async def test_an_index_serves_the_list_in_its_order(make_client: ClientFactory, own_database: str) -> None:
    """Customers of 200 orders each, every customer's placed in one transaction (one `created_at`,
    so only the id orders them): each page is read from the index, already in the list's order (no
    sort), no further than the page, and the pages hold every order once."""
    await _script(own_database, _BULK)
    (customer,) = await _sql(own_database, "SELECT id FROM customers LIMIT $1", 1)
    newest = await _sql(
        own_database,
        "SELECT created_at, id FROM orders WHERE customer_id = $1 ORDER BY created_at DESC, id DESC LIMIT 20",
        customer["id"],
    )
    cases = [
        (order_rows._FIRST_PAGE, {"customer_id": customer["id"], "limit": 21}),
        (
            order_rows._PAGE_AFTER,
            {"customer_id": customer["id"], "limit": 21, "created_at": newest[-1][0], "id": newest[-1][1]},
        ),
    ]
    for query, values in cases:
        plan = (await _plan(own_database, query.sql, *query.args(values)))["Plan"]
        nodes = _nodes(plan)
        assert plan["Node Type"] == "Limit"
        assert [node.get("Index Name") for node in nodes[1:]] == ["ix_orders_customer_id_created_at"]
        assert (nodes[1]["Node Type"], nodes[1]["Scan Direction"]) == ("Index Scan", "Backward")

    client = await make_client(database_url=own_database)
    seen: list[str] = []
    after: str | None = None
    while True:
        params = {"limit": "100"} | ({"after": after} if after else {})
        body = (await client.get(f"/v1/customers/{customer['id']}/orders", params=params)).json()
        seen += [order["id"] for order in body["items"]]
        if (after := body["next"]) is None:
            break
    assert len(seen) == len(set(seen)) == 200
    assert seen[:20] == [str(row["id"]) for row in newest]


# --- the cancel ------------------------------------------------------------------------------------


async def test_a_cancel_answers_the_cancelled_order_and_a_second_one_the_same(
    client: httpx.AsyncClient,
) -> None:
    order = await _order(client, await _customer(client))
    assert order["status"] == "placed"
    first = await client.post(f"/v1/orders/{order['id']}/cancel")
    assert first.status_code == 200
    assert first.json() == order | {"status": "cancelled"}
    again = await client.post(f"/v1/orders/{order['id']}/cancel")
    assert (again.status_code, again.content) == (200, first.content)
    assert (await client.get(f"/v1/orders/{order['id']}")).content == first.content


async def test_cancelling_an_unknown_order_is_a_404(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/v1/orders/{uuid.uuid4()}/cancel")
    assert response.status_code == 404
    assert response.json()["type"] == problems.NOT_FOUND.uri


_COUNT_STATUS_CHANGES = """
CREATE TABLE status_changes (order_id uuid, from_status text, to_status text);
CREATE FUNCTION record_status_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO status_changes VALUES (NEW.id, OLD.status, NEW.status);
  RETURN NEW;
END $$;
CREATE TRIGGER record_status_change AFTER UPDATE ON orders
  FOR EACH ROW EXECUTE FUNCTION record_status_change();
"""


async def test_of_concurrent_cancels_exactly_one_changes_the_order_and_all_answer_200(
    make_client: ClientFactory, own_database: str
) -> None:
    client = await make_client(database_url=own_database)
    await _script(own_database, _COUNT_STATUS_CHANGES)
    order = await _order(client, await _customer(client))
    responses = await asyncio.gather(*(client.post(f"/v1/orders/{order['id']}/cancel") for _ in range(20)))
    assert {response.status_code for response in responses} == {200}
    assert len({response.content for response in responses}) == 1
    assert responses[0].json()["status"] == "cancelled"
    changes = await _sql(own_database, "SELECT from_status, to_status FROM status_changes")
    assert [tuple(change) for change in changes] == [("placed", "cancelled")]


async def test_a_status_a_cancel_may_not_leave_is_a_409_and_the_order_stays(
    make_client: ClientFactory, own_database: str
) -> None:
    """A newer release may write a status this one does not know (say `shipped`): a cancel here must
    not undo it."""
    client = await make_client(database_url=own_database)
    order = await _order(client, await _customer(client))
    await _sql(own_database, "ALTER TABLE orders DROP CONSTRAINT ck_orders_status")
    await _sql(own_database, "UPDATE orders SET status = 'shipped' WHERE id = $1", uuid.UUID(order["id"]))
    response = await client.post(f"/v1/orders/{order['id']}/cancel")
    assert response.status_code == 409
    assert response.json()["type"] == problems.TRANSITION_NOT_ALLOWED.uri
    assert response.json()["title"] == "Transition Not Allowed"
    assert (await client.get(f"/v1/orders/{order['id']}")).json()["status"] == "shipped"


async def test_an_idempotent_replay_returns_the_first_response_even_after_a_cancel(
    client: httpx.AsyncClient, redis_client: Redis, redis_prefix: str
) -> None:
    """The IETF Idempotency-Key draft: a retry gets the first response, from Redis's record or,
    once that is gone, rebuilt from Postgres."""
    customer_id = await _customer(client)
    key = f"key-{uuid.uuid4()}"
    first = await _order(client, customer_id, **{"Idempotency-Key": key})
    assert (await client.post(f"/v1/orders/{first['id']}/cancel")).status_code == 200
    for forget in (False, True):
        if forget:
            await redis_client.delete(*[k async for k in redis_client.scan_iter(match=redis_prefix + "*")])
        replay = await client.post(
            "/v1/orders", json={"customer_id": customer_id, "items": ITEMS}, headers={"Idempotency-Key": key}
        )
        assert (replay.status_code, replay.headers["idempotent-replayed"]) == (201, "true")
        assert replay.json() == first
    assert (await client.get(f"/v1/orders/{first['id']}")).json()["status"] == "cancelled"
