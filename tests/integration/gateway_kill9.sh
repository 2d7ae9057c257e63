#!/usr/bin/env bash
# gateway_kill9: a follower connected to gateway A, a reference listener and a sender on
# gateway B; A is killed with -9 in the middle of a paced stream. The follower reconnects
# to B, rejoins with the last id it saw, and ends with exactly the reference's messages:
# same ids, same order, none twice, none missing (catch-up from PostgreSQL and B's recent
# pushes, then live).
. "$(dirname "$0")/lib.sh"
it_setup gateway_kill9
export CHATSTREAM_AUTH_SECRET=it-secret-0123456789abcdef
N=300
it_start fanout -X group.id=${IT_PREFIX}fanout
it_start persist -X group.id=${IT_PREFIX}persist
it_start_gateway -X rate.per.user=100 -X rate.burst=100
gwa=$IT_GW pa=$IT_PID
it_start_gateway -X rate.per.user=100 -X rate.burst=100
gwb=$IT_GW pb=$IT_PID
it_gw_client follow "$gwb" r1 reference $N "$IT_DIR/reference.txt" >"$IT_DIR/reference.log" 2>&1 &
ref=$!
it_gw_client follow "$gwa,$gwb" r1 follower $N "$IT_DIR/follower.txt" >"$IT_DIR/follower.log" 2>&1 &
fol=$!
sleep 1
it_gw_client send_paced "$gwb" r1 sender $N 60 k >"$IT_DIR/sender.log" 2>&1 &
snd=$!
sleep 2.5
it_stop "$pa" KILL
it_log "gateway A killed"
wait $snd || it_fail "sender: $(cat "$IT_DIR/sender.log")"
wait $ref || it_fail "reference: $(cat "$IT_DIR/reference.log")"
wait $fol || it_fail "follower: $(cat "$IT_DIR/follower.log")"
grep '^ok' "$IT_DIR/follower.log" >&2
it_assert_eq "$(grep -c . "$IT_DIR/reference.txt")" $N "messages at the reference listener"
it_assert_eq "$(sort -u "$IT_DIR/follower.txt" | grep -c .)" $N "distinct messages at the follower"
it_assert_eq "$(grep -c . "$IT_DIR/follower.txt")" $N "messages at the follower (no duplicate)"
it_assert "follower order = reference order" "cmp -s '$IT_DIR/follower.txt' '$IT_DIR/reference.txt'"
it_assert "the follower reconnected" "grep -q 'over [1-9]' '$IT_DIR/follower.log'"
it_stop "$pb"
it_assert_eq "$IT_RC" 0 "gateway B exit status after SIGTERM"
