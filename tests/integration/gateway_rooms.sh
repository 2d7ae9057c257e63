#!/usr/bin/env bash
# gateway_rooms: a gateway keeps only the rooms its clients are in (rooms.linger.ms after
# the last one left) and skips, undecoded, the fan-out records of the others; a room it
# starts again begins with its recent fan-out records (fanout.recent.ms).
# Lena on gateway W (rooms.linger.ms=3000, fanout.recent.ms=4000), Sam on gateway O, both
# in math, Sam in art too:
#  A. 30 to art, 30 to math: W skips art's 30 (O skips nothing), Lena gets math's 30.
#  B. persist stopped. Lena leaves: W still keeps math (gauge 1). 10 to math while it
#     lingers: not skipped; Lena rejoins with since and gets the 10 from W's memory
#     (PostgreSQL does not have them). She leaves: math is freed after >= 3 s (gauge 0);
#     10 more are skipped. Nia joins math on W with since and gets those 10 from W's recent
#     records (PostgreSQL does not have them: the gap a fresh room used to have).
#  C. persist restarted, math freed, W's recent records aged out: Lena rejoins with since
#     and gets those 10 from PostgreSQL, then 5 live. A record keyed math whose envelope says art is refused (counted, logged), a
#     well-keyed one delivered.
. "$(dirname "$0")/lib.sh"
it_setup gateway_rooms
export CHATSTREAM_AUTH_SECRET=it-secret-0123456789abcdef
it_start fanout -X group.id=${IT_PREFIX}fanout
it_start persist -X group.id=${IT_PREFIX}persist
persist=$IT_PID
it_start_gateway -X rooms.linger.ms=3000 -X fanout.recent.ms=4000
gw_w=$IT_GW gpw=$IT_PID glw="$IT_DIR/gateway-$((${#IT_PIDS[@]} - 1)).log"
it_start_gateway -X rate.per.user=100 -X rate.burst=100
gw_o=$IT_GW
sync="$IT_DIR/sync"
mkdir -p "$sync"
it_gw_client rooms "$gw_w" "$gw_o" 3000 "$sync" >"$IT_DIR/rooms.out" 2>&1 &
cpid=$!
step() {  # step <marker to wait for> <what>
  it_wait 120 "$2" "[[ -e $sync/$1 ]] || ! kill -0 $cpid 2>/dev/null"
  [[ -e $sync/$1 ]] || { wait "$cpid" || true; it_fail "rooms client: $(cat "$IT_DIR/rooms.out")"; }
}

step a.done "phase A"
it_wait 30 "phase A's 60 rows" '[[ $(it_rows) -ge 60 ]]'
it_stop "$persist"
it_assert_eq "$(it_rows)" 60 "rows when persist stopped"
touch "$sync/b.go"

step b.done "phase B"
it_assert_eq "$(it_rows)" 60 "rows while persist was stopped (the catch-up came from memory)"
it_start persist -X group.id=${IT_PREFIX}persist
it_wait 60 "80 rows" '[[ $(it_rows) -ge 80 ]]'
touch "$sync/c.go"

step c.done "phase C"
# Two records written straight to chat.fanout, both keyed math: one for math, one whose
# envelope says art (a producer that broke the contract).
good=$(it_uuid7) bad=$(it_uuid7)
rej0=$(it_metric "$gw_w" 'chatstream_gateway_rejected_total{reason="bad_request"}')
now=$(date +%s%3N)
printf 'math\t{"v":1,"id":"%s","room":"math","user":"sam","cmid":"k1","ts":%s,"text":"well keyed"}\n' "$good" "$now" |
  kcat -P -b "$IT_BROKERS" -t "${IT_PREFIX}chat.fanout" -K '\t' || it_fail "kcat could not produce"
printf 'math\t{"v":1,"id":"%s","room":"art","user":"sam","cmid":"k2","ts":%s,"text":"keyed math, for art"}\n' "$bad" "$now" |
  kcat -P -b "$IT_BROKERS" -t "${IT_PREFIX}chat.fanout" -K '\t' || it_fail "kcat could not produce"
printf '%s\n%s\n' "$good" "$bad" >"$sync/d.tmp" && mv "$sync/d.tmp" "$sync/d.go"
wait "$cpid" || it_fail "rooms client: $(cat "$IT_DIR/rooms.out")"
sed 's/^/  /' "$IT_DIR/rooms.out" >&2
it_assert_eq "$(it_metric "$gw_w" 'chatstream_gateway_rejected_total{reason="bad_request"}')" \
  "$((rej0 + 1))" "gateway W refused the record whose key is not its room"
it_assert "gateway W logged why" "grep -q 'its key is not its room' '$glw'"
# Rooms still kept at exit (math, with Lena in it) are freed with
# the loops: under ASan a leak fails the exit status.
it_stop "$gpw"
it_assert_eq "$IT_RC" 0 "gateway W exit status after SIGTERM"
