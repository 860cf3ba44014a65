"""The /metrics listener: prometheus-client's WSGI app on the standard library's threaded server.

This is what prometheus-client's `start_http_server` builds, with one difference: each connection's
socket has a timeout, so a connection that sends nothing (or never reads) gives its thread back after
`CONNECTION_TIMEOUT` instead of holding it for as long as it stays open. A connection dropped that way
is logged as a rate-limited warning, not a traceback on stderr.
"""

from __future__ import annotations

import socket
import sys
import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from app.observability.rate_limited import warn

# A scraper sends its whole request at once and reads the answer at once; Prometheus's own scrape
# timeout is 10 s by default.
CONNECTION_TIMEOUT = 10.0


class _Handler(WSGIRequestHandler):
    timeout = CONNECTION_TIMEOUT  # socketserver sets it on the connection's socket

    def log_message(self, format: str, *args: Any) -> None:
        """No line per scrape."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # threads are not joined at exit, and not kept in a list meanwhile

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        warn("metrics connection dropped", reason=type(error).__name__)


def start(port: int, host: str) -> WSGIServer:
    """Serve /metrics on `host:port` from a daemon thread; returns the server."""

    class MetricsServer(_Server):
        address_family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]  # IPv4 or 6

    server = make_server(host, port, make_wsgi_app(), MetricsServer, handler_class=_Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
