# The deploy workflow and the runbooks read these (terraform/README.md, "Outputs").

output "cluster_name" {
  description = "ECS cluster: orders-api-<env>."
  value       = aws_ecs_cluster.this.name
}

output "service_name" {
  description = "ECS service: orders-api."
  value       = aws_ecs_service.this.name
}

output "task_definition_family" {
  description = "Task definition family: orders-api-<env>. The pipeline registers new revisions in it."
  value       = aws_ecs_task_definition.this.family
}

output "container_name" {
  description = "Name of the app container in the task definition."
  value       = local.container_name
}

output "container_port" {
  description = "API port of the container (the CodeDeploy appspec needs it)."
  value       = local.app_port
}

output "deployment_strategy" {
  description = "rolling | blue_green | canary: must equal the environment's DEPLOY_STRATEGY GitHub variable."
  value       = var.deployment_strategy
}

output "deployment_controller" {
  description = "ECS (rolling) or CODE_DEPLOY (blue_green, canary)."
  value       = local.codedeploy ? "CODE_DEPLOY" : "ECS"
}

output "codedeploy_application_name" {
  description = "CodeDeploy application (orders-api-<env>), or null with the rolling strategy."
  value       = local.codedeploy ? aws_codedeploy_app.this[0].name : null
}

output "codedeploy_deployment_group_name" {
  description = "CodeDeploy deployment group (orders-api-<env>), or null with the rolling strategy."
  value       = local.codedeploy ? aws_codedeploy_deployment_group.this[0].deployment_group_name : null
}

output "codedeploy_deployment_config_name" {
  description = "CodeDeploy deployment configuration in use, or null with the rolling strategy."
  value       = local.codedeploy ? aws_codedeploy_deployment_group.this[0].deployment_config_name : null
}

output "alb_dns_name" {
  description = "DNS name of the ALB (point the service's DNS record at it)."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "Route 53 hosted zone of the ALB, for an alias record."
  value       = aws_lb.this.zone_id
}

output "test_listener_port" {
  description = "Port of the CodeDeploy test listener (smoke-test the new task set), or null with the rolling strategy."
  value       = local.codedeploy ? var.test_listener_port : null
}

output "migration_network_configuration" {
  description = "Value for `aws ecs run-task --network-configuration` of the one-off migration task."
  value = jsonencode({
    awsvpcConfiguration = {
      subnets        = var.private_subnet_ids
      securityGroups = [aws_security_group.app.id]
      assignPublicIp = "DISABLED"
    }
  })
}

output "app_security_group_id" {
  description = "Security group of the tasks."
  value       = aws_security_group.app.id
}

output "metrics_scraper_security_group_id" {
  description = "Attach to a scraper in the VPC to reach /metrics on port 9000."
  value       = aws_security_group.metrics_scraper.id
}

output "task_role_arn" {
  description = "Role the app runs as (the deploy role may pass it)."
  value       = aws_iam_role.task.arn
}

output "execution_role_arn" {
  description = "Role ECS starts the task with (the deploy role may pass it)."
  value       = aws_iam_role.execution.arn
}

output "log_group_name" {
  description = "CloudWatch log group of the app (one JSON object per line)."
  value       = aws_cloudwatch_log_group.app.name
}

output "alarm_names" {
  description = "Deployment alarms that roll a deployment back."
  value       = local.deployment_alarm_names
}

output "shutdown_budget" {
  description = "The shutdown timings as deployed (docs/architecture.md, Shutdown budget)."
  value = {
    health_check_notice_seconds  = var.health_check_interval_seconds * var.health_check_unhealthy_threshold
    deregistration_delay_seconds = var.deregistration_delay_seconds
    drain_seconds                = var.drain_seconds
    graceful_timeout_seconds     = var.graceful_timeout_seconds
    stop_timeout_seconds         = var.stop_timeout_seconds
    keep_alive_timeout_seconds   = var.keep_alive_timeout_seconds
    alb_idle_timeout_seconds     = var.alb_idle_timeout_seconds
  }
}
