output "state_bucket" {
  description = "State bucket: the TF_STATE_BUCKET repository variable and `-backend-config=bucket=...`."
  value       = aws_s3_bucket.state.bucket
}

output "ecr_repository_url" {
  description = "Image repository URL (<account>.dkr.ecr.<region>.amazonaws.com/orders-api)."
  value       = aws_ecr_repository.orders_api.repository_url
}

output "ecr_push_role_arn" {
  description = "Role the publish job assumes."
  value       = aws_iam_role.ecr_push.arn
}

output "plan_role_arn" {
  description = "Role the plan jobs assume (pull requests and main; plans run with -refresh=false)."
  value       = aws_iam_role.plan.arn
}

output "plan_prod_role_arn" {
  description = "Role the prod plan job assumes on main (pull requests do not plan prod: its state holds the Redis AUTH token)."
  value       = one(aws_iam_role.plan_prod[*].arn)
}

output "drift_role_arn" {
  description = "Role the scheduled drift plan assumes (main only; refreshes, never saves the plan)."
  value       = aws_iam_role.drift.arn
}

output "workload_boundary_arns" {
  description = "Permissions boundary every role of an environment carries, by environment."
  value       = { for env, policy in aws_iam_policy.workload_boundary : env => policy.arn }
}

output "apply_role_arns" {
  description = "Role each environment's apply job assumes, by environment."
  value       = { for env, role in aws_iam_role.apply : env => role.arn }
}

output "deploy_role_arns" {
  description = "AWS_DEPLOY_ROLE_ARN of each GitHub environment, by Terraform environment."
  value       = { for env, role in aws_iam_role.deploy : env => role.arn }
}
