output "cluster_name" {
  description = "GKE cluster name (gcloud container clusters get-credentials <name> --region <location>)."
  value       = google_container_cluster.this.name
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint of the region's cluster."
  value       = "https://${google_container_cluster.this.endpoint}"
}

output "cluster_ca_certificate" {
  description = "Base64 CA certificate of the cluster's API server."
  value       = google_container_cluster.this.master_auth[0].cluster_ca_certificate
}

output "kafka_bootstrap" {
  description = "In-cluster Kafka bootstrap (TLS, SCRAM-SHA-512), as in infra/k8s/config.yaml."
  value       = "kafka-kafka-bootstrap.${local.namespace}.svc:9093"
}

output "kafka_mirror_bootstrap_service" {
  description = "Name of the Service (internal load balancer, global access) other regions' MirrorMaker 2 connect to; its IP is known after Strimzi creates it."
  value       = "kafka-kafka-mirror-bootstrap"
}

output "postgres_private_ip" {
  description = "Private IP of the Cloud SQL instance (chatstream-pg-rw.chatstream.svc points at it)."
  value       = google_sql_database_instance.messages.private_ip_address
}

output "postgres_connection_name" {
  description = "Cloud SQL connection name, for backups and the Cloud SQL tooling."
  value       = google_sql_database_instance.messages.connection_name
}

output "qdrant_urls" {
  description = "Qdrant shard URLs in shard order, the value of QDRANT_URLS in infra/k8s/config.yaml."
  value       = join(",", [for i in range(var.qdrant_shards) : "http://qdrant-${i}.qdrant-headless.${local.namespace}.svc:6333"])
}

output "name" {
  description = "The region's short name (MirrorMaker 2 alias and remote topic prefix)."
  value       = var.name
}
