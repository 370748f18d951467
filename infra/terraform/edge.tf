# Edge: Route 53 (public zone) -> CloudFront (TLS 1.2+, WAF) -> ALB (HTTPS only, reachable from
# CloudFront's origin-facing addresses only) -> the ingress pods (target type ip, bound by the AWS Load
# Balancer Controller with a TargetGroupBinding).

resource "aws_route53_zone" "public" {
  #checkov:skip=CKV2_AWS_38:DNSSEC needs a KMS key in us-east-1 and a DS record at the parent zone, which the domain's registrar owns; enabled per domain outside this stack.
  #checkov:skip=CKV2_AWS_39:Public query logging goes to a us-east-1 log group per zone; CloudFront and ALB access logs already record who reaches the platform.
  name    = var.domain_name
  comment = "${local.name} public zone"
  tags    = { Component = "edge" }
}

# The ALB's certificate (home region): the apex CloudFront forwards and origin.<domain>.
resource "aws_acm_certificate" "regional" {
  domain_name               = var.domain_name
  subject_alternative_names = ["*.${var.domain_name}"]
  validation_method         = "DNS"
  tags                      = { Component = "edge" }

  lifecycle {
    create_before_destroy = true
  }
}

# CloudFront's certificate: us-east-1 only.
resource "aws_acm_certificate" "cloudfront" {
  provider = aws.global

  domain_name               = var.domain_name
  subject_alternative_names = ["*.${var.domain_name}"]
  validation_method         = "DNS"
  tags                      = { Component = "edge" }

  lifecycle {
    create_before_destroy = true
  }
}

# Both certificates have the same names, hence the same validation records.
resource "aws_route53_record" "certificate_validation" {
  for_each = {
    for option in aws_acm_certificate.regional.domain_validation_options : option.domain_name => option
  }

  zone_id         = aws_route53_zone.public.zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  ttl             = 300
  records         = [each.value.resource_record_value]
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "regional" {
  certificate_arn         = aws_acm_certificate.regional.arn
  validation_record_fqdns = [for record in aws_route53_record.certificate_validation : record.fqdn]
}

resource "aws_acm_certificate_validation" "cloudfront" {
  provider = aws.global

  certificate_arn         = aws_acm_certificate.cloudfront.arn
  validation_record_fqdns = [for record in aws_route53_record.certificate_validation : record.fqdn]
}

module "alb" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (tests/infra/test_terraform_platform.py); registry sources take no commit hash.
  source  = "terraform-aws-modules/alb/aws"
  version = "10.5.0"

  name               = "${local.name}-edge"
  load_balancer_type = "application"
  internal           = false
  vpc_id             = module.vpc.vpc_id
  subnets            = module.vpc.public_subnets

  create_security_group = false
  security_groups       = [aws_security_group.alb.id]

  enable_deletion_protection = var.environment == "prod"
  drop_invalid_header_fields = true
  access_logs = {
    bucket = module.logs_bucket.s3_bucket_id
    prefix = "alb"
  }

  listeners = {
    https = {
      port            = 443
      protocol        = "HTTPS"
      ssl_policy      = "ELBSecurityPolicy-TLS13-1-2-2021-06"
      certificate_arn = aws_acm_certificate_validation.regional.certificate_arn
      forward         = { target_group_key = "ingress" }
    }
  }

  target_groups = {
    ingress = {
      name              = "${local.name}-ingress"
      protocol          = "HTTP"
      port              = 8080
      target_type       = "ip"
      create_attachment = false # the AWS Load Balancer Controller registers the ingress pods
      health_check = {
        enabled             = true
        path                = "/healthz"
        matcher             = "200"
        healthy_threshold   = 2
        unhealthy_threshold = 3
        interval            = 15
        timeout             = 5
      }
    }
  }

  tags = { Component = "edge" }
}

resource "aws_route53_record" "origin" {
  zone_id = aws_route53_zone.public.zone_id
  name    = "origin.${var.domain_name}"
  type    = "A"

  alias {
    name                   = module.alb.dns_name
    zone_id                = module.alb.zone_id
    evaluate_target_health = true
  }
}

data "aws_cloudfront_cache_policy" "caching_disabled" {
  name = "Managed-CachingDisabled"
}

data "aws_cloudfront_origin_request_policy" "all_viewer" {
  name = "Managed-AllViewer"
}

data "aws_cloudfront_response_headers_policy" "security_headers" {
  name = "Managed-SecurityHeadersPolicy"
}

module "cloudfront" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (tests/infra/test_terraform_platform.py); registry sources take no commit hash.
  source  = "terraform-aws-modules/cloudfront/aws"
  version = "6.6.0"

  aliases         = [var.domain_name]
  comment         = "${local.name} edge"
  enabled         = true
  is_ipv6_enabled = true
  http_version    = "http2and3"
  price_class     = "PriceClass_100"
  web_acl_id      = aws_wafv2_web_acl.edge.arn

  # No S3 origin: no origin access control to create.
  origin_access_control = {}

  origin = {
    alb = {
      domain_name = aws_route53_record.origin.fqdn
      custom_origin_config = {
        http_port              = 80
        https_port             = 443
        origin_protocol_policy = "https-only"
        origin_ssl_protocols   = ["TLSv1.2"]
      }
    }
  }

  default_cache_behavior = {
    target_origin_id           = "alb"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = data.aws_cloudfront_cache_policy.caching_disabled.id
    origin_request_policy_id   = data.aws_cloudfront_origin_request_policy.all_viewer.id
    response_headers_policy_id = data.aws_cloudfront_response_headers_policy.security_headers.id
  }

  viewer_certificate = {
    acm_certificate_arn      = aws_acm_certificate_validation.cloudfront.certificate_arn
    ssl_support_method       = "sni-only"
    minimum_protocol_version = "TLSv1.2_2021"
  }

  tags = { Component = "edge" }
}

resource "aws_route53_record" "apex" {
  for_each = toset(["A", "AAAA"])

  zone_id = aws_route53_zone.public.zone_id
  name    = var.domain_name
  type    = each.key

  alias {
    name                   = module.cloudfront.cloudfront_distribution_domain_name
    zone_id                = module.cloudfront.cloudfront_distribution_hosted_zone_id
    evaluate_target_health = false
  }
}

# WAF in front of CloudFront (CLOUDFRONT scope: us-east-1).
resource "aws_wafv2_web_acl" "edge" {
  provider = aws.global

  name        = "${local.name}-edge"
  description = "Managed rule groups and a per-IP rate limit in front of ${var.domain_name}"
  scope       = "CLOUDFRONT"

  default_action {
    allow {}
  }

  rule {
    name     = "AWSManagedRulesAmazonIpReputationList"
    priority = 10

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesAmazonIpReputationList"
        vendor_name = "AWS"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "AWSManagedRulesAmazonIpReputationList"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "AWSManagedRulesCommonRuleSet"
    priority = 20

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesCommonRuleSet"
        vendor_name = "AWS"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "AWSManagedRulesCommonRuleSet"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "AWSManagedRulesKnownBadInputsRuleSet"
    priority = 30 # includes the Log4j (Log4Shell) rules

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
        vendor_name = "AWS"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "AWSManagedRulesKnownBadInputsRuleSet"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "rate-limit-per-ip"
    priority = 40

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit              = 2000
        aggregate_key_type = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "rate-limit-per-ip"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${local.name}-edge"
    sampled_requests_enabled   = true
  }

  tags = { Component = "edge" }
}

resource "aws_cloudwatch_log_group" "waf" {
  provider = aws.global

  name              = "aws-waf-logs-${local.name}-edge" # WAF requires the aws-waf-logs- prefix
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.global_logs.arn
  tags              = { Component = "edge" }
}

resource "aws_wafv2_web_acl_logging_configuration" "edge" {
  provider = aws.global

  resource_arn            = aws_wafv2_web_acl.edge.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]

  redacted_fields {
    single_header {
      name = "authorization"
    }
  }
}
