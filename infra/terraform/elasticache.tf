# ElastiCache Redis 7, cluster mode: shards and replicas from the tfvars at creation (the control plane
# changes them afterwards; modules/redis ignores both), encryption at rest (KMS) and in transit, AUTH
# token from Secrets Manager, Multi-AZ with automatic failover.
module "redis" {
  source = "./modules/redis"

  replication_group_id    = local.redis_group_id
  engine_version          = var.redis_engine_version
  node_type               = var.redis_node_type
  num_shards              = var.redis_num_shards
  replicas_per_shard      = var.redis_replicas_per_shard
  subnet_ids              = module.vpc.database_subnets
  security_group_ids      = [aws_security_group.redis.id]
  kms_key_arn             = aws_kms_key.data.arn
  auth_token              = random_password.redis_auth.result # the secret holds it with the group's endpoint
  log_kms_key_arn         = aws_kms_key.logs.arn
  log_retention_days      = var.log_retention_days
  snapshot_retention_days = 7

  tags = { Component = "redis" }
}
