#!/usr/bin/env bash
# gateway_rebalance_resume: a rebalance of the gateway's fan-out consumer (here: another
# region's mirrored topic appearing, which a subscription picks up) takes its partitions
# and gives them back; they go on where they stopped, so what fan-out wrote in between is
# pushed to the clients still connected. Before, they started again from the end: the
# records of those moments went into the recent records only, and a member who stayed in
# the room never saw them.
# 4,000 messages to one room at 1,000/s from chatstream-produce (fan-out at-least-once with
# a 5 ms linger, so records land continuously); Nia, in the room on the gateway the whole
# time, must get every one, once, while three mirrored topics appear 1, 2 and 3 s in (three
# rebalances).
. "$(dirname "$0")/lib.sh"
it_setup gateway_rebalance_resume
export CHATSTREAM_AUTH_SECRET=it-secret-0123456789abcdef
mirrors="${IT_PREFIX}east.chat.fanout ${IT_PREFIX}west.chat.fanout ${IT_PREFIX}north.chat.fanout"
it_start fanout -X group.id=${IT_PREFIX}fanout -X transactions=false -X batch.linger.ms=5
it_start_gateway -X fanout.remote.topics="${mirrors// /,}" \
  -X kafka.consumer.topic.metadata.refresh.interval.ms=500
gw=$IT_GW glog="$IT_DIR/gateway-$((${#IT_PIDS[@]} - 1)).log"
# the room's messages, from the first; Nia joins before any is sent
it_gw_client collect "$gw" r0 nia 4000 60 "$IT_DIR/nia.ids" >"$IT_DIR/nia.out" 2>&1 &
nia=$!
it_wait 10 "Nia in the room" "[[ \$(it_metric $gw chatstream_gateway_rooms) -ge 1 ]]"
it_produce count=4000 users=20 rooms=1 rate=1000 run.id=rr >"$IT_DIR/produce.json" &
producer=$!
for mirror in $mirrors; do
  sleep 1
  "$IT_BUILD/tools/chatstream-admin" -b "$IT_BROKERS" create-topic "$mirror" 2 1 >/dev/null \
    || it_fail "cannot create $mirror"
done
wait "$producer" || it_fail "chatstream-produce failed"
it_wait 20 "the rebalances" "[[ \$(grep -c 'go on where the rebalance took them' '$glog') -ge 3 ]]"
wait "$nia" || { cat "$IT_DIR/nia.out" >&2; it_fail "Nia's client failed"; }
it_assert "the gateway reads the three mirrored topics now" "grep -q 'reading 18 partition' '$glog'"
it_assert_eq "$(grep -c . "$IT_DIR/nia.ids" || true)" 4000 \
  "Nia got all 4,000 live through the rebalances"
it_assert_eq "$(sort -u "$IT_DIR/nia.ids" | grep -c .)" 4000 "...each once"
it_assert_eq "$(it_metric "$gw" chatstream_gateway_fanout_backfilled_total)" 0 \
  "nothing read again into the recent records only"
it_stop "$IT_PID"
it_assert_eq "$IT_RC" 0 "gateway exit status after SIGTERM"
it_log "ok"
