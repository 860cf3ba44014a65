locals {
  name           = "${var.service_name}-${var.environment}" # cluster, task family, CodeDeploy app and group
  container_name = "app"
  app_port       = 8000
  metrics_port   = 9000

  codedeploy = var.deployment_strategy != "rolling"
  # Rolling replaces one task at a time: room for one extra task above the desired count.
  rolling_max_percent = 100 + ceil(100 / var.desired_count)
}
