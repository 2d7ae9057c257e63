#!/usr/bin/env bash
# The semantic pipeline end to end, against real Kafka and three Qdrant doubles (shards):
# N messages in -> exactly N records in chat.vectors (N distinct ids) -> exactly N points
# across the shards, each in the shard its user hashes to. Replayed (the index groups
# again from the start, and the embed group again) -> still N points. SIGTERM -> exit 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/semantic_lib.sh"
it_setup semantic_pipeline
N=3000

sem_qdrant_start 3
it_produce count=$N users=300 rooms=20 >/dev/null
it_start embed -X group.id=${IT_PREFIX}embed -X batch.max.records=500
embed=$IT_PID; embed_admin=$IT_ADMIN
for k in 0 1 2; do
  it_start index -X group.id=${IT_PREFIX}index-s$k -X qdrant.urls="$QD_URLS" -X index.shard=$k
  idx_pid[$k]=$IT_PID; idx_admin[$k]=$IT_ADMIN
done

it_wait 120 "$N vectors" '[[ $(sem_vectors_records) -ge $N ]]'
it_wait 60 "embed committed lag 0" '[[ $(it_group_lag ${IT_PREFIX}embed) -eq 0 ]]'
it_assert_eq "$(sem_vectors_records)" $N "records in chat.vectors"
it_assert_eq "$(sem_vectors_distinct)" $N "distinct message ids in chat.vectors"
it_wait 120 "$N points" '[[ $(sem_points_total) -ge $N ]]'
for k in 0 1 2; do
  it_wait 60 "index-s$k committed lag 0" "[[ \$(it_group_lag ${IT_PREFIX}index-s$k ${IT_PREFIX}chat.vectors) -eq 0 ]]"
done
it_assert_eq "$(sem_points_total)" $N "points across the shards"
for k in 0 1 2; do
  pts=$(sem_points $k)
  it_assert "shard $k holds some users ($pts points)" "[[ $pts -gt 0 ]]"
done
it_assert_eq "$(sem_misplaced)" 0 "points outside the shard their user hashes to"
skipped=0
for k in 0 1 2; do skipped=$((skipped + $(it_metric "${idx_admin[$k]}" chatstream_index_skipped_total))); done
it_assert_eq "$skipped" $((2 * N)) "records each shard group skipped as another shard's (2N in all)"
it_assert_eq "$(it_metric "$embed_admin" chatstream_embed_inputs_total)" $N "texts embedded"

# Replay the index from the start (new groups): every upsert lands on an existing point.
for k in 0 1 2; do it_stop "${idx_pid[$k]}"; it_assert_eq "$IT_RC" 0 "index-s$k exit status after SIGTERM"; done
for k in 0 1 2; do
  it_start index -X group.id=${IT_PREFIX}replay-s$k -X qdrant.urls="$QD_URLS" -X index.shard=$k
  idx_pid[$k]=$IT_PID
done
for k in 0 1 2; do
  it_wait 120 "replay-s$k done" "[[ \$(it_group_lag ${IT_PREFIX}replay-s$k ${IT_PREFIX}chat.vectors) -eq 0 ]]"
done
it_assert_eq "$(sem_points_total)" $N "points after replaying the index"

# Replay the embedding too (a new group): chat.vectors gets every vector again, the
# index upserts them onto the same points.
it_start embed -X group.id=${IT_PREFIX}embed-replay
embed2=$IT_PID
it_wait 120 "second pass of vectors" '[[ $(sem_vectors_records) -ge $((2 * N)) ]]'
for k in 0 1 2; do
  it_wait 120 "replay-s$k caught up" "[[ \$(it_group_lag ${IT_PREFIX}replay-s$k ${IT_PREFIX}chat.vectors) -eq 0 ]]"
done
it_assert_eq "$(sem_vectors_distinct)" $N "distinct ids after replaying the embedding"
it_assert_eq "$(sem_points_total)" $N "points after replaying everything"
it_assert_eq "$(sem_misplaced)" 0 "misplaced points after replay"

for pid in "$embed" "$embed2" "${idx_pid[@]}"; do
  it_stop "$pid"; it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"
done
