#!/usr/bin/env bash
# Every connection of a new persist applies the migrations at start-up, at the same moment
# (one thread per connection). On an empty database they must not trip over each other:
# no batch may fail for it (CI once saw "type schema_migrations already exists" fail a
# batch, which the retry then counted as duplicates). Five fresh databases, 8 connections
# each: no retriable database error, every migration recorded once, every row written.
. "$(dirname "$0")/lib.sh"
it_setup persist_migrate_race
migrations=$(find "$IT_REPO/schemas/sql" -name '[0-9]*.sql' | wc -l)
it_produce count=2000 >/dev/null
for i in 1 2 3 4 5; do
  db=${IT_DB}_m$i
  it_create_db "$db"
  it_start persist -X group.id=${IT_PREFIX}g$i -X pg.connections=8 \
    -X pg.dsn="host=127.0.0.1 port=$CS_PG_PORT dbname=$db user=chatstream"
  admin=$IT_ADMIN pid=$IT_PID
  it_wait 60 "rows in $db" "[[ \$(it_psql -d $db -tAc 'SELECT count(*) FROM messages' 2>/dev/null || echo 0) -ge 2000 ]]"
  it_assert_eq "$(it_metric "$admin" 'chatstream_db_errors_total\{sink="postgres",kind="retriable"\}')" 0 \
    "database errors while 8 connections migrated $db"
  it_assert_eq "$(it_psql -d "$db" -tAc 'SELECT count(*) FROM schema_migrations')" "$migrations" \
    "migrations recorded in $db"
  it_stop "$pid"
  it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"
done
