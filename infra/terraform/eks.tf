# EKS: private API endpoint only, every control-plane log type to an encrypted log group, secrets
# encrypted with the key the module creates, managed node groups from var.eks_node_groups.
#
# Ownership: the control plane moves each node group's desired size (UpdateNodegroupConfig) inside
# min..max, which Terraform owns. The module's aws_eks_node_group has
#   lifecycle { ignore_changes = [scaling_config[0].desired_size] }
# (modules/eks-managed-node-group/main.tf at v21.19.0), so desired_size below is the size at creation
# only; tests/infra/test_terraform_platform.py reads that from the pinned module's source list.
locals {
  node_groups = {
    for name, group in var.eks_node_groups : name => {
      name            = name
      use_name_prefix = false # the control plane addresses node groups by these names
      instance_types  = group.instance_types
      capacity_type   = group.capacity_type
      ami_type        = "AL2023_x86_64_STANDARD"
      min_size        = group.min_size
      max_size        = group.max_size
      desired_size    = group.desired_size
      labels          = group.labels
      subnet_ids      = module.vpc.private_subnets
      # Spot capacity takes only non-critical work that tolerates the taint (batch jobs).
      taints = group.capacity_type == "SPOT" ? {
        spot = { key = "lifecycle", value = "spot", effect = "NO_SCHEDULE" }
      } : {}
      update_config = { max_unavailable_percentage = 33 }
      metadata_options = {
        http_endpoint               = "enabled"
        http_tokens                 = "required"
        http_put_response_hop_limit = 1
      }
      block_device_mappings = {
        root = {
          device_name = "/dev/xvda"
          ebs = {
            volume_size           = 50
            volume_type           = "gp3"
            encrypted             = true
            kms_key_id            = aws_kms_key.data.arn
            delete_on_termination = true
          }
        }
      }
      tags = { NodeGroup = name }
    }
  }
}

module "eks" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (tests/infra/test_terraform_platform.py); registry sources take no commit hash.
  source  = "terraform-aws-modules/eks/aws"
  version = "21.19.0"

  name               = var.eks_cluster_name
  kubernetes_version = var.eks_cluster_version

  vpc_id                   = module.vpc.vpc_id
  subnet_ids               = module.vpc.private_subnets
  control_plane_subnet_ids = module.vpc.private_subnets

  endpoint_private_access = true
  endpoint_public_access  = false

  enabled_log_types                      = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
  create_cloudwatch_log_group            = true
  cloudwatch_log_group_retention_in_days = var.log_retention_days
  cloudwatch_log_group_kms_key_id        = aws_kms_key.logs.arn

  create_kms_key          = true
  enable_kms_key_rotation = true
  encryption_config       = { resources = ["secrets"] }

  deletion_protection = var.environment == "prod"

  # The identity that applies (the CodeBuild apply role) administers the cluster through an access entry.
  enable_cluster_creator_admin_permissions = true

  addons = {
    vpc-cni                = { before_compute = true }
    eks-pod-identity-agent = { before_compute = true }
    coredns                = {}
    kube-proxy             = {}
  }

  eks_managed_node_groups = local.node_groups

  tags = { Component = "eks" }
}
