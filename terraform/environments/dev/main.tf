# dev: one call of the shared stack (modules/stack: network, data, service) with this
# environment's values, all of them here (A8). Backend in versions.tf, tags in providers.tf.

locals {
  environment = "dev"
}

module "stack" {
  source = "../../modules/stack"

  environment     = local.environment
  region          = var.region
  image_tag       = var.image_tag
  certificate_arn = var.certificate_arn
  alarm_actions   = var.alarm_actions

  alarm_subscriptions = var.alarm_subscriptions

  cidr_block               = "10.10.0.0/20"
  availability_zones       = ["${var.region}a", "${var.region}b"]
  single_nat_gateway       = true
  flow_logs_retention_days = 30

  db_instance_class        = "db.t4g.micro"
  db_multi_az              = false
  db_backup_retention_days = 3
  db_deletion_protection   = false
  db_performance_insights  = false # db.t4g.micro does not support it

  cache_node_type               = "cache.t4g.micro"
  cache_nodes                   = 1
  cache_snapshot_retention_days = 0

  secret_recovery_window_days = 0 # dev is torn down and rebuilt: its secret names must be free at once

  cpu           = 256
  memory        = 512
  desired_count = 1
  min_capacity  = 1
  max_capacity  = 2

  app_environment = {
    LOG_LEVEL       = "INFO"
    FF_NEW_CHECKOUT = "true"
    DB_POOL_SIZE    = "5"
  }

  alb_deletion_protection = false
  log_retention_days      = 14

  deployment_strategy = "rolling"
}
