"""M7, M1-M3: the rules and dashboards work against the real service in a real Prometheus.

Two real servers (`python -m app serve`) on loopback: one healthy, one degraded on purpose (Redis
unreachable, one-connection pools with a 10 ms checkout timeout and the order cache off, so it answers
real 503s and counts real Redis errors and pool timeouts). A real Prometheus (the `prometheus` binary,
a temporary config and data directory, a free loopback port) scrapes both every second with the
repository's rule files.

Then: every recording and alerting rule evaluates without error; every metric that a rule, a panel
or a runbook query reads is really ingested (no dead queries; `up` and node_exporter's disk metrics
come from elsewhere); and the SLI rules produce numbers from the real label values. Bounded in time;
every process is stopped however the test ends.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import httpx
import pytest
import yaml

from tests.conftest import API_KEY
from tests.infra.promql import (
    EXTERNAL_METRICS,
    RULES_DIR,
    dashboard_queries,
    dashboards,
    metric_names,
    recording_rules,
    rule_expressions,
    runbook_queries,
)
from tests.integration.server import ServerProcess, free_port, server_env

STARTUP_TIMEOUT = 30.0
SETTLE_TIMEOUT = 60.0  # scrapes every 1 s, rules every 1 s: a few seconds normally
HEADERS = {"X-API-Key": API_KEY}

pytestmark = pytest.mark.prometheus  # needs the binary: skipped in the compose tests container


class PrometheusProcess:
    """`prometheus` on 127.0.0.1 with its own config and data directory; always stopped on exit."""

    def __init__(self, workdir: Path, targets: list[str]) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("M7: the prometheus binary is missing: run `make tools` (apt package prometheus)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in sorted(RULES_DIR.glob("*.yml"))],
            "scrape_configs": [{"job_name": "orders-api", "static_configs": [{"targets": targets}]}],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.command = [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1h",
        ]
        self._log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115  # closed in __exit__
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        self.process = subprocess.Popen(self.command, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=0.5).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"prometheus not ready in {STARTUP_TIMEOUT} s:\n{self.output()}")

    def api(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=5)
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result

    def output(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-4000:]

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


def wait_until(check: Callable[[], str | None], timeout: float = SETTLE_TIMEOUT) -> None:
    """Poll `check` (None = done, else what is still missing) until done; fail with the last answer."""
    deadline = time.monotonic() + timeout
    missing = check()
    while missing is not None and time.monotonic() < deadline:
        time.sleep(0.5)
        missing = check()
    assert missing is None, f"M7: after {timeout:.0f} s: {missing}"


def drive_healthy(url: str) -> None:
    """Signups in both flag groups, orders through both checkout flows, reads, and client errors."""
    with httpx.Client(base_url=url, headers=HEADERS, timeout=10) as client:
        customers = []
        for beta in (False, True, False, True):
            response = client.post(
                "/v1/customers",
                json={"email": f"{uuid.uuid4().hex}@example.com", "name": "Live", "beta_group": beta},
            )
            assert response.status_code == 201, response.text
            customers.append(response.json()["id"])
        items = [{"sku": "SKU-1", "quantity": 2, "unit_price_cents": 1250}]
        for customer_id in customers:
            response = client.post("/v1/orders", json={"customer_id": customer_id, "items": items})
            assert response.status_code == 201, response.text
            assert client.get(f"/v1/orders/{response.json()['id']}").status_code == 200
            assert client.get(f"/v1/customers/{customer_id}").status_code == 200
        assert client.get(f"/v1/orders/{uuid.uuid4()}").status_code == 404
        assert client.post("/v1/orders", json={"items": []}).status_code == 422
        assert (
            client.get(
                f"/v1/customers/{uuid.uuid4()}", headers={"X-API-Key": "wrong-key-0123456789"}
            ).status_code
            == 401
        )
        assert client.get("/no/such/path").status_code == 404
        assert client.get("/health/ready").status_code == 200


def drive_degraded(url: str, order_id: str, customer_id: str) -> int:
    """Concurrent order reads on the starved pool, and an idempotent order (its key is looked up in the
    unreachable Redis first): returns how many got 503."""

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=10) as client:
            items = [{"sku": "SKU-3", "quantity": 1, "unit_price_cents": 1}]
            order = {"customer_id": customer_id, "items": items}
            key = {"Idempotency-Key": uuid.uuid4().hex}
            responses = await asyncio.gather(
                *(client.get(f"/v1/orders/{order_id}") for _ in range(40)),
                client.post("/v1/orders", json=order, headers=key),
            )
            await client.get("/health/ready")
            return [response.status_code for response in responses]

    return asyncio.run(burst()).count(503)


@pytest.fixture
def live(
    database_url: str, redis_prefix: str, tmp_path: Path
) -> Iterator[tuple[PrometheusProcess, str, str]]:
    with ExitStack() as stack:
        healthy = stack.enter_context(
            ServerProcess(
                server_env(database_url, redis_prefix, FF_NEW_CHECKOUT="beta"),
                startup_timeout=STARTUP_TIMEOUT,
            )
        )
        degraded = stack.enter_context(
            ServerProcess(
                server_env(
                    database_url,
                    redis_prefix,
                    REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens: Redis is down
                    DB_POOL_SIZE="1",
                    DB_POOL_TIMEOUT="0.01",
                ),
                startup_timeout=STARTUP_TIMEOUT,
            )
        )
        targets = [
            url.removesuffix("/metrics").removeprefix("http://")
            for url in (healthy.metrics_url, degraded.metrics_url)
        ]
        prometheus = stack.enter_context(PrometheusProcess(tmp_path, targets))
        yield prometheus, healthy.url, degraded.url


def test_rules_evaluate_and_every_queried_metric_is_exported(
    live: tuple[PrometheusProcess, str, str],
) -> None:
    prometheus, healthy_url, degraded_url = live

    # Scraped before the traffic: a counter's increase before its first scrape is invisible to rate().
    def targets_up() -> str | None:
        found = prometheus.query('up{job="orders-api"} == 1')
        return None if len(found) == 2 else f"targets up: {found}"

    wait_until(targets_up)

    drive_healthy(healthy_url)
    with httpx.Client(base_url=healthy_url, headers=HEADERS, timeout=10) as client:
        email = f"{uuid.uuid4().hex}@example.com"
        customer_id = client.post("/v1/customers", json={"email": email, "name": "Burst"}).json()["id"]
        items = [{"sku": "SKU-2", "quantity": 1, "unit_price_cents": 500}]
        order_id = client.post("/v1/orders", json={"customer_id": customer_id, "items": items}).json()["id"]
    # Bursts a few scrapes apart: the first 503 creates the 5xx series, the later ones increase it.
    # The pool timeout is a race by nature; a handful of bursts make it certain.
    bursts_with_503 = 0
    for _ in range(10):
        bursts_with_503 += drive_degraded(degraded_url, order_id, customer_id) > 0
        if bursts_with_503 >= 3:
            break
        time.sleep(1.5)
    assert bursts_with_503 >= 3, "M7: the one-connection pool hardly timed out: too few real 5xx to check"

    # Every name a rule, a panel or a runbook query reads, except the series the rules record.
    recorded = {rule["record"] for rule in recording_rules()}
    expressions = [("rules", expr) for expr in rule_expressions()]
    expressions += [query for dashboard in dashboards().values() for query in dashboard_queries(dashboard)]
    expressions += runbook_queries()
    wanted: dict[str, str] = {}
    for where, expr in expressions:
        for name in metric_names(expr):
            if name not in recorded and not EXTERNAL_METRICS.match(name):
                wanted.setdefault(name, where)

    def all_names_ingested() -> str | None:
        ingested = set(prometheus.api("label/__name__/values"))
        missing = sorted(
            f"{name} (read by {where})" for name, where in wanted.items() if name not in ingested
        )
        return f"never exported by the service: {missing}" if missing else None

    wait_until(all_names_ingested)

    # The label values the rules and dashboards select on are the ones the service really uses.
    selectors = [
        'job:http_server_request_errors:rate1m{job="orders-api"} > 0',
        'job:http_server_request_error_ratio:rate5m{job="orders-api"} > 0',
        'job:http_server_request_duration_seconds:p99_rate1m{job="orders-api"}',
        'job_route:http_server_requests:rate5m{http_route="/v1/orders", http_request_method="POST"}',
        'job_route:http_server_requests:rate5m{http_route="/v1/customers/{customer_id}"}',
        'job_route:http_server_request_errors:rate5m{http_route="/v1/orders/{order_id}"} > 0',
        'job_route:http_server_requests:rate5m{http_route="unmatched"}',
        'db_client_connections_usage{job="orders-api", state="used"}',
        'increase(db_client_connections_timeouts_total{job="orders-api"}[5m]) > 0',
        'redis_client_errors_total{job="orders-api", kind="connection"}',
        'health_check_up{job="orders-api", check="redis"} == 0',
        'health_check_up{job="orders-api", check="postgresql"} == 1',
        'orders_placed_total{job="orders-api", checkout_flow="legacy"}',
        'orders_placed_total{job="orders-api", checkout_flow="new"}',
        'app_ready{job="orders-api"} == 1',
    ]

    def selectors_match() -> str | None:
        empty = [selector for selector in selectors if not prometheus.query(selector)]
        return f"these selectors match nothing: {empty}" if empty else None

    wait_until(selectors_match)

    def rules_evaluated() -> str | None:
        rules = [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]
        expected = len(rule_expressions())
        if len(rules) != expected:
            return f"Prometheus loaded {len(rules)} rules, the repository has {expected}"
        bad = [
            f"{rule['name']}: {rule['health']} {rule.get('lastError', '')}".strip()
            for rule in rules
            if rule["health"] != "ok" or rule.get("lastError")
        ]
        return f"rules not evaluated cleanly: {bad}" if bad else None

    wait_until(rules_evaluated)
