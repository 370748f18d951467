# What the control plane reads from Terraform: SSM parameters under /<project>/<env>/ that
# samconfig.toml passes to template.yaml (AWS::SSM::Parameter::Value<String> parameters) and that the
# sandbox writes the same way (cpctl/sandbox/runtime.py publish_platform_outputs).

locals {
  platform_parameters = {
    "rds/kms-key-arn"                         = aws_kms_key.data.arn
    "rds/monitoring-role-arn"                 = aws_iam_role.rds_monitoring.arn
    "rds/reader-hosted-zone-id"               = aws_route53_zone.private.zone_id
    "rds/reader-record-name"                  = "reader.db.${local.private_zone_name}"
    "rds/writer-record-name"                  = aws_route53_record.writer.fqdn
    "rds/master-secret-arn"                   = module.postgres.master_user_secret_arn
    "network/private-subnet-ids"              = join(",", module.vpc.private_subnets)
    "network/controlplane-sg-id"              = aws_security_group.controlplane.id
    "controlplane/rotation-security-group-id" = aws_security_group.controlplane.id
    "backup/dr-kms-key-arn"                   = aws_kms_key.dr.arn # in dr_region: the DR copies of RDS snapshots
    "s3/backups-bucket"                       = module.backups_bucket.s3_bucket_id
    "s3/backups-kms-key-arn"                  = aws_kms_key.data.arn # the backups bucket's default encryption (s3.tf)
    "s3/backups-dr-bucket"                    = module.backups_dr_bucket.s3_bucket_id
    "redis/auth-token-secret"                 = aws_secretsmanager_secret.redis_auth.arn
  }
}

resource "aws_ssm_parameter" "platform" {
  #checkov:skip=CKV2_AWS_34:Identifiers and ARNs, no secret; template.yaml reads them as AWS::SSM::Parameter::Value<String>, which cannot resolve a SecureString.
  for_each = local.platform_parameters

  name        = "${local.controlplane_ssm_dir}/${each.key}"
  description = "Published by Terraform for the control plane"
  type        = "String" # identifiers and ARNs, no secret
  value       = each.value
  tags        = { Component = "controlplane-contract" }
}

# Where the control plane's VPC functions run: a StringList, as the template's
# AWS::SSM::Parameter::Value<List<AWS::EC2::Subnet::Id>> parameter reads it.
resource "aws_ssm_parameter" "private_subnet_ids" {
  #checkov:skip=CKV2_AWS_34:Identifiers and ARNs, no secret; template.yaml reads them as AWS::SSM::Parameter::Value<String>, which cannot resolve a SecureString.
  name        = "${local.controlplane_ssm_dir}/network/private-subnet-ids"
  description = "Published by Terraform for the control plane"
  type        = "StringList"
  value       = join(",", module.vpc.private_subnets)
  tags        = { Component = "controlplane-contract" }
}

# The allocated storage the control plane's storage alarm divides by: Terraform writes the creation
# size once, the control plane (rds_storage kind) keeps it current afterwards.
resource "aws_ssm_parameter" "rds_allocated_storage" {
  #checkov:skip=CKV2_AWS_34:Identifiers and ARNs, no secret; template.yaml reads them as AWS::SSM::Parameter::Value<String>, which cannot resolve a SecureString.
  name        = "${local.controlplane_ssm_dir}/rds/allocated-storage-gib"
  description = "Allocated GiB of ${local.rds_primary_id}; kept current by the control plane"
  type        = "String"
  value       = tostring(var.rds_allocated_storage)
  tags        = { Component = "controlplane-contract" }

  lifecycle {
    ignore_changes = [value]
  }
}
