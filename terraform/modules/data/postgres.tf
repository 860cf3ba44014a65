# PostgreSQL on RDS: encrypted, TLS enforced by the server, Multi-AZ where the environment asks.
# The master password is generated for each `db_password_version` and written with write-only
# arguments (to RDS and into the DATABASE_URL secret), so it never lands in the state or a plan.

locals {
  db_name     = "orders"
  db_username = "orders_api"
  # 244 random bits as hex (URL-safe): uuid() draws version-4 UUIDs from crypto/rand. The value is
  # unknown until apply, evaluated once per run, and only ever passed to write-only arguments, so
  # RDS and the secret get the same password and neither the plan nor the state records it.
  # (An ephemeral aws_secretsmanager_random_password would do the same, but `terraform test` mock
  # providers cannot mock ephemeral resources in Terraform 1.11, and the modules are tested.)
  db_password = replace("${uuid()}${uuid()}", "-", "")
}

resource "aws_security_group" "postgres" {
  name        = "${var.name}-postgres"
  description = "PostgreSQL: ingress only from the service's tasks (rules live in the service module)"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-postgres" }
}

resource "aws_db_subnet_group" "this" {
  name        = var.name
  description = "Isolated database subnets of ${var.name}"
  subnet_ids  = var.database_subnet_ids
}

resource "aws_db_parameter_group" "this" {
  name_prefix = "${var.name}-pg${var.postgres_engine_version}-"
  family      = "postgres${var.postgres_engine_version}"
  description = "${var.name}: TLS only, slow and failed statements logged"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000" # ms: statements slower than 1 s
  }

  parameter {
    name  = "log_statement"
    value = "ddl" # migrations leave a trail; data statements are not logged (they may carry personal data)
  }

  lifecycle {
    create_before_destroy = true
  }
}

data "aws_iam_policy_document" "rds_monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "rds_monitoring" {
  name                 = "${var.name}-rds-monitoring"
  assume_role_policy   = data.aws_iam_policy_document.rds_monitoring_assume.json
  permissions_boundary = var.permissions_boundary_arn
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

#trivy:ignore:AVD-AWS-0177 Deletion protection is per environment (db_deletion_protection): on in staging and prod.
#trivy:ignore:AVD-AWS-0133 Performance Insights is per environment (db_performance_insights): off only where the class lacks it.
resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_293:Deletion protection is per environment (db_deletion_protection): on in staging and prod, off in disposable dev.
  #checkov:skip=CKV_AWS_353:Performance Insights is per environment (db_performance_insights): off only where the instance class lacks it (dev).
  #checkov:skip=CKV_AWS_157:Multi-AZ is per environment (db_multi_az): on in prod; dev and staging trade it for cost.
  identifier     = var.name
  engine         = "postgres"
  engine_version = var.postgres_engine_version
  instance_class = var.db_instance_class

  db_name             = local.db_name
  username            = local.db_username
  password_wo         = local.db_password
  password_wo_version = var.db_password_version

  allocated_storage     = var.db_allocated_storage_gb
  max_allocated_storage = var.db_max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.this.arn

  multi_az               = var.db_multi_az
  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.postgres.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.this.name
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  allow_major_version_upgrade         = false
  backup_retention_period             = var.db_backup_retention_days
  copy_tags_to_snapshot               = true
  delete_automated_backups            = false
  deletion_protection                 = var.db_deletion_protection
  skip_final_snapshot                 = false
  # Unique per instance: a recreated database (dev torn down and rebuilt) must not collide with the
  # snapshot its predecessor left. Fixed at creation by ignore_changes below.
  final_snapshot_identifier = "${var.name}-final-${formatdate("YYYYMMDDhhmmss", timestamp())}"

  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.rds_monitoring.arn
  performance_insights_enabled          = var.db_performance_insights
  performance_insights_kms_key_id       = var.db_performance_insights ? aws_kms_key.this.arn : null
  performance_insights_retention_period = var.db_performance_insights ? 7 : null

  lifecycle {
    ignore_changes = [final_snapshot_identifier]
  }

  depends_on = [aws_iam_role_policy_attachment.rds_monitoring]
}
