#!/usr/bin/env bash
# A client retrying a send (same user and client message id, new message id) is stored once.
. "$(dirname "$0")/lib.sh"
it_setup persist_client_retries

out=$(it_produce count=10000 dup.every=3)
retries=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_retries"])' "$out")
it_assert "the producer made retries" '[[ $retries -gt 3000 ]]'
it_start persist -X group.id=${IT_PREFIX}g
admin=$IT_ADMIN
expected=$((10000 - retries))
it_wait 60 "rows" "[[ \$(it_rows) -ge $expected ]]"
it_wait 60 "committed lag 0" '[[ $(it_group_lag ${IT_PREFIX}g) -eq 0 ]]'
it_assert_eq "$(it_rows)" "$expected" "rows = messages - client retries"
it_assert_eq "$(it_metric "$admin" chatstream_db_rows_duplicate_total)" "$retries" "retries counted as duplicates"
it_assert_eq "$(it_psql -d "$IT_DB" -tAc 'SELECT count(*) FROM (SELECT user_id, client_msg_id FROM messages GROUP BY 1, 2 HAVING count(*) > 1) d')" 0 "no (user, cmid) stored twice"
it_stop "$IT_PID"
it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"
