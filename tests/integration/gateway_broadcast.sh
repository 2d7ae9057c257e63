#!/usr/bin/env bash
# gateway_broadcast: two gateways, six clients spread over them in one room, 20 sends each
# -> every client receives all 120 exactly once, all in the same order, every send acked;
# and the 120 are in PostgreSQL (persist) with the ids the senders were given.
. "$(dirname "$0")/lib.sh"
it_setup gateway_broadcast
export CHATSTREAM_AUTH_SECRET=it-secret-0123456789abcdef
it_start fanout -X group.id=${IT_PREFIX}fanout
it_start persist -X group.id=${IT_PREFIX}persist
it_start_gateway -X rate.per.user=100 -X rate.burst=100
gw1=$IT_GW gp1=$IT_PID
it_start_gateway -X rate.per.user=100 -X rate.burst=100
gw2=$IT_GW gp2=$IT_PID
out=$(it_gw_client broadcast "$gw1,$gw2" math-101 6 20) || it_fail "$out"
printf '%s\n' "$out" | grep '^ok:' >&2
it_wait 60 "120 rows" '[[ $(it_rows) -ge 120 ]]'
it_assert_eq "$(it_rows)" 120 "rows in PostgreSQL"
ids=$(printf '%s\n' "$out" | tail -1 | /usr/bin/python3 -c 'import json,sys; print(",".join(json.load(sys.stdin)["order"]))')
stored=$(it_psql -d "$IT_DB" -tAc "SELECT count(*) FROM messages WHERE id::text = ANY(string_to_array('$ids', ','))")
it_assert_eq "$stored" 120 "delivered ids found in PostgreSQL"
it_assert_eq "$(it_metric "$gw1" chatstream_gateway_messages_acked_total) $(it_metric "$gw2" chatstream_gateway_messages_acked_total)" \
  "60 60" "acks per gateway (3 senders each)"
for p in $gp1 $gp2; do
  it_stop "$p"
  it_assert_eq "$IT_RC" 0 "gateway exit status after SIGTERM"
done
