variable "repositories" {
  description = "Repository names (the image name of deploy/k8s: inferline)."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "Key of the images."
  type        = string
}
