#!/usr/bin/env bash
# Client retries across a restart: 20,000 messages go through fan-out, which stops; clients
# then retry all of them (same user and cmid, new ids) among 5,000 new messages. A new
# fan-out process rebuilds its retry windows from chat.messages and drops every retry.
# Control: the same again with dedupe.rebuild=false lets the retries through (the gap this
# design closes), so the test can tell the difference.
. "$(dirname "$0")/lib.sh"
it_setup fanout_restart_rebuild

it_produce count=20000 users=500 rooms=100 run.id=a >/dev/null
it_start fanout -X group.id=${IT_PREFIX}g
admin=$IT_ADMIN
it_wait 60 "first 20,000" "[[ \$(it_metric $admin chatstream_fanout_records_in_total) -ge 20000 ]]"
it_stop "$IT_PID"
it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"

it_produce count=20000 users=500 rooms=100 run.id=a >/dev/null       # the same (user, cmid) pairs
it_produce count=5000 users=500 rooms=100 run.id=b >/dev/null        # new messages
it_start fanout -X group.id=${IT_PREFIX}g
admin=$IT_ADMIN
it_wait 60 "25,000 more" "[[ \$(it_metric $admin chatstream_fanout_records_in_total) -ge 25000 ]]"
it_assert_eq "$(it_metric "$admin" chatstream_fanout_retries_dropped_total)" 20000 "retries across the restart dropped"
it_assert_eq "$(it_metric "$admin" chatstream_fanout_records_out_total)" 5000 "new messages out"
it_assert "windows were rebuilt from the input" \
  "[[ \$(it_metric $admin chatstream_fanout_window_rebuild_records_total) -ge 20000 ]]"
it_stop "$IT_PID"
it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"
it_fanout_check 25000

# Control: without the rebuild, retries of messages from before the restart get through.
it_produce count=3000 users=500 rooms=100 run.id=a >/dev/null
it_start fanout -X group.id=${IT_PREFIX}g -X dedupe.rebuild=false
admin=$IT_ADMIN
it_wait 60 "3,000 more" "[[ \$(it_metric $admin chatstream_fanout_records_in_total) -ge 3000 ]]"
it_assert_eq "$(it_metric "$admin" chatstream_fanout_retries_dropped_total)" 0 "retries dropped without a rebuild"
it_assert_eq "$(it_metric "$admin" chatstream_fanout_records_out_total)" 3000 "retries let through without a rebuild"
it_stop "$IT_PID"
it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"
