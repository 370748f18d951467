# terraform init -backend-config=config/backend-dev.hcl
# State of the dev platform: its own key, encrypted with KMS, locked with S3's conditional writes
# (use_lockfile, Terraform >= 1.10; no DynamoDB lock table). The bucket (versioned, public access
# blocked) and the key are made once per account by the bootstrap in infra/terraform/README.md.
bucket       = "sip-terraform-state-dev"
key          = "platform/dev/terraform.tfstate"
region       = "us-east-1"
encrypt      = true
kms_key_id   = "alias/sip-terraform-state"
use_lockfile = true
