"""Security headers on every API response (pure ASGI, through Starlette's `MutableHeaders`)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": "no-store",
}
# The interactive docs page loads its own scripts; everything else is JSON and may load nothing.
_API_HEADERS = _HEADERS | {"content-security-policy": "default-src 'none'; frame-ancestors 'none'"}
_DOCS_PATHS = ("/docs", "/redoc")


def _raw(headers: dict[str, str]) -> tuple[tuple[bytes, bytes], ...]:
    """Encoded once: an ASGI header is a pair of latin-1 bytes, its name lower case."""
    return tuple((name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items())


_RAW_HEADERS, _RAW_API_HEADERS = _raw(_HEADERS), _raw(_API_HEADERS)


class SecurityHeadersMiddleware:
    """Adds each header the response does not set itself (a route's own `Cache-Control` stands)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = _RAW_HEADERS if scope["path"].startswith(_DOCS_PATHS) else _RAW_API_HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message).raw  # the message's own list
                present = {name for name, _ in headers}
                headers.extend(header for header in extra if header[0] not in present)
            await send(message)

        await self.app(scope, receive, send_with_headers)
