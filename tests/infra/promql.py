"""Helpers shared by the alert, dashboard and live Prometheus tests: load the rule files, and list the
metric names a PromQL expression reads.

Names are found lexically (labels, strings, ranges and grouping clauses removed, then identifiers
not followed by `(`); promtool proves the expressions parse, this only has to find the names.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from tests.infra.conftest import ROOT

RULES_DIR = ROOT / "ops" / "prometheus" / "rules"
PROMTOOL_TESTS_DIR = ROOT / "ops" / "prometheus" / "tests"
DASHBOARDS_DIR = ROOT / "ops" / "grafana" / "dashboards"
RUNBOOKS_DIR = ROOT / "runbooks"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

# Metrics that come from outside the service: Prometheus' own scrape health and node_exporter's disk.
EXTERNAL_METRICS = re.compile(r"^(up|node_filesystem_[a-z_]+)$")

_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}
    | {"inf", "nan", "atan2"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_NUMBER = re.compile(r"(?<![\w:])\d[\w.]*")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """Every metric (or recorded series) name the expression selects."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub("", text)
    text = _NUMBER.sub("", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or match.group().lower() in _KEYWORDS:
            continue
        names.add(match.group())
    return names


def rule_groups() -> list[dict[str, Any]]:
    """Every rule group of every file in ops/prometheus/rules, in file order."""
    groups: list[dict[str, Any]] = []
    for path in sorted(RULES_DIR.glob("*.yml")):
        groups.extend(yaml.safe_load(path.read_text())["groups"])
    return groups


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"] if "alert" in rule]


def recording_rules() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"] if "record" in rule]


def exported_metrics() -> set[str]:
    """The series names the service exports, from the Metrics table of docs/architecture.md.

    A histogram `x` exports `x_bucket`, `x_count` and `x_sum`; every other row is exported as written.
    """
    text = ARCHITECTURE.read_text()
    section = text.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        row_names = re.findall(r"`([a-z_:][a-z0-9_:]*)`", cells[0])
        if cells[1] == "histogram":
            names.update(f"{name}_{suffix}" for name in row_names for suffix in ("bucket", "count", "sum"))
        else:
            names.update(row_names)
    return names


def rule_expressions() -> list[str]:
    return [str(rule["expr"]) for group in rule_groups() for rule in group["rules"]]


def kebab(name: str) -> str:
    """HighErrorRate -> high-error-rate; HighP99Latency -> high-p99-latency."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).lower()


# Grafana's own variables, replaced by a value of the same kind so the query parses as PromQL.
GRAFANA_VARIABLES = {"__rate_interval": "1m", "__interval": "1m", "__range": "1h"}
_VARIABLE = re.compile(r"\$\{?(\w+)\}?")
_LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*\w+\)$")
_RUNBOOK_QUERY = re.compile(r"promtool query instant \"\$PROM\" '(?P<expr>[^']+)'")


def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard in ops/grafana/dashboards, by file name."""
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS_DIR.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those nested in rows, except the rows themselves."""
    flat: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            flat.extend(panel.get("panels", []))
        else:
            flat.append(panel)
    return flat


def dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and query variable, with Grafana variables replaced.

    Template variables are regex matchers (`=~"$route"`), so they become `.*`; an undefined variable
    raises AssertionError naming the panel.
    """
    variables = {item["name"] for item in dashboard.get("templating", {}).get("list", [])}

    def substitute(expr: str, where: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in GRAFANA_VARIABLES:
                return GRAFANA_VARIABLES[name]
            assert name in variables, f"M1: {where} uses ${name}, which the dashboard does not define"
            return ".*"

        return _VARIABLE.sub(replace, expr)

    found = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            where = f"{dashboard['uid']} / {panel['title']} / {target['refId']}"
            found.append((where, substitute(target["expr"], where)))
    for item in dashboard.get("templating", {}).get("list", []):
        if item.get("type") == "query":
            where = f"{dashboard['uid']} / variable {item['name']}"
            text = item["query"]["query"] if isinstance(item["query"], dict) else item["query"]
            match = _LABEL_VALUES.match(text)
            assert match, f"M1: {where}: use label_values(<selector>, <label>), not {text!r}"
            found.append((where, substitute(match.group("selector"), where)))
    return found


def runbook_queries() -> list[tuple[str, str]]:
    """(file, PromQL) for every `promtool query instant "$PROM" '...'` in runbooks/."""
    return [
        (str(path.relative_to(ROOT)), match.group("expr").replace("<instance>", "x"))
        for path in sorted(RUNBOOKS_DIR.rglob("*.md"))
        for match in _RUNBOOK_QUERY.finditer(path.read_text())
    ]
