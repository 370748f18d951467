data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  name       = "${var.project}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Resource names the control plane addresses (samconfig.toml parameters, the sandbox's seed).
  rds_primary_id       = "${local.name}-postgres"
  redis_group_id       = "${local.name}-redis"
  assets_bucket_name   = "${local.name}-assets"
  backups_bucket_name  = "${local.name}-backups"
  backups_dr_bucket    = "${local.name}-backups-dr"
  private_zone_name    = "${local.name}.internal"
  controlplane_ssm_dir = "/${var.project}/${var.environment}"

  # Subnets per AZ from the /16: private /20s for the nodes and pods, public and database /24s.
  private_subnets  = [for index, _ in var.availability_zones : cidrsubnet(var.vpc_cidr, 4, index)]
  public_subnets   = [for index, _ in var.availability_zones : cidrsubnet(var.vpc_cidr, 8, 200 + index)]
  database_subnets = [for index, _ in var.availability_zones : cidrsubnet(var.vpc_cidr, 8, 210 + index)]
}
