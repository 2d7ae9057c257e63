#!/usr/bin/env bash
# 100,000 messages produced -> exactly 100,000 rows; the same records replayed by a
# second consumer group -> still 100,000; SIGTERM -> exit 0 with nothing left uncommitted.
. "$(dirname "$0")/lib.sh"
it_setup persist_exactly_once

it_produce count=100000 users=1000 rooms=200
it_start persist -X group.id=${IT_PREFIX}a
first=$IT_PID; admin=$IT_ADMIN
it_wait 180 "100,000 rows" '[[ $(it_rows) -ge 100000 ]]'
it_wait 60 "committed lag 0" '[[ $(it_group_lag ${IT_PREFIX}a) -eq 0 ]]'
it_assert_eq "$(it_rows)" 100000 "rows after the first pass"
it_assert_eq "$(it_metric "$admin" 'chatstream_records_processed_total')" 100000 "records processed"
it_stop "$first"
it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"

# Replay: a new group reads the topic from the beginning; every write is a duplicate.
it_start persist -X group.id=${IT_PREFIX}replay
replay=$IT_PID; admin=$IT_ADMIN
it_wait 180 "replay consumed" '[[ $(it_metric "$admin" chatstream_records_processed_total) -ge 100000 ]]'
it_assert_eq "$(it_rows)" 100000 "rows after replaying all records"
it_assert_eq "$(it_metric "$admin" 'chatstream_db_rows_duplicate_total')" 100000 "duplicates seen on replay"
it_assert_eq "$(it_metric "$admin" 'chatstream_db_rows_written_total')" 0 "rows written on replay"
it_stop "$replay"
it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"
it_assert_eq "$(it_group_lag ${IT_PREFIX}replay)" 0 "committed lag after graceful stop"
