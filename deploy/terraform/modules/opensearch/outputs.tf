output "endpoint" {
  description = "The domain's HTTPS endpoint inside the VPC."
  value       = aws_opensearch_domain.this.endpoint
}

output "domain_arn" {
  description = "The domain's ARN."
  value       = aws_opensearch_domain.this.arn
}
