"""Log redaction and the JSON line shape (no I/O beyond a captured stdout)."""

from __future__ import annotations

import datetime
import io
import json
import logging
import re
from collections.abc import Buffer, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import structlog

from app.observability.context import request_id
from app.observability.logging import (
    REDACTED,
    access_fields,
    configure_logging,
    log_access,
    mask_url_credentials,
    redact,
)


def test_url_passwords_are_masked() -> None:
    masked = mask_url_credentials("connect postgresql+asyncpg://app:s3cr3t@db:5432/app failed")
    assert "s3cr3t" not in masked
    assert f"app:{REDACTED}@db:5432" in masked
    assert mask_url_credentials("redis://:pw@cache:6379/0") == f"redis://:{REDACTED}@cache:6379/0"


def test_secret_keys_are_masked_whatever_their_value() -> None:
    event = redact(None, "info", {"api_key": "k", "Authorization": "Bearer x", "dsn": "x", "user": "ann"})
    assert event == {"api_key": REDACTED, "Authorization": REDACTED, "dsn": REDACTED, "user": "ann"}


@pytest.fixture
def json_logging() -> Iterator[None]:
    yield
    # Other tests must not write to this test's captured stdout.
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


@pytest.mark.audit  # A10: logs are JSON with correlation IDs, not unstructured strings
@pytest.mark.usefixtures("json_logging")
def test_structlog_and_stdlib_share_one_json_stream(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")  # in the test body: it binds the sys.stdout that capsys installed
    token = request_id.set("rid-1")
    try:
        structlog.get_logger("app.test").info("hello", password="pw", url="redis://u:pw@h/0")
        logging.getLogger("thirdparty").warning("from %s", "stdlib")
    finally:
        request_id.reset(token)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["event"] for line in lines] == ["hello", "from stdlib"]
    for line in lines:
        assert {"timestamp", "level", "logger", "request_id", "trace_id", "span_id"} <= line.keys()
        assert line["request_id"] == "rid-1"
    assert lines[0]["password"] == REDACTED
    assert "pw@" not in lines[0]["url"]
    assert lines[1]["level"] == "warning"


def _fields(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "path": "/x/redis://u:pw@h/0",
        "method": "GET",
        "route": "unmatched",
        "status": 404,
        "seconds": 0.00125,
        "rid": "rid-2",
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "span_id": None,
    }
    return access_fields(**(values | overrides))


@pytest.mark.usefixtures("json_logging")
def test_the_direct_access_line_equals_the_structlog_line(capsys: pytest.CaptureFixture[str]) -> None:
    """The direct path renders what the processor chain renders: the same keys in the same order, the
    same values, the same timestamp format."""
    write_directly = configure_logging("INFO")
    assert write_directly is not log_access  # JSON at INFO: the direct path
    before = datetime.datetime.now(datetime.UTC)
    log_access(_fields())
    write_directly(_fields())
    after = datetime.datetime.now(datetime.UTC)
    through_structlog, direct = (json.loads(raw) for raw in capsys.readouterr().out.splitlines())
    assert list(direct) == list(through_structlog)
    assert {**direct, "timestamp": None} == {**through_structlog, "timestamp": None}
    for line in (direct, through_structlog):
        assert _ISO_UTC.fullmatch(line["timestamp"]), line["timestamp"]
        assert before <= datetime.datetime.fromisoformat(line["timestamp"]) <= after


@pytest.mark.usefixtures("json_logging")
def test_the_access_line_has_every_field_and_no_password(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")(_fields())
    (raw,) = capsys.readouterr().out.splitlines()
    line = json.loads(raw)
    assert line.keys() == {
        "timestamp", "level", "event", "logger", "request_id", "trace_id", "span_id",
        "path", "method", "route", "status", "duration_ms",
    }  # fmt: skip
    assert (line["level"], line["event"], line["logger"]) == ("info", "request", "app.access")
    assert (line["request_id"], line["trace_id"], line["span_id"]) == (
        "rid-2",
        "0af7651916cd43dd8448eb211c80319c",
        None,
    )
    assert (line["method"], line["route"], line["status"]) == ("GET", "unmatched", 404)
    assert line["duration_ms"] == 1.25
    assert "pw@" not in line["path"]


@pytest.mark.usefixtures("json_logging")
@pytest.mark.parametrize("console", [False, True])
def test_the_access_line_follows_the_log_level(console: bool, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING", console=console)(_fields())
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


@pytest.mark.usefixtures("json_logging")
def test_a_short_write_to_a_raw_stdout_loses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = _RawStdout()
    monkeypatch.setattr("sys.stdout", SimpleNamespace(buffer=raw))
    write = configure_logging("INFO")
    for n in range(3):
        write(_fields(rid=f"rid-{n}"))
    structlog.get_logger("app.test").info("after", detail="x" * 300)
    lines = [json.loads(line) for line in raw.written.splitlines()]
    assert [line.get("request_id") for line in lines[:3]] == ["rid-0", "rid-1", "rid-2"]
    assert lines[3]["detail"] == "x" * 300


_ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")
