#!/usr/bin/env bash
# gateway_rebalance_idle: a partition nothing was read from since it was assigned, taken by
# a rebalance: what lands on it meanwhile is pushed once it is given back. With no record
# read there is no consumed position to go on from; the partition stands where it was
# assigned, at an offset (the end the gateway resolved), so it goes on from there. Before,
# it started afresh: the record went into the recent records only, and the members still
# connected never got it pushed.
# The rebalance is held open for seconds: a second member in the gateway's own group (kcat,
# on a topic of its own) is stopped with SIGSTOP, so when a mirrored topic appears the group
# waits for it until its 6 s session runs out. Nia in r0 on the gateway the whole time; one
# message to r0 inside that wait, on a partition that had nothing since its assignment.
. "$(dirname "$0")/lib.sh"
it_setup gateway_rebalance_idle
export CHATSTREAM_AUTH_SECRET=it-secret-0123456789abcdef
mirror=${IT_PREFIX}east.chat.fanout other=${IT_PREFIX}other
"$IT_BUILD/tools/chatstream-admin" -b "$IT_BROKERS" create-topic "$other" 1 1 >/dev/null \
  || it_fail "cannot create $other"
it_start fanout -X group.id=${IT_PREFIX}fanout -X transactions=false -X batch.linger.ms=5
it_start_gateway -X fanout.remote.topics="$mirror" \
  -X kafka.consumer.topic.metadata.refresh.interval.ms=500
gw=$IT_GW gpid=$IT_PID glog="$IT_DIR/gateway-$((${#IT_PIDS[@]} - 1)).log"
group=$(sed -n 's/.*reading the fan-out as consumer group \([^"]*\)".*/\1/p' "$glog")
[[ -n $group ]] || it_fail "the gateway did not log its consumer group"
it_gw_client collect "$gw" r0 nia 1 60 "$IT_DIR/nia.ids" >"$IT_DIR/nia.out" 2>&1 &
nia=$!
it_wait 10 "Nia in the room" "[[ \$(it_metric $gw chatstream_gateway_rooms) -ge 1 ]]"
# the gateway's assigned partitions (a series each): 12, none in a rebalance, 14 after it
assigned() {
  curl -sf "http://$gw/metrics" | grep -c '^chatstream_consumer_not_fetching_seconds{' || true
}
kcat -C -q -b "$IT_BROKERS" -G "$group" "$other" -X session.timeout.ms=6000 \
  -X heartbeat.interval.ms=500 >/dev/null 2>"$IT_DIR/member.log" &
member=$!
IT_PIDS+=("$member")
# its join is a rebalance of the gateway too: the 12 partitions assigned a second time
it_wait 20 "the gateway's partitions back after the member joined" \
  "[[ \$(grep -c 'reading 12 partition' '$glog') -ge 2 && \$(assigned) -eq 12 ]]"
kill -STOP "$member"
"$IT_BUILD/tools/chatstream-admin" -b "$IT_BROKERS" create-topic "$mirror" 2 1 >/dev/null \
  || it_fail "cannot create $mirror"
it_wait 10 "the rebalance to take the partitions" '[[ $(assigned) -eq 0 ]]'
it_produce count=1 users=1 rooms=1 run.id=idle >"$IT_DIR/produce.json"
t0=$SECONDS
it_wait 30 "the partitions given back" '[[ $(assigned) -eq 14 ]]'
it_log "the rebalance took $((SECONDS - t0)) s after the message"
kill -CONT "$member"
wait "$nia" || { cat "$IT_DIR/nia.out" >&2; it_fail "Nia's client failed"; }
it_assert_eq "$(grep -c . "$IT_DIR/nia.ids" || true)" 1 \
  "Nia got the message sent while the rebalance held the partitions"
it_assert_eq "$(it_metric "$gw" chatstream_gateway_fanout_backfilled_total)" 0 \
  "nothing read into the recent records alone"
it_stop "$gpid"
it_assert_eq "$IT_RC" 0 "gateway exit status after SIGTERM"
it_log "ok"
