"""B1, S6, M7: every alert leads to a runbook an on-call engineer can follow, and the runbooks stay true.

- Every alert's runbook_url resolves to a file in runbooks/alerts/, named after the alert, whose title
  is the alert; no runbook exists for an alert that is gone, and no runbook names an alert that does
  not exist.
- Every alert runbook has the same sections (meaning, impact, verify, mitigate, roll back, escalate)
  and at least one PromQL query; every PromQL query in the runbooks parses and reads real series.
- The operational runbooks exist (deploy, rollback per strategy, migration, restore, rotation, scaling,
  incident response, local development, the Kubernetes deploy), the index lists them all, links and
  anchors resolve, and the workflows, scripts and CloudWatch alarms they name exist.
- Runbook references written in Terraform and the workflows point at files that exist.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.infra.conftest import ROOT, run_tool
from tests.infra.promql import (
    EXTERNAL_METRICS,
    alert_rules,
    exported_metrics,
    kebab,
    metric_names,
    recording_rules,
    runbook_queries,
)

RUNBOOKS = ROOT / "runbooks"
ALERT_RUNBOOKS = RUNBOOKS / "alerts"
INDEX = RUNBOOKS / "README.md"
RUNBOOK_URL = re.compile(r"^https://github\.com/[\w.-]+/[\w.-]+/blob/main/(?P<path>runbooks/[\w./-]+\.md)$")
ALERT_SECTIONS = ("## Meaning", "## Impact", "## Verify", "## Mitigate", "## Roll back when", "## Escalate")
OPERATIONS = {
    "deploy.md": ("C7", ["ci-cd.yml", "deploy.yml", "## Feature flags"]),
    "rollback.md": (
        "R5",
        ["rollback.yml", "### Rolling", "### Blue-green", "### Canary", "## How this was tested"],
    ),
    "database-migration.md": ("B1", ["python -m app migrate", "expand"]),
    "database-restore.md": ("B1", ["restore-db-instance-to-point-in-time"]),
    "secret-rotation.md": ("T8", ["## API keys", "## Database password", "put-secret-value"]),
    "scaling.md": ("B1", ["## Restart the tasks", "register-scalable-target"]),
    "incident-response.md": ("B1", ["## Escalation", "## Postmortem"]),
    "local-development.md": ("E1", ["docker compose"]),
    "kubernetes-deploy.md": (
        "K5",
        [
            "scripts/k8s-deploy.sh",
            "rollout undo",
            "### Canary abort",
            "## Migration Job failed",
            "## What only a real cluster shows",
        ],
    ),
}
# Backticked CamelCase words in the runbooks that are not alert names (CloudWatch metrics and dimensions,
# Kubernetes kinds and container states).
NOT_ALERTS = frozenset(
    {
        "TargetResponseTime",
        "EphemeralStorageUtilized",
        "EphemeralStorageReserved",
        "FreeStorageSpace",
        "CPUUtilization",
        "ClusterName",
        "ServiceName",
        "CannotPullContainerError",
        "ResourceInitializationError",
        "ConfigMap",
        "PodMonitor",
        "PrometheusRule",
        "CreateContainerConfigError",
        "ImagePullBackOff",
    }
)
CAMEL = re.compile(r"`([A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+)`")
LINK = re.compile(r"\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")
PROMQL = re.compile(r"promtool query instant \"\$PROM\" '(?P<expr>[^']+)'")


def runbook_files() -> list[Path]:
    return sorted(RUNBOOKS.rglob("*.md"))


def alerts_by_name() -> dict[str, str]:
    """Alert name -> the repository path its runbook_url points at."""
    found = {}
    for rule in alert_rules():
        match = RUNBOOK_URL.match(rule["annotations"]["runbook_url"])
        assert match, f"B1: {rule['alert']}'s runbook_url is not a link into this repository's runbooks/"
        found[rule["alert"]] = match.group("path")
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_alert_has_a_runbook() -> None:
    for name, path in alerts_by_name().items():
        expected = f"runbooks/alerts/{kebab(name)}.md"
        assert path == expected, f"B1: {name}'s runbook_url must point at {expected}, not {path}"
        assert (ROOT / path).is_file(), f"B1: {name} has no runbook: write {path}"
        title = (ROOT / path).read_text().splitlines()[0]
        assert title == f"# {name}", f"B1: {path} must start with '# {name}', not {title!r}"


def test_every_alert_runbook_belongs_to_an_alert() -> None:
    expected = {f"{kebab(name)}.md" for name in alerts_by_name()}
    orphans = sorted(path.name for path in ALERT_RUNBOOKS.glob("*.md") if path.name not in expected)
    assert not orphans, (
        f"B1: runbooks for alerts that do not exist: {orphans} (delete them or restore the alert)"
    )


def test_runbooks_name_only_existing_alerts() -> None:
    names = set(alerts_by_name())
    for path in [*runbook_files(), ROOT / "docs" / "slo.md"]:
        text = path.read_text()
        unknown = sorted(
            {word for word in CAMEL.findall(text) if word not in names and word not in NOT_ALERTS}
        )
        assert not unknown, (
            f"B1: {path.relative_to(ROOT)} names alerts that do not exist: {unknown} "
            "(renamed? if it is not an alert, add it to NOT_ALERTS in this test)"
        )
        for link in LINK.finditer(text):
            linked = ROOT / path.parent.relative_to(ROOT) / link.group("target").split("#")[0]
            if linked.parent == ALERT_RUNBOOKS and CAMEL.fullmatch(f"`{link.group('text')}`"):
                assert linked.name == f"{kebab(link.group('text'))}.md", (
                    f"B1: {path.relative_to(ROOT)} links [{link.group('text')}] to {linked.name}"
                )


def test_alert_runbooks_have_every_section_and_a_query() -> None:
    for path in alerts_by_name().values():
        text = (ROOT / path).read_text()
        missing = [section for section in ALERT_SECTIONS if f"\n{section}\n" not in text]
        assert not missing, f"B1: {path} lacks the sections {missing}"
        assert PROMQL.search(text), f"B1: {path} needs at least one `promtool query instant \"$PROM\" '...'`"


def test_index_lists_every_alert_with_its_severity_and_every_runbook() -> None:
    index = INDEX.read_text()
    for rule in alert_rules():
        name, severity = rule["alert"], rule["labels"]["severity"]
        row = f"| `{name}` | {severity} | [{kebab(name)}.md](alerts/{kebab(name)}.md) |"
        assert row in index, f"B1: runbooks/README.md must list {name}: {row}"
    linked = {(RUNBOOKS / match.group("target").split("#")[0]).resolve() for match in LINK.finditer(index)}
    for path in runbook_files():
        if path != INDEX:
            assert path.resolve() in linked, f"B1: runbooks/README.md does not link {path.relative_to(ROOT)}"


@pytest.mark.parametrize(("name", "spec"), OPERATIONS.items(), ids=list(OPERATIONS))
def test_operational_runbook_exists_and_covers_its_topic(name: str, spec: tuple[str, list[str]]) -> None:
    practice, needles = spec
    path = RUNBOOKS / name
    assert path.is_file(), f"{practice}/B1: runbooks/{name} is missing"
    text = path.read_text()
    for needle in needles:
        assert needle in text, f"{practice}/B1: runbooks/{name} must cover {needle!r}"


def test_links_and_anchors_resolve() -> None:
    for path in [*runbook_files(), ROOT / "docs" / "slo.md"]:
        for match in LINK.finditer(path.read_text()):
            target = match.group("target")
            if re.match(r"^[a-z]+:", target):
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            assert linked.exists(), f"B1: {path.relative_to(ROOT)} links {target}, which does not exist"
            if anchor and linked.suffix == ".md":
                headings = {
                    slug(line.lstrip("#")) for line in linked.read_text().splitlines() if line.startswith("#")
                }
                assert anchor in headings, f"B1: {path.relative_to(ROOT)} links {target}: no such heading"


def test_runbooks_name_real_workflows_scripts_and_alarms() -> None:
    text = "\n".join(path.read_text() for path in runbook_files())
    named = set(re.findall(r"(?:workflow run |--workflow |\.github/workflows/)([\w-]+\.yml)", text))
    for workflow in sorted(named):
        assert (ROOT / ".github" / "workflows" / workflow).is_file(), (
            f"B1: the runbooks name the workflow {workflow}, which is not in .github/workflows/"
        )
    for script in sorted(set(re.findall(r"\.github/scripts/[\w.-]+\.sh", text))):
        assert (ROOT / script).is_file(), f"B1: the runbooks run {script}, which does not exist"
    # Every CloudWatch alarm Terraform creates is in the index, so its notification leads somewhere.
    alarms = (ROOT / "terraform" / "modules" / "service" / "alarms.tf").read_text()
    index = INDEX.read_text()
    suffixes = re.findall(r'alarm_name\s*=\s*"\$\{local\.name\}(-[a-z0-9-]+?)(?:-\$\{each\.key\})?"', alarms)
    assert suffixes, "B1: no CloudWatch alarms found in terraform/modules/service/alarms.tf"
    for suffix in suffixes:
        alarm = f"orders-api-<env>{suffix}"
        assert f"`{alarm}" in index, (
            f"B1: runbooks/README.md must list the CloudWatch alarm {alarm} and its runbook"
        )


def test_runbook_queries_parse_and_read_real_series(tmp_path: Path) -> None:
    known = exported_metrics() | {rule["record"] for rule in recording_rules()}
    queries = runbook_queries()
    assert queries, "B1: the runbooks contain no PromQL"
    for where, expr in queries:
        unknown = sorted(
            name for name in metric_names(expr) if name not in known and not EXTERNAL_METRICS.match(name)
        )
        assert not unknown, f"B1: {where} queries {unknown}, which nothing exports or records: {expr}"
    rules = [{"record": f"runbook:query_{index}", "expr": expr} for index, (_, expr) in enumerate(queries)]
    path = tmp_path / "runbook-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "runbooks", "rules": rules}]}))
    result = run_tool("promtool", "check", "rules", str(path))
    assert result.returncode == 0, f"B1: a runbook query does not parse:\n{result.stdout}\n{result.stderr}"


def test_runbook_references_elsewhere_resolve() -> None:
    """Terraform alarm descriptions and workflow comments cite runbooks by path: those files must exist."""
    sources = [
        *(ROOT / "terraform").rglob("*.tf"),
        *(ROOT / ".github").rglob("*.yml"),
        *(ROOT / "docs").rglob("*.md"),
    ]
    for source in sources:
        if ".terraform" in source.parts:
            continue
        for reference in sorted(set(re.findall(r"\brunbooks/[\w./-]*\w\.md\b", source.read_text()))):
            assert (ROOT / reference).is_file(), (
                f"B1: {source.relative_to(ROOT)} cites {reference}, which does not exist "
                "(alert runbooks live in runbooks/alerts/<alert-name>.md; see runbooks/README.md)"
            )
