#!/usr/bin/env bash
# gateway_bad_inputs: every bad input gets its answer (error frame or close code), is
# counted, and leaves the connection (or the others) working: forged, expired, alg=none,
# HS512 and sub-less tokens; a frame before auth; an oversized frame; invalid UTF-8;
# malformed JSON; trailing data; an unknown type; missing fields; a room not joined or not
# allowed by the token; too long a text; control characters; a burst over the rate; too
# many rooms; joins faster than rooms.joins.per.sec; a bad Origin; too many connections from one address; a silent client; a
# client that does not read while a room floods.
. "$(dirname "$0")/lib.sh"
it_setup gateway_bad_inputs
export CHATSTREAM_AUTH_SECRET=it-secret-0123456789abcdef
it_start fanout -X group.id=${IT_PREFIX}fanout
it_start_gateway -X rate.per.user=1000 -X rate.burst=1000 -X outq.max.bytes=65536 -X socket.sndbuf.bytes=16384
gw=$IT_GW gp=$IT_PID
it_start_gateway -X rate.per.user=2 -X rate.burst=3 -X rooms.max=2 -X rooms.joins.per.sec=0.5 \
  -X origins=http://school.example -X connections.per.ip=3 -X idle.timeout.ms=1500
strict=$IT_GW sp=$IT_PID
out=$(it_gw_client bad_inputs "$gw" "$strict" 2>&1) || it_fail "$out"
printf '%s\n' "$out" | grep '^ok:' >&2
out=$(it_gw_client slow_reader "$gw" flood 2>&1) || { curl -s http://$gw/metrics | grep -E "^chatstream_gateway" >&2; it_fail "$out"; }
printf '%s\n' "$out" | grep '^ok:' >&2

m() { it_metric "$1" "$2"; }
it_assert "refused tokens counted" '[[ $(m $gw chatstream_gateway_auth_failures_total) -ge 5 ]]'
for r in bad_utf8 too_big auth; do
  it_assert "close $r counted" "[[ \$(m $gw 'chatstream_gateway_closed_total\{reason=\"$r\"') -ge 1 ]]"
done
for r in bad_request unknown_type too_large not_member; do
  it_assert "error $r counted" "[[ \$(m $gw 'chatstream_gateway_rejected_total\{reason=\"$r\"') -ge 1 ]]"
done
for r in rate_limited too_many_rooms; do
  it_assert "error $r counted" "[[ \$(m $strict 'chatstream_gateway_rejected_total\{reason=\"$r\"') -ge 1 ]]"
done
for r in origin per_ip idle; do
  it_assert "close $r counted" "[[ \$(m $strict 'chatstream_gateway_closed_total\{reason=\"$r\"') -ge 1 ]]"
done
it_assert "the slow reader was cut off and counted" \
  '[[ $(m $gw chatstream_gateway_slow_readers_total) -eq 1 ]]'
it_assert_eq "$(m $gw chatstream_gateway_connections)" 0 "no connection left open"
# the flood went out in batched writes (several frames per send(): more frames written than
# writes means at least one write carried several), and the reading client above still
# parsed every frame of it
it_assert "queued frames were written in batches ($(m $gw chatstream_gateway_frames_written_total) frames in $(m $gw chatstream_gateway_writes_total) writes)" \
  '[[ $(m $gw chatstream_gateway_frames_written_total) -gt $(m $gw chatstream_gateway_writes_total) ]]'
# bad configuration: refused at start with a message naming the key
bad=$("$IT_BUILD/ingest/chatstream-gateway" -X listen.port="$(it_free_port)" -X brokers="$IT_BROKERS" \
      -X 'fanout.remote.topics=b.chat.fanout,no spaces!' 2>&1) && it_fail "a bad topic name was accepted"
it_assert "a bad fanout.remote.topics is refused by name" \
  "printf '%s' \"\$bad\" | grep -q \"fanout.remote.topics: 'no spaces!' is not a Kafka topic name\""
for p in $gp $sp; do
  it_stop "$p"
  it_assert_eq "$IT_RC" 0 "gateway exit status after SIGTERM"
done
