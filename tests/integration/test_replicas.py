"""Reads stay true across replicas: two `python -m app serve` processes on one database, as two tasks
behind a load balancer. What one changes, the other serves at once: no process keeps orders."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import API_KEY
from tests.integration.server import ServerProcess, server_env


def test_a_cancel_through_one_replica_is_read_through_the_other_at_once(
    database_url: str, redis_prefix: str
) -> None:
    # Each server_env has ports of its own: two processes, one database, one Redis.
    with (
        ServerProcess(server_env(database_url, redis_prefix)) as one,
        ServerProcess(server_env(database_url, redis_prefix)) as other,
    ):
        clients = [
            httpx.Client(base_url=server.url, headers={"X-API-Key": API_KEY}) for server in (one, other)
        ]
        via_one, via_other = clients
        try:
            email = f"r-{uuid.uuid4().hex[:10]}@example.com"
            customer = via_one.post("/v1/customers", json={"email": email, "name": "R"}).json()
            items = [{"sku": "A-1", "quantity": 1, "unit_price_cents": 100}]
            order = via_one.post("/v1/orders", json={"customer_id": customer["id"], "items": items}).json()
            path = f"/v1/orders/{order['id']}"
            listed = f"/v1/customers/{customer['id']}/orders"
            for _ in range(3):  # whatever a replica might keep from reading it, it has read it now
                assert via_other.get(path).json()["status"] == "placed"
                assert via_other.get(listed).json()["items"][0]["status"] == "placed"

            cancelled = via_one.post(f"{path}/cancel")
            assert cancelled.json()["status"] == "cancelled"

            assert via_other.get(path).content == cancelled.content
            assert via_other.get(listed).json()["items"] == [cancelled.json()]
            again = via_other.post(f"{path}/cancel")  # and a retry through the other answers the same
            assert (again.status_code, again.content) == (200, cancelled.content)
        finally:
            for client in clients:
                client.close()
