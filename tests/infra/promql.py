"""Helpers shared by the alert, dashboard and live Prometheus tests: load the rule files, and list the
metric names a PromQL expression reads.

Names are found lexically (labels, strings, ranges and grouping clauses removed, then identifiers
not followed by `(`); promtool proves the expressions parse, this only has to find the names.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.infra.conftest import ROOT

RULES_DIR = ROOT / "ops" / "prometheus" / "rules"
PROMTOOL_TESTS_DIR = ROOT / "ops" / "prometheus" / "tests"
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
