variable "name" {
  description = "The cluster's name."
  type        = string
}

variable "kubernetes_version" {
  description = "Control plane version."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the control plane's interfaces and the nodes."
  type        = list(string)
}

variable "public_access_cidrs" {
  description = "Addresses allowed to the API endpoint from outside the VPC; empty: private only."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "Key of Kubernetes Secrets, node volumes and the control plane's logs."
  type        = string
}

variable "node_instance_types" {
  description = "Instance types of the general node group."
  type        = list(string)
}

variable "node_count" {
  description = "Desired, minimum and maximum size of the general node group."
  type        = object({ desired = number, min = number, max = number })
}

variable "gpu_node_group" {
  description = "The GPU node group, or null for none."
  type = object({
    instance_types = list(string)
    desired        = number
    min            = number
    max            = number
  })
}
