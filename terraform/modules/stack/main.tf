# One environment of orders-api: the network, data and service modules wired together. The roots in
# environments/ call this once with their own values (A8); everything else is the same everywhere (E3).

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  name = "orders-api-${var.environment}"
  # Created by terraform/bootstrap; the apply role may create roles only with it attached.
  permissions_boundary_arn = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:policy/${local.name}-workload-boundary"
}

data "aws_ecr_repository" "orders_api" {
  name = "orders-api" # created by terraform/bootstrap
}

module "network" {
  source = "../network"

  name                     = local.name
  cidr_block               = var.cidr_block
  availability_zones       = var.availability_zones
  single_nat_gateway       = var.single_nat_gateway
  flow_logs_retention_days = var.flow_logs_retention_days
  permissions_boundary_arn = local.permissions_boundary_arn
}

module "data" {
  source = "../data"

  name                = local.name
  secret_prefix       = "orders-api/${var.environment}"
  vpc_id              = module.network.vpc_id
  database_subnet_ids = module.network.database_subnet_ids

  db_instance_class        = var.db_instance_class
  db_multi_az              = var.db_multi_az
  db_backup_retention_days = var.db_backup_retention_days
  db_deletion_protection   = var.db_deletion_protection
  db_performance_insights  = var.db_performance_insights
  db_password_version      = var.db_password_version

  cache_node_type               = var.cache_node_type
  cache_nodes                   = var.cache_nodes
  cache_snapshot_retention_days = var.cache_snapshot_retention_days
  redis_auth_version            = var.redis_auth_version

  secret_recovery_window_days = var.secret_recovery_window_days
  api_keys_version            = var.api_keys_version

  alarm_actions             = local.alarm_actions
  permissions_boundary_arn  = local.permissions_boundary_arn
  client_security_group_ids = var.data_client_security_group_ids
}

module "service" {
  source = "../service"

  environment        = var.environment
  region             = var.region
  vpc_id             = module.network.vpc_id
  vpc_cidr_block     = module.network.vpc_cidr_block
  public_subnet_ids  = module.network.public_subnet_ids
  private_subnet_ids = module.network.private_subnet_ids

  postgres_security_group_id = module.data.postgres_security_group_id
  postgres_port              = module.data.postgres_port
  redis_security_group_id    = module.data.redis_security_group_id
  redis_port                 = module.data.redis_port
  kms_key_arn                = module.data.kms_key_arn
  secret_arns                = module.data.secret_arns

  ecr_repository_arn = data.aws_ecr_repository.orders_api.arn
  image              = "${data.aws_ecr_repository.orders_api.repository_url}:${var.image_tag}"
  cpu                = var.cpu
  memory             = var.memory
  desired_count      = var.desired_count
  min_capacity       = var.min_capacity
  max_capacity       = var.max_capacity
  app_environment    = var.app_environment

  certificate_arn          = var.certificate_arn
  alb_deletion_protection  = var.alb_deletion_protection
  log_retention_days       = var.log_retention_days
  alarm_actions            = local.alarm_actions
  alb_access_logs          = var.alb_access_logs
  waf                      = var.waf
  permissions_boundary_arn = local.permissions_boundary_arn

  deployment_strategy              = var.deployment_strategy
  canary_type                      = var.canary_type
  canary_percentage                = var.canary_percentage
  canary_interval_minutes          = var.canary_interval_minutes
  blue_green_approval_wait_minutes = var.blue_green_approval_wait_minutes
  blue_termination_wait_minutes    = var.blue_termination_wait_minutes
  test_listener_cidrs              = var.test_listener_cidrs
}
