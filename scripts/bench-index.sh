#!/usr/bin/env bash
# bench-index.sh — chatstream-index throughput (points/s) into the Qdrant double, by points
# per upsert request (qdrant.upsert.points), 4 requests in flight, one shard.
# The vectors (256 dimensions, hash provider) are produced once; each run indexes them into
# a fresh collection from the start. Rate = points / (start until the shard counts them all);
# CPU = the indexer's own user + system time (/proc) per point, which the double does not
# bound: JSON writing, HTTP, Kafka.
# The double is Python (tests/doubles/qdrant_double.py): it parses every float and
# normalises every vector on one core, so these numbers are the double's ceiling as much as
# chatstream-index's; against a real Qdrant the client side is what they bound from below.
#
#   CS_KAFKA_PORT=.. scripts/bench-index.sh [N] [RUNS]
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${CS_BUILD:-$REPO/build}
N=${1:-20000}
RUNS=${2:-3}
KAFKA=127.0.0.1:${CS_KAFKA_PORT:-19092}
PREFIX=bench_index_$$.
WORK=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
admin() { "$BUILD/tools/chatstream-admin" -b "$KAFKA" "$@"; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$REPO/tests/doubles/qdrant_double.py" --port "$port" 2>"$WORK/qdrant.log" &
PIDS+=($!)
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/_double/stats" >/dev/null && break; sleep 0.1; done

for t in chat.messages chat.vectors chat.dlq; do admin create-topic "$PREFIX$t" 12 1 >/dev/null; done
"$BUILD/tools/chatstream-produce" -X brokers="$KAFKA" -X topic.prefix="$PREFIX" -X count="$N" \
  -X users=1000 -X rooms=100 >/dev/null
"$BUILD/stream-processors/chatstream-embed" -X brokers="$KAFKA" -X topic.prefix="$PREFIX" \
  -X group.id="${PREFIX}embed" -X admin.port=0 -X log.level=warn -X embed.dim=256 \
  >/dev/null 2>"$WORK/embed.log" &
embed=$!
while [[ $(admin end-offsets "${PREFIX}chat.vectors") -lt $N ]]; do sleep 0.2; done
kill -TERM $embed; while kill -0 $embed 2>/dev/null; do sleep 0.1; done

count() {
  curl -sf -X POST "http://127.0.0.1:$port/collections/$1/points/count" -d '{"exact":true}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["count"])' 2>/dev/null || echo 0
}
TICK=$(getconf CLK_TCK)
median() { sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"; }
printf '%-14s %8s %12s %16s\n' points/request points points/s 'index us/point'
for b in 1 16 64 256; do
  n=$(( b == 1 ? N / 4 : N ))
  secs=() cpus=()
  for r in $(seq 1 "$RUNS"); do
    coll=bench_${b}_$r
    t0=$(date +%s.%N)
    "$BUILD/stream-processors/chatstream-index" -X brokers="$KAFKA" -X topic.prefix="$PREFIX" \
      -X group.id="${PREFIX}${coll}" -X admin.port=0 -X log.level=warn \
      -X qdrant.urls="http://127.0.0.1:$port" -X qdrant.collection="$coll" \
      -X qdrant.upsert.points="$b" -X qdrant.inflight=4 >/dev/null 2>"$WORK/index.log" &
    pid=$!
    while [[ $(count "$coll") -lt $n ]]; do sleep 0.2; done
    t1=$(date +%s.%N)
    cpus+=("$(awk -v t="$TICK" -v n="$n" '{printf "%.2f", ($14 + $15) / t * 1e6 / n}' "/proc/$pid/stat")")
    kill -TERM $pid; while kill -0 $pid 2>/dev/null; do sleep 0.1; done
    curl -sf -X DELETE "http://127.0.0.1:$port/collections/$coll" >/dev/null
    secs+=("$(echo "$t1 - $t0" | bc)")
  done
  s=$(printf '%s\n' "${secs[@]}" | median)
  c=$(printf '%s\n' "${cpus[@]}" | median)
  printf '%-14s %8d %12.0f %16s\n' "$b" "$n" "$(echo "$n / $s" | bc -l)" "$c"
done
