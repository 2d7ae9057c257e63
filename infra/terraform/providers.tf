# Kubernetes and Helm providers per region, configured from the clusters this configuration
# creates. On the very first apply, create the clusters first:
#   terraform apply -target=module.region_a.google_container_node_pool.default \
#                   -target=module.region_b.google_container_node_pool.default
# then run a full apply (providers cannot be configured from resources not yet created).

provider "google" {
  project = var.project_id
}

data "google_client_config" "current" {}

provider "kubernetes" {
  alias                  = "a"
  host                   = module.region_a.cluster_endpoint
  cluster_ca_certificate = base64decode(module.region_a.cluster_ca_certificate)
  token                  = data.google_client_config.current.access_token
}

provider "helm" {
  alias = "a"
  kubernetes {
    host                   = module.region_a.cluster_endpoint
    cluster_ca_certificate = base64decode(module.region_a.cluster_ca_certificate)
    token                  = data.google_client_config.current.access_token
  }
}

provider "kubernetes" {
  alias                  = "b"
  host                   = module.region_b.cluster_endpoint
  cluster_ca_certificate = base64decode(module.region_b.cluster_ca_certificate)
  token                  = data.google_client_config.current.access_token
}

provider "helm" {
  alias = "b"
  kubernetes {
    host                   = module.region_b.cluster_endpoint
    cluster_ca_certificate = base64decode(module.region_b.cluster_ca_certificate)
    token                  = data.google_client_config.current.access_token
  }
}
