# RDS PostgreSQL 15: Multi-AZ primary, KMS, automated backups replicated to the DR region, Performance
# Insights, deletion protection, TLS forced by the parameter group, RDS-managed master password, storage
# autoscaling up to rds_max_allocated_storage. The instances are in modules/postgres (allocated_storage
# ignored there); the subnet group, parameter group and backup replication use the community submodules.

module "postgres_subnet_group" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (tests/infra/test_terraform_platform.py); registry sources take no commit hash.
  source  = "terraform-aws-modules/rds/aws//modules/db_subnet_group"
  version = "7.2.0"

  name            = local.rds_primary_id
  use_name_prefix = false
  description     = "${local.rds_primary_id} database subnets"
  subnet_ids      = module.vpc.database_subnets

  tags = { Component = "postgres" }
}

module "postgres_parameter_group" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (tests/infra/test_terraform_platform.py); registry sources take no commit hash.
  source  = "terraform-aws-modules/rds/aws//modules/db_parameter_group"
  version = "7.2.0"

  name            = "${local.rds_primary_id}-pg15"
  use_name_prefix = false
  description     = "PostgreSQL 15, TLS required"
  family          = "postgres15"
  parameters = [
    { name = "rds.force_ssl", value = "1" },
    { name = "log_statement", value = "ddl" },
    { name = "log_min_duration_statement", value = "1000" },
    { name = "log_connections", value = "1" },
    { name = "log_disconnections", value = "1" },
  ]

  tags = { Component = "postgres" }
}

data "aws_iam_policy_document" "rds_monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "rds_monitoring" {
  name               = "${local.rds_primary_id}-monitoring"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_assume.json
  tags               = { Component = "postgres" }
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

module "postgres" {
  source = "./modules/postgres"

  identifier            = local.rds_primary_id
  engine_version        = var.rds_engine_version
  instance_class        = var.rds_instance_class
  allocated_storage     = var.rds_allocated_storage
  max_allocated_storage = var.rds_max_allocated_storage
  multi_az              = var.rds_multi_az
  read_replicas         = var.rds_read_replicas
  backup_retention_days = var.rds_backup_retention_days
  availability_zones    = var.availability_zones
  subnet_group_name     = module.postgres_subnet_group.db_subnet_group_id
  security_group_ids    = [aws_security_group.postgres.id]
  parameter_group_name  = module.postgres_parameter_group.db_parameter_group_id
  kms_key_arn           = aws_kms_key.data.arn
  monitoring_role_arn   = aws_iam_role.rds_monitoring.arn
  deletion_protection   = true

  tags = { Component = "postgres" }

  depends_on = [aws_iam_role_policy_attachment.rds_monitoring]
}

# Cross-region automated backups: point-in-time restore in the DR region.
module "postgres_backup_replication" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (tests/infra/test_terraform_platform.py); registry sources take no commit hash.
  source  = "terraform-aws-modules/rds/aws//modules/db_instance_automated_backups_replication"
  version = "7.2.0"

  providers = {
    aws = aws.dr
  }

  source_db_instance_arn = module.postgres.primary_arn
  kms_key_arn            = aws_kms_key.dr.arn
  retention_period       = var.rds_backup_retention_days
}

# Writer endpoint: the name applications write to. Terraform creates it pointing at the primary; the
# Recovery workflow switches it to a restored instance, so its target is the control plane's after creation.
resource "aws_route53_record" "writer" {
  zone_id = aws_route53_zone.private.zone_id
  name    = "writer.db.${local.private_zone_name}"
  type    = "CNAME"
  ttl     = 30
  records = [module.postgres.primary_address]

  lifecycle {
    ignore_changes = [records]
  }
}

# Reader endpoint: a private zone with one weighted CNAME per replica. Terraform publishes its baseline
# replicas; the control plane adds and withdraws its own (records whose SetIdentifier is the replica).
resource "aws_route53_zone" "private" {
  #checkov:skip=CKV2_AWS_38:DNSSEC signing applies to public zones; this is a private zone.
  #checkov:skip=CKV2_AWS_39:Private zone: queries come only from inside the VPC, whose traffic the flow logs record; Resolver query logging is not set up here.
  name    = local.private_zone_name
  comment = "${local.name} private zone (database reader endpoint)"

  vpc {
    vpc_id = module.vpc.vpc_id
  }

  tags = { Component = "postgres" }
}

resource "aws_route53_record" "reader_baseline" {
  for_each = module.postgres.replica_addresses

  zone_id        = aws_route53_zone.private.zone_id
  name           = "reader.db.${local.private_zone_name}"
  type           = "CNAME"
  ttl            = 30
  set_identifier = each.key
  records        = [each.value]

  weighted_routing_policy {
    weight = 1
  }
}
