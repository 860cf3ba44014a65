"""POST/GET /v1/customers against the real Postgres."""

from __future__ import annotations

import uuid

import httpx


def _email() -> str:
    return f"ann-{uuid.uuid4().hex[:8]}@example.com"


async def test_sign_up_returns_the_customer_with_its_location(client: httpx.AsyncClient) -> None:
    email = _email()
    response = await client.post("/v1/customers", json={"email": email, "name": "Ann", "beta_group": True})
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == email
    assert body["beta_group"] is True
    assert response.headers["location"] == f"/v1/customers/{body['id']}"

    fetched = await client.get(response.headers["location"])
    assert fetched.status_code == 200
    assert fetched.json() == body


async def test_duplicate_email_is_a_conflict_whatever_the_case(client: httpx.AsyncClient) -> None:
    email = _email()
    first = await client.post("/v1/customers", json={"email": email, "name": "Ann"})
    assert first.status_code == 201
    again = await client.post("/v1/customers", json={"email": email.upper(), "name": "Other"})
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["status"] == 409


async def test_unknown_customer_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/customers/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "customer not found"


async def test_invalid_bodies_are_422_with_pointers(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/customers", json={"email": "not-an-email", "name": "", "extra": 1})
    assert response.status_code == 422
    pointers = {error["pointer"] for error in response.json()["errors"]}
    assert {"#/body/email", "#/body/name", "#/body/extra"} <= pointers


async def test_malformed_id_is_422_not_500(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/customers/not-a-uuid")
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/path/customer_id"
