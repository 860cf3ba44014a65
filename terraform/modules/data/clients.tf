# Clients of Postgres and Redis besides the ECS tasks (whose rules live in the service module). The
# Kubernetes deploy (kubernetes/, deploy-kubernetes.yml) runs the same image in pods that these
# security groups would otherwise refuse: its migration Job would wait out its whole deadline. Opt in
# by listing the pods' security group (EKS security groups for pods) or the nodes' group.

resource "aws_vpc_security_group_ingress_rule" "postgres_from_clients" {
  for_each = toset(var.client_security_group_ids)

  security_group_id            = aws_security_group.postgres.id
  description                  = "PostgreSQL from a listed client group (client_security_group_ids)"
  ip_protocol                  = "tcp"
  from_port                    = aws_db_instance.this.port
  to_port                      = aws_db_instance.this.port
  referenced_security_group_id = each.value
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_clients" {
  for_each = toset(var.client_security_group_ids)

  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from a listed client group (client_security_group_ids)"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = each.value
}
