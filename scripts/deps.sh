#!/usr/bin/env bash
# deps.sh — installs what building and testing chatstream needs, from Debian's packages
# (Kafka itself comes from Maven Central: scripts/services.sh kafka-fetch).
# Skips apt when everything is already there. Needs root (or sudo) when it installs.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git curl ca-certificates python3 python3-jsonschema python3-websockets
  python3-yaml prometheus
  librdkafka-dev libpq-dev libwebsockets-dev libuv1-dev libjwt-dev libssl-dev
  libcurl4-openssl-dev libjson-c-dev libmongoc-dev golang-go
  postgresql postgresql-client kcat gnuplot-nox chromium
  openjdk-17-jre-headless maven
)
# Node.js and npm (the browser test's playwright-core): the machine's own when present.
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "[deps] all ${#PACKAGES[@]} packages present" >&2
  exit 0
fi
echo "[deps] installing: ${missing[*]}" >&2
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
# The Debian package starts a cluster on port 5432; chatstream runs its own on loopback.
# `prometheus` is installed for promtool (tests/infra); on a machine with systemd its
# package also starts a Prometheus server on :9090, which chatstream does not use.
if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1 \
   && [[ -d /run/systemd/system ]]; then
  $SUDO systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true
fi
