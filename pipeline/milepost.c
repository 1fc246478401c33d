/*
 * The milepost binary: `serve`, `ingest`, `get`, `rejects`, `erp`.
 *
 * Exit codes (API.md "Binaries"): 0 success, 1 runtime failure, 2 bad
 * usage.  Errors are one line on stderr naming the problem and the fix.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mp_config.h"
#include "mp_erp.h"
#include "mp_erp_cli.h"
#include "mp_error.h"
#include "mp_event.h"
#include "mp_ingest.h"
#include "mp_limits.h"
#include "mp_lookup.h"
#include "mp_options.h"
#include "mp_parse_cli.h"
#include "mp_record.h"
#include "mp_rejects_cli.h"
#include "mp_server.h"
#include "mp_store.h"

#define EXIT_USAGE 2
#define DEFAULT_DATA_DIR "./milepost-data"

/* --set options an offline command takes (serve reads any number through mp_options). */
#define SET_OPTIONS_MAX 64

static const char usage_text[] =
    "usage: milepost COMMAND [OPTIONS]\n"
    "\n"
    "Shipment-tracking event processor: takes carrier and aggregator events in,\n"
    "drops duplicates, keeps each shipment's latest state, queues ERP confirmations.\n"
    "\n"
    "commands:\n"
    "  serve [--config FILE] [--http H:P] [--tcp H:P] [--udp H:P] [--data DIR] ...\n"
    "                        run the server (HTTP, TCP NDJSON, UDP); serve --help lists all\n"
    "  ingest [--data DIR] [--source NAME] [--cores N] [--durability sync|async]\n"
    "         [--disk-reserve-mb MB] [--progress|--no-progress]\n"
    "         [--config FILE] [--set KEY=VALUE]... FILE...\n"
    "                        process files offline ('-' is stdin); prints a JSON summary.\n"
    "                        canonical (default): one event, a JSON array, or NDJSON;\n"
    "                        a webhook source: one native payload per file.  --config and\n"
    "                        --set read a server configuration, of which the ERP filter\n"
    "                        (erp.milestones, erp.carriers, erp.sources, erp.reasons) decides\n"
    "                        which events queue confirmations, as in serve\n"
    "  parse [--source NAME] FILE...\n"
    "                        dry run, no store: print the canonical events each payload\n"
    "                        gives (JSON lines), rejects as {\"reject\":INDEX,...} lines,\n"
    "                        unmapped status codes on stderr; exit 1 if a file is not\n"
    "                        the source's shape\n"
    "  get [--data DIR] [--timeline] CARRIER TRACKING\n"
    "                        print one shipment's state as JSON\n"
    "  rejects list [--data DIR] [--from SEQ] [--limit N]\n"
    "                        print rejected records (JSON lines) with their reasons\n"
    "  rejects replay [--data DIR] SEQ|FIRST-LAST|--all\n"
    "                        feed rejected records again through the ingest pipeline and\n"
    "                        delete them (still-refused ones are kept again); rejects\n"
    "                        --help lists all\n"
    "  erp list|stats|dlq|replay [--data DIR] ...\n"
    "                        the ERP confirmation queue; erp --help lists all\n"
    "\n"
    "sources (--source): canonical, easypost, aftership, shippo, shipengine, ups, fedex,\n"
    "  dhl, 17track (the formats of ../shared/FORMATS.md)\n"
    "\n"
    "options:\n"
    "  --data DIR            data directory (default ./milepost-data)\n"
    "  -h, --help            show this help\n"
    "  -V, --version         show the version\n"
    "\n"
    "Exit status: 0 success, 1 runtime failure, 2 bad usage.\n";

static int fail_usage(const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    fputs("milepost: ", stderr);
    vfprintf(stderr, format, arguments);
    fputs(" (see milepost --help)\n", stderr);
    va_end(arguments);
    return EXIT_USAGE;
}

static int fail_runtime(const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    fputs("milepost: ", stderr);
    vfprintf(stderr, format, arguments);
    fputc('\n', stderr);
    va_end(arguments);
    return EXIT_FAILURE;
}

static bool parse_count(const char *text, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || value > max)
        return false;
    *out = value;
    return true;
}

/* The value of --source, or -1 after a usage error was printed. */
static int source_option(const char *name)
{
    int source = mp_source_from_name(name, strlen(name));
    if (source < 0)
        fail_usage("unknown --source '%s': use canonical, easypost, aftership, shippo, "
                   "shipengine, ups, fedex, dhl or 17track", name);
    return source;
}

/* Handles --help and --version anywhere a subcommand parses options. */
static bool is_help(const char *argument)
{
    return strcmp(argument, "-h") == 0 || strcmp(argument, "--help") == 0;
}

/* ------------------------------------------------------------------------
 * ingest
 * ---------------------------------------------------------------------- */

static int command_ingest(int argc, char **argv)
{
    static const struct option options[] = {
        {"data", required_argument, NULL, 'd'},
        {"source", required_argument, NULL, 's'},
        {"cores", required_argument, NULL, 'c'},
        {"durability", required_argument, NULL, 'D'},
        {"progress", no_argument, NULL, 'p'},
        {"no-progress", no_argument, NULL, 'P'},
        {"disk-reserve-mb", required_argument, NULL, 'r'},
        {"config", required_argument, NULL, 'C'},
        {"set", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    const char *assignments[SET_OPTIONS_MAX];
    size_t assignment_count = 0;
    struct mp_ingest_options ingest;
    mp_ingest_options_default(&ingest);
    ingest.data_dir = DEFAULT_DATA_DIR;
    ingest.progress = isatty(STDERR_FILENO);
    int option;
    optind = 1;
    while ((option = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        uint64_t value;
        switch (option) {
        case 'd': ingest.data_dir = optarg; break;
        case 's': {
            int source = source_option(optarg);
            if (source < 0)
                return EXIT_USAGE;
            ingest.source = (enum mp_source)source;
            break;
        }
        case 'c':
            if (!parse_count(optarg, MP_CORES_MAX, &value) || value == 0)
                return fail_usage("--cores takes a number from 1 to %d, not '%s'", MP_CORES_MAX,
                                  optarg);
            ingest.cores = (uint32_t)value;
            break;
        case 'D':
            if (strcmp(optarg, "sync") == 0)
                ingest.sync = true;
            else if (strcmp(optarg, "async") == 0)
                ingest.sync = false;
            else
                return fail_usage("--durability takes sync or async, not '%s'", optarg);
            break;
        case 'r':
            if (!parse_count(optarg, 1u << 20, &value))
                return fail_usage("--disk-reserve-mb takes MiB from 0 (no check) to 1048576, "
                                  "not '%s'", optarg);
            ingest.disk_reserve_bytes = value << 20;
            break;
        case 'p': ingest.progress = true; break;
        case 'P': ingest.progress = false; break;
        case 'C': config_path = optarg; break;
        case 'S':
            if (assignment_count == SET_OPTIONS_MAX)
                return fail_usage("ingest: at most %d --set options", SET_OPTIONS_MAX);
            assignments[assignment_count++] = optarg;
            break;
        case 'h': fputs(usage_text, stdout); return EXIT_SUCCESS;
        default: return fail_usage("ingest: bad option");
        }
    }
    if (optind >= argc)
        return fail_usage("ingest needs at least one FILE ('-' for standard input)");
    ingest.files = (const char *const *)&argv[optind];
    ingest.file_count = (size_t)(argc - optind);

    char message[512];
    struct mp_erp_filter filter;
    int error = mp_erp_filter_load(config_path, assignments, assignment_count, &filter, message,
                                   sizeof message);
    if (error)
        return fail_usage("ingest: %s", message);
    ingest.confirm_filter = &filter;
    struct mp_ingest_summary summary;
    error = mp_ingest_run(&ingest, &summary, message, sizeof message);
    if (error)
        return fail_runtime("ingest failed: %s", message[0] ? message : mp_strerror(error));
    char line[2048];
    error = mp_ingest_summary_json(&summary, line, sizeof line);
    if (error)
        return fail_runtime("ingest: summary too long");
    puts(line);
    if (summary.unmapped_codes)
        fprintf(stderr,
                "milepost ingest: %llu status codes were not in the %s table (mapped to their "
                "parent status or UNKNOWN); `milepost parse --source %s FILE` names them\n",
                (unsigned long long)summary.unmapped_codes, mp_source_name(ingest.source),
                mp_source_name(ingest.source));
    return EXIT_SUCCESS;
}

/* ------------------------------------------------------------------------
 * parse
 * ---------------------------------------------------------------------- */

static int command_parse(int argc, char **argv)
{
    static const struct option options[] = {
        {"source", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    enum mp_source source = MP_SOURCE_CANONICAL;
    int option;
    optind = 1;
    while ((option = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (option) {
        case 's': {
            int value = source_option(optarg);
            if (value < 0)
                return EXIT_USAGE;
            source = (enum mp_source)value;
            break;
        }
        case 'h': fputs(usage_text, stdout); return EXIT_SUCCESS;
        default: return fail_usage("parse: bad option");
        }
    }
    if (optind >= argc)
        return fail_usage("parse needs at least one FILE ('-' for standard input)");
    return mp_parse_cli_run(source, (const char *const *)&argv[optind], (size_t)(argc - optind),
                            stdout, stderr);
}

/* ------------------------------------------------------------------------
 * get
 * ---------------------------------------------------------------------- */

static int open_read_only(const char *data_dir, struct mp_store **store)
{
    struct stat status;
    if (stat(data_dir, &status) != 0 || !S_ISDIR(status.st_mode))
        return fail_runtime("no data directory %s: ingest or serve with --data %s first, or "
                            "pass the right --data", data_dir, data_dir);
    struct mp_store_options options;
    mp_store_options_default(&options);
    options.path = data_dir;
    options.read_only = true;
    options.create_if_missing = false;
    char message[256] = "";
    int error = mp_store_open(&options, store, message, sizeof message);
    if (error)
        return fail_runtime("cannot open the store in %s: %s %s", data_dir, mp_strerror(error),
                            message);
    return 0;
}

static int command_get(int argc, char **argv)
{
    static const struct option options[] = {
        {"data", required_argument, NULL, 'd'},
        {"timeline", no_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_dir = DEFAULT_DATA_DIR;
    bool timeline = false;
    int option;
    optind = 1;
    while ((option = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (option) {
        case 'd': data_dir = optarg; break;
        case 't': timeline = true; break;
        case 'h': fputs(usage_text, stdout); return EXIT_SUCCESS;
        default: return fail_usage("get: bad option");
        }
    }
    if (argc - optind != 2)
        return fail_usage("get takes CARRIER and TRACKING");
    const char *carrier = argv[optind];
    const char *tracking = argv[optind + 1];
    char code[MP_CARRIER_SIZE_MAX];
    size_t code_size = mp_carrier_code(carrier, strlen(carrier), code, sizeof code);
    char number[MP_TRACKING_NUMBER_SIZE_MAX];
    size_t number_size = mp_tracking_number_normalize(tracking, strlen(tracking), number,
                                                      sizeof number);
    if (code_size == 0 || number_size == 0)
        return fail_usage("get: CARRIER and TRACKING must not be empty");

    struct mp_store *store = NULL;
    int status = open_read_only(data_dir, &store);
    if (status)
        return status;
    struct mp_record *record = NULL;
    int error = mp_lookup_latest(store, code, code_size, number, number_size, &record);
    if (error == MP_ENOTFOUND) {
        mp_store_close(store);
        return fail_runtime("no shipment %s %s in %s", carrier, tracking, data_dir);
    }
    if (error) {
        mp_store_close(store);
        return fail_runtime("reading %s %s: %s", carrier, tracking, mp_strerror(error));
    }
    char *json = malloc(MP_STATE_JSON_SIZE_MAX);
    size_t size = 0;
    error = json ? mp_record_write_state_json(record, timeline, json, MP_STATE_JSON_SIZE_MAX, &size)
                 : -ENOMEM;
    if (!error) {
        fwrite(json, 1, size, stdout);
        fputc('\n', stdout);
    }
    free(json);
    mp_record_destroy(record);
    mp_store_close(store);
    return error ? fail_runtime("rendering %s %s: %s", carrier, tracking, mp_strerror(error))
                 : EXIT_SUCCESS;
}

/* ------------------------------------------------------------------------
 * rejects: list and replay live in mp_rejects_cli.c
 * ---------------------------------------------------------------------- */

static int command_rejects(int argc, char **argv)
{
    return mp_rejects_cli_main(argc, argv);
}

/* ------------------------------------------------------------------------
 * serve
 * ---------------------------------------------------------------------- */

static int command_serve(int argc, char **argv)
{
    struct mp_server_config *config = malloc(sizeof *config);
    if (!config)
        return fail_runtime("out of memory");
    char message[512];
    int error = mp_options_parse_args(config, argc, argv, message, sizeof message);
    if (error) {
        free(config);
        return fail_usage("serve: %s", message);
    }
    int status = EXIT_SUCCESS;
    switch (config->request) {
    case MP_OPTIONS_REQUEST_HELP:
        mp_options_help(stdout);
        break;
    case MP_OPTIONS_REQUEST_VERSION:
        printf("milepost %s\n", MP_VERSION);
        break;
    case MP_OPTIONS_REQUEST_PRINT_CONFIG:
        mp_options_print_yaml(config, stdout);
        break;
    case MP_OPTIONS_REQUEST_SERVE:
        status = mp_server_run(config, message, sizeof message);
        if (status != 0)
            fail_runtime("serve: %s", message);
        break;
    }
    free(config);
    return status;
}

/* ------------------------------------------------------------------------
 * main
 * ---------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *command = argv[1];
    if (is_help(command)) {
        fputs(usage_text, stdout);
        return EXIT_SUCCESS;
    }
    if (strcmp(command, "-V") == 0 || strcmp(command, "--version") == 0) {
        printf("milepost %s\n", MP_VERSION);
        return EXIT_SUCCESS;
    }
    if (strcmp(command, "ingest") == 0)
        return command_ingest(argc - 1, argv + 1);
    if (strcmp(command, "parse") == 0)
        return command_parse(argc - 1, argv + 1);
    if (strcmp(command, "get") == 0)
        return command_get(argc - 1, argv + 1);
    if (strcmp(command, "rejects") == 0)
        return command_rejects(argc - 1, argv + 1);
    if (strcmp(command, "serve") == 0)
        return command_serve(argc - 1, argv + 1);
    if (strcmp(command, "erp") == 0)
        return mp_erp_cli_main(argc - 1, argv + 1);
    return fail_usage("unknown command '%s'", command);
}
