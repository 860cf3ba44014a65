# The three secrets the task receives, each injected by ARN through the task definition's
# `secrets` (never as plain environment, never in an output). The app reads DATABASE_URL and
# REDIS_URL as whole URLs, so each secret holds the complete URL, TLS options included.

resource "aws_secretsmanager_secret" "database_url" {
  #checkov:skip=CKV2_AWS_57:Rotated by bumping db_password_version: Terraform writes RDS and this URL together (terraform/README.md, Secrets); a rotation Lambda would rewrite the password behind that.
  name                    = "${var.secret_prefix}/database-url"
  description             = "DATABASE_URL of ${var.name}: postgresql:// URL with the generated password, TLS required"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "database_url" {
  secret_id = aws_secretsmanager_secret.database_url.id
  # Same run, same local.db_password as aws_db_instance.this.password_wo: the two never drift.
  secret_string_wo = format(
    "postgresql://%s:%s@%s:%d/%s?ssl=require",
    local.db_username,
    local.db_password,
    aws_db_instance.this.address,
    aws_db_instance.this.port,
    local.db_name,
  )
  secret_string_wo_version = var.db_password_version

  lifecycle {
    # A replaced instance gets a fresh password (and maybe a new address): write the URL again.
    replace_triggered_by = [aws_db_instance.this.resource_id]
  }
}

resource "aws_secretsmanager_secret" "redis_url" {
  #checkov:skip=CKV2_AWS_57:Derived from the AUTH token secret; rotated with it (terraform/README.md, Secrets).
  name                    = "${var.secret_prefix}/redis-url"
  description             = "REDIS_URL of ${var.name}: rediss:// (TLS) URL with the AUTH token"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

# Write-only, like DATABASE_URL: the URL is written when the token changes (redis_auth_version) or
# the replication group is replaced (a new endpoint), and never lands in the state or a plan.
resource "aws_secretsmanager_secret_version" "redis_url" {
  secret_id = aws_secretsmanager_secret.redis_url.id
  secret_string_wo = format(
    "rediss://:%s@%s:%d/0",
    aws_secretsmanager_secret_version.redis_auth.secret_string,
    aws_elasticache_replication_group.this.primary_endpoint_address,
    aws_elasticache_replication_group.this.port,
  )
  secret_string_wo_version = var.redis_auth_version

  lifecycle {
    replace_triggered_by = [aws_elasticache_replication_group.this.primary_endpoint_address]
  }
}

resource "aws_secretsmanager_secret" "api_keys" {
  #checkov:skip=CKV2_AWS_57:API keys are shared with callers; operators rotate them with put-secret-value, old and new valid together (terraform/README.md, Secrets).
  name                    = "${var.secret_prefix}/api-keys"
  description             = "API_KEYS of ${var.name}: comma-separated, each at least 16 characters"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

# A first key so the service can start; operators add and retire keys with put-secret-value,
# which Terraform leaves alone until api_keys_version is bumped.
resource "aws_secretsmanager_secret_version" "api_keys" {
  secret_id                = aws_secretsmanager_secret.api_keys.id
  secret_string_wo         = replace(uuid(), "-", "") # 122 random bits, hex
  secret_string_wo_version = var.api_keys_version
}
