# chatstream in two regions of one GCP project. One global VPC (GCP networks span regions,
# so the regions' Kafka clusters reach each other over internal load balancers with global
# access, no peering). Each region is self-contained: gateways, Kafka, processors,
# PostgreSQL and Qdrant; only the fan-out stream crosses regions, by MirrorMaker 2 in both
# directions (infra/README.md, Multi-region).

resource "google_compute_network" "chatstream" {
  project                 = var.project_id
  name                    = "chatstream"
  auto_create_subnetworks = false
}

# Private services access, for Cloud SQL's private IPs in every region.
resource "google_compute_global_address" "private_services" {
  project       = var.project_id
  name          = "chatstream-private-services"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 16
  network       = google_compute_network.chatstream.id
}

resource "google_service_networking_connection" "private_services" {
  network                 = google_compute_network.chatstream.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.private_services.name]
}

module "region_a" {
  source             = "./modules/region"
  providers          = { kubernetes = kubernetes.a, helm = helm.a }
  name               = var.region_a.name
  project_id         = var.project_id
  location           = var.region_a.location
  network_id         = google_compute_network.chatstream.id
  subnet_cidr        = var.region_a.subnet_cidr
  pods_cidr          = var.region_a.pods_cidr
  services_cidr      = var.region_a.services_cidr
  master_cidr        = var.region_a.master_cidr
  node_max_count     = var.node_max_count
  partitions         = var.partitions
  embeddings_api_key = var.embeddings_api_key
  jwt_secret         = var.jwt_secret
  depends_on         = [google_service_networking_connection.private_services]
}

module "region_b" {
  source             = "./modules/region"
  providers          = { kubernetes = kubernetes.b, helm = helm.b }
  name               = var.region_b.name
  project_id         = var.project_id
  location           = var.region_b.location
  network_id         = google_compute_network.chatstream.id
  subnet_cidr        = var.region_b.subnet_cidr
  pods_cidr          = var.region_b.pods_cidr
  services_cidr      = var.region_b.services_cidr
  master_cidr        = var.region_b.master_cidr
  node_max_count     = var.node_max_count
  partitions         = var.partitions
  embeddings_api_key = var.embeddings_api_key
  jwt_secret         = var.jwt_secret
  depends_on         = [google_service_networking_connection.private_services]
}

# The mirror listeners' internal load balancers, once Strimzi has created them.
data "kubernetes_service" "mirror_a" {
  provider = kubernetes.a
  metadata {
    name      = module.region_a.kafka_mirror_bootstrap_service
    namespace = "chatstream"
  }
  depends_on = [module.region_a]
}

data "kubernetes_service" "mirror_b" {
  provider = kubernetes.b
  metadata {
    name      = module.region_b.kafka_mirror_bootstrap_service
    namespace = "chatstream"
  }
  depends_on = [module.region_b]
}

module "mirror_a_to_b" {
  source           = "./modules/mirror"
  providers        = { kubernetes.source = kubernetes.a, kubernetes.target = kubernetes.b }
  source_name      = module.region_a.name
  target_name      = module.region_b.name
  source_bootstrap = "${data.kubernetes_service.mirror_a.status[0].load_balancer[0].ingress[0].ip}:9094"
}

module "mirror_b_to_a" {
  source           = "./modules/mirror"
  providers        = { kubernetes.source = kubernetes.b, kubernetes.target = kubernetes.a }
  source_name      = module.region_b.name
  target_name      = module.region_a.name
  source_bootstrap = "${data.kubernetes_service.mirror_b.status[0].load_balancer[0].ingress[0].ip}:9094"
}
