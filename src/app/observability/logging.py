"""structlog and the standard library in one stream: one JSON object per line on stdout.

App code logs through structlog (rendered straight to bytes with orjson); uvicorn, SQLAlchemy and any
other stdlib logger go through the same processors via `ProcessorFormatter`. Every line carries
`timestamp`, `level`, `event`, `logger`, `request_id`, `trace_id` and `span_id`. Secrets are masked
(`redact`), and tracebacks are plain text without local variables. `configure_logging` is called
once, at start-up; loggers are cached on first use.

The access line (one per observed request) has one direct path, `write_access_line`: the same JSON
the processor chain renders, dumped and written without running the chain (ADR 0005 has its cost).
"""

from __future__ import annotations

import functools
import io
import logging
import re
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

import orjson
import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

from app.observability.context import inbound_trace_id, request_id

_SECRET_KEY = re.compile(r"pass(word)?|secret|token|api[_-]?key|authorization|cookie|dsn|credential", re.I)
_MAX_LOGGED_PATH = 256
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@\s/]+@", re.I)
REDACTED = "[REDACTED]"
# One timestamp rule for every line, the access line's direct path included.
_STAMP = structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp")
_ACCESS_EVENT = {"event": "request", "level": "info", "logger": "app.access"}

# What writes one access line: its fields are those `access_fields` returns.
AccessLog = Callable[[dict[str, Any]], None]


def access_fields(
    *, path: str, method: str, route: str, status: int, seconds: float, rid: str, trace_id: str | None,
    span_id: str | None,
) -> dict[str, Any]:  # fmt: skip
    """An access line's own fields, the path cut to length and its credentials masked."""
    path = path[:_MAX_LOGGED_PATH]
    return {
        "path": mask_url_credentials(path) if "://" in path else path,
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": int(seconds * 1_000_000) / 1000,  # to the microsecond
        "request_id": rid,
        "trace_id": trace_id,
        "span_id": span_id,
    }


def log_access(fields: dict[str, Any]) -> None:
    """The access line through structlog, as every other line: for the console renderer, a level
    above INFO, or logging not configured (in-process tests). The logger is looked up per call, so it
    follows the configuration in force, not the first one it saw."""
    structlog.get_logger("app.access").info("request", **fields)


def write_access_line(stream: BinaryIO, fields: dict[str, Any]) -> None:
    """The access line as the JSON processor chain would render it, keys in the same order, written
    directly (`tests/unit/test_logging.py` proves the two equal)."""
    fields.update(_ACCESS_EVENT)
    stream.write(orjson.dumps(_STAMP(None, "info", fields), option=orjson.OPT_APPEND_NEWLINE))
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
        _STAMP,
        add_context,
        structlog.processors.format_exc_info,
        redact,
    ]


def _render_json(_: WrappedLogger, __: str, event: EventDict) -> bytes:
    return orjson.dumps(event, default=str)


def configure_logging(level: str, *, console: bool = False) -> AccessLog:
    """Configure structlog and the stdlib root logger, once, at start-up; `console` is for a
    developer's terminal. Returns what writes the access line: directly in JSON at INFO or below,
    else through structlog (which leaves it out above INFO)."""
    level_number = logging.getLevelNamesMapping()[level]
    shared = _shared_processors()
    stdout = sys.stdout.buffer
    if isinstance(stdout, io.RawIOBase):
        # PYTHONUNBUFFERED=1 leaves stdout a raw file, whose `write` may take only part of a line (a
        # pipe interrupted by a signal); a buffered writer flushed per line writes all of it.
        stdout = io.BufferedWriter(stdout)
    if console:
        renderer: Processor = structlog.dev.ConsoleRenderer()
        factory: Any = structlog.PrintLoggerFactory(sys.stdout)
        final: Processor = renderer
    else:
        factory = structlog.BytesLoggerFactory(stdout)
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
    # Our access line replaces uvicorn's; SQL echo stays off unless asked for explicitly.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("sqlalchemy.engine").setLevel(max(level_number, logging.WARNING))
    if console or level_number > logging.INFO:
        return log_access
    return functools.partial(write_access_line, stdout)
