variable "name" {
  description = "The domain's name (at most 28 characters)."
  type        = string
}

variable "engine_version" {
  description = "OpenSearch version, e.g. OpenSearch_2.17."
  type        = string
}

variable "instance_type" {
  description = "Data (and dedicated master) node type."
  type        = string
}

variable "instance_count" {
  description = "Data nodes: a multiple of the zones used."
  type        = number
}

variable "dedicated_masters" {
  description = "Dedicated master nodes: 3 in production, 0 for none."
  type        = number
}

variable "volume_size_gib" {
  description = "Storage of each data node."
  type        = number
}

variable "vpc_id" {
  description = "The VPC of the domain."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets: the domain spreads over up to three of them."
  type        = list(string)
}

variable "client_cidr" {
  description = "Addresses allowed to connect (the VPC)."
  type        = string
}

variable "kms_key_arn" {
  description = "Key of the data at rest and the logs."
  type        = string
}

variable "admin_role_arn" {
  description = "The IAM role that administers fine-grained access control."
  type        = string
}
