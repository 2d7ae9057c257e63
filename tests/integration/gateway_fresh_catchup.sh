#!/usr/bin/env bash
# gateway_fresh_catchup: a gateway that has just started has the fan-out's last
# fanout.recent.ms too (it reads that far back at start, into its recent records only), so
# a catch-up on it covers what PostgreSQL does not have yet.
# persist is stopped (PostgreSQL has none of the messages). Sam on gateway O sends 10 to
# bio. Then two gateways start: W (fanout.recent.ms=60000) and, as the control, Z
# (fanout.recent.ms=0). Nia joins bio on W with `since` before the 10 and gets all 10, in
# order, each once, and nothing was pushed live to anyone from W's backfill; Zoe does the
# same on Z and gets none (the gap this closes).
. "$(dirname "$0")/lib.sh"
it_setup gateway_fresh_catchup
export CHATSTREAM_AUTH_SECRET=it-secret-0123456789abcdef
it_start fanout -X group.id=${IT_PREFIX}fanout
it_start persist -X group.id=${IT_PREFIX}persist
persist=$IT_PID
it_start_gateway
gw_o=$IT_GW
# one message stored first (PostgreSQL up, its table there), then persist stops
it_gw_client send_n "$gw_o" lobby sam 1 warm || it_fail "sam's first send"
t_first=$(date +%s%3N)   # acked by now: its fan-out record is no younger than this
it_wait 30 "the first row" '[[ $(it_rows) -ge 1 ]]'
it_stop "$persist"
it_gw_client send_n "$gw_o" bio sam 10 early || it_fail "sam's 10 sends"
it_wait 30 "the 10 in chat.fanout" '[[ $(it_fanout_count) -ge 11 ]]'

sleep 4   # W starts well after the first send: the age its store gives them then tells
it_start_gateway -X fanout.recent.ms=60000
gw_w=$IT_GW gpw=$IT_PID glw="$IT_DIR/gateway-$((${#IT_PIDS[@]} - 1)).log"
it_start_gateway -X fanout.recent.ms=0
gw_z=$IT_GW
it_assert_eq "$(it_metric "$gw_w" chatstream_gateway_fanout_backfilled_total)" 11 \
  "W read the 11 (lobby's 1, bio's 10) at start, into its recent records only"
it_assert "W logged its backfill" "grep -q 'into the recent records' '$glw'"
it_assert_eq "$(it_metric "$gw_w" chatstream_gateway_delivered_total)" 0 "W pushed none of them"
# their age in W's store is their own (the lobby message went out > 4 s before W started),
# not counted from when W read them: the store reaches back to the first send, less the
# gauge's staleness (a tick a second) and this poll's
reach_now() { curl -sf "http://$gw_w/metrics" | awk '$1 == "chatstream_gateway_recent_window_seconds" {print $2}'; }
it_wait 10 "W's recent-records gauge" '[[ $(reach_now) != 0 && -n $(reach_now) ]]'
reach=$(reach_now) since_first=$(( $(date +%s%3N) - t_first ))
it_assert "W's recent records reach back to the first send (${reach} s; it went out ${since_first} ms ago)" \
  "python3 -c 'import sys; sys.exit(0 if float(\"$reach\") * 1000 >= $since_first - 2000 else 1)'"
it_assert_eq "$(it_metric "$gw_z" chatstream_gateway_fanout_backfilled_total)" 0 \
  "Z (fanout.recent.ms=0) read nothing from before it started"
it_assert_eq "$(it_rows)" 1 "PostgreSQL has none of the 10 (persist stopped)"

zero=00000000-0000-7000-8000-000000000000
it_gw_client listen "$gw_w" bio nia "$zero" 3 "$IT_DIR/nia.ids" || it_fail "nia's join on W"
it_gw_client listen "$gw_z" bio zoe "$zero" 3 "$IT_DIR/zoe.ids" || it_fail "zoe's join on Z"
nia=$(grep -c . "$IT_DIR/nia.ids" || true)
it_assert_eq "$nia" 10 "Nia's catch-up on the fresh W: the 10"
it_assert_eq "$(sort -u "$IT_DIR/nia.ids" | grep -c .)" 10 "...each once"
it_assert "...in order (one sender, time-ordered ids)" "sort -c '$IT_DIR/nia.ids'"
it_assert_eq "$(grep -c . "$IT_DIR/zoe.ids" || true)" 0 \
  "Zoe's catch-up on the fresh Z without recent records: none (the gap)"
it_assert "W's room started with them" \
  "[[ \$(it_metric $gw_w chatstream_gateway_recent_seeded_total) -ge 10 ]]"
it_stop "$gpw"
it_assert_eq "$IT_RC" 0 "gateway W exit status after SIGTERM"
