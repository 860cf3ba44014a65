# Internet-facing ALB: HTTPS on 443 (HTTP 80 only redirects), health checks on /health/ready.
# With CodeDeploy there are two target groups (blue, green) and a test listener that reaches the
# new task set before it takes production traffic.

#trivy:ignore:AVD-AWS-0053 The public entry point of the API: it must be internet-facing.
resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_76:The WAF is per environment (var.waf, on in prod, edge.tf) and includes the known-bad-inputs (Log4j) rule group.
  #checkov:skip=CKV2_AWS_28:The WAF is per environment (var.waf): on in prod (edge.tf), off in dev and staging.
  #checkov:skip=CKV_AWS_91:Access logs are per environment (var.alb_access_logs): on in prod (edge.tf).
  #checkov:skip=CKV2_AWS_20:Port 80 exists only to redirect to HTTPS (aws_lb_listener.http).
  name                       = local.name
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [aws_security_group.alb.id]
  subnets                    = var.public_subnet_ids
  idle_timeout               = var.alb_idle_timeout_seconds
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection

  dynamic "access_logs" {
    for_each = var.alb_access_logs ? [1] : []
    content {
      bucket  = aws_s3_bucket.alb_logs[0].id
      prefix  = local.name
      enabled = true
    }
  }

  # ELB checks it may write to the bucket when access logs are switched on.
  depends_on = [aws_s3_bucket_policy.alb_logs]
}

resource "aws_lb_target_group" "blue" {
  name                 = "${local.name}-blue"
  port                 = local.app_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = var.deregistration_delay_seconds

  health_check {
    path                = "/health/ready"
    port                = "traffic-port"
    matcher             = "200" # 200 pass or warn (Redis down); 503 while starting, draining or without Postgres
    interval            = var.health_check_interval_seconds
    timeout             = var.health_check_timeout_seconds
    healthy_threshold   = var.health_check_healthy_threshold
    unhealthy_threshold = var.health_check_unhealthy_threshold
  }
}

resource "aws_lb_target_group" "green" {
  count = local.codedeploy ? 1 : 0

  name                 = "${local.name}-green"
  port                 = local.app_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = var.deregistration_delay_seconds

  health_check {
    path                = "/health/ready"
    port                = "traffic-port"
    matcher             = "200"
    interval            = var.health_check_interval_seconds
    timeout             = var.health_check_timeout_seconds
    healthy_threshold   = var.health_check_healthy_threshold
    unhealthy_threshold = var.health_check_unhealthy_threshold
  }
}

resource "aws_lb_listener" "http" {
  #checkov:skip=CKV_AWS_2:This listener only redirects to HTTPS.
  #checkov:skip=CKV_AWS_103:This listener only redirects to HTTPS; TLS policy applies to the HTTPS listeners.
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.blue.arn
  }

  lifecycle {
    # CodeDeploy moves production traffic between blue and green; Terraform must not move it back.
    ignore_changes = [default_action]
    # A replaced CODE_DEPLOY service starts behind blue, whichever group the last deployment left
    # this listener on: the listener is replaced with it, so it forwards to blue again.
    replace_triggered_by = [terraform_data.codedeploy_network]
  }
}

resource "aws_lb_listener" "test" {
  count = local.codedeploy ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = var.test_listener_port
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.green[0].arn
  }

  lifecycle {
    ignore_changes       = [default_action]
    replace_triggered_by = [terraform_data.codedeploy_network] # back on green, as the https listener is on blue
  }
}
