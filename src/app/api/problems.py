"""RFC 9457 problem details for every error the API returns, routing errors and 500s included.

Validation errors carry one JSON pointer per field, for the first `MAX_ERRORS` of them and while the
list stays within `MAX_ERRORS_BYTES`, and their count. The server's own refusals (app/http_protocol.py)
use the same body (`problem_body`).
A 500 says nothing about internals; the traceback goes to the log (with the request ID that the body
and the `X-Request-ID` header also carry). The OpenAPI document files them under their own media type
(`ProblemDocumentedAPI`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from app.domain.errors import (
    ConflictError,
    IdempotencyKeyReusedError,
    NotFoundError,
    UnprocessableError,
)
from app.observability.context import request_id
from app.store.postgres import DatabaseUnavailableError

PROBLEM_JSON = "application/problem+json"
# Errors listed in a 422: enough to fix a request, and a body of unknown fields cannot make the answer
# many times larger than the request. `error_count` says how many there were.
MAX_ERRORS = 20
# A pointer holds the field's name, and a body can hold names of any length: the list is also cut at a
# size, so the answer to a body of long unknown names is bounded in bytes, not only in errors.
MAX_ERRORS_BYTES = 4096
log = structlog.get_logger(__name__)

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def problem(status: int, detail: str, *, headers: Mapping[str, str] | None = None, **extra: Any) -> Response:
    body = problem_body(status, detail, **extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_body(status: int, detail: str, **extra: Any) -> bytes:
    body = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "request_id": request_id.get(),
        **extra,
    }
    return orjson.dumps(body)


def _pointer(location: tuple[Any, ...]) -> str:
    """`("body", "items", 0, "quantity")` → `#/body/items/0/quantity` (RFC 6901 escaping)."""
    parts = (str(part).replace("~", "~0").replace("/", "~1") for part in location)
    return "#/" + "/".join(parts)


async def _validation(_: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    found = error.errors()
    errors: list[dict[str, str]] = []
    size = 0
    for item in found[:MAX_ERRORS]:
        listed = {"pointer": _pointer(tuple(item["loc"])), "detail": item["msg"]}
        size += len(orjson.dumps(listed))
        if size > MAX_ERRORS_BYTES:
            break
        errors.append(listed)
    return problem(422, "the request is not valid", errors=errors, error_count=len(found))


async def _http_exception(_: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    detail = error.detail if isinstance(error.detail, str) else _TITLES.get(error.status_code, "Error")
    return problem(error.status_code, detail, headers=error.headers)


async def _not_found(_: Request, error: Exception) -> Response:
    assert isinstance(error, NotFoundError)
    return problem(404, error.detail)


async def _conflict(_: Request, error: Exception) -> Response:
    assert isinstance(error, ConflictError)
    return problem(409, error.detail)


async def _unprocessable(_: Request, error: Exception) -> Response:
    assert isinstance(error, UnprocessableError)
    return problem(422, error.detail, errors=[{"pointer": "#/body" + error.pointer, "detail": error.detail}])


async def _key_reused(_: Request, error: Exception) -> Response:
    assert isinstance(error, IdempotencyKeyReusedError)
    return problem(422, error.detail)


async def _unavailable(_: Request, error: Exception) -> Response:
    log.warning("database unavailable", reason=str(error))
    return problem(503, "the service is temporarily unavailable", headers={"Retry-After": "1"})


async def _unexpected(_: Request, error: Exception) -> Response:
    log.error("unhandled error", exc_info=error)
    return problem(500, "an unexpected error occurred; quote the request_id when reporting it")


class ProblemDocumentedAPI(FastAPI):
    """FastAPI whose OpenAPI document files error bodies under `application/problem+json`, the type
    they are sent as.

    FastAPI files a response model under the route's own media type, which would advertise JSON errors
    that never come and leave problem+json without a schema: clients generated from the document, and
    a fuzzer's schema check, need the error shape where it is sent.
    """

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is not None:  # FastAPI builds the document once and keeps it
            return self.openapi_schema
        document = super().openapi()
        for path in document.get("paths", {}).values():
            for operation in path.values():
                for response in operation.get("responses", {}).values():
                    content = response.get("content", {})
                    if PROBLEM_JSON in content and "application/json" in content:
                        content[PROBLEM_JSON] = content.pop("application/json")
        return document


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(ConflictError, _conflict)
    app.add_exception_handler(UnprocessableError, _unprocessable)
    app.add_exception_handler(IdempotencyKeyReusedError, _key_reused)
    app.add_exception_handler(DatabaseUnavailableError, _unavailable)
    app.add_exception_handler(Exception, _unexpected)
