"""One uv for releases, any recent uv on a laptop.

pyproject.toml's `required-version` is a floor: a developer's newer uv is welcome. Where a build must
be reproducible (the image, the workflows, .ci/run) uv is pinned to one exact version, and every one of
those pins must name the same version, which itself satisfies the floor.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from typing import Any

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tests.infra.conftest import ROOT

EXACT = re.compile(r"\d+\.\d+\.\d+")


def required_version() -> SpecifierSet:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return SpecifierSet(project["tool"]["uv"]["required-version"])


def workflow_steps() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        workflow = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for job_name, job in (workflow.get("jobs") or {}).items():
            for step in job.get("steps") or []:
                yield f"{path.name} job {job_name}", step


def pins() -> dict[str, str]:
    """Every place that installs an exact uv, and the version it installs."""
    found: dict[str, str] = {}
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for number, tag in enumerate(re.findall(r"ghcr\.io/astral-sh/uv:([\w.]+)@sha256:", dockerfile), 1):
        found[f"Dockerfile uv image #{number}"] = tag
    ci_run = re.search(r"^UV_VERSION=(\S+)", (ROOT / ".ci" / "run").read_text(encoding="utf-8"), re.M)
    if ci_run:
        found[".ci/run UV_VERSION"] = ci_run[1]
    for where, step in workflow_steps():
        if str(step.get("uses", "")).startswith("astral-sh/setup-uv@"):
            found[f"{where} setup-uv"] = str((step.get("with") or {}).get("version"))
    return found


def test_required_version_is_a_floor_not_a_pin() -> None:
    spec = required_version()
    assert spec, "C4: pyproject.toml [tool.uv] required-version is empty"
    operators = {s.operator for s in spec}
    assert operators <= {">=", ">"}, (
        f"C4: required-version {spec} turns away a developer's newer uv: write a floor such as >=0.13 "
        "(the exact version lives in the Dockerfile, the workflows and .ci/run)"
    )


def test_every_exact_uv_pin_is_the_same_version() -> None:
    found = pins()
    places = {k.split(" ")[0] for k in found}
    assert {"Dockerfile", ".ci/run", "ci-cd.yml"} <= places, (
        f"C4: uv must be pinned in the Dockerfile, .ci/run and the CI workflow; found only {sorted(found)}"
    )
    versions = set(found.values())
    assert len(versions) == 1, f"C4: the uv pins disagree: {found}"
    (version,) = versions
    assert EXACT.fullmatch(version), f"C4: pin uv to an exact X.Y.Z, not {version!r}"
    assert Version(version) in required_version(), (
        f"C4: the pinned uv {version} does not satisfy pyproject.toml's required-version {required_version()}"
    )
