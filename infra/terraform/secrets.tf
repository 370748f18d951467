# Secrets Manager: the Redis AUTH token and the application's PostgreSQL user, named
# <project>/<env>/... as the control plane's rotation schedules address them (the rotation workflow
# rotates both; the PostgreSQL master password is RDS-managed); and the interface endpoints that let
# the VPC Lambdas and pods reach Secrets Manager and the ElastiCache API without NAT.

locals {
  secret_prefix = "${var.project}/${var.environment}"
}

resource "random_password" "redis_auth" {
  length           = 64
  special          = true
  override_special = "!&#$^<>-" # the only non-alphanumerics ElastiCache accepts in an AUTH token
}

resource "aws_secretsmanager_secret" "redis_auth" {
  #checkov:skip=CKV2_AWS_57:Rotated by the control plane's rotation workflow (its own rotation schedule in template.yaml), not by a rotation Lambda Terraform would own.
  name                    = "${local.secret_prefix}/redis/auth-token"
  description             = "AUTH token of ${local.redis_group_id}"
  kms_key_id              = aws_kms_key.data.arn
  recovery_window_in_days = 30

  tags = { Component = "redis" }
}

# JSON, as the control plane's rotation reads it (controlplane/rotation/values.py RedisSecret): the token
# with the group and its configuration endpoint, so clients and the rotation need nothing else.
resource "aws_secretsmanager_secret_version" "redis_auth" {
  secret_id = aws_secretsmanager_secret.redis_auth.id
  secret_string = jsonencode({
    replication_group_id = module.redis.replication_group_id
    host                 = module.redis.configuration_endpoint
    port                 = 6379
    auth_token           = random_password.redis_auth.result
    ssl                  = true
  })

  lifecycle {
    # The first value only: rotation writes the next versions.
    ignore_changes = [secret_string]
  }
}

resource "random_password" "postgres_app" {
  length           = 40
  special          = true
  override_special = "!#$%^&*()-_=+[]{}<>?" # no : / @ " ' \ or space (connection strings, .pgpass, URLs)
}

# The application's database user (alternating-users rotation: the secret names the master secret).
# The role itself is created in the database by the application's migration job with this first value;
# afterwards rotation owns the value.
resource "aws_secretsmanager_secret" "postgres_app" {
  #checkov:skip=CKV2_AWS_57:Rotated by the control plane's rotation workflow (its own rotation schedule in template.yaml), not by a rotation Lambda Terraform would own.
  name                    = "${local.secret_prefix}/postgres/app"
  description             = "Application user of ${local.rds_primary_id}"
  kms_key_id              = aws_kms_key.data.arn
  recovery_window_in_days = 30

  tags = { Component = "postgres" }
}

resource "aws_secretsmanager_secret_version" "postgres_app" {
  secret_id = aws_secretsmanager_secret.postgres_app.id
  secret_string = jsonencode({
    engine    = "postgres"
    host      = module.postgres.primary_address
    port      = 5432
    dbname    = "postgres"
    username  = "sip_app"
    password  = random_password.postgres_app.result
    masterarn = module.postgres.master_user_secret_arn
  })

  lifecycle {
    # The first value only: rotation writes the next versions (and alternates the user name).
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
    elasticache = {
      service             = "elasticache"
      private_dns_enabled = true
      subnet_ids          = module.vpc.private_subnets
      tags                = { Name = "${local.name}-elasticache" }
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
