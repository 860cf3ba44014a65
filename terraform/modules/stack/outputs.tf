# What the roots hand on (terraform/README.md, Outputs): names the workflows and runbooks use,
# and the per-environment facts the tests check.

output "aws_region" {
  description = "Region of the environment."
  value       = var.region
}

output "cluster_name" {
  description = "ECS cluster (orders-api-<env>)."
  value       = module.service.cluster_name
}

output "service_name" {
  description = "ECS service (orders-api)."
  value       = module.service.service_name
}

output "task_definition_family" {
  description = "Task definition family (orders-api-<env>)."
  value       = module.service.task_definition_family
}

output "container_name" {
  description = "App container name in the task definition."
  value       = module.service.container_name
}

output "container_port" {
  description = "App container port."
  value       = module.service.container_port
}

output "deployment_strategy" {
  description = "rolling | blue_green | canary (the DEPLOY_STRATEGY variable of the GitHub environment must match)."
  value       = module.service.deployment_strategy
}

output "deployment_controller" {
  description = "ECS or CODE_DEPLOY."
  value       = module.service.deployment_controller
}

output "codedeploy_application_name" {
  description = "CodeDeploy application, null with rolling."
  value       = module.service.codedeploy_application_name
}

output "codedeploy_deployment_group_name" {
  description = "CodeDeploy deployment group, null with rolling."
  value       = module.service.codedeploy_deployment_group_name
}

output "migration_network_configuration" {
  description = "JSON for `aws ecs run-task --network-configuration` (the migration task)."
  value       = module.service.migration_network_configuration
}

output "alb_dns_name" {
  description = "DNS name of the ALB (the target of the domain's alias record)."
  value       = module.service.alb_dns_name
}

output "alb_zone_id" {
  description = "Hosted zone of the ALB (for the domain's alias record)."
  value       = module.service.alb_zone_id
}

output "test_listener_port" {
  description = "CodeDeploy test listener port, null with rolling."
  value       = module.service.test_listener_port
}

output "log_group_name" {
  description = "CloudWatch log group of the app."
  value       = module.service.log_group_name
}

output "alarm_names" {
  description = "Alarms that roll a deployment back."
  value       = module.service.alarm_names
}

output "metrics_scraper_security_group_id" {
  description = "Security group a scraper attaches to reach /metrics."
  value       = module.service.metrics_scraper_security_group_id
}

output "db_instance_identifier" {
  description = "RDS instance (restore runbook)."
  value       = module.data.db_instance_identifier
}

output "db_multi_az" {
  description = "Whether PostgreSQL runs Multi-AZ."
  value       = module.data.db_multi_az
}

output "cache_replication_group_id" {
  description = "ElastiCache replication group (failover runbook)."
  value       = module.data.cache_replication_group_id
}

output "cache_automatic_failover" {
  description = "Whether the cache fails over to a replica automatically."
  value       = module.data.cache_automatic_failover
}

output "nat_gateway_count" {
  description = "NAT gateways of the VPC (1, or one per zone)."
  value       = module.network.nat_gateway_count
}
