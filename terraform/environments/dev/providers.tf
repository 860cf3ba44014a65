locals {
  default_tags = {
    Environment = local.environment
    ManagedBy   = "terraform"
    Service     = "orders-api"
    Repository  = var.repository
  }
}

provider "aws" {
  region = var.region

  # Every resource carries these (T4); modules never set provider-level tags themselves.
  default_tags {
    tags = local.default_tags
  }
}
