output "backup_bucket" {
  description = "The backups bucket's name."
  value       = aws_s3_bucket.data["backups"].id
}

output "backup_bucket_arn" {
  description = "The backups bucket's ARN."
  value       = aws_s3_bucket.data["backups"].arn
}

output "dead_letter_bucket" {
  description = "The dead letters bucket's name."
  value       = aws_s3_bucket.data["dead-letters"].id
}

output "dead_letter_bucket_arn" {
  description = "The dead letters bucket's ARN."
  value       = aws_s3_bucket.data["dead-letters"].arn
}
