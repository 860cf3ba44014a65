terraform {
  required_version = ">= 1.11, < 2.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 5.101.0" # the provider line this repository is verified with (ADR 0006)
    }
  }

  # State in the bootstrap bucket, one key per environment, S3-native locking (a .tflock object
  # beside the state; no DynamoDB table). Bucket and region come from `terraform init
  # -backend-config=...` (terraform/README.md) so the same code serves every account.
  backend "s3" {
    key          = "orders-api/prod/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}
