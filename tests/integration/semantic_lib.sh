# semantic_lib.sh — helpers for the semantic-layer integration tests (embed, index,
# search). Source after lib.sh and it_setup:
#
#   . "$(dirname "$0")/lib.sh"; . "$(dirname "$0")/semantic_lib.sh"
#   it_setup my_test
#   sem_qdrant_start 3                 # three Qdrant doubles = three shards; QD_URLS
#   sem_embed_double_start             # the OpenAI-compatible double; EMB_URL
#   sem_faults '{"mode":"status","status":429,"retry_after":"2","seconds":30}'
#
# The doubles (tests/doubles/) speak the real HTTP APIs; every process is killed on exit.
SEM_DOUBLES=$IT_REPO/tests/doubles
SEM_CHECK=$IT_REPO/tests/integration/semantic_check.py
QD_PORTS=()
QD_PIDS=()

sem_wait_http() {  # sem_wait_http <port>
  it_wait 20 "double on port $1" "curl -sf http://127.0.0.1:$1/_double/stats >/dev/null"
}

sem_qdrant_launch() {  # sem_qdrant_launch <shard> <port>
  python3 "$SEM_DOUBLES/qdrant_double.py" --port "$2" --data "$IT_DIR/qdrant-$1.data" \
    2>>"$IT_DIR/qdrant-$1.log" &
  QD_PIDS[$1]=$!
  IT_PIDS+=("$!")
  sem_wait_http "$2"
}

# sem_qdrant_start <n>: n Qdrant doubles; QD_URLS = their base URLs in shard order.
sem_qdrant_start() {
  local urls=()
  for ((k = 0; k < $1; k++)); do
    QD_PORTS[$k]=$(it_free_port)
    sem_qdrant_launch "$k" "${QD_PORTS[$k]}"
    urls+=("http://127.0.0.1:${QD_PORTS[$k]}")
  done
  QD_URLS=$(IFS=,; echo "${urls[*]}")
}

sem_qdrant_kill() {  # sem_qdrant_kill <shard>: SIGKILL, like a crashed node
  kill -KILL "${QD_PIDS[$1]}" 2>/dev/null || true
  wait "${QD_PIDS[$1]}" 2>/dev/null || true
}

sem_qdrant_restart() {  # same port, same data file
  sem_qdrant_launch "$1" "${QD_PORTS[$1]}"
}

# sem_points <shard> [collection]: points in the shard's collection (0 if none).
sem_points() {
  curl -sf -X POST "http://127.0.0.1:${QD_PORTS[$1]}/collections/${2:-chat_messages}/points/count" \
    -H 'Content-Type: application/json' -d '{"exact":true}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["count"])' 2>/dev/null || echo 0
}

sem_points_total() {
  local t=0
  for k in "${!QD_PORTS[@]}"; do t=$((t + $(sem_points "$k"))); done
  echo $t
}

# sem_embed_double_start [args]: the embeddings double; EMB_PORT, EMB_URL (.../v1).
sem_embed_double_start() {
  EMB_PORT=$(it_free_port)
  python3 "$SEM_DOUBLES/embeddings_double.py" --port "$EMB_PORT" "$@" 2>>"$IT_DIR/embeddings.log" &
  EMB_PID=$!
  IT_PIDS+=("$!")
  sem_wait_http "$EMB_PORT"
  EMB_URL=http://127.0.0.1:$EMB_PORT/v1
}

sem_faults() {  # sem_faults <json> [port]
  curl -sf -X POST "http://127.0.0.1:${2:-$EMB_PORT}/_double/faults" -d "$1" >/dev/null \
    || it_fail "could not set faults $1"
}

sem_stat() {  # sem_stat <python expression over the stats dict s> [port]
  curl -sf "http://127.0.0.1:${2:-$EMB_PORT}/_double/stats" \
    | python3 -c "import json,sys; s=json.load(sys.stdin); print($1)"
}

sem_vectors_records() {  # records in chat.vectors
  "$IT_BUILD/tools/chatstream-admin" -b "$IT_BROKERS" end-offsets "${IT_PREFIX}chat.vectors"
}

sem_vectors_distinct() {  # distinct message ids in chat.vectors
  kcat -C -b "$IT_BROKERS" -t "${IT_PREFIX}chat.vectors" -e -q -f '%s\n' | python3 "$SEM_CHECK" distinct-ids
}

sem_misplaced() {  # points not in the shard their user hashes to (jump hash of FNV-1a 64)
  python3 "$SEM_CHECK" placement "$QD_URLS"
}

sem_dlq() {  # sem_dlq <file>: headers of every dead letter, one line each
  kcat -C -b "$IT_BROKERS" -t "${IT_PREFIX}chat.dlq" -e -q -f '%h\n' >"$1"
}
