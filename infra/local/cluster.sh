#!/usr/bin/env bash
# cluster.sh — a multi-broker Kafka cluster on loopback, for failover tests and the
# two-region simulation. Each node is a combined broker + KRaft controller, so three
# nodes make a three-voter quorum; topics get replication factor 3, min.insync.replicas=2,
# and unclean leader election is off (a partition never elects an out-of-sync replica).
# Kafka runs from Maven Central's jars, exactly as scripts/services.sh runs one broker.
#
#   infra/local/cluster.sh start                 start every node, wait for the quorum
#   infra/local/cluster.sh stop                  stop every node (controlled shutdown)
#   infra/local/cluster.sh broker-stop N...      SIGTERM node N (controlled shutdown)
#   infra/local/cluster.sh broker-kill N...      kill -9 node N
#   infra/local/cluster.sh broker-start N...     start nodes again, wait until they answer
#   infra/local/cluster.sh topics [PREFIX]       chat.{messages,fanout,vectors,dlq}, RF 3
#   infra/local/cluster.sh status                nodes, and the quorum as KRaft sees it
#   infra/local/cluster.sh brokers               the bootstrap list (host:port,...)
#   infra/local/cluster.sh env                   the environment the binaries use
#   infra/local/cluster.sh wipe                  stop, and delete the cluster's state
#
# Settings (environment):
#   CS_CLUSTER_NAME   name; state in $CS_VAR/cluster-<name> (default: local)
#   CS_CLUSTER_PORT   base port (default 29092): node i listens on base+2(i-1), its
#                     controller on base+2(i-1)+1; two clusters need bases 6+ apart; keep
#                     it below the ephemeral range (32768+), where an outgoing connection
#                     can hold the port when Kafka binds it
#   CS_CLUSTER_NODES  nodes (default 3; 1 gives a single-node "cluster" with RF 1)
#   CS_CLUSTER_HEAP   JVM heap flags per node (default "-Xms128m -Xmx384m")
#   CS_VAR, CS_CACHE, CS_BUILD, CS_PARTITIONS as in scripts/services.sh
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$REPO/scripts/kafka-lib.sh"   # CS_VAR, CS_CACHE, CS_BUILD, KAFKA_LIBS; running Kafka nodes
CS_CLUSTER_NAME=${CS_CLUSTER_NAME:-local}
CS_CLUSTER_PORT=${CS_CLUSTER_PORT:-29092}
CS_CLUSTER_NODES=${CS_CLUSTER_NODES:-3}
DIR=$CS_VAR/cluster-$CS_CLUSTER_NAME
RF=$(( CS_CLUSTER_NODES < 3 ? CS_CLUSTER_NODES : 3 ))
MIN_ISR=$(( RF < 2 ? 1 : 2 ))
export CS_KAFKA_HEAP=${CS_CLUSTER_HEAP:--Xms128m -Xmx384m}

log() { printf '[cluster %s] %s\n' "$CS_CLUSTER_NAME" "$*" >&2; }
die() { log "error: $*"; exit 1; }

node_port() { echo $(( CS_CLUSTER_PORT + 2 * ($1 - 1) )); }
node_dir() { echo "$DIR/node-$1"; }
node_running() { [[ -f $(node_dir "$1")/pid ]] && kill -0 "$(cat "$(node_dir "$1")/pid")" 2>/dev/null; }

brokers() {
  local list="" i
  for i in $(seq 1 "$CS_CLUSTER_NODES"); do list+="${list:+,}127.0.0.1:$(node_port "$i")"; done
  echo "$list"
}

voters() {
  local list="" i
  for i in $(seq 1 "$CS_CLUSTER_NODES"); do list+="${list:+,}$i@127.0.0.1:$(( $(node_port "$i") + 1 ))"; done
  echo "$list"
}

check_node() {
  [[ $1 =~ ^[0-9]+$ ]] && (( $1 >= 1 && $1 <= CS_CLUSTER_NODES )) || die "no node '$1' (1..$CS_CLUSTER_NODES)"
}

# Starts node N without waiting (a quorum of one cannot answer: start them all, then wait).
node_launch() {
  local i=$1 port; port=$(node_port "$i")
  if ! node_running "$i" && { port_open "$port" || port_open $((port + 1)); }; then
    die "port $port or $((port + 1)) is taken by something else (another cluster's node?)"
  fi
  mkdir -p "$DIR"
  # Every node of one cluster is formatted with the same cluster id.
  [[ -f $DIR/cluster.id ]] || kafka_java kafka.tools.StorageTool random-uuid 2>/dev/null >"$DIR/cluster.id"
  CS_KAFKA_CLUSTER_ID=$(cat "$DIR/cluster.id") kafka_node_start "$(node_dir "$i")" "$i" "$port" \
    $((port + 1)) "$(voters)" \
    "default.replication.factor=$RF" \
    "min.insync.replicas=$MIN_ISR" \
    "unclean.leader.election.enable=false" \
    "offsets.topic.replication.factor=$RF" \
    "transaction.state.log.replication.factor=$RF" \
    "transaction.state.log.min.isr=$MIN_ISR" \
    "broker.session.timeout.ms=6000" \
    "num.network.threads=2" \
    "num.io.threads=2" \
    "num.replica.fetchers=1" \
    "log.cleaner.threads=1" \
    "background.threads=2"
}

start() {
  kafka_fetch
  local i
  for i in $(seq 1 "$CS_CLUSTER_NODES"); do node_launch "$i"; done
  for i in $(seq 1 "$CS_CLUSTER_NODES"); do kafka_wait "$(node_port "$i")" "$(node_dir "$i")/pid"; done
  log "kafka $KAFKA_VERSION: $CS_CLUSTER_NODES nodes (RF $RF, min.insync.replicas $MIN_ISR) at $(brokers)"
}

stop() {
  local i pids=()
  # In parallel: a controlled shutdown waits for leadership to move, and the last nodes
  # of a quorum cannot finish one if the others are already gone.
  for i in $(seq 1 "$CS_CLUSTER_NODES"); do kafka_node_stop "$(node_dir "$i")" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || true; done
  log "stopped"
}

broker_start() {  # broker_start N...: launch them all, then wait (one may need the other for a quorum)
  local i
  for i in "$@"; do check_node "$i"; node_launch "$i"; done
  for i in "$@"; do kafka_wait "$(node_port "$i")" "$(node_dir "$i")/pid"; log "node $i up on 127.0.0.1:$(node_port "$i")"; done
}

broker_stop() { check_node "$1"; kafka_node_stop "$(node_dir "$1")"; log "node $1 stopped (SIGTERM)"; }

broker_kill() {
  local i f
  for i in "$@"; do
    check_node "$i"
    f=$(node_dir "$i")/pid
    [[ -f $f ]] || die "node $i is not running"
    kill -KILL "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
    log "node $i killed (SIGKILL)"
  done
}

topics() {
  CS_KAFKA_PORT=$CS_CLUSTER_PORT CS_REPLICAS=$RF CS_TOPIC_PREFIX=${1:-} CS_BUILD=$CS_BUILD \
    CS_PARTITIONS=$CS_PARTITIONS "$REPO/scripts/services.sh" topics
}

status() {
  local i up=0
  for i in $(seq 1 "$CS_CLUSTER_NODES"); do
    if node_running "$i"; then echo "node $i: running (127.0.0.1:$(node_port "$i"))"; up=$((up + 1))
    else echo "node $i: stopped"; fi
  done
  if (( up > 0 )); then
    timeout 30 java -Xmx128m -cp "$KAFKA_LIBS/*" -Dlog4j.configuration="file:$REPO/scripts/kafka/log4j.properties" \
      -Dkafka.logfile=/dev/null org.apache.kafka.tools.MetadataQuorumCommand \
      --bootstrap-server "$(brokers)" describe --status 2>/dev/null || echo "quorum: no answer"
  fi
}

wipe() { stop; rm -rf "$DIR"; log "state deleted"; }

case ${1:-} in
  start) start ;;
  stop) stop ;;
  broker-start) shift; broker_start "${@:?node}" ;;
  broker-stop) shift; for n in "${@:?node}"; do broker_stop "$n"; done ;;
  broker-kill) shift; broker_kill "${@:?node}" ;;
  topics) topics "${2:-}" ;;
  status) status ;;
  brokers) brokers ;;
  env) echo "export CHATSTREAM_BROKERS=$(brokers)" ;;
  wipe) wipe ;;
  *) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
