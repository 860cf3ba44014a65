# The stack under a mocked AWS provider, once per strategy and size (the three environments' shapes):
# deploy names, strategy -> controller and CodeDeploy names, the migration task's network, and the
# sizes reaching the modules. The roots' own tests keep only what is specific to each environment.

mock_provider "aws" {
  source = "../../tests/mocks"
}

# dev's shape: rolling, one NAT, single-AZ database, one cache node.
variables {
  environment     = "dev"
  region          = "eu-west-1"
  image_tag       = "3d3c42e5aac5ba805825da76410c181273ba90b1"
  certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"

  cidr_block               = "10.10.0.0/20"
  availability_zones       = ["eu-west-1a", "eu-west-1b"]
  single_nat_gateway       = true
  flow_logs_retention_days = 30

  db_instance_class        = "db.t4g.micro"
  db_multi_az              = false
  db_backup_retention_days = 3
  db_deletion_protection   = false
  db_performance_insights  = false

  cache_node_type               = "cache.t4g.micro"
  cache_nodes                   = 1
  cache_snapshot_retention_days = 0
  secret_recovery_window_days   = 7

  cpu           = 256
  memory        = 512
  desired_count = 1
  min_capacity  = 1
  max_capacity  = 2

  app_environment         = { LOG_LEVEL = "INFO" }
  alb_deletion_protection = false
  log_retention_days      = 14
  deployment_strategy     = "rolling"
}

run "rolling_single_az" {
  command = apply

  assert {
    condition     = output.cluster_name == "orders-api-dev" && output.service_name == "orders-api" && output.task_definition_family == "orders-api-dev" && output.container_name == "app" && output.container_port == 8000
    error_message = "Deploy names: the workflows and runbooks rely on docs/architecture.md."
  }
  assert {
    condition     = output.db_instance_identifier == "orders-api-dev" && output.log_group_name == "/ecs/orders-api-dev"
    error_message = "Deploy names: the runbooks find the database and the logs by orders-api-<env>."
  }
  assert {
    condition     = output.deployment_strategy == "rolling" && output.deployment_controller == "ECS"
    error_message = "R3: rolling deploys with the ECS controller."
  }
  assert {
    condition     = output.codedeploy_application_name == null && output.codedeploy_deployment_group_name == null && output.test_listener_port == null
    error_message = "R3: no CodeDeploy application, group or test listener with rolling."
  }
  assert {
    condition     = jsondecode(output.migration_network_configuration).awsvpcConfiguration.assignPublicIp == "DISABLED"
    error_message = "The migration task runs in the private subnets without a public IP."
  }
  assert {
    condition     = output.nat_gateway_count == 1 && output.db_multi_az == false && output.cache_automatic_failover == false
    error_message = "A8: the dev shape runs 1 NAT gateway, single-AZ Postgres and no cache failover."
  }
  assert {
    condition     = length(output.alarm_names) > 0
    error_message = "A9: the deployment alarms exist whatever the strategy."
  }
}

run "blue_green_two_zones" {
  command = apply

  variables {
    environment                   = "staging"
    cidr_block                    = "10.20.0.0/20"
    single_nat_gateway            = false
    db_performance_insights       = null # the data module's default
    cache_nodes                   = 2
    min_capacity                  = 2
    max_capacity                  = 4
    deployment_strategy           = "blue_green"
    blue_termination_wait_minutes = null # the service module's default (30)
  }

  assert {
    condition     = output.cluster_name == "orders-api-staging" && output.task_definition_family == "orders-api-staging"
    error_message = "Deploy names: orders-api-<env>."
  }
  assert {
    condition     = output.deployment_strategy == "blue_green" && output.deployment_controller == "CODE_DEPLOY"
    error_message = "R1: blue_green deploys with the CODE_DEPLOY controller."
  }
  assert {
    condition     = output.codedeploy_application_name == "orders-api-staging" && output.codedeploy_deployment_group_name == "orders-api-staging" && output.test_listener_port == 8443
    error_message = "R1: CodeDeploy application and group are orders-api-<env>, with the test listener on 8443."
  }
  assert {
    condition     = output.nat_gateway_count == 2 && output.db_multi_az == false && output.cache_automatic_failover == true
    error_message = "A8: the staging shape runs one NAT per zone, single-AZ Postgres and cache failover."
  }
}

run "canary_three_zones" {
  command = apply

  variables {
    environment         = "prod"
    cidr_block          = "10.30.0.0/20"
    availability_zones  = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    single_nat_gateway  = false
    db_multi_az         = true
    cache_nodes         = 2
    cpu                 = 1024
    memory              = 2048
    desired_count       = 3
    min_capacity        = 3
    max_capacity        = 12
    deployment_strategy = "canary"
    canary_percentage   = 10
  }

  assert {
    condition     = output.deployment_strategy == "canary" && output.deployment_controller == "CODE_DEPLOY"
    error_message = "R2: canary deploys with the CODE_DEPLOY controller."
  }
  assert {
    condition     = output.codedeploy_application_name == "orders-api-prod" && output.codedeploy_deployment_group_name == "orders-api-prod"
    error_message = "R2: CodeDeploy application and group are orders-api-<env>."
  }
  assert {
    condition     = module.service.codedeploy_deployment_config_name == "orders-api-prod-canary-10pct-10min"
    error_message = "R2: the stack hands canary_percentage to the service module (and keeps its interval default)."
  }
  assert {
    condition     = output.nat_gateway_count == 3 && output.db_multi_az == true && output.cache_automatic_failover == true
    error_message = "A8: the prod shape runs one NAT per zone, Multi-AZ Postgres and cache failover."
  }
}

run "rejects_latest_image" {
  command = plan
  variables {
    image_tag = "latest"
  }
  expect_failures = [var.image_tag]
}

run "rejects_the_placeholder_certificate" {
  command = plan
  variables {
    certificate_arn = "arn:aws:acm:eu-west-1:000000000000:certificate/CHANGE-ME"
  }
  expect_failures = [var.certificate_arn]
}

run "rejects_zones_of_another_region" {
  command = plan
  variables {
    availability_zones = ["us-east-1a", "us-east-1b"]
  }
  expect_failures = [var.availability_zones]
}
