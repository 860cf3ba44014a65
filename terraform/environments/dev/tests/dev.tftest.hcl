# The dev root under a mocked AWS provider: names, tags, strategy and sizing of this environment.

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
    error_message = "T4: every resource must carry Environment, ManagedBy = terraform, Service and Repository (provider default_tags)."
  }
  assert {
    condition     = output.cluster_name == "orders-api-dev" && output.service_name == "orders-api" && output.task_definition_family == "orders-api-dev" && output.container_name == "app"
    error_message = "Deploy names: the workflows and runbooks rely on docs/architecture.md."
  }
  assert {
    condition     = output.deployment_strategy == "rolling" && output.deployment_controller == "ECS"
    error_message = "A8: dev deploys with the rolling strategy."
  }
  assert {
    condition     = output.codedeploy_application_name == null && output.codedeploy_deployment_group_name == null
    error_message = "Deploy names: CodeDeploy application and group are orders-api-<env> exactly when the strategy uses CodeDeploy."
  }
  assert {
    condition     = jsondecode(output.migration_network_configuration).awsvpcConfiguration.assignPublicIp == "DISABLED"
    error_message = "The migration task runs in the private subnets without a public IP."
  }
  assert {
    condition     = module.data.db_multi_az == false && module.data.cache_automatic_failover == false
    error_message = "A8: dev runs Postgres Multi-AZ = false and Redis automatic failover = false."
  }
  assert {
    condition     = module.network.nat_gateway_count == 1
    error_message = "A8: dev runs 1 NAT gateway(s)."
  }
}

run "dev_rejects_latest_image" {
  command = plan
  variables {
    image_tag = "latest"
  }
  expect_failures = [var.image_tag]
}

run "dev_rejects_the_placeholder_certificate" {
  command = plan
  variables {
    certificate_arn = "arn:aws:acm:eu-west-1:000000000000:certificate/CHANGE-ME"
  }
  expect_failures = [var.certificate_arn]
}
