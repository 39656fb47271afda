variable "name" {
  description = "Prefix of the roles' names."
  type        = string
}

variable "oidc_provider_arn" {
  description = "The cluster's IAM OIDC provider."
  type        = string
}

variable "oidc_issuer" {
  description = "The cluster's OIDC issuer without https://."
  type        = string
}

variable "namespace" {
  description = "The Kubernetes namespace of the ServiceAccounts inferline and fluent-bit."
  type        = string
}

variable "kms_key_arn" {
  description = "The key of the secrets and buckets."
  type        = string
}

variable "secret_arns" {
  description = "The secrets Inferline reads."
  type        = list(string)
}

variable "backup_bucket_arn" {
  description = "The backups bucket."
  type        = string
}

variable "dead_letter_bucket_arn" {
  description = "The dead letters bucket."
  type        = string
}

variable "opensearch_domain_arn" {
  description = "The OpenSearch domain."
  type        = string
}
