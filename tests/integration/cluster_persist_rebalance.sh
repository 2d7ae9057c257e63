#!/usr/bin/env bash
# Persist scales out and in under a steady stream, on the three-broker cluster: A and B
# run, C joins (the group rebalances to three), then A leaves with SIGTERM (it finishes
# its batch, commits, exits 0, and the group rebalances to two). 20,000 messages at a
# steady rate from an acks=all idempotent producer: every acked message is one row, no
# row twice, the committed lag drains to 0. Prints the longest pause in persistence
# around each rebalance and how long the lag took to drain.
. "$(dirname "$0")/cluster_lib.sh"
cl_setup cluster_persist_rebalance 29100

opts=(-X group.id=${IT_PREFIX}persist -X batch.max.records=500)
it_start persist "${opts[@]}"; a=$IT_PID
it_start persist "${opts[@]}"; b=$IT_PID; admin_b=$IT_ADMIN

cl_produce count=20000 rate=500 users=500 rooms=100 run.id=a
cl_sampler_start
it_wait 180 "3,000 rows" '[[ $(it_rows) -ge 3000 ]]'

t_add=$(date +%s.%N)
it_start persist "${opts[@]}"; c=$IT_PID; admin_c=$IT_ADMIN
it_wait 60 "C took partitions" "[[ \$(it_metric $admin_c chatstream_rebalances_total) -ge 1 ]]"
it_log "C joined"
sleep 8
t_remove=$(date +%s.%N)
it_stop "$a"
it_assert_eq "$IT_RC" 0 "A's exit status after SIGTERM (left the group under load)"
sleep 8
t_after=$(date +%s.%N)

cl_produce_wait
t_end=$(date +%s.%N)
it_wait 120 "committed lag 0" '[[ $(it_group_lag ${IT_PREFIX}persist) -eq 0 ]]'
drain=$(python3 -c "print(round($(date +%s.%N) - $t_end, 1))")
it_assert_eq "$(it_json "$CL_RESULT" not_acked)" 0 "sends not acked"
cl_check
it_assert_eq "$(it_rows)" 20000 "rows"
it_assert "B saw both rebalances" "[[ \$(it_metric $admin_b chatstream_rebalances_total) -ge 2 ]]"
it_log "RESULT persist rebalance: acked 20000, rows 20000, lost 0, duplicated 0;" \
  "longest pause in persistence $(cl_stall 1 "$t_add" "$t_remove") s when C joined," \
  "$(cl_stall 1 "$t_remove" "$t_after") s when A left; lag drained ${drain} s after the last send;" \
  "$(it_metric "$admin_c" chatstream_db_rows_duplicate_total) rows re-written by C (idempotent)"
for p in "$b" "$c"; do
  it_stop "$p"
  it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"
done
