# Inputs that differ per account or per run; the stack module validates image_tag and certificate_arn.

variable "region" {
  description = "AWS region of this environment."
  type        = string
  default     = "eu-west-1"
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
  description = "ACM certificate (in var.region) for the service's domain (terraform.tfvars)."
  type        = string
}

variable "image_tag" {
  description = "Commit SHA of the image a new or replaced service starts on (terraform.tfvars; no workflow passes it: each deploy renders its own image into the newest revision)."
  type        = string
}

variable "alarm_actions" {
  description = "More SNS topic ARNs every alarm notifies, besides the environment's own alarm topic (optional)."
  type        = list(string)
  default     = []
}

variable "alarm_subscriptions" {
  description = "Subscriptions of the environment's alarm topic, e.g. [{ protocol = \"email\", endpoint = \"oncall@example.com\" }] (terraform.tfvars: no workflow passes it)."
  type        = list(object({ protocol = string, endpoint = string }))
  default     = []
}
