"""The real `python -m app serve` at its edges: no slash redirects, only the exact probe paths
unobserved, HEAD on liveness, non-JSON media types refused, a cap on callers' sampled traces, and a
listener that is up while Postgres hangs."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import API_KEY
from tests.integration.server import ServerProcess, server_env

SAMPLED = "00-{}-b7ad6b7169203331-01"


@pytest.fixture(scope="module")
def server(database_url: str, redis_prefix: str) -> Iterator[ServerProcess]:
    env = server_env(database_url, redis_prefix, TRACE_SAMPLED_PARENTS_PER_SECOND="2")
    with ServerProcess(env) as running:
        yield running


def _metric(server: ServerProcess, sample: str) -> float:
    for line in httpx.get(server.metrics_url).text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/health/"), ("GET", "/health/live/"), ("POST", "/v1/orders/")]
)
def test_a_trailing_slash_is_a_404_problem_never_a_host_derived_redirect(
    server: ServerProcess, method: str, path: str
) -> None:
    response = httpx.request(
        method, server.url + path, headers={"Host": "evil.example", "X-API-Key": API_KEY}, json={}
    )
    assert response.status_code == 404, response.headers
    assert "location" not in response.headers
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("path", ["/healthXYZ", "/health-anything/etc/passwd", "/health/"])
def test_paths_that_only_start_like_a_probe_are_logged_and_counted(server: ServerProcess, path: str) -> None:
    series = (
        'http_server_request_duration_seconds_count{http_request_method="GET",'
        'http_response_status_code="404",http_route="unmatched"}'
    )
    before = _metric(server, series)
    request_id = f"edge-{uuid.uuid4().hex[:12]}"
    assert httpx.get(server.url + path, headers={"X-Request-ID": request_id}).status_code == 404
    assert [line["path"] for line in server.access_lines(lambda line: line["request_id"] == request_id)] == [
        path
    ]
    assert _metric(server, series) == before + 1


def test_the_probes_themselves_are_neither_logged_nor_counted(server: ServerProcess) -> None:
    probe_ids = {
        f"probe-{uuid.uuid4().hex[:12]}": path for path in ("/health", "/health/live", "/health/ready")
    }
    for request_id, path in probe_ids.items():
        httpx.get(server.url + path, headers={"X-Request-ID": request_id})
    # A request that is logged, sent after the probes: once its line is out, theirs would be too.
    marker = f"marker-{uuid.uuid4().hex[:12]}"
    httpx.get(server.url + "/no/such/path", headers={"X-Request-ID": marker})
    lines = server.access_lines(lambda line: line["request_id"] in {marker, *probe_ids})
    assert [line["request_id"] for line in lines] == [marker]
    assert 'http_route="/health' not in httpx.get(server.metrics_url).text


def test_head_on_liveness_is_answered(server: ServerProcess) -> None:
    response = httpx.head(server.url + "/health/live")
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize("media_type", ["text/x+json", "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_a_415(server: ServerProcess, media_type: str) -> None:
    response = httpx.post(
        server.url + "/v1/customers",
        content=b'{"email": "a@example.com", "name": "A"}',
        headers={"X-API-Key": API_KEY, "Content-Type": media_type},
    )
    assert response.status_code == 415, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_callers_sampled_traceparents_are_traced_at_a_capped_rate(server: ServerProcess) -> None:
    """TRACE_SAMPLED_PARENTS_PER_SECOND=2 here: of 40 requests sent at once, each with a sampled
    traceparent, the server traces a burst of two and whatever refills while they run; every line
    still carries the caller's trace ID."""
    trace_ids = [uuid.uuid4().hex for _ in range(40)]
    started = time.monotonic()
    with httpx.Client(base_url=server.url, headers={"X-API-Key": API_KEY}) as client:
        for trace_id in trace_ids:
            client.get(f"/v1/orders/{uuid.uuid4()}", headers={"traceparent": SAMPLED.format(trace_id)})
    elapsed = time.monotonic() - started
    lines = server.access_lines(lambda line: line["trace_id"] in set(trace_ids), at_least=40)
    assert len(lines) == 40
    traced = [line for line in lines if line["span_id"] is not None]
    assert 2 <= len(traced) <= 2 + 2 * elapsed + 1


@pytest.fixture
def silent_postgres() -> Iterator[int]:
    """A TCP listener that accepts connections and never answers, as a hung Postgres would."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    listener.close()


def test_the_listener_is_up_while_postgres_accepts_and_never_answers(
    silent_postgres: int, redis_prefix: str
) -> None:
    """The start-up connection is opened in the background: with a connect timeout of 60 s, liveness
    answers long before it (the server is given 20 s to start), and readiness reports the database."""
    env = server_env(
        f"postgresql://postgres@127.0.0.1:{silent_postgres}/app", redis_prefix, DB_CONNECT_TIMEOUT="60"
    )
    with ServerProcess(env, startup_timeout=20) as server:
        assert httpx.get(server.url + "/health/live").status_code == 200
        assert httpx.get(server.url + "/health/ready", timeout=5).status_code == 503
        assert server.terminate(timeout=30) == 0
