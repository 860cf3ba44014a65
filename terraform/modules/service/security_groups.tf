# Only what flows is allowed:
#   internet -> ALB 443 (and 80, which redirects)      VPC (+ listed CIDRs) -> ALB test listener
#   ALB -> app 8000                                    scraper SG -> app 9000 (/metrics, never public)
#   app -> Postgres, app -> Redis                      app -> 443 (ECR, Secrets Manager, CloudWatch via NAT)

resource "aws_security_group" "alb" {
  name        = "${local.name}-alb"
  description = "ALB of ${local.name}: HTTPS from the internet, forwards to the app port only"
  vpc_id      = var.vpc_id

  tags = { Name = "${local.name}-alb" }
}

#trivy:ignore:AVD-AWS-0107 The public API listener must accept the internet.
resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from the internet"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

#trivy:ignore:AVD-AWS-0107 Port 80 only answers with a redirect to HTTPS.
resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:Port 80 only answers with a 301 to HTTPS (aws_lb_listener.http); no content is served on it.
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from the internet, redirected to HTTPS"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "alb_test_listener" {
  for_each = local.codedeploy ? toset(concat([var.vpc_cidr_block], var.test_listener_cidrs)) : toset([])

  security_group_id = aws_security_group.alb.id
  description       = "CodeDeploy test listener (new task set before the switch)"
  ip_protocol       = "tcp"
  from_port         = var.test_listener_port
  to_port           = var.test_listener_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "alb_to_app" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Forward to the app port"
  ip_protocol                  = "tcp"
  from_port                    = local.app_port
  to_port                      = local.app_port
  referenced_security_group_id = aws_security_group.app.id
}

resource "aws_security_group" "app" {
  name        = "${local.name}-app"
  description = "Tasks of ${local.name}: API from the ALB, metrics from scrapers, out to Postgres, Redis and AWS APIs"
  vpc_id      = var.vpc_id

  tags = { Name = "${local.name}-app" }
}

resource "aws_vpc_security_group_ingress_rule" "app_from_alb" {
  security_group_id            = aws_security_group.app.id
  description                  = "API port from the ALB only"
  ip_protocol                  = "tcp"
  from_port                    = local.app_port
  to_port                      = local.app_port
  referenced_security_group_id = aws_security_group.alb.id
}

# Prometheus (or an OTel collector) attaches this group to scrape /metrics; nothing else reaches 9000.
resource "aws_security_group" "metrics_scraper" {
  #checkov:skip=CKV2_AWS_5:Attached by whoever scrapes /metrics (a collector outside this module); unattached it grants nothing.
  name        = "${local.name}-metrics-scraper"
  description = "Attach to a metrics scraper inside the VPC to reach ${local.name} /metrics on port 9000"
  vpc_id      = var.vpc_id

  tags = { Name = "${local.name}-metrics-scraper" }
}

resource "aws_vpc_security_group_egress_rule" "scraper_to_app" {
  security_group_id            = aws_security_group.metrics_scraper.id
  description                  = "Scrape /metrics"
  ip_protocol                  = "tcp"
  from_port                    = local.metrics_port
  to_port                      = local.metrics_port
  referenced_security_group_id = aws_security_group.app.id
}

resource "aws_vpc_security_group_ingress_rule" "app_metrics_from_scraper" {
  security_group_id            = aws_security_group.app.id
  description                  = "Metrics port from the scraper group only (never via the ALB)"
  ip_protocol                  = "tcp"
  from_port                    = local.metrics_port
  to_port                      = local.metrics_port
  referenced_security_group_id = aws_security_group.metrics_scraper.id
}

resource "aws_vpc_security_group_egress_rule" "app_to_postgres" {
  security_group_id            = aws_security_group.app.id
  description                  = "PostgreSQL (TLS)"
  ip_protocol                  = "tcp"
  from_port                    = var.postgres_port
  to_port                      = var.postgres_port
  referenced_security_group_id = var.postgres_security_group_id
}

resource "aws_vpc_security_group_ingress_rule" "postgres_from_app" {
  security_group_id            = var.postgres_security_group_id
  description                  = "PostgreSQL from ${local.name} tasks"
  ip_protocol                  = "tcp"
  from_port                    = var.postgres_port
  to_port                      = var.postgres_port
  referenced_security_group_id = aws_security_group.app.id
}

resource "aws_vpc_security_group_egress_rule" "app_to_redis" {
  security_group_id            = aws_security_group.app.id
  description                  = "Redis/Valkey (TLS)"
  ip_protocol                  = "tcp"
  from_port                    = var.redis_port
  to_port                      = var.redis_port
  referenced_security_group_id = var.redis_security_group_id
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_app" {
  security_group_id            = var.redis_security_group_id
  description                  = "Redis/Valkey from ${local.name} tasks"
  ip_protocol                  = "tcp"
  from_port                    = var.redis_port
  to_port                      = var.redis_port
  referenced_security_group_id = aws_security_group.app.id
}

#trivy:ignore:AVD-AWS-0104 ECR, Secrets Manager and CloudWatch Logs are public AWS endpoints reached through NAT; HTTPS only.
resource "aws_vpc_security_group_egress_rule" "app_https" {
  security_group_id = aws_security_group.app.id
  description       = "HTTPS to AWS APIs (image pull, secrets, logs) through NAT"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "app_otlp" {
  count = var.otel_exporter_otlp_endpoint != "" ? 1 : 0

  security_group_id = aws_security_group.app.id
  description       = "OTLP/HTTP to a trace collector inside the VPC"
  ip_protocol       = "tcp"
  from_port         = 4318
  to_port           = 4318
  cidr_ipv4         = var.vpc_cidr_block
}
