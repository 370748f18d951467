output "vpc_id" {
  description = "VPC id."
  value       = module.vpc.vpc_id
}

output "private_subnet_ids" {
  description = "Private subnets (nodes, endpoints, VPC Lambdas)."
  value       = module.vpc.private_subnets
}

output "eks_cluster_name" {
  description = "EKS cluster name (the control plane's ClusterName)."
  value       = module.eks.cluster_name
}

output "eks_cluster_endpoint" {
  description = "Private API endpoint of the cluster."
  value       = module.eks.cluster_endpoint
}

output "eks_node_groups" {
  description = "Node group names the control plane scales."
  value       = keys(module.eks.eks_managed_node_groups)
}

output "rds_primary_identifier" {
  description = "RDS primary (the control plane's RdsPrimaryIdentifier)."
  value       = module.postgres.primary_identifier
}

output "rds_master_user_secret_arn" {
  description = "ARN of the RDS-managed master password secret."
  value       = module.postgres.master_user_secret_arn
}

output "redis_replication_group_id" {
  description = "ElastiCache replication group (the control plane's CacheReplicationGroupId)."
  value       = module.redis.replication_group_id
}

output "redis_configuration_endpoint" {
  description = "Cluster-mode configuration endpoint."
  value       = module.redis.configuration_endpoint
}

output "assets_bucket" {
  description = "Assets bucket."
  value       = module.assets_bucket.s3_bucket_id
}

output "backups_bucket" {
  description = "Backups bucket (home region)."
  value       = module.backups_bucket.s3_bucket_id
}

output "backups_dr_bucket" {
  description = "Backups replica bucket (DR region)."
  value       = module.backups_dr_bucket.s3_bucket_id
}

output "cloudfront_domain_name" {
  description = "CloudFront distribution domain."
  value       = module.cloudfront.cloudfront_distribution_domain_name
}

output "prometheus_remote_write_url" {
  description = "AMP remote-write endpoint for the in-cluster collector."
  value       = "${aws_prometheus_workspace.this.prometheus_endpoint}api/v1/remote_write"
}

output "grafana_endpoint" {
  description = "Managed Grafana URL."
  value       = aws_grafana_workspace.this.endpoint
}

output "opensearch_endpoint" {
  description = "OpenSearch log domain endpoint (in the VPC)."
  value       = aws_opensearch_domain.logs.endpoint
}

output "secretsmanager_endpoint_dns_name" {
  description = "DNS name of the Secrets Manager interface endpoint (the template's SecretsManagerEndpoint)."
  value       = module.vpc_endpoints.endpoints["secretsmanager"].dns_entry[0].dns_name
}

output "elasticache_endpoint_dns_name" {
  description = "DNS name of the ElastiCache interface endpoint (the template's ElastiCacheEndpoint)."
  value       = module.vpc_endpoints.endpoints["elasticache"].dns_entry[0].dns_name
}

output "postgres_app_secret_arn" {
  description = "The application user's secret (rotated by the control plane)."
  value       = aws_secretsmanager_secret.postgres_app.arn
}
