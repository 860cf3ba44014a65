# The deployment alarms. The same three alarms stop and roll back every strategy: the ECS
# deployment (rolling, via aws_ecs_service.alarms) or the CodeDeploy deployment (blue_green and
# canary, via alarm_configuration). Thresholds default to the Prometheus rules in ops/prometheus.

locals {
  target_groups = merge(
    { blue = aws_lb_target_group.blue.arn_suffix },
    local.codedeploy ? { green = aws_lb_target_group.green[0].arn_suffix } : {},
  )

  deployment_alarm_names = concat(
    [aws_cloudwatch_metric_alarm.error_rate.alarm_name, aws_cloudwatch_metric_alarm.p99_latency.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.unhealthy_hosts : alarm.alarm_name],
  )
}

resource "aws_cloudwatch_metric_alarm" "error_rate" {
  alarm_name          = "${local.name}-5xx-rate"
  alarm_description   = "5xx responses above ${var.alarm_5xx_rate_percent}% of requests for ${var.alarm_5xx_rate_minutes} min. Runbook: runbooks/alerts/high-error-rate.md"
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_5xx_rate_percent
  evaluation_periods  = var.alarm_5xx_rate_minutes
  datapoints_to_alarm = var.alarm_5xx_rate_minutes
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions

  metric_query {
    id          = "error_rate"
    label       = "5xx % of requests"
    return_data = true
    # Below the minimum request rate the ratio is noise (one error in three requests is not 33% down).
    expression = "IF(requests >= ${var.alarm_min_requests_per_minute}, 100 * (FILL(target_5xx, 0) + FILL(elb_5xx, 0)) / requests, 0)"
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      dimensions  = { LoadBalancer = aws_lb.this.arn_suffix }
      period      = 60
      stat        = "Sum"
    }
  }

  metric_query {
    id = "target_5xx"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = { LoadBalancer = aws_lb.this.arn_suffix }
      period      = 60
      stat        = "Sum"
    }
  }

  metric_query {
    id = "elb_5xx"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count" # 502/503/504 from the ALB itself: the users saw them too
      dimensions  = { LoadBalancer = aws_lb.this.arn_suffix }
      period      = 60
      stat        = "Sum"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "p99_latency" {
  alarm_name          = "${local.name}-p99-latency"
  alarm_description   = "p99 target response time above ${var.alarm_p99_latency_seconds} s for ${var.alarm_p99_latency_minutes} min. Runbook: runbooks/alerts/high-p99-latency.md"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  dimensions          = { LoadBalancer = aws_lb.this.arn_suffix }
  extended_statistic  = "p99"
  period              = 60
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_p99_latency_seconds
  evaluation_periods  = var.alarm_p99_latency_minutes
  datapoints_to_alarm = var.alarm_p99_latency_minutes
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_hosts" {
  for_each = local.target_groups

  alarm_name          = "${local.name}-unhealthy-hosts-${each.key}"
  alarm_description   = "A target in the ${each.key} target group failed /health/ready for ${var.alarm_unhealthy_hosts_minutes} min. Runbook: runbooks/alerts/readiness-failing.md"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  dimensions          = { LoadBalancer = aws_lb.this.arn_suffix, TargetGroup = each.value }
  statistic           = "Maximum"
  period              = 60
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  evaluation_periods  = var.alarm_unhealthy_hosts_minutes
  datapoints_to_alarm = var.alarm_unhealthy_hosts_minutes
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}

# Not a deployment alarm (a memory leak shows over hours, not during one deployment): it notifies.
resource "aws_cloudwatch_metric_alarm" "memory" {
  alarm_name          = "${local.name}-memory"
  alarm_description   = "Average task memory above ${var.alarm_memory_percent}% of the reservation for 15 min: tasks near their limit are OOM-killed."
  namespace           = "AWS/ECS"
  metric_name         = "MemoryUtilization"
  dimensions          = { ClusterName = aws_ecs_cluster.this.name, ServiceName = aws_ecs_service.this.name }
  statistic           = "Average"
  period              = 300
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_memory_percent
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  treat_missing_data  = "missing"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}
