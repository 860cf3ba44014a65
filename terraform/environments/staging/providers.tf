provider "aws" {
  region = var.region

  # Every resource carries these (T4); modules never set provider-level tags themselves.
  default_tags {
    tags = local.default_tags
  }
}
