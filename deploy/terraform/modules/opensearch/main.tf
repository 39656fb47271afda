# OpenSearch for searching and charting logs (Grafana's data source). Inside the VPC
# (HTTPS from the VPC only), encrypted at rest with the environment's key and between nodes,
# TLS 1.2+, fine-grained access control with an IAM role as its administrator (no internal
# passwords), and every log type, audit included, in CloudWatch.
data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

resource "aws_security_group" "domain" {
  name        = "${var.name}-opensearch"
  description = "OpenSearch domain of ${var.name}: HTTPS from the VPC"
  vpc_id      = var.vpc_id

  ingress {
    description = "HTTPS from the VPC"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [var.client_cidr]
  }
}

resource "aws_cloudwatch_log_group" "domain" {
  for_each          = toset(["index-slow", "search-slow", "application", "audit"])
  name              = "/aws/opensearch/${var.name}/${each.key}"
  retention_in_days = 365
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "publish_logs" {
  statement {
    actions   = ["logs:PutLogEvents", "logs:CreateLogStream"]
    resources = [for group in aws_cloudwatch_log_group.domain : "${group.arn}:*"]
    principals {
      type        = "Service"
      identifiers = ["es.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_cloudwatch_log_resource_policy" "domain" {
  policy_name     = "${var.name}-opensearch"
  policy_document = data.aws_iam_policy_document.publish_logs.json
}

locals {
  zones = min(length(var.subnet_ids), 3)
}

resource "aws_opensearch_domain" "this" {
  #checkov:skip=CKV_AWS_318:Three dedicated masters are the default and prod's setting; dev's tfvars runs none (two data nodes) to save cost, which checkov cannot tell apart.
  #checkov:skip=CKV2_AWS_59:As above: dedicated masters are enabled whenever dedicated_masters > 0 (prod: 3).
  domain_name    = var.name
  engine_version = var.engine_version

  cluster_config {
    instance_type            = var.instance_type
    instance_count           = var.instance_count
    zone_awareness_enabled   = local.zones > 1
    dedicated_master_enabled = var.dedicated_masters > 0
    dedicated_master_count   = var.dedicated_masters > 0 ? var.dedicated_masters : null
    dedicated_master_type    = var.dedicated_masters > 0 ? var.instance_type : null

    dynamic "zone_awareness_config" {
      for_each = local.zones > 1 ? [local.zones] : []
      content {
        availability_zone_count = zone_awareness_config.value
      }
    }
  }

  ebs_options {
    ebs_enabled = true
    volume_type = "gp3"
    volume_size = var.volume_size_gib
  }

  vpc_options {
    subnet_ids         = slice(var.subnet_ids, 0, local.zones)
    security_group_ids = [aws_security_group.domain.id]
  }

  encrypt_at_rest {
    enabled    = true
    kms_key_id = var.kms_key_arn
  }

  node_to_node_encryption {
    enabled = true
  }

  domain_endpoint_options {
    enforce_https       = true
    tls_security_policy = "Policy-Min-TLS-1-2-2019-07"
  }

  advanced_security_options {
    enabled                        = true
    anonymous_auth_enabled         = false
    internal_user_database_enabled = false
    master_user_options {
      master_user_arn = var.admin_role_arn
    }
  }

  log_publishing_options {
    log_type                 = "INDEX_SLOW_LOGS"
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.domain["index-slow"].arn
    enabled                  = true
  }

  log_publishing_options {
    log_type                 = "SEARCH_SLOW_LOGS"
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.domain["search-slow"].arn
    enabled                  = true
  }

  log_publishing_options {
    log_type                 = "ES_APPLICATION_LOGS"
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.domain["application"].arn
    enabled                  = true
  }

  log_publishing_options {
    log_type                 = "AUDIT_LOGS"
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.domain["audit"].arn
    enabled                  = true
  }

  access_policies = data.aws_iam_policy_document.access.json

  depends_on = [aws_cloudwatch_log_resource_policy.domain]
}

# Requests are signed by IAM principals of this account; fine-grained access control then
# decides per index (the administrator role above maps the others).
data "aws_iam_policy_document" "access" {
  statement {
    actions   = ["es:ESHttp*"]
    resources = ["arn:aws:es:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:domain/${var.name}/*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}
