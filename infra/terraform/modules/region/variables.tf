variable "name" {
  description = "Short region name used in resource names and as the MirrorMaker 2 cluster alias, e.g. \"eu1\". Remote copies of this region's topics are named \"<name>.chat.fanout\"."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.name))
    error_message = "name: 2-10 lower-case letters and digits, starting with a letter."
  }
}

variable "project_id" {
  description = "GCP project that holds the region's resources."
  type        = string
}

variable "location" {
  description = "GCP region of the cluster, database and subnet, e.g. \"europe-west1\"."
  type        = string
}

variable "network_id" {
  description = "Self link of the global VPC network shared by all regions (created by the root module)."
  type        = string
}

variable "subnet_cidr" {
  description = "Primary CIDR of this region's subnet (nodes). Must not overlap other regions."
  type        = string
}

variable "pods_cidr" {
  description = "Secondary CIDR for pods in this region."
  type        = string
}

variable "services_cidr" {
  description = "Secondary CIDR for Services in this region."
  type        = string
}

variable "master_cidr" {
  description = "A /28 for the GKE control plane's private endpoint; unique per region."
  type        = string
}

variable "node_machine_type" {
  description = "Machine type of the cluster's nodes."
  type        = string
  default     = "e2-standard-4"
}

variable "node_min_count" {
  description = "Fewest nodes per zone in the autoscaled node pool."
  type        = number
  default     = 1
}

variable "node_max_count" {
  description = "Most nodes per zone in the autoscaled node pool (KEDA and the gateway HPA need room to scale)."
  type        = number
  default     = 10
}

variable "kafka_version" {
  description = "Apache Kafka version run by Strimzi (KRaft mode)."
  type        = string
  default     = "3.9.0"
}

variable "kafka_brokers" {
  description = "Kafka brokers in the region (at least 3: replication factor 3, min.insync.replicas 2)."
  type        = number
  default     = 3
  validation {
    condition     = var.kafka_brokers >= 3
    error_message = "kafka_brokers must be at least 3 for replication factor 3 with min.insync.replicas 2."
  }
}

variable "kafka_storage_gb" {
  description = "Persistent volume size of each broker, in GB."
  type        = number
  default     = 200
}

variable "partitions" {
  description = "Partitions of chat.messages, chat.fanout and chat.vectors: the ceiling on useful consumer replicas (KEDA maxReplicaCount in infra/k8s must not exceed it)."
  type        = number
  default     = 12
}

variable "vectors_retention_ms" {
  description = "Retention of chat.vectors. The index is rebuilt from it without paying the embeddings provider again, so keep it long (-1: forever). Never compacted (the key is the user)."
  type        = number
  default     = -1
}

variable "postgres_tier" {
  description = "Cloud SQL machine tier of the messages database."
  type        = string
  default     = "db-custom-4-16384"
}

variable "postgres_version" {
  description = "Cloud SQL PostgreSQL version."
  type        = string
  default     = "POSTGRES_16"
}

variable "qdrant_shards" {
  description = "Independent Qdrant instances (chatstream shards users over them by jump hash); must match QDRANT_URLS and the index Deployments in infra/k8s."
  type        = number
  default     = 3
}

variable "qdrant_storage_gb" {
  description = "Persistent volume size of each Qdrant shard, in GB."
  type        = number
  default     = 100
}

variable "strimzi_chart_version" {
  description = "Version of the strimzi-kafka-operator Helm chart."
  type        = string
  default     = "0.45.0"
}

variable "keda_chart_version" {
  description = "Version of the KEDA Helm chart (lag-based autoscaling of the consumer groups)."
  type        = string
  default     = "2.16.1"
}

variable "qdrant_chart_version" {
  description = "Version of the Qdrant Helm chart."
  type        = string
  default     = "1.13.4"
}

variable "embeddings_api_key" {
  description = "API key of the embeddings provider, stored in the Secret chatstream-embed. Pass it from a secret store or TF_VAR_..., never in a .tfvars file in the repository."
  type        = string
  sensitive   = true
}

variable "jwt_secret" {
  description = "HS256 key the gateways verify client tokens with (Secret chatstream-jwt). Pass it from a secret store or TF_VAR_..., never in the repository."
  type        = string
  sensitive   = true
}

variable "labels" {
  description = "Labels added to every GCP resource."
  type        = map(string)
  default     = {}
}
