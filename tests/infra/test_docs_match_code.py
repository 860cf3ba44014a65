"""Docs that repeat the code are checked against the code itself, so a metric, a setting or an endpoint
added in code fails here until the docs name it (and one removed fails until they drop it):

- the metrics tables (docs/observability.md, docs/architecture.md) against the metrics declared in
  `app.observability.metrics`: names, labels and, where a table has the column, types;
- the settings list (docs/architecture.md) against the fields of `app.settings.Settings`, secrets marked;
- the README's endpoint table against the OpenAPI document the app serves.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.metrics import MetricWrapperBase
from pydantic import SecretStr

from app.main import create_app
from app.observability import metrics
from app.settings import Settings
from tests.conftest import make_settings
from tests.infra.conftest import ROOT

METRIC_TABLES = [ROOT / "docs" / "observability.md", ROOT / "docs" / "architecture.md"]
# Exported by prometheus-client's default process collector, not declared in metrics.py.
DEFAULT_COLLECTOR_PREFIX = "process_"
_CODE = re.compile(r"`([^`]+)`")


def declared_metrics() -> dict[str, MetricWrapperBase]:
    """Exported name (a counter's with `_total`) -> metric, for every metric metrics.py declares."""
    found = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            name = value._name + ("_total" if value._type == "counter" else "")
            found[name] = value
    return found


def table_rows(text: str, header: str) -> list[list[str]]:
    """The cells of each row of the Markdown table whose header row starts with `header`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


@pytest.mark.parametrize("doc", METRIC_TABLES, ids=lambda path: str(path.relative_to(ROOT)))
def test_the_metrics_table_matches_metrics_py(doc: Path) -> None:
    declared = declared_metrics()
    header = "| metric |"
    rows = table_rows(doc.read_text(), header)
    has_type = rows and len(rows[0]) == 4  # metric | type | labels | meaning
    documented: dict[str, tuple[str, set[str]]] = {}
    for row in rows:
        kind = row[1] if has_type else ""
        labels = set(_CODE.findall(row[2 if has_type else 1]))
        for name in _CODE.findall(row[0]):
            documented[name] = (kind, labels)
    problems = [
        f"{name} is declared in metrics.py but not in the table"
        for name in declared.keys() - documented.keys()
    ]
    for name, (kind, labels) in documented.items():
        metric = declared.get(name)
        if metric is None:
            if not name.startswith(DEFAULT_COLLECTOR_PREFIX):
                problems.append(f"{name} is in the table but metrics.py declares no such metric")
            continue
        if labels != set(metric._labelnames):
            problems.append(
                f"{name}: the table says labels {sorted(labels)}, metrics.py {sorted(metric._labelnames)}"
            )
        if has_type and kind != metric._type:
            problems.append(f"{name}: the table says {kind}, metrics.py declares a {metric._type}")
    assert not problems, f"{doc.relative_to(ROOT)} is out of step with metrics.py:\n" + "\n".join(problems)


def test_the_settings_list_matches_settings_py() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Settings (environment variables)", 1)[1].split("\n## ", 1)[0]
    listed_part = section.split("Tracing uses", 1)[0]
    names = re.findall(r"\b[A-Z][A-Z0-9_]{2,}\b", listed_part)
    fields = {name.upper(): field for name, field in Settings.model_fields.items()}
    assert set(names) >= set(fields), f"docs/architecture.md does not list {sorted(set(fields) - set(names))}"
    unknown = set(names) - set(fields)
    assert not unknown, f"docs/architecture.md lists settings that Settings does not read: {sorted(unknown)}"
    for name, field in fields.items():
        secret = field.annotation is SecretStr or "SecretStr" in str(field.annotation)
        marked = f"{name} (secret" in re.sub(r"\s+", " ", listed_part)
        assert secret == marked, (
            f"docs/architecture.md: {name} must {'' if secret else 'not '}be marked (secret)"
        )


def _readme_endpoints() -> set[tuple[str, str]]:
    rows = table_rows((ROOT / "README.md").read_text(), "| endpoint |")
    endpoints = set()
    for row in rows:
        method, path = _CODE.findall(row[0])[0].split()
        endpoints.add((method.lower(), path))
    return endpoints


def test_the_readme_endpoint_table_matches_the_openapi_document() -> None:
    document: dict[str, Any] = create_app(make_settings()).openapi()
    served = {(method, path) for path, operations in document["paths"].items() for method in operations}
    listed = _readme_endpoints()
    assert listed == served, (
        "the README's endpoint table is out of step with the OpenAPI document: "
        f"not in the README {sorted(served - listed)}, not served {sorted(listed - served)}"
    )
