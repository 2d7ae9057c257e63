#!/usr/bin/env bash
# fan-out with transactions=false (at-least-once, the low-latency mode) killed -9 while
# messages keep arriving, then restarted: chat.fanout holds every message at least once
# (copies byte for byte, first copies in order, and the kill did leave copies: the killed
# instance committed its offsets only every 5 s), and a WebSocket member of a room still
# receives each of the room's messages exactly once, in chat.fanout's order: the gateway
# dropped every copy of that room's messages (chatstream_gateway_fanout_repeats_total = the
# room's copies in the topic) and skipped, undecoded, every record of the 200 rooms nobody
# on it is in, copies included (chatstream_gateway_fanout_skipped_total).
. "$(dirname "$0")/lib.sh"
it_setup fanout_at_least_once
export CHATSTREAM_AUTH_SECRET=it-secret-0123456789abcdef

# the gateway first: it reads chat.fanout from the end, so it must see every first copy
it_start_gateway -X rate.per.user=100 -X rate.burst=100
gw=$IT_GW gp=$IT_PID
it_gw_client collect "$gw" lecture watcher 300 120 "$IT_DIR/seen.txt" >"$IT_DIR/collect.out" 2>&1 &
collector=$!
IT_PIDS+=("$collector")

it_produce count=60000 users=1000 rooms=200 dup.every=5 rate=6000 run.id=l \
  >"$IT_DIR/produce.json" 2>"$IT_DIR/produce.log" &
producer=$!
IT_PIDS+=("$producer")
it_start fanout -X group.id=${IT_PREFIX}g -X transactions=false \
  -X kafka.auto.commit.interval.ms=5000
a=$IT_PID admin=$IT_ADMIN
it_gw_client send_paced "$gw" lecture talker 300 30 t >"$IT_DIR/send.out" 2>&1 &
sender=$!
IT_PIDS+=("$sender")
it_wait 60 "A processed 20,000" "[[ \$(it_metric $admin chatstream_fanout_records_in_total) -ge 20000 ]]"
it_stop "$a" KILL
it_log "A killed after $(it_fanout_count) records in chat.fanout"

it_start fanout -X group.id=${IT_PREFIX}g -X transactions=false
b=$IT_PID
wait "$producer" || it_fail "chatstream-produce failed: $(cat "$IT_DIR/produce.log")"
wait "$sender" || it_fail "sender: $(cat "$IT_DIR/send.out")"
retries=$(it_json "$(cat "$IT_DIR/produce.json")" client_retries)
expected=$((60000 - retries + 300))
it_wait 120 "committed lag 0" '[[ $(it_group_lag ${IT_PREFIX}g) -eq 0 ]]'
it_wait 60 "chat.fanout complete" "[[ \$(it_fanout_count) -ge $expected ]]"
wait "$collector" || it_fail "collector: $(cat "$IT_DIR/collect.out")"

it_dump "${IT_PREFIX}chat.messages" "$IT_DIR/in.tsv"
it_dump "${IT_PREFIX}chat.fanout" "$IT_DIR/out.tsv"
res=$(python3 "$IT_REPO/tests/integration/fanout_check.py" "$IT_DIR/in.tsv" "$IT_DIR/out.tsv" \
      --expect "$expected" --allow-repeats) || it_fail "chat.fanout: $res"
it_log "ok: chat.fanout at least once: $res"
repeats=$(it_json "$res" repeats)
it_assert "the kill left copies in chat.fanout ($repeats)" "[[ $repeats -gt 0 ]]"
# split chat.fanout by what the gateway had to do with each record
read -r lecture_copies others < <(python3 - "$IT_DIR/out.tsv" <<'PY'
import json, sys
seen, copies, others = set(), 0, 0
for line in open(sys.argv[1]):
    env = json.loads(line.rstrip("\n").split("\t", 3)[3])
    if env["room"] != "lecture":
        others += 1
    elif env["id"] in seen:
        copies += 1
    else:
        seen.add(env["id"])
print(copies, others)
PY
)
it_log "chat.fanout: $lecture_copies copies of lecture's messages, $others records of other rooms"
it_assert_eq "$(it_metric "$gw" chatstream_gateway_fanout_repeats_total)" "$lecture_copies" \
  "copies of lecture's messages the gateway dropped"
it_assert_eq "$(it_metric "$gw" chatstream_gateway_fanout_skipped_total)" "$others" \
  "records of rooms nobody on the gateway is in, skipped"

# the room as the member saw it = the room's first copies in chat.fanout, in order
python3 - "$IT_DIR/out.tsv" "$IT_DIR/seen.txt" <<'PY' || it_fail "the member's view of the room"
import json, sys
first = []
for line in open(sys.argv[1]):
    env = json.loads(line.rstrip("\n").split("\t", 3)[3])
    if env["room"] == "lecture" and env["id"] not in first:
        first.append(env["id"])
seen = [l for l in open(sys.argv[2]).read().split("\n") if l]
assert len(first) == 300, f"{len(first)} lecture messages in chat.fanout, expected 300"
assert len(set(seen)) == len(seen), f"the member got {len(seen) - len(set(seen))} copies"
assert seen == first, f"the member saw {len(seen)} messages, not chat.fanout's 300 in order"
print("ok: the member got all 300 exactly once, in chat.fanout's order")
PY
it_stop "$b"
it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"
it_stop "$gp"
