#!/usr/bin/env bash
# One Qdrant shard down for 30 s: the other shards' index groups keep indexing, the down
# shard's group pauses (committed offsets hold its place), and when the shard is back it
# catches up. Nothing is lost, nothing is dead-lettered, every point in its user's shard.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/semantic_lib.sh"
it_setup semantic_shard_down
N1=1500 N2=1500 N=3000

sem_qdrant_start 3
it_produce count=$N1 users=300 rooms=20 >/dev/null
it_start embed -X group.id=${IT_PREFIX}embed
embed=$IT_PID
for k in 0 1 2; do
  it_start index -X group.id=${IT_PREFIX}index-s$k -X qdrant.urls="$QD_URLS" -X index.shard=$k
  idx_pid[$k]=$IT_PID; idx_admin[$k]=$IT_ADMIN
done
it_wait 120 "$N1 points" '[[ $(sem_points_total) -ge $N1 ]]'
before1=$(sem_points 1)

sem_qdrant_kill 1
down_at=$SECONDS
it_log "shard 1 killed with $before1 points"
it_produce count=$N2 users=300 rooms=20 first=$N1 >/dev/null
it_wait 60 "$N vectors" '[[ $(sem_vectors_records) -ge $N ]]'
read -r want0 want1 want2 < <(kcat -C -b "$IT_BROKERS" -t "${IT_PREFIX}chat.vectors" -e -q -f '%s\n' \
                              | python3 "$SEM_CHECK" per-shard 3)
it_log "expected points per shard: $want0 $want1 $want2"
it_wait 25 "shards 0 and 2 indexed everything while shard 1 is down" \
  '[[ $(sem_points 0) -eq $want0 && $(sem_points 2) -eq $want2 ]]'
(( SECONDS - down_at < 30 )) || it_fail "the other shards took longer than the outage"
# Points land in Qdrant before the offsets are committed (the framework commits stored
# offsets on its own interval), so the committed lag reaches 0 a moment after the points do.
for k in 0 2; do
  it_wait 15 "index-s$k committed everything while shard 1 is down" \
    "[[ \$(it_group_lag ${IT_PREFIX}index-s$k ${IT_PREFIX}chat.vectors) -eq 0 ]]"
done
it_assert "index-s1 is behind while its shard is down" \
  "[[ \$(it_group_lag ${IT_PREFIX}index-s1 ${IT_PREFIX}chat.vectors) -gt 0 ]]"
it_assert_eq "$(it_metric "${idx_admin[1]}" chatstream_consumer_paused)" 1 "index-s1 paused"
it_assert_eq "$(it_metric "${idx_admin[0]}" chatstream_consumer_paused)" 0 "index-s0 not paused"
it_assert_eq "$(it_metric "${idx_admin[1]}" 'chatstream_qdrant_shard_up\{component="index",shard="1"')" 0 "shard 1 reported down"
while (( SECONDS - down_at < 30 )); do sleep 1; done

sem_qdrant_restart 1
it_log "shard 1 back after $(( SECONDS - down_at )) s with $(sem_points 1) points"
# index-s1 may have landed one more upsert between the count above and the kill
after1=$(sem_points 1)
it_assert "shard 1 kept every acknowledged point ($after1 >= $before1)" "[[ $after1 -ge $before1 ]]"
it_wait 60 "index-s1 caught up" "[[ \$(it_group_lag ${IT_PREFIX}index-s1 ${IT_PREFIX}chat.vectors) -eq 0 ]]"
it_assert_eq "$(sem_points 1)" "$want1" "points in shard 1 after catching up"
it_assert_eq "$(sem_points_total)" $N "points across the shards"
it_assert_eq "$(sem_misplaced)" 0 "misplaced points"
it_assert_eq "$(it_metric "${idx_admin[1]}" chatstream_consumer_paused)" 0 "index-s1 resumed"
it_assert_eq "$(it_metric "${idx_admin[1]}" 'chatstream_qdrant_shard_up\{component="index",shard="1"')" 1 "shard 1 reported up again"
it_assert_eq "$("$IT_BUILD/tools/chatstream-admin" -b "$IT_BROKERS" end-offsets "${IT_PREFIX}chat.dlq")" 0 "dead letters"
for pid in "$embed" "${idx_pid[@]}"; do it_stop "$pid"; it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"; done
