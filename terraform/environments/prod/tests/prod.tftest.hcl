# The prod root under a mocked AWS provider: what is specific to prod (tags, strategy, sizes). What
# every environment shares is tested once in modules/stack/tests; the state key in test_terraform.py.

mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  repository      = "example-org/orders-api"
  certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  image_tag       = "3d3c42e5aac5ba805825da76410c181273ba90b1"
}

run "prod_root" {
  command = apply

  assert {
    condition     = output.default_tags == { Environment = "prod", ManagedBy = "terraform", Service = "orders-api", Repository = "example-org/orders-api" }
    error_message = "T4: every resource must carry Environment = prod, ManagedBy = terraform, Service and Repository (provider default_tags)."
  }
  assert {
    condition     = output.stack.cluster_name == "orders-api-prod" && output.stack.codedeploy_application_name == "orders-api-prod"
    error_message = "Deploy names: the prod cluster (and CodeDeploy application) are orders-api-prod."
  }
  assert {
    condition     = output.stack.deployment_strategy == "canary" && output.stack.deployment_controller == "CODE_DEPLOY"
    error_message = "A8: prod deploys with the canary strategy."
  }
  assert {
    condition     = output.stack.db_multi_az == true && output.stack.cache_automatic_failover == true && output.stack.nat_gateway_count == 3
    error_message = "A8: prod runs Postgres Multi-AZ = true, Redis automatic failover = true and 3 NAT gateway(s)."
  }
}
