output "secret_arns" {
  description = "Every secret, by name."
  value = merge(
    { for name, secret in aws_secretsmanager_secret.this : name => secret.arn },
    { kafka = aws_secretsmanager_secret.kafka.arn },
  )
}

output "application_secret_arns" {
  description = "The secrets Inferline's pods read."
  value       = concat([for secret in aws_secretsmanager_secret.this : secret.arn], [aws_secretsmanager_secret.kafka.arn])
}

output "kafka_credentials_arn" {
  description = "The MSK SCRAM secret."
  value       = aws_secretsmanager_secret.kafka.arn
}
