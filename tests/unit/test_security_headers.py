"""SecurityHeadersMiddleware around a plain ASGI app: each header added once, a route's own kept."""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from app.api.security_headers import SecurityHeadersMiddleware


def _answering(*headers: tuple[bytes, bytes]) -> SecurityHeadersMiddleware:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # A tuple, as ASGI allows: the middleware must not assume a list.
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    return SecurityHeadersMiddleware(app)


async def _headers(middleware: SecurityHeadersMiddleware, path: str) -> list[tuple[bytes, bytes]]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await middleware({"type": "http", "method": "GET", "path": path, "headers": []}, receive, send)
    return list(sent[0]["headers"])


async def test_an_api_response_gets_every_header_once() -> None:
    headers = await _headers(_answering((b"content-type", b"application/json")), "/v1/orders")
    names = [name for name, _ in headers]
    assert len(names) == len(set(names))
    assert (b"x-content-type-options", b"nosniff") in headers
    assert (b"cache-control", b"no-store") in headers
    assert (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'") in headers


async def test_a_routes_own_header_stands() -> None:
    headers = await _headers(_answering((b"cache-control", b"max-age=60")), "/v1/orders")
    assert [value for name, value in headers if name == b"cache-control"] == [b"max-age=60"]
    assert (b"x-frame-options", b"DENY") in headers


async def test_the_docs_page_may_load_its_scripts() -> None:
    headers = await _headers(_answering(), "/docs")
    assert b"content-security-policy" not in {name for name, _ in headers}
    assert (b"x-content-type-options", b"nosniff") in headers
