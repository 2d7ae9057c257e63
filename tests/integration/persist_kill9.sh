#!/usr/bin/env bash
# kill -9 of persist in the middle of 100,000 messages, then a restart: exactly 100,000 rows.
# (What was written but not yet committed is written again, and the writes are idempotent.)
. "$(dirname "$0")/lib.sh"
it_setup persist_kill9

it_produce count=100000 users=1000 rooms=200
# Small batches so the kill lands between many transactions and commits.
it_start persist -X group.id=${IT_PREFIX}g -X batch.max.records=500
it_wait 120 "some rows written" '[[ $(it_rows) -ge 20000 ]]'
it_stop "$IT_PID" KILL
killed_at=$(it_rows)
it_log "killed with $killed_at rows written; committed lag $(it_group_lag ${IT_PREFIX}g)"
it_assert "killed mid-stream" '[[ $killed_at -lt 100000 ]]'

it_start persist -X group.id=${IT_PREFIX}g -X batch.max.records=500
admin=$IT_ADMIN
it_wait 180 "all rows" '[[ $(it_rows) -ge 100000 ]]'
it_wait 60 "committed lag 0" '[[ $(it_group_lag ${IT_PREFIX}g) -eq 0 ]]'
it_assert_eq "$(it_rows)" 100000 "rows after kill -9 and restart"
it_assert_eq "$(it_psql -d "$IT_DB" -tAc 'SELECT count(DISTINCT id) FROM messages')" 100000 "distinct ids"
dups=$(it_metric "$admin" chatstream_db_rows_duplicate_total)
it_log "the restarted instance re-wrote $dups already-stored messages (uncommitted at the kill)"
it_stop "$IT_PID"
it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"
