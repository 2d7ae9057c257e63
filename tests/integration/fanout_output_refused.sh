#!/usr/bin/env bash
# An output the broker refuses for good: fan-out's input is a valid message, but its copy is
# larger than the output topic's max.message.bytes. The delivery report says "Message size
# too large"; retrying cannot help. In both modes the framework must narrow the batch down to
# that record, dead-letter it with the broker's reason, and deliver every other message —
# not retry the batch forever with the partitions paused (at-least-once did, before).
#   transactions=false: the halves' outputs are really delivered (repeats are allowed);
#   transactions=true:  throwaway transactions, so the output is exact.
. "$(dirname "$0")/lib.sh"
it_setup fanout_output_refused
poison_id=019a7c3e-5f2b-7c1d-9a4e-3b2f1c0d9e90
python3 -c "import sys; sys.stdout.write('{\"v\":1,\"id\":\"$poison_id\",\"room\":\"big\",\"user\":\"ubig\",\"ts\":1,\"text\":\"' + 'x'*3500 + '\"}')" \
  >"$IT_DIR/poison.json"

it_produce count=300 users=30 rooms=10 run.id=a first=0 >/dev/null
it_produce value.file="$IT_DIR/poison.json" count=1 key=ubig >/dev/null
it_produce count=300 users=30 rooms=10 run.id=b first=300 >/dev/null
it_dump "${IT_PREFIX}chat.messages" "$IT_DIR/in-all.tsv"
grep -v "$poison_id" "$IT_DIR/in-all.tsv" >"$IT_DIR/in.tsv"
it_assert_eq "$(wc -l <"$IT_DIR/in.tsv")" 600 "good input records"

dead=0
for txn in false true; do
  out=chat.fanout.small-$txn
  # 3,000 bytes per record batch; the producer's batches stay under it (batch.size) and are
  # not compressed (lz4 would shrink the x's below it), so only the 3.5 KB record is too large
  "$IT_BUILD/tools/chatstream-admin" -b "$IT_BROKERS" create-topic "$IT_PREFIX$out" 12 \
    "${IT_REPLICAS:-1}" max.message.bytes=3000 >/dev/null || it_fail "could not create $out"
  log="$IT_DIR/fanout-${#IT_PIDS[@]}.log"  # where it_start logs this one
  it_start fanout -X group.id="${IT_PREFIX}g-$txn" -X transactions=$txn -X output.topic=$out \
    -X kafka.producer.batch.size=2000 -X kafka.producer.compression.type=none
  admin=$IT_ADMIN pid=$IT_PID
  it_wait 120 "transactions=$txn: committed lag 0" "[[ \$(it_group_lag ${IT_PREFIX}g-$txn) -eq 0 ]]"
  it_assert_eq "$(it_metric "$admin" chatstream_dlq_records_total)" 1 "transactions=$txn: dead letters"
  it_assert_eq "$(it_metric "$admin" chatstream_fanout_records_in_total)" 600 \
    "transactions=$txn: records fanned out"
  it_dump "$IT_PREFIX$out" "$IT_DIR/out-$txn.tsv"
  repeats=(); [[ $txn == false ]] && repeats=(--allow-repeats)
  res=$(python3 "$IT_REPO/tests/integration/fanout_check.py" "$IT_DIR/in.tsv" "$IT_DIR/out-$txn.tsv" \
        --expect 600 "${repeats[@]}") || it_fail "transactions=$txn: $out: $res"
  it_log "transactions=$txn: every other message reached $out: $res"
  dead=$((dead + 1))
  kcat -C -b "$IT_BROKERS" -t "${IT_PREFIX}chat.dlq" -e -q -X isolation.level=read_committed \
    -f '%h\t%s\n' >"$IT_DIR/dlq.txt"
  it_assert_eq "$(grep -c "$poison_id" "$IT_DIR/dlq.txt")" "$dead" "transactions=$txn: the poison in chat.dlq"
  it_assert "transactions=$txn: the dead letter says the broker refused it" \
    "tail -1 '$IT_DIR/dlq.txt' | grep -q 'chatstream.dlq.error=REJECTED.*too large'"
  grep -q "probing to find the cause" "$log" \
    || it_fail "transactions=$txn: the log does not say the batch was narrowed down"
  it_stop "$pid"
  it_assert_eq "$IT_RC" 0 "transactions=$txn: exit status after SIGTERM"
done
