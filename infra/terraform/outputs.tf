output "clusters" {
  description = "GKE cluster per region (gcloud container clusters get-credentials <name> --region <location>), to apply infra/k8s in each."
  value = {
    (module.region_a.name) = { name = module.region_a.cluster_name, location = var.region_a.location }
    (module.region_b.name) = { name = module.region_b.cluster_name, location = var.region_b.location }
  }
}

output "qdrant_urls" {
  description = "QDRANT_URLS per region (infra/k8s/config.yaml)."
  value = {
    (module.region_a.name) = module.region_a.qdrant_urls
    (module.region_b.name) = module.region_b.qdrant_urls
  }
}

output "postgres" {
  description = "Cloud SQL connection name per region."
  value = {
    (module.region_a.name) = module.region_a.postgres_connection_name
    (module.region_b.name) = module.region_b.postgres_connection_name
  }
}

output "mirrored_topics" {
  description = "Remote fan-out topic each region's gateways read besides their own chat.fanout: their CHATSTREAM_FANOUT_REMOTE_TOPICS (fanout.remote.topics)."
  value = {
    (module.region_a.name) = module.mirror_b_to_a.remote_topic
    (module.region_b.name) = module.mirror_a_to_b.remote_topic
  }
}
