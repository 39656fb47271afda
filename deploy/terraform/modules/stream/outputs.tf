output "bootstrap_brokers_sasl_scram" {
  description = "host:9096,… for SASL_SSL with SCRAM-SHA-512."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_scram
}

output "cluster_arn" {
  description = "The MSK cluster."
  value       = aws_msk_cluster.this.arn
}
