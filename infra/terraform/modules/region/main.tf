# One chatstream region: a subnet of the shared VPC, a GKE cluster, Kafka on it (Strimzi,
# KRaft), Cloud SQL for PostgreSQL, Qdrant shards, KEDA, and the Secrets the manifests in
# infra/k8s reference. Passwords are generated here (random_password) and land only in
# the Terraform state and in Kubernetes Secrets: keep the state in an encrypted backend.

locals {
  labels    = merge({ app = "chatstream", region = var.name }, var.labels)
  namespace = "chatstream"
  topics = {
    "chat.messages" = { partitions = var.partitions, config = { "retention.ms" = 604800000 } }
    "chat.fanout"   = { partitions = var.partitions, config = { "retention.ms" = 86400000 } }
    "chat.vectors"  = { partitions = var.partitions, config = { "retention.ms" = var.vectors_retention_ms, "cleanup.policy" = "delete" } }
    "chat.dlq"      = { partitions = 3, config = { "retention.ms" = 2592000000 } }
  }
}

# ---- network --------------------------------------------------------------------------

resource "google_compute_subnetwork" "nodes" {
  project                  = var.project_id
  name                     = "chatstream-${var.name}"
  region                   = var.location
  network                  = var.network_id
  ip_cidr_range            = var.subnet_cidr
  private_ip_google_access = true

  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = var.pods_cidr
  }
  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = var.services_cidr
  }
}

# ---- Kubernetes ----------------------------------------------------------------------

resource "google_container_cluster" "this" {
  project                  = var.project_id
  name                     = "chatstream-${var.name}"
  location                 = var.location
  network                  = var.network_id
  subnetwork               = google_compute_subnetwork.nodes.id
  remove_default_node_pool = true
  initial_node_count       = 1
  deletion_protection      = true
  resource_labels          = local.labels

  ip_allocation_policy {
    cluster_secondary_range_name  = "pods"
    services_secondary_range_name = "services"
  }

  release_channel {
    channel = "REGULAR"
  }

  workload_identity_config {
    workload_pool = "${var.project_id}.svc.id.goog"
  }

  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = false
    master_ipv4_cidr_block  = var.master_cidr
  }
}

resource "google_container_node_pool" "default" {
  project  = var.project_id
  name     = "default"
  cluster  = google_container_cluster.this.id
  location = var.location

  autoscaling {
    min_node_count = var.node_min_count
    max_node_count = var.node_max_count
  }

  node_config {
    machine_type = var.node_machine_type
    labels       = local.labels
    oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }
}

# ---- PostgreSQL (Cloud SQL, private IP, HA) -------------------------------------------

resource "random_password" "postgres" {
  length  = 32
  special = false
}

resource "google_sql_database_instance" "messages" {
  project             = var.project_id
  name                = "chatstream-${var.name}"
  region              = var.location
  database_version    = var.postgres_version
  deletion_protection = true

  settings {
    tier              = var.postgres_tier
    availability_type = "REGIONAL"
    user_labels       = local.labels

    ip_configuration {
      ipv4_enabled    = false
      private_network = var.network_id
      ssl_mode        = "ENCRYPTED_ONLY"
    }

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
    }

    database_flags {
      name  = "max_connections"
      value = "500" # each persist pod holds pg.connections (2); 12 pods x 2 groups + gateways + search
    }
  }
}

resource "google_sql_database" "chatstream" {
  project  = var.project_id
  instance = google_sql_database_instance.messages.name
  name     = "chatstream"
}

resource "google_sql_user" "chatstream" {
  project  = var.project_id
  instance = google_sql_database_instance.messages.name
  name     = "chatstream"
  password = random_password.postgres.result
}

# infra/k8s reaches PostgreSQL as chatstream-pg-rw.chatstream.svc:5432 whatever runs it:
# here a selector-less Service whose endpoint is the Cloud SQL private IP.
resource "kubernetes_service" "postgres" {
  metadata {
    name      = "chatstream-pg-rw"
    namespace = local.namespace
  }
  spec {
    port {
      port        = 5432
      target_port = 5432
    }
  }
}

resource "kubernetes_endpoints" "postgres" {
  metadata {
    name      = "chatstream-pg-rw"
    namespace = local.namespace
  }
  subset {
    address {
      ip = google_sql_database_instance.messages.private_ip_address
    }
    port {
      port = 5432
    }
  }
}

# ---- operators: Strimzi (Kafka), KEDA ---------------------------------------------------

resource "kubernetes_namespace" "chatstream" {
  metadata {
    name   = local.namespace
    labels = { "app.kubernetes.io/part-of" = "chatstream" }
  }
  depends_on = [google_container_node_pool.default]
}

resource "helm_release" "strimzi" {
  name             = "strimzi"
  repository       = "https://strimzi.io/charts/"
  chart            = "strimzi-kafka-operator"
  version          = var.strimzi_chart_version
  namespace        = "strimzi"
  create_namespace = true
  set {
    name  = "watchNamespaces[0]"
    value = local.namespace
  }
  depends_on = [kubernetes_namespace.chatstream]
}

resource "helm_release" "keda" {
  name             = "keda"
  repository       = "https://kedacore.github.io/charts"
  chart            = "keda"
  version          = var.keda_chart_version
  namespace        = "keda"
  create_namespace = true
  depends_on       = [google_container_node_pool.default]
}

# ---- Kafka (Strimzi, KRaft, 3 brokers, RF 3, min.insync.replicas 2) -------------------

resource "kubernetes_manifest" "kafka_pool" {
  manifest = {
    apiVersion = "kafka.strimzi.io/v1beta2"
    kind       = "KafkaNodePool"
    metadata = {
      name      = "brokers"
      namespace = local.namespace
      labels    = { "strimzi.io/cluster" = "kafka" }
    }
    spec = {
      replicas = var.kafka_brokers
      roles    = ["controller", "broker"]
      storage = {
        type = "jbod"
        volumes = [{
          id          = 0
          type        = "persistent-claim"
          size        = "${var.kafka_storage_gb}Gi"
          deleteClaim = false
        }]
      }
    }
  }
  depends_on = [helm_release.strimzi]
}

resource "kubernetes_manifest" "kafka" {
  manifest = {
    apiVersion = "kafka.strimzi.io/v1beta2"
    kind       = "Kafka"
    metadata = {
      name      = "kafka"
      namespace = local.namespace
      annotations = {
        "strimzi.io/node-pools" = "enabled"
        "strimzi.io/kraft"      = "enabled"
      }
    }
    spec = {
      kafka = {
        version = var.kafka_version
        listeners = [
          # in-cluster clients (infra/k8s: kafka-kafka-bootstrap.chatstream.svc:9093)
          { name = "tls", port = 9093, type = "internal", tls = true, authentication = { type = "scram-sha-512" } },
          # the other regions' MirrorMaker 2, over an internal load balancer reachable across regions
          {
            name           = "mirror"
            port           = 9094
            type           = "loadbalancer"
            tls            = true
            authentication = { type = "scram-sha-512" }
            configuration = {
              bootstrap = {
                annotations = {
                  "networking.gke.io/load-balancer-type"                         = "Internal"
                  "networking.gke.io/internal-load-balancer-allow-global-access" = "true"
                }
              }
              brokers = [for i in range(var.kafka_brokers) : {
                broker = i
                annotations = {
                  "networking.gke.io/load-balancer-type"                         = "Internal"
                  "networking.gke.io/internal-load-balancer-allow-global-access" = "true"
                }
              }]
            }
          },
        ]
        authorization = { type = "simple" }
        config = {
          "default.replication.factor"               = 3
          "min.insync.replicas"                      = 2
          "offsets.topic.replication.factor"         = 3
          "transaction.state.log.replication.factor" = 3
          "transaction.state.log.min.isr"            = 2
          "auto.create.topics.enable"                = false
        }
      }
      entityOperator = {
        topicOperator = {}
        userOperator  = {}
      }
    }
  }
  depends_on = [kubernetes_manifest.kafka_pool]
}

resource "kubernetes_manifest" "topic" {
  for_each = local.topics
  manifest = {
    apiVersion = "kafka.strimzi.io/v1beta2"
    kind       = "KafkaTopic"
    metadata = {
      name      = replace(each.key, ".", "-")
      namespace = local.namespace
      labels    = { "strimzi.io/cluster" = "kafka" }
    }
    spec = {
      topicName  = each.key
      partitions = each.value.partitions
      replicas   = 3
      config     = merge({ "min.insync.replicas" = 2 }, each.value.config)
    }
  }
  depends_on = [kubernetes_manifest.kafka]
}

# The processors' and gateways' Kafka user; Strimzi writes its password to the Secret
# "chatstream" (key: password), which infra/k8s and KEDA's TriggerAuthentication reference.
resource "kubernetes_manifest" "kafka_user" {
  manifest = {
    apiVersion = "kafka.strimzi.io/v1beta2"
    kind       = "KafkaUser"
    metadata = {
      name      = "chatstream"
      namespace = local.namespace
      labels    = { "strimzi.io/cluster" = "kafka" }
    }
    spec = {
      authentication = { type = "scram-sha-512" }
      authorization = {
        type = "simple"
        acls = [
          { resource = { type = "topic", name = "chat.", patternType = "prefix" }, operations = ["Read", "Write", "Describe"] },
          { resource = { type = "topic", name = "*", patternType = "literal" }, operations = ["Describe"] },
          { resource = { type = "group", name = "chatstream-", patternType = "prefix" }, operations = ["Read", "Describe"] },
          { resource = { type = "transactionalId", name = "chatstream-fanout-", patternType = "prefix" }, operations = ["Write", "Describe"] },
          { resource = { type = "cluster" }, operations = ["IdempotentWrite", "Describe"] },
        ]
      }
    }
  }
  depends_on = [kubernetes_manifest.kafka]
}

# The user other regions' MirrorMaker 2 reads this region's chat.fanout as (read-only).
resource "kubernetes_manifest" "mirror_user" {
  manifest = {
    apiVersion = "kafka.strimzi.io/v1beta2"
    kind       = "KafkaUser"
    metadata = {
      name      = "mirror-reader"
      namespace = local.namespace
      labels    = { "strimzi.io/cluster" = "kafka" }
    }
    spec = {
      authentication = { type = "scram-sha-512" }
      authorization = {
        type = "simple"
        acls = [
          { resource = { type = "topic", name = "chat.fanout", patternType = "literal" }, operations = ["Read", "Describe", "DescribeConfigs"] },
          { resource = { type = "group", name = "mirror-", patternType = "prefix" }, operations = ["Read", "Describe"] },
          { resource = { type = "cluster" }, operations = ["Describe"] },
        ]
      }
    }
  }
  depends_on = [kubernetes_manifest.kafka]
}

# ---- Qdrant shards (independent instances, not a Qdrant cluster) ------------------------

resource "random_password" "qdrant" {
  length  = 40
  special = false
}

resource "helm_release" "qdrant" {
  name       = "qdrant"
  repository = "https://qdrant.github.io/qdrant-helm"
  chart      = "qdrant"
  version    = var.qdrant_chart_version
  namespace  = local.namespace
  values = [yamlencode({
    replicaCount = var.qdrant_shards
    config       = { cluster = { enabled = false } } # chatstream shards by user itself (jump hash)
    persistence  = { size = "${var.qdrant_storage_gb}Gi" }
    apiKey       = { valueFrom = { secretKeyRef = { name = "chatstream-qdrant", key = "api-key" } } }
  })]
  depends_on = [kubernetes_secret.qdrant]
}

# ---- Secrets referenced by infra/k8s (values never in the repository) -----------------

resource "kubernetes_secret" "postgres" {
  metadata {
    name      = "chatstream-postgres"
    namespace = local.namespace
  }
  data = { password = random_password.postgres.result }
}

resource "kubernetes_secret" "qdrant" {
  metadata {
    name      = "chatstream-qdrant"
    namespace = local.namespace
  }
  data = { api-key = random_password.qdrant.result }
}

resource "kubernetes_secret" "embed" {
  metadata {
    name      = "chatstream-embed"
    namespace = local.namespace
  }
  data = { api-key = var.embeddings_api_key }
}

resource "kubernetes_secret" "jwt" {
  metadata {
    name      = "chatstream-jwt"
    namespace = local.namespace
  }
  data = { secret = var.jwt_secret }
}
