variable "identifier" {
  description = "DB instance identifier of the primary; baseline replicas are <identifier>-replica-<n>."
  type        = string
}

variable "engine_version" {
  description = "PostgreSQL version (the major, minors applied automatically)."
  type        = string
}

variable "instance_class" {
  description = "Instance class of the primary and the baseline replicas."
  type        = string
}

variable "allocated_storage" {
  description = "GiB at creation only (ignored afterwards: autoscaling and the control plane grow it)."
  type        = number
}

variable "max_allocated_storage" {
  description = "Storage autoscaling ceiling, owned by Terraform."
  type        = number
}

variable "multi_az" {
  description = "Multi-AZ primary."
  type        = bool
}

variable "read_replicas" {
  description = "Baseline read replicas (not tagged ManagedBy=controlplane: the control plane never removes them)."
  type        = number
}

variable "backup_retention_days" {
  description = "Automated backup retention."
  type        = number
}

variable "subnet_group_name" {
  description = "DB subnet group (database subnets in three AZs)."
  type        = string
}

variable "security_group_ids" {
  description = "VPC security groups of the primary and replicas."
  type        = list(string)
}

variable "parameter_group_name" {
  description = "Parameter group (forces TLS)."
  type        = string
}

variable "kms_key_arn" {
  description = "Key for storage, Performance Insights and the RDS-managed master password secret."
  type        = string
}

variable "monitoring_role_arn" {
  description = "Enhanced Monitoring role."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse DeleteDBInstance on the primary and the baseline replicas."
  type        = bool
}

variable "availability_zones" {
  description = "AZs the baseline replicas are spread over."
  type        = list(string)
}

variable "tags" {
  description = "Tags of the instances (the provider adds the cost-allocation default tags)."
  type        = map(string)
}
