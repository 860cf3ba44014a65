"""`make rename NAME=<new-name>` adopts the template under a new name, and leaves a working project.

The rename runs on a temporary copy of the tracked files (a git work tree of its own, as a fresh clone
is), which must then pass `make lint` and `make check` and hold the old name nowhere outside the
allow-list below. Every file is searched, so a file added later with the name in it is covered too.
`make check` in the copy runs tests/infra again, this test included: there it skips itself
(RENAME_TEST_COPY), so it neither recurses nor runs twice.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT

# A name that occurs nowhere in the project (rename refuses one that does), as long as a name may be
# (so every line that holds it still fits its linter) and with hyphens, so the underscore spelling
# (Terraform labels, the database user) is exercised too.
NEW_NAME = f"adopted-{uuid.uuid4().hex[:10]}"
INSIDE_COPY = "RENAME_TEST_COPY"
# Files that may keep the template's name, each with the reason. Only the record does: elsewhere the
# name is the compose project's, and scripts/rename.py reads it from there instead of spelling it.
ALLOWED: dict[str, str] = {
    ".template.json": "the record of the template the project came from (`make template-update`)",
}
# Places where the new name must appear: one per kind of contract.
CONTRACTS = (
    "docker-compose.yml",  # compose project, images, OTEL_SERVICE_NAME
    "terraform/bootstrap/ecr.tf",  # ECR repository
    "terraform/modules/stack/main.tf",  # ECS names
    ".github/workflows/deploy.yml",  # what the pipeline deploys
    "ops/prometheus/rules/alerts.yml",  # alert labels
    "ops/prometheus/prometheus.yml",  # the scrape job
    "runbooks/README.md",
    "src/app/observability/tracing.py",  # the OTel service name's default
)

assert len(NEW_NAME) == 18, "the longest name scripts/rename.py accepts"

pytestmark = pytest.mark.skipif(
    os.environ.get(INSIDE_COPY) == "1", reason="inside the renamed copy: the outer run is this test"
)


def current_name() -> str:
    match = re.search(r"^name:\s*(\S+)\s*$", (ROOT / "docker-compose.yml").read_text(), re.M)
    assert match, "docker-compose.yml has no top-level `name:`"
    return match[1]


def copy_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for commands in the copy: none of this run's virtualenv or coverage settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COV_", "COVERAGE", "PYTEST_", "VIRTUAL_ENV", "UV_PROJECT"))
    }
    env |= {"UV_PYTHON_DOWNLOADS": "never", INSIDE_COPY: "1", **(extra or {})}
    return env


def run(copy: Path, *command: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), cwd=copy, env=copy_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def listed(root: Path) -> list[str]:
    """The project's files as git sees them: tracked, and untracked but not ignored."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted(p for p in set(out.split("\0")) if p and (root / p).exists())


def tracked_copy(destination: Path) -> Path:
    """The project's files (uncommitted work comes along) in a fresh git repository, as a clone is."""
    for relative in listed(ROOT):
        source = ROOT / relative
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    # The pinned tools are installed once per machine, not per copy.
    (destination / ".tools").symlink_to(ROOT / ".tools")
    for command in (["git", "init", "-q"], ["git", "add", "-A"]):
        subprocess.run(command, cwd=destination, check=True, capture_output=True)
    return destination


def project_files(copy: Path) -> list[Path]:
    """Every file of the copy's project, wherever it came from (no cache, virtualenv or tool)."""
    return [copy / p for p in listed(copy) if (copy / p).is_file() and not (copy / p).is_symlink()]


def leftovers(copy: Path, names: list[str]) -> list[str]:
    """Lines and paths that still hold a name, or its display spelling (spaces for hyphens) in any case."""
    display = [re.escape(name).replace("\\-", " ") for name in names if "-" in name]
    pattern = re.compile("|".join([*map(re.escape, names), *(f"(?i:{d})" for d in display)]))
    found = []
    for path in project_files(copy):
        relative = path.relative_to(copy)
        if str(relative) in ALLOWED or relative.name == "uv.lock":
            continue
        if pattern.search(str(relative)):
            found.append(f"{relative} (its path)")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        found += [
            f"{relative}:{n}: {line.strip()[:100]}"
            for n, line in enumerate(text.splitlines(), 1)
            if pattern.search(line)
        ]
    return found


def test_rename_refuses_a_name_that_is_not_a_valid_label(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "rename.py", tmp_path / "scripts" / "rename.py")
    compose = tmp_path / "docker-compose.yml"
    shutil.copy2(ROOT / "docker-compose.yml", compose)
    before = compose.read_text()
    for bad in (
        "Billing",
        "billing_svc",
        "-billing",
        "billing-",
        "b1",
        "9lives",
        "a" * 19,
        "billing.svc",
        "",
    ):
        result = subprocess.run(
            ["python3", str(tmp_path / "scripts" / "rename.py"), bad],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, f"rename accepted {bad!r}"
        assert "not a valid name" in result.stderr or "usage" in result.stderr, result.stderr
    assert compose.read_text() == before, "a refused rename changed a file"


@pytest.mark.slow
def test_rename_leaves_a_project_that_passes_lint_and_check(tmp_path: Path) -> None:
    old = current_name()
    names = [old, old.replace("-", "_")]
    copy = tracked_copy(tmp_path / "project")
    files_before = len(project_files(copy))

    renamed = run(copy, "make", "rename", f"NAME={NEW_NAME}", timeout=120)
    assert renamed.returncode == 0, f"make rename failed:\n{renamed.stdout}\n{renamed.stderr}"
    again = run(copy, "make", "rename", f"NAME={NEW_NAME}", timeout=120)
    assert again.returncode == 2, "renaming to the name the project already has must be refused"

    left = leftovers(copy, names)
    assert not left, (
        f"{old} is left after the rename (fix scripts/rename.py or allow-list it):\n" + "\n".join(left[:40])
    )
    assert len(project_files(copy)) == files_before + 1, "the rename adds .template.json, nothing else"
    assert json.loads((copy / ".template.json").read_text()) == {
        "template": old,
        "commit": None,
        "name": NEW_NAME,
    }
    for contract in CONTRACTS:
        assert NEW_NAME in (copy / contract).read_text(), f"{contract} does not name the service {NEW_NAME}"

    for target in ("lint", "check"):
        result = run(copy, "make", target)
        assert result.returncode == 0, (
            f"`make {target}` fails in the renamed project:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
        )
