terraform {
  required_version = ">= 1.5"
  required_providers {
    google     = { source = "hashicorp/google", version = "~> 6.0" }
    kubernetes = { source = "hashicorp/kubernetes", version = "~> 2.30" }
    helm       = { source = "hashicorp/helm", version = "~> 2.14" }
    random     = { source = "hashicorp/random", version = "~> 3.6" }
  }

  # State holds generated passwords: keep it in an encrypted, access-controlled backend,
  # configured at init time (terraform init -backend-config=...), e.g.
  # backend "gcs" { bucket = "<state bucket>" prefix = "chatstream" }
}
