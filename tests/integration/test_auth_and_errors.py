"""API keys, and problem+json for every error: routing errors, 413, 415 and unexpected exceptions."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import APIRouter

from app.api import customers, orders
from app.main import api_methods, create_app
from tests.conftest import OLD_API_KEY, make_settings
from tests.integration.conftest import ClientFactory


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong-key-0123456789"}, {"X-API-Key": ""}])
async def test_missing_or_wrong_key_is_the_same_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    client.headers.pop("X-API-Key")
    response = await client.get(f"/v1/customers/{uuid.uuid4()}", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "ApiKey"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "a valid X-API-Key header is required"


async def test_every_configured_key_works_so_keys_can_rotate(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/customers/{uuid.uuid4()}", headers={"X-API-Key": OLD_API_KEY})
    assert response.status_code == 404


async def test_a_path_under_v1_needs_a_key_before_it_can_be_a_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/no-such-thing")).status_code == 404
    refused = await client.get("/v1/no-such-thing", headers={"X-API-Key": ""})
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["x-content-type-options"] == "nosniff", "a 401 still gets the security headers"
    assert refused.headers["x-request-id"]


async def test_a_cors_preflight_needs_no_key(make_client: ClientFactory) -> None:
    client = await make_client(cors_origins="https://app.example")
    client.headers.pop("X-API-Key")
    preflight = await client.options(
        "/v1/orders",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"


async def test_health_needs_no_key(client: httpx.AsyncClient) -> None:
    client.headers.pop("X-API-Key")
    assert (await client.get("/health/live")).status_code == 200


def test_openapi_documents_the_key_on_every_api_operation_and_on_no_probe() -> None:
    document = create_app(make_settings()).openapi()
    scheme = document["components"]["securitySchemes"]["APIKeyHeader"]
    assert scheme == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "One of the keys in API_KEYS.",
    }
    for path, operations in document["paths"].items():
        for operation in operations.values():
            expected: list[dict[str, list[str]]] | None = (
                [{"APIKeyHeader": []}] if path.startswith("/v1/") else None
            )
            assert operation.get("security") == expected, path


async def test_routing_errors_are_problems(client: httpx.AsyncClient) -> None:
    not_found = await client.get("/nowhere")
    assert not_found.status_code == 404
    assert not_found.headers["content-type"] == "application/problem+json"
    wrong_method = await client.delete("/v1/orders")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == "application/problem+json"


async def test_oversized_body_is_413(make_client: ClientFactory) -> None:
    client = await make_client(max_body_bytes=1024)
    response = await client.post(
        "/v1/customers",
        content=b'{"name": "' + b"x" * 4096 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_malformed_json_is_422_with_a_pointer(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/customers", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"].startswith("#/body")


async def test_wrong_content_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/customers", content=b"email=a", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_unexpected_error_is_a_bare_500_with_the_request_id(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(*_: object) -> None:
        raise RuntimeError("internal detail: password=hunter2")

    monkeypatch.setattr(client.app.state.customers, "get", explode)  # type: ignore[attr-defined]
    response = await client.get(f"/v1/customers/{uuid.uuid4()}", headers={"X-Request-ID": "trace-me-123"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "trace-me-123"
    assert response.json()["request_id"] == "trace-me-123"
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff", "a 500 still gets the security headers"


async def test_security_headers_and_closed_cors(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live", headers={"Origin": "https://evil.example"})
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "access-control-allow-origin" not in response.headers


async def test_cors_opens_only_to_configured_origins(make_client: ClientFactory) -> None:
    client = await make_client(cors_origins="https://app.example")
    allowed = await client.get("/health/live", headers={"Origin": "https://app.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    denied = await client.get("/health/live", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in denied.headers


async def test_docs_are_on_in_dev_and_off_in_prod(make_client: ClientFactory) -> None:
    assert (await (await make_client(app_env="dev")).get("/openapi.json")).status_code == 200
    assert (await (await make_client(app_env="prod")).get("/openapi.json")).status_code == 404
    assert (await (await make_client(app_env="prod", docs_enabled=True)).get("/docs")).status_code == 200


async def test_cors_allows_exactly_the_methods_the_api_routes_take(make_client: ClientFactory) -> None:
    client = await make_client(cors_origins="https://app.example")
    client.headers.pop("X-API-Key")
    routed = api_methods(orders.router, customers.router)
    assert {"GET", "POST"} <= set(routed)
    for method in (*routed, "PUT", "DELETE"):
        preflight = await client.options(
            "/v1/orders",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": method},
        )
        assert (preflight.status_code == 200) == (method in routed), method


def test_the_cors_methods_are_those_of_the_routes_under_v1() -> None:
    things = APIRouter(prefix="/things")

    @things.delete("/{thing_id}")
    async def remove(thing_id: int) -> None: ...

    @things.put("")
    async def replace() -> None: ...

    assert api_methods(things, customers.router) == ["DELETE", "GET", "POST", "PUT"]
