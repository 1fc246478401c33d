/*
 * milepost-bench: load generator, oracle and report (API.md "Binaries").
 *
 * `gen` writes a workload; `run` (the default) drives a server with it,
 * checks every shipment against the oracle and writes the report;
 * `verify` checks a server that was fed a workload by other means.  Exit codes:
 * 0 success, 1 runtime failure, 2 bad usage; every error is one line on
 * stderr naming the problem and what to do.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mp_assert.h"
#include "mp_baseline_pg.h"
#include "mp_bench_util.h"
#include "mp_bench_run.h"
#include "mp_capacity.h"
#include "mp_config.h"
#include "mp_error.h"
#include "mp_driver.h"
#include "mp_gen.h"
#include "mp_ingest.h"
#include "mp_results.h"
#include "mp_time.h"
#if __has_include("mp_report.h")
#include "mp_report.h"
#define BENCH_HAVE_REPORT 1
#endif

enum {
    BENCH_EXIT_OK = 0,
    BENCH_EXIT_FAILURE = 1,
    BENCH_EXIT_USAGE = 2,
};

/* stdio buffer for the generated stream: large writes, few syscalls. */
#define BENCH_OUTPUT_BUFFER_SIZE (1u << 20)
#define BENCH_MESSAGE_SIZE_MAX 256

static const char bench_usage[] =
    "usage: milepost-bench [run] [OPTIONS]      benchmark a server, check it with the oracle\n"
    "       milepost-bench verify --server HOST:PORT [WORKLOAD OPTIONS]\n"
    "                                            oracle check of a server fed that workload\n"
    "       milepost-bench gen [OPTIONS]        generate a workload as NDJSON\n"
    "       milepost-bench capacity --target-eps E --p99-ms L [...]\n"
    "                                            sweep offered load, find the knee, project cores\n"
    "                                            (milepost-bench capacity --help)\n"
    "       milepost-bench baseline-postgres [...]   the same events into PostgreSQL upserts\n"
    "                                            (milepost-bench baseline-postgres --help)\n"
    "       milepost-bench --help | --version\n"
    "\n"
    "run:\n"
    "  --profile NAME        smoke, peak, storm, or default (gen's defaults); docs/bench.md;\n"
    "                        default smoke\n"
    "  --seed N              PRNG seed (default 1)\n"
    "  --driver NAME         http, tcp, udp or inproc (default http)\n"
    "  --server HOST:PORT    drive this server (its HTTP port; for tcp/udp also --tcp/--udp);\n"
    "                        default: start ../pipeline/milepost (or $MILEPOST) on 127.0.0.1\n"
    "                        with kernel-chosen ports and a temporary data directory\n"
    "  --tcp HOST:PORT, --udp HOST:PORT   the stream ports of an external --server\n"
    "  --rate EPS            open loop at EPS events/s shaped by the profile's bursts;\n"
    "                        default closed loop (as fast as acks allow)\n"
    "  --duration S          stop sending after S seconds (default: the whole workload)\n"
    "  --connections N, --pipeline N, --batch N   (defaults from the profile)\n"
    "  --durability MODE, --cores N   passed to the server the bench starts\n"
    "  --events N, --shipments M      override the profile's workload size\n"
    "  --duplicate-rate F, --native-rate F   override the profile's duplicates and the\n"
    "                        fraction of shipments sent as native webhooks (HTTP only)\n"
    "  --report DIR          write DIR/results.json (and DIR/report.html)\n"
    "  --no-progress         no progress line on a terminal\n"
    "  --steady              with --rate: a constant offered rate, the profile's bursts off\n"
    "  --baseline postgres   after the run, feed the same events to PostgreSQL upserts and\n"
    "                        report the ratio (docs/bench.md \"Baseline\"); the server is\n"
    "                        --baseline-conninfo S, else $MP_PG_CONNINFO, else a throwaway one\n"
    "  --no-erp              do not drain and compare ERP confirmations (pull mode); the\n"
    "                        check acks every confirmation it reads, so use it only on a\n"
    "                        server the bench fed\n"
    "Any oracle mismatch makes the run exit 1 with examples on stderr.\n"
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

/*
 * getopt_long's '?' with opterr off: a missing value or an unknown option
 * (argv[optind - 1]).  command_note names the command for the message (" for
 * gen") or is "".  Returns BENCH_EXIT_USAGE.
 */
static int bench_option_error(char **argv, const char *command_note)
{
    if (optopt != 0)
        mp_bench_util_error("option '%s' needs a value; see milepost-bench --help", argv[optind - 1]);
    else
        mp_bench_util_error("unknown option '%s'%s; see milepost-bench --help", argv[optind - 1],
                            command_note);
    return BENCH_EXIT_USAGE;
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
        if (!mp_bench_util_parse_u64(number, 0, 1000000, &weight)) {
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
    mp_bench_util_error("%s '%s' is not valid: %s", option, value, want);
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
            if (!mp_bench_util_parse_u64(optarg, 1, MP_GEN_EVENT_COUNT_MAX, &number)) {
                snprintf(message, sizeof message, "give a whole number from 1 to %u",
                         MP_GEN_EVENT_COUNT_MAX);
                return bench_gen_usage_error("--events", optarg, message);
            }
            config.event_count = number;
            break;
        case BENCH_OPTION_SHIPMENTS:
            if (!mp_bench_util_parse_u64(optarg, 1, MP_GEN_SHIPMENT_COUNT_MAX, &number)) {
                snprintf(message, sizeof message, "give a whole number from 1 to %u",
                         MP_GEN_SHIPMENT_COUNT_MAX);
                return bench_gen_usage_error("--shipments", optarg, message);
            }
            config.shipment_count = (uint32_t)number;
            break;
        case BENCH_OPTION_DUPLICATE_RATE:
            if (!mp_bench_util_parse_double(optarg, 0.0, MP_GEN_DUPLICATE_RATE_MAX, &config.duplicate_rate)) {
                snprintf(message, sizeof message, "give a fraction from 0 to %g, e.g. 0.30",
                         MP_GEN_DUPLICATE_RATE_MAX);
                return bench_gen_usage_error("--duplicate-rate", optarg, message);
            }
            break;
        case BENCH_OPTION_ZIPF:
            if (!mp_bench_util_parse_double(optarg, 0.0, MP_GEN_ZIPF_MAX, &config.zipf_s)) {
                snprintf(message, sizeof message, "give an exponent from 0 (uniform) to %g",
                         MP_GEN_ZIPF_MAX);
                return bench_gen_usage_error("--zipf", optarg, message);
            }
            break;
        case BENCH_OPTION_SEED:
            if (!mp_bench_util_parse_u64(optarg, 0, UINT64_MAX, &config.seed))
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
            if (!mp_bench_util_parse_u64(optarg, 1, MP_GEN_WINDOW_MAX, &number)) {
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
                mp_bench_util_error("%s", message);
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
            return bench_option_error(argv, " for gen");
        }
    }
    if (optind < argc) {
        mp_bench_util_error("unexpected argument '%s'; gen takes only options (see milepost-bench --help)",
                    argv[optind]);
        return BENCH_EXIT_USAGE;
    }
    if (mp_gen_config_check(&config, message, sizeof message) < 0) {
        mp_bench_util_error("%s; change --events, --shipments or --duplicate-rate", message);
        return BENCH_EXIT_USAGE;
    }

    struct timespec started;
    clock_gettime(CLOCK_MONOTONIC, &started);
    struct mp_gen *gen = NULL;
    int result = mp_gen_create(&config, &gen);
    if (result < 0) {
        mp_bench_util_error("cannot plan the workload: %s; lower --events", mp_strerror(result));
        return BENCH_EXIT_FAILURE;
    }
    double plan_seconds = mp_bench_util_seconds_since(&started);

    FILE *out = stdout;
    if (out_path != NULL) {
        out = fopen(out_path, "w");
        if (out == NULL) {
            int error = errno;
            mp_bench_util_error("cannot open %s: %s; check the path and its permissions", out_path,
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
    double total_seconds = mp_bench_util_seconds_since(&started);
    if (result < 0) {
        mp_bench_util_error("cannot write %s: %s; check free space and the destination",
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

/* ------------------------------------------------------------------------
 * run and verify
 * ---------------------------------------------------------------------- */

#define BENCH_SERVER_START_TIMEOUT_MS 30000
#define BENCH_SERVER_STOP_TIMEOUT_MS 60000
#define BENCH_PATH_SIZE_MAX 4096

struct bench_server {
    pid_t pid;
    char dir[BENCH_PATH_SIZE_MAX];      /* temporary: data, listen line, log */
    char data[BENCH_PATH_SIZE_MAX + 16];
    char host[64];
    uint16_t http_port;
    uint16_t tcp_port;
    uint16_t udp_port;
};

static bool bench_parse_host_port(const char *text, char *host, size_t host_size, uint16_t *port)
{
    const char *colon = strrchr(text, ':');
    if (colon == NULL || (size_t)(colon - text) >= host_size || colon == text)
        return false;
    uint64_t number = 0;
    if (!mp_bench_util_parse_u64(colon + 1, 1, 65535, &number))
        return false;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    if (strcmp(host, "localhost") == 0)
        snprintf(host, host_size, "127.0.0.1");
    *port = (uint16_t)number;
    return true;
}

/* The milepost next to this binary in the build tree, or $MILEPOST. */
static void bench_milepost_path(char *out, size_t size)
{
    const char *from_environment = getenv("MILEPOST");
    if (from_environment != NULL && from_environment[0] != '\0') {
        snprintf(out, size, "%s", from_environment);
        return;
    }
    char self[BENCH_PATH_SIZE_MAX];
    ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
    if (length <= 0) {
        snprintf(out, size, "milepost");
        return;
    }
    self[length] = '\0';
    snprintf(out, size, "%s/../pipeline/milepost", dirname(self));
    if (access(out, X_OK) != 0) {
        /* Installed: side by side in bin/. */
        snprintf(self + 0, sizeof self, "%s", out);
        char *slash = strrchr(self, '/');
        (void)slash;
        ssize_t again = readlink("/proc/self/exe", self, sizeof self - 1);
        if (again > 0) {
            self[again] = '\0';
            snprintf(out, size, "%s/milepost", dirname(self));
        }
    }
}

static int bench_remove_entry(const char *path, const struct stat *stat_buffer, int flag,
                              struct FTW *walk)
{
    (void)stat_buffer;
    (void)flag;
    (void)walk;
    remove(path);
    return 0;
}

static void bench_remove_tree(const char *path)
{
    if (path[0] != '\0')
        nftw(path, bench_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void bench_sleep_ms(long ms)
{
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&pause, NULL);
}

static void bench_print_log_tail(const struct bench_server *server)
{
    char path[BENCH_PATH_SIZE_MAX + 16];
    snprintf(path, sizeof path, "%s/server.log", server->dir);
    FILE *log = fopen(path, "r");
    if (log == NULL)
        return;
    char line[512];
    int lines = 0;
    while (fgets(line, sizeof line, log) != NULL && lines++ < 20)
        fprintf(stderr, "milepost-bench: server: %s", line);
    fclose(log);
}

/*
 * Starts `milepost serve` on 127.0.0.1 with kernel-chosen ports, on
 * `data_dir` (NULL: a fresh one in the temporary directory), and waits for
 * its listening line.  Returns 0 or -1 with the reason on stderr.
 */
static int bench_server_start(struct bench_server *server, const char *data_dir,
                              const char *durability, const char *cores)
{
    if (server->dir[0] == '\0') {
        const char *temporary = getenv("TMPDIR");
        snprintf(server->dir, sizeof server->dir, "%s/milepost-bench.XXXXXX",
                 temporary != NULL && temporary[0] != '\0' ? temporary : "/tmp");
        if (mkdtemp(server->dir) == NULL) {
            mp_bench_util_error("cannot create a temporary directory in %s: %s; set TMPDIR", server->dir,
                        strerror(errno));
            server->dir[0] = '\0';
            return -1;
        }
    }
    if (data_dir != NULL)
        snprintf(server->data, sizeof server->data, "%s", data_dir);
    else
        snprintf(server->data, sizeof server->data, "%s/data", server->dir);
    char milepost[BENCH_PATH_SIZE_MAX];
    bench_milepost_path(milepost, sizeof milepost);
    char listen_path[BENCH_PATH_SIZE_MAX + 16];
    char log_path[BENCH_PATH_SIZE_MAX + 16];
    snprintf(listen_path, sizeof listen_path, "%s/listen", server->dir);
    snprintf(log_path, sizeof log_path, "%s/server.log", server->dir);
    unlink(listen_path);
    pid_t pid = fork();
    if (pid < 0) {
        mp_bench_util_error("cannot start milepost: fork failed: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int out = open(listen_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (out < 0 || log < 0 || dup2(out, 1) < 0 || dup2(log, 2) < 0)
            _exit(127);
        char *arguments[20];
        int count = 0;
        /* execv takes char *const[]: writable copies, this child's own. */
        char serve[] = "serve", data_flag[] = "--data", http_flag[] = "--http", tcp_flag[] = "--tcp",
             udp_flag[] = "--udp", durability_flag[] = "--durability", cores_flag[] = "--cores";
        char http_any[] = "127.0.0.1:0", tcp_any[] = "127.0.0.1:0", udp_any[] = "127.0.0.1:0";
        char durability_value[16] = "", cores_value[16] = "";
        arguments[count++] = milepost;
        arguments[count++] = serve;
        arguments[count++] = data_flag;
        arguments[count++] = server->data;
        arguments[count++] = http_flag;
        arguments[count++] = http_any;
        arguments[count++] = tcp_flag;
        arguments[count++] = tcp_any;
        arguments[count++] = udp_flag;
        arguments[count++] = udp_any;
        if (durability != NULL) {
            snprintf(durability_value, sizeof durability_value, "%s", durability);
            arguments[count++] = durability_flag;
            arguments[count++] = durability_value;
        }
        if (cores != NULL) {
            snprintf(cores_value, sizeof cores_value, "%s", cores);
            arguments[count++] = cores_flag;
            arguments[count++] = cores_value;
        }
        arguments[count] = NULL;
        execv(milepost, arguments);
        dprintf(2, "exec %s: %s\n", milepost, strerror(errno));
        _exit(127);
    }
    server->pid = pid;
    for (int waited_ms = 0; waited_ms < BENCH_SERVER_START_TIMEOUT_MS; waited_ms += 20) {
        FILE *listen = fopen(listen_path, "r");
        char line[512];
        bool found = false;
        if (listen != NULL) {
            while (fgets(line, sizeof line, listen) != NULL) {
                if (strncmp(line, "listening ", 10) == 0 && strchr(line, '\n') != NULL) {
                    found = true;
                    break;
                }
            }
            fclose(listen);
        }
        if (found) {
            char http[96] = "";
            char tcp[96] = "";
            char udp[96] = "";
            if (sscanf(line, "listening http=%95s tcp=%95s udp=%95s", http, tcp, udp) < 2 ||
                !bench_parse_host_port(http, server->host, sizeof server->host, &server->http_port)) {
                mp_bench_util_error("cannot read milepost's listening line '%s'; is %s this build's?", line,
                            milepost);
                return -1;
            }
            char host[64];
            bench_parse_host_port(tcp, host, sizeof host, &server->tcp_port);
            bench_parse_host_port(udp, host, sizeof host, &server->udp_port);
            return 0;
        }
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            server->pid = 0;
            mp_bench_util_error("%s exited before listening (status %d); its log follows", milepost,
                        WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
            bench_print_log_tail(server);
            return -1;
        }
        bench_sleep_ms(20);
    }
    mp_bench_util_error("%s did not print its listening line within %d s; see %s", milepost,
                BENCH_SERVER_START_TIMEOUT_MS / 1000, log_path);
    return -1;
}

/* SIGTERM, wait; SIGKILL after the timeout.  Returns the exit status or -1. */
static int bench_server_stop(struct bench_server *server)
{
    if (server->pid <= 0)
        return 0;
    kill(server->pid, SIGTERM);
    int status = 0;
    for (int waited_ms = 0; waited_ms < BENCH_SERVER_STOP_TIMEOUT_MS; waited_ms += 20) {
        if (waitpid(server->pid, &status, WNOHANG) == server->pid) {
            server->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        bench_sleep_ms(20);
    }
    kill(server->pid, SIGKILL);
    waitpid(server->pid, &status, 0);
    server->pid = 0;
    return -1;
}

/* What a run or a verify was asked. */
struct bench_run_options {
    struct mp_gen_profile profile;
    enum mp_driver_kind driver;
    const char *server;
    const char *tcp;
    const char *udp;
    double rate_eps;
    double duration_s;
    uint32_t connections;
    uint32_t pipeline_depth;
    uint32_t batch_events;
    const char *durability;
    const char *cores;
    const char *report_dir;
    bool progress;
    bool check_erp;     /* drain and compare ERP confirmations (pull mode) */
    bool steady;        /* open loop at a constant rate: the profile's bursts off (capacity) */
    bool baseline_postgres;       /* the PostgreSQL baseline on the same events after the run */
    const char *baseline_conninfo; /* NULL: $MP_PG_CONNINFO or a throwaway server */
};

enum {
    BENCH_RUN_PROFILE = 512,
    BENCH_RUN_SEED,
    BENCH_RUN_DRIVER,
    BENCH_RUN_SERVER,
    BENCH_RUN_TCP,
    BENCH_RUN_UDP,
    BENCH_RUN_RATE,
    BENCH_RUN_DURATION,
    BENCH_RUN_CONNECTIONS,
    BENCH_RUN_PIPELINE,
    BENCH_RUN_BATCH,
    BENCH_RUN_DURABILITY,
    BENCH_RUN_CORES,
    BENCH_RUN_EVENTS,
    BENCH_RUN_SHIPMENTS,
    BENCH_RUN_DUPLICATE_RATE,
    BENCH_RUN_REPORT,
    BENCH_RUN_NO_PROGRESS,
    BENCH_RUN_NO_ERP,
    BENCH_RUN_NATIVE_RATE,
    BENCH_RUN_STEADY,
    BENCH_RUN_BASELINE,
    BENCH_RUN_BASELINE_CONNINFO,
    BENCH_RUN_HELP,
};

/* Parses run/verify options.  Returns -1 to go on, else the exit code. */
static int bench_run_parse(int argc, char **argv, struct bench_run_options *options, bool verify)
{
    static const struct option table[] = {
        {"profile", required_argument, NULL, BENCH_RUN_PROFILE},
        {"seed", required_argument, NULL, BENCH_RUN_SEED},
        {"driver", required_argument, NULL, BENCH_RUN_DRIVER},
        {"server", required_argument, NULL, BENCH_RUN_SERVER},
        {"tcp", required_argument, NULL, BENCH_RUN_TCP},
        {"udp", required_argument, NULL, BENCH_RUN_UDP},
        {"rate", required_argument, NULL, BENCH_RUN_RATE},
        {"duration", required_argument, NULL, BENCH_RUN_DURATION},
        {"connections", required_argument, NULL, BENCH_RUN_CONNECTIONS},
        {"pipeline", required_argument, NULL, BENCH_RUN_PIPELINE},
        {"batch", required_argument, NULL, BENCH_RUN_BATCH},
        {"durability", required_argument, NULL, BENCH_RUN_DURABILITY},
        {"cores", required_argument, NULL, BENCH_RUN_CORES},
        {"events", required_argument, NULL, BENCH_RUN_EVENTS},
        {"shipments", required_argument, NULL, BENCH_RUN_SHIPMENTS},
        {"duplicate-rate", required_argument, NULL, BENCH_RUN_DUPLICATE_RATE},
        {"report", required_argument, NULL, BENCH_RUN_REPORT},
        {"no-progress", no_argument, NULL, BENCH_RUN_NO_PROGRESS},
        {"no-erp", no_argument, NULL, BENCH_RUN_NO_ERP},
        {"native-rate", required_argument, NULL, BENCH_RUN_NATIVE_RATE},
        {"steady", no_argument, NULL, BENCH_RUN_STEADY},
        {"baseline", required_argument, NULL, BENCH_RUN_BASELINE},
        {"baseline-conninfo", required_argument, NULL, BENCH_RUN_BASELINE_CONNINFO},
        {"help", no_argument, NULL, BENCH_RUN_HELP},
        {NULL, 0, NULL, 0},
    };
    memset(options, 0, sizeof *options);
    mp_gen_profile_get("smoke", &options->profile);
    options->driver = MP_DRIVER_HTTP;
    options->progress = isatty(2);
    options->check_erp = true;
    /* The seed and sizes given on the command line survive a later --profile. */
    uint64_t seed = options->profile.config.seed;
    uint64_t events = 0;
    uint64_t shipments = 0;
    double duplicate_rate = -1;
    double native_rate = -1;
    opterr = 0;
    optind = 1;
    for (;;) {
        int option = getopt_long(argc, argv, "", table, NULL);
        if (option == -1)
            break;
        uint64_t number = 0;
        switch (option) {
        case BENCH_RUN_PROFILE:
            if (mp_gen_profile_get(optarg, &options->profile) < 0)
                return bench_gen_usage_error("--profile", optarg, "use " MP_GEN_PROFILE_NAMES);
            break;
        case BENCH_RUN_SEED:
            if (!mp_bench_util_parse_u64(optarg, 0, UINT64_MAX, &seed))
                return bench_gen_usage_error("--seed", optarg, "give a whole number from 0 to 2^64-1");
            break;
        case BENCH_RUN_DRIVER: {
            int kind = mp_driver_kind_from_name(optarg);
            if (kind < 0)
                return bench_gen_usage_error("--driver", optarg, "use http, tcp, udp or inproc");
            options->driver = (enum mp_driver_kind)kind;
            break;
        }
        case BENCH_RUN_SERVER: options->server = optarg; break;
        case BENCH_RUN_TCP: options->tcp = optarg; break;
        case BENCH_RUN_UDP: options->udp = optarg; break;
        case BENCH_RUN_RATE:
            if (!mp_bench_util_parse_double(optarg, 1, 1e9, &options->rate_eps))
                return bench_gen_usage_error("--rate", optarg, "give events per second from 1 to 1e9");
            break;
        case BENCH_RUN_DURATION:
            if (!mp_bench_util_parse_double(optarg, 0.1, 3600, &options->duration_s))
                return bench_gen_usage_error("--duration", optarg, "give seconds from 0.1 to 3600");
            break;
        case BENCH_RUN_CONNECTIONS:
            if (!mp_bench_util_parse_u64(optarg, 1, MP_DRIVER_CONNECTIONS_MAX, &number))
                return bench_gen_usage_error("--connections", optarg, "give 1 to 256");
            options->connections = (uint32_t)number;
            break;
        case BENCH_RUN_PIPELINE:
            if (!mp_bench_util_parse_u64(optarg, 1, MP_DRIVER_PIPELINE_MAX, &number))
                return bench_gen_usage_error("--pipeline", optarg, "give 1 to 64");
            options->pipeline_depth = (uint32_t)number;
            break;
        case BENCH_RUN_BATCH:
            if (!mp_bench_util_parse_u64(optarg, 1, MP_DRIVER_BATCH_MAX, &number))
                return bench_gen_usage_error("--batch", optarg, "give 1 to 1000 events");
            options->batch_events = (uint32_t)number;
            break;
        case BENCH_RUN_DURABILITY:
            if (strcmp(optarg, "sync") != 0 && strcmp(optarg, "async") != 0)
                return bench_gen_usage_error("--durability", optarg, "use sync or async");
            options->durability = optarg;
            break;
        case BENCH_RUN_CORES:
            if (!mp_bench_util_parse_u64(optarg, 0, 64, &number))
                return bench_gen_usage_error("--cores", optarg, "give 0 (all) to 64");
            options->cores = optarg;
            break;
        case BENCH_RUN_EVENTS:
            if (!mp_bench_util_parse_u64(optarg, 1, MP_GEN_EVENT_COUNT_MAX, &events))
                return bench_gen_usage_error("--events", optarg, "give a whole number of events");
            break;
        case BENCH_RUN_SHIPMENTS:
            if (!mp_bench_util_parse_u64(optarg, 1, MP_GEN_SHIPMENT_COUNT_MAX, &shipments))
                return bench_gen_usage_error("--shipments", optarg, "give a whole number of shipments");
            break;
        case BENCH_RUN_DUPLICATE_RATE:
            if (!mp_bench_util_parse_double(optarg, 0, MP_GEN_DUPLICATE_RATE_MAX, &duplicate_rate))
                return bench_gen_usage_error("--duplicate-rate", optarg, "give a fraction, e.g. 0.3");
            break;
        case BENCH_RUN_REPORT: options->report_dir = optarg; break;
        case BENCH_RUN_NO_PROGRESS: options->progress = false; break;
        case BENCH_RUN_NO_ERP: options->check_erp = false; break;
        case BENCH_RUN_STEADY: options->steady = true; break;
        case BENCH_RUN_BASELINE:
            if (strcmp(optarg, "postgres") != 0)
                return bench_gen_usage_error("--baseline", optarg, "the one baseline is postgres");
            options->baseline_postgres = true;
            break;
        case BENCH_RUN_BASELINE_CONNINFO: options->baseline_conninfo = optarg; break;
        case BENCH_RUN_NATIVE_RATE:
            if (!mp_bench_util_parse_double(optarg, 0, 1, &native_rate))
                return bench_gen_usage_error("--native-rate", optarg, "give a fraction from 0 to 1");
            break;
        case BENCH_RUN_HELP:
            fputs(bench_usage, stdout);
            return BENCH_EXIT_OK;
        default:
            return bench_option_error(argv, "");
        }
    }
    if (optind < argc) {
        mp_bench_util_error("unexpected argument '%s'; see milepost-bench --help", argv[optind]);
        return BENCH_EXIT_USAGE;
    }
    struct mp_gen_config *config = &options->profile.config;
    config->seed = seed;
    if (events > 0)
        config->event_count = events;
    if (shipments > 0)
        config->shipment_count = (uint32_t)shipments;
    if (duplicate_rate >= 0)
        config->duplicate_rate = duplicate_rate;
    if (native_rate >= 0)
        config->native_rate = native_rate;
    /* Webhook payloads go over HTTP only: the stream drivers send every shipment canonical. */
    if (options->driver != MP_DRIVER_HTTP && !verify)
        config->native_rate = 0;
    char message[BENCH_MESSAGE_SIZE_MAX];
    if (mp_gen_config_check(config, message, sizeof message) < 0) {
        mp_bench_util_error("%s; change --events or --shipments", message);
        return BENCH_EXIT_USAGE;
    }
    if (options->connections == 0)
        options->connections = options->profile.connections;
    if (options->pipeline_depth == 0)
        options->pipeline_depth = options->profile.pipeline_depth;
    if (options->batch_events == 0)
        options->batch_events = options->profile.batch_events;
    if (verify && options->server == NULL) {
        mp_bench_util_error("verify needs --server HOST:PORT (the server's HTTP port)");
        return BENCH_EXIT_USAGE;
    }
    if (options->server != NULL && options->driver == MP_DRIVER_INPROC) {
        mp_bench_util_error("--driver inproc runs the pipeline in this process; drop --server");
        return BENCH_EXIT_USAGE;
    }
    return -1;
}

/* Prints the oracle's verdict; returns true when it found no mismatch. */
static bool bench_print_oracle(const struct mp_results *results)
{
    const struct mp_results_oracle *oracle = &results->oracle;
    fprintf(stderr,
            "oracle: %" PRIu64 " shipments checked, %" PRIu64 " read, %" PRIu64
            " confirmations expected%s, %" PRIu64 " mismatches (%.1f s)\n",
            oracle->shipments_expected, oracle->shipments_read, oracle->confirmations_expected,
            results->erp_enabled ? "" : " (ERP pull mode off: not compared)", oracle->mismatch_count,
            oracle->seconds);
    for (uint32_t index = 0; index < oracle->example_count; index++) {
        const struct mp_results_mismatch *example = &oracle->examples[index];
        fprintf(stderr, "  mismatch: %s %s %s: expected %s, server has %s\n", example->carrier,
                example->tracking_number, example->field, example->expected, example->actual);
    }
    return oracle->mismatch_count == 0;
}

static int bench_write_report(const struct bench_run_options *options,
                              const struct mp_results *results)
{
    if (options->report_dir == NULL)
        return 0;
    if (mkdir(options->report_dir, 0755) != 0 && errno != EEXIST) {
        mp_bench_util_error("cannot create %s: %s; check the path", options->report_dir, strerror(errno));
        return -1;
    }
    char path[BENCH_PATH_SIZE_MAX + 32];
    snprintf(path, sizeof path, "%s/results.json", options->report_dir);
    FILE *out = fopen(path, "w");
    if (out == NULL) {
        mp_bench_util_error("cannot write %s: %s; check the directory", path, strerror(errno));
        return -1;
    }
    int result = mp_results_write_json(results, out);
    if (fclose(out) != 0 && result == 0)
        result = -errno;
    if (result < 0) {
        mp_bench_util_error("cannot write %s: %s; check free space", path, strerror(-result));
        return -1;
    }
#ifdef BENCH_HAVE_REPORT
    snprintf(path, sizeof path, "%s/report.html", options->report_dir);
    if (mp_report_write_html(results, path) < 0) {
        mp_bench_util_error("cannot write %s; check the directory", path);
        return -1;
    }
#endif
    return 0;
}

static void bench_fill_config(const struct bench_run_options *options, struct mp_gen *gen,
                              struct mp_results *results)
{
    struct mp_results_config *config = &results->config;
    snprintf(config->profile, sizeof config->profile, "%s", options->profile.name);
    config->seed = options->profile.config.seed;
    snprintf(config->driver, sizeof config->driver, "%s", mp_driver_kind_name(options->driver));
    config->closed_loop = options->rate_eps <= 0;
    config->target_rate_eps = options->rate_eps;
    config->duration_s = options->duration_s;
    config->connections = options->connections;
    config->pipeline_depth = options->pipeline_depth;
    config->batch_events = options->batch_events;
    config->server_cores = options->cores != NULL ? (uint32_t)atoi(options->cores) : 0;
    if (config->server_cores == 0 && options->server == NULL)
        config->server_cores = (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(config->durability, sizeof config->durability, "%s",
             options->durability != NULL ? options->durability : options->server == NULL ? "sync" : "");
    struct mp_gen_stats stats;
    mp_gen_stats(gen, &stats);
    config->shipment_count = stats.shipment_count;
    config->event_count = stats.event_count;
    config->distinct_count = stats.distinct_count;
    config->duplicate_rate = options->profile.config.duplicate_rate;
    config->out_of_order_rate = options->profile.config.shuffle == MP_GEN_SHUFFLE_NONE ? 0.0 : 1.0;
    config->native_rate = options->profile.config.native_rate;
    mp_results_probe_machine(&results->machine);
    snprintf(results->machine.bench_version, sizeof results->machine.bench_version, "%s", MP_VERSION);
    snprintf(results->machine.build_type, sizeof results->machine.build_type, "%s",
             MP_BENCH_BUILD_TYPE);
    results->started_at_ms = (int64_t)time(NULL) * 1000;
}

/* In-process: the offline pipeline over the workload written to a file. */
static int bench_run_inproc(const struct bench_run_options *options, struct mp_gen *gen,
                            struct bench_server *server, struct mp_results *results)
{
    const char *temporary = getenv("TMPDIR");
    snprintf(server->dir, sizeof server->dir, "%s/milepost-bench.XXXXXX",
             temporary != NULL && temporary[0] != '\0' ? temporary : "/tmp");
    if (mkdtemp(server->dir) == NULL) {
        mp_bench_util_error("cannot create a temporary directory: %s; set TMPDIR", strerror(errno));
        server->dir[0] = '\0';
        return -1;
    }
    char input[BENCH_PATH_SIZE_MAX + 32];
    char data[BENCH_PATH_SIZE_MAX + 32];
    snprintf(input, sizeof input, "%s/events.ndjson", server->dir);
    snprintf(data, sizeof data, "%s/data", server->dir);
    FILE *out = fopen(input, "w");
    uint64_t written = 0;
    if (out == NULL || mp_gen_write(gen, out, &written) < 0 || fclose(out) != 0) {
        mp_bench_util_error("cannot write the workload to %s; check free space", input);
        return -1;
    }
    struct mp_ingest_options ingest;
    mp_ingest_options_default(&ingest);
    const char *files[1] = {input};
    ingest.data_dir = data;
    ingest.files = files;
    ingest.file_count = 1;
    ingest.cores = options->cores != NULL ? (uint32_t)atoi(options->cores) : 0;
    ingest.sync = options->durability == NULL || strcmp(options->durability, "sync") == 0;
    ingest.progress = options->progress;
    struct mp_ingest_summary summary;
    char message[BENCH_MESSAGE_SIZE_MAX];
    int result = mp_ingest_run(&ingest, &summary, message, sizeof message);
    if (result < 0) {
        mp_bench_util_error("the in-process pipeline failed: %s", message);
        return -1;
    }
    results->events_sent = written;
    results->events_acked = summary.read;
    results->events_accepted = summary.accepted;
    results->events_duplicate = summary.duplicates;
    results->events_rejected = summary.rejected;
    results->elapsed_s = summary.seconds;
    /* One interval: the offline run has no acks to time. */
    results->interval_count = 1;
    results->intervals[0].offered_events = written;
    results->intervals[0].achieved_events = summary.read;
    results->intervals[0].achieved_eps = summary.seconds > 0 ? (double)summary.read / summary.seconds : 0;
    results->intervals[0].offered_eps = results->intervals[0].achieved_eps;
    /* The server reads the store back for the oracle. */
    return bench_server_start(server, data, options->durability, options->cores);
}

static int bench_run_with(int argc, char **argv, bool verify, struct mp_results *external)
{
    struct bench_run_options options;
    int parse_result = bench_run_parse(argc, argv, &options, verify);
    if (parse_result >= 0)
        return parse_result;

    struct mp_gen *gen = NULL;
    int result = mp_gen_create(&options.profile.config, &gen);
    if (result < 0) {
        mp_bench_util_error("cannot plan the workload: %s; lower --events", mp_strerror(result));
        return BENCH_EXIT_FAILURE;
    }
    struct mp_results *results = external != NULL ? external : mp_results_create();
    if (results == NULL) {
        mp_gen_destroy(gen);
        mp_bench_util_error("out of memory for the results");
        return BENCH_EXIT_FAILURE;
    }
    bench_fill_config(&options, gen, results);
    struct bench_server server = {.pid = 0};
    struct mp_driver_http *client = NULL;
    int exit_code = BENCH_EXIT_FAILURE;
    char message[BENCH_MESSAGE_SIZE_MAX] = "";

    struct mp_driver_erp_keys erp_keys = {.keys = NULL, .count = 0, .capacity = 0};
    struct mp_driver_options driver = {
        .erp_keys = options.check_erp ? &erp_keys : NULL,
        .kind = options.driver,
        .connections = options.connections,
        .pipeline_depth = options.pipeline_depth,
        .batch_events = options.batch_events,
        .rate_eps = options.rate_eps,
        .duration_s = options.duration_s,
        .burst = options.steady ? NULL : &options.profile.burst,
        .progress = options.progress,
    };
    if (options.driver == MP_DRIVER_INPROC) {
        if (bench_run_inproc(&options, gen, &server, results) < 0)
            goto done;
        snprintf(driver.host, sizeof driver.host, "%s", server.host);
        driver.http_port = server.http_port;
    } else if (options.server != NULL) {
        if (!bench_parse_host_port(options.server, driver.host, sizeof driver.host, &driver.http_port)) {
            mp_bench_util_error("--server '%s' is not HOST:PORT (IPv4)", options.server);
            exit_code = BENCH_EXIT_USAGE;
            goto done;
        }
        char host[64];
        driver.port = driver.http_port;
        if (options.driver == MP_DRIVER_TCP || options.driver == MP_DRIVER_UDP) {
            const char *stream = options.driver == MP_DRIVER_TCP ? options.tcp : options.udp;
            if (stream == NULL || !bench_parse_host_port(stream, host, sizeof host, &driver.port)) {
                mp_bench_util_error("--driver %s with --server needs --%s HOST:PORT",
                            mp_driver_kind_name(options.driver), mp_driver_kind_name(options.driver));
                exit_code = BENCH_EXIT_USAGE;
                goto done;
            }
        }
        snprintf(results->config.server, sizeof results->config.server, "%s", options.server);
    } else {
        if (bench_server_start(&server, NULL, options.durability, options.cores) < 0)
            goto done;
        snprintf(driver.host, sizeof driver.host, "%s", server.host);
        driver.http_port = server.http_port;
        driver.port = options.driver == MP_DRIVER_TCP   ? server.tcp_port
                      : options.driver == MP_DRIVER_UDP ? server.udp_port
                                                        : server.http_port;
        driver.server_pid = server.pid;
        results->server_pid = server.pid;
        results->config.server_started = true;
        snprintf(results->config.server, sizeof results->config.server, "%s:%u", server.host,
                 (unsigned)server.http_port);
    }
    result = mp_driver_http_open(driver.host, driver.http_port, 1u << 24, &client);
    if (result < 0) {
        mp_bench_util_error("cannot connect to the server's HTTP port %s:%u: %s", driver.host,
                    (unsigned)driver.http_port, mp_strerror(result));
        goto done;
    }
    mp_driver_scrape_metrics(client, results, false);
    if (!verify && options.driver != MP_DRIVER_INPROC) {
        result = mp_driver_run(&driver, gen, results, message, sizeof message);
        if (result < 0) {
            mp_bench_util_error("the %s driver failed: %s", mp_driver_kind_name(options.driver), message);
            goto done;
        }
        if (options.driver == MP_DRIVER_UDP) {
            /* No acks: wait until the server's counts stop moving. */
            double last = -1;
            for (int round = 0; round < 100; round++) {
                results->counter_count = results->counter_count; /* keep before values */
                mp_driver_scrape_metrics(client, results, true);
                double seen = mp_driver_counter_sum(results, "milepost_shard_accepted_events_total", true) +
                              mp_driver_counter_sum(results, "milepost_shard_duplicate_events_total", true);
                if (seen == last)
                    break;
                last = seen;
                bench_sleep_ms(200);
            }
        }
    }
    mp_driver_scrape_metrics(client, results, true);
    if (options.driver == MP_DRIVER_TCP || options.driver == MP_DRIVER_UDP) {
        /* Acks say settled, not which: the server's counters tell accepted from duplicate. */
        results->events_accepted = (uint64_t)(
            mp_driver_counter_sum(results, "milepost_shard_accepted_events_total", true) -
            mp_driver_counter_sum(results, "milepost_shard_accepted_events_total", false));
        results->events_duplicate = (uint64_t)(
            mp_driver_counter_sum(results, "milepost_shard_duplicate_events_total", true) -
            mp_driver_counter_sum(results, "milepost_shard_duplicate_events_total", false));
        if (options.driver == MP_DRIVER_UDP) {
            uint64_t counted = results->events_accepted + results->events_duplicate + results->events_rejected;
            results->events_acked = counted;
            results->events_dropped = results->events_sent > counted ? results->events_sent - counted : 0;
        }
    }
    uint64_t events_sent = verify ? results->config.event_count : results->events_sent;
    result = mp_driver_verify(gen, events_sent, options.profile.config.native_rate > 0,
                              options.check_erp, &erp_keys, client, results, message,
                              sizeof message);
    if (result < 0) {
        mp_bench_util_error("the oracle check could not finish: %s", message);
        goto done;
    }
    mp_results_finish(results);
    if (!verify) {
        snprintf(results->verdict, sizeof results->verdict,
                 "%s driver, %s: %.0f events/s, ack p99 %.2f ms, %" PRIu64 " oracle mismatches",
                 results->config.driver, results->config.closed_loop ? "closed loop" : "open loop",
                 results->events_per_s, (double)results->ack.p99_us / 1000.0,
                 results->oracle.mismatch_count);
        fprintf(stderr,
                "%s: %" PRIu64 " events in %.2f s = %.0f events/s; ack latency p50 %.2f ms, p99 "
                "%.2f ms, p99.9 %.2f ms, max %.2f ms; duplicates %.1f%%; server CPU %.2f us/event\n",
                options.profile.name, results->events_acked, results->elapsed_s,
                results->events_per_s, (double)results->ack.p50_us / 1000.0,
                (double)results->ack.p99_us / 1000.0, (double)results->ack.p999_us / 1000.0,
                (double)results->ack.max_us / 1000.0, 100.0 * results->dedup_ratio,
                results->server_cpu_us_per_event);
    }
    if (!verify && options.baseline_postgres) {
        result = mp_baseline_pg_beside(options.baseline_conninfo, gen, options.progress, results, message,
                                       sizeof message);
        if (result < 0) {
            mp_bench_util_error("the PostgreSQL baseline failed: %s", message);
            goto done;
        }
    }
    bool clean = bench_print_oracle(results);
    if (results->events_dropped > 0)
        fprintf(stderr,
                "udp: %" PRIu64 " events were sent but never counted by the server (UDP may drop "
                "under load); the oracle expects every one, so lower --rate until none are\n",
                results->events_dropped);
    if (bench_write_report(&options, results) < 0)
        goto done;
    exit_code = clean ? BENCH_EXIT_OK : BENCH_EXIT_FAILURE;
done:
    mp_driver_http_close(client);
    if (server.pid > 0) {
        int status = bench_server_stop(&server);
        if (status != 0) {
            mp_bench_util_error("milepost did not exit cleanly on SIGTERM (status %d)", status);
            exit_code = BENCH_EXIT_FAILURE;
        }
    }
    bench_remove_tree(server.dir);
    free(erp_keys.keys);
    /* Results handed in by the caller (capacity) are the caller's to free. */
    if (external == NULL)
        mp_results_destroy(results);
    mp_gen_destroy(gen);
    return exit_code;
}

static int bench_run(int argc, char **argv, bool verify)
{
    return bench_run_with(argc, argv, verify, NULL);
}

int mp_bench_run_into(int argc, char **argv, struct mp_results *results)
{
    MP_ASSERT(results != NULL);
    return bench_run_with(argc, argv, false, results);
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
    /* A server that goes away must not kill the bench before it can say so. */
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && strcmp(argv[1], "gen") == 0)
        return bench_gen(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "verify") == 0)
        return bench_run(argc - 1, argv + 1, true);
    if (argc >= 2 && strcmp(argv[1], "run") == 0)
        return bench_run(argc - 1, argv + 1, false);
    if (argc < 2 || argv[1][0] == '-')
        return bench_run(argc, argv, false);
    if (strcmp(argv[1], "baseline-postgres") == 0)
        return mp_baseline_pg_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "capacity") == 0)
        return mp_capacity_main(argc - 1, argv + 1);
    mp_bench_util_error("unknown command '%s'; use run, verify, gen or capacity (see milepost-bench --help)", argv[1]);
    return BENCH_EXIT_USAGE;
}
