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
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CS_VAR=${CS_VAR:-$REPO/var}
CS_CACHE=${CS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chatstream}
CS_BUILD=${CS_BUILD:-$REPO/build}
CS_KAFKA_PORT=${CS_KAFKA_PORT:-19092}
CS_PG_PORT=${CS_PG_PORT:-15432}
CS_TOPIC_PREFIX=${CS_TOPIC_PREFIX:-}
CS_PARTITIONS=${CS_PARTITIONS:-12}
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$REPO/scripts/kafka/pom.xml")
KAFKA_LIBS=$CS_CACHE/kafka-$KAFKA_VERSION/libs
PG_DIR=${CS_PG_DIR:-/tmp/chatstream-pg-$CS_PG_PORT}   # under /tmp: the postgres user must reach it

log() { printf '[services] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---- Kafka ----------------------------------------------------------------------------

kafka_fetch() {
  if [[ -f $KAFKA_LIBS/.complete ]]; then return 0; fi
  command -v mvn >/dev/null || die "maven is not installed (apt-get install maven)"
  log "fetching Apache Kafka $KAFKA_VERSION jars with Maven into $KAFKA_LIBS"
  mkdir -p "$KAFKA_LIBS"
  mvn -q -B -Dstyle.color=never -f "$REPO/scripts/kafka/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$KAFKA_LIBS" -DincludeScope=runtime >&2
  touch "$KAFKA_LIBS/.complete"
}

kafka_java() {  # kafka_java <main class> args... (foreground)
  java -Xmx512m -Dlog4j.configuration="file:$REPO/scripts/kafka/log4j.properties" \
       -Dkafka.logfile=/dev/stderr -cp "$KAFKA_LIBS/*" "$@"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# kafka_node_start <dir> <node.id> <port> <controller port> <quorum voters> [extra props...]
kafka_node_start() {
  local dir=$1 id=$2 port=$3 cport=$4 voters=$5; shift 5
  mkdir -p "$dir"
  if [[ -f $dir/pid ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    log "kafka node $id already running on 127.0.0.1:$port"; return 0
  fi
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=$CS_PARTITIONS
auto.create.topics.enable=false
offsets.topic.num.partitions=12
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=12
group.initial.rebalance.delay.ms=0
log.retention.hours=24
log.segment.bytes=268435456
PROPS
  for kv in "$@"; do echo "$kv" >>"$dir/server.properties"; done
  if [[ ! -f $dir/data/meta.properties ]]; then
    local cluster_id=${CS_KAFKA_CLUSTER_ID:-$(kafka_java kafka.tools.StorageTool random-uuid 2>/dev/null)}
    kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" >/dev/null 2>&1 \
      || die "formatting Kafka storage in $dir failed"
  fi
  nohup java -Xms512m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Dlog4j.configuration="file:$REPO/scripts/kafka/log4j.properties" \
    -Dkafka.logfile="$dir/server.log" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 &
  echo $! >"$dir/pid"
}

kafka_wait() {  # kafka_wait <port> <pid file>
  local port=$1 pidfile=$2
  for _ in $(seq 1 120); do
    kill -0 "$(cat "$pidfile")" 2>/dev/null || { tail -20 "$(dirname "$pidfile")/server.log" >&2 || true; die "kafka exited during start-up"; }
    if port_open "$port"; then
      if [[ -x $CS_BUILD/tools/chatstream-admin ]]; then
        "$CS_BUILD/tools/chatstream-admin" -b "127.0.0.1:$port" wait 60 && return 0
      else
        return 0
      fi
    fi
    sleep 0.5
  done
  die "kafka did not answer on 127.0.0.1:$port within 60 s"
}

kafka_start() {
  kafka_fetch
  local dir=$CS_VAR/kafka-$CS_KAFKA_PORT cport=$((CS_KAFKA_PORT + 1))
  kafka_node_start "$dir" 1 "$CS_KAFKA_PORT" "$cport" "1@127.0.0.1:$cport"
  kafka_wait "$CS_KAFKA_PORT" "$dir/pid"
  log "kafka $KAFKA_VERSION (KRaft) ready on 127.0.0.1:$CS_KAFKA_PORT"
}

kafka_node_stop() {  # kafka_node_stop <dir>: SIGTERM = controlled shutdown; wait for it
  local dir=$1 pid
  [[ -f $dir/pid ]] || return 0
  pid=$(cat "$dir/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && { log "kafka $pid did not stop in 30 s; killing"; kill -KILL "$pid"; }
  fi
  rm -f "$dir/pid"
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
