#!/usr/bin/env bash
# GET /v1/search: finds a message by its words (hash provider, two Qdrant shards), only in
# rooms the user may read (403 for another room), and falls back to PostgreSQL full-text
# search, saying "mode":"fulltext", when the embeddings provider or Qdrant is down.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/semantic_lib.sh"
it_setup semantic_search

sem_qdrant_start 2
# Known messages (ids fixed so the answers can be checked) among 500 others.
python3 - >"$IT_DIR/known.txt" <<'PY'
import json, time
ts = int(time.time() * 1000)
msgs = [("00000000-0000-7000-8000-000000000001", "math", "bob", "Is the homework due Friday?"),
        ("00000000-0000-7000-8000-000000000002", "math", "alice", "I left my calculator in the lab"),
        ("00000000-0000-7000-8000-000000000003", "art", "carol", "The homework for art is a self portrait"),
        ("00000000-0000-7000-8000-000000000004", "art", "carol", "Painting class moved to Thursday")]
for i, (mid, room, user, text) in enumerate(msgs):
    env = {"v": 1, "id": mid, "room": room, "user": user, "cmid": "k%d" % i, "ts": ts + i, "text": text}
    print(user + "\t" + json.dumps(env, separators=(",", ":")))
PY
it_produce count=500 users=50 rooms=10 >/dev/null
kcat -P -b "$IT_BROKERS" -t "${IT_PREFIX}chat.messages" -K $'\t' <"$IT_DIR/known.txt"
TOTAL=504
M1=00000000-0000-7000-8000-000000000001
M3=00000000-0000-7000-8000-000000000003

it_start persist -X group.id=${IT_PREFIX}persist
it_start persist -X group.id=${IT_PREFIX}persist-search -X sink=postgres-search \
  -X pgsearch.dsn="$CHATSTREAM_PG_DSN"
it_start embed -X group.id=${IT_PREFIX}embed
it_start index -X group.id=${IT_PREFIX}index -X qdrant.urls="$QD_URLS"
it_wait 60 "all points" '[[ $(sem_points_total) -ge $TOTAL ]]'
it_wait 60 "all rows" '[[ $(it_rows) -ge $TOTAL ]]'
it_wait 60 "full-text index filled" \
  '[[ $(it_psql -d "$IT_DB" -tAc "SELECT count(*) FROM message_search") -ge $TOTAL ]]'

# search_start <name> [args]: a chatstream-search; sets SEARCH_PORT
search_start() {
  local name=$1; shift
  SEARCH_PORT=$(it_free_port)
  "$IT_BUILD/search/chatstream-search" -X http.port="$SEARCH_PORT" -X auth.mode=dev-insecure-header \
    -X search.pg.dsn="$CHATSTREAM_PG_DSN" -X qdrant.urls="$QD_URLS" "$@" >"$IT_DIR/$name.log" 2>&1 &
  IT_PIDS+=("$!")
  SEARCH_PID=$!
  it_wait 20 "search API $name" "curl -sf http://127.0.0.1:$SEARCH_PORT/healthz >/dev/null"
}
# ask <port> <user> <rooms or -> <query string> <expected status>: answer in $IT_DIR/answer.json
ask() {
  local hdr=(-H "X-Chatstream-Insecure-User: $2")
  [[ $3 != - ]] && hdr+=(-H "X-Chatstream-Insecure-Rooms: $3")
  local status
  status=$(curl -s -o "$IT_DIR/answer.json" -w '%{http_code}' "${hdr[@]}" "http://127.0.0.1:$1/v1/search?$4")
  [[ $status == "$5" ]] || it_fail "GET /v1/search?$4 as $2 ($3): HTTP $status, expected $5: $(cat "$IT_DIR/answer.json")"
}
check() {  # check <description> <python expression over the answer r>
  python3 "$SEM_CHECK" search "$IT_DIR/answer.json" "$2" || it_fail "$1"
  it_log "ok: $1"
}

search_start semantic
S=$SEARCH_PORT; S_PID=$SEARCH_PID
ask $S alice math,r0 'q=homework%20friday' 200
check "semantic mode" 'r["mode"] == "semantic"'
check "finds the message by its words, first" "r['hits'][0]['id'] == '$M1' and r['hits'][0]['text'] == 'Is the homework due Friday?'"
check "hit carries room, user, ts and score" "r['hits'][0]['room'] == 'math' and r['hits'][0]['user'] == 'bob' and r['hits'][0]['ts'] > 0 and r['hits'][0]['score'] > 0.3"
check "only rooms alice may read" "all(h['room'] in ('math', 'r0') for h in r['hits'])"
check "not the art room's homework" "'$M3' not in [h['id'] for h in r['hits']]"
ask $S carol - 'q=homework&limit=5' 200
check "a user without a rooms claim searches every room" "{'$M1', '$M3'} <= {h['id'] for h in r['hits'][:2]}"
ask $S carol art 'q=homework+portrait&room=art&limit=1' 200
check "room filter and limit" "len(r['hits']) == 1 and r['hits'][0]['id'] == '$M3' and r['room'] == 'art'"
ask $S alice math 'q=portrait&room=art' 403
check "403 for a room outside the claim" 'r["error"] == "forbidden"'
ask $S alice math 'q=' 400
ask $S alice math 'limit=5' 400
ask $S alice math 'q=x&limit=100000' 400
ask $S 'bad user' - 'q=x' 400
status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$S/v1/search?q=homework")
it_assert_eq "$status" 401 "no user, no answer"

# The production mode: the same HS256 bearer tokens as the gateway (core/cs_jwt).
export CHATSTREAM_AUTH_SECRET=it-secret-0123456789abcdef
search_start jwt -X auth.mode=jwt
J=$SEARCH_PORT
tok_alice=$("$IT_BUILD/tools/chatstream-token" -X sub=alice -X rooms=math,r0 -X ttl=300)
tok_old=$("$IT_BUILD/tools/chatstream-token" -X sub=alice -X rooms=math,r0 -X ttl=-600)
jask() {  # jask <token> <query string> <expected status>
  local status
  status=$(curl -s -o "$IT_DIR/answer.json" -w '%{http_code}' -H "Authorization: Bearer $1" "http://127.0.0.1:$J/v1/search?$2")
  [[ $status == "$3" ]] || it_fail "jwt GET /v1/search?$2: HTTP $status, expected $3: $(cat "$IT_DIR/answer.json")"
}
jask "$tok_alice" 'q=homework%20friday' 200
check "jwt: finds it, only in the token's rooms" "r['hits'][0]['id'] == '$M1' and all(h['room'] in ('math', 'r0') for h in r['hits'])"
jask "$tok_alice" 'q=portrait&room=art' 403
jask "$tok_old" 'q=homework' 401
jask "not.a.token" 'q=homework' 401
it_log "ok: jwt mode: 200 in the token's rooms, 403 outside them, 401 expired or forged"

# The provider down (nothing listens where it should be): full-text answers.
dead=$(it_free_port)
search_start provider_down -X embed.provider=openai -X embed.url="http://127.0.0.1:$dead/v1" -X embed.model=m
F=$SEARCH_PORT
ask $F alice math,r0 'q=homework%20friday' 200
check "fulltext mode when the provider is down" 'r["mode"] == "fulltext" and "embeddings provider" in r["fallback_reason"]'
check "full-text finds the message" "r['hits'][0]['id'] == '$M1' and r['hits'][0]['text'] == 'Is the homework due Friday?'"
check "full-text respects the rooms claim" "'$M3' not in [h['id'] for h in r['hits']] and all(h['room'] in ('math', 'r0') for h in r['hits'])"
ask $F carol - 'q=portrait' 200
check "full-text, any room" "r['mode'] == 'fulltext' and r['hits'][0]['id'] == '$M3'"
ask $F alice math 'q=portrait&room=art' 403

# Qdrant down (both shards killed): the first instance falls back too.
sem_qdrant_kill 0; sem_qdrant_kill 1
ask $S alice math 'q=homework%20friday' 200
check "fulltext mode when Qdrant is down" 'r["mode"] == "fulltext" and "qdrant" in r["fallback_reason"]'
check "and still finds it" "r['hits'][0]['id'] == '$M1'"
metrics=$(curl -sf "http://127.0.0.1:$S/metrics")
it_assert "fallbacks are counted" "grep -q 'chatstream_search_fallbacks_total{cause=\"qdrant\"} 1' <<<\"\$metrics\""
it_assert "readyz says degraded" "curl -s http://127.0.0.1:$S/readyz | grep -q degraded"

# PostgreSQL down too: 503 with the reasons, never a wrong answer.
search_start no_pg -X search.pg.dsn="host=127.0.0.1 port=$dead dbname=x user=x"
ask $SEARCH_PORT alice math 'q=homework' 503
check "503 says why" '"qdrant" in r["message"] and "full-text" in r["message"]'
it_stop "$S_PID"; it_assert_eq "$IT_RC" 0 "search exit status after SIGTERM"
