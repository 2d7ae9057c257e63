#!/usr/bin/env bash
# chatstream-persist's MongoDB sink against a real MongoDB-wire-protocol server (FerretDB,
# started by scripts/ferretdb.sh): the same exactly-once checks as PostgreSQL.
#   20,000 produced -> 20,000 documents; replayed by a new group -> still 20,000, every write a
#   duplicate; client retries (same user + cmid, new id) stored once; kill -9 mid-stream and
#   a restart -> exactly the messages produced; SIGTERM -> exit 0, nothing left uncommitted.
. "$(dirname "$0")/lib.sh"
it_setup persist_mongo_exactly_once
CS_MONGO_PORT=${CS_MONGO_PORT:-17017}
MONGO_URI="mongodb://127.0.0.1:$CS_MONGO_PORT/"
docs() { "$IT_BUILD/tests/integration/mongo-count" "$MONGO_URI" "$IT_DB" messages 2>/dev/null || echo -1; }
mongo() { it_start persist -X sink=mongodb -X mongo.uri="$MONGO_URI" -X mongo.database="$IT_DB" "$@"; }
N=20000

it_produce count=$N users=1000 rooms=200 >/dev/null
mongo -X group.id=${IT_PREFIX}a
admin=$IT_ADMIN
it_wait 180 "$N documents" '[[ $(docs) -ge $N ]]'
it_wait 60 "committed lag 0" '[[ $(it_group_lag ${IT_PREFIX}a) -eq 0 ]]'
it_assert_eq "$(docs)" $N "documents after the first pass"
it_assert_eq "$(it_metric "$admin" 'chatstream_db_rows_written_total\{sink="mongodb"')" $N "documents written"
it_stop "$IT_PID"
it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"

mongo -X group.id=${IT_PREFIX}replay
admin=$IT_ADMIN
it_wait 300 "replay consumed" '[[ $(it_metric "$admin" chatstream_records_processed_total) -ge $N ]]'
it_assert_eq "$(docs)" $N "documents after replaying every record"
it_assert_eq "$(it_metric "$admin" 'chatstream_db_rows_duplicate_total\{sink="mongodb"')" $N "duplicates seen on replay"
it_assert_eq "$(it_metric "$admin" 'chatstream_db_rows_written_total\{sink="mongodb"')" 0 "documents written on replay"

# Client retries: every 10th message repeats the previous one's (user, cmid) under a new id.
out=$(it_produce count=1000 users=1000 rooms=200 dup.every=10 run.id=retry first=$N)
retries=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_retries"])' "$out")
want=$((N + 1000 - retries))
it_wait 120 "documents with retries" "[[ \$(docs) -ge $want ]]"
it_wait 60 "committed lag 0" '[[ $(it_group_lag ${IT_PREFIX}replay) -eq 0 ]]'
it_assert_eq "$(docs)" $want "documents: each client retry stored once ($retries retries)"
it_stop "$IT_PID"
it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"

# kill -9 in the middle, restart: exactly what was produced. Three times N, so that the
# kill lands mid-stream even when counting documents is slow on a busy machine.
K=$((3 * N))
it_produce count=$K users=1000 rooms=200 run.id=k first=$((N + 1000)) >/dev/null
want=$((want + K))
mongo -X group.id=${IT_PREFIX}replay -X batch.max.records=200
it_wait 120 "some documents" "[[ \$(docs) -ge $((want - K + 1000)) ]]"
it_stop "$IT_PID" KILL
killed_at=$(docs)
lag_at_kill=$(it_group_lag ${IT_PREFIX}replay)
it_log "killed with $killed_at documents; committed lag $lag_at_kill"
it_assert "killed with work left or uncommitted" "[[ $killed_at -lt $want || $lag_at_kill -gt 0 ]]"
mongo -X group.id=${IT_PREFIX}replay -X batch.max.records=200
admin=$IT_ADMIN
it_wait 300 "all documents" "[[ \$(docs) -ge $want ]]"
it_wait 120 "committed lag 0" '[[ $(it_group_lag ${IT_PREFIX}replay) -eq 0 ]]'
it_assert_eq "$(docs)" $want "documents after kill -9 and restart"
it_log "the restarted instance re-wrote $(it_metric "$admin" 'chatstream_db_rows_duplicate_total\{sink="mongodb"') already-stored messages"
it_stop "$IT_PID"
it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"
