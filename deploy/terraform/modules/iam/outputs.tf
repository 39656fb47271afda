output "inferline_role_arn" {
  description = "The role of the ServiceAccount inferline."
  value       = aws_iam_role.this["inferline"].arn
}

output "fluent_bit_role_arn" {
  description = "The role of the ServiceAccount fluent-bit."
  value       = aws_iam_role.this["fluent-bit"].arn
}
