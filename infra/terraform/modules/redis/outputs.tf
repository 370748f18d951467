output "replication_group_id" {
  description = "Replication group id."
  value       = aws_elasticache_replication_group.this.id
}

output "arn" {
  description = "Replication group ARN."
  value       = aws_elasticache_replication_group.this.arn
}

output "configuration_endpoint" {
  description = "Cluster-mode configuration endpoint."
  value       = aws_elasticache_replication_group.this.configuration_endpoint_address
}
