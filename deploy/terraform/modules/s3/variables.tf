variable "name" {
  description = "Prefix of the buckets' names (the account id is appended: names are global)."
  type        = string
}

variable "kms_key_arn" {
  description = "Key of the backups and dead letters."
  type        = string
}

variable "backup_retention_days" {
  description = "Days a backup is kept."
  type        = number
}

variable "dead_letter_retention_days" {
  description = "Days a dead letter is kept."
  type        = number
}
