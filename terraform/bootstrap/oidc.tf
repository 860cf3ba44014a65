# GitHub Actions reach AWS only through OIDC: short-lived credentials, no stored keys. Each role
# trusts this one repository and, through the token's `sub` claim, only the workflow context that
# needs it (docs/ci-cd.md, "OIDC trust"):
#   orders-api-github-ecr-push          push to main
#   orders-api-github-plan              pull requests and main (metadata, dev's and staging's state; -refresh=false)
#   orders-api-github-plan-prod         main (metadata and prod's state; -refresh=false)
#   orders-api-github-drift             main (the scheduled drift plan: refreshes, so reads secret versions)
#   orders-api-github-apply-<env>       jobs in the GitHub environment of <env> (production: reviewers)
#   orders-api-github-deploy-<env>      jobs in the GitHub environment of <env>

locals {
  oidc_host    = "token.actions.githubusercontent.com"
  oidc_arn     = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : data.aws_iam_openid_connect_provider.github[0].arn
  repo_subject = "repo:${var.github_repository}"
}

resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 1 : 0

  url            = "https://${local.oidc_host}"
  client_id_list = ["sts.amazonaws.com"]
  # No thumbprint_list: AWS validates GitHub's certificate against its own trusted CAs.
}

data "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 0 : 1

  url = "https://${local.oidc_host}"
}

# One trust policy shape for every role; only the allowed subjects differ.
data "aws_iam_policy_document" "github_trust" {
  for_each = merge(
    { ecr-push = ["${local.repo_subject}:ref:refs/heads/main"] },
    { plan = ["${local.repo_subject}:pull_request", "${local.repo_subject}:ref:refs/heads/main"] },
    { drift = ["${local.repo_subject}:ref:refs/heads/main"] },
    { plan-prod = ["${local.repo_subject}:ref:refs/heads/main"] },
    { for env, gh_env in var.environments : "apply-${env}" => ["${local.repo_subject}:environment:${gh_env}"] },
    { for env in var.deploy_environments : "deploy-${env}" => ["${local.repo_subject}:environment:${var.environments[env]}"] },
  )

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.oidc_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals" # exact match: no wildcards in the subject
      variable = "${local.oidc_host}:sub"
      values   = each.value
    }
  }
}
