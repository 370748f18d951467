# Least-privilege security groups: each allows one port from the groups that need it, no ingress from
# CIDR ranges except the VPC endpoints (the VPC) and the ALB (CloudFront's origin-facing prefix list).
# Egress to 0.0.0.0/0 only on 443, for the AWS APIs that have no VPC endpoint here.
# The EKS cluster and node groups come from the eks module (module.eks.*_security_group_id).

data "aws_ec2_managed_prefix_list" "cloudfront_origin_facing" {
  name = "com.amazonaws.global.cloudfront.origin-facing"
}

resource "aws_security_group" "alb" {
  #checkov:skip=CKV2_AWS_5:Attached to the ALB by module.alb (security_groups), a registry module checkov cannot read offline.
  name        = "${local.name}-alb"
  description = "ALB: HTTPS from CloudFront only"
  vpc_id      = module.vpc.vpc_id
  tags        = { Name = "${local.name}-alb" }
}

resource "aws_vpc_security_group_ingress_rule" "alb_from_cloudfront" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from CloudFront origin-facing addresses"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = data.aws_ec2_managed_prefix_list.cloudfront_origin_facing.id
  tags              = { Name = "alb-from-cloudfront" }
}

resource "aws_vpc_security_group_egress_rule" "alb_to_nodes" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the ingress pods on the nodes (target type ip)"
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8080
  referenced_security_group_id = module.eks.node_security_group_id
  tags                         = { Name = "alb-to-nodes" }
}

resource "aws_vpc_security_group_ingress_rule" "nodes_from_alb" {
  security_group_id            = module.eks.node_security_group_id
  description                  = "Application traffic from the ALB"
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8080
  referenced_security_group_id = aws_security_group.alb.id
  tags                         = { Name = "nodes-from-alb" }
}

# The control plane's VPC Lambdas (rotation set/test steps, restore verification) use this group
# (published as /<project>/<env>/controlplane/rotation-security-group-id).
resource "aws_security_group" "controlplane" {
  #checkov:skip=CKV2_AWS_5:Attached by the control plane stack (template.yaml VPC Lambdas) through the SSM parameter controlplane/rotation-security-group-id.
  name        = "${local.name}-controlplane"
  description = "Control plane Lambdas: PostgreSQL, Redis and the VPC endpoints"
  vpc_id      = module.vpc.vpc_id
  tags        = { Name = "${local.name}-controlplane" }
}

resource "aws_vpc_security_group_egress_rule" "controlplane_to_postgres" {
  security_group_id            = aws_security_group.controlplane.id
  description                  = "PostgreSQL"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.postgres.id
  tags                         = { Name = "controlplane-to-postgres" }
}

resource "aws_vpc_security_group_egress_rule" "controlplane_to_redis" {
  security_group_id            = aws_security_group.controlplane.id
  description                  = "Redis (TLS)"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = aws_security_group.redis.id
  tags                         = { Name = "controlplane-to-redis" }
}

resource "aws_vpc_security_group_egress_rule" "controlplane_to_endpoints" {
  security_group_id            = aws_security_group.controlplane.id
  description                  = "AWS APIs through the interface endpoints"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.vpc_endpoints.id
  tags                         = { Name = "controlplane-to-endpoints" }
}

# Other AWS APIs (DynamoDB, Step Functions, SNS, EventBridge, CloudWatch) have no endpoint here: through
# the NAT gateways.
resource "aws_vpc_security_group_egress_rule" "controlplane_to_aws_apis" {
  security_group_id = aws_security_group.controlplane.id
  description       = "HTTPS to the AWS APIs without an endpoint, through the NAT gateways"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
  tags              = { Name = "controlplane-to-aws-apis" }
}

resource "aws_security_group" "postgres" {
  name        = "${local.name}-postgres"
  description = "RDS PostgreSQL: 5432 from the nodes and the control plane"
  vpc_id      = module.vpc.vpc_id
  tags        = { Name = "${local.name}-postgres" }
}

resource "aws_vpc_security_group_ingress_rule" "postgres_from_nodes" {
  security_group_id            = aws_security_group.postgres.id
  description                  = "PostgreSQL from the EKS nodes"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = module.eks.node_security_group_id
  tags                         = { Name = "postgres-from-nodes" }
}

resource "aws_vpc_security_group_ingress_rule" "postgres_from_controlplane" {
  security_group_id            = aws_security_group.postgres.id
  description                  = "PostgreSQL from the control plane (rotation, restore verification)"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.controlplane.id
  tags                         = { Name = "postgres-from-controlplane" }
}

resource "aws_security_group" "redis" {
  name        = "${local.name}-redis"
  description = "ElastiCache Redis: 6379 from the nodes and the control plane"
  vpc_id      = module.vpc.vpc_id
  tags        = { Name = "${local.name}-redis" }
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_nodes" {
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from the EKS nodes"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = module.eks.node_security_group_id
  tags                         = { Name = "redis-from-nodes" }
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_controlplane" {
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from the control plane (AUTH token rotation)"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = aws_security_group.controlplane.id
  tags                         = { Name = "redis-from-controlplane" }
}

resource "aws_security_group" "vpc_endpoints" {
  #checkov:skip=CKV2_AWS_5:Attached to the interface endpoints by module.vpc_endpoints (security_group_ids), a registry module checkov cannot read offline.
  name        = "${local.name}-vpc-endpoints"
  description = "Interface VPC endpoints: HTTPS from inside the VPC"
  vpc_id      = module.vpc.vpc_id
  tags        = { Name = "${local.name}-vpc-endpoints" }
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_vpc" {
  security_group_id = aws_security_group.vpc_endpoints.id
  description       = "HTTPS from the VPC"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = var.vpc_cidr
  tags              = { Name = "endpoints-from-vpc" }
}

resource "aws_security_group" "opensearch" {
  name        = "${local.name}-opensearch"
  description = "OpenSearch log domain: HTTPS from the nodes (log shippers)"
  vpc_id      = module.vpc.vpc_id
  tags        = { Name = "${local.name}-opensearch" }
}

resource "aws_vpc_security_group_ingress_rule" "opensearch_from_nodes" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "HTTPS from the EKS nodes"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = module.eks.node_security_group_id
  tags                         = { Name = "opensearch-from-nodes" }
}
