"""Every Terraform root applied for real, planned again and destroyed, against an AWS emulator.

Each root gets moto's server of its own (`moto[server]`, pinned in scripts/install-tools.sh) on
127.0.0.1 and a free port, stopped when the roots are done whatever happened; the roots run side by
side, as the provider's waits (RDS above all) take most of the time. Each runs in a temporary copy of
terraform/ where this test writes, never in the repository:

- `emulator_settings_override.tf` in the root: the AWS provider sends every service the roots use to
  the emulator (dummy keys; no credential, account-id or metadata look-ups; path-style S3), and a
  local backend replaces the S3 one;
- `emulator.auto.tfvars` in the root: the inputs CI passes (the repository, a commit SHA) and, for an
  environment, the ARN of a certificate requested from its emulator, which also gets bootstrap's ECR
  repository (bootstrap itself applies on its own emulator);
- `emulator_override.tf` in a module: the resources the emulator cannot create, taken out (NEUTRALISED);
- `teardown_override.tf` before an environment's destroy: deletion protection off, as an operator would.

From the end of the seeding on, moto's recorder keeps every AWS request, and each step keeps the
requests it made (`Root.calls`); right after its apply, each root's state is kept as `terraform show
-json` prints it (APPLIED_STATES). test_terraform_iam_contract.py evaluates both against the
pipeline's roles.

EMULATOR_UNSUPPORTED is the one list of the emulator's gaps, by type with the reason, repeated in
terraform/README.md; each is handled as NOT_CREATED, FORGOTTEN before the destroy, or as
NOT_READ_BACK attributes. Any failed step fails its root's test with Terraform's output, and the plan
right after the apply may change only NOT_READ_BACK attributes. Without terraform, the provider mirror
or moto_server the tests skip with a NOT VERIFIED line.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import ROOT, TOOLS_BIN
from tests.infra.test_rename import INSIDE_COPY
from tests.infra.test_terraform import (
    ROOTS,
    copy_terraform,
    terraform_environment,
    terraform_or_skip,
)

REGION = "eu-west-1"
# Provider endpoint keys of every AWS service the roots and modules call.
SERVICES = (
    "acm",
    "applicationautoscaling",
    "cloudwatch",
    "codedeploy",
    "ec2",
    "ecr",
    "ecs",
    "elasticache",
    "elbv2",
    "iam",
    "kms",
    "logs",
    "rds",
    "s3",
    "secretsmanager",
    "sns",
    "ssm",
    "sts",
    "wafv2",
)

# Resource type -> what the emulator (moto 5.2.5 with the AWS provider 5.100) lacks for it. The one
# list of emulator gaps; terraform/README.md, "Applied against an emulator", repeats it (a test keeps
# the two equal). How the test steps around each gap is below: NEUTRALISED, FORGOTTEN, NOT_READ_BACK.
EMULATOR_UNSUPPORTED: dict[str, str] = {
    "aws_appautoscaling_policy": "needs the scalable target, which the emulator cannot keep (below)",
    "aws_appautoscaling_target": (
        "ListTagsForResource is not implemented (HTTP 500), and the provider reads the tags after creating"
    ),
    "aws_codedeploy_app": "DeleteApplication is not implemented; tags are not read back",
    "aws_codedeploy_deployment_config": (
        "CreateDeploymentConfig is not implemented; prod's deployment group takes "
        "CodeDeployDefault.ECSAllAtOnce instead"
    ),
    "aws_codedeploy_deployment_group": (
        "DeleteDeploymentGroup is not implemented; tags and the alarm configuration are not read back"
    ),
    "aws_db_instance": "the Performance Insights settings are not read back",
    "aws_db_parameter_group": "DescribeDBParameters does not return the parameters set",
    "aws_ecs_service": (
        "a CODE_DEPLOY service reads back without its grace period, managed tags and zone rebalancing"
    ),
    "aws_elasticache_replication_group": (
        "no member clusters are created, and the provider reads the first one; the REDIS_URL secret "
        "version, built from the group's endpoint, goes with it"
    ),
    "aws_elasticache_subnet_group": "DeleteCacheSubnetGroup is not implemented (HTTP 500)",
    "aws_s3_bucket_lifecycle_configuration": (
        "rules read back without NewerNoncurrentVersions and with an empty filter as a prefix, so the "
        "provider's wait for its own rules times out"
    ),
    "aws_vpc_security_group_egress_rule": (
        "the referenced group reads back with the account before its id, at times without the description"
    ),
    "aws_vpc_security_group_ingress_rule": (
        "the referenced group reads back with the account before its id, at times without the description"
    ),
}

# Not created: module directory -> override that takes the resources out (count = 0), with stand-ins
# for the values other blocks read from them.
NEUTRALISED: dict[str, str] = {
    "bootstrap": """
resource "aws_s3_bucket_lifecycle_configuration" "state" {
  count = 0
}
""",
    "modules/data": """
resource "aws_elasticache_replication_group" "this" {
  count             = 0
  subnet_group_name = "unused"
}

resource "aws_secretsmanager_secret_version" "redis_url" {
  count            = 0
  secret_string_wo = "unused"
}

output "redis_port" {
  value = 6379
}

output "cache_replication_group_id" {
  value = var.name
}

output "cache_automatic_failover" {
  value = var.cache_nodes > 1
}
""",
    "modules/service": """
resource "aws_s3_bucket_lifecycle_configuration" "alb_logs" {
  count = 0
}

resource "aws_appautoscaling_target" "this" {
  count = 0
}

resource "aws_appautoscaling_policy" "cpu" {
  count              = 0
  service_namespace  = "ecs"
  resource_id        = "unused"
  scalable_dimension = "ecs:service:DesiredCount"
}

resource "aws_appautoscaling_policy" "requests" {
  count              = 0
  service_namespace  = "ecs"
  resource_id        = "unused"
  scalable_dimension = "ecs:service:DesiredCount"
}

resource "aws_codedeploy_deployment_config" "canary" {
  count = 0
}

resource "aws_codedeploy_deployment_group" "this" {
  deployment_config_name = "CodeDeployDefault.ECSAllAtOnce"
}
""",
}
NOT_CREATED = {
    "aws_appautoscaling_policy",
    "aws_appautoscaling_target",
    "aws_codedeploy_deployment_config",
    "aws_elasticache_replication_group",
    "aws_s3_bucket_lifecycle_configuration",
}
# Created, but the emulator cannot delete them: dropped from the state before the destroy.
FORGOTTEN = {"aws_codedeploy_app", "aws_codedeploy_deployment_group", "aws_elasticache_subnet_group"}
# Created, but these attributes read back differently: the only changes the plan after the apply may show.
NOT_READ_BACK: dict[str, set[str]] = {
    "aws_codedeploy_app": {"tags_all"},
    "aws_codedeploy_deployment_group": {"tags_all", "alarm_configuration"},
    "aws_db_instance": {
        "performance_insights_enabled",
        "performance_insights_kms_key_id",
        "performance_insights_retention_period",
    },
    "aws_db_parameter_group": {"parameter"},
    "aws_ecs_service": {
        "availability_zone_rebalancing",
        "enable_ecs_managed_tags",
        "health_check_grace_period_seconds",
    },
    "aws_vpc_security_group_egress_rule": {"description", "referenced_security_group_id"},
    "aws_vpc_security_group_ingress_rule": {"description", "referenced_security_group_id"},
}


# --- the emulator -----------------------------------------------------------------------------


def _moto_server_or_skip() -> Path:
    local = TOOLS_BIN / "moto_server"
    found = str(local) if local.exists() else shutil.which("moto_server")
    if found is None:
        reason = "NOT VERIFIED: moto_server is not installed (run `make tools`: scripts/install-tools.sh)"
        print(reason, file=sys.__stderr__)
        pytest.skip(reason)
    return Path(found)


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _serving(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
            return True
    except (urllib.error.URLError, ConnectionError):
        return False


@contextmanager
def _emulator(binary: Path, log: Path, calls: Path) -> Iterator[str]:
    """moto's server on a free loopback port for as long as the block runs; yields its URL. Once
    `_record_calls` starts it, moto's recorder appends every request to `calls`."""
    port = _free_loopback_port()
    # AWS-managed policies (the ECS task execution policy) exist only when loaded.
    env = os.environ | {"MOTO_IAM_LOAD_MANAGED_POLICIES": "true", "MOTO_RECORDER_FILEPATH": str(calls)}
    with log.open("wb") as output:
        server = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=output, stderr=output, env=env
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _serving(url):
            assert server.poll() is None, f"moto_server exited with {server.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"moto_server did not answer on {url}:\n{log.read_text()}"
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _seed(binary: Path, url: str, environment: str) -> str:
    """What an environment finds in its account before its first apply: bootstrap's ECR repository
    (bootstrap applies on an emulator of its own) and the ACM certificate of its domain (bootstrap's
    step 3). Returns the certificate's ARN."""
    # boto3 comes with moto: run it with the interpreter moto_server's own script starts.
    python = binary.resolve().read_text().splitlines()[0].removeprefix("#!").strip()
    script = (
        "import boto3, sys\n"
        "url, region, domain = sys.argv[1:]\n"
        "keys = {'aws_access_key_id': 'emulator', 'aws_secret_access_key': 'emulator'}\n"
        "ecr = boto3.client('ecr', region_name=region, endpoint_url=url, **keys)\n"
        "ecr.create_repository(repositoryName='orders-api')\n"
        "acm = boto3.client('acm', region_name=region, endpoint_url=url, **keys)\n"
        "print(acm.request_certificate(DomainName=domain)['CertificateArn'])\n"
    )
    domain = f"{environment}.orders.example.com"
    result = subprocess.run(
        [python, "-c", script, url, REGION, domain], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"seeding the emulator failed:\n{result.stderr}"
    return result.stdout.strip()


def _record_calls(url: str) -> None:
    """From now on the emulator records every request (after the seeding, which the pipeline's
    roles never do)."""
    start = urllib.request.Request(f"{url}/moto-api/recorder/start-recording", method="POST")
    with urllib.request.urlopen(start, timeout=10):
        pass


def _settings_override(endpoint: str) -> str:
    endpoints = "\n".join(f'    {service} = "{endpoint}"' for service in SERVICES)
    return (
        "# Written by tests/infra/test_terraform_apply.py in a temporary copy: the AWS emulator.\n"
        'provider "aws" {\n'
        '  access_key                  = "emulator"\n'
        '  secret_key                  = "emulator"\n'
        "  skip_credentials_validation = true\n"
        "  skip_requesting_account_id  = true\n"
        "  skip_metadata_api_check     = true\n"
        "  s3_use_path_style           = true\n"
        "  max_retries                 = 2 # an unimplemented call fails at once instead of backing off\n"
        f"  endpoints {{\n{endpoints}\n  }}\n"
        "}\n\n"
        'terraform {\n  backend "local" {}\n}\n'
    )


# Set when the session ends: a root still running stops before its next step.
STOPPING = threading.Event()
# Root name -> `terraform show -json` of its state right after its apply: the IAM contract check
# (test_terraform_iam_contract.py) reads the policies Terraform rendered from them. APPLIES_OVER is set
# when no root will add to it any more.
APPLIED_STATES: dict[str, str] = {}
APPLIES_OVER = threading.Event()

# The resources an environment protects from deletion (db_deletion_protection, alb_deletion_protection).
PROTECTED = ("module.stack.module.data.aws_db_instance.this", "module.stack.module.service.aws_lb.this")

# --- the roots --------------------------------------------------------------------------------


@dataclass
class Root:
    """One root in the temporary copy, and the outcome of each step run on it."""

    name: str
    directory: Path
    terraform: str
    env: dict[str, str]
    calls_file: Path | None = None
    steps: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)
    # step -> the AWS requests it made, as moto recorded them (method, url, headers, body)
    calls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seconds: float = 0.0

    def _recorded(self) -> list[dict[str, Any]]:
        """Every request recorded so far. The recorder writes a request and its newline in two writes
        from the server's threads, so two requests can share a line: read them as a stream of JSON
        values, not one per line."""
        if self.calls_file is None or not self.calls_file.exists():
            return []
        text = self.calls_file.read_text(encoding="utf-8")
        decoder = json.JSONDecoder()
        found: list[dict[str, Any]] = []
        at = 0
        while True:
            while at < len(text) and text[at].isspace():
                at += 1
            if at == len(text):
                return found
            record, at = decoder.raw_decode(text, at)
            found.append(record)

    def run(self, step: str, *args: str, ok: tuple[int, ...] = (0,)) -> bool:
        before = len(self._recorded())
        started = time.monotonic()
        self.steps[step] = subprocess.run(
            [self.terraform, *args],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        self.seconds += time.monotonic() - started
        self.calls[step] = self._recorded()[before:]
        return self.steps[step].returncode in ok

    def write(self, name: str, text: str) -> None:
        (self.directory / name).write_text(text, encoding="utf-8")

    def changes(self) -> list[tuple[str, str, set[str]]]:
        """(address, type, changed attributes) of every change in the plan after the apply."""
        plan: dict[str, Any] = json.loads(self.steps["show"].stdout)
        found = []
        for resource in plan.get("resource_changes", []):
            change = resource["change"]
            if change["actions"] in (["no-op"], ["read"]):
                continue
            before, after = change["before"] or {}, change["after"] or {}
            unknown = change.get("after_unknown") or {}
            changed = {
                name
                for name in set(before) | set(after)
                if before.get(name) != after.get(name) or unknown.get(name) is True
            }
            if change["actions"] != ["update"]:
                changed.add("/".join(change["actions"]))  # a create, delete or replacement is never allowed
            found.append((resource["address"], resource["type"], changed))
        return found

    def forget_what_the_emulator_cannot_delete(self) -> bool:
        if not self.run("state list", "state", "list", "-no-color"):
            return False
        addresses = [
            line for line in self.steps["state list"].stdout.splitlines() if _resource_type(line) in FORGOTTEN
        ]
        return not addresses or self.run("forget", "state", "rm", "-no-color", *addresses)


def _resource_type(address: str) -> str:
    """aws_x from module.a.module.b.aws_x.name[0]."""
    parts = address.split(".")
    while parts[0] == "module":
        parts = parts[2:]
    return parts[0]


def _allow_teardown(root: Root) -> bool:
    """Deletion protection off (prod keeps it on), applied to the protected resources alone, as an
    operator does before destroying an environment."""
    root.write(
        "teardown_override.tf",
        'module "stack" {\n  db_deletion_protection  = false\n  alb_deletion_protection = false\n}\n',
    )
    targets = [f"-target={address}" for address in PROTECTED]
    return root.run("teardown", "apply", "-input=false", "-auto-approve", "-no-color", *targets)


def _apply_plan_destroy(root: Root) -> None:
    """apply; plan again, saved and read as JSON; for an environment, the pipeline's reviewed plan
    (no refresh) and deletion protection off as an operator would; forget what the emulator cannot
    delete; destroy. Stops at the first failing step."""
    steps: list[Callable[[], bool]] = [
        lambda: root.run("apply", "apply", "-input=false", "-auto-approve", "-no-color"),
        lambda: _publish_state(root),
        lambda: root.run(
            "replan",
            "plan",
            "-input=false",
            "-detailed-exitcode",
            "-out=replan.tfplan",
            "-no-color",
            ok=(0, 2),
        ),
        lambda: root.run("show", "show", "-json", "replan.tfplan"),
    ]
    if root.name != "bootstrap":
        # The reviewed plan, as terraform-plan.sh runs it with a plan role: it reads the data
        # sources, and no resource.
        steps.append(
            lambda: root.run(
                "plan",
                "plan",
                "-input=false",
                "-lock=false",
                "-refresh=false",
                "-detailed-exitcode",
                "-no-color",
                ok=(0, 2),
            )
        )
        steps.append(lambda: _allow_teardown(root))
    steps.append(root.forget_what_the_emulator_cannot_delete)
    steps.append(lambda: root.run("destroy", "destroy", "-input=false", "-auto-approve", "-no-color"))
    for step in steps:
        if STOPPING.is_set() or not step():
            return


def _publish_state(root: Root) -> bool:
    if not root.run("state", "show", "-json"):
        return False
    APPLIED_STATES[root.name] = root.steps["state"].stdout
    return True


def _tfvars(binary: Path, url: str, name: str) -> str:
    if name == "bootstrap":
        return 'github_repository = "example/orders-api"\n'
    certificate = _seed(binary, url, Path(name).name)
    return (
        'repository      = "example/orders-api"\n'
        'image_tag       = "0123456789abcdef0123456789abcdef01234567"\n'
        f'certificate_arn = "{certificate}"\n'
    )


def _apply_every_root(names: tuple[str, ...] = ROOTS) -> dict[str, Root]:
    """Every root (or those named) applied, planned again and destroyed, each on a fresh emulator of
    its own, the roots side by side (most of the time goes to the provider's waits, not to the CPU)."""
    base = Path(tempfile.mkdtemp(prefix="emulated-"))
    try:
        terraform = terraform_or_skip()
        binary = _moto_server_or_skip()
        tree = copy_terraform(base / "terraform")
        env = terraform_environment(base)
        for directory, override in NEUTRALISED.items():
            (tree / directory / "emulator_override.tf").write_text(override.lstrip(), encoding="utf-8")
        roots = {name: Root(name, tree / name, terraform, env) for name in names}
        with ExitStack() as servers:
            for name, root in roots.items():
                root.calls_file = base / f"moto-{Path(name).name}.calls"
                url = servers.enter_context(
                    _emulator(binary, base / f"moto-{Path(name).name}.log", root.calls_file)
                )
                root.write("emulator_settings_override.tf", _settings_override(url))
                root.write("emulator.auto.tfvars", _tfvars(binary, url, name))
                _record_calls(url)
                # One init at a time: a shared plugin cache (TF_PLUGIN_MIRROR=registry) is not safe for
                # concurrent installs.
                root.run("init", "init", "-input=false", "-no-color")
            ready = [root for root in roots.values() if root.steps["init"].returncode == 0]
            with ThreadPoolExecutor(max_workers=len(roots)) as pool:
                list(pool.map(_apply_plan_destroy, ready))
    finally:
        APPLIES_OVER.set()
        shutil.rmtree(base, ignore_errors=True)
    for root in roots.values():
        print(f"emulator apply: terraform/{root.name}: {root.seconds:.0f} s", file=sys.__stderr__)
    return roots


# The applies, once started: they run in a thread of their own beside the other tests.
_APPLYING: dict[str, Future[dict[str, Root]]] = {}


def start_applying() -> None:
    """Start the applies if they have not started. tests/infra/conftest.py calls this as soon as
    collection ends, so the minutes the provider spends waiting overlap the rest of the run."""
    if "roots" not in _APPLYING and os.environ.get(INSIDE_COPY) != "1":
        _APPLYING["roots"] = ThreadPoolExecutor(1, thread_name_prefix="emulator").submit(_apply_every_root)


def stop_applying() -> None:
    """At the end of the session: no step starts any more, and the one in flight is waited for, so no
    emulator outlives the run."""
    STOPPING.set()
    if "roots" in _APPLYING:
        with suppress(BaseException):
            _APPLYING["roots"].result()


def applied_roots() -> dict[str, Root]:
    """Every root after the session's emulator apply (started if it has not), with the steps it ran
    and the AWS calls each step made."""
    if os.environ.get(INSIDE_COPY) == "1":
        pytest.skip("inside the renamed copy: the outer run applies every root")
    start_applying()
    return _APPLYING["roots"].result()


def applied_states() -> dict[str, dict[str, Any]]:
    """Root name -> `terraform show -json` of its state right after its apply on the emulator, for
    every root: from the session's emulator apply (started if it has not)."""
    if os.environ.get(INSIDE_COPY) == "1":
        pytest.skip("inside the renamed copy: the outer run applies every root")
    start_applying()
    APPLIES_OVER.wait()
    missing = [name for name in ROOTS if name not in APPLIED_STATES]
    if missing:
        roots = _APPLYING["roots"].result()
        details = []
        for name in missing:
            failed = (
                next((r for r in roots[name].steps.values() if r.returncode != 0), None)
                if name in roots
                else None
            )
            details.append(
                f"terraform/{name}:\n{failed.stdout[-3000:]}\n{failed.stderr[-3000:]}" if failed else name
            )
        pytest.fail("not applied on the emulator (test_terraform_apply.py):\n" + "\n".join(details))
    return {name: json.loads(text) for name, text in APPLIED_STATES.items()}


@pytest.fixture(scope="module")
def applied() -> dict[str, Root]:
    if os.environ.get(INSIDE_COPY) == "1":
        pytest.skip("inside the renamed copy: the outer run applies every root")
    start_applying()
    return _APPLYING["roots"].result()


STEPS = ("init", "apply", "state", "replan", "show", "plan", "teardown", "state list", "forget", "destroy")


@pytest.mark.parametrize("name", ROOTS)
def test_root_applies_plans_clean_and_destroys_on_the_emulator(applied: dict[str, Root], name: str) -> None:
    root = applied[name]
    for step in STEPS:
        if (
            (step in ("plan", "teardown") and name == "bootstrap")
            or (step == "state" and name != "bootstrap")
            or (step == "forget" and "forget" not in root.steps)
        ):
            continue
        assert step in root.steps, f"terraform/{name}: `{step}` did not run: an earlier step failed"
        result = root.steps[step]
        assert result.returncode in ((0, 2) if step in ("replan", "plan") else (0,)), (
            f"terraform/{name}: terraform {step} failed on the emulator\n{result.stdout[-6000:]}\n"
            f"{result.stderr[-6000:]}"
        )
        if step == "show":
            unexpected = [
                (address, sorted(changed - NOT_READ_BACK.get(kind, set())))
                for address, kind, changed in root.changes()
                if changed - NOT_READ_BACK.get(kind, set())
            ]
            assert not unexpected, (
                f"terraform/{name}: the plan right after the apply still changes {unexpected}: the code "
                "does not converge (or the emulator reads it back differently: NOT_READ_BACK, with the "
                "reason in EMULATOR_UNSUPPORTED)"
            )


def test_every_gap_is_listed_once_with_its_reason_and_its_handling() -> None:
    handled = NOT_CREATED | FORGOTTEN | set(NOT_READ_BACK)
    assert handled == set(EMULATOR_UNSUPPORTED), (
        "each EMULATOR_UNSUPPORTED type needs a handling, and the reverse: "
        f"{sorted(handled ^ set(EMULATOR_UNSUPPORTED))}"
    )
    for kind in NOT_CREATED:
        assert any(f'resource "{kind}"' in override for override in NEUTRALISED.values()), (
            f"{kind} is listed as not created, but no NEUTRALISED override takes it out"
        )
    readme = (ROOT / "terraform" / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Applied against an emulator", 1)
    assert len(section) == 2, 'terraform/README.md needs its "Applied against an emulator" section'
    table = section[1].split("\n## ", 1)[0].splitlines()
    listed = [line.split("`")[1] for line in table if line.startswith("| `aws_")]
    assert sorted(listed) == sorted(EMULATOR_UNSUPPORTED), (
        "terraform/README.md must list each EMULATOR_UNSUPPORTED type once "
        f"(tests/infra/test_terraform_apply.py): README {sorted(listed)}, test {sorted(EMULATOR_UNSUPPORTED)}"
    )
