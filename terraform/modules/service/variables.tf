# --- Identity and placement ---

variable "service_name" {
  description = "Service name: ECS service, container image repository, OTEL_SERVICE_NAME."
  type        = string
  default     = "orders-api"

  validation {
    # The longest name made from it, "<service>-staging-green" (a target group), may have 32 characters.
    condition     = can(regex("^[a-z][a-z0-9-]{2,17}$", var.service_name))
    error_message = "service_name must be 3-18 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name; it becomes APP_ENV and the suffix of every per-environment name."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod (docs/architecture.md, Deploy names)."
  }
}

variable "region" {
  description = "AWS region of the environment (for the awslogs driver)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "vpc_id" {
  description = "VPC of the environment."
  type        = string
}

variable "vpc_cidr_block" {
  description = "VPC CIDR: the ALB's addresses (FORWARDED_ALLOW_IPS) and the in-VPC reach of the test listener."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr_block, 0))
    error_message = "vpc_cidr_block must be a valid IPv4 CIDR."
  }
}

variable "public_subnet_ids" {
  description = "Public subnets for the ALB (at least two zones)."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_ids) >= 2
    error_message = "public_subnet_ids needs at least two subnets: an ALB spans two or more zones."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets for the tasks; tasks never get a public IP."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "private_subnet_ids needs at least two subnets so tasks survive a zone failure."
  }
}

# --- Dependencies from the data module ---

variable "postgres_security_group_id" {
  description = "Security group of RDS; this module adds the app -> Postgres ingress rule."
  type        = string
}

variable "postgres_port" {
  description = "PostgreSQL port."
  type        = number
  default     = 5432
}

variable "redis_security_group_id" {
  description = "Security group of ElastiCache; this module adds the app -> Redis ingress rule."
  type        = string
}

variable "redis_port" {
  description = "Redis/Valkey port."
  type        = number
  default     = 6379
}

variable "kms_key_arn" {
  description = "KMS key of the environment: encrypts the log group, decrypts the secrets."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "secret_arns" {
  description = "Secrets Manager ARNs injected into the container, by variable name: exactly DATABASE_URL, REDIS_URL and API_KEYS."
  type        = map(string)

  validation {
    condition     = toset(keys(var.secret_arns)) == toset(["DATABASE_URL", "REDIS_URL", "API_KEYS"])
    error_message = "secret_arns must hold exactly DATABASE_URL, REDIS_URL and API_KEYS."
  }

  validation {
    condition     = alltrue([for arn in values(var.secret_arns) : can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:", arn))])
    error_message = "secret_arns values must be Secrets Manager secret ARNs: secrets reach the task by ARN only, never by value."
  }
}

# --- Image and task size ---

variable "ecr_repository_arn" {
  description = "ARN of the ECR repository the execution role may pull from."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ecr:", var.ecr_repository_arn))
    error_message = "ecr_repository_arn must be an ECR repository ARN."
  }
}

variable "image" {
  description = "Image for the task definition Terraform registers (tag = commit SHA, or a digest). The pipeline registers later revisions with the image it built."
  type        = string

  validation {
    condition     = can(regex("^[^:@]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$", var.image)) && !endswith(var.image, ":latest") && (strcontains(var.image, "@sha256:") || can(regex(":[^/]+$", var.image)))
    error_message = "image must carry an immutable tag (the commit SHA) or a digest, never :latest or no tag (A1)."
  }
}

variable "cpu_architecture" {
  description = "Task CPU architecture; the image must be built for it."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "cpu" {
  description = "Task CPU units (256 = 0.25 vCPU). One uvicorn process uses one core well: prefer more tasks to bigger tasks."
  type        = number

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.cpu)
    error_message = "cpu must be a Fargate size: 256, 512, 1024, 2048 or 4096."
  }
}

variable "memory" {
  description = "Task memory in MiB; must be a valid Fargate pairing with cpu."
  type        = number

  validation {
    condition     = var.memory >= 512 && var.memory <= 30720 && var.memory >= var.cpu * 2 && var.memory <= var.cpu * 8
    error_message = "memory must be between 2x and 8x the cpu units (Fargate pairings), 512-30720 MiB."
  }
}

variable "desired_count" {
  description = "Tasks at creation; afterwards autoscaling owns the count (Terraform ignores drift in it)."
  type        = number

  validation {
    condition     = var.desired_count >= 1
    error_message = "desired_count must be at least 1."
  }
}

variable "min_capacity" {
  description = "Autoscaling floor (2 or more in staging and prod, so one task can fail or be replaced)."
  type        = number

  validation {
    condition     = var.min_capacity >= 1
    error_message = "min_capacity must be at least 1."
  }
}

variable "max_capacity" {
  description = "Autoscaling ceiling; size it against the database connection budget: max_capacity x DB_POOL_SIZE < max_connections."
  type        = number

  validation {
    condition     = var.max_capacity >= var.min_capacity && var.max_capacity <= 100
    error_message = "max_capacity must be at least min_capacity and at most 100."
  }
}

variable "cpu_target_percent" {
  description = "Target average CPU utilisation for the autoscaling policy."
  type        = number
  default     = 60

  validation {
    condition     = var.cpu_target_percent >= 20 && var.cpu_target_percent <= 90
    error_message = "cpu_target_percent must be between 20 and 90."
  }
}

variable "requests_per_target" {
  description = "Target ALB requests per task per minute for request-count scaling (rolling strategy only: with CodeDeploy the live target group alternates)."
  type        = number
  default     = 6000

  validation {
    condition     = var.requests_per_target >= 60
    error_message = "requests_per_target must be at least 60 per minute."
  }
}

# --- Application settings (plain, non-secret) ---

variable "app_environment" {
  description = "Extra non-secret settings for the container (e.g. LOG_LEVEL, FF_NEW_CHECKOUT, DB_POOL_SIZE). Secrets go through secret_arns only."
  type        = map(string)
  default     = {}

  validation {
    condition     = length(setintersection(toset(keys(var.app_environment)), toset(["DATABASE_URL", "REDIS_URL", "API_KEYS"]))) == 0
    error_message = "DATABASE_URL, REDIS_URL and API_KEYS are secrets: pass them through secret_arns, never as plain environment (T8)."
  }

  validation {
    condition     = alltrue([for key in keys(var.app_environment) : can(regex("^[A-Z][A-Z0-9_]*$", key))])
    error_message = "app_environment keys must be upper-case environment variable names."
  }
}

variable "otel_exporter_otlp_endpoint" {
  description = "OTLP/HTTP endpoint of a trace collector; empty disables tracing (OTEL_SDK_DISABLED=true)."
  type        = string
  default     = ""
}

variable "log_retention_days" {
  description = "Retention of the application log group."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (e.g. 30, 90, 365)."
  }
}

# --- Load balancer ---

variable "certificate_arn" {
  description = "ACM certificate for the HTTPS listeners."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "alb_deletion_protection" {
  description = "Refuse to delete the load balancer (on in staging and prod)."
  type        = bool
  default     = true
}

variable "alb_access_logs" {
  description = "Write ALB access logs to this module's log bucket (SSE-S3: the only encryption ALB log delivery supports)."
  type        = bool
  default     = false
}

variable "alb_access_logs_retention_days" {
  description = "Days ALB access logs are kept."
  type        = number
  default     = 90

  validation {
    condition     = var.alb_access_logs_retention_days >= 1
    error_message = "alb_access_logs_retention_days must be at least 1."
  }
}

variable "waf" {
  description = "Associate a WAF web ACL with the ALB: AWS managed rule groups (common, known bad inputs, IP reputation) and a per-address rate limit."
  type        = bool
  default     = false
}

variable "waf_rate_limit_per_5_minutes" {
  description = "Requests one client address may make in 5 minutes before the WAF blocks it."
  type        = number
  default     = 2000

  validation {
    condition     = var.waf_rate_limit_per_5_minutes >= 100
    error_message = "waf_rate_limit_per_5_minutes must be at least 100 (the WAF minimum)."
  }
}

variable "test_listener_port" {
  description = "Port of the CodeDeploy test listener: reaches the new (green) task set before it takes production traffic."
  type        = number
  default     = 8443

  validation {
    condition     = var.test_listener_port != 443 && var.test_listener_port != 80 && var.test_listener_port >= 1024 && var.test_listener_port <= 65535
    error_message = "test_listener_port must be a free port from 1024 to 65535 (not 80 or 443)."
  }
}

variable "test_listener_cidrs" {
  description = "Extra CIDRs allowed to reach the test listener (e.g. a smoke-test runner's egress). The VPC always may."
  type        = list(string)
  default     = []
  nullable    = false # null from the stack module means this default

  validation {
    condition     = alltrue([for cidr in var.test_listener_cidrs : can(cidrhost(cidr, 0)) && cidr != "0.0.0.0/0"])
    error_message = "test_listener_cidrs must be valid IPv4 CIDRs and never 0.0.0.0/0."
  }
}

# --- Shutdown budget (docs/architecture.md "Shutdown budget"; the validations keep it consistent) ---

variable "health_check_interval_seconds" {
  description = "ALB health check interval on /health/ready."
  type        = number
  default     = 5

  validation {
    condition     = var.health_check_interval_seconds >= 5 && var.health_check_interval_seconds <= 300
    error_message = "health_check_interval_seconds must be 5-300 (ALB limits)."
  }
}

variable "health_check_timeout_seconds" {
  description = "ALB health check timeout; the app's probes finish well inside it (HEALTH_TIMEOUT < 1 s)."
  type        = number
  default     = 2

  validation {
    condition     = var.health_check_timeout_seconds >= 2 && var.health_check_timeout_seconds < var.health_check_interval_seconds
    error_message = "health_check_timeout_seconds must be at least 2 and below health_check_interval_seconds."
  }
}

variable "health_check_unhealthy_threshold" {
  description = "Failed checks before a target is unhealthy: interval x threshold is the time to notice."
  type        = number
  default     = 2

  validation {
    condition     = var.health_check_unhealthy_threshold >= 2 && var.health_check_unhealthy_threshold <= 10
    error_message = "health_check_unhealthy_threshold must be 2-10."
  }
}

variable "health_check_healthy_threshold" {
  description = "Passed checks before a new target takes traffic."
  type        = number
  default     = 2

  validation {
    condition     = var.health_check_healthy_threshold >= 2 && var.health_check_healthy_threshold <= 10
    error_message = "health_check_healthy_threshold must be 2-10."
  }
}

variable "deregistration_delay_seconds" {
  description = "How long the ALB lets in-flight requests finish on a deregistered target before ECS sends SIGTERM."
  type        = number
  default     = 30

  validation {
    condition     = var.deregistration_delay_seconds >= var.graceful_timeout_seconds && var.deregistration_delay_seconds >= var.health_check_interval_seconds * var.health_check_unhealthy_threshold && var.deregistration_delay_seconds <= 3600
    error_message = "deregistration_delay_seconds must cover the longest request (>= graceful_timeout_seconds) and the health-check notice time (>= interval x unhealthy threshold)."
  }
}

variable "drain_seconds" {
  description = "DRAIN_SECONDS: after SIGTERM the app answers readiness 503 and keeps serving this long."
  type        = number
  default     = 5

  validation {
    condition     = var.drain_seconds >= 0 && var.drain_seconds <= 60
    error_message = "drain_seconds must be 0-60."
  }
}

variable "graceful_timeout_seconds" {
  description = "GRACEFUL_TIMEOUT: after draining, the app finishes in-flight work within this many seconds."
  type        = number
  default     = 20

  validation {
    condition     = var.graceful_timeout_seconds > 0 && var.graceful_timeout_seconds <= 100
    error_message = "graceful_timeout_seconds must be 1-100."
  }
}

variable "stop_timeout_seconds" {
  description = "ECS stopTimeout: SIGKILL this long after SIGTERM. Must exceed drain + graceful; Fargate allows at most 120."
  type        = number
  default     = 30

  validation {
    condition     = var.stop_timeout_seconds > var.drain_seconds + var.graceful_timeout_seconds && var.stop_timeout_seconds <= 120
    error_message = "stop_timeout_seconds must be greater than drain_seconds + graceful_timeout_seconds and at most 120 (Fargate)."
  }
}

variable "alb_idle_timeout_seconds" {
  description = "ALB idle timeout for client and target connections."
  type        = number
  default     = 60

  validation {
    condition     = var.alb_idle_timeout_seconds >= 1 && var.alb_idle_timeout_seconds <= 4000
    error_message = "alb_idle_timeout_seconds must be 1-4000."
  }
}

variable "keep_alive_timeout_seconds" {
  description = "KEEP_ALIVE_TIMEOUT of the app: above the ALB idle timeout, so the ALB, not the app, closes idle connections (else: 502s)."
  type        = number
  default     = 75

  validation {
    condition     = var.keep_alive_timeout_seconds > var.alb_idle_timeout_seconds
    error_message = "keep_alive_timeout_seconds must be greater than alb_idle_timeout_seconds, or the ALB reuses connections the app has closed (502)."
  }
}

# --- Deployment strategy (R1-R3, R5) ---

variable "deployment_strategy" {
  description = "rolling: ECS rolling update with circuit breaker and alarm rollback. blue_green: CodeDeploy all-at-once switch between two target groups. canary: CodeDeploy canary or linear traffic shift."
  type        = string

  validation {
    condition     = contains(["rolling", "blue_green", "canary"], var.deployment_strategy)
    error_message = "deployment_strategy must be rolling, blue_green or canary."
  }
}

variable "canary_type" {
  description = "canary strategy only: TimeBasedCanary (canary_percentage, then the rest) or TimeBasedLinear (canary_percentage more every interval)."
  type        = string
  default     = "TimeBasedCanary"
  nullable    = false # null from the stack module means this default

  validation {
    condition     = contains(["TimeBasedCanary", "TimeBasedLinear"], var.canary_type)
    error_message = "canary_type must be TimeBasedCanary or TimeBasedLinear."
  }
}

variable "canary_percentage" {
  description = "Share of traffic on the new version in the first step (canary) or added each step (linear)."
  type        = number
  default     = 5
  nullable    = false # null from the stack module means this default

  validation {
    condition     = var.canary_percentage >= 1 && var.canary_percentage <= 99 && floor(var.canary_percentage) == var.canary_percentage
    error_message = "canary_percentage must be a whole number from 1 to 99."
  }
}

variable "canary_interval_minutes" {
  description = "Minutes between traffic steps; the alarms watch each step. At least the longest alarm window, so a bad canary trips before the next step."
  type        = number
  default     = 10
  nullable    = false # null from the stack module means this default

  validation {
    condition     = var.canary_interval_minutes >= 1 && var.canary_interval_minutes <= 2880
    error_message = "canary_interval_minutes must be 1-2880."
  }
}

variable "blue_green_approval_wait_minutes" {
  description = "0: switch traffic as soon as the new task set is healthy. >0: wait this long for `aws deploy continue-deployment` (after a smoke test on the test listener), else stop and roll back."
  type        = number
  default     = 0
  nullable    = false # null from the stack module means this default

  validation {
    condition     = var.blue_green_approval_wait_minutes >= 0 && var.blue_green_approval_wait_minutes <= 2880
    error_message = "blue_green_approval_wait_minutes must be 0-2880."
  }
}

variable "blue_termination_wait_minutes" {
  description = "Minutes the old task set stays running after the switch: the window for an instant switch-back (aws deploy stop-deployment --auto-rollback-enabled)."
  type        = number
  default     = 30
  nullable    = false # null from the stack module means this default

  validation {
    condition     = var.blue_termination_wait_minutes >= 5 && var.blue_termination_wait_minutes <= 2880
    error_message = "blue_termination_wait_minutes must be 5-2880: keep the old set long enough to switch back."
  }
}

# --- Alarms: defaults agree with ops/prometheus rules (a parity test reads them from this file) ---

variable "alarm_5xx_rate_percent" {
  description = "Alarm when 5xx responses exceed this percentage of requests..."
  type        = number
  default     = 1

  validation {
    condition     = var.alarm_5xx_rate_percent > 0 && var.alarm_5xx_rate_percent < 100
    error_message = "alarm_5xx_rate_percent must be between 0 and 100."
  }
}

variable "alarm_5xx_rate_minutes" {
  description = "...for this many consecutive minutes."
  type        = number
  default     = 5

  validation {
    condition     = var.alarm_5xx_rate_minutes >= 1 && var.alarm_5xx_rate_minutes <= 60
    error_message = "alarm_5xx_rate_minutes must be 1-60."
  }
}

variable "alarm_min_requests_per_minute" {
  description = "Below this many requests a minute the 5xx ratio is treated as 0: a single error on an idle service is not an incident (A7)."
  type        = number
  default     = 20

  validation {
    condition     = var.alarm_min_requests_per_minute >= 1
    error_message = "alarm_min_requests_per_minute must be at least 1."
  }
}

variable "alarm_p99_latency_seconds" {
  description = "Alarm when the p99 TargetResponseTime exceeds this many seconds..."
  type        = number
  default     = 2

  validation {
    condition     = var.alarm_p99_latency_seconds > 0 && var.alarm_p99_latency_seconds <= 60
    error_message = "alarm_p99_latency_seconds must be between 0 and 60."
  }
}

variable "alarm_p99_latency_minutes" {
  description = "...for this many consecutive minutes."
  type        = number
  default     = 10

  validation {
    condition     = var.alarm_p99_latency_minutes >= 1 && var.alarm_p99_latency_minutes <= 60
    error_message = "alarm_p99_latency_minutes must be 1-60."
  }
}

variable "alarm_unhealthy_hosts_minutes" {
  description = "Alarm when any target has been unhealthy for this many consecutive minutes."
  type        = number
  default     = 2

  validation {
    condition     = var.alarm_unhealthy_hosts_minutes >= 1 && var.alarm_unhealthy_hosts_minutes <= 60
    error_message = "alarm_unhealthy_hosts_minutes must be 1-60."
  }
}

variable "alarm_actions" {
  description = "SNS topic ARNs notified when an alarm fires or clears (rollback does not depend on them)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.alarm_actions : can(regex("^arn:aws[a-z-]*:sns:", arn))])
    error_message = "alarm_actions must be SNS topic ARNs."
  }
}

variable "alarm_memory_percent" {
  description = "Alarm when the service's average memory utilisation stays above this percentage of the task's memory for 15 minutes."
  type        = number
  default     = 85

  validation {
    condition     = var.alarm_memory_percent > 0 && var.alarm_memory_percent < 100
    error_message = "alarm_memory_percent must be between 0 and 100."
  }
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary of every IAM role this module creates (the environment's workload boundary from terraform/bootstrap); null for none."
  type        = string
  default     = null
}
