# lib.sh — shared helpers for integration tests (bash). Source it first:
#
#   . "$(dirname "$0")/lib.sh"
#   it_setup persist_kill9          # unique topic prefix + database, cleanup on exit
#   it_produce count=100000
#   it_start persist -X batch.max.records=2000
#   it_wait 120 "rows == 100000" '[[ $(it_rows) -eq 100000 ]]'
#   it_assert_eq "$(it_rows)" 100000 "rows after replay"
#
# Each test gets its own topic prefix (it_<name>_<run id>.; use it in group ids too: a group
# shared with a killed run waits out the dead member's session) and its own database, so
# tests never see each other's data. The run id is the pid plus random bits: PostgreSQL's
# data directory outlives a run (it is under /tmp), and on a fresh machine pids repeat from
# run to run, so a pid alone once met a database a failed earlier run had left (CI, stop 25:
# "database it_gateway_coalesce_3781 already exists"). A passing test drops its databases. Kafka and PostgreSQL are the ones started by
# `scripts/services.sh start` (the ctest fixture "services"), found through the same
# CS_KAFKA_PORT / CS_PG_PORT variables. Every process a test starts is killed on exit.
set -euo pipefail

IT_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IT_BUILD=${CS_BUILD:-$IT_REPO/build}
IT_SRC=$IT_REPO/tests/integration
CS_KAFKA_PORT=${CS_KAFKA_PORT:-19092}
CS_PG_PORT=${CS_PG_PORT:-15432}
IT_BROKERS=127.0.0.1:$CS_KAFKA_PORT
IT_PIDS=()
IT_RUN_ID=${IT_RUN_ID:-$$_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')}
IT_DBS=()

it_log() { printf '[%s %s] %s\n' "$(date +%T)" "${IT_NAME:-it}" "$*" >&2; }
it_fail() { it_log "FAIL: $*"; it_dump_logs; exit 1; }

it_dump_logs() {
  [[ -n ${IT_DIR:-} ]] || return 0
  for f in "$IT_DIR"/*.log; do
    [[ -f $f ]] || continue
    echo "----- last lines of $(basename "$f") -----" >&2
    tail -n 25 "$f" >&2
  done
  # what each component still running says about itself: a stall with nothing in its log
  # (no error, no progress) shows here as lag, batch and transaction counters
  local entry
  for entry in "${IT_ADMINS[@]}"; do
    echo "----- /metrics of ${entry%%=*} (counters and gauges) -----" >&2
    curl -sf -m 2 "http://${entry#*=}/metrics" 2>/dev/null | grep -v -e '^#' -e '_bucket{' \
      | grep -E 'records|lag|fetching|batch|transaction|error|retr|pause|dlq|repeats|kafka' | head -n 90 >&2 \
      || echo "(no answer)" >&2
  done
}
IT_ADMINS=()

it_cleanup() {
  local rc=$?
  for pid in "${IT_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # A test library's own cleanup (e.g. cluster_lib.sh stops its brokers), given the status.
  [[ -n ${IT_CLEANUP_HOOK:-} ]] && { "$IT_CLEANUP_HOOK" "$rc" || true; }
  if [[ $rc -eq 0 ]]; then
    [[ -n ${IT_DIR:-} ]] && rm -rf "$IT_DIR"
    # a failed test keeps its databases beside its logs, for the post-mortem
    for db in "${IT_DBS[@]}"; do
      it_psql -d chatstream -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
  fi
  [[ $rc -ne 0 && -n ${IT_DIR:-} ]] && it_log "logs kept in $IT_DIR"
  exit $rc
}

it_psql() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$CS_PG_PORT" -U chatstream "$@"; }

# it_create_db <name>: a new database, dropped when the test passes.
it_create_db() {
  it_psql -d chatstream -c "CREATE DATABASE $1" >/dev/null || it_fail "cannot create database $1"
  IT_DBS+=("$1")
}

# it_setup <name>: topics with a unique prefix, a fresh database, a scratch dir.
it_setup() {
  IT_NAME=$1
  IT_DIR=$(mktemp -d "/tmp/it_${IT_NAME}.XXXXXX")
  IT_PREFIX="it_${IT_NAME}_$IT_RUN_ID."
  IT_DB="it_${IT_NAME}_$IT_RUN_ID"
  trap it_cleanup EXIT
  "$IT_BUILD/tools/chatstream-admin" -b "$IT_BROKERS" wait 30 || it_fail "no Kafka at $IT_BROKERS"
  for t in chat.messages chat.fanout chat.vectors; do
    "$IT_BUILD/tools/chatstream-admin" -b "$IT_BROKERS" create-topic "$IT_PREFIX$t" "${IT_PARTITIONS:-12}" "${IT_REPLICAS:-1}"
  done
  "$IT_BUILD/tools/chatstream-admin" -b "$IT_BROKERS" create-topic "${IT_PREFIX}chat.dlq" 3 "${IT_REPLICAS:-1}"
  it_create_db "$IT_DB"
  export CHATSTREAM_BROKERS=$IT_BROKERS
  export CHATSTREAM_TOPIC_PREFIX=$IT_PREFIX
  export CHATSTREAM_PG_DSN="host=127.0.0.1 port=$CS_PG_PORT dbname=$IT_DB user=chatstream"
  it_log "prefix $IT_PREFIX, database $IT_DB, logs in $IT_DIR"
}

# it_produce key=value...: chatstream-produce into the test's topics; prints its JSON.
it_produce() {
  local args=()
  for kv in "$@"; do args+=(-X "$kv"); done
  "$IT_BUILD/tools/chatstream-produce" "${args[@]}" || it_fail "chatstream-produce failed"
}

# it_uuid7: a new message id (UUIDv7, as the gateway assigns them), for records written
# straight to a topic.
it_uuid7() {
  python3 -c 'import os, time; h = f"{int(time.time() * 1000):012x}"; r = os.urandom(10).hex(); print(f"{h[:8]}-{h[8:]}-7{r[:3]}-8{r[3:6]}-{r[6:18]}")'
}

# it_free_port: a free TCP port on 127.0.0.1.
it_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# it_start <processor> [args...]: starts chatstream-<processor> in the background with
# its own admin port. Sets IT_PID and IT_ADMIN (host:port); logs to $IT_DIR/<processor>-N.log.
it_start() {
  local proc=$1; shift
  local port; port=$(it_free_port)
  local n=${#IT_PIDS[@]}
  local bin
  bin=$(find "$IT_BUILD" -type f -name "chatstream-$proc" -perm -u+x | head -1)
  [[ -n $bin ]] || it_fail "chatstream-$proc not built"
  "$bin" -X admin.port="$port" "$@" >"$IT_DIR/$proc-$n.log" 2>&1 &
  IT_PID=$!
  IT_PIDS+=("$IT_PID")
  IT_ADMIN=127.0.0.1:$port
  IT_ADMINS+=("$proc-$n=$IT_ADMIN")
  it_wait 30 "$proc admin endpoint" "curl -sf http://$IT_ADMIN/healthz >/dev/null"
}

# it_wait <seconds> <description> <bash condition>
it_wait() {
  local secs=$1 what=$2 cond=$3 deadline=$((SECONDS + $1))
  while ! eval "$cond"; do
    (( SECONDS < deadline )) || it_fail "timed out after ${secs}s waiting for: $what"
    sleep 0.5
  done
}

it_rows() { it_psql -d "$IT_DB" -tAc "SELECT count(*) FROM messages" 2>/dev/null || echo -1; }

# it_metric <admin host:port> <metric name with labels, as a regex>: sums matching samples.
it_metric() {
  curl -sf "http://$1/metrics" | awk -v re="^$2" '$1 ~ re { s += $2 } END { printf "%d\n", s }'
}

# it_group_lag <group> [topic]: committed lag of a consumer group, from Kafka itself.
it_group_lag() {
  "$IT_BUILD/tools/chatstream-admin" -b "$IT_BROKERS" lag "$1" "${2:-${IT_PREFIX}chat.messages}"
}

it_assert_eq() {
  [[ "$1" == "$2" ]] || it_fail "$3: got '$1', expected '$2'"
  it_log "ok: $3 = $2"
}

it_assert() {  # it_assert <description> <bash condition>
  eval "$2" || it_fail "$1"
  it_log "ok: $1"
}

# it_stop <pid> [signal]: stops a process, waits for it, sets IT_RC to its exit status.
# (Call it directly, not in $(...): a subshell cannot wait for this shell's children.)
it_stop() {
  local pid=$1 sig=${2:-TERM}
  IT_RC=0
  kill -"$sig" "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || IT_RC=$?
}

# it_json <json> <field>: one field of a JSON object (e.g. chatstream-produce's result line).
it_json() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# it_dump <topic> <file>: the whole topic as read_committed, one record per line:
# key <TAB> partition <TAB> offset <TAB> value.
it_dump() {
  kcat -C -b "$IT_BROKERS" -t "$1" -e -q -X isolation.level=read_committed \
       -f '%k\t%p\t%o\t%s\n' >"$2" || it_fail "kcat could not read $1"
}

# it_fanout_count: records in chat.fanout visible to read_committed readers.
it_fanout_count() {
  it_dump "${IT_PREFIX}chat.fanout" "$IT_DIR/count.tsv"
  wc -l <"$IT_DIR/count.tsv"
}

# it_fanout_check <expected records>: chat.fanout against chat.messages, exactly
# (tests/integration/fanout_check.py: ids, keys, values, per-user order within rooms).
it_fanout_check() {
  it_dump "${IT_PREFIX}chat.messages" "$IT_DIR/in.tsv"
  it_dump "${IT_PREFIX}chat.fanout" "$IT_DIR/out.tsv"
  local res
  res=$(python3 "$IT_REPO/tests/integration/fanout_check.py" "$IT_DIR/in.tsv" "$IT_DIR/out.tsv" \
        --expect "$1") || it_fail "chat.fanout does not match chat.messages: $res"
  it_log "ok: chat.fanout exact: $res"
}

# it_start_gateway [args...]: a chatstream-gateway on a free port (its WebSocket, HTTP and
# /metrics share it); IT_GW is host:port, IT_ADMIN too (for it_metric), IT_PID its pid.
it_start_gateway() {
  local port; port=$(it_free_port)
  local n=${#IT_PIDS[@]}
  "$IT_BUILD/ingest/chatstream-gateway" -X listen.port="$port" -X threads=2 "$@" \
    >"$IT_DIR/gateway-$n.log" 2>&1 &
  IT_PID=$!
  IT_PIDS+=("$IT_PID")
  IT_GW=127.0.0.1:$port
  IT_ADMIN=$IT_GW
  IT_ADMINS+=("gateway-$n=$IT_GW")
  it_wait 60 "gateway ready" "curl -sf http://$IT_GW/readyz >/dev/null"
}

# it_gw_client <scenario> [args...]: the WebSocket test client (Debian's python3-websockets).
it_gw_client() { /usr/bin/python3 "$IT_SRC/gw_client.py" "$@"; }
