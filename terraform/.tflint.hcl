# tflint rules for every Terraform directory (.github/scripts/tflint.sh runs `tflint --recursive`).
# The AWS ruleset is pinned; Dependabot does not track tflint plugins, so bump it by hand.

config {
  call_module_type = "local" # also lint the modules as the environments call them
}

plugin "terraform" {
  enabled = true
  preset  = "recommended"
}

plugin "aws" {
  enabled = true
  version = "0.49.0"
  source  = "github.com/terraform-linters/tflint-ruleset-aws"
}

# Every variable and output is typed and described: the description is what the next reader has.
rule "terraform_documented_variables" {
  enabled = true
}

rule "terraform_documented_outputs" {
  enabled = true
}

rule "terraform_typed_variables" {
  enabled = true
}

rule "terraform_naming_convention" {
  enabled = true
  format  = "snake_case"
}
