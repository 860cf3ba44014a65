"""API-key authentication: `X-API-Key` against every configured key, in constant time.

Several keys can be valid at once so a key is rotated by adding the new one, moving callers, then
removing the old one. Every key is compared (no early exit), so timing tells nothing about which
key, or which part of one, matched. Missing and wrong keys get the same answer.

A pure-ASGI middleware over every path under `/v1/` (as Starlette's own middleware are written), not a
FastAPI dependency: it refuses before routing, so an unknown path under `/v1/` is a 401 before it is
a 404, which tells a caller without a key nothing about which routes exist. Every path outside
`/v1/` (the health probes, the docs when enabled) is public.

The OpenAPI document declares the key in FastAPI's own `APIKeyHeader` model (`document_api_key`),
written into the document rather than declared as a route dependency: a dependency would run on every
request to look again at what the middleware has already checked.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi.security import APIKeyHeader
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.problems import problem

HEADER = "X-API-Key"
PROTECTED_PREFIX = "/v1/"
API_KEY_SCHEME = APIKeyHeader(name=HEADER, description="One of the keys in API_KEYS.")


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, keys: tuple[bytes, ...]) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PROTECTED_PREFIX) and not self._valid(scope):
            refused = problem(
                401, "a valid X-API-Key header is required", headers={"WWW-Authenticate": "ApiKey"}
            )
            await refused(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _valid(self, scope: Scope) -> bool:
        presented = Headers(scope=scope).get(HEADER, "").encode("latin-1")
        matched = False
        for candidate in self.keys:
            matched |= hmac.compare_digest(presented, candidate)
        return matched


def document_api_key(document: dict[str, Any]) -> None:
    """Declare the key in an OpenAPI document: its scheme, and a requirement on every operation under
    `/v1/`, as a `Security(APIKeyHeader)` dependency on those routes would declare them."""
    name = API_KEY_SCHEME.scheme_name
    scheme = API_KEY_SCHEME.model.model_dump(mode="json", by_alias=True, exclude_none=True)
    document.setdefault("components", {}).setdefault("securitySchemes", {})[name] = scheme
    for path, operations in document.get("paths", {}).items():
        if path.startswith(PROTECTED_PREFIX):
            for operation in operations.values():
                operation["security"] = [{name: []}]
