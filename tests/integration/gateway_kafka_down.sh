#!/usr/bin/env bash
# gateway_kafka_down: a client sends 300 messages one after another while Kafka is stopped
# for ~8 s and started again. It is told `unavailable` (with retry_after_ms) meanwhile and
# retries each such message with the same cmid; in the end every one is acked, and
# PostgreSQL holds exactly the 300 cmids (nothing acked lost, retries stored once).
. "$(dirname "$0")/lib.sh"
it_setup gateway_kafka_down
export CHATSTREAM_AUTH_SECRET=it-secret-0123456789abcdef
N=300
it_start fanout -X group.id=${IT_PREFIX}fanout
it_start persist -X group.id=${IT_PREFIX}persist
it_start_gateway -X rate.per.user=1000 -X rate.burst=1000 -X produce.timeout.ms=4000 \
  -X retry.after.ms=500
gw=$IT_GW gp=$IT_PID
it_gw_client send_through_outage "$gw" r1 $N "$IT_DIR/acked.txt" >"$IT_DIR/client.log" 2>&1 &
cl=$!
sleep 2
it_log "stopping Kafka"
"$IT_REPO/scripts/services.sh" kafka-stop >/dev/null 2>&1
it_wait 30 "gateway not ready" "! curl -sf http://$gw/readyz >/dev/null"
it_log "gateway reports not ready: $(curl -s http://$gw/readyz)"
sleep 6
it_log "starting Kafka"
"$IT_REPO/scripts/services.sh" kafka-start >/dev/null 2>&1 || it_fail "Kafka did not restart"
wait $cl || it_fail "client: $(cat "$IT_DIR/client.log")"
grep '^ok' "$IT_DIR/client.log" >&2
it_wait 60 "gateway ready again" "curl -sf http://$gw/readyz >/dev/null"
it_wait 120 "$N rows" "[[ \$(it_rows) -ge $N ]]"
sleep 2
it_assert_eq "$(it_rows)" $N "rows in PostgreSQL"
it_assert_eq "$(it_psql -d "$IT_DB" -tAc "SELECT count(DISTINCT client_msg_id) FROM messages WHERE client_msg_id ~ '^o[0-9]+$'")" \
  $N "distinct cmids stored"
it_assert "unavailable answers counted" \
  "[[ \$(it_metric $gw chatstream_gateway_unavailable_total) -gt 0 ]]"
it_stop "$gp"
it_assert_eq "$IT_RC" 0 "gateway exit status after SIGTERM"
