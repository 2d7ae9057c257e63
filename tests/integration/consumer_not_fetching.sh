#!/usr/bin/env bash
# A partition that is assigned but never fetched has no lag to alert on: the consumer's
# chatstream_consumer_not_fetching_seconds must show it. Made real here with a consumer
# that cannot start: a new group (no committed offsets) with auto.offset.reset=error, so
# librdkafka leaves every partition unfetched. Then a healthy group on the same records:
# every one of its partitions at 0 once it runs, every record written.
. "$(dirname "$0")/lib.sh"
it_setup consumer_not_fetching
parts=${IT_PARTITIONS:-12}
it_produce count=600 >/dev/null

gauge() {  # gauge <admin> <metric>: "partition value" lines of this test's topic
  curl -sf "http://$1/metrics" | awk -v m="$2" -v t="${IT_PREFIX}chat.messages" '
    index($1, m "{") == 1 && index($1, "topic=\"" t "\"") { match($1, /partition="[0-9]+"/);
      print substr($1, RSTART + 11, RLENGTH - 12), $2 }' | sort -n
}
count_over() {  # count_over <admin> <seconds>: partitions not fetched for at least that long
  gauge "$1" chatstream_consumer_not_fetching_seconds | awk -v s="$2" '$2 >= s' | wc -l
}

# Statistics every second instead of 5, so the gauge moves within the test's time.
it_start persist -X group.id=${IT_PREFIX}stuck -X kafka.consumer.auto.offset.reset=error \
  -X kafka.consumer.statistics.interval.ms=1000
stuck=$IT_ADMIN stuck_pid=$IT_PID
it_wait 60 "all $parts partitions not fetched for 3 s" "[[ \$(count_over $stuck 3) -eq $parts ]]"
it_assert_eq "$(gauge "$stuck" chatstream_consumer_lag | wc -l)" 0 \
  "lag gauges of a consumer that never fetched (the blind spot the new gauge covers)"
it_assert "no rows written by the consumer that cannot start (count: $(it_rows), -1: no table yet)" \
  '[[ $(it_rows) -le 0 ]]'
first=$(gauge "$stuck" chatstream_consumer_not_fetching_seconds | awk '{ print $2 }' | sort -n | head -1)
sleep 3
later=$(gauge "$stuck" chatstream_consumer_not_fetching_seconds | awk '{ print $2 }' | sort -n | head -1)
it_assert "the gauge keeps counting ($first s, 3 s later $later s)" \
  "python3 -c 'import sys; a, b = map(float, sys.argv[1:]); sys.exit(not b >= a + 2)' $first $later"

it_start persist -X group.id=${IT_PREFIX}healthy -X kafka.consumer.statistics.interval.ms=1000
healthy=$IT_ADMIN healthy_pid=$IT_PID
it_wait 60 "600 rows" '[[ $(it_rows) -ge 600 ]]'
it_wait 30 "statistics for all $parts partitions" \
  "[[ \$(gauge $healthy chatstream_consumer_not_fetching_seconds | wc -l) -eq $parts ]]"
sleep 2 # one more statistics document after the last fetch started
it_assert_eq "$(gauge "$healthy" chatstream_consumer_not_fetching_seconds | awk '$2 != 0' | wc -l)" 0 \
  "partitions of the healthy group not being fetched"
it_assert_eq "$(gauge "$healthy" chatstream_consumer_lag | awk '$2 == 0' | wc -l)" "$parts" \
  "partitions of the healthy group at lag 0"
it_assert_eq "$(it_rows)" 600 "rows"
# Both stop cleanly (revoking their partitions drops the gauges; the ASan build checks leaks).
for pid in $healthy_pid $stuck_pid; do
  it_stop "$pid"
  it_assert_eq "$IT_RC" 0 "exit status after SIGTERM"
done
