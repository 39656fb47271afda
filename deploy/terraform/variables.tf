variable "region" {
  description = "AWS region of every resource (source S4 ran in ap-northeast-2, Seoul)."
  type        = string
  default     = "ap-northeast-2"
}

variable "environment" {
  description = "dev or prod: part of every name, and the tag Environment."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment must be dev or prod."
  }
}

variable "vpc_cidr" {
  description = "The VPC's address range; split into one public and one private subnet per zone."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zones" {
  description = "The availability zones of subnets, nodes and brokers (2 or 3), named: a zone AWS adds later changes nothing."
  type        = list(string)
  default     = ["ap-northeast-2a", "ap-northeast-2b", "ap-northeast-2c"]

  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 3
    error_message = "Give two or three availability zones."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for every zone (cheaper, one zone's outage cuts egress) instead of one per zone."
  type        = bool
  default     = false
}

variable "kubernetes_version" {
  description = "EKS control plane version (deploy/k8s is validated against 1.32)."
  type        = string
  default     = "1.32"
}

variable "cluster_public_access_cidrs" {
  description = "Addresses allowed to reach the EKS API from outside the VPC; empty keeps the endpoint private."
  type        = list(string)
  default     = []
}

variable "node_instance_types" {
  description = "Instance types of the general node group (API, relay, CPU workers, Fluent Bit)."
  type        = list(string)
  default     = ["m6i.xlarge"]
}

variable "node_count" {
  description = "Desired, minimum and maximum size of the general node group."
  type        = object({ desired = number, min = number, max = number })
  default     = { desired = 3, min = 2, max = 10 }
}

variable "gpu_node_group" {
  description = "GPU nodes for deploy/k8s/components/gpu-worker (labelled and tainted as it expects); null for none."
  type = object({
    instance_types = list(string)
    desired        = number
    min            = number
    max            = number
  })
  default = null
}

variable "kafka" {
  description = "The MSK cluster carrying Inferline's queue, events and stream routes."
  type = object({
    version         = string
    instance_type   = string
    volume_size_gib = number
  })
  default = { version = "3.8.x", instance_type = "kafka.m7g.large", volume_size_gib = 100 }
}

variable "opensearch" {
  description = "The OpenSearch domain for searching logs (Grafana's data source)."
  type = object({
    engine_version    = string
    instance_type     = string
    instance_count    = number
    dedicated_masters = number
    volume_size_gib   = number
  })
  default = {
    engine_version    = "OpenSearch_2.17"
    instance_type     = "r6g.large.search"
    instance_count    = 3
    dedicated_masters = 3
    volume_size_gib   = 100
  }
}

variable "backup_retention_days" {
  description = "Days a backup object is kept (after 30 days it moves to Glacier)."
  type        = number
  default     = 365
}

variable "dead_letter_retention_days" {
  description = "Days a dead letter (a log record or job Inferline could not process) is kept."
  type        = number
  default     = 90
}

variable "kubernetes_namespace" {
  description = "The namespace of deploy/k8s's overlay (inferline for prod, inferline-dev for dev): IRSA trusts its service accounts."
  type        = string
}

variable "database_rotation_lambda_arn" {
  description = "A Secrets Manager rotation function for the database password (e.g. AWS's template for PostgreSQL); null: rotate by hand."
  type        = string
  default     = null
}
