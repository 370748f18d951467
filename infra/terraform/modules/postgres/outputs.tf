output "primary_arn" {
  description = "ARN of the primary."
  value       = aws_db_instance.primary.arn
}

output "primary_identifier" {
  description = "Identifier of the primary."
  value       = aws_db_instance.primary.identifier
}

output "primary_address" {
  description = "Writer endpoint host."
  value       = aws_db_instance.primary.address
}

output "master_user_secret_arn" {
  description = "The RDS-managed master password secret (no value in state)."
  value       = try(aws_db_instance.primary.master_user_secret[0].secret_arn, null)
}

output "replica_addresses" {
  description = "Baseline replica identifier => endpoint host (published in the reader endpoint)."
  value       = { for replica in aws_db_instance.replica : replica.identifier => replica.address }
}
