#!/usr/bin/env bash
# kill -9 of two brokers of three under load, for 20 s, then both come back. With
# min.insync.replicas=2 and acks=all nothing can be acked while they are gone: the
# producer (a gateway's stand-in, message.timeout.ms=5000) must get clear errors — each
# failed batch is counted by reason — and never an ack it should not have. A real gateway
# on the cluster with a WebSocket client sending through the outage: the client is told
# `unavailable` (with retry_after_ms), retries with the same cmid, and every one of its
# messages is acked in the end and stored once. When the brokers return, producing,
# persist and fan-out resume by themselves: every acked message is stored and fanned out
# exactly once. Prints the recovery time.
. "$(dirname "$0")/cluster_lib.sh"
cl_setup cluster_two_brokers "${CL_BASE_PORT:-29300}"

it_start persist -X group.id=${IT_PREFIX}persist -X batch.max.records=1000; p1=$IT_PID
it_start fanout -X group.id=${IT_PREFIX}fanout -X batch.max.records=1000; f1=$IT_PID

export CHATSTREAM_AUTH_SECRET=it-secret-0123456789abcdef
it_start_gateway -X rate.per.user=1000 -X rate.burst=1000 -X produce.timeout.ms=4000 -X retry.after.ms=500
gw=$IT_GW gp=$IT_PID
WS_N=40

cl_produce count=20000 rate=500 users=500 rooms=100 run.id=c kafka.message.timeout.ms=5000
cl_sampler_start
it_wait 180 "4,000 acked" '[[ $(cl_acked) -ge 4000 ]]'

leader=$(cl_cluster status | awk '/^LeaderId:/ {print $2}')
[[ -n $leader ]] || leader=1
down=()
for n in 1 2 3; do [[ $n == "$leader" ]] || down+=("$n"); done
t_down=$(date +%s.%N)
cl_cluster broker-kill "${down[@]}"
it_gw_client send_through_outage "$gw" ws-room $WS_N "$IT_DIR/ws_acked.txt" >"$IT_DIR/ws_client.log" 2>&1 &
ws=$!
sleep 2   # what was in flight at the kill may still be acked
acked_down=$(cl_acked)
it_log "killed nodes ${down[*]}; node $leader alone (no quorum), $acked_down acked"
sleep 18
acked_outage=$(cl_acked)
errors=$(grep -c "not acked" "$IT_DIR/produce.log" || true)
it_log "during the outage: $((acked_outage - acked_down)) acked, $errors failed batches on stderr:"
grep "not acked" "$IT_DIR/produce.log" | head -3 >&2 || true
it_assert "nothing acked while two brokers are down" '[[ $acked_outage -eq $acked_down ]]'
it_assert "the producer got errors, not silence" '[[ $errors -ge 1 ]]'

t_up=$(date +%s.%N)
cl_cluster broker-start "${down[@]}"
t_started=$(date +%s.%N)
it_wait 120 "acks again" "[[ \$(cl_acked) -gt $acked_outage ]]"
t_acks=$(date +%s.%N)

wait "$ws" || it_fail "WebSocket client: $(cat "$IT_DIR/ws_client.log")"
sed 's/^/  /' "$IT_DIR/ws_client.log" | grep ok >&2
it_assert "the gateway answered unavailable during the outage" \
  "[[ \$(it_metric $gw chatstream_gateway_unavailable_total) -gt 0 ]]"
cl_produce_wait
t_end=$(date +%s)
it_wait 120 "persist lag 0" '[[ $(it_group_lag ${IT_PREFIX}persist) -eq 0 ]]'
it_wait 120 "fanout lag 0" '[[ $(it_group_lag ${IT_PREFIX}fanout) -eq 0 ]]'
drain=$(( $(date +%s) - t_end ))
not_acked=$(it_json "$CL_RESULT" not_acked)
it_assert "sends failed during the outage" '[[ $not_acked -gt 0 ]]'
cl_check fanout
it_assert_eq "$(it_psql -d "$IT_DB" -tAc "SELECT count(*) || ' ' || count(DISTINCT client_msg_id) FROM messages WHERE user_id = 'steady'")" \
  "$WS_N $WS_N" "the WebSocket client's messages stored, each once"
secs() { python3 -c "print(round($1 - $2, 1))"; }
it_log "RESULT two brokers down: acked $(it_json "$CL_RESULT" acked), not acked $not_acked" \
  "($(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["failures"])' "$CL_RESULT")), lost 0, duplicated 0;" \
  "brokers restarted in $(secs "$t_started" "$t_up") s, first ack $(secs "$t_acks" "$t_up") s after the restart began" \
  "($(secs "$t_acks" "$t_started") s after both answered), outage seen by producers $(secs "$t_acks" "$t_down") s," \
  "lag drained ${drain} s after the last send"
for p in "$p1" "$f1" "$gp"; do
  it_stop "$p"
  it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"
done
