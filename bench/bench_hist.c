/*
 * Latency histogram of qmgr-bench: log-linear buckets (see bench.h), so a
 * run of any length costs one fixed array per thread and percentiles come
 * out within about 1.6%.
 */
#include "bench/bench.h"

#define HALF_SUB (HIST_SUB / 2)

static unsigned bucket_of(uint64_t ns)
{
    if (ns < HIST_SUB)
        return (unsigned)ns;
    unsigned exp = 63u - (unsigned)__builtin_clzll(ns); /* >= HIST_SUB_BITS */
    unsigned shift = exp - (HIST_SUB_BITS - 1);
    uint64_t mantissa = ns >> shift; /* in [HALF_SUB, HIST_SUB) */
    return HIST_SUB + (exp - HIST_SUB_BITS) * HALF_SUB + (unsigned)(mantissa - HALF_SUB);
}

/* The middle of a bucket's range, as its representative value. */
static uint64_t value_of(unsigned bucket)
{
    if (bucket < HIST_SUB)
        return bucket;
    unsigned exp = (bucket - HIST_SUB) / HALF_SUB + HIST_SUB_BITS;
    uint64_t mantissa = (bucket - HIST_SUB) % HALF_SUB + HALF_SUB;
    unsigned shift = exp - (HIST_SUB_BITS - 1);
    return (mantissa << shift) + ((uint64_t)1 << shift) / 2;
}

void hist_record(struct hist *h, uint64_t ns)
{
    h->bucket[bucket_of(ns)]++;
    h->count++;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

void hist_merge(struct hist *into, const struct hist *from)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        into->bucket[i] += from->bucket[i];
    into->count += from->count;
    if (from->max_ns > into->max_ns)
        into->max_ns = from->max_ns;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
    if (h->count == 0)
        return 0;
    /* The smallest value with at least p% of the samples at or below it. */
    uint64_t rank = (uint64_t)(p / 100.0 * (double)h->count + 0.999999);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            uint64_t v = value_of(i);
            return v < h->max_ns ? v : h->max_ns;
        }
    }
    return h->max_ns;
}
