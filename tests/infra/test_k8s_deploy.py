"""K5: scripts/k8s-deploy.sh migrates, rolls out and rolls back, run for real against a stand-in kubectl.

The stand-in is first on PATH: it renders with the real `kubectl kustomize` (so the script deploys the
real overlays), answers every cluster call from a JSON state file, and records each call, with the
objects each `apply` carried. A machine without kubectl skips the tests that render and says why.
Only a real cluster shows that the API server, the Job controller and Argo Rollouts answer as the
stand-in does (runbooks/kubernetes-deploy.md, "What only a real cluster shows").
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from tests.infra.conftest import ROOT, assert_clean, run_tool

SCRIPT = ROOT / "scripts" / "k8s-deploy.sh"
WORKFLOW = ROOT / ".github" / "workflows" / "deploy-kubernetes.yml"
REAL_KUBECTL = shutil.which("kubectl")
DIGEST = "sha256:" + "ab12" * 16
IMAGE = f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders-api@{DIGEST}"
ABORT = 'patch rollout orders-api --subresource=status --type=merge -p {"status":{"abort":true}}'

needs_kubectl = pytest.mark.skipif(
    REAL_KUBECTL is None,
    reason="kubectl is not installed: scripts/k8s-deploy.sh was NOT run against the overlays",
)

FAKE_KUBECTL = r"""
import json, os, sys

import yaml

args = sys.argv[1:]
state_path = os.environ["FAKE_KUBECTL_STATE"]
state = json.load(open(state_path))


def log(line):
    with open(os.environ["FAKE_KUBECTL_LOG"], "a") as out:
        out.write(line + "\n")


def save():
    json.dump(state, open(state_path, "w"))


def next_of(key):
    # Each call takes the next answer; the last one repeats.
    answers = state[key]
    answer = answers.pop(0) if len(answers) > 1 else answers[0]
    save()
    return answer


if args[0] == "kustomize":
    log("kustomize")
    os.execv(os.environ["REAL_KUBECTL"], ["kubectl", *args])

prefix = []
while args[0] in ("--context", "--namespace"):
    prefix, args = prefix + args[:2], args[2:]
verb, rest = args[0], args[1:]
jsonpath = " ".join(args)

if verb == "apply":
    docs = [d for d in yaml.safe_load_all(open(args[args.index("-f") + 1])) if d]
    log(" ".join(prefix + ["apply"] + [f"{d['kind']}/{d['metadata']['name']}" for d in docs]))
    for doc in docs:
        state.setdefault("namespaces", []).append(doc["metadata"].get("namespace", doc["metadata"]["name"]))
        pod = doc.get("spec", {}).get("template", {}).get("spec", {})
        state.setdefault("images", []).extend(c["image"] for c in pod.get("containers", []))
    if any(d["kind"] == "Deployment" for d in docs):
        if state.get("apply_fails"):
            save()
            sys.exit("fake kubectl: the API server refused the Deployment")
        if state.get("template_changes", True) or state.get("revision") is None:
            state["revision"] = str(int(state.get("revision") or 0) + 1)
            state["generation"] = state.get("generation", 0) + 1
    save()
    sys.exit(0)

log(" ".join(prefix + args))
if verb == "get" and rest[0] == "deployment" and "revision" in jsonpath:
    print(state.get("revision") or "", end="")
elif verb == "get" and rest[0] == "deployment" and "generation" in jsonpath:
    print(state["generation"], end="")
elif verb == "get" and rest[0] == "job" and "message" in jsonpath:
    print("Job has reached the specified backoff limit", end="")
elif verb == "get" and rest[0] == "job":
    print(next_of("job_conditions"), end="")
elif verb == "get" and rest[0] == "rollout":
    phase = next_of("phases")
    seen = state["generation"] - (1 if state.get("lag", 0) > 0 else 0)
    state["lag"] = state.get("lag", 0) - 1
    save()
    current = f"hash{state['revision']}"
    stable = current if phase == "Healthy" else "hash0"
    message = "RolloutAborted: metric error-ratio assessed Failed" if phase == "Degraded" else ""
    print(f"7|7|{seen}|{phase}|{stable}|{current}|{message}", end="")
elif verb == "rollout" and rest[0] == "status":
    sys.exit(next_of("rollout_status"))
elif verb == "rollout" and rest[0] == "undo":
    state["revision"] = str(int(state["revision"]) + 1)
    state["generation"] += 1
    state["phases"] = state.get("phases_after_undo", ["Healthy"])
    save()
elif verb == "logs":
    print("alembic.util.exc.CommandError: Can't locate revision identified by 'f00d'")
elif verb in ("delete", "patch") or (verb == "get" and rest[0] == "pods"):
    pass
else:
    sys.exit(f"fake kubectl: unexpected call {args}")
"""


class DeployRun(NamedTuple):
    code: int
    output: str
    calls: list[str]  # one line per kubectl call; an apply lists the objects it carried
    state: dict[str, Any]


def deploy(tmp_path: Path, *args: str, state: dict[str, Any] | None = None, **env: str) -> DeployRun:
    """Run scripts/k8s-deploy.sh with the stand-in kubectl first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "kubectl"
    fake.write_text(f"#!{sys.executable}\n{FAKE_KUBECTL}", encoding="utf-8")
    fake.chmod(0o755)
    state_file, log_file = tmp_path / "state.json", tmp_path / "calls.log"
    initial = {"revision": "4", "generation": 4, "job_conditions": ["", "Complete "]}
    initial |= {"rollout_status": [0], "phases": ["Healthy"]}
    state_file.write_text(json.dumps({**initial, **(state or {})}), encoding="utf-8")
    log_file.write_text("", encoding="utf-8")
    environment = {
        key: value for key, value in os.environ.items() if key not in ("KUBE_NAMESPACE", "KUBE_CONTEXT")
    }
    environment |= {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "REAL_KUBECTL": REAL_KUBECTL or "",
        "FAKE_KUBECTL_STATE": str(state_file),
        "FAKE_KUBECTL_LOG": str(log_file),
        "POLL_SECONDS": "0",
        **env,
    }
    result = subprocess.run(
        [str(SCRIPT), *args], env=environment, capture_output=True, text=True, timeout=120, check=False
    )
    calls = log_file.read_text(encoding="utf-8").splitlines()
    final = json.loads(state_file.read_text(encoding="utf-8"))
    return DeployRun(result.returncode, result.stdout + result.stderr, calls, final)


def index(calls: list[str], fragment: str) -> int:
    found = [i for i, call in enumerate(calls) if fragment in call]
    assert found, f"no kubectl call with {fragment!r}:\n" + "\n".join(calls)
    return found[0]


def applied(calls: list[str]) -> list[list[str]]:
    """The objects of each apply, in order."""
    return [call.split(" apply ", 1)[1].split() for call in calls if " apply " in f" {call}"]


# ---- refusals: nothing reaches the cluster ----


@pytest.mark.parametrize(
    "image",
    [
        "orders-api:1.4.2",
        "orders-api@sha256:abc123",
        DIGEST,
        f"orders-api@{DIGEST.upper().replace('SHA256', 'sha256')}",
        "orders-api@sha256:" + "0" * 64,
        f"Orders-API@{DIGEST}",
    ],
    ids=["tag", "short-digest", "no-name", "upper-case", "placeholder", "bad-name"],
)
def test_refuses_an_image_not_pinned_by_a_published_digest(tmp_path: Path, image: str) -> None:
    code, output, calls, _ = deploy(tmp_path, "staging", image)
    assert code == 2, f"K5: k8s-deploy.sh accepted {image}\n{output}"
    assert calls == [], f"K5: a refused image must not reach kubectl: {calls}"
    assert "sha256" in output


@pytest.mark.parametrize("args", [("qa", IMAGE), ("../base", IMAGE), ("staging",), ()])
def test_refuses_an_unknown_overlay_or_missing_arguments(tmp_path: Path, args: tuple[str, ...]) -> None:
    code, _, calls, _ = deploy(tmp_path, *args)
    assert code == 2
    assert calls == []


# ---- the order: supporting objects, migration, workloads, wait ----


@needs_kubectl
def test_deploy_migrates_first_then_rolls_out_and_waits(tmp_path: Path) -> None:
    code, output, calls, state = deploy(tmp_path, "dev", IMAGE)
    assert code == 0, output
    assert calls[0] == "kustomize"
    capture = index(calls, "get deployment orders-api --ignore-not-found")
    supporting, job, workloads = applied(calls)
    delete = index(calls, "delete job orders-api-migrate --ignore-not-found --cascade=foreground")
    apply_job = index(calls, "apply Job/orders-api-migrate")
    wait_job = index(calls, "get job orders-api-migrate")
    apply_deployment = index(calls, "apply Deployment/orders-api")
    status = index(calls, "rollout status deployment/orders-api --timeout=1800s")
    assert (
        capture < index(calls, "apply Namespace/") < delete < apply_job < wait_job < apply_deployment < status
    ), (
        "K5: capture the revision -> supporting objects -> delete the old Job -> apply it -> wait -> "
        "apply the Deployment -> rollout status\n" + "\n".join(calls)
    )
    assert job == ["Job/orders-api-migrate"]
    assert workloads == ["Deployment/orders-api"]
    kinds = {obj.split("/")[0] for obj in supporting}
    assert {"Namespace", "ServiceAccount", "ConfigMap", "NetworkPolicy", "Service"} <= kinds
    assert not kinds & {"Job", "Deployment", "Rollout"}
    assert sum("get job" in call for call in calls) == 2, "K5: the Job is polled until it completes"
    assert not [call for call in calls if "undo" in call or "patch" in call]
    assert set(state["images"]) == {IMAGE}, "K5: the Job and the Deployment run the given image"
    assert set(state["namespaces"]) == {"orders-api-dev"}
    assert all(call.startswith("--namespace orders-api-dev ") for call in calls[1:])


@needs_kubectl
@pytest.mark.parametrize("how", ["flags", "environment"])
def test_namespace_and_context_come_from_flags_or_environment(tmp_path: Path, how: str) -> None:
    if how == "flags":
        run = deploy(tmp_path, "--namespace", "team-orders", "--context", "eks-staging", "staging", IMAGE)
    else:
        run = deploy(tmp_path, "staging", IMAGE, KUBE_NAMESPACE="team-orders", KUBE_CONTEXT="eks-staging")
    assert run.code == 0, run.output
    assert all(call.startswith("--context eks-staging --namespace team-orders ") for call in run.calls[1:])
    assert set(run.state["namespaces"]) == {"team-orders"}, "K5: every object goes to the given namespace"


# ---- a migration that fails stops the deploy ----


@needs_kubectl
def test_a_failed_migration_stops_before_the_deployment(tmp_path: Path) -> None:
    code, output, calls, _ = deploy(
        tmp_path, "prod", IMAGE, state={"job_conditions": ["FailureTarget Failed "]}
    )
    assert code == 1
    assert "Can't locate revision" in output, "K5: a failed migration prints its log"
    assert "backoff limit" in output
    assert index(calls, "logs job/") > index(calls, "get job orders-api-migrate")
    assert not [c for c in calls if "Deployment/" in c or "Rollout/" in c], "K5: the pods stay untouched"
    assert not [c for c in calls if "rollout " in c or "patch" in c]


@needs_kubectl
def test_a_migration_that_never_finishes_stops_the_deploy(tmp_path: Path) -> None:
    code, output, calls, _ = deploy(
        tmp_path, "dev", IMAGE, MIGRATION_TIMEOUT="1", state={"job_conditions": [""]}
    )
    assert code == 1
    assert "still running after 1s" in output
    assert not [c for c in calls if "Deployment/" in c]


# ---- a rollout that fails is rolled back ----


@needs_kubectl
def test_a_failed_rollout_is_undone_to_the_revision_it_ran_before(tmp_path: Path) -> None:
    code, output, calls, _ = deploy(tmp_path, "dev", IMAGE, state={"rollout_status": [1, 0]})
    assert code == 1, "K5: a deploy that was rolled back still fails"
    undo = index(calls, "rollout undo deployment/orders-api --to-revision=4")
    assert index(calls, "rollout status") < undo
    assert sum("rollout status" in c for c in calls) == 2, "K5: the rollback is waited for too"
    assert "back on revision 4" in output


@needs_kubectl
def test_a_refused_apply_that_changed_nothing_is_not_undone(tmp_path: Path) -> None:
    code, _, calls, _ = deploy(tmp_path, "dev", IMAGE, state={"apply_fails": True, "template_changes": False})
    assert code == 1
    assert not [c for c in calls if "undo" in c], (
        "K5: an unchanged template is never undone a release further"
    )


@needs_kubectl
@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"revision": None, "rollout_status": [1]}, "no earlier revision"),
        ({"template_changes": False, "rollout_status": [1]}, "nothing to undo"),
    ],
    ids=["first-deploy", "same-template"],
)
def test_nothing_is_undone_without_an_earlier_revision(
    tmp_path: Path, state: dict[str, Any], message: str
) -> None:
    code, output, calls, _ = deploy(tmp_path, "dev", IMAGE, state=state)
    assert code == 1
    assert message in output
    assert not [c for c in calls if "undo" in c], "K5: undo would go back past the release that ran"


# ---- the canary: the Rollout's phase, and its abort ----


@needs_kubectl
def test_canary_waits_for_the_rollout_to_be_healthy(tmp_path: Path) -> None:
    phases = ["Progressing", "Paused", "Paused", "Healthy"]
    code, output, calls, _ = deploy(tmp_path, "staging", IMAGE, state={"phases": phases})
    assert code == 0, output
    (workloads,) = [objects for objects in applied(calls) if "Deployment/orders-api" in objects]
    assert "Rollout/orders-api" in workloads
    assert index(calls, "apply Deployment/") < index(calls, "get rollout orders-api")
    assert sum("get rollout" in c for c in calls) == 4, "K5: polled until Healthy"
    assert not [c for c in calls if "rollout status" in c or "patch" in c or "undo" in c]


@needs_kubectl
def test_canary_waits_until_argo_rollouts_has_seen_the_new_template(tmp_path: Path) -> None:
    code, _, calls, _ = deploy(tmp_path, "prod", IMAGE, state={"phases": ["Healthy"], "lag": 2})
    assert code == 0
    assert sum("get rollout" in c for c in calls) == 3, (
        "K5: the previous release's Healthy must not count before workloadObservedGeneration catches up"
    )


@needs_kubectl
@pytest.mark.parametrize(
    ("state", "env"),
    [
        ({"phases": ["Paused", "Degraded"]}, {}),
        ({"phases": ["Paused"]}, {"ROLLOUT_TIMEOUT": "1"}),
    ],
    ids=["analysis-failed", "timeout"],
)
def test_a_failed_canary_is_aborted_and_its_template_undone(
    tmp_path: Path, state: dict[str, Any], env: dict[str, str]
) -> None:
    code, output, calls, _ = deploy(tmp_path, "prod", IMAGE, state=state, **env)
    assert code == 1, output
    abort = index(calls, ABORT)
    undo = index(calls, "rollout undo deployment/orders-api --to-revision=4")
    assert index(calls, "get rollout") < abort < undo < len(calls) - 1, (
        "K5: abort (traffic back to stable) -> undo the template -> wait for Healthy\n" + "\n".join(calls)
    )
    assert "get rollout" in calls[-1]
    assert "back on revision 4" in output


# ---- the script and the workflow keep the project's rules ----


def test_script_is_strict_executable_and_shellcheck_clean() -> None:
    text = SCRIPT.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert os.access(SCRIPT, os.X_OK)
    assert_clean(run_tool("shellcheck", str(SCRIPT)), "K5 (shellcheck on scripts/k8s-deploy.sh)")


def test_workflow_runs_the_script_with_the_published_digest() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    on = workflow.get("on", workflow.get(True))
    assert set(on) == {"workflow_call"}, "C8: deploys run only when a pipeline calls them"
    assert set(on["workflow_call"]["inputs"]) == {"environment", "overlay", "image-digest"}
    assert workflow["permissions"] == {}
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"contents": "read"}, "C9: a kubeconfig secret, no OIDC token"
    assert job["environment"]["name"] == "${{ inputs.environment }}"
    assert job["concurrency"] == {"group": "deploy-${{ inputs.environment }}", "cancel-in-progress": False}, (
        "C9: one deploy per environment, shared with the ECS deploy (both migrate the same database)"
    )
    (run,) = [step for step in job["steps"] if "k8s-deploy.sh" in str(step.get("run", ""))]
    assert 'scripts/k8s-deploy.sh "$OVERLAY" "$REPOSITORY_URI@$IMAGE_DIGEST"' in run["run"]
    assert job["env"]["IMAGE_DIGEST"] == "${{ inputs.image-digest }}"
    limits = 120 + int(run["env"]["MIGRATION_TIMEOUT"]) + 2 * int(run["env"]["ROLLOUT_TIMEOUT"])
    assert limits < run["timeout-minutes"] * 60, "R5: the script's own limits end before the step's"
    assert sum(step["timeout-minutes"] for step in job["steps"]) <= job["timeout-minutes"]
