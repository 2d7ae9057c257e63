#!/usr/bin/env bash
# quickstart.sh — the whole pipeline on this machine, with a short demo load.
#
# Installs the Debian packages (scripts/deps.sh), builds, starts Kafka (KRaft, from
# Maven Central's jars) and PostgreSQL on loopback, starts the processors, drives a
# demo load into chat.messages and shows it being persisted, then prints a summary.
#
#   scripts/quickstart.sh            run the demo, then stop everything
#   scripts/quickstart.sh --keep     leave the services and processors running
#
# DEMO_MESSAGES (default 20000) and DEMO_RATE (messages/s, default 4000) size the load.
# Then, with the gateway built, a short school run: SCHOOL_USERS (default 500) simulated
# users on real WebSockets with real tokens, rooms of 30, one message a second each, for
# SCHOOL_SECONDS (default 20), and chatstream-loadgen's summary (SCHOOL_USERS=0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
KEEP=0
[[ ${1:-} == --keep ]] && KEEP=1
DEMO_MESSAGES=${DEMO_MESSAGES:-20000}
DEMO_RATE=${DEMO_RATE:-4000}
export CS_VAR=${CS_VAR:-$REPO/var}
LOGS=$CS_VAR/logs
mkdir -p "$LOGS"
say() { printf '\033[1m== %s\033[0m\n' "$*"; }

say "1/5 packages"
scripts/deps.sh
say "2/5 build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build
say "3/5 services: Kafka + PostgreSQL on loopback"
scripts/services.sh start
eval "$(scripts/services.sh env)"
PIDS=()
stop_all() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/services.sh stop
}
[[ $KEEP -eq 1 ]] || trap stop_all EXIT

say "4/5 processors"
build/stream-processors/chatstream-persist -X admin.port=9101 >"$LOGS/persist.log" 2>&1 &
PIDS+=($!)
echo "chatstream-persist  pid $!  metrics http://127.0.0.1:9101/metrics  log $LOGS/persist.log"
for _ in $(seq 60); do curl -sf http://127.0.0.1:9101/readyz >/dev/null && break; sleep 0.5; done

psqlq() { psql -X -q -h 127.0.0.1 -p "${CS_PG_PORT:-15432}" -U chatstream -d chatstream -tAc "$1" 2>/dev/null || echo 0; }
before=$(psqlq "SELECT count(*) FROM messages")
say "5/5 demo load: $DEMO_MESSAGES messages at $DEMO_RATE/s from 500 users in 50 rooms"
build/tools/chatstream-produce -X count="$DEMO_MESSAGES" -X rate="$DEMO_RATE" -X users=500 \
  -X rooms=50 -X text.bytes=80 -X dup.every=50 >"$LOGS/produce.json" &
producer=$!
start=$SECONDS
while :; do
  rows=$(( $(psqlq "SELECT count(*) FROM messages") - before ))
  lag=$(curl -s http://127.0.0.1:9101/metrics | awk '/^chatstream_consumer_lag/ {s += $2} END {print s + 0}')
  printf '  t=%3ds  rows persisted %7d   consumer lag %6d\n' $((SECONDS - start)) "$rows" "$lag"
  if ! kill -0 "$producer" 2>/dev/null; then
    retries=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_retries"])' "$LOGS/produce.json")
    [[ $rows -ge $((DEMO_MESSAGES - retries)) ]] && break
  fi
  (( SECONDS - start < 120 )) || { echo "demo did not finish in 120 s; see $LOGS" >&2; exit 1; }
  sleep 1
done
wait "$producer"
say "summary"
echo "  produced            $DEMO_MESSAGES messages ($retries were client retries of an earlier send)"
echo "  persisted           $rows rows (each retry stored once)"
psql -X -h 127.0.0.1 -p "${CS_PG_PORT:-15432}" -U chatstream -d chatstream -c \
  "SELECT room, count(*) AS messages, max(sent_at) AS latest FROM messages GROUP BY room ORDER BY 2 DESC LIMIT 5"
curl -s http://127.0.0.1:9101/metrics | grep -E '^chatstream_(records_processed_total|db_write_seconds_count|dlq_records_total|processing_latency_seconds_(sum|count))' | sed 's/^/  /'

SCHOOL_USERS=${SCHOOL_USERS:-500}
SCHOOL_SECONDS=${SCHOOL_SECONDS:-20}
if [[ -x build/ingest/chatstream-gateway && $SCHOOL_USERS -gt 0 ]]; then
  say "school: $SCHOOL_USERS users on WebSockets, rooms of 30, 1 msg/s each, ${SCHOOL_SECONDS}s"
  export CHATSTREAM_AUTH_SECRET=${CHATSTREAM_AUTH_SECRET:-quickstart-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')}
  # at-least-once fan-out: no transaction per batch (lower latency); the gateway drops the
  # copies a crash would leave in chat.fanout by message id
  build/stream-processors/chatstream-fanout -X admin.port=9102 -X batch.linger.ms=5 \
    -X transactions=false >"$LOGS/fanout.log" 2>&1 &
  PIDS+=($!)
  build/ingest/chatstream-gateway -X listen.port=8080 \
    >"$LOGS/gateway.log" 2>&1 &
  PIDS+=($!)
  echo "chatstream-gateway  pid $!  ws://127.0.0.1:8080/v1/ws  http://127.0.0.1:8080/  log $LOGS/gateway.log"
  for _ in $(seq 60); do curl -sf http://127.0.0.1:8080/readyz >/dev/null && curl -sf http://127.0.0.1:9102/readyz >/dev/null && break; sleep 0.5; done
  build/tools/loadgen/chatstream-loadgen -X gateways=127.0.0.1:8080 -X users="$SCHOOL_USERS" \
    -X duration="$SCHOOL_SECONDS" -X auth.mode=jwt 2>"$LOGS/loadgen.log" | sed 's/^/  /'
fi
if [[ $KEEP -eq 1 ]]; then
  echo "still running; stop with: kill ${PIDS[*]}; scripts/services.sh stop"
fi
