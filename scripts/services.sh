#!/usr/bin/env bash
# services.sh — the services chatstream needs, on loopback, for the quickstart, the
# tests and the benchmarks. Nothing here needs Docker or a download beyond Maven
# Central (Kafka's jars) and Debian's packages.
#
#   scripts/services.sh start            Kafka + PostgreSQL + topics (idempotent)
#   scripts/services.sh stop             stop both
#   scripts/services.sh kafka-start|kafka-stop|pg-start|pg-stop|pg-restart|topics
#   scripts/services.sh kafka-fetch      fetch Kafka's jars with Maven into the cache
#   scripts/services.sh env              print the environment the binaries use
#   scripts/services.sh status
#
# Settings (environment):
#   CS_VAR          state directory (default: <repo>/var)
#   CS_CACHE        download cache (default: ~/.cache/chatstream)
#   CS_KAFKA_PORT   broker port on 127.0.0.1 (default 19092; controller = port + 1)
#   CS_PG_PORT      PostgreSQL port on 127.0.0.1 (default 15432)
#   CS_TOPIC_PREFIX prefix for topic names (default empty)
#   CS_PARTITIONS   partitions per topic (default 12)
#   CS_KAFKA_PROPS  extra broker properties, space-separated key=value (e.g. for an A/B:
#                   "num.network.threads=2 num.io.threads=2")
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# CS_VAR, CS_CACHE, CS_BUILD, CS_PARTITIONS, KAFKA_LIBS; kafka_fetch, kafka_java, port_open,
# kafka_node_start, kafka_wait, kafka_node_stop
. "$REPO/scripts/kafka-lib.sh"
CS_KAFKA_PORT=${CS_KAFKA_PORT:-19092}
CS_PG_PORT=${CS_PG_PORT:-15432}
CS_TOPIC_PREFIX=${CS_TOPIC_PREFIX:-}
PG_DIR=${CS_PG_DIR:-/tmp/chatstream-pg-$CS_PG_PORT}   # under /tmp: the postgres user must reach it

log() { printf '[services] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---- Kafka ----------------------------------------------------------------------------

kafka_start() {
  kafka_fetch
  local dir=$CS_VAR/kafka-$CS_KAFKA_PORT cport=$((CS_KAFKA_PORT + 1))
  local props; read -r -a props <<<"${CS_KAFKA_PROPS:-}"
  kafka_node_start "$dir" 1 "$CS_KAFKA_PORT" "$cport" "1@127.0.0.1:$cport" "${props[@]}"
  kafka_wait "$CS_KAFKA_PORT" "$dir/pid"
  log "kafka $KAFKA_VERSION (KRaft) ready on 127.0.0.1:$CS_KAFKA_PORT"
}

kafka_stop() { kafka_node_stop "$CS_VAR/kafka-$CS_KAFKA_PORT"; log "kafka stopped"; }

topics() {
  local admin=$CS_BUILD/tools/chatstream-admin b="127.0.0.1:$CS_KAFKA_PORT" rf=${CS_REPLICAS:-1}
  [[ -x $admin ]] || die "build first: $admin is missing"
  for t in chat.messages chat.fanout chat.vectors; do
    "$admin" -b "$b" create-topic "$CS_TOPIC_PREFIX$t" "$CS_PARTITIONS" "$rf"
  done
  "$admin" -b "$b" create-topic "${CS_TOPIC_PREFIX}chat.dlq" 3 "$rf"
  log "topics ready: ${CS_TOPIC_PREFIX}chat.{messages,fanout,vectors} ($CS_PARTITIONS partitions), ${CS_TOPIC_PREFIX}chat.dlq"
}

# ---- PostgreSQL -----------------------------------------------------------------------

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [[ -n $d ]] || die "PostgreSQL server binaries not found (apt-get install postgresql)"
  echo "$d"
}

as_pg() {  # initdb and postgres refuse to run as root: use the package's postgres user
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() {
  local bin; bin=$(pg_bin)
  mkdir -p "$PG_DIR"
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$PG_DIR"
  if [[ ! -f $PG_DIR/data/PG_VERSION ]]; then
    as_pg "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$PG_DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $CS_PG_PORT
unix_socket_directories = '$PG_DIR'
max_connections = 200
shared_buffers = 256MB
max_wal_size = 4GB
checkpoint_timeout = 15min
log_min_messages = warning
CONF
  fi
  if as_pg "$bin/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
    log "postgresql already running on 127.0.0.1:$CS_PG_PORT"
  else
    as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start >/dev/null \
      || { tail -20 "$PG_DIR/server.log" >&2; die "postgresql did not start"; }
  fi
  local psql=(psql -X -q -h 127.0.0.1 -p "$CS_PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
  # CREATEDB: each integration test gets a database of its own.
  "${psql[@]}" -tc "SELECT 1 FROM pg_roles WHERE rolname='chatstream'" | grep -q 1 \
    || "${psql[@]}" -c "CREATE ROLE chatstream LOGIN CREATEDB"
  "${psql[@]}" -tc "SELECT 1 FROM pg_database WHERE datname='chatstream'" | grep -q 1 \
    || "${psql[@]}" -c "CREATE DATABASE chatstream OWNER chatstream"
  log "postgresql ready on 127.0.0.1:$CS_PG_PORT (database chatstream)"
}

pg_stop() {
  local bin; bin=$(pg_bin)
  [[ -f $PG_DIR/data/PG_VERSION ]] || return 0
  as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  log "postgresql stopped"
}

pg_restart() { pg_stop; pg_start; }

env_print() {
  cat <<ENV
export CHATSTREAM_BROKERS=127.0.0.1:$CS_KAFKA_PORT
export CHATSTREAM_PG_DSN='host=127.0.0.1 port=$CS_PG_PORT dbname=chatstream user=chatstream'
export CHATSTREAM_TOPIC_PREFIX=$CS_TOPIC_PREFIX
ENV
}

status() {
  local dir=$CS_VAR/kafka-$CS_KAFKA_PORT
  if [[ -f $dir/pid ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then echo "kafka: running (127.0.0.1:$CS_KAFKA_PORT)"; else echo "kafka: stopped"; fi
  if [[ -f $PG_DIR/data/postmaster.pid ]]; then echo "postgresql: running (127.0.0.1:$CS_PG_PORT)"; else echo "postgresql: stopped"; fi
}

case ${1:-} in
  start) kafka_start; pg_start; topics ;;
  stop) kafka_stop; pg_stop ;;
  kafka-fetch) kafka_fetch ;;
  kafka-start) kafka_start ;;
  kafka-stop) kafka_stop ;;
  pg-start) pg_start ;;
  pg-stop) pg_stop ;;
  pg-restart) pg_restart ;;
  topics) topics ;;
  env) env_print ;;
  status) status ;;
  *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
