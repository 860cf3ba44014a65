"""uvicorn, configured from settings, with a drain period before shutdown.

It serves with uvicorn's httptools protocol, bounded for a server without a proxy in front: request
head size, header count, head- and body-read time, pipelining and open connections
(app/http_protocol.py).

On SIGTERM (or SIGINT) readiness turns 503 at once and the server keeps serving, new requests
included, for DRAIN_SECONDS, so the load balancer stops routing here before the listener closes. Then
uvicorn stops accepting, finishes in-flight requests within GRACEFUL_TIMEOUT, and runs the lifespan
shutdown (pool, Redis, tracer provider). A second signal skips the drain.

Before serving, the garbage collector is set for a server's heap (`settle_gc`).
"""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
from collections.abc import Generator
from contextlib import contextmanager
from types import FrameType
from typing import cast

import structlog
import uvicorn
from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http_protocol import ConnectionLimits, ServerConfig
from app.settings import Settings

log = structlog.get_logger(__name__)
# Above what a server's requests in flight keep alive at once (docs/adr/0009-garbage-collection.md
# has the measurements); see settle_gc.
GC_YOUNG_THRESHOLD = 10_000


def create_server(settings: Settings, app: FastAPI, asgi_app: ASGIApp) -> DrainingServer:
    """uvicorn with our settings; `app` is the FastAPI app, `asgi_app` what is served (it wrapped)."""
    limits = ConnectionLimits(
        max_head_bytes=settings.max_head_bytes,
        max_header_count=settings.max_header_count,
        head_read_timeout=settings.head_read_timeout,
        body_read_timeout=settings.body_read_timeout,
        max_connections=settings.max_client_connections,
    )
    config = ServerConfig(
        asgi_app,
        limits=limits,  # uvicorn's httptools protocol, bounded: app/http_protocol.py
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        lifespan="on",
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_keep_alive=settings.keep_alive_timeout,
        timeout_graceful_shutdown=int(settings.graceful_timeout),
        access_log=False,  # ObservabilityMiddleware writes one JSON access line instead
        log_config=None,  # logging is ours: one JSON stream (app.observability.logging)
        server_header=False,
    )
    return DrainingServer(config, app, settings.drain_seconds)


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI, drain_seconds: float) -> None:
        config.app = CloseWhileDraining(cast(ASGIApp, config.app), self)
        super().__init__(config)
        self.fastapi_app = app  # its state.health exists once the lifespan has started
        self.drain_seconds = drain_seconds
        self.draining = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        settle_gc()
        await super().serve(sockets)

    @contextmanager
    def capture_signals(self) -> Generator[None]:
        # Unlike uvicorn's, this does not re-raise the signal after shutdown: a drained stop exits 0.
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.draining or self.drain_seconds <= 0 or self._loop is None:
            super().handle_exit(sig, frame)
            return
        self.draining = True
        health = getattr(self.fastapi_app.state, "health", None)
        if health is not None:
            health.mark_draining()
        log.info(
            "draining before shutdown", signal=signal.Signals(sig).name, drain_seconds=self.drain_seconds
        )
        self._loop.call_soon_threadsafe(self._loop.call_later, self.drain_seconds, self._stop, sig)

    def _stop(self, sig: int) -> None:
        log.info("drain period over, shutting down", graceful_timeout=self.config.timeout_graceful_shutdown)
        self.should_exit = True


class CloseWhileDraining:
    """While draining, answer with `Connection: close` so keep-alive clients reconnect elsewhere."""

    def __init__(self, app: ASGIApp, server: DrainingServer) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.server.draining:
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                MutableHeaders(scope=message)["connection"] = "close"
            await send(message)

        await self.app(scope, receive, send_closing)


def settle_gc() -> None:
    """Set the collector for a server whose garbage is almost all freed by reference counting.

    Under load with the defaults, collections cost a large share of the CPU and find nothing: the
    young generation fills with the live objects of requests in flight, so it is collected every few
    requests, and each survivor moves on to trigger full collections over the objects that imports and
    app set-up leave behind. Freezing those (the `gc.freeze` docs' use) removes them from every later
    collection; a higher young threshold removes the rest (docs/adr/0009-garbage-collection.md has the
    numbers). Cyclic garbage is still collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
