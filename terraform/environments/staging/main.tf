# staging: one call of the shared stack (modules/stack: network, data, service) with this
# environment's values, all of them here (A8). Backend in versions.tf, tags in providers.tf.

locals {
  environment = "staging"
}

module "stack" {
  source = "../../modules/stack"

  environment     = local.environment
  region          = var.region
  image_tag       = var.image_tag
  certificate_arn = var.certificate_arn
  alarm_actions   = var.alarm_actions

  alarm_subscriptions = var.alarm_subscriptions

  cidr_block               = "10.20.0.0/20"
  availability_zones       = ["${var.region}a", "${var.region}b"]
  single_nat_gateway       = false
  flow_logs_retention_days = 90

  db_instance_class        = "db.t4g.medium"
  db_multi_az              = false
  db_backup_retention_days = 7
  db_deletion_protection   = true

  cache_node_type               = "cache.t4g.small"
  cache_nodes                   = 2
  cache_snapshot_retention_days = 1

  secret_recovery_window_days = 30

  cpu           = 512
  memory        = 1024
  desired_count = 2
  min_capacity  = 2
  max_capacity  = 4

  app_environment = {
    LOG_LEVEL       = "INFO"
    FF_NEW_CHECKOUT = "beta"
    DB_POOL_SIZE    = "10"
  }

  alb_deletion_protection = true
  log_retention_days      = 30

  deployment_strategy = "blue_green"
}
