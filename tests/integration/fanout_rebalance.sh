#!/usr/bin/env bash
# Rebalances under load: while 150,000 messages (with client retries) arrive over ~19 s,
# A starts, B joins, C joins, A leaves (SIGTERM), B is killed (-9); C runs to the end.
# chat.fanout (read_committed): every message exactly once, no retry, rooms in order.
. "$(dirname "$0")/lib.sh"
it_setup fanout_rebalance

it_produce count=150000 users=2000 rooms=300 dup.every=9 rate=8000 run.id=r \
  >"$IT_DIR/produce.json" 2>"$IT_DIR/produce.log" &
producer=$!
IT_PIDS+=("$producer")

opts=(-X group.id=${IT_PREFIX}g -X batch.max.records=1000)
it_start fanout "${opts[@]}"; a=$IT_PID; admin_a=$IT_ADMIN
it_wait 30 "A working" "[[ \$(it_metric $admin_a chatstream_fanout_records_in_total) -gt 5000 ]]"
it_start fanout "${opts[@]}"; b=$IT_PID; admin_b=$IT_ADMIN
it_wait 30 "B working" "[[ \$(it_metric $admin_b chatstream_fanout_records_in_total) -gt 5000 ]]"
it_start fanout "${opts[@]}"; c=$IT_PID; admin_c=$IT_ADMIN
it_wait 30 "C working" "[[ \$(it_metric $admin_c chatstream_fanout_records_in_total) -gt 5000 ]]"
it_stop "$a"
it_assert_eq "$IT_RC" 0 "A's exit status after SIGTERM (left the group under load)"
sleep 2
it_stop "$b" KILL
it_log "B killed; C takes its partitions after the session timeout"

wait "$producer" || it_fail "chatstream-produce failed: $(cat "$IT_DIR/produce.log")"
retries=$(it_json "$(cat "$IT_DIR/produce.json")" client_retries)
expected=$((150000 - retries))
it_wait 120 "committed lag 0" '[[ $(it_group_lag ${IT_PREFIX}g) -eq 0 ]]'
it_wait 60 "chat.fanout complete" "[[ \$(it_fanout_count) -ge $expected ]]"
it_fanout_check "$expected"
it_assert "C saw rebalances" "[[ \$(it_metric $admin_c chatstream_rebalances_total) -ge 2 ]]"
it_assert "C rebuilt the retry windows of partitions it took over" \
  "[[ \$(it_metric $admin_c chatstream_fanout_window_rebuilds_total) -ge 1 ]]"
it_stop "$c"
it_assert_eq "$IT_RC" 0 "C's exit status after SIGTERM"
