# Terraform and provider versions: exact enough that a plan means the same next month.
terraform {
  required_version = ">= 1.10, < 2.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }

  # State in S3 with S3's own lock file (Terraform 1.10+: no DynamoDB table needed). The
  # bucket, key and region come from environments/<env>.s3.tfbackend:
  #   terraform init -backend-config=environments/prod.s3.tfbackend
  backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "inferline"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}
