#include "mp_histogram.h"

#include "mp_assert.h"

/*
 * Bucket index: values below SUB_BUCKETS map to themselves (exact); a
 * larger value with its highest bit at position m (m >= SUB_BUCKET_BITS)
 * falls in magnitude m - SUB_BUCKET_BITS + 1, sub-bucket given by the
 * SUB_BUCKET_BITS bits below the highest.
 */
static uint32_t bucket_index(uint64_t value)
{
    if (value < MP_HISTOGRAM_SUB_BUCKETS)
        return (uint32_t)value;
    uint32_t top_bit = 63u - (uint32_t)__builtin_clzll(value);
    uint32_t magnitude = top_bit - MP_HISTOGRAM_SUB_BUCKET_BITS + 1;
    if (magnitude > MP_HISTOGRAM_MAGNITUDES)
        return MP_HISTOGRAM_BUCKETS - 1;
    uint32_t sub = (uint32_t)(value >> (top_bit - MP_HISTOGRAM_SUB_BUCKET_BITS)) &
                   (MP_HISTOGRAM_SUB_BUCKETS - 1);
    return magnitude * MP_HISTOGRAM_SUB_BUCKETS + sub;
}

uint64_t mp_histogram_bucket_low(uint32_t index)
{
    MP_ASSERT(index < MP_HISTOGRAM_BUCKETS);
    uint32_t magnitude = index / MP_HISTOGRAM_SUB_BUCKETS;
    uint64_t sub = index % MP_HISTOGRAM_SUB_BUCKETS;
    if (magnitude == 0)
        return sub;
    uint32_t shift = magnitude - 1;
    return (MP_HISTOGRAM_SUB_BUCKETS + sub) << shift;
}

uint64_t mp_histogram_bucket_high(uint32_t index)
{
    MP_ASSERT(index < MP_HISTOGRAM_BUCKETS);
    if (index + 1 == MP_HISTOGRAM_BUCKETS)
        return UINT64_MAX;
    return mp_histogram_bucket_low(index + 1) - 1;
}

void mp_histogram_record(struct mp_histogram *histogram, uint64_t value)
{
    histogram->buckets[bucket_index(value)]++;
    histogram->count++;
    histogram->sum += value;
    if (value > histogram->max)
        histogram->max = value;
}

void mp_histogram_merge(struct mp_histogram *into, const struct mp_histogram *from)
{
    for (uint32_t index = 0; index < MP_HISTOGRAM_BUCKETS; index++)
        into->buckets[index] += from->buckets[index];
    into->count += from->count;
    into->sum += from->sum;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t mp_histogram_quantile(const struct mp_histogram *histogram, double quantile)
{
    if (histogram->count == 0)
        return 0;
    if (quantile < 0)
        quantile = 0;
    if (quantile > 1)
        quantile = 1;
    uint64_t rank = (uint64_t)(quantile * (double)histogram->count + 0.5);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (uint32_t index = 0; index < MP_HISTOGRAM_BUCKETS; index++) {
        seen += histogram->buckets[index];
        if (seen >= rank) {
            uint64_t high = mp_histogram_bucket_high(index);
            return high < histogram->max ? high : histogram->max;
        }
    }
    return histogram->max;
}

void mp_histogram_write_prometheus(const struct mp_histogram *histogram, FILE *out,
                                   const char *name, const char *labels, const uint64_t *edges,
                                   uint32_t edge_count, double scale)
{
    const char *separator = labels[0] ? "," : "";
    uint64_t cumulative = 0;
    uint32_t index = 0;
    for (uint32_t edge = 0; edge < edge_count; edge++) {
        /* A bucket counts below an edge when all of it is at or below it. */
        while (index < MP_HISTOGRAM_BUCKETS && mp_histogram_bucket_high(index) <= edges[edge])
            cumulative += histogram->buckets[index++];
        fprintf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, separator,
                (double)edges[edge] / scale, (unsigned long long)cumulative);
    }
    fprintf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, separator,
            (unsigned long long)histogram->count);
    const char *open = labels[0] ? "{" : "";
    const char *close = labels[0] ? "}" : "";
    fprintf(out, "%s_sum%s%s%s %g\n", name, open, labels, close, (double)histogram->sum / scale);
    fprintf(out, "%s_count%s%s%s %llu\n", name, open, labels, close,
            (unsigned long long)histogram->count);
}
