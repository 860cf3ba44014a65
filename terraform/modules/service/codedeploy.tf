# Blue-green and canary through CodeDeploy (R1, R2). ECS-native blue/green needs AWS provider >= 6.4;
# docs/adr/0002-ecs-fargate-codedeploy.md says how to switch to it.
#
# A deployment starts a green task set behind the green target group, waits for it to pass the ALB
# health checks (reachable on the test listener meanwhile), then shifts production traffic:
#   blue_green - all at once (optionally after `aws deploy continue-deployment`)
#   canary     - canary_percentage first, the rest after canary_interval_minutes (or linear steps)
# The alarms stop the deployment and route all traffic back to blue; blue stays up for
# blue_termination_wait_minutes after success, for an instant switch-back.

data "aws_iam_policy_document" "codedeploy_assume" {
  count = local.codedeploy ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["codedeploy.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "codedeploy" {
  count = local.codedeploy ? 1 : 0

  name                 = "${local.name}-codedeploy"
  description          = "CodeDeploy shifts ${local.name} traffic between task sets"
  assume_role_policy   = data.aws_iam_policy_document.codedeploy_assume[0].json
  permissions_boundary = var.permissions_boundary_arn
}

resource "aws_iam_role_policy_attachment" "codedeploy" {
  count = local.codedeploy ? 1 : 0

  role       = aws_iam_role.codedeploy[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSCodeDeployRoleForECS"
}

data "aws_partition" "current" {}

resource "aws_codedeploy_app" "this" {
  count = local.codedeploy ? 1 : 0

  name             = local.name
  compute_platform = "ECS"
}

resource "aws_codedeploy_deployment_config" "canary" {
  count = var.deployment_strategy == "canary" ? 1 : 0

  deployment_config_name = "${local.name}-${var.canary_type == "TimeBasedCanary" ? "canary" : "linear"}-${var.canary_percentage}pct-${var.canary_interval_minutes}min"
  compute_platform       = "ECS"

  traffic_routing_config {
    type = var.canary_type

    dynamic "time_based_canary" {
      for_each = var.canary_type == "TimeBasedCanary" ? [1] : []
      content {
        percentage = var.canary_percentage
        interval   = var.canary_interval_minutes
      }
    }

    dynamic "time_based_linear" {
      for_each = var.canary_type == "TimeBasedLinear" ? [1] : []
      content {
        percentage = var.canary_percentage
        interval   = var.canary_interval_minutes
      }
    }
  }

  lifecycle {
    create_before_destroy = true # the name encodes the shape, so a change creates a new config first
  }
}

resource "aws_codedeploy_deployment_group" "this" {
  count = local.codedeploy ? 1 : 0

  app_name               = aws_codedeploy_app.this[0].name
  deployment_group_name  = local.name
  service_role_arn       = aws_iam_role.codedeploy[0].arn
  deployment_config_name = var.deployment_strategy == "canary" ? aws_codedeploy_deployment_config.canary[0].deployment_config_name : "CodeDeployDefault.ECSAllAtOnce"

  deployment_style {
    deployment_type   = "BLUE_GREEN"
    deployment_option = "WITH_TRAFFIC_CONTROL"
  }

  blue_green_deployment_config {
    deployment_ready_option {
      action_on_timeout    = var.blue_green_approval_wait_minutes > 0 ? "STOP_DEPLOYMENT" : "CONTINUE_DEPLOYMENT"
      wait_time_in_minutes = var.blue_green_approval_wait_minutes # 0 with CONTINUE_DEPLOYMENT
    }

    terminate_blue_instances_on_deployment_success {
      action                           = "TERMINATE"
      termination_wait_time_in_minutes = var.blue_termination_wait_minutes
    }
  }

  ecs_service {
    cluster_name = aws_ecs_cluster.this.name
    service_name = aws_ecs_service.this.name
  }

  load_balancer_info {
    target_group_pair_info {
      prod_traffic_route {
        listener_arns = [aws_lb_listener.https.arn]
      }
      test_traffic_route {
        listener_arns = [aws_lb_listener.test[0].arn]
      }
      target_group {
        name = aws_lb_target_group.blue.name
      }
      target_group {
        name = aws_lb_target_group.green[0].name
      }
    }
  }

  alarm_configuration {
    enabled = true
    alarms  = local.deployment_alarm_names
  }

  auto_rollback_configuration {
    enabled = true
    events  = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
  }

  depends_on = [aws_iam_role_policy_attachment.codedeploy]
}
