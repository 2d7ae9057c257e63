#!/usr/bin/env bash
# The embeddings provider fails; nothing is lost, nothing is dead-lettered, no request storm.
#  1. 429 with Retry-After for 30 s while 2000 messages wait: the breaker opens, the
#     partitions pause, only a handful of requests reach the provider; when it is back the
#     backlog drains, each text embedded exactly once, exactly 2000 vectors.
#  2. Then, one after the other, 500s, a hanging provider (timeouts), connection resets,
#     truncated bodies and malformed JSON, 300 messages each: all embedded in the end.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/semantic_lib.sh"
it_setup semantic_provider_outage
N=2000

sem_embed_double_start
sem_faults '{"mode":"status","status":429,"retry_after":"2","message":"Rate limit reached for requests","seconds":30}'
outage_start=$SECONDS
it_produce count=$N users=100 rooms=10 >/dev/null
it_start embed -X group.id=${IT_PREFIX}embed -X embed.provider=openai -X embed.url="$EMB_URL" \
  -X embed.model=test-model -X batch.max.records=500 -X embed.timeout.ms=2000
admin=$IT_ADMIN
it_wait 20 "breaker open" '[[ $(it_metric "$admin" chatstream_embed_breaker_opens_total) -ge 1 ]]'
it_wait 20 "consumption paused" '[[ $(it_metric "$admin" chatstream_consumer_paused) -eq 1 ]]'
it_assert "readyz reports the open circuit" \
  "curl -s http://$admin/readyz | grep -qE 'circuit|paused'"
it_assert_eq "$(sem_vectors_records)" 0 "vectors while the provider answers 429"
while (( SECONDS - outage_start < 30 )); do sleep 1; done
storm=$(sem_stat 's["by_status"].get("429", 0)')
it_log "requests answered 429 during the 30 s outage: $storm"
it_assert "no request storm: at most 40 requests in 30 s ($storm)" "[[ $storm -le 40 && $storm -ge 2 ]]"
it_wait 120 "backlog drained" '[[ $(sem_vectors_records) -ge $N ]]'
it_log "drained $(( SECONDS - outage_start )) s after the outage began"
it_wait 30 "committed lag 0" '[[ $(it_group_lag ${IT_PREFIX}embed) -eq 0 ]]'
it_assert_eq "$(sem_vectors_records)" $N "vectors after the outage"
it_assert_eq "$(sem_vectors_distinct)" $N "distinct ids"
it_assert_eq "$(sem_stat 's.get("inputs", 0)')" $N "texts the provider embedded (each once)"
it_assert_eq "$(it_metric "$admin" chatstream_consumer_paused)" 0 "consumption resumed"
it_assert_eq "$(it_metric "$admin" 'chatstream_embed_breaker_state')" 0 "breaker closed again"

total=$N
for fault in '{"mode":"status","status":500}' '{"mode":"status","status":503,"retry_after_ms":300}' \
             '{"mode":"hang"}' '{"mode":"reset"}' '{"mode":"truncate"}' '{"mode":"malformed"}'; do
  sem_faults "$(python3 -c "import json,sys; d=json.loads(sys.argv[1]); d['seconds']=6; print(json.dumps(d))" "$fault")"
  it_produce count=300 users=100 rooms=10 first=$total >/dev/null
  total=$((total + 300))
  sleep 6
  it_wait 120 "all $total vectors after $fault" '[[ $(sem_vectors_records) -ge $total ]]'
  it_log "recovered from $fault"
done
it_wait 30 "committed lag 0" '[[ $(it_group_lag ${IT_PREFIX}embed) -eq 0 ]]'
it_assert_eq "$(sem_vectors_distinct)" $total "distinct ids after every fault"
it_assert_eq "$(sem_vectors_records)" $total "vectors after every fault (none twice)"
for kind in rate_limited server timeout connection truncated bad_response; do
  n=$(it_metric "$admin" "chatstream_embed_errors_total\\{component=\"embed\",provider=\"openai\",kind=\"$kind\"")
  it_assert "errors of kind $kind were seen and survived ($n)" "[[ $n -ge 1 ]]"
done
it_assert_eq "$("$IT_BUILD/tools/chatstream-admin" -b "$IT_BROKERS" end-offsets "${IT_PREFIX}chat.dlq")" 0 \
  "dead letters"
it_stop "$IT_PID"
it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"
