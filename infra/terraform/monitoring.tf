# Monitoring with the managed AWS equivalents (docs/adr/0010-terraform-platform.md):
#   Prometheus -> Amazon Managed Service for Prometheus (workspace, the repo's rule file, its alert
#                 manager routing to the control plane's SNS topic)
#   Grafana    -> Amazon Managed Grafana (data sources: AMP, CloudWatch, X-Ray, OpenSearch)
#   ELK        -> Amazon OpenSearch Service (VPC domain, three zones, encrypted, fine-grained access)
#   Jaeger     -> AWS X-Ray (OTLP from the collector; KMS-encrypted traces)
# The in-cluster part is one OpenTelemetry collector (Helm chart, deployed with the workloads) that
# scrapes and remote-writes to AMP, ships logs to OpenSearch and traces to X-Ray with the role below
# (EKS Pod Identity).

locals {
  notify_topic_arn      = "arn:${local.partition}:sns:${var.region}:${local.account_id}:${var.project}-controlplane-notify-${var.environment}"
  opensearch_domain     = "${local.name}-logs"
  opensearch_domain_arn = "arn:${local.partition}:es:${var.region}:${local.account_id}:domain/${local.opensearch_domain}"
}

resource "aws_cloudwatch_log_group" "prometheus" {
  name              = "/aws/prometheus/${local.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
  tags              = { Component = "monitoring" }
}

resource "aws_prometheus_workspace" "this" {
  alias       = local.name
  kms_key_arn = aws_kms_key.data.arn

  logging_configuration {
    log_group_arn = "${aws_cloudwatch_log_group.prometheus.arn}:*"
  }

  tags = { Component = "monitoring" }
}

resource "aws_prometheus_rule_group_namespace" "service_alerts" {
  name         = "service-alerts"
  workspace_id = aws_prometheus_workspace.this.id
  data         = file("${path.module}/../monitoring/prometheus/rules/service_alerts.rules")
  tags         = { Component = "monitoring" }
}

# The repo's Alertmanager configuration in AMP's format: the SNS topic and region filled in, its
# template file referenced by name instead of by path.
resource "aws_prometheus_alert_manager_definition" "this" {
  workspace_id = aws_prometheus_workspace.this.id
  definition = yamlencode({
    alertmanager_config = replace(
      templatefile("${path.module}/../monitoring/alertmanager/alertmanager.yml", {
        NOTIFY_TOPIC_ARN = local.notify_topic_arn
        AWS_REGION       = var.region
      }),
      "/etc/alertmanager/templates/*.tmpl",
      "controlplane.tmpl",
    )
    template_files = {
      "controlplane.tmpl" = file("${path.module}/../monitoring/alertmanager/templates/controlplane.tmpl")
    }
  })
}

# --- OpenSearch Service: the log store (ELK's place) ----------------------------------------------

resource "aws_cloudwatch_log_group" "opensearch" {
  for_each = toset(["index-slow", "search-slow", "application", "audit"])

  name              = "/aws/opensearch/${local.opensearch_domain}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
  tags              = { Component = "monitoring" }
}

data "aws_iam_policy_document" "opensearch_logs" {
  statement {
    actions   = ["logs:PutLogEvents", "logs:CreateLogStream"]
    resources = [for group in aws_cloudwatch_log_group.opensearch : "${group.arn}:*"]
    principals {
      type        = "Service"
      identifiers = ["es.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_cloudwatch_log_resource_policy" "opensearch" {
  policy_name     = "${local.opensearch_domain}-logs"
  policy_document = data.aws_iam_policy_document.opensearch_logs.json
}

data "aws_iam_policy_document" "opensearch_access" {
  statement {
    actions   = ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut"]
    resources = ["${local.opensearch_domain_arn}/*"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.telemetry_collector.arn, aws_iam_role.grafana.arn]
    }
  }
}

resource "aws_opensearch_domain" "logs" {
  domain_name    = local.opensearch_domain
  engine_version = "OpenSearch_2.17"

  cluster_config {
    instance_type            = var.opensearch_instance_type
    instance_count           = var.opensearch_instance_count
    zone_awareness_enabled   = true
    dedicated_master_enabled = true
    dedicated_master_type    = "m6g.large.search"
    dedicated_master_count   = 3

    zone_awareness_config {
      availability_zone_count = 3
    }
  }

  vpc_options {
    subnet_ids         = module.vpc.private_subnets
    security_group_ids = [aws_security_group.opensearch.id]
  }

  ebs_options {
    ebs_enabled = true
    volume_type = "gp3"
    volume_size = var.opensearch_volume_size
  }

  encrypt_at_rest {
    enabled    = true
    kms_key_id = aws_kms_key.data.arn
  }

  node_to_node_encryption {
    enabled = true
  }

  domain_endpoint_options {
    enforce_https       = true
    tls_security_policy = "Policy-Min-TLS-1-2-PFS-2023-10"
  }

  advanced_security_options {
    enabled                        = true
    anonymous_auth_enabled         = false
    internal_user_database_enabled = false

    master_user_options {
      master_user_arn = "arn:${local.partition}:iam::${local.account_id}:root"
    }
  }

  log_publishing_options {
    log_type                 = "INDEX_SLOW_LOGS"
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.opensearch["index-slow"].arn
  }

  log_publishing_options {
    log_type                 = "SEARCH_SLOW_LOGS"
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.opensearch["search-slow"].arn
  }

  log_publishing_options {
    log_type                 = "ES_APPLICATION_LOGS"
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.opensearch["application"].arn
  }

  log_publishing_options {
    log_type                 = "AUDIT_LOGS"
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.opensearch["audit"].arn
    enabled                  = true
  }

  access_policies = data.aws_iam_policy_document.opensearch_access.json

  tags = { Component = "monitoring" }

  depends_on = [aws_cloudwatch_log_resource_policy.opensearch]
}

# --- X-Ray: traces (Jaeger's place) -----------------------------------------------------------------

resource "aws_xray_encryption_config" "this" {
  type   = "KMS"
  key_id = aws_kms_key.data.arn
}

# --- The in-cluster collector's role (EKS Pod Identity) ---------------------------------------------

data "aws_iam_policy_document" "pod_identity_assume" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "telemetry_collector" {
  name               = "${local.name}-telemetry-collector"
  assume_role_policy = data.aws_iam_policy_document.pod_identity_assume.json
  tags               = { Component = "monitoring" }
}

data "aws_iam_policy_document" "telemetry_collector" {
  statement {
    sid       = "RemoteWriteMetrics"
    actions   = ["aps:RemoteWrite"]
    resources = [aws_prometheus_workspace.this.arn]
  }

  statement {
    sid       = "ShipLogs"
    actions   = ["es:ESHttpPost", "es:ESHttpPut", "es:ESHttpGet"]
    resources = ["${local.opensearch_domain_arn}/*"]
  }

  statement {
    sid = "SendTraces"
    # X-Ray's trace and sampling actions have no resource-level permissions.
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources = ["*"]
  }

  statement {
    sid       = "EncryptWithThePlatformKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.data.arn]
  }
}

resource "aws_iam_role_policy" "telemetry_collector" {
  name   = "telemetry"
  role   = aws_iam_role.telemetry_collector.id
  policy = data.aws_iam_policy_document.telemetry_collector.json
}

resource "aws_eks_pod_identity_association" "telemetry_collector" {
  cluster_name    = module.eks.cluster_name
  namespace       = "observability"
  service_account = "otel-collector"
  role_arn        = aws_iam_role.telemetry_collector.arn
  tags            = { Component = "monitoring" }
}

# --- Managed Grafana -----------------------------------------------------------------------------------

data "aws_iam_policy_document" "grafana_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["grafana.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "grafana" {
  name               = "${local.name}-grafana"
  assume_role_policy = data.aws_iam_policy_document.grafana_assume.json
  tags               = { Component = "monitoring" }
}

data "aws_iam_policy_document" "grafana" {
  #checkov:skip=CKV_AWS_356:CloudWatch metric reads and X-Ray trace reads have no resource-level permissions (read-only actions only).
  statement {
    sid       = "QueryPrometheus"
    actions   = ["aps:QueryMetrics", "aps:GetSeries", "aps:GetLabels", "aps:GetMetricMetadata", "aps:DescribeWorkspace"]
    resources = [aws_prometheus_workspace.this.arn]
  }

  statement {
    sid       = "ReadLogs"
    actions   = ["es:ESHttpGet", "es:ESHttpPost", "es:DescribeDomain"]
    resources = [local.opensearch_domain_arn, "${local.opensearch_domain_arn}/*"]
  }

  statement {
    sid = "ReadMetricsAndTraces"
    # CloudWatch metric reads and X-Ray trace reads have no resource-level permissions.
    actions = [
      "cloudwatch:GetMetricData", "cloudwatch:ListMetrics", "cloudwatch:DescribeAlarms",
      "xray:GetTraceSummaries", "xray:BatchGetTraces", "xray:GetServiceGraph", "xray:GetTraceGraph",
      "xray:GetInsightSummaries", "xray:GetGroups",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "DecryptWithThePlatformKey"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.data.arn]
  }
}

resource "aws_iam_role_policy" "grafana" {
  name   = "read-telemetry"
  role   = aws_iam_role.grafana.id
  policy = data.aws_iam_policy_document.grafana.json
}

resource "aws_security_group" "grafana" {
  name        = "${local.name}-grafana"
  description = "Managed Grafana in the VPC: HTTPS to OpenSearch"
  vpc_id      = module.vpc.vpc_id
  tags        = { Name = "${local.name}-grafana" }
}

resource "aws_vpc_security_group_egress_rule" "grafana_to_opensearch" {
  security_group_id            = aws_security_group.grafana.id
  description                  = "HTTPS to the OpenSearch domain"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.opensearch.id
  tags                         = { Name = "grafana-to-opensearch" }
}

resource "aws_vpc_security_group_egress_rule" "grafana_to_aws_apis" {
  security_group_id = aws_security_group.grafana.id
  description       = "HTTPS to the AWS APIs it queries (AMP, CloudWatch, X-Ray) through the NAT gateways"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
  tags              = { Name = "grafana-to-aws-apis" }
}

resource "aws_vpc_security_group_ingress_rule" "opensearch_from_grafana" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "HTTPS from Managed Grafana"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.grafana.id
  tags                         = { Name = "opensearch-from-grafana" }
}

resource "aws_grafana_workspace" "this" {
  name                     = local.name
  description              = "${local.name} dashboards"
  account_access_type      = "CURRENT_ACCOUNT"
  authentication_providers = ["AWS_SSO"]
  permission_type          = "CUSTOMER_MANAGED"
  role_arn                 = aws_iam_role.grafana.arn
  data_sources             = ["PROMETHEUS", "CLOUDWATCH", "XRAY", "AMAZON_OPENSEARCH_SERVICE"]

  vpc_configuration {
    subnet_ids         = module.vpc.private_subnets
    security_group_ids = [aws_security_group.grafana.id]
  }

  tags = { Component = "monitoring" }
}
