variable "source_name" {
  description = "Short name of the region mirrored from (its topics arrive as \"<source_name>.chat.fanout\")."
  type        = string
}

variable "target_name" {
  description = "Short name of the region mirrored into (MirrorMaker 2 runs there, next to the cluster it writes)."
  type        = string
}

variable "source_bootstrap" {
  description = "host:port of the source region's mirror listener (internal load balancer, TLS, SCRAM-SHA-512)."
  type        = string
}

variable "topics_pattern" {
  description = "Regex of the topics to mirror. Only the fan-out stream crosses regions (see infra/README.md, Multi-region)."
  type        = string
  default     = "chat\\.fanout"
}

variable "replicas" {
  description = "MirrorMaker 2 (Kafka Connect) workers."
  type        = number
  default     = 2
}

variable "kafka_version" {
  description = "Kafka version of the MirrorMaker 2 workers."
  type        = string
  default     = "3.9.0"
}
