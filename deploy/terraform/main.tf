# Inferline on AWS (source S4's cloud, docs/logs.md "Deployment"): a VPC, an EKS cluster for
# deploy/k8s, MSK for the queue and events, S3 for backups and dead letters, OpenSearch,
# ECR, Secrets Manager and IAM roles for the pods (IRSA). One root, one state per
# environment: terraform init -backend-config=environments/<env>.s3.tfbackend, then
# terraform apply -var-file=environments/<env>.tfvars.

locals {
  name = "inferline-${var.environment}"
}

module "kms" {
  source = "./modules/kms"

  name   = local.name
  region = var.region
}

module "vpc" {
  source = "./modules/vpc"

  name               = local.name
  cidr               = var.vpc_cidr
  availability_zones = var.availability_zones
  single_nat_gateway = var.single_nat_gateway
  cluster_name       = local.name
  kms_key_arn        = module.kms.key_arn
}

module "eks" {
  source = "./modules/eks"

  name                = local.name
  kubernetes_version  = var.kubernetes_version
  subnet_ids          = module.vpc.private_subnet_ids
  public_access_cidrs = var.cluster_public_access_cidrs
  kms_key_arn         = module.kms.key_arn
  node_instance_types = var.node_instance_types
  node_count          = var.node_count
  gpu_node_group      = var.gpu_node_group
}

module "stream" {
  source = "./modules/stream"

  name              = local.name
  kafka_version     = var.kafka.version
  instance_type     = var.kafka.instance_type
  volume_size_gib   = var.kafka.volume_size_gib
  vpc_id            = module.vpc.vpc_id
  subnet_ids        = module.vpc.private_subnet_ids
  client_cidr       = var.vpc_cidr
  kms_key_arn       = module.kms.key_arn
  scram_secret_arns = [module.secrets.kafka_credentials_arn]
}

module "s3" {
  source = "./modules/s3"

  name                       = local.name
  kms_key_arn                = module.kms.key_arn
  backup_retention_days      = var.backup_retention_days
  dead_letter_retention_days = var.dead_letter_retention_days
}

module "opensearch" {
  source = "./modules/opensearch"

  name              = local.name
  engine_version    = var.opensearch.engine_version
  instance_type     = var.opensearch.instance_type
  instance_count    = var.opensearch.instance_count
  dedicated_masters = var.opensearch.dedicated_masters
  volume_size_gib   = var.opensearch.volume_size_gib
  vpc_id            = module.vpc.vpc_id
  subnet_ids        = module.vpc.private_subnet_ids
  client_cidr       = var.vpc_cidr
  kms_key_arn       = module.kms.key_arn
  admin_role_arn    = module.iam.inferline_role_arn
}

module "ecr" {
  source = "./modules/ecr"

  repositories = ["inferline"]
  kms_key_arn  = module.kms.key_arn
}

module "secrets" {
  source = "./modules/secrets"

  name                         = local.name
  kms_key_arn                  = module.kms.key_arn
  database_rotation_lambda_arn = var.database_rotation_lambda_arn
}

module "iam" {
  source = "./modules/iam"

  name                   = local.name
  oidc_provider_arn      = module.eks.oidc_provider_arn
  oidc_issuer            = module.eks.oidc_issuer
  namespace              = var.kubernetes_namespace
  kms_key_arn            = module.kms.key_arn
  secret_arns            = module.secrets.application_secret_arns
  backup_bucket_arn      = module.s3.backup_bucket_arn
  dead_letter_bucket_arn = module.s3.dead_letter_bucket_arn
  opensearch_domain_arn  = module.opensearch.domain_arn
}
