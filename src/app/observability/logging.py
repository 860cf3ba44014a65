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
from collections.abc import Sequence
from typing import Any, BinaryIO

import orjson
import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

from app.observability.context import FinishedRequest, inbound_trace_id, request_id

_SECRET_KEY = re.compile(r"pass(word)?|secret|token|api[_-]?key|authorization|cookie|dsn|credential", re.I)
_MAX_LOGGED_PATH = 256
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@\s/]+@", re.I)
REDACTED = "[REDACTED]"
_ACCESS_LINE_CONSTANTS = {"level": "info", "event": "request", "logger": "app.access"}

access_log = structlog.get_logger("app.access")


class _AccessLine:
    """How the access line is written; set by configure_logging. Rendered here and written to stdout
    in JSON mode; through structlog in console mode and before logging is configured."""

    enabled = True
    direct = False


def write_access_lines(finished: Sequence[FinishedRequest]) -> None:
    """The access lines of the requests that ended in one event-loop pass, written to stdout at once.

    One line per request, with the fields and order of every other JSON line. Rendered here rather
    than through structlog's processor chain: that chain (level, logger name, timestamp, context
    lookup, redaction over every key) cost ~40 µs per request, a third of the telemetry budget. The
    fields are known, so only the path needs masking.

    The fields every line of a pass shares (`timestamp`, `level`, `event`, `logger`) are rendered once
    per pass, and each line adds its own: a timestamp per line and a 12-key dict per line cost ~16k
    instructions a line, this ~10k (bench/README.md). So a line's `timestamp` is when it was written,
    as with any logger: the end of the pass, milliseconds after its response; `duration_ms` is exact.
    The lines go out in one write, not one per line: the image runs Python with PYTHONUNBUFFERED=1,
    under which every `write` to stdout is a system call.
    """
    if not _AccessLine.enabled:
        return
    if not _AccessLine.direct:
        for rid, trace_id, span_id, method, route, path, status, seconds in finished:
            access_log.info(
                "request", path=_loggable(path), method=method, route=route, status=status,
                duration_ms=int(seconds * 1_000_000) / 1000, request_id=rid, trace_id=trace_id,
                span_id=span_id,
            )  # fmt: skip
        return
    dumps = orjson.dumps
    shared = {"timestamp": datetime.datetime.now(datetime.UTC), **_ACCESS_LINE_CONSTANTS}
    head = dumps(shared, option=orjson.OPT_UTC_Z)[:-1] + b","  # the object left open: {"timestamp":...,
    parts = []
    for rid, trace_id, span_id, method, route, full_path, status, seconds in finished:
        path = full_path[:_MAX_LOGGED_PATH]  # inline, not `_loggable`: a call per line costs ~0.3 µs
        own = {
            "request_id": rid,
            "trace_id": trace_id,
            "span_id": span_id,
            "path": mask_url_credentials(path) if "://" in path else path,
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": int(seconds * 1_000_000) / 1000,  # µs precision; round(x, 3) costs ~1 µs
        }
        parts.append(head)
        parts.append(dumps(own, option=orjson.OPT_APPEND_NEWLINE)[1:])  # without its opening brace
    _write_all(sys.stdout.buffer, b"".join(parts))  # looked up per write: stdout may be replaced


def _loggable(path: str) -> str:
    path = path[:_MAX_LOGGED_PATH]
    return mask_url_credentials(path) if "://" in path else path


def _write_all(stream: BinaryIO, data: bytes) -> None:
    """All of `data`: unbuffered, stdout is a raw file, whose `write` may take only part of it (a pipe
    interrupted by a signal). None means a non-blocking stdout that is full: those lines are dropped,
    as a blocked log pipe must not stall the event loop."""
    written = stream.write(data)
    while written is not None and written < len(data):
        data = data[written:]
        written = stream.write(data)
    stream.flush()


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
