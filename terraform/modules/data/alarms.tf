# Capacity alarms of the database and the cache. They notify (alarm_actions: the environment's
# alarm topic); none of them stops a deployment, because none of them is caused by one.

locals {
  # ElastiCache names the nodes of a replication group <group id>-001, -002, ...
  cache_node_ids = [for index in range(var.cache_nodes) : format("%s-%03d", var.name, index + 1)]
}

resource "aws_cloudwatch_metric_alarm" "db_cpu" {
  alarm_name          = "${var.name}-db-cpu"
  alarm_description   = "PostgreSQL CPU above ${var.alarm_db_cpu_percent}% for 15 min: queries queue and the pools saturate. Runbook: runbooks/alerts/database-pool-saturated.md"
  namespace           = "AWS/RDS"
  metric_name         = "CPUUtilization"
  dimensions          = { DBInstanceIdentifier = aws_db_instance.this.identifier }
  statistic           = "Average"
  period              = 300
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_db_cpu_percent
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  treat_missing_data  = "missing"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "db_free_storage" {
  alarm_name          = "${var.name}-db-free-storage"
  alarm_description   = "PostgreSQL free storage below ${var.alarm_db_free_storage_gb} GiB: storage autoscaling is at its ceiling (db_max_allocated_storage_gb) or cannot keep up. Runbook: runbooks/alerts/disk-usage-high.md"
  namespace           = "AWS/RDS"
  metric_name         = "FreeStorageSpace"
  dimensions          = { DBInstanceIdentifier = aws_db_instance.this.identifier }
  statistic           = "Minimum"
  period              = 300
  comparison_operator = "LessThanThreshold"
  threshold           = var.alarm_db_free_storage_gb * 1024 * 1024 * 1024 # the metric is in bytes
  evaluation_periods  = 1
  treat_missing_data  = "missing"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "db_connections" {
  alarm_name          = "${var.name}-db-connections"
  alarm_description   = "More than ${var.alarm_db_connections} PostgreSQL connections for 10 min: the pools of max_capacity tasks approach max_connections. Runbook: runbooks/alerts/database-pool-exhausted.md"
  namespace           = "AWS/RDS"
  metric_name         = "DatabaseConnections"
  dimensions          = { DBInstanceIdentifier = aws_db_instance.this.identifier }
  statistic           = "Maximum"
  period              = 300
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_db_connections
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  treat_missing_data  = "missing"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "cache_memory" {
  for_each = toset(local.cache_node_ids)

  alarm_name          = "${each.key}-cache-memory"
  alarm_description   = "Cache node ${each.key} uses more than ${var.alarm_cache_memory_percent}% of its memory for 15 min: evictions follow. Runbook: runbooks/alerts/redis-unavailable.md"
  namespace           = "AWS/ElastiCache"
  metric_name         = "DatabaseMemoryUsagePercentage"
  dimensions          = { CacheClusterId = each.key }
  statistic           = "Maximum"
  period              = 300
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_cache_memory_percent
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  treat_missing_data  = "missing"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions

  depends_on = [aws_elasticache_replication_group.this]
}

resource "aws_cloudwatch_metric_alarm" "cache_evictions" {
  for_each = toset(local.cache_node_ids)

  alarm_name          = "${each.key}-cache-evictions"
  alarm_description   = "Cache node ${each.key} evicted more than ${var.alarm_cache_evictions} keys in 5 min: idempotency keys may be lost before they expire. Runbook: runbooks/alerts/redis-unavailable.md"
  namespace           = "AWS/ElastiCache"
  metric_name         = "Evictions"
  dimensions          = { CacheClusterId = each.key }
  statistic           = "Sum"
  period              = 300
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_cache_evictions
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions

  depends_on = [aws_elasticache_replication_group.this]
}
