"""Terraform: remote per-environment state, tags, modules, secrets, strategies, scanners (T1-T8, R1-R3, R5).

Two kinds of check:
- static ones read the HCL (python-hcl2 from .tools) and always run;
- the Terraform ones copy terraform/ to a temporary directory, install the AWS provider from a local
  filesystem mirror (TF_PLUGIN_MIRROR, default /opt/tf-plugins; "registry" downloads it instead) and
  run `terraform init -backend=false`, `validate` and `test` (mock_provider tests in each tests/
  folder) for every root and module. Without terraform >= 1.11 or the mirror they skip with a loud
  "NOT VERIFIED" line, the only skip in this file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import ROOT, assert_clean, run_tool, tool_path

TERRAFORM = ROOT / "terraform"
ENVIRONMENTS = ("dev", "staging", "prod")
ROOTS = ("bootstrap", *(f"environments/{env}" for env in ENVIRONMENTS))
MODULES = ("modules/network", "modules/data", "modules/service", "modules/stack")
STACK_PARTS = ("network", "data", "service")
DIRECTORIES = ROOTS + MODULES
MIRROR = Path(os.environ.get("TF_PLUGIN_MIRROR", "/opt/tf-plugins"))
AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"
SECRET_NAMES = {"DATABASE_URL", "REDIS_URL", "API_KEYS"}
REQUIRED_TAGS = {"Environment", "ManagedBy", "Service", "Repository"}


# --- HCL as data ------------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """python-hcl2 keeps quotes around strings and adds bookkeeping keys; drop both."""
    if isinstance(value, dict):
        return {
            _clean(key): _clean(item)
            for key, item in value.items()
            if key not in {"__is_block__", "__comments__"}
        }
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@pytest.fixture(scope="module")
def hcl() -> dict[str, dict[str, Any]]:
    """Every .tf and .tfvars file under terraform/, parsed, keyed by its path relative to terraform/."""
    # .tools/bin/hcl2-python links into a venv; run the link's target so the venv's packages load.
    link = Path(tool_path("hcl2-python"))
    python = os.readlink(link) if link.is_symlink() else str(link)
    files = sorted(
        str(path.relative_to(TERRAFORM))
        for pattern in ("*.tf", "*.tfvars")
        for path in TERRAFORM.rglob(pattern)
        if ".terraform" not in path.parts
    )
    script = (
        "import hcl2, json, sys\n"
        "root = sys.argv[1]\n"
        "print(json.dumps({f: hcl2.load(open(f'{root}/{f}')) for f in sys.argv[2:]}))\n"
    )
    result = run_tool(python, "-c", script, str(TERRAFORM), *files)
    assert_clean(result, "T3")
    parsed: dict[str, dict[str, Any]] = _clean(json.loads(result.stdout))
    return parsed


def blocks(hcl: dict[str, dict[str, Any]], directory: str, kind: str) -> dict[str, Any]:
    """Merge the `kind` blocks (variable, output, locals, ...) of every .tf file directly in `directory`."""
    merged: dict[str, Any] = {}
    for path, content in hcl.items():
        if str(Path(path).parent) == directory and path.endswith(".tf"):
            for block in content.get(kind, []):
                merged.update(block)
    return merged


def resources(hcl: dict[str, dict[str, Any]], directory: str) -> dict[str, dict[str, Any]]:
    """`type.name` -> body for every resource in `directory`."""
    found: dict[str, dict[str, Any]] = {}
    for path, content in hcl.items():
        if str(Path(path).parent) == directory and path.endswith(".tf"):
            for block in content.get("resource", []):
                for kind, items in block.items():
                    found.update({f"{kind}.{name}": body for name, body in items.items()})
    return found


def terraform_block(hcl: dict[str, dict[str, Any]], directory: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path, content in hcl.items():
        if str(Path(path).parent) == directory:
            for block in content.get("terraform", []):
                merged.update(block)
    return merged


def admits(constraint: str, version: str) -> bool:
    """Whether a Terraform version constraint such as '>= 5.100.0, < 5.101.0' admits `version`."""

    def parse(text: str) -> tuple[int, ...]:
        parts = [int(part) for part in text.split(".")]
        return tuple(parts + [0] * (3 - len(parts)))

    checks = {
        ">=": lambda a, b: a >= b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        "<": lambda a, b: a < b,
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
    }
    wanted = parse(version)
    for clause in constraint.split(","):
        match = re.fullmatch(r"\s*(>=|<=|!=|>|<|=)?\s*([0-9.]+)\s*", clause)
        assert match, f"T3: cannot read version constraint {constraint!r} (use >=, <, ...; no ~>)"
        operator, bound = match.group(1) or "=", parse(match.group(2))
        if not checks[operator](wanted, bound):
            return False
    return True


# --- Static checks ------------------------------------------------------------------------------


def test_state_is_remote_locked_and_separate_per_environment(hcl: dict[str, dict[str, Any]]) -> None:
    keys: dict[str, str] = {}
    for directory in ROOTS:
        backends = terraform_block(hcl, directory).get("backend", [])
        assert len(backends) == 1, f"T1: {directory} must declare one backend"
        assert "s3" in backends[0], f"T1: {directory} must keep its state in the S3 backend"
        backend = backends[0]["s3"]
        assert backend.get("use_lockfile") is True, (
            f"T2: {directory} must lock its state (use_lockfile = true)"
        )
        assert backend.get("encrypt") is True, f"T1: {directory} must encrypt its state (encrypt = true)"
        assert "dynamodb_table" not in backend, (
            f"T2: {directory}: S3-native locking replaces the DynamoDB table"
        )
        keys[directory] = backend.get("key", "")
    for env in ENVIRONMENTS:
        assert f"/{env}/" in keys[f"environments/{env}"], f"T7: the {env} state key must name the environment"
    assert len(set(keys.values())) == len(keys), f"T7: every root needs its own state key, got {keys}"


def test_roots_and_modules_pin_terraform_and_the_verified_provider_line(
    hcl: dict[str, dict[str, Any]],
) -> None:
    for directory in DIRECTORIES:
        block = terraform_block(hcl, directory)
        required = block.get("required_version", "")
        why = f"T3: {directory} must require Terraform >= 1.11 (write-only args, S3 lockfile): {required!r}"
        assert admits(required, "1.11.4"), why
        assert not admits(required, "1.10.5"), why
        providers = {
            name: spec for entry in block.get("required_providers", []) for name, spec in entry.items()
        }
        assert "aws" in providers, f"T3: {directory} must declare the AWS provider"
        aws = providers["aws"]
        assert aws.get("source") == "hashicorp/aws", f"T3: {directory}: the AWS provider is hashicorp/aws"
        constraint = aws.get("version", "")
        why = (
            f"ADR 0006: {directory} must stay on the verified AWS provider line 5.100.x "
            f"(>= 5.100.0, < 5.101.0), so CI installs what this repository tested: {constraint!r}"
        )
        assert admits(constraint, "5.100.0"), why
        assert admits(constraint, "5.100.9"), why
        assert not admits(constraint, "5.101.0"), why
        assert not admits(constraint, "6.0.0"), why


def test_every_root_tags_every_resource_through_default_tags(hcl: dict[str, dict[str, Any]]) -> None:
    for directory in ROOTS:
        aws = blocks(hcl, directory, "provider").get("aws")
        assert aws, f"T4: {directory} must configure the AWS provider"
        default_tags = aws.get("default_tags", [{}])[0].get("tags")
        if default_tags == "${local.default_tags}":
            default_tags = blocks(hcl, directory, "locals").get("default_tags")
        assert isinstance(default_tags, dict), f"T4: {directory} must set provider default_tags"
        assert set(default_tags) >= REQUIRED_TAGS, (
            f"T4: {directory} default_tags must include {sorted(REQUIRED_TAGS)}"
        )
        assert default_tags["ManagedBy"] == "terraform", f"T4: {directory}: ManagedBy must be 'terraform'"
        if directory.startswith("environments/"):
            env = Path(directory).name
            assert blocks(hcl, directory, "locals").get("environment") == env, (
                f"T4: {directory} must tag its resources Environment = {env}"
            )


def test_no_resource_overrides_the_default_tags(hcl: dict[str, dict[str, Any]]) -> None:
    for directory in DIRECTORIES:
        for address, body in resources(hcl, directory).items():
            tags = body.get("tags")
            if isinstance(tags, dict):
                overridden = REQUIRED_TAGS & set(tags)
                assert not overridden, (
                    f"T4: {directory} {address} overrides the default tags {sorted(overridden)}"
                )


def test_modules_are_provider_agnostic(hcl: dict[str, dict[str, Any]]) -> None:
    for directory in MODULES:
        assert not blocks(hcl, directory, "provider"), (
            f"T3: {directory} must not configure a provider: roots do (and set default_tags)"
        )
        assert "backend" not in terraform_block(hcl, directory), f"T3: {directory} must not declare a backend"


def test_variables_are_typed_described_and_outputs_described(hcl: dict[str, dict[str, Any]]) -> None:
    for directory in DIRECTORIES:
        for name, body in blocks(hcl, directory, "variable").items():
            assert "type" in body, f"T3: variable {name} in {directory} needs a type"
            assert body.get("description"), f"T3: variable {name} in {directory} needs a description"
        for name, body in blocks(hcl, directory, "output").items():
            assert body.get("description"), f"T3: output {name} in {directory} needs a description"
    validated = {
        "modules/service": {
            "environment",
            "deployment_strategy",
            "image",
            "secret_arns",
            "app_environment",
            "stop_timeout_seconds",
            "keep_alive_timeout_seconds",
            "deregistration_delay_seconds",
        },
        "modules/data": {
            "db_backup_retention_days",
            "database_subnet_ids",
            "cache_nodes",
            "db_instance_class",
        },
        "modules/network": {"cidr_block", "availability_zones"},
        "modules/stack": {"image_tag", "certificate_arn", "availability_zones"},
    }
    for directory, names in validated.items():
        variables = blocks(hcl, directory, "variable")
        for name in names:
            assert variables.get(name, {}).get("validation"), (
                f"T3: {directory} variable {name} needs a validation"
            )


def test_no_secret_in_code_tfvars_or_outputs(hcl: dict[str, dict[str, Any]]) -> None:
    secretish = re.compile(r"password|secret|token|api_?key|private", re.IGNORECASE)
    for path, content in hcl.items():
        if path.endswith(".tfvars"):
            for name in content:
                assert not secretish.search(name), f"T8: {path} sets {name}: secrets never go in tfvars"
    for directory in DIRECTORIES:
        for name, body in blocks(hcl, directory, "output").items():
            value = json.dumps(body.get("value"))
            assert not re.search(r"secret_string|password|auth_token|uuid\(", value), (
                f"T8: output {name} in {directory} exposes a secret value (hand out ARNs, never values)"
            )
        for address, body in resources(hcl, directory).items():
            assert not address.startswith(("aws_iam_access_key.", "aws_iam_user.")), (
                f"T8/C9: {directory} creates {address}: the pipeline uses OIDC roles, never long-lived keys"
            )
            if address.startswith("aws_db_instance."):
                why = f"T8: {address} must set its password write-only (password_wo), never `password`"
                assert "password" not in body, why
                assert "password_wo" in body, why
    text = "\n".join(path.read_text(encoding="utf-8") for path in TERRAFORM.rglob("*.tf"))
    assert not re.search(r"(postgres(ql)?|rediss?)://[^\s\"$%]*:[^\s\"$@%]+@", text), (
        "T8: a connection URL with a literal password is written in terraform/"
    )


def test_shutdown_budget_is_one_consistent_budget(hcl: dict[str, dict[str, Any]]) -> None:
    from app.settings import Settings

    defaults = {
        name: body.get("default") for name, body in blocks(hcl, "modules/service", "variable").items()
    }
    interval = defaults["health_check_interval_seconds"]
    notice = interval * defaults["health_check_unhealthy_threshold"]
    drain, graceful = defaults["drain_seconds"], defaults["graceful_timeout_seconds"]
    stop, delay = defaults["stop_timeout_seconds"], defaults["deregistration_delay_seconds"]
    keep_alive, idle = defaults["keep_alive_timeout_seconds"], defaults["alb_idle_timeout_seconds"]
    assert drain + graceful < stop, (
        f"Shutdown budget: DRAIN_SECONDS {drain} + GRACEFUL_TIMEOUT {graceful} must be < stopTimeout {stop}"
    )
    assert stop <= 120, f"Shutdown budget: Fargate allows a stopTimeout of at most 120 s, got {stop}"
    assert keep_alive > idle, (
        f"Shutdown budget: KEEP_ALIVE_TIMEOUT {keep_alive} must exceed the ALB idle timeout {idle}"
    )
    assert delay >= graceful, (
        f"Shutdown budget: deregistration delay {delay} must cover GRACEFUL_TIMEOUT {graceful}"
    )
    assert delay >= notice, (
        f"Shutdown budget: deregistration delay {delay} must cover the health-check notice {notice}"
    )
    app = Settings.model_fields
    for variable, setting in (
        ("drain_seconds", "drain_seconds"),
        ("graceful_timeout_seconds", "graceful_timeout"),
        ("keep_alive_timeout_seconds", "keep_alive_timeout"),
    ):
        assert float(defaults[variable]) == float(app[setting].default), (
            f"E3: Terraform's {variable} ({defaults[variable]}) and the app's {setting.upper()} default "
            f"({app[setting].default}) must be the same budget (docs/architecture.md, Shutdown budget)"
        )


@pytest.mark.audit
def test_a8_each_environment_has_its_own_configuration(hcl: dict[str, dict[str, Any]]) -> None:
    stack_parts = blocks(hcl, "modules/stack", "module")
    assert set(stack_parts) == set(STACK_PARTS), f"E3: modules/stack must wire {STACK_PARTS} together"
    assert all(stack_parts[name]["source"] == f"../{name}" for name in STACK_PARTS), (
        "E3: modules/stack must call the shared modules, not its own copies"
    )
    stacks: dict[str, dict[str, Any]] = {}
    for env in ENVIRONMENTS:
        modules = blocks(hcl, f"environments/{env}", "module")
        assert set(modules) == {"stack"}, (
            f"E3: {env} must call modules/stack once, not the parts directly: {sorted(modules)}"
        )
        stacks[env] = modules["stack"]
        assert stacks[env]["source"] == "../../modules/stack", f"E3: {env} must call the shared stack module"
        assert stacks[env]["deployment_strategy"] in {"rolling", "blue_green", "canary"}, (
            f"R1-R3: {env} must choose rolling, blue_green or canary in its main.tf"
        )
    sizing = ("cpu", "memory", "desired_count", "min_capacity", "max_capacity")
    assert [stacks["dev"][key] for key in sizing] != [stacks["prod"][key] for key in sizing], (
        "A8: dev and prod must be sized separately"
    )
    assert stacks["prod"]["db_multi_az"] is True, "A8: prod runs Postgres Multi-AZ"
    assert stacks["prod"]["cache_nodes"] >= 2, "A8: prod runs Redis with a failover replica"
    cidrs = {env: stacks[env]["cidr_block"] for env in ENVIRONMENTS}
    assert len(set(cidrs.values())) == len(cidrs), f"A8: every environment needs its own VPC range: {cidrs}"


def test_every_environment_input_comes_from_its_tfvars_or_the_workflows(
    hcl: dict[str, dict[str, Any]],
) -> None:
    """The roots' inputs reach Terraform from the committed terraform.tfvars or as TF_VAR_ from every
    Terraform workflow (plan, apply, drift), and the descriptions say which: an input documented as
    "passed by CI" that no workflow passes is an input nobody sets."""
    workflows = ("terraform.yml", "terraform-apply.yml", "terraform-drift.yml")
    passed = set.intersection(
        *(
            set(
                re.findall(
                    r"TF_VAR_(\w+):", (ROOT / ".github" / "workflows" / name).read_text(encoding="utf-8")
                )
            )
            for name in workflows
        )
    )
    for env in ENVIRONMENTS:
        tfvars = set(hcl[f"environments/{env}/terraform.tfvars"])
        for name, variable in blocks(hcl, f"environments/{env}", "variable").items():
            if "default" not in variable or name in {"image_tag", "alarm_subscriptions"}:
                assert name in tfvars | passed, (
                    f"{env}: {name} is neither in terraform.tfvars nor passed by {', '.join(workflows)}"
                )
            if name not in passed:
                assert not re.search(r"CI passes|TF_VAR_", variable.get("description", "")), (
                    f"{env}: {name}'s description says a workflow passes it; none does"
                )
    readme = (TERRAFORM / "README.md").read_text(encoding="utf-8")
    assert "per GitHub environment (`dev`, `staging`, `production`)" in readme, (
        "terraform/README.md, Bootstrap: dev is deployed too, so its GitHub environment needs the variables"
    )


@pytest.mark.audit
def test_a9_every_strategy_rolls_back_automatically(hcl: dict[str, dict[str, Any]]) -> None:
    found = resources(hcl, "modules/service")
    service = found["aws_ecs_service.this"]
    dynamic = {name: body for block in service.get("dynamic", []) for name, body in block.items()}
    breaker = dynamic["deployment_circuit_breaker"]["content"][0]
    alarms = dynamic["alarms"]["content"][0]
    assert breaker == {"enable": True, "rollback": True}, "A9/R3: the circuit breaker must roll back"
    assert alarms["enable"] is True, "A9/R3: deployment alarms must be on"
    assert alarms["rollback"] is True, "A9/R3: deployment alarms must roll back"
    group = found["aws_codedeploy_deployment_group.this"]
    rollback = group["auto_rollback_configuration"][0]
    assert rollback["enabled"] is True, "A9/R1/R2: CodeDeploy must roll back automatically"
    assert {"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"} <= set(rollback["events"]), (
        "A9/R1/R2: CodeDeploy must roll back on failure and when an alarm fires"
    )
    assert group["alarm_configuration"][0]["enabled"] is True, (
        "A9: CodeDeploy must watch the deployment alarms"
    )


def test_no_provider_lock_file_or_local_state_is_committed() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "terraform"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    stray = [path for path in tracked if re.search(r"\.terraform(/|\.lock\.hcl$)|\.tfstate|tfplan", path)]
    assert not stray, (
        f"ADR 0006: commit no lock file generated from a local mirror, no state, no plan: {stray}"
    )
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    for pattern in (".terraform.lock.hcl", ".terraform/"):
        assert pattern in ignored, f"ADR 0006: .gitignore must keep {pattern} out of the repository"
    adr = (ROOT / "docs" / "adr" / "0006-no-provider-lock-file.md").read_text(encoding="utf-8")
    for needed in ("terraform providers lock", "-platform=linux_amd64", "-platform=darwin_arm64"):
        assert needed in adr, f"ADR 0006 must say how to generate a multi-platform lock file ({needed})"


def _suppressions(pattern: str) -> Iterator[tuple[str, str, str]]:
    for path in sorted(TERRAFORM.rglob("*.tf")):
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.search(pattern, line)
            if match:
                yield str(path.relative_to(ROOT)), match.group(1), match.group(2).strip()


def test_checkov_is_clean_and_every_skip_is_explained() -> None:
    skips = list(_suppressions(r"#checkov:skip=([A-Z0-9_]+)(?::(.*))?$"))
    for path, check, reason in skips:
        assert len(reason) >= 20, f"D7: {path}: checkov skip {check} needs a reason (#checkov:skip=ID:why)"
    result = run_tool(
        "checkov",
        "--directory",
        str(TERRAFORM),
        "--framework",
        "terraform",
        "--skip-download",
        "--compact",
        "--quiet",
    )
    assert_clean(result, "D7")


def test_trivy_is_clean_offline_and_every_ignore_is_explained() -> None:
    ignores = list(_suppressions(r"#trivy:ignore:(AVD-[A-Z]+-[0-9]+)(.*)$"))
    assert ignores, "D7: expected the explained trivy ignores (e.g. the internet-facing ALB)"
    for path, check, reason in ignores:
        assert len(reason) >= 20, f"D7: {path}: trivy ignore {check} needs a reason after the ID"
    result = run_tool(
        "trivy", "config", "--skip-check-update", "--exit-code", "1", "--quiet", str(TERRAFORM), timeout=600
    )
    assert_clean(result, "D7")


def test_every_role_an_environment_creates_carries_the_permissions_boundary(
    hcl: dict[str, dict[str, Any]],
) -> None:
    for directory in MODULES:
        for address, body in resources(hcl, directory).items():
            if address.startswith("aws_iam_role."):
                assert body.get("permissions_boundary") == "${var.permissions_boundary_arn}", (
                    f"Item 2: {directory} {address} must carry the environment's permissions boundary "
                    "(the apply role may create roles only with it)"
                )
    stack = blocks(hcl, "modules/stack", "module")
    for part in STACK_PARTS:
        assert stack[part].get("permissions_boundary_arn") == "${local.permissions_boundary_arn}", (
            f"Item 2: modules/stack must hand the workload boundary to module {part}"
        )
    boundary = blocks(hcl, "modules/stack", "locals")["permissions_boundary_arn"]
    policy = resources(hcl, "bootstrap")["aws_iam_policy.workload_boundary"]
    assert boundary.endswith(":policy/${local.name}-workload-boundary"), boundary
    assert policy["name"] == "orders-api-${each.key}-workload-boundary", (
        "Item 2: the boundary the stack names must be the one the bootstrap creates"
    )


def test_task_definitions_survive_so_rollback_targets_do(hcl: dict[str, dict[str, Any]]) -> None:
    task = resources(hcl, "modules/service")["aws_ecs_task_definition.this"]
    assert task.get("skip_destroy") is True, (
        "Rollback: old task definition revisions are rollback targets; skip_destroy keeps them registered"
    )


def test_the_service_waits_for_secret_values_and_the_database(hcl: dict[str, dict[str, Any]]) -> None:
    output = blocks(hcl, "modules/data", "output")["secret_arns"]
    needed = {
        "aws_secretsmanager_secret_version.database_url",
        "aws_secretsmanager_secret_version.redis_url",
        "aws_secretsmanager_secret_version.api_keys",
        "aws_db_instance.this",
        "aws_elasticache_replication_group.this",
    }
    depends_on = {item.removeprefix("${").removesuffix("}") for item in output.get("depends_on", [])}
    assert needed <= depends_on, (
        "Item 11: the secret ARNs the ECS service takes must wait for the secret versions, the database "
        f"and the cache (depends_on of modules/data output secret_arns), missing {needed - depends_on}"
    )
    stack = blocks(hcl, "modules/stack", "module")["service"]
    assert stack["secret_arns"] == "${module.data.secret_arns}", (
        "Item 11: the service must take the secret ARNs from modules/data's output (which waits)"
    )


def _lifecycle(body: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in body.get("lifecycle", []):
        merged.update(block)
    return merged


def test_a_replaced_database_or_cache_gets_a_url_that_matches(hcl: dict[str, dict[str, Any]]) -> None:
    found = resources(hcl, "modules/data")
    triggers = {
        "aws_secretsmanager_secret_version.database_url": "${aws_db_instance.this.resource_id}",
        "aws_secretsmanager_secret_version.redis_url": (
            "${aws_elasticache_replication_group.this.primary_endpoint_address}"
        ),
    }
    for address, trigger in triggers.items():
        body = found[address]
        why = f"Item 3: {address} holds a password or token: it must be written write-only"
        assert "secret_string" not in body, why
        assert "secret_string_wo" in body, why
        assert trigger in _lifecycle(body).get("replace_triggered_by", []), (
            f"Item 14: {address} must be rewritten when what it points at is replaced ({trigger})"
        )
    database = found["aws_db_instance.this"]
    assert "timestamp()" in database["final_snapshot_identifier"], (
        "Item 14: the final snapshot name must be unique per instance, or a rebuilt dev cannot be destroyed"
    )
    assert "final_snapshot_identifier" in _lifecycle(database).get("ignore_changes", []), (
        "Item 14: the final snapshot name is fixed at creation (ignore_changes), or every plan changes it"
    )
    dev = blocks(hcl, "environments/dev", "module")["stack"]
    assert dev["secret_recovery_window_days"] == 0, (
        "Item 14: dev's secrets are deleted at once, so a rebuilt dev can create them again"
    )


def test_codedeploy_network_changes_replace_the_service_visibly(hcl: dict[str, dict[str, Any]]) -> None:
    found = resources(hcl, "modules/service")
    guard = found["terraform_data.codedeploy_network"]
    assert guard["input"] == "${local.codedeploy ? local.network_configuration : null}", (
        "Item 12: the guard records the network configuration of CODE_DEPLOY services only"
    )
    service = found["aws_ecs_service.this"]
    assert "${terraform_data.codedeploy_network}" in _lifecycle(service).get("replace_triggered_by", []), (
        "Item 12: ECS rejects in-place network changes on CODE_DEPLOY services; Terraform must plan a "
        "replacement instead (terraform/README.md, Network changes with CodeDeploy)"
    )
    network = service["network_configuration"][0]
    assert network["subnets"] == "${local.network_configuration.subnets}", (
        "Item 12: the service and its guard must read the same network configuration"
    )
    # The new service starts behind blue; after an odd number of deployments the production listener
    # forwards to green, so it must be replaced with the service (back on blue), or the ALB answers 503.
    for listener in ("aws_lb_listener.https", "aws_lb_listener.test"):
        assert "${terraform_data.codedeploy_network}" in _lifecycle(found[listener]).get(
            "replace_triggered_by", []
        ), f"{listener} must be replaced with a replaced CODE_DEPLOY service (it starts behind blue/green)"


def test_every_alarm_notifies_the_environments_topic(hcl: dict[str, dict[str, Any]]) -> None:
    alarms = 0
    for directory in ("modules/data", "modules/service"):
        for address, body in resources(hcl, directory).items():
            if address.startswith("aws_cloudwatch_metric_alarm."):
                alarms += 1
                assert body.get("alarm_actions") == "${var.alarm_actions}", (
                    f"{directory} {address} must notify var.alarm_actions (the environment's topic)"
                )
    assert alarms >= 9, f"expected the deployment, ECS memory, RDS and ElastiCache alarms, found {alarms}"
    stack = blocks(hcl, "modules/stack", "module")
    for part in ("data", "service"):
        assert stack[part]["alarm_actions"] == "${local.alarm_actions}", (
            f"modules/stack must wire the alarm topic into module {part}"
        )
    assert "aws_sns_topic_subscription.alarms" in resources(hcl, "modules/stack"), (
        "the alarm topic needs subscriptions (var.alarm_subscriptions)"
    )
    names = {
        body.get("metric_name")
        for directory in ("modules/data", "modules/service")
        for address, body in resources(hcl, directory).items()
        if address.startswith("aws_cloudwatch_metric_alarm.")
    }
    wanted = {
        "CPUUtilization",
        "FreeStorageSpace",
        "DatabaseConnections",
        "DatabaseMemoryUsagePercentage",
        "Evictions",
        "MemoryUtilization",
    }
    assert wanted <= names, f"missing capacity alarms on {sorted(wanted - names)}"


def test_prod_has_alb_access_logs_and_a_waf_and_every_vpc_an_s3_endpoint(
    hcl: dict[str, dict[str, Any]],
) -> None:
    prod = blocks(hcl, "environments/prod", "module")["stack"]
    assert prod.get("alb_access_logs") is True, "prod needs ALB access logs"
    assert prod.get("waf") is True, "prod needs a WAF web ACL in front of its ALB"
    endpoint = resources(hcl, "modules/network")["aws_vpc_endpoint.s3"]
    assert endpoint["vpc_endpoint_type"] == "Gateway", "S3 is reached through a gateway endpoint (no NAT)"


# --- terraform fmt / init / validate / test -----------------------------------------------------


def terraform_or_skip() -> str:
    """The terraform binary (>= 1.11), or a loud NOT VERIFIED skip: the one allowed skip here."""
    binary = shutil.which("terraform")
    reason = ""
    if binary is None:
        reason = "NOT VERIFIED: terraform is not installed (need >= 1.11 on PATH)"
    else:
        out = subprocess.run([binary, "version", "-json"], capture_output=True, text=True, check=False).stdout
        version = json.loads(out or "{}").get("terraform_version", "0")
        if not admits(">= 1.11", version):
            reason = f"NOT VERIFIED: terraform {version} is older than 1.11"
    if reason:
        print(reason, file=sys.__stderr__)
        pytest.skip(reason)
    assert binary is not None
    return binary


@dataclass
class Workspace:
    """A throw-away copy of terraform/ with its own CLI config: no .terraform/ in the repository."""

    terraform: str
    root: Path
    env: dict[str, str]
    results: dict[str, dict[str, subprocess.CompletedProcess[str]]] = field(default_factory=dict)

    def run(self, directory: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.terraform, *args],
            cwd=self.root / directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def init(self, directory: str) -> None:
        steps = self.results.setdefault(directory, {})
        steps["init"] = self.run(directory, "init", "-backend=false", "-input=false", "-no-color")

    def validate_and_test(self, directory: str) -> None:
        steps = self.results[directory]
        if steps["init"].returncode == 0:
            steps["validate"] = self.run(directory, "validate", "-no-color")
            steps["test"] = self.run(directory, "test", "-no-color")


def terraform_environment(base: Path) -> dict[str, str]:
    """The environment for terraform runs under `base`: a CLI config that installs the AWS provider
    from the mirror (or the registry), no TF_* variables of the caller, no prompts, no update checks.
    Skips loudly (NOT VERIFIED) when the mirror is missing."""
    if str(MIRROR) == "registry":
        # CI with network access: download from the registry once, into a shared plugin cache.
        (base / "plugin-cache").mkdir()
        installation = f'plugin_cache_dir = "{base / "plugin-cache"}"\n'
    elif (MIRROR / AWS_PROVIDER).is_dir():
        installation = (
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path    = "{MIRROR}"\n    include = ["{AWS_PROVIDER}"]\n  }}\n'
            f'  direct {{\n    exclude = ["{AWS_PROVIDER}"]\n  }}\n'
            "}\n"
        )
    else:
        reason = (
            f"NOT VERIFIED: terraform provider mirror missing: {MIRROR}/{AWS_PROVIDER} "
            "(set TF_PLUGIN_MIRROR to a mirror, or to 'registry' to download)"
        )
        print(reason, file=sys.__stderr__)
        pytest.skip(reason)
    cli_config = base / "terraform.rc"
    cli_config.write_text(installation, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TF_", "CHECKPOINT_"))}
    return env | {
        "TF_CLI_CONFIG_FILE": str(cli_config),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
    }


def copy_terraform(destination: Path) -> Path:
    """Copy terraform/ to `destination` without local state, plans, overrides or provider caches."""
    shutil.copytree(
        TERRAFORM,
        destination,
        ignore=shutil.ignore_patterns(
            ".terraform", ".terraform.lock.hcl", "*.tfstate*", "*_override.tf", "tfplan*"
        ),
    )
    return destination


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    terraform = terraform_or_skip()
    base = tmp_path_factory.mktemp("terraform")
    env = terraform_environment(base)
    copy_terraform(base / "terraform")
    space = Workspace(terraform, base / "terraform", env)
    # Init one directory at a time (a shared plugin cache is not safe for concurrent installs), then
    # validate and test two at a time: `terraform test` is CPU-bound, and CI runners have 2 cores.
    for directory in DIRECTORIES:
        space.init(directory)
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(space.validate_and_test, DIRECTORIES))
    return space


def test_terraform_fmt() -> None:
    terraform = terraform_or_skip()
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert_clean(result, "T3 (run `terraform fmt -recursive terraform`)")


@pytest.mark.parametrize("directory", DIRECTORIES)
def test_terraform_init_and_validate(workspace: Workspace, directory: str) -> None:
    steps = workspace.results[directory]
    assert_clean(steps["init"], f"T3: terraform init -backend=false in terraform/{directory}")
    assert_clean(steps["validate"], f"T3: terraform validate in terraform/{directory}")


@pytest.mark.parametrize("directory", DIRECTORIES)
def test_terraform_test(workspace: Workspace, directory: str) -> None:
    steps = workspace.results[directory]
    assert "test" in steps, f"T3: terraform/{directory} did not initialise:\n{steps['init'].stderr}"
    assert (TERRAFORM / directory / "tests").is_dir(), (
        f"T3: terraform/{directory} needs mock-provider tests in tests/"
    )
    result = steps["test"]
    assert_clean(result, f"T3/R1-R3/T8: terraform test in terraform/{directory}")
    passed = re.search(r"Success! (\d+) passed, 0 failed", result.stdout)
    assert passed, f"terraform test in terraform/{directory} did not pass:\n{result.stdout}"
    assert int(passed.group(1)) > 0, f"terraform test in terraform/{directory} ran no test"
