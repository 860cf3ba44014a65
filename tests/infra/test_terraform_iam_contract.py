"""The pipeline's roles, proved with an IAM policy engine against the policies Terraform renders.

Every root is applied to the AWS emulator (test_terraform_apply.py's apply, which these checks wait
for) and its state read back with `terraform show -json` right after: each role's inline policy, its
permissions boundary, the environments' workload boundaries, the state key's key policy and the state
bucket's policy come from terraform/bootstrap's, each environment's key policy from its own; none is
copied. Three checks, the first two evaluated by `@cloud-copilot/iam-simulate`
(tests/infra/iam/evaluate.cjs, ADR 0011) with the role's identity policy, its boundary and the
resource's policy:

- the contract (docs/ci-cd.md, "IAM contract"): each row becomes one request per environment (and per
  other environment where it says `<other>`); a decision other than the row's fails, naming the role,
  the action, the resource and what the engine decided;
- every AWS call the emulator apply recorded, as the role that makes it in the pipeline (ROLE_OF_STEP),
  and the permissions AWS checks beside it that the request shows (`implied`: a role it passes, the
  tags it creates with, WAF's log delivery): a request the role may not make fails, naming the action
  and the call;
- every action a role's policy allows is allowed by a contract row for that role or made by one of
  those requests: a permission nobody states or uses fails, naming the role, the action and the
  statement's Sid.

Without node or the engine (`make tools`) the checks skip with a NOT VERIFIED line.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.infra.conftest import ROOT
from tests.infra.test_terraform import ENVIRONMENTS
from tests.infra.test_terraform_apply import REGION, applied_roots, applied_states

CONTRACT = ROOT / "docs" / "ci-cd.md"
EVALUATE = Path(__file__).parent / "iam" / "evaluate.cjs"
ENGINE = ROOT / ".tools" / "npm" / "node_modules"
ROLE_PREFIX = "orders-api-github-"
# Condition keys whose values are lists in a request (the rest are single strings).
MULTI_VALUED = {"aws:TagKeys"}
# Every request is made over TLS (the state bucket denies anything else) in the bootstrap region.
BASE_CONTEXT = {"aws:SecureTransport": "true", "aws:RequestedRegion": REGION}


@dataclass(frozen=True)
class Row:
    """One row of the contract's table, as written."""

    role: str
    allow: bool
    action: str
    resource: str
    context: str
    why: str


@dataclass(frozen=True)
class Check:
    """One request a row stands for, with every placeholder filled in."""

    row: Row
    role: str
    action: str
    resource: str
    context: dict[str, str | list[str]]


def contract_rows() -> list[Row]:
    text = CONTRACT.read_text(encoding="utf-8")
    section = text.split("### IAM contract", 1)
    assert len(section) == 2, 'docs/ci-cd.md needs its "IAM contract" section'
    rows = []
    for line in section[1].split("\n#", 1)[0].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("| `") or len(cells) != 6:
            continue
        role, must, action, resource, context, why = cells
        assert must in ("allow", "deny"), f"IAM contract: `must` is allow or deny, not {must!r} ({line})"
        rows.append(
            Row(role.strip("`"), must == "allow", action.strip("`"), resource.strip("`"), context, why)
        )
    return rows


def _context(text: str, fill: dict[str, str]) -> dict[str, str | list[str]]:
    context: dict[str, str | list[str]] = dict(BASE_CONTEXT)
    for pair in filter(None, (part.strip() for part in text.replace("`", "").split(";"))):
        key, _, value = pair.partition("=")
        value = _fill(value.strip(), fill)
        context[key.strip()] = value.split(",") if key.strip() in MULTI_VALUED else value
    return context


def _fill(text: str, fill: dict[str, str]) -> str:
    for placeholder, value in fill.items():
        text = text.replace(placeholder, value)
    return text


def expand(row: Row, names: dict[str, str]) -> list[Check]:
    """The requests a row stands for: one per environment for `<env>`, one per pair for `<other>`."""
    written = row.role + row.resource + row.context
    pairs: list[tuple[str, str]] = [("", "")]
    if "<env>" in written:
        pairs = [(env, "") for env in ENVIRONMENTS]
    if "<other>" in written:
        pairs = [(env, other) for env, _ in pairs for other in ENVIRONMENTS if other != env]
    checks = []
    for env, other in pairs:
        fill = {"<env>": env, "<other>": other, **names}
        if env:
            fill["<boundary>"] = names[f"<boundary:{env}>"]
        checks.append(
            Check(
                row, _fill(row.role, fill), row.action, _fill(row.resource, fill), _context(row.context, fill)
            )
        )
    return checks


# --- the rendered policies ----------------------------------------------------------------------


@dataclass
class Rendered:
    """What the roots rendered, read back from their states after the apply."""

    account: str
    inline: dict[str, list[dict[str, Any]]]  # role name -> its inline policies
    role_boundary: dict[str, str]  # role name -> boundary ARN
    managed: dict[str, dict[str, Any]]  # policy ARN -> document
    boundaries: dict[str, str]  # environment -> its workload boundary ARN
    state_key: str
    state_key_policy: dict[str, Any]
    state_bucket: str
    state_bucket_policy: dict[str, Any]
    key_policies: dict[str, dict[str, Any]]  # environment -> its KMS key's policy (modules/data)


def _resources(module: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Address -> values of every resource in a `terraform show -json` module and its children."""
    found = {resource["address"]: resource["values"] for resource in module.get("resources", [])}
    for child in module.get("child_modules", []):
        found.update(_resources(child))
    return found


def rendered_from(states: dict[str, dict[str, Any]]) -> Rendered:
    resources = _resources(states["bootstrap"]["values"]["root_module"])
    environment_key = "module.stack.module.data.aws_kms_key.this"
    key_policies = {
        env: json.loads(
            _resources(states[f"environments/{env}"]["values"]["root_module"])[environment_key]["policy"]
        )
        for env in ENVIRONMENTS
    }
    inline: dict[str, list[dict[str, Any]]] = {}
    role_boundary: dict[str, str] = {}
    managed: dict[str, dict[str, Any]] = {}
    boundaries: dict[str, str] = {}
    for address, values in resources.items():
        if address.startswith("aws_iam_role_policy."):
            inline.setdefault(values["role"], []).append(json.loads(values["policy"]))
        elif address.startswith("aws_iam_role."):
            if values.get("permissions_boundary"):
                role_boundary[values["name"]] = values["permissions_boundary"]
        elif address.startswith("aws_iam_policy."):
            managed[values["arn"]] = json.loads(values["policy"])
            if address.startswith("aws_iam_policy.workload_boundary["):
                boundaries[address.split('"')[1]] = values["arn"]
    key = resources["aws_kms_key.state"]
    bucket = resources["aws_s3_bucket.state"]
    return Rendered(
        account=resources["data.aws_caller_identity.current"]["account_id"],
        inline=inline,
        role_boundary=role_boundary,
        managed=managed,
        boundaries=boundaries,
        state_key=key["arn"],
        state_key_policy=json.loads(key["policy"]),
        state_bucket=bucket["bucket"],
        state_bucket_policy=json.loads(resources["aws_s3_bucket_policy.state"]["policy"]),
        key_policies=key_policies,
    )


def names_of(rendered: Rendered) -> dict[str, str]:
    names = {
        "<account>": rendered.account,
        "<region>": REGION,
        "<state-key>": rendered.state_key,
        "<state>": rendered.state_bucket,
    }
    names.update({f"<boundary:{env}>": arn for env, arn in rendered.boundaries.items()})
    return names


# Any role an environment creates: its own policy may allow anything; the boundary is what holds.
ANYTHING = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def simulation(check: Check, rendered: Rendered) -> dict[str, Any]:
    """iam-simulate's Simulation for one check: the role's policies and the resource's policy."""
    if check.role.startswith("workload-"):
        env = check.role.removeprefix("workload-")
        role = f"orders-api-{env}-task"
        identity = [ANYTHING]
        boundary = rendered.boundaries[env]
    else:
        role = ROLE_PREFIX + check.role
        assert role in rendered.inline, f"IAM contract: no role {role} in terraform/bootstrap's state"
        identity = rendered.inline[role]
        boundary = rendered.role_boundary.get(role, "")
    request = {
        "principal": f"arn:aws:iam::{rendered.account}:role/{role}",
        "action": check.action,
        "resource": {"resource": check.resource, "accountId": rendered.account},
        "contextVariables": check.context,
    }
    found: dict[str, Any] = {
        "request": request,
        "identityPolicies": [
            {"name": f"{role}-{index}", "policy": doc} for index, doc in enumerate(identity)
        ],
    }
    if boundary:
        found["permissionBoundaryPolicies"] = [{"name": "boundary", "policy": rendered.managed[boundary]}]
    if check.resource == rendered.state_key:
        found["resourcePolicy"] = rendered.state_key_policy
    elif ":key/orders-api-" in check.resource:  # an environment's key: its key policy decides too
        found["resourcePolicy"] = rendered.key_policies[check.resource.rsplit("orders-api-", 1)[1]]
    elif check.resource.startswith(f"arn:aws:s3:::{rendered.state_bucket}"):
        found["resourcePolicy"] = rendered.state_bucket_policy
    return found


def evaluate(simulations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each simulation's decision from the engine, in order."""
    node = shutil.which("node")
    if node is None or not (ENGINE / "@cloud-copilot" / "iam-simulate").is_dir():
        reason = "NOT VERIFIED: the IAM contract needs node and the engine (run `make tools`)"
        print(reason, file=sys.__stderr__)
        pytest.skip(reason)
    result = subprocess.run(
        [node, str(EVALUATE)],
        input=json.dumps(simulations),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=os.environ | {"NODE_PATH": str(ENGINE)},
    )
    assert result.returncode == 0, f"the IAM policy engine failed:\n{result.stderr[-4000:]}"
    decisions: list[dict[str, Any]] = json.loads(result.stdout)
    return decisions


# --- the checks ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered() -> Rendered:
    return rendered_from(applied_states())


def test_every_contract_row_holds_for_the_rendered_policies(rendered: Rendered) -> None:
    checks = [check for row in contract_rows() for check in expand(row, names_of(rendered))]
    decisions = evaluate([simulation(check, rendered) for check in checks])
    broken = []
    for check, decision in zip(checks, decisions, strict=True):
        verdict = decision["decision"]
        if verdict == "Error":
            broken.append(
                f"{check.role} {check.action} on {check.resource}: the engine refused the request: "
                f"{json.dumps(decision.get('detail'))[:600]}"
            )
        elif (verdict == "Allowed") != check.row.allow:
            wanted = "allowed" if check.row.allow else "denied"
            broken.append(
                f"{check.role} must be {wanted} {check.action} on {check.resource} "
                f"(context {check.context}): the engine says {verdict} ({check.row.why})"
            )
    assert not broken, (
        f"IAM contract (docs/ci-cd.md) broken in {len(broken)} of {len(checks)} requests:\n"
        + ("\n".join(broken))
    )


def test_the_contract_covers_every_role_and_both_decisions() -> None:
    rows = contract_rows()
    roles = {row.role for row in rows}
    expected = {"ecr-push", "plan", "plan-prod", "drift", "apply-<env>", "deploy-<env>", "workload-<env>"}
    assert roles == expected, f"IAM contract: rows for {sorted(roles)}, roles {sorted(expected)}"
    for role in expected:
        decisions = {row.allow for row in rows if row.role == role}
        assert decisions == {True, False}, f"IAM contract: {role} needs a may row and a must-never row"


# --- every call the emulator apply made, as the role that makes it -----------------------------

# Which pipeline role makes a step's calls: an environment's apply role applies it (and destroys it);
# the plan right after the apply refreshes, as the drift role's daily plan does; the plan without a
# refresh is the reviewed one, which a plan role makes (plan-prod for prod, which pull requests never
# plan).
ROLE_OF_STEP = {
    "apply": "apply-{env}",
    "teardown": "apply-{env}",
    "destroy": "apply-{env}",
    "replan": "drift",
    "plan": "{plan}",
}
# Calls that no permission governs.
UNGOVERNED = {"sts:GetCallerIdentity"}
# Signing name -> IAM service prefix, where they differ.
PREFIX = {"monitoring": "cloudwatch"}
# S3 sub-resource -> the IAM action of GET, PUT and DELETE on it (S3's REST calls are named by
# method and query, and a few take another sub-resource's permission).
S3_SUBRESOURCE: dict[str, tuple[str, str, str]] = {
    "policy": ("GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"),
    "policyStatus": ("GetBucketPolicyStatus", "", ""),
    "versioning": ("GetBucketVersioning", "PutBucketVersioning", ""),
    "versions": ("ListBucketVersions", "", ""),
    "encryption": ("GetEncryptionConfiguration", "PutEncryptionConfiguration", "PutEncryptionConfiguration"),
    "lifecycle": ("GetLifecycleConfiguration", "PutLifecycleConfiguration", "PutLifecycleConfiguration"),
    "publicAccessBlock": (
        "GetBucketPublicAccessBlock",
        "PutBucketPublicAccessBlock",
        "PutBucketPublicAccessBlock",
    ),
    "ownershipControls": (
        "GetBucketOwnershipControls",
        "PutBucketOwnershipControls",
        "PutBucketOwnershipControls",
    ),
    "tagging": ("GetBucketTagging", "PutBucketTagging", "PutBucketTagging"),
    "acl": ("GetBucketAcl", "PutBucketAcl", ""),
    "cors": ("GetBucketCORS", "PutBucketCORS", "PutBucketCORS"),
    "website": ("GetBucketWebsite", "PutBucketWebsite", "DeleteBucketWebsite"),
    "logging": ("GetBucketLogging", "PutBucketLogging", ""),
    "replication": (
        "GetReplicationConfiguration",
        "PutReplicationConfiguration",
        "PutReplicationConfiguration",
    ),
    "accelerate": ("GetAccelerateConfiguration", "PutAccelerateConfiguration", ""),
    "requestPayment": ("GetBucketRequestPayment", "PutBucketRequestPayment", ""),
    "object-lock": ("GetBucketObjectLockConfiguration", "PutBucketObjectLockConfiguration", ""),
    "location": ("GetBucketLocation", "", ""),
    "notification": ("GetBucketNotification", "PutBucketNotification", ""),
}


def _header(call: dict[str, Any], name: str) -> str:
    return next((str(value) for key, value in call["headers"].items() if key.lower() == name.lower()), "")


def _body(call: dict[str, Any]) -> str:
    body = call.get("body") or ""
    if call.get("body_encoded"):
        return base64.b64decode(body).decode("utf-8", "replace")
    return str(body)


def _s3_request(method: str, path: str, query: dict[str, list[str]]) -> tuple[str, str]:
    bucket, _, key = path.lstrip("/").partition("/")
    if key:
        action = {"GET": "GetObject", "HEAD": "GetObject", "PUT": "PutObject", "DELETE": "DeleteObject"}[
            method
        ]
        return f"s3:{action}", f"arn:aws:s3:::{bucket}/{key}"
    sub = next((name for name in query if name in S3_SUBRESOURCE), "")
    if sub:
        action = S3_SUBRESOURCE[sub][("GET", "PUT", "DELETE").index(method if method != "HEAD" else "GET")]
    elif method == "POST" and "delete" in query:
        action = "DeleteObject"
    else:
        action = {"GET": "ListBucket", "HEAD": "ListBucket", "PUT": "CreateBucket", "DELETE": "DeleteBucket"}[
            method
        ]
    assert action, f"no IAM action known for S3 {method} {path}?{'&'.join(query)}"
    return f"s3:{action}", f"arn:aws:s3:::{bucket}"


def iam_request(call: dict[str, Any]) -> tuple[str, str, str]:
    """(IAM action, resource, region) of one recorded AWS request. The resource is the bucket or
    object for S3 and "*" otherwise: whether the role may make the call on any resource the
    environment's tags and names allow (the contract's rows pin the resources)."""
    scope = re.search(r"Credential=[^/]+/[0-9]+/([^/]+)/([^/]+)/aws4_request", _header(call, "Authorization"))
    assert scope, f"an unsigned request: {call['method']} {call['url']}"
    region, service = scope.groups()
    url = urlsplit(call["url"])
    query = parse_qs(url.query, keep_blank_values=True)
    if service == "s3":
        action, resource = _s3_request(call["method"], url.path, query)
        return action, resource, region
    target = _header(call, "X-Amz-Target")
    form = parse_qs(_body(call)) if "x-www-form-urlencoded" in _header(call, "Content-Type") else {}
    rpc = re.search(r"/operation/([A-Za-z]+)$", url.path)
    if target:
        operation = target.rsplit(".", 1)[-1]
    elif "Action" in form or "Action" in query:
        operation = (form.get("Action") or query["Action"])[0]
    elif rpc:
        operation = rpc.group(1)
    else:
        raise AssertionError(f"cannot name the operation of {call['method']} {call['url']} ({service})")
    action = f"{PREFIX.get(service, service)}:{operation}"
    if action in KMS_ALIAS_CALLS:  # authorized against the alias too, which carries no tags
        alias = json.loads(_body(call) or "{}").get("AliasName", "")
        return action, f"arn:aws:kms:{region}:{{account}}:{alias}", region
    return action, "*", region


KMS_ALIAS_CALLS = {"kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"}
TAGGING = re.compile(r"Tag|AddTags|RemoveTags")


def _call_context(
    call: dict[str, Any], action: str, resource: str, region: str, *, env: str, rendered: Rendered
) -> dict[str, Any]:
    """What AWS would know about the call: the region; the environment's tag on what it touches
    (default_tags put it on everything the stack creates), except where the request creates the
    resource it tags (it sends the Environment tag, and is no tagging call) or names an alias; and for
    IAM the boundary and the managed policy named."""
    context: dict[str, Any] = {"aws:SecureTransport": "true", "aws:RequestedRegion": region}
    operation = action.split(":", 1)[1]
    creates = "Environment" in _body(call) + call["url"] and not TAGGING.search(operation)
    if not creates and ":alias/" not in resource:
        context["aws:ResourceTag/Environment"] = env
    if "Environment" in _body(call) + call["url"] and not re.search(
        r"Untag|RemoveTags|DeleteTags", operation
    ):
        context["aws:RequestTag/Environment"] = env
        context["aws:TagKeys"] = ["Environment"]
    if action.startswith("iam:"):
        form = parse_qs(_body(call))
        context["iam:PermissionsBoundary"] = (form.get("PermissionsBoundary") or [rendered.boundaries[env]])[
            0
        ]
        if "PolicyArn" in form:
            context["iam:PolicyARN"] = form["PolicyArn"][0]
    return context


# The permissions AWS checks beside the call itself, implied by what the request carries.
# A role ARN in a request is passed to the service that will assume it: iam:PassRole on that role,
# with the service principal the role is passed to.
PASSED_TO = {
    "ecs": "ecs-tasks.amazonaws.com",
    "codedeploy": "codedeploy.amazonaws.com",
    "rds": "monitoring.rds.amazonaws.com",
    "ec2": "vpc-flow-logs.amazonaws.com",
}
ROLE_ARN_FIELD = re.compile(r"(RoleArn|PermissionArn)$", re.IGNORECASE)
# A creation that carries tags also needs the service's tagging action (tag on create): each of
# these services authorizes the tags of a new resource as a tagging request.
TAG_ON_CREATE = {
    "cloudwatch": "cloudwatch:TagResource",
    "codedeploy": "codedeploy:TagResource",
    "ec2": "ec2:CreateTags",
    "ecs": "ecs:TagResource",
    "elasticache": "elasticache:AddTagsToResource",
    "elasticloadbalancing": "elasticloadbalancing:AddTags",
    "kms": "kms:TagResource",
    "logs": "logs:TagResource",
    "rds": "rds:AddTagsToResource",
    "secretsmanager": "secretsmanager:TagResource",
    "sns": "sns:TagResource",
    "wafv2": "wafv2:TagResource",
}
# IAM names its tagging action after what it tags.
IAM_TAG_ON_CREATE = {"iam:CreateRole": "iam:TagRole", "iam:CreatePolicy": "iam:TagPolicy"}
# WAF logging to CloudWatch Logs: CloudWatch Logs checks the log delivery and the log groups'
# resource policy on the caller of the WAF call.
ALSO_CHECKED = {
    "wafv2:PutLoggingConfiguration": (
        "logs:CreateLogDelivery",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    ),
    "wafv2:DeleteLoggingConfiguration": ("logs:DeleteLogDelivery",),
}


def _fields(call: dict[str, Any]) -> list[tuple[str, str]]:
    """(field name, value) of every string the request body carries, JSON or form."""
    body = _body(call)
    if "x-www-form-urlencoded" in _header(call, "Content-Type"):
        return [(key, value) for key, values in parse_qs(body).items() for value in values]
    try:
        document = json.loads(body) if body.strip() else {}
    except json.JSONDecodeError:
        return []
    found: list[tuple[str, str]] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}")
                if path.lower().endswith("tags"):  # tags as a map: the key is the tag's key
                    found.append((f"{path}.{key}", str(key)))
        elif isinstance(value, list):
            for item in value:
                walk(item, path)
        elif isinstance(value, str):
            found.append((path, value))

    walk(document, "")
    return found


def implied(call: dict[str, Any], action: str, env: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(action, resource, context) of each permission the request needs besides its own action."""
    service, operation = action.split(":", 1)
    fields = _fields(call)
    found: list[tuple[str, str, dict[str, Any]]] = []
    for name, value in fields:
        if service in PASSED_TO and ROLE_ARN_FIELD.search(name) and value.startswith("arn:aws:iam::"):
            found.append(("iam:PassRole", value, {"iam:PassedToService": PASSED_TO[service]}))
    found.extend((also, "*", {}) for also in ALSO_CHECKED.get(action, ()))
    tagging = IAM_TAG_ON_CREATE.get(action) or TAG_ON_CREATE.get(service, "")
    carries_tags = any("tag" in name.lower() and value == "Environment" for name, value in fields)
    if tagging and carries_tags and not TAGGING.search(operation):
        context: dict[str, Any] = {"aws:RequestTag/Environment": env, "aws:TagKeys": ["Environment"]}
        if tagging == "ec2:CreateTags":
            context["ec2:CreateAction"] = operation
        found.append((tagging, "*", context))
    unique = {json.dumps(item, sort_keys=True): item for item in found}
    return list(unique.values())


def role_of(step: str, env: str) -> str:
    return ROLE_OF_STEP[step].format(env=env, plan="plan-prod" if env == "prod" else "plan")


@dataclass(frozen=True)
class Made:
    """One request a recorded call stands for (the call itself or a permission it implies)."""

    check: Check
    where: str


def recorded_requests(rendered: Rendered) -> list[Made]:
    """Every distinct request the emulator apply's calls stand for, as the role that makes each."""
    roots = applied_roots()
    seen: set[tuple[str, str, str, str]] = set()
    made: list[Made] = []
    for env in ENVIRONMENTS:
        root = roots[f"environments/{env}"]
        for step in ROLE_OF_STEP:
            role = role_of(step, env)
            for call in root.calls.get(step, []):
                action, resource, region = iam_request(call)
                if action in UNGOVERNED:
                    continue
                resource = resource.replace("{account}", rendered.account)
                request = f"{call['method']} {urlsplit(call['url']).path[:120]}"
                where = f"terraform/environments/{env} `{step}` calls {action}: {request}"
                context = _call_context(call, action, resource, region, env=env, rendered=rendered)
                requests = [(action, resource, context, where)]
                for needed, on, extra in implied(call, action, env):
                    base = {"aws:SecureTransport": "true", "aws:RequestedRegion": region}
                    requests.append((needed, on, base | extra, f"{where} (which needs {needed})"))
                for needed, on, needed_context, said in requests:
                    key = (role, needed, on, json.dumps(needed_context, sort_keys=True))
                    if key in seen:
                        continue
                    seen.add(key)
                    row = Row(role, True, needed, on, "", said)
                    made.append(Made(Check(row, role, needed, on, needed_context), said))
    return made


@pytest.fixture(scope="module")
def made(rendered: Rendered) -> list[Made]:
    return recorded_requests(rendered)


def test_every_call_the_emulator_apply_made_is_allowed_to_its_role(
    rendered: Rendered, made: list[Made]
) -> None:
    assert made, "the emulator apply recorded no call"
    decisions = evaluate([simulation(each.check, rendered) for each in made])
    denied = [
        f"{each.check.role} may not {each.check.action} on {each.check.resource} ({decision['decision']}, "
        f"context {each.check.context}); {each.where}"
        for each, decision in zip(made, decisions, strict=True)
        if decision["decision"] != "Allowed"
    ]
    assert not denied, f"{len(denied)} of {len(made)} calls the pipeline makes are denied to its role:\n" + (
        "\n".join(denied)
    )


def _granted(policy: dict[str, Any]) -> list[tuple[str, str]]:
    """(Sid, action or action pattern) of every Allow statement of a policy document."""
    found = []
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            found.append((statement.get("Sid", ""), action))
    return found


def test_every_action_a_role_is_granted_is_in_the_contract_or_used(
    rendered: Rendered, made: list[Made]
) -> None:
    used: dict[str, set[str]] = {}
    for row in contract_rows():
        if row.allow:
            for check in expand(row, names_of(rendered)):
                used.setdefault(check.role, set()).add(check.action.lower())
    for each in made:
        used.setdefault(each.check.role, set()).add(each.check.action.lower())
    unaccounted = []
    for name, policies in sorted(rendered.inline.items()):
        role = name.removeprefix(ROLE_PREFIX)
        for policy in policies:
            for sid, action in _granted(policy):
                if not any(fnmatchcase(wanted, action.lower()) for wanted in used.get(role, set())):
                    unaccounted.append(
                        f"{role} is granted {action} ({sid}): no row allows it, no call uses it"
                    )
    assert not unaccounted, (
        f"{len(unaccounted)} granted actions are neither in the IAM contract (docs/ci-cd.md) nor made by "
        "the emulator apply: add the row that says why, or drop the permission (terraform/bootstrap):\n"
        + "\n".join(unaccounted)
    )
