#!/usr/bin/env bash
# 100,000 sends of which ~14,000 are client retries (same user and cmid, new id) ->
# chat.fanout (read_committed) holds exactly the others, once each, keyed by room, values
# unchanged, each user's messages in order within each room; committed lag 0; SIGTERM -> 0.
. "$(dirname "$0")/lib.sh"
it_setup fanout_exactly_once

out=$(it_produce count=100000 users=1000 rooms=200 dup.every=7)
retries=$(it_json "$out" client_retries)
it_assert "the producer made client retries" '[[ $retries -gt 14000 ]]'
expected=$((100000 - retries))

it_start fanout -X group.id=${IT_PREFIX}g
admin=$IT_ADMIN
it_wait 180 "all input consumed" \
  "[[ \$(it_metric $admin chatstream_fanout_records_in_total) -ge 100000 ]]"
it_wait 60 "committed lag 0" '[[ $(it_group_lag ${IT_PREFIX}g) -eq 0 ]]'
it_fanout_check "$expected"
it_assert_eq "$(it_metric "$admin" chatstream_fanout_records_out_total)" "$expected" "records out"
it_assert_eq "$(it_metric "$admin" chatstream_fanout_retries_dropped_total)" "$retries" "retries dropped"
it_assert_eq "$(it_metric "$admin" 'chatstream_kafka_transactions_total{component="fanout",result="aborted"}')" 0 "aborted transactions"
it_assert "transactions committed" \
  "[[ \$(it_metric $admin 'chatstream_kafka_transactions_total{component=\"fanout\",result=\"committed\"}') -gt 0 ]]"
it_stop "$IT_PID"
it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"
