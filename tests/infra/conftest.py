"""Helpers for the static infrastructure checks: run a pinned tool from .tools/bin.

The tools are installed by `make tools` (scripts/install-tools.sh). A missing tool fails the check
loudly instead of skipping it: a check that skips quietly proves nothing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = ROOT / ".tools" / "bin"


def tool_path(name: str) -> str:
    """Return the path of a pinned tool, or fail the test with how to install it."""
    local = TOOLS_BIN / name
    if local.exists():
        return str(local)
    system = shutil.which(name)
    if system:
        return system
    pytest.fail(f"{name} is not installed: run `make tools` (scripts/install-tools.sh --system)")


def run_tool(
    name: str, *args: str, cwd: Path = ROOT, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run a tool and return the finished process (stdout and stderr captured as text)."""
    return subprocess.run(
        [tool_path(name), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_clean(result: subprocess.CompletedProcess[str], practice: str) -> None:
    """Fail with the tool's own output and the practice it guards when it reports anything."""
    assert result.returncode == 0, (
        f"{practice}: {' '.join(map(str, result.args))} failed\n{result.stdout}\n{result.stderr}"
    )


def _emulator_apply_selected(session: pytest.Session) -> bool:
    """Whether a selected test needs the emulator apply: its own tests, or the IAM contract check
    (test_terraform_iam_contract.py), which reads the states it leaves."""
    needing = {"test_terraform_apply.py": "applied", "test_terraform_iam_contract.py": "rendered"}
    return any(needing.get(item.path.name) in getattr(item, "fixturenames", ()) for item in session.items)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The emulator apply (test_terraform_apply.py) spends minutes in the provider's waits, not on the
    CPU: when it is selected, it starts now and runs beside the tests before it."""
    if _emulator_apply_selected(session):
        from tests.infra import test_terraform_apply

        test_terraform_apply.start_applying()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _emulator_apply_selected(session):
        from tests.infra import test_terraform_apply

        test_terraform_apply.stop_applying()
