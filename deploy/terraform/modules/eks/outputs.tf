output "cluster_name" {
  description = "The cluster's name."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "The API server's address."
  value       = aws_eks_cluster.this.endpoint
}

output "oidc_provider_arn" {
  description = "The IAM OIDC provider that IRSA roles trust."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "oidc_issuer" {
  description = "The cluster's OIDC issuer, without https:// (the prefix of IRSA conditions)."
  value       = replace(aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://", "")
}

output "node_role_arn" {
  description = "The nodes' role."
  value       = aws_iam_role.node.arn
}
