# Customer-managed keys: one for data at rest (RDS, ElastiCache, S3, Secrets Manager, OpenSearch, AMP,
# X-Ray), one for logs (CloudWatch Logs needs its service principal in the key policy), one in the DR
# region (the backups replica and the replicated RDS automated backups). EKS secrets encryption uses
# the key the eks module creates for the cluster.

locals {
  # The services that may use each key on behalf of this account's principals (kms:ViaService).
  key_services = {
    data = [
      "rds.${var.region}.amazonaws.com",
      "ec2.${var.region}.amazonaws.com", # encrypted EBS volumes of the node groups (Auto Scaling launches them)
      "elasticache.${var.region}.amazonaws.com",
      "s3.${var.region}.amazonaws.com",
      "secretsmanager.${var.region}.amazonaws.com",
      "es.${var.region}.amazonaws.com",
      "aps.${var.region}.amazonaws.com",
      "xray.${var.region}.amazonaws.com",
    ]
    dr = ["rds.${var.dr_region}.amazonaws.com", "s3.${var.dr_region}.amazonaws.com"]
  }
}

# AWS's default key policy statement: the account administers the key (IAM policies then grant use).
data "aws_iam_policy_document" "key_administration" {
  #checkov:skip=CKV_AWS_109:Key policy: "*" is this key; the account administers its own key (AWS's default key policy statement).
  #checkov:skip=CKV_AWS_111:Key policy: "*" is this key; use is limited to this account's principals through the named services.
  #checkov:skip=CKV_AWS_356:Key policy: a key policy's resource is always "*" (the key it is attached to).
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"] # a key policy's resource is the key itself
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

data "aws_iam_policy_document" "services_use_key" {
  for_each = local.key_services

  source_policy_documents = [data.aws_iam_policy_document.key_administration.json]

  statement {
    sid       = "ServicesInThisAccountUseTheKey"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey", "kms:CreateGrant"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = each.value
    }
  }
}

resource "aws_kms_key" "data" {
  description             = "${local.name} data at rest"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.services_use_key["data"].json

  tags = { Name = "${local.name}-data" }
}

resource "aws_kms_alias" "data" {
  name          = "alias/${local.name}-data"
  target_key_id = aws_kms_key.data.key_id
}

data "aws_iam_policy_document" "logs_key" {
  source_policy_documents = [data.aws_iam_policy_document.key_administration.json]

  statement {
    sid       = "CloudWatchLogsEncrypts"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com", "logs.us-east-1.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*",
        "arn:${local.partition}:logs:us-east-1:${local.account_id}:log-group:*",
      ]
    }
  }
}

resource "aws_kms_key" "logs" {
  description             = "${local.name} CloudWatch Logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.logs_key.json

  tags = { Name = "${local.name}-logs" }
}

resource "aws_kms_alias" "logs" {
  name          = "alias/${local.name}-logs"
  target_key_id = aws_kms_key.logs.key_id
}

# The WAF log group lives in us-east-1 with CloudFront's web ACL: a key of its own there.
resource "aws_kms_key" "global_logs" {
  provider = aws.global

  description             = "${local.name} CloudWatch Logs in us-east-1 (CloudFront WAF)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.logs_key.json

  tags = { Name = "${local.name}-global-logs" }
}

resource "aws_kms_key" "dr" {
  provider = aws.dr

  description             = "${local.name} backups in the DR region"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.services_use_key["dr"].json

  tags = { Name = "${local.name}-dr" }
}

resource "aws_kms_alias" "dr" {
  provider = aws.dr

  name          = "alias/${local.name}-dr"
  target_key_id = aws_kms_key.dr.key_id
}
