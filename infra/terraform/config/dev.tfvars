# Development platform. The control plane's sandbox seeds its emulated AWS from this file.
environment = "dev"
region      = "us-east-1"
project     = "sip"

vpc_cidr           = "10.20.0.0/16"
availability_zones = ["us-east-1a", "us-east-1b", "us-east-1c"]

# EKS 1.27 (the 2023 seed) is past end of support and can no longer be created: 1.33 is the
# supported minor this platform runs; upgrade one minor at a time.
eks_cluster_name    = "sip-dev"
eks_cluster_version = "1.33"

# Terraform owns min/max (and creates the group at desired); the control plane moves desired
# inside min..max at run time (ignore_changes on desired_size).
eks_node_groups = {
  general = {
    instance_types = ["t3.large"]
    capacity_type  = "ON_DEMAND"
    min_size       = 1
    max_size       = 10
    desired_size   = 3
    labels         = { workload = "general" }
  }
  cpu_optimized = {
    instance_types = ["c6i.xlarge"]
    capacity_type  = "ON_DEMAND"
    min_size       = 1
    max_size       = 8
    desired_size   = 2
    labels         = { workload = "cpu-intensive" }
  }
  spot = {
    instance_types = ["t3.large", "t3a.large", "m5.large"]
    capacity_type  = "SPOT"
    min_size       = 0
    max_size       = 10
    desired_size   = 2
    labels         = { workload = "batch", lifecycle = "spot" }
  }
}

# PostgreSQL 15.4 (the 2023 seed) can no longer be created: pin the 15 major and take minors.
rds_engine_version        = "15"
rds_instance_class        = "db.r6g.large"
rds_allocated_storage     = 100
rds_max_allocated_storage = 500
rds_multi_az              = true
rds_read_replicas         = 0

redis_engine_version     = "7.1"
redis_node_type          = "cache.r6g.large"
redis_num_shards         = 3
redis_replicas_per_shard = 1

# Cost allocation (default tags on every resource) and the public name of the platform.
cost_center = "sales-intelligence"
owner       = "platform-team"
domain_name = "dev.sip.example.com"

# Backups replicate here: the sip-dev-backups-dr bucket and RDS automated-backup replication.
dr_region = "us-west-2"

log_retention_days        = 30
rds_backup_retention_days = 7

# OpenSearch Service log domain (three zones; data nodes a multiple of three).
opensearch_instance_type  = "r6g.large.search"
opensearch_instance_count = 3
opensearch_volume_size    = 50
