#!/usr/bin/env bash
# bench-fts.sh — what the full-text index of migration 0002 costs chatstream-persist.
#
# Loads N realistic chat messages (4-25 words from a Zipf-like vocabulary) into a topic
# once, then for each variant: a fresh database with migration 0001 plus the variant's
# DDL, chatstream-persist from the beginning of the topic in a fresh group, and the
# time until every row is in. Prints messages per second per variant (median of RUNS).
#
#   CS_KAFKA_PORT=.. CS_PG_PORT=.. scripts/bench-fts.sh [N] [RUNS]
# Needs scripts/services.sh start and a build (CS_BUILD, default build/).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${CS_BUILD:-$REPO/build}
N=${1:-200000}
RUNS=${2:-3}
KAFKA=127.0.0.1:${CS_KAFKA_PORT:-19092}
PGPORT=${CS_PG_PORT:-15432}
PREFIX=bench_fts_$$.
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
psql_() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U chatstream "$@"; }

python3 - "$N" >"$WORK/msgs.txt" <<'PY'
import json, random, sys, time, uuid
random.seed(7)
common = ("the a to and of i you it is in that for on we this be are with have do not can what at "
          "my so just but if me your will was all about get how like when up out one there they "
          "know no").split()
vocab = common + ["w%x%s" % (i, "abcdefgh"[i % 8] * (1 + i % 5)) for i in range(8000)]
weights = [1.0 / (r + 1) for r in range(len(vocab))]
ts = int(time.time() * 1000)
out = sys.stdout
for i in range(int(sys.argv[1])):
    user = "u%d" % random.randrange(2000)
    env = {"v": 1, "id": str(uuid.UUID(int=random.getrandbits(128), version=4)),
           "room": "r%d" % random.randrange(300), "user": user, "cmid": "c%d" % i, "ts": ts + i,
           "text": " ".join(random.choices(vocab, weights, k=random.randint(4, 25)))}
    out.write(user + "\t" + json.dumps(env, separators=(",", ":")) + "\n")
PY
"$BUILD/tools/chatstream-admin" -b "$KAFKA" create-topic "${PREFIX}chat.messages" 12 1
"$BUILD/tools/chatstream-admin" -b "$KAFKA" create-topic "${PREFIX}chat.dlq" 3 1
kcat -P -b "$KAFKA" -t "${PREFIX}chat.messages" -K $'\t' -X linger.ms=20 <"$WORK/msgs.txt"

# Variants:
#   none            migration 0001 only: persist alone (the baseline)
#   gin_on_body     an expression GIN index on messages.body, written by persist itself
#   search_table    migrations 0001 + 0002 (message_search): persist and a second group
#                   (sink=postgres-search) run together; both times are reported
persist() {  # persist <db> <group> <sink> <logfile>: starts it, prints the pid
  "$BUILD/stream-processors/chatstream-persist" -X brokers="$KAFKA" -X topic.prefix="$PREFIX" \
    -X group.id="$2" -X admin.port=0 -X sink="$3" -X pg.migrate=false -X pgsearch.migrate=false \
    -X log.level=warn -X pg.dsn="host=127.0.0.1 port=$PGPORT dbname=$1 user=chatstream" \
    -X pgsearch.dsn="host=127.0.0.1 port=$PGPORT dbname=$1 user=chatstream" >/dev/null 2>"$4" &
  echo $!
}
count() { psql_ -d "$1" -tAc "SELECT count(*) FROM $2"; }
run() {  # run <variant> <n>: prints "seconds(messages) seconds(search or -) size"
  local v=$1 db=bench_fts_${1}_$$_$2 pids=()
  psql_ -d chatstream -c "CREATE DATABASE $db" >/dev/null
  psql_ -d "$db" -f "$REPO/schemas/sql/0001_messages.sql" >/dev/null
  case $v in
    gin_on_body) psql_ -d "$db" -c "CREATE INDEX ON messages USING gin (to_tsvector('simple'::regconfig, body))" >/dev/null ;;
    search_table) psql_ -d "$db" -f "$REPO/schemas/sql/0002_message_search.sql" >/dev/null ;;
  esac
  local t0 t1 t2=-
  t0=$(date +%s.%N)
  pids+=("$(persist "$db" "${PREFIX}${v}_$2" postgres "$WORK/persist.log")")
  [[ $v == search_table ]] && pids+=("$(persist "$db" "${PREFIX}${v}_s_$2" postgres-search "$WORK/search.log")")
  while [[ $(count "$db" messages) -lt $N ]]; do sleep 0.2; done
  t1=$(date +%s.%N)
  if [[ $v == search_table ]]; then
    while [[ $(count "$db" message_search) -lt $N ]]; do sleep 0.2; done
    t2=$(echo "$(date +%s.%N) - $t0" | bc)
  fi
  for p in "${pids[@]}"; do kill -TERM "$p"; while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done
  local size; size=$(psql_ -d "$db" -tAc "SELECT pg_size_pretty(pg_database_size('$db'))")
  psql_ -d chatstream -c "DROP DATABASE $db" >/dev/null
  echo "$(echo "$t1 - $t0" | bc) $t2 $size"
}
printf '%-14s %10s %12s %14s %s\n' variant persist_s persist_msg/s search_index_s database
for v in none gin_on_body search_table; do
  results=()
  for r in $(seq 1 "$RUNS"); do results+=("$(run "$v" "$r")"); done
  med=$(printf '%s\n' "${results[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
  read -r secs ssecs size unit <<<"$med"
  printf '%-14s %10.2f %12.0f %14s %s %s\n' "$v" "$secs" "$(echo "$N / $secs" | bc -l)" "$ssecs" "$size" "$unit"
done
