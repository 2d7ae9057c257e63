#!/usr/bin/env bash
# fan-out at-least-once (transactions=false) whose output cannot be written: its input
# offsets must not move (an offset committed ahead of an undelivered output is a message
# lost for good), the batch is retried, and once the output topic exists every message
# gets there. The output topic is simply missing at first (the broker does not create
# topics): every delivery report fails, which the processor must notice and not commit past.
. "$(dirname "$0")/lib.sh"
it_setup fanout_output_down
out=${IT_PREFIX}chat.fanout.late

it_produce count=500 users=50 rooms=10 run.id=d >/dev/null
it_start fanout -X group.id=${IT_PREFIX}g -X transactions=false -X output.topic=chat.fanout.late \
  -X kafka.producer.message.timeout.ms=1500 -X kafka.auto.commit.interval.ms=200
admin=$IT_ADMIN pid=$IT_PID
it_wait 60 "the batch failed twice" \
  "[[ \$(it_metric $admin chatstream_batch_retries_total) -ge 2 ]]"
sleep 1  # several auto-commit intervals: anything stored would have been committed by now
it_assert_eq "$(it_group_lag ${IT_PREFIX}g)" 500 "committed lag while the output is missing"
it_assert_eq "$(it_metric $admin chatstream_fanout_records_in_total)" 0 \
  "records counted as fanned out while the output is missing"
grep -q "delivery of the batch's outputs" "$IT_DIR"/fanout-*.log \
  || it_fail "the log does not say the outputs were not delivered"

"$IT_BUILD/tools/chatstream-admin" -b "$IT_BROKERS" create-topic "$out" 12 "${IT_REPLICAS:-1}" \
  >/dev/null || it_fail "could not create $out"
it_log "created $out after $(it_metric $admin chatstream_batch_retries_total) retries"
it_wait 60 "committed lag 0" '[[ $(it_group_lag ${IT_PREFIX}g) -eq 0 ]]'
it_dump "${IT_PREFIX}chat.messages" "$IT_DIR/in.tsv"
it_dump "$out" "$IT_DIR/out.tsv"
res=$(python3 "$IT_REPO/tests/integration/fanout_check.py" "$IT_DIR/in.tsv" "$IT_DIR/out.tsv" \
      --expect 500 --allow-repeats) || it_fail "$out: $res"
it_log "ok: every message reached $out: $res"
it_stop "$pid"
it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"
