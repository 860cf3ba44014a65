output "vpc_id" {
  description = "ID of the environment's VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "IPv4 CIDR of the VPC (used to admit in-VPC metrics scrapes and the ALB's forwarded headers)."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnets, one per zone: the ALB only."
  value       = [for zone in var.availability_zones : aws_subnet.public[zone].id]
}

output "private_subnet_ids" {
  description = "Private subnets, one per zone: ECS tasks (and one-off migration tasks)."
  value       = [for zone in var.availability_zones : aws_subnet.private[zone].id]
}

output "database_subnet_ids" {
  description = "Isolated subnets, one per zone: RDS and ElastiCache."
  value       = [for zone in var.availability_zones : aws_subnet.database[zone].id]
}

output "nat_gateway_count" {
  description = "Number of NAT gateways (1 in dev, one per zone elsewhere)."
  value       = length(aws_nat_gateway.this)
}
