#!/usr/bin/env bash
# bench-embed.sh — chatstream-embed throughput (messages/s), printed as tables:
#   1. the built-in hash provider, by framework batch size (batch.max.records);
#   2. an OpenAI-compatible provider that takes 300 ms per call (the seeds' figure; the
#      embeddings double with latency_ms=300), by inputs per request (embed.batch.inputs)
#      with 1 and with 4 requests in flight (embed.inflight): what batching and
#      concurrency buy when the provider is slow (16 rounds of requests per run).
# Rate = messages / (time from start until every vector is in chat.vectors); the start-up
# (~0.5 s) is included, so small runs understate a little. Median of RUNS.
#
#   CS_KAFKA_PORT=.. scripts/bench-embed.sh [RUNS]
# Needs scripts/services.sh start and a build (CS_BUILD, default build/).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${CS_BUILD:-$REPO/build}
RUNS=${1:-3}
KAFKA=127.0.0.1:${CS_KAFKA_PORT:-19092}
WORK=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
admin() { "$BUILD/tools/chatstream-admin" -b "$KAFKA" "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# run <prefix> <n> <args...>: seconds until n vectors
run() {
  local prefix=$1 n=$2; shift 2
  local t0 t1 pid
  t0=$(date +%s.%N)
  "$BUILD/stream-processors/chatstream-embed" -X brokers="$KAFKA" -X topic.prefix="$prefix" \
    -X group.id="${prefix}g" -X admin.port=0 -X log.level=warn "$@" >/dev/null 2>"$WORK/embed.log" &
  pid=$!
  while [[ $(admin end-offsets "${prefix}chat.vectors") -lt $n ]]; do
    kill -0 $pid 2>/dev/null || { tail -5 "$WORK/embed.log" >&2; exit 1; }
    sleep 0.1
  done
  t1=$(date +%s.%N)
  kill -TERM $pid; while kill -0 $pid 2>/dev/null; do sleep 0.1; done
  echo "$t1 - $t0" | bc
}
topics() {  # topics <prefix> <n>: fresh topics with n messages
  for t in chat.messages chat.vectors chat.dlq; do admin create-topic "$1$t" 12 1 >/dev/null; done
  "$BUILD/tools/chatstream-produce" -X brokers="$KAFKA" -X topic.prefix="$1" -X count="$2" \
    -X users=1000 -X rooms=100 >/dev/null
}
median() { sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"; }

echo "hash provider (1024 dimensions), by batch.max.records (5000 is the default)"
printf '%-8s %8s %12s\n' batch messages msg/s
for b in 1 16 64 256 5000; do
  n=$(( b * 2000 < 100000 ? b * 2000 : 100000 ))
  secs=()
  for r in $(seq 1 "$RUNS"); do
    p=bench_embed_h${b}_${r}_$$.
    topics "$p" "$n"
    secs+=("$(run "$p" "$n" -X batch.max.records="$b")")
  done
  s=$(printf '%s\n' "${secs[@]}" | median)
  printf '%-8s %8d %12.0f\n' "$b" "$n" "$(echo "$n / $s" | bc -l)"
done

port=$(free_port)
python3 "$REPO/tests/doubles/embeddings_double.py" --port "$port" --dim 64 2>"$WORK/double.log" &
PIDS+=($!)
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/_double/stats" >/dev/null && break; sleep 0.1; done
curl -sf -X POST "http://127.0.0.1:$port/_double/faults" -d '{"mode":"ok","latency_ms":300}' >/dev/null
echo
echo "OpenAI-compatible provider answering in 300 ms per call (64 dimensions), by embed.batch.inputs"
printf '%-8s %10s %14s %14s\n' inputs messages "inflight=1" "inflight=4"
for b in 1 16 64 256; do
  line=$(printf '%-8s' "$b")
  for inflight in 1 4; do
    n=$(( b * inflight * 16 ))
    secs=()
    for r in $(seq 1 "$RUNS"); do
      p=bench_embed_o${b}_${inflight}_${r}_$$.
      topics "$p" "$n"
      secs+=("$(run "$p" "$n" -X embed.provider=openai -X embed.url="http://127.0.0.1:$port/v1" \
                 -X embed.model=bench -X embed.dim=64 -X embed.batch.inputs="$b" \
                 -X embed.inflight="$inflight" -X batch.max.records=$(( b * inflight )) \
                 -X batch.linger.ms=20)")
    done
    s=$(printf '%s\n' "${secs[@]}" | median)
    [[ $inflight == 1 ]] && line+=$(printf ' %10d' "$n")
    line+=$(printf ' %14.1f' "$(echo "$n / $s" | bc -l)")
  done
  echo "$line"
done
