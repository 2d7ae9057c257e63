#!/usr/bin/env bash
# kill -9 of embed and of index in the middle of their work, then restarts: nothing lost
# (every message has its vector and its point), no duplicate points (point id = message
# id), and chat.vectors may hold a few repeats (at-least-once) but no message is missing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/semantic_lib.sh"
it_setup semantic_kill9
N=20000

sem_qdrant_start 2
it_produce count=$N users=1000 rooms=50 >/dev/null
it_start embed -X group.id=${IT_PREFIX}embed -X batch.max.records=300
embed=$IT_PID
it_start index -X group.id=${IT_PREFIX}index -X qdrant.urls="$QD_URLS" -X batch.max.records=300 \
  -X qdrant.upsert.points=100
index=$IT_PID
it_wait 120 "some vectors" '[[ $(sem_vectors_records) -ge 5000 ]]'
it_stop "$embed" KILL
it_log "embed killed at $(sem_vectors_records) vectors (committed lag $(it_group_lag ${IT_PREFIX}embed))"
it_assert "embed killed mid-stream" '[[ $(sem_vectors_records) -lt $N ]]'
it_wait 120 "some points" '[[ $(sem_points_total) -ge 3000 ]]'
it_stop "$index" KILL
killed_points=$(sem_points_total)
it_log "index killed at $killed_points points (committed lag $(it_group_lag ${IT_PREFIX}index ${IT_PREFIX}chat.vectors))"
it_assert "index killed mid-stream" "[[ $killed_points -lt $N ]]"

it_start embed -X group.id=${IT_PREFIX}embed -X batch.max.records=300
embed=$IT_PID
it_start index -X group.id=${IT_PREFIX}index -X qdrant.urls="$QD_URLS" -X batch.max.records=300 \
  -X qdrant.upsert.points=100
index=$IT_PID
it_wait 240 "embed done" '[[ $(it_group_lag ${IT_PREFIX}embed) -eq 0 && $(sem_vectors_records) -ge $N ]]'
it_wait 240 "index done" "[[ \$(it_group_lag ${IT_PREFIX}index ${IT_PREFIX}chat.vectors) -eq 0 ]]"
records=$(sem_vectors_records)
it_log "chat.vectors holds $records records for $N messages (repeats from the kill: $((records - N)))"
it_assert_eq "$(sem_vectors_distinct)" $N "distinct message ids in chat.vectors"
it_assert_eq "$(sem_points_total)" $N "points (no message lost, none twice)"
it_assert_eq "$(sem_misplaced)" 0 "misplaced points"
it_assert_eq "$("$IT_BUILD/tools/chatstream-admin" -b "$IT_BROKERS" end-offsets "${IT_PREFIX}chat.dlq")" 0 "dead letters"
for pid in "$embed" "$index"; do it_stop "$pid"; it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"; done
