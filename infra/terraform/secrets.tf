# Secrets Manager: the Redis AUTH token (the rotation workflow of the control plane rotates it; the
# PostgreSQL master password is RDS-managed), and the interface endpoint that lets VPC Lambdas and pods
# reach Secrets Manager without NAT.

resource "random_password" "redis_auth" {
  length           = 64
  special          = true
  override_special = "!&#$^<>-" # the only non-alphanumerics ElastiCache accepts in an AUTH token
}

resource "aws_secretsmanager_secret" "redis_auth" {
  #checkov:skip=CKV2_AWS_57:Rotated by the control plane's rotation workflow (its own rotation schedule in template.yaml), not by a rotation Lambda Terraform would own.
  name                    = "${local.controlplane_ssm_dir}/redis/auth-token"
  description             = "AUTH token of ${local.redis_group_id}"
  kms_key_id              = aws_kms_key.data.arn
  recovery_window_in_days = 30

  tags = { Component = "redis" }
}

resource "aws_secretsmanager_secret_version" "redis_auth" {
  secret_id     = aws_secretsmanager_secret.redis_auth.id
  secret_string = random_password.redis_auth.result

  lifecycle {
    # The first value only: rotation writes the next versions.
    ignore_changes = [secret_string]
  }
}

module "vpc_endpoints" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (tests/infra/test_terraform_platform.py); registry sources take no commit hash.
  source  = "terraform-aws-modules/vpc/aws//modules/vpc-endpoints"
  version = "6.6.0"

  vpc_id             = module.vpc.vpc_id
  security_group_ids = [aws_security_group.vpc_endpoints.id]

  endpoints = {
    secretsmanager = {
      service             = "secretsmanager"
      private_dns_enabled = true
      subnet_ids          = module.vpc.private_subnets
      tags                = { Name = "${local.name}-secretsmanager" }
    }
    s3 = {
      service         = "s3"
      service_type    = "Gateway"
      route_table_ids = concat(module.vpc.private_route_table_ids, module.vpc.database_route_table_ids)
      tags            = { Name = "${local.name}-s3" }
    }
  }

  tags = { Component = "network" }
}
