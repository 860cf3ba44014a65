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

# --- Plan and drift: read-only ---
#
# A pull request's workflow can be edited by the pull request itself, so the role it may assume
# (plan) reads metadata and the states of dev and staging only: no secret value, no key but the
# state's, and not prod's state, which holds prod's Redis AUTH token (plan-prod reads it). Plans run
# with -refresh=false, because refreshing an aws_secretsmanager_secret_version calls GetSecretValue
# even for write-only values. The drift role (main only, on a schedule) refreshes, so it may read
# this service's secrets; its plans are never saved or uploaded.

locals {
  # The environments a pull request's plan reads the state of: all but prod (see plan_prod).
  pull_request_plans = [for env in keys(var.environments) : env if env != "prod"]

  # What the environments' data sources read: the image repository. A plan without a refresh reads
  # the data sources and no resource, so this is all the plan roles read besides the state.
  read_the_data_sources = ["ecr:DescribeRepositories", "ecr:DescribeImages", "ecr:ListTagsForResource"]

  # Describe/List/Get calls Terraform makes to refresh the data sources and resources of
  # terraform/environments. These actions have no resource-level permissions (hence "*"); none of
  # them returns a secret value.
  read_the_stacks = [
    "ecr:DescribeRepositories", "ecr:DescribeImages", "ecr:ListTagsForResource",
    "ec2:Describe*", "ecs:Describe*", "elasticloadbalancing:Describe*",
    "rds:Describe*", "rds:ListTagsForResource", "elasticache:Describe*", "elasticache:ListTagsForResource",
    "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListResourceTags",
    "logs:Describe*", "logs:ListTagsForResource",
    "cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource",
    "application-autoscaling:Describe*", "application-autoscaling:ListTagsForResource",
    "codedeploy:Get*", "codedeploy:List*",
    "sns:GetTopicAttributes", "sns:GetSubscriptionAttributes", "sns:ListSubscriptionsByTopic", "sns:ListTagsForResource",
    "wafv2:GetWebACL", "wafv2:GetWebACLForResource", "wafv2:GetLoggingConfiguration", "wafv2:ListTagsForResource",
    "iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
    "secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy",
    "s3:GetBucket*", "s3:GetEncryptionConfiguration", "s3:GetLifecycleConfiguration", "s3:GetAccelerateConfiguration",
    "s3:GetReplicationConfiguration",
  ]
}

resource "aws_iam_role" "plan" {
  name                 = "orders-api-github-plan"
  description          = "GitHub Actions on pull requests and main: terraform plan -refresh=false (metadata and state only)"
  assume_role_policy   = data.aws_iam_policy_document.github_trust["plan"].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "plan" {
  #checkov:skip=CKV_AWS_356:Only Describe/List/Get actions use "*"; they have no resource-level permissions. The state is scoped below.
  statement {
    sid       = "ReadTheDataSources"
    actions   = local.read_the_data_sources
    resources = ["*"]
  }

  statement {
    sid       = "ReadState"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.state.arn]
  }

  # Every environment's state holds its Redis AUTH token (modules/data/cache.tf: ElastiCache has no
  # write-only token argument), so this role, which pull requests assume, reads the states of
  # local.pull_request_plans only (all but prod); prod's state is read by plan-prod.
  statement {
    sid       = "ReadStateObjects"
    actions   = ["s3:GetObject"]
    resources = [for env in local.pull_request_plans : "${aws_s3_bucket.state.arn}/orders-api/${env}/*"]
  }

  statement {
    sid       = "DecryptTheStateOnly"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.state.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "plan" {
  name   = "plan-orders-api"
  role   = aws_iam_role.plan.id
  policy = data.aws_iam_policy_document.plan.json
}

# Prod is planned on main only, by a role no pull request can assume: the same reads, and prod's state.
resource "aws_iam_role" "plan_prod" {
  count = contains(keys(var.environments), "prod") ? 1 : 0

  name                 = "orders-api-github-plan-prod"
  description          = "GitHub Actions on main: terraform plan -refresh=false of prod (metadata and prod's state)"
  assume_role_policy   = data.aws_iam_policy_document.github_trust["plan-prod"].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "plan_prod" {
  source_policy_documents = [data.aws_iam_policy_document.plan.json]

  statement {
    sid       = "ReadProdState"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.state.arn}/orders-api/prod/*"]
  }
}

resource "aws_iam_role_policy" "plan_prod" {
  count = length(aws_iam_role.plan_prod)

  name   = "plan-prod-orders-api"
  role   = aws_iam_role.plan_prod[0].id
  policy = data.aws_iam_policy_document.plan_prod.json
}

resource "aws_iam_role" "drift" {
  name                 = "orders-api-github-drift"
  description          = "GitHub Actions on main (scheduled): terraform plan with refresh, never saved"
  assume_role_policy   = data.aws_iam_policy_document.github_trust["drift"].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "drift" {
  #checkov:skip=CKV_AWS_356:Only Describe/List/Get actions and kms:Decrypt through Secrets Manager or S3 use "*"; secrets and state are scoped.
  #checkov:skip=CKV_AWS_111:No write action here: kms:Decrypt is limited to calls made through Secrets Manager and S3.
  source_policy_documents = [data.aws_iam_policy_document.plan.json]

  statement {
    sid       = "RefreshReadsTheStacks"
    actions   = local.read_the_stacks
    resources = ["*"]
  }

  statement {
    sid       = "ReadEveryState"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.state.arn}/orders-api/*"]
  }

  statement {
    sid       = "RefreshReadsTheAlbLogBuckets"
    actions   = ["s3:ListBucket"]
    resources = [for env in keys(var.environments) : "arn:${local.partition}:s3:::orders-api-${env}-alb-logs-${local.account_id}"]
  }

  statement {
    sid       = "RefreshReadsTheSecretVersions"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["${local.arn_prefix.secrets}:orders-api/*"]
  }

  statement {
    sid       = "DecryptTheSecretsThroughSecretsManager"
    actions   = ["kms:Decrypt"]
    resources = ["*"] # the per-environment keys, created later by the environments
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "drift" {
  name   = "drift-orders-api"
  role   = aws_iam_role.drift.id
  policy = data.aws_iam_policy_document.drift.json
}

# --- Apply: one role per environment, only from that GitHub environment ---
#
# Each apply role acts on its own environment only:
# - reads are service-wide (no resource-level permissions) and region-bound;
# - creations must carry the tag Environment = <env> (the roots' default_tags send it);
# - every other action needs the resource to carry that tag already, or a name of the
#   environment's (orders-api-<env>-..., orders-api/<env>/...);
# - roles it creates or changes carry the environment's permissions boundary, and it passes only
#   the environment's own roles, to the services that use them.

locals {
  # Create calls; each carries the Environment tag (tag on create).
  create_actions = [
    "ec2:CreateVpc", "ec2:CreateSubnet", "ec2:CreateRouteTable", "ec2:CreateInternetGateway",
    "ec2:CreateNatGateway", "ec2:AllocateAddress", "ec2:CreateSecurityGroup", "ec2:CreateFlowLogs",
    "ec2:CreateVpcEndpoint", "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress", "ec2:CreateTags",
    "elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup",
    "elasticloadbalancing:CreateListener", "elasticloadbalancing:AddTags",
    "ecs:CreateCluster", "ecs:CreateService", "ecs:TagResource",
    "rds:CreateDBInstance", "rds:CreateDBSubnetGroup", "rds:CreateDBParameterGroup", "rds:AddTagsToResource",
    "elasticache:CreateReplicationGroup", "elasticache:CreateCacheSubnetGroup", "elasticache:AddTagsToResource",
    "kms:CreateKey", "kms:TagResource", "logs:CreateLogGroup", "logs:TagResource",
    "cloudwatch:PutMetricAlarm", "cloudwatch:TagResource", "sns:CreateTopic", "sns:TagResource",
    "wafv2:CreateWebACL", "wafv2:TagResource",
    "application-autoscaling:RegisterScalableTarget", "application-autoscaling:TagResource",
  ]

  # Tagging: allowed by the statements above (a new resource's tags, or a resource of this
  # environment), and held to the environment by the Deny statements of the apply policy.
  tag_actions = [
    "ec2:CreateTags", "elasticloadbalancing:AddTags", "ecs:TagResource", "rds:AddTagsToResource",
    "elasticache:AddTagsToResource", "kms:TagResource", "logs:TagResource", "logs:TagLogGroup",
    "cloudwatch:TagResource", "sns:TagResource", "wafv2:TagResource", "application-autoscaling:TagResource",
    "codedeploy:TagResource", "secretsmanager:TagResource", "iam:TagRole",
  ]
  untag_actions = [
    "ec2:DeleteTags", "elasticloadbalancing:RemoveTags", "ecs:UntagResource", "rds:RemoveTagsFromResource",
    "elasticache:RemoveTagsFromResource", "kms:UntagResource", "logs:UntagResource", "logs:UntagLogGroup",
    "cloudwatch:UntagResource", "sns:UntagResource", "wafv2:UntagResource", "application-autoscaling:UntagResource",
    "codedeploy:UntagResource", "secretsmanager:UntagResource", "iam:UntagRole",
  ]
}

resource "aws_iam_role" "apply" {
  for_each = var.environments

  name                 = "orders-api-github-apply-${each.key}"
  description          = "GitHub Actions in the ${each.value} environment: terraform apply of ${each.key}"
  assume_role_policy   = data.aws_iam_policy_document.github_trust["apply-${each.key}"].json
  max_session_duration = 3600
}

# The most any role an environment creates may ever do (the task execution role, the flow-log,
# RDS monitoring and CodeDeploy roles): an apply role can create roles only with this boundary,
# so it cannot mint a role with more than its environment needs.
#trivy:ignore:AVD-AWS-0342 The boundary lets CodeDeploy pass only this environment's roles, and only to ECS tasks.
data "aws_iam_policy_document" "workload_boundary" {
  for_each = var.environments

  #checkov:skip=CKV_AWS_356:The boundary caps what roles may do; "*" appears only for reads without resource-level permissions and for ECR login.
  #checkov:skip=CKV_AWS_111:The boundary grants nothing by itself; its writes are those of AWSCodeDeployRoleForECS on this environment's ECS and ALB.
  #checkov:skip=CKV_AWS_109:The boundary grants nothing by itself; it caps the environment's roles.
  statement {
    sid = "ReadsWithoutResourceLevelPermissions"
    actions = [
      "ecr:GetAuthorizationToken", "ecs:DescribeServices", "elasticloadbalancing:DescribeTargetGroups",
      "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeRules", "cloudwatch:DescribeAlarms",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "PullTheImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = [aws_ecr_repository.orders_api.arn]
  }

  statement {
    sid = "WriteTheEnvironmentsLogs"
    actions = [
      "logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:CreateLogStream", "logs:PutLogEvents",
      "logs:DescribeLogStreams", "logs:GetLogEvents",
    ]
    resources = [
      "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/ecs/orders-api-${each.key}:*",
      "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/vpc/orders-api-${each.key}/*",
      "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:RDS*", # RDS enhanced monitoring
    ]
  }

  statement {
    sid       = "ReadTheEnvironmentsSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["${local.arn_prefix.secrets}:orders-api/${each.key}/*"]
  }

  statement {
    sid       = "DecryptThroughSecretsManager"
    actions   = ["kms:Decrypt"]
    resources = ["arn:${local.partition}:kms:${var.region}:${local.account_id}:key/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Environment"
      values   = [each.key]
    }
  }

  statement {
    sid = "CodeDeployShiftsTheEnvironmentsTraffic"
    actions = [
      "ecs:CreateTaskSet", "ecs:DeleteTaskSet", "ecs:UpdateServicePrimaryTaskSet",
      "elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule", "sns:Publish",
    ]
    resources = [
      "${local.arn_prefix.ecs}:service/orders-api-${each.key}/*",
      "${local.arn_prefix.ecs}:task-set/orders-api-${each.key}/*",
      "arn:${local.partition}:elasticloadbalancing:${var.region}:${local.account_id}:listener/app/orders-api-${each.key}/*",
      "arn:${local.partition}:elasticloadbalancing:${var.region}:${local.account_id}:listener-rule/app/orders-api-${each.key}/*",
      "arn:${local.partition}:sns:${var.region}:${local.account_id}:orders-api-${each.key}-*",
    ]
  }

  statement {
    sid       = "CodeDeployPassesTheTaskRoles"
    actions   = ["iam:PassRole"]
    resources = ["${local.arn_prefix.iam}:role/orders-api-${each.key}-*"]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_policy" "workload_boundary" {
  for_each = var.environments

  name        = "orders-api-${each.key}-workload-boundary"
  description = "Permissions boundary of every role the ${each.key} environment creates"
  policy      = data.aws_iam_policy_document.workload_boundary[each.key].json
}

#trivy:ignore:AVD-AWS-0342 PassRole is limited to this environment's roles and the four services that take them.
#trivy:ignore:AVD-AWS-0345 s3:* applies only to this environment's ALB log bucket, by name; the state is scoped separately.
data "aws_iam_policy_document" "apply" {
  for_each = var.environments

  #checkov:skip=CKV_AWS_356:"*" only with Describe/List/Get reads, with creations that must carry this environment's tag, and with changes to resources that carry it.
  #checkov:skip=CKV_AWS_111:Writes on "*" are conditioned on this environment's tag (aws:RequestTag or aws:ResourceTag).
  #checkov:skip=CKV_AWS_109:Key policy changes are limited to keys tagged with this environment.
  #checkov:skip=CKV_AWS_107:No credentials are exposed: secrets are scoped to orders-api/<env>/.
  statement {
    sid       = "ReadTheStacks"
    actions   = local.read_the_stacks
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.region, "us-east-1"] # IAM and STS answer in us-east-1
    }
  }

  statement {
    sid       = "CreateOnlyWithThisEnvironmentsTag"
    actions   = local.create_actions
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/Environment"
      values   = [each.key]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.region]
    }
  }

  statement {
    sid = "ChangeOnlyThisEnvironmentsResources"
    # The services whose resources the stack creates with generated IDs: scoped by tag, not name.
    actions = [
      "ec2:*", "elasticloadbalancing:*", "ecs:*", "rds:*", "elasticache:*", "kms:*", "logs:*",
      "cloudwatch:*", "application-autoscaling:*", "sns:*", "wafv2:*",
    ]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Environment"
      values   = [each.key]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.region]
    }
  }

  statement {
    sid       = "ThisEnvironmentsTaskDefinitions"
    actions   = ["ecs:RegisterTaskDefinition"]
    resources = ["${local.arn_prefix.ecs}:task-definition/orders-api-${each.key}:*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/Environment"
      values   = [each.key]
    }
  }

  # Alias calls are authorized against the alias and the key, and neither half takes a tag
  # condition: the alias by name, the key any in the region. Pointing an alias of this environment's
  # at another key grants nothing: using a key is still held by the key's tag.
  statement {
    sid     = "ThisEnvironmentsKeyAliases"
    actions = ["kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"]
    resources = [
      "arn:${local.partition}:kms:${var.region}:${local.account_id}:alias/orders-api-${each.key}*",
      "arn:${local.partition}:kms:${var.region}:${local.account_id}:key/*",
    ]
  }

  # WAF logging to CloudWatch Logs: these calls have no resource-level permissions. PutResourcePolicy
  # writes the account's log-delivery policy; the log groups it names are the environment's own.
  statement {
    sid = "WafLogDelivery"
    actions = [
      "logs:CreateLogDelivery", "logs:DeleteLogDelivery", "logs:UpdateLogDelivery", "logs:GetLogDelivery",
      "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
    ]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.region]
    }
  }

  # The Deny statements win over every Allow above: whatever the environment may change, it never
  # tags another environment's resource, never gives a resource another environment's tag, never
  # removes the Environment tag, and registers task definitions in its own family only.
  statement {
    sid       = "NeverTagAnotherEnvironmentsResources"
    effect    = "Deny"
    actions   = concat(local.tag_actions, local.untag_actions)
    resources = ["*"]
    condition {
      test     = "Null"
      variable = "aws:ResourceTag/Environment"
      values   = ["false"]
    }
    condition {
      test     = "StringNotEquals"
      variable = "aws:ResourceTag/Environment"
      values   = [each.key]
    }
  }

  statement {
    sid       = "NeverSetAnotherEnvironmentsTag"
    effect    = "Deny"
    actions   = local.tag_actions
    resources = ["*"]
    condition {
      test     = "Null"
      variable = "aws:RequestTag/Environment"
      values   = ["false"]
    }
    condition {
      test     = "StringNotEquals"
      variable = "aws:RequestTag/Environment"
      values   = [each.key]
    }
  }

  statement {
    sid       = "NeverRemoveTheEnvironmentTag"
    effect    = "Deny"
    actions   = local.untag_actions
    resources = ["*"]
    condition {
      test     = "ForAnyValue:StringEquals"
      variable = "aws:TagKeys"
      values   = ["Environment"]
    }
  }

  statement {
    sid           = "NeverRegisterIntoAnotherFamily"
    effect        = "Deny"
    actions       = ["ecs:RegisterTaskDefinition"]
    not_resources = ["${local.arn_prefix.ecs}:task-definition/orders-api-${each.key}:*"]
  }

  statement {
    sid       = "ThisEnvironmentsSecrets"
    actions   = ["secretsmanager:*"]
    resources = ["${local.arn_prefix.secrets}:orders-api/${each.key}/*"]
  }

  statement {
    sid     = "ThisEnvironmentsAlbLogBucket"
    actions = ["s3:*"]
    resources = [
      "arn:${local.partition}:s3:::orders-api-${each.key}-alb-logs-${local.account_id}",
      "arn:${local.partition}:s3:::orders-api-${each.key}-alb-logs-${local.account_id}/*",
    ]
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
    actions = [
      "iam:GetRole", "iam:UpdateRole", "iam:UpdateAssumeRolePolicy", "iam:DeleteRole",
      "iam:TagRole", "iam:UntagRole", "iam:GetRolePolicy",
      "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole",
    ]
    resources = ["${local.arn_prefix.iam}:role/orders-api-${each.key}-*"]
  }

  statement {
    sid = "RolesOnlyWithThisEnvironmentsBoundary"
    # Creating a role and changing what it may do both require the environment's boundary on it.
    actions   = ["iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary"]
    resources = ["${local.arn_prefix.iam}:role/orders-api-${each.key}-*"]
    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [aws_iam_policy.workload_boundary[each.key].arn]
    }
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
    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [aws_iam_policy.workload_boundary[each.key].arn]
    }
  }

  statement {
    sid       = "PassOnlyThisEnvironmentsRoles"
    actions   = ["iam:PassRole"]
    resources = ["${local.arn_prefix.iam}:role/orders-api-${each.key}-*"]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values = [
        "ecs-tasks.amazonaws.com", "vpc-flow-logs.amazonaws.com", "monitoring.rds.amazonaws.com",
        "codedeploy.amazonaws.com",
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

  statement {
    sid       = "UseTheStateKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.state.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
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

  #checkov:skip=CKV_AWS_111:The one write on "*" is codedeploy:StopDeployment, which has no resource-level permissions.
  #checkov:skip=CKV_AWS_356:"*" only for ecs:DescribeTaskDefinition and codedeploy:StopDeployment, which have no resource-level permissions.

  statement {
    sid       = "ReadTaskDefinitions"
    actions   = ["ecs:DescribeTaskDefinition"]
    resources = ["*"] # no resource-level permissions for this action
  }

  # Registration names its family: a revision in another environment's family would be that
  # environment's next base (.github/scripts/ecs-capture.sh).
  statement {
    sid       = "RegisterInThisEnvironmentsFamily"
    actions   = ["ecs:RegisterTaskDefinition"]
    resources = ["${local.arn_prefix.ecs}:task-definition/orders-api-${each.key}:*"]
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
      "codedeploy:ListDeployments",
    ]
    resources = ["${local.arn_prefix.codedeploy}:deploymentgroup:orders-api-${each.key}/orders-api-${each.key}"]
  }

  # The rollback stops a deployment in progress. StopDeployment has no resource-level permissions:
  # named on the deployment group, it would never be allowed.
  statement {
    sid       = "StopADeployment"
    actions   = ["codedeploy:StopDeployment"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.region]
    }
  }

  statement {
    sid       = "CodeDeployRevisions"
    actions   = ["codedeploy:RegisterApplicationRevision"]
    resources = ["${local.arn_prefix.codedeploy}:application:orders-api-${each.key}"]
  }

  statement {
    sid       = "CodeDeployConfigs"
    actions   = ["codedeploy:GetDeploymentConfig"]
    resources = ["${local.arn_prefix.codedeploy}:deploymentconfig:*"]
  }

  # The release record: each deploy and rollback adds a version, and rollback reads their history
  # to find the previously deployed digest (.github/scripts/record-release.sh, previous-release.sh).
  statement {
    sid       = "TheReleaseRecord"
    actions   = ["ssm:GetParameterHistory", "ssm:PutParameter"]
    resources = ["arn:${local.partition}:ssm:${var.region}:${local.account_id}:parameter/orders-api/${each.key}/release"]
  }
}

resource "aws_iam_role_policy" "deploy" {
  for_each = toset(var.deploy_environments)

  name   = "deploy-orders-api-${each.key}"
  role   = aws_iam_role.deploy[each.key].id
  policy = data.aws_iam_policy_document.deploy[each.key].json
}
