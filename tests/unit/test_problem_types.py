"""Problem types: one stable URI per kind, the same list in the code, the OpenAPI document and
docs/api.md; domain errors answer with their kind, and can point into the query or the path."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.api import problems
from app.domain.errors import (
    AlreadyExistsError,
    DomainError,
    TransitionNotAllowedError,
    UnprocessableError,
)
from app.main import create_app
from tests.conftest import make_settings

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_every_kind_has_its_own_uri_and_every_status_has_a_title() -> None:
    uris = [kind.uri for kind in problems.PROBLEM_TYPES]
    assert len(set(uris)) == len(uris)
    assert all(re.fullmatch(r"tag:orders-api,2026:problem:[a-z]+(-[a-z]+)*", uri) for uri in uris)
    assert {403, 409} <= {kind.status for kind in problems.PROBLEM_TYPES}


def test_the_openapi_document_and_docs_api_md_list_every_kind() -> None:
    document = create_app(make_settings()).openapi()
    listed = document["components"]["schemas"]["Problem"]["properties"]["type"]["enum"]
    assert listed == [kind.uri for kind in problems.PROBLEM_TYPES] + ["about:blank"]
    documented = set(re.findall(r"`(tag:[^`]+)`", API_DOC.read_text()))
    assert documented == {kind.uri for kind in problems.PROBLEM_TYPES}


def _raising(error: Exception) -> FastAPI:
    app = FastAPI()
    problems.install(app)

    @app.get("/fails")
    async def fails() -> None:
        raise error

    return app


async def _problem(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/fails")


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (AlreadyExistsError("taken"), problems.ALREADY_EXISTS),
        (TransitionNotAllowedError("shipped"), problems.TRANSITION_NOT_ALLOWED),
        (UnprocessableError("not ours", location=("query", "after")), problems.VALIDATION),
    ],
)
async def test_a_domain_error_answers_with_its_kind(error: DomainError, kind: problems.ProblemType) -> None:
    response = await _problem(_raising(error))
    assert response.status_code == kind.status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["type"], body["title"], body["detail"]) == (kind.uri, kind.title, error.detail)


async def test_a_domain_error_can_point_at_a_query_or_path_parameter() -> None:
    for location, pointer in (
        (("query", "after"), "#/query/after"),
        (("path", "order_id"), "#/path/order_id"),
    ):
        response = await _problem(_raising(UnprocessableError("not ours", location=location)))
        assert response.json()["errors"] == [{"pointer": pointer, "detail": "not ours"}]


def test_a_status_with_no_kind_is_about_blank_with_its_phrase() -> None:
    forbidden = problems.problem(403, "no")
    assert b'"title":"Forbidden"' in forbidden.body
    assert problems.FORBIDDEN.uri.encode() in forbidden.body
    teapot = problems.problem(418, "short and stout")
    assert b'"type":"about:blank"' in teapot.body
    assert b"I'm a Teapot" in teapot.body
