# Redis-protocol cache on ElastiCache: TLS in transit (rediss://), encrypted at rest, AUTH token,
# and with two or more nodes a replica in another zone with automatic failover.
#
# ElastiCache has no write-only argument for the AUTH token (AWS provider 5.100: neither auth_token
# nor aws_elasticache_user passwords), so the token does reach the state (encrypted in the state
# bucket): in this secret version and in the replication group. It is generated once, pinned by
# ignore_changes, and replaced when redis_auth_version changes; REDIS_URL is written write-only.
# Saved plans embed the state, so a plan of an environment is never uploaded (terraform/README.md,
# "Secrets" and "Limits").

resource "aws_security_group" "redis" {
  name        = "${var.name}-redis"
  description = "Redis/Valkey: ingress only from the service's tasks (rules live in the service module)"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-redis" }
}

resource "aws_elasticache_subnet_group" "this" {
  name        = var.name
  description = "Isolated database subnets of ${var.name}"
  subnet_ids  = var.database_subnet_ids
}

resource "aws_secretsmanager_secret" "redis_auth" {
  #checkov:skip=CKV2_AWS_57:Rotated by bumping redis_auth_version; ElastiCache ROTATE keeps the old token valid meanwhile (terraform/README.md, Secrets).
  name                    = "${var.secret_prefix}/redis-auth-token"
  description             = "AUTH token of the ${var.name} cache (source of truth for REDIS_URL; not injected)"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "terraform_data" "redis_auth_version" {
  input = var.redis_auth_version
}

resource "aws_secretsmanager_secret_version" "redis_auth" {
  secret_id = aws_secretsmanager_secret.redis_auth.id
  # 244 random bits as hex (crypto/rand); AUTH allows a few symbols only, and the token sits in a URL.
  secret_string = replace("${uuid()}${uuid()}", "-", "")

  lifecycle {
    # uuid() differs on every run: keep the token until redis_auth_version changes.
    ignore_changes       = [secret_string]
    replace_triggered_by = [terraform_data.redis_auth_version]
  }
}

resource "aws_elasticache_replication_group" "this" {
  #checkov:skip=CKV2_AWS_50:Failover is per environment (cache_nodes > 1): on in staging and prod; dev runs one node.
  replication_group_id = var.name
  description          = "${var.name} cache and idempotency keys"
  engine               = var.cache_engine
  engine_version       = var.cache_engine_version
  node_type            = var.cache_node_type
  port                 = 6379

  num_cache_clusters         = var.cache_nodes
  automatic_failover_enabled = var.cache_nodes > 1
  multi_az_enabled           = var.cache_nodes > 1
  subnet_group_name          = aws_elasticache_subnet_group.this.name
  security_group_ids         = [aws_security_group.redis.id]

  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.this.arn
  transit_encryption_enabled = true
  auth_token                 = aws_secretsmanager_secret_version.redis_auth.secret_string
  # ROTATE keeps the old token valid next to the new one until the next change, so running tasks
  # keep working while new ones start with the new URL.
  auth_token_update_strategy = "ROTATE"

  auto_minor_version_upgrade = true
  snapshot_retention_limit   = var.cache_snapshot_retention_days
  # AUTH token rotation (ROTATE) must apply immediately; other changes here are reviewed plans anyway,
  # and ElastiCache scales nodes online.
  apply_immediately = true
}
