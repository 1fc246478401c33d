/* The log-linear histogram: bucket edges, precision, quantiles, Prometheus text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mp_histogram.h"

static void test_buckets_tile_the_range(void **state)
{
    (void)state;
    assert_int_equal(mp_histogram_bucket_low(0), 0);
    for (uint32_t index = 0; index + 1 < MP_HISTOGRAM_BUCKETS; index++) {
        assert_true(mp_histogram_bucket_low(index) <= mp_histogram_bucket_high(index));
        assert_int_equal(mp_histogram_bucket_high(index) + 1, mp_histogram_bucket_low(index + 1));
    }
}

static void test_precision_within_an_eighth(void **state)
{
    (void)state;
    uint64_t values[] = {0, 1, 7, 8, 9, 15, 16, 17, 100, 1000, 12345, 999999, 1ull << 35};
    for (size_t index = 0; index < sizeof values / sizeof values[0]; index++) {
        struct mp_histogram *histogram = calloc(1, sizeof *histogram);
        mp_histogram_record(histogram, values[index]);
        mp_histogram_record(histogram, values[index] + 1000000000000ull); /* raise max */
        uint64_t reported = mp_histogram_quantile(histogram, 0.5);
        assert_true(reported >= values[index]);
        assert_true(reported - values[index] <= values[index] / 8);
        free(histogram);
    }
}

static void test_quantiles(void **state)
{
    (void)state;
    struct mp_histogram *histogram = calloc(1, sizeof *histogram);
    assert_int_equal(mp_histogram_quantile(histogram, 0.99), 0);
    for (uint64_t value = 1; value <= 1000; value++)
        mp_histogram_record(histogram, value);
    assert_int_equal(histogram->count, 1000);
    assert_int_equal(histogram->sum, 500500);
    assert_int_equal(histogram->max, 1000);
    uint64_t p50 = mp_histogram_quantile(histogram, 0.5);
    uint64_t p99 = mp_histogram_quantile(histogram, 0.99);
    assert_true(p50 >= 500 && p50 <= 500 + 500 / 8);
    assert_true(p99 >= 990 && p99 <= 1000);
    assert_int_equal(mp_histogram_quantile(histogram, 1.0), 1000);
    /* Merging doubles the counts and keeps the quantiles. */
    struct mp_histogram *total = calloc(1, sizeof *total);
    mp_histogram_merge(total, histogram);
    mp_histogram_merge(total, histogram);
    assert_int_equal(total->count, 2000);
    assert_int_equal(mp_histogram_quantile(total, 0.5), p50);
    free(total);
    free(histogram);
}

static void test_prometheus_text(void **state)
{
    (void)state;
    struct mp_histogram *histogram = calloc(1, sizeof *histogram);
    mp_histogram_record(histogram, 3);
    mp_histogram_record(histogram, 150);
    mp_histogram_record(histogram, 5000000);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    uint64_t edges[] = {100, 1000, 1000000};
    mp_histogram_write_prometheus(histogram, out, "x_seconds", "core=\"0\"", edges, 3, 1e6);
    fclose(out);
    assert_non_null(strstr(text, "x_seconds_bucket{core=\"0\",le=\"0.0001\"} 1\n"));
    assert_non_null(strstr(text, "x_seconds_bucket{core=\"0\",le=\"0.001\"} 2\n"));
    assert_non_null(strstr(text, "x_seconds_bucket{core=\"0\",le=\"1\"} 2\n"));
    assert_non_null(strstr(text, "x_seconds_bucket{core=\"0\",le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(text, "x_seconds_count{core=\"0\"} 3\n"));
    free(text);
    free(histogram);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets_tile_the_range),
        cmocka_unit_test(test_precision_within_an_eighth),
        cmocka_unit_test(test_quantiles),
        cmocka_unit_test(test_prometheus_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
