/*
 * chatstream-bench-recent — what the gateway's recent fan-out records cost
 * (ingest/gw_recent.c): the Kafka thread's add per record, and a service thread's walk for
 * one room when it starts it, at the size the default keeps at the capacity load
 * (fanout.recent.ms=10 s of 5,000 records a second, ~300-byte envelopes, rooms of 30 users
 * so ~170 rooms). Prints the median of 7 runs.
 *
 *   chatstream-bench-recent [records] [rooms]
 */
#include "gw_recent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 7

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void count(void *arg, uint64_t seq, const void *value, size_t len)
{
    (void)seq, (void)value;
    *(size_t *)arg += len;
}

int main(int argc, char **argv)
{
    long records = argc > 1 ? atol(argv[1]) : 50000;
    long rooms = argc > 2 ? atol(argv[2]) : 170;
    if (records < 1 || rooms < 1) {
        fprintf(stderr, "usage: chatstream-bench-recent [records] [rooms]\n");
        return 2;
    }
    char value[300];
    memset(value, 'x', sizeof(value));
    char(*keys)[32] = calloc((size_t)rooms, sizeof(*keys));
    size_t *key_len = calloc((size_t)rooms, sizeof(*key_len));
    if (!keys || !key_len)
        return 1;
    for (long i = 0; i < rooms; i++)
        key_len[i] = (size_t)snprintf(keys[i], sizeof(keys[i]), "room-%ld", i);
    double add_ns[RUNS], walk_us[RUNS];
    size_t bytes = 0, kept = 0, matched = 0;
    for (int run = 0; run < RUNS; run++) {
        /* filled once (untimed: the first fill's page faults are paid once in a gateway's
         * life), then as many again timed, each add also dropping the oldest by age */
        gw_recent_t *r = gw_recent_new(10000, (size_t)1 << 30);
        long per_ms = records / 10000 > 0 ? records / 10000 : 1;
        long total = records * 2;
        double t0 = 0;
        for (long i = 0; i < total; i++) {
            if (i == records)
                t0 = now_ns();
            long room = i % rooms;
            gw_recent_add(r, keys[room], key_len[room], value, sizeof(value), i / per_ms);
        }
        add_ns[run] = (now_ns() - t0) / (double)(total - records);
        int64_t at = (total - 1) / per_ms;
        gw_recent_stats_t st;
        gw_recent_stats(r, at, &st);
        bytes = st.bytes;
        kept = st.records;
        t0 = now_ns();
        size_t got = 0;
        for (long q = 0; q < 20; q++)
            gw_recent_each(r, keys[q * 7 % rooms], key_len[q * 7 % rooms], 256, at, count,
                           &got);
        walk_us[run] = (now_ns() - t0) / 20 / 1000;
        matched = got / sizeof(value) / 20;
        gw_recent_destroy(r);
    }
    qsort(add_ns, RUNS, sizeof(double), cmp_double);
    qsort(walk_us, RUNS, sizeof(double), cmp_double);
    free(keys);
    free(key_len);
    printf("recent records: %zu kept (%.1f MiB), %ld rooms, 300-byte values; median of %d runs\n",
           kept, (double)bytes / 1048576.0, rooms, RUNS);
    printf("  add (Kafka thread, per record):        %7.1f ns  (min %.1f, max %.1f)\n",
           add_ns[RUNS / 2], add_ns[0], add_ns[RUNS - 1]);
    printf("  a room's walk (service thread, start): %7.1f us  (min %.1f, max %.1f), %zu records "
           "of the room\n",
           walk_us[RUNS / 2], walk_us[0], walk_us[RUNS - 1], matched);
    return 0;
}
