# Every variable is set in every config/<env>.tfvars (tests/infra/test_terraform_config.py): no default
# hides a difference between environments.

variable "project" {
  description = "Short project name, the prefix of every resource name (sip)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,10}$", var.project))
    error_message = "project: 2-11 lower-case letters, digits or dashes."
  }
}

variable "environment" {
  description = "dev, staging or prod."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "region" {
  description = "Home region of the platform."
  type        = string
}

variable "dr_region" {
  description = "Disaster-recovery region: backups replica bucket and RDS automated-backup replication."
  type        = string
}

variable "cost_center" {
  description = "Cost-allocation tag CostCenter on every resource."
  type        = string
}

variable "owner" {
  description = "Cost-allocation tag Owner on every resource (the team that answers for it)."
  type        = string
}

variable "domain_name" {
  description = "Public DNS name of the platform (Route 53 zone, CloudFront alias, certificates)."
  type        = string
}

variable "vpc_cidr" {
  description = "VPC CIDR (a /16: public, private and database subnets are carved from it per AZ)."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && endswith(var.vpc_cidr, "/16")
    error_message = "vpc_cidr must be a /16."
  }
}

variable "availability_zones" {
  description = "Three availability zones of the home region."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) == 3
    error_message = "The platform runs in three availability zones."
  }
}

variable "log_retention_days" {
  description = "Retention of the platform's CloudWatch log groups (flow logs, EKS control plane, WAF)."
  type        = number
}

variable "eks_cluster_name" {
  description = "EKS cluster name (the control plane's ClusterName parameter)."
  type        = string
}

variable "eks_cluster_version" {
  description = "Kubernetes minor version, one AWS supports (upgrade one minor at a time)."
  type        = string
}

variable "eks_node_groups" {
  description = <<-EOT
    Managed node groups. Terraform owns min_size/max_size and creates the group at desired_size; the
    control plane moves the desired size inside min..max at run time (the module ignores desired_size).
  EOT
  type = map(object({
    instance_types = list(string)
    capacity_type  = string
    min_size       = number
    max_size       = number
    desired_size   = number
    labels         = map(string)
  }))

  validation {
    condition = alltrue([
      for group in values(var.eks_node_groups) :
      group.min_size <= group.desired_size && group.desired_size <= group.max_size
    ])
    error_message = "Each node group needs min_size <= desired_size <= max_size."
  }

  validation {
    condition     = alltrue([for group in values(var.eks_node_groups) : contains(["ON_DEMAND", "SPOT"], group.capacity_type)])
    error_message = "capacity_type is ON_DEMAND or SPOT."
  }
}

variable "rds_engine_version" {
  description = "PostgreSQL engine version: the major (15) with automatic minor upgrades."
  type        = string
}

variable "rds_instance_class" {
  description = "Instance class of the primary and of Terraform's baseline read replicas."
  type        = string
}

variable "rds_allocated_storage" {
  description = "GiB at creation. The control plane and storage autoscaling grow it; Terraform ignores it afterwards."
  type        = number
}

variable "rds_max_allocated_storage" {
  description = "Upper bound of storage autoscaling and of the control plane's rds_storage kind (Terraform owns it)."
  type        = number
}

variable "rds_multi_az" {
  description = "Multi-AZ primary (a standby in another AZ)."
  type        = bool
}

variable "rds_read_replicas" {
  description = "Baseline read replicas Terraform keeps; the control plane adds its own (tagged ManagedBy=controlplane)."
  type        = number
}

variable "rds_backup_retention_days" {
  description = "Automated backup retention in days, in the home region and in the DR region (>= 7)."
  type        = number

  validation {
    condition     = var.rds_backup_retention_days >= 7 && var.rds_backup_retention_days <= 35
    error_message = "Backups are kept 7 to 35 days."
  }
}

variable "redis_engine_version" {
  description = "Redis engine version (7.x)."
  type        = string
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
}

variable "redis_num_shards" {
  description = "Shards (node groups) at creation; the control plane reshards at run time, Terraform ignores it afterwards."
  type        = number
}

variable "redis_replicas_per_shard" {
  description = "Replicas per shard at creation; the control plane changes it at run time, Terraform ignores it afterwards."
  type        = number

  validation {
    condition     = var.redis_replicas_per_shard >= 1
    error_message = "Multi-AZ with automatic failover needs at least one replica per shard."
  }
}

variable "opensearch_instance_type" {
  description = "Data node instance type of the OpenSearch Service log domain."
  type        = string
}

variable "opensearch_instance_count" {
  description = "Data nodes of the OpenSearch Service log domain (a multiple of the three zones)."
  type        = number
}

variable "opensearch_volume_size" {
  description = "EBS GiB per OpenSearch data node."
  type        = number
}
