# The values that differ between environments are required here (no defaults), so each root states
# them all (A8). The tuning knobs default to null, which means "the child module's default": the
# child variables are non-nullable, so their defaults stay the single source of truth.

# --- Identity, placement, release ---

variable "environment" {
  description = "dev, staging or prod (validated by the service module): the suffix of every name (orders-api-<env>) and APP_ENV."
  type        = string
}

variable "region" {
  description = "AWS region of the environment, the root's provider region (validated by the service module)."
  type        = string
}

variable "image_tag" {
  description = "Tag (commit SHA) of the image in the task definition revision Terraform registers. The pipeline deploys later revisions by digest; no workflow passes this (terraform.tfvars)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && !contains(["latest", "CHANGE-ME"], var.image_tag)
    error_message = "Set image_tag in terraform.tfvars to a pushed commit SHA: an immutable tag, never latest (A1)."
  }
}

variable "certificate_arn" {
  description = "ACM certificate (in var.region) for the service's domain; the ALB serves HTTPS only."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn)) && !strcontains(var.certificate_arn, "CHANGE-ME")
    error_message = "Set certificate_arn in terraform.tfvars to the ACM certificate of this environment's domain."
  }
}

variable "alarm_actions" {
  description = "More SNS topic ARNs every alarm notifies, besides the environment's own topic (optional; rollback does not depend on them)."
  type        = list(string)
  default     = []
}

variable "alarm_subscriptions" {
  description = "Who hears the environment's alarm topic: protocol (email, https, sqs, lambda, ...) and endpoint. Email subscriptions wait for the recipient's confirmation."
  type        = list(object({ protocol = string, endpoint = string }))
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for s in var.alarm_subscriptions : contains(["email", "email-json", "https", "sqs", "lambda", "sms", "firehose"], s.protocol)])
    error_message = "alarm_subscriptions protocol must be email, email-json, https, sqs, lambda, sms or firehose."
  }
}

# --- Network ---

variable "cidr_block" {
  description = "IPv4 CIDR of the environment's VPC (distinct per environment, e.g. 10.10.0.0/20 for dev)."
  type        = string
}

variable "availability_zones" {
  description = "Zones of var.region to spread the subnets over (2 or 3)."
  type        = list(string)

  validation {
    condition     = alltrue([for zone in var.availability_zones : startswith(zone, var.region)])
    error_message = "availability_zones must be zones of var.region, e.g. [\"eu-west-1a\", \"eu-west-1b\"]."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (dev) instead of one per zone (staging, prod)."
  type        = bool
}

variable "flow_logs_retention_days" {
  description = "Retention of the VPC flow logs."
  type        = number
}

# --- Data: PostgreSQL, Redis/Valkey, secrets ---

variable "db_instance_class" {
  description = "RDS instance class, e.g. db.t4g.micro (dev) or db.m7g.large (prod)."
  type        = string
}

variable "db_multi_az" {
  description = "RDS Multi-AZ standby with automatic failover (on in prod)."
  type        = bool
}

variable "db_backup_retention_days" {
  description = "RDS backup and point-in-time-recovery window in days."
  type        = number
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database (on in staging and prod)."
  type        = bool
}

variable "db_performance_insights" {
  description = "Performance Insights; set false for classes that lack it (db.t4g.micro). null: the data module's default (on)."
  type        = bool
  default     = null
}

variable "db_password_version" {
  description = "Bump to rotate the database password (terraform/README.md, Secrets). null: the data module's default."
  type        = number
  default     = null
}

variable "cache_node_type" {
  description = "ElastiCache node type, e.g. cache.t4g.micro (dev) or cache.m7g.large (prod)."
  type        = string
}

variable "cache_nodes" {
  description = "Nodes in the replication group: 1 (dev) or 2-6 (a replica in another zone, automatic failover)."
  type        = number
}

variable "cache_snapshot_retention_days" {
  description = "Daily cache snapshots kept (0 disables them)."
  type        = number
}

variable "redis_auth_version" {
  description = "Bump to rotate the Redis AUTH token (terraform/README.md, Secrets). null: the data module's default."
  type        = number
  default     = null
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can still be restored."
  type        = number
}

variable "api_keys_version" {
  description = "Bump to replace API_KEYS with one fresh key (terraform/README.md, Secrets). null: the data module's default."
  type        = number
  default     = null
}

# --- Service: sizing, settings, load balancer ---

variable "cpu" {
  description = "Task CPU units (256 = 0.25 vCPU)."
  type        = number
}

variable "memory" {
  description = "Task memory in MiB (a valid Fargate pairing with cpu)."
  type        = number
}

variable "desired_count" {
  description = "Tasks at creation; afterwards autoscaling owns the count."
  type        = number
}

variable "min_capacity" {
  description = "Autoscaling floor (2 or more in staging and prod)."
  type        = number
}

variable "max_capacity" {
  description = "Autoscaling ceiling (mind the database connection budget)."
  type        = number
}

variable "app_environment" {
  description = "Non-secret settings of the container (LOG_LEVEL, FF_NEW_CHECKOUT, DB_POOL_SIZE...)."
  type        = map(string)
}

variable "alb_access_logs" {
  description = "Write ALB access logs to a bucket of this environment (on in prod)."
  type        = bool
  default     = false
}

variable "waf" {
  description = "Put a WAF web ACL (AWS managed rules and a per-address rate limit) in front of the ALB (on in prod)."
  type        = bool
  default     = false
}

variable "alb_deletion_protection" {
  description = "Refuse to delete the load balancer (on in staging and prod)."
  type        = bool
}

variable "log_retention_days" {
  description = "Retention of the application log group."
  type        = number
}

# --- Deployment strategy (R1-R3) ---

variable "deployment_strategy" {
  description = "rolling | blue_green | canary (terraform/README.md, Deployment strategies)."
  type        = string
}

variable "canary_type" {
  description = "canary only: TimeBasedCanary or TimeBasedLinear. null: the service module's default."
  type        = string
  default     = null
}

variable "canary_percentage" {
  description = "canary only: traffic share of the first (or each) step. null: the service module's default."
  type        = number
  default     = null
}

variable "canary_interval_minutes" {
  description = "canary only: minutes between traffic steps. null: the service module's default."
  type        = number
  default     = null
}

variable "blue_green_approval_wait_minutes" {
  description = "blue_green and canary: minutes to wait for `aws deploy continue-deployment` (0: switch at once). null: the service module's default."
  type        = number
  default     = null
}

variable "blue_termination_wait_minutes" {
  description = "blue_green and canary: minutes the old task set keeps running after the switch. null: the service module's default."
  type        = number
  default     = null
}

variable "test_listener_cidrs" {
  description = "Extra CIDRs allowed to reach the test listener. null: the service module's default (the VPC only)."
  type        = list(string)
  default     = null
}

variable "data_client_security_group_ids" {
  description = "Security groups besides the ECS tasks' that may reach Postgres and Redis (the Kubernetes deploy's pods or nodes). null: the data module's default (the ECS tasks only)."
  type        = list(string)
  default     = null
}
