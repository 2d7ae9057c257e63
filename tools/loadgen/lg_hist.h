/*
 * lg_hist — a log-linear latency histogram in the manner of HdrHistogram.
 *
 * Values are nanoseconds. Below 2^LG_HIST_SUB_BITS a bucket is one unit wide;
 * above, each power of two is split into 2^LG_HIST_SUB_BITS equal buckets, so
 * a bucket is never wider than 1/64 (1.6 %) of its value. Recording is an
 * index computation and an increment; percentiles walk the ~2,300 counters.
 * Millions of samples cost no memory and no sorting. Not thread-safe: one per
 * thread, merged at the end.
 */
#ifndef LG_HIST_H
#define LG_HIST_H

#include <stdint.h>

#define LG_HIST_SUB_BITS 6
#define LG_HIST_SUB (1u << LG_HIST_SUB_BITS)
#define LG_HIST_MAX_BITS 41 /* values up to 2^41 ns (~36 min); larger are clamped */
#define LG_HIST_BUCKETS ((LG_HIST_MAX_BITS - LG_HIST_SUB_BITS + 1) * LG_HIST_SUB)

typedef struct lg_hist {
    uint64_t count;                   /* samples recorded */
    uint64_t sum;                     /* of the values, for the mean */
    uint64_t min;                     /* exact smallest value (UINT64_MAX when empty) */
    uint64_t max;                     /* exact largest value */
    uint64_t counts[LG_HIST_BUCKETS]; /* per bucket */
} lg_hist_t;

void lg_hist_init(lg_hist_t *hist);
void lg_hist_record(lg_hist_t *hist, uint64_t value);
/* Adds every sample of `from` to `into`. */
void lg_hist_merge(lg_hist_t *into, const lg_hist_t *from);
/* The value at percentile p (0..100): the highest value of the bucket holding
 * the sample of that rank, capped at the exact max, so the error is at most one
 * bucket (1.6 %) and always upwards. 0 when empty. */
uint64_t lg_hist_percentile(const lg_hist_t *hist, double p);
double lg_hist_mean(const lg_hist_t *hist);

/* Bucket arithmetic, exposed for the unit tests. */
unsigned lg_hist_index(uint64_t value);
uint64_t lg_hist_bucket_low(unsigned index);
uint64_t lg_hist_bucket_high(unsigned index);

#endif
