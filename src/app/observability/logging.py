"""structlog and the standard library in one stream: one JSON object per line on stdout.

App code logs through structlog (rendered straight to bytes with orjson); uvicorn, SQLAlchemy and any
other stdlib logger go through the same processors via `ProcessorFormatter`. Every line carries
`timestamp`, `level`, `event`, `logger`, `request_id`, `trace_id` and `span_id`. Secrets are masked
(`redact`), and tracebacks are plain text without local variables.
"""

from __future__ import annotations

import datetime
import logging
import re
import sys
from typing import Any

import orjson
import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

from app.observability.context import inbound_trace_id, request_id

_SECRET_KEY = re.compile(r"pass(word)?|secret|token|api[_-]?key|authorization|cookie|dsn|credential", re.I)
_MAX_LOGGED_PATH = 256
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@\s/]+@", re.I)
REDACTED = "[REDACTED]"
_ACCESS_LINE_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_UTC_Z

access_log = structlog.get_logger("app.access")


class _AccessLine:
    """How the access line is written; set by configure_logging. Rendered here and written to stdout
    in JSON mode; through structlog in console mode and before logging is configured."""

    enabled = True
    direct = False


def write_access_line(
    rid: str,
    trace_id: str | None,
    span_id: str | None,
    *,
    ended: float,
    method: str,
    route: str,
    path: str,
    status: int,
    duration_ms: float,
) -> None:
    """The one access line per request, with the fields and order of every other JSON line.

    Rendered directly rather than through structlog's processor chain: that chain (level, logger name,
    timestamp, context lookup, redaction over every key) cost ~40 µs per request, a third of the
    telemetry budget. The fields are known here, so only the path needs masking. One `orjson.dumps` of
    a dict is also faster than building the line as an f-string in Python (1.9 against 2.8 µs, measured).
    `ended` is the request's end (a `time.time()`). The line is written, not flushed: the middleware
    flushes once for all the requests that ended in one pass of the event loop (`flush_access_lines`).
    """
    if not _AccessLine.enabled:
        return
    path = mask_url_credentials(path[:_MAX_LOGGED_PATH]) if "://" in path else path[:_MAX_LOGGED_PATH]
    if not _AccessLine.direct:
        fields = {"method": method, "route": route, "status": status, "duration_ms": duration_ms}
        access_log.info("request", path=path, **fields, request_id=rid, trace_id=trace_id, span_id=span_id)
        return
    line = {
        "timestamp": datetime.datetime.fromtimestamp(ended, datetime.UTC),  # orjson: ISO 8601 with a Z
        "level": "info",
        "event": "request",
        "logger": "app.access",
        "request_id": rid,
        "trace_id": trace_id,
        "span_id": span_id,
        "path": path,
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": duration_ms,
    }
    stream = sys.stdout.buffer  # looked up per line, as print() does: stdout may have been replaced
    stream.write(orjson.dumps(line, option=_ACCESS_LINE_OPTIONS))


def flush_access_lines() -> None:
    sys.stdout.buffer.flush()


def add_context(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """Request ID and the current trace/span IDs, so every line joins its request and its trace."""
    event.setdefault("request_id", request_id.get())
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    else:
        event.setdefault("trace_id", inbound_trace_id.get())
        event.setdefault("span_id", None)
    return event


def redact(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """Mask values under secret-looking keys and passwords inside URLs, wherever they appear."""
    for key, value in event.items():
        if _SECRET_KEY.search(key):
            event[key] = REDACTED
        elif isinstance(value, str) and "://" in value:
            event[key] = mask_url_credentials(value)
    return event


def mask_url_credentials(text: str) -> str:
    return _URL_CREDENTIALS.sub(r"\g<scheme>\g<user>:" + REDACTED + "@", text)


def _shared_processors() -> list[Processor]:
    return [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        add_context,
        structlog.processors.format_exc_info,
        redact,
    ]


def _render_json(_: WrappedLogger, __: str, event: EventDict) -> bytes:
    return orjson.dumps(event, default=str)


def configure_logging(level: str, *, console: bool = False) -> None:
    """Configure structlog and the stdlib root logger; `console` is for a developer's terminal."""
    level_number = logging.getLevelNamesMapping()[level]
    shared = _shared_processors()
    if console:
        renderer: Processor = structlog.dev.ConsoleRenderer()
        factory: Any = structlog.PrintLoggerFactory(sys.stdout)
        final: Processor = renderer
    else:
        factory = structlog.BytesLoggerFactory(sys.stdout.buffer)
        final = _render_json

    structlog.configure(
        processors=[*shared, final],
        wrapper_class=structlog.make_filtering_bound_logger(level_number),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )

    def _stdlib_json(_: WrappedLogger, __: str, event: EventDict) -> str:
        return orjson.dumps(event, default=str).decode()

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer if console else _stdlib_json,
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_number)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy", "alembic"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    _AccessLine.enabled = level_number <= logging.INFO
    _AccessLine.direct = not console
    # Our access line replaces uvicorn's; SQL echo stays off unless asked for explicitly.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("sqlalchemy.engine").setLevel(max(level_number, logging.WARNING))
