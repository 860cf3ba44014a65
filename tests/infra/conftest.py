"""Helpers for the static infrastructure checks: run a pinned tool from .tools/bin.

The tools are installed by `make tools` (scripts/install-tools.sh). On a laptop a check whose tool is
missing skips, naming the tool and `make tools`; under CI (`CI=true`, as GitHub Actions and .ci/run
set it) that skip, and every NOT VERIFIED skip, is a failure: a check that skips there proves nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Generator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = ROOT / ".tools" / "bin"


def tool_path(name: str) -> str:
    """Return the path of a pinned tool, or skip the test saying how to install it (fails under CI)."""
    local = TOOLS_BIN / name
    if local.exists():
        return str(local)
    system = shutil.which(name)
    if system:
        return system
    pytest.skip(f"{name} is not installed: run `make tools` (scripts/install-tools.sh --system)")


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


IN_CI = os.environ.get("CI") == "true"
# What a skip for a missing tool says: tool_path's, and the NOT VERIFIED skips of the Terraform checks.
MISSING_TOOL = ("is not installed", "NOT VERIFIED")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport() -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if IN_CI and report.skipped and isinstance(report.longrepr, tuple):
        reason = report.longrepr[2]
        if any(mark in reason for mark in MISSING_TOOL):
            report.outcome = "failed"
            report.longrepr = f"CI=true: a check may not skip for a missing tool ({reason})"
    return report


# The fixtures that wait for the emulator apply: `applied` (test_terraform_apply.py) and `rendered`,
# the policies read back from the states it leaves (test_terraform_iam_contract.py).
EMULATOR_APPLY_FIXTURES = frozenset({"applied", "rendered"})


def _needs_emulator_apply(item: pytest.Item) -> bool:
    return not EMULATOR_APPLY_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that wait for the emulator apply are slow (`make check-slow`), whichever file holds
    them. Runs before `-m` deselects."""
    for item in items:
        if _needs_emulator_apply(item):
            item.add_marker(pytest.mark.slow)


def _emulator_apply_selected(session: pytest.Session) -> bool:
    return any(_needs_emulator_apply(item) for item in session.items)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """The emulator apply spends minutes in the provider's waits, not on the CPU: when the run (not a
    `--collect-only`) selects it, it starts as the tests start and runs beside those before it."""
    if not session.config.option.collectonly and _emulator_apply_selected(session):
        from tests.infra import test_terraform_apply

        test_terraform_apply.start_applying()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _emulator_apply_selected(session):
        from tests.infra import test_terraform_apply

        test_terraform_apply.stop_applying()
