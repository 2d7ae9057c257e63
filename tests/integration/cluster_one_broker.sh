#!/usr/bin/env bash
# kill -9 of one broker of three (the KRaft quorum's leader, so the controller fails over
# too) while 30,000 messages arrive at up to 1,000/s from an acks=all idempotent producer
# that waits for its acks as a gateway does. The broker comes back once acks have gone on
# without it for 10 s. Two persist instances and two fan-outs keep running throughout.
# Every acked message is in PostgreSQL and in chat.fanout (read_committed) exactly once,
# and with RF 3 / min.insync.replicas 2 no send fails at all: the producer only waits.
# Prints the pauses (recovery times).
. "$(dirname "$0")/cluster_lib.sh"
cl_setup cluster_one_broker 29200

it_start persist -X group.id=${IT_PREFIX}persist -X batch.max.records=1000; p1=$IT_PID
it_start persist -X group.id=${IT_PREFIX}persist -X batch.max.records=1000; p2=$IT_PID
it_start fanout -X group.id=${IT_PREFIX}fanout -X batch.max.records=1000; f1=$IT_PID
it_start fanout -X group.id=${IT_PREFIX}fanout -X batch.max.records=1000; f2=$IT_PID

cl_produce count=30000 rate=1000 users=500 rooms=100 run.id=b
cl_sampler_start
it_wait 180 "8,000 acked" '[[ $(cl_acked) -ge 8000 ]]'

leader=$(cl_cluster status | awk '/^LeaderId:/ {print $2}')
[[ -n $leader ]] || leader=1
t_kill=$(date +%s.%N)
cl_cluster broker-kill "$leader"
acked_kill=$(cl_acked)
it_log "killed node $leader (quorum leader) at $acked_kill acked"
it_wait 90 "acks go on with the node down" "[[ \$(cl_acked) -gt $((acked_kill + 500)) ]]"
it_log "acks went on with node $leader down ($acked_kill -> $(cl_acked))"
sleep 10
t_back=$(date +%s.%N)
cl_cluster broker-start "$leader"

cl_produce_wait
t_end=$(date +%s)
it_wait 120 "persist lag 0" '[[ $(it_group_lag ${IT_PREFIX}persist) -eq 0 ]]'
it_wait 120 "fanout lag 0" '[[ $(it_group_lag ${IT_PREFIX}fanout) -eq 0 ]]'
drain=$(( $(date +%s) - t_end ))
it_assert_eq "$(it_json "$CL_RESULT" not_acked)" 0 "sends not acked with one broker down"
cl_check fanout
it_log "RESULT one broker down: acked $(it_json "$CL_RESULT" acked), lost 0, duplicated 0;" \
  "longest ack wait $(it_json "$CL_RESULT" max_ack_wait_seconds) s," \
  "longest pause in acks $(cl_stall 2 "$t_kill") s, in persistence $(cl_stall 1 "$t_kill") s" \
  "(after the kill), node back at +$(python3 -c "print(round($t_back-$t_kill,1))") s," \
  "lag drained ${drain} s after the last send"
for p in "$p1" "$p2" "$f1" "$f2"; do
  it_stop "$p"
  it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"
done
