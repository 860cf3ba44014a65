"""The living documentation stays true: every practice maps to files that exist and to tests that
exist, every test docs/reliability.md cites exists, every relative link in the docs resolves, and every
`make` target the docs name is real."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT

# The practice catalogue's IDs (source: the project's practice catalogue; see docs/practices.md).
PRACTICE_IDS = (
    [f"S{i}" for i in range(1, 8)]
    + [f"D{i}" for i in range(1, 10)]
    + [f"C{i}" for i in range(1, 10)]
    + [f"R{i}" for i in range(1, 6)]
    + [f"T{i}" for i in range(1, 9)]
    + [f"M{i}" for i in range(1, 8)]
    + [f"E{i}" for i in range(1, 5)]
    + ["B1"]
    + [f"A{i}" for i in range(1, 11)]
)
PRACTICES = ROOT / "docs" / "practices.md"
_ROW = re.compile(r"^\|\s*([A-Z]\d+)\s*\|(.*)\|\s*$")
_CODE = re.compile(r"`([^`]+)`")
_TEST_REF = re.compile(r"^(tests/[\w/]+\.py)::(test_\w+)$")
_CITED_TEST = re.compile(r"^(?:([\w/]+\.py)::)?(test_\w+)$")  # `[file.py::]test_name`
RELIABILITY = ROOT / "docs" / "reliability.md"
_LINK = re.compile(r"\[[^\]]*\]\(([^)#\s]+)(?:#[^)]*)?\)")
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").rglob("*.md")),
    *sorted((ROOT / "runbooks").rglob("*.md")),
]


def _rows() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in PRACTICES.read_text().splitlines():
        match = _ROW.match(line)
        if match:
            rows[match.group(1)] = _CODE.findall(match.group(2))
    return rows


def _defines_test(path: Path, name: str) -> bool:
    return re.search(rf"^(async )?def {name}\(", path.read_text(), re.M) is not None


def test_every_practice_is_mapped() -> None:
    missing = [pid for pid in PRACTICE_IDS if pid not in _rows()]
    assert not missing, f"S7: docs/practices.md has no row for {missing}"


@pytest.mark.audit
def test_every_mapped_file_and_test_exists() -> None:
    problems = []
    for pid, refs in _rows().items():
        proofs = [ref for ref in refs if _TEST_REF.match(ref)]
        if not proofs:
            problems.append(f"{pid}: names no test (`tests/...py::test_name`)")
        for ref in refs:
            test = _TEST_REF.match(ref)
            if test:
                path = ROOT / test.group(1)
                if not path.exists() or not _defines_test(path, test.group(2)):
                    problems.append(f"{pid}: {ref} does not exist")
            elif ("/" in ref or "." in ref) and not (ROOT / ref.split("::")[0]).exists():
                problems.append(f"{pid}: {ref} does not exist")
    assert not problems, "S7: docs/practices.md is out of date:\n" + "\n".join(problems)


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
    }


def test_every_test_the_reliability_doc_cites_exists() -> None:
    """Each promise there names the test that proves it. A name given with its file (`tests/...py::` or
    the file's name alone) must be a test in that file; a bare name, a test in some test file."""
    defined = {path: _test_functions(path) for path in (ROOT / "tests").rglob("test_*.py")}
    spans = [span for line in RELIABILITY.read_text().splitlines() for span in _CODE.findall(line)]
    cited = [match.groups() for match in map(_CITED_TEST.match, spans) if match]
    missing = [
        f"{file}::{name}" if file else name
        for file, name in cited
        if not any(
            name in names
            for path, names in defined.items()
            if file is None or file in (path.relative_to(ROOT).as_posix(), path.name)
        )
    ]
    assert len(cited) > 20, "docs/reliability.md cites no tests: the pattern no longer matches its citations"
    assert not missing, f"docs/reliability.md cites tests that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    broken = [
        target
        for target in _LINK.findall(doc.read_text())
        if not target.startswith(("http://", "https://", "mailto:")) and not (doc.parent / target).exists()
    ]
    assert not broken, f"{doc.relative_to(ROOT)} links to missing files: {broken}"


def test_documented_make_targets_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):", makefile, re.M))
    named: set[str] = set()
    for doc in DOCS:
        named |= set(re.findall(r"`make ([a-z-]+)", doc.read_text()))
        named |= set(re.findall(r"^make ([a-z-]+(?: [a-z-]+)*)", doc.read_text(), re.M))
    flattened = {word for entry in named for word in entry.split()}
    assert flattened - targets == set(), f"docs name make targets that do not exist: {flattened - targets}"
    assert "test" in flattened, "the README must say how to run the tests (`make test`)"


def test_ci_runs_the_readme_commands() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make lint test" in readme
    for target in ("lint", "test-all", "check-slow"):
        assert f"make {target}" in ci, f".ci/run does not run `make {target}`"


def test_every_path_in_the_architectures_layout_exists() -> None:
    """docs/architecture.md's layout is the tree: each line's first word is a path that exists."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    layout = text.split("## Layout", 1)[1].split("```", 2)[1]
    paths = [line.split()[0] for line in layout.splitlines() if line.strip()]
    assert len(paths) > 10, "the layout block was not found"
    missing = [path for path in paths if not (ROOT / path).exists()]
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"
