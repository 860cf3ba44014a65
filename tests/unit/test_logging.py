"""Log redaction and the JSON line shape, the access line's included (no I/O beyond a captured stdout)."""

from __future__ import annotations

import datetime
import io
import json
import logging
import re
from collections.abc import Buffer, Callable, Iterator
from types import SimpleNamespace

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider
from starlette.types import Message, Receive, Scope, Send

from app.observability.context import request_id
from app.observability.logging import REDACTED, add_context, configure_logging, mask_url_credentials, redact
from app.observability.middleware import ObservabilityMiddleware


def test_url_passwords_are_masked() -> None:
    masked = mask_url_credentials("connect postgresql+asyncpg://app:s3cr3t@db:5432/app failed")
    assert "s3cr3t" not in masked
    assert f"app:{REDACTED}@db:5432" in masked
    assert mask_url_credentials("redis://:pw@cache:6379/0") == f"redis://:{REDACTED}@cache:6379/0"


def test_secret_keys_are_masked_whatever_their_value() -> None:
    event = redact(None, "info", {"api_key": "k", "Authorization": "Bearer x", "dsn": "x", "user": "ann"})
    assert event == {"api_key": REDACTED, "Authorization": REDACTED, "dsn": REDACTED, "user": "ann"}


def test_ids_a_line_brings_are_kept_and_the_rest_come_from_the_context() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("current") as span:
        current = format(span.get_span_context().trace_id, "032x")
        given = add_context(None, "info", {"trace_id": "a" * 32, "span_id": None})
        filled = add_context(None, "info", {})
    assert (given["trace_id"], given["span_id"]) == ("a" * 32, None)  # the access line's own
    assert filled["trace_id"] == current


@pytest.fixture
def configure() -> Iterator[Callable[..., None]]:
    """`configure_logging` as the server calls it, called in the test body (it binds the sys.stdout
    that capsys installed). Loggers are not cached here, so no logger keeps this test's stdout."""

    def configure(level: str, *, console: bool = False) -> None:
        configure_logging(level, console=console)
        structlog.configure(cache_logger_on_first_use=False)

    yield configure
    # Other tests must not write to this test's captured stdout.
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


@pytest.mark.audit  # A10: logs are JSON with correlation IDs, not unstructured strings
def test_structlog_and_stdlib_share_one_json_stream(
    configure: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    configure("INFO")
    token = request_id.set("req-1")
    try:
        structlog.get_logger("app.test").info("hello", password="pw", url="redis://u:pw@h/0")
        logging.getLogger("thirdparty").warning("from %s", "stdlib")
    finally:
        request_id.reset(token)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["event"] for line in lines] == ["hello", "from stdlib"]
    assert [line["logger"] for line in lines] == ["app.test", "thirdparty"]
    for line in lines:
        assert {"timestamp", "level", "logger", "request_id", "trace_id", "span_id"} <= line.keys()
        assert line["request_id"] == "req-1"
    assert lines[0]["password"] == REDACTED
    assert "pw@" not in lines[0]["url"]
    assert lines[1]["level"] == "warning"


async def _answers_404(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _request(path: str, request_id_header: bytes) -> None:
    """One request through ObservabilityMiddleware, which writes its access line."""
    scope = {"type": "http", "method": "GET", "path": path, "headers": [(b"x-request-id", request_id_header)]}

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        pass

    await ObservabilityMiddleware(_answers_404)(scope, receive, send)


async def test_the_access_line_has_every_field_and_no_password(
    configure: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    configure("INFO")
    before = datetime.datetime.now(datetime.UTC)
    await _request("/x/redis://u:pw@h/0", b"req-2")
    after = datetime.datetime.now(datetime.UTC)
    (raw,) = capsys.readouterr().out.splitlines()
    line = json.loads(raw)
    assert line.keys() == {
        "timestamp", "level", "event", "logger", "request_id", "trace_id", "span_id",
        "path", "method", "route", "status", "duration_ms",
    }  # fmt: skip
    assert (line["level"], line["event"], line["logger"]) == ("info", "request", "app.access")
    assert (line["request_id"], line["trace_id"], line["span_id"]) == ("req-2", None, None)
    assert (line["method"], line["route"], line["status"]) == ("GET", "unmatched", 404)
    assert isinstance(line["duration_ms"], float)
    assert "pw@" not in line["path"]
    assert _ISO_UTC.fullmatch(line["timestamp"]), line["timestamp"]
    assert before <= datetime.datetime.fromisoformat(line["timestamp"]) <= after


@pytest.mark.parametrize("console", [False, True])
async def test_the_access_line_follows_the_log_level(
    console: bool, configure: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    configure("WARNING", console=console)
    await _request("/x", b"req-3")
    assert capsys.readouterr().out == ""


class _RawStdout(io.RawIOBase):
    """stdout as PYTHONUNBUFFERED=1 leaves it (a raw file): takes at most 100 bytes of a write, as a
    pipe interrupted by a signal may."""

    def __init__(self) -> None:
        self.written = b""

    def writable(self) -> bool:
        return True

    def write(self, data: Buffer) -> int:
        chunk = bytes(data)[:100]
        self.written += chunk
        return len(chunk)


def test_a_short_write_to_a_raw_stdout_loses_nothing(
    configure: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = _RawStdout()
    monkeypatch.setattr("sys.stdout", SimpleNamespace(buffer=raw))
    configure("INFO")
    for n in range(3):
        structlog.get_logger("app.test").info("line", n=n, detail="x" * 100)
    lines = [json.loads(line) for line in raw.written.splitlines()]
    assert [(line["n"], line["detail"]) for line in lines] == [(n, "x" * 100) for n in range(3)]


_ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")
