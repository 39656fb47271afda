variable "name" {
  description = "The cluster's name."
  type        = string
}

variable "kafka_version" {
  description = "Kafka version of the brokers (e.g. 3.8.x)."
  type        = string
}

variable "instance_type" {
  description = "Broker instance type."
  type        = string
}

variable "volume_size_gib" {
  description = "Storage of each broker."
  type        = number
}

variable "vpc_id" {
  description = "The VPC of the brokers."
  type        = string
}

variable "subnet_ids" {
  description = "One private subnet per zone: one broker in each."
  type        = list(string)
}

variable "client_cidr" {
  description = "Addresses allowed to connect (the VPC)."
  type        = string
}

variable "kms_key_arn" {
  description = "Key of the brokers' storage and logs."
  type        = string
}

variable "scram_secret_arns" {
  description = "Secrets (named AmazonMSK_…, encrypted with a customer key) holding SCRAM users."
  type        = list(string)
}
