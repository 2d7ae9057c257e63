variable "project_id" {
  description = "GCP project of the deployment."
  type        = string
}

variable "region_a" {
  description = "First region: short name (MirrorMaker 2 alias, remote topic prefix), GCP location and non-overlapping CIDRs."
  type = object({
    name          = string
    location      = string
    subnet_cidr   = string
    pods_cidr     = string
    services_cidr = string
    master_cidr   = string
  })
  default = {
    name          = "eu1"
    location      = "europe-west1"
    subnet_cidr   = "10.10.0.0/20"
    pods_cidr     = "10.64.0.0/14"
    services_cidr = "10.10.16.0/20"
    master_cidr   = "172.16.0.0/28"
  }
}

variable "region_b" {
  description = "Second region, as region_a. A third region is one more module block, provider aliases and two mirror blocks per existing region (see infra/README.md)."
  type = object({
    name          = string
    location      = string
    subnet_cidr   = string
    pods_cidr     = string
    services_cidr = string
    master_cidr   = string
  })
  default = {
    name          = "us1"
    location      = "us-central1"
    subnet_cidr   = "10.20.0.0/20"
    pods_cidr     = "10.68.0.0/14"
    services_cidr = "10.20.16.0/20"
    master_cidr   = "172.16.0.16/28"
  }
}

variable "node_max_count" {
  description = "Most nodes per zone in each region's node pool."
  type        = number
  default     = 10
}

variable "partitions" {
  description = "Partitions of the chat topics in every region (the ceiling on consumer replicas; infra/k8s's KEDA maxReplicaCount must not exceed it)."
  type        = number
  default     = 12
}

variable "embeddings_api_key" {
  description = "Embeddings provider API key (sensitive): set TF_VAR_embeddings_api_key from a secret store; never commit it."
  type        = string
  sensitive   = true
}

variable "jwt_secret" {
  description = "HS256 key for client tokens, the same in every region so a token works anywhere (sensitive): TF_VAR_jwt_secret from a secret store."
  type        = string
  sensitive   = true
}
