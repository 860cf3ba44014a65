"""RFC 9457 problem details for every error the API returns, routing errors and 500s included.

Every problem has a `type` from `PROBLEM_TYPES`: a stable URI per kind of problem, which a client
matches on (the `title` and `detail` are for people). The list is in docs/api.md and in the OpenAPI
document (the `Problem` schema's `type`). A status this service does not define a kind for is sent as
`about:blank` with the status's own phrase, as RFC 9457 says.

Validation errors carry one JSON pointer per field (into the body, the query or the path), for the
first `MAX_ERRORS` of them and while the list stays within `MAX_ERRORS_BYTES`, and their count. The
server's own refusals (app/http_protocol.py) use the same body (`problem_body`). A 500 says nothing
about internals; the traceback goes to the log (with the request ID that the body and the
`X-Request-ID` header also carry). The OpenAPI document files them under their own media type
(`file_under_problem_json`).
"""

from __future__ import annotations

import http
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from app.domain.errors import (
    AlreadyExistsError,
    DomainError,
    IdempotencyKeyReusedError,
    NotFoundError,
    TransitionNotAllowedError,
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
# A tag URI (RFC 4151): the service's name and the year it minted them. It names the kind and is never
# fetched; a team that publishes its problem types' pages uses their https URLs instead.
TYPE_BASE = "tag:orders-api,2026:problem:"
log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ProblemType:
    """A kind of problem: what a client branches on."""

    name: str  # the URI's last part; empty for about:blank
    status: int
    title: str
    meaning: str  # when it is sent: docs/api.md and the OpenAPI document say this

    @property
    def uri(self) -> str:
        return TYPE_BASE + self.name if self.name else "about:blank"


BAD_REQUEST = ProblemType(
    "bad-request",
    400,
    "Bad Request",
    "the request cannot be read: its body is not UTF-8, or its head breaks HTTP/1.1's rules",
)
UNAUTHORIZED = ProblemType("unauthorized", 401, "Unauthorized", "no `X-API-Key`, or not one of `API_KEYS`")
FORBIDDEN = ProblemType("forbidden", 403, "Forbidden", "the key is valid but may not do this")
NOT_FOUND = ProblemType("not-found", 404, "Not Found", "no such resource, or no such route")
METHOD_NOT_ALLOWED = ProblemType(
    "method-not-allowed", 405, "Method Not Allowed", "the route has no such method"
)
ALREADY_EXISTS = ProblemType(
    "already-exists", 409, "Already Exists", "what the request would create exists already"
)
TRANSITION_NOT_ALLOWED = ProblemType(
    "transition-not-allowed", 409, "Transition Not Allowed", "the resource's status does not allow the change"
)
CONTENT_TOO_LARGE = ProblemType(
    "content-too-large", 413, "Content Too Large", "the body is larger than `MAX_BODY_BYTES`"
)
UNSUPPORTED_MEDIA_TYPE = ProblemType(
    "unsupported-media-type", 415, "Unsupported Media Type", "the body is not `application/json`"
)
VALIDATION = ProblemType(
    "validation-error",
    422,
    "Unprocessable Content",
    "the request is not valid; `errors` has a JSON pointer into the body, query or path for each problem",
)
IDEMPOTENCY_KEY_REUSED = ProblemType(
    "idempotency-key-reused",
    422,
    "Idempotency-Key Reused",
    "the `Idempotency-Key` came before with a different request",
)
INTERNAL = ProblemType(
    "internal-error", 500, "Internal Server Error", "a fault of the service; quote the `request_id`"
)
UNAVAILABLE = ProblemType(
    "unavailable",
    503,
    "Service Unavailable",
    "Postgres did not answer in time, or the server holds its most connections; retry after `Retry-After`",
)
PROBLEM_TYPES = (
    BAD_REQUEST,
    UNAUTHORIZED,
    FORBIDDEN,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    ALREADY_EXISTS,
    TRANSITION_NOT_ALLOWED,
    CONTENT_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    VALIDATION,
    IDEMPOTENCY_KEY_REUSED,
    INTERNAL,
    UNAVAILABLE,
)
# The kind an HTTP error of a status is, when nothing more specific raised it (routing, middleware).
BY_STATUS = {
    kind.status: kind
    for kind in PROBLEM_TYPES
    if kind not in {ALREADY_EXISTS, TRANSITION_NOT_ALLOWED, IDEMPOTENCY_KEY_REUSED}
}
# Each domain error's kind: a new domain error gets its line here.
_DOMAIN_KINDS: dict[type[DomainError], ProblemType] = {
    NotFoundError: NOT_FOUND,
    AlreadyExistsError: ALREADY_EXISTS,
    TransitionNotAllowedError: TRANSITION_NOT_ALLOWED,
    UnprocessableError: VALIDATION,
    IdempotencyKeyReusedError: IDEMPOTENCY_KEY_REUSED,
}


def _about_blank(status: int) -> ProblemType:
    """RFC 9457's kind for a problem that is its status and nothing more: titled by the status."""
    return ProblemType("", status, http.HTTPStatus(status).phrase, "")


def problem(
    kind: ProblemType | int, detail: str, *, headers: Mapping[str, str] | None = None, **extra: Any
) -> Response:
    """The problem+json response for a kind of problem (or a bare status: its kind, else `about:blank`)."""
    status = kind if isinstance(kind, int) else kind.status
    return Response(
        problem_body(kind, detail, **extra), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def problem_body(kind: ProblemType | int, detail: str, **extra: Any) -> bytes:
    """The problem document itself, for a response or for a refusal the server writes by hand."""
    if isinstance(kind, int):
        kind = BY_STATUS.get(kind) or _about_blank(kind)
    body = {
        "type": kind.uri,
        "title": kind.title,
        "status": kind.status,
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
    return problem(VALIDATION, "the request is not valid", errors=errors, error_count=len(found))


async def _http_exception(_: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    status = error.status_code
    detail = error.detail if isinstance(error.detail, str) else http.HTTPStatus(status).phrase
    return problem(status, detail, headers=error.headers)


async def _domain(_: Request, error: Exception) -> Response:
    assert isinstance(error, DomainError)
    kind = next(_DOMAIN_KINDS[cls] for cls in type(error).__mro__ if cls in _DOMAIN_KINDS)
    if isinstance(error, UnprocessableError):
        pointed = [{"pointer": _pointer(error.location), "detail": error.detail}]
        return problem(kind, error.detail, errors=pointed, error_count=1)
    return problem(kind, error.detail)


async def _unavailable(_: Request, error: Exception) -> Response:
    log.warning("database unavailable", reason=str(error))
    return problem(UNAVAILABLE, "the service is temporarily unavailable", headers={"Retry-After": "1"})


async def _unexpected(_: Request, error: Exception) -> Response:
    log.error("unhandled error", exc_info=error)
    return problem(INTERNAL, "an unexpected error occurred; quote the request_id when reporting it")


def file_under_problem_json(document: dict[str, Any]) -> None:
    """File an OpenAPI document's error bodies under `application/problem+json`, the type they are
    sent as (app.api.openapi).

    FastAPI files a response model under the route's own media type, which would advertise JSON errors
    that never come and leave problem+json without a schema: clients generated from the document, and
    a fuzzer's schema check, need the error shape where it is sent.
    """
    for path in document.get("paths", {}).values():
        for operation in path.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                if PROBLEM_JSON in content and "application/json" in content:
                    content[PROBLEM_JSON] = content.pop("application/json")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(DatabaseUnavailableError, _unavailable)
    app.add_exception_handler(Exception, _unexpected)
