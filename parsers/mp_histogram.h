/*
 * A log-linear histogram of non-negative integer values (latencies in
 * microseconds, batch sizes), in the manner of HdrHistogram: each power
 * of two is split into MP_HISTOGRAM_SUB_BUCKETS linear buckets, so every
 * recorded value is kept within 1/MP_HISTOGRAM_SUB_BUCKETS (12.5%) of its
 * true value, from 0 to 2^MP_HISTOGRAM_MAGNITUDES, in fixed memory.
 *
 * Recording is two shifts and an increment.  One writer per histogram;
 * readers merge snapshots (a torn read of a bucket shows a count at most
 * one recording stale, which metrics tolerate).
 */
#ifndef MP_HISTOGRAM_H
#define MP_HISTOGRAM_H

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MP_HISTOGRAM_SUB_BUCKET_BITS 3
#define MP_HISTOGRAM_SUB_BUCKETS (1u << MP_HISTOGRAM_SUB_BUCKET_BITS)
#define MP_HISTOGRAM_MAGNITUDES 40 /* values up to 2^40 (12.7 days in us) */
#define MP_HISTOGRAM_BUCKETS ((MP_HISTOGRAM_MAGNITUDES + 1) * MP_HISTOGRAM_SUB_BUCKETS)

/* Plain data in caller memory; zero-initialized is empty. */
struct mp_histogram {
    uint64_t count;
    uint64_t sum;
    uint64_t max;
    uint64_t buckets[MP_HISTOGRAM_BUCKETS];
};

/* Records one value; values past the range land in the last bucket. */
void mp_histogram_record(struct mp_histogram *histogram, uint64_t value);

/* Adds every count of `from` into `into`. */
void mp_histogram_merge(struct mp_histogram *into, const struct mp_histogram *from);

/*
 * The value at `quantile` (0..1): the upper edge of the bucket holding
 * that rank, never above the recorded maximum.  0 when empty.
 */
uint64_t mp_histogram_quantile(const struct mp_histogram *histogram, double quantile);

/* The smallest value that falls in bucket `index` and the largest. */
uint64_t mp_histogram_bucket_low(uint32_t index);
uint64_t mp_histogram_bucket_high(uint32_t index);

/*
 * Writes the histogram in Prometheus text format as `name` with
 * cumulative `le` buckets at the given edges (ascending, in the recorded
 * unit, printed divided by `scale`, e.g. 1e6 to show microseconds as
 * seconds), `_sum` and `_count`.  `labels` is "" or `key="value",...`.
 */
void mp_histogram_write_prometheus(const struct mp_histogram *histogram, FILE *out,
                                   const char *name, const char *labels, const uint64_t *edges,
                                   uint32_t edge_count, double scale);

#ifdef __cplusplus
}
#endif

#endif
