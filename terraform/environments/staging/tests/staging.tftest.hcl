# The staging root under a mocked AWS provider: names, tags, strategy and sizing of this environment.

mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  repository      = "example-org/orders-api"
  certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  image_tag       = "3d3c42e5aac5ba805825da76410c181273ba90b1"
}

run "staging_root" {
  command = apply

  assert {
    condition     = output.default_tags == { Environment = "staging", ManagedBy = "terraform", Service = "orders-api", Repository = "example-org/orders-api" }
    error_message = "T4: every resource must carry Environment, ManagedBy = terraform, Service and Repository (provider default_tags)."
  }
  assert {
    condition     = output.cluster_name == "orders-api-staging" && output.service_name == "orders-api" && output.task_definition_family == "orders-api-staging" && output.container_name == "app"
    error_message = "Deploy names: the workflows and runbooks rely on docs/architecture.md."
  }
  assert {
    condition     = output.deployment_strategy == "blue_green" && output.deployment_controller == "CODE_DEPLOY"
    error_message = "A8: staging deploys with the blue_green strategy."
  }
  assert {
    condition     = output.codedeploy_application_name == "orders-api-staging" && output.codedeploy_deployment_group_name == "orders-api-staging"
    error_message = "Deploy names: CodeDeploy application and group are orders-api-<env> exactly when the strategy uses CodeDeploy."
  }
  assert {
    condition     = jsondecode(output.migration_network_configuration).awsvpcConfiguration.assignPublicIp == "DISABLED"
    error_message = "The migration task runs in the private subnets without a public IP."
  }
  assert {
    condition     = module.data.db_multi_az == false && module.data.cache_automatic_failover == true
    error_message = "A8: staging runs Postgres Multi-AZ = false and Redis automatic failover = true."
  }
  assert {
    condition     = module.network.nat_gateway_count == 2
    error_message = "A8: staging runs 2 NAT gateway(s)."
  }
}

run "staging_rejects_latest_image" {
  command = plan
  variables {
    image_tag = "latest"
  }
  expect_failures = [var.image_tag]
}

run "staging_rejects_the_placeholder_certificate" {
  command = plan
  variables {
    certificate_arn = "arn:aws:acm:eu-west-1:000000000000:certificate/CHANGE-ME"
  }
  expect_failures = [var.certificate_arn]
}
