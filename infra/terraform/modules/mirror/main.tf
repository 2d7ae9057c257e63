# MirrorMaker 2 from one region into another, run by Strimzi in the target region (consume
# remote, produce local: a cut link then only delays the copy, never loses a produce).
# DefaultReplicationPolicy names the copies "<source>.chat.fanout"; gateways in the target
# region read it beside their own chat.fanout. The source's read-only user "mirror-reader"
# (Strimzi writes its password to a Secret in the source cluster) is copied into the target
# cluster, together with the source cluster's CA; no secret value passes through the repository.

locals {
  namespace = "chatstream"
}

data "kubernetes_secret" "source_user" {
  provider = kubernetes.source
  metadata {
    name      = "mirror-reader"
    namespace = local.namespace
  }
}

data "kubernetes_secret" "source_ca" {
  provider = kubernetes.source
  metadata {
    name      = "kafka-cluster-ca-cert"
    namespace = local.namespace
  }
}

resource "kubernetes_secret" "source_user" {
  provider = kubernetes.target
  metadata {
    name      = "mirror-from-${var.source_name}"
    namespace = local.namespace
  }
  data = { password = data.kubernetes_secret.source_user.data["password"] }
}

resource "kubernetes_secret" "source_ca" {
  provider = kubernetes.target
  metadata {
    name      = "mirror-from-${var.source_name}-ca"
    namespace = local.namespace
  }
  data = { "ca.crt" = data.kubernetes_secret.source_ca.data["ca.crt"] }
}

# Writes into the target cluster as a local user with rights on "<source>.*" topics and
# MirrorMaker's internal topics (KafkaUser "mirror-writer", created here).
resource "kubernetes_manifest" "writer" {
  provider = kubernetes.target
  manifest = {
    apiVersion = "kafka.strimzi.io/v1beta2"
    kind       = "KafkaUser"
    metadata = {
      name      = "mirror-writer-${var.source_name}"
      namespace = local.namespace
      labels    = { "strimzi.io/cluster" = "kafka" }
    }
    spec = {
      authentication = { type = "scram-sha-512" }
      authorization = {
        type = "simple"
        acls = [
          { resource = { type = "topic", name = "${var.source_name}.", patternType = "prefix" }, operations = ["All"] },
          { resource = { type = "topic", name = "mirrormaker2-", patternType = "prefix" }, operations = ["All"] },
          { resource = { type = "topic", name = "mm2-", patternType = "prefix" }, operations = ["All"] },
          { resource = { type = "topic", name = "heartbeats", patternType = "literal" }, operations = ["All"] },
          { resource = { type = "group", name = "mirror-", patternType = "prefix" }, operations = ["All"] },
          { resource = { type = "cluster" }, operations = ["Describe", "Create"] },
        ]
      }
    }
  }
}

resource "kubernetes_manifest" "mirrormaker2" {
  provider = kubernetes.target
  manifest = {
    apiVersion = "kafka.strimzi.io/v1beta2"
    kind       = "KafkaMirrorMaker2"
    metadata = {
      name      = "mirror-from-${var.source_name}"
      namespace = local.namespace
    }
    spec = {
      version        = var.kafka_version
      replicas       = var.replicas
      connectCluster = var.target_name
      clusters = [
        {
          alias            = var.source_name
          bootstrapServers = var.source_bootstrap
          tls              = { trustedCertificates = [{ secretName = kubernetes_secret.source_ca.metadata[0].name, certificate = "ca.crt" }] }
          authentication = {
            type           = "scram-sha-512"
            username       = "mirror-reader"
            passwordSecret = { secretName = kubernetes_secret.source_user.metadata[0].name, password = "password" }
          }
        },
        {
          alias            = var.target_name
          bootstrapServers = "kafka-kafka-bootstrap.${local.namespace}.svc:9093"
          tls              = { trustedCertificates = [{ secretName = "kafka-cluster-ca-cert", certificate = "ca.crt" }] }
          authentication = {
            type           = "scram-sha-512"
            username       = "mirror-writer-${var.source_name}"
            passwordSecret = { secretName = "mirror-writer-${var.source_name}", password = "password" }
          }
          config = {
            "config.storage.replication.factor" = 3
            "offset.storage.replication.factor" = 3
            "status.storage.replication.factor" = 3
          }
        },
      ]
      mirrors = [{
        sourceCluster = var.source_name
        targetCluster = var.target_name
        topicsPattern = var.topics_pattern
        groupsPattern = "^$" # no consumer groups cross regions: each region's groups read their own topics
        sourceConnector = {
          tasksMax = 12
          config = {
            "replication.factor"                    = 3
            "offset-syncs.topic.replication.factor" = 3
            "sync.topic.acls.enabled"               = "false"
            "producer.override.acks"                = "all"
            "producer.override.enable.idempotence"  = "true"
          }
        }
        heartbeatConnector = {
          config = { "heartbeats.topic.replication.factor" = 3 }
        }
      }]
    }
  }
  depends_on = [kubernetes_manifest.writer]
}
