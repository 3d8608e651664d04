/*
 * A log-linear latency histogram in microseconds (HdrHistogram's layout with 64 sub-buckets per
 * power of two, so every value is kept within ~1.6%). Fixed size, so that workers can send it to
 * the parent as plain bytes and the parent can add them up.
 */
#ifndef LOADGEN_HIST_H
#define LOADGEN_HIST_H

#include <stdint.h>

#define HIST_N 2048

struct hist {
    uint64_t n[HIST_N];
    uint64_t count;
    int64_t max; /* exact */
};

static inline int hist_index(int64_t v)
{
    if (v < 0)
        v = 0;
    uint64_t u = (uint64_t)v;
    if (u < 128)
        return (int)u;
    int msb = 63 - __builtin_clzll(u);
    int shift = msb - 6;
    int idx = 128 + (shift - 1) * 64 + (int)((u >> shift) - 64);
    return idx < HIST_N ? idx : HIST_N - 1;
}

/* The middle of bucket `i`. */
static inline double hist_value(int i)
{
    if (i < 128)
        return i;
    int shift = (i - 128) / 64 + 1;
    uint64_t mant = (uint64_t)((i - 128) % 64 + 64);
    double lo = (double)(mant << shift);
    return lo + (double)((uint64_t)1 << shift) / 2.0;
}

static inline void hist_add(struct hist *h, int64_t v)
{
    h->n[hist_index(v)]++;
    h->count++;
    if (v > h->max)
        h->max = v;
}

static inline void hist_merge(struct hist *dst, const struct hist *src)
{
    for (int i = 0; i < HIST_N; i++)
        dst->n[i] += src->n[i];
    dst->count += src->count;
    if (src->max > dst->max)
        dst->max = src->max;
}

/* The value at quantile q (0..1), in microseconds; 0 for an empty histogram. */
static inline double hist_quantile(const struct hist *h, double q)
{
    if (!h->count)
        return 0;
    uint64_t want = (uint64_t)(q * (double)h->count);
    if (want >= h->count)
        want = h->count - 1;
    uint64_t seen = 0;
    for (int i = 0; i < HIST_N; i++) {
        seen += h->n[i];
        if (seen > want) {
            double v = hist_value(i);
            return v > (double)h->max ? (double)h->max : v;
        }
    }
    return (double)h->max;
}

#endif
