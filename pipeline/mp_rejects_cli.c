/*
 * `milepost rejects list|replay` (mp_rejects_cli.h).
 *
 * list opens the store read-only, so it works beside a running server.
 * replay writes, so it needs the directory to itself, like ingest: it
 * opens the store for writing once and holds it (and the directory's
 * lock) from its first scan to its last delete, and feeds the raw bytes
 * through mp_ingest_run_buffers, the pipeline `ingest` runs.
 *
 * Replay is a move, at least once.  Each round takes up to
 * ROUND_ENTRIES_MAX entries of the range, ingests their raw bytes (what
 * is refused again is stored again, under a new sequence), and only then
 * deletes the entries it took, in one commit.  A crash between the two
 * leaves the entries, and a later replay feeds them again: events dedupe,
 * a still-refused record is then stored twice.
 */
#include "mp_rejects_cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <xxhash.h>

#include "mp_adapter.h"
#include "mp_assert.h"
#include "mp_cli.h"
#include "mp_erp.h"
#include "mp_error.h"
#include "mp_event.h"
#include "mp_ingest.h"
#include "mp_jsonw.h"
#include "mp_limits.h"
#include "mp_store.h"

#define CLI_COMMAND "rejects"
/* This command's name in every error line (mp_cli.h). */
#define fail_usage(...) mp_cli_fail_usage(CLI_COMMAND, __VA_ARGS__)
#define fail_runtime(...) mp_cli_fail_runtime(CLI_COMMAND, __VA_ARGS__)
#define open_store(...) mp_cli_open_store(CLI_COMMAND, __VA_ARGS__)

/*
 * A round's bounds.  Its raw bytes are held in memory and fed as one
 * ingest (which reads the tracking index at its start, so rounds should
 * be few), then its entries are deleted in one commit.
 */
#define ROUND_ENTRIES_MAX 10000
#define ROUND_RAW_BYTES_MAX (64u << 20)
/*
 * Entries of one webhook payload (one reject per refused checkpoint, each
 * holding the whole payload) are kept in the round that holds the
 * payload, past ROUND_ENTRIES_MAX, up to this many entries in all.
 */
#define ROUND_SEQUENCES_MAX (ROUND_ENTRIES_MAX + MP_ADAPTER_CHECKPOINTS_MAX)
/* Slots of a round's table of the webhook payloads it feeds: sparse, a power of two. */
#define ROUND_PAYLOAD_SLOTS 32768
_Static_assert(ROUND_PAYLOAD_SLOTS >= 2 * ROUND_ENTRIES_MAX, "the payload table stays sparse");
/* --set options replay takes. */
#define SET_OPTIONS_MAX 64

_Static_assert((ROUND_PAYLOAD_SLOTS & (ROUND_PAYLOAD_SLOTS - 1)) == 0, "slots are a power of two");

static const char rejects_usage[] =
    "usage: milepost rejects COMMAND [--data DIR] ...\n"
    "\n"
    "Records milepost refused, kept with their reason and raw bytes\n"
    "(docs/semantics.md \"Rejects\").\n"
    "\n"
    "commands:\n"
    "  list [--from SEQ] [--limit N]    kept rejects, oldest first, as JSON lines\n"
    "                                   {\"sequence\":S,\"received_at\":...,\"raw\":...}\n"
    "  replay [--config FILE] [--set KEY=VALUE]... SEQ | FIRST-LAST | --all\n"
    "                                   feed the entries' raw bytes again, with their\n"
    "                                   recorded source, through the ingest pipeline, then\n"
    "                                   delete them; what is still refused is stored again\n"
    "                                   under a new sequence; entries whose raw bytes are\n"
    "                                   not the whole record stay, counted as skipped.\n"
    "                                   Prints one JSON line; needs the directory to\n"
    "                                   itself (stop the server first).  --config and\n"
    "                                   --set: a server configuration whose ERP filter\n"
    "                                   (erp.milestones, ...) decides which replayed\n"
    "                                   events queue confirmations, as in serve\n"
    "\n"
    "options:\n"
    "  --data DIR    data directory (default ./milepost-data)\n"
    "  -h, --help    show this help\n"
    "\n"
    "Exit status: 0 success (also when replayed records are refused again),\n"
    "1 runtime failure, 2 bad usage.\n";


/* ---- list -------------------------------------------------------------------- */

struct listing {
    uint64_t remaining;
};

static int print_reject(void *context, const char *key, size_t key_size, const char *value,
                        size_t value_size)
{
    struct listing *listing = context;
    if (listing->remaining == 0)
        return 1;
    listing->remaining--;
    /* Stored rejects are JSON objects: splice the sequence in front. */
    if (value_size >= 2 && value[0] == '{') {
        printf("{\"sequence\":%" PRIu64 ",", mp_store_sequence_decode(key, key_size));
        fwrite(value + 1, 1, value_size - 1, stdout);
        fputc('\n', stdout);
    }
    return 0;
}

static int command_list(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"data", required_argument, NULL, 'd'},
        {"from", required_argument, NULL, 'f'},
        {"limit", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_dir = MP_CLI_DATA_DIR_DEFAULT;
    uint64_t from = 0, limit = UINT64_MAX;
    optind = 1;
    opterr = 0;
    int option;
    while ((option = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        switch (option) {
        case 'd': data_dir = optarg; break;
        case 'f':
            if (!mp_cli_parse_u64(optarg, &from))
                return fail_usage("list: --from takes a sequence number, not '%s'", optarg);
            break;
        case 'l':
            if (!mp_cli_parse_u64(optarg, &limit))
                return fail_usage("list: --limit takes a count, not '%s'", optarg);
            break;
        case 'h': fputs(rejects_usage, stdout); return EXIT_SUCCESS;
        default: return fail_usage("list: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return fail_usage("list takes no arguments, not '%s'", argv[optind]);
    struct mp_store *store = NULL;
    int status = open_store(data_dir, false, &store);
    if (status)
        return status;
    struct listing listing = {limit};
    int error = mp_store_scan_rejects(store, from, print_reject, &listing);
    mp_store_close(store);
    if (error < 0)
        return fail_runtime("listing rejects: %s", mp_strerror(error));
    return fflush(stdout) == 0 ? EXIT_SUCCESS : fail_runtime("writing the listing failed");
}

/* ---- replay: reading a stored reject ----------------------------------------- */

/*
 * Why an entry is not replayed.  The names are the keys of the summary's
 * skipped_by_reason (a bounded set; docs/semantics.md "Rejects").
 */
enum skip_reason {
    SKIP_UNREADABLE = 0,   /* not a reject entry as milepost writes them */
    SKIP_UNKNOWN_SOURCE,   /* a source this build has no adapter for */
    SKIP_RAW_TRUNCATED,    /* only the first MP_REJECT_RAW_SIZE_MAX bytes were kept */
    SKIP_SHIPMENT_FULL,    /* the raw bytes are the shipment key, not the record */
    SKIP_NO_RAW,           /* no record boundary was found, so nothing was kept */
    SKIP_BAD_JSON,         /* canonical bad_json: malformed, and often only a fragment */
    SKIP_REASON_COUNT,
};

static const char *const skip_reason_names[SKIP_REASON_COUNT] = {
    [SKIP_UNREADABLE] = "unreadable",
    [SKIP_UNKNOWN_SOURCE] = "unknown_source",
    [SKIP_RAW_TRUNCATED] = "raw_truncated",
    [SKIP_SHIPMENT_FULL] = "shipment_full",
    [SKIP_NO_RAW] = "no_raw",
    [SKIP_BAD_JSON] = "bad_json",
};

/* The fields of a stored reject (mp_shard_add_reject) that replay needs. */
struct stored_reject {
    int source;                 /* enum mp_source, or -1: a name this build does not know */
    char error[32];             /* the reject code's name */
    uint32_t index;
    bool raw_truncated;
    size_t raw_size;            /* decoded into the caller's buffer */
    bool has_source, has_error, has_raw;
};

static const char *skip_space(const char *at, const char *end)
{
    while (at < end && (*at == ' ' || *at == '\t' || *at == '\n' || *at == '\r'))
        at++;
    return at;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Reads the JSON string whose opening quote is at *at, decoding the
 * escapes mp_jsonw writes, into out (capacity bytes; NULL only skips).
 * Returns false when it is not such a string or does not fit; else
 * advances *at past it and sets *size.
 */
static bool read_string(const char **at, const char *end, char *out, size_t capacity,
                        size_t *size)
{
    const char *p = *at;
    if (p >= end || *p != '"')
        return false;
    p++;
    size_t used = 0;
    while (p < end && *p != '"') {
        char c = *p++;
        if (c == '\\') {
            if (p >= end)
                return false;
            char escape = *p++;
            switch (escape) {
            case '"': case '\\': case '/': c = escape; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                if (end - p < 4)
                    return false;
                unsigned value = 0;
                for (int i = 0; i < 4; i++) {
                    int digit = hex_digit(p[i]);
                    if (digit < 0)
                        return false;
                    value = value << 4 | (unsigned)digit;
                }
                /* mp_jsonw writes \u only for control bytes and DEL; other bytes go as they are. */
                if (value > 0x7f)
                    return false;
                c = (char)value;
                p += 4;
                break;
            }
            default: return false;
            }
        }
        if (out) {
            if (used == capacity)
                return false;
            out[used] = c;
        }
        used++;
    }
    if (p >= end)
        return false;
    *at = p + 1;
    *size = used;
    return true;
}

/*
 * Decodes a stored reject: a flat JSON object as mp_shard_add_reject
 * writes it, in any key order.  The raw bytes go to raw_out, which holds
 * value_size bytes (decoding never grows them).  Returns false when the
 * value is not such an object.
 */
static bool decode_reject(const char *value, size_t value_size, char *raw_out,
                          struct stored_reject *out)
{
    memset(out, 0, sizeof *out);
    out->source = -1;
    const char *end = value + value_size;
    const char *at = skip_space(value, end);
    if (at == end || *at != '{')
        return false;
    at = skip_space(at + 1, end);
    for (;;) {
        char key[32];
        size_t size = 0;
        if (!read_string(&at, end, key, sizeof key - 1, &size))
            return false;
        key[size] = '\0';
        at = skip_space(at, end);
        if (at == end || *at != ':')
            return false;
        at = skip_space(at + 1, end);
        if (at == end)
            return false;
        if (*at == '"') {
            bool read;
            if (strcmp(key, "raw") == 0) {
                read = read_string(&at, end, raw_out, value_size, &out->raw_size);
                out->has_raw = read;
            } else if (strcmp(key, "source") == 0) {
                char name[64];
                read = read_string(&at, end, name, sizeof name, &size);
                out->source = read ? mp_source_from_name(name, size) : -1;
                out->has_source = read;
            } else if (strcmp(key, "error") == 0) {
                read = read_string(&at, end, out->error, sizeof out->error - 1, &size);
                if (read)
                    out->error[size] = '\0';
                out->has_error = read;
            } else {
                read = read_string(&at, end, NULL, 0, &size);
            }
            if (!read)
                return false;
        } else {
            /* A scalar: the object is flat, so it ends at ',', '}' or a space. */
            const char *token = at;
            while (at < end && *at != ',' && *at != '}' && *at != ' ' && *at != '\n')
                at++;
            size_t token_size = (size_t)(at - token);
            if (token_size == 0 || *token == '{' || *token == '[')
                return false;
            if (strcmp(key, "raw_truncated") == 0) {
                if (token_size == 4 && memcmp(token, "true", 4) == 0)
                    out->raw_truncated = true;
                else if (!(token_size == 5 && memcmp(token, "false", 5) == 0))
                    return false;
            } else if (strcmp(key, "index") == 0) {
                uint64_t index = 0;
                for (size_t i = 0; i < token_size; i++) {
                    if (token[i] < '0' || token[i] > '9' || index > UINT32_MAX)
                        return false;
                    index = index * 10 + (uint64_t)(token[i] - '0');
                }
                if (index > UINT32_MAX)
                    return false;
                out->index = (uint32_t)index;
            }
        }
        at = skip_space(at, end);
        if (at == end)
            return false;
        if (*at == '}')
            return skip_space(at + 1, end) == end && out->has_source && out->has_error &&
                   out->has_raw;
        if (*at != ',')
            return false;
        at = skip_space(at + 1, end);
    }
}

/*
 * Whether a decoded reject can be replayed: its raw bytes must be the
 * whole record (or webhook payload) as received.  Returns -1 when it can,
 * else the skip_reason.
 */
static int replay_verdict(bool decoded, const struct stored_reject *reject)
{
    if (!decoded)
        return SKIP_UNREADABLE;
    if (reject->source < 0)
        return SKIP_UNKNOWN_SOURCE;
    if (reject->raw_truncated)
        return SKIP_RAW_TRUNCATED;
    if (strcmp(reject->error, mp_reject_code_name(MP_REJECT_SHIPMENT_FULL)) == 0)
        return SKIP_SHIPMENT_FULL;
    if (reject->raw_size == 0)
        return SKIP_NO_RAW;
    /*
     * A canonical bad_json can hold the rest of a broken array or one
     * line of an object sent as NDJSON, and no fix makes malformed JSON
     * parse.  A webhook source's bad_json (from ingest) is a whole
     * payload that was not the source's shape, which an adapter fix can
     * change, so it is replayed.
     */
    if (reject->source == MP_SOURCE_CANONICAL &&
        strcmp(reject->error, mp_reject_code_name(MP_REJECT_BAD_JSON)) == 0)
        return SKIP_BAD_JSON;
    return -1;
}

/* ---- replay: rounds ---------------------------------------------------------- */

/* Scan results beside 0 (the scan reached the end of the family). */
enum {
    SCAN_ROUND_FULL = 1,   /* resume_from is where the next round starts */
    SCAN_PAST_RANGE,
    SCAN_FAILED,           /* round->error says why */
};

struct replay_totals {
    uint64_t replayed;
    uint64_t skipped[SKIP_REASON_COUNT];
    struct mp_ingest_summary ingest;
};

struct round {
    struct replay_totals *totals;
    const struct mp_erp_filter *confirm_filter;
    uint64_t last;                      /* the range's end, inclusive */
    uint64_t resume_from;
    /* What the round feeds and the entries it then deletes. */
    struct mp_ingest_buffer *buffers;   /* ROUND_ENTRIES_MAX */
    char **raws;                        /* the buffers' bytes, malloc'd: ROUND_ENTRIES_MAX */
    size_t buffer_count;
    uint64_t *sequences;                /* ROUND_SEQUENCES_MAX */
    size_t sequence_count;
    size_t raw_bytes;
    /* The webhook payloads among buffers: buffer index + 1, 0 for an empty slot. */
    uint32_t *payload_slots;            /* ROUND_PAYLOAD_SLOTS */
    int error;
};

static void round_reset(struct round *round)
{
    for (size_t index = 0; index < round->buffer_count; index++)
        free(round->raws[index]);
    round->buffer_count = 0;
    round->sequence_count = 0;
    round->raw_bytes = 0;
    round->resume_from = 0;
    round->error = 0;
    if (round->payload_slots)
        memset(round->payload_slots, 0, ROUND_PAYLOAD_SLOTS * sizeof *round->payload_slots);
}

/*
 * The slot of a webhook payload: the one holding the same source and
 * bytes, or the empty one where it would go.  The table never fills.
 */
static uint32_t *payload_slot(struct round *round, enum mp_source source, const char *raw,
                              size_t raw_size)
{
    uint64_t hash = XXH3_64bits_withSeed(raw, raw_size, (uint64_t)source);
    for (size_t probe = 0; probe < ROUND_PAYLOAD_SLOTS; probe++) {
        uint32_t *slot = &round->payload_slots[(hash + probe) & (ROUND_PAYLOAD_SLOTS - 1)];
        if (*slot == 0)
            return slot;
        const struct mp_ingest_buffer *buffer = &round->buffers[*slot - 1];
        if (buffer->source == source && buffer->size == raw_size &&
            memcmp(buffer->data, raw, raw_size) == 0)
            return slot;
    }
    MP_ASSERT(!"the payload table is sized never to fill");
    return NULL;
}

/* Scan callback: sorts one entry of the range into the round. */
static int take_entry(void *context, const char *key, size_t key_size, const char *value,
                      size_t value_size)
{
    struct round *round = context;
    uint64_t sequence = mp_store_sequence_decode(key, key_size);
    if (sequence > round->last)
        return SCAN_PAST_RANGE;
    if (round->sequence_count == ROUND_SEQUENCES_MAX) {
        round->resume_from = sequence;
        return SCAN_ROUND_FULL;
    }
    bool full = round->sequence_count >= ROUND_ENTRIES_MAX ||
                round->raw_bytes >= ROUND_RAW_BYTES_MAX;
    char *raw = malloc(value_size ? value_size : 1);
    if (!raw) {
        round->error = -ENOMEM;
        return SCAN_FAILED;
    }
    struct stored_reject reject;
    bool decoded = decode_reject(value, value_size, raw, &reject);
    int verdict = replay_verdict(decoded, &reject);
    uint32_t *slot = NULL;
    if (verdict < 0 && reject.source != MP_SOURCE_CANONICAL)
        slot = payload_slot(round, (enum mp_source)reject.source, raw, reject.raw_size);
    if (slot && *slot != 0) {
        /* A payload this round feeds already (another of its checkpoints): the entry only goes. */
        free(raw);
        round->sequences[round->sequence_count++] = sequence;
        return 0;
    }
    if (full) {
        free(raw);
        round->resume_from = sequence;
        return SCAN_ROUND_FULL;
    }
    if (verdict >= 0) {
        free(raw);
        round->totals->skipped[verdict]++;
        return 0;
    }
    MP_ASSERT(round->buffer_count < ROUND_ENTRIES_MAX);
    /*
     * A canonical record keeps its place in the input it came from; a
     * webhook payload's rejects are indexed by checkpoint, from 0.
     */
    round->raws[round->buffer_count] = raw;
    round->buffers[round->buffer_count] = (struct mp_ingest_buffer){
        .data = raw,
        .size = reject.raw_size,
        .source = (enum mp_source)reject.source,
        .first_index = reject.source == MP_SOURCE_CANONICAL ? reject.index : 0,
    };
    round->buffer_count++;
    if (slot)
        *slot = (uint32_t)round->buffer_count;
    round->sequences[round->sequence_count++] = sequence;
    round->raw_bytes += reject.raw_size;
    return 0;
}

static void add_summary(struct mp_ingest_summary *total, const struct mp_ingest_summary *round)
{
    total->read += round->read;
    total->accepted += round->accepted;
    total->duplicates += round->duplicates;
    total->rejected += round->rejected;
    for (int code = 0; code < MP_REJECT_CODE_COUNT; code++)
        total->rejected_by_error[code] += round->rejected_by_error[code];
    total->facts += round->facts;
    total->facts_taken += round->facts_taken;
    total->unmapped_codes += round->unmapped_codes;
    total->state_writes += round->state_writes;
    total->outbox += round->outbox;
    total->store_reads += round->store_reads;
    if (round->cores > total->cores)
        total->cores = round->cores;
}

/*
 * Feeds the round's raw bytes, then deletes its entries.  Returns 0, or
 * the error with a one-line explanation (what to do included) in message.
 */
static int replay_round(struct round *round, struct mp_store *store, const char *data_dir,
                        struct mp_store_batch *batch, char *message, size_t message_size)
{
    struct mp_ingest_options options;
    mp_ingest_options_default(&options);
    options.data_dir = data_dir;
    options.progress = false;
    options.confirm_filter = round->confirm_filter;
    struct mp_ingest_summary summary;
    char ingest_message[512] = "";
    int error = mp_ingest_run_buffers(&options, store, round->buffers, round->buffer_count,
                                      &summary, ingest_message, sizeof ingest_message);
    if (error) {
        snprintf(message, message_size,
                 "replay stopped after %" PRIu64 " entries: %s; fix that and run the same "
                 "replay again (what went in counts as duplicates)",
                 round->totals->replayed, ingest_message[0] ? ingest_message : mp_strerror(error));
        return error;
    }
    add_summary(&round->totals->ingest, &summary);
    /* Only now that the records are committed do their entries go. */
    mp_store_batch_clear(batch);
    for (size_t index = 0; index < round->sequence_count; index++)
        mp_store_batch_delete_reject(batch, round->sequences[index]);
    error = mp_store_commit(store, batch, true);
    if (error) {
        snprintf(message, message_size,
                 "replay stopped after %" PRIu64 " entries: the records of %zu more went in, "
                 "but deleting their entries failed (%s); run the same replay again (they count "
                 "as duplicates, and still-refused ones are stored twice)",
                 round->totals->replayed, round->sequence_count, mp_strerror(error));
        return error;
    }
    round->totals->replayed += round->sequence_count;
    return 0;
}

/* Writes the summary line: replay's counts, then ingest's (API.md) fields. */
static int summary_json(const struct replay_totals *totals, char *out, size_t capacity)
{
    char ingest[2048];
    int error = mp_ingest_summary_json(&totals->ingest, ingest, sizeof ingest);
    if (error)
        return error;
    char reasons[512];
    struct mp_jsonw writer;
    mp_jsonw_init(&writer, reasons, sizeof reasons);
    mp_jsonw_object_begin(&writer);
    uint64_t skipped = 0;
    for (int reason = 0; reason < SKIP_REASON_COUNT; reason++) {
        skipped += totals->skipped[reason];
        if (totals->skipped[reason] == 0)
            continue;
        mp_jsonw_key(&writer, skip_reason_names[reason]);
        mp_jsonw_uint(&writer, totals->skipped[reason]);
    }
    mp_jsonw_object_end(&writer);
    size_t size;
    error = mp_jsonw_finish(&writer, &size);
    if (error)
        return error;
    MP_ASSERT(ingest[0] == '{');
    int written = snprintf(out, capacity,
                           "{\"replayed\":%" PRIu64 ",\"skipped\":%" PRIu64
                           ",\"skipped_by_reason\":%s,%s",
                           totals->replayed, skipped, reasons, ingest + 1);
    return written < 0 || (size_t)written >= capacity ? MP_ETOOBIG : 0;
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static int command_replay(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"data", required_argument, NULL, 'd'},
        {"all", no_argument, NULL, 'a'},
        {"config", required_argument, NULL, 'C'},
        {"set", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_dir = MP_CLI_DATA_DIR_DEFAULT;
    const char *config_path = NULL;
    const char *assignments[SET_OPTIONS_MAX];
    size_t assignment_count = 0;
    bool all = false;
    optind = 1;
    opterr = 0;
    int option;
    while ((option = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        switch (option) {
        case 'd': data_dir = optarg; break;
        case 'a': all = true; break;
        case 'C': config_path = optarg; break;
        case 'S':
            if (assignment_count == SET_OPTIONS_MAX)
                return fail_usage("replay: at most %d --set options", SET_OPTIONS_MAX);
            assignments[assignment_count++] = optarg;
            break;
        case 'h': fputs(rejects_usage, stdout); return EXIT_SUCCESS;
        default: return fail_usage("replay: unknown option '%s'", argv[optind - 1]);
        }
    }
    uint64_t first, last;
    int status = mp_cli_parse_range(CLI_COMMAND, argc, argv, optind, all, &first, &last);
    if (status)
        return status;
    struct mp_erp_filter filter;
    char filter_message[512];
    if (mp_erp_filter_load(config_path, assignments, assignment_count, &filter, filter_message,
                           sizeof filter_message) != 0)
        return fail_usage("replay: %s", filter_message);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    struct mp_store *store = NULL;
    status = open_store(data_dir, true, &store);
    if (status)
        return status;

    /*
     * What this replay stores again gets numbers from here on: the range
     * ends before them, so no round takes up its own output.
     */
    uint64_t range_last = last;
    uint64_t next = mp_store_next_reject_sequence(store);
    MP_ASSERT(next >= 1);
    if (range_last >= next)
        range_last = next - 1;

    struct replay_totals totals;
    memset(&totals, 0, sizeof totals);
    struct round round = {.totals = &totals, .confirm_filter = &filter, .last = range_last};
    round.buffers = calloc(ROUND_ENTRIES_MAX, sizeof *round.buffers);
    round.raws = calloc(ROUND_ENTRIES_MAX, sizeof *round.raws);
    round.sequences = calloc(ROUND_SEQUENCES_MAX, sizeof *round.sequences);
    round.payload_slots = calloc(ROUND_PAYLOAD_SLOTS, sizeof *round.payload_slots);
    struct mp_store_batch *batch = NULL;
    char message[1024] = "";
    int error = round.buffers && round.raws && round.sequences && round.payload_slots
                    ? mp_store_batch_create(&batch)
                    : -ENOMEM;
    if (error)
        snprintf(message, sizeof message, "out of memory");
    uint64_t from = first;
    while (!error && from <= range_last) {
        round_reset(&round);
        int scan = mp_store_scan_rejects(store, from, take_entry, &round);
        if (scan == SCAN_FAILED || scan < 0) {
            error = scan == SCAN_FAILED ? round.error : scan;
            snprintf(message, sizeof message,
                     "reading the rejects in %s failed after %" PRIu64 " entries: %s; run the "
                     "same replay again", data_dir, totals.replayed, mp_strerror(error));
            break;
        }
        if (round.sequence_count > 0)
            error = replay_round(&round, store, data_dir, batch, message, sizeof message);
        if (scan != SCAN_ROUND_FULL)
            break;
        MP_ASSERT(round.resume_from > from);
        from = round.resume_from;
    }
    if (round.raws)
        round_reset(&round); /* frees the last round's raw bytes */
    free(round.raws);
    free(round.payload_slots);
    free(round.sequences);
    free(round.buffers);
    mp_store_batch_destroy(batch);
    mp_store_close(store);
    if (error)
        return fail_runtime("%s", message);

    uint64_t skipped = 0;
    for (int reason = 0; reason < SKIP_REASON_COUNT; reason++)
        skipped += totals.skipped[reason];
    if (!all && totals.replayed == 0 && skipped == 0)
        return fail_runtime("no reject in %" PRIu64 "-%" PRIu64 " of %s (milepost rejects list "
                            "shows them)", first, last, data_dir);
    totals.ingest.seconds = seconds_since(&start);
    char line[4096];
    if (summary_json(&totals, line, sizeof line) != 0)
        return fail_runtime("the summary is too long to print");
    puts(line);
    return fflush(stdout) == 0 ? EXIT_SUCCESS : fail_runtime("writing the summary failed");
}

int mp_rejects_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(rejects_usage, stderr);
        return MP_CLI_EXIT_USAGE;
    }
    const char *command = argv[1];
    if (strcmp(command, "-h") == 0 || strcmp(command, "--help") == 0 ||
        strcmp(command, "help") == 0) {
        fputs(rejects_usage, stdout);
        return EXIT_SUCCESS;
    }
    if (strcmp(command, "list") == 0)
        return command_list(argc - 1, argv + 1);
    if (strcmp(command, "replay") == 0)
        return command_replay(argc - 1, argv + 1);
    return fail_usage("unknown command '%s': use list or replay", command);
}
