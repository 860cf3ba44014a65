"""What one client can hold or forge against the real `python -m app serve` on loopback: bounded
request heads and targets, head- and body-read timeouts, bounded pipelining, a connection cap, the
protocol's Host and whitespace rules, trailers that never act as headers, bounded error documents,
hang-ups that are not errors, and warnings about bad requests that cannot flood the log.

Raw sockets, because an HTTP client library refuses to send most of these requests. Every loop is
bounded, every socket is closed by its test, and waits are generous upper bounds, never measurements.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, closing, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.http_protocol import PIPELINED_REQUESTS
from tests.conftest import API_KEY
from tests.integration.server import ServerProcess, server_env

HEAD_LIMIT = 8192
HEADER_COUNT = 30
HEAD_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
WAIT = 15.0  # the longest any read waits for the server: far beyond every limit under test


@pytest.fixture(scope="module")
def server(database_url: str, redis_prefix: str) -> Iterator[ServerProcess]:
    env = server_env(
        database_url,
        redis_prefix,
        MAX_HEAD_BYTES=str(HEAD_LIMIT),
        MAX_HEADER_COUNT=str(HEADER_COUNT),
        HEAD_READ_TIMEOUT=str(HEAD_TIMEOUT),
        BODY_READ_TIMEOUT=str(BODY_TIMEOUT),
    )
    with ServerProcess(env) as running:
        yield running


def _connect(server: ServerProcess) -> socket.socket:
    port = int(server.url.rsplit(":", 1)[1])
    return socket.create_connection(("127.0.0.1", port), timeout=WAIT)


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response: status, headers (lower-cased names), body (by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response head: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed the connection (EOF or reset) within WAIT."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def _exchange(server: ServerProcess, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with closing(_connect(server)) as sock:
        sock.sendall(request)
        return _read_response(sock)


def _log_events(server: ServerProcess, event: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == event]


def _get(path: str, *headers: str) -> bytes:
    return "\r\n".join([f"GET {path} HTTP/1.1", "Host: test", *headers, "", ""]).encode()


# Request heads


def test_a_finished_head_over_the_limit_is_refused_with_431(server: ServerProcess) -> None:
    status, headers, body = _exchange(server, _get("/health/live", "X-Big: " + "a" * HEAD_LIMIT))
    assert status == 431
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert json.loads(body)["status"] == 431
    # Just under the limit is served.
    status, _, _ = _exchange(server, _get("/health/live", "X-Big: " + "a" * (HEAD_LIMIT - 200)))
    assert status == 200


def test_an_unfinished_head_is_cut_off_at_the_limit(server: ServerProcess) -> None:
    """A header line that never ends: the server closes the connection long before 4 MB have gone."""
    sent = 0
    with closing(_connect(server)) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\nX-Endless: ")
        try:
            while sent < 4 * 1024 * 1024:
                sock.sendall(b"a" * 16384)
                sent += 16384
        except OSError:
            pass  # the server closed the connection: what this test waits for
        assert sent < 4 * 1024 * 1024, "the server kept reading an unfinished head"
        assert _closed_by_server(sock)
    assert _log_events(server, "request head too large")


def test_too_many_header_fields_are_refused_with_431(server: ServerProcess) -> None:
    many = [f"X-Field-{number}: 1" for number in range(HEADER_COUNT + 1)]
    status, _, body = _exchange(server, _get("/health/live", *many))
    assert status == 431
    assert "header fields" in json.loads(body)["detail"]
    status, _, _ = _exchange(server, _get("/health/live", *many[: HEADER_COUNT - 2]))
    assert status == 200


# Head-read timeout


def test_a_silent_connection_is_closed_after_the_head_timeout(server: ServerProcess) -> None:
    with closing(_connect(server)) as sock:
        status, _, _ = _read_response(sock)
        assert status == 408
        assert _closed_by_server(sock)


def test_a_trickling_head_is_closed_after_the_head_timeout(server: ServerProcess) -> None:
    """One header line every 0.2 s never completes a head; the server closes it within the timeout."""
    with closing(_connect(server)) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\n")
        try:
            for number in range(int(WAIT / 0.2)):
                sock.sendall(f"X-Slow-{number}: 1\r\n".encode())
                time.sleep(0.2)
        except OSError:
            pass
        else:
            pytest.fail("the server kept a trickling head open")
        assert _closed_by_server(sock)


def test_a_keep_alive_connection_that_sends_one_byte_is_closed(server: ServerProcess) -> None:
    with closing(_connect(server)) as sock:
        sock.sendall(_get("/health/live"))
        assert _read_response(sock)[0] == 200
        sock.sendall(b"G")
        assert _read_response(sock)[0] == 408
        assert _closed_by_server(sock)


def test_an_idle_keep_alive_connection_outlives_the_head_timeout(server: ServerProcess) -> None:
    """Between requests the keep-alive timeout applies (75 s), not the head timeout."""
    with closing(_connect(server)) as sock:
        sock.sendall(_get("/health/live"))
        assert _read_response(sock)[0] == 200
        time.sleep(HEAD_TIMEOUT * 2)
        sock.sendall(_get("/health/live"))
        assert _read_response(sock)[0] == 200


# Connection cap


def test_connections_over_the_cap_get_503_and_are_closed(database_url: str, redis_prefix: str) -> None:
    cap = 5
    env = server_env(database_url, redis_prefix, MAX_CLIENT_CONNECTIONS=str(cap), HEAD_READ_TIMEOUT="30")
    with ServerProcess(env) as running, ExitStack() as held:
        silent = [held.enter_context(closing(_connect(running))) for _ in range(cap)]
        with closing(_connect(running)) as over:
            status, headers, body = _read_response(over)
            assert status == 503
            assert headers["retry-after"] == "1"
            assert json.loads(body)["status"] == 503
            assert _closed_by_server(over)
        for sock in silent:
            sock.close()
        # Once they are gone, requests are served again (the server notices the closes at once;
        # the loop only allows for a loaded machine).
        for _ in range(50):
            if httpx.get(running.url + "/health/live", timeout=WAIT).status_code == 200:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the server did not serve again after the connections closed")
        assert _log_events(running, "connection refused: too many open connections")


# Trailers


def _chunked_post(path: str, body: bytes, headers: list[str], trailers: list[str]) -> bytes:
    head = "\r\n".join([f"POST {path} HTTP/1.1", "Host: test", "Transfer-Encoding: chunked", *headers])
    framed = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n"
    return head.encode() + b"\r\n\r\n" + framed + "".join(f"{t}\r\n" for t in trailers).encode() + b"\r\n"


def test_a_trailer_never_authenticates_or_names_the_request(server: ServerProcess) -> None:
    body = json.dumps({"email": f"trailer-{uuid.uuid4().hex[:8]}@example.com", "name": "Tess"}).encode()
    request = _chunked_post(
        "/v1/customers",
        body,
        ["Content-Type: application/json"],
        [f"X-API-Key: {API_KEY}", "X-Request-ID: from-the-trailer"],
    )
    status, headers, _ = _exchange(server, request)  # one segment: parsed before the app runs
    assert status == 401
    assert headers["x-request-id"] != "from-the-trailer"


def test_a_trailer_never_sets_the_idempotency_key(server: ServerProcess) -> None:
    email = f"idem-{uuid.uuid4().hex[:8]}@example.com"
    customer = httpx.post(
        server.url + "/v1/customers", json={"email": email, "name": "Ida"}, headers={"X-API-Key": API_KEY}
    ).json()
    order = json.dumps(
        {"customer_id": customer["id"], "items": [{"sku": "A-1", "quantity": 1, "unit_price_cents": 5}]}
    )
    request = _chunked_post(
        "/v1/orders",
        order.encode(),
        ["Content-Type: application/json", f"X-API-Key: {API_KEY}"],
        [f"Idempotency-Key: {uuid.uuid4()}"],
    )
    placed = [_exchange(server, request) for _ in range(2)]
    assert [status for status, _, _ in placed] == [201, 201]
    assert json.loads(placed[0][2])["id"] != json.loads(placed[1][2])["id"]  # no replay: two orders


def test_a_trailer_never_sets_the_content_type(server: ServerProcess) -> None:
    body = json.dumps({"email": f"type-{uuid.uuid4().hex[:8]}@example.com", "name": "Tia"}).encode()
    request = _chunked_post(
        "/v1/customers", body, [f"X-API-Key: {API_KEY}"], ["Content-Type: application/json"]
    )
    status, headers, _ = _exchange(server, request)
    assert status == 415  # the body has no media type: the trailer's is not the request's
    assert headers["content-type"] == "application/problem+json"


def test_trailers_over_the_head_limit_are_refused(server: ServerProcess) -> None:
    trailers = [f"X-Trailer-{number}: {'t' * 512}" for number in range(2 * HEAD_LIMIT // 512)]
    request = _chunked_post("/health/live", b"{}", [], trailers)
    with closing(_connect(server)) as sock:
        with suppress(OSError):  # closed while sending: refused
            sock.sendall(request)
        assert _closed_by_server(sock)


# Logs


def test_bad_requests_are_logged_at_most_once_per_interval(server: ServerProcess) -> None:
    before = len(_log_events(server, "invalid HTTP request refused"))
    for _ in range(20):
        status, _, body = _exchange(server, b"GET / HTTP/1.1\r\nHost: test\r\nX-Bad: a\x01b\r\n\r\n")
        assert status == 400
        assert json.loads(body)["status"] == 400
    time.sleep(0.3)
    logged = _log_events(server, "invalid HTTP request refused")[before:]
    assert len(logged) <= 2  # one per 10 s interval; the loop may straddle one boundary


# Pipelining and hang-ups


_PIPELINE_FULL = "pipelined requests past the limit: closing after those read"


def _rss_bytes(server: ServerProcess) -> int:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(kilobytes) * 1024


def _flood(sock: socket.socket, request: bytes, total: int) -> int:
    """Sends `request` over and over, up to `total` bytes, never reading; returns the bytes sent."""
    batch = request * (65536 // len(request))
    sent = 0
    with suppress(OSError):  # the server closed the connection: what the bounded tests wait for
        while sent < total:
            sock.sendall(batch)
            sent += len(batch)
    return sent


def test_pipelined_requests_hold_bounded_memory(server: ServerProcess) -> None:
    """4 MB of pipelined requests whose answers are never read: the server reads a few ahead, answers
    them, closes, and its memory hardly moves; other clients are served meanwhile."""
    before = _rss_bytes(server)
    with closing(_connect(server)) as sock:
        sock.settimeout(5.0)
        _flood(sock, _get("/health/live"), 4 * 1024 * 1024)
        grown = _rss_bytes(server) - before
        assert httpx.get(server.url + "/health/live", timeout=WAIT).status_code == 200
        assert _closed_by_server(sock)
    assert grown < 32 * 1024 * 1024, f"the server grew by {grown // 1024} KB"
    assert _log_events(server, _PIPELINE_FULL)


def test_a_client_that_hangs_up_mid_pipeline_is_not_an_error(server: ServerProcess) -> None:
    """200 pipelined order reads, then a hang-up while they are answered: no error line, only the
    access lines of the few requests the server read ahead (PIPELINED_REQUESTS and the one answered)."""
    hang_ups = 3
    before = server.output().count("\n")
    for _ in range(hang_ups):
        with closing(_connect(server)) as sock:
            sock.sendall(_get(f"/v1/orders/{uuid.uuid4()}", f"X-API-Key: {API_KEY}") * 200)
            time.sleep(0.05)  # the first answers are on their way
    assert httpx.get(server.url + "/health/live", timeout=WAIT).status_code == 200
    time.sleep(1.0)  # the requests in flight finish meanwhile
    new = [json.loads(line) for line in server.output().splitlines()[before:] if line.startswith("{")]
    assert [line for line in new if line["level"] in {"error", "critical"}] == []
    assert {line["event"] for line in new} <= {"request", _PIPELINE_FULL}
    assert len([line for line in new if line["event"] == "request"]) <= hang_ups * (PIPELINED_REQUESTS + 1)


# Body-read timeout


def test_a_body_that_stalls_after_the_head_gets_408(server: ServerProcess) -> None:
    head = "\r\n".join(
        [
            "POST /v1/customers HTTP/1.1",
            "Host: test",
            f"X-API-Key: {API_KEY}",
            "Content-Type: application/json",
            "Content-Length: 100",
            "",
            "",
        ]
    )
    with closing(_connect(server)) as sock:
        sock.sendall(head.encode() + b"{")
        status, headers, body = _read_response(sock)
        assert status == 408
        assert headers["content-type"] == "application/problem+json"
        assert "body" in json.loads(body)["detail"]
        assert _closed_by_server(sock)
    assert _log_events(server, "request body not received in time")


# Protocol rules


def test_a_request_target_over_the_head_limit_is_414(server: ServerProcess) -> None:
    status, headers, body = _exchange(server, _get("/health/live?" + "q" * 2 * HEAD_LIMIT))
    assert status == 414
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["status"] == 414


def test_http_1_1_needs_exactly_one_host(server: ServerProcess) -> None:
    missing = b"GET /health/live HTTP/1.1\r\n\r\n"
    twice = b"GET /health/live HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
    for request in (missing, twice):
        status, _, body = _exchange(server, request)
        assert status == 400
        assert "Host" in json.loads(body)["detail"]
    # HTTP/1.0 may leave it out.
    assert _exchange(server, b"GET /health/live HTTP/1.0\r\n\r\n")[0] == 200


def test_trailing_whitespace_is_not_part_of_a_header_value(server: ServerProcess) -> None:
    for padding in ("  ", "\t", " \t "):
        request = _get(f"/v1/orders/{uuid.uuid4()}", f"X-API-Key: {API_KEY}{padding}")
        assert _exchange(server, request)[0] == 404  # authenticated: the order does not exist
    assert _exchange(server, _get(f"/v1/orders/{uuid.uuid4()}", f"X-API-Key: {API_KEY}x"))[0] == 401


def test_an_invalid_traceparent_is_ignored(server: ServerProcess) -> None:
    """Not sampled (`-00`), so no span of the server's own: the access line's trace_id is the
    caller's when its traceparent is valid, and none of the caller's when it is not."""
    trace_id, parent_id = uuid.uuid4().hex, "b7ad6b7169203331"
    sent = {
        "valid": f"00-{trace_id}-{parent_id}-00",
        "zero-trace": f"00-{'0' * 32}-{parent_id}-00",
        "zero-parent": f"00-{trace_id}-{'0' * 16}-00",
        "version-ff": f"ff-{trace_id}-{parent_id}-00",
    }
    for name, traceparent in sent.items():
        headers = {"traceparent": traceparent, "X-Request-ID": f"tp-{name}-{trace_id}", "X-API-Key": API_KEY}
        httpx.get(f"{server.url}/v1/orders/{uuid.uuid4()}", headers=headers, timeout=WAIT)
    time.sleep(0.3)
    logged = {line["request_id"]: line["trace_id"] for line in _log_events(server, "request")}
    assert logged[f"tp-valid-{trace_id}"] == trace_id  # the control: a valid one is adopted
    for name in ("zero-trace", "zero-parent", "version-ff"):
        assert logged[f"tp-{name}-{trace_id}"] not in {trace_id, "0" * 32}


# Bodies


def test_json_in_utf16_or_utf32_is_a_400_problem(server: ServerProcess) -> None:
    email = f"utf-{uuid.uuid4().hex[:8]}@example.com"
    headers = {"X-API-Key": API_KEY, "Content-Type": "application/json"}
    text = json.dumps({"email": email, "name": "Uta"})
    for encoding in ("utf-16", "utf-16-be", "utf-16-le", "utf-32", "utf-32-be"):
        response = httpx.post(server.url + "/v1/customers", content=text.encode(encoding), headers=headers)
        assert response.status_code == 400, (encoding, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    # None of them signed up: the same address is still free.
    placed = httpx.post(server.url + "/v1/customers", content=text.encode(), headers=headers)
    assert placed.status_code == 201


def test_an_error_document_is_bounded_in_bytes(server: ServerProcess) -> None:
    """20 unknown fields with 2,900-character names (58 KB in): the 422 stays small."""
    body = json.dumps({f"{number:02d}{'n' * 2898}": 1 for number in range(20)}).encode()
    headers = {"X-API-Key": API_KEY, "Content-Type": "application/json"}
    response = httpx.post(server.url + "/v1/customers", content=body, headers=headers, timeout=WAIT)
    assert response.status_code == 422
    assert response.json()["error_count"] == 22  # the 20 unknown fields, and email and name missing
    assert len(response.content) < 6 * 1024


# The metrics port


def test_a_silent_connection_to_the_metrics_port_is_closed(server: ServerProcess) -> None:
    """prometheus-client's server would keep a thread on it for as long as it stays open."""
    port = int(server.metrics_url.split(":")[2].split("/")[0])
    with closing(socket.create_connection(("127.0.0.1", port), timeout=WAIT)) as sock:
        assert _closed_by_server(sock)  # CONNECTION_TIMEOUT, 10 s
    assert httpx.get(server.metrics_url, timeout=WAIT).status_code == 200
