# ECS on Fargate: the cluster, the task definition (hardened container), and the service whose
# deployment controller follows var.deployment_strategy.

resource "aws_cloudwatch_log_group" "app" {
  name              = "/ecs/${local.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_ecs_cluster" "this" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

locals {
  environment = merge(
    {
      APP_ENV             = var.environment
      HOST                = "0.0.0.0"
      PORT                = tostring(local.app_port)
      METRICS_PORT        = tostring(local.metrics_port)
      FORWARDED_ALLOW_IPS = var.vpc_cidr_block # the ALB's nodes: trust X-Forwarded-* only from them
      KEEP_ALIVE_TIMEOUT  = tostring(var.keep_alive_timeout_seconds)
      DRAIN_SECONDS       = tostring(var.drain_seconds)
      GRACEFUL_TIMEOUT    = tostring(var.graceful_timeout_seconds)
      OTEL_SERVICE_NAME   = var.service_name
    },
    var.otel_exporter_otlp_endpoint != "" ? { OTEL_EXPORTER_OTLP_ENDPOINT = var.otel_exporter_otlp_endpoint } : { OTEL_SDK_DISABLED = "true" },
    var.app_environment,
  )

  container = {
    name      = local.container_name
    image     = var.image
    essential = true
    command   = ["python", "-m", "app", "serve"]
    user      = "10001:10001"

    readonlyRootFilesystem = true
    # Fargate has no tmpfs: an unnamed task volume is an ephemeral bind mount on the task's own
    # storage, gone with the task. It is root-owned unless the image declares VOLUME /tmp: then ECS
    # seeds it with the image's /tmp (mode 1777) and user 10001 can write. Root stays read-only.
    mountPoints = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]

    linuxParameters = {
      initProcessEnabled = true # a real PID 1 reaps zombies and forwards SIGTERM
      capabilities       = { drop = ["ALL"] }
    }

    portMappings = [
      { name = "http", containerPort = local.app_port, protocol = "tcp" },
      { name = "metrics", containerPort = local.metrics_port, protocol = "tcp" },
    ]

    environment = [for key in sort(keys(local.environment)) : { name = key, value = local.environment[key] }]
    secrets     = [for key in sort(keys(var.secret_arns)) : { name = key, valueFrom = var.secret_arns[key] }]

    # The image has no curl: the standard library checks liveness (an exception exits non-zero).
    healthCheck = {
      command     = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${local.app_port}/health/live', timeout=2)"]
      interval    = 10
      timeout     = 3
      retries     = 3
      startPeriod = 15
    }

    stopTimeout = var.stop_timeout_seconds
    ulimits     = [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }]

    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.app.name
        awslogs-region        = var.region
        awslogs-stream-prefix = local.container_name
        mode                  = "non-blocking" # a slow log pipe must not stall request handling
        max-buffer-size       = "25m"
      }
    }
  }
}

resource "aws_ecs_task_definition" "this" {
  family                   = local.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions    = jsonencode([local.container])
  # A new revision never deregisters the old one: earlier revisions are the rollback targets the
  # pipeline and the runbooks switch back to, so they outlive every Terraform change and destroy.
  skip_destroy = true

  volume {
    name = "tmp"
  }

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }
}

# ECS rejects in-place network changes on a CODE_DEPLOY service (terraform-provider-aws #8005,
# #36727): the apply would fail half-way. This record of the network configuration makes such a
# change replace the service instead, visibly in the plan ("replaced due to changes in
# replace_triggered_by"). A replacement is an outage: terraform/README.md, "Network changes with
# CodeDeploy", says how to make one. Rolling services take network changes in place (null here).
resource "terraform_data" "codedeploy_network" {
  input = local.codedeploy ? local.network_configuration : null
}

resource "aws_ecs_service" "this" {
  name             = var.service_name
  cluster          = aws_ecs_cluster.this.arn
  task_definition  = aws_ecs_task_definition.this.arn
  desired_count    = var.desired_count
  launch_type      = "FARGATE"
  platform_version = "LATEST"

  # Covers the first /health/ready passes after start-up (cold start ~1 s, plus image pull).
  health_check_grace_period_seconds = 30
  enable_execute_command            = false
  enable_ecs_managed_tags           = true
  propagate_tags                    = "SERVICE"

  deployment_controller {
    type = local.codedeploy ? "CODE_DEPLOY" : "ECS"
  }

  # Rolling: one extra task at a time, never below the desired count.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = local.codedeploy ? 200 : local.rolling_max_percent

  # Rolling only (CodeDeploy has its own rollback): failed tasks or a firing alarm roll back.
  dynamic "deployment_circuit_breaker" {
    for_each = local.codedeploy ? [] : [1]
    content {
      enable   = true
      rollback = true
    }
  }

  dynamic "alarms" {
    for_each = local.codedeploy ? [] : [1]
    content {
      alarm_names = local.deployment_alarm_names
      enable      = true
      rollback    = true
    }
  }

  network_configuration {
    subnets          = local.network_configuration.subnets
    security_groups  = [aws_security_group.app.id] # = local.network_configuration.security_groups
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.blue.arn
    container_name   = local.container_name
    container_port   = local.app_port
  }

  lifecycle {
    # The pipeline deploys new task definition revisions; autoscaling owns the count; CodeDeploy
    # swaps the target group. Terraform sets them at creation and then leaves them alone.
    ignore_changes       = [task_definition, desired_count, load_balancer]
    replace_triggered_by = [terraform_data.codedeploy_network]
  }

  # The secret ARNs arrive only once the secrets have values and the database and cache exist
  # (modules/data outputs.tf), so the first tasks can start.
  depends_on = [aws_lb_listener.https, aws_iam_role_policy.execution]
}
