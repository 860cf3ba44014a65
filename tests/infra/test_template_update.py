"""`make template-update` brings a later template commit into a renamed project, end to end.

In temporary directories: the template is a git repository of the project's files; the project is a
clone of it, renamed with `make rename` and changed by its team. A later template commit edits a file
whose path and text hold the name, edits a file the team changed elsewhere, and adds a file: the
update merges all three under the project's name, keeps the team's change and moves the recorded
commit. A template change to the line the team changed stops with git's conflict markers, the file
listed and exit 1, and the record stays.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT
from tests.infra.test_rename import copy_env, current_name, listed

NAME = f"team-{uuid.uuid4().hex[:8]}"
DASHBOARD = "ops/grafana/dashboards/{}-red.json"
TEAM_LINE = "Our team's own note, kept by every template update."


def sh(cwd: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), cwd=cwd, env=copy_env(), capture_output=True, text=True, timeout=300, check=False
    )


def git(cwd: Path, *args: str) -> str:
    result = sh(cwd, "git", "-c", "user.name=test", "-c", "user.email=test@localhost", *args)
    assert result.returncode == 0, f"git {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout.strip()


def commit_all(cwd: Path, message: str) -> str:
    git(cwd, "add", "-A")
    git(cwd, "commit", "-q", "-m", message)
    return git(cwd, "rev-parse", "HEAD")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path.name} no longer holds {old!r}: update this test"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def template(tmp_path: Path) -> Path:
    """A git repository of the project's files (uncommitted work comes along), on `main`, without a
    record of its own (in the renamed copy of test_rename.py there is one)."""
    repo = tmp_path / "template"
    for relative in listed(ROOT):
        source, target = ROOT / relative, repo / relative
        if source.is_symlink() or not source.is_file() or relative == ".template.json":
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
        target.chmod(source.stat().st_mode)
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "the template")
    return repo


def test_a_renamed_project_takes_a_later_template_commit(template: Path, tmp_path: Path) -> None:
    old = current_name()
    project = tmp_path / "project"
    git(tmp_path, "clone", "-q", str(template), str(project))
    renamed = sh(project, "make", "rename", f"NAME={NAME}")
    assert renamed.returncode == 0, renamed.stdout + renamed.stderr
    record = json.loads((project / ".template.json").read_text())
    assert record == {"template": old, "commit": git(template, "rev-parse", "HEAD"), "name": NAME}
    # The team's change, at the end of a file the template changes at the top.
    slo = project / "docs" / "slo.md"
    slo.write_text(slo.read_text() + f"\n{TEAM_LINE}\n")
    commit_all(project, "adopt the template")

    # A later template commit: a renamed file (path and text), the same doc elsewhere, a new file.
    edit(template / DASHBOARD.format(old), '"title": "', f'"title": "{old} (improved) ')
    edit(template / "docs" / "slo.md", "# Service level objectives", "# Service level objectives, improved")
    (template / "docs" / "later.md").write_text(f"# A later practice\n\nWhat {old} does later.\n")
    later = commit_all(template, "a later improvement")

    updated = sh(project, "make", "template-update", f"TEMPLATE={template}")
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert f'"title": "{NAME} (improved) ' in (project / DASHBOARD.format(NAME)).read_text()
    assert not (project / DASHBOARD.format(old)).exists()
    slo_text = slo.read_text()
    assert slo_text.startswith("# Service level objectives, improved"), "the template's change is missing"
    assert TEAM_LINE in slo_text, "the team's change was lost"
    assert (project / "docs" / "later.md").read_text() == f"# A later practice\n\nWhat {NAME} does later.\n"
    assert json.loads((project / ".template.json").read_text())["commit"] == later
    commit_all(project, "take the template's improvement")

    # A template change to the team's own line: a conflict, marked and listed; the record stays.
    edit(template / "docs" / "slo.md", "# Service level objectives, improved", "# SLOs")
    git(template, "commit", "-q", "-am", "a change to the same line")
    edit(slo, "# Service level objectives, improved", "# Our objectives")
    commit_all(project, "the team renames the title")

    conflicting = sh(project, "make", "template-update", f"TEMPLATE={template}")
    assert conflicting.returncode != 0
    assert "docs/slo.md" in conflicting.stderr
    text = slo.read_text()
    for marker in ("<<<<<<< ", "=======", ">>>>>>> ", "# Our objectives", "# SLOs"):
        assert marker in text, f"docs/slo.md holds no {marker!r}:\n{text[:600]}"
    assert json.loads((project / ".template.json").read_text())["commit"] == later
