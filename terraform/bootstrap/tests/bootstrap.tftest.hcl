# The one-time account setup under a mocked AWS provider: the state bucket's protections, the
# image repository's rules, and OIDC trust bound to this repository and its environments.

mock_provider "aws" {
  source = "../tests/mocks"
}

variables {
  github_repository = "example-org/orders-api"
}

run "state_bucket_is_versioned_encrypted_private_and_tls_only" {
  command = apply

  assert {
    condition     = aws_s3_bucket_versioning.state.versioning_configuration[0].status == "Enabled"
    error_message = "T1: the state bucket must be versioned."
  }
  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.state.rule).apply_server_side_encryption_by_default).sse_algorithm == "aws:kms"
    error_message = "T1: the state must be encrypted with KMS."
  }
  assert {
    condition     = aws_s3_bucket_public_access_block.state.block_public_acls && aws_s3_bucket_public_access_block.state.block_public_policy && aws_s3_bucket_public_access_block.state.ignore_public_acls && aws_s3_bucket_public_access_block.state.restrict_public_buckets
    error_message = "T1: all public access to the state bucket must be blocked."
  }
  assert {
    condition     = anytrue([for s in data.aws_iam_policy_document.state_bucket.statement : s.effect == "Deny" && anytrue([for c in s.condition : c.variable == "aws:SecureTransport" && contains(c.values, "false")])])
    error_message = "T1: the bucket policy must deny requests without TLS."
  }
}

run "ecr_tags_are_immutable_and_scanned" {
  command = apply

  assert {
    condition     = aws_ecr_repository.orders_api.name == "orders-api" && aws_ecr_repository.orders_api.image_tag_mutability == "IMMUTABLE"
    error_message = "D4: the orders-api repository must have immutable tags."
  }
  assert {
    condition     = aws_ecr_repository.orders_api.image_scanning_configuration[0].scan_on_push
    error_message = "D7: images must be scanned on push."
  }
}

run "oidc_roles_trust_only_this_repository_and_context" {
  command = apply

  assert {
    condition     = aws_iam_role.ecr_push.name == "orders-api-github-ecr-push" && aws_iam_role.plan.name == "orders-api-github-plan" && aws_iam_role.apply["prod"].name == "orders-api-github-apply-prod" && aws_iam_role.deploy["prod"].name == "orders-api-github-deploy-prod"
    error_message = "Deploy names: the OIDC role names are contracts (docs/architecture.md)."
  }
  assert {
    condition     = toset(flatten([for c in one(data.aws_iam_policy_document.github_trust["apply-prod"].statement).condition : c.values if c.variable == "token.actions.githubusercontent.com:sub"])) == toset(["repo:example-org/orders-api:environment:production"])
    error_message = "C7: the prod apply role must trust only jobs in the protected production environment."
  }
  assert {
    condition     = toset(flatten([for c in one(data.aws_iam_policy_document.github_trust["deploy-staging"].statement).condition : c.values if c.variable == "token.actions.githubusercontent.com:sub"])) == toset(["repo:example-org/orders-api:environment:staging"])
    error_message = "C9: the staging deploy role must trust only jobs in the staging environment."
  }
  assert {
    condition     = toset(flatten([for c in one(data.aws_iam_policy_document.github_trust["ecr-push"].statement).condition : c.values if c.variable == "token.actions.githubusercontent.com:sub"])) == toset(["repo:example-org/orders-api:ref:refs/heads/main"])
    error_message = "C5: only main may push images."
  }
  assert {
    condition     = toset(flatten([for c in one(data.aws_iam_policy_document.github_trust["plan"].statement).condition : c.values if c.variable == "token.actions.githubusercontent.com:sub"])) == toset(["repo:example-org/orders-api:pull_request", "repo:example-org/orders-api:ref:refs/heads/main"])
    error_message = "T5: the plan role serves pull requests and main only."
  }
  assert {
    condition     = alltrue([for doc in values(data.aws_iam_policy_document.github_trust) : alltrue([for c in one(doc.statement).condition : c.test == "StringEquals"]) && contains(flatten([for c in one(doc.statement).condition : c.values if c.variable == "token.actions.githubusercontent.com:aud"]), "sts.amazonaws.com")])
    error_message = "C9: every trust policy must match the audience and subject exactly (StringEquals, no wildcards)."
  }
  assert {
    condition     = contains(keys(aws_iam_role.deploy), "dev") && length(aws_iam_role.deploy) == 3 && length(aws_iam_role.apply) == 3
    error_message = "Apply and deploy roles exist per environment: the pipeline deploys dev, staging and prod."
  }
  assert {
    condition     = contains([for s in data.aws_iam_policy_document.deploy["prod"].statement : s.sid], "TheReleaseRecord")
    error_message = "R5: deploy roles record each release and read its history (the rollback target)."
  }
}
