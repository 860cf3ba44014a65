terraform {
  required_version = ">= 1.11, < 2.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 5.101.0" # the provider line this repository is verified with (ADR 0006)
    }
  }

  # The bootstrap state lives in the bucket it creates. The very first apply runs with a local
  # backend override and then migrates (terraform/README.md, "Bootstrap").
  backend "s3" {
    key          = "orders-api/bootstrap/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Environment = "shared"
      ManagedBy   = "terraform"
      Service     = "orders-api"
      Repository  = var.github_repository
    }
  }
}
