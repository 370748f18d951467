# Every resource carries the cost-allocation tags (activate them as cost allocation tags in Billing).
locals {
  default_tags = {
    Project     = var.project
    Environment = var.environment
    CostCenter  = var.cost_center
    Owner       = var.owner
    ManagedBy   = "terraform"
    Repository  = "sales-intelligence-platform/infra/terraform"
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = local.default_tags
  }
}

# The disaster-recovery region: the backups replica bucket, RDS automated-backup replication, its KMS key.
provider "aws" {
  alias  = "dr"
  region = var.dr_region

  default_tags {
    tags = local.default_tags
  }
}

# CloudFront reads its certificate and its WAF web ACL from us-east-1 only, whatever the home region.
provider "aws" {
  alias  = "global"
  region = "us-east-1"

  default_tags {
    tags = local.default_tags
  }
}
