# Behaviour of the network module under a mocked AWS provider: three tiers, no public IPs by
# default, isolated database subnets, one NAT per zone unless asked for one.

mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name               = "orders-api-prod"
  cidr_block         = "10.30.0.0/20"
  availability_zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
}

run "three_tiers_per_zone" {
  command = apply

  assert {
    condition     = length(aws_subnet.public) == 3 && length(aws_subnet.private) == 3 && length(aws_subnet.database) == 3
    error_message = "Each zone needs a public, a private and a database subnet."
  }
  assert {
    condition     = alltrue([for s in aws_subnet.public : !s.map_public_ip_on_launch])
    error_message = "Nothing gets a public IP automatically."
  }
  assert {
    condition     = length(aws_route_table.database.route) == 0
    error_message = "Database subnets must have no route out of the VPC."
  }
  assert {
    condition     = length(aws_nat_gateway.this) == 3
    error_message = "Outside dev, each zone has its own NAT gateway (a zone failure must not cut the others off)."
  }
  assert {
    condition     = aws_flow_log.this.traffic_type == "ALL"
    error_message = "VPC flow logs must record all traffic."
  }
  assert {
    condition     = length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "The default security group must allow nothing."
  }
}

run "dev_uses_one_nat_gateway" {
  command = apply

  variables {
    single_nat_gateway = true
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && length(aws_route_table.private) == 3
    error_message = "single_nat_gateway must route every zone through one NAT gateway."
  }
}

run "rejects_one_zone" {
  command = plan
  variables {
    availability_zones = ["eu-west-1a"]
  }
  expect_failures = [var.availability_zones]
}
