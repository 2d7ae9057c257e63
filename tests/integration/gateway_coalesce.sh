#!/usr/bin/env bash
# gateway_coalesce: ws.coalesce.ms. With a 1,000 ms window, a listener quiet for longer gets
# the first of 5 sends (100 ms apart) at once and the other four together in one write about
# a window later; the gateway counts the held-back flushes and the batched write. Without a
# window (ws.coalesce.ms=0) the same sends arrive one by one as they were sent, nothing held.
. "$(dirname "$0")/lib.sh"
it_setup gateway_coalesce
export CHATSTREAM_AUTH_SECRET=it-secret-0123456789abcdef
it_start fanout -X group.id=${IT_PREFIX}fanout
it_start_gateway -X ws.coalesce.ms=1000
gw1=$IT_GW
it_start_gateway -X ws.coalesce.ms=0
gw2=$IT_GW

out=$(it_gw_client coalesce "$gw1" room-a 1000) || it_fail "$out"
printf '%s\n' "$out" >&2
held=$(it_metric "$gw1" chatstream_gateway_coalesced_total)
it_assert "gateway 1 held flushes back ($held)" "[[ $held -ge 1 ]]"
it_assert "gateway 1 wrote the four in one batch ($(it_metric "$gw1" chatstream_gateway_batched_frames_total) frames batched)" \
  "[[ $(it_metric "$gw1" chatstream_gateway_batched_frames_total) -ge 4 ]]"

out=$(it_gw_client coalesce "$gw2" room-b 0) || it_fail "$out"
printf '%s\n' "$out" >&2
it_assert_eq "$(it_metric "$gw2" chatstream_gateway_coalesced_total)" 0 "flushes held back without a window"
