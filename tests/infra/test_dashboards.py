"""M1, M2, M3: the Grafana dashboards are valid, provisioned by compose, and query real series.

- The four dashboards exist (RED per route, USE, business, SLO) with unique uids and panel ids.
- Every panel uses the provisioned Prometheus data source, and every query parses: the queries are
  written into a temporary rule file as recording rules and checked with `promtool check rules`.
- Every query reads only series the service exports (docs/architecture.md) or a rule records: no
  panel stays empty because of a typo. tests/integration/test_prometheus_live.py checks the same names
  against a running service.
- Compose mounts the provisioning, the dashboards, the Prometheus config and the rules where the
  files say.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.conftest import ROOT, run_tool
from tests.infra.promql import (
    EXTERNAL_METRICS,
    dashboard_queries,
    dashboards,
    exported_metrics,
    metric_names,
    panels,
    recording_rules,
)

GRAFANA = ROOT / "ops" / "grafana"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "datasources.yaml"
DASHBOARD_PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "dashboards.yaml"
COMPOSE_FILE = ROOT / "docker-compose.yml"

REQUIRED_DASHBOARDS = {
    "orders-api-red": "M1 (RED per route)",
    "orders-api-use": "M2 (USE)",
    "orders-api-business": "M3 (business)",
    "orders-api-slo": "M7 (SLO and error budget)",
}


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return dashboard_queries(dashboard)


def test_the_four_dashboards_exist_with_unique_ids() -> None:
    found = dashboards()
    uids = [dashboard["uid"] for dashboard in found.values()]
    assert len(uids) == len(set(uids)), f"M1: duplicate dashboard uids: {uids}"
    for uid, practice in REQUIRED_DASHBOARDS.items():
        assert uid in uids, f"{practice}: dashboard {uid} is missing from ops/grafana/dashboards"
    for name, dashboard in found.items():
        assert dashboard.get("title"), f"M1: {name} has no title"
        assert dashboard["uid"] == Path(name).stem, f"M1: {name} must have uid {Path(name).stem} (file name)"
        ids = [panel["id"] for panel in dashboard["panels"]] + [
            panel["id"] for row in dashboard["panels"] for panel in row.get("panels", [])
        ]
        assert len(ids) == len(set(ids)), f"M1: {name} has duplicate panel ids"
        for panel in panels(dashboard):
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, f"M1: {name} / {panel['title']} is wider than the grid"
            assert panel.get("targets"), f"M1: {name} / {panel['title']} has no query"
            assert panel.get("description"), f"M1: {name} / {panel['title']} needs a description for on-call"


def test_panels_use_the_provisioned_prometheus() -> None:
    sources = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    prometheus = [source for source in sources if source["type"] == "prometheus"]
    assert len(prometheus) == 1, "M1: provision exactly one Prometheus data source"
    assert prometheus[0]["url"] == "http://prometheus:9090", (
        "M1: Grafana must query the compose service prometheus:9090"
    )
    uid = prometheus[0]["uid"]
    for name, dashboard in dashboards().items():
        for panel in panels(dashboard):
            sources_used = [panel.get("datasource", {})] + [
                target.get("datasource", {}) for target in panel["targets"]
            ]
            for source in sources_used:
                assert source.get("uid") == uid, (
                    f"M1: {name} / {panel['title']} must use data source uid {uid!r}, not {source}"
                )


def test_every_query_parses(tmp_path: Path) -> None:
    exprs = [(where, expr) for dashboard in dashboards().values() for where, expr in queries(dashboard)]
    assert exprs, "M1: no dashboard queries found"

    def check(items: list[tuple[str, str]]) -> tuple[bool, str]:
        rules = [
            {"record": f"dashboard:query_{index}", "expr": expr} for index, (_, expr) in enumerate(items)
        ]
        path = tmp_path / "dashboard-queries.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
        result = run_tool("promtool", "check", "rules", str(path))
        return result.returncode == 0, result.stdout + result.stderr

    ok, _ = check(exprs)
    if not ok:  # one at a time, to name the broken panels
        broken = [
            f"{where}: {output.strip()}"
            for where, expr in exprs
            for good, output in [check([(where, expr)])]
            if not good
        ]
        pytest.fail("M1: dashboard queries that do not parse:\n" + "\n".join(broken))


def test_every_query_reads_exported_or_recorded_series() -> None:
    known = exported_metrics() | {rule["record"] for rule in recording_rules()}
    for dashboard in dashboards().values():
        for where, expr in queries(dashboard):
            names = metric_names(expr)
            assert names, f"M1: {where} reads no metric at all"
            unknown = sorted(name for name in names if name not in known and not EXTERNAL_METRICS.match(name))
            assert not unknown, (
                f"M1: {where} reads {unknown}: not exported by the service (docs/architecture.md, Metrics) "
                "and not recorded by any rule in ops/prometheus/rules"
            )


def test_dashboards_cover_red_use_and_business_metrics() -> None:
    read: dict[str, set[str]] = {}
    for dashboard in dashboards().values():
        read[dashboard["uid"]] = {name for _, expr in queries(dashboard) for name in metric_names(expr)}
    expectations = {
        "orders-api-red": {
            "http_server_request_duration_seconds_count",
            "http_server_request_duration_seconds_bucket",
        },
        "orders-api-use": {
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "event_loop_lag_seconds",
            "db_client_connections_usage",
            "db_client_connections_pending_requests",
        },
        "orders-api-business": {
            "customers_signed_up_total",
            "orders_placed_total",
            "orders_value_cents_total",
        },
        "orders-api-slo": {
            "job:http_server_request_error_ratio:rate1h",
            "job:http_server_request_error_ratio:rate6h",
        },
    }
    for uid, names in expectations.items():
        missing = sorted(names - read.get(uid, set()))
        assert not missing, f"{REQUIRED_DASHBOARDS[uid]}: dashboard {uid} shows nothing of {missing}"


def test_dashboard_provider_points_at_the_mounted_directory() -> None:
    providers = yaml.safe_load(DASHBOARD_PROVIDERS.read_text())["providers"]
    paths = [provider["options"]["path"] for provider in providers]
    assert paths == ["/var/lib/grafana/dashboards"], (
        f"M1: the provider must read /var/lib/grafana/dashboards, not {paths}"
    )


def test_compose_mounts_the_observability_files() -> None:
    if not COMPOSE_FILE.exists():
        pytest.fail("E1: docker-compose.yml is missing: the observability profile loads these files")
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    expected = {
        "prometheus": {
            "./ops/prometheus/prometheus.yml": "/etc/prometheus/prometheus.yml",
            "./ops/prometheus/rules": "/etc/prometheus/rules",
        },
        "grafana": {
            "./ops/grafana/provisioning": "/etc/grafana/provisioning",
            "./ops/grafana/dashboards": "/var/lib/grafana/dashboards",
        },
    }
    for service, mounts in expected.items():
        assert service in services, f"M1: compose has no {service} service (observability profile)"
        volumes = {}
        for volume in services[service].get("volumes", []):
            source, target, *_ = (
                volume.split(":") if isinstance(volume, str) else [volume["source"], volume["target"]]
            )
            volumes[source] = target
        for source, target in mounts.items():
            assert volumes.get(source) == target, f"M1: compose must mount {source} at {target} in {service}"
