"""Log redaction and the JSON line shape (no I/O beyond a captured stdout)."""

from __future__ import annotations

import datetime
import io
import json
import logging
from collections.abc import Buffer, Iterator
from types import SimpleNamespace

import pytest
import structlog

from app.observability.context import request_id
from app.observability.logging import (
    REDACTED,
    _AccessLine,
    configure_logging,
    mask_url_credentials,
    redact,
    write_access_lines,
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
    _AccessLine.enabled, _AccessLine.direct = True, False  # as before configure_logging


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


@pytest.mark.usefixtures("json_logging")
def test_the_access_line_has_every_field_and_no_password(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    finished = ("rid-2", trace_id, None, "GET", "unmatched", "/x/redis://u:pw@h/0", 404, 0.00125)
    before = datetime.datetime.now(datetime.UTC)
    write_access_lines([finished])
    after = datetime.datetime.now(datetime.UTC)
    (raw,) = capsys.readouterr().out.splitlines()
    line = json.loads(raw)
    assert list(line)[:4] == ["timestamp", "level", "event", "logger"]  # every JSON line's order
    assert (line["level"], line["event"], line["logger"]) == ("info", "request", "app.access")
    assert line["timestamp"].endswith("Z")
    assert before <= datetime.datetime.fromisoformat(line["timestamp"]) <= after  # when it was written
    assert (line["request_id"], line["trace_id"], line["span_id"]) == (
        "rid-2",
        "0af7651916cd43dd8448eb211c80319c",
        None,
    )
    assert (line["method"], line["route"], line["status"]) == ("GET", "unmatched", 404)
    assert line["duration_ms"] == 1.25
    assert "pw@" not in line["path"]


@pytest.mark.usefixtures("json_logging")
def test_the_access_line_follows_the_log_level(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING")
    write_access_lines([("rid-3", None, None, "GET", "/x", "/x", 200, 0.001)])
    assert capsys.readouterr().out == ""


class _RawStdout(io.RawIOBase):
    """stdout as PYTHONUNBUFFERED=1 leaves it (a raw file): records each write, and takes at most 100
    bytes of one, as a pipe interrupted by a signal may."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Buffer) -> int:
        chunk = bytes(data)[:100]
        self.writes.append(chunk)
        return len(chunk)


@pytest.mark.usefixtures("json_logging")
def test_a_pass_of_access_lines_is_one_write_and_a_short_write_loses_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure_logging("INFO")
    raw = _RawStdout()
    monkeypatch.setattr("sys.stdout", SimpleNamespace(buffer=raw))
    finished = [(f"rid-{n}", None, None, "GET", "/x", "/x", 200, 0.001) for n in range(3)]
    write_access_lines(finished)
    written = b"".join(raw.writes)
    assert [json.loads(line)["request_id"] for line in written.splitlines()] == ["rid-0", "rid-1", "rid-2"]
    # One write call for the pass, resumed where a short write stopped: ceil(len / 100) writes, no more.
    assert len(raw.writes) == -(-len(written) // 100)
