# `terraform output -json stack | jq -r .<name>`: the names in terraform/README.md, Outputs.

output "stack" {
  description = "Every output of modules/stack (deploy names, ALB, alarms, database and cache ids)."
  value       = module.stack
}

output "default_tags" {
  description = "Tags every resource of this environment carries."
  value       = local.default_tags
}
