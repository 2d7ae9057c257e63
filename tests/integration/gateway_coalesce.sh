#!/usr/bin/env bash
# gateway_coalesce: ws.coalesce.ms. With a fixed 1,000 ms window (ws.coalesce.lag.us=0), a
# listener quiet for longer gets the first of 5 sends (100 ms apart) at once and the other
# four together in one write about a window later; the gateway counts the held-back flushes
# and the batched write. Without a window (ws.coalesce.ms=0) the same sends arrive one by one
# as they were sent, nothing held. Adaptive (ws.coalesce.lag.us > 0): a service thread whose
# event-loop delay stays under a quarter of lag.us holds nothing (lag.us = 1 s); one whose
# every drain waits at least lag.us opens the full window (lag.us = 1 µs) and holds as the
# fixed one does.
. "$(dirname "$0")/lib.sh"
it_setup gateway_coalesce
export CHATSTREAM_AUTH_SECRET=it-secret-0123456789abcdef
it_start fanout -X group.id=${IT_PREFIX}fanout
it_start_gateway -X ws.coalesce.ms=1000 -X ws.coalesce.lag.us=0
gw1=$IT_GW
it_start_gateway -X ws.coalesce.ms=0
gw2=$IT_GW
# one service thread each: the window is per thread, and these must be the same thread
it_start_gateway -X ws.coalesce.ms=1000 -X ws.coalesce.lag.us=1000000 -X threads=1
gw3=$IT_GW
it_start_gateway -X ws.coalesce.ms=1000 -X ws.coalesce.lag.us=1 -X threads=1
gw4=$IT_GW
# the window a gateway's threads apply now, in ms (the largest)
window_ms() {
  curl -sf "http://$1/metrics" | awk '$1 ~ /^chatstream_gateway_coalesce_window_seconds/ {
    v = $2 * 1000; if (v > m) m = v } END { printf "%d\n", m }'
}
it_assert_eq "$(window_ms "$gw1")" 1000 "gateway 1's fixed window"

out=$(it_gw_client coalesce "$gw1" room-a 1000) || it_fail "$out"
printf '%s\n' "$out" >&2
held=$(it_metric "$gw1" chatstream_gateway_coalesced_total)
it_assert "gateway 1 held flushes back ($held)" "[[ $held -ge 1 ]]"
# a write of n frames counts n - 1 more frames than writes: the four in one write, 3; without
# a window this whole run writes as many frames as writes (22 in 22; with it 22 in 15)
writes=$(it_metric "$gw1" chatstream_gateway_writes_total)
frames=$(it_metric "$gw1" chatstream_gateway_frames_written_total)
it_assert "gateway 1 wrote the four in one batch ($frames frames in $writes writes)" \
  "[[ $((frames - writes)) -ge 3 ]]"

out=$(it_gw_client coalesce "$gw2" room-b 0) || it_fail "$out"
printf '%s\n' "$out" >&2
it_assert_eq "$(it_metric "$gw2" chatstream_gateway_coalesced_total)" 0 "flushes held back without a window"

# adaptive, delay far under lag.us/4: the window never opens
out=$(it_gw_client coalesce "$gw3" room-c 0) || it_fail "$out"
printf '%s\n' "$out" >&2
it_assert_eq "$(it_metric "$gw3" chatstream_gateway_coalesced_total)" 0 "flushes held back by a closed adaptive window"
it_assert_eq "$(window_ms "$gw3")" 0 "gateway 3's window"

# adaptive, every delay over lag.us: a few seconds of traffic open it fully (half-way per
# 250 ms period), then it holds like the fixed window
out=$(it_gw_client send_paced "$gw4" room-d-warm warmer 16 4 warm) || it_fail "$out"
it_wait 10 "gateway 4's window fully open" '[[ $(window_ms "$gw4") == 1000 ]]'
out=$(it_gw_client coalesce "$gw4" room-d 1000) || it_fail "$out"
printf '%s\n' "$out" >&2
it_assert "gateway 4 held flushes back ($(it_metric "$gw4" chatstream_gateway_coalesced_total))" \
  "[[ $(it_metric "$gw4" chatstream_gateway_coalesced_total) -ge 1 ]]"
