/*
 * The option table of `milepost serve` and everything driven by it: the
 * YAML loader, the flag parser, the YAML printer and the help text.
 *
 * Values are parsed from text in one place (parse_value) whatever their
 * origin (a default, a file, a flag, --set), so a default is checked by
 * the same rules as a user's value, and a printed value reads back to the
 * same one.
 */
#include "mp_options.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "mp_assert.h"
#include "mp_config.h"
#include "mp_erp.h"
#include "mp_error.h"

/* ---- the table ---------------------------------------------------------- */

enum option_type {
    OPTION_STRING,     /* UTF-8 text; min and max bound its length in bytes */
    OPTION_ADDRESS,    /* HOST:PORT, IPv6 as [HOST]:PORT */
    OPTION_INTEGER,    /* a whole number */
    OPTION_SIZE,       /* bytes, with an optional k/K/KiB, M/MiB, G/GiB suffix (powers of 1024) */
    OPTION_DURATION,   /* milliseconds, with an optional ms, s, m or h suffix */
    OPTION_ENUM,       /* one name of choices, stored as its index */
    OPTION_BOOL,       /* true or false */
};

enum {
    OPTION_SECRET = 1u << 0,        /* never printed, never echoed in a message */
    OPTION_POWER_OF_TWO = 1u << 1,
    OPTION_LIST = 1u << 2,          /* a string of comma-separated names; YAML lists join */
};

struct option {
    const char *name;               /* dotted: section.key */
    enum option_type type;
    size_t offset;                  /* of the field in struct mp_server_config */
    size_t size;                    /* of that field */
    const char *default_text;       /* parsed like any other value */
    uint64_t min;                   /* numbers: the value; strings: the length */
    uint64_t max;
    const char *const *choices;     /* enums: names in enum order, NULL-terminated */
    const char *flag;               /* "erp-url" for --erp-url; NULL: --set only */
    const char *metavar;            /* what the help shows after the flag */
    unsigned flags;
    const char *help;
};

#define MEMBER_SIZE(member) sizeof(((struct mp_server_config *)0)->member)
#define AT(member) .offset = offsetof(struct mp_server_config, member), .size = MEMBER_SIZE(member)
/* A string option may be as long as its array, less the terminating NUL. */
#define STRING_AT(member) AT(member), .max = MEMBER_SIZE(member) - 1

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define SECOND_MS UINT64_C(1000)
#define MINUTE_MS (60 * SECOND_MS)
#define HOUR_MS (60 * MINUTE_MS)

/* Bounds of the bytes of text a message quotes, and of one reason. */
#define QUOTE_SIZE_MAX 64
#define WHY_SIZE_MAX 320
#define HELP_WIDTH 78
#define SUGGEST_DISTANCE_MAX 3
#define SUGGEST_PREFIX_LENGTH_MIN 6
#define ENUM_INDEX_MAX 15   /* choices lists are short; this bounds the scan */

static const char *const durability_names[] = {"sync", "async", NULL};
static const char *const erp_mode_names[] = {"pull", "push", "jetstream", NULL};
static const char *const log_level_names[] = {"error", "warn", "info", "debug", NULL};

/* Webhook secrets: every source has one (API.md "Config file"). */
#define SOURCE_SECRET(source, index, what)                                              \
    {.name = "sources." source ".secret", .type = OPTION_STRING,                        \
     STRING_AT(sources[index].secret), .default_text = "", .flags = OPTION_SECRET,      \
     .help = "POST /v1/webhooks/" source ": " what "; empty: requests are not "        \
             "authenticated, set: a bad or missing signature is 401."}

/* How old a signed webhook timestamp may be, for sources that sign one. */
#define SOURCE_TOLERANCE(source, index)                                                 \
    {.name = "sources." source ".tolerance_s", .type = OPTION_INTEGER,                  \
     AT(sources[index].tolerance_s), .default_text = "300", .min = 0,                   \
     .max = MP_OPTIONS_TOLERANCE_S_MAX,                                                 \
     .help = "Largest distance in seconds, past or future, between now and the "       \
             "timestamp a " source " webhook signs (replay protection); 0: 300."}

/* The header that carries a shared token, for sources that send one verbatim. */
#define SOURCE_HEADER(source, index, default_header)                                    \
    {.name = "sources." source ".header_name", .type = OPTION_STRING,                   \
     STRING_AT(sources[index].header_name), .default_text = default_header, .min = 1,   \
     .help = "The request header whose value must equal sources." source ".secret."}

/*
 * Every option of `milepost serve`.  Options of one section stay together
 * (the printer writes a section's header once; init asserts it).  The
 * per-source options serve the adapters issue, which may refine them.
 */
static const struct option options[] = {
    {.name = "data", .type = OPTION_STRING, STRING_AT(data), .min = 1,
     .default_text = "./milepost-data", .flag = "data", .metavar = "DIR",
     .help = "Data directory: the RocksDB store, created when missing."},
    {.name = "http", .type = OPTION_ADDRESS, AT(http), .default_text = "127.0.0.1:7411",
     .flag = "http", .metavar = "HOST:PORT",
     .help = "HTTP listener (events, webhooks, shipments, ERP pull, metrics); "
             "port 0: the kernel chooses, and the listening line shows it."},
    {.name = "tcp", .type = OPTION_ADDRESS, AT(tcp), .default_text = "127.0.0.1:7412",
     .flag = "tcp", .metavar = "HOST:PORT",
     .help = "TCP NDJSON listener; port 0: the kernel chooses."},
    {.name = "udp", .type = OPTION_ADDRESS, AT(udp), .default_text = "127.0.0.1:7413",
     .flag = "udp", .metavar = "HOST:PORT",
     .help = "UDP listener; port 0: the kernel chooses."},
    {.name = "cores", .type = OPTION_INTEGER, AT(cores), .default_text = "0", .min = 0,
     .max = MP_CORES_MAX, .flag = "cores", .metavar = "N",
     .help = "Event-loop threads, each pinned to a core; 0: every core this "
             "process may run on."},
    {.name = "durability", .type = OPTION_ENUM, AT(durability), .default_text = "sync",
     .choices = durability_names, .flag = "durability", .metavar = "sync|async",
     .help = "sync: acknowledge only after the fsync that covers the event; async: "
             "after the WAL write, so a power loss can lose acknowledged events."},
    {.name = "dpdk", .type = OPTION_STRING, STRING_AT(dpdk), .default_text = "",
     .flag = "dpdk", .metavar = "\"EAL ARGS\"",
     .help = "DPDK EAL arguments for a UDP ingest port (builds with DPDK only); "
             "empty: no DPDK port."},

    {.name = "erp.mode", .type = OPTION_ENUM, AT(erp.mode), .default_text = "pull",
     .choices = erp_mode_names,
     .help = "Confirmation delivery: pull (GET /v1/erp/confirmations), push (POST to "
             "erp.url) or jetstream (publish to the NATS server at erp.url). Unless "
             "given, push when erp.url is set, else pull."},
    {.name = "erp.url", .type = OPTION_STRING, STRING_AT(erp.url), .default_text = "",
     .flag = "erp-url", .metavar = "URL",
     .help = "push: the ERP's http:// or https:// endpoint; jetstream: the NATS "
             "server; pull: must be empty."},
    {.name = "erp.visibility_timeout_ms", .type = OPTION_DURATION,
     AT(erp.visibility_timeout_ms), .default_text = "30s", .min = 100,
     .max = MP_OPTIONS_VISIBILITY_TIMEOUT_MS_MAX,
     .help = "pull: how long a fetched confirmation stays leased before it is "
             "offered again."},
    {.name = "erp.batch", .type = OPTION_BOOL, AT(erp.batch), .default_text = "false",
     .help = "push: POST JSON arrays of confirmations (keys inside, no "
             "Idempotency-Key header) instead of one per request."},
    {.name = "erp.batch_max", .type = OPTION_INTEGER, AT(erp.batch_max), .default_text = "100",
     .min = 1, .max = MP_ERP_BATCH_MAX,
     .help = "push with erp.batch: confirmations per POST; otherwise how many shipments' "
             "confirmations one delivery round sends (one request each)."},
    {.name = "erp.timeout_ms", .type = OPTION_DURATION, AT(erp.timeout_ms),
     .default_text = "10s", .min = 10, .max = 10 * MINUTE_MS,
     .help = "push, jetstream: longest wait for one delivery (connect included); past it "
             "the delivery counts as failed and is retried."},
    {.name = "erp.retry_initial_ms", .type = OPTION_DURATION, AT(erp.retry_initial_ms),
     .default_text = "100ms", .min = 1, .max = MP_ERP_RETRY_MS_MAX,
     .help = "Backoff after the first failed delivery: a random wait up to this, doubling "
             "with each failure up to erp.retry_max_ms."},
    {.name = "erp.retry_max_ms", .type = OPTION_DURATION, AT(erp.retry_max_ms),
     .default_text = "60s", .min = 1, .max = MP_ERP_RETRY_MS_MAX,
     .help = "Largest backoff between deliveries of one confirmation."},
    {.name = "erp.window", .type = OPTION_INTEGER, AT(erp.window), .default_text = "1024",
     .min = 1, .max = MP_ERP_WINDOW_MAX,
     .help = "Unsettled confirmations the sender holds at once; a shipment waiting on a "
             "retry holds only its own."},
    {.name = "erp.backlog_max", .type = OPTION_INTEGER, AT(erp.backlog_max),
     .default_text = "1000000", .min = 1, .max = UINT64_C(1) << 40,
     .help = "Unsettled confirmations in the outbox beyond which ingest answers 503 "
             "(the ERP has been away too long); none is ever dropped."},
    {.name = "erp.auth_header", .type = OPTION_STRING, STRING_AT(erp.auth_header),
     .default_text = "", .flags = OPTION_SECRET,
     .help = "push: a header sent with every POST, \"Name: value\" (e.g. "
             "\"Authorization: Bearer ...\"); empty: none."},
    {.name = "erp.hmac_secret", .type = OPTION_STRING, STRING_AT(erp.hmac_secret),
     .default_text = "", .flags = OPTION_SECRET,
     .help = "push: key of the HMAC-SHA256 of each body, sent as X-Milepost-Signature: "
             "sha256=<hex>; empty: none."},
    {.name = "erp.subject", .type = OPTION_STRING, STRING_AT(erp.subject),
     .default_text = "milepost.confirmations", .min = 1,
     .help = "jetstream: the NATS subject confirmations are published to (a stream "
             "must capture it)."},
    {.name = "erp.stream", .type = OPTION_STRING, STRING_AT(erp.stream),
     .default_text = "MILEPOST_CONFIRMATIONS", .min = 1,
     .help = "jetstream with erp.create_stream: the name of the stream to create."},
    {.name = "erp.create_stream", .type = OPTION_BOOL, AT(erp.create_stream),
     .default_text = "false",
     .help = "jetstream: create erp.stream over erp.subject (file storage, one replica, "
             "one-day duplicate window) when it does not exist; an existing stream is "
             "never changed."},
    {.name = "erp.milestones", .type = OPTION_STRING, STRING_AT(erp.milestones),
     .default_text = "PICKED_UP,DELIVERED,RETURNED_TO_SENDER,LOST,DAMAGED,CANCELLED",
     .flags = OPTION_LIST, .min = 1,
     .help = "Milestones that fire a confirmation (a YAML list or comma-separated names)."},
    {.name = "erp.carriers", .type = OPTION_STRING, STRING_AT(erp.carriers),
     .default_text = "", .flags = OPTION_LIST,
     .help = "Only these carriers fire confirmations (names as senders write them; "
             "normalized); empty: every carrier."},
    {.name = "erp.sources", .type = OPTION_STRING, STRING_AT(erp.sources),
     .default_text = "", .flags = OPTION_LIST,
     .help = "Only events from these sources fire confirmations; empty: every source."},
    {.name = "erp.reasons", .type = OPTION_STRING, STRING_AT(erp.reasons),
     .default_text = "", .flags = OPTION_LIST,
     .help = "Only events with one of these reasons fire confirmations; empty: any "
             "reason or none."},

    {.name = "limits.header_size_max", .type = OPTION_SIZE, AT(limits.header_size_max),
     .default_text = "16k", .min = KIB, .max = MP_OPTIONS_HEADER_SIZE_MAX,
     .help = "HTTP request line and headers; a larger request is refused."},
    {.name = "limits.body_size_max", .type = OPTION_SIZE, AT(limits.body_size_max),
     .default_text = "8M", .min = KIB, .max = MP_BODY_SIZE_MAX,
     .help = "HTTP request body; a larger one is 413 and nothing in it is taken."},
    {.name = "limits.line_size_max", .type = OPTION_SIZE, AT(limits.line_size_max),
     .default_text = "64k", .min = KIB, .max = MP_LINE_SIZE_MAX,
     .help = "One NDJSON line; a longer line is rejected as too_big."},
    {.name = "limits.connections_max", .type = OPTION_INTEGER, AT(limits.connections_max),
     .default_text = "10000", .min = 1, .max = MP_OPTIONS_CONNECTIONS_MAX,
     .help = "Open HTTP and TCP connections; past it, new ones wait in the "
             "kernel's backlog."},
    {.name = "limits.events_per_request_max", .type = OPTION_INTEGER,
     AT(limits.events_per_request_max), .default_text = "10000", .min = 1,
     .max = MP_EVENTS_PER_REQUEST_MAX,
     .help = "Events in one HTTP request; more is 413 and nothing is taken."},
    {.name = "limits.idle_timeout_ms", .type = OPTION_DURATION, AT(limits.idle_timeout_ms),
     .default_text = "60s", .min = 10, .max = MP_OPTIONS_TIMEOUT_MS_MAX,
     .help = "A connection with nothing in progress is closed after this."},
    {.name = "limits.header_timeout_ms", .type = OPTION_DURATION,
     AT(limits.header_timeout_ms), .default_text = "10s", .min = 10,
     .max = MP_OPTIONS_TIMEOUT_MS_MAX,
     .help = "Time to receive a request's headers; slower clients are cut off and "
             "counted."},
    {.name = "limits.body_timeout_ms", .type = OPTION_DURATION, AT(limits.body_timeout_ms),
     .default_text = "30s", .min = 10, .max = MP_OPTIONS_TIMEOUT_MS_MAX,
     .help = "Time to receive a request's body; slower clients are cut off and "
             "counted."},
    {.name = "limits.udp_datagram_size_max", .type = OPTION_SIZE,
     AT(limits.udp_datagram_size_max), .default_text = "65507", .min = 512,
     .max = MP_OPTIONS_UDP_DATAGRAM_SIZE_MAX,
     .help = "Largest UDP datagram taken; larger ones are dropped and counted. "
             "Each receive buffer is this large."},

    {.name = "pipeline.ring_slots", .type = OPTION_INTEGER, AT(pipeline.ring_slots),
     .default_text = "1024", .min = 16, .max = MP_RING_SLOTS_MAX,
     .flags = OPTION_POWER_OF_TWO,
     .help = "Slots of each (core, core) ring, a power of two; a full ring pushes "
             "back on senders."},
    {.name = "pipeline.cache_records_max", .type = OPTION_INTEGER,
     AT(pipeline.cache_records_max), .default_text = "1048576", .min = 1024,
     .max = MP_SHARD_CACHE_RECORDS_MAX,
     .help = "Shipment records each shard keeps in memory; a miss reads the store "
             "on the commit thread."},
    {.name = "pipeline.commit_interval_ms", .type = OPTION_DURATION,
     AT(pipeline.commit_interval_ms), .default_text = "1ms", .min = 0,
     .max = MP_OPTIONS_COMMIT_INTERVAL_MS_MAX,
     .help = "Group commit: the longest a batch waits for more before its commit "
             "(and fsync); 0: commit at once."},
    {.name = "pipeline.duplicate_flush_interval_ms", .type = OPTION_DURATION,
     AT(pipeline.duplicate_flush_interval_ms), .default_text = "1s", .min = 10,
     .max = MP_OPTIONS_TIMEOUT_MS_MAX,
     .help = "How often duplicate counts with no other change reach the store; a "
             "crash loses at most this much of them, never an event."},

    {.name = "logging.level", .type = OPTION_ENUM, AT(logging.level),
     .default_text = "info", .choices = log_level_names,
     .help = "Least severe log lines written to stderr."},

    SOURCE_SECRET("easypost", MP_SOURCE_EASYPOST, "the webhook's HMAC signing secret"),
    SOURCE_SECRET("aftership", MP_SOURCE_AFTERSHIP, "the webhook's HMAC signing secret"),
    SOURCE_SECRET("shippo", MP_SOURCE_SHIPPO, "the webhook's HMAC signing secret"),
    SOURCE_TOLERANCE("shippo", MP_SOURCE_SHIPPO),
    SOURCE_SECRET("shipengine", MP_SOURCE_SHIPENGINE,
                  "a shared secret, for a check besides the RSA one of jwks_file"),
    SOURCE_HEADER("shipengine", MP_SOURCE_SHIPENGINE, "Authorization"),
    {.name = "sources.shipengine.jwks_file", .type = OPTION_STRING,
     STRING_AT(sources[MP_SOURCE_SHIPENGINE].jwks_file), .default_text = "",
     .help = "A JWKS file with ShipEngine's public signing keys, to check its RSA "
             "signatures; empty: not checked."},
    SOURCE_TOLERANCE("shipengine", MP_SOURCE_SHIPENGINE),
    SOURCE_SECRET("ups", MP_SOURCE_UPS, "the token UPS sends in header_name"),
    SOURCE_HEADER("ups", MP_SOURCE_UPS, "Authorization"),
    SOURCE_SECRET("fedex", MP_SOURCE_FEDEX, "the webhook's HMAC signing secret"),
    SOURCE_SECRET("dhl", MP_SOURCE_DHL, "the token DHL sends in header_name"),
    SOURCE_HEADER("dhl", MP_SOURCE_DHL, "Authorization"),
    SOURCE_SECRET("17track", MP_SOURCE_17TRACK, "the key 17TRACK signs with"),
};

#define OPTION_COUNT (sizeof options / sizeof options[0])

/* ---- messages ------------------------------------------------------------ */

__attribute__((format(printf, 3, 4)))
static void set_message(char *message, size_t message_size, const char *format, ...)
{
    if (!message || message_size == 0)
        return;
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(message, message_size, format, arguments);
    va_end(arguments);
}

/*
 * Copies text into out for quoting in a message: at most QUOTE_SIZE_MAX
 * bytes, control bytes as '?', "..." when cut, so a message stays one
 * readable line whatever the input held.
 */
static void quote_text(const char *text, size_t length, char *out, size_t out_size)
{
    MP_ASSERT(out_size > QUOTE_SIZE_MAX + 3);
    size_t used = length < QUOTE_SIZE_MAX ? length : QUOTE_SIZE_MAX;
    for (size_t index = 0; index < used; index++) {
        unsigned char byte = (unsigned char)text[index];
        out[index] = byte < 0x20 || byte == 0x7f ? '?' : (char)byte;
    }
    if (used < length) {
        memcpy(out + used, "...", 3);
        used += 3;
    }
    out[used] = '\0';
}

/* ---- the table, looked up ------------------------------------------------ */

static const struct option *find_option(const char *name, size_t length)
{
    for (size_t index = 0; index < OPTION_COUNT; index++)
        if (strlen(options[index].name) == length && !memcmp(options[index].name, name, length))
            return &options[index];
    return NULL;
}

/* The first option inside section `name` (a prefix followed by '.'), or NULL. */
static const struct option *find_section(const char *name, size_t length)
{
    if (length == 0)
        return NULL;
    for (size_t index = 0; index < OPTION_COUNT; index++) {
        const char *candidate = options[index].name;
        if (strlen(candidate) > length && !memcmp(candidate, name, length) &&
            candidate[length] == '.')
            return &options[index];
    }
    return NULL;
}

static const struct option *find_flag(const char *flag, size_t length)
{
    for (size_t index = 0; index < OPTION_COUNT; index++) {
        const char *candidate = options[index].flag;
        if (candidate && strlen(candidate) == length && !memcmp(candidate, flag, length))
            return &options[index];
    }
    return NULL;
}

/* Levenshtein distance of two short strings; longer ones count as far. */
static size_t edit_distance(const char *a, size_t a_length, const char *b, size_t b_length)
{
    if (a_length >= MP_OPTIONS_NAME_SIZE_MAX || b_length >= MP_OPTIONS_NAME_SIZE_MAX)
        return SIZE_MAX;
    size_t row[MP_OPTIONS_NAME_SIZE_MAX + 1];
    for (size_t j = 0; j <= b_length; j++)
        row[j] = j;
    for (size_t i = 1; i <= a_length; i++) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b_length; j++) {
            size_t above = row[j];
            size_t best = diagonal + (a[i - 1] != b[j - 1]);
            if (above + 1 < best)
                best = above + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diagonal = above;
        }
    }
    return row[b_length];
}

/*
 * The option a mistyped key most likely meant: one whose last part is the
 * key (a key outside its section), one the key begins (a cut-off name),
 * or the nearest by edit distance.  NULL when nothing is close.
 */
static const struct option *suggest_option(const char *name, size_t length)
{
    for (size_t index = 0; index < OPTION_COUNT; index++) {
        const char *candidate = options[index].name;
        size_t candidate_length = strlen(candidate);
        if (candidate_length > length && candidate[candidate_length - length - 1] == '.' &&
            !memcmp(candidate + candidate_length - length, name, length) && length > 0)
            return &options[index];
    }
    for (size_t index = 0; index < OPTION_COUNT; index++)
        if (length > 0 && !strncmp(options[index].name, name, length) &&
            strlen(options[index].name) > length)
            return &options[index];
    /*
     * A typo in a cut-off name ("limits.bodysize") is near the start of
     * the option rather than all of it; short keys skip that comparison,
     * which would match almost anything.
     */
    const struct option *best = NULL;
    size_t best_distance = SUGGEST_DISTANCE_MAX + 1;
    for (size_t index = 0; index < OPTION_COUNT; index++) {
        const char *candidate = options[index].name;
        size_t candidate_length = strlen(candidate);
        size_t distance = edit_distance(name, length, candidate, candidate_length);
        if (length >= SUGGEST_PREFIX_LENGTH_MIN && candidate_length > length) {
            size_t start_distance = edit_distance(name, length, candidate, length);
            if (start_distance < SUGGEST_DISTANCE_MAX && start_distance < distance)
                distance = start_distance;
        }
        if (distance < best_distance) {
            best = &options[index];
            best_distance = distance;
        }
    }
    return best;
}

/* Writes "unknown key 'NAME'" and a suggestion, after `context`. */
static void unknown_key_message(const char *context, const char *name, size_t length,
                                char *message, size_t message_size)
{
    char quoted[QUOTE_SIZE_MAX + 4];
    quote_text(name, length, quoted, sizeof quoted);
    const struct option *suggestion = suggest_option(name, length);
    if (suggestion)
        set_message(message, message_size, "%sunknown key '%s' (did you mean '%s'?)", context,
                    quoted, suggestion->name);
    else
        set_message(message, message_size,
                    "%sunknown key '%s' (milepost serve --help lists every key)", context,
                    quoted);
}

/* ---- field access -------------------------------------------------------- */

static void *field_of(struct mp_server_config *config, const struct option *option)
{
    return (char *)config + option->offset;
}

static const void *const_field_of(const struct mp_server_config *config,
                                  const struct option *option)
{
    return (const char *)config + option->offset;
}

/* Numbers and enum indexes live in 4- or 8-byte unsigned fields. */
static uint64_t load_number(const void *field, size_t size)
{
    if (size == sizeof(uint32_t)) {
        uint32_t value;
        memcpy(&value, field, sizeof value);
        return value;
    }
    MP_ASSERT(size == sizeof(uint64_t));
    uint64_t value;
    memcpy(&value, field, sizeof value);
    return value;
}

static void store_number(void *field, size_t size, uint64_t number)
{
    if (size == sizeof(uint32_t)) {
        MP_ASSERT(number <= UINT32_MAX);
        uint32_t value = (uint32_t)number;
        memcpy(field, &value, sizeof value);
        return;
    }
    MP_ASSERT(size == sizeof(uint64_t));
    memcpy(field, &number, sizeof number);
}

/* Enum fields hold the choice's index; the compiler gives them int's size. */
_Static_assert(sizeof(enum mp_options_durability) == sizeof(uint32_t), "enum field size");
_Static_assert(sizeof(enum mp_options_erp_mode) == sizeof(uint32_t), "enum field size");
_Static_assert(sizeof(enum mp_options_log_level) == sizeof(uint32_t), "enum field size");

/* ---- parsing values ------------------------------------------------------ */

/* One parsed value, before it is stored: a failed parse changes nothing. */
struct value {
    uint64_t number;                    /* integer, size, duration, enum index */
    bool truth;
    struct mp_options_address address;
    const char *text;                   /* strings: borrowed from the input */
    size_t length;
};

struct suffix {
    const char *text;
    uint64_t scale;
};

static const struct suffix size_suffixes[] = {
    {"k", KIB}, {"K", KIB}, {"KiB", KIB}, {"M", MIB}, {"MiB", MIB}, {"G", GIB}, {"GiB", GIB},
    {NULL, 0},
};
static const struct suffix duration_suffixes[] = {
    {"ms", 1}, {"s", SECOND_MS}, {"m", MINUTE_MS}, {"h", HOUR_MS}, {NULL, 0},
};
static const struct suffix no_suffixes[] = {{NULL, 0}};

static const char *kind_description(const struct option *option)
{
    switch (option->type) {
    case OPTION_INTEGER:
        return "a whole number";
    case OPTION_SIZE:
        return "a size (bytes, or a whole number with a k, M or G suffix: 16k, 8M)";
    case OPTION_DURATION:
        return "a duration (milliseconds, or a whole number with a ms, s, m or h "
               "suffix: 250ms, 30s, 1m)";
    default:
        MP_ASSERT(!"not a number type");
        return "";
    }
}

/* Writes a number as the option shows it: the largest exact unit. */
static void format_number(const struct option *option, uint64_t number, char *out,
                          size_t out_size)
{
    const struct suffix *best = NULL;
    if (number != 0 && option->type == OPTION_SIZE) {
        for (const struct suffix *suffix = size_suffixes; suffix->text; suffix++)
            if (number % suffix->scale == 0 && strlen(suffix->text) == 1 &&
                (!best || suffix->scale > best->scale))
                best = suffix;
    }
    if (option->type == OPTION_DURATION) {
        for (const struct suffix *suffix = duration_suffixes; suffix->text; suffix++)
            if ((number == 0 ? suffix->scale == 1 : number % suffix->scale == 0) &&
                (!best || suffix->scale > best->scale))
                best = suffix;
    }
    if (best)
        snprintf(out, out_size, "%llu%s", (unsigned long long)(number / best->scale),
                 best->text);
    else
        snprintf(out, out_size, "%llu", (unsigned long long)number);
}

static int parse_number(const struct option *option, const char *text, size_t length,
                        uint64_t *out, char *why, size_t why_size)
{
    char quoted[QUOTE_SIZE_MAX + 4];
    quote_text(text, length, quoted, sizeof quoted);
    const struct suffix *suffixes = option->type == OPTION_SIZE       ? size_suffixes
                                    : option->type == OPTION_DURATION ? duration_suffixes
                                                                      : no_suffixes;
    size_t digits = 0;
    uint64_t number = 0;
    bool overflow = false;
    while (digits < length && text[digits] >= '0' && text[digits] <= '9') {
        unsigned digit = (unsigned)(text[digits] - '0');
        if (number > (UINT64_MAX - digit) / 10)
            overflow = true;
        else
            number = number * 10 + digit;
        digits++;
    }
    uint64_t scale = 1;
    bool suffix_ok = digits == length;
    for (const struct suffix *suffix = suffixes; !suffix_ok && suffix->text; suffix++) {
        if (strlen(suffix->text) == length - digits &&
            !memcmp(suffix->text, text + digits, length - digits)) {
            scale = suffix->scale;
            suffix_ok = true;
        }
    }
    if (digits == 0 || !suffix_ok) {
        set_message(why, why_size, "value '%s' is not %s", quoted, kind_description(option));
        return MP_EINVAL;
    }
    if (number > UINT64_MAX / scale)
        overflow = true;
    number *= scale;
    if (overflow || number < option->min || number > option->max) {
        char low[32], high[32];
        format_number(option, option->min, low, sizeof low);
        format_number(option, option->max, high, sizeof high);
        set_message(why, why_size, "value '%s' is out of range (allowed %s to %s)", quoted, low,
                    high);
        return MP_EINVAL;
    }
    if ((option->flags & OPTION_POWER_OF_TWO) && (number & (number - 1)) != 0) {
        char low[32], high[32];
        format_number(option, option->min, low, sizeof low);
        format_number(option, option->max, high, sizeof high);
        set_message(why, why_size, "value '%s' is not a power of two (allowed %s to %s)",
                    quoted, low, high);
        return MP_EINVAL;
    }
    *out = number;
    return 0;
}

/*
 * Decodes one UTF-8 sequence at text (within length): returns its byte
 * count and the code point, or 0 when it is not well-formed (overlong,
 * surrogate, past U+10FFFF, cut short).
 */
static size_t decode_utf8(const unsigned char *text, size_t length, uint32_t *code_point)
{
    MP_ASSERT(length > 0);
    unsigned char lead = text[0];
    size_t count;
    uint32_t point, least;
    if (lead < 0x80) {
        *code_point = lead;
        return 1;
    } else if ((lead & 0xe0) == 0xc0) {
        count = 2, point = lead & 0x1f, least = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
        count = 3, point = lead & 0x0f, least = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
        count = 4, point = lead & 0x07, least = 0x10000;
    } else {
        return 0;
    }
    if (count > length)
        return 0;
    for (size_t index = 1; index < count; index++) {
        if ((text[index] & 0xc0) != 0x80)
            return 0;
        point = (point << 6) | (text[index] & 0x3f);
    }
    if (point < least || point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff))
        return 0;
    *code_point = point;
    return count;
}

static bool valid_utf8(const char *text, size_t length)
{
    const unsigned char *bytes = (const unsigned char *)text;
    size_t index = 0;
    while (index < length) {
        uint32_t code_point;
        size_t used = decode_utf8(bytes + index, length - index, &code_point);
        if (used == 0)
            return false;
        index += used;
    }
    return true;
}

static int parse_string(const struct option *option, const char *text, size_t length,
                        char *why, size_t why_size)
{
    bool secret = option->flags & OPTION_SECRET;
    if (memchr(text, '\0', length)) {
        set_message(why, why_size, "value contains a NUL byte");
        return MP_EINVAL;
    }
    if (!valid_utf8(text, length)) {
        set_message(why, why_size, "value is not valid UTF-8");
        return MP_EINVAL;
    }
    if (length < option->min) {
        set_message(why, why_size, "value must not be empty");
        return MP_EINVAL;
    }
    if (length > option->max) {
        set_message(why, why_size, "value is longer than %llu bytes",
                    (unsigned long long)option->max);
        return MP_EINVAL;
    }
    /* A file written by --print-config holds this placeholder, not the secret. */
    if (secret && length == 3 && !memcmp(text, "***", 3)) {
        set_message(why, why_size,
                    "value '***' is the placeholder --print-config writes for a secret; "
                    "put the real secret here");
        return MP_EINVAL;
    }
    return 0;
}

static bool host_character(char character)
{
    return (character >= 'a' && character <= 'z') || (character >= 'A' && character <= 'Z') ||
           (character >= '0' && character <= '9') || character == '.' || character == '-' ||
           character == '_';
}

static int parse_address(const char *text, size_t length, struct mp_options_address *out,
                         char *why, size_t why_size)
{
    char quoted[QUOTE_SIZE_MAX + 4];
    quote_text(text, length, quoted, sizeof quoted);
    const char *colon = length ? memrchr(text, ':', length) : NULL;
    if (!colon) {
        set_message(why, why_size,
                    "value '%s' is not HOST:PORT (as 127.0.0.1:7411, or [::1]:7411)", quoted);
        return MP_EINVAL;
    }
    const char *host = text;
    size_t host_length = (size_t)(colon - text);
    const char *port_text = colon + 1;
    size_t port_length = length - host_length - 1;

    struct mp_options_address address;
    memset(&address, 0, sizeof address);
    if (host_length > 0 && host[0] == '[') {
        if (host_length < 3 || host[host_length - 1] != ']' ||
            host_length - 2 >= sizeof address.host) {
            set_message(why, why_size, "value '%s' is not [IPV6]:PORT", quoted);
            return MP_EINVAL;
        }
        memcpy(address.host, host + 1, host_length - 2);
        struct in6_addr ipv6;
        if (inet_pton(AF_INET6, address.host, &ipv6) != 1) {
            set_message(why, why_size, "value '%s': '%s' is not an IPv6 address", quoted,
                        address.host);
            return MP_EINVAL;
        }
    } else {
        if (memchr(host, ':', host_length)) {
            set_message(why, why_size,
                        "value '%s': an IPv6 host goes in brackets, as [::1]:7411", quoted);
            return MP_EINVAL;
        }
        if (host_length == 0) {
            set_message(why, why_size,
                        "value '%s' has no host (0.0.0.0 or [::] listens on every interface)",
                        quoted);
            return MP_EINVAL;
        }
        if (host_length >= sizeof address.host) {
            set_message(why, why_size, "value '%s': the host is longer than %zu bytes", quoted,
                        sizeof address.host - 1);
            return MP_EINVAL;
        }
        bool numeric = true;
        for (size_t index = 0; index < host_length; index++) {
            if (!host_character(host[index])) {
                set_message(why, why_size,
                            "value '%s': the host is not an IP address or a host name", quoted);
                return MP_EINVAL;
            }
            if (!(host[index] == '.' || (host[index] >= '0' && host[index] <= '9')))
                numeric = false;
        }
        memcpy(address.host, host, host_length);
        struct in_addr ipv4;
        if (numeric && inet_pton(AF_INET, address.host, &ipv4) != 1) {
            set_message(why, why_size, "value '%s': '%s' is not an IPv4 address", quoted,
                        address.host);
            return MP_EINVAL;
        }
    }
    uint32_t port = 0;
    bool port_ok = port_length > 0 && port_length <= 5;
    for (size_t index = 0; port_ok && index < port_length; index++) {
        if (port_text[index] < '0' || port_text[index] > '9')
            port_ok = false;
        else
            port = port * 10 + (uint32_t)(port_text[index] - '0');
    }
    if (!port_ok || port > UINT16_MAX) {
        set_message(why, why_size,
                    "value '%s': the port is not a number from 0 to 65535 (0: the kernel "
                    "chooses)",
                    quoted);
        return MP_EINVAL;
    }
    address.port = (uint16_t)port;
    *out = address;
    return 0;
}

/*
 * Parses text (length bytes, not necessarily NUL-terminated) as option's
 * type into *value.  is_null: YAML's null (`key:` with nothing, `~`), which
 * only a string takes, as the empty string.  Returns 0 or MP_EINVAL with a
 * reason in why (never quoting a secret).
 */
static int parse_value(const struct option *option, const char *text, size_t length,
                       bool is_null, struct value *value, char *why, size_t why_size)
{
    MP_ASSERT(text || length == 0);
    char quoted[QUOTE_SIZE_MAX + 4];
    quote_text(text, length, quoted, sizeof quoted);
    if (is_null && option->type != OPTION_STRING) {
        set_message(why, why_size, "no value given");
        return MP_EINVAL;
    }
    if (is_null)
        length = 0;
    switch (option->type) {
    case OPTION_STRING: {
        int result = parse_string(option, text, length, why, why_size);
        if (result == 0) {
            value->text = text;
            value->length = length;
        }
        return result;
    }
    case OPTION_ADDRESS:
        return parse_address(text, length, &value->address, why, why_size);
    case OPTION_INTEGER:
    case OPTION_SIZE:
    case OPTION_DURATION:
        return parse_number(option, text, length, &value->number, why, why_size);
    case OPTION_ENUM: {
        char allowed[128] = "";
        size_t used = 0;
        for (size_t index = 0; option->choices[index]; index++) {
            const char *choice = option->choices[index];
            if (strlen(choice) == length && !memcmp(choice, text, length)) {
                value->number = index;
                return 0;
            }
            int written = snprintf(allowed + used, sizeof allowed - used, "%s%s",
                                   index ? ", " : "", choice);
            MP_ASSERT(written > 0 && (size_t)written < sizeof allowed - used);
            used += (size_t)written;
        }
        set_message(why, why_size, "value '%s' is not one of %s", quoted, allowed);
        return MP_EINVAL;
    }
    case OPTION_BOOL:
        if (length == 4 && !memcmp(text, "true", 4)) {
            value->truth = true;
            return 0;
        }
        if (length == 5 && !memcmp(text, "false", 5)) {
            value->truth = false;
            return 0;
        }
        set_message(why, why_size, "value '%s' is not true or false", quoted);
        return MP_EINVAL;
    }
    MP_ASSERT(!"unknown option type");
    return MP_EINVAL;
}

static void store_value(struct mp_server_config *config, const struct option *option,
                        const struct value *value)
{
    void *field = field_of(config, option);
    switch (option->type) {
    case OPTION_STRING:
        MP_ASSERT(value->length < option->size);
        memcpy(field, value->text, value->length);
        memset((char *)field + value->length, 0, option->size - value->length);
        break;
    case OPTION_ADDRESS:
        MP_ASSERT(option->size == sizeof value->address);
        memcpy(field, &value->address, sizeof value->address);
        break;
    case OPTION_INTEGER:
    case OPTION_SIZE:
    case OPTION_DURATION:
    case OPTION_ENUM:
        store_number(field, option->size, value->number);
        break;
    case OPTION_BOOL:
        MP_ASSERT(option->size == sizeof(bool));
        memcpy(field, &value->truth, sizeof(bool));
        break;
    }
    /* erp.mode's default depends on erp.url only while nobody chose it. */
    if (option->offset == offsetof(struct mp_server_config, erp.mode))
        config->erp_mode_given = true;
}

/* Parses and, on success only, stores one option's value. */
static int apply_value(struct mp_server_config *config, const struct option *option,
                       const char *text, size_t length, bool is_null, char *why,
                       size_t why_size)
{
    struct value value;
    memset(&value, 0, sizeof value);
    int result = parse_value(option, text, length, is_null, &value, why, why_size);
    if (result == 0)
        store_value(config, option, &value);
    return result;
}

/* ---- defaults and the table's own invariants ----------------------------- */

/* True when option `index` continues every section it shares with the options before it. */
static bool section_contiguous(size_t index)
{
    const char *name = options[index].name;
    for (const char *dot = strchr(name, '.'); dot; dot = strchr(dot + 1, '.')) {
        size_t prefix = (size_t)(dot - name) + 1;
        bool earlier = false;
        for (size_t before = 0; before + 1 < index; before++)
            if (!strncmp(options[before].name, name, prefix))
                earlier = true;
        if (earlier && strncmp(options[index - 1].name, name, prefix))
            return false;
    }
    return true;
}

static void check_table(void)
{
    for (size_t index = 0; index < OPTION_COUNT; index++) {
        const struct option *option = &options[index];
        size_t length = strlen(option->name);
        MP_ASSERT(length > 0);
        MP_ASSERT(length < MP_OPTIONS_NAME_SIZE_MAX);
        MP_ASSERT(option->help);
        MP_ASSERT(option->default_text);
        MP_ASSERT(option->offset + option->size <= sizeof(struct mp_server_config));
        MP_ASSERT(!find_section(option->name, length));
        MP_ASSERT(find_option(option->name, length) == option);
        MP_ASSERT(!option->flag || find_flag(option->flag, strlen(option->flag)) == option);
        MP_ASSERT(option->min <= option->max);
        MP_ASSERT(index == 0 || section_contiguous(index));
        if (option->type == OPTION_INTEGER || option->type == OPTION_SIZE ||
            option->type == OPTION_DURATION)
            MP_ASSERT(option->size == sizeof(uint64_t) || option->max <= UINT32_MAX);
        if (option->type == OPTION_ENUM) {
            size_t count = 0;
            while (option->choices[count])
                count++;
            MP_ASSERT(count > 0);
            MP_ASSERT(count <= ENUM_INDEX_MAX);
        }
    }
}

void mp_options_init(struct mp_server_config *config)
{
    MP_ASSERT(config);
    check_table();
    memset(config, 0, sizeof *config);
    for (size_t index = 0; index < OPTION_COUNT; index++) {
        const struct option *option = &options[index];
        char why[WHY_SIZE_MAX];
        int result = apply_value(config, option, option->default_text,
                                 strlen(option->default_text), false, why, sizeof why);
        MP_ASSERT(result == 0);
    }
    /* A default is not a choice: erp.mode may still follow erp.url. */
    config->erp_mode_given = false;
    config->request = MP_OPTIONS_REQUEST_SERVE;
}

/*
 * Sets the option named by name (length bytes) from value; context
 * begins the message ("--set: ").  Returns 0 or MP_EINVAL.
 */
static int set_by_name(struct mp_server_config *config, const char *name, size_t length,
                       const char *value, const char *context, char *message,
                       size_t message_size)
{
    const struct option *option = find_option(name, length);
    if (!option) {
        const struct option *inside = find_section(name, length);
        if (inside)
            set_message(message, message_size,
                        "%skey '%.*s' is a section; set one of its keys, as '%s'", context,
                        (int)length, name, inside->name);
        else
            unknown_key_message(context, name, length, message, message_size);
        return MP_EINVAL;
    }
    char why[WHY_SIZE_MAX];
    int result = apply_value(config, option, value, strlen(value), false, why, sizeof why);
    if (result != 0)
        set_message(message, message_size, "%skey '%s': %s", context, option->name, why);
    return result;
}

int mp_options_set(struct mp_server_config *config, const char *name, const char *value,
                   char *message, size_t message_size)
{
    MP_ASSERT(config && name && value);
    return set_by_name(config, name, strlen(name), value, "", message, message_size);
}

/* ---- the YAML file ------------------------------------------------------- */

struct loader {
    struct mp_server_config *config;
    const char *path;
    yaml_document_t *document;
    size_t given_line[OPTION_COUNT];    /* where this file set each option; 0: not yet */
    char *message;
    size_t message_size;
};

static size_t node_line(const yaml_node_t *node)
{
    return node->start_mark.line + 1;
}

static bool scalar_is_null(const yaml_node_t *node)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    for (size_t index = 0; index < sizeof nulls / sizeof nulls[0]; index++)
        if (node->data.scalar.length == strlen(nulls[index]) &&
            !memcmp(node->data.scalar.value, nulls[index], node->data.scalar.length))
            return true;
    return false;
}

static int load_mapping(struct loader *loader, yaml_node_t *mapping, const char *prefix,
                        size_t prefix_length);

/*
 * A YAML list for an OPTION_LIST option: its scalars joined by commas,
 * then set like any value (so the checks of a comma-separated string
 * apply to both spellings).
 */
static int load_list(struct loader *loader, const struct option *option, yaml_node_t *list,
                     const char *name)
{
    size_t index = (size_t)(option - options);
    if (loader->given_line[index]) {
        set_message(loader->message, loader->message_size,
                    "%s:%zu: duplicate key '%s' (first set on line %zu)", loader->path,
                    node_line(list), name, loader->given_line[index]);
        return MP_EINVAL;
    }
    char joined[MP_OPTIONS_LIST_SIZE_MAX + 1];
    size_t used = 0;
    for (yaml_node_item_t *item = list->data.sequence.items.start;
         item < list->data.sequence.items.top; item++) {
        yaml_node_t *element = yaml_document_get_node(loader->document, *item);
        MP_ASSERT(element);
        size_t length = element->type == YAML_SCALAR_NODE ? element->data.scalar.length : 0;
        if (element->type != YAML_SCALAR_NODE || length == 0 ||
            memchr(element->data.scalar.value, ',', length)) {
            set_message(loader->message, loader->message_size,
                        "%s:%zu: key '%s': each list element must be one name",
                        loader->path, node_line(element), name);
            return MP_EINVAL;
        }
        if (used + (used ? 1 : 0) + length > MP_OPTIONS_LIST_SIZE_MAX) {
            set_message(loader->message, loader->message_size,
                        "%s:%zu: key '%s': the list is longer than %u bytes", loader->path,
                        node_line(list), name, MP_OPTIONS_LIST_SIZE_MAX);
            return MP_EINVAL;
        }
        if (used)
            joined[used++] = ',';
        memcpy(joined + used, element->data.scalar.value, length);
        used += length;
    }
    joined[used] = '\0';
    char why[WHY_SIZE_MAX];
    int result = apply_value(loader->config, option, joined, used, false, why, sizeof why);
    if (result != 0) {
        set_message(loader->message, loader->message_size, "%s:%zu: key '%s': %s",
                    loader->path, node_line(list), name, why);
        return result;
    }
    loader->given_line[index] = node_line(list);
    return 0;
}

/* One key: value pair of a mapping inside section prefix ("" at the top). */
static int load_pair(struct loader *loader, yaml_node_t *key, yaml_node_t *value,
                     const char *prefix, size_t prefix_length)
{
    char context[MP_OPTIONS_PATH_SIZE_MAX + 32];
    snprintf(context, sizeof context, "%s:%zu: ", loader->path, node_line(key));
    if (key->type != YAML_SCALAR_NODE) {
        set_message(loader->message, loader->message_size, "%sa key must be a name", context);
        return MP_EINVAL;
    }
    const char *key_text = (const char *)key->data.scalar.value;
    size_t key_length = key->data.scalar.length;
    char name[MP_OPTIONS_NAME_SIZE_MAX];
    size_t name_length = prefix_length + (prefix_length ? 1 : 0) + key_length;
    if (name_length >= sizeof name || memchr(key_text, '\0', key_length)) {
        char joined[2 * QUOTE_SIZE_MAX + 8];
        char quoted[QUOTE_SIZE_MAX + 4];
        quote_text(key_text, key_length, quoted, sizeof quoted);
        snprintf(joined, sizeof joined, "%s%s%s", prefix, prefix_length ? "." : "", quoted);
        set_message(loader->message, loader->message_size, "%sunknown key '%s'", context,
                    joined);
        return MP_EINVAL;
    }
    memcpy(name, prefix, prefix_length);
    if (prefix_length)
        name[prefix_length] = '.';
    memcpy(name + name_length - key_length, key_text, key_length);
    name[name_length] = '\0';

    const struct option *option = find_option(name, name_length);
    if (option) {
        size_t index = (size_t)(option - options);
        if (loader->given_line[index]) {
            set_message(loader->message, loader->message_size,
                        "%sduplicate key '%s' (first set on line %zu)", context, name,
                        loader->given_line[index]);
            return MP_EINVAL;
        }
        if (value->type == YAML_SEQUENCE_NODE && (option->flags & OPTION_LIST))
            return load_list(loader, option, value, name);
        if (value->type != YAML_SCALAR_NODE) {
            set_message(loader->message, loader->message_size, "%skey '%s' takes a value, not %s%s",
                        context, name, value->type == YAML_MAPPING_NODE ? "a mapping" : "a list",
                        option->type == OPTION_ADDRESS && value->type == YAML_SEQUENCE_NODE
                            ? " (quote an IPv6 address: \"[::1]:7411\")"
                            : "");
            return MP_EINVAL;
        }
        char why[WHY_SIZE_MAX];
        int result = apply_value(loader->config, option, (const char *)value->data.scalar.value,
                                 value->data.scalar.length, scalar_is_null(value), why,
                                 sizeof why);
        if (result != 0) {
            set_message(loader->message, loader->message_size, "%s:%zu: key '%s': %s",
                        loader->path, node_line(value), name, why);
            return result;
        }
        loader->given_line[index] = node_line(key);
        return 0;
    }
    const struct option *inside = find_section(name, name_length);
    if (!inside) {
        unknown_key_message(context, name, name_length, loader->message, loader->message_size);
        return MP_EINVAL;
    }
    if (value->type == YAML_MAPPING_NODE)
        return load_mapping(loader, value, name, name_length);
    /* A section whose keys are all commented out is empty, not wrong. */
    if (scalar_is_null(value))
        return 0;
    set_message(loader->message, loader->message_size,
                "%skey '%s' is a section: give it a mapping of keys, as '%s'", context, name,
                inside->name + name_length + 1);
    return MP_EINVAL;
}

static int load_mapping(struct loader *loader, yaml_node_t *mapping, const char *prefix,
                        size_t prefix_length)
{
    MP_ASSERT(mapping->type == YAML_MAPPING_NODE);
    yaml_node_pair_t *start = mapping->data.mapping.pairs.start;
    yaml_node_pair_t *top = mapping->data.mapping.pairs.top;
    for (yaml_node_pair_t *pair = start; pair < top; pair++) {
        yaml_node_t *key = yaml_document_get_node(loader->document, pair->key);
        yaml_node_t *value = yaml_document_get_node(loader->document, pair->value);
        MP_ASSERT(key && value);
        /*
         * A repeated section (`limits:` twice) sets different keys each
         * time, so only this check sees it.  Every earlier key was valid
         * and distinct, so the scan is bounded by the table's size.
         */
        for (yaml_node_pair_t *earlier = start; key->type == YAML_SCALAR_NODE && earlier < pair;
             earlier++) {
            yaml_node_t *other = yaml_document_get_node(loader->document, earlier->key);
            if (other->type == YAML_SCALAR_NODE &&
                other->data.scalar.length == key->data.scalar.length &&
                !memcmp(other->data.scalar.value, key->data.scalar.value,
                        key->data.scalar.length)) {
                char quoted[QUOTE_SIZE_MAX + 4];
                quote_text((const char *)key->data.scalar.value, key->data.scalar.length, quoted,
                           sizeof quoted);
                set_message(loader->message, loader->message_size,
                            "%s:%zu: duplicate key '%s%s%s' (first on line %zu)", loader->path,
                            node_line(key), prefix, prefix_length ? "." : "", quoted,
                            node_line(other));
                return MP_EINVAL;
            }
        }
        int result = load_pair(loader, key, value, prefix, prefix_length);
        if (result != 0)
            return result;
    }
    return 0;
}

/* Reads at most MP_OPTIONS_FILE_SIZE_MAX bytes of path into a new buffer. */
static int read_file(const char *path, unsigned char **out, size_t *out_size, char *message,
                     size_t message_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int error = -errno;
        set_message(message, message_size, "cannot open config file '%s': %s", path,
                    mp_strerror(error));
        return error;
    }
    unsigned char *buffer = malloc(MP_OPTIONS_FILE_SIZE_MAX + 1);
    if (!buffer) {
        close(fd);
        set_message(message, message_size, "no memory to read config file '%s'", path);
        return -ENOMEM;
    }
    size_t size = 0;
    while (size <= MP_OPTIONS_FILE_SIZE_MAX) {
        ssize_t got = read(fd, buffer + size, MP_OPTIONS_FILE_SIZE_MAX + 1 - size);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int error = -errno;
            close(fd);
            free(buffer);
            set_message(message, message_size, "cannot read config file '%s': %s", path,
                        mp_strerror(error));
            return error;
        }
        if (got == 0)
            break;
        size += (size_t)got;
    }
    close(fd);
    if (size > MP_OPTIONS_FILE_SIZE_MAX) {
        free(buffer);
        set_message(message, message_size, "config file '%s' is larger than %u bytes", path,
                    MP_OPTIONS_FILE_SIZE_MAX);
        return MP_ETOOBIG;
    }
    *out = buffer;
    *out_size = size;
    return 0;
}

static int syntax_error(const yaml_parser_t *parser, const char *path, char *message,
                        size_t message_size)
{
    set_message(message, message_size, "%s:%zu:%zu: YAML syntax error: %s%s%s", path,
                parser->problem_mark.line + 1, parser->problem_mark.column + 1,
                parser->problem ? parser->problem : "unknown problem",
                parser->context ? " " : "", parser->context ? parser->context : "");
    return MP_EINVAL;
}

int mp_options_load_file(struct mp_server_config *config, const char *path, char *message,
                         size_t message_size)
{
    MP_ASSERT(config && path);
    unsigned char *buffer = NULL;
    size_t size = 0;
    int result = read_file(path, &buffer, &size, message, message_size);
    if (result != 0)
        return result;

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        free(buffer);
        set_message(message, message_size, "no memory to parse config file '%s'", path);
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&parser, buffer, size);
    yaml_document_t document;
    if (!yaml_parser_load(&parser, &document)) {
        result = syntax_error(&parser, path, message, message_size);
    } else {
        yaml_node_t *root = yaml_document_get_root_node(&document);
        /* An empty file (or one of comments) leaves every value as it was. */
        if (root && root->type != YAML_MAPPING_NODE) {
            set_message(message, message_size,
                        "%s:%zu: the top level must be a mapping of keys (data: ..., "
                        "limits: {...}, ...)",
                        path, node_line(root));
            result = MP_EINVAL;
        } else if (root) {
            struct loader *loader = calloc(1, sizeof *loader);
            if (!loader) {
                set_message(message, message_size, "no memory to load config file '%s'", path);
                result = -ENOMEM;
            } else {
                loader->config = config;
                loader->path = path;
                loader->document = &document;
                loader->message = message;
                loader->message_size = message_size;
                result = load_mapping(loader, root, "", 0);
                free(loader);
            }
        }
        yaml_document_delete(&document);
        if (result == 0) {
            yaml_document_t next;
            if (!yaml_parser_load(&parser, &next)) {
                result = syntax_error(&parser, path, message, message_size);
            } else {
                yaml_node_t *next_root = yaml_document_get_root_node(&next);
                if (next_root) {
                    set_message(message, message_size,
                                "%s:%zu: a second YAML document; the config file holds one",
                                path, node_line(next_root));
                    result = MP_EINVAL;
                }
                yaml_document_delete(&next);
            }
        }
    }
    yaml_parser_delete(&parser);
    free(buffer);
    return result;
}

/* ---- relations between options ------------------------------------------ */

static bool has_prefix(const char *text, const char *prefix)
{
    return !strncmp(text, prefix, strlen(prefix));
}

/*
 * Checks a list option's names against a vocabulary (from_name NULL: any
 * name) and their count against count_max.
 */
static int list_check(const char *name, const char *list, int (*from_name)(const char *, size_t),
                      size_t count_max, char *message, size_t message_size)
{
    size_t count = 0;
    for (const char *at = list; *at;) {
        const char *comma = strchr(at, ',');
        size_t length = comma ? (size_t)(comma - at) : strlen(at);
        char quoted[QUOTE_SIZE_MAX + 4];
        quote_text(at, length, quoted, sizeof quoted);
        if (length == 0 || (from_name && from_name(at, length) < 0)) {
            set_message(message, message_size, "%s: '%s' is not a known name", name, quoted);
            return MP_EINVAL;
        }
        if (++count > count_max) {
            set_message(message, message_size, "%s: more than %zu names", name, count_max);
            return MP_EINVAL;
        }
        at += length + (comma ? 1 : 0);
    }
    return 0;
}

int mp_options_finish(struct mp_server_config *config, char *message, size_t message_size)
{
    MP_ASSERT(config);
    int listed = list_check("erp.milestones", config->erp.milestones, mp_milestone_from_name,
                            MP_MILESTONE_COUNT, message, message_size);
    if (listed == 0)
        listed = list_check("erp.sources", config->erp.sources, mp_source_from_name,
                            MP_SOURCE_COUNT, message, message_size);
    if (listed == 0)
        listed = list_check("erp.reasons", config->erp.reasons, mp_reason_from_name,
                            MP_REASON_COUNT, message, message_size);
    if (listed == 0)
        listed = list_check("erp.carriers", config->erp.carriers, NULL,
                            MP_ERP_FILTER_CARRIERS_MAX, message, message_size);
    if (listed != 0)
        return listed;
    if (config->erp.retry_max_ms < config->erp.retry_initial_ms) {
        set_message(message, message_size,
                    "erp.retry_max_ms (%u ms) is below erp.retry_initial_ms (%u ms)",
                    config->erp.retry_max_ms, config->erp.retry_initial_ms);
        return MP_EINVAL;
    }
    if (config->erp.auth_header[0] && !strchr(config->erp.auth_header, ':')) {
        set_message(message, message_size, "erp.auth_header must read \"Name: value\"");
        return MP_EINVAL;
    }
    if (!config->erp_mode_given && config->erp.url[0])
        config->erp.mode = MP_OPTIONS_ERP_PUSH;
    switch (config->erp.mode) {
    case MP_OPTIONS_ERP_PULL:
        if (config->erp.url[0]) {
            set_message(message, message_size,
                        "erp.url is set but erp.mode is pull, which uses no URL: remove "
                        "erp.url, or set erp.mode to push or jetstream");
            return MP_EINVAL;
        }
        break;
    case MP_OPTIONS_ERP_PUSH:
        if (!has_prefix(config->erp.url, "http://") && !has_prefix(config->erp.url, "https://")) {
            set_message(message, message_size, "%s",
                        config->erp.url[0]
                            ? "erp.mode is push but erp.url is not an http:// or https:// URL"
                            : "erp.mode is push but erp.url is empty: give the ERP's endpoint "
                              "with --erp-url URL");
            return MP_EINVAL;
        }
        break;
    case MP_OPTIONS_ERP_JETSTREAM:
        if (!config->erp.url[0]) {
            set_message(message, message_size,
                        "erp.mode is jetstream but erp.url is empty: give the NATS server's "
                        "URL (nats://HOST:4222)");
            return MP_EINVAL;
        }
        break;
    }
    if (!MP_HAVE_DPDK && config->dpdk[0]) {
        set_message(message, message_size,
                    "dpdk is set but this milepost was built without DPDK: rebuild with "
                    "meson setup -Ddpdk=enabled, or drop --dpdk");
        return MP_EINVAL;
    }
    if (config->http.port != 0 && config->http.port == config->tcp.port &&
        !strcmp(config->http.host, config->tcp.host)) {
        set_message(message, message_size,
                    "http and tcp both listen on %s:%u: give them different ports",
                    config->http.host, config->http.port);
        return MP_EINVAL;
    }
    return 0;
}

/* ---- the command line ---------------------------------------------------- */

enum argument_kind {
    ARGUMENT_OPTION,        /* a table flag: --data DIR */
    ARGUMENT_CONFIG,
    ARGUMENT_SET,
    ARGUMENT_PRINT_CONFIG,
    ARGUMENT_HELP,
    ARGUMENT_VERSION,
};

struct argument {
    enum argument_kind kind;
    const struct option *option;    /* ARGUMENT_OPTION */
    const char *value;              /* kinds that take one */
};

/*
 * Reads the argument at *index (and its value, from `=VALUE` or the next
 * argument, which may begin with '-': EAL arguments do), advancing *index
 * past what it used.  Returns 0 or MP_EINVAL with a message.
 */
static int next_argument(int argc, char **argv, int *index, struct argument *out,
                         char *message, size_t message_size)
{
    const char *text = argv[*index];
    char quoted[QUOTE_SIZE_MAX + 4];
    quote_text(text, strlen(text), quoted, sizeof quoted);
    memset(out, 0, sizeof *out);
    (*index)++;
    if (!strcmp(text, "-h") || !strcmp(text, "--help")) {
        out->kind = ARGUMENT_HELP;
        return 0;
    }
    if (!strcmp(text, "-V") || !strcmp(text, "--version")) {
        out->kind = ARGUMENT_VERSION;
        return 0;
    }
    if (strncmp(text, "--", 2) || text[2] == '\0') {
        set_message(message, message_size,
                    "unexpected argument '%s': milepost serve takes only options", quoted);
        return MP_EINVAL;
    }
    const char *name = text + 2;
    const char *equals = strchr(name, '=');
    size_t name_length = equals ? (size_t)(equals - name) : strlen(name);
    bool takes_value = true;
    if (name_length == 6 && !memcmp(name, "config", 6)) {
        out->kind = ARGUMENT_CONFIG;
    } else if (name_length == 3 && !memcmp(name, "set", 3)) {
        out->kind = ARGUMENT_SET;
    } else if (name_length == 12 && !memcmp(name, "print-config", 12)) {
        out->kind = ARGUMENT_PRINT_CONFIG;
        takes_value = false;
    } else if ((out->option = find_flag(name, name_length))) {
        out->kind = ARGUMENT_OPTION;
    } else {
        set_message(message, message_size, "unknown option '%s' (milepost serve --help lists them)",
                    quoted);
        return MP_EINVAL;
    }
    if (!takes_value) {
        if (equals) {
            set_message(message, message_size, "option '--%.*s' takes no value", (int)name_length,
                        name);
            return MP_EINVAL;
        }
        return 0;
    }
    if (equals) {
        out->value = equals + 1;
    } else if (*index < argc) {
        out->value = argv[(*index)++];
    } else {
        const char *metavar = out->option            ? out->option->metavar
                              : out->kind == ARGUMENT_SET ? "KEY=VALUE"
                                                          : "FILE";
        set_message(message, message_size, "option '--%.*s' needs a value %s",
                    (int)name_length, name, metavar);
        return MP_EINVAL;
    }
    return 0;
}

int mp_options_parse_args(struct mp_server_config *config, int argc, char **argv,
                          char *message, size_t message_size)
{
    MP_ASSERT(config);
    MP_ASSERT(argc >= 1 && argv);
    mp_options_init(config);

    /* First the syntax of every argument and --config's file, which every flag overrides. */
    const char *config_path = NULL;
    bool print_config = false;
    for (int index = 1; index < argc;) {
        struct argument argument;
        int result = next_argument(argc, argv, &index, &argument, message, message_size);
        if (result != 0)
            return result;
        if (argument.kind == ARGUMENT_HELP || argument.kind == ARGUMENT_VERSION) {
            config->request = argument.kind == ARGUMENT_HELP ? MP_OPTIONS_REQUEST_HELP
                                                             : MP_OPTIONS_REQUEST_VERSION;
            return 0;
        }
        if (argument.kind == ARGUMENT_PRINT_CONFIG)
            print_config = true;
        if (argument.kind == ARGUMENT_CONFIG) {
            if (config_path) {
                set_message(message, message_size, "--config given twice; give one file");
                return MP_EINVAL;
            }
            config_path = argument.value;
        }
    }
    if (config_path) {
        size_t length = strlen(config_path);
        if (length == 0 || length >= sizeof config->config_path) {
            set_message(message, message_size,
                        "--config: the path is empty or longer than %zu bytes",
                        sizeof config->config_path - 1);
            return MP_EINVAL;
        }
        memcpy(config->config_path, config_path, length + 1);
        int result = mp_options_load_file(config, config_path, message, message_size);
        if (result != 0)
            return result;
    }

    /* Then every other flag, in order, so a later one wins. */
    for (int index = 1; index < argc;) {
        struct argument argument;
        int result = next_argument(argc, argv, &index, &argument, message, message_size);
        MP_ASSERT(result == 0);
        char why[WHY_SIZE_MAX];
        if (argument.kind == ARGUMENT_OPTION) {
            result = apply_value(config, argument.option, argument.value, strlen(argument.value),
                                 false, why, sizeof why);
            if (result != 0) {
                set_message(message, message_size, "--%s: %s", argument.option->flag, why);
                return result;
            }
        } else if (argument.kind == ARGUMENT_SET) {
            const char *equals = strchr(argument.value, '=');
            if (!equals) {
                set_message(message, message_size,
                            "--set takes KEY=VALUE (as --set limits.body_size_max=16M)");
                return MP_EINVAL;
            }
            result = set_by_name(config, argument.value, (size_t)(equals - argument.value),
                                 equals + 1, "--set: ", message, message_size);
            if (result != 0)
                return result;
        }
    }
    if (print_config)
        config->request = MP_OPTIONS_REQUEST_PRINT_CONFIG;
    return mp_options_finish(config, message, message_size);
}

/* ---- printing ------------------------------------------------------------ */

/*
 * Writes text as a YAML double-quoted scalar.  Every code point YAML does
 * not allow as printable is escaped, so any valid UTF-8 reads back
 * byte-for-byte.
 */
static void print_quoted(const char *text, FILE *out)
{
    const unsigned char *bytes = (const unsigned char *)text;
    size_t length = strlen(text);
    fputc('"', out);
    for (size_t index = 0; index < length;) {
        uint32_t point;
        size_t used = decode_utf8(bytes + index, length - index, &point);
        MP_ASSERT(used > 0);
        if (point == '"' || point == '\\')
            fprintf(out, "\\%c", (char)point);
        else if (point == '\n')
            fputs("\\n", out);
        else if (point == '\t')
            fputs("\\t", out);
        else if (point < 0x20 || (point >= 0x7f && point < 0xa0) || point == 0xfeff ||
                 point == 0xfffe || point == 0xffff)
            fprintf(out, "\\u%04X", (unsigned)point);
        else
            fwrite(bytes + index, 1, used, out);
        index += used;
    }
    fputc('"', out);
}

static void print_value(const struct mp_server_config *config, const struct option *option,
                        FILE *out)
{
    const void *field = const_field_of(config, option);
    switch (option->type) {
    case OPTION_STRING:
        if ((option->flags & OPTION_SECRET) && ((const char *)field)[0])
            fputs("\"***\"", out);
        else
            print_quoted(field, out);
        break;
    case OPTION_ADDRESS: {
        const struct mp_options_address *address = field;
        bool ipv6 = strchr(address->host, ':') != NULL;
        fprintf(out, "\"%s%s%s:%u\"", ipv6 ? "[" : "", address->host, ipv6 ? "]" : "",
                address->port);
        break;
    }
    case OPTION_INTEGER:
    case OPTION_SIZE:
    case OPTION_DURATION: {
        char text[32];
        format_number(option, load_number(field, option->size), text, sizeof text);
        fputs(text, out);
        break;
    }
    case OPTION_ENUM: {
        uint64_t index = load_number(field, option->size);
        MP_ASSERT(index <= ENUM_INDEX_MAX && option->choices[index]);
        fputs(option->choices[index], out);
        break;
    }
    case OPTION_BOOL: {
        bool truth;
        memcpy(&truth, field, sizeof truth);
        fputs(truth ? "true" : "false", out);
        break;
    }
    }
}

static size_t section_depth(const char *name)
{
    size_t depth = 0;
    for (const char *dot = strchr(name, '.'); dot; dot = strchr(dot + 1, '.'))
        depth++;
    return depth;
}

/* How many leading sections two dotted names share. */
static size_t shared_sections(const char *a, const char *b)
{
    size_t shared = 0;
    for (size_t index = 0; a[index] && a[index] == b[index]; index++)
        if (a[index] == '.')
            shared++;
    return shared;
}

/* Finds the part-th dot-separated part of name. */
static void name_part(const char *name, size_t part, const char **start, size_t *length)
{
    const char *text = name;
    for (size_t skip = 0; skip < part; skip++) {
        text = strchr(text, '.');
        MP_ASSERT(text);
        text++;
    }
    *start = text;
    *length = strcspn(text, ".");
}

int mp_options_print_yaml(const struct mp_server_config *config, FILE *out)
{
    MP_ASSERT(config && out);
    fputs("# milepost serve: effective configuration (--print-config).\n"
          "# Secrets are written as \"***\", which milepost refuses to load: put the\n"
          "# real ones back before using this as a config file.\n",
          out);
    const char *previous = "";
    for (size_t index = 0; index < OPTION_COUNT; index++) {
        const struct option *option = &options[index];
        size_t depth = section_depth(option->name);
        /* Sections this option shares with the one before are open already. */
        for (size_t part = shared_sections(previous, option->name); part < depth; part++) {
            const char *start;
            size_t length;
            name_part(option->name, part, &start, &length);
            fprintf(out, "%*s%.*s:\n", (int)(2 * part), "", (int)length, start);
        }
        const char *leaf;
        size_t leaf_length;
        name_part(option->name, depth, &leaf, &leaf_length);
        fprintf(out, "%*s%s: ", (int)(2 * depth), "", leaf);
        print_value(config, option, out);
        fputc('\n', out);
        previous = option->name;
    }
    fflush(out);
    return ferror(out) ? -EIO : 0;
}

/* Writes text wrapped at HELP_WIDTH, every line indented by `indent`. */
static void print_wrapped(const char *text, int indent, FILE *out)
{
    int column = 0;
    while (*text) {
        size_t word = strcspn(text, " ");
        if (column > 0 && column + 1 + (int)word > HELP_WIDTH) {
            fputc('\n', out);
            column = 0;
        }
        if (column == 0)
            column = fprintf(out, "%*s", indent, "");
        else
            column += fprintf(out, " ");
        column += (int)fwrite(text, 1, word, out);
        text += word;
        while (*text == ' ')
            text++;
    }
    fputc('\n', out);
}

/* Writes one usage item, starting a new indented line when it would not fit. */
static void usage_item(const char *item, int indent, int *column, FILE *out)
{
    int length = (int)strlen(item);
    if (*column + 1 + length > HELP_WIDTH) {
        *column = fprintf(out, "\n%*s", indent, "") - 1;
    }
    *column += fprintf(out, " %s", item);
}

int mp_options_help(FILE *out)
{
    MP_ASSERT(out);
    /* Defaults are shown as --print-config prints them. */
    struct mp_server_config defaults;
    mp_options_init(&defaults);

    static const char lead[] = "usage: milepost serve";
    int indent = (int)strlen(lead);
    int column = fprintf(out, "%s", lead);
    usage_item("[--config FILE]", indent, &column, out);
    for (size_t index = 0; index < OPTION_COUNT; index++) {
        if (!options[index].flag)
            continue;
        char item[MP_OPTIONS_NAME_SIZE_MAX * 2];
        snprintf(item, sizeof item, "[--%s %s]", options[index].flag, options[index].metavar);
        usage_item(item, indent, &column, out);
    }
    usage_item("[--set KEY=VALUE]...", indent, &column, out);
    usage_item("[--print-config]", indent, &column, out);
    usage_item("[--help]", indent, &column, out);
    usage_item("[--version]", indent, &column, out);
    fputs("\n\n", out);
    print_wrapped("Runs the server. Each value comes from the built-in default, then the YAML "
                  "file of --config (nested sections are the dotted keys below), then the "
                  "flags in order: --set KEY=VALUE sets any key. --print-config prints the "
                  "effective configuration as YAML and exits. Sizes take k, M or G (powers of "
                  "1024); durations take ms, s, m or h.",
                  0, out);
    fputs("\nkeys:\n", out);
    for (size_t index = 0; index < OPTION_COUNT; index++) {
        const struct option *option = &options[index];
        fprintf(out, "  %s", option->name);
        if (option->flag)
            fprintf(out, ", --%s %s", option->flag, option->metavar);
        fputs("  (default ", out);
        print_value(&defaults, option, out);
        if (option->type == OPTION_INTEGER || option->type == OPTION_SIZE ||
            option->type == OPTION_DURATION) {
            char low[32], high[32];
            format_number(option, option->min, low, sizeof low);
            format_number(option, option->max, high, sizeof high);
            fprintf(out, ", %s to %s%s", low, high,
                    option->flags & OPTION_POWER_OF_TWO ? ", a power of two" : "");
        } else if (option->type == OPTION_ENUM) {
            fputs(", one of", out);
            for (size_t choice = 0; option->choices[choice]; choice++)
                fprintf(out, "%s%s", choice ? "|" : " ", option->choices[choice]);
        } else if (option->type == OPTION_BOOL) {
            fputs(", true or false", out);
        }
        fputs(")\n", out);
        print_wrapped(option->help, 6, out);
    }
    fflush(out);
    return ferror(out) ? -EIO : 0;
}

/* ---- comparing ----------------------------------------------------------- */

bool mp_options_equal(const struct mp_server_config *a, const struct mp_server_config *b)
{
    MP_ASSERT(a && b);
    for (size_t index = 0; index < OPTION_COUNT; index++) {
        const struct option *option = &options[index];
        const void *field_a = const_field_of(a, option);
        const void *field_b = const_field_of(b, option);
        switch (option->type) {
        case OPTION_STRING:
            if (strcmp(field_a, field_b))
                return false;
            break;
        case OPTION_ADDRESS: {
            const struct mp_options_address *address_a = field_a, *address_b = field_b;
            if (strcmp(address_a->host, address_b->host) || address_a->port != address_b->port)
                return false;
            break;
        }
        case OPTION_INTEGER:
        case OPTION_SIZE:
        case OPTION_DURATION:
        case OPTION_ENUM:
            if (load_number(field_a, option->size) != load_number(field_b, option->size))
                return false;
            break;
        case OPTION_BOOL:
            if (memcmp(field_a, field_b, sizeof(bool)))
                return false;
            break;
        }
    }
    return true;
}
