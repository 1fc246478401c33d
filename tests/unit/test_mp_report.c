/*
 * Unit tests of bench/mp_report: the knee search, the core projection,
 * HTML escaping, the verdict and the structure of the written pages.
 *
 * With `--write DIR` it instead writes a sample run report (run.html)
 * and a sample capacity report (capacity.html) into DIR, from results
 * filled here, for tests/integration/test_report_render.sh to open in a
 * browser.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mp_error.h"
#include "mp_report.h"
#include "mp_results.h"

/* ------------------------------------------------------------------------
 * The knee
 * ---------------------------------------------------------------------- */

static void test_knee_is_the_last_rate_that_holds(void **state)
{
    (void)state;
    const struct mp_report_point points[] = {
        {10000, 10000, 1.0},
        {20000, 19900, 2.0},
        {40000, 39000, 4.5},
        {80000, 52000, 90.0}, /* p99 over and only 65% achieved */
    };
    assert_int_equal(mp_report_find_knee(points, 4, 5.0, 0.95), 2);
    /* A tighter limit moves the knee down. */
    assert_int_equal(mp_report_find_knee(points, 4, 3.0, 0.95), 1);
    /* A limit every run meets makes the last one the knee. */
    assert_int_equal(mp_report_find_knee(points, 4, 100.0, 0.60), 3);
}

static void test_knee_needs_enough_achieved(void **state)
{
    (void)state;
    /* Latency fine, but the server fell behind the offered rate at 40k. */
    const struct mp_report_point points[] = {
        {10000, 10000, 1.0},
        {20000, 19500, 1.0},
        {40000, 30000, 1.0},
    };
    assert_int_equal(mp_report_find_knee(points, 3, 5.0, 0.95), 1);
    /* Exactly 95% holds. */
    const struct mp_report_point edge[] = {{20000, 19000, 5.0}};
    assert_int_equal(mp_report_find_knee(edge, 1, 5.0, 0.95), 0);
}

static void test_knee_ignores_lucky_runs_above_a_failure(void **state)
{
    (void)state;
    /* Given out of order: 30k failed, 40k held by luck; the knee is 20k. */
    const struct mp_report_point points[] = {
        {40000, 40000, 2.0},
        {10000, 10000, 1.0},
        {30000, 30000, 9.0},
        {20000, 20000, 1.5},
    };
    assert_int_equal(mp_report_find_knee(points, 4, 5.0, 0.95), 3);
}

static void test_knee_none(void **state)
{
    (void)state;
    const struct mp_report_point points[] = {
        {10000, 10000, 8.0},
        {20000, 20000, 4.0},
    };
    assert_int_equal(mp_report_find_knee(points, 2, 5.0, 0.95), -1);
    assert_int_equal(mp_report_find_knee(NULL, 0, 5.0, 0.95), -1);
    /* A run that offered nothing never holds. */
    const struct mp_report_point idle[] = {{0, 0, 0}};
    assert_int_equal(mp_report_find_knee(idle, 1, 5.0, 0.95), -1);
}

/* ------------------------------------------------------------------------
 * The projection
 * ---------------------------------------------------------------------- */

static void test_projection_arithmetic(void **state)
{
    (void)state;
    struct mp_report_projection projection;
    /* 100k at the knee on 2 cores: 50k per core; 500k x 1.25 = 625k: 12.5 -> 13 cores. */
    assert_int_equal(mp_report_project_cores(100000, 2, 500000, 1.25, &projection), 0);
    assert_true(projection.per_core_eps == 50000);
    assert_true(projection.planned_eps == 625000);
    assert_int_equal(projection.cores_needed, 13);
    /* Exact multiples do not round up. */
    assert_int_equal(mp_report_project_cores(100000, 1, 200000, 1.0, &projection), 0);
    assert_int_equal(projection.cores_needed, 2);
    /* A target below one core's rate still needs one core. */
    assert_int_equal(mp_report_project_cores(100000, 4, 10, 1.0, &projection), 0);
    assert_int_equal(projection.cores_needed, 1);
}

static void test_projection_rejects_bad_values(void **state)
{
    (void)state;
    struct mp_report_projection projection = {.cores_needed = 77};
    assert_int_equal(mp_report_project_cores(0, 2, 1000, 1.25, &projection), MP_EINVAL);
    assert_int_equal(mp_report_project_cores(1000, 0, 1000, 1.25, &projection), MP_EINVAL);
    assert_int_equal(mp_report_project_cores(1000, 2, 0, 1.25, &projection), MP_EINVAL);
    assert_int_equal(mp_report_project_cores(1000, 2, 1000, 0.5, &projection), MP_EINVAL);
    assert_int_equal(mp_report_project_cores(1000, 2, HUGE_VAL, 1.25, &projection), MP_EINVAL);
    assert_int_equal(mp_report_project_cores(NAN, 2, 1000, 1.25, &projection), MP_EINVAL);
    assert_int_equal(mp_report_project_cores(1, 1, 1e12, 1.0, &projection), MP_ETOOBIG);
    /* Nothing written on failure. */
    assert_int_equal(projection.cores_needed, 77);
}

/* ------------------------------------------------------------------------
 * Escaping
 * ---------------------------------------------------------------------- */

static void test_escape_html(void **state)
{
    (void)state;
    char out[128];
    size_t size = 0;
    assert_int_equal(mp_report_escape_html("<a href='x'>&\"</a>", out, sizeof out, &size), 0);
    assert_string_equal(out, "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
    assert_int_equal(size, strlen(out));
    /* Control bytes other than tab and newline are dropped; UTF-8 passes. */
    assert_int_equal(mp_report_escape_html("a\x01" "b\tc\nd\x7f\xc3\xa9", out, sizeof out, &size), 0);
    assert_string_equal(out, "ab\tc\nd\xc3\xa9");
    assert_int_equal(mp_report_escape_html("", out, sizeof out, &size), 0);
    assert_string_equal(out, "");
    assert_int_equal(size, 0);
}

static void test_escape_html_truncates_whole_entities(void **state)
{
    (void)state;
    char out[8];
    size_t size = 0;
    /* "ab&amp;" is 7 bytes + NUL: fits exactly. */
    assert_int_equal(mp_report_escape_html("ab&", out, sizeof out, &size), 0);
    assert_string_equal(out, "ab&amp;");
    /* One more byte does not fit: no half entity is left behind. */
    assert_int_equal(mp_report_escape_html("abc&", out, sizeof out, &size), MP_ETOOBIG);
    assert_string_equal(out, "abc");
    assert_int_equal(size, 3);
}

/* ------------------------------------------------------------------------
 * Sample results
 * ---------------------------------------------------------------------- */

static const char hostile[] = "<script>alert('x')</script>&\"";

/* A run of `seconds` intervals at about `rate` events/s, p99 about p99_ms. */
static struct mp_results *sample_run(double rate, double offered, double p99_ms, uint32_t seconds,
                                     bool with_baseline)
{
    struct mp_results *run = mp_results_create();
    assert_non_null(run);
    snprintf(run->config.profile, sizeof run->config.profile, "smoke");
    snprintf(run->config.driver, sizeof run->config.driver, "http");
    snprintf(run->config.durability, sizeof run->config.durability, "sync");
    snprintf(run->config.server, sizeof run->config.server, "127.0.0.1:7411");
    run->config.server_started = true;
    run->config.seed = 7;
    run->config.server_cores = 2;
    run->config.connections = 8;
    run->config.target_rate_eps = offered;
    run->config.event_count = (uint64_t)(rate * seconds);
    run->config.shipment_count = 1000;
    snprintf(run->machine.cpu_model, sizeof run->machine.cpu_model, "%s", hostile);
    snprintf(run->machine.hostname, sizeof run->machine.hostname, "bench-host");
    run->machine.cores_online = 2;
    run->started_at_ms = 1795824000000;
    run->elapsed_s = seconds;
    run->interval_count = seconds;
    for (uint32_t second = 0; second < seconds; second++) {
        struct mp_results_interval *interval = &run->intervals[second];
        interval->start_s = second;
        interval->offered_eps = offered;
        interval->offered_events = (uint64_t)offered;
        interval->achieved_eps = rate * (0.9 + 0.2 * (second % 3) / 2.0);
        interval->achieved_events = (uint64_t)interval->achieved_eps;
        struct mp_histogram histogram;
        memset(&histogram, 0, sizeof histogram);
        for (uint32_t sample = 0; sample < 1000; sample++)
            mp_histogram_record(&histogram, (uint64_t)(p99_ms * 1000 * (sample + 1) / 1000.0));
        mp_results_latency_from(&interval->ack, &histogram);
        mp_histogram_merge(&run->ack_histogram, &histogram);
    }
    run->events_sent = (uint64_t)(offered * seconds);
    run->events_acked = (uint64_t)(rate * seconds);
    run->events_accepted = run->events_acked * 7 / 10;
    run->events_duplicate = run->events_acked - run->events_accepted;
    run->server_pid = 4242;
    run->server_cpu_s = 1.5;
    run->server_rss_bytes_max = 64u << 20;
    mp_results_counter_set(run, "milepost_ingest_received_events_total", 0, false);
    mp_results_counter_set(run, "milepost_ingest_received_events_total", (double)run->events_acked, true);
    mp_results_counter_set(run, hostile, 3, true);
    run->oracle.checked = true;
    run->oracle.shipments_expected = 1000;
    run->oracle.shipments_read = 1000;
    if (with_baseline) {
        run->baseline.ran = true;
        snprintf(run->baseline.system, sizeof run->baseline.system, "postgresql 15.18");
        snprintf(run->baseline.server, sizeof run->baseline.server, "127.0.0.1:5432");
        run->baseline.events_per_s = rate / 12;
        run->baseline.events_sent = run->events_sent;
        run->baseline.connections = 4;
        run->baseline.batch_events = 1000;
        run->baseline.milepost_ratio = 12;
    }
    mp_results_finish(run);
    assert_true(run->events_per_s == rate);
    return run;
}

static void sample_sweep_fill(struct mp_results_sweep *sweep)
{
    memset(sweep, 0, sizeof *sweep);
    sweep->target_eps = 250000;
    sweep->p99_limit_ms = 10;
    const double offered[] = {10000, 20000, 40000, 60000, 80000};
    const double achieved[] = {10000, 20000, 39800, 59000, 61000};
    const double p99[] = {1.2, 1.6, 3.1, 8.0, 250.0};
    for (uint32_t index = 0; index < 5; index++)
        sweep->runs[sweep->run_count++] = sample_run(achieved[index], offered[index], p99[index], 6, index == 3);
}

static void sample_sweep_free(struct mp_results_sweep *sweep)
{
    for (uint32_t index = 0; index < sweep->run_count; index++)
        mp_results_destroy(sweep->runs[index]);
}

static void test_sweep_analyse(void **state)
{
    (void)state;
    struct mp_results_sweep sweep;
    sample_sweep_fill(&sweep);
    assert_int_equal(mp_report_sweep_analyse(&sweep), 0);
    assert_int_equal(sweep.knee_index, 3);
    /* 59,000 on 2 cores = 29,500 per core; 250,000 x 1.25 / 29,500 = 10.6 -> 11. */
    assert_true(sweep.per_core_eps == 29500);
    assert_int_equal(sweep.cores_needed, 11);
    assert_true(sweep.headroom == MP_REPORT_HEADROOM_DEFAULT);
    assert_non_null(strstr(sweep.assumptions, "linearly per core"));
    assert_non_null(strstr(sweep.assumptions, "durability (sync)"));

    char verdict[512];
    mp_report_verdict(NULL, &sweep, verdict, sizeof verdict);
    assert_string_equal(verdict, "holds 59,000 events/s at p99 under 10.0 ms on 2 cores; knee at 60,000 "
                                 "events/s offered; 250,000 events/s needs 11 cores (headroom 1.25)");

    /* No knee: every run over the limit. */
    sweep.p99_limit_ms = 1.0;
    assert_int_equal(mp_report_sweep_analyse(&sweep), MP_EINVAL);
    assert_int_equal(sweep.knee_index, -1);
    assert_int_equal(sweep.cores_needed, 0);
    mp_report_verdict(NULL, &sweep, verdict, sizeof verdict);
    assert_non_null(strstr(verdict, "no knee found"));
    assert_non_null(strstr(verdict, "10,000 events/s"));
    sample_sweep_free(&sweep);
}

static void test_verdict_of_one_run(void **state)
{
    (void)state;
    struct mp_results *run = sample_run(41200, 41200, 4.0, 3, false);
    char verdict[512];
    mp_report_verdict(run, NULL, verdict, sizeof verdict);
    assert_non_null(strstr(verdict, "holds 41,200 events/s at p99 under "));
    assert_non_null(strstr(verdict, " ms on 2 cores; knee not measured"));
    run->oracle.mismatch_count = 3;
    mp_report_verdict(run, NULL, verdict, sizeof verdict);
    assert_non_null(strstr(verdict, "FAILED the oracle (3 mismatches); "));
    mp_results_destroy(run);
}

/* ------------------------------------------------------------------------
 * The pages
 * ---------------------------------------------------------------------- */

static char *read_whole(const char *path)
{
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    assert_int_equal(fseek(in, 0, SEEK_END), 0);
    long size = ftell(in);
    assert_true(size > 0);
    rewind(in);
    char *text = malloc((size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)size, in), (size_t)size);
    text[size] = '\0';
    fclose(in);
    return text;
}

static unsigned count_of(const char *text, const char *needle)
{
    unsigned count = 0;
    for (const char *at = strstr(text, needle); at != NULL; at = strstr(at + 1, needle))
        count++;
    return count;
}

static void check_no_raw_hostile_text(const char *html)
{
    /* The only <script> is the JSON block; the hostile text shows escaped. */
    assert_int_equal(count_of(html, "<script"), 1);
    assert_int_equal(count_of(html, "</script>"), 1);
    assert_null(strstr(html, "<script>alert"));
    assert_non_null(strstr(html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
    /* Inside the JSON block every "<" is written "\\u003c". */
    assert_non_null(strstr(html, "\"\\u003cscript>alert('x')\\u003c/script>&\\\""));
}

static void test_run_page(void **state)
{
    (void)state;
    char path[] = "/tmp/test_mp_report.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct mp_results *run = sample_run(41200, 45000, 4.0, 20, false);
    assert_int_equal(mp_report_write_html(run, path), 0);
    char *html = read_whole(path);
    assert_int_equal(strncmp(html, "<!DOCTYPE html>", 15), 0);
    assert_non_null(strstr(html, "</html>\n"));
    /* Throughput and latency charts; no sweep, no baseline. */
    assert_int_equal(count_of(html, "<svg "), 2);
    assert_int_equal(count_of(html, "<path class=\"series\""), 6);
    assert_non_null(strstr(html, "id=\"no-sweep\""));
    assert_null(strstr(html, "id=\"baseline\""));
    assert_non_null(strstr(html, "holds 41,200 events/s at p99 under"));
    assert_non_null(strstr(html, "PASS: 0 mismatches"));
    /* No network: nothing is fetched from anywhere. */
    assert_null(strstr(html, "src="));
    assert_null(strstr(html, "href="));
    assert_null(strstr(html, "@import"));
    check_no_raw_hostile_text(html);
    free(html);

    /* With a baseline: a third chart (bars) and the ratio. */
    run->baseline.ran = true;
    run->baseline.events_per_s = 4120;
    run->baseline.milepost_ratio = 10;
    snprintf(run->baseline.system, sizeof run->baseline.system, "postgresql 15.18");
    assert_int_equal(mp_report_write_html(run, path), 0);
    html = read_whole(path);
    assert_int_equal(count_of(html, "<svg "), 3);
    assert_int_equal(count_of(html, "<rect class=\"bar\""), 2);
    assert_non_null(strstr(html, "<strong>10.0x</strong>"));
    free(html);
    mp_results_destroy(run);
    unlink(path);
}

static void test_capacity_page(void **state)
{
    (void)state;
    char path[] = "/tmp/test_mp_report.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct mp_results_sweep sweep;
    sample_sweep_fill(&sweep);
    assert_int_equal(mp_report_sweep_analyse(&sweep), 0);
    assert_int_equal(mp_report_write_capacity_html(&sweep, path), 0);
    char *html = read_whole(path);
    /* Sweep curve, baseline bars (the knee run had one), throughput, latency. */
    assert_int_equal(count_of(html, "<svg "), 4);
    assert_int_equal(count_of(html, "<circle class=\"knee\""), 1);
    assert_int_equal(count_of(html, "<line class=\"limit\""), 1);
    /* Two series of five points on the curve. */
    assert_true(count_of(html, "<circle class=\"point\"") >= 10);
    assert_non_null(strstr(html, "knee: 59,000 events/s"));
    assert_non_null(strstr(html, "11 (for 312,500 events/s = target x headroom 1.25)"));
    assert_non_null(strstr(html, "linearly per core"));
    check_no_raw_hostile_text(html);
    free(html);
    sample_sweep_free(&sweep);
    unlink(path);
}

static void test_write_fails_cleanly(void **state)
{
    (void)state;
    struct mp_results *run = sample_run(1000, 1000, 1.0, 1, false);
    int result = mp_report_write_html(run, "/nonexistent-dir/report.html");
    assert_true(result < 0);
    mp_results_destroy(run);
}

/* ------------------------------------------------------------------------ */

static int write_samples(const char *directory)
{
    char path[4096];
    struct mp_results *run = sample_run(41200, 45000, 4.0, 30, true);
    snprintf(path, sizeof path, "%s/run.html", directory);
    int result = mp_report_write_html(run, path);
    mp_results_destroy(run);
    if (result != 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, mp_strerror(result));
        return 1;
    }
    struct mp_results_sweep sweep;
    sample_sweep_fill(&sweep);
    mp_report_sweep_analyse(&sweep);
    snprintf(path, sizeof path, "%s/capacity.html", directory);
    result = mp_report_write_capacity_html(&sweep, path);
    sample_sweep_free(&sweep);
    if (result != 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, mp_strerror(result));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write") == 0)
        return write_samples(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_knee_is_the_last_rate_that_holds),
        cmocka_unit_test(test_knee_needs_enough_achieved),
        cmocka_unit_test(test_knee_ignores_lucky_runs_above_a_failure),
        cmocka_unit_test(test_knee_none),
        cmocka_unit_test(test_projection_arithmetic),
        cmocka_unit_test(test_projection_rejects_bad_values),
        cmocka_unit_test(test_escape_html),
        cmocka_unit_test(test_escape_html_truncates_whole_entities),
        cmocka_unit_test(test_sweep_analyse),
        cmocka_unit_test(test_verdict_of_one_run),
        cmocka_unit_test(test_run_page),
        cmocka_unit_test(test_capacity_page),
        cmocka_unit_test(test_write_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) == 0 ? 0 : 1;
}
