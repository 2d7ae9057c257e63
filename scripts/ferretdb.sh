#!/usr/bin/env bash
# ferretdb.sh — a real MongoDB-wire-protocol server for the MongoDB sink's tests:
# FerretDB 1.x built from the Go module proxy, keeping its data in the PostgreSQL
# that scripts/services.sh runs (a database "ferretdb" of its own).
#
#   scripts/ferretdb.sh build     build FerretDB into the cache (once; ~2 min cold)
#   scripts/ferretdb.sh start     build if needed, start on 127.0.0.1:$CS_MONGO_PORT, wait
#   scripts/ferretdb.sh stop
#   scripts/ferretdb.sh status
#
# Settings (environment): CS_MONGO_PORT (default 17017), CS_PG_PORT (default 15432),
# CS_VAR, CS_CACHE as in services.sh, CS_FERRETDB_VERSION (default v1.24.0),
# CS_FERRETDB_BACKEND (postgresql, the default, or sqlite), CS_GO (a go command to use).
#
# Go: FerretDB 1.24 needs Go >= 1.22. A go >= 1.21 on PATH fetches that toolchain
# itself (GOTOOLCHAIN=auto, from the module proxy); an older one (Debian 12's 1.19)
# is used only to download the toolchain module golang.org/toolchain the same way.
# `go install ...@version` does not work here (the proxy's version list is refused),
# so the module is downloaded by exact version and built from its directory.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CS_VAR=${CS_VAR:-$REPO/var}
CS_CACHE=${CS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chatstream}
CS_MONGO_PORT=${CS_MONGO_PORT:-17017}
CS_PG_PORT=${CS_PG_PORT:-15432}
VERSION=${CS_FERRETDB_VERSION:-v1.24.0}
BACKEND=${CS_FERRETDB_BACKEND:-postgresql}
GO_TOOLCHAIN=go1.22.12
BIN=$CS_CACHE/ferretdb-$VERSION/ferretdb
DIR=$CS_VAR/ferretdb-$CS_MONGO_PORT

log() { printf '[ferretdb] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

go_minor() { "$1" env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9]*\).*/\1/p'; }

find_go() {  # prints a go command able to build FerretDB
  local g
  for g in ${CS_GO:-} "$(command -v go || true)" /usr/local/go/bin/go /usr/lib/go/bin/go; do
    [[ -n $g && -x $g ]] || continue
    local minor; minor=$(go_minor "$g")
    [[ -n $minor ]] || continue
    if (( minor >= 21 )); then echo "$g"; return 0; fi
    # too old to switch toolchains by itself: fetch one as a module
    local tc=golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN.linux-$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')
    log "go 1.$minor is too old; fetching $tc"
    local dir root=$CS_CACHE/$GO_TOOLCHAIN
    if [[ ! -x $root/bin/go ]]; then
      dir=$(cd /tmp && GOFLAGS=-mod=mod "$g" mod download -json "$tc" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
      [[ -n $dir && -f $dir/bin/go ]] || continue
      # module files are unpacked read-only and without exec bits: make a usable copy
      rm -rf "$root.tmp" && mkdir -p "$(dirname "$root")" && cp -r "$dir" "$root.tmp"
      chmod -R u+w "$root.tmp" && chmod +x "$root.tmp"/bin/* "$root.tmp"/pkg/tool/*/*
      rm -rf "$root" && mv "$root.tmp" "$root"
    fi
    echo "$root/bin/go"; return 0
  done
  die "no Go toolchain found (apt-get install golang-go)"
}

build() {
  [[ -x $BIN ]] && return 0
  local go; go=$(find_go)
  log "building FerretDB $VERSION with $($go version | cut -d' ' -f3) (cached in $(dirname "$BIN"))"
  local work; work=$(mktemp -d)
  local src
  src=$(cd "$work" && GOTOOLCHAIN=auto "$go" mod download -json "github.com/FerretDB/FerretDB@$VERSION" \
        | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [[ -n $src && -d $src ]] || { rm -rf "$work"; die "could not download github.com/FerretDB/FerretDB@$VERSION"; }
  cp -r "$src" "$work/src" && chmod -R u+w "$work/src"
  echo "$VERSION" >"$work/src/build/version/version.txt"   # FerretDB panics at start without it
  mkdir -p "$(dirname "$BIN")"
  (cd "$work/src" && CGO_ENABLED=0 GOTOOLCHAIN=auto "$go" build -o "$BIN.tmp" ./cmd/ferretdb) \
    || { rm -rf "$work"; die "go build failed"; }
  mv "$BIN.tmp" "$BIN"
  rm -rf "$work"
  log "built $("$BIN" --version 2>/dev/null | head -1)"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  build
  mkdir -p "$DIR"
  if [[ -f $DIR/pid ]] && kill -0 "$(cat "$DIR/pid")" 2>/dev/null; then
    log "already running on 127.0.0.1:$CS_MONGO_PORT"; return 0
  fi
  local backend_args=()
  if [[ $BACKEND == postgresql ]]; then
    local psql=(psql -X -q -h 127.0.0.1 -p "$CS_PG_PORT" -U chatstream -d chatstream -v ON_ERROR_STOP=1)
    "${psql[@]}" -tc "SELECT 1 FROM pg_database WHERE datname='ferretdb'" | grep -q 1 \
      || "${psql[@]}" -c "CREATE DATABASE ferretdb" \
      || die "PostgreSQL on port $CS_PG_PORT is needed (scripts/services.sh start)"
    backend_args=(--handler=postgresql "--postgresql-url=postgres://chatstream@127.0.0.1:$CS_PG_PORT/ferretdb")
  else
    mkdir -p "$DIR/sqlite"
    backend_args=(--handler=sqlite "--sqlite-url=file:$DIR/sqlite/")
  fi
  nohup "$BIN" "${backend_args[@]}" --listen-addr="127.0.0.1:$CS_MONGO_PORT" --debug-addr=- \
    --state-dir="$DIR" --telemetry=disable --log-level=warn >"$DIR/ferretdb.log" 2>&1 &
  echo $! >"$DIR/pid"
  for _ in $(seq 1 60); do
    kill -0 "$(cat "$DIR/pid")" 2>/dev/null || { tail -20 "$DIR/ferretdb.log" >&2; die "ferretdb exited"; }
    if port_open "$CS_MONGO_PORT"; then
      log "FerretDB $VERSION ($BACKEND) ready on 127.0.0.1:$CS_MONGO_PORT"; return 0
    fi
    sleep 0.5
  done
  die "ferretdb did not listen on $CS_MONGO_PORT within 30 s"
}

stop() {
  [[ -f $DIR/pid ]] || return 0
  local pid; pid=$(cat "$DIR/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$DIR/pid"
  log "stopped"
}

case ${1:-} in
  build) build ;;
  start) start ;;
  stop) stop ;;
  status) if [[ -f $DIR/pid ]] && kill -0 "$(cat "$DIR/pid")" 2>/dev/null; then
            echo "ferretdb: running (127.0.0.1:$CS_MONGO_PORT)"; else echo "ferretdb: stopped"; fi ;;
  *) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
