# Buckets for backups and dead letters (source S4's S3 "backup/DLQ"), and one for their
# access logs. All are private (public access blocked, owner-enforced objects), versioned,
# TLS only, and expire what is old; backups and dead letters are encrypted with the
# environment's key.
locals {
  buckets = {
    backups = {
      retention_days = var.backup_retention_days
      glacier_after  = 30
    }
    dead-letters = {
      retention_days = var.dead_letter_retention_days
      glacier_after  = null
    }
  }
}

data "aws_caller_identity" "current" {}

resource "aws_s3_bucket" "data" {
  for_each = local.buckets
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles the cost; backups of a region-scoped platform stay in its region (versioning protects against deletion).
  #checkov:skip=CKV2_AWS_62:No consumer of bucket events: backups are read on restore, dead letters by an operator.
  bucket = "${var.name}-${each.key}-${data.aws_caller_identity.current.account_id}"
}

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_18:This bucket receives the other buckets' access logs; logging it into itself would loop.
  #checkov:skip=CKV_AWS_144:Access logs are not replicated to another region.
  #checkov:skip=CKV_AWS_145:S3 server access logging delivers only to buckets encrypted with S3-managed keys (SSE-S3), not SSE-KMS.
  #checkov:skip=CKV2_AWS_62:No consumer of bucket events for access logs.
  bucket = "${var.name}-access-logs-${data.aws_caller_identity.current.account_id}"
}

resource "aws_s3_bucket_public_access_block" "data" {
  for_each                = local.buckets
  bucket                  = aws_s3_bucket.data[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "data" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.data[each.key].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "data" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.data[each.key].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.data[each.key].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_logging" "data" {
  for_each      = local.buckets
  bucket        = aws_s3_bucket.data[each.key].id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "${each.key}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "data" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.data[each.key].id

  rule {
    id     = "expire"
    status = "Enabled"
    filter {}

    dynamic "transition" {
      for_each = local.buckets[each.key].glacier_after == null ? [] : [local.buckets[each.key].glacier_after]
      content {
        days          = transition.value
        storage_class = "GLACIER"
      }
    }

    expiration {
      days = local.buckets[each.key].retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    id     = "expire"
    status = "Enabled"
    filter {}

    expiration {
      days = 365
    }

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "tls_only" {
  for_each = merge(aws_s3_bucket.data, { access-logs = aws_s3_bucket.access_logs })

  statement {
    sid       = "DenyPlainHttp"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = each.key == "access-logs" ? [1] : []
    content {
      sid       = "S3ServerAccessLogs"
      actions   = ["s3:PutObject"]
      resources = ["${each.value.arn}/*"]
      principals {
        type        = "Service"
        identifiers = ["logging.s3.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [data.aws_caller_identity.current.account_id]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = data.aws_iam_policy_document.tls_only
  bucket   = each.key == "access-logs" ? aws_s3_bucket.access_logs.id : aws_s3_bucket.data[each.key].id
  policy   = each.value.json
}
