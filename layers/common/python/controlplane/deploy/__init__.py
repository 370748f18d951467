"""The PlatformDeploy workflow: Terraform plan -> approval -> apply through CodeBuild, and drift checks."""
