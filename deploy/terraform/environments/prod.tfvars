# terraform apply -var-file=environments/prod.tfvars
environment                = "prod"
kubernetes_namespace       = "inferline"
availability_zones         = ["ap-northeast-2a", "ap-northeast-2b", "ap-northeast-2c"]
single_nat_gateway         = false
node_instance_types        = ["m6i.xlarge"]
node_count                 = { desired = 3, min = 3, max = 12 }
gpu_node_group             = { instance_types = ["g5.xlarge"], desired = 2, min = 1, max = 8 }
backup_retention_days      = 365
dead_letter_retention_days = 90
