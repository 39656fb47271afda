output "cluster_name" {
  description = "aws eks update-kubeconfig --name <this> --region <region>"
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "The EKS API server."
  value       = module.eks.cluster_endpoint
}

output "ecr_repository_urls" {
  description = "Where to push the images (the overlays' images: newName)."
  value       = module.ecr.repository_urls
}

output "kafka_bootstrap_brokers" {
  description = "INFERLINE_QUEUE_URL / INFERLINE_EVENTS_URL: kafka://<this>?security.protocol=SASL_SSL&sasl.mechanisms=SCRAM-SHA-512&... (port 9096)."
  value       = module.stream.bootstrap_brokers_sasl_scram
}

output "opensearch_endpoint" {
  description = "The OpenSearch domain's HTTPS endpoint (inside the VPC)."
  value       = module.opensearch.endpoint
}

output "backup_bucket" {
  description = "Backups (database dumps, archived logs)."
  value       = module.s3.backup_bucket
}

output "dead_letter_bucket" {
  description = "Dead letters: records and jobs Inferline gave up on."
  value       = module.s3.dead_letter_bucket
}

output "secret_arns" {
  description = "The secrets to fill (aws secretsmanager put-secret-value) and mount in the pods."
  value       = module.secrets.secret_arns
}

output "inferline_role_arn" {
  description = "Annotate the ServiceAccount `inferline` with eks.amazonaws.com/role-arn: <this>."
  value       = module.iam.inferline_role_arn
}

output "fluent_bit_role_arn" {
  description = "Annotate the ServiceAccount `fluent-bit` with eks.amazonaws.com/role-arn: <this>."
  value       = module.iam.fluent_bit_role_arn
}
