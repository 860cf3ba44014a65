locals {
  name           = "${var.service_name}-${var.environment}" # cluster, task family, CodeDeploy app and group
  container_name = "app"
  app_port       = 8000
  metrics_port   = 9000

  codedeploy = var.deployment_strategy != "rolling"
  network_configuration = {
    subnets         = sort(var.private_subnet_ids)
    security_groups = [aws_security_group.app.id]
  }
  # Rolling replaces one task at a time: room for one extra task above the desired count.
  rolling_max_percent = 100 + ceil(100 / var.desired_count)
}
