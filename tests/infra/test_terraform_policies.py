"""IAM least privilege in terraform/: every policy document, parsed from the HCL (issue items 1 and 2).

- A wildcard action (`ec2:*`, `ec2:Describe*`, `kms:*`) on the resource "*" is allowed only in the
  statements listed in ALLOWED_WILDCARDS, each with the reason it is safe; a new one fails here.
- The role pull requests may assume (plan) reads no secret value and decrypts with the state key only.
- Apply roles stay in their environment: writes on "*" are conditioned on the Environment tag, roles
  are created only with the environment's permissions boundary, and PassRole names the environment's
  own roles and the services that take them.
"""

# ruff: noqa: F811  (the tests take the `hcl` fixture imported from test_terraform by name)

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.test_terraform import (  # noqa: F401 (hcl is a fixture)
    DIRECTORIES,
    blocks,
    hcl,
    resources,
)

# (directory, policy document, statement sid) -> why a wildcard action on "*" is safe there.
ALLOWED_WILDCARDS: dict[tuple[str, str, str], str] = {
    (
        "bootstrap",
        "drift",
        "RefreshReadsTheStacks",
    ): "Describe/List/Get only: reads without resource-level permissions",
    ("bootstrap", "apply", "ReadTheStacks"): "Describe/List/Get only, in the environment's region",
    ("bootstrap", "apply", "ChangeOnlyThisEnvironmentsResources"): (
        "only resources already tagged Environment = <env> (aws:ResourceTag condition)"
    ),
    ("bootstrap", "state_key", "AccountAdministersKeyThroughIam"): 'a key policy: "*" is the key itself',
    ("modules/data", "kms", "AccountAdministersKeyThroughIam"): 'a key policy: "*" is the key itself',
    ("modules/data", "kms", "CloudWatchLogsEncryptsThisAccountsLogGroups"): (
        'a key policy: "*" is the key itself; the logs service, for this account\'s log groups only'
    ),
    ("modules/data", "kms", "CloudWatchAlarmsPublishToTheEncryptedTopic"): (
        'a key policy: "*" is the key itself; CloudWatch, for this account only'
    ),
}
READ_PREFIXES = ("Describe", "List", "Get", "BatchGet")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_documents(hcl: dict[str, dict[str, Any]], directory: str) -> dict[str, list[dict[str, Any]]]:
    """`name` -> statements of every data "aws_iam_policy_document" in `directory`, with action lists
    written as `local.<name>` resolved."""
    local = blocks(hcl, directory, "locals")
    found: dict[str, list[dict[str, Any]]] = {}
    for path, content in hcl.items():
        if path.rsplit("/", 1)[0] == directory and path.endswith(".tf"):
            for block in content.get("data", []):
                for name, body in block.get("aws_iam_policy_document", {}).items():
                    found[name] = []
                    for statement in body.get("statement", []):
                        actions = statement.get("actions", [])
                        if isinstance(actions, str) and actions.startswith("${local."):
                            actions = local[actions.removeprefix("${local.").removesuffix("}")]
                        elif isinstance(actions, str) and actions.startswith("${concat(local."):
                            names = actions.removeprefix("${concat(").removesuffix(")}").split(",")
                            actions = [
                                a for name in names for a in local[name.strip().removeprefix("local.")]
                            ]
                        assert isinstance(actions, list), f"{directory} {name}: cannot read {actions!r}"
                        found[name].append(statement | {"actions": actions})
    return found


def conditions(statement: dict[str, Any]) -> dict[str, list[str]]:
    return {
        condition["variable"]: _as_list(condition["values"]) for condition in statement.get("condition", [])
    }


def statements(hcl: dict[str, dict[str, Any]], directory: str, document: str) -> dict[str, dict[str, Any]]:
    return {statement.get("sid", ""): statement for statement in policy_documents(hcl, directory)[document]}


def test_no_wildcard_action_on_every_resource_outside_the_allow_list(
    hcl: dict[str, dict[str, Any]],
) -> None:
    seen: set[tuple[str, str, str]] = set()
    for directory in DIRECTORIES:
        for document, found in policy_documents(hcl, directory).items():
            for statement in found:
                if statement.get("effect", "Allow") == "Deny":
                    continue
                actions = _as_list(statement.get("actions", []))
                if statement.get("resources") != ["*"] or not any("*" in action for action in actions):
                    continue
                key = (directory, document, statement.get("sid", ""))
                seen.add(key)
                assert key in ALLOWED_WILDCARDS, (
                    f"Item 2: {directory} policy {document} statement {key[2] or '(no sid)'} grants wildcard "
                    f"actions on every resource: {actions}. Name the actions or resources, or add it to "
                    "ALLOWED_WILDCARDS with the reason it is safe."
                )
    stale = set(ALLOWED_WILDCARDS) - seen
    assert not stale, f"ALLOWED_WILDCARDS lists statements that no longer exist: {sorted(stale)}"


def test_allowed_wildcards_are_reads_or_tag_conditioned(hcl: dict[str, dict[str, Any]]) -> None:
    for (directory, document, sid), reason in ALLOWED_WILDCARDS.items():
        statement = statements(hcl, directory, document)[sid]
        actions = _as_list(statement["actions"])
        if "key policy" in reason:
            assert statement.get("principals"), (
                f"{document}/{sid}: a key policy statement names its principal"
            )
            continue
        reads = all(action.split(":", 1)[1].startswith(READ_PREFIXES) for action in actions)
        tagged = conditions(statement).get("aws:ResourceTag/Environment") == ["${each.key}"]
        assert reads or tagged, (
            f"Item 2: {document}/{sid} grants non-read wildcards on '*' without the Environment tag condition"
        )


def test_the_pull_request_role_reads_no_secret(hcl: dict[str, dict[str, Any]]) -> None:
    trust = policy_documents(hcl, "bootstrap")["github_trust"]
    assert trust, "bootstrap must define the OIDC trust policy"
    plan = statements(hcl, "bootstrap", "plan")
    actions = [action for statement in plan.values() for action in _as_list(statement["actions"])]
    reads_values = {"secretsmanager:GetSecretValue", "secretsmanager:Get*", "secretsmanager:*", "*"}
    assert not reads_values & set(actions), (
        "Item 1: the plan role (assumable from pull_request) must not read secret values"
    )
    decrypt = [statement for statement in plan.values() if "kms:Decrypt" in statement["actions"]]
    why = "Item 1: the plan role may decrypt with the state key only (not the environments' keys)"
    assert len(decrypt) == 1, why
    assert decrypt[0]["resources"] == ["${aws_kms_key.state.arn}"], why
    assert conditions(decrypt[0]).get("kms:ViaService") == ["s3.${var.region}.amazonaws.com"], (
        "Item 1: the plan role decrypts only through S3 (reading the state)"
    )
    drift = resources(hcl, "bootstrap")["aws_iam_role.drift"]
    assert drift["assume_role_policy"] == '${data.aws_iam_policy_document.github_trust["drift"].json}'


def test_apply_roles_stay_in_their_environment(hcl: dict[str, dict[str, Any]]) -> None:
    apply = statements(hcl, "bootstrap", "apply")
    create = apply["CreateOnlyWithThisEnvironmentsTag"]
    assert conditions(create).get("aws:RequestTag/Environment") == ["${each.key}"], (
        "Item 2: creations on '*' must carry the environment's tag"
    )
    assert not [action for action in _as_list(create["actions"]) if "*" in action], (
        "Item 2: the tag-on-create statement names its actions"
    )
    boundary = "${aws_iam_policy.workload_boundary[each.key].arn}"
    for sid in ("RolesOnlyWithThisEnvironmentsBoundary", "AttachOnlyTheManagedPoliciesTheStackUses"):
        assert conditions(apply[sid]).get("iam:PermissionsBoundary") == [boundary], (
            f"Item 2: {sid} must require the environment's permissions boundary (iam:PermissionsBoundary)"
        )
    assert "iam:CreateRole" in apply["RolesOnlyWithThisEnvironmentsBoundary"]["actions"]
    unbounded = [
        sid
        for sid, statement in apply.items()
        if sid != "RolesOnlyWithThisEnvironmentsBoundary"
        and {"iam:CreateRole", "iam:PutRolePolicy", "iam:PutRolePermissionsBoundary"}
        & set(_as_list(statement["actions"]))
    ]
    assert not unbounded, f"Item 2: {unbounded} create or widen roles without the boundary condition"
    passing = [sid for sid, statement in apply.items() if "iam:PassRole" in _as_list(statement["actions"])]
    assert passing == ["PassOnlyThisEnvironmentsRoles"], passing
    passrole = apply["PassOnlyThisEnvironmentsRoles"]
    assert passrole["resources"] == ["${local.arn_prefix.iam}:role/orders-api-${each.key}-*"], (
        "Item 2: PassRole names the environment's own roles only"
    )
    assert conditions(passrole).get("iam:PassedToService"), "Item 2: PassRole names the services"
    scoped = ("ThisEnvironmentsSecrets", "ThisEnvironmentsCodeDeploy", "ThisEnvironmentsRoles")
    for sid in scoped:
        assert all("${each.key}" in resource for resource in apply[sid]["resources"]), (
            f"Item 2: {sid} must be scoped to the environment's names"
        )


@pytest.mark.parametrize("directory", ["modules/network", "modules/data", "modules/service"])
def test_workload_policies_name_their_resources(
    hcl: dict[str, dict[str, Any]],
    directory: str,
) -> None:
    for document, found in policy_documents(hcl, directory).items():
        for statement in found:
            if statement.get("principals") or "sts:AssumeRole" in _as_list(statement.get("actions", [])):
                continue  # key and trust policies
            if statement.get("resources") == ["*"]:
                assert statement["actions"] == ["ecr:GetAuthorizationToken"], (
                    f"{directory} {document}/{statement.get('sid')}: only ECR login may use '*'"
                )
