"""The developer's loop stays what the README promises: `make test` is unit and integration without
fault injection, the slow and the fault tests have targets of their own, CI runs every target,
collecting starts nothing, the fuzzer's plugins load only where it runs, and pre-commit runs
`make lint`'s own commands."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

from tests.infra.conftest import ROOT

MAKEFILE = (ROOT / "Makefile").read_text()
README = (ROOT / "README.md").read_text()
CI_RUN = (ROOT / ".ci" / "run").read_text()


def recipe(target: str) -> list[str]:
    """The target's commands, with $(RUN) spelled as `uv run --frozen`."""
    match = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", MAKEFILE, re.M)
    assert match, f"the Makefile has no target {target}"
    variables = dict(re.findall(r"^([A-Z_]+) :?= (.*)$", MAKEFILE, re.M))
    lines = []
    for line in match[1].splitlines():
        command = line.strip().split("  #")[0]
        for name, value in variables.items():
            command = command.replace(f"$({name})", value)
        lines.append(command.replace("$(UV)", "uv"))
    return lines


def test_make_test_is_unit_and_integration_without_faults() -> None:
    (command,) = recipe("test")
    assert "tests/unit tests/integration" in command
    assert '-m "not faults"' in command
    assert "tests/infra" not in command


def test_the_other_targets_select_what_make_test_leaves_out() -> None:
    assert "-m faults" in recipe("test-faults")[0]
    assert 'tests/infra -m "not slow"' in recipe("check")[0]
    assert "tests/infra -m slow" in recipe("check-slow")[0]
    (everything,) = recipe("test-all")
    assert '-m "not slow"' in everything
    assert "--cov-fail-under=90" in everything


def test_ci_fails_a_check_whose_tool_is_missing() -> None:
    """.ci/run runs every target (tests/infra/test_docs.py); there a missing tool fails, never skips."""
    assert "export CI=true" in CI_RUN, "under CI a missing tool must fail its check (tests/infra/conftest.py)"


def test_the_readme_says_which_target_to_run_when() -> None:
    section = README.split("## Running the tests", 1)
    assert len(section) == 2, 'the README needs its "Running the tests" section'
    named = {
        word
        for words in re.findall(r"`make ([a-z -]+)`", section[1].split("\n## ", 1)[0])
        for word in words.split()
    }
    missing = {"lint", "test", "check", "check-slow", "test-faults", "test-all", "format", "tools"} - named
    assert not missing, f"the README's Running the tests does not say when to run {sorted(missing)}"


def test_collecting_starts_nothing_and_loads_no_fuzzer() -> None:
    """`--collect-only` of the emulator apply starts no emulator (it would print its timings), and the
    unit tests run without hypothesis or schemathesis imported."""
    script = (
        "import sys, pytest\n"
        "code = pytest.main(['--collect-only', '-q', '-m', 'slow', 'tests/infra', 'tests/unit'])\n"
        "print('FUZZERS', [m for m in ('hypothesis', 'schemathesis') if m in sys.modules])\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_terraform_apply.py" in result.stdout, "the emulator apply was not collected"
    assert "emulator apply:" not in result.stderr, "collecting started the emulator apply"
    assert "FUZZERS []" in result.stdout


def test_pre_commit_runs_the_commands_of_make_lint_and_terraform_fmt() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert {repo["repo"] for repo in config["repos"]} == {"local"}, "versions come from uv.lock: local hooks"
    entries = [hook["entry"] for hook in hooks]
    assert sorted(entries) == sorted([*recipe("lint"), "terraform fmt -check -recursive terraform"])


def test_make_format_formats_what_the_checks_check() -> None:
    format_recipe = " ".join(recipe("format"))
    for command in ("ruff format .", "ruff check --fix .", "terraform fmt -recursive terraform"):
        assert command in format_recipe, f"`make format` does not run `{command}`"
