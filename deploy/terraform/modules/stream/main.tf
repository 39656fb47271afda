# The stream: Amazon MSK (Kafka). Source S4 put Kinesis between Fluent Bit and its
# consumer; Inferline's queue, events and stream routes speak the Kafka protocol
# (INFERLINE_QUEUE_URL / INFERLINE_EVENTS_URL = kafka://…) and Fluent Bit reaches Inferline
# directly over the Forward protocol, so a Kinesis stream would be one more system that no
# Inferline process reads. Clients authenticate with SASL/SCRAM (modules/secrets holds the
# credentials) over TLS on port 9096; brokers are private, encrypted with the environment's
# key, and log to CloudWatch.
resource "aws_security_group" "brokers" {
  name        = "${var.name}-kafka"
  description = "MSK brokers of ${var.name}: SASL/SCRAM over TLS from the VPC"
  vpc_id      = var.vpc_id

  ingress {
    description = "Kafka clients (SASL_SSL, SCRAM) from the VPC"
    from_port   = 9096
    to_port     = 9096
    protocol    = "tcp"
    cidr_blocks = [var.client_cidr]
  }

  egress {
    description = "Replication between brokers inside the VPC"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = [var.client_cidr]
  }
}

resource "aws_cloudwatch_log_group" "brokers" {
  name              = "/aws/msk/${var.name}"
  retention_in_days = 365
  kms_key_id        = var.kms_key_arn
}

locals {
  brokers = length(var.subnet_ids)
  # Three copies of every partition where there are three brokers (two in a two-zone dev).
  replication = min(local.brokers, 3)
}

resource "aws_msk_configuration" "this" {
  name           = var.name
  kafka_versions = [var.kafka_version]
  # Inferline creates its topics (INFERLINE_KAFKA_PARTITIONS); nothing else may.
  server_properties = <<-PROPERTIES
    auto.create.topics.enable=false
    default.replication.factor=${local.replication}
    min.insync.replicas=${max(local.replication - 1, 1)}
    unclean.leader.election.enable=false
  PROPERTIES
}

resource "aws_msk_cluster" "this" {
  cluster_name           = var.name
  kafka_version          = var.kafka_version
  number_of_broker_nodes = local.brokers

  broker_node_group_info {
    instance_type   = var.instance_type
    client_subnets  = var.subnet_ids
    security_groups = [aws_security_group.brokers.id]
    storage_info {
      ebs_storage_info {
        volume_size = var.volume_size_gib
      }
    }
    connectivity_info {
      public_access {
        type = "DISABLED"
      }
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this.arn
    revision = aws_msk_configuration.this.latest_revision
  }

  client_authentication {
    unauthenticated = false
    sasl {
      scram = true
    }
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = var.kms_key_arn
    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.brokers.name
      }
    }
  }
}

resource "aws_msk_scram_secret_association" "this" {
  cluster_arn     = aws_msk_cluster.this.arn
  secret_arn_list = var.scram_secret_arns
}
