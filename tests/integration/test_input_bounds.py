"""Input that once got through, against the real `python -m app serve`: emails that are one person
spelled twice, names with C1 controls or bidi overrides, and a body of unknown fields whose 422 would
be many times its size."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import API_KEY
from tests.integration.server import ServerProcess, server_env


@pytest.fixture(scope="module")
def http(database_url: str, redis_prefix: str) -> Iterator[httpx.Client]:
    with (
        ServerProcess(server_env(database_url, redis_prefix)) as running,
        httpx.Client(base_url=running.url, headers={"X-API-Key": API_KEY}, timeout=10) as client,
    ):
        yield client


@pytest.mark.parametrize(
    ("first", "second"),
    [("ΣΑΣ", "σας"), ("STRASSE", "straße"), ("FILE", "ﬁle"), ("ann", "\uff21\uff2e\uff2e")],
    ids=["sigma", "sharp-s", "ligature", "fullwidth"],
)
def test_one_person_cannot_sign_up_twice_by_spelling(http: httpx.Client, first: str, second: str) -> None:
    tag = uuid.uuid4().hex[:8]
    signed_up = http.post("/v1/customers", json={"email": f"{first}.{tag}@example.com", "name": "One"})
    assert signed_up.status_code == 201, signed_up.text
    again = http.post("/v1/customers", json={"email": f"{second}.{tag}@example.com", "name": "Two"})
    assert again.status_code == 409, again.text
    assert again.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "name", ["a\u0085b", "a\u009bb", "a\u202eb", "a\u202ab", "a\u2066b", "a\u2069b"], ids=repr
)
def test_names_refuse_c1_controls_and_bidi_overrides(http: httpx.Client, name: str) -> None:
    email = f"c1-{uuid.uuid4().hex[:8]}@example.com"
    response = http.post("/v1/customers", json={"email": email, "name": name})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["pointer"] for error in response.json()["errors"]] == ["#/body/name"]


def test_a_name_in_any_script_is_still_accepted(http: httpx.Client) -> None:
    email = f"script-{uuid.uuid4().hex[:8]}@example.com"
    response = http.post("/v1/customers", json={"email": email, "name": "Zoë שלום 王"})
    assert response.status_code == 201, response.text


def test_a_422_lists_the_first_errors_and_counts_them_all(http: httpx.Client) -> None:
    unknown = {f"field_{number}": 1 for number in range(2000)}
    sent = httpx.Request("POST", "/", json=unknown).content
    response = http.post("/v1/customers", content=sent, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    body = response.json()
    assert len(body["errors"]) == 20
    assert body["error_count"] == 2002  # the unknown fields, and email and name missing
    assert len(response.content) < len(sent)
