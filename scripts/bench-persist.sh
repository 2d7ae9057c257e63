#!/usr/bin/env bash
# bench-persist.sh — chatstream-persist's end-to-end rate into PostgreSQL.
#
# Fills a fresh chat.messages with N messages, then for 1 and for 2 persist instances,
# RUNS times each (fresh database and consumer group per run): the rate from the first
# record processed to the last row committed, and each instance's peak RSS. Prints
# every run and the median. Needs the services: scripts/services.sh start.
#
#   scripts/bench-persist.sh                 N=1000000 RUNS=3
#   N=200000 RUNS=1 scripts/bench-persist.sh
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${CS_BUILD:-$REPO/build}
N=${N:-1000000}
RUNS=${RUNS:-3}
INSTANCES=${INSTANCES:-"1 2"}
CS_KAFKA_PORT=${CS_KAFKA_PORT:-19092}
CS_PG_PORT=${CS_PG_PORT:-15432}
BROKERS=127.0.0.1:$CS_KAFKA_PORT
PREFIX="bench_$$."
WORK=$(mktemp -d /tmp/bench-persist.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
psqlc() { psql -X -q -h 127.0.0.1 -p "$CS_PG_PORT" -U chatstream -d chatstream "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
processed() {  # sum of chatstream_records_processed_total over the given admin ports
  local sum=0 v
  for port in "$@"; do
    v=$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^chatstream_records_processed_total/ {print $2}')
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}

"$BUILD/tools/chatstream-admin" -b "$BROKERS" create-topic "${PREFIX}chat.messages" 12 1
"$BUILD/tools/chatstream-admin" -b "$BROKERS" create-topic "${PREFIX}chat.dlq" 3 1
echo "filling ${PREFIX}chat.messages with $N messages (100-byte texts, 10k users, 1k rooms)..." >&2
"$BUILD/tools/chatstream-produce" -X brokers="$BROKERS" -X topic.prefix="$PREFIX" -X count="$N" \
  -X users=10000 -X rooms=1000 -X text.bytes=100 >&2

declare -A RATES
for inst in $INSTANCES; do
  for run in $(seq 1 "$RUNS"); do
    db="bench_$$_${inst}_$run"
    psqlc -c "CREATE DATABASE $db"
    ports=()
    PIDS=()
    for i in $(seq 1 "$inst"); do
      port=$(free_port); ports+=("$port")
      "$BUILD/stream-processors/chatstream-persist" -X brokers="$BROKERS" -X topic.prefix="$PREFIX" \
        -X group.id="bench-$$-$inst-$run" -X admin.port="$port" -X log.level=warn \
        -X pg.dsn="host=127.0.0.1 port=$CS_PG_PORT dbname=$db user=chatstream" \
        >"$WORK/persist-$inst-$run-$i.log" 2>&1 &
      PIDS+=($!)
    done
    sleep 0.5
    t_first=""
    peak_kb=0
    while :; do
      done_n=$(processed "${ports[@]}")
      now=$(date +%s.%N)
      [[ -z $t_first && $done_n -gt 0 ]] && t_first=$now
      for p in "${PIDS[@]}"; do
        kb=$(awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        (( kb > peak_kb )) && peak_kb=$kb
      done
      [[ $done_n -ge $N ]] && break
      sleep 0.05
    done
    t_last=$now
    rows=$(psql -X -q -h 127.0.0.1 -p "$CS_PG_PORT" -U chatstream -d "$db" -tAc "SELECT count(*) FROM messages")
    rate=$(python3 -c "print(round($N / ($t_last - $t_first)))")
    RATES[$inst]+="$rate "
    printf 'instances=%d run=%d rows=%d rate=%d msg/s peak_rss_per_instance=%.1f MiB\n' \
      "$inst" "$run" "$rows" "$rate" "$(echo "$peak_kb / 1024" | bc -l)"
    [[ $rows -eq $N ]] || { echo "row count mismatch: $rows != $N" >&2; exit 1; }
    for p in "${PIDS[@]}"; do kill -TERM "$p"; wait "$p" || true; done
    PIDS=()
    psqlc -c "DROP DATABASE $db"
  done
done
for inst in $INSTANCES; do
  med=$(echo "${RATES[$inst]}" | tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "persist, $inst instance(s): median $med msg/s over $RUNS runs of $N messages"
done
