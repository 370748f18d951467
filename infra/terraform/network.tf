# VPC: three AZs; public (ALB, NAT), private (EKS nodes and pods, endpoints, OpenSearch) and database
# (RDS, ElastiCache) subnets; one NAT gateway per AZ so an AZ outage leaves the others' egress;
# flow logs of all traffic to an encrypted log group; the subnet tags the AWS Load Balancer
# Controller reads.
module "vpc" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (tests/infra/test_terraform_platform.py); registry sources take no commit hash.
  source  = "terraform-aws-modules/vpc/aws"
  version = "6.6.0"

  name = local.name
  cidr = var.vpc_cidr
  azs  = var.availability_zones

  public_subnets   = local.public_subnets
  private_subnets  = local.private_subnets
  database_subnets = local.database_subnets

  enable_dns_hostnames = true
  enable_dns_support   = true

  enable_nat_gateway     = true
  single_nat_gateway     = false
  one_nat_gateway_per_az = true

  # The database subnet groups are made next to the databases (rds.tf, modules/redis).
  create_database_subnet_group       = false
  create_database_subnet_route_table = true

  manage_default_security_group  = true
  default_security_group_ingress = []
  default_security_group_egress  = []

  enable_flow_log                                 = true
  flow_log_traffic_type                           = "ALL"
  flow_log_max_aggregation_interval               = 60
  create_flow_log_cloudwatch_log_group            = true
  create_flow_log_cloudwatch_iam_role             = true
  flow_log_cloudwatch_log_group_retention_in_days = var.log_retention_days
  flow_log_cloudwatch_log_group_kms_key_id        = aws_kms_key.logs.arn

  public_subnet_tags = {
    "kubernetes.io/role/elb"                        = "1"
    "kubernetes.io/cluster/${var.eks_cluster_name}" = "shared"
  }
  private_subnet_tags = {
    "kubernetes.io/role/internal-elb"               = "1"
    "kubernetes.io/cluster/${var.eks_cluster_name}" = "shared"
  }

  tags = { Component = "network" }
}
