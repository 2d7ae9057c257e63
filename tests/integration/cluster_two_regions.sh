#!/usr/bin/env bash
# Two regions (a, b: a Kafka cluster each, one broker per region here) joined by
# MirrorMaker 2 both ways; each region runs its own fan-out, a persist for its own
# messages and a persist for the other region's (mirrored) fan-out stream. Users of one
# room send in both regions. What each region's gateways would deliver — its own
# chat.fanout plus the mirrored <other>.chat.fanout, deduplicated by message id, in id
# order — must hold every acked message of both regions exactly once, and both regions
# must show the same sequence. Then the link is cut (MirrorMaker killed -9), both sides
# keep sending, the link is restored: both sides converge, nothing lost, nothing shown
# twice, both databases hold the complete history. (The cut lands mid-stream: what MM2
# had mirrored but not yet committed as its source offset is mirrored again, and the
# readers' dedupe by id removes it.) Prints MM2's replication latency
# (p50/p99) and the convergence time.
. "$(dirname "$0")/cluster_lib.sh"

NAME=cluster_two_regions
RG_PREFIX="it_${NAME}_$IT_RUN_ID."
RG_VAR=$(mktemp -d "/tmp/rg_$NAME.XXXXXX")
export CS_VAR=$RG_VAR CS_REGION_A_PORT=${CS_REGION_A_PORT:-29500} CS_REGION_B_PORT=${CS_REGION_B_PORT:-29600} CS_REGION_NODES=1
export CS_TOPIC_PREFIX=$RG_PREFIX CS_MM2_TOPICS="${RG_PREFIX//./\\.}chat\\.fanout"
REGIONS=$IT_REPO/infra/local/regions.sh

rg_cleanup() {
  local rc=$1
  if [[ $rc -ne 0 && -n ${IT_DIR:-} ]]; then
    cp "$RG_VAR/mm2/mm2.log" "$IT_DIR/mm2.log.txt" 2>/dev/null || true
  fi
  "$REGIONS" wipe >/dev/null 2>&1 || true
  rm -rf "$RG_VAR"
}
IT_CLEANUP_HOOK=rg_cleanup
trap it_cleanup EXIT

CS_PG_PORT=$CS_PG_PORT "$IT_REPO/scripts/services.sh" pg-start >/dev/null 2>&1 || it_fail "no PostgreSQL"
"$REGIONS" start || it_fail "regions did not start"
A=$("$REGIONS" brokers a) B=$("$REGIONS" brokers b)
IT_BROKERS=$A
it_setup "$NAME"                         # region a's topics (again, idempotent) and database
[[ $IT_PREFIX == "$RG_PREFIX" ]] || it_fail "prefix $IT_PREFIX != $RG_PREFIX"
DB_A=$IT_DB DB_B=${IT_DB}_b
it_create_db "$DB_B"
dsn() { echo "host=127.0.0.1 port=$CS_PG_PORT dbname=$1 user=chatstream"; }
rows() { it_psql -d "$1" -tAc "SELECT count(*) FROM messages" 2>/dev/null || echo -1; }
FANOUT=${IT_PREFIX}chat.fanout

# One region's processors: fan-out, persist of its own messages, persist of the other's.
PROCS=()
region_procs() {  # region_procs <brokers> <db> <other region name>
  it_start fanout -X brokers="$1" -X group.id=${IT_PREFIX}fanout -X batch.max.records=500
  PROCS+=("$IT_PID")
  it_start persist -X brokers="$1" -X pg.dsn="$(dsn "$2")" -X group.id=${IT_PREFIX}persist
  PROCS+=("$IT_PID")
  it_wait 90 "mirrored $3.$FANOUT on $1" "kcat -L -b $1 -t $3.$FANOUT 2>/dev/null | grep -q 'partition 0'"
  it_start persist -X brokers="$1" -X pg.dsn="$(dsn "$2")" -X group.id=${IT_PREFIX}persist-$3 \
    -X topic.prefix= -X input.topic="$3.$FANOUT" -X dlq.topic="${IT_PREFIX}chat.dlq"
  PROCS+=("$IT_PID")
}
region_procs "$A" "$DB_A" b
region_procs "$B" "$DB_B" a

# One gateway per region delivering its own fan-out and the other region's mirrored one,
# and one WebSocket user of the room on each, connected through everything below.
export CHATSTREAM_AUTH_SECRET=it-secret-0123456789abcdef
WS_SENT=40 WS_EXPECT=$(( 10000 + 40 ))
it_start_gateway -X brokers="$A" -X topic.prefix="$IT_PREFIX" -X pg.dsn="$(dsn "$DB_A")" \
  -X fanout.remote.topics="b.$FANOUT"
GW_A=$IT_GW
it_start_gateway -X brokers="$B" -X topic.prefix="$IT_PREFIX" -X pg.dsn="$(dsn "$DB_B")" \
  -X fanout.remote.topics="a.$FANOUT"
GW_B=$IT_GW
it_gw_client collect "$GW_A" r0 ana "$WS_EXPECT" 280 "$IT_DIR/ws_a.txt" >"$IT_DIR/ws_a.out" 2>&1 &
WS_PIDS=($!)
it_gw_client collect "$GW_B" r0 bo "$WS_EXPECT" 280 "$IT_DIR/ws_b.txt" >"$IT_DIR/ws_b.out" 2>&1 &
WS_PIDS+=($!)
for g in "$GW_A" "$GW_B"; do
  it_wait 20 "a listener on $g" "[[ \$(it_metric $g chatstream_gateway_connections) -ge 1 ]]"
done
sleep 1

# Latency probes: tail each mirrored topic, stamp every record on arrival.
python3 "$IT_REPO/tests/integration/mirror_probe.py" "$B" "a.$FANOUT" "$IT_DIR/stamps_b.txt" &
IT_PIDS+=($!)
python3 "$IT_REPO/tests/integration/mirror_probe.py" "$A" "b.$FANOUT" "$IT_DIR/stamps_a.txt" &
IT_PIDS+=($!)
sleep 2

# rg_produce <region> <brokers> key=value...: acks=all, acked ids to $IT_DIR/acked_<region>.txt
rg_produce() {
  local r=$1 b=$2; shift 2
  local args=(-X brokers="$b" -X topic.prefix="$IT_PREFIX" -X flush.every=50 -X rooms=1
              -X users=50 -X "acked.file=$IT_DIR/acked_$r.txt")
  for kv in "$@"; do args+=(-X "$kv"); done
  "$IT_BUILD/tools/chatstream-produce" "${args[@]}" 2>>"$IT_DIR/produce_$r.log" \
    || it_fail "producing in region $r failed"
}

dump_views() {
  it_dump "$FANOUT" "$IT_DIR/a_local.tsv"
  IT_BROKERS=$A it_dump "b.$FANOUT" "$IT_DIR/a_remote.tsv"
  IT_BROKERS=$B it_dump "$FANOUT" "$IT_DIR/b_local.tsv"
  IT_BROKERS=$B it_dump "a.$FANOUT" "$IT_DIR/b_remote.tsv"
}
check_views() {
  python3 "$IT_REPO/tests/integration/regions_check.py" views \
    --sent-a "$IT_DIR/acked_a.txt" --sent-b "$IT_DIR/acked_b.txt" \
    --a-local "$IT_DIR/a_local.tsv" --a-remote "$IT_DIR/a_remote.tsv" \
    --b-local "$IT_DIR/b_local.tsv" --b-remote "$IT_DIR/b_remote.tsv"
}
converged() { dump_views; check_views >"$IT_DIR/views.json" 2>/dev/null; }

# 1. Link up: one room, users in both regions, 150 messages/s per region for ~20 s.
: >"$IT_DIR/acked_a.txt"; : >"$IT_DIR/acked_b.txt"
rg_produce a "$A" count=3000 rate=150 run.id=a1 >"$IT_DIR/p_a1.json" &
pa=$!
# and two users of the room sending through their own region's gateway (JWT, WebSocket)
it_gw_client send_paced "$GW_A" r0 ana-sender 20 4 from-a >"$IT_DIR/send_a.out" 2>&1 &
sa=$!
it_gw_client send_paced "$GW_B" r0 bo-sender 20 4 from-b >"$IT_DIR/send_b.out" 2>&1 &
sb=$!
rg_produce b "$B" count=3000 rate=150 run.id=b1 >"$IT_DIR/p_b1.json"
wait "$pa" || it_fail "region a's producer failed"
wait "$sa" || it_fail "WebSocket sends in region a: $(cat "$IT_DIR/send_a.out")"
wait "$sb" || it_fail "WebSocket sends in region b: $(cat "$IT_DIR/send_b.out")"
it_wait 60 "both regions see everything" converged
it_log "link up: $(cat "$IT_DIR/views.json")"
lat_b=$(python3 "$IT_REPO/tests/integration/regions_check.py" latency "$IT_DIR/stamps_b.txt")
lat_a=$(python3 "$IT_REPO/tests/integration/regions_check.py" latency "$IT_DIR/stamps_a.txt")
it_log "MM2 latency (fan-out produce in one region -> readable in the other): a->b $lat_b, b->a $lat_a"

# 2. Cut the link (MirrorMaker killed -9) while both regions are sending, and keep sending.
rg_produce a "$A" count=2000 rate=200 run.id=a2 first=100000 >"$IT_DIR/p_a2.json" &
pa=$!
rg_produce b "$B" count=2000 rate=200 run.id=b2 first=100000 >"$IT_DIR/p_b2.json" &
pb=$!
sleep 3
"$REGIONS" link-cut
sleep 1
dump_views
mirrored_at_cut=$(( $(wc -l <"$IT_DIR/b_remote.tsv") + $(wc -l <"$IT_DIR/a_remote.tsv") ))
it_log "link cut mid-stream with $mirrored_at_cut records mirrored"
wait "$pa" || it_fail "region a's producer failed"
wait "$pb" || it_fail "region b's producer failed"
it_wait 60 "local deliveries during the cut" \
  "[[ \$(IT_BROKERS=$B it_dump $FANOUT $IT_DIR/x.tsv; wc -l <$IT_DIR/x.tsv) -ge 5000 ]]"
dump_views
mirrored_cut=$(( $(wc -l <"$IT_DIR/b_remote.tsv") + $(wc -l <"$IT_DIR/a_remote.tsv") ))
it_assert "nothing crossed while the link was cut" "[[ $mirrored_cut -eq $mirrored_at_cut ]]"
it_assert "the views differ while cut" "! check_views >/dev/null 2>&1"
it_log "during the cut each region delivered its own 2,000 messages; the other region's are pending"

# 3. Restore the link: both sides converge.
t_restore=$(date +%s.%N)
"$REGIONS" link-restore
it_wait 180 "both regions converge" converged
t_conv=$(date +%s.%N)
conv=$(python3 -c "print(round($t_conv - $t_restore, 1))")
views=$(cat "$IT_DIR/views.json")
it_log "converged ${conv} s after the link came back (MirrorMaker's start-up included): $views"

# 4. What the two WebSocket users saw: everything of both regions, once each.
for p in "${WS_PIDS[@]}"; do wait "$p" || it_fail "a WebSocket listener failed"; done
ws=$(python3 "$IT_REPO/tests/integration/regions_check.py" ws --sent-a "$IT_DIR/acked_a.txt" \
       --sent-b "$IT_DIR/acked_b.txt" --ws-a "$IT_DIR/ws_a.txt" --ws-b "$IT_DIR/ws_b.txt" \
       --extra $WS_SENT) || it_fail "WebSocket users' views: $ws"
it_log "WebSocket users, one per region: $ws"
repeats=$(( $(it_metric "$GW_A" chatstream_gateway_fanout_repeats_total) + $(it_metric "$GW_B" chatstream_gateway_fanout_repeats_total) ))
it_log "the gateways dropped $repeats mirrored repeat(s) by id"
it_assert "gateway a read the mirrored topic" \
  "[[ \$(it_metric $GW_A 'chatstream_gateway_fanout_records_total\{source=\"remote\"') -ge 5020 ]]"

# 5. History complete in both regions' databases.
total=$(( $(wc -l <"$IT_DIR/acked_a.txt") + $(wc -l <"$IT_DIR/acked_b.txt") ))
it_assert_eq "$total" 10000 "acked messages, both regions"
stored=$(( total + WS_SENT ))
it_wait 120 "region a stored everything" "[[ \$(rows $DB_A) -ge $stored ]]"
it_wait 120 "region b stored everything" "[[ \$(rows $DB_B) -ge $stored ]]"
for db in "$DB_A" "$DB_B"; do
  it_assert_eq "$(it_psql -d "$db" -tAc 'SELECT count(DISTINCT id) FROM messages')" "$stored" "distinct ids in $db"
  it_assert_eq "$(rows "$db")" "$stored" "rows in $db"
done
dups_removed=$(python3 -c 'import json,sys; v=json.loads(sys.argv[1]); print(v["a"]["mirrored_duplicates_removed"]+v["b"]["mirrored_duplicates_removed"])' "$views")
it_log "RESULT two regions: $total messages, lost 0, shown twice 0 (MM2 repeated $dups_removed," \
  "removed by id); MM2 latency a->b $lat_b, b->a $lat_a; converged ${conv} s after the link was restored;" \
  "WebSocket users, one per region: $ws"
for p in "${PROCS[@]}"; do
  it_stop "$p"
  it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"
done
