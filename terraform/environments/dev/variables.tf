variable "region" {
  description = "AWS region of the dev environment."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "repository" {
  description = "GitHub repository (owner/name) that manages this stack: the Repository tag."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.repository))
    error_message = "repository must be owner/name."
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

variable "image_tag" {
  description = "Tag (commit SHA) of the image in the task definition revision Terraform registers. The pipeline deploys later revisions; CI passes the commit it deploys."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && !contains(["latest", "CHANGE-ME"], var.image_tag)
    error_message = "Set image_tag in terraform.tfvars to a pushed commit SHA: an immutable tag, never latest (A1)."
  }
}

variable "alarm_actions" {
  description = "SNS topic ARNs notified by the deployment alarms (optional; rollback does not depend on them)."
  type        = list(string)
  default     = []
}
