# dev: a thin root. Everything environment-specific is in the locals below (A8); the modules are
# shared with the other environments (E3: same image, same settings keys, same backing services).

locals {
  environment = "dev"
  name        = "orders-api-${local.environment}"

  default_tags = {
    Environment = local.environment
    ManagedBy   = "terraform"
    Service     = "orders-api"
    Repository  = var.repository
  }
}

data "aws_ecr_repository" "orders_api" {
  name = "orders-api" # created by terraform/bootstrap
}

module "network" {
  source = "../../modules/network"

  name                     = local.name
  cidr_block               = "10.10.0.0/20"
  availability_zones       = ["${var.region}a", "${var.region}b"]
  single_nat_gateway       = true
  flow_logs_retention_days = 30
}

module "data" {
  source = "../../modules/data"

  name                = local.name
  secret_prefix       = "orders-api/${local.environment}"
  vpc_id              = module.network.vpc_id
  database_subnet_ids = module.network.database_subnet_ids

  db_instance_class        = "db.t4g.micro"
  db_multi_az              = false
  db_backup_retention_days = 3
  db_deletion_protection   = false
  db_performance_insights  = false # db.t4g.micro does not support it

  cache_node_type               = "cache.t4g.micro"
  cache_nodes                   = 1
  cache_snapshot_retention_days = 0

  secret_recovery_window_days = 7
}

module "service" {
  source = "../../modules/service"

  environment        = local.environment
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
  cpu                = 256
  memory             = 512
  desired_count      = 1
  min_capacity       = 1
  max_capacity       = 2

  app_environment = {
    LOG_LEVEL       = "INFO"
    FF_NEW_CHECKOUT = "true"
    DB_POOL_SIZE    = "5"
    DB_MAX_OVERFLOW = "5"
  }

  certificate_arn         = var.certificate_arn
  alb_deletion_protection = false
  log_retention_days      = 14
  alarm_actions           = var.alarm_actions

  deployment_strategy = "rolling"
}
