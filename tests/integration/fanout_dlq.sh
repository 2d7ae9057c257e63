#!/usr/bin/env bash
# Bad records among good ones: each lands in chat.dlq (in the same transaction as the batch,
# so read_committed) with its error and reason; the good ones are fanned out exactly once;
# the consumer is never stuck (committed lag 0).
. "$(dirname "$0")/lib.sh"
it_setup fanout_dlq

id=019a7c3e-5f2b-7c1d-9a4e-3b2f1c0d9e8f
printf '{"v":1,"id":"%s","room":"r","user":"u"' "$id" >"$IT_DIR/malformed.json"       # truncated
printf '{"v":1,"id":"%s","room":"r","user":"u","ts":1,"text":"\xff\xfe"}' "$id" >"$IT_DIR/bad_utf8.json"
python3 -c "import sys; sys.stdout.write('{\"v\":1,\"id\":\"$id\",\"room\":\"r\",\"user\":\"u\",\"ts\":1,\"text\":\"' + 'x'*200000 + '\"}')" >"$IT_DIR/oversized.json"
printf '{"v":1,"id":"%s","room":"r","user":"u","ts":1,"text":"hi","admin":true}' "$id" >"$IT_DIR/unknown_field.json"
printf '{"v":1,"room":"r","user":"u","ts":1,"text":"no id"}' >"$IT_DIR/missing_id.json"
printf '{"v":1,"id":"%s","room":"r","user":"mallory","ts":1,"text":"hi"}' "$id" >"$IT_DIR/wrong_key.json"

it_produce count=500 run.id=a first=0 >/dev/null
for f in malformed bad_utf8 oversized unknown_field missing_id wrong_key; do
  it_produce value.file="$IT_DIR/$f.json" count=1 key=u >/dev/null
done
it_produce count=500 run.id=b first=500 >/dev/null

it_start fanout -X group.id=${IT_PREFIX}g
admin=$IT_ADMIN
it_wait 60 "all consumed" "[[ \$(it_metric $admin chatstream_fanout_records_in_total) -ge 1005 ]]"
it_wait 60 "committed lag 0" '[[ $(it_group_lag ${IT_PREFIX}g) -eq 0 ]]'
it_fanout_check 1000

kcat -C -b "$IT_BROKERS" -t "${IT_PREFIX}chat.dlq" -e -q -X isolation.level=read_committed \
  -f '%h\n' >"$IT_DIR/dlq.txt"
it_assert_eq "$(wc -l <"$IT_DIR/dlq.txt")" 6 "records in chat.dlq"
for want in 'chatstream.dlq.error=BAD_JSON' 'chatstream.dlq.error=BAD_UTF8' \
            'chatstream.dlq.error=TOO_LARGE' 'chatstream.dlq.error=UNKNOWN_FIELD' \
            'chatstream.dlq.error=MISSING_FIELD' 'keyed by user'; do
  it_assert "dlq has $want" "grep -q '$want' '$IT_DIR/dlq.txt'"
done
it_assert "every dead letter says why and names fan-out" \
  "[[ \$(grep -c 'chatstream.dlq.reason=.*chatstream.dlq.processor=fanout' '$IT_DIR/dlq.txt') -eq 6 ]]"
it_assert_eq "$(it_metric "$admin" chatstream_dlq_records_total)" 6 "dead letters counted"
it_stop "$IT_PID"
it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"
