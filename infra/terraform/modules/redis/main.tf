# Redis 7 replication group in cluster mode.
#
# A local module rather than terraform-aws-modules/elasticache: its aws_elasticache_replication_group
# has no lifecycle block, and Terraform takes no variable in `lifecycle`, so it cannot ignore the shard
# and replica counts the control plane changes at run time (cache_shards kind) nor the AUTH token the
# rotation workflow rotates. Here the ignores are written on the resource (docs/adr/0010).

resource "aws_elasticache_subnet_group" "this" {
  name        = var.replication_group_id
  description = "${var.replication_group_id} database subnets"
  subnet_ids  = var.subnet_ids
  tags        = var.tags
}

resource "aws_elasticache_parameter_group" "this" {
  name        = "${var.replication_group_id}-redis7-cluster"
  family      = "redis7"
  description = "Redis 7, cluster mode"

  parameter {
    name  = "cluster-enabled"
    value = "yes"
  }

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "this" {
  for_each = toset(["slow-log", "engine-log"])

  name              = "/aws/elasticache/${var.replication_group_id}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_elasticache_replication_group" "this" {
  replication_group_id = var.replication_group_id
  description          = "Sales Intelligence Platform cache"
  engine               = "redis"
  engine_version       = var.engine_version
  node_type            = var.node_type
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.this.name
  subnet_group_name    = aws_elasticache_subnet_group.this.name
  security_group_ids   = var.security_group_ids

  cluster_mode            = "enabled"
  num_node_groups         = var.num_shards
  replicas_per_node_group = var.replicas_per_shard

  automatic_failover_enabled = true
  multi_az_enabled           = true

  at_rest_encryption_enabled = true
  kms_key_id                 = var.kms_key_arn
  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
  auth_token                 = var.auth_token
  auth_token_update_strategy = "ROTATE"

  auto_minor_version_upgrade = true
  apply_immediately          = false
  maintenance_window         = "sun:06:00-sun:07:00"
  snapshot_retention_limit   = var.snapshot_retention_days
  snapshot_window            = "04:00-05:00"

  dynamic "log_delivery_configuration" {
    for_each = aws_cloudwatch_log_group.this

    content {
      destination      = log_delivery_configuration.value.name
      destination_type = "cloudwatch-logs"
      log_format       = "json"
      log_type         = log_delivery_configuration.key
    }
  }

  tags = var.tags

  lifecycle {
    # The control plane reshards and changes replicas per shard (cache_shards); rotation owns the token.
    ignore_changes = [num_node_groups, replicas_per_node_group, auth_token]
  }
}
