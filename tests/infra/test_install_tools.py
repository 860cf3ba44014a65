"""`make tools` is safe on a developer's laptop.

scripts/install-tools.sh runs here in a sandbox: a copy of the script in a temporary project whose
tools are already installed (their pin stamps match, so nothing is downloaded), with a PATH that has
no shellcheck, no promtool and no apt-get, and with `sudo`, `pkill`, `kill`, `killall` and `systemctl`
replaced by stubs that record being called. Without `--system` it must touch nothing outside .tools/;
with `--system` on a machine without apt it must say what it skipped. Neither may ever stop a process.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT

SCRIPT = ROOT / "scripts" / "install-tools.sh"
# What the script needs from the system when every tool is already installed.
NEEDED = ("bash", "cat", "dirname", "ln", "rm", "mkdir", "chmod", "python3", "env")
RECORDED = ("sudo", "pkill", "kill", "killall", "systemctl", "apt-get", "apt")


def pinned_tools() -> dict[str, str]:
    """The TOOLS map: tool name -> requirement, as the script declares it."""
    block = re.search(r"declare -A TOOLS=\((.*?)\n\)", SCRIPT.read_text(), re.S)
    assert block, "scripts/install-tools.sh must declare its pins in `declare -A TOOLS=(...)`"
    return dict(re.findall(r'\[([\w-]+)\]="([^"]+)"', block[1]))


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy2(SCRIPT, project / "scripts" / "install-tools.sh")
    for name, requirement in pinned_tools().items():
        venv = project / ".tools" / "venvs" / name
        (venv / "bin").mkdir(parents=True)
        (venv / ".pinned").write_text(requirement + "\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in NEEDED:
        found = shutil.which(name)
        assert found, f"the sandbox needs {name}"
        (bin_dir / name).symlink_to(found)
    calls = tmp_path / "calls"
    for name in RECORDED:
        stub = bin_dir / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls}"\nexit 1\n')
        stub.chmod(0o755)
    (bin_dir / "apt-get").unlink()  # a machine without apt
    (bin_dir / "apt").unlink()
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    return project, env, calls


def run(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(project / "scripts" / "install-tools.sh"), *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_without_system_it_touches_nothing_outside_tools(sandbox: tuple[Path, dict[str, str], Path]) -> None:
    project, env, calls = sandbox
    result = run(project, env)
    assert result.returncode == 0, f"make tools failed:\n{result.stdout}\n{result.stderr}"
    assert not calls.exists(), f"make tools ran system commands without --system:\n{calls.read_text()}"
    assert "skipped system packages: shellcheck prometheus" in result.stderr, (
        f"make tools must name the system packages it leaves to the developer:\n{result.stderr}"
    )
    linked = {p.name for p in (project / ".tools" / "bin").iterdir()}
    assert {"hadolint", "checkov", "docker-compose", "hcl2-python"} <= linked, f"tools not linked: {linked}"


def test_system_without_apt_says_what_it_skipped(sandbox: tuple[Path, dict[str, str], Path]) -> None:
    project, env, calls = sandbox
    result = run(project, env, "--system")
    assert result.returncode == 0, f"--system without apt must not fail:\n{result.stderr}"
    assert "skipped system packages: shellcheck prometheus (no apt-get on this machine" in result.stderr, (
        result.stderr
    )
    recorded = calls.read_text() if calls.exists() else ""
    assert not re.search(r"^(pkill|kill|killall|systemctl|apt)", recorded, re.M), recorded


def test_an_unknown_argument_is_refused(sandbox: tuple[Path, dict[str, str], Path]) -> None:
    project, env, _ = sandbox
    result = run(project, env, "--sytem")
    assert result.returncode == 2, "a mistyped flag must not silently install nothing"
    assert "usage:" in result.stderr


def test_the_script_never_stops_a_process() -> None:
    # Whatever the mode, killing by name could hit a developer's own Prometheus.
    code = "\n".join(line for line in SCRIPT.read_text().splitlines() if not line.lstrip().startswith("#"))
    found = re.findall(r"\b(pkill|killall|kill|systemctl stop)\b", code)
    assert not found, f"scripts/install-tools.sh must never stop a process by name: {found}"


def test_make_tools_does_not_ask_for_system_packages_and_ci_does() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^tools:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe, "the Makefile has no tools target"
    assert "install-tools.sh" in recipe[1], recipe[1]
    assert "--system" not in recipe[1], "`make tools` runs on laptops: no --system (apt, root) there"
    assert "scripts/install-tools.sh --system" in (ROOT / ".ci" / "run").read_text(), (
        ".ci/run is CI: it installs the system packages with --system"
    )
    assert os.access(SCRIPT, os.X_OK), "scripts/install-tools.sh must be executable"
