#!/usr/bin/env bash
# kill -9 of fan-out twice while messages (with client retries) keep arriving, then a clean
# run to the end: chat.fanout (read_committed) holds every message exactly once, no
# duplicate ids, no client retry. The first restart uses a new transactional id (the
# coordinator aborts the dead instance's open transaction after transaction.timeout.ms);
# the second reuses the killed instance's id (its open transaction is aborted at once).
. "$(dirname "$0")/lib.sh"
it_setup fanout_kill9

it_produce count=120000 users=1000 rooms=200 dup.every=5 rate=8000 run.id=k \
  >"$IT_DIR/produce.json" 2>"$IT_DIR/produce.log" &
producer=$!
IT_PIDS+=("$producer")
sleep 1

it_start fanout -X group.id=${IT_PREFIX}g -X batch.max.records=500
a=$IT_PID; admin=$IT_ADMIN
it_wait 60 "A committed 20,000" "[[ \$(it_metric $admin chatstream_fanout_records_in_total) -ge 20000 ]]"
it_stop "$a" KILL
it_log "A killed after $(it_fanout_count) records visible in chat.fanout"

it_start fanout -X group.id=${IT_PREFIX}g -X batch.max.records=500 -X transactional.id=${IT_PREFIX}b
b=$IT_PID; admin=$IT_ADMIN
it_wait 90 "B committed 20,000" "[[ \$(it_metric $admin chatstream_fanout_records_in_total) -ge 20000 ]]"
it_stop "$b" KILL
it_log "B killed after $(it_fanout_count) records visible in chat.fanout"

it_start fanout -X group.id=${IT_PREFIX}g -X batch.max.records=500 -X transactional.id=${IT_PREFIX}b
c=$IT_PID; admin=$IT_ADMIN
wait "$producer" || it_fail "chatstream-produce failed: $(cat "$IT_DIR/produce.log")"
retries=$(it_json "$(cat "$IT_DIR/produce.json")" client_retries)
expected=$((120000 - retries))
it_wait 120 "committed lag 0" '[[ $(it_group_lag ${IT_PREFIX}g) -eq 0 ]]'
it_wait 60 "chat.fanout complete" "[[ \$(it_fanout_count) -ge $expected ]]"
it_fanout_check "$expected"
it_log "C re-read $(it_metric "$admin" chatstream_fanout_window_rebuild_records_total) records to rebuild its retry windows"
it_stop "$c"
it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"
