"""Security headers on every API response (pure ASGI, a single header append)."""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
# The interactive docs page loads its own scripts; everything else is JSON and may load nothing.
_API_HEADERS = [*_HEADERS, (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")]
_DOCS_PATHS = ("/docs", "/redoc")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = _HEADERS if scope["path"].startswith(_DOCS_PATHS) else _API_HEADERS

        def send_with_headers(message: Message) -> Awaitable[None]:
            # Not a coroutine itself: it hands back the server's send, to be awaited by the app.
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", ())}
                added = [header for header in extra if header[0] not in present]
                message["headers"] = [*message.get("headers", ()), *added]
            return send(message)

        await self.app(scope, receive, send_with_headers)
