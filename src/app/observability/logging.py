"""structlog and the standard library in one stream: one JSON object per line on stdout.

App code logs through structlog (rendered straight to bytes with orjson); uvicorn, SQLAlchemy and any
other stdlib logger go through the same processors via `ProcessorFormatter`. Every line carries
`timestamp`, `level`, `event`, `logger`, `request_id`, `trace_id` and `span_id`. Secrets are masked
(`redact`), and tracebacks are plain text without local variables. `configure_logging` is called
once, at start-up; loggers are cached on first use.

The access line (one per observed request, `app.observability.middleware`) is a structlog line like
every other, on the `app.access` logger.
"""

from __future__ import annotations

import functools
import io
import logging
import re
import sys
from typing import Any, BinaryIO

import orjson
import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

from app.observability.context import inbound_trace_id, request_id

_SECRET_KEY = re.compile(r"pass(word)?|secret|token|api[_-]?key|authorization|cookie|dsn|credential", re.I)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@\s/]+@", re.I)
REDACTED = "[REDACTED]"
# The stdlib loggers whose own handlers give way to the one stream.
_STDLIB_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy", "alembic")


def add_context(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """Request ID and the current trace/span IDs, so every line joins its request and its trace."""
    event.setdefault("request_id", request_id.get())
    if "trace_id" in event and "span_id" in event:  # given by the caller (the access line)
        return event
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
        if _is_secret_key(key):
            event[key] = REDACTED
        elif isinstance(value, str) and "://" in value:
            event[key] = mask_url_credentials(value)
    return event


@functools.lru_cache(maxsize=1024)
def _is_secret_key(key: str) -> bool:
    """Remembered per key: a line's keys are the code's own few names, asked on every line."""
    return _SECRET_KEY.search(key) is not None


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


def _orjson_text(value: Any, **options: Any) -> str:
    return orjson.dumps(value, **options).decode()


def configure_logging(level: str, *, console: bool = False) -> None:
    """Configure structlog and the stdlib root logger, once, at start-up; `console` is for a
    developer's terminal."""
    level_number = logging.getLevelNamesMapping()[level]
    shared = _shared_processors()
    if console:
        renderer: Processor = structlog.dev.ConsoleRenderer()
        factory: Any = structlog.PrintLoggerFactory(sys.stdout)
    else:
        renderer = structlog.processors.JSONRenderer(serializer=orjson.dumps)
        factory = structlog.BytesLoggerFactory(_line_writer())
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level_number),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    stdlib_renderer = renderer if console else structlog.processors.JSONRenderer(serializer=_orjson_text)
    _route_stdlib_logging(shared, stdlib_renderer, level_number)


def _line_writer() -> BinaryIO:
    """stdout's bytes. PYTHONUNBUFFERED=1 leaves it a raw file, whose `write` may take only part of a
    line (a pipe interrupted by a signal); a buffered writer, flushed per line, writes all of it."""
    stdout = sys.stdout.buffer
    return io.BufferedWriter(stdout) if isinstance(stdout, io.RawIOBase) else stdout


def _route_stdlib_logging(shared: list[Processor], renderer: Processor, level_number: int) -> None:
    """Every stdlib logger through the root's one handler, rendered by the same processors."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_number)
    for name in _STDLIB_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # The middleware's access line replaces uvicorn's; SQL echo stays off unless asked for explicitly.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("sqlalchemy.engine").setLevel(max(level_number, logging.WARNING))
