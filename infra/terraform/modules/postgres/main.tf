# PostgreSQL primary and Terraform's baseline read replicas.
#
# A local module rather than terraform-aws-modules/rds: the community module's aws_db_instance has no
# lifecycle block and Terraform takes no variable in `lifecycle`, so it cannot ignore allocated_storage,
# which storage autoscaling and the control plane's rds_storage kind grow at run time. Here the ignore is
# written on the resource itself (docs/adr/0010-terraform-platform.md).

resource "aws_db_instance" "primary" {
  #checkov:skip=CKV2_AWS_30:Statement logging is set in the parameter group passed in (rds.tf: log_statement, log_min_duration_statement, log_connections, log_disconnections); checkov cannot follow it into the registry submodule.
  identifier     = var.identifier
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class

  # Creation size only; Terraform owns the ceiling (max_allocated_storage).
  allocated_storage     = var.allocated_storage
  max_allocated_storage = var.max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  multi_az               = var.multi_az
  db_subnet_group_name   = var.subnet_group_name
  vpc_security_group_ids = var.security_group_ids
  parameter_group_name   = var.parameter_group_name
  publicly_accessible    = false
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  username                            = "sip_admin"
  manage_master_user_password         = true
  master_user_secret_kms_key_id       = var.kms_key_arn
  iam_database_authentication_enabled = true

  auto_minor_version_upgrade  = true
  allow_major_version_upgrade = false
  apply_immediately           = false
  maintenance_window          = "sun:05:00-sun:06:00"

  backup_retention_period   = var.backup_retention_days
  backup_window             = "03:00-04:00"
  copy_tags_to_snapshot     = true
  delete_automated_backups  = false
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.identifier}-final"

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = var.kms_key_arn
  performance_insights_retention_period = 7
  monitoring_interval                   = 60
  monitoring_role_arn                   = var.monitoring_role_arn
  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]

  tags = merge(var.tags, { Role = "primary" })

  lifecycle {
    # Grown at run time by storage autoscaling and the control plane (rds_storage); RDS cannot shrink it.
    ignore_changes = [allocated_storage]
  }
}

resource "aws_db_instance" "replica" {
  count = var.read_replicas

  #checkov:skip=CKV_AWS_133:RDS keeps no automated backups of a read replica we rely on: the primary's backups (replicated to the DR region) are the recovery point.
  #checkov:skip=CKV_AWS_157:Replicas are single-AZ by design; the Multi-AZ primary and the other replicas carry the reads when an AZ fails.
  identifier          = "${var.identifier}-replica-${count.index + 1}"
  replicate_source_db = aws_db_instance.primary.identifier
  instance_class      = var.instance_class
  availability_zone   = var.availability_zones[(count.index + 1) % length(var.availability_zones)]

  max_allocated_storage  = var.max_allocated_storage
  storage_type           = "gp3"
  storage_encrypted      = true
  kms_key_id             = var.kms_key_arn
  multi_az               = false
  vpc_security_group_ids = var.security_group_ids
  parameter_group_name   = var.parameter_group_name
  publicly_accessible    = false
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  apply_immediately                   = false
  copy_tags_to_snapshot               = true
  deletion_protection                 = var.deletion_protection
  skip_final_snapshot                 = true # required for a replica

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = var.kms_key_arn
  performance_insights_retention_period = 7
  monitoring_interval                   = 60
  monitoring_role_arn                   = var.monitoring_role_arn
  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]

  tags = merge(var.tags, { Role = "baseline-replica", ReplicaOf = var.identifier })

  lifecycle {
    # A replica's storage follows its source's growth.
    ignore_changes = [allocated_storage]
  }
}
