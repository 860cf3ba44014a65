terraform {
  required_version = ">= 1.11, < 2.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 5.101.0" # the provider line this repository is verified with (ADR 0006)
    }
  }
}
