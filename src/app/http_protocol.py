"""uvicorn's httptools protocol, bounded: defence in depth behind the ALB and the ingress.

In both deployed targets a proxy reads each request head first and bounds it (the ALB on ECS, the
ingress controller on Kubernetes). These bounds hold where a client reaches the server directly (docker
compose, a port-forward, a Service exposed by mistake) and for whatever a proxy passes on. Each one
works around a behaviour of uvicorn's httptools protocol that a single hostile client can exploit;
docs/adr/0010-bounded-uvicorn.md names them, so a bound can go once uvicorn covers it:

- Request head (`MAX_HEAD_BYTES`, `MAX_HEADER_COUNT`): over either, 431 and close; a request-target
  over the size alone, 414. The head is measured as parsed (target, names and values), which refuses a
  finished head however it arrived, and as received, which refuses an unfinished one before the
  parser's buffer for it grows. A chunked body's framing and trailers count the same way.
- Read times (`HEAD_READ_TIMEOUT`, `BODY_READ_TIMEOUT`): from a request's first byte to the end of its
  head, then from there to the end of its body. A silent or trickling client gets 408 and is closed.
  An idle keep-alive connection between requests is uvicorn's `timeout_keep_alive`.
- Pipelining: at most `PIPELINED_REQUESTS` requests are read ahead of the one being answered. The
  request past them is not read: the last one read is answered with `Connection: close` (the client
  retries the unanswered ones, RFC 9112 §9.3.2), and once it is written the client has
  `HEAD_READ_TIMEOUT` to read the answers before the connection is dropped.
- Open connections (`MAX_CLIENT_CONNECTIONS`): a connection over the cap gets 503 at once and is
  closed, so its file descriptor is given back straight away.
- Protocol rules: a request without exactly one `Host` (HTTP/1.1) or with two is a 400 (RFC 9112
  §3.2); trailing whitespace is not part of a field value (RFC 9110 §5.5) and is stripped; a chunked
  body's trailer fields are dropped, never request headers.
- A client that hangs up while its requests are answered is not a server error: the request being
  answered sees a disconnect and those queued behind it are dropped, so nothing writes to the closed
  connection.

Refusals answer with the service's problem+json (`app.api.problems.problem_body`) and log a warning
at most once per kind and interval (`app.observability.rate_limited`).
"""

from __future__ import annotations

import asyncio
import http
from asyncio import TimerHandle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from app.api.problems import problem_body
from app.observability.rate_limited import warn

# Requests read ahead of the one being answered. Each holds its parsed head until it is answered, so
# this times MAX_HEAD_BYTES bounds what one pipelining client holds; clients rarely pipeline at all.
PIPELINED_REQUESTS = 4
_OWS = b" \t"


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_head_bytes: int
    max_header_count: int
    head_read_timeout: float
    body_read_timeout: float
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
        body = problem_body(status, detail)
        head = [
            f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}",
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
        "host": Refusal.of(
            "request without exactly one Host refused", 400, "the request must have exactly one Host field"
        ),
        "head_size": Refusal.of(
            "request head too large",
            431,
            f"the request head (or a chunked body's framing and trailers) is larger than {size} bytes",
        ),
        "target_size": Refusal.of(
            "request target too long", 414, f"the request target is longer than {size} bytes"
        ),
        "header_count": Refusal.of(
            "too many request header fields",
            431,
            f"the request has more than {limits.max_header_count} header fields",
        ),
        "head_timeout": Refusal.of(
            "request head not received in time",
            408,
            f"the request head did not arrive within {limits.head_read_timeout:g} seconds",
        ),
        "body_timeout": Refusal.of(
            "request body not received in time",
            408,
            f"the request body did not arrive within {limits.body_read_timeout:g} seconds",
        ),
        "busy": Refusal.of(
            "connection refused: too many open connections",
            503,
            "the server has too many open connections; retry shortly",
            "retry-after: 1",
        ),
    }


class _RefusedError(Exception):
    """Raised in a parser callback to stop parsing; `_refusal` says why (None: stop reading only)."""


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
        self._timer: TimerHandle | None = None
        self._reading_head = True  # waiting for, or reading, a request head
        self._reading_body = False  # the head is complete, the body is not
        self._stopped_reading = False  # the pipeline is full: what else arrives is dropped
        self._answering: RequestResponseCycle | None = None  # the request the app is serving
        self._messages = 0  # requests begun on this connection
        self._target = 0  # the current request's target
        self._parsed_head = 0  # its target, header names and values
        self._bytes_not_body = 0  # its bytes received other than body: head, chunk framing, trailers
        self._body = 0  # its body bytes
        self._header_count = 0
        self._host_count = 0

    # Connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream = cast(asyncio.Transport, transport)  # a TCP server's, as uvicorn's annotation says
        if len(self.connections) >= self.limits.max_connections:
            self.transport = stream  # connection_lost closes it again, harmlessly
            warn(self.refusals["busy"].event, limit=self.limits.max_connections)
            stream.write(self.refusals["busy"].response)
            stream.close()
            return
        super().connection_made(stream)
        self._arm_timer(self.limits.head_read_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        # uvicorn tells only the last request read (`self.cycle`) that the client left; with
        # pipelining the one being answered is an earlier one, which would write to a closed socket.
        answering = self._answering
        if answering is not None and not answering.response_complete:
            answering.disconnected = True
            answering.message_event.set()
        self.pipeline.clear()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's own, plus the read timers and the count of bytes that are not body.
        if self._stopped_reading:
            return
        self._unset_keepalive_if_required()
        if self._reading_head:
            self._arm_timer(self.limits.head_read_timeout, self._head_timed_out)
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
            if self._stopped_reading:
                return
            self._refuse(self._refusal or self.refusals["invalid"], reason=str(error))
            return
        if self._reading_body:
            self._arm_timer(self.limits.body_read_timeout, self._body_timed_out)
        # Counted only when the whole feed belonged to one request; a request that began within
        # this feed is measured from the next one (and as parsed), so the bound is the limit plus
        # one read.
        if self._messages == messages:
            self._bytes_not_body += len(data) - (self._body - body)
            if self._bytes_not_body > self.limits.max_head_bytes:
                self._refuse(self.refusals["head_size"])

    def _unsupported_upgrade_warning(self) -> None:
        warn("unsupported upgrade request")

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        self._answering = cycle
        super()._start_asgi_task(cycle, app)

    # Parser callbacks

    def on_message_begin(self) -> None:
        if len(self.pipeline) >= PIPELINED_REQUESTS:
            self._stop_reading()
            raise _RefusedError
        self._messages += 1
        self._reading_head, self._reading_body = True, False
        self._target = self._parsed_head = self._bytes_not_body = self._body = 0
        self._header_count = self._host_count = 0
        self._arm_timer(self.limits.head_read_timeout, self._head_timed_out)
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._target += len(url)
        if self._target > self.limits.max_head_bytes:
            self._stop_parsing("target_size")
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value))
        if not self._reading_head:
            return  # a trailer field: dropped, never a request header
        self._header_count += 1
        if self._header_count > self.limits.max_header_count:
            self._stop_parsing("header_count")
        if name.lower() == b"host":
            self._host_count += 1
        super().on_header(name, value.rstrip(_OWS))  # the parser keeps a value's trailing whitespace

    def on_headers_complete(self) -> None:
        # HTTP/1.0 may leave Host out; no version may send two (RFC 9112 §3.2).
        if self._host_count > 1 or (self._host_count == 0 and self.parser.get_http_version() != "1.0"):
            self._stop_parsing("host")
        self._reading_head, self._reading_body = False, True
        self._cancel_timer()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._reading_head, self._reading_body = True, False
        self._cancel_timer()
        super().on_message_complete()

    # Limits

    def _count_head(self, size: int) -> None:
        self._parsed_head += size
        if self._parsed_head > self.limits.max_head_bytes:
            self._stop_parsing("head_size")

    def _stop_parsing(self, refusal: str) -> None:
        self._refusal = self.refusals[refusal]
        raise _RefusedError

    def _stop_reading(self) -> None:
        """The pipeline is full: answer what was read, the last with `Connection: close`, and read
        nothing more."""
        self._stopped_reading = True
        self.cycle.keep_alive = False
        self.flow.pause_reading()
        self._cancel_timer()
        warn("pipelined requests past the limit: closing after those read", limit=PIPELINED_REQUESTS)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._stopped_reading and self.transport.is_closing():
            # The last answer is written and the connection closing; a close waits for the client
            # to read what is buffered, which may be never.
            self._timer = self.loop.call_later(self.limits.head_read_timeout, self.transport.abort)

    def _arm_timer(self, seconds: float, callback: Callable[[], None]) -> None:
        if self._timer is None:
            self._timer = self.loop.call_later(seconds, self._fire, callback)

    def _fire(self, callback: Callable[[], None]) -> None:
        self._timer = None
        if not self.transport.is_closing():
            callback()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head_timed_out(self) -> None:
        if not self._reading_head:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # Bytes of a next request while a response is still being produced: finish that
            # response, then close instead of waiting for the rest of the head.
            self.cycle.keep_alive = False
            return
        self._refuse(self.refusals["head_timeout"])

    def _body_timed_out(self) -> None:
        if not self._reading_body:
            return
        if self.cycle.response_complete:
            self.transport.close()  # answered without the body (a 401, say): nothing more to say
            return
        self._refuse(self.refusals["body_timeout"])

    def _refuse(self, refusal: Refusal, **fields: Any) -> None:
        warn(refusal.event, **fields)
        responded = False
        if self.cycle is not None and not self.cycle.response_complete:
            # A request the app is serving (a trailer over the limit, a body too slow): it sees a
            # disconnect, and the client gets the refusal unless the app has begun its answer.
            responded = self.cycle.response_started
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        if not responded and not self.transport.is_closing():
            self.transport.write(refusal.response)
        self.transport.close()
