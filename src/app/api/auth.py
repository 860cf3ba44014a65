"""API-key authentication: `X-API-Key` against every configured key, in constant time.

Several keys can be valid at once so a key is rotated by adding the new one, moving callers, then
removing the old one. Every key is compared (no early exit), so timing tells nothing about which
key, or which part of one, matched. Missing and wrong keys get the same answer.

A pure-ASGI middleware over every path under `/v1/` (as Starlette's own middleware are written), not a
FastAPI dependency: it refuses before routing, so an unknown path under `/v1/` is a 401 before it is
a 404, which tells a caller without a key nothing about which routes exist. Every path outside
`/v1/` (the health probes, the docs when enabled) is public. The OpenAPI document still declares the
key (`document_api_key`).
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.problems import problem

HEADER = b"x-api-key"
PROTECTED_PREFIX = "/v1/"
SCHEME_NAME = "APIKeyHeader"
_SCHEME = {
    "type": "apiKey",
    "in": "header",
    "name": "X-API-Key",
    "description": "One of the keys in API_KEYS.",
}


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
        presented = b""
        for name, value in scope["headers"]:
            if name == HEADER:
                presented = value
                break
        matched = False
        for candidate in self.keys:
            matched |= hmac.compare_digest(presented, candidate)
        return matched


def document_api_key(app: FastAPI) -> None:
    """Declare the key in the OpenAPI document: the scheme, and a requirement on every `/v1/` operation."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()  # FastAPI builds it once and keeps it; this adds to that copy once
        schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
        if SCHEME_NAME not in schemes:
            schemes[SCHEME_NAME] = dict(_SCHEME)
            for path, operations in document["paths"].items():
                if path.startswith(PROTECTED_PREFIX):
                    for operation in operations.values():
                        operation["security"] = [{SCHEME_NAME: []}]
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend it
