terraform {
  required_version = ">= 1.5"
  required_providers {
    kubernetes = {
      source                = "hashicorp/kubernetes"
      version               = "~> 2.30"
      configuration_aliases = [kubernetes.source, kubernetes.target]
    }
  }
}
