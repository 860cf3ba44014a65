output "kms_key_arn" {
  description = "Customer-managed key of the environment (logs, secrets, RDS, ElastiCache)."
  value       = aws_kms_key.this.arn
}

output "postgres_security_group_id" {
  description = "Security group of RDS; the service module adds the app's ingress rule to it."
  value       = aws_security_group.postgres.id
}

output "redis_security_group_id" {
  description = "Security group of ElastiCache; the service module adds the app's ingress rule to it."
  value       = aws_security_group.redis.id
}

output "postgres_port" {
  description = "Port PostgreSQL listens on."
  value       = aws_db_instance.this.port
}

output "redis_port" {
  description = "Port Redis/Valkey listens on."
  value       = aws_elasticache_replication_group.this.port
}

output "db_instance_identifier" {
  description = "RDS instance identifier (restore and failover runbooks)."
  value       = aws_db_instance.this.identifier
}

output "cache_replication_group_id" {
  description = "ElastiCache replication group ID (failover runbook)."
  value       = aws_elasticache_replication_group.this.id
}

output "secret_arns" {
  description = "ARNs of the secrets injected into the task, by environment variable name. ARNs only, never values."
  value = {
    DATABASE_URL = aws_secretsmanager_secret.database_url.arn
    REDIS_URL    = aws_secretsmanager_secret.redis_url.arn
    API_KEYS     = aws_secretsmanager_secret.api_keys.arn
  }
  # Whatever takes these ARNs (the task definition, the ECS service) waits until every secret has
  # a value and the database and cache it points at exist: tasks started earlier fail to start, and
  # a new service without one completed deployment has nothing for the circuit breaker to roll back to.
  depends_on = [
    aws_secretsmanager_secret_version.database_url,
    aws_secretsmanager_secret_version.redis_url,
    aws_secretsmanager_secret_version.api_keys,
    aws_db_instance.this,
    aws_elasticache_replication_group.this,
  ]
}

output "db_multi_az" {
  description = "Whether RDS runs a synchronous standby in a second zone."
  value       = aws_db_instance.this.multi_az
}

output "cache_automatic_failover" {
  description = "Whether ElastiCache promotes a replica automatically when the primary fails."
  value       = aws_elasticache_replication_group.this.automatic_failover_enabled
}
