"""The real `python -m app serve` process: JSON logs, request and trace IDs, metrics on their own
port, no secret in any output, a drained stop on SIGTERM, and start-up errors that name the variable."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import API_KEY
from tests.integration.server import ServerProcess, run_app, server_env, wait_until

DB_PASSWORD = "db-pw-9d8c7b6a5f"  # Postgres here trusts local connections, so any password works
REDIS_PASSWORD = "redis-pw-1a2b3c4d5e"


@pytest.fixture(scope="module")
def server(database_url: str, redis_prefix: str) -> Any:
    dsn = database_url.replace("postgresql://postgres@", f"postgresql://postgres:{DB_PASSWORD}@")
    env = server_env(dsn, redis_prefix, OTEL_TRACES_SAMPLER="parentbased_always_on")
    with ServerProcess(env) as running:
        yield running


def test_logs_are_json_lines_with_request_and_trace_ids(server: ServerProcess) -> None:
    trace_id = uuid.uuid4().hex
    response = httpx.get(
        f"{server.url}/v1/customers/{uuid.uuid4()}",
        headers={
            "X-API-Key": API_KEY,
            "X-Request-ID": "req-42.abc",
            "traceparent": f"00-{trace_id}-b7ad6b7169203331-01",
        },
    )
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "req-42.abc"
    # Every line the server wrote parses as JSON, or this raises.
    access = server.access_lines(lambda line: line["request_id"] == "req-42.abc")
    assert len(access) == 1
    line = access[0]
    assert line["route"] == "/v1/customers/{customer_id}"
    assert line["status"] == 404
    assert line["trace_id"] == trace_id
    assert {"timestamp", "level", "logger", "duration_ms", "span_id"} <= line.keys()


def test_an_untraced_request_still_logs_the_callers_trace_id(server: ServerProcess) -> None:
    trace_id = uuid.uuid4().hex
    headers = {"X-Request-ID": "req-untraced", "traceparent": f"00-{trace_id}-b7ad6b7169203331-00"}
    assert httpx.get(f"{server.url}/no/such/route", headers=headers).status_code == 404
    access = server.access_lines(lambda line: line["request_id"] == "req-untraced")
    assert [line["trace_id"] for line in access] == [trace_id]  # not sampled, yet joinable upstream


def test_a_traced_request_records_its_database_span_and_an_untraced_one_records_none(
    database_url: str, redis_prefix: str
) -> None:
    """The server starts untraced (the instrumentations stand aside for the 99 % of requests that are
    not sampled); a sampled request must still get its DB span. Spans go to the console exporter."""
    traced, untraced = uuid.uuid4().hex, uuid.uuid4().hex
    with ServerProcess(server_env(database_url, redis_prefix, OTEL_TRACES_EXPORTER="console")) as running:
        running.wait_until_ready()
        for trace_id, flag in ((traced, "01"), (untraced, "00")):
            headers = {"X-API-Key": API_KEY, "traceparent": f"00-{trace_id}-b7ad6b7169203331-{flag}"}
            assert httpx.get(f"{running.url}/v1/customers/{uuid.uuid4()}", headers=headers).status_code == 404
        assert running.terminate() == 0  # the tracer provider exports its batch at shutdown
        spans = [obj for obj in _json_objects(running.output()) if "kind" in obj and "context" in obj]
    assert {span["context"]["trace_id"] for span in spans} == {f"0x{traced}"}
    kinds = {span["kind"]: span for span in spans}
    assert kinds["SpanKind.CLIENT"]["parent_id"] == kinds["SpanKind.SERVER"]["context"]["span_id"]


def _json_objects(output: str) -> list[dict[str, Any]]:
    """Every JSON object in the output: one-line log records and the console exporter's indented spans."""
    decoder, objects, at = json.JSONDecoder(), [], 0
    while (at := output.find("{", at)) != -1:
        obj, at = decoder.raw_decode(output, at)
        objects.append(obj)
    return objects


def test_a_hostile_request_id_is_replaced_not_echoed(server: ServerProcess) -> None:
    huge = "A" * 10_000
    response = httpx.get(f"{server.url}/health/live", headers={"X-Request-ID": huge})
    assert response.status_code == 200
    assert len(response.headers["x-request-id"]) == 32  # a fresh ID, not the caller's
    # Control characters never reach the app: the HTTP parser refuses the request outright.
    refused = httpx.get(f"{server.url}/health/live", headers=[(b"X-Request-ID", b"evil\x01\x1b[2J")])
    assert refused.status_code == 400
    assert "evil" not in refused.text
    assert huge not in server.output()


def test_metrics_live_on_their_own_port_with_route_templates(server: ServerProcess) -> None:
    httpx.get(f"{server.url}/v1/orders/{uuid.uuid4()}", headers={"X-API-Key": API_KEY})
    httpx.get(f"{server.url}/no/such/{uuid.uuid4()}")
    text = httpx.get(server.metrics_url).text
    assert 'http_route="/v1/orders/{order_id}"' in text
    assert 'http_route="unmatched"' in text
    assert "build_info{" in text
    assert httpx.get(f"{server.url}/metrics").status_code == 404  # never on the public listener


def test_latency_buckets_carry_exemplars_for_openmetrics_scrapers(server: ServerProcess) -> None:
    trace_id = uuid.uuid4().hex
    headers = {"X-API-Key": API_KEY, "traceparent": f"00-{trace_id}-b7ad6b7169203331-01"}
    httpx.get(f"{server.url}/v1/customers/{uuid.uuid4()}", headers=headers)
    openmetrics = httpx.get(server.metrics_url, headers={"Accept": "application/openmetrics-text"}).text
    assert f'# {{trace_id="{trace_id}"}}' in openmetrics  # a slow bucket links to its trace
    assert "trace_id" not in httpx.get(server.metrics_url).text  # the classic format has no exemplars


def test_no_secret_reaches_a_log_line_or_a_body(server: ServerProcess) -> None:
    httpx.get(f"{server.url}/v1/customers/{uuid.uuid4()}", headers={"X-API-Key": "wrong-" + API_KEY})
    health = httpx.get(f"{server.url}/health")
    output = server.output()
    for secret in (DB_PASSWORD, API_KEY):
        assert secret not in output
        assert secret not in health.text


def test_a_bad_setting_stops_start_up_with_one_line_naming_it() -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "API_KEYS": API_KEY,
        "PORT": "not-a-port",
        "DATABASE_URL": f"mysql://root:{DB_PASSWORD}@db/app",
    }
    result = run_app("serve", env, timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith("invalid setting PORT:") for line in lines)
    assert any(line.startswith("invalid setting DATABASE_URL:") for line in lines)
    assert DB_PASSWORD not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_sigterm_drains_without_failing_a_request(database_url: str, redis_prefix: str) -> None:
    drain = 1.5
    env = server_env(database_url, redis_prefix, DRAIN_SECONDS=str(drain))
    results: list[tuple[float, str, int | str]] = []
    stop = threading.Event()
    stopped_listening = threading.Event()

    def traffic(path: str, headers: dict[str, str]) -> None:
        with httpx.Client(base_url=running.url, headers=headers, timeout=5) as http:
            while not stop.is_set():
                try:
                    results.append((time.monotonic(), path, http.get(path).status_code))
                except httpx.ConnectError:
                    results.append((time.monotonic(), path, "refused"))  # the listener is closed: done
                    return
                except httpx.HTTPError as error:
                    results.append((time.monotonic(), path, type(error).__name__))
                    if stopped_listening.is_set():
                        return
                time.sleep(0.01)

    with ServerProcess(env) as running:
        workers = [
            threading.Thread(target=traffic, args=(f"/v1/customers/{uuid.uuid4()}", {"X-API-Key": API_KEY})),
            threading.Thread(target=traffic, args=("/health/ready", {})),
        ]
        for worker in workers:
            worker.start()
        wait_until(lambda: {path.split("/")[1] for _, path, _ in results} == {"v1", "health"})  # both flow
        signalled = time.monotonic()
        threading.Timer(drain, stopped_listening.set).start()
        exit_code = running.terminate()
        stop.set()
        for worker in workers:
            worker.join(timeout=10)
        output = running.output()

    assert exit_code == 0, output
    # The promise covers every request until the listener closes at the end of the drain period. A
    # connection the kernel accepted just as it closed is reset: that is the listener closing, like a
    # refused connection, and what the load balancer's deregistration delay exists to avoid.
    listener_closed = signalled + drain
    failures = [
        (round(at - signalled, 2), status)
        for at, path, status in results
        if path.startswith("/v1") and status not in (404, "refused") and at < listener_closed
    ]
    assert not failures, f"requests failed before the listener closed (seconds after SIGTERM): {failures}"
    served_after_signal = [
        s for at, path, s in results if at > signalled and path.startswith("/v1") and s == 404
    ]
    assert served_after_signal, "the server stopped serving at once instead of draining"
    ready = [(at, status) for at, path, status in results if path == "/health/ready"]
    went_503 = [at for at, status in ready if status == 503]
    assert went_503, "readiness never reported 503 while draining"
    assert min(went_503) - signalled < 0.5  # at once, well before the drain period ended
    assert "Application shutdown complete" in output
