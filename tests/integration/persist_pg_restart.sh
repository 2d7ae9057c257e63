#!/usr/bin/env bash
# PostgreSQL restarted while persist is consuming a stream: persist pauses, retries with
# backoff, catches up; exactly 100,000 rows and the lag drains.
. "$(dirname "$0")/lib.sh"
it_setup persist_pg_restart

it_start persist -X group.id=${IT_PREFIX}g -X retry.backoff.max.ms=1000
admin=$IT_ADMIN
# A stream over ~10 s, so PostgreSQL goes away while records keep arriving.
it_produce count=100000 users=1000 rooms=200 rate=10000 >"$IT_DIR/produce.json" &
producer=$!
it_wait 60 "persist writing" '[[ $(it_rows) -ge 10000 ]]'
"$IT_REPO/scripts/services.sh" pg-stop
it_log "postgresql stopped; stream continues"
sleep 4
it_assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://$admin/readyz")" 503 "/readyz while the database is down"
it_assert "persist paused while the database is down" \
  '[[ $(it_metric "$admin" chatstream_consumer_paused) -eq 1 ]]'
"$IT_REPO/scripts/services.sh" pg-start
it_log "postgresql started again"
wait "$producer" || it_fail "producer failed"
it_wait 180 "all rows" '[[ $(it_rows) -ge 100000 ]]'
it_wait 60 "committed lag 0" '[[ $(it_group_lag ${IT_PREFIX}g) -eq 0 ]]'
it_assert_eq "$(it_rows)" 100000 "rows after the database restart"
it_assert "retries were made" '[[ $(it_metric "$admin" chatstream_batch_retries_total) -ge 1 ]]'
it_assert_eq "$(it_metric "$admin" chatstream_consumer_paused)" 0 "paused gauge after recovery"
it_wait 30 "lag gauge drained" '[[ $(it_metric "$admin" chatstream_consumer_lag) -eq 0 ]]'
it_assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://$admin/readyz")" 200 "/readyz after recovery"
it_stop "$IT_PID"
it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"
