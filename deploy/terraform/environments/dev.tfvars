# terraform apply -var-file=environments/dev.tfvars
environment          = "dev"
kubernetes_namespace = "inferline-dev"
availability_zones   = ["ap-northeast-2a", "ap-northeast-2c"]
single_nat_gateway   = true
node_instance_types  = ["m6i.large"]
node_count           = { desired = 2, min = 1, max = 3 }
gpu_node_group       = null
kafka                = { version = "3.8.x", instance_type = "kafka.t3.small", volume_size_gib = 20 }
opensearch = {
  engine_version    = "OpenSearch_2.17"
  instance_type     = "t3.medium.search"
  instance_count    = 2
  dedicated_masters = 0
  volume_size_gib   = 20
}
backup_retention_days      = 30
dead_letter_retention_days = 14
