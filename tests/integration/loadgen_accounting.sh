#!/usr/bin/env bash
# loadgen_accounting — 200 school users for 10 s through the real pipeline (two gateways
# in the normal JWT auth mode, fan-out, persist, Kafka, PostgreSQL), and chatstream-loadgen's
# own books must balance: every acked send delivered to every member of its room (expected
# = received), nothing lost, nothing twice, nothing out of order, no error, no refused
# connection; and PostgreSQL holds exactly the acked messages.
#
# Rooms of 30 over two gateways, round-robin: every room has members on both, so every
# delivery to half of a room crosses chat.fanout from one gateway to the other.
#
# Then the loadgen's own WebSocket client (tools/loadgen/lg_ws.c) answers pings: 40 idle
# users on a third gateway that pings after 0.6 s of silence and closes (4408) after 1.2 s
# must all stay open for 4 s, having answered pings.
. "$(dirname "$0")/lib.sh"
it_setup loadgen_accounting

USERS=${USERS:-200}
DURATION=${DURATION:-10}
export CHATSTREAM_AUTH_SECRET="it-secret-$$-$RANDOM$RANDOM"
GW=$(find "$IT_BUILD" -type f -name chatstream-gateway -perm -u+x | head -1)
[[ -n $GW ]] || it_fail "chatstream-gateway not built"

it_start fanout -X group.id="${IT_PREFIX}fanout"
it_start persist -X group.id="${IT_PREFIX}persist"
PERSIST_GROUP="${IT_PREFIX}persist"

gws=()
for i in 1 2; do
  port=$(it_free_port)
  "$GW" -X listen.port="$port" -X log.level=warn \
    >"$IT_DIR/gateway-$i.log" 2>&1 &
  IT_PIDS+=("$!")
  gws+=("127.0.0.1:$port")
  it_wait 30 "gateway $i ready" "curl -sf http://127.0.0.1:$port/readyz >/dev/null"
done
GW_LIST=$(IFS=,; echo "${gws[*]}")

rc=0
out=$("$IT_BUILD/tools/loadgen/chatstream-loadgen" -X gateways="$GW_LIST" -X users="$USERS" \
  -X duration="$DURATION" -X drain.seconds=15 -X auth.mode=jwt -X run.id="it$$." --json --check \
  2>"$IT_DIR/loadgen.log") || rc=$?
echo "$out" >"$IT_DIR/loadgen.json"
it_log "loadgen: $out"
[[ -n $out ]] || it_fail "loadgen printed no report (exit $rc)"
j() { it_json "$out" "$1"; }

it_assert_eq "$(j joined)" "$USERS" "users joined"
it_assert_eq "$(j connect_failed)" 0 "connect failures"
it_assert_eq "$(j closed)" 0 "connections closed by the server"
it_assert "at least $((USERS * DURATION / 2)) sends" "(( $(j sends) >= USERS * DURATION / 2 ))"
it_assert_eq "$(j acked)" "$(j sends)" "sends acked"
it_assert_eq "$(j failed)" 0 "sends refused"
it_assert "deliveries expected (acked x members) > 0" "(( $(j expected) > 0 ))"
it_assert_eq "$(j delivered_of_acked)" "$(j expected)" "delivered = expected"
it_assert_eq "$(j delivered)" "$(j expected)" "every delivery was of an acked message"
it_assert_eq "$(j lost)" 0 "lost"
it_assert_eq "$(j duplicates)" 0 "duplicates"
it_assert_eq "$(j out_of_order)" 0 "out of order in a room"
it_assert_eq "$(j sender_order)" 0 "out of a sender's order"
it_assert_eq "$(j unknown)" 0 "unreadable pushes"
it_assert_eq "$(python3 -c 'import json,sys; print(sum(json.loads(sys.argv[1])["errors"].values()))' "$out")" 0 "error frames"
it_assert_eq "$rc" 0 "loadgen --check exit status"

# the gateways' write counters (ws.coalesce.ms at its default, 50 ms): every delivery and
# every ack went out in some write, and no write was empty
gsum() { local t=0 g; for g in "${gws[@]}"; do t=$((t + $(it_metric "$g" "$1"))); done; echo "$t"; }
writes=$(gsum chatstream_gateway_writes_total) frames=$(gsum chatstream_gateway_frames_written_total)
it_log "gateways: $frames frames in $writes writes, $(gsum chatstream_gateway_coalesced_total) flushes held back"
it_assert "frames written ($frames) >= deliveries + acks ($(( $(j delivered) + $(j acked) )))" \
  "(( frames >= $(j delivered) + $(j acked) ))"
it_assert "0 < writes ($writes) <= frames ($frames)" "(( writes > 0 && writes <= frames ))"
# event-loop delay: measured at every drain, from the post that woke the thread (a wrong
# start time, e.g. never set, shows as hours); 200 users barely load a service thread
# (one scrape per gateway for all three numbers: pings keep the loops draining)
pages=$(for g in "${gws[@]}"; do curl -sf "http://$g/metrics"; done)
psum() { awk -v re="^$1" '$1 ~ re { s += $2 } END { printf "%d\n", s }' <<<"$pages"; }
lag_n=$(psum chatstream_gateway_loop_lag_seconds_count)
lag_1s=$(psum 'chatstream_gateway_loop_lag_seconds_bucket[{]le="1"[}]')
lag_10ms=$(psum 'chatstream_gateway_loop_lag_seconds_bucket[{]le="0.01"[}]')
it_log "gateways' loop lag: $lag_n drains, $lag_10ms within 10 ms, $lag_1s within 1 s"
it_assert "drains observed ($lag_n) > 0" "(( lag_n > 0 ))"
it_assert_eq "$lag_1s" "$lag_n" "drains that waited < 1 s"
it_assert "most drains wait < 10 ms ($lag_10ms of $lag_n)" "(( lag_10ms * 10 >= lag_n * 9 ))"

# pings answered: without pongs every idle connection is closed as idle after 1.2 s
port=$(it_free_port)
"$GW" -X listen.port="$port" -X log.level=warn -X idle.timeout.ms=1200 \
  >"$IT_DIR/gateway-idle.log" 2>&1 &
IT_PIDS+=("$!")
it_wait 30 "idle gateway ready" "curl -sf http://127.0.0.1:$port/readyz >/dev/null"
rc=0
idle=$("$IT_BUILD/tools/loadgen/chatstream-loadgen" -X gateways="127.0.0.1:$port" -X users=40 \
  -X scenario=idle -X duration=4 -X idle.settle=0 -X auth.mode=jwt -X run.id="it$$.i." --json \
  2>"$IT_DIR/loadgen-idle.log") || rc=$?
it_log "loadgen idle: $idle"
it_assert_eq "$(it_json "$idle" joined)" 40 "idle users joined"
it_assert_eq "$(it_json "$idle" closed)" 0 "idle connections closed by the server"
it_assert "pings answered (>= 40)" "(( $(it_json "$idle" pings) >= 40 ))"

# persistence: exactly the acked messages, once each
it_wait 60 "persist caught up" '[[ $(it_group_lag "$PERSIST_GROUP") == 0 ]]'
it_assert_eq "$(it_rows)" "$(j acked)" "rows in PostgreSQL = acked sends"

for pid in "${IT_PIDS[@]}"; do it_stop "$pid"; done
it_log "PASS"
