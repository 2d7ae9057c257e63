#!/usr/bin/env bash
# gateway_open_txn_start: where a fresh gateway's backfill ends. A gateway starts reading
# the fan-out fanout.recent.ms back and keeps what lies before the end it found in its
# recent records only; what comes after is live. Two things must hold at that boundary:
# - a fan-out transaction open while the gateway starts lies past the end (a ListOffsets
#   for "latest" under read_committed answers the last stable offset), so its records are
#   pushed once it commits;
# - the backfill's last record goes into the recent records only. The Kafka thread used to
#   run its backfill check between the poll that returned a record and handling it: the
#   poll had already moved the position past the record, so the check called the partition
#   through and the record went out as live (6 of 12 runs failed here before the fix).
# A committed record C for room r0, then a transaction (txn-produce) writes M for r0 and
# stays open; the gateway starts, Nia joins r0, the transaction commits: Nia gets M, and
# exactly one record (C) went into the recent records alone.
. "$(dirname "$0")/lib.sh"
it_setup gateway_open_txn_start
export CHATSTREAM_AUTH_SECRET=it-secret-0123456789abcdef
fanout=${IT_PREFIX}chat.fanout
record() {  # record <id> <text>: a fan-out record for r0, keyed r0
  printf 'r0\t{"v":1,"id":"%s","room":"r0","user":"sam","cmid":"%s","ts":%s,"text":"%s"}\n' \
    "$1" "$1" "$(date +%s%3N)" "$2"
}
c=$(it_uuid7)
record "$c" "committed before the gateway" | kcat -P -b "$IT_BROKERS" -t "$fanout" -K $'\t' \
  || it_fail "kcat could not produce C"
# M in a transaction held open until txn-produce's input closes
mkfifo "$IT_DIR/txn.in"
"$IT_BUILD/tests/integration/txn-produce" "$IT_BROKERS" "$fanout" "${IT_PREFIX}txn" \
  <"$IT_DIR/txn.in" >"$IT_DIR/txn.out" 2>"$IT_DIR/txn-produce.log" &
txn=$!
IT_PIDS+=("$txn")
exec 7>"$IT_DIR/txn.in"
m=$(it_uuid7)
record "$m" "in a transaction open while the gateway starts" >&7
it_wait 30 "M written, its transaction open" "grep -qx 'written 1' '$IT_DIR/txn.out'"
it_start_gateway 7>&-   # (children must not hold the fifo open)
gw=$IT_GW glog="$IT_DIR/gateway-$((${#IT_PIDS[@]} - 1)).log"
it_assert "the gateway read the window into the recent records" \
  "grep -q 'reading the last 10000 ms of 1 partition' '$glog'"
it_gw_client collect "$gw" r0 nia 1 20 "$IT_DIR/nia.ids" >"$IT_DIR/nia.out" 2>&1 7>&- &
nia=$!
it_wait 10 "Nia in the room" "[[ \$(it_metric $gw chatstream_gateway_rooms) -ge 1 ]]"
exec 7>&-   # the transaction commits
wait "$txn" || it_fail "txn-produce failed"
it_assert "the transaction committed" "grep -qx 'committed 1' '$IT_DIR/txn.out'"
wait "$nia" || { cat "$IT_DIR/nia.out" >&2; it_fail "Nia's client failed"; }
it_assert "Nia got M, pushed when its transaction committed" "grep -qx '$m' '$IT_DIR/nia.ids'"
it_assert_eq "$(it_metric "$gw" chatstream_gateway_fanout_backfilled_total)" 1 \
  "only C was read into the recent records alone"
it_stop "$IT_PID"
it_assert_eq "$IT_RC" 0 "gateway exit status after SIGTERM"
it_log "ok"
