#!/usr/bin/env bash
# bench-gateway-reader.sh — what a gateway spends on a chat.fanout record that none of its
# clients needs (every gateway reads every record: with G gateways a message costs this
# G - 1 times or more). A gateway with no clients reads N records that a fan-out copies
# from a filled chat.messages (100-byte texts, 1k rooms); CPU per record = the gateway's
# CPU over the copy, less its idle rate, / N. RUNS times per binary, median printed.
# Needs the services: scripts/services.sh start.
#
#   scripts/bench-gateway-reader.sh                          N=300000 RUNS=3
#   GATEWAYS="/tmp/old/chatstream-gateway build/ingest/chatstream-gateway" scripts/bench-gateway-reader.sh
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${CS_BUILD:-$REPO/build}
N=${N:-300000}
RUNS=${RUNS:-3}
GATEWAYS=${GATEWAYS:-$BUILD/ingest/chatstream-gateway}
PARTITIONS=${PARTITIONS:-12}
CS_KAFKA_PORT=${CS_KAFKA_PORT:-19092}
CS_PG_PORT=${CS_PG_PORT:-15432}
BROKERS=127.0.0.1:$CS_KAFKA_PORT
PREFIX="bench_gwread_$$."
WORK=$(mktemp -d /tmp/bench-gwread.XXXXXX)
ADMIN=$BUILD/tools/chatstream-admin
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
metric() { curl -sf "http://127.0.0.1:$2/metrics" | awk -v n="$1" 'index($1, n) == 1 {s += $2} END {printf "%d", s}'; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

for t in chat.messages chat.fanout; do "$ADMIN" -b "$BROKERS" create-topic "$PREFIX$t" "$PARTITIONS" 1; done
"$ADMIN" -b "$BROKERS" create-topic "${PREFIX}chat.dlq" 3 1
echo "filling ${PREFIX}chat.messages with $N messages (100-byte texts, 10k users, 1k rooms)..." >&2
"$BUILD/tools/chatstream-produce" -X brokers="$BROKERS" -X topic.prefix="$PREFIX" -X count="$N" \
  -X users=10000 -X rooms=1000 -X text.bytes=100 -X dup.every=0 >&2

declare -A US
for run in $(seq 1 "$RUNS"); do
  for gwbin in $GATEWAYS; do
    port=$(free_port)
    "$gwbin" -X brokers="$BROKERS" -X topic.prefix="$PREFIX" -X listen.port="$port" -X threads=2 \
      -X auth.mode=dev -X log.level=warn -X pg.dsn="host=127.0.0.1 port=$CS_PG_PORT dbname=chatstream user=chatstream" \
      >"$WORK/gateway.log" 2>&1 &
    gw=$!
    PIDS=("$gw")
    for _ in $(seq 1 120); do curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && break; sleep 0.5; done
    sleep 2
    c0=$(cpu "$gw") t0=$(date +%s.%N)
    sleep 3
    idle=$(python3 -c "print(($(cpu "$gw") - $c0) / $hz / ($(date +%s.%N) - $t0))")  # cores
    read0=$(metric chatstream_gateway_fanout_records_total "$port")
    fport=$(free_port)
    "$BUILD/stream-processors/chatstream-fanout" -X brokers="$BROKERS" -X topic.prefix="$PREFIX" \
      -X group.id="bench-gwread-$$-$run-$RANDOM" -X admin.port="$fport" -X log.level=warn \
      -X transactions=false >"$WORK/fanout.log" 2>&1 &
    PIDS+=($!)
    c0=$(cpu "$gw") t0=$(date +%s.%N)
    for _ in $(seq 1 6000); do
      (( $(metric chatstream_gateway_fanout_records_total "$port") - read0 >= N )) && break
      sleep 0.05
    done
    c1=$(cpu "$gw") t1=$(date +%s.%N)
    got=$(( $(metric chatstream_gateway_fanout_records_total "$port") - read0 ))
    skipped=$(metric chatstream_gateway_fanout_skipped_total "$port")
    us=$(python3 -c "print(round((($c1 - $c0) / $hz - $idle * ($t1 - $t0)) / $N * 1e6, 2))")
    US[$gwbin]+="$us "
    printf 'run=%d gateway=%s records=%d skipped=%d seconds=%.1f cpu/record=%s us (idle %.3f cores)\n' \
      "$run" "$gwbin" "$got" "$skipped" "$(python3 -c "print($t1 - $t0)")" "$us" "$idle"
    kill -TERM "${PIDS[@]}"
    wait "${PIDS[@]}" || true
    PIDS=()
  done
done
for gwbin in $GATEWAYS; do
  # shellcheck disable=SC2086 # the runs' numbers, one word each
  python3 -c 'import statistics, sys; print(f"gateway reader, no clients, {sys.argv[1]}: median "
                f"{statistics.median(map(float, sys.argv[3:]))} us of CPU per chat.fanout record "
                f"over {len(sys.argv) - 3} runs of {sys.argv[2]}")' "$gwbin" "$N" ${US[$gwbin]}
done
