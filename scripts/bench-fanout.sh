#!/usr/bin/env bash
# bench-fanout.sh — chatstream-fanout's throughput, chat.messages -> chat.fanout, committed.
#
# Fills a fresh chat.messages with N messages (100-byte texts, 10k users, 1k rooms, one in
# DUP_EVERY a client retry), then RUNS times per instance count (fresh consumer group and
# output topic each run): rate = N / (last batch committed - first batch committed), from
# the processors' chatstream_fanout_records_in_total (counted when a transaction commits).
# Prints every run, the median, peak RSS, the mean transaction commit time, and CPU per
# message of fan-out and of the Kafka broker (all of the broker's work, whoever asked for it;
# a busy machine inflates both). Needs the services: scripts/services.sh start.
#
#   scripts/bench-fanout.sh                       N=1000000 RUNS=3 INSTANCES=1
#   N=300000 RUNS=1 scripts/bench-fanout.sh       a quick look
#   BATCH=5000 INSTANCES="1 2" scripts/bench-fanout.sh
#   FANOUT_OPTS="-X kafka.producer.compression.type=none" scripts/bench-fanout.sh
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${CS_BUILD:-$REPO/build}
N=${N:-1000000}
RUNS=${RUNS:-3}
INSTANCES=${INSTANCES:-1}
BATCH=${BATCH:-20000}
read -r -a FANOUT_OPTS <<<"${FANOUT_OPTS:-}"
DUP_EVERY=${DUP_EVERY:-50}
PARTITIONS=${PARTITIONS:-12}
CS_KAFKA_PORT=${CS_KAFKA_PORT:-19092}
CS_VAR=${CS_VAR:-$REPO/var}
BROKERS=127.0.0.1:$CS_KAFKA_PORT
KAFKA_PID=$(cat "$CS_VAR/kafka-$CS_KAFKA_PORT/pid" 2>/dev/null || echo "")
PREFIX="bench_fanout_$$."
WORK=$(mktemp -d /tmp/bench-fanout.XXXXXX)
ADMIN=$BUILD/tools/chatstream-admin
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sum_metric() {  # sum_metric <name> <port>...: one metric summed over instances
  local name=$1 sum=0 v; shift
  for port in "$@"; do
    v=$(curl -sf "http://127.0.0.1:$port/metrics" | awk -v n="$name" '$1 ~ "^"n {s += $2} END {printf "%.6f", s}')
    sum=$(python3 -c "print($sum + ${v:-0})")
  done
  echo "$sum"
}

"$ADMIN" -b "$BROKERS" create-topic "${PREFIX}chat.messages" "$PARTITIONS" 1
"$ADMIN" -b "$BROKERS" create-topic "${PREFIX}chat.dlq" 3 1
echo "filling ${PREFIX}chat.messages with $N messages (100-byte texts, 10k users, 1k rooms, dup.every=$DUP_EVERY)..." >&2
"$BUILD/tools/chatstream-produce" -X brokers="$BROKERS" -X topic.prefix="$PREFIX" -X count="$N" \
  -X users=10000 -X rooms=1000 -X text.bytes=100 -X dup.every="$DUP_EVERY" >&2

declare -A RATES
for inst in $INSTANCES; do
  for run in $(seq 1 "$RUNS"); do
    out="chat.fanout.$inst.$run"
    "$ADMIN" -b "$BROKERS" create-topic "$PREFIX$out" "$PARTITIONS" 1
    ports=()
    PIDS=()
    for i in $(seq 1 "$inst"); do
      port=$(free_port); ports+=("$port")
      "$BUILD/stream-processors/chatstream-fanout" -X brokers="$BROKERS" -X topic.prefix="$PREFIX" \
        -X group.id="bench-$$-$inst-$run" -X admin.port="$port" -X log.level=warn \
        -X output.topic="$out" -X batch.max.records="$BATCH" "${FANOUT_OPTS[@]}" \
        >"$WORK/fanout-$inst-$run-$i.log" 2>&1 &
      PIDS+=($!)
    done
    sleep 0.5
    t_first=""
    peak_kb=0
    cpu0=$(for p in "${PIDS[@]}"; do awk '{print $14 + $15}' "/proc/$p/stat"; done | paste -sd+ | bc)
    kcpu0=$(awk '{print $14 + $15}' "/proc/$KAFKA_PID/stat" 2>/dev/null || echo 0)
    while :; do
      done_n=$(sum_metric chatstream_fanout_records_in_total "${ports[@]}")
      done_n=${done_n%.*}
      now=$(date +%s.%N)
      [[ -z $t_first && $done_n -gt 0 ]] && { t_first=$now; n_first=$done_n; }
      for p in "${PIDS[@]}"; do
        kb=$(awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        (( kb > peak_kb )) && peak_kb=$kb
      done
      [[ $done_n -ge $N ]] && break
      sleep 0.02
    done
    t_last=$now
    cpu1=$(for p in "${PIDS[@]}"; do awk '{print $14 + $15}' "/proc/$p/stat"; done | paste -sd+ | bc)
    kcpu1=$(awk '{print $14 + $15}' "/proc/$KAFKA_PID/stat" 2>/dev/null || echo 0)
    hz=$(getconf CLK_TCK)
    commit_sum=$(sum_metric chatstream_kafka_transaction_commit_seconds_sum "${ports[@]}")
    commit_cnt=$(sum_metric chatstream_kafka_transaction_commit_seconds_count "${ports[@]}")
    # the first commit's records are not timed: rate over the rest
    rate=$(python3 -c "print(round(($N - $n_first) / ($t_last - $t_first)))")
    RATES[$inst]+="$rate "
    printf 'instances=%d run=%d rate=%d msg/s transactions=%d mean_commit=%.1f ms cpu/msg: fanout=%.2f us kafka=%.2f us peak_rss_per_instance=%.1f MiB\n' \
      "$inst" "$run" "$rate" "${commit_cnt%.*}" \
      "$(python3 -c "print(1000 * $commit_sum / max($commit_cnt, 1))")" \
      "$(python3 -c "print(($cpu1 - $cpu0) / $hz / $N * 1e6)")" \
      "$(python3 -c "print(($kcpu1 - $kcpu0) / $hz / $N * 1e6)")" "$(echo "$peak_kb / 1024" | bc -l)"
    for p in "${PIDS[@]}"; do kill -TERM "$p"; wait "$p" || true; done
    PIDS=()
  done
done
for inst in $INSTANCES; do
  med=$(echo "${RATES[$inst]}" | tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "fanout, $inst instance(s), batch.max.records=$BATCH: median $med msg/s over $RUNS runs of $N messages"
done
