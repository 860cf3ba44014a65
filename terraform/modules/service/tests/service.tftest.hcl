# Behaviour of the service module under a mocked AWS provider (no credentials, no API calls):
# the strategy switch, automatic rollback, the hardened task, the network rules, the shutdown budget.

mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  environment                = "staging"
  region                     = "eu-west-1"
  vpc_id                     = "vpc-0123456789abcdef0"
  vpc_cidr_block             = "10.20.0.0/20"
  public_subnet_ids          = ["subnet-0000000000000000a", "subnet-0000000000000000b"]
  private_subnet_ids         = ["subnet-0000000000000000c", "subnet-0000000000000000d"]
  postgres_security_group_id = "sg-0000000000000000a"
  redis_security_group_id    = "sg-0000000000000000b"
  kms_key_arn                = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  ecr_repository_arn         = "arn:aws:ecr:eu-west-1:123456789012:repository/orders-api"
  image                      = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders-api:3d3c42e5aac5ba805825da76410c181273ba90b1"
  certificate_arn            = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  cpu                        = 512
  memory                     = 1024
  desired_count              = 3
  min_capacity               = 2
  max_capacity               = 6
  secret_arns = {
    DATABASE_URL = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-api/staging/database-url-AbCdEf"
    REDIS_URL    = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-api/staging/redis-url-AbCdEf"
    API_KEYS     = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-api/staging/api-keys-AbCdEf"
  }
  deployment_strategy = "rolling"
}

run "rolling_uses_ecs_controller_with_automatic_rollback" {
  command = apply

  assert {
    condition     = aws_ecs_service.this.deployment_controller[0].type == "ECS"
    error_message = "R3: rolling must use the ECS deployment controller."
  }
  assert {
    condition     = aws_ecs_service.this.deployment_circuit_breaker[0].enable && aws_ecs_service.this.deployment_circuit_breaker[0].rollback
    error_message = "R3: the deployment circuit breaker must be on, with rollback."
  }
  assert {
    condition     = aws_ecs_service.this.alarms[0].enable && aws_ecs_service.this.alarms[0].rollback
    error_message = "R3/R5: the deployment alarms must roll a rolling deployment back."
  }
  assert {
    condition     = toset(aws_ecs_service.this.alarms[0].alarm_names) == toset(["orders-api-staging-5xx-rate", "orders-api-staging-p99-latency", "orders-api-staging-unhealthy-hosts-blue"])
    error_message = "R3: the 5xx-rate, p99-latency and unhealthy-hosts alarms must guard the deployment."
  }
  assert {
    condition     = aws_ecs_service.this.deployment_minimum_healthy_percent == 100 && aws_ecs_service.this.deployment_maximum_percent == 134
    error_message = "R3: rolling must replace one task at a time (3 tasks: min 100%, max 134%)."
  }
  assert {
    condition     = length(aws_codedeploy_app.this) == 0 && length(aws_codedeploy_deployment_group.this) == 0 && length(aws_lb_target_group.green) == 0 && length(aws_lb_listener.test) == 0
    error_message = "rolling must not create CodeDeploy resources, a green target group or a test listener."
  }
  assert {
    condition     = length(aws_appautoscaling_policy.requests) == 1
    error_message = "rolling scales on requests per target as well as CPU."
  }
}

run "blue_green_uses_codedeploy_two_target_groups_and_a_test_listener" {
  command = apply

  variables {
    deployment_strategy = "blue_green"
  }

  assert {
    condition     = aws_ecs_service.this.deployment_controller[0].type == "CODE_DEPLOY"
    error_message = "R1: blue_green must hand deployments to CodeDeploy."
  }
  assert {
    condition     = length(aws_ecs_service.this.deployment_circuit_breaker) == 0 && length(aws_ecs_service.this.alarms) == 0
    error_message = "R1: the ECS circuit breaker and alarms blocks are invalid with CODE_DEPLOY; CodeDeploy rolls back instead."
  }
  assert {
    condition     = aws_codedeploy_app.this[0].name == "orders-api-staging" && aws_codedeploy_deployment_group.this[0].deployment_group_name == "orders-api-staging"
    error_message = "Deploy names: CodeDeploy application and deployment group must be orders-api-<env>."
  }
  assert {
    condition     = aws_codedeploy_deployment_group.this[0].deployment_config_name == "CodeDeployDefault.ECSAllAtOnce" && length(aws_codedeploy_deployment_config.canary) == 0
    error_message = "R1: blue_green switches all traffic at once."
  }
  assert {
    condition     = length(aws_lb_target_group.green) == 1 && length(aws_lb_listener.test) == 1
    error_message = "R1: blue_green needs a second (green) target group and a test listener."
  }
  assert {
    condition     = aws_codedeploy_deployment_group.this[0].auto_rollback_configuration[0].enabled && contains(aws_codedeploy_deployment_group.this[0].auto_rollback_configuration[0].events, "DEPLOYMENT_STOP_ON_ALARM") && contains(aws_codedeploy_deployment_group.this[0].auto_rollback_configuration[0].events, "DEPLOYMENT_FAILURE")
    error_message = "R5: CodeDeploy must roll back automatically on failure and on alarm."
  }
  assert {
    condition     = aws_codedeploy_deployment_group.this[0].alarm_configuration[0].enabled && length(aws_codedeploy_deployment_group.this[0].alarm_configuration[0].alarms) == 4
    error_message = "R1: the 5xx, latency and both target groups' unhealthy-host alarms must stop the deployment."
  }
  assert {
    condition     = aws_codedeploy_deployment_group.this[0].blue_green_deployment_config[0].terminate_blue_instances_on_deployment_success[0].termination_wait_time_in_minutes >= 5
    error_message = "R1: the old (blue) task set must stay up after the switch for an instant switch-back."
  }
  assert {
    condition     = length(aws_appautoscaling_policy.requests) == 0 && aws_appautoscaling_policy.cpu.target_tracking_scaling_policy_configuration[0].target_value == 60
    error_message = "With CodeDeploy the live target group alternates: scale on CPU only."
  }
}

run "canary_shifts_five_percent_first" {
  command = apply

  variables {
    deployment_strategy = "canary"
  }

  assert {
    condition     = aws_ecs_service.this.deployment_controller[0].type == "CODE_DEPLOY"
    error_message = "R2: canary must hand deployments to CodeDeploy."
  }
  assert {
    condition     = aws_codedeploy_deployment_config.canary[0].traffic_routing_config[0].type == "TimeBasedCanary" && aws_codedeploy_deployment_config.canary[0].traffic_routing_config[0].time_based_canary[0].percentage == 5
    error_message = "R2: the canary config must send 5% first."
  }
  assert {
    condition     = aws_codedeploy_deployment_group.this[0].deployment_config_name == aws_codedeploy_deployment_config.canary[0].deployment_config_name
    error_message = "R2: the deployment group must use the custom canary config."
  }
  assert {
    condition     = contains(aws_codedeploy_deployment_group.this[0].auto_rollback_configuration[0].events, "DEPLOYMENT_STOP_ON_ALARM")
    error_message = "R2: alarms must stop and roll back a canary."
  }
}

run "canary_linear_option_shifts_stepwise" {
  command = apply

  variables {
    deployment_strategy = "canary"
    canary_type         = "TimeBasedLinear"
    canary_percentage   = 25
  }

  assert {
    condition     = aws_codedeploy_deployment_config.canary[0].traffic_routing_config[0].type == "TimeBasedLinear" && aws_codedeploy_deployment_config.canary[0].traffic_routing_config[0].time_based_linear[0].percentage == 25 && length(aws_codedeploy_deployment_config.canary[0].traffic_routing_config[0].time_based_canary) == 0
    error_message = "R2: the linear option must shift traffic in equal steps."
  }
}

run "task_is_hardened" {
  command = apply

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].readonlyRootFilesystem == true
    error_message = "D6: the root filesystem must be read-only."
  }
  assert {
    condition     = one([for m in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].mountPoints : m if m.containerPath == "/tmp"]).readOnly == false && one(aws_ecs_task_definition.this.volume).name == "tmp"
    error_message = "D6: /tmp must be a writable task volume (Fargate has no tmpfs)."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].command == ["python", "-m", "app", "serve"]
    error_message = "The service serves; migrations run as a one-off task (python -m app migrate), never at start-up."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].user == "10001:10001"
    error_message = "D5: the container must run as 10001:10001."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].linuxParameters.initProcessEnabled == true
    error_message = "D9: an init process must forward signals and reap zombies."
  }
  assert {
    condition     = strcontains(join(" ", jsondecode(aws_ecs_task_definition.this.container_definitions)[0].healthCheck.command), "/health/live") && !strcontains(join(" ", jsondecode(aws_ecs_task_definition.this.container_definitions)[0].healthCheck.command), "curl")
    error_message = "A6: the container health check must probe /health/live with Python (no curl in the image)."
  }
  assert {
    condition     = aws_lb_target_group.blue.health_check[0].path == "/health/ready" && aws_lb_target_group.blue.port == 8000
    error_message = "A6: the ALB must check /health/ready on port 8000."
  }
  assert {
    condition     = aws_ecs_service.this.network_configuration[0].assign_public_ip == false
    error_message = "Tasks must never get a public IP."
  }
  assert {
    condition     = alltrue([for s in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].secrets : startswith(s.valueFrom, "arn:aws:secretsmanager:")]) && length(jsondecode(aws_ecs_task_definition.this.container_definitions)[0].secrets) == 3
    error_message = "T8: DATABASE_URL, REDIS_URL and API_KEYS must reach the task by Secrets Manager ARN."
  }
  assert {
    condition     = length(setintersection(toset([for e in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].environment : e.name]), toset(["DATABASE_URL", "REDIS_URL", "API_KEYS"]))) == 0
    error_message = "T8: no secret may appear as plain environment."
  }
  assert {
    condition     = aws_ecs_task_definition.this.family == "orders-api-staging" && jsondecode(aws_ecs_task_definition.this.container_definitions)[0].name == "app" && aws_ecs_service.this.name == "orders-api" && aws_ecs_cluster.this.name == "orders-api-staging"
    error_message = "Deploy names: cluster and family orders-api-<env>, service orders-api, container app."
  }
}

run "metrics_port_is_never_public" {
  command = apply

  assert {
    condition     = alltrue([for port in [aws_lb_listener.http.port, aws_lb_listener.https.port] : port != 9000]) && aws_lb_target_group.blue.port != 9000
    error_message = "The metrics port must never be behind the public listener."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.app_metrics_from_scraper.referenced_security_group_id == aws_security_group.metrics_scraper.id && aws_vpc_security_group_ingress_rule.app_metrics_from_scraper.cidr_ipv4 == null
    error_message = "Port 9000 must be reachable only from the scraper security group."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.app_from_alb.referenced_security_group_id == aws_security_group.alb.id && aws_vpc_security_group_ingress_rule.app_from_alb.from_port == 8000
    error_message = "Port 8000 must be reachable only from the ALB."
  }
}

run "shutdown_budget_is_consistent" {
  command = apply

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].stopTimeout > tonumber(one([for e in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].environment : e.value if e.name == "DRAIN_SECONDS"])) + tonumber(one([for e in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].environment : e.value if e.name == "GRACEFUL_TIMEOUT"]))
    error_message = "Shutdown budget: DRAIN_SECONDS + GRACEFUL_TIMEOUT must be below the ECS stopTimeout."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].stopTimeout <= 120
    error_message = "Shutdown budget: Fargate allows a stopTimeout of at most 120 s."
  }
  assert {
    condition     = tonumber(one([for e in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].environment : e.value if e.name == "KEEP_ALIVE_TIMEOUT"])) > aws_lb.this.idle_timeout
    error_message = "Shutdown budget: KEEP_ALIVE_TIMEOUT must exceed the ALB idle timeout."
  }
  assert {
    condition     = aws_lb_target_group.blue.deregistration_delay >= tonumber(one([for e in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].environment : e.value if e.name == "GRACEFUL_TIMEOUT"]))
    error_message = "Shutdown budget: the deregistration delay must cover GRACEFUL_TIMEOUT."
  }
  assert {
    condition     = aws_lb_target_group.blue.deregistration_delay >= aws_lb_target_group.blue.health_check[0].interval * aws_lb_target_group.blue.health_check[0].unhealthy_threshold
    error_message = "Shutdown budget: the deregistration delay must cover the health-check notice time."
  }
}

run "alarm_thresholds_match_the_prometheus_rules" {
  command = apply

  assert {
    condition     = aws_cloudwatch_metric_alarm.error_rate.threshold == 1 && aws_cloudwatch_metric_alarm.error_rate.evaluation_periods == 5 && aws_cloudwatch_metric_alarm.error_rate.datapoints_to_alarm == 5
    error_message = "M7: 5xx ratio > 1% for 5 minutes."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.p99_latency.threshold == 2 && aws_cloudwatch_metric_alarm.p99_latency.extended_statistic == "p99" && aws_cloudwatch_metric_alarm.p99_latency.evaluation_periods == 10
    error_message = "M7: p99 latency > 2 s for 10 minutes."
  }
  assert {
    condition     = strcontains(one([for q in aws_cloudwatch_metric_alarm.error_rate.metric_query : q.expression if q.return_data == true]), "requests >= 20")
    error_message = "A7: the 5xx ratio must ignore minutes with too few requests to mean anything."
  }
}

run "rejects_stop_timeout_inside_the_drain_budget" {
  command = plan
  variables {
    stop_timeout_seconds = 25
  }
  expect_failures = [var.stop_timeout_seconds]
}

run "accepts_an_18_character_service_name" {
  command = plan
  variables {
    service_name = "eighteen-chars-abc"
  }
}

run "rejects_a_19_character_service_name" {
  command = plan
  variables {
    service_name = "nineteen-chars-abcd"
  }
  expect_failures = [var.service_name]
}

run "rejects_keep_alive_below_alb_idle_timeout" {
  command = plan
  variables {
    keep_alive_timeout_seconds = 60
  }
  expect_failures = [var.keep_alive_timeout_seconds]
}

run "rejects_secrets_by_value" {
  command = plan
  variables {
    secret_arns = {
      DATABASE_URL = "postgresql://orders_api:hunter2@db:5432/orders"
      REDIS_URL    = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-api/staging/redis-url-AbCdEf"
      API_KEYS     = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-api/staging/api-keys-AbCdEf"
    }
  }
  expect_failures = [var.secret_arns]
}

run "rejects_secrets_in_plain_environment" {
  command = plan
  variables {
    app_environment = { DATABASE_URL = "postgresql://orders_api:hunter2@db:5432/orders" }
  }
  expect_failures = [var.app_environment]
}

run "rejects_latest_image" {
  command = plan
  variables {
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders-api:latest"
  }
  expect_failures = [var.image]
}

run "rejects_unknown_strategy" {
  command = plan
  variables {
    deployment_strategy = "big_bang"
  }
  expect_failures = [var.deployment_strategy]
}
