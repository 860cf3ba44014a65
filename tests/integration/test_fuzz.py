"""Bad input: property-based fuzzing of every operation in the OpenAPI document, plus the hostile
requests a schema cannot describe (streamed bodies over the limit, control bytes in headers).

The fuzzer (schemathesis) runs against the real `python -m app serve`, so the HTTP parser, the body
limit and every middleware are in the path. It generates valid and invalid requests from the schema
and fails on any 5xx, any response that breaks the documented status codes, content types, headers
or body schemas, and any error that is not problem+json. Bounded: MAX_EXAMPLES per operation.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis import Case, CheckContext

from app.api.schemas import Problem
from app.main import create_app
from tests.conftest import API_KEY, make_settings
from tests.integration.server import ServerProcess, server_env

MAX_EXAMPLES = 40
PROBLEM_JSON = "application/problem+json"
# Waits long enough that a loaded host (a shared Postgres, a busy CPU) delays an answer rather than
# turning it into a documented 503: the fuzzer tests input handling, not the host's load.
PATIENT_TIMEOUTS = {
    "DB_POOL_TIMEOUT": "20",
    "DB_CONNECT_TIMEOUT": "10",
    "DB_STATEMENT_TIMEOUT": "20",
    "HEALTH_TIMEOUT": "0.9",  # the most the setting allows
}
REQUEST_TIMEOUT = 60  # above any of those waits


@pytest.fixture(scope="module")
def fuzz_server(database_url: str, redis_prefix: str) -> Iterator[ServerProcess]:
    with ServerProcess(server_env(database_url, redis_prefix, **PATIENT_TIMEOUTS)) as server:
        yield server


def _config() -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "generation": {
                "mode": "all",  # valid and invalid requests
                "max-examples": MAX_EXAMPLES,
                # No generated keys: the valid one goes with each call (explicit auth), and the
                # `ignored_auth` check replays the request without a key and with a wrong one.
                "with-security-parameters": False,
                # No example database: nothing is written into the working tree.
                "database": "none",
            },
            "request-timeout": REQUEST_TIMEOUT,
            # Invalid input may also be refused for its size (MAX_BODY_BYTES) before it is validated.
            "checks": {
                "negative_data_rejection": {
                    "expected-statuses": ["400", "401", "404", "405", "409", "413", "415", "422"]
                }
            },
            "operations": [
                {
                    # Schema-valid yet refused by design: a repeated email is a 409, and email-validator
                    # refuses special-use domains (`a@b.test`) that `format: email` allows: a 422.
                    "include-name": "POST /v1/customers",
                    "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "409", "422"]}},
                }
            ],
        }
    )


# The document the server serves, built from the same code without starting anything. Loaded at import,
# not through `schemathesis.pytest.from_fixture`: that loader breaks on pytest 9 (it sets the removed
# `Node._nodeid`). `test_the_fuzzed_document_is_the_served_one` keeps the two equal.
OPENAPI = create_app(make_settings()).openapi()
schema = schemathesis.openapi.from_dict(OPENAPI, config=_config())


@schemathesis.check
def errors_are_problem_json(
    ctx: CheckContext, response: schemathesis.Response, case: Case[Any]
) -> bool | None:
    """Every API error is an RFC 9457 problem, whatever the input (health probes answer health+json)."""
    if response.status_code < 400 or case.path.startswith("/health"):
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type == PROBLEM_JSON, f"{response.status_code} answered as {content_type!r}"
    problem = Problem.model_validate_json(response.content)
    assert problem.status == response.status_code
    return True


def test_the_fuzzer_plugins_are_loaded(pytestconfig: pytest.Config) -> None:
    """They are off by default (pyproject.toml), and without them the generated cases are not collected."""
    for plugin in ("schemathesis", "hypothesispytest"):
        assert pytestconfig.pluginmanager.has_plugin(plugin), (
            "run the fuzzer with `-p hypothesispytest -p schemathesis` (`make test` does)"
        )


def test_the_fuzzed_document_is_the_served_one(fuzz_server: ServerProcess) -> None:
    assert httpx.get(f"{fuzz_server.url}/openapi.json").json() == OPENAPI


@pytest.fixture(scope="module")
def fuzz_customer(fuzz_server: ServerProcess) -> str:
    email = f"fuzz-{uuid.uuid4().hex[:12]}@example.com"
    response = httpx.post(
        f"{fuzz_server.url}/v1/customers",
        json={"email": email, "name": "Fuzz"},
        headers={"X-API-Key": API_KEY},
    )
    assert response.status_code == 201, response.text
    customer_id: str = response.json()["id"]
    return customer_id


def test_errors_are_documented_as_problem_json_only() -> None:
    """So that generated clients, and the fuzzer's schema check, see the real error shape."""
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if code.startswith(("4", "5")) and not path.startswith("/health"):
                    assert response["content"] == {
                        PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
                    }, f"{method.upper()} {path} {code}"


@schema.parametrize()
def test_every_operation_survives_generated_input(
    case: Case[Any], fuzz_server: ServerProcess, fuzz_customer: str
) -> None:
    if _is_valid_order(case):
        # A valid order for a customer that exists, under a key of its own, so the fuzzer reaches the 201
        # path, not the 422s for an unknown customer or for a key reused with another body.
        assert isinstance(case.body, dict)
        case.body["customer_id"] = fuzz_customer
        if case.headers and "Idempotency-Key" in case.headers:
            case.headers["Idempotency-Key"] = uuid.uuid4().hex
    case.call_and_validate(
        base_url=fuzz_server.url, headers={"X-API-Key": API_KEY}, additional_checks=[errors_are_problem_json]
    )


def _is_valid_order(case: Case[Any]) -> bool:
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    return positive and (case.method, case.path) == ("POST", "/v1/orders") and isinstance(case.body, dict)


def _problem(response: httpx.Response, status: int) -> Problem:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    return Problem.model_validate_json(response.content)


def test_a_streamed_body_over_the_limit_is_413_problem(fuzz_server: ServerProcess) -> None:
    """No Content-Length to refuse up front: the body is counted as it arrives and cut at the limit."""

    def body() -> Iterator[bytes]:
        yield b'{"email": "big@example.com", "name": "'
        for _ in range(128):  # 128 KiB, twice MAX_BODY_BYTES
            yield b"x" * 1024
        yield b'"}'

    response = httpx.post(
        f"{fuzz_server.url}/v1/customers",
        content=body(),
        headers={"X-API-Key": API_KEY, "Content-Type": "application/json"},
    )
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.request.headers
    assert "65536 bytes" in _problem(response, 413).detail
    assert httpx.get(f"{fuzz_server.url}/health/live").status_code == 200


@pytest.mark.parametrize(
    "key",
    [b"key\x01one", b"key\x1b[2J", b"key\twith-tab", b"key with space", b"key\x7f", "ключ".encode()],
    ids=["control", "escape", "tab", "space", "delete", "non-ascii"],
)
def test_a_hostile_idempotency_key_is_refused_and_not_echoed(
    fuzz_server: ServerProcess, fuzz_customer: str, key: bytes
) -> None:
    response = httpx.post(
        f"{fuzz_server.url}/v1/orders",
        json={"customer_id": fuzz_customer, "items": [{"sku": "A", "quantity": 1, "unit_price_cents": 1}]},
        headers=[(b"X-API-Key", API_KEY.encode()), (b"Idempotency-Key", key)],
    )
    # Bytes the HTTP parser refuses never reach the app (a 400 problem); the rest fail validation (422).
    assert response.status_code in {400, 422}, response.text
    if response.status_code == 422:
        assert _problem(response, 422).errors
    assert key not in response.content
    assert key.decode("latin-1") not in response.text


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"email": "a@example.com", "name": "A", "beta_group": 0}, "#/body/beta_group"),
        ({"email": "a@example.com", "name": "A", "beta_group": "false"}, "#/body/beta_group"),
    ],
)
def test_a_flag_is_a_json_boolean_only(
    fuzz_server: ServerProcess, body: dict[str, Any], pointer: str
) -> None:
    response = httpx.post(f"{fuzz_server.url}/v1/customers", json=body, headers={"X-API-Key": API_KEY})
    assert pointer in {error.pointer for error in _problem(response, 422).errors or []}


@pytest.mark.parametrize(
    ("quantity", "status"), [("2", 422), (True, 422), (2.5, 422), (float("1e300"), 422), (2.0, 201), (2, 201)]
)
def test_a_number_is_a_json_integer_only(
    fuzz_server: ServerProcess, fuzz_customer: str, quantity: object, status: int
) -> None:
    order = {
        "customer_id": fuzz_customer,
        "items": [{"sku": "A", "quantity": quantity, "unit_price_cents": 1}],
    }
    response = httpx.post(f"{fuzz_server.url}/v1/orders", json=order, headers={"X-API-Key": API_KEY})
    assert response.status_code == status, response.text
    if status == 201:
        assert response.json()["items"][0]["quantity"] == 2


def test_an_undecodable_body_is_a_documented_400_problem(fuzz_server: ServerProcess) -> None:
    response = httpx.post(
        f"{fuzz_server.url}/v1/customers",
        content=b'{"name": "\xff\xfe"}',
        headers={"X-API-Key": API_KEY, "Content-Type": "application/json"},
    )
    _problem(response, 400)
    assert "400" in OPENAPI["paths"]["/v1/customers"]["post"]["responses"]


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("nul\\u0000byte", 422),
        ("new\\nline", 422),
        ("esc\\u001b[2J", 422),
        ("lone \\ud83d", 422),
        ("ok \\ud83d\\udce4", 201),
    ],
    ids=["nul", "newline", "escape", "lone-surrogate", "emoji"],
)
def test_a_name_that_postgres_cannot_store_is_422_not_500(
    fuzz_server: ServerProcess, name: str, status: int
) -> None:
    """JSON escapes sent as they are, so the server, not the client library, decodes them."""
    body = f'{{"email": "n-{uuid.uuid4().hex[:12]}@example.com", "name": "{name}"}}'.encode()
    response = httpx.post(
        f"{fuzz_server.url}/v1/customers",
        content=body,
        headers={"X-API-Key": API_KEY, "Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text
    if status == 422:
        assert "#/body/name" in {error.pointer for error in _problem(response, 422).errors or []}
