#!/usr/bin/env bash
# regions.sh — two regions on one machine: two Kafka clusters (infra/local/cluster.sh)
# joined by MirrorMaker 2 (org.apache.kafka.connect.mirror.MirrorMaker, dedicated mode,
# from the same Maven Central jars) replicating the fan-out stream both ways. With
# DefaultReplicationPolicy region a's chat.fanout appears on b as a.chat.fanout and b's on
# a as b.chat.fanout; a mirrored topic is never mirrored back (MM2 skips topics that carry
# a remote cluster's prefix). infra/local/README.md explains the design around it.
#
#   infra/local/regions.sh start          both clusters, their topics, MirrorMaker 2
#   infra/local/regions.sh stop           MirrorMaker 2 and both clusters
#   infra/local/regions.sh link-cut       kill -9 MirrorMaker 2 (the link between regions)
#   infra/local/regions.sh link-restore   start MirrorMaker 2 again; it resumes from the
#                                         source offsets it committed in each target cluster
#   infra/local/regions.sh status         clusters and MirrorMaker 2
#   infra/local/regions.sh brokers a|b    bootstrap list of one region
#   infra/local/regions.sh wipe           stop, and delete both regions' state
#
# Settings (environment):
#   CS_REGION_A_PORT, CS_REGION_B_PORT  base ports (default 29500, 29600)
#   CS_REGION_NODES     brokers per region (default 1: six brokers plus MirrorMaker on a
#                       shared 2-core box is too much; 3 gives each region RF 3)
#   CS_MM2_TOPICS       regex of topics to mirror (default chat\.fanout; a test uses its
#                       own prefixed name)
#   CS_MM2_HEAP         MirrorMaker's heap flags (default "-Xms64m -Xmx320m")
#   CS_TOPIC_PREFIX     prefix of the regions' own topics (default empty)
#   CS_VAR, CS_CACHE, CS_BUILD as in scripts/services.sh
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$REPO/scripts/kafka-lib.sh"   # CS_VAR, CS_CACHE, CS_BUILD, KAFKA_LIBS
CS_REGION_A_PORT=${CS_REGION_A_PORT:-29500}
CS_REGION_B_PORT=${CS_REGION_B_PORT:-29600}
CS_REGION_NODES=${CS_REGION_NODES:-1}
CS_MM2_TOPICS=${CS_MM2_TOPICS:-chat\\.fanout}
CS_TOPIC_PREFIX=${CS_TOPIC_PREFIX:-}
MM2_DIR=$CS_VAR/mm2
export CS_VAR CS_CACHE CS_BUILD

log() { printf '[regions] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

region() {  # region a|b <cluster.sh args>
  local port
  case $1 in a) port=$CS_REGION_A_PORT ;; b) port=$CS_REGION_B_PORT ;; *) die "no region '$1'" ;; esac
  shift
  CS_CLUSTER_NAME=region-${port} CS_CLUSTER_PORT=$port CS_CLUSTER_NODES=$CS_REGION_NODES \
    "$REPO/infra/local/cluster.sh" "$@"
}

mm2_running() { [[ -f $MM2_DIR/pid ]] && kill -0 "$(cat "$MM2_DIR/pid")" 2>/dev/null; }

mm2_start() {
  mm2_running && { log "MirrorMaker 2 already running"; return 0; }
  mkdir -p "$MM2_DIR"
  local rf=$(( CS_REGION_NODES < 3 ? CS_REGION_NODES : 3 ))
  cat >"$MM2_DIR/mm2.properties" <<PROPS
# Written by infra/local/regions.sh.
clusters = a, b
a.bootstrap.servers = $(region a brokers)
b.bootstrap.servers = $(region b brokers)
a->b.enabled = true
b->a.enabled = true
a->b.topics = $CS_MM2_TOPICS
b->a.topics = $CS_MM2_TOPICS
replication.policy.class = org.apache.kafka.connect.mirror.DefaultReplicationPolicy
# Only committed fan-out transactions cross: fan-out writes chat.fanout transactionally.
a.consumer.isolation.level = read_committed
b.consumer.isolation.level = read_committed
# Latency over batching: the link carries chat, not bulk data.
a.producer.linger.ms = 5
b.producer.linger.ms = 5
a.producer.acks = all
b.producer.acks = all
tasks.max = 1
refresh.topics.interval.seconds = 5
sync.topic.configs.enabled = false
sync.topic.acls.enabled = false
emit.checkpoints.enabled = false
sync.group.offsets.enabled = false
emit.heartbeats.interval.seconds = 5
# Source offsets are committed this often (default 60 s): after a crash of MirrorMaker
# about this much is mirrored twice (at-least-once; readers dedupe by message id). In
# MM2's dedicated mode a worker setting is taken from the target cluster's prefix
# ("b." for the a->b flow); top-level worker settings are ignored.
a.offset.flush.interval.ms = 1000
b.offset.flush.interval.ms = 1000
replication.factor = $rf
heartbeats.topic.replication.factor = $rf
checkpoints.topic.replication.factor = $rf
offset-syncs.topic.replication.factor = $rf
offset.storage.replication.factor = $rf
status.storage.replication.factor = $rf
config.storage.replication.factor = $rf
PROPS
  nohup java ${CS_MM2_HEAP:--Xms64m -Xmx320m} -XX:+UseSerialGC \
    -Dlog4j.configuration="file:$REPO/scripts/kafka/log4j.properties" \
    -Dkafka.logfile="$MM2_DIR/mm2.log" \
    -cp "$KAFKA_LIBS/*" org.apache.kafka.connect.mirror.MirrorMaker "$MM2_DIR/mm2.properties" \
    >"$MM2_DIR/stdout.log" 2>&1 &
  echo $! >"$MM2_DIR/pid"
  log "MirrorMaker 2 started (pid $(cat "$MM2_DIR/pid")): a <-> b, topics /$CS_MM2_TOPICS/"
}

mm2_stop() {  # mm2_stop [KILL]
  mm2_running || { rm -f "$MM2_DIR/pid"; return 0; }
  local pid; pid=$(cat "$MM2_DIR/pid")
  kill -"${1:-TERM}" "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  rm -f "$MM2_DIR/pid"
  log "MirrorMaker 2 stopped (${1:-TERM})"
}

start() {
  region a start
  region b start
  region a topics "$CS_TOPIC_PREFIX"
  region b topics "$CS_TOPIC_PREFIX"
  mm2_start
}

stop() { mm2_stop; region a stop; region b stop; }

status() {
  echo "region a:"; region a status | sed 's/^/  /'
  echo "region b:"; region b status | sed 's/^/  /'
  if mm2_running; then echo "MirrorMaker 2: running (pid $(cat "$MM2_DIR/pid"))"; else echo "MirrorMaker 2: stopped"; fi
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  link-cut) mm2_stop KILL ;;
  link-restore) mm2_start ;;
  mm2-start) mm2_start ;;
  mm2-stop) mm2_stop ;;
  status) status ;;
  brokers) region "${2:?a or b}" brokers ;;
  wipe) stop; region a wipe; region b wipe; rm -rf "$MM2_DIR" ;;
  *) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
