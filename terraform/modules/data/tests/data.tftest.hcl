# Behaviour of the data module under a mocked AWS provider: encryption, TLS, Multi-AZ and failover
# where asked, and no database password in the state.

mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name                = "orders-api-prod"
  secret_prefix       = "orders-api/prod"
  vpc_id              = "vpc-0123456789abcdef0"
  database_subnet_ids = ["subnet-0000000000000000a", "subnet-0000000000000000b"]
  db_instance_class   = "db.m7g.large"
  db_multi_az         = true
  cache_node_type     = "cache.m7g.large"
  cache_nodes         = 2
}

run "prod_postgres_is_multi_az_encrypted_private_and_tls_only" {
  command = apply

  assert {
    condition     = aws_db_instance.this.multi_az && aws_db_instance.this.storage_encrypted && !aws_db_instance.this.publicly_accessible
    error_message = "RDS in prod must be Multi-AZ, encrypted and private."
  }
  assert {
    condition     = one([for p in aws_db_parameter_group.this.parameter : p.value if p.name == "rds.force_ssl"]) == "1"
    error_message = "PostgreSQL must refuse connections without TLS (rds.force_ssl = 1)."
  }
  assert {
    condition     = aws_db_instance.this.password == null && aws_db_instance.this.password_wo == null && aws_db_instance.this.password_wo_version == 1
    error_message = "T8: the master password must be write-only (never in state)."
  }
  assert {
    condition     = aws_db_instance.this.backup_retention_period >= 1 && aws_db_instance.this.deletion_protection && !aws_db_instance.this.skip_final_snapshot
    error_message = "Backups on, deletion protection on, final snapshot taken."
  }
  assert {
    condition     = can(regex("^orders-api-prod-final-[0-9]{14}$", aws_db_instance.this.final_snapshot_identifier))
    error_message = "The final snapshot name must be unique per instance (a rebuilt environment must not collide with its predecessor's)."
  }
}

run "prod_cache_fails_over_and_speaks_tls" {
  command = apply

  assert {
    condition     = aws_elasticache_replication_group.this.automatic_failover_enabled && aws_elasticache_replication_group.this.multi_az_enabled && aws_elasticache_replication_group.this.num_cache_clusters == 2
    error_message = "ElastiCache in prod must have a replica with automatic failover."
  }
  assert {
    condition     = aws_elasticache_replication_group.this.transit_encryption_enabled && aws_elasticache_replication_group.this.at_rest_encryption_enabled
    error_message = "Redis must use TLS in transit (rediss://) and be encrypted at rest."
  }
  assert {
    condition     = aws_elasticache_replication_group.this.auth_token_update_strategy == "ROTATE"
    error_message = "AUTH token changes must keep the old token valid while tasks roll (ROTATE)."
  }
}

run "secrets_are_encrypted_and_urls_use_tls" {
  command = apply

  assert {
    condition     = alltrue([for s in [aws_secretsmanager_secret.database_url, aws_secretsmanager_secret.redis_url, aws_secretsmanager_secret.api_keys] : s.kms_key_id == aws_kms_key.this.arn])
    error_message = "T8: every secret must be encrypted with the environment's key."
  }
  assert {
    condition     = aws_secretsmanager_secret_version.redis_url.secret_string == null && aws_secretsmanager_secret_version.redis_url.secret_string_wo_version == 1
    error_message = "T8: REDIS_URL carries the AUTH token, so it must be written write-only (never in state or a plan)."
  }
  assert {
    condition     = aws_secretsmanager_secret_version.database_url.secret_string == null && aws_secretsmanager_secret_version.database_url.secret_string_wo_version == 1
    error_message = "T8: DATABASE_URL carries the password, so it must be written write-only."
  }
  assert {
    condition     = toset(keys(output.secret_arns)) == toset(["DATABASE_URL", "REDIS_URL", "API_KEYS"]) && alltrue([for arn in values(output.secret_arns) : startswith(arn, "arn:aws:secretsmanager:")])
    error_message = "The module must hand the service the three secrets by ARN."
  }
  assert {
    condition     = aws_kms_key.this.enable_key_rotation
    error_message = "The environment key must rotate."
  }
}

run "kms_key_lets_the_regional_logs_principal_and_alarms_use_it" {
  command = apply

  override_data {
    target = data.aws_region.current
    values = { name = "eu-west-1" }
  }

  assert {
    condition     = flatten([for p in one([for s in data.aws_iam_policy_document.kms.statement : s if s.sid == "CloudWatchLogsEncryptsThisAccountsLogGroups"]).principals : tolist(p.identifiers)]) == ["logs.eu-west-1.amazonaws.com"]
    error_message = "CloudWatch Logs uses the key as logs.<region>.amazonaws.com; logs.amazonaws.com is denied at CreateLogGroup."
  }
  assert {
    condition     = alltrue([for v in one([for s in data.aws_iam_policy_document.kms.statement : s if s.sid == "CloudWatchLogsEncryptsThisAccountsLogGroups"]).condition : alltrue([for arn in v.values : startswith(arn, "arn:aws:logs:eu-west-1:123456789012:log-group:")])])
    error_message = "The logs statement must be limited to this region's and account's log groups (encryption context)."
  }
}

run "db_and_cache_alarms_notify_and_cover_every_node" {
  command = apply

  variables {
    alarm_actions = ["arn:aws:sns:eu-west-1:123456789012:orders-api-prod-alarms"]
  }

  assert {
    condition     = alltrue([for a in [aws_cloudwatch_metric_alarm.db_cpu, aws_cloudwatch_metric_alarm.db_free_storage, aws_cloudwatch_metric_alarm.db_connections] : a.alarm_actions == toset(["arn:aws:sns:eu-west-1:123456789012:orders-api-prod-alarms"])])
    error_message = "The RDS CPU, free storage and connections alarms must notify the alarm topic."
  }
  assert {
    condition     = toset(keys(aws_cloudwatch_metric_alarm.cache_memory)) == toset(["orders-api-prod-001", "orders-api-prod-002"]) && toset(keys(aws_cloudwatch_metric_alarm.cache_evictions)) == toset(["orders-api-prod-001", "orders-api-prod-002"])
    error_message = "Every cache node needs a memory and an evictions alarm."
  }
}

run "dev_is_single_az_without_replica" {
  command = apply

  variables {
    name                          = "orders-api-dev"
    secret_prefix                 = "orders-api/dev"
    db_instance_class             = "db.t4g.micro"
    db_multi_az                   = false
    db_deletion_protection        = false
    cache_node_type               = "cache.t4g.micro"
    cache_nodes                   = 1
    cache_snapshot_retention_days = 0
  }

  assert {
    condition     = !aws_db_instance.this.multi_az && !aws_elasticache_replication_group.this.automatic_failover_enabled
    error_message = "dev runs one database instance and one cache node."
  }
  assert {
    condition     = aws_elasticache_replication_group.this.transit_encryption_enabled
    error_message = "E3: dev speaks TLS to Redis like prod."
  }
}

run "rejects_a_single_subnet" {
  command = plan
  variables {
    database_subnet_ids = ["subnet-0000000000000000a"]
  }
  expect_failures = [var.database_subnet_ids]
}

run "rejects_backups_off" {
  command = plan
  variables {
    db_backup_retention_days = 0
  }
  expect_failures = [var.db_backup_retention_days]
}

run "only_the_ecs_tasks_reach_the_data_stores_unless_clients_are_listed" {
  command = plan

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.postgres_from_clients) == 0 && length(aws_vpc_security_group_ingress_rule.redis_from_clients) == 0
    error_message = "By default only the ECS tasks reach Postgres and Redis (the service module's rules)."
  }
}

run "listed_client_groups_reach_postgres_and_redis" {
  command = plan

  variables {
    client_security_group_ids = ["sg-0123456789abcdef0"]
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.postgres_from_clients["sg-0123456789abcdef0"].referenced_security_group_id == "sg-0123456789abcdef0" && aws_vpc_security_group_ingress_rule.redis_from_clients["sg-0123456789abcdef0"].from_port == 6379
    error_message = "A listed client group (the Kubernetes pods) must reach both Postgres and Redis."
  }
}
