# The pipeline's roles and what each may do. Names are contracts (docs/architecture.md, Deploy names).

locals {
  arn_prefix = {
    ecs        = "arn:${local.partition}:ecs:${var.region}:${local.account_id}"
    codedeploy = "arn:${local.partition}:codedeploy:${var.region}:${local.account_id}"
    secrets    = "arn:${local.partition}:secretsmanager:${var.region}:${local.account_id}:secret"
    iam        = "arn:${local.partition}:iam::${local.account_id}"
  }
}

# --- Image push: main only, this repository only ---

resource "aws_iam_role" "ecr_push" {
  name                 = "orders-api-github-ecr-push"
  description          = "GitHub Actions on main: push orders-api images"
  assume_role_policy   = data.aws_iam_policy_document.github_trust["ecr-push"].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "ecr_push" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # no resource-level permissions for this action
  }

  statement {
    sid = "PushThisRepository"
    actions = [
      "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
      "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
    ]
    resources = [aws_ecr_repository.orders_api.arn]
  }
}

resource "aws_iam_role_policy" "ecr_push" {
  name   = "push-orders-api"
  role   = aws_iam_role.ecr_push.id
  policy = data.aws_iam_policy_document.ecr_push.json
}

# --- Plan: read-only on the stacks and the state; no lock writes (plans run with -lock=false) ---

resource "aws_iam_role" "plan" {
  name                 = "orders-api-github-plan"
  description          = "GitHub Actions on pull requests and main: terraform plan (read-only)"
  assume_role_policy   = data.aws_iam_policy_document.github_trust["plan"].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "plan" {
  #checkov:skip=CKV_AWS_356:Only Describe/List/Get actions use "*"; they have no resource-level permissions. Secrets and state are scoped below.
  statement {
    sid = "ReadTheStacks"
    # Describe/List/Get calls Terraform's refresh makes for the resources in terraform/. These
    # actions have no resource-level permissions, hence "*"; none of them reads data or secrets.
    actions = [
      "ec2:Describe*", "ecs:Describe*", "ecs:List*", "elasticloadbalancing:Describe*",
      "rds:Describe*", "rds:ListTagsForResource", "elasticache:Describe*", "elasticache:ListTagsForResource",
      "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListResourceTags",
      "logs:Describe*", "logs:ListTagsForResource", "logs:ListTagsLogGroup",
      "cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource",
      "application-autoscaling:Describe*", "application-autoscaling:ListTagsForResource",
      "codedeploy:Get*", "codedeploy:BatchGet*", "codedeploy:List*",
      "iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
      "iam:ListRoleTags", "iam:GetOpenIDConnectProvider", "iam:ListOpenIDConnectProviders", "iam:GetPolicy", "iam:GetPolicyVersion",
      "secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy", "secretsmanager:ListSecretVersionIds",
      "ecr:DescribeRepositories", "ecr:GetLifecyclePolicy", "ecr:GetRepositoryPolicy", "ecr:ListTagsForResource",
      "wafv2:GetWebACLForResource",
      "s3:GetBucket*", "s3:GetEncryptionConfiguration", "s3:GetLifecycleConfiguration", "s3:GetAccelerateConfiguration",
      "s3:GetReplicationConfiguration", "s3:ListAllMyBuckets",
    ]
    resources = ["*"]
  }

  statement {
    sid = "ReadSecretVersionsOfTheseStacks"
    # Refreshing aws_secretsmanager_secret_version reads the value (the REDIS_URL secret is the only
    # non-write-only one); limited to this service's secrets.
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["${local.arn_prefix.secrets}:orders-api/*"]
  }

  statement {
    sid       = "ReadState"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.state.arn]
  }

  statement {
    sid       = "ReadStateObjects"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.state.arn}/orders-api/*"]
  }

  statement {
    sid       = "DecryptStateAndSecrets"
    actions   = ["kms:Decrypt"]
    resources = ["*"] # the state key and the per-environment keys (created later, by the environments)
    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com", "secretsmanager.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "plan" {
  name   = "plan-orders-api"
  role   = aws_iam_role.plan.id
  policy = data.aws_iam_policy_document.plan.json
}

# --- Apply: one role per environment, only from that GitHub environment ---

resource "aws_iam_role" "apply" {
  for_each = var.environments

  name                 = "orders-api-github-apply-${each.key}"
  description          = "GitHub Actions in the ${each.value} environment: terraform apply of ${each.key}"
  assume_role_policy   = data.aws_iam_policy_document.github_trust["apply-${each.key}"].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "apply" {
  for_each = var.environments

  statement {
    sid = "ManageTheServicesTheStackUses"
    # The stack creates VPCs, load balancers, ECS, RDS, ElastiCache, keys, logs, alarms and scaling
    # policies with generated IDs, so these are per-service, in this region only.
    actions = [
      "ec2:*", "elasticloadbalancing:*", "ecs:*", "rds:*", "elasticache:*", "kms:*", "logs:*",
      "cloudwatch:*", "application-autoscaling:*", "ecr:Describe*", "ecr:ListTagsForResource",
      "wafv2:AssociateWebACL", "wafv2:DisassociateWebACL", "wafv2:GetWebACLForResource",
    ]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.region]
    }
  }

  statement {
    sid       = "ThisEnvironmentsSecrets"
    actions   = ["secretsmanager:*"]
    resources = ["${local.arn_prefix.secrets}:orders-api/${each.key}/*"]
  }

  statement {
    sid     = "ThisEnvironmentsCodeDeploy"
    actions = ["codedeploy:*"]
    resources = [
      "${local.arn_prefix.codedeploy}:application:orders-api-${each.key}",
      "${local.arn_prefix.codedeploy}:deploymentgroup:orders-api-${each.key}/*",
      "${local.arn_prefix.codedeploy}:deploymentconfig:orders-api-${each.key}-*",
    ]
  }

  statement {
    sid = "ThisEnvironmentsRoles"
    # Only roles named orders-api-<env>-*. A permissions boundary would stop an apply role from
    # granting those roles more than it has; see terraform/README.md, "Limits".
    actions = [
      "iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:UpdateRole", "iam:UpdateAssumeRolePolicy",
      "iam:TagRole", "iam:UntagRole", "iam:ListRoleTags", "iam:PutRolePolicy", "iam:GetRolePolicy",
      "iam:DeleteRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole",
      "iam:PassRole",
    ]
    resources = ["${local.arn_prefix.iam}:role/orders-api-${each.key}-*"]
  }

  statement {
    sid       = "AttachOnlyTheManagedPoliciesTheStackUses"
    actions   = ["iam:AttachRolePolicy", "iam:DetachRolePolicy"]
    resources = ["${local.arn_prefix.iam}:role/orders-api-${each.key}-*"]
    condition {
      test     = "ArnEquals"
      variable = "iam:PolicyARN"
      values = [
        "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
        "arn:${local.partition}:iam::aws:policy/AWSCodeDeployRoleForECS",
      ]
    }
  }

  statement {
    sid       = "ServiceLinkedRoles"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["${local.arn_prefix.iam}:role/aws-service-role/*"]
    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values = [
        "ecs.amazonaws.com", "elasticloadbalancing.amazonaws.com", "rds.amazonaws.com",
        "elasticache.amazonaws.com", "ecs.application-autoscaling.amazonaws.com",
      ]
    }
  }

  statement {
    sid       = "ReadTheState"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.state.arn]
  }

  statement {
    sid       = "WriteThisEnvironmentsStateAndLock"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.state.arn}/orders-api/${each.key}/*"]
  }
}

resource "aws_iam_role_policy" "apply" {
  for_each = var.environments

  name   = "apply-orders-api-${each.key}"
  role   = aws_iam_role.apply[each.key].id
  policy = data.aws_iam_policy_document.apply[each.key].json
}

# --- Deploy: register a revision, run the migration, move the service (or start CodeDeploy) ---

resource "aws_iam_role" "deploy" {
  for_each = toset(var.deploy_environments)

  name                 = "orders-api-github-deploy-${each.key}"
  description          = "GitHub Actions in the ${var.environments[each.key]} environment: deploy orders-api to ${each.key}"
  assume_role_policy   = data.aws_iam_policy_document.github_trust["deploy-${each.key}"].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "deploy" {
  for_each = toset(var.deploy_environments)

  statement {
    sid       = "TaskDefinitions"
    actions   = ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition", "ecs:ListTaskDefinitions"]
    resources = ["*"] # these actions take no resource-level permissions
  }

  statement {
    sid       = "TheService"
    actions   = ["ecs:DescribeServices", "ecs:UpdateService"]
    resources = ["${local.arn_prefix.ecs}:service/orders-api-${each.key}/orders-api"]
  }

  statement {
    sid       = "TheMigrationTask"
    actions   = ["ecs:RunTask"]
    resources = ["${local.arn_prefix.ecs}:task-definition/orders-api-${each.key}:*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = ["${local.arn_prefix.ecs}:cluster/orders-api-${each.key}"]
    }
  }

  statement {
    sid       = "WatchAndStopTasks"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = ["${local.arn_prefix.ecs}:task/orders-api-${each.key}/*"]
  }

  statement {
    sid       = "PassTheTaskRoles"
    actions   = ["iam:PassRole"]
    resources = ["${local.arn_prefix.iam}:role/orders-api-${each.key}-task", "${local.arn_prefix.iam}:role/orders-api-${each.key}-execution"]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid = "CodeDeployDeployments"
    actions = [
      "codedeploy:CreateDeployment", "codedeploy:GetDeployment", "codedeploy:GetDeploymentGroup",
      "codedeploy:StopDeployment", "codedeploy:ContinueDeployment",
    ]
    resources = ["${local.arn_prefix.codedeploy}:deploymentgroup:orders-api-${each.key}/orders-api-${each.key}"]
  }

  statement {
    sid       = "CodeDeployRevisions"
    actions   = ["codedeploy:RegisterApplicationRevision", "codedeploy:GetApplicationRevision"]
    resources = ["${local.arn_prefix.codedeploy}:application:orders-api-${each.key}"]
  }

  statement {
    sid       = "CodeDeployConfigs"
    actions   = ["codedeploy:GetDeploymentConfig"]
    resources = ["${local.arn_prefix.codedeploy}:deploymentconfig:*"]
  }
}

resource "aws_iam_role_policy" "deploy" {
  for_each = toset(var.deploy_environments)

  name   = "deploy-orders-api-${each.key}"
  role   = aws_iam_role.deploy[each.key].id
  policy = data.aws_iam_policy_document.deploy[each.key].json
}
