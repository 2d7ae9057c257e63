#!/usr/bin/env bash
# Poison inputs are isolated and dead-lettered with the reason; everything else goes through.
#  embed: the provider refuses any request holding a text with the word POISONPILL (400, as a
#         provider does for an input it cannot take): the batch is split until the text is
#         alone, then it goes to chat.dlq with the provider's message. A record that is not
#         an envelope is dead-lettered without calling the provider.
#  index: a chat.vectors record that is not JSON, one whose key is not its user, and one whose
#         vector size differs from the collection's are dead-lettered; the good ones indexed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/semantic_lib.sh"
it_setup semantic_poison

sem_embed_double_start --poison POISONPILL
sem_qdrant_start 1
id() { python3 -c 'import uuid; print(uuid.uuid4())'; }
for i in 1 2 3; do
  printf '{"v":1,"id":"%s","room":"r1","user":"mallory","ts":1763892000123,"text":"hello POISONPILL %d"}' \
    "$(id)" "$i" >"$IT_DIR/poison$i.json"
done
printf '{"v":1,"id":"%s","room":"r1","user":"mallory"' "$(id)" >"$IT_DIR/truncated.json"

it_produce count=400 run.id=a first=0 >/dev/null
for f in poison1 truncated poison2; do it_produce value.file="$IT_DIR/$f.json" count=1 key=mallory >/dev/null; done
it_produce count=400 run.id=b first=400 >/dev/null
it_produce value.file="$IT_DIR/poison3.json" count=1 key=mallory >/dev/null

it_start embed -X group.id=${IT_PREFIX}embed -X embed.provider=openai -X embed.url="$EMB_URL" \
  -X embed.model=test-model -X embed.batch.inputs=64
embed=$IT_PID; admin=$IT_ADMIN
it_wait 90 "good vectors" '[[ $(sem_vectors_records) -ge 800 ]]'
it_wait 60 "committed lag 0" '[[ $(it_group_lag ${IT_PREFIX}embed) -eq 0 ]]'
it_assert_eq "$(sem_vectors_records)" 800 "vectors (the good messages)"
sem_dlq "$IT_DIR/dlq.txt"
it_assert_eq "$(wc -l <"$IT_DIR/dlq.txt")" 4 "records in chat.dlq"
it_assert_eq "$(grep -c 'chatstream.dlq.error=REJECTED' "$IT_DIR/dlq.txt")" 3 "poison texts refused"
it_assert_eq "$(grep -c 'cannot be embedded' "$IT_DIR/dlq.txt")" 3 "the provider's own words in the reason"
it_assert_eq "$(grep -c 'chatstream.dlq.error=BAD_JSON' "$IT_DIR/dlq.txt")" 1 "the truncated envelope"
it_assert_eq "$(grep -c 'chatstream.dlq.processor=embed' "$IT_DIR/dlq.txt")" 4 "dead letters name the processor"
it_assert "batches were split to find the poison" \
  "[[ \$(it_metric $admin chatstream_batch_splits_total) -ge 3 ]]"
it_assert "the provider saw the poison only in a few requests ($(sem_stat 's.get("poison_refusals",0)'))" \
  "[[ \$(sem_stat 's.get(\"poison_refusals\",0)') -le 40 ]]"
it_stop "$embed"; it_assert_eq "$IT_RC" 0 "embed exit status after SIGTERM"

# The index side: three bad records among the 800 good vectors.
good=$(kcat -C -b "$IT_BROKERS" -t "${IT_PREFIX}chat.vectors" -c 1 -e -q -f '%s')
printf 'not json at all' >"$IT_DIR/v_bad_json"
printf '%s' "$good" >"$IT_DIR/v_wrong_key"
python3 - "$good" >"$IT_DIR/v_wrong_dim" <<'PY'
import base64, json, struct, sys, uuid
r = json.loads(sys.argv[1])
r["id"] = str(uuid.uuid4()); r["dim"] = 3
r["vector"] = base64.b64encode(struct.pack("<3f", 1, 2, 3)).decode()
sys.stdout.write(json.dumps(r))
PY
user=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["user"])' "$good")
it_produce topic=chat.vectors value.file="$IT_DIR/v_bad_json" count=1 key="$user" >/dev/null
it_produce topic=chat.vectors value.file="$IT_DIR/v_wrong_key" count=1 key=somebody-else >/dev/null
it_produce topic=chat.vectors value.file="$IT_DIR/v_wrong_dim" count=1 key="$user" >/dev/null
it_start index -X group.id=${IT_PREFIX}index -X qdrant.urls="$QD_URLS"
index=$IT_PID
it_wait 60 "index lag 0" "[[ \$(it_group_lag ${IT_PREFIX}index ${IT_PREFIX}chat.vectors) -eq 0 ]]"
it_assert_eq "$(sem_points_total)" 800 "points (the good vectors)"
sem_dlq "$IT_DIR/dlq2.txt"
grep 'chatstream.dlq.processor=index' "$IT_DIR/dlq2.txt" >"$IT_DIR/dlq_index.txt" || true
it_assert_eq "$(wc -l <"$IT_DIR/dlq_index.txt")" 3 "records the index dead-lettered"
it_assert "not JSON -> BAD_JSON" "grep -q 'chatstream.dlq.error=BAD_JSON' '$IT_DIR/dlq_index.txt'"
it_assert "wrong key -> says so" "grep -q 'record key is not the user id' '$IT_DIR/dlq_index.txt'"
it_assert "wrong size -> says so" "grep -q 'vector has 3 dimensions; the collection has 1024' '$IT_DIR/dlq_index.txt'"
it_stop "$index"; it_assert_eq "$IT_RC" 0 "index exit status after SIGTERM"
