#!/usr/bin/env bash
# bench-idle.sh — memory per idle connection at 10k / 50k / 100k: chatstream-loadgen's idle
# scenario (users authenticate with JWTs, join a room of 30, then only answer pings) against
# real gateways on Kafka and PostgreSQL (scripts/services.sh, this script's own ports).
#
# One process may hold at most the hard descriptor limit of sockets (20,000 on the CI
# machine, and raising it needs CAP_SYS_RESOURCE), so a step of N connections runs
# ceil(N / PER_GATEWAY) gateways — which is how a deployment holds them too — each driven by
# its own loadgen. Each step starts fresh gateways, waits until every connection has joined
# and SETTLE seconds more, then measures, with all N connections held at once:
#   gateway   the gateways' VmRSS, after minus before, over the connections joined;
#   kernel    /proc/meminfo Slab plus /proc/net/sockstat's TCP buffer pages, after minus
#             before: both ends of each loopback connection (the server's end alone is
#             about half), and whatever else the machine did meanwhile;
#   loadgen   the clients' VmRSS per connection (not a server cost; for scale);
#   CPU       the gateways' CPU (cores) over WINDOW seconds of holding: what idle
#             connections cost (pings every idle.timeout.ms / 2, housekeeping).
# Prints a table, writes idle.json under RESULTS.
#
#   scripts/bench-idle.sh                            STEPS="10000 50000 100000"
#   STEPS=2000 scripts/bench-idle.sh                 a quick look
#
# Settings: STEPS, PER_GATEWAY (most connections per gateway and loadgen, default 16000),
# CONNECT_RATE (new connections per second over all loadgens, default 2000), SETTLE (s, 5),
# WINDOW (s of holding over which the gateways' CPU is measured, default 10),
# ROOM_SIZE (30), RESULTS (default results/idle-<time>), KEEP_SERVICES=1, CS_KAFKA_PORT
# (61092), CS_PG_PORT (61432), GATEWAY_OPTS (extra -X options for the gateways).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BENCH=bench-idle
. "$REPO/scripts/bench-lib.sh"
STEPS=${STEPS:-"10000 50000 100000"}
PER_GATEWAY=${PER_GATEWAY:-16000}
CONNECT_RATE=${CONNECT_RATE:-2000}
SETTLE=${SETTLE:-5}
WINDOW=${WINDOW:-10}
ROOM_SIZE=${ROOM_SIZE:-30}
RESULTS=${RESULTS:-$REPO/results/idle-$(date -u +%Y%m%d-%H%M%S)}
read -r -a GATEWAY_OPTS <<<"${GATEWAY_OPTS:-}"
export CHATSTREAM_AUTH_SECRET=${CHATSTREAM_AUTH_SECRET:-bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')}
LOADGEN=$BUILD/tools/loadgen/chatstream-loadgen
GATEWAY=$BUILD/ingest/chatstream-gateway
mkdir -p "$RESULTS/logs"
[[ -x $LOADGEN && -x $GATEWAY ]] || die "build first: $LOADGEN or $GATEWAY is missing"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
slab_kb() { awk '/^Slab:/ {print $2}' /proc/meminfo; }
tcp_mem_kb() { awk '$1 == "TCP:" {for (i = 2; i < NF; i++) if ($i == "mem") print $(i + 1) * 4}' /proc/net/sockstat; }
metric_sum() {  # metric_sum <name> <host:port>...: a gauge summed over the gateways
  local name=$1 total=0 v; shift
  for a in "$@"; do
    v=$(curl -sf "http://$a/metrics" | awk -v n="$name" '$1 == n {print int($2)}') || v=0
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

log "services: Kafka 127.0.0.1:$CS_KAFKA_PORT, PostgreSQL 127.0.0.1:$CS_PG_PORT"
"$REPO/scripts/services.sh" start >"$RESULTS/logs/services.log" 2>&1 || { tail -20 "$RESULTS/logs/services.log"; die "services did not start"; }
eval "$("$REPO/scripts/services.sh" env)"
echo "[" >"$RESULTS/idle.json"
first=1
printf '\n%9s %8s %8s %10s %10s %10s %9s %8s %9s %9s\n' connections gateways joined "gateway B" "kernel B" "loadgen B" "gw MiB" failed "connect s" "gw cores"
for N in $STEPS; do
  G=$(( (N + PER_GATEWAY - 1) / PER_GATEWAY ))
  log "step N=$N: $G gateway(s), $G loadgen(s), $CONNECT_RATE connections/s in all"
  gw_pids=() gw_addrs=() lg_pids=()
  for i in $(seq 1 "$G"); do
    next_port; port=$PORT
    start "gateway-$N-$i" "$port" "$GATEWAY" -X listen.port="$port" -X log.level=warn "${GATEWAY_OPTS[@]}"
    gw_pids+=("${COMP[gateway-$N-$i]}") gw_addrs+=("127.0.0.1:$port")
  done
  for a in "${gw_addrs[@]}"; do wait_http "http://$a/readyz" "gateway $a"; done
  sleep 1
  gw_before=0; for p in "${gw_pids[@]}"; do gw_before=$((gw_before + $(rss_kb "$p"))); done
  slab_before=$(slab_kb) tcp_before=$(tcp_mem_kb)
  for i in $(seq 1 "$G"); do
    users=$(( N / G + (i <= N % G ? 1 : 0) ))
    # each loadgen holds until told to stop: the measurement below needs all N at once
    "$LOADGEN" -X scenario=idle -X gateways="${gw_addrs[$((i - 1))]}" -X gateway.pids="${gw_pids[$((i - 1))]}" \
      -X users="$users" -X room.size="$ROOM_SIZE" -X duration=3600 -X connect.timeout=600 \
      -X connect.rate="$(( (CONNECT_RATE + G - 1) / G ))" -X auth.mode=jwt -X source.addrs=0 --json \
      >"$RESULTS/loadgen-$N-$i.json" 2>"$RESULTS/logs/loadgen-$N-$i.log" &
    lg_pids+=($!)
    PIDS+=($!)
  done
  # joined = the gateways' connections gauge (a connection counts once it is authenticated)
  # has stopped growing: at N, or when the loadgens gave up on the rest
  t0=$SECONDS last=-1 still=0
  while (( SECONDS - t0 < 660 )); do
    sleep 1
    now=$(metric_sum chatstream_gateway_connections "${gw_addrs[@]}")
    (( now >= N )) && break
    if (( now == last )); then still=$((still + 1)); else still=0; fi
    (( still >= 30 )) && { log "connections stuck at $now of $N for 30 s"; break; }
    last=$now
  done
  connect_s=$((SECONDS - t0))
  sleep "$SETTLE"
  held=$(metric_sum chatstream_gateway_connections "${gw_addrs[@]}")
  gw_after=0; for p in "${gw_pids[@]}"; do gw_after=$((gw_after + $(rss_kb "$p"))); done
  slab_after=$(slab_kb) tcp_after=$(tcp_mem_kb)
  lg_rss=0; for p in "${lg_pids[@]}"; do lg_rss=$((lg_rss + $(rss_kb "$p"))); done
  t0=0; for p in "${gw_pids[@]}"; do t0=$((t0 + $(cpu_ticks "$p"))); done
  sleep "$WINDOW"
  t1=0; for p in "${gw_pids[@]}"; do t1=$((t1 + $(cpu_ticks "$p"))); done
  idle_cores=$(echo "scale=3; ($t1 - $t0) / $(getconf CLK_TCK) / $WINDOW" | bc)
  for p in "${lg_pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${lg_pids[@]}"; do wait "$p" || true; done
  for p in "${gw_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${gw_pids[@]}"; do wait "$p" || true; done
  step=$(python3 - "$N" "$G" "$held" "$connect_s" "$gw_before" "$gw_after" "$slab_before" "$slab_after" \
      "$tcp_before" "$tcp_after" "$lg_rss" "$idle_cores" "$RESULTS"/loadgen-"$N"-*.json <<'PY'
import json, sys
n, g, held, connect_s, gwb, gwa, sb, sa, tb, ta, lgr = map(int, sys.argv[1:12])
idle_cores = float(sys.argv[12])
reports = [json.load(open(f)) for f in sys.argv[13:] if open(f).read().strip()]
joined = sum(r["joined"] for r in reports)
per = lambda kb: round(kb * 1024 / joined) if joined else None
print(json.dumps({
    "connections": n, "gateways": g, "joined": joined, "held_at_measurement": held,
    "connect_s": connect_s, "loadgens_reported": len(reports),
    "connect_failed": sum(r["connect_failed"] for r in reports),
    "closed_by_server": sum(r["closed"] for r in reports),
    "gateway_rss_before_kb": gwb, "gateway_rss_after_kb": gwa,
    "gateway_bytes_per_conn": per(gwa - gwb),
    "kernel_kb": (sa - sb) + (ta - tb), "kernel_bytes_per_conn_both_ends": per((sa - sb) + (ta - tb)),
    "loadgen_rss_kb": lgr, "loadgen_bytes_per_conn": per(lgr),
    "gateway_cores_holding": idle_cores}))
PY
)
  [[ $first == 1 ]] || echo "," >>"$RESULTS/idle.json"
  first=0
  echo "$step" >>"$RESULTS/idle.json"
  python3 -c '
import json, sys
s = json.loads(sys.argv[1])
print("%9d %8d %8d %10s %10s %10s %9.1f %8d %9d %9.3f" % (s["connections"], s["gateways"], s["joined"],
      s["gateway_bytes_per_conn"], s["kernel_bytes_per_conn_both_ends"], s["loadgen_bytes_per_conn"],
      s["gateway_rss_after_kb"] / 1024, s["connect_failed"] + s["closed_by_server"], s["connect_s"],
      s["gateway_cores_holding"]))' "$step"
done
echo "]" >>"$RESULTS/idle.json"
echo "results: $RESULTS"
