output "repository_urls" {
  description = "Repository name to push URL."
  value       = { for name, repository in aws_ecr_repository.this : name => repository.repository_url }
}
