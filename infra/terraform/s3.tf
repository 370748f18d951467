# S3: assets and backups in the home region, the backups replica in the DR region, and a log bucket
# (ALB and S3 server access logs, which accept SSE-S3 only). Each bucket: versioning, default
# encryption (KMS, bucket key), all public access blocked, ACLs disabled, a policy refusing non-TLS
# requests. Backups replicate to <project>-<env>-backups-dr. Retention of backup objects is the control
# plane's (cleanup workflow); the lifecycle rules here only expire old noncurrent versions and
# abandoned uploads.

locals {
  bucket_encryption = {
    rule = {
      bucket_key_enabled = true
      apply_server_side_encryption_by_default = {
        sse_algorithm     = "aws:kms"
        kms_master_key_id = aws_kms_key.data.arn
      }
    }
  }
  housekeeping_rules = [
    {
      id                                     = "noncurrent-versions"
      enabled                                = true
      abort_incomplete_multipart_upload_days = 7
      noncurrent_version_expiration          = { noncurrent_days = 90 }
    },
  ]
}

module "logs_bucket" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (tests/infra/test_terraform_platform.py); registry sources take no commit hash.
  source  = "terraform-aws-modules/s3-bucket/aws"
  version = "5.15.4"

  bucket = "${local.name}-logs"

  versioning = { enabled = true }
  server_side_encryption_configuration = {
    rule = { apply_server_side_encryption_by_default = { sse_algorithm = "AES256" } }
  }

  block_public_acls        = true
  block_public_policy      = true
  ignore_public_acls       = true
  restrict_public_buckets  = true
  control_object_ownership = true
  object_ownership         = "BucketOwnerEnforced"

  attach_deny_insecure_transport_policy = true
  attach_require_latest_tls_policy      = true
  attach_lb_log_delivery_policy         = true
  attach_access_log_delivery_policy     = true
  access_log_delivery_policy_source_buckets = [
    "arn:${local.partition}:s3:::${local.assets_bucket_name}",
    "arn:${local.partition}:s3:::${local.backups_bucket_name}",
  ]

  lifecycle_rule = [
    {
      id                                     = "expire-logs"
      enabled                                = true
      abort_incomplete_multipart_upload_days = 7
      expiration                             = { days = 365 }
      noncurrent_version_expiration          = { noncurrent_days = 30 }
    },
  ]

  tags = { Component = "storage", DataClass = "logs" }
}

module "assets_bucket" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (tests/infra/test_terraform_platform.py); registry sources take no commit hash.
  source  = "terraform-aws-modules/s3-bucket/aws"
  version = "5.15.4"

  bucket = local.assets_bucket_name

  versioning                           = { enabled = true }
  server_side_encryption_configuration = local.bucket_encryption

  block_public_acls        = true
  block_public_policy      = true
  ignore_public_acls       = true
  restrict_public_buckets  = true
  control_object_ownership = true
  object_ownership         = "BucketOwnerEnforced"

  attach_deny_insecure_transport_policy = true
  attach_require_latest_tls_policy      = true

  logging = {
    target_bucket = module.logs_bucket.s3_bucket_id
    target_prefix = "s3/${local.assets_bucket_name}/"
  }

  lifecycle_rule = local.housekeeping_rules

  tags = { Component = "storage", DataClass = "assets" }
}

module "backups_bucket" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (tests/infra/test_terraform_platform.py); registry sources take no commit hash.
  source  = "terraform-aws-modules/s3-bucket/aws"
  version = "5.15.4"

  bucket = local.backups_bucket_name

  versioning                           = { enabled = true }
  server_side_encryption_configuration = local.bucket_encryption

  block_public_acls        = true
  block_public_policy      = true
  ignore_public_acls       = true
  restrict_public_buckets  = true
  control_object_ownership = true
  object_ownership         = "BucketOwnerEnforced"

  attach_deny_insecure_transport_policy = true
  attach_require_latest_tls_policy      = true

  logging = {
    target_bucket = module.logs_bucket.s3_bucket_id
    target_prefix = "s3/${local.backups_bucket_name}/"
  }

  lifecycle_rule = local.housekeeping_rules

  replication_configuration = {
    role = aws_iam_role.backups_replication.arn
    rules = [
      {
        id                        = "to-dr-region"
        status                    = "Enabled"
        delete_marker_replication = true
        source_selection_criteria = {
          sse_kms_encrypted_objects = { enabled = true }
        }
        destination = {
          bucket             = module.backups_dr_bucket.s3_bucket_arn
          storage_class      = "STANDARD_IA"
          replica_kms_key_id = aws_kms_key.dr.arn
          replication_time   = { status = "Enabled", minutes = 15 }
          metrics            = { status = "Enabled", minutes = 15 }
        }
      },
    ]
  }

  tags = { Component = "storage", DataClass = "backups" }
}

module "backups_dr_bucket" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (tests/infra/test_terraform_platform.py); registry sources take no commit hash.
  source  = "terraform-aws-modules/s3-bucket/aws"
  version = "5.15.4"

  providers = {
    aws = aws.dr
  }

  bucket = local.backups_dr_bucket

  versioning = { enabled = true }
  server_side_encryption_configuration = {
    rule = {
      bucket_key_enabled = true
      apply_server_side_encryption_by_default = {
        sse_algorithm     = "aws:kms"
        kms_master_key_id = aws_kms_key.dr.arn
      }
    }
  }

  block_public_acls        = true
  block_public_policy      = true
  ignore_public_acls       = true
  restrict_public_buckets  = true
  control_object_ownership = true
  object_ownership         = "BucketOwnerEnforced"

  attach_deny_insecure_transport_policy = true
  attach_require_latest_tls_policy      = true

  lifecycle_rule = local.housekeeping_rules

  tags = { Component = "storage", DataClass = "backups" }
}

data "aws_iam_policy_document" "s3_replication_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "backups_replication" {
  name               = "${local.name}-backups-replication"
  assume_role_policy = data.aws_iam_policy_document.s3_replication_assume.json
  tags               = { Component = "storage" }
}

data "aws_iam_policy_document" "backups_replication" {
  statement {
    sid       = "ReadSourceConfiguration"
    actions   = ["s3:GetReplicationConfiguration", "s3:ListBucket"]
    resources = ["arn:${local.partition}:s3:::${local.backups_bucket_name}"]
  }

  statement {
    sid       = "ReadSourceObjects"
    actions   = ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"]
    resources = ["arn:${local.partition}:s3:::${local.backups_bucket_name}/*"]
  }

  statement {
    sid       = "WriteReplicas"
    actions   = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]
    resources = ["arn:${local.partition}:s3:::${local.backups_dr_bucket}/*"]
  }

  statement {
    sid       = "DecryptSource"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.data.arn]
    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "EncryptReplicas"
    actions   = ["kms:Encrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.dr.arn]
    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = ["s3.${var.dr_region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "backups_replication" {
  name   = "replicate-backups"
  role   = aws_iam_role.backups_replication.id
  policy = data.aws_iam_policy_document.backups_replication.json
}
