/*
 * The ERP sender (mp_erp.h): the window of unsettled outbox items,
 * per-shipment order, backoff, settling into the store, metrics.
 *
 * The window holds at most window_items_max unsettled items, each in a
 * slot with room for the largest confirmation, in a list ordered by
 * sequence.  Settled items leave the window at once, wherever they are,
 * so one confirmation that keeps failing holds one slot and its own
 * shipment's later confirmations, never the others.  The cursor written
 * to meta is the lowest unsettled sequence: every row below it is gone
 * from the outbox.
 */
#include "mp_erp.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mp_assert.h"
#include "mp_error.h"
#include "mp_histogram.h"
#include "mp_jsonw.h"
#include "mp_options.h"
#include "mp_record.h"
#include "mp_time.h"

#define META_CURSOR "erp.cursor"
#define META_DELIVERED "erp.delivered_total"
#define META_DEAD_LETTERED "erp.dead_lettered_total"
#define META_REPLAYED "erp.replayed_total"

#define NO_SLOT UINT32_MAX

_Static_assert(MP_ERP_BATCH_MAX <= MP_ERP_WINDOW_MAX, "a batch fits the window");
_Static_assert(MP_CONFIRMATION_JSON_SIZE_MAX + 4 + 2 * 6 * MP_ERP_ANSWER_SIZE_MAX + 4096 <=
                   MP_ERP_DLQ_VALUE_SIZE_MAX,
               "a DLQ value holds the largest confirmation and escaped answer");

/* ---- filter ------------------------------------------------------------------ */

void mp_erp_filter_default(struct mp_erp_filter *filter)
{
    MP_ASSERT(filter != NULL);
    memset(filter, 0, sizeof *filter);
    filter->milestone_mask = MP_CONFIRM_DEFAULT_MASK;
}

/* Calls fn for each name of a comma-separated list; stops at its first failure. */
static int list_each(const char *list, int (*fn)(void *, const char *, size_t), void *context)
{
    for (const char *at = list; *at;) {
        const char *comma = strchr(at, ',');
        size_t size = comma != NULL ? (size_t)(comma - at) : strlen(at);
        int rc = fn(context, at, size);
        if (rc != 0)
            return rc;
        at += size + (comma != NULL ? 1 : 0);
    }
    return 0;
}

struct filter_build {
    struct mp_erp_filter *filter;
    int (*from_name)(const char *, size_t);
    uint32_t *mask;
    char *message;
    size_t message_size;
    const char *option;
};

static int filter_add_name(void *context, const char *name, size_t size)
{
    struct filter_build *build = context;
    int value = build->from_name(name, size);
    if (value < 0 || value >= 32) {
        snprintf(build->message, build->message_size, "%s: '%.*s' is not a known name",
                 build->option, (int)(size < 64 ? size : 64), name);
        return MP_EINVAL;
    }
    *build->mask |= 1u << value;
    return 0;
}

static int filter_add_carrier(void *context, const char *name, size_t size)
{
    struct filter_build *build = context;
    struct mp_erp_filter *filter = build->filter;
    char code[MP_CARRIER_SIZE_MAX + 1];
    size_t code_size = mp_carrier_code(name, size, code, sizeof code - 1);
    if (code_size == 0 || code_size >= sizeof code ||
        filter->carrier_count == MP_ERP_FILTER_CARRIERS_MAX) {
        snprintf(build->message, build->message_size,
                 "erp.carriers: '%.*s' names no carrier, or the list is over %u",
                 (int)(size < 64 ? size : 64), name, MP_ERP_FILTER_CARRIERS_MAX);
        return MP_EINVAL;
    }
    memcpy(filter->carriers[filter->carrier_count], code, code_size);
    filter->carriers[filter->carrier_count][code_size] = '\0';
    filter->carrier_count++;
    return 0;
}

int mp_erp_filter_from_config(const struct mp_server_config *config, struct mp_erp_filter *filter,
                              char *message, size_t message_size)
{
    MP_ASSERT(config != NULL && filter != NULL);
    struct mp_erp_filter built;
    memset(&built, 0, sizeof built);
    struct filter_build build = {&built, mp_milestone_from_name, &built.milestone_mask, message,
                                 message_size, "erp.milestones"};
    int rc = list_each(config->erp.milestones, filter_add_name, &build);
    if (rc == 0) {
        build.from_name = mp_source_from_name;
        build.mask = &built.source_mask;
        build.option = "erp.sources";
        rc = list_each(config->erp.sources, filter_add_name, &build);
    }
    if (rc == 0) {
        build.from_name = mp_reason_from_name;
        build.mask = &built.reason_mask;
        build.option = "erp.reasons";
        rc = list_each(config->erp.reasons, filter_add_name, &build);
    }
    if (rc == 0)
        rc = list_each(config->erp.carriers, filter_add_carrier, &build);
    if (rc != 0)
        return rc;
    *filter = built;
    return 0;
}

int mp_erp_filter_load(const char *config_path, const char *const *assignments,
                       size_t assignment_count, struct mp_erp_filter *filter, char *message,
                       size_t message_size)
{
    MP_ASSERT(filter != NULL && (assignments != NULL || assignment_count == 0));
    struct mp_server_config *config = malloc(sizeof *config);
    if (!config) {
        snprintf(message, message_size, "out of memory reading the configuration");
        return -ENOMEM;
    }
    mp_options_init(config);
    int rc = config_path ? mp_options_load_file(config, config_path, message, message_size) : 0;
    for (size_t index = 0; rc == 0 && index < assignment_count; index++) {
        const char *assignment = assignments[index];
        const char *equals = strchr(assignment, '=');
        char name[128];
        size_t name_size = equals ? (size_t)(equals - assignment) : 0;
        if (!equals || name_size == 0 || name_size >= sizeof name) {
            snprintf(message, message_size, "--set takes KEY=VALUE, not '%s'", assignment);
            rc = MP_EINVAL;
            break;
        }
        memcpy(name, assignment, name_size);
        name[name_size] = '\0';
        rc = mp_options_set(config, name, equals + 1, message, message_size);
    }
    if (rc == 0)
        rc = mp_options_finish(config, message, message_size);
    if (rc == 0)
        rc = mp_erp_filter_from_config(config, filter, message, message_size);
    free(config);
    return rc;
}

uint32_t mp_erp_filter_mask(const struct mp_erp_filter *filter, const struct mp_event *event)
{
    MP_ASSERT(filter != NULL && event != NULL);
    if (filter->reason_mask != 0 && !(filter->reason_mask & (1u << event->reason)))
        return 0;
    if (filter->source_mask != 0 && !(filter->source_mask & (1u << event->source)))
        return 0;
    if (filter->carrier_count != 0) {
        /* The shipment key begins with the normalized carrier code and '\0'. */
        const char *key = event->shipment_key;
        const char *end = memchr(key, '\0', event->shipment_key_size);
        MP_ASSERT(end != NULL);
        size_t code_size = (size_t)(end - key);
        bool listed = false;
        for (uint32_t i = 0; i < filter->carrier_count && !listed; i++)
            listed = strlen(filter->carriers[i]) == code_size &&
                     memcmp(filter->carriers[i], key, code_size) == 0;
        if (!listed)
            return 0;
    }
    return filter->milestone_mask;
}

/* ---- outcomes, items ------------------------------------------------------------ */

void mp_erp_outcome_set(struct mp_erp_outcome *outcome, enum mp_erp_result result, int status,
                        const char *answer, size_t answer_size, const char *format, ...)
{
    MP_ASSERT(outcome != NULL && format != NULL);
    outcome->result = result;
    outcome->status = status;
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(outcome->error, sizeof outcome->error, format, arguments);
    va_end(arguments);
    /* One line: a peer's text may carry newlines. */
    for (char *at = outcome->error; *at; at++) {
        if (*at == '\n' || *at == '\r')
            *at = ' ';
    }
    if (answer_size > MP_ERP_ANSWER_SIZE_MAX)
        answer_size = MP_ERP_ANSWER_SIZE_MAX;
    if (answer == NULL)
        answer_size = 0;
    if (answer_size != 0)
        memcpy(outcome->answer, answer, answer_size);
    outcome->answer_size = answer_size;
}

/* Finds `"name":` in body and returns what follows, or NULL. */
static const char *field_find(const char *body, size_t body_size, const char *name)
{
    size_t name_size = strlen(name);
    for (const char *at = body; (size_t)(body + body_size - at) > name_size + 3;) {
        const char *quote = memchr(at, '"', (size_t)(body + body_size - at));
        if (quote == NULL || (size_t)(body + body_size - quote) < name_size + 3)
            return NULL;
        if (memcmp(quote + 1, name, name_size) == 0 && quote[name_size + 1] == '"' &&
            quote[name_size + 2] == ':')
            return quote + name_size + 3;
        at = quote + 1;
    }
    return NULL;
}

/* The bytes of the JSON string at `at` (escapes left as they are); NULL when not a string. */
static const char *string_span(const char *at, const char *end, size_t *size)
{
    if (at >= end || *at != '"')
        return NULL;
    const char *start = ++at;
    for (; at < end; at++) {
        if (*at == '\\')
            at++;
        else if (*at == '"') {
            *size = (size_t)(at - start);
            return start;
        }
    }
    return NULL;
}

int mp_erp_item_parse(const char *body, size_t body_size, char key[MP_ERP_KEY_SIZE + 1],
                      uint64_t *group, int64_t *recorded_at_ms)
{
    MP_ASSERT(body != NULL && key != NULL);
    MP_ASSERT(group != NULL && recorded_at_ms != NULL);
    const char *end = body + body_size;
    /* Our writer puts the key first: {"idempotency_key":"<32 hex>", */
    static const char prefix[] = "{\"idempotency_key\":\"";
    if (body_size < sizeof prefix - 1 + MP_ERP_KEY_SIZE + 2 ||
        memcmp(body, prefix, sizeof prefix - 1) != 0 || body[body_size - 1] != '}')
        return MP_ECORRUPT;
    const char *hex = body + sizeof prefix - 1;
    for (int i = 0; i < MP_ERP_KEY_SIZE; i++) {
        char c = hex[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return MP_ECORRUPT;
    }
    if (hex[MP_ERP_KEY_SIZE] != '"')
        return MP_ECORRUPT;

    size_t number_size = 0;
    const char *number = string_span(field_find(body, body_size, "tracking_number"), end,
                                     &number_size);
    const char *recorded = field_find(body, body_size, "recorded_at");
    size_t recorded_size = 0;
    recorded = string_span(recorded, end, &recorded_size);
    struct mp_time_parsed parsed;
    if (number == NULL || recorded == NULL ||
        mp_time_parse(recorded, recorded_size, &parsed) != 0)
        return MP_ECORRUPT;
    char normalized[MP_TRACKING_NUMBER_SIZE_MAX * 6];
    size_t normalized_size =
        mp_tracking_number_normalize(number, number_size, normalized, sizeof normalized);

    memcpy(key, hex, MP_ERP_KEY_SIZE);
    key[MP_ERP_KEY_SIZE] = '\0';
    *group = mp_shipment_hash(normalized, normalized_size);
    *recorded_at_ms = parsed.utc_ms;
    return 0;
}

/* ---- progress ------------------------------------------------------------------- */

static int meta_u64(struct mp_store *store, const char *key, uint64_t fallback, uint64_t *value)
{
    int rc = mp_store_get_meta_u64(store, key, value);
    if (rc == MP_ENOTFOUND) {
        *value = fallback;
        return 0;
    }
    return rc;
}

int mp_erp_progress_load(struct mp_store *store, struct mp_erp_progress *progress)
{
    MP_ASSERT(store != NULL && progress != NULL);
    struct mp_erp_progress loaded;
    int rc = meta_u64(store, META_CURSOR, 1, &loaded.cursor);
    if (rc == 0)
        rc = meta_u64(store, META_DELIVERED, 0, &loaded.delivered_total);
    if (rc == 0)
        rc = meta_u64(store, META_DEAD_LETTERED, 0, &loaded.dead_lettered_total);
    if (rc == 0)
        rc = meta_u64(store, META_REPLAYED, 0, &loaded.replayed_total);
    if (rc != 0)
        return rc;
    if (loaded.cursor == 0)
        loaded.cursor = 1;
    *progress = loaded;
    return 0;
}

void mp_erp_progress_put(struct mp_store_batch *batch, const struct mp_erp_progress *progress)
{
    MP_ASSERT(batch != NULL && progress != NULL);
    MP_ASSERT(progress->cursor >= 1);
    mp_store_batch_put_meta_u64(batch, META_CURSOR, progress->cursor);
    mp_store_batch_put_meta_u64(batch, META_DELIVERED, progress->delivered_total);
    mp_store_batch_put_meta_u64(batch, META_DEAD_LETTERED, progress->dead_lettered_total);
    mp_store_batch_put_meta_u64(batch, META_REPLAYED, progress->replayed_total);
}

/* ---- DLQ values ------------------------------------------------------------------- */

int mp_erp_dlq_encode(const struct mp_erp_item *item, const struct mp_erp_outcome *outcome,
                      const char *destination, int64_t first_attempt_ms, int64_t last_attempt_ms,
                      char *out, size_t capacity, size_t *size)
{
    MP_ASSERT(item != NULL && outcome != NULL);
    MP_ASSERT(out != NULL && size != NULL);
    if (item->body_size > UINT32_MAX || capacity < 4 + item->body_size)
        return MP_ETOOBIG;
    uint32_t body_size = (uint32_t)item->body_size;
    out[0] = (char)(body_size >> 24);
    out[1] = (char)(body_size >> 16);
    out[2] = (char)(body_size >> 8);
    out[3] = (char)body_size;
    memcpy(out + 4, item->body, item->body_size);

    struct mp_jsonw writer;
    mp_jsonw_init(&writer, out + 4 + item->body_size, capacity - 4 - item->body_size);
    mp_jsonw_object_begin(&writer);
    mp_jsonw_key(&writer, "idempotency_key");
    mp_jsonw_string(&writer, item->key, MP_ERP_KEY_SIZE);
    mp_jsonw_key(&writer, "destination");
    mp_jsonw_cstring(&writer, destination != NULL ? destination : "");
    mp_jsonw_key(&writer, "status");
    if (outcome->status != 0)
        mp_jsonw_int(&writer, outcome->status);
    else
        mp_jsonw_null(&writer);
    mp_jsonw_key(&writer, "error");
    mp_jsonw_cstring(&writer, outcome->error);
    mp_jsonw_key(&writer, "answer");
    mp_jsonw_string(&writer, outcome->answer, outcome->answer_size);
    mp_jsonw_key(&writer, "attempts");
    mp_jsonw_uint(&writer, item->attempt);
    mp_jsonw_key(&writer, "first_attempt_at");
    mp_jsonw_time(&writer, first_attempt_ms, true);
    mp_jsonw_key(&writer, "last_attempt_at");
    mp_jsonw_time(&writer, last_attempt_ms, true);
    mp_jsonw_object_end(&writer);
    size_t details_size = 0;
    int rc = mp_jsonw_finish(&writer, &details_size);
    if (rc != 0)
        return rc;
    *size = 4 + item->body_size + details_size;
    return 0;
}

int mp_erp_dlq_decode(const char *value, size_t value_size, struct mp_erp_dlq_entry *entry)
{
    MP_ASSERT(value != NULL && entry != NULL);
    if (value_size < 4)
        return MP_ECORRUPT;
    const unsigned char *bytes = (const unsigned char *)value;
    size_t body_size = (size_t)bytes[0] << 24 | (size_t)bytes[1] << 16 | (size_t)bytes[2] << 8 |
                       (size_t)bytes[3];
    if (body_size > value_size - 4)
        return MP_ECORRUPT;
    size_t details_size = value_size - 4 - body_size;
    const char *details = value + 4 + body_size;
    if (body_size == 0 || details_size < 2 || details[0] != '{' ||
        details[details_size - 1] != '}')
        return MP_ECORRUPT;
    entry->confirmation = value + 4;
    entry->confirmation_size = body_size;
    entry->details = details;
    entry->details_size = details_size;
    return 0;
}

/* ---- backoff ----------------------------------------------------------------------- */

static uint64_t random_next(uint64_t *state)
{
    /* xorshift64*: enough for jitter, and a fixed seed repeats in tests. */
    uint64_t x = *state != 0 ? *state : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

uint32_t mp_erp_backoff_ms(uint32_t initial_ms, uint32_t max_ms, uint32_t attempt,
                           uint64_t *random_state)
{
    MP_ASSERT(initial_ms >= 1 && max_ms >= initial_ms);
    MP_ASSERT(attempt >= 1 && random_state != NULL);
    uint64_t cap = initial_ms;
    for (uint32_t i = 1; i < attempt && cap < max_ms; i++)
        cap *= 2;
    if (cap > max_ms)
        cap = max_ms;
    /* Full jitter (uniform in [0, cap]) spreads the retries of many items after an outage. */
    return (uint32_t)(random_next(random_state) % (cap + 1));
}

/* ---- options -------------------------------------------------------------------------- */

void mp_erp_options_default(struct mp_erp_options *options)
{
    MP_ASSERT(options != NULL);
    *options = (struct mp_erp_options){
        .window_items_max = MP_ERP_WINDOW_DEFAULT,
        .retry_initial_ms = 100,
        .retry_max_ms = 60000,
        .poll_interval_ms = 50,
        .sync = true,
        .seed = 0,
    };
}

void mp_erp_options_from_config(const struct mp_server_config *config,
                                struct mp_erp_options *options)
{
    MP_ASSERT(config != NULL && options != NULL);
    mp_erp_options_default(options);
    options->window_items_max = config->erp.window;
    options->retry_initial_ms = config->erp.retry_initial_ms;
    options->retry_max_ms = config->erp.retry_max_ms;
    options->sync = config->durability == MP_OPTIONS_DURABILITY_SYNC;
}

/* ---- the sender ------------------------------------------------------------------------- */

struct slot {
    uint64_t sequence;
    uint64_t group;
    int64_t recorded_at_ms;
    int64_t due_ms;               /* not tried again before */
    int64_t first_attempt_ms;     /* 0: never tried */
    uint32_t attempt;             /* tries so far */
    uint32_t previous;            /* the order list, by sequence */
    uint32_t next;
    bool settling;                /* outcome chosen, waiting for its write */
    bool unparsable;              /* not a confirmation this build wrote: straight to the DLQ */
    enum mp_erp_result result;
    char key[MP_ERP_KEY_SIZE + 1];
    size_t body_size;
    char *body;                   /* MP_CONFIRMATION_JSON_SIZE_MAX bytes of the slab */
};

struct mp_erp {
    struct mp_erp_options options;
    struct mp_store *store;
    struct mp_erp_destination destination;

    /* The window: slots, a free list, and the order list by sequence. */
    struct slot *slots;
    char *slab;
    uint32_t *free_slots;
    uint32_t free_count;
    uint32_t head;                /* lowest sequence; NO_SLOT when empty */
    uint32_t tail;
    uint32_t window_count;

    /* Reading: one past the last row read; rows below it that the first scan skipped. */
    uint64_t seen_next;
    uint64_t gaps_unread;         /* deleted sequences in [seen_next, next at open) */

    struct mp_erp_progress progress;
    struct mp_store_batch *batch;
    uint64_t random_state;

    /* A round's work: chosen slots, their items and outcomes; the blocked-group table. */
    uint32_t *chosen;
    struct mp_erp_item *items;
    struct mp_erp_outcome *outcomes;
    uint64_t *group_table;        /* group hashes, stamped by generation */
    uint32_t *group_stamp;
    uint32_t group_mask;
    uint32_t group_generation;
    char *dlq_buffer;

    /* Read from any thread. */
    _Atomic int64_t backlog_base; /* backlog = store's next outbox sequence + base */
    _Atomic uint64_t in_flight;
    _Atomic uint64_t cursor;
    _Atomic int64_t oldest_recorded_at_ms;
    _Atomic uint64_t delivered_total;
    _Atomic uint64_t retried_total;
    _Atomic uint64_t dead_lettered_total;
    _Atomic uint64_t store_errors_total;
    _Atomic uint64_t unparsable_total;
    struct mp_histogram latency_us; /* one writer: the sender */

    /* The thread. */
    pthread_t thread;
    bool started;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    atomic_bool kick;
    atomic_bool sleeping;
    atomic_bool stopping;
};

static void publish(struct mp_erp *erp)
{
    int64_t base = (int64_t)erp->window_count - (int64_t)erp->seen_next - (int64_t)erp->gaps_unread;
    atomic_store_explicit(&erp->backlog_base, base, memory_order_relaxed);
    atomic_store_explicit(&erp->in_flight, erp->window_count, memory_order_relaxed);
    atomic_store_explicit(&erp->cursor, erp->progress.cursor, memory_order_relaxed);
    int64_t oldest = erp->head != NO_SLOT ? erp->slots[erp->head].recorded_at_ms : 0;
    atomic_store_explicit(&erp->oldest_recorded_at_ms, oldest, memory_order_relaxed);
}

static void window_unlink(struct mp_erp *erp, uint32_t index)
{
    struct slot *slot = &erp->slots[index];
    if (slot->previous != NO_SLOT)
        erp->slots[slot->previous].next = slot->next;
    else
        erp->head = slot->next;
    if (slot->next != NO_SLOT)
        erp->slots[slot->next].previous = slot->previous;
    else
        erp->tail = slot->previous;
    erp->free_slots[erp->free_count++] = index;
    MP_ASSERT(erp->window_count > 0);
    erp->window_count--;
}

struct read_context {
    struct mp_erp *erp;
    uint64_t sequence_end;      /* rows at or past it are not published yet */
    int error;
};

/* Takes one outbox row into the window; stops the scan when the window is full. */
static int read_row(void *context, const char *key, size_t key_size, const char *value,
                    size_t value_size)
{
    struct read_context *read = context;
    struct mp_erp *erp = read->erp;
    if (erp->free_count == 0)
        return 1;
    uint64_t sequence = mp_store_sequence_decode(key, key_size);
    /*
     * A commit makes its rows readable before it publishes the next
     * sequence; settling such a row first would delete past what the
     * store knows it wrote.  Leave it for the next round.
     */
    if (sequence >= read->sequence_end)
        return 1;
    MP_ASSERT(sequence >= erp->seen_next);
    uint64_t skipped = sequence - erp->seen_next;
    erp->gaps_unread = skipped < erp->gaps_unread ? erp->gaps_unread - skipped : 0;
    erp->seen_next = sequence + 1;

    uint32_t index = erp->free_slots[--erp->free_count];
    struct slot *slot = &erp->slots[index];
    slot->unparsable =
        value_size > MP_CONFIRMATION_JSON_SIZE_MAX ||
        mp_erp_item_parse(value, value_size, slot->key, &slot->group, &slot->recorded_at_ms) != 0;
    if (slot->unparsable) {
        /*
         * Not a confirmation this build wrote: sending it would hand the
         * ERP bytes it cannot use, and holding it would stop the queue, so
         * it goes to the DLQ for the operator without being sent.  A row
         * over the bound keeps its first bytes there.
         */
        memset(slot->key, '0', MP_ERP_KEY_SIZE);
        slot->key[MP_ERP_KEY_SIZE] = '\0';
        slot->group = mp_shipment_hash((const char *)&sequence, sizeof sequence);
        slot->recorded_at_ms = 0;
        if (value_size > MP_CONFIRMATION_JSON_SIZE_MAX)
            value_size = MP_CONFIRMATION_JSON_SIZE_MAX;
        read->error++;
    }
    slot->sequence = sequence;
    slot->due_ms = 0;
    slot->first_attempt_ms = 0;
    slot->attempt = 0;
    slot->settling = false;
    slot->body_size = value_size;
    memcpy(slot->body, value, value_size);
    slot->next = NO_SLOT;
    slot->previous = erp->tail;
    if (erp->tail != NO_SLOT)
        erp->slots[erp->tail].next = index;
    else
        erp->head = index;
    erp->tail = index;
    erp->window_count++;
    return 0;
}

/* Reads new outbox rows into the window's free slots. */
static int window_fill(struct mp_erp *erp)
{
    uint64_t sequence_end = mp_store_next_outbox_sequence(erp->store);
    if (erp->free_count == 0 || sequence_end <= erp->seen_next)
        return 0;
    struct read_context read = {.erp = erp, .sequence_end = sequence_end, .error = 0};
    int rc = mp_store_scan_outbox(erp->store, erp->seen_next, read_row, &read);
    if (read.error != 0)
        atomic_fetch_add_explicit(&erp->unparsable_total, (uint64_t)read.error,
                                  memory_order_relaxed);
    return rc == 1 ? 0 : rc;
}

/* Groups already seen unsettled in this round's walk: open addressing, stamped. */
static bool group_claim(struct mp_erp *erp, uint64_t group)
{
    for (uint32_t at = (uint32_t)group & erp->group_mask;; at = (at + 1) & erp->group_mask) {
        if (erp->group_stamp[at] != erp->group_generation) {
            erp->group_stamp[at] = erp->group_generation;
            erp->group_table[at] = group;
            return true;
        }
        if (erp->group_table[at] == group)
            return false;
    }
}

/*
 * Chooses up to batch_items_max due items, each the first unsettled item
 * of its shipment.  Returns how many; *next_due_ms gets the earliest due
 * time among the heads not chosen.
 */
static uint32_t choose(struct mp_erp *erp, int64_t now_ms, int64_t *next_due_ms)
{
    if (++erp->group_generation == 0) {
        memset(erp->group_stamp, 0, ((size_t)erp->group_mask + 1) * sizeof *erp->group_stamp);
        erp->group_generation = 1;
    }
    uint32_t count = 0;
    int64_t next_due = INT64_MAX;
    for (uint32_t index = erp->head; index != NO_SLOT; index = erp->slots[index].next) {
        struct slot *slot = &erp->slots[index];
        if (!group_claim(erp, slot->group))
            continue;               /* an earlier confirmation of this shipment is unsettled */
        if (slot->due_ms > now_ms) {
            if (slot->due_ms < next_due)
                next_due = slot->due_ms;
            continue;
        }
        if (count == erp->destination.batch_items_max) {
            next_due = now_ms;      /* more is due right away */
            break;
        }
        erp->chosen[count++] = index;
    }
    *next_due_ms = next_due;
    return count;
}

static int64_t monotonic_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

/*
 * Writes the settled items of a round (deletes, DLQ puts) with the new
 * cursor and counters in one batch.  Only when it is durable do they leave
 * the window; when it fails they stay and are sent again later (the same
 * key and bytes), which at-least-once allows.
 */
static int settle(struct mp_erp *erp, uint32_t count, int64_t now_ms)
{
    struct mp_store_batch *batch = erp->batch;
    mp_store_batch_clear(batch);
    struct mp_erp_progress progress = erp->progress;
    uint32_t settled = 0;
    uint64_t delivered = 0;
    uint64_t dead = 0;
    for (uint32_t i = 0; i < count; i++) {
        struct slot *slot = &erp->slots[erp->chosen[i]];
        const struct mp_erp_outcome *outcome = &erp->outcomes[i];
        if (outcome->result == MP_ERP_RETRY)
            continue;
        if (outcome->result == MP_ERP_DEAD) {
            size_t size = 0;
            int rc = mp_erp_dlq_encode(&erp->items[i], outcome, erp->destination.name,
                                       slot->first_attempt_ms, now_ms, erp->dlq_buffer,
                                       MP_ERP_DLQ_VALUE_SIZE_MAX, &size);
            MP_ASSERT(rc == 0);
            mp_store_batch_put_dlq(batch, slot->sequence, erp->dlq_buffer, size);
            dead++;
        } else {
            delivered++;
        }
        mp_store_batch_delete_outbox(batch, slot->sequence);
        slot->settling = true;
        settled++;
    }
    if (settled == 0)
        return 0;
    /* The cursor: the lowest sequence still unsettled once these go. */
    progress.cursor = erp->seen_next;
    for (uint32_t index = erp->head; index != NO_SLOT; index = erp->slots[index].next) {
        if (!erp->slots[index].settling) {
            progress.cursor = erp->slots[index].sequence;
            break;
        }
    }
    progress.delivered_total += delivered;
    progress.dead_lettered_total += dead;
    mp_erp_progress_put(batch, &progress);
    int rc = mp_store_commit(erp->store, batch, erp->options.sync);
    for (uint32_t i = 0; i < count; i++) {
        uint32_t index = erp->chosen[i];
        struct slot *slot = &erp->slots[index];
        if (!slot->settling)
            continue;
        slot->settling = false;
        if (rc == 0) {
            window_unlink(erp, index);
        } else {
            uint32_t wait_ms = mp_erp_backoff_ms(erp->options.retry_initial_ms,
                                                 erp->options.retry_max_ms, slot->attempt,
                                                 &erp->random_state);
            slot->due_ms = now_ms + wait_ms;
        }
    }
    if (rc != 0) {
        atomic_fetch_add_explicit(&erp->store_errors_total, 1, memory_order_relaxed);
        return rc;
    }
    erp->progress = progress;
    atomic_fetch_add_explicit(&erp->delivered_total, delivered, memory_order_relaxed);
    atomic_fetch_add_explicit(&erp->dead_lettered_total, dead, memory_order_relaxed);
    return (int)settled;
}

int mp_erp_step(struct mp_erp *erp, int64_t now_ms, int64_t *next_due_ms)
{
    MP_ASSERT(erp != NULL);
    int rc = window_fill(erp);
    publish(erp);
    if (rc != 0) {
        if (next_due_ms != NULL)
            *next_due_ms = now_ms + erp->options.poll_interval_ms;
        atomic_fetch_add_explicit(&erp->store_errors_total, 1, memory_order_relaxed);
        return rc;
    }
    int64_t next_due = INT64_MAX;
    uint32_t count = choose(erp, now_ms, &next_due);
    if (count == 0) {
        if (next_due_ms != NULL)
            *next_due_ms = next_due;
        return 0;
    }
    /* Unparsable rows last: the destination sees only the first `sendable`. */
    uint32_t sendable = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (!erp->slots[erp->chosen[i]].unparsable) {
            uint32_t swap = erp->chosen[sendable];
            erp->chosen[sendable++] = erp->chosen[i];
            erp->chosen[i] = swap;
        }
    }
    for (uint32_t i = 0; i < count; i++) {
        struct slot *slot = &erp->slots[erp->chosen[i]];
        slot->attempt++;
        if (slot->first_attempt_ms == 0)
            slot->first_attempt_ms = now_ms;
        erp->items[i] = (struct mp_erp_item){
            .sequence = slot->sequence,
            .attempt = slot->attempt,
            .body = slot->body,
            .body_size = slot->body_size,
        };
        memcpy(erp->items[i].key, slot->key, sizeof slot->key);
        if (i < sendable)
            mp_erp_outcome_set(&erp->outcomes[i], MP_ERP_RETRY, 0, NULL, 0,
                               "destination gave no outcome");
        else
            mp_erp_outcome_set(&erp->outcomes[i], MP_ERP_DEAD, 0, NULL, 0,
                               "outbox row %" PRIu64 " is not a confirmation this build wrote",
                               slot->sequence);
        erp->outcomes[i].retry_after_ms = 0;
    }
    int64_t started_us = monotonic_us();
    int broken = 0;
    if (sendable != 0)
        broken = erp->destination.deliver(erp->destination.state, erp->items, sendable,
                                          erp->outcomes);
    int64_t elapsed_us = monotonic_us() - started_us;
    if (broken < 0) {
        for (uint32_t i = 0; i < sendable; i++)
            mp_erp_outcome_set(&erp->outcomes[i], MP_ERP_RETRY, 0, NULL, 0, "%s: %s",
                               erp->destination.name, mp_strerror(broken));
    }
    int64_t after_ms = now_ms + elapsed_us / 1000;
    uint64_t retried = 0;
    for (uint32_t i = 0; i < count; i++) {
        struct slot *slot = &erp->slots[erp->chosen[i]];
        const struct mp_erp_outcome *outcome = &erp->outcomes[i];
        MP_ASSERT(outcome->result <= MP_ERP_DEAD);
        if (i < sendable)
            mp_histogram_record(&erp->latency_us, elapsed_us > 0 ? (uint64_t)elapsed_us : 0);
        if (outcome->result == MP_ERP_RETRY) {
            uint32_t wait_ms = mp_erp_backoff_ms(erp->options.retry_initial_ms,
                                                 erp->options.retry_max_ms, slot->attempt,
                                                 &erp->random_state);
            uint32_t asked_ms = outcome->retry_after_ms < MP_ERP_RETRY_MS_MAX
                                    ? outcome->retry_after_ms
                                    : MP_ERP_RETRY_MS_MAX;
            slot->due_ms = after_ms + (asked_ms > wait_ms ? asked_ms : wait_ms);
            retried++;
        }
    }
    atomic_fetch_add_explicit(&erp->retried_total, retried, memory_order_relaxed);
    int settled = settle(erp, count, after_ms);
    publish(erp);
    /* More may be due now (the rest of the window, new rows): look again at once. */
    if (next_due_ms != NULL)
        *next_due_ms = after_ms;
    return settled;
}

/* Counts the pending rows at open, and loads the first window. */
struct count_context {
    uint64_t count;
    uint64_t last;
};

static int count_row(void *context, const char *key, size_t key_size, const char *value,
                     size_t value_size)
{
    (void)value;
    (void)value_size;
    struct count_context *counting = context;
    counting->count++;
    counting->last = mp_store_sequence_decode(key, key_size);
    return 0;
}

int mp_erp_create(const struct mp_erp_options *options, struct mp_store *store,
                  const struct mp_erp_destination *destination, struct mp_erp **out)
{
    MP_ASSERT(options != NULL && store != NULL);
    MP_ASSERT(destination != NULL && out != NULL);
    if (options->window_items_max < 1 || options->window_items_max > MP_ERP_WINDOW_MAX ||
        options->retry_initial_ms < 1 || options->retry_max_ms < options->retry_initial_ms ||
        options->retry_max_ms > MP_ERP_RETRY_MS_MAX || options->poll_interval_ms < 1 ||
        destination->deliver == NULL || destination->batch_items_max < 1 ||
        destination->batch_items_max > MP_ERP_BATCH_MAX || destination->name == NULL)
        return MP_EINVAL;

    struct mp_erp *erp = calloc(1, sizeof *erp);
    if (erp == NULL)
        return -ENOMEM;
    erp->options = *options;
    erp->store = store;
    erp->destination = *destination;
    uint32_t window = options->window_items_max;
    uint32_t groups = 2;
    while (groups < 2 * window)
        groups *= 2;
    erp->group_mask = groups - 1;
    erp->slots = calloc(window, sizeof *erp->slots);
    erp->slab = malloc((size_t)window * MP_CONFIRMATION_JSON_SIZE_MAX);
    erp->free_slots = calloc(window, sizeof *erp->free_slots);
    erp->chosen = calloc(destination->batch_items_max, sizeof *erp->chosen);
    erp->items = calloc(destination->batch_items_max, sizeof *erp->items);
    erp->outcomes = calloc(destination->batch_items_max, sizeof *erp->outcomes);
    erp->group_table = calloc(groups, sizeof *erp->group_table);
    erp->group_stamp = calloc(groups, sizeof *erp->group_stamp);
    erp->dlq_buffer = malloc(MP_ERP_DLQ_VALUE_SIZE_MAX);
    int rc = mp_store_batch_create(&erp->batch);
    bool allocated = erp->slots && erp->slab && erp->free_slots && erp->chosen && erp->items &&
                     erp->outcomes && erp->group_table && erp->group_stamp && erp->dlq_buffer;
    if (rc == 0 && !allocated)
        rc = -ENOMEM;
    if (rc == 0)
        rc = mp_store_batch_reserve(erp->batch, 4 + 2 * (size_t)destination->batch_items_max,
                                    (size_t)destination->batch_items_max *
                                        (MP_ERP_DLQ_VALUE_SIZE_MAX + 32));
    if (rc == 0)
        rc = mp_erp_progress_load(store, &erp->progress);
    struct count_context counting = {0, 0};
    if (rc == 0)
        rc = mp_store_scan_outbox(store, erp->progress.cursor, count_row, &counting);
    if (rc != 0) {
        erp->destination.destroy = NULL; /* still the caller's on failure */
        mp_erp_destroy(erp);
        return rc;
    }
    for (uint32_t i = 0; i < window; i++) {
        erp->slots[i].body = erp->slab + (size_t)i * MP_CONFIRMATION_JSON_SIZE_MAX;
        erp->free_slots[i] = window - 1 - i;
    }
    erp->free_count = window;
    erp->head = NO_SLOT;
    erp->tail = NO_SLOT;
    erp->seen_next = erp->progress.cursor;
    /* Sequences in [cursor, next) that are not rows were settled before a restart. */
    uint64_t next = mp_store_next_outbox_sequence(store);
    uint64_t span = next > erp->seen_next ? next - erp->seen_next : 0;
    erp->gaps_unread = span > counting.count ? span - counting.count : 0;
    erp->random_state = options->seed != 0 ? options->seed : (uint64_t)monotonic_us() | 1;
    pthread_mutex_init(&erp->mutex, NULL);
    pthread_cond_init(&erp->wake, NULL);
    atomic_init(&erp->kick, false);
    atomic_init(&erp->sleeping, false);
    atomic_init(&erp->stopping, false);
    publish(erp);
    *out = erp;
    return 0;
}

static void *sender_main(void *argument)
{
    struct mp_erp *erp = argument;
    int64_t failing_since_ms = 0;
    while (!atomic_load(&erp->stopping)) {
        int64_t now_ms = mp_time_now_ms();
        int64_t next_due_ms = INT64_MAX;
        int rc = mp_erp_step(erp, now_ms, &next_due_ms);
        if (rc < 0) {
            /* Store trouble: say so once a minute at most, and keep trying. */
            if (now_ms - failing_since_ms >= 60000) {
                fprintf(stderr, "error pipeline.erp outbox read or settle failed, retrying "
                                "error=%s\n", mp_strerror(rc));
                failing_since_ms = now_ms;
            }
        }
        now_ms = mp_time_now_ms();
        if (next_due_ms <= now_ms)
            continue;
        int64_t wait_ms = next_due_ms - now_ms;
        if (wait_ms > erp->options.poll_interval_ms)
            wait_ms = erp->options.poll_interval_ms;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += wait_ms / 1000;
        until.tv_nsec += (wait_ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&erp->mutex);
        atomic_store(&erp->sleeping, true);
        while (!atomic_load(&erp->kick) && !atomic_load(&erp->stopping)) {
            if (pthread_cond_timedwait(&erp->wake, &erp->mutex, &until) == ETIMEDOUT)
                break;
        }
        atomic_store(&erp->sleeping, false);
        atomic_store(&erp->kick, false);
        pthread_mutex_unlock(&erp->mutex);
    }
    return NULL;
}

int mp_erp_start(struct mp_erp *erp)
{
    MP_ASSERT(erp != NULL);
    MP_ASSERT(!erp->started);
    int rc = pthread_create(&erp->thread, NULL, sender_main, erp);
    if (rc != 0)
        return -rc;
    erp->started = true;
    return 0;
}

void mp_erp_notify(struct mp_erp *erp)
{
    if (erp == NULL)
        return;
    atomic_store(&erp->kick, true);
    if (atomic_load(&erp->sleeping)) {
        pthread_mutex_lock(&erp->mutex);
        pthread_cond_signal(&erp->wake);
        pthread_mutex_unlock(&erp->mutex);
    }
}

void mp_erp_stop(struct mp_erp *erp)
{
    if (erp == NULL || !erp->started)
        return;
    pthread_mutex_lock(&erp->mutex);
    atomic_store(&erp->stopping, true);
    pthread_cond_signal(&erp->wake);
    pthread_mutex_unlock(&erp->mutex);
    pthread_join(erp->thread, NULL);
    erp->started = false;
}

void mp_erp_destroy(struct mp_erp *erp)
{
    if (erp == NULL)
        return;
    mp_erp_stop(erp);
    if (erp->destination.destroy != NULL)
        erp->destination.destroy(erp->destination.state);
    if (erp->free_slots != NULL && erp->slots != NULL) {
        pthread_cond_destroy(&erp->wake);
        pthread_mutex_destroy(&erp->mutex);
    }
    mp_store_batch_destroy(erp->batch);
    free(erp->dlq_buffer);
    free(erp->group_stamp);
    free(erp->group_table);
    free(erp->outcomes);
    free(erp->items);
    free(erp->chosen);
    free(erp->free_slots);
    free(erp->slab);
    free(erp->slots);
    free(erp);
}

uint64_t mp_erp_backlog(const struct mp_erp *erp)
{
    MP_ASSERT(erp != NULL);
    int64_t backlog = (int64_t)mp_store_next_outbox_sequence(erp->store) +
                      atomic_load_explicit(&erp->backlog_base, memory_order_relaxed);
    return backlog > 0 ? (uint64_t)backlog : 0;
}

void mp_erp_stats(const struct mp_erp *erp, struct mp_erp_stats *stats, int64_t now_ms)
{
    MP_ASSERT(erp != NULL && stats != NULL);
    int64_t oldest = atomic_load_explicit(&erp->oldest_recorded_at_ms, memory_order_relaxed);
    *stats = (struct mp_erp_stats){
        .backlog = mp_erp_backlog(erp),
        .in_flight = atomic_load_explicit(&erp->in_flight, memory_order_relaxed),
        .cursor = atomic_load_explicit(&erp->cursor, memory_order_relaxed),
        .oldest_pending_age_ms = oldest != 0 && now_ms > oldest ? now_ms - oldest : 0,
        .delivered_total = atomic_load_explicit(&erp->delivered_total, memory_order_relaxed),
        .retried_total = atomic_load_explicit(&erp->retried_total, memory_order_relaxed),
        .dead_lettered_total =
            atomic_load_explicit(&erp->dead_lettered_total, memory_order_relaxed),
    };
}

void mp_erp_write_metrics(const struct mp_erp *erp, FILE *out)
{
    MP_ASSERT(erp != NULL && out != NULL);
    struct mp_erp_stats stats;
    mp_erp_stats(erp, &stats, mp_time_now_ms());
    const char *name = erp->destination.name;
    fprintf(out,
            "# HELP milepost_erp_backlog Confirmations in the outbox not yet settled.\n"
            "# TYPE milepost_erp_backlog gauge\n"
            "milepost_erp_backlog %" PRIu64 "\n"
            "# HELP milepost_erp_in_flight Confirmations read by the sender and not settled.\n"
            "# TYPE milepost_erp_in_flight gauge\n"
            "milepost_erp_in_flight %" PRIu64 "\n"
            "# HELP milepost_erp_oldest_pending_age_seconds Age of the oldest unsettled "
            "confirmation (since milepost accepted its event).\n"
            "# TYPE milepost_erp_oldest_pending_age_seconds gauge\n"
            "milepost_erp_oldest_pending_age_seconds %.3f\n"
            "# HELP milepost_erp_delivered_total Confirmations the ERP took.\n"
            "# TYPE milepost_erp_delivered_total counter\n"
            "milepost_erp_delivered_total{destination=\"%s\"} %" PRIu64 "\n"
            "# HELP milepost_erp_retried_total Deliveries that failed and will be tried again.\n"
            "# TYPE milepost_erp_retried_total counter\n"
            "milepost_erp_retried_total{destination=\"%s\"} %" PRIu64 "\n"
            "# HELP milepost_erp_dead_lettered_total Confirmations the ERP refused, moved to "
            "the DLQ.\n"
            "# TYPE milepost_erp_dead_lettered_total counter\n"
            "milepost_erp_dead_lettered_total{destination=\"%s\"} %" PRIu64 "\n"
            "# HELP milepost_erp_store_errors_total Outbox reads or settle writes that failed.\n"
            "# TYPE milepost_erp_store_errors_total counter\n"
            "milepost_erp_store_errors_total %" PRIu64 "\n"
            "# HELP milepost_erp_delivery_latency_seconds One delivery call to the ERP.\n"
            "# TYPE milepost_erp_delivery_latency_seconds histogram\n",
            stats.backlog, stats.in_flight, (double)stats.oldest_pending_age_ms / 1000.0, name,
            stats.delivered_total, name, stats.retried_total, name, stats.dead_lettered_total,
            atomic_load_explicit(&erp->store_errors_total, memory_order_relaxed));
    static const uint64_t edges_us[] = {500,    1000,    2500,    5000,    10000,   25000,
                                        50000,  100000,  250000,  500000,  1000000, 2500000,
                                        5000000, 10000000, 30000000};
    char labels[64];
    snprintf(labels, sizeof labels, "destination=\"%s\"", name);
    mp_histogram_write_prometheus(&erp->latency_us, out, "milepost_erp_delivery_latency_seconds",
                                  labels, edges_us,
                                  (uint32_t)(sizeof edges_us / sizeof edges_us[0]), 1e6);
}
