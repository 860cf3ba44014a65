# prod: one call of the shared stack (modules/stack: network, data, service) with this
# environment's values, all of them here (A8). Backend in versions.tf, tags in providers.tf.

locals {
  environment = "prod"
}

module "stack" {
  source = "../../modules/stack"

  environment     = local.environment
  region          = var.region
  image_tag       = var.image_tag
  certificate_arn = var.certificate_arn
  alarm_actions   = var.alarm_actions

  alarm_subscriptions = var.alarm_subscriptions

  cidr_block               = "10.30.0.0/20"
  availability_zones       = ["${var.region}a", "${var.region}b", "${var.region}c"]
  single_nat_gateway       = false
  flow_logs_retention_days = 365

  db_instance_class        = "db.m7g.large"
  db_multi_az              = true
  db_backup_retention_days = 14
  db_deletion_protection   = true

  cache_node_type               = "cache.m7g.large"
  cache_nodes                   = 2
  cache_snapshot_retention_days = 7

  secret_recovery_window_days = 30

  cpu           = 1024
  memory        = 2048
  desired_count = 3
  min_capacity  = 3
  max_capacity  = 12

  app_environment = {
    LOG_LEVEL       = "INFO"
    FF_NEW_CHECKOUT = "false"
    DB_POOL_SIZE    = "10"
  }

  alb_deletion_protection = true
  alb_access_logs         = true
  waf                     = true
  log_retention_days      = 90

  deployment_strategy = "canary"
}
