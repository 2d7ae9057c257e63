/* lg_hist — see lg_hist.h. */
#include "lg_hist.h"

#include <string.h>

void lg_hist_init(lg_hist_t *hist)
{
    memset(hist, 0, sizeof(*hist));
    hist->min = UINT64_MAX;
}

unsigned lg_hist_index(uint64_t value)
{
    if (value >= (1ull << LG_HIST_MAX_BITS))
        value = (1ull << LG_HIST_MAX_BITS) - 1;
    if (value < LG_HIST_SUB)
        return (unsigned)value;
    unsigned msb = 63u - (unsigned)__builtin_clzll(value); /* >= SUB_BITS */
    unsigned shift = msb - LG_HIST_SUB_BITS;
    /* (value >> shift) is in [SUB, 2*SUB): its low SUB_BITS pick the sub-bucket. */
    return (shift + 1) * LG_HIST_SUB + (unsigned)((value >> shift) - LG_HIST_SUB);
}

uint64_t lg_hist_bucket_low(unsigned index)
{
    if (index < LG_HIST_SUB)
        return index;
    unsigned shift = index / LG_HIST_SUB - 1;
    uint64_t sub = index % LG_HIST_SUB;
    return (LG_HIST_SUB + sub) << shift;
}

uint64_t lg_hist_bucket_high(unsigned index)
{
    if (index < LG_HIST_SUB)
        return index;
    unsigned shift = index / LG_HIST_SUB - 1;
    return lg_hist_bucket_low(index) + (1ull << shift) - 1;
}

void lg_hist_record(lg_hist_t *hist, uint64_t value)
{
    hist->counts[lg_hist_index(value)]++;
    hist->count++;
    hist->sum += value;
    if (value < hist->min)
        hist->min = value;
    if (value > hist->max)
        hist->max = value;
}

void lg_hist_merge(lg_hist_t *into, const lg_hist_t *from)
{
    for (unsigned i = 0; i < LG_HIST_BUCKETS; i++)
        into->counts[i] += from->counts[i];
    into->count += from->count;
    into->sum += from->sum;
    if (from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t lg_hist_percentile(const lg_hist_t *hist, double p)
{
    if (hist->count == 0)
        return 0;
    if (p <= 0)
        return hist->min;
    /* rank of the sample at percentile p, 1-based, nearest-rank definition */
    double r = p / 100.0 * (double)hist->count;
    uint64_t rank = (uint64_t)r;
    if ((double)rank < r)
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > hist->count)
        rank = hist->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < LG_HIST_BUCKETS; i++) {
        seen += hist->counts[i];
        if (seen >= rank) {
            uint64_t v = lg_hist_bucket_high(i);
            if (v > hist->max)
                v = hist->max;
            if (v < hist->min)
                v = hist->min;
            return v;
        }
    }
    return hist->max;
}

double lg_hist_mean(const lg_hist_t *hist)
{
    return hist->count ? (double)hist->sum / (double)hist->count : 0.0;
}
