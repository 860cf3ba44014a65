"""uvicorn's httptools protocol with the bounds a server needs when no proxy stands in front of it.

uvicorn bounds none of these on its httptools parser (its `h11_max_incomplete_event_size` guards only
the h11 parser), so one client could hold memory and file descriptors without limit:

- Request head size and header count (`MAX_HEAD_BYTES`, `MAX_HEADER_COUNT`): over either, 431 and
  close. The head is measured twice: as parsed (request target, header names and values), which
  refuses a finished head over the limit however it arrived, and as received, which refuses an
  unfinished one before the parser's buffer for it grows. Everything in a request that is not body
  counts the same way, so a chunked body's framing and trailers are bounded by the same limit.
- Head-read time (`HEAD_READ_TIMEOUT`): from a connection's opening, or from the first byte of a
  later request, to the end of its head. A silent or trickling client gets 408 and is closed. An idle
  keep-alive connection between requests is uvicorn's `timeout_keep_alive`, as before.
- Open connections (`MAX_CLIENT_CONNECTIONS`): a connection over the cap gets 503 at once and is
  closed, so its file descriptor is given back straight away. uvicorn's `limit_concurrency` answers
  503 only when a request head completes, so it would not free a silent connection's descriptor.
- Trailers: a chunked body's trailer fields are dropped. uvicorn appends them to the list that is
  also the request's `scope["headers"]`, so a field sent only in a trailer (an API key, an
  Idempotency-Key, a Content-Type) could act as a request header.

Refusals answer with problem+json, like every other error of the service, and log at most one
warning per kind per `_WARNING_INTERVAL`, with the count of those left out, so a flood of bad
requests cannot flood the log.
"""

from __future__ import annotations

import asyncio
import http
import time
from asyncio import TimerHandle
from dataclasses import dataclass
from typing import Any

import httptools
import orjson
import structlog
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

log = structlog.get_logger(__name__)
_WARNING_INTERVAL = 10.0  # seconds


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_head_bytes: int
    max_header_count: int
    head_read_timeout: float
    max_connections: int


class ServerConfig(uvicorn.Config):
    """uvicorn's Config, serving with `BoundedHttpToolsProtocol` under `limits`."""

    def __init__(self, app: Any, *, limits: ConnectionLimits, **options: Any) -> None:
        super().__init__(app, http=BoundedHttpToolsProtocol, **options)
        self.limits = limits
        self.refusals = _refusals(limits)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A response the protocol writes itself (no request reached the app), then closes."""

    event: str  # the warning logged
    response: bytes

    @classmethod
    def of(cls, event: str, status: int, detail: str, *extra_headers: str) -> Refusal:
        phrase = http.HTTPStatus(status).phrase
        body = orjson.dumps({"type": "about:blank", "title": phrase, "status": status, "detail": detail})
        head = [
            f"HTTP/1.1 {status} {phrase}",
            "content-type: application/problem+json",
            f"content-length: {len(body)}",
            "connection: close",
            *extra_headers,
        ]
        return cls(event, ("\r\n".join(head) + "\r\n\r\n").encode() + body)


def _refusals(limits: ConnectionLimits) -> dict[str, Refusal]:
    size = limits.max_head_bytes
    return {
        "invalid": Refusal.of("invalid HTTP request refused", 400, "the request is not valid HTTP/1.1"),
        "head_size": Refusal.of(
            "request head too large",
            431,
            f"the request head (or a chunked body's framing and trailers) is larger than {size} bytes",
        ),
        "header_count": Refusal.of(
            "too many request header fields",
            431,
            f"the request has more than {limits.max_header_count} header fields",
        ),
        "timeout": Refusal.of(
            "request head not received in time",
            408,
            f"the request head did not arrive within {limits.head_read_timeout:g} seconds",
        ),
        "busy": Refusal.of(
            "connection refused: too many open connections",
            503,
            "the server has too many open connections; retry shortly",
            "retry-after: 1",
        ),
    }


class _RefusedError(Exception):
    """Raised in a parser callback to stop parsing; `_refusal` says why."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        assert isinstance(config, ServerConfig)
        self.limits = config.limits
        self.refusals = config.refusals
        self._refusal: Refusal | None = None
        self._head_timer: TimerHandle | None = None
        self._reading_head = True  # waiting for, or reading, a request head
        self._messages = 0  # requests begun on this connection
        self._parsed_head = 0  # the current request's target, header names and values
        self._unparsed = 0  # its bytes received other than body: head, chunk framing, trailers
        self._body = 0  # its body bytes
        self._header_count = 0

    # Connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            self.transport = transport  # connection_lost closes it again, harmlessly
            _warnings.warn(self.refusals["busy"].event, limit=self.limits.max_connections)
            transport.write(self.refusals["busy"].response)
            transport.close()
            return
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's own, plus the head timer and the count of bytes that are not body.
        self._unset_keepalive_if_required()
        if self._reading_head:
            self._arm_head_timer()
        messages, body = self._messages, self._body
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as error:
            self._refuse(self._refusal or self.refusals["invalid"], reason=str(error))
            return
        # Counted only when the whole feed belonged to one request; a request that began within
        # this feed is measured from the next one (and as parsed), so the bound is the limit plus
        # one read.
        if self._messages == messages:
            self._unparsed += len(data) - (self._body - body)
            if self._unparsed > self.limits.max_head_bytes:
                self._refuse(self.refusals["head_size"])

    def _unsupported_upgrade_warning(self) -> None:
        _warnings.warn("unsupported upgrade request")

    # Parser callbacks

    def on_message_begin(self) -> None:
        self._messages += 1
        self._reading_head = True
        self._parsed_head = self._unparsed = self._body = self._header_count = 0
        self._arm_head_timer()
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value))
        if not self._reading_head:
            return  # a trailer field: dropped, never a request header
        self._header_count += 1
        if self._header_count > self.limits.max_header_count:
            self._refusal = self.refusals["header_count"]
            raise _RefusedError
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._reading_head = True
        super().on_message_complete()

    # Limits

    def _count_head(self, size: int) -> None:
        self._parsed_head += size
        if self._parsed_head > self.limits.max_head_bytes:
            self._refusal = self.refusals["head_size"]
            raise _RefusedError

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.head_read_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._reading_head or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # Bytes of a next request while a response is still being produced: finish that
            # response, then close instead of waiting for the rest of the head.
            self.cycle.keep_alive = False
            return
        self._refuse(self.refusals["timeout"])

    def _refuse(self, refusal: Refusal, **fields: Any) -> None:
        _warnings.warn(refusal.event, **fields)
        responded = False
        if self.cycle is not None and not self.cycle.response_complete:
            # A request the app is serving (a trailer over the limit): it sees a disconnect.
            responded = self.cycle.response_started
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        if not responded and not self.transport.is_closing():
            self.transport.write(refusal.response)
        self.transport.close()


class _RateLimitedWarnings:
    """At most one warning per event and interval; the next one written counts those left out."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[str, tuple[float, int]] = {}  # event -> (when last written, left out since)

    def warn(self, event: str, **fields: Any) -> None:
        now = time.monotonic()
        written, left_out = self._last.get(event, (now - self.interval, 0))
        if now - written < self.interval:
            self._last[event] = (written, left_out + 1)
            return
        self._last[event] = (now, 0)
        log.warning(event, suppressed=left_out, **fields)


_warnings = _RateLimitedWarnings(_WARNING_INTERVAL)
