variable "name" {
  description = "Prefix of every name."
  type        = string
}

variable "cidr" {
  description = "The VPC's address range (a /16: public subnets take /24s, private ones /20s)."
  type        = string
}

variable "availability_zones" {
  description = "The zones to use, by name."
  type        = list(string)
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones instead of one per zone."
  type        = bool
}

variable "cluster_name" {
  description = "The EKS cluster whose load balancers may use the subnets (their tags)."
  type        = string
}

variable "kms_key_arn" {
  description = "Key of the flow logs' log group."
  type        = string
}
