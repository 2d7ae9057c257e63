#!/usr/bin/env bash
# kubeconform.sh — schema validation of infra/k8s with kubeconform -strict, offline-capable.
# kubeconform's own schema download (raw.githubusercontent.com) is not used: the schemas are
# built by kubeconform_schemas.py from Go modules the Go module proxy serves (Kubernetes
# v1.31 OpenAPI, KEDA v2.16 CRDs). kubeconform itself is built from the proxy when missing.
# Exit 77 (ctest: skipped) when neither kubeconform nor a way to get it and the modules exists.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/chatstream/kubeconform
K8S_MOD=k8s.io/kubernetes@v1.31.0
KEDA_MOD=github.com/kedacore/keda/v2@v2.16.1
mkdir -p "$CACHE"
GO=$(command -v go || { [[ -x /usr/local/go/bin/go ]] && echo /usr/local/go/bin/go; } || true)
KC=$(command -v kubeconform || true)
[[ -z "$KC" && -x "$CACHE/bin/kubeconform" ]] && KC="$CACHE/bin/kubeconform"
[[ -z "$KC" && -x "$HOME/go/bin/kubeconform" ]] && KC="$HOME/go/bin/kubeconform"
skip() { echo "SKIPPED: $* — manifests not schema-validated (tests/infra/check_k8s.py still ran)" >&2; exit 77; }
if [[ -z "$KC" ]]; then
  [[ -n "$GO" ]] || skip "no kubeconform and no go to build it"
  echo "== building kubeconform v0.8.0 from the Go module proxy"
  GOBIN="$CACHE/bin" timeout 600 "$GO" install github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0 \
    || skip "kubeconform could not be built (Go module proxy unreachable?)"
  KC="$CACHE/bin/kubeconform"
fi
if [[ ! -f "$CACHE/schemas/deployment-apps-v1.json" ]]; then
  [[ -n "$GO" ]] || skip "no go to fetch the schema modules"
  dir() { timeout 300 "$GO" mod download -json "$1" 2>/dev/null | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'; }
  K8S_DIR=$(dir "$K8S_MOD"); KEDA_DIR=$(dir "$KEDA_MOD")
  [[ -d "$K8S_DIR" && -d "$KEDA_DIR" ]] || skip "could not download $K8S_MOD / $KEDA_MOD"
  python3 "$ROOT/tests/infra/kubeconform_schemas.py" "$CACHE/schemas" "$K8S_DIR" "$KEDA_DIR" || exit 1
fi
echo "== $KC -strict (Kubernetes ${K8S_MOD#*@}, KEDA ${KEDA_MOD#*@} schemas)"
"$KC" -strict -summary -skip Kustomization \
  -schema-location "$CACHE/schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$ROOT"/infra/k8s/*.yaml
