# Terraform and provider versions. Exact provider pins: a plan made by the plan build is applied by the
# apply build with the same providers (the buildspecs install the terraform binary; .terraform.lock.hcl
# records the provider checksums on the first `terraform init`).
terraform {
  # >= 1.11.1: the rds module's floor; S3 state locking with `use_lockfile` needs >= 1.10.
  required_version = ">= 1.11.1, < 2.0.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # >= 6.42: the floor of terraform-aws-modules/s3-bucket 5.15.4 (the highest of the modules used).
      version = "6.42.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "3.6.3"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "4.0.6"
    }
    time = {
      source  = "hashicorp/time"
      version = "0.12.1"
    }
  }

  # Partial configuration: `terraform init -backend-config=config/backend-<env>.hcl`.
  backend "s3" {}
}
