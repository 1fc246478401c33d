/*
 * Pull mode of the ERP queue.  See mp_erp_pull.h for the contract and
 * docs/erp.md "Pull mode" for the decisions.  Sections: types, requests
 * (parsing an ack), the window (refill, leases, selection), a round of
 * the pull thread, the public functions, metrics.
 */
#include "mp_erp_pull.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mp_assert.h"
#include "mp_erp.h"
#include "mp_error.h"
#include "mp_time.h"

/* ------------------------------------------------------------------------
 * Types
 * ---------------------------------------------------------------------- */

#define NOT_CLAIMED UINT32_MAX
#define ACK_ROUND_MAX 256u          /* ack requests sharing one write */
#define JSON_DEPTH_MAX 32
#define ID_SLOTS 32768u             /* a power of two, >= 2 * MP_ERP_PULL_ACK_IDS_MAX */

_Static_assert(ID_SLOTS >= 2 * MP_ERP_PULL_ACK_IDS_MAX, "ack id table at most half full");
_Static_assert((ID_SLOTS & (ID_SLOTS - 1)) == 0, "ack id table size is a power of two");

/* One outbox row in memory, in sequence order. */
struct entry {
    uint64_t sequence;
    uint64_t group;                 /* ordering group: one shipment's rows share it */
    int64_t leased_until_ms;        /* monotonic; 0: available */
    int64_t recorded_at_ms;
    uint32_t claimed_by;            /* an ack of this round deletes it; NOT_CLAIMED */
    char key[MP_ERP_KEY_SIZE + 1];
    char *body;                     /* the stored bytes */
    size_t body_size;
};

struct request {
    struct request *next;
    bool is_ack;
    uint32_t max;                   /* fetch */
    int64_t deadline_ms;            /* fetch: monotonic */
    uint32_t id_count;              /* ack */
    char (*ids)[MP_ERP_KEY_SIZE];   /* ack: keys, lowercase */
    uint32_t acked;                 /* ack: rows this request deleted */
    mp_erp_pull_done_fn done;
    void *context;
};

struct mp_erp_pull {
    struct mp_erp_pull_options options;
    struct mp_store *store;
    pthread_t thread;
    bool started;

    /* Shared with the submitting threads, under lock. */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct request *incoming;
    struct request *incoming_tail;
    uint32_t queued;                /* incoming plus waiting */
    bool stopping;
    bool draining;

    /* Read by notify without the lock. */
    _Atomic uint32_t waiting;
    _Atomic bool outbox_changed;

    /* The pull thread's own. */
    struct request *waiters;        /* FIFO */
    struct request *waiters_tail;
    struct entry *window;
    uint32_t window_count;
    uint64_t next_scan_sequence;    /* the first outbox row not in the window */
    uint64_t scan_limit;            /* this refill: the store's next sequence when it began */
    struct mp_erp_progress progress;
    struct mp_store_batch *batch;
    uint64_t *seen_groups;          /* selection: groups met in this walk */
    uint32_t *seen_stamps;
    uint32_t seen_capacity;         /* a power of two, >= 2 * window_items_max */
    uint32_t stamp;
    uint32_t *id_slots;             /* an ack's ids by hash: id index + 1, 0 empty */
    uint32_t *id_stamps;
    uint32_t id_stamp;
    int64_t next_expiry_ms;         /* earliest lease end; INT64_MAX: none */
    uint64_t corrupt_rows;
    bool store_failed_logged;

    /* Statistics, written by the pull thread, read by anyone. */
    _Atomic uint64_t stat_leased;
    _Atomic uint64_t stat_window;
    _Atomic uint64_t stat_next_scan;
    _Atomic int64_t stat_oldest_recorded_ms;
    _Atomic uint64_t stat_handed;
    _Atomic uint64_t stat_acked;
    _Atomic uint64_t stat_expired;
    _Atomic uint64_t stat_fetches;
    _Atomic uint64_t stat_acks;
    _Atomic uint64_t stat_corrupt;
};

static int64_t monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void log_line(const char *level, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void log_line(const char *level, const char *format, ...)
{
    char text[512];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(text, sizeof text, format, arguments);
    va_end(arguments);
    fprintf(stderr, "%s pipeline.erp_pull %s\n", level, text);
}

static void answer_text(struct request *request, int status, const char *text)
{
    char *body = strdup(text);
    request->done(request->context, body ? status : 500, body, body ? strlen(body) : 0);
}

static void answer_error(struct request *request, int status, const char *code,
                         const char *message)
{
    char text[512];
    snprintf(text, sizeof text, "{\"error\":\"%s\",\"message\":\"%s\"}", code, message);
    answer_text(request, status, text);
}

static void request_free(struct request *request)
{
    if (request) {
        free(request->ids);
        free(request);
    }
}

/* ------------------------------------------------------------------------
 * Parsing an ack: {"ids":["<key>", ...]}, other members ignored
 * ---------------------------------------------------------------------- */

struct cursor {
    const char *at;
    const char *end;
};

static void skip_space(struct cursor *cursor)
{
    while (cursor->at < cursor->end && (*cursor->at == ' ' || *cursor->at == '\t' ||
                                         *cursor->at == '\n' || *cursor->at == '\r'))
        cursor->at++;
}

static bool take_char(struct cursor *cursor, char c)
{
    skip_space(cursor);
    if (cursor->at < cursor->end && *cursor->at == c) {
        cursor->at++;
        return true;
    }
    return false;
}

static int hex_value(char c)
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
 * Reads a JSON string.  When `out` is given, its decoded ASCII (at most
 * out_size bytes; *out_used) is kept: escapes of ASCII characters are
 * decoded, anything else marks it unusable (*usable = false), which for
 * an id means "matches no key".  Returns false on malformed JSON.
 */
static bool read_string(struct cursor *cursor, char *out, size_t out_size, size_t *out_used,
                        bool *usable)
{
    if (!take_char(cursor, '"'))
        return false;
    size_t used = 0;
    bool ok = true;
    while (cursor->at < cursor->end) {
        unsigned char c = (unsigned char)*cursor->at++;
        if (c == '"') {
            if (out_used)
                *out_used = used;
            if (usable)
                *usable = ok;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (cursor->at >= cursor->end)
                return false;
            char escape = *cursor->at++;
            switch (escape) {
            case '"': case '\\': case '/': c = (unsigned char)escape; break;
            case 'b': case 'f': case 'n': case 'r': case 't': c = 0; break;
            case 'u': {
                if (cursor->end - cursor->at < 4)
                    return false;
                unsigned value = 0;
                for (int index = 0; index < 4; index++) {
                    int digit = hex_value(cursor->at[index]);
                    if (digit < 0)
                        return false;
                    value = value * 16 + (unsigned)digit;
                }
                cursor->at += 4;
                c = value < 0x80 ? (unsigned char)value : 0;
                break;
            }
            default:
                return false;
            }
            if (c == 0)
                ok = false;
        } else if (c >= 0x80) {
            ok = false;
        }
        if (out) {
            if (used < out_size)
                out[used] = (char)c;
            used++;
        }
    }
    return false;
}

/* Skips one JSON value of any type (depth-bounded).  Returns false when malformed. */
static bool skip_value(struct cursor *cursor, int depth)
{
    skip_space(cursor);
    if (cursor->at >= cursor->end || depth > JSON_DEPTH_MAX)
        return false;
    char c = *cursor->at;
    if (c == '"')
        return read_string(cursor, NULL, 0, NULL, NULL);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        cursor->at++;
        if (take_char(cursor, close))
            return true;
        do {
            if (c == '{' && (!read_string(cursor, NULL, 0, NULL, NULL) || !take_char(cursor, ':')))
                return false;
            if (!skip_value(cursor, depth + 1))
                return false;
        } while (take_char(cursor, ','));
        return take_char(cursor, close);
    }
    static const char *const words[] = {"true", "false", "null"};
    for (size_t index = 0; index < 3; index++) {
        size_t size = strlen(words[index]);
        if ((size_t)(cursor->end - cursor->at) >= size && !memcmp(cursor->at, words[index], size)) {
            cursor->at += size;
            return true;
        }
    }
    /* A number: JSON's grammar, loosely (digits, sign, point, exponent). */
    const char *start = cursor->at;
    while (cursor->at < cursor->end && (strchr("0123456789+-.eE", *cursor->at) != NULL))
        cursor->at++;
    return cursor->at > start;
}

/*
 * Fills request->ids from an ack body.  Returns 0, MP_EPARSE (not JSON,
 * 400 bad_json), MP_EINVAL (JSON of another shape, 400 bad_request),
 * MP_ETOOBIG (too many ids), -ENOMEM.
 */
static int parse_ack(struct request *request, const char *body, size_t body_size)
{
    struct cursor cursor = {body, body + body_size};
    if (!take_char(&cursor, '{')) {
        struct cursor probe = {body, body + body_size};
        return skip_value(&probe, 0) ? MP_EINVAL : MP_EPARSE;
    }
    bool have_ids = false;
    if (!take_char(&cursor, '}')) {
        do {
            char name[8];
            size_t name_size = 0;
            bool usable = false;
            if (!read_string(&cursor, name, sizeof name, &name_size, &usable) ||
                !take_char(&cursor, ':'))
                return MP_EPARSE;
            bool is_ids = usable && name_size == 3 && !memcmp(name, "ids", 3);
            if (!is_ids) {
                if (!skip_value(&cursor, 1))
                    return MP_EPARSE;
                continue;
            }
            if (have_ids)
                return MP_EINVAL; /* two "ids" members: which one did the sender mean? */
            have_ids = true;
            if (!take_char(&cursor, '['))
                return skip_value(&cursor, 1) ? MP_EINVAL : MP_EPARSE;
            if (take_char(&cursor, ']'))
                continue;
            do {
                skip_space(&cursor);
                if (cursor.at < cursor.end && *cursor.at != '"')
                    return skip_value(&cursor, 2) ? MP_EINVAL : MP_EPARSE;
                char id[MP_ERP_KEY_SIZE];
                size_t id_size = 0;
                if (!read_string(&cursor, id, sizeof id, &id_size, &usable))
                    return MP_EPARSE;
                if (request->id_count == MP_ERP_PULL_ACK_IDS_MAX)
                    return MP_ETOOBIG;
                if (!usable || id_size != MP_ERP_KEY_SIZE)
                    continue; /* cannot be a key: ignored like any unknown id */
                bool hex = true;
                for (size_t index = 0; index < MP_ERP_KEY_SIZE && hex; index++) {
                    hex = hex_value(id[index]) >= 0;
                    if (id[index] >= 'A' && id[index] <= 'F')
                        id[index] = (char)(id[index] - 'A' + 'a');
                }
                if (!hex)
                    continue;
                if (!request->ids) {
                    request->ids = malloc((size_t)MP_ERP_PULL_ACK_IDS_MAX * sizeof *request->ids);
                    if (!request->ids)
                        return -ENOMEM;
                }
                memcpy(request->ids[request->id_count++], id, MP_ERP_KEY_SIZE);
            } while (take_char(&cursor, ','));
            if (!take_char(&cursor, ']'))
                return MP_EPARSE;
        } while (take_char(&cursor, ','));
        if (!take_char(&cursor, '}'))
            return MP_EPARSE;
    }
    skip_space(&cursor);
    if (cursor.at != cursor.end)
        return MP_EPARSE;
    return have_ids ? 0 : MP_EINVAL;
}

/* ------------------------------------------------------------------------
 * The window: the oldest outbox rows, in order
 * ---------------------------------------------------------------------- */

static int refill_row(void *context, const char *key, size_t key_size, const char *value,
                      size_t value_size)
{
    struct mp_erp_pull *pull = context;
    uint64_t sequence = mp_store_sequence_decode(key, key_size);
    /*
     * Rows are visible a moment before the commit thread publishes their
     * sequences; one deleted in that moment would look to the store like
     * a number it never handed out.  So take only published rows.
     */
    if (pull->window_count == pull->options.window_items_max || sequence >= pull->scan_limit)
        return 1;
    struct entry *entry = &pull->window[pull->window_count];
    if (mp_erp_item_parse(value, value_size, entry->key, &entry->group,
                          &entry->recorded_at_ms) != 0) {
        /* Not a confirmation this build wrote: never hand it out; it stays in the store. */
        if (pull->corrupt_rows++ == 0)
            log_line("error", "outbox row is not a confirmation, skipped sequence=%llu",
                     (unsigned long long)sequence);
        atomic_store(&pull->stat_corrupt, pull->corrupt_rows);
        pull->next_scan_sequence = sequence + 1;
        return 0;
    }
    entry->body = malloc(value_size ? value_size : 1);
    if (!entry->body)
        return -ENOMEM;
    memcpy(entry->body, value, value_size);
    entry->body_size = value_size;
    entry->sequence = sequence;
    entry->leased_until_ms = 0;
    entry->claimed_by = NOT_CLAIMED;
    pull->window_count++;
    pull->next_scan_sequence = sequence + 1;
    return 0;
}

/* Reads rows past the window while it has room.  Returns 0 or the store's error. */
static int refill(struct mp_erp_pull *pull)
{
    atomic_store(&pull->outbox_changed, false);
    pull->scan_limit = mp_store_next_outbox_sequence(pull->store);
    if (pull->window_count == pull->options.window_items_max ||
        pull->next_scan_sequence >= pull->scan_limit)
        return 0;
    int error = mp_store_scan_outbox(pull->store, pull->next_scan_sequence, refill_row, pull);
    return error == 1 ? 0 : error;
}

/* Ends the leases that ran out; remembers the earliest that did not. */
static void expire_leases(struct mp_erp_pull *pull, int64_t now_ms)
{
    uint64_t expired = 0, leased = 0;
    int64_t next = INT64_MAX;
    for (uint32_t index = 0; index < pull->window_count; index++) {
        struct entry *entry = &pull->window[index];
        if (!entry->leased_until_ms)
            continue;
        if (entry->leased_until_ms <= now_ms) {
            entry->leased_until_ms = 0;
            expired++;
        } else {
            leased++;
            if (entry->leased_until_ms < next)
                next = entry->leased_until_ms;
        }
    }
    pull->next_expiry_ms = next;
    if (expired)
        atomic_fetch_add(&pull->stat_expired, expired);
    atomic_store(&pull->stat_leased, leased);
}

/* True when the group was already met in this walk; marks it met. */
static bool group_seen(struct mp_erp_pull *pull, uint64_t group)
{
    uint32_t mask = pull->seen_capacity - 1;
    uint32_t slot = (uint32_t)(group ^ (group >> 32)) & mask;
    for (;;) {
        if (pull->seen_stamps[slot] != pull->stamp) {
            pull->seen_stamps[slot] = pull->stamp;
            pull->seen_groups[slot] = group;
            return false;
        }
        if (pull->seen_groups[slot] == group)
            return true;
        slot = (slot + 1) & mask;
    }
}

/*
 * Leases up to max rows for a fetch: each the oldest row of its group
 * still in the store, not leased.  Writes their indexes into `taken`.
 */
static uint32_t select_rows(struct mp_erp_pull *pull, uint32_t max, uint32_t *taken)
{
    if (++pull->stamp == 0) {
        memset(pull->seen_stamps, 0, pull->seen_capacity * sizeof *pull->seen_stamps);
        pull->stamp = 1;
    }
    uint32_t count = 0;
    /*
     * A lease lasts at least the visibility timeout from the hand-out:
     * clocks are read in whole, truncated milliseconds, so add one.
     */
    int64_t until = monotonic_ms() + pull->options.visibility_timeout_ms + 1;
    for (uint32_t index = 0; index < pull->window_count && count < max; index++) {
        struct entry *entry = &pull->window[index];
        if (group_seen(pull, entry->group) || entry->leased_until_ms)
            continue;
        entry->leased_until_ms = until;
        taken[count++] = index;
    }
    if (count && until < pull->next_expiry_ms)
        pull->next_expiry_ms = until;
    return count;
}

/* ------------------------------------------------------------------------
 * A round of the pull thread
 * ---------------------------------------------------------------------- */

/* Answers a fetch with the rows select_rows leased for it. */
static void answer_fetch(struct mp_erp_pull *pull, struct request *request,
                         const uint32_t *taken, uint32_t count)
{
    size_t size = sizeof "{\"confirmations\":[]}";
    for (uint32_t index = 0; index < count; index++)
        size += pull->window[taken[index]].body_size + 1;
    char *body = malloc(size);
    if (!body) {
        /* Nobody got them: end those leases again. */
        for (uint32_t index = 0; index < count; index++)
            pull->window[taken[index]].leased_until_ms = 0;
        request->done(request->context, 500, NULL, 0);
        return;
    }
    size_t used = 0;
    memcpy(body, "{\"confirmations\":[", 18);
    used = 18;
    for (uint32_t index = 0; index < count; index++) {
        const struct entry *entry = &pull->window[taken[index]];
        if (index)
            body[used++] = ',';
        memcpy(body + used, entry->body, entry->body_size);
        used += entry->body_size;
    }
    memcpy(body + used, "]}", 2);
    used += 2;
    MP_ASSERT(used < size);
    body[used] = '\0';
    atomic_fetch_add(&pull->stat_handed, count);
    atomic_fetch_add(&pull->stat_leased, count);
    request->done(request->context, 200, body, used);
}

static void publish_stats(struct mp_erp_pull *pull)
{
    uint64_t leased = 0;
    for (uint32_t index = 0; index < pull->window_count; index++)
        leased += pull->window[index].leased_until_ms != 0;
    atomic_store(&pull->stat_leased, leased);
    atomic_store(&pull->stat_window, pull->window_count);
    atomic_store(&pull->stat_next_scan, pull->next_scan_sequence);
    atomic_store(&pull->stat_oldest_recorded_ms,
                 pull->window_count ? pull->window[0].recorded_at_ms : 0);
}

/* A slot in the ack id table from a key's first 16 hex digits (random enough). */
static uint32_t key_hash(const char *key)
{
    uint64_t value;
    memcpy(&value, key, sizeof value);
    value *= 0x9e3779b97f4a7c15ull;
    return (uint32_t)(value >> 40) & (ID_SLOTS - 1);
}

/*
 * Deletes the rows the acks name, in one write, then answers each ack.
 * Acks are processed in arrival order, so when two name the same key the
 * first one counts it.
 */
static void process_acks(struct mp_erp_pull *pull, struct request **acks, uint32_t ack_count)
{
    uint32_t claimed = 0;
    for (uint32_t ack_index = 0; ack_index < ack_count; ack_index++) {
        struct request *ack = acks[ack_index];
        ack->acked = 0;
        if (!ack->id_count)
            continue;
        /* Index the ack's ids, then one walk over the window finds their rows. */
        if (++pull->id_stamp == 0) {
            memset(pull->id_stamps, 0, ID_SLOTS * sizeof *pull->id_stamps);
            pull->id_stamp = 1;
        }
        for (uint32_t id = 0; id < ack->id_count; id++) {
            uint32_t slot = key_hash(ack->ids[id]);
            while (pull->id_stamps[slot] == pull->id_stamp)
                slot = (slot + 1) & (ID_SLOTS - 1);
            pull->id_stamps[slot] = pull->id_stamp;
            pull->id_slots[slot] = id;
        }
        for (uint32_t index = 0; index < pull->window_count; index++) {
            struct entry *entry = &pull->window[index];
            if (entry->claimed_by != NOT_CLAIMED)
                continue;
            for (uint32_t slot = key_hash(entry->key); pull->id_stamps[slot] == pull->id_stamp;
                 slot = (slot + 1) & (ID_SLOTS - 1)) {
                if (!memcmp(ack->ids[pull->id_slots[slot]], entry->key, MP_ERP_KEY_SIZE)) {
                    entry->claimed_by = ack_index;
                    claimed++;
                    break;
                }
            }
        }
    }
    int error = 0;
    if (claimed) {
        mp_store_batch_clear(pull->batch);
        uint64_t cursor = pull->next_scan_sequence;
        for (uint32_t index = 0; index < pull->window_count; index++) {
            const struct entry *entry = &pull->window[index];
            if (entry->claimed_by != NOT_CLAIMED)
                mp_store_batch_delete_outbox(pull->batch, entry->sequence);
            else if (entry->sequence < cursor)
                cursor = entry->sequence;
        }
        struct mp_erp_progress progress = pull->progress;
        progress.cursor = cursor;
        progress.delivered_total += claimed;
        mp_erp_progress_put(pull->batch, &progress);
        error = mp_store_commit(pull->store, pull->batch, pull->options.sync);
        mp_store_batch_clear(pull->batch);
        if (!error) {
            pull->progress = progress;
            uint32_t kept = 0;
            for (uint32_t index = 0; index < pull->window_count; index++) {
                struct entry *entry = &pull->window[index];
                if (entry->claimed_by != NOT_CLAIMED) {
                    acks[entry->claimed_by]->acked++;
                    free(entry->body);
                    continue;
                }
                pull->window[kept++] = *entry;
            }
            pull->window_count = kept;
            atomic_fetch_add(&pull->stat_acked, claimed);
        } else {
            for (uint32_t index = 0; index < pull->window_count; index++)
                pull->window[index].claimed_by = NOT_CLAIMED;
            log_line("error", "cannot delete acknowledged rows: %s rows=%u", mp_strerror(error),
                     claimed);
        }
    }
    publish_stats(pull); /* so that a client reading /metrics after its answer sees the ack */
    for (uint32_t ack_index = 0; ack_index < ack_count; ack_index++) {
        struct request *ack = acks[ack_index];
        if (error) {
            answer_error(ack, 500, "store_error", "the acknowledgement could not be written; "
                                                  "nothing was removed, retry it");
        } else {
            char text[48];
            snprintf(text, sizeof text, "{\"acked\":%u}", ack->acked);
            answer_text(ack, 200, text);
        }
        request_free(ack);
    }
}

static void *pull_main(void *argument)
{
    struct mp_erp_pull *pull = argument;
    uint32_t *taken = malloc(MP_ERP_PULL_FETCH_MAX * sizeof *taken);
    struct request **acks = malloc(ACK_ROUND_MAX * sizeof *acks);
    MP_ASSERT(taken && acks); /* a few KiB at start-up */
    pthread_mutex_lock(&pull->lock);
    for (;;) {
        struct request *incoming = pull->incoming;
        pull->incoming = pull->incoming_tail = NULL;
        bool stopping = pull->stopping, draining = pull->draining || pull->stopping;
        pthread_mutex_unlock(&pull->lock);

        /* Acks first: they free rows and groups for the fetches. */
        uint32_t ack_count = 0, answered = 0;
        int64_t now_ms = monotonic_ms();
        struct request *fetches = NULL, **fetches_tail = &fetches;
        while (incoming) {
            struct request *request = incoming;
            incoming = request->next;
            request->next = NULL;
            if (request->is_ack) {
                answered++;
                acks[ack_count++] = request;
                if (ack_count == ACK_ROUND_MAX) {
                    process_acks(pull, acks, ack_count);
                    ack_count = 0;
                }
            } else {
                *fetches_tail = request;
                fetches_tail = &request->next;
            }
        }
        if (ack_count)
            process_acks(pull, acks, ack_count);

        /* New fetches wait behind the older ones; past waiters_max they do not wait. */
        uint32_t waiting = atomic_load(&pull->waiting);
        while (fetches) {
            struct request *request = fetches;
            fetches = request->next;
            request->next = NULL;
            if (waiting >= pull->options.waiters_max || draining)
                request->deadline_ms = now_ms;
            if (pull->waiters_tail)
                pull->waiters_tail->next = request;
            else
                pull->waiters = request;
            pull->waiters_tail = request;
            waiting++;
        }

        int error = refill(pull);
        if (error && !pull->store_failed_logged) {
            pull->store_failed_logged = true;
            log_line("error", "cannot read the outbox: %s", mp_strerror(error));
        }
        now_ms = monotonic_ms();
        expire_leases(pull, now_ms);

        /* Serve the waiters in arrival order: hand out rows, or answer when the wait is over. */
        int64_t next_deadline_ms = INT64_MAX;
        struct request **link = &pull->waiters;
        struct request *previous = NULL;
        while (*link) {
            struct request *request = *link;
            bool due = draining || request->deadline_ms <= now_ms;
            uint32_t count = error ? 0 : select_rows(pull, request->max, taken);
            if (count || due) {
                *link = request->next;
                if (error)
                    answer_error(request, 500, "store_error", "the outbox could not be read");
                else
                    answer_fetch(pull, request, taken, count);
                request_free(request);
                waiting--;
                answered++;
                continue;
            }
            if (request->deadline_ms < next_deadline_ms)
                next_deadline_ms = request->deadline_ms;
            previous = request;
            link = &request->next;
        }
        pull->waiters_tail = previous;
        atomic_store(&pull->waiting, waiting);
        publish_stats(pull);

        pthread_mutex_lock(&pull->lock);
        MP_ASSERT(pull->queued >= answered);
        pull->queued -= answered;
        if (stopping && !pull->incoming && !pull->waiters)
            break;
        if (pull->incoming || pull->stopping != stopping || pull->draining != draining)
            continue;
        if (waiting && atomic_load(&pull->outbox_changed) &&
            pull->window_count < pull->options.window_items_max)
            continue;
        /* Sleep until a request, a notify (when fetches wait), a deadline or a lease end. */
        int64_t until_ms = next_deadline_ms;
        if (waiting && pull->next_expiry_ms < until_ms)
            until_ms = pull->next_expiry_ms;
        if (waiting && error)
            until_ms = now_ms + 100; /* retry the store soon */
        if (until_ms == INT64_MAX) {
            pthread_cond_wait(&pull->wake, &pull->lock);
        } else {
            struct timespec deadline = {(time_t)(until_ms / 1000),
                                        (long)(until_ms % 1000) * 1000000L};
            pthread_cond_timedwait(&pull->wake, &pull->lock, &deadline);
        }
    }
    pthread_mutex_unlock(&pull->lock);
    free(taken);
    free(acks);
    return NULL;
}

/* ------------------------------------------------------------------------
 * Public functions
 * ---------------------------------------------------------------------- */

void mp_erp_pull_options_default(struct mp_erp_pull_options *options)
{
    *options = (struct mp_erp_pull_options){
        .visibility_timeout_ms = 30000,
        .waiters_max = MP_ERP_PULL_WAITERS_DEFAULT,
        .window_items_max = MP_ERP_PULL_WINDOW_DEFAULT,
        .sync = true,
    };
}

int mp_erp_pull_create(const struct mp_erp_pull_options *options, struct mp_store *store,
                       struct mp_erp_pull **out)
{
    MP_ASSERT(options && store && out);
    if (options->visibility_timeout_ms == 0 || options->waiters_max == 0 ||
        options->waiters_max > MP_ERP_PULL_WAITERS_MAX || options->window_items_max == 0 ||
        options->window_items_max > MP_ERP_PULL_WINDOW_MAX)
        return MP_EINVAL;
    struct mp_erp_pull *pull = calloc(1, sizeof *pull);
    if (!pull)
        return -ENOMEM;
    pull->options = *options;
    pull->store = store;
    pull->seen_capacity = 1;
    while (pull->seen_capacity < 2 * options->window_items_max)
        pull->seen_capacity <<= 1;
    pull->window = calloc(options->window_items_max, sizeof *pull->window);
    pull->seen_groups = calloc(pull->seen_capacity, sizeof *pull->seen_groups);
    pull->seen_stamps = calloc(pull->seen_capacity, sizeof *pull->seen_stamps);
    pull->id_slots = calloc(ID_SLOTS, sizeof *pull->id_slots);
    pull->id_stamps = calloc(ID_SLOTS, sizeof *pull->id_stamps);
    int error = pull->window && pull->seen_groups && pull->seen_stamps && pull->id_slots &&
                        pull->id_stamps
                    ? 0
                    : -ENOMEM;
    if (!error)
        error = mp_store_batch_create(&pull->batch);
    if (!error)
        error = mp_erp_progress_load(store, &pull->progress);
    if (error) {
        mp_store_batch_destroy(pull->batch);
        free(pull->window);
        free(pull->seen_groups);
        free(pull->seen_stamps);
        free(pull->id_slots);
        free(pull->id_stamps);
        free(pull);
        return error;
    }
    pull->next_scan_sequence = pull->progress.cursor ? pull->progress.cursor : 1;
    pull->next_expiry_ms = INT64_MAX;
    pthread_mutex_init(&pull->lock, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&pull->wake, &attributes);
    pthread_condattr_destroy(&attributes);
    atomic_init(&pull->waiting, 0);
    atomic_init(&pull->outbox_changed, true);
    atomic_store(&pull->stat_next_scan, pull->next_scan_sequence);
    *out = pull;
    return 0;
}

int mp_erp_pull_start(struct mp_erp_pull *pull)
{
    MP_ASSERT(pull && !pull->started);
    int error = pthread_create(&pull->thread, NULL, pull_main, pull);
    if (error)
        return -error;
    pthread_setname_np(pull->thread, "mp-erp-pull");
    pull->started = true;
    return 0;
}

/* Queues a request for the pull thread, or answers 503 when the queue is full. */
static void submit(struct mp_erp_pull *pull, struct request *request)
{
    pthread_mutex_lock(&pull->lock);
    if (pull->queued >= MP_ERP_PULL_QUEUE_MAX || !pull->started) {
        pthread_mutex_unlock(&pull->lock);
        answer_error(request, 503, "overloaded", "too many ERP requests are waiting");
        request_free(request);
        return;
    }
    pull->queued++;
    if (pull->incoming_tail)
        pull->incoming_tail->next = request;
    else
        pull->incoming = request;
    pull->incoming_tail = request;
    pthread_cond_signal(&pull->wake);
    pthread_mutex_unlock(&pull->lock);
}

void mp_erp_pull_fetch(struct mp_erp_pull *pull, uint32_t max, uint32_t wait_ms,
                       mp_erp_pull_done_fn done, void *context)
{
    MP_ASSERT(pull && done);
    struct request *request = calloc(1, sizeof *request);
    if (!request) {
        done(context, 500, NULL, 0);
        return;
    }
    if (max == 0)
        max = 1;
    request->max = max > MP_ERP_PULL_FETCH_MAX ? MP_ERP_PULL_FETCH_MAX : max;
    if (wait_ms > MP_ERP_PULL_WAIT_MS_MAX)
        wait_ms = MP_ERP_PULL_WAIT_MS_MAX;
    request->deadline_ms = monotonic_ms() + wait_ms;
    request->done = done;
    request->context = context;
    atomic_fetch_add(&pull->stat_fetches, 1);
    submit(pull, request);
}

void mp_erp_pull_ack(struct mp_erp_pull *pull, const char *body, size_t body_size,
                     mp_erp_pull_done_fn done, void *context)
{
    MP_ASSERT(pull && done);
    struct request *request = calloc(1, sizeof *request);
    if (!request) {
        done(context, 500, NULL, 0);
        return;
    }
    request->is_ack = true;
    request->done = done;
    request->context = context;
    atomic_fetch_add(&pull->stat_acks, 1);
    int error = body_size > MP_ERP_PULL_ACK_BODY_SIZE_MAX ? MP_ETOOBIG
                                                          : parse_ack(request, body, body_size);
    if (error == MP_EPARSE)
        answer_error(request, 400, "bad_json", "the body is not valid JSON");
    else if (error == MP_EINVAL)
        answer_error(request, 400, "bad_request",
                     "the body must be {\\\"ids\\\":[\\\"<idempotency_key>\\\", ...]}");
    else if (error == MP_ETOOBIG)
        answer_error(request, 413, "too_big", "at most 10000 ids per acknowledgement");
    else if (error)
        answer_error(request, 500, "internal_error", "out of memory");
    if (error) {
        request_free(request);
        return;
    }
    submit(pull, request);
}

void mp_erp_pull_notify(struct mp_erp_pull *pull)
{
    if (!pull)
        return;
    atomic_store(&pull->outbox_changed, true);
    if (atomic_load(&pull->waiting) > 0) {
        pthread_mutex_lock(&pull->lock);
        pthread_cond_signal(&pull->wake);
        pthread_mutex_unlock(&pull->lock);
    }
}

void mp_erp_pull_drain(struct mp_erp_pull *pull)
{
    if (!pull)
        return;
    pthread_mutex_lock(&pull->lock);
    pull->draining = true;
    pthread_cond_signal(&pull->wake);
    pthread_mutex_unlock(&pull->lock);
}

void mp_erp_pull_destroy(struct mp_erp_pull *pull)
{
    if (!pull)
        return;
    if (pull->started) {
        pthread_mutex_lock(&pull->lock);
        pull->stopping = true;
        pthread_cond_signal(&pull->wake);
        pthread_mutex_unlock(&pull->lock);
        pthread_join(pull->thread, NULL);
    }
    MP_ASSERT(!pull->incoming && !pull->waiters);
    for (uint32_t index = 0; index < pull->window_count; index++)
        free(pull->window[index].body);
    mp_store_batch_destroy(pull->batch);
    free(pull->window);
    free(pull->seen_groups);
    free(pull->seen_stamps);
    free(pull->id_slots);
    free(pull->id_stamps);
    pthread_mutex_destroy(&pull->lock);
    pthread_cond_destroy(&pull->wake);
    free(pull);
}

/* ------------------------------------------------------------------------
 * Statistics and metrics
 * ---------------------------------------------------------------------- */

uint64_t mp_erp_pull_backlog(struct mp_erp_pull *pull)
{
    MP_ASSERT(pull);
    uint64_t scanned = atomic_load(&pull->stat_next_scan);
    uint64_t next = mp_store_next_outbox_sequence(pull->store);
    return atomic_load(&pull->stat_window) + (next > scanned ? next - scanned : 0);
}

void mp_erp_pull_stats(struct mp_erp_pull *pull, struct mp_erp_pull_stats *stats)
{
    MP_ASSERT(pull && stats);
    int64_t oldest = atomic_load(&pull->stat_oldest_recorded_ms);
    *stats = (struct mp_erp_pull_stats){
        .leased = atomic_load(&pull->stat_leased),
        .backlog = mp_erp_pull_backlog(pull),
        .waiting = atomic_load(&pull->waiting),
        .oldest_pending_age_ms = oldest ? mp_time_now_ms() - oldest : 0,
        .handed_total = atomic_load(&pull->stat_handed),
        .acked_total = atomic_load(&pull->stat_acked),
        .expired_total = atomic_load(&pull->stat_expired),
        .fetches_total = atomic_load(&pull->stat_fetches),
        .acks_total = atomic_load(&pull->stat_acks),
    };
    if (stats->oldest_pending_age_ms < 0)
        stats->oldest_pending_age_ms = 0;
}

void mp_erp_pull_write_metrics(struct mp_erp_pull *pull, FILE *out)
{
    struct mp_erp_pull_stats stats;
    mp_erp_pull_stats(pull, &stats);
#define PULL_METRIC(name, type, help, value)                                                  \
    fprintf(out, "# HELP " name " " help "\n# TYPE " name " " type "\n" name " %llu\n",         \
            (unsigned long long)(value))
    PULL_METRIC("milepost_erp_pull_leased", "gauge",
                "Confirmations leased to a consumer and not yet acknowledged.", stats.leased);
    PULL_METRIC("milepost_erp_pull_waiting", "gauge", "Long polls waiting for confirmations.",
                stats.waiting);
    /* The names the push and JetStream sender uses, so one dashboard serves every mode. */
    PULL_METRIC("milepost_erp_backlog", "gauge",
                "Confirmations in the outbox not yet settled (pull: acknowledged).",
                stats.backlog);
    fprintf(out,
            "# HELP milepost_erp_oldest_pending_age_seconds Age of the oldest unsettled "
            "confirmation (since recorded_at).\n"
            "# TYPE milepost_erp_oldest_pending_age_seconds gauge\n"
            "milepost_erp_oldest_pending_age_seconds %.3f\n",
            (double)stats.oldest_pending_age_ms / 1000.0);
    fprintf(out,
            "# HELP milepost_erp_delivered_total Confirmations the ERP took.\n"
            "# TYPE milepost_erp_delivered_total counter\n"
            "milepost_erp_delivered_total{destination=\"pull\"} %llu\n",
            (unsigned long long)stats.acked_total);
    PULL_METRIC("milepost_erp_pull_handed_total", "counter",
                "Confirmations handed to consumers, redeliveries included.", stats.handed_total);
    PULL_METRIC("milepost_erp_pull_acked_total", "counter",
                "Confirmations removed by acknowledgements.", stats.acked_total);
    PULL_METRIC("milepost_erp_pull_expired_total", "counter",
                "Leases that ran out before an acknowledgement.", stats.expired_total);
    PULL_METRIC("milepost_erp_pull_fetches_total", "counter",
                "GET /v1/erp/confirmations requests.", stats.fetches_total);
    PULL_METRIC("milepost_erp_pull_acks_total", "counter", "POST /v1/erp/ack requests.",
                stats.acks_total);
#undef PULL_METRIC
}
