# IAM roles for service accounts (IRSA): a pod gets AWS permissions only through its
# Kubernetes ServiceAccount, and only these:
#  - `inferline` (API, worker, relay: the log consumer among them): read its secrets,
#    write and read backups and dead letters, query OpenSearch, use the key for them;
#  - `fluent-bit`: write archived raw logs under fluent-bit/ in the backups bucket (the
#    optional s3 output of deploy/fluent-bit/fluent-bit.conf), nothing else.
# Each role trusts exactly one ServiceAccount of one namespace of this cluster.
locals {
  service_accounts = {
    inferline  = "inferline"
    fluent-bit = "fluent-bit"
  }
}

data "aws_iam_policy_document" "trust" {
  for_each = local.service_accounts

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${var.namespace}:${each.value}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each             = local.service_accounts
  name                 = "${var.name}-${each.key}"
  assume_role_policy   = data.aws_iam_policy_document.trust[each.key].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "inferline" {
  statement {
    sid       = "ReadOwnSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = var.secret_arns
  }

  statement {
    sid       = "BucketsList"
    actions   = ["s3:ListBucket"]
    resources = [var.backup_bucket_arn, var.dead_letter_bucket_arn]
  }

  statement {
    sid       = "BucketsReadWrite"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.backup_bucket_arn}/inferline/*", "${var.dead_letter_bucket_arn}/*"]
  }

  statement {
    sid       = "SearchLogs"
    actions   = ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut", "es:ESHttpDelete"]
    resources = ["${var.opensearch_domain_arn}/*"]
  }

  statement {
    sid       = "UseTheKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

data "aws_iam_policy_document" "fluent_bit" {
  statement {
    sid       = "ArchiveRawLogs"
    actions   = ["s3:PutObject"]
    resources = ["${var.backup_bucket_arn}/fluent-bit/*"]
  }

  statement {
    sid       = "UseTheKey"
    actions   = ["kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "inferline" {
  name   = "inferline"
  role   = aws_iam_role.this["inferline"].id
  policy = data.aws_iam_policy_document.inferline.json
}

resource "aws_iam_role_policy" "fluent_bit" {
  name   = "fluent-bit"
  role   = aws_iam_role.this["fluent-bit"].id
  policy = data.aws_iam_policy_document.fluent_bit.json
}
