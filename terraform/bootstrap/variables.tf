variable "region" {
  description = "Region of the state bucket, the ECR repository and the environments."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "github_repository" {
  description = "The one GitHub repository (owner/name) whose workflows may assume the roles."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name."
  }
}

variable "state_bucket_name" {
  description = "Name of the Terraform state bucket; empty means orders-api-tfstate-<account id>-<region>."
  type        = string
  default     = ""

  validation {
    condition     = var.state_bucket_name == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket_name))
    error_message = "state_bucket_name must be a valid S3 bucket name."
  }
}

variable "environments" {
  description = "Terraform environment -> GitHub environment whose jobs may apply it (and deploy it, see deploy_environments)."
  type        = map(string)
  default     = { dev = "dev", staging = "staging", prod = "production" }

  validation {
    condition     = alltrue([for env in keys(var.environments) : contains(["dev", "staging", "prod"], env)])
    error_message = "environments keys must be dev, staging or prod (docs/architecture.md)."
  }
}

variable "deploy_environments" {
  description = "Environments the pipeline deploys images to (each gets orders-api-github-deploy-<env>)."
  type        = list(string)
  default     = ["dev", "staging", "prod"]

  validation {
    condition     = alltrue([for env in var.deploy_environments : contains(["dev", "staging", "prod"], env)])
    error_message = "deploy_environments must list dev, staging or prod."
  }
}

variable "create_oidc_provider" {
  description = "Create the GitHub OIDC provider; false when the account already has one (there can be only one per URL)."
  type        = bool
  default     = true
}

variable "ecr_keep_images" {
  description = "Images kept in ECR (older ones expire). Keep enough to roll back several releases."
  type        = number
  default     = 200

  validation {
    condition     = var.ecr_keep_images >= 20
    error_message = "ecr_keep_images must be at least 20 so rollback targets are not expired."
  }
}
