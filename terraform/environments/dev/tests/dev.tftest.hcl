# The dev root under a mocked AWS provider: what is specific to dev (tags, strategy, sizes). What
# every environment shares is tested once in modules/stack/tests; the state key in test_terraform.py.

mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  repository      = "example-org/orders-api"
  certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  image_tag       = "3d3c42e5aac5ba805825da76410c181273ba90b1"
}

run "dev_root" {
  command = apply

  assert {
    condition     = output.default_tags == { Environment = "dev", ManagedBy = "terraform", Service = "orders-api", Repository = "example-org/orders-api" }
    error_message = "T4: every resource must carry Environment = dev, ManagedBy = terraform, Service and Repository (provider default_tags)."
  }
  assert {
    condition     = output.stack.cluster_name == "orders-api-dev" && output.stack.codedeploy_application_name == null
    error_message = "Deploy names: the dev cluster (and CodeDeploy application) are orders-api-dev."
  }
  assert {
    condition     = output.stack.deployment_strategy == "rolling" && output.stack.deployment_controller == "ECS"
    error_message = "A8: dev deploys with the rolling strategy."
  }
  assert {
    condition     = output.stack.db_multi_az == false && output.stack.cache_automatic_failover == false && output.stack.nat_gateway_count == 1
    error_message = "A8: dev runs Postgres Multi-AZ = false, Redis automatic failover = false and 1 NAT gateway(s)."
  }
}
