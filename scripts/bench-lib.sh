# bench-lib.sh — what the pipeline benchmarks (bench-capacity.sh, bench-idle.sh) share:
# the build and ports they use, logging, fixed ports for components, waiting for a component,
# starting one in the background, cleaning up on exit. The caller sets REPO and BENCH (its
# name, for the log) before sourcing, and RESULTS (the run's directory, logs under
# RESULTS/logs) before starting anything; PIDS lists what bench_cleanup stops.

# The build to run and the services' ports: the benchmarks' own, above the ephemeral range
# and away from the tests'.
BUILD=${CS_BUILD:-$REPO/build}
export CS_BUILD=$BUILD
export CS_KAFKA_PORT=${CS_KAFKA_PORT:-61092}
export CS_PG_PORT=${CS_PG_PORT:-61432}
export CS_VAR=${CS_VAR:-$REPO/var}
# One broker on 2 cores: every partition in a produce or fetch request is work for the
# broker, and at 2,000 messages/s over 12 partitions most partition-batches held one
# record. 4 partitions: Kafka 0.28-0.30 cores instead of 0.44-0.48 at 2,000 users, p99
# 50-79 ms instead of 100-122 (3 + 3 interleaved runs). A deployment sizes partitions to
# its consumers' parallelism; this is the size for one small box.
export CS_PARTITIONS=${CS_PARTITIONS:-4}

PIDS=()
log() { printf '[%s %s] %s\n' "$BENCH" "$(date -u +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Fixed ports above the ephemeral range (32768-60999): a port picked from inside it can be
# taken by a TIME_WAIT client socket of the loadgen (thousands of them) before a server binds it.
NEXT_PORT=${PORT_BASE:-61100}
next_port() { PORT=$NEXT_PORT; NEXT_PORT=$((NEXT_PORT + 1)); }  # sets PORT (no subshell)

wait_http() {  # wait_http <url> <what>
  for _ in $(seq 1 120); do curl -sf -o /dev/null "$1" && return 0; sleep 0.5; done
  die "$2 did not answer $1 within 60 s (see $RESULTS/logs)"
}

declare -A COMP   # component name -> pid
declare -A APORT  # component name -> admin/metrics port
start() {  # start <name> <port> <command...>: background, logged to RESULTS/logs/<name>.log
  local name=$1 port=$2; shift 2
  "$@" >"$RESULTS/logs/$name.log" 2>&1 &
  PIDS+=($!)
  COMP[$name]=$!
  APORT[$name]=$port
}

# On exit: stop what was started (TERM, then KILL a second later), and the services unless
# KEEP_SERVICES=1 or the caller set OWN_SERVICES=0 (it started none).
bench_cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ ${KEEP_SERVICES:-0} == 1 || ${OWN_SERVICES:-1} == 0 ]] || "$REPO/scripts/services.sh" stop || true
  exit $rc
}
trap bench_cleanup EXIT
