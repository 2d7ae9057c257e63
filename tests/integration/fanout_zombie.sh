#!/usr/bin/env bash
# A zombie: A is frozen (SIGSTOP) in the middle of a stream, B takes its partitions once A's
# session times out, then A wakes up (SIGCONT) with a transaction and a batch in hand (A
# holds each batch's transaction open for 300 ms, test.batch.delay.ms, so the freeze lands
# inside one). A's
# late transaction must not commit (its group generation is fenced; the coordinator has
# aborted its open transaction after transaction.timeout.ms): chat.fanout still holds every
# message exactly once.
. "$(dirname "$0")/lib.sh"
it_setup fanout_zombie

it_produce count=80000 users=1000 rooms=200 dup.every=6 rate=4000 run.id=z \
  >"$IT_DIR/produce.json" 2>"$IT_DIR/produce.log" &
producer=$!
IT_PIDS+=("$producer")
opts=(-X group.id=${IT_PREFIX}g -X batch.max.records=500)
it_start fanout "${opts[@]}" -X test.batch.delay.ms=300; a=$IT_PID; admin_a=$IT_ADMIN
it_wait 30 "A working" "[[ \$(it_metric $admin_a chatstream_fanout_records_in_total) -ge 8000 ]]"
kill -STOP "$a"
it_log "A frozen"
it_start fanout "${opts[@]}"; b=$IT_PID; admin_b=$IT_ADMIN
it_wait 60 "B took over" "[[ \$(it_metric $admin_b chatstream_fanout_records_in_total) -ge 8000 ]]"
kill -CONT "$a"
it_log "A woke up"

wait "$producer" || it_fail "chatstream-produce failed: $(cat "$IT_DIR/produce.log")"
retries=$(it_json "$(cat "$IT_DIR/produce.json")" client_retries)
expected=$((80000 - retries))
it_wait 120 "committed lag 0" '[[ $(it_group_lag ${IT_PREFIX}g) -eq 0 ]]'
it_wait 60 "chat.fanout complete" "[[ \$(it_fanout_count) -ge $expected ]]"
it_fanout_check "$expected"
it_assert "A's late transaction was aborted, not committed" \
  "[[ \$(it_metric $admin_a 'chatstream_kafka_transactions_total{component=\"fanout\",result=\"aborted\"}') -ge 1 ]]"
it_stop "$a"
it_assert_eq "$IT_RC" 0 "A's exit status after SIGTERM"
it_stop "$b"
it_assert_eq "$IT_RC" 0 "B's exit status after SIGTERM"
