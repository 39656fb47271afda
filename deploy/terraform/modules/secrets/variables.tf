variable "name" {
  description = "Prefix of the secrets' names."
  type        = string
}

variable "kms_key_arn" {
  description = "Key of the secrets (a customer key: MSK requires one)."
  type        = string
}

variable "database_rotation_lambda_arn" {
  description = "Rotation function of the database password; null: no automatic rotation."
  type        = string
  default     = null
}
