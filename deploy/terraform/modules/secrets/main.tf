# The secrets Inferline reads (as files: INFERLINE_<NAME>_FILE, docs/deploy.md): the Slack
# webhook URL of log alerts, the database password, the LLM API key, and the Kafka (MSK
# SCRAM) credentials. Terraform creates them empty and never sees a value: fill them with
# `aws secretsmanager put-secret-value`, so no secret is in the state or the repository.
# The database password rotates when a rotation function is given; the webhook URL and the
# LLM key are issued by Slack and the LLM provider and rotated there.
locals {
  secrets = {
    slack-webhook-url = "Slack incoming webhook URL for log incident alerts (INFERLINE_LOGS_SLACK_WEBHOOK_URL_FILE)"
    database-password = "Password of Inferline's database user"
    llm-api-key       = "API key of the LLM service (INFERLINE_LLM_API_KEY_FILE)"
  }
}

resource "aws_secretsmanager_secret" "this" {
  for_each = local.secrets
  #checkov:skip=CKV2_AWS_57:Only the database password can be rotated by AWS (its rotation is below, enabled by database_rotation_lambda_arn); the Slack webhook URL and the LLM key are issued and rotated by Slack and the LLM provider.
  name                    = "${var.name}/${each.key}"
  description             = each.value
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 30
}

resource "aws_secretsmanager_secret_rotation" "database" {
  count               = var.database_rotation_lambda_arn == null ? 0 : 1
  secret_id           = aws_secretsmanager_secret.this["database-password"].id
  rotation_lambda_arn = var.database_rotation_lambda_arn

  rotation_rules {
    automatically_after_days = 30
  }
}

# MSK reads SCRAM users only from secrets named AmazonMSK_… encrypted with a customer key.
resource "aws_secretsmanager_secret" "kafka" {
  #checkov:skip=CKV2_AWS_57:MSK SCRAM credentials have no AWS rotation function; rotate by writing a new version and restarting the clients.
  name                    = "AmazonMSK_${var.name}"
  description             = "SCRAM username and password of Inferline's Kafka clients (MSK)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 30
}
