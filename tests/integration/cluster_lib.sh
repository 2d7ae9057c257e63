# cluster_lib.sh — helpers for the multi-broker tests (bash). Source it first:
#
#   . "$(dirname "$0")/cluster_lib.sh"
#   cl_setup cluster_one_broker 29200      # its own 3-node cluster at base port 29200
#   cl_produce count=30000 rate=1000       # background; acked ids in $IT_DIR/acked.txt
#   cl_cluster broker-kill 2
#   cl_check                               # lost / duplicated (must be 0), as JSON
#
# Each test starts its own three-node cluster (infra/local/cluster.sh; state under /tmp,
# deleted on success) so broker kills never touch another test's Kafka; PostgreSQL is the
# one at CS_PG_PORT (the "services" fixture's, or started here if it is not running).
# Everything else is tests/integration/lib.sh: topics with the test's prefix (RF 3 here),
# its own database, processes killed on exit.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CL_SCRIPT=$IT_REPO/infra/local/cluster.sh

cl_cluster() {  # cl_cluster <cluster.sh args>: this test's cluster
  CS_VAR=$CL_VAR CS_CLUSTER_NAME=$CL_NAME CS_CLUSTER_PORT=$CL_PORT CS_BUILD=$IT_BUILD \
    "$CL_SCRIPT" "$@"
}

cl_cleanup() {  # it_cleanup's hook: called with the exit status, after the processes are killed
  local rc=$1
  if [[ -n ${CL_VAR:-} ]]; then
    # Keep the brokers' logs of a failed run next to the test's own.
    if [[ $rc -ne 0 && -n ${IT_DIR:-} ]]; then
      for d in "$CL_VAR"/cluster-*/node-*; do
        [[ -f $d/server.log ]] && cp "$d/server.log" "$IT_DIR/kafka-$(basename "$d").server.log.txt"
      done
    fi
    cl_cluster wipe >/dev/null 2>&1 || true
    rm -rf "$CL_VAR"
  fi
}

# cl_setup <name> <base port>: a fresh three-node cluster, PostgreSQL, it_setup.
cl_setup() {
  CL_NAME=$1 CL_PORT=$2
  CL_VAR=$(mktemp -d "/tmp/cl_$1.XXXXXX")
  IT_CLEANUP_HOOK=cl_cleanup
  trap it_cleanup EXIT
  CS_PG_PORT=$CS_PG_PORT "$IT_REPO/scripts/services.sh" pg-start >/dev/null 2>&1 \
    || it_fail "PostgreSQL did not start on $CS_PG_PORT"
  cl_cluster start || it_fail "cluster did not start"
  IT_BROKERS=$(cl_cluster brokers)
  IT_REPLICAS=3
  it_setup "$1"
  it_log "cluster $(cl_cluster brokers)"
}

# cl_produce key=value...: chatstream-produce in the background as a gateway would use it:
# acks=all + idempotence (always), a flush every 50 records, acked ids to $IT_DIR/acked.txt,
# carry on through failures. Sets CL_PRODUCER; the result line goes to $IT_DIR/produce.json.
cl_produce() {
  local args=(-X flush.every=50 -X on.error=continue -X "acked.file=$IT_DIR/acked.txt")
  for kv in "$@"; do args+=(-X "$kv"); done
  : >"$IT_DIR/acked.txt"
  "$IT_BUILD/tools/chatstream-produce" "${args[@]}" >"$IT_DIR/produce.json" 2>"$IT_DIR/produce.log" &
  CL_PRODUCER=$!
  IT_PIDS+=("$CL_PRODUCER")
}

# cl_produce_wait: waits for the producer; sets CL_RESULT (its JSON line).
cl_produce_wait() {
  local rc=0
  wait "$CL_PRODUCER" || rc=$?
  [[ $rc -eq 0 || $rc -eq 3 ]] || it_fail "chatstream-produce failed ($rc): $(tail -5 "$IT_DIR/produce.log")"
  CL_RESULT=$(cat "$IT_DIR/produce.json")
  it_log "producer: $CL_RESULT"
}

cl_acked() { wc -l <"$IT_DIR/acked.txt"; }

# cl_sampler_start: every 0.5 s, "time rows acked" into $IT_DIR/samples.txt.
cl_sampler_start() {
  (while :; do
     echo "$(date +%s.%N) $(it_rows) $(cl_acked)" >>"$IT_DIR/samples.txt"
     sleep 0.5
   done) &
  CL_SAMPLER=$!
  IT_PIDS+=("$CL_SAMPLER")
}

# cl_stall <column: 1 rows, 2 acked> [from] [to]: longest time it did not grow, in seconds.
cl_stall() {
  python3 "$IT_REPO/tests/integration/cluster_check.py" stall "$IT_DIR/samples.txt" "$1" \
    ${2:+--from "$2"} ${3:+--to "$3"}
}

# cl_check [fanout]: acked ids against the messages table (and chat.fanout, read_committed);
# prints the counts, fails on any lost or duplicated message. Sets CL_COUNTS.
cl_check() {
  it_psql -d "$IT_DB" -tAc "SELECT id FROM messages" >"$IT_DIR/db_ids.txt"
  local args=(count --acked "$IT_DIR/acked.txt" --db "$IT_DIR/db_ids.txt")
  if [[ ${1:-} == fanout ]]; then
    it_dump "${IT_PREFIX}chat.fanout" "$IT_DIR/fanout.tsv"
    args+=(--fanout "$IT_DIR/fanout.tsv")
  fi
  CL_COUNTS=$(python3 "$IT_REPO/tests/integration/cluster_check.py" "${args[@]}") \
    || it_fail "lost or duplicated messages: $CL_COUNTS"
  it_log "ok: nothing lost, nothing doubled: $CL_COUNTS"
}
