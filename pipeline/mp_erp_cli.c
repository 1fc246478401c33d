/*
 * `milepost erp list|stats|dlq|replay` (mp_erp_cli.h).
 *
 * list, stats and dlq open the store read-only, so they work beside a
 * running server (they see what was committed when they opened); replay
 * writes, so it needs the directory to itself, like ingest.
 */
#include "mp_erp_cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mp_cli.h"
#include "mp_erp.h"
#include "mp_error.h"
#include "mp_store.h"
#include "mp_time.h"

#define CLI_COMMAND "erp"
/* This command's name in every error line (mp_cli.h). */
#define fail_usage(...) mp_cli_fail_usage(CLI_COMMAND, __VA_ARGS__)
#define fail_runtime(...) mp_cli_fail_runtime(CLI_COMMAND, __VA_ARGS__)
#define open_store(...) mp_cli_open_store(CLI_COMMAND, __VA_ARGS__)
/* Replay writes in batches of this many entries (each one atomic). */
#define REPLAY_BATCH_ENTRIES 1000

static const char erp_usage[] =
    "usage: milepost erp COMMAND [--data DIR] ...\n"
    "\n"
    "The ERP confirmation queue (docs/erp.md).\n"
    "\n"
    "commands:\n"
    "  list [--from SEQ] [--limit N]   pending confirmations in the outbox, oldest first,\n"
    "                                  as JSON lines {\"sequence\":S,\"confirmation\":{...}}\n"
    "  stats                           one JSON object: backlog, cursor, DLQ size, counters\n"
    "  dlq [--from SEQ] [--limit N]    dead-lettered confirmations with the ERP's answer\n"
    "  replay SEQ | FIRST-LAST | --all move DLQ entries back to the outbox, with the same\n"
    "                                  idempotency keys and bytes; needs the directory to\n"
    "                                  itself (stop the server first)\n"
    "\n"
    "options:\n"
    "  --data DIR    data directory (default ./milepost-data)\n"
    "  -h, --help    show this help\n"
    "\n"
    "Exit status: 0 success, 1 runtime failure, 2 bad usage.\n";


/* ---- list ------------------------------------------------------------------ */

struct listing {
    uint64_t remaining;
    uint64_t printed;
};

static int print_outbox(void *context, const char *key, size_t key_size, const char *value,
                        size_t value_size)
{
    struct listing *listing = context;
    if (listing->remaining == 0)
        return 1;
    listing->remaining--;
    listing->printed++;
    printf("{\"sequence\":%" PRIu64 ",\"confirmation\":", mp_store_sequence_decode(key, key_size));
    fwrite(value, 1, value_size, stdout);
    fputs("}\n", stdout);
    return 0;
}

static int print_dlq(void *context, const char *key, size_t key_size, const char *value,
                     size_t value_size)
{
    struct listing *listing = context;
    if (listing->remaining == 0)
        return 1;
    struct mp_erp_dlq_entry entry;
    uint64_t sequence = mp_store_sequence_decode(key, key_size);
    if (mp_erp_dlq_decode(value, value_size, &entry) != 0) {
        fprintf(stderr, "milepost: erp: DLQ entry %" PRIu64 " is not readable; skipped\n",
                sequence);
        return 0;
    }
    listing->remaining--;
    listing->printed++;
    /* {"sequence":S,"confirmation":{...}, then the details' fields. */
    printf("{\"sequence\":%" PRIu64 ",\"confirmation\":", sequence);
    fwrite(entry.confirmation, 1, entry.confirmation_size, stdout);
    fputc(',', stdout);
    fwrite(entry.details + 1, 1, entry.details_size - 1, stdout);
    fputc('\n', stdout);
    return 0;
}

/* Options shared by list and dlq: --data, --from, --limit. */
struct scan_arguments {
    const char *data_dir;
    uint64_t from;
    uint64_t limit;
};

static int parse_scan_arguments(int argc, char **argv, const char *name,
                                struct scan_arguments *arguments)
{
    static const struct option long_options[] = {
        {"data", required_argument, NULL, 'd'},
        {"from", required_argument, NULL, 'f'},
        {"limit", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *arguments = (struct scan_arguments){MP_CLI_DATA_DIR_DEFAULT, 1, UINT64_MAX};
    optind = 1;
    opterr = 0;
    int option;
    while ((option = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        switch (option) {
        case 'd': arguments->data_dir = optarg; break;
        case 'f':
            if (!mp_cli_parse_u64(optarg, &arguments->from) || arguments->from == 0)
                return fail_usage("%s: --from takes a sequence number from 1, not '%s'", name,
                                  optarg);
            break;
        case 'l':
            if (!mp_cli_parse_u64(optarg, &arguments->limit))
                return fail_usage("%s: --limit takes a count, not '%s'", name, optarg);
            break;
        case 'h': fputs(erp_usage, stdout); return -1;
        default: return fail_usage("%s: unknown option '%s'", name, argv[optind - 1]);
        }
    }
    if (optind != argc)
        return fail_usage("%s takes no arguments, not '%s'", name, argv[optind]);
    return 0;
}

static int command_scan(int argc, char **argv, bool dlq)
{
    struct scan_arguments arguments;
    int rc = parse_scan_arguments(argc, argv, dlq ? "dlq" : "list", &arguments);
    if (rc != 0)
        return rc < 0 ? EXIT_SUCCESS : rc;
    struct mp_store *store = NULL;
    rc = open_store(arguments.data_dir, false, &store);
    if (rc != 0)
        return rc;
    struct listing listing = {arguments.limit, 0};
    int error = dlq ? mp_store_scan_dlq(store, arguments.from, print_dlq, &listing)
                    : mp_store_scan_outbox(store, arguments.from, print_outbox, &listing);
    mp_store_close(store);
    if (error < 0)
        return fail_runtime("reading the %s: %s", dlq ? "DLQ" : "outbox", mp_strerror(error));
    return fflush(stdout) == 0 ? EXIT_SUCCESS : fail_runtime("writing the listing failed");
}

/* ---- stats ----------------------------------------------------------------- */

struct counting {
    uint64_t count;
    uint64_t first;
    int64_t oldest_recorded_at_ms;
};

static int count_entry(void *context, const char *key, size_t key_size, const char *value,
                       size_t value_size)
{
    struct counting *counting = context;
    if (counting->count++ == 0) {
        counting->first = mp_store_sequence_decode(key, key_size);
        char item_key[MP_ERP_KEY_SIZE + 1];
        uint64_t group;
        int64_t recorded_at_ms;
        if (mp_erp_item_parse(value, value_size, item_key, &group, &recorded_at_ms) == 0)
            counting->oldest_recorded_at_ms = recorded_at_ms;
    }
    return 0;
}

static int command_stats(int argc, char **argv)
{
    struct scan_arguments arguments;
    int rc = parse_scan_arguments(argc, argv, "stats", &arguments);
    if (rc != 0)
        return rc < 0 ? EXIT_SUCCESS : rc;
    if (arguments.from != 1 || arguments.limit != UINT64_MAX)
        return fail_usage("stats takes only --data");
    struct mp_store *store = NULL;
    rc = open_store(arguments.data_dir, false, &store);
    if (rc != 0)
        return rc;
    struct mp_erp_progress progress;
    struct counting pending = {0, 0, 0};
    struct counting dead = {0, 0, 0};
    int error = mp_erp_progress_load(store, &progress);
    if (error == 0)
        error = mp_store_scan_outbox(store, 1, count_entry, &pending);
    if (error == 0)
        error = mp_store_scan_dlq(store, 1, count_entry, &dead);
    uint64_t next = mp_store_next_outbox_sequence(store);
    mp_store_close(store);
    if (error != 0)
        return fail_runtime("reading the queue: %s", mp_strerror(error));
    int64_t now_ms = mp_time_now_ms();
    double age_s = pending.count && pending.oldest_recorded_at_ms && now_ms > pending.oldest_recorded_at_ms
                       ? (double)(now_ms - pending.oldest_recorded_at_ms) / 1000.0
                       : 0.0;
    printf("{\"backlog\":%" PRIu64 ",\"oldest_pending_sequence\":%" PRIu64
           ",\"oldest_pending_age_seconds\":%.3f,\"next_sequence\":%" PRIu64
           ",\"cursor\":%" PRIu64 ",\"dlq\":%" PRIu64 ",\"delivered_total\":%" PRIu64
           ",\"dead_lettered_total\":%" PRIu64 ",\"replayed_total\":%" PRIu64 "}\n",
           pending.count, pending.count ? pending.first : 0, age_s, next, progress.cursor,
           dead.count, progress.delivered_total, progress.dead_lettered_total,
           progress.replayed_total);
    return fflush(stdout) == 0 ? EXIT_SUCCESS : fail_runtime("writing the stats failed");
}

/* ---- replay ------------------------------------------------------------------ */

struct replay {
    struct mp_store *store;
    struct mp_store_batch *batch;
    struct mp_erp_progress progress;
    uint64_t last;                 /* the range's end, inclusive */
    uint64_t in_batch;
    uint64_t replayed;
    int error;
};

static int replay_commit(struct replay *replay)
{
    if (replay->in_batch == 0)
        return 0;
    struct mp_erp_progress progress = replay->progress;
    progress.replayed_total += replay->in_batch;
    mp_erp_progress_put(replay->batch, &progress);
    int error = mp_store_commit(replay->store, replay->batch, true);
    mp_store_batch_clear(replay->batch);
    if (error != 0)
        return error;
    replay->progress = progress;
    replay->replayed += replay->in_batch;
    replay->in_batch = 0;
    return 0;
}

static int replay_entry(void *context, const char *key, size_t key_size, const char *value,
                        size_t value_size)
{
    struct replay *replay = context;
    uint64_t sequence = mp_store_sequence_decode(key, key_size);
    if (sequence > replay->last)
        return 1;
    struct mp_erp_dlq_entry entry;
    if (mp_erp_dlq_decode(value, value_size, &entry) != 0) {
        fprintf(stderr, "milepost: erp: DLQ entry %" PRIu64 " is not readable; left in place\n",
                sequence);
        return 0;
    }
    /*
     * The same bytes go back at a new sequence (the old one is below the
     * cursor): the key is inside them, so the ERP sees the same key.
     */
    mp_store_batch_add_outbox(replay->batch, entry.confirmation, entry.confirmation_size);
    mp_store_batch_delete_dlq(replay->batch, sequence);
    replay->in_batch++;
    if (replay->in_batch == REPLAY_BATCH_ENTRIES) {
        replay->error = replay_commit(replay);
        if (replay->error != 0)
            return 2;
    }
    return 0;
}

static int command_replay(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"data", required_argument, NULL, 'd'},
        {"all", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_dir = MP_CLI_DATA_DIR_DEFAULT;
    bool all = false;
    optind = 1;
    opterr = 0;
    int option;
    while ((option = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        switch (option) {
        case 'd': data_dir = optarg; break;
        case 'a': all = true; break;
        case 'h': fputs(erp_usage, stdout); return EXIT_SUCCESS;
        default: return fail_usage("replay: unknown option '%s'", argv[optind - 1]);
        }
    }
    uint64_t first, last;
    int usage = mp_cli_parse_range(CLI_COMMAND, argc, argv, optind, all, &first, &last);
    if (usage != 0)
        return usage;
    struct mp_store *store = NULL;
    int rc = open_store(data_dir, true, &store);
    if (rc != 0)
        return rc;
    struct replay replay = {.store = store, .last = last};
    int error = mp_store_batch_create(&replay.batch);
    if (error == 0)
        error = mp_erp_progress_load(store, &replay.progress);
    if (error == 0) {
        error = mp_store_scan_dlq(store, first, replay_entry, &replay);
        if (error == 2)
            error = replay.error;
        else if (error == 1)
            error = 0;
    }
    if (error == 0)
        error = replay_commit(&replay);
    mp_store_batch_destroy(replay.batch);
    mp_store_close(store);
    if (error != 0)
        return fail_runtime("replay failed after %" PRIu64 " entries: %s", replay.replayed,
                            mp_strerror(error));
    if (replay.replayed == 0 && !all)
        return fail_runtime("no DLQ entry in %" PRIu64 "-%" PRIu64 " (milepost erp dlq lists them)",
                            first, last);
    printf("{\"replayed\":%" PRIu64 "}\n", replay.replayed);
    return fflush(stdout) == 0 ? EXIT_SUCCESS : fail_runtime("writing the result failed");
}

int mp_erp_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(erp_usage, stderr);
        return MP_CLI_EXIT_USAGE;
    }
    const char *command = argv[1];
    if (strcmp(command, "-h") == 0 || strcmp(command, "--help") == 0 ||
        strcmp(command, "help") == 0) {
        fputs(erp_usage, stdout);
        return EXIT_SUCCESS;
    }
    if (strcmp(command, "list") == 0)
        return command_scan(argc - 1, argv + 1, false);
    if (strcmp(command, "dlq") == 0)
        return command_scan(argc - 1, argv + 1, true);
    if (strcmp(command, "stats") == 0)
        return command_stats(argc - 1, argv + 1);
    if (strcmp(command, "replay") == 0)
        return command_replay(argc - 1, argv + 1);
    return fail_usage("unknown command '%s': use list, stats, dlq or replay", command);
}
