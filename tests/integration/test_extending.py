"""docs/extending.md's commands work: every `sh` block in it runs, in order, in a copy of the project
(a git work tree of its own, as a clone is) against a database of its own, and leaves what the guide
says it leaves: a new revision numbered after the last, applied."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

import asyncpg
import pytest

from tests.infra.conftest import ROOT
from tests.infra.test_rename import copy_env, tracked_copy

GUIDE = ROOT / "docs" / "extending.md"
_SH_BLOCK = re.compile(r"^( *)```sh\n(.*?)^\1```", re.M | re.S)
VERSIONS = Path("src/app/migrations/versions")


def sh_blocks(text: str) -> list[str]:
    """The guide's `sh` blocks, each dedented by its fence's indent (a block may sit in a list)."""
    return [
        "\n".join(line.removeprefix(indent) for line in body.splitlines())
        for indent, body in _SH_BLOCK.findall(text)
    ]


async def _version(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        version: str = await conn.fetchval("SELECT version_num FROM alembic_version")
        return version
    finally:
        await conn.close()


def test_the_guide_has_commands_to_run() -> None:
    blocks = sh_blocks(GUIDE.read_text())
    assert any("make revision" in block for block in blocks), "docs/extending.md lost its migration commands"


@pytest.mark.git
def test_the_guides_commands_run_in_a_copy_of_the_project(tmp_path: Path, empty_database: str) -> None:
    copy = tracked_copy(tmp_path / "project")
    numbers = sorted(int(p.name[:4]) for p in (copy / VERSIONS).glob("[0-9][0-9][0-9][0-9]_*.py"))
    env = copy_env({"DATABASE_URL": empty_database})
    for block in sh_blocks(GUIDE.read_text()):
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, (
            f"docs/extending.md:\n{block}\nfailed:\n{result.stdout}\n{result.stderr}"
        )

    expected = f"{numbers[-1] + 1:04d}"
    assert (copy / VERSIONS / f"{expected}_add_order_notes.py").exists(), (
        f"`make revision` did not write {expected}_add_order_notes.py: "
        f"{sorted(p.name for p in (copy / VERSIONS).glob('*.py'))}"
    )
    assert asyncio.run(_version(empty_database)) == expected, "the new revision was not applied"
