#!/usr/bin/env bash
# gateway_broadcast: two gateways, six clients spread over them in one room, 20 sends each
# -> every client receives all 120 exactly once, all in the same order, every send acked;
# and the 120 are in PostgreSQL (persist) with the ids the senders were given.
. "$(dirname "$0")/lib.sh"
it_setup gateway_broadcast
export CHATSTREAM_AUTH_SECRET=it-secret-0123456789abcdef
it_start fanout -X group.id=${IT_PREFIX}fanout
it_start persist -X group.id=${IT_PREFIX}persist
it_start_gateway -X rate.per.user=100 -X rate.burst=100
gw1=$IT_GW gp1=$IT_PID gl1="$IT_DIR/gateway-$((${#IT_PIDS[@]} - 1)).log"
it_start_gateway -X rate.per.user=100 -X rate.burst=100 -X fanout.dedupe.ids=50
gw2=$IT_GW gp2=$IT_PID gl2="$IT_DIR/gateway-$((${#IT_PIDS[@]} - 1)).log"
out=$(it_gw_client broadcast "$gw1,$gw2" math-101 6 20) || it_fail "$out"
printf '%s\n' "$out" | grep '^ok:' >&2
it_wait 60 "120 rows" '[[ $(it_rows) -ge 120 ]]'
it_assert_eq "$(it_rows)" 120 "rows in PostgreSQL"
ids=$(printf '%s\n' "$out" | tail -1 | /usr/bin/python3 -c 'import json,sys; print(",".join(json.load(sys.stdin)["order"]))')
stored=$(it_psql -d "$IT_DB" -tAc "SELECT count(*) FROM messages WHERE id::text = ANY(string_to_array('$ids', ','))")
it_assert_eq "$stored" 120 "delivered ids found in PostgreSQL"
it_assert_eq "$(it_metric "$gw1" chatstream_gateway_messages_acked_total) $(it_metric "$gw2" chatstream_gateway_messages_acked_total)" \
  "60 60" "acks per gateway (3 senders each)"

# The id window: gateway 2 remembers 50 ids, so its full window reaches back over the last
# 50 of the 120 messages only (well under the 11 s a crashed fan-out's copies may be late):
# it warns, and its gauge says how far back; gateway 1's window (250,000) is not full.
it_wait 15 "gateway 2 warns about its id window" "grep -q 'fanout.dedupe.ids=50 reaches back only' '$gl2'"
span() { curl -sf "http://$1/metrics" | awk '$1 == "chatstream_gateway_dedupe_window_seconds" { print $2 }'; }
it_wait 5 "gateway 1's window spans the 120 messages" "/usr/bin/python3 -c 'import sys; sys.exit(not float(sys.argv[1]) > 0)' \"\$(span $gw1)\""
s1=$(span "$gw1") s2=$(span "$gw2")
it_assert "windows: gateway 2 ($s2 s) < 11 s and <= gateway 1 ($s1 s)" \
  "/usr/bin/python3 -c 'import sys; a, b = map(float, sys.argv[1:]); sys.exit(not (b < 11 and b <= a))' '$s1' '$s2'"
it_assert "gateway 1 did not warn" "! grep -q 'reaches back only' '$gl1'"

# HTTP on the same port: send with a token, page the history, refuse what is wrong.
tok=$("$IT_BUILD/tools/chatstream-token" -X sub=hana -X ttl=300)
bad=$("$IT_BUILD/tools/chatstream-token" -X sub=hana -X ttl=300 -X rooms=art)
post() { curl -s -o "$IT_DIR/post.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $1" \
         -H 'Content-Type: application/json' --data "$2" "http://$gw2/v1/rooms/math-101/messages"; }
it_assert_eq "$(post "$tok" '{"text":"over HTTP","cmid":"h1"}')" 200 "POST a message"
hid=$(it_json "$(cat "$IT_DIR/post.json")" id)
it_assert_eq "$(post "$tok" '{"text":"no cmid"}')" 400 "POST without cmid"
it_assert_eq "$(post "$bad" '{"text":"x","cmid":"h2"}')" 403 "POST to a room the token does not allow"
it_assert_eq "$(post "not.a.token" '{"text":"x","cmid":"h3"}')" 401 "POST with a forged token"
it_wait 30 "121 rows" '[[ $(it_rows) -ge 121 ]]'
get() { curl -s -H "Authorization: Bearer $tok" "http://$gw1/v1/rooms/math-101/messages?$1"; }
page1=$(get limit=100)
it_assert_eq "$(printf '%s' "$page1" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["messages"]), d["messages"][0]["id"])')" \
  "100 $hid" "history page 1: 100 messages, newest first (the HTTP one)"
next=$(printf '%s' "$page1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["next"])')
page2=$(get "limit=100&before=$next")
it_assert_eq "$(printf '%s' "$page2" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["messages"]), d["next"])')" \
  "21 None" "history page 2: the other 21, no next page"
it_assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://$gw1/v1/rooms/math-101/messages?limit=0" -H "Authorization: Bearer $tok")" \
  400 "history with limit=0"
it_assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://$gw1/nowhere")" 404 "unknown path"
it_assert "the web client is served" "curl -sf http://$gw1/ | grep -qi '<html\\|<!doctype'"

# Each gateway's fan-out reader fetches every partition it was given (the watch on
# assigned partitions, chatstream_consumer_not_fetching_seconds, at 0 for all 12).
fetched() { curl -sf "http://$1/metrics" | grep -c '^chatstream_consumer_not_fetching_seconds{.*} 0$' || true; }
for gw in "$gw1" "$gw2"; do
  it_wait 15 "gateway $gw fetching all ${IT_PARTITIONS:-12} fan-out partitions" "[[ \$(fetched $gw) -eq ${IT_PARTITIONS:-12} ]]"
done

# SIGTERM with a client connected and sends in flight: the sends are answered, then the
# client is told 1001 (going away) instead of seeing the connection drop.
rm -f "$IT_DIR/sent.marker"
it_gw_client shutdown "$gw1" math-101 20 "$IT_DIR/sent.marker" >"$IT_DIR/shutdown.out" 2>&1 &
cpid=$!
it_wait 20 "the leaving client sent" "[[ -e $IT_DIR/sent.marker ]]"
it_stop "$gp1"
it_assert_eq "$IT_RC" 0 "gateway 1 exit status after SIGTERM"
wait "$cpid" || it_fail "shutdown client: $(cat "$IT_DIR/shutdown.out")"
sed 's/^/  /' "$IT_DIR/shutdown.out"
it_stop "$gp2"
it_assert_eq "$IT_RC" 0 "gateway 2 exit status after SIGTERM"
