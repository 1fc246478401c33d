/*
 * milepost-bench capacity: find the knee, project the cores.
 *
 * A closed-loop probe run measures the ceiling; open-loop runs at
 * fractions of it (or at --rates) trace latency against throughput; the
 * knee is the highest rate that held the p99 limit and kept up with what
 * was offered (bench/mp_report.h); the per-core rate at the knee scales
 * linearly to the target (the assumptions are printed and reported).
 * Every run is checked by the oracle: a capacity figure from a server
 * that got an answer wrong is no figure.
 */
#include "mp_capacity.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mp_assert.h"
#include "mp_bench_util.h"
#include "mp_bench_run.h"
#include "mp_error.h"
#include "mp_report.h"
#include "mp_results.h"

enum {
    CAPACITY_EXIT_OK = 0,
    CAPACITY_EXIT_FAILURE = 1,
    CAPACITY_EXIT_USAGE = 2,
};

/* Arguments passed to each run: the user's plus ours. */
#define CAPACITY_ARGUMENTS_MAX 128

static const char capacity_usage[] =
    "usage: milepost-bench capacity --target-eps E --p99-ms L [OPTIONS] [RUN OPTIONS]\n"
    "\n"
    "Sweeps open-loop runs at rising offered rates, finds the knee (the highest rate whose\n"
    "ack p99 stays at or under L ms while at least 95% of the offered events are\n"
    "acknowledged, every lower rate holding too), and projects the cores E events/s needs\n"
    "from the per-core rate at the knee.\n"
    "\n"
    "  --target-eps E       the rate to plan for, events/s\n"
    "  --p99-ms L           the ack latency p99 limit, ms\n"
    "  --rates R1,R2,...    offered rates to run (default: a closed-loop probe measures the\n"
    "                       ceiling C, then 0.25C, 0.5C, 0.7C, 0.85C, C, 1.15C)\n"
    "  --run-seconds S      seconds each run sends for (default 10)\n"
    "  --headroom H         plan for E x H (default 1.25)\n"
    "  --min-achieved F     share of offered events a run must acknowledge (default 0.95)\n"
    "  --refine N           then bisect between the knee and the next failing rate N times\n"
    "                       (default 2; stops when they are within 5%)\n"
    "  --report DIR         write DIR/report.html and DIR/results.json (the whole sweep)\n"
    "\n"
    "Other options go to every run (milepost-bench --help): --profile, --driver, --cores,\n"
    "--durability, --connections, --pipeline, --batch, --server, ...  Without --server and\n"
    "--cores, runs start milepost with --cores 1, so the load generator has the other cores\n"
    "and the per-core rate is measured on one core.  The sweep stops after two failing rates\n"
    "in a row.  Exit status: 0 a knee was found, 1 a run failed, the oracle found a mismatch\n"
    "or no rate held, 2 bad usage.\n";

/* "1000,2000,5000": ascending order is not required; the knee search sorts nothing out of luck. */
static bool capacity_parse_rates(const char *text, double *rates, uint32_t *count)
{
    *count = 0;
    const char *at = text;
    while (*at != '\0') {
        if (*count == MP_RESULTS_SWEEP_RUNS_MAX)
            return false;
        char number[32];
        size_t size = strcspn(at, ",");
        if (size == 0 || size >= sizeof number)
            return false;
        memcpy(number, at, size);
        number[size] = '\0';
        if (!mp_bench_util_parse_double(number, 1, 1e9, &rates[*count]))
            return false;
        (*count)++;
        at += size;
        if (*at == ',')
            at++;
    }
    return *count > 0;
}

static int capacity_compare_rates(const void *left, const void *right)
{
    double a = *(const double *)left;
    double b = *(const double *)right;
    return a < b ? -1 : a > b ? 1 : 0;
}

static int capacity_compare_runs(const void *left, const void *right)
{
    const struct mp_results *a = *(struct mp_results *const *)left;
    const struct mp_results *b = *(struct mp_results *const *)right;
    return capacity_compare_rates(&a->offered_events_per_s, &b->offered_events_per_s);
}

/* The capacity options, and the rest for the runs. */
struct capacity_options {
    double target_eps;
    double p99_limit_ms;
    double rates[MP_RESULTS_SWEEP_RUNS_MAX];
    uint32_t rate_count;
    double run_seconds;
    double headroom;
    double achieved_fraction_min;
    uint32_t refine_count;
    const char *report_dir;
    char *run_arguments[CAPACITY_ARGUMENTS_MAX];
    int run_argument_count;
    bool has_cores;
    bool has_server;
};

/* Takes `--name value` or `--name=value`; returns the value or NULL. */
static const char *capacity_option_value(int argc, char **argv, int *index, const char *name)
{
    size_t length = strlen(name);
    const char *argument = argv[*index];
    if (strncmp(argument, name, length) != 0)
        return NULL;
    if (argument[length] == '=')
        return argument + length + 1;
    if (argument[length] != '\0')
        return NULL;
    if (*index + 1 >= argc)
        return "";
    (*index)++;
    return argv[*index];
}

static int capacity_parse(int argc, char **argv, struct capacity_options *options)
{
    memset(options, 0, sizeof *options);
    options->run_seconds = MP_CAPACITY_RUN_SECONDS_DEFAULT;
    options->headroom = MP_REPORT_HEADROOM_DEFAULT;
    options->achieved_fraction_min = MP_REPORT_ACHIEVED_FRACTION_DEFAULT;
    options->refine_count = MP_CAPACITY_REFINE_DEFAULT;
    options->run_arguments[options->run_argument_count++] = "run";
    for (int index = 1; index < argc; index++) {
        const char *argument = argv[index];
        const char *value = NULL;
        if (strcmp(argument, "--help") == 0 || strcmp(argument, "-h") == 0) {
            fputs(capacity_usage, stdout);
            return CAPACITY_EXIT_OK;
        } else if ((value = capacity_option_value(argc, argv, &index, "--target-eps")) != NULL) {
            if (!mp_bench_util_parse_double(value, 1, 1e12, &options->target_eps)) {
                mp_bench_util_error("--target-eps '%s' is not valid: give events per second, e.g. 250000", value);
                return CAPACITY_EXIT_USAGE;
            }
        } else if ((value = capacity_option_value(argc, argv, &index, "--p99-ms")) != NULL) {
            if (!mp_bench_util_parse_double(value, 0.001, 3.6e6, &options->p99_limit_ms)) {
                mp_bench_util_error("--p99-ms '%s' is not valid: give milliseconds, e.g. 10", value);
                return CAPACITY_EXIT_USAGE;
            }
        } else if ((value = capacity_option_value(argc, argv, &index, "--rates")) != NULL) {
            if (!capacity_parse_rates(value, options->rates, &options->rate_count)) {
                mp_bench_util_error("--rates '%s' is not valid: give up to %u rates in events/s, e.g. "
                               "10000,20000,40000",
                               value, MP_RESULTS_SWEEP_RUNS_MAX);
                return CAPACITY_EXIT_USAGE;
            }
        } else if ((value = capacity_option_value(argc, argv, &index, "--run-seconds")) != NULL) {
            if (!mp_bench_util_parse_double(value, 1, 3600, &options->run_seconds)) {
                mp_bench_util_error("--run-seconds '%s' is not valid: give 1 to 3600 seconds", value);
                return CAPACITY_EXIT_USAGE;
            }
        } else if ((value = capacity_option_value(argc, argv, &index, "--headroom")) != NULL) {
            if (!mp_bench_util_parse_double(value, 1, 100, &options->headroom)) {
                mp_bench_util_error("--headroom '%s' is not valid: give a factor from 1 to 100, e.g. 1.25", value);
                return CAPACITY_EXIT_USAGE;
            }
        } else if ((value = capacity_option_value(argc, argv, &index, "--min-achieved")) != NULL) {
            if (!mp_bench_util_parse_double(value, 0.01, 1, &options->achieved_fraction_min)) {
                mp_bench_util_error("--min-achieved '%s' is not valid: give a fraction from 0.01 to 1", value);
                return CAPACITY_EXIT_USAGE;
            }
        } else if ((value = capacity_option_value(argc, argv, &index, "--refine")) != NULL) {
            double refine = 0;
            if (!mp_bench_util_parse_double(value, 0, 8, &refine) || refine != floor(refine)) {
                mp_bench_util_error("--refine '%s' is not valid: give 0 to 8 runs", value);
                return CAPACITY_EXIT_USAGE;
            }
            options->refine_count = (uint32_t)refine;
        } else if ((value = capacity_option_value(argc, argv, &index, "--report")) != NULL) {
            if (value[0] == '\0') {
                mp_bench_util_error("--report needs a directory");
                return CAPACITY_EXIT_USAGE;
            }
            options->report_dir = value;
        } else if (strncmp(argument, "--rate", 6) == 0 || strncmp(argument, "--duration", 10) == 0 ||
                   strncmp(argument, "--steady", 8) == 0) {
            mp_bench_util_error("capacity sets %s for each run itself; use --rates and --run-seconds", argument);
            return CAPACITY_EXIT_USAGE;
        } else {
            /* A run option (or its value): the run parses it. */
            if (options->run_argument_count + 8 >= CAPACITY_ARGUMENTS_MAX) {
                mp_bench_util_error("too many options for the runs (at most %d)", CAPACITY_ARGUMENTS_MAX - 8);
                return CAPACITY_EXIT_USAGE;
            }
            if (strncmp(argument, "--cores", 7) == 0)
                options->has_cores = true;
            if (strncmp(argument, "--server", 8) == 0)
                options->has_server = true;
            options->run_arguments[options->run_argument_count++] = argv[index];
        }
    }
    if (options->target_eps <= 0 || options->p99_limit_ms <= 0) {
        mp_bench_util_error("capacity needs --target-eps E and --p99-ms L (see milepost-bench capacity --help)");
        return CAPACITY_EXIT_USAGE;
    }
    if (!options->has_cores && !options->has_server) {
        options->run_arguments[options->run_argument_count++] = "--cores";
        options->run_arguments[options->run_argument_count++] = "1";
        options->has_cores = true;
    }
    return -1;
}

/*
 * One run with the user's options plus the rate (0: closed loop) and the
 * duration.  Returns the run's exit code; *out is the filled results.
 */
static int capacity_run(const struct capacity_options *options, double rate_eps, struct mp_results **out)
{
    char *arguments[CAPACITY_ARGUMENTS_MAX + 1];
    int count = 0;
    for (int index = 0; index < options->run_argument_count; index++)
        arguments[count++] = options->run_arguments[index];
    char rate_text[32];
    char seconds_text[32];
    snprintf(rate_text, sizeof rate_text, "%.0f", rate_eps);
    snprintf(seconds_text, sizeof seconds_text, "%g", options->run_seconds);
    if (rate_eps > 0) {
        arguments[count++] = "--steady";
        arguments[count++] = "--rate";
        arguments[count++] = rate_text;
    }
    arguments[count++] = "--duration";
    arguments[count++] = seconds_text;
    arguments[count++] = "--no-progress";
    MP_ASSERT(count <= CAPACITY_ARGUMENTS_MAX);
    arguments[count] = NULL;

    struct mp_results *results = mp_results_create();
    if (results == NULL) {
        mp_bench_util_error("out of memory for a run's results");
        return CAPACITY_EXIT_FAILURE;
    }
    int exit_code = mp_bench_run_into(count, arguments, results);
    *out = results;
    return exit_code;
}

static void capacity_print_run(uint32_t number, const struct mp_results *run, bool holds)
{
    fprintf(stderr,
            "capacity: run %" PRIu32 ": offered %.0f events/s, achieved %.0f (%.1f%%), ack p50 %.2f ms, "
            "p99 %.2f ms: %s\n",
            number, run->offered_events_per_s, run->events_per_s,
            run->offered_events_per_s > 0 ? 100.0 * run->events_per_s / run->offered_events_per_s : 0.0,
            (double)run->ack.p50_us / 1000.0, (double)run->ack.p99_us / 1000.0, holds ? "holds" : "does not hold");
}

static int capacity_write_report(const struct capacity_options *options, const struct mp_results_sweep *sweep)
{
    if (options->report_dir == NULL)
        return 0;
    if (mkdir(options->report_dir, 0755) != 0 && errno != EEXIST) {
        mp_bench_util_error("cannot create %s: %s; check the path", options->report_dir, strerror(errno));
        return -1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/results.json", options->report_dir);
    FILE *out = fopen(path, "w");
    if (out == NULL) {
        mp_bench_util_error("cannot write %s: %s; check the directory", path, strerror(errno));
        return -1;
    }
    int result = mp_results_sweep_write_json(sweep, out);
    if (fclose(out) != 0 && result == 0)
        result = -errno;
    if (result == 0) {
        snprintf(path, sizeof path, "%s/report.html", options->report_dir);
        result = mp_report_write_capacity_html(sweep, path);
    }
    if (result < 0) {
        mp_bench_util_error("cannot write %s: %s; check free space", path, mp_strerror(result));
        return -1;
    }
    fprintf(stderr, "capacity: report in %s/report.html\n", options->report_dir);
    return 0;
}

int mp_capacity_main(int argc, char **argv)
{
    struct capacity_options options;
    int parse_result = capacity_parse(argc, argv, &options);
    if (parse_result >= 0)
        return parse_result;

    struct mp_results_sweep sweep;
    memset(&sweep, 0, sizeof sweep);
    sweep.target_eps = options.target_eps;
    sweep.p99_limit_ms = options.p99_limit_ms;
    sweep.headroom = options.headroom;
    sweep.achieved_fraction_min = options.achieved_fraction_min;
    sweep.knee_index = -1;
    int exit_code = CAPACITY_EXIT_FAILURE;

    if (options.rate_count == 0) {
        /* The ceiling, closed loop; its rate scales the sweep. */
        struct mp_results *probe = NULL;
        fprintf(stderr, "capacity: probing the ceiling (closed loop, %g s)\n", options.run_seconds);
        int probe_exit = capacity_run(&options, 0, &probe);
        if (probe_exit != 0 || probe == NULL || !(probe->events_per_s > 0)) {
            mp_bench_util_error("the closed-loop probe run failed (exit %d); fix that run first", probe_exit);
            mp_results_destroy(probe);
            return probe_exit == CAPACITY_EXIT_USAGE ? CAPACITY_EXIT_USAGE : CAPACITY_EXIT_FAILURE;
        }
        fprintf(stderr, "capacity: ceiling %.0f events/s (closed loop, ack p99 %.2f ms)\n", probe->events_per_s,
                (double)probe->ack.p99_us / 1000.0);
        static const double fractions[] = MP_CAPACITY_FRACTIONS;
        for (size_t index = 0; index < sizeof fractions / sizeof fractions[0]; index++)
            options.rates[options.rate_count++] = round(fractions[index] * probe->events_per_s);
        mp_results_destroy(probe);
    }
    qsort(options.rates, options.rate_count, sizeof options.rates[0], capacity_compare_rates);

    uint32_t failures_in_a_row = 0;
    for (uint32_t index = 0; index < options.rate_count; index++) {
        struct mp_results *run = NULL;
        int run_exit = capacity_run(&options, options.rates[index], &run);
        if (run == NULL)
            goto done;
        sweep.runs[sweep.run_count++] = run;
        if (run_exit != 0) {
            mp_bench_util_error("the run at %.0f events/s failed (exit %d%s); no capacity figure from a failed run",
                           options.rates[index], run_exit,
                           run->oracle.mismatch_count > 0 ? ", oracle mismatches" : "");
            exit_code = run_exit == CAPACITY_EXIT_USAGE ? CAPACITY_EXIT_USAGE : CAPACITY_EXIT_FAILURE;
            goto done;
        }
        const struct mp_report_point point = {
            .offered_eps = run->offered_events_per_s,
            .achieved_eps = run->events_per_s,
            .p99_ms = (double)run->ack.p99_us / 1000.0,
        };
        bool holds = mp_report_find_knee(&point, 1, options.p99_limit_ms, options.achieved_fraction_min) == 0;
        capacity_print_run(sweep.run_count, run, holds);
        failures_in_a_row = holds ? 0 : failures_in_a_row + 1;
        if (failures_in_a_row >= MP_CAPACITY_FAILURES_TO_STOP)
            break;
    }

    /*
     * Narrow the knee: bisect between the highest rate that held and the
     * lowest that failed above it, --refine times.
     */
    for (uint32_t refined = 0; refined < options.refine_count && sweep.run_count < MP_RESULTS_SWEEP_RUNS_MAX;
         refined++) {
        mp_report_sweep_analyse(&sweep);
        if (sweep.knee_index < 0)
            break;
        double held = sweep.runs[sweep.knee_index]->offered_events_per_s;
        double failed = INFINITY;
        for (uint32_t index = 0; index < sweep.run_count; index++)
            if (sweep.runs[index]->offered_events_per_s > held &&
                sweep.runs[index]->offered_events_per_s < failed)
                failed = sweep.runs[index]->offered_events_per_s;
        /* Nothing failed above the knee, or the gap is already under 5%: done. */
        if (!isfinite(failed) || failed - held < 0.05 * held)
            break;
        struct mp_results *run = NULL;
        double rate = round((held + failed) / 2);
        int run_exit = capacity_run(&options, rate, &run);
        if (run == NULL)
            goto done;
        sweep.runs[sweep.run_count++] = run;
        if (run_exit != 0) {
            mp_bench_util_error("the run at %.0f events/s failed (exit %d%s); no capacity figure from a failed run",
                           rate, run_exit, run->oracle.mismatch_count > 0 ? ", oracle mismatches" : "");
            exit_code = run_exit == CAPACITY_EXIT_USAGE ? CAPACITY_EXIT_USAGE : CAPACITY_EXIT_FAILURE;
            goto done;
        }
        const struct mp_report_point point = {
            .offered_eps = run->offered_events_per_s,
            .achieved_eps = run->events_per_s,
            .p99_ms = (double)run->ack.p99_us / 1000.0,
        };
        capacity_print_run(sweep.run_count, run,
                           mp_report_find_knee(&point, 1, options.p99_limit_ms, options.achieved_fraction_min) == 0);
    }
    /* Show the runs by offered rate. */
    qsort(sweep.runs, sweep.run_count, sizeof sweep.runs[0], capacity_compare_runs);

    mp_report_sweep_analyse(&sweep);
    char verdict[512];
    mp_report_verdict(NULL, &sweep, verdict, sizeof verdict);
    printf("%s\n", verdict);
    if (sweep.knee_index >= 0)
        printf("per core at the knee: %.0f events/s; cores needed for %.0f events/s: %" PRIu32 "\n",
               sweep.per_core_eps, sweep.target_eps, sweep.cores_needed);
    printf("assumptions: %s\n", sweep.assumptions);
    if (capacity_write_report(&options, &sweep) < 0)
        goto done;
    exit_code = sweep.knee_index >= 0 ? CAPACITY_EXIT_OK : CAPACITY_EXIT_FAILURE;
done:
    for (uint32_t index = 0; index < sweep.run_count; index++)
        mp_results_destroy(sweep.runs[index]);
    return exit_code;
}
