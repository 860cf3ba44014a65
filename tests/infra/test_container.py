"""Static checks of the container image and the local stack: Dockerfile, .dockerignore, docker-compose.yml.

The linters and scanners run first (hadolint, checkov, trivy, compose's own validation, the compose
JSON schema, yamllint); then each invariant the practices ask for is parsed out of the files and
checked, failing with the practice ID and the fix. The Dockerfile parser below is also used by
tests/integration/test_readonly_run.py to run the server exactly as the image's CMD and ENV say.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.conftest import ROOT, assert_clean, run_tool, tool_path

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE_FILE = ROOT / "docker-compose.yml"

SERVE = ["python", "-m", "app", "serve"]
MIGRATE = ["python", "-m", "app", "migrate"]
RUNTIME_UID = "10001"
PINNED_IMAGE = re.compile(r"^(?P<name>[a-z0-9][a-z0-9._/-]*):(?P<tag>[\w][\w.-]*)@sha256:[0-9a-f]{64}$")
# Throwaway values for the variables compose requires; nothing here is a secret.
COMPOSE_ENV = {
    "API_KEYS": "x" * 24,
    "POSTGRES_PASSWORD": "not-a-secret",
    "GRAFANA_ADMIN_PASSWORD": "not-a-secret",
}
PROFILES = ("observability", "dev", "test")
VENV_BUDGET_MB = 100.0


# ---- a small Dockerfile parser: instructions with continuations joined, grouped by stage ----


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(path: Path = DOCKERFILE) -> list[Stage]:
    stages: list[Stage] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comments may also sit inside a continued instruction
        if not pending:
            start = number
        pending.append(line.removesuffix("\\").strip())
        if line.endswith("\\"):
            continue
        keyword, _, value = " ".join(pending).partition(" ")
        pending = []
        instruction = Instruction(keyword.upper(), value.strip(), start)
        if instruction.keyword == "FROM":
            words = [w for w in value.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif stages:
            stages[-1].instructions.append(instruction)
    return stages


def stage(stages: list[Stage], name: str) -> Stage:
    for candidate in stages:
        if candidate.name == name:
            return candidate
    pytest.fail(f"the Dockerfile has no stage named {name!r}")


def lineage(stages: list[Stage], target: Stage) -> list[Stage]:
    """The stage and the local stages it is built FROM, oldest first."""
    names = {s.name: s for s in stages if s.name}
    chain = [target]
    while chain[0].base in names:
        chain.insert(0, names[chain[0].base])
    return chain


def exec_form(value: str) -> list[str] | None:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, list) and all(isinstance(x, str) for x in parsed) else None


def flag_value(value: str, flag: str) -> str | None:
    match = re.search(rf"--{flag}=(\S+)", value)
    return match[1] if match else None


def without_flags(value: str) -> list[str]:
    return [word for word in value.split() if not word.startswith("--")]


def image_environment(
    stages: list[Stage], target: Stage, inherited: dict[str, str] | None = None
) -> dict[str, str]:
    """ENV of a stage as the container sees it: the base image's (`inherited`), then each stage's in
    order, with ARG defaults substituted."""
    env: dict[str, str] = dict(inherited or {})
    args: dict[str, str] = {}

    def expand(text: str) -> str:
        def lookup(match: re.Match[str]) -> str:
            name = match[1] or match[2]
            return env.get(name, args.get(name, ""))

        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lookup, text)

    for part in lineage(stages, target):
        for instruction in part.instructions:
            if instruction.keyword == "ARG":
                name, _, default = instruction.value.partition("=")
                args[name] = shlex.split(default)[0] if default.strip() else ""
            elif instruction.keyword == "ENV":
                for pair in shlex.split(instruction.value):
                    name, _, value = pair.partition("=")
                    env[name] = expand(value)
    return env


def runtime_stage(stages: list[Stage]) -> Stage:
    return stage(stages, "runtime")


def serve_command(stages: list[Stage]) -> list[str]:
    cmd = runtime_stage(stages).all("CMD")
    assert cmd, "D9: the runtime stage has no CMD"
    parsed = exec_form(cmd[-1].value)
    assert parsed is not None, f"D9: CMD must be exec form (a JSON array), not {cmd[-1].value!r}"
    return parsed


def healthcheck_command(stages: list[Stage]) -> list[str]:
    checks = runtime_stage(stages).all("HEALTHCHECK")
    assert checks, "A6: the runtime stage has no HEALTHCHECK"
    _, _, command = checks[-1].value.partition("CMD ")
    parsed = exec_form(command.strip())
    assert parsed is not None, "A6: HEALTHCHECK must use exec form: CMD [...]"
    return parsed


# ---- compose helpers ----


def compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """docker-compose with only the given variables: no shell variables, no .env file leak in."""
    clean = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "TMPDIR", "LANG"}}
    return subprocess.run(
        [tool_path("docker-compose"), "--env-file", os.devnull, "-f", str(COMPOSE_FILE), *args],
        cwd=ROOT,
        env={**clean, **(env if env is not None else COMPOSE_ENV)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    """The compose model as compose itself resolves it (anchors merged, variables interpolated)."""
    result = compose("--profile", "*", "config", "--format", "json")
    assert_clean(result, "E1")
    model: dict[str, Any] = json.loads(result.stdout)
    return model


@pytest.fixture(scope="module")
def services(resolved: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = resolved["services"]
    return found


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile()


# ---- linters and scanners ----


def test_hadolint_finds_nothing() -> None:
    # .hadolint.yaml: every severity fails, and base images come from trusted registries only (DL3026).
    result = run_tool("hadolint", "--config", str(ROOT / ".hadolint.yaml"), "--no-color", str(DOCKERFILE))
    assert_clean(
        result, "D1-D9 (hadolint; suppress an accepted finding inline with `# hadolint ignore=` and why)"
    )
    assert not result.stdout.strip(), f"hadolint reported:\n{result.stdout}"


def test_checkov_finds_nothing() -> None:
    result = run_tool(
        "checkov",
        "--framework",
        "dockerfile",
        "--skip-download",
        "--quiet",
        "-o",
        "json",
        "-f",
        str(DOCKERFILE),
    )
    assert_clean(result, "D4/D5/A6 (checkov)")
    summary = json.loads(result.stdout)["summary"]
    assert summary["failed"] == 0, f"checkov failed checks: {result.stdout}"
    assert summary["passed"] > 0, "checkov ran no checks on the Dockerfile: the scan proved nothing"


def test_trivy_config_finds_nothing(tmp_path: Path) -> None:
    # Only our files: the repository root also holds Terraform, which has its own checks.
    for source in (DOCKERFILE, COMPOSE_FILE):
        (tmp_path / source.name).write_text(source.read_text())
    result = run_tool(
        "trivy",
        "config",
        "--skip-check-update",
        "--quiet",
        "--exit-code",
        "1",
        "--format",
        "json",
        str(tmp_path),
    )
    assert_clean(result, "D7 (trivy config)")
    results = json.loads(result.stdout).get("Results") or []
    scanned = {r["Target"]: r for r in results}
    assert "Dockerfile" in scanned, f"D7: trivy did not scan the Dockerfile: {result.stdout[:500]}"
    findings = [m for r in results for m in r.get("Misconfigurations") or [] if m.get("Status") == "FAIL"]
    assert not findings, f"D7: trivy misconfigurations: {json.dumps(findings, indent=1)[:2000]}"
    # Trivy has no compose scanner: docker-compose.yml's security settings are checked by the tests below.


@pytest.mark.parametrize("profile", [None, *PROFILES])
def test_compose_config_is_valid(profile: str | None) -> None:
    args = ["--profile", profile] if profile else []
    assert_clean(
        compose(*args, "config", "--quiet"), f"E1 (docker compose config, profile {profile or 'default'})"
    )


def test_compose_stops_loudly_without_required_variables() -> None:
    result = compose("config", "--quiet", env={})
    assert result.returncode != 0, "E2: compose must refuse to start without API_KEYS and POSTGRES_PASSWORD"
    for name in ("API_KEYS", "POSTGRES_PASSWORD"):
        assert f"required variable {name} is missing" in result.stderr, (
            f"E2: a missing {name} must stop compose with a message naming it: use ${{{name}:?message}}"
        )


def test_compose_matches_the_compose_spec_schema() -> None:
    result = run_tool("check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE))
    assert_clean(result, "E1 (compose-spec schema)")


def test_compose_passes_yamllint() -> None:
    config = ROOT / ".yamllint.yaml"
    defaults = (
        "{extends: default, rules: {document-start: disable, line-length: {max: 120}, "
        "truthy: {check-keys: false}}}"
    )
    args = ["-c", str(config)] if config.exists() else ["-d", defaults]
    assert_clean(run_tool("yamllint", "--strict", *args, str(COMPOSE_FILE)), "E1 (yamllint)")


# ---- Dockerfile invariants ----


@pytest.mark.audit
def test_every_base_image_is_pinned_by_tag_and_digest(stages: list[Stage]) -> None:
    local = {s.name for s in stages if s.name}
    for s in stages:
        if s.base in local:
            continue
        assert PINNED_IMAGE.match(s.base), f"A1/D4: FROM {s.base} must be pinned as name:tag@sha256:<digest>"
        assert ":latest@" not in s.base, f"A1/D4: FROM {s.base} uses the latest tag: name an exact version"
        for instruction in s.instructions:
            source = flag_value(instruction.value, "from")
            if instruction.keyword == "COPY" and source and source not in local:
                assert PINNED_IMAGE.match(source), (
                    f"A1/D4: COPY --from={source} must be pinned by tag and digest"
                )
    assert "latest" not in DOCKERFILE.read_text().lower(), "A1/D4: the Dockerfile mentions `latest`"


def test_runtime_is_the_last_stage_and_shares_the_builders_base(stages: list[Stage]) -> None:
    assert stages[-1].name == "runtime", (
        "D1: the production stage `runtime` must be last, so `docker build .` builds it"
    )
    runtime_root = lineage(stages, runtime_stage(stages))[0].base
    builder_root = lineage(stages, stage(stages, "builder"))[0].base
    assert runtime_root == builder_root, (
        f"D1: the builder ({builder_root}) and the runtime ({runtime_root}) must share one base image: "
        "the venv links to the builder's interpreter"
    )


def test_builder_installs_locked_dependencies_before_copying_the_source(stages: list[Stage]) -> None:
    builder = stage(stages, "builder")
    steps = builder.instructions
    first_sync = next((i for i, s in enumerate(steps) if s.keyword == "RUN" and "uv sync" in s.value), None)
    source_copy = next(
        (i for i, s in enumerate(steps) if s.keyword == "COPY" and "src" in without_flags(s.value)), None
    )
    assert first_sync is not None, "D1: the builder must install with `uv sync`"
    assert source_copy is not None, "D1: the builder must COPY src"
    assert first_sync < source_copy, (
        "D2: install dependencies (uv sync) before COPY src, so code edits keep the layer"
    )
    copied_before = {
        w for s in steps[:first_sync] if s.keyword == "COPY" for w in without_flags(s.value)[:-1]
    }
    assert {"pyproject.toml", "uv.lock"} <= copied_before, (
        "D2: copy pyproject.toml and uv.lock before the first sync"
    )
    assert "src" not in copied_before, "D2: the dependency layer must not see the source"
    syncs = [s.value for s in steps if s.keyword == "RUN" and "uv sync" in s.value]
    assert "--frozen --no-dev --no-install-project" in syncs[0], (
        "D1: the first sync installs the locked dependencies only: "
        "uv sync --frozen --no-dev --no-install-project"
    )
    assert any("--frozen --no-dev --no-editable" in s for s in syncs[1:]), (
        "D1: the project is installed as a package (uv sync --frozen --no-dev --no-editable): "
        "no source tree at runtime"
    )
    assert all("--mount=type=cache" in s for s in syncs), (
        "D2: every uv sync uses a cache mount for uv's cache"
    )


def test_runtime_build_args_come_after_the_content_layers(stages: list[Stage]) -> None:
    # A RUN or COPY after an ARG is rebuilt when the argument changes, and REVISION changes every commit:
    # the venv layer would be new (and pushed again) for every build.
    steps = runtime_stage(stages).instructions
    first_arg = next((i for i, s in enumerate(steps) if s.keyword == "ARG"), len(steps))
    late = [f"{s.keyword} (line {s.line})" for s in steps[first_arg:] if s.keyword in {"RUN", "COPY", "ADD"}]
    assert not late, f"D2: move the runtime stage's ARGs after its RUN/COPY layers; found after them: {late}"


def test_builder_compiles_bytecode_and_uses_the_image_python(stages: list[Stage]) -> None:
    env = image_environment(stages, stage(stages, "builder"))
    expected = {"UV_COMPILE_BYTECODE": "1", "UV_LINK_MODE": "copy"}
    assert {k: env.get(k) for k in expected} == expected, f"D8: builder ENV must set {expected}"
    assert env.get("UV_PYTHON_DOWNLOADS") in {"0", "never"}, (
        "D1: uv must use the base image's Python, never download one"
    )
    assert env.get("UV_PYTHON", "").startswith(("/usr/local/bin/python3", "python3")), (
        "D1: point UV_PYTHON at the image's"
    )


def test_one_python_everywhere(stages: list[Stage]) -> None:
    # The uv image's tag is checked against the other uv pins in tests/infra/test_uv_pin.py.
    python = (ROOT / ".python-version").read_text().strip()
    base = lineage(stages, runtime_stage(stages))[0].base
    assert base.startswith(f"python:{python}-"), (
        f"E3: the base image ({base.split('@')[0]}) must be Python {python}"
    )


def test_builder_strips_debug_info_from_extensions(stages: list[Stage]) -> None:
    steps = stage(stages, "builder").instructions
    last_sync = max(i for i, s in enumerate(steps) if s.keyword == "RUN" and "uv sync" in s.value)
    assert any("strip --strip-debug" in s.value for s in steps[last_sync:] if s.keyword == "RUN"), (
        "D8: strip debug info from the venv's shared objects after the last sync (39 MB of 119 MB)"
    )


def test_runtime_virtualenv_fits_its_size_budget() -> None:
    # bench/image_size.sh builds the runtime venv as the builder does; the budget leaves ~20% headroom
    # over today's 80 MB, so a heavy new dependency is a decision, not an accident (docs/container.md).
    result = subprocess.run(
        ["bash", str(ROOT / "bench" / "image_size.sh")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert_clean(result, "D8 (bench/image_size.sh)")
    match = re.search(r"^runtime virtualenv:\s+([\d.]+) MB$", result.stdout, re.MULTILINE)
    assert match, f"D8: bench/image_size.sh printed no size:\n{result.stdout}"
    assert float(match[1]) <= VENV_BUDGET_MB, (
        f"D8: the runtime virtualenv is {match[1]} MB, over its {VENV_BUDGET_MB} MB budget: drop a "
        "dependency, or raise the budget here and in docs/container.md with the reason"
    )


def test_runtime_stage_gets_the_venv_and_nothing_else(stages: list[Stage]) -> None:
    runtime = runtime_stage(stages)
    copies = runtime.all("COPY") + runtime.all("ADD")
    assert copies, "D1: the runtime stage copies nothing: where is the virtualenv?"
    for copy in copies:
        assert flag_value(copy.value, "from") == "builder", (
            f"D1: line {copy.line}: the runtime takes files from the builder only (nothing from the build "
            f"context: no source, tests or secrets), got {copy.value!r}"
        )
        assert not re.search(r"--ch(own|mod)", copy.value), (
            f"D5: line {copy.line}: the runtime user must own nothing; keep copied files root-owned"
        )
    installs = re.compile(r"apt-get install|apt install|apk add|pip install|uv (pip|sync|add)")
    for run in runtime.all("RUN"):
        assert not installs.search(run.value), (
            f"D1: line {run.line}: the runtime stage installs nothing (no compilers, no build tools): "
            "install in the builder and copy the result"
        )
        assert not re.search(r"\bch(own|mod)\b", run.value), (
            f"D5: line {run.line}: the runtime user owns nothing"
        )


@pytest.mark.audit
def test_runtime_runs_as_a_numeric_non_root_user(stages: list[Stage]) -> None:
    runtime = runtime_stage(stages)
    users = runtime.all("USER")
    assert users, "A2/D5: the runtime stage must set USER"
    user = users[-1].value
    uid, _, gid = user.partition(":")
    assert re.fullmatch(r"\d+:\d+", user), (
        f"A2/D5: USER {user} must be numeric UID:GID (Kubernetes runAsNonRoot)"
    )
    assert "0" not in (uid, gid), f"A2/D5: USER {user} is root"
    assert uid == RUNTIME_UID, f"A2/D5: the runtime UID is {RUNTIME_UID} (docs/architecture.md), not {uid}"
    after_user = [i for i in runtime.instructions if i.line > users[-1].line]
    assert [i.keyword for i in after_user] == ["CMD"], (
        f"A2/D5: USER must come last, just before CMD; found {[i.keyword for i in after_user]} after it"
    )


def test_runtime_command_is_the_documented_serve_command(stages: list[Stage]) -> None:
    command = serve_command(stages)
    assert command == SERVE, (
        f"D9: CMD must be {SERVE} (exec form, the server as the process itself), got {command}"
    )
    assert not runtime_stage(stages).all("ENTRYPOINT"), (
        "D9: no ENTRYPOINT wrapper: the server must receive SIGTERM"
    )
    signals = runtime_stage(stages).all("STOPSIGNAL")
    assert [i.value for i in signals[-1:]] == ["SIGTERM"], (
        "D9: STOPSIGNAL SIGTERM (the server drains on SIGTERM)"
    )


def test_runtime_environment_is_container_ready(stages: list[Stage]) -> None:
    env = image_environment(stages, runtime_stage(stages))
    assert env.get("HOST") == "0.0.0.0", "D1: ENV HOST=0.0.0.0: the app's default is loopback"
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1", (
        "D6: PYTHONDONTWRITEBYTECODE=1: the root filesystem is read-only"
    )
    assert env.get("PYTHONUNBUFFERED") == "1", "M4: PYTHONUNBUFFERED=1 so log lines leave at once"
    exposed = {port for e in runtime_stage(stages).all("EXPOSE") for port in e.value.split()}
    assert {"8000", "9000"} <= exposed, "D1: EXPOSE 8000 (API) and 9000 (metrics)"


def test_runtime_carries_oci_labels(stages: list[Stage]) -> None:
    labels = " ".join(label.value for label in runtime_stage(stages).all("LABEL"))
    for key, arg in (("version", "VERSION"), ("revision", "REVISION"), ("created", "CREATED")):
        assert f'org.opencontainers.image.{key}="${{{arg}}}"' in labels, (
            f"D1: LABEL org.opencontainers.image.{key} from build arg {arg} (CI passes it)"
        )
    assert "org.opencontainers.image.title" in labels, "D1: LABEL org.opencontainers.image.title"


@pytest.mark.audit
def test_image_healthcheck_probes_liveness_with_the_standard_library(stages: list[Stage]) -> None:
    command = healthcheck_command(stages)
    assert command[0] == "python", (
        "A6: probe with Python's standard library: the slim image has no curl or wget"
    )
    assert "/health/live" in " ".join(command), "A6: the container health check must probe /health/live"


# ---- .dockerignore ----

REQUIRED_IGNORES = {
    ".git", ".venv", ".tools", ".env", ".env.*", "tests", "docs", "terraform", "runbooks", "ops", "bench",
    ".pytest_cache", ".mypy_cache", ".ruff_cache", ".coverage", "htmlcov", "**/__pycache__", "**/*.tfstate",
    ".idea", ".vscode",
}  # fmt: skip


def dockerignore_entries() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@pytest.mark.audit
def test_dockerignore_excludes_secrets_and_local_state() -> None:
    entries = dockerignore_entries()
    missing = sorted(REQUIRED_IGNORES - set(entries))
    assert not missing, f"A3/D3: .dockerignore must exclude {missing}"
    reincluded = [e for e in entries if e.startswith("!")]
    assert not reincluded, (
        f"A3/D3: nothing may be re-included into the build context (.env.example too): {reincluded}"
    )


def test_dockerignore_keeps_what_the_build_copies(stages: list[Stage]) -> None:
    entries = set(dockerignore_entries())
    copied = {
        word.removeprefix("./").rstrip("/")
        for s in stages
        for copy in s.all("COPY")
        if flag_value(copy.value, "from") is None
        for word in without_flags(copy.value)[:-1]
    }
    assert copied, "the Dockerfile copies nothing from the build context"
    excluded = sorted(copied & entries)
    assert not excluded, (
        f"D3: the Dockerfile copies {excluded}, which .dockerignore excludes: the build would fail"
    )


# ---- docker-compose.yml invariants ----


def test_compose_has_no_version_key() -> None:
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    assert "version" not in raw, "E1: the top-level `version:` key is obsolete in the Compose Specification"


@pytest.mark.audit
def test_every_compose_image_is_pinned(services: dict[str, dict[str, Any]]) -> None:
    built = {s["image"] for s in services.values() if "build" in s}
    for name, service in services.items():
        image = service.get("image", "")
        if image in built:
            assert "latest" not in image, f"A1/D4: service {name}: do not tag local builds `latest`"
            continue
        assert PINNED_IMAGE.match(image), (
            f"A1/D4: service {name}: image {image!r} must be name:tag@sha256:<digest>"
        )


def test_app_and_migrate_run_the_production_image(services: dict[str, dict[str, Any]]) -> None:
    app, migrate = services["app"], services["migrate"]
    assert app["build"].get("target") == "runtime", "E3: app must build the production target `runtime`"
    assert "build" not in migrate, "E3: app owns the image's build; migrate names it with `image:` only"
    assert migrate["image"] == app["image"], "E3: app and migrate must run the same image"
    assert migrate["command"] == MIGRATE, f"E1: migrate runs {MIGRATE}"
    assert app.get("command") in (None, SERVE), "E3: app runs the image's own CMD (python -m app serve)"
    assert migrate.get("restart", "no") == "no", 'E1: migrate is a one-shot: restart: "no"'


@pytest.mark.audit
@pytest.mark.parametrize("name", ["app", "migrate"])
def test_app_containers_are_read_only_and_non_root(services: dict[str, dict[str, Any]], name: str) -> None:
    service = services[name]
    assert service.get("read_only") is True, f"D6: service {name} must set read_only: true"
    assert any(str(t).split(":")[0] == "/tmp" for t in service.get("tmpfs", [])), (
        f"D6: service {name} needs tmpfs /tmp"
    )
    assert service.get("user") == f"{RUNTIME_UID}:{RUNTIME_UID}", (
        f"A2/D5: service {name} must run as 10001:10001"
    )
    assert service.get("init") is True, (
        f"D9: service {name} needs init: true (an init as PID 1 forwards signals)"
    )
    assert "ALL" in service.get("cap_drop", []), f"D5: service {name} should drop all capabilities"


def test_app_waits_for_migrations_and_healthy_backing_services(services: dict[str, dict[str, Any]]) -> None:
    depends = services["app"]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully", (
        "E1: app must wait for migrate with condition: service_completed_successfully"
    )
    for backing in ("postgres", "redis"):
        assert depends[backing]["condition"] == "service_healthy", (
            f"E1: app must wait for {backing} to be healthy"
        )
        assert depends[backing].get("restart") is True, f"E1: app restarts with {backing} (restart: true)"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy", (
        "E1: migrate must wait for a healthy postgres"
    )


def test_app_publishes_the_api_and_metrics_ports(services: dict[str, dict[str, Any]]) -> None:
    published = {(p["target"], p.get("host_ip")) for p in services["app"]["ports"]}
    assert published == {(8000, "127.0.0.1"), (9000, "127.0.0.1")}, (
        f"E1: app publishes 8000 and 9000 on 127.0.0.1 only, got {published}"
    )
    env = services["app"]["environment"]
    pinned = {key: env.get(key) for key in ("HOST", "PORT", "METRICS_PORT")}
    assert pinned == {"HOST": "0.0.0.0", "PORT": "8000", "METRICS_PORT": "9000"}, (
        "E1: compose must pin HOST, PORT and METRICS_PORT to what it publishes (.env may say otherwise)"
    )


def test_app_reaches_backing_services_by_compose_name(services: dict[str, dict[str, Any]]) -> None:
    env = services["app"]["environment"]
    assert "@postgres:5432/" in env["DATABASE_URL"], "E3: DATABASE_URL must point at the postgres service"
    assert env["REDIS_URL"].startswith("redis://redis:6379/"), "E3: REDIS_URL must point at the redis service"
    endpoint = env["OTEL_EXPORTER_OTLP_ENDPOINT"]
    host = endpoint.split("//")[1].split(":")[0]
    assert "observability" in services.get(host, {}).get("profiles", []), (
        f"M5: OTEL_EXPORTER_OTLP_ENDPOINT ({endpoint}) must name the observability profile's trace backend"
    )


@pytest.mark.audit
def test_every_long_running_service_has_a_health_check(services: dict[str, dict[str, Any]]) -> None:
    one_shots = {
        name for name, s in services.items() if s.get("restart") == "no" or "test" in s.get("profiles", [])
    }
    assert one_shots == {"migrate", "tests"}, (
        f"A6: only migrate and tests may run without a health check: {one_shots}"
    )
    for name, service in services.items():
        if name in one_shots:
            continue
        check = service.get("healthcheck", {})
        assert check.get("test"), f"A6: service {name} needs a healthcheck"
        assert not check.get("disable"), f"A6: service {name} must not disable its healthcheck"


def test_app_health_check_is_the_images(services: dict[str, dict[str, Any]], stages: list[Stage]) -> None:
    assert services["app"]["healthcheck"]["test"] == ["CMD", *healthcheck_command(stages)], (
        "A6: the app's compose health check must be the Dockerfile's HEALTHCHECK command"
    )
    grace = services["app"].get("stop_grace_period", "10s")
    assert re.fullmatch(r"\d+s", grace), f"D9: write stop_grace_period in seconds, got {grace}"
    assert int(grace[:-1]) >= 30, (
        "D9: stop_grace_period must cover DRAIN_SECONDS + GRACEFUL_TIMEOUT (25 s) before Docker's SIGKILL"
    )


def test_postgres_keeps_its_data_in_a_named_volume_at_the_right_path(
    services: dict[str, dict[str, Any]],
) -> None:
    service = services["postgres"]
    major = int(service["image"].split(":")[1].split(".")[0].split("@")[0])
    # The official image moved its data directory in Postgres 18.
    path = "/var/lib/postgresql" if major >= 18 else "/var/lib/postgresql/data"
    volumes = {v["target"]: v for v in service.get("volumes", [])}
    assert volumes.get(path, {}).get("type") == "volume", (
        f"E1: postgres {major} keeps its data at {path}: mount a named volume there"
    )
    test = " ".join(service["healthcheck"]["test"])
    assert "pg_isready" in test, "E1: postgres health check uses pg_isready"
    assert "redis-cli ping" in " ".join(services["redis"]["healthcheck"]["test"]), (
        "E1: redis health check pings"
    )


def test_observability_profile_mounts_the_repository_config(services: dict[str, dict[str, Any]]) -> None:
    expected = {
        "prometheus": {"/etc/prometheus/prometheus.yml": "ops/prometheus/prometheus.yml",
                       "/etc/prometheus/rules": "ops/prometheus/rules"},
        "grafana": {"/etc/grafana/provisioning": "ops/grafana/provisioning",
                    "/var/lib/grafana/dashboards": "ops/grafana/dashboards"},
    }  # fmt: skip
    for name, mounts in expected.items():
        assert services[name].get("profiles") == ["observability"], (
            f"S4: {name} belongs to the observability profile"
        )
        binds = {v["target"]: v["source"] for v in services[name]["volumes"] if v["type"] == "bind"}
        for target, source in mounts.items():
            assert binds.get(target) == str(ROOT / source), f"S4: {name} must mount {source} at {target}"
            assert (ROOT / source).exists(), (
                f"S4: {name} mounts {source}, which does not exist in the repository"
            )
    assert services["jaeger"].get("profiles") == ["observability"], (
        "M5: jaeger belongs to the observability profile"
    )


def test_grafana_data_sources_name_compose_services(services: dict[str, dict[str, Any]]) -> None:
    config = yaml.safe_load((ROOT / "ops/grafana/provisioning/datasources/datasources.yaml").read_text())
    for source in config["datasources"]:
        host = source["url"].split("//")[1].split(":")[0]
        assert "observability" in services.get(host, {}).get("profiles", []), (
            f"S4: Grafana data source {source['name']} points at {host}, not an observability-profile service"
        )


def test_prometheus_scrapes_the_compose_app() -> None:
    config = yaml.safe_load((ROOT / "ops/prometheus/prometheus.yml").read_text())
    targets = {
        t for job in config["scrape_configs"] for sc in job.get("static_configs", []) for t in sc["targets"]
    }
    assert "app:9000" in targets, "M1: the compose Prometheus must scrape the app's metrics port (app:9000)"


def test_dev_watch_syncs_source_and_rebuilds_on_lock_changes(services: dict[str, dict[str, Any]]) -> None:
    dev = services["app-dev"]
    assert dev["build"]["target"] == "dev", "E1: app-dev builds the dev target"
    watch = {(w["action"], w["path"]) for w in dev["develop"]["watch"]}
    assert ("sync+restart", str(ROOT / "src")) in watch, "E1: compose watch syncs src/ into the dev container"
    assert ("rebuild", str(ROOT / "uv.lock")) in watch, "E1: compose watch rebuilds when uv.lock changes"


def test_test_profile_runs_the_suite_against_compose_services(services: dict[str, dict[str, Any]]) -> None:
    tests = services["tests"]
    assert tests["build"]["target"] == "dev", "C3: the tests run in the dev image (dev dependencies)"
    assert "pytest" in " ".join(tests["command"]), "C3: the tests service runs pytest"
    env = tests["environment"]
    assert "@postgres:5432/" in env["TEST_DATABASE_URL"], (
        "C3: TEST_DATABASE_URL points at the compose postgres"
    )
    assert env["TEST_REDIS_URL"].startswith("redis://redis:6379/"), (
        "C3: TEST_REDIS_URL points at the compose redis"
    )
    for backing in ("postgres", "redis"):
        assert tests["depends_on"][backing]["condition"] == "service_healthy", f"C3: tests wait for {backing}"


def in_profile(service: dict[str, Any], profile: str | None) -> bool:
    """Whether a service is part of `docker compose --profile <profile>` (None: no profile given)."""
    profiles = service.get("profiles") or []
    return not profiles or profile in profiles


@pytest.mark.parametrize("profile", [None, *PROFILES])
def test_one_service_builds_each_image(services: dict[str, dict[str, Any]], profile: str | None) -> None:
    # Two services building one tag build it twice per `--build` and leave an untagged image behind.
    builders: dict[str, list[str]] = {}
    for name, service in services.items():
        if "build" in service and in_profile(service, profile):
            builders.setdefault(service["image"], []).append(name)
    twice = {image: names for image, names in builders.items() if len(names) > 1}
    assert not twice, (
        f"E1: with profile {profile or 'default'}, more than one service builds {twice}: let one own the "
        "`build:` and the others name the image only"
    )


def test_built_images_are_never_pulled(services: dict[str, dict[str, Any]]) -> None:
    built = {s["image"] for s in services.values() if "build" in s}
    for name, service in services.items():
        if "build" in service:
            assert service.get("pull_policy") == "build", (
                f"E1: service {name} builds {service['image']}: set pull_policy: build, so compose never "
                "tries a registry for it"
            )
        elif service.get("image") in built:
            assert service.get("pull_policy") == "never", (
                f"E1: service {name} runs {service['image']}, which another service builds: "
                "pull_policy: never (a missing image is an error, not a pull)"
            )


# Paths the pinned images declare as VOLUME: without a mount there, compose makes an anonymous volume
# that `docker compose down` leaves behind.
IMAGE_VOLUMES = {"postgres": "/var/lib/postgresql/data", "redis": "/data", "prom/prometheus": "/prometheus"}


def test_no_image_volume_is_left_anonymous(services: dict[str, dict[str, Any]]) -> None:
    checked = set()
    for name, service in services.items():
        repository = service.get("image", "").split(":")[0]
        if repository not in IMAGE_VOLUMES:
            continue
        path = IMAGE_VOLUMES[repository]
        mounts = {v["target"]: v["type"] for v in service.get("volumes", [])}
        mounts |= {str(t).split(":")[0]: "tmpfs" for t in service.get("tmpfs", [])}
        assert mounts.get(path) in {"volume", "tmpfs"}, (
            f"E1: service {name}: its image declares VOLUME {path}; mount a named volume or a tmpfs there"
        )
        checked.add(repository)
    assert checked == set(IMAGE_VOLUMES), f"E1: services no longer run {set(IMAGE_VOLUMES) - checked}"


def test_the_tests_container_skips_only_what_needs_the_host(services: dict[str, dict[str, Any]]) -> None:
    from tests.conftest import HOST_ONLY

    env = services["tests"]["environment"]
    assert env.get("TEST_IN_CONTAINER") == "1", (
        "C3: the tests service sets TEST_IN_CONTAINER=1, so host-only tests skip with their reason"
    )
    registered = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    names = {m.split(":")[0] for m in registered["markers"]}
    assert set(HOST_ONLY) <= names, f"C3: register the host-only markers {set(HOST_ONLY) - names}"
    # Each host-only marker really marks the tests that need the host, and nothing else is skipped.
    selection = " or ".join(HOST_ONLY)
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", selection, "tests/integration"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    files = {line.split("::")[0] for line in collected.stdout.splitlines() if "::" in line}
    host_only = {"test_faults.py", "test_prometheus_live.py", "test_extending.py"}
    assert files == {f"tests/integration/{name}" for name in host_only}, (
        f"C3: the host-only markers select {sorted(files)}:\n{collected.stdout[-2000:]}{collected.stderr}"
    )


# ---- the smoke test of the stack (scripts/smoke.sh, `make smoke`, CI's build job) ----

SMOKE = ROOT / "scripts" / "smoke.sh"


def run_smoke(*args: str) -> subprocess.CompletedProcess[str]:
    """scripts/smoke.sh pointed at a socket where no engine can answer."""
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    return subprocess.run(
        ["bash", str(SMOKE), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_smoke_skips_clearly_without_a_docker_engine() -> None:
    result = run_smoke()
    assert result.returncode == 0, f"make smoke must skip, not fail, without an engine:\n{result.stderr}"
    assert "SKIPPED: no Docker engine answers" in result.stdout, result.stdout + result.stderr


def test_smoke_of_a_built_image_fails_without_a_docker_engine() -> None:
    # CI passes the image it built: a smoke test that skipped there would prove nothing.
    result = run_smoke("orders-api:ci")
    assert result.returncode == 1, "scripts/smoke.sh IMAGE must fail when no engine answers"
    assert "no Docker engine answers" in result.stderr


def test_smoke_checks_what_the_quick_start_promises() -> None:
    script = "\n".join(line for line in SMOKE.read_text().splitlines() if not line.lstrip().startswith("#"))
    needles = {
        "the stack, built and healthy": "--wait",
        "a local build by default": "--build",
        "CI's image, not a build": "--no-build",
        "a project of its own": "COMPOSE_PROJECT_NAME=",
        "read-only root (D6)": "ReadonlyRootfs",
        "sign-up": "/v1/customers",
        "an order": "/v1/orders",
        "its idempotent replay": "Idempotent-Replayed: true",
        "metrics on the metrics port": '"$metrics/metrics" 200',
        "not on the API port": '"$api/metrics" 404',
        "JSON log lines": "json.loads",
        "a clean stop": "State.ExitCode",
        "the grace period": "stop_grace_period",
        "nothing left behind": "down --volumes",
    }
    missing = [what for what, needle in needles.items() if needle not in script]
    assert not missing, f"scripts/smoke.sh no longer checks: {missing}"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^smoke:.*##.*\n\tscripts/smoke\.sh\n", makefile, re.M), (
        "`make smoke` runs scripts/smoke.sh"
    )
    assert os.access(SMOKE, os.X_OK), "scripts/smoke.sh must be executable"
