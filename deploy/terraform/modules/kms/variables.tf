variable "name" {
  description = "Prefix of every name (inferline-<environment>)."
  type        = string
}

variable "region" {
  description = "The region whose CloudWatch Logs may use the key."
  type        = string
}
