"""API-key authentication: `X-API-Key` against every configured key, in constant time.

Several keys can be valid at once so a key is rotated by adding the new one, moving callers, then
removing the old one. Every key is compared (no early exit), so timing tells nothing about which
key, or which part of one, matched. Missing and wrong keys get the same answer.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from starlette.exceptions import HTTPException

_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="One of the keys in API_KEYS.")


async def require_api_key(request: Request, key: Annotated[str | None, Depends(_header)]) -> None:
    keys: tuple[bytes, ...] = request.app.state.api_keys
    presented = (key or "").encode()
    matched = False
    for candidate in keys:
        matched |= hmac.compare_digest(presented, candidate)
    if not matched:
        raise HTTPException(
            401, "a valid X-API-Key header is required", headers={"WWW-Authenticate": "ApiKey"}
        )
