variable "name" {
  description = "Name prefix for every resource, e.g. orders-api-prod."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}$", var.name))
    error_message = "name must be 3-31 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "secret_prefix" {
  description = "Path prefix of the Secrets Manager secrets, e.g. orders-api/prod (the deploy and apply roles are scoped to it)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9-]+/[a-z0-9-]+$", var.secret_prefix))
    error_message = "secret_prefix must look like <service>/<environment>."
  }
}

variable "vpc_id" {
  description = "VPC the database and cache live in."
  type        = string
}

variable "database_subnet_ids" {
  description = "Isolated subnets (no route out of the VPC) for RDS and ElastiCache; at least two zones."
  type        = list(string)

  validation {
    condition     = length(var.database_subnet_ids) >= 2
    error_message = "database_subnet_ids needs subnets in at least two zones (Multi-AZ and failover)."
  }
}

# --- PostgreSQL (RDS) ---

variable "postgres_engine_version" {
  description = "PostgreSQL major version; RDS picks the newest minor and upgrades minors in the maintenance window."
  type        = string
  default     = "17"

  validation {
    condition     = contains(["15", "16", "17"], var.postgres_engine_version)
    error_message = "postgres_engine_version must be a supported major version: 15, 16 or 17."
  }
}

variable "db_instance_class" {
  description = "RDS instance class, e.g. db.t4g.micro (dev) or db.m7g.large (prod)."
  type        = string

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.db_instance_class))
    error_message = "db_instance_class must look like db.<family>.<size>."
  }
}

variable "db_allocated_storage_gb" {
  description = "Initial gp3 storage in GiB."
  type        = number
  default     = 20

  validation {
    condition     = var.db_allocated_storage_gb >= 20 && var.db_allocated_storage_gb <= 65536
    error_message = "db_allocated_storage_gb must be between 20 and 65536."
  }
}

variable "db_max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling in GiB (must be above the initial size)."
  type        = number
  default     = 100

  validation {
    condition     = var.db_max_allocated_storage_gb > var.db_allocated_storage_gb
    error_message = "db_max_allocated_storage_gb must be greater than db_allocated_storage_gb."
  }
}

variable "db_multi_az" {
  description = "Synchronous standby in a second zone with automatic failover (on in prod)."
  type        = bool
}

variable "db_backup_retention_days" {
  description = "Automated backup and point-in-time-recovery window in days."
  type        = number
  default     = 7

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be 1-35: backups are never off."
  }
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database (on in staging and prod). A final snapshot is always taken."
  type        = bool
  default     = true
}

variable "db_performance_insights" {
  description = "Performance Insights (query-level load, 7 days free retention). Off only for classes that lack it, e.g. db.t4g.micro."
  type        = bool
  default     = true
  nullable    = false # null from the stack module means this default
}

variable "db_password_version" {
  description = "Bump to generate a new database password: it is written to RDS and to the DATABASE_URL secret, never to state."
  type        = number
  default     = 1
  nullable    = false # null from the stack module means this default

  validation {
    condition     = var.db_password_version >= 1 && floor(var.db_password_version) == var.db_password_version
    error_message = "db_password_version must be a positive whole number; only ever increase it."
  }
}

# --- Redis-compatible cache (ElastiCache) ---

variable "cache_engine" {
  description = "ElastiCache engine: valkey (Redis-protocol compatible, the default) or redis."
  type        = string
  default     = "valkey"

  validation {
    condition     = contains(["valkey", "redis"], var.cache_engine)
    error_message = "cache_engine must be valkey or redis."
  }
}

variable "cache_engine_version" {
  description = "Engine version, e.g. 8.0 for valkey or 7.1 for redis."
  type        = string
  default     = "8.0"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+$", var.cache_engine_version))
    error_message = "cache_engine_version must be <major>.<minor>, e.g. 8.0."
  }
}

variable "cache_node_type" {
  description = "ElastiCache node type, e.g. cache.t4g.micro (dev) or cache.m7g.large (prod)."
  type        = string

  validation {
    condition     = can(regex("^cache\\.[a-z0-9]+\\.[a-z0-9]+$", var.cache_node_type))
    error_message = "cache_node_type must look like cache.<family>.<size>."
  }
}

variable "cache_nodes" {
  description = "Nodes in the replication group: 1 (no replica, dev) or 2-6 (a replica in another zone, automatic failover)."
  type        = number

  validation {
    condition     = var.cache_nodes >= 1 && var.cache_nodes <= 6
    error_message = "cache_nodes must be between 1 and 6."
  }
}

variable "cache_snapshot_retention_days" {
  description = "Daily cache snapshots kept (0 disables them; the cache is rebuildable, so dev may use 0)."
  type        = number
  default     = 1

  validation {
    condition     = var.cache_snapshot_retention_days >= 0 && var.cache_snapshot_retention_days <= 35
    error_message = "cache_snapshot_retention_days must be 0-35."
  }
}

variable "redis_auth_version" {
  description = "Bump to generate a new Redis AUTH token (ElastiCache ROTATE: the old one stays valid meanwhile); REDIS_URL follows."
  type        = number
  default     = 1
  nullable    = false # null from the stack module means this default

  validation {
    condition     = var.redis_auth_version >= 1 && floor(var.redis_auth_version) == var.redis_auth_version
    error_message = "redis_auth_version must be a positive whole number; only ever increase it."
  }
}

# --- Secrets ---

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can still be restored (0 deletes at once; only for throwaway environments)."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or 7-30."
  }
}

variable "api_keys_version" {
  description = "Bump to replace API_KEYS with one freshly generated key. Day-to-day rotation is `aws secretsmanager put-secret-value` (terraform/README.md, Secrets)."
  type        = number
  default     = 1
  nullable    = false # null from the stack module means this default

  validation {
    condition     = var.api_keys_version >= 1 && floor(var.api_keys_version) == var.api_keys_version
    error_message = "api_keys_version must be a positive whole number; only ever increase it."
  }
}

# --- Alarms (notifications only) ---

variable "alarm_actions" {
  description = "SNS topic ARNs the database and cache alarms notify when they fire or clear."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.alarm_actions : can(regex("^arn:aws[a-z-]*:sns:", arn))])
    error_message = "alarm_actions must be SNS topic ARNs."
  }
}

variable "alarm_db_cpu_percent" {
  description = "Alarm when PostgreSQL's average CPU stays above this percentage for 15 minutes."
  type        = number
  default     = 80
  nullable    = false

  validation {
    condition     = var.alarm_db_cpu_percent > 0 && var.alarm_db_cpu_percent < 100
    error_message = "alarm_db_cpu_percent must be between 0 and 100."
  }
}

variable "alarm_db_free_storage_gb" {
  description = "Alarm when PostgreSQL's free storage falls below this many GiB."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.alarm_db_free_storage_gb >= 1
    error_message = "alarm_db_free_storage_gb must be at least 1."
  }
}

variable "alarm_db_connections" {
  description = "Alarm when PostgreSQL holds more connections than this for 10 minutes: set it near 80 % of the instance class's max_connections."
  type        = number
  default     = 80
  nullable    = false

  validation {
    condition     = var.alarm_db_connections >= 1
    error_message = "alarm_db_connections must be at least 1."
  }
}

variable "alarm_cache_memory_percent" {
  description = "Alarm when a cache node uses more than this percentage of its memory for 15 minutes."
  type        = number
  default     = 80
  nullable    = false

  validation {
    condition     = var.alarm_cache_memory_percent > 0 && var.alarm_cache_memory_percent < 100
    error_message = "alarm_cache_memory_percent must be between 0 and 100."
  }
}

variable "alarm_cache_evictions" {
  description = "Alarm when a cache node evicts more than this many keys in 5 minutes (0: any eviction)."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.alarm_cache_evictions >= 0
    error_message = "alarm_cache_evictions must be 0 or more."
  }
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary of every IAM role this module creates (the environment's workload boundary from terraform/bootstrap); null for none."
  type        = string
  default     = null
}

variable "client_security_group_ids" {
  description = "Security groups besides the ECS tasks' that may reach Postgres and Redis, e.g. the pods' or nodes' group of an EKS cluster the Kubernetes deploy uses. Empty: the ECS tasks only."
  type        = list(string)
  default     = []
  nullable    = false
}
