/*
 * milepost-bench: load generator, oracle and report (API.md "Binaries").
 *
 * For now only the workload generator is built (`milepost-bench gen`);
 * `run` and `capacity` answer that they are not built yet.  Exit codes:
 * 0 success, 1 runtime failure, 2 bad usage; every error is one line on
 * stderr naming the problem and what to do.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mp_assert.h"
#include "mp_config.h"
#include "mp_error.h"
#include "mp_gen.h"
#include "mp_time.h"

enum {
    BENCH_EXIT_OK = 0,
    BENCH_EXIT_FAILURE = 1,
    BENCH_EXIT_USAGE = 2,
};

/* stdio buffer for the generated stream: large writes, few syscalls. */
#define BENCH_OUTPUT_BUFFER_SIZE (1u << 20)
#define BENCH_MESSAGE_SIZE_MAX 256

static const char bench_usage[] =
    "usage: milepost-bench gen [OPTIONS]        generate a workload as NDJSON\n"
    "       milepost-bench run [...]             benchmark a server (not built yet)\n"
    "       milepost-bench capacity [...]        find the knee (not built yet)\n"
    "       milepost-bench --help | --version\n"
    "\n"
    "gen writes canonical events (one JSON object per line), deterministic from the seed:\n"
    "  --events N            lines to write, duplicates included (default 1000000)\n"
    "  --shipments M         shipments to spread them over (default 200000)\n"
    "  --duplicate-rate F    fraction of lines that re-serialize an earlier event\n"
    "                        (same values, other key order and whitespace; default 0.30)\n"
    "  --zipf S              skew of events over shipments, 0 = uniform (default 0)\n"
    "  --seed N              PRNG seed (default 1)\n"
    "  --shuffle MODE        none: arrival order; window: moved by < --window lines;\n"
    "                        full: a uniform shuffle (default window)\n"
    "  --window N            window size for --shuffle window (default 1024)\n"
    "  --start-time T        RFC 3339 instant the labels start from\n"
    "                        (default 2026-11-23T00:00:00Z)\n"
    "  --carriers LIST       carrier mix as NAME=WEIGHT,... over UPS, FedEx, USPS, DHL,\n"
    "                        OnTrac, LaserShip (default UPS=30,FedEx=25,USPS=25,DHL=10,\n"
    "                        OnTrac=5,LaserShip=5)\n"
    "  --out FILE            write to FILE instead of stdout\n"
    "  --summary             print one JSON line of counts and timings to stderr\n"
    "\n"
    "Exit status: 0 success, 1 runtime failure, 2 bad usage.\n";

/* Prints one line to stderr: the problem, then what to do. */
__attribute__((format(printf, 1, 2))) static void bench_error(const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    fputs("milepost-bench: ", stderr);
    vfprintf(stderr, format, arguments);
    fputc('\n', stderr);
    va_end(arguments);
}

static double bench_seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* A whole number in [minimum, maximum], the whole text and nothing else. */
static bool bench_parse_u64(const char *text, uint64_t minimum, uint64_t maximum, uint64_t *out)
{
    if (text[0] < '0' || text[0] > '9')
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < minimum || value > maximum)
        return false;
    *out = value;
    return true;
}

static bool bench_parse_double(const char *text, double minimum, double maximum, double *out)
{
    errno = 0;
    char *end = NULL;
    double value = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(value) || value < minimum ||
        value > maximum)
        return false;
    *out = value;
    return true;
}

/* NAME=WEIGHT,... ; carriers not named get weight 0. */
static bool bench_parse_carriers(const char *text, uint32_t weights[MP_GEN_CARRIER_COUNT],
                                 char *message, size_t message_size)
{
    memset(weights, 0, sizeof *weights * MP_GEN_CARRIER_COUNT);
    uint64_t total = 0;
    const char *at = text;
    while (*at != '\0') {
        const char *end = strchr(at, ',');
        size_t size = end != NULL ? (size_t)(end - at) : strlen(at);
        const char *equals = memchr(at, '=', size);
        if (equals == NULL) {
            snprintf(message, message_size, "'%.*s' in --carriers has no weight; write NAME=WEIGHT",
                     (int)size, at);
            return false;
        }
        int carrier = mp_gen_carrier_from_name(at, (size_t)(equals - at));
        if (carrier < 0) {
            snprintf(message, message_size,
                     "unknown carrier '%.*s' in --carriers; use UPS, FedEx, USPS, DHL, OnTrac or LaserShip",
                     (int)(equals - at), at);
            return false;
        }
        char number[16];
        size_t number_size = size - (size_t)(equals + 1 - at);
        uint64_t weight = 0;
        if (number_size == 0 || number_size >= sizeof number) {
            snprintf(message, message_size, "the weight of %.*s in --carriers must be a whole number",
                     (int)(equals - at), at);
            return false;
        }
        memcpy(number, equals + 1, number_size);
        number[number_size] = '\0';
        if (!bench_parse_u64(number, 0, 1000000, &weight)) {
            snprintf(message, message_size,
                     "the weight of %.*s in --carriers must be a whole number from 0 to 1000000",
                     (int)(equals - at), at);
            return false;
        }
        weights[carrier] = (uint32_t)weight;
        total += weight;
        at += size;
        if (*at == ',')
            at++;
    }
    if (total == 0) {
        snprintf(message, message_size, "--carriers gives no carrier a weight; name at least one, e.g. UPS=1");
        return false;
    }
    return true;
}

static int bench_gen_usage_error(const char *option, const char *value, const char *want)
{
    bench_error("%s '%s' is not valid: %s", option, value, want);
    return BENCH_EXIT_USAGE;
}

enum {
    BENCH_OPTION_EVENTS = 256,
    BENCH_OPTION_SHIPMENTS,
    BENCH_OPTION_DUPLICATE_RATE,
    BENCH_OPTION_ZIPF,
    BENCH_OPTION_SEED,
    BENCH_OPTION_SHUFFLE,
    BENCH_OPTION_WINDOW,
    BENCH_OPTION_START_TIME,
    BENCH_OPTION_CARRIERS,
    BENCH_OPTION_OUT,
    BENCH_OPTION_SUMMARY,
    BENCH_OPTION_HELP,
};

static int bench_gen(int argc, char **argv)
{
    static const struct option options[] = {
        {"events", required_argument, NULL, BENCH_OPTION_EVENTS},
        {"shipments", required_argument, NULL, BENCH_OPTION_SHIPMENTS},
        {"duplicate-rate", required_argument, NULL, BENCH_OPTION_DUPLICATE_RATE},
        {"zipf", required_argument, NULL, BENCH_OPTION_ZIPF},
        {"seed", required_argument, NULL, BENCH_OPTION_SEED},
        {"shuffle", required_argument, NULL, BENCH_OPTION_SHUFFLE},
        {"window", required_argument, NULL, BENCH_OPTION_WINDOW},
        {"start-time", required_argument, NULL, BENCH_OPTION_START_TIME},
        {"carriers", required_argument, NULL, BENCH_OPTION_CARRIERS},
        {"out", required_argument, NULL, BENCH_OPTION_OUT},
        {"summary", no_argument, NULL, BENCH_OPTION_SUMMARY},
        {"help", no_argument, NULL, BENCH_OPTION_HELP},
        {NULL, 0, NULL, 0},
    };
    struct mp_gen_config config;
    mp_gen_config_default(&config);
    const char *out_path = NULL;
    bool summary = false;
    char message[BENCH_MESSAGE_SIZE_MAX];

    opterr = 0; /* our own one-line errors instead of getopt's */
    optind = 1;
    for (;;) {
        int option = getopt_long(argc, argv, "", options, NULL);
        if (option == -1)
            break;
        uint64_t number = 0;
        switch (option) {
        case BENCH_OPTION_EVENTS:
            if (!bench_parse_u64(optarg, 1, MP_GEN_EVENT_COUNT_MAX, &number)) {
                snprintf(message, sizeof message, "give a whole number from 1 to %u",
                         MP_GEN_EVENT_COUNT_MAX);
                return bench_gen_usage_error("--events", optarg, message);
            }
            config.event_count = number;
            break;
        case BENCH_OPTION_SHIPMENTS:
            if (!bench_parse_u64(optarg, 1, MP_GEN_SHIPMENT_COUNT_MAX, &number)) {
                snprintf(message, sizeof message, "give a whole number from 1 to %u",
                         MP_GEN_SHIPMENT_COUNT_MAX);
                return bench_gen_usage_error("--shipments", optarg, message);
            }
            config.shipment_count = (uint32_t)number;
            break;
        case BENCH_OPTION_DUPLICATE_RATE:
            if (!bench_parse_double(optarg, 0.0, MP_GEN_DUPLICATE_RATE_MAX, &config.duplicate_rate)) {
                snprintf(message, sizeof message, "give a fraction from 0 to %g, e.g. 0.30",
                         MP_GEN_DUPLICATE_RATE_MAX);
                return bench_gen_usage_error("--duplicate-rate", optarg, message);
            }
            break;
        case BENCH_OPTION_ZIPF:
            if (!bench_parse_double(optarg, 0.0, MP_GEN_ZIPF_MAX, &config.zipf_s)) {
                snprintf(message, sizeof message, "give an exponent from 0 (uniform) to %g",
                         MP_GEN_ZIPF_MAX);
                return bench_gen_usage_error("--zipf", optarg, message);
            }
            break;
        case BENCH_OPTION_SEED:
            if (!bench_parse_u64(optarg, 0, UINT64_MAX, &config.seed))
                return bench_gen_usage_error("--seed", optarg, "give a whole number from 0 to 2^64-1");
            break;
        case BENCH_OPTION_SHUFFLE:
            if (strcmp(optarg, "none") == 0)
                config.shuffle = MP_GEN_SHUFFLE_NONE;
            else if (strcmp(optarg, "window") == 0)
                config.shuffle = MP_GEN_SHUFFLE_WINDOW;
            else if (strcmp(optarg, "full") == 0)
                config.shuffle = MP_GEN_SHUFFLE_FULL;
            else
                return bench_gen_usage_error("--shuffle", optarg, "use none, window or full");
            break;
        case BENCH_OPTION_WINDOW:
            if (!bench_parse_u64(optarg, 1, MP_GEN_WINDOW_MAX, &number)) {
                snprintf(message, sizeof message, "give a whole number of lines from 1 to %u",
                         MP_GEN_WINDOW_MAX);
                return bench_gen_usage_error("--window", optarg, message);
            }
            config.shuffle_window = (uint32_t)number;
            break;
        case BENCH_OPTION_START_TIME: {
            struct mp_time_parsed parsed;
            if (mp_time_parse(optarg, strlen(optarg), &parsed) < 0 || !parsed.has_offset ||
                parsed.date_only)
                return bench_gen_usage_error("--start-time", optarg,
                                             "give an RFC 3339 time with an offset, e.g. 2026-11-23T00:00:00Z");
            config.start_time_ms = parsed.utc_ms;
            break;
        }
        case BENCH_OPTION_CARRIERS:
            if (!bench_parse_carriers(optarg, config.carrier_weights, message, sizeof message)) {
                bench_error("%s", message);
                return BENCH_EXIT_USAGE;
            }
            break;
        case BENCH_OPTION_OUT:
            out_path = optarg;
            break;
        case BENCH_OPTION_SUMMARY:
            summary = true;
            break;
        case BENCH_OPTION_HELP:
            fputs(bench_usage, stdout);
            return BENCH_EXIT_OK;
        default:
            if (optopt != 0)
                bench_error("option '%s' needs a value; see milepost-bench --help", argv[optind - 1]);
            else
                bench_error("unknown option '%s' for gen; see milepost-bench --help", argv[optind - 1]);
            return BENCH_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        bench_error("unexpected argument '%s'; gen takes only options (see milepost-bench --help)",
                    argv[optind]);
        return BENCH_EXIT_USAGE;
    }
    if (mp_gen_config_check(&config, message, sizeof message) < 0) {
        bench_error("%s; change --events, --shipments or --duplicate-rate", message);
        return BENCH_EXIT_USAGE;
    }

    struct timespec started;
    clock_gettime(CLOCK_MONOTONIC, &started);
    struct mp_gen *gen = NULL;
    int result = mp_gen_create(&config, &gen);
    if (result < 0) {
        bench_error("cannot plan the workload: %s; lower --events", mp_strerror(result));
        return BENCH_EXIT_FAILURE;
    }
    double plan_seconds = bench_seconds_since(&started);

    FILE *out = stdout;
    if (out_path != NULL) {
        out = fopen(out_path, "w");
        if (out == NULL) {
            int error = errno;
            bench_error("cannot open %s: %s; check the path and its permissions", out_path,
                        strerror(error));
            mp_gen_destroy(gen);
            return BENCH_EXIT_FAILURE;
        }
    }
    /* A NULL buffer lets stdio allocate it; failure leaves the default, still correct. */
    setvbuf(out, NULL, _IOFBF, BENCH_OUTPUT_BUFFER_SIZE);
    uint64_t written = 0;
    result = mp_gen_write(gen, out, &written);
    int close_result = 0;
    int close_error = 0;
    if (out != stdout) {
        close_result = fclose(out);
        close_error = errno;
    } else {
        close_result = fflush(out);
        close_error = errno;
    }
    if (result == 0 && close_result != 0)
        result = -close_error;
    double total_seconds = bench_seconds_since(&started);
    if (result < 0) {
        bench_error("cannot write %s: %s; check free space and the destination",
                    out_path != NULL ? out_path : "stdout", strerror(-result));
        mp_gen_destroy(gen);
        return BENCH_EXIT_FAILURE;
    }
    if (summary) {
        struct mp_gen_stats stats;
        mp_gen_stats(gen, &stats);
        fprintf(stderr,
                "{\"events\":%" PRIu64 ",\"distinct\":%" PRIu64 ",\"duplicates\":%" PRIu64
                ",\"shipments\":%" PRIu32 ",\"active_shipments\":%" PRIu32
                ",\"shipment_events_max\":%" PRIu32 ",\"plan_seconds\":%.3f,\"seconds\":%.3f}\n",
                stats.event_count, stats.distinct_count, stats.duplicate_count,
                stats.shipment_count, stats.active_shipment_count, stats.shipment_events_max,
                plan_seconds, total_seconds);
    }
    MP_ASSERT(written == config.event_count);
    mp_gen_destroy(gen);
    return BENCH_EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(bench_usage, stdout);
        return BENCH_EXIT_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("milepost-bench %s\n", MP_VERSION);
        return BENCH_EXIT_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "gen") == 0)
        return bench_gen(argc - 1, argv + 1);
    if (argc < 2 || strcmp(argv[1], "run") == 0 || argv[1][0] == '-') {
        bench_error("the benchmark run (drivers, oracle, report) is not built yet; "
                    "use 'milepost-bench gen' to generate a workload");
        return BENCH_EXIT_USAGE;
    }
    if (strcmp(argv[1], "capacity") == 0) {
        bench_error("capacity search is not built yet; use 'milepost-bench gen' to generate a workload");
        return BENCH_EXIT_USAGE;
    }
    bench_error("unknown command '%s'; use gen, run or capacity (see milepost-bench --help)", argv[1]);
    return BENCH_EXIT_USAGE;
}
