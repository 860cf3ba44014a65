"""M7, A7: the Prometheus alert rules are valid, unit tested both ways, and agree with CloudWatch.

- promtool checks the rules and the compose Prometheus config, and runs every unit test file.
- Every alert carries severity page|ticket, a summary, a description and a runbook URL, waits before
  firing, and has at least one promtool case where it fires and one where it must not.
- The quiet cases are real: with the `for` durations and traffic guards removed they fail.
- The thresholds shared with the CloudWatch deployment alarms (terraform/modules/service) are equal.
- Rules read only metrics the service exports (docs/architecture.md), recorded series, or the
  external `up` and node_exporter disk metrics; the SLO in docs/slo.md is the one the burn alerts use.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.conftest import ROOT, assert_clean, run_tool, tool_path
from tests.infra.promql import (
    EXTERNAL_METRICS,
    PROMTOOL_TESTS_DIR,
    RULES_DIR,
    alert_rules,
    exported_metrics,
    metric_names,
    recording_rules,
    rule_groups,
)

PROMETHEUS_CONFIG = ROOT / "ops" / "prometheus" / "prometheus.yml"
SERVICE_MODULE = ROOT / "terraform" / "modules" / "service"
SLO_DOC = ROOT / "docs" / "slo.md"

ALERT_NAME = re.compile(r"^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+$")
SEVERITIES = {"page", "ticket"}
REQUIRED_ANNOTATIONS = {"summary", "description", "runbook_url"}
RUNBOOK_URL_BASE = "https://github.com/your-org/orders-api/blob/main/"
DURATION = re.compile(r"^(\d+)([smhd])$")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(duration: str) -> int:
    match = DURATION.match(duration)
    assert match, f"M7: {duration!r} is not a simple Prometheus duration"
    return int(match.group(1)) * SECONDS[match.group(2)]


def alert(name: str) -> dict[str, Any]:
    found = [rule for rule in alert_rules() if rule["alert"] == name]
    assert len(found) == 1, f"M7: expected exactly one alert {name}, found {len(found)}"
    return found[0]


def promtool_test_files() -> list[Path]:
    return sorted(PROMTOOL_TESTS_DIR.glob("*.test.yml"))


def test_rules_pass_promtool_check() -> None:
    files = [str(path) for path in sorted(RULES_DIR.glob("*.yml"))]
    assert files, "M7: no rule files in ops/prometheus/rules"
    assert_clean(run_tool("promtool", "check", "rules", *files), "M7")


def test_compose_prometheus_config_is_valid_and_loads_the_rules() -> None:
    assert_clean(run_tool("promtool", "check", "config", str(PROMETHEUS_CONFIG)), "M7")
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert "/etc/prometheus/rules/*.yml" in config["rule_files"], (
        "M7: prometheus.yml must load /etc/prometheus/rules/*.yml, where compose mounts ops/prometheus/rules"
    )
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert "orders-api" in jobs, 'M7: the rules select job="orders-api"; the scrape job must have that name'
    targets = [target for sc in jobs["orders-api"]["static_configs"] for target in sc["targets"]]
    assert targets == ["app:9000"], "M7: scrape the app's metrics listener app:9000 (never the API port)"
    assert seconds(config["global"]["scrape_interval"]) <= 15, (
        "M7: the 1-minute rates in the rules need a scrape interval of 15 s or less"
    )


@pytest.mark.parametrize("test_file", promtool_test_files(), ids=lambda path: path.name)
def test_promtool_unit_tests_pass(test_file: Path) -> None:
    assert_clean(run_tool("promtool", "test", "rules", test_file.name, cwd=test_file.parent), "M7")


def test_promtool_tests_fix_the_group_order() -> None:
    """Unlisted groups run in random order in promtool: alerts could read last round's recorded series."""
    names = [group["name"] for group in rule_groups()]
    recording = [group["name"] for group in rule_groups() if all("record" in rule for rule in group["rules"])]
    for path in promtool_test_files():
        order = yaml.safe_load(path.read_text()).get("group_eval_order", [])
        assert sorted(order) == sorted(names), f"M7: {path.name}: group_eval_order must list every rule group"
        assert order[: len(recording)] == recording, (
            f"M7: {path.name}: group_eval_order must start with the recording groups {recording}"
        )


def test_every_alert_is_tested_firing_and_quiet() -> None:
    positive: dict[str, int] = {}
    negative: dict[str, int] = {}
    for path in promtool_test_files():
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                counts = positive if check.get("exp_alerts") else negative
                counts[check["alertname"]] = counts.get(check["alertname"], 0) + 1
    names = {rule["alert"] for rule in alert_rules()}
    untested = sorted(name for name in names if not positive.get(name) or not negative.get(name))
    assert not untested, (
        f"M7: every alert needs a promtool case where it fires and one where it must not; missing for "
        f"{untested} (add them to ops/prometheus/tests/)"
    )
    unknown = sorted((set(positive) | set(negative)) - names)
    assert not unknown, f"M7: promtool tests name alerts that do not exist: {unknown}"


def test_every_alert_has_name_severity_and_annotations() -> None:
    rules = alert_rules()
    assert rules, "M7: no alert rules found"
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), f"M7: duplicate alert names in {names}"
    for rule in rules:
        name = rule["alert"]
        assert ALERT_NAME.match(name), f"M7: alert {name!r} must be CamelCase"
        severity = rule.get("labels", {}).get("severity")
        assert severity in SEVERITIES, (
            f"M7: {name} needs labels.severity in {sorted(SEVERITIES)}, not {severity!r}"
        )
        annotations = rule.get("annotations", {})
        missing = REQUIRED_ANNOTATIONS - {key for key, value in annotations.items() if str(value).strip()}
        assert not missing, f"M7: {name} lacks annotations {sorted(missing)}"
        assert annotations["runbook_url"].startswith(RUNBOOK_URL_BASE + "runbooks/"), (
            f"B1: {name}'s runbook_url must start with {RUNBOOK_URL_BASE}runbooks/ (the repo's own runbooks)"
        )


@pytest.mark.audit
def test_no_alert_fires_on_a_single_evaluation() -> None:
    for rule in alert_rules():
        assert seconds(str(rule.get("for", "0s"))) >= 120, (
            f"A7: {rule['alert']} fires without waiting (`for` under 2m): a blip would page someone"
        )


@pytest.mark.audit
def test_error_alerts_use_rates_with_a_traffic_guard() -> None:
    guards = {
        int(value) for rule in alert_rules() for value in re.findall(r"\* 60 >= (\d+)", str(rule["expr"]))
    }
    assert len(guards) == 1, (
        f"A7: the alerts use different traffic guards {sorted(guards)}: one floor for all"
    )
    for rule in alert_rules():
        expr = str(rule["expr"])
        names = metric_names(expr)
        assert "http_server_request_duration_seconds_count" not in names, (
            f"A7: {rule['alert']} reads raw request counts; alert on the recorded ratios instead"
        )
        if rule["labels"]["severity"] == "page" and any("error_ratio" in name for name in names):
            assert re.search(r"job:http_server_requests:rate\w+ \* 60 >= \d+", expr), (
                f"A7: paging error-ratio alert {rule['alert']} needs the minimum-traffic guard"
            )


@pytest.mark.audit
def test_quiet_cases_fail_without_for_and_traffic_guard(tmp_path: Path) -> None:
    """The negative promtool cases must test something: break the rules and watch them fail."""
    shutil.copytree(RULES_DIR, tmp_path / "rules")
    shutil.copytree(PROMTOOL_TESTS_DIR, tmp_path / "tests")
    alerts_file = tmp_path / "rules" / "alerts.yml"
    broken = re.sub(r"(?m)^(\s+)for: \S+$", r"\1for: 0s", alerts_file.read_text())
    broken = re.sub(r"\* 60 >= \d+", "* 60 >= 0", broken)
    alerts_file.write_text(broken)
    # The files holding the single-500, short-spike and low-traffic cases (the slow 3-day file is not needed).
    files = ["golden-signals.test.yml", "error-budget-fast.test.yml", "error-budget-medium.test.yml"]
    result = run_tool("promtool", "test", "rules", *files, cwd=tmp_path / "tests")
    assert result.returncode != 0, "A7: the promtool suite still passes with no `for` and no traffic guard"
    for case in ("ignores a single 500", "ignores a short spike", "ignores low traffic"):
        assert case in result.stdout + result.stderr, (
            f"A7: the '{case}' promtool cases pass without `for` and the traffic guard: they prove nothing"
        )


def test_rules_read_only_exported_or_recorded_metrics() -> None:
    known = exported_metrics() | {rule["record"] for rule in recording_rules()}
    for group in rule_groups():
        for rule in group["rules"]:
            unknown = sorted(
                name
                for name in metric_names(str(rule["expr"]))
                if name not in known and not EXTERNAL_METRICS.match(name)
            )
            label = rule.get("alert") or rule.get("record")
            assert not unknown, (
                f"M7: {label} reads {unknown}: not exported by the service (docs/architecture.md, Metrics) "
                "and not recorded by any rule"
            )


def test_burn_rate_alerts_use_the_documented_slo() -> None:
    match = re.search(r"Availability objective: \*\*(\d+(?:\.\d+)?) %\*\*", SLO_DOC.read_text())
    assert match, "M7: docs/slo.md must state 'Availability objective: **NN.N %**'"
    budget = round(1 - float(match.group(1)) / 100, 6)
    expected = {"ErrorBudgetBurnFast": 14.4, "ErrorBudgetBurnMedium": 6.0, "ErrorBudgetBurnSlow": 1.0}
    for name, factor in expected.items():
        pairs = re.findall(r"> \((\d+(?:\.\d+)?) \* (\d+(?:\.\d+)?)\)", str(alert(name)["expr"]))
        assert len(pairs) == 2, f"M7: {name} must compare two windows against (factor * budget)"
        for found_factor, found_budget in pairs:
            assert float(found_factor) == factor, f"M7: {name} must burn at {factor}x, not {found_factor}x"
            assert round(float(found_budget), 6) == budget, (
                f"M7: {name} uses budget {found_budget}, docs/slo.md's objective gives {budget}"
            )


# CloudWatch parity -----------------------------------------------------------------------------


def hcl2_python() -> str:
    return tool_path("hcl2-python")  # a python with python-hcl2, kept apart from checkov


def unquote(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string keys and values; drop them."""
    if isinstance(value, dict):
        return {unquote(key): unquote(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unquote(item) for item in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def load_hcl(path: Path) -> dict[str, Any]:
    if not path.exists():
        pytest.fail(f"M7: {path.relative_to(ROOT)} is missing: the CloudWatch alarms live there")
    script = "import hcl2, json, sys; print(json.dumps(hcl2.load(open(sys.argv[1]))))"
    result = run_tool(hcl2_python(), "-c", script, str(path))
    assert_clean(result, "M7")
    loaded: dict[str, Any] = unquote(json.loads(result.stdout))
    return loaded


def terraform_defaults() -> dict[str, Any]:
    variables = load_hcl(SERVICE_MODULE / "variables.tf")["variable"]
    return {name: body.get("default") for block in variables for name, body in block.items()}


def cloudwatch_alarms() -> dict[str, dict[str, Any]]:
    resources = load_hcl(SERVICE_MODULE / "alarms.tf")["resource"]
    return {
        name: body
        for block in resources
        for kind, items in block.items()
        if kind == "aws_cloudwatch_metric_alarm"
        for name, body in items.items()
    }


def test_cloudwatch_alarm_thresholds_match_prometheus_rules() -> None:
    defaults = terraform_defaults()
    error_rule, latency_rule = alert("HighErrorRate"), alert("HighP99Latency")

    error_threshold = re.search(r"error_ratio:rate1m > (\d+(?:\.\d+)?)", str(error_rule["expr"]))
    latency_threshold = re.search(r"p99_rate1m > (\d+(?:\.\d+)?)", str(latency_rule["expr"]))
    guard = re.search(r"rate5m \* 60 >= (\d+)", str(error_rule["expr"]))
    assert error_threshold, "M7: HighErrorRate no longer reads `error_ratio:rate1m > <ratio>`"
    assert latency_threshold, "M7: HighP99Latency no longer reads `p99_rate1m > <seconds>`"
    assert guard, "M7: HighErrorRate lost its `rate5m * 60 >= <requests a minute>` traffic guard"

    pairs = [
        ("alarm_5xx_rate_percent", float(error_threshold.group(1)) * 100),
        ("alarm_5xx_rate_minutes", seconds(error_rule["for"]) / 60),
        ("alarm_p99_latency_seconds", float(latency_threshold.group(1))),
        ("alarm_p99_latency_minutes", seconds(latency_rule["for"]) / 60),
        ("alarm_min_requests_per_minute", float(guard.group(1))),
    ]
    for variable, prometheus in pairs:
        assert variable in defaults, f"M7: terraform/modules/service/variables.tf lacks {variable}"
        assert float(defaults[variable]) == pytest.approx(prometheus), (
            f"M7: CloudWatch {variable} = {defaults[variable]} but the Prometheus rules use {prometheus}: "
            "the deployment gate and the pager would disagree; change both together"
        )


def test_cloudwatch_alarms_evaluate_like_the_rules() -> None:
    """One-minute periods, every period breaching: the `for:` semantics of the Prometheus rules."""
    alarms = cloudwatch_alarms()
    for name, percent_or_seconds, minutes in (
        ("error_rate", "alarm_5xx_rate_percent", "alarm_5xx_rate_minutes"),
        ("p99_latency", "alarm_p99_latency_seconds", "alarm_p99_latency_minutes"),
    ):
        assert name in alarms, (
            f"M7: terraform/modules/service/alarms.tf lacks aws_cloudwatch_metric_alarm.{name}"
        )
        body = alarms[name]
        assert body["threshold"] == f"${{var.{percent_or_seconds}}}", (
            f"M7: {name} must use var.{percent_or_seconds}"
        )
        assert body["evaluation_periods"] == body["datapoints_to_alarm"] == f"${{var.{minutes}}}", (
            f"M7: {name} must breach in every one of var.{minutes} periods, like `for:`"
        )
        periods = re.findall(r"'period': (\d+)", str(body))
        assert periods, f"M7: {name} has no period"
        assert set(periods) == {"60"}, f"M7: {name} must use 60 s periods (one per minute)"
    assert "alarm_min_requests_per_minute" in str(alarms["error_rate"]), (
        "M7: the CloudWatch 5xx alarm needs the same minimum-traffic guard as HighErrorRate"
    )
