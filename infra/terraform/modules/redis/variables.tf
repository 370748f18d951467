variable "replication_group_id" {
  description = "Replication group id (the control plane's CacheReplicationGroupId)."
  type        = string
}

variable "engine_version" {
  description = "Redis 7.x."
  type        = string
}

variable "node_type" {
  description = "Node type."
  type        = string
}

variable "num_shards" {
  description = "Shards at creation only (the control plane reshards at run time)."
  type        = number
}

variable "replicas_per_shard" {
  description = "Replicas per shard at creation only (the control plane changes it at run time)."
  type        = number
}

variable "subnet_ids" {
  description = "Database subnets in three AZs."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the nodes."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "Key for data at rest."
  type        = string
}

variable "auth_token" {
  description = "AUTH token at creation (the Secrets Manager secret's first value; rotation owns it afterwards)."
  type        = string
  sensitive   = true
}

variable "log_kms_key_arn" {
  description = "Key of the slow-log and engine-log groups."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the log groups."
  type        = number
}

variable "snapshot_retention_days" {
  description = "Automatic snapshots kept."
  type        = number
}

variable "tags" {
  description = "Tags (the provider adds the cost-allocation default tags)."
  type        = map(string)
}
