# kafka-lib.sh — running Apache Kafka from Maven Central's jars in KRaft mode; sourced by
# scripts/services.sh (one broker) and infra/local/cluster.sh (three-broker clusters,
# MirrorMaker 2 in infra/local/regions.sh). The caller sets REPO (the repository root)
# and defines log() and die(); this sets the defaults they share:
#
#   CS_VAR               state directory (default: <repo>/var)
#   CS_CACHE             download cache (default: ~/.cache/chatstream)
#   CS_BUILD             build directory (default: <repo>/build)
#   CS_PARTITIONS        partitions per topic (default 12)
#   KAFKA_VERSION, KAFKA_LIBS  from scripts/kafka/pom.xml; the jars' directory in the cache
#   CS_KAFKA_HEAP        JVM heap flags of a broker (default "-Xms512m -Xmx1g")
#   CS_KAFKA_CLUSTER_ID  KRaft cluster id used when formatting storage (default: random;
#                        every node of one cluster must be formatted with the same id)

CS_VAR=${CS_VAR:-$REPO/var}
CS_CACHE=${CS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chatstream}
CS_BUILD=${CS_BUILD:-$REPO/build}
CS_PARTITIONS=${CS_PARTITIONS:-12}
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$REPO/scripts/kafka/pom.xml")
KAFKA_LIBS=$CS_CACHE/kafka-$KAFKA_VERSION/libs

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
  # A port someone else holds (a Kafka of an earlier run whose pid file is gone, say) would
  # make this node die at bind while kafka_wait sees the other process answer.
  local p
  for p in "$port" "$cport"; do
    port_open "$p" && die "127.0.0.1:$p is already in use by a process this script did not start (ss -ltnp 'sport = :$p')"
  done
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
  nohup java ${CS_KAFKA_HEAP:--Xms512m -Xmx1g} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
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

