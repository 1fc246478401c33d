/*
 * The ERP queue: filter, sender thread, destinations (DESIGN.md "ERP
 * confirmations", docs/erp.md).
 *
 * The shards write every confirmation into the store's outbox family in
 * the same write batch as the state (transactional outbox).  One sender
 * thread per server (never an event loop) reads the outbox in sequence
 * order from the delivery cursor, hands items to a destination (push:
 * mp_erp_push.c; jetstream: mp_erp_jetstream.c), and settles each item
 * (delete it from the outbox, or move it to the DLQ) in a write batch
 * that also carries the cursor and the counters.  Pull mode runs no
 * sender: the HTTP endpoints lease and settle rows themselves with the
 * store functions and the progress helpers below.
 *
 * WHAT A DESTINATION (AND ITS AUTHOR) MAY RELY ON
 * - deliver() is called on the sender thread only, one call at a time,
 *   never concurrently with itself or destroy(); the state is the
 *   destination's alone.
 * - The items of one call belong to distinct shipments, so they may be
 *   delivered in parallel and in any order.  1 <= count <= batch_items_max.
 * - Item bytes (key, body) are borrowed for the call only; body is the
 *   confirmation JSON exactly as stored (the bytes every delivery of that
 *   key sends), not NUL-terminated.  key is 32 lowercase hex + '\0' and
 *   equals the body's "idempotency_key".
 * - Before the call every outcome is preset to RETRY with the error
 *   "destination gave no outcome"; deliver overwrites each outcome it
 *   knows.  A negative return (MP_E* / -errno) means the destination
 *   itself broke: every item is retried, the return value named in the
 *   error.  Return 0 otherwise, also when some items failed.
 * - Outcomes: DELIVERED = the peer took it for good (2xx, PubAck);
 *   RETRY = transient or ambiguous (timeout, refused, 5xx, 408, 429, no
 *   PubAck): the same key and bytes are sent again after a capped,
 *   jittered backoff, or after retry_after_ms when the peer asked for
 *   more; DEAD = the peer refused it for good (4xx other than 408/429):
 *   it goes to the DLQ with status, error and answer kept, and the
 *   shipment's later confirmations proceed.
 * - deliver() must return within a bounded time (its own timeouts,
 *   erp.timeout_ms); mp_erp_stop() waits for the call in progress.
 * - destroy() is called once, on the thread that destroys the sender
 *   (or by whoever owns a destination that never reached a sender).
 * - At least once: an item whose outcome was not yet durable when the
 *   process died is sent again after restart with the same key and bytes.
 *
 * WHAT PULL MODE MAY RELY ON (store functions, mp_store.h "ERP queue")
 * - Outbox rows are u64 sequence -> confirmation JSON; read them with
 *   mp_store_scan_outbox, parse the key with mp_erp_item_parse.
 * - Settle with one batch: mp_store_batch_delete_outbox for each row,
 *   mp_erp_progress_put with the updated progress; commit it with
 *   mp_store_commit from any one thread that is not the commit thread
 *   (batches without add_outbox/add_reject may commit beside it).
 *
 * Threads: mp_erp_create/start/stop/destroy on one owner thread;
 * mp_erp_notify, mp_erp_backlog, mp_erp_stats, mp_erp_write_metrics from
 * any thread; mp_erp_step only when the thread was not started (tests).
 */
#ifndef MP_ERP_H
#define MP_ERP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mp_event.h"
#include "mp_limits.h"
#include "mp_store.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mp_erp;
struct mp_server_config;

/* ---- bounds --------------------------------------------------------------- */

#define MP_ERP_KEY_SIZE 32                   /* idempotency key: lowercase hex */
#define MP_ERP_WINDOW_MAX 16384u             /* items read and unsettled at once (8 KiB each) */
#define MP_ERP_WINDOW_DEFAULT 1024u
#define MP_ERP_BATCH_MAX 1000u               /* items per deliver call */
#define MP_ERP_ANSWER_SIZE_MAX 4096u         /* bytes of a peer's answer kept */
#define MP_ERP_ERROR_SIZE_MAX 256u           /* one-line error, '\0' included */
#define MP_ERP_RETRY_MS_MAX 86400000u        /* one day, the longest backoff */
#define MP_ERP_FILTER_CARRIERS_MAX 32u       /* carriers one filter may name */

/* ---- filter --------------------------------------------------------------- */

/*
 * Which accepted events fire confirmations.  Plain data, copied by
 * assignment.  A confirmation fires for the first accepted event of a
 * milestone in milestone_mask that also passes the narrowing lists; an
 * event that does not pass leaves the milestone unfired, so a later one
 * that passes still fires it.  Empty lists (0 masks, no carriers) do not
 * narrow.
 */
struct mp_erp_filter {
    uint32_t milestone_mask;                 /* MP_MILESTONE_BIT(); MP_CONFIRM_DEFAULT_MASK */
    uint32_t reason_mask;                    /* 1u << enum mp_reason; 0: any reason or none */
    uint32_t source_mask;                    /* 1u << enum mp_source; 0: any source */
    uint32_t carrier_count;                  /* 0: any carrier */
    /* Normalized carrier codes (mp_carrier_code), '\0'-terminated. */
    char carriers[MP_ERP_FILTER_CARRIERS_MAX][MP_CARRIER_SIZE_MAX + 1];
};

_Static_assert(MP_MILESTONE_COUNT <= 32, "milestone mask is 32 bits");
_Static_assert(MP_REASON_COUNT <= 32, "reason mask is 32 bits");
_Static_assert(MP_SOURCE_COUNT <= 32, "source mask is 32 bits");

/* The default: DESIGN.md's milestones, no narrowing. */
void mp_erp_filter_default(struct mp_erp_filter *filter);

/*
 * The filter of erp.milestones, erp.carriers, erp.sources, erp.reasons
 * (mp_options_finish checked the names).  Returns 0, or MP_EINVAL with a
 * message naming the bad entry.
 */
int mp_erp_filter_from_config(const struct mp_server_config *config, struct mp_erp_filter *filter,
                              char *message, size_t message_size);

/*
 * The filter of the offline commands (`ingest`, `rejects replay`), from a
 * server configuration read as `milepost serve` reads it: defaults, the
 * YAML file at config_path (NULL: none), then each "KEY=VALUE" of
 * assignments in order.  Only the erp.* filter keys act offline; the rest
 * are checked all the same, so one file serves both.  Returns 0, or
 * MP_EINVAL / MP_ETOOBIG / -errno with a one-line message.
 */
int mp_erp_filter_load(const char *config_path, const char *const *assignments,
                       size_t assignment_count, struct mp_erp_filter *filter, char *message,
                       size_t message_size);

/*
 * The confirm mask to hand mp_record_apply for this (finished) event:
 * milestone_mask when the event passes the narrowing lists, else 0.
 * Shard threads call it per accepted event: no allocation, no locks.
 */
uint32_t mp_erp_filter_mask(const struct mp_erp_filter *filter, const struct mp_event *event);

/* ---- items and outcomes --------------------------------------------------- */

enum mp_erp_result {
    MP_ERP_DELIVERED = 0,
    MP_ERP_RETRY,
    MP_ERP_DEAD,
};

struct mp_erp_item {
    uint64_t sequence;                       /* outbox sequence */
    uint32_t attempt;                        /* 1 on this process's first try */
    char key[MP_ERP_KEY_SIZE + 1];           /* idempotency key, '\0'-terminated */
    const char *body;                        /* confirmation JSON, borrowed for the call */
    size_t body_size;
};

struct mp_erp_outcome {
    enum mp_erp_result result;
    int status;                              /* peer's status (HTTP code); 0: none */
    uint32_t retry_after_ms;                 /* RETRY: peer's wish (Retry-After); 0: backoff */
    char error[MP_ERP_ERROR_SIZE_MAX];       /* RETRY/DEAD: one line, '\0'-terminated */
    size_t answer_size;                      /* bytes in answer */
    char answer[MP_ERP_ANSWER_SIZE_MAX];     /* DEAD: first bytes of the peer's answer */
};

/*
 * Sets an outcome (error formatted like printf, truncated to one line).
 * answer may be NULL; it is cut to MP_ERP_ANSWER_SIZE_MAX.
 */
void mp_erp_outcome_set(struct mp_erp_outcome *outcome, enum mp_erp_result result, int status,
                        const char *answer, size_t answer_size, const char *format, ...)
    __attribute__((format(printf, 6, 7)));

/* A destination: see the contract at the top of this file. */
typedef int (*mp_erp_deliver_fn)(void *state, const struct mp_erp_item *items, size_t count,
                                 struct mp_erp_outcome *outcomes);
typedef void (*mp_erp_destroy_fn)(void *state);

struct mp_erp_destination {
    const char *name;                        /* static; the metrics' destination label */
    void *state;
    uint32_t batch_items_max;                /* 1..MP_ERP_BATCH_MAX */
    mp_erp_deliver_fn deliver;
    mp_erp_destroy_fn destroy;               /* may be NULL */
};

/*
 * Parses what the sender needs from a stored confirmation: the key, the
 * ordering group (hash of the normalized tracking number: confirmations
 * of one shipment share it; shipments that share a number are ordered
 * together, which is safe) and recorded_at.  Returns 0, or MP_ECORRUPT
 * when the bytes are not a confirmation this build wrote.  Any thread.
 */
int mp_erp_item_parse(const char *body, size_t body_size, char key[MP_ERP_KEY_SIZE + 1],
                      uint64_t *group, int64_t *recorded_at_ms);

/* ---- progress in meta ------------------------------------------------------ */

/*
 * Delivery progress, kept in meta (keys "erp.cursor",
 * "erp.delivered_total", "erp.dead_lettered_total", "erp.replayed_total";
 * ASCII decimal) and written in the same batch as the outbox deletes and
 * DLQ puts it describes.  cursor: every outbox sequence below it is
 * settled (1 when nothing ever was).
 */
struct mp_erp_progress {
    uint64_t cursor;
    uint64_t delivered_total;
    uint64_t dead_lettered_total;
    uint64_t replayed_total;
};

/* Reads the progress (missing keys read as a fresh store). 0 or the store's error. */
int mp_erp_progress_load(struct mp_store *store, struct mp_erp_progress *progress);
/* Adds the puts of every progress key to a batch. */
void mp_erp_progress_put(struct mp_store_batch *batch, const struct mp_erp_progress *progress);

/* ---- DLQ entries ------------------------------------------------------------ */

/*
 * A DLQ value: 4-byte big-endian confirmation size, the confirmation bytes
 * exactly as they were in the outbox, then a JSON object with what the
 * peer said: {"idempotency_key","destination","status","error","answer",
 * "attempts","first_attempt_at","last_attempt_at"}.
 */
struct mp_erp_dlq_entry {
    const char *confirmation;                /* borrowed from the value */
    size_t confirmation_size;
    const char *details;                     /* the JSON object, borrowed */
    size_t details_size;
};

/*
 * Encodes a DLQ value into out.  Returns 0 and *size, or MP_ETOOBIG
 * (capacity below MP_ERP_DLQ_VALUE_SIZE_MAX always suffices).
 */
#define MP_ERP_DLQ_VALUE_SIZE_MAX (4 + 8192 + 2 * 6 * MP_ERP_ANSWER_SIZE_MAX + 4096)
int mp_erp_dlq_encode(const struct mp_erp_item *item, const struct mp_erp_outcome *outcome,
                      const char *destination, int64_t first_attempt_ms, int64_t last_attempt_ms,
                      char *out, size_t capacity, size_t *size);
/* Splits a stored DLQ value.  Returns 0 or MP_ECORRUPT. */
int mp_erp_dlq_decode(const char *value, size_t value_size, struct mp_erp_dlq_entry *entry);

/* ---- the sender --------------------------------------------------------------- */

struct mp_erp_options {
    uint32_t window_items_max;               /* read, unsettled items: 1..MP_ERP_WINDOW_MAX */
    uint32_t retry_initial_ms;               /* first backoff cap; >= 1 */
    uint32_t retry_max_ms;                   /* backoff cap; >= retry_initial_ms */
    uint32_t poll_interval_ms;               /* idle look at the outbox without notify */
    bool sync;                               /* fsync the settle writes */
    uint64_t seed;                           /* jitter's random seed; 0: from the clock */
};

/* Defaults: window 1024, retry 100 ms .. 60 s, poll 50 ms, sync. */
void mp_erp_options_default(struct mp_erp_options *options);
/* The sender's options from the server's configuration (erp.*, durability). */
void mp_erp_options_from_config(const struct mp_server_config *config,
                                struct mp_erp_options *options);

/*
 * Full-jitter backoff before attempt `attempt + 1` after `attempt`
 * failures (attempt >= 1): uniform in [0, min(max_ms, initial_ms *
 * 2^(attempt-1))], from *random_state (xorshift, advanced).  Exposed for
 * tests.
 */
uint32_t mp_erp_backoff_ms(uint32_t initial_ms, uint32_t max_ms, uint32_t attempt,
                           uint64_t *random_state);

/*
 * Creates a sender over `store` (borrowed; outlives the sender; opened
 * for writing) that delivers through *destination (taken: the sender
 * calls its destroy()).  Loads the progress from meta and counts the
 * pending outbox rows (one scan from the cursor).  Returns 0 and *out;
 * MP_EINVAL (options out of bounds; the destination is then still the
 * caller's), -ENOMEM or the store's error.
 */
int mp_erp_create(const struct mp_erp_options *options, struct mp_store *store,
                  const struct mp_erp_destination *destination, struct mp_erp **out);

/* Starts the sender thread.  Returns 0 or -errno. */
int mp_erp_start(struct mp_erp *erp);

/*
 * Tells the sender that new outbox rows were committed (it also polls).
 * Any thread; cheap (one atomic and, when it sleeps, a wake).
 */
void mp_erp_notify(struct mp_erp *erp);

/*
 * Stops the thread: the deliver call in progress finishes and its
 * outcomes are settled; nothing new is sent.  Call after the last
 * commit that may add outbox rows.  Idempotent; accepts a sender never
 * started.
 */
void mp_erp_stop(struct mp_erp *erp);

/* Stops if needed, destroys the destination, frees.  Accepts NULL. */
void mp_erp_destroy(struct mp_erp *erp);

/*
 * One round on the caller's thread (tests; the thread must not be
 * running): read new rows into the window, deliver what is due at
 * now_ms, settle.  Returns the number of items delivered + dead-lettered
 * in the round (>= 0), or the store's error.  *next_due_ms (may be NULL)
 * gets the earliest time an item waits for, INT64_MAX when none.
 */
int mp_erp_step(struct mp_erp *erp, int64_t now_ms, int64_t *next_due_ms);

/*
 * Outbox rows committed and not settled (pending in the window, waiting
 * in the store, retrying).  Any thread; the server compares it with
 * erp.backlog_max to push back ingest.
 */
uint64_t mp_erp_backlog(const struct mp_erp *erp);

struct mp_erp_stats {
    uint64_t backlog;
    uint64_t in_flight;                      /* items in the window */
    uint64_t cursor;
    int64_t oldest_pending_age_ms;           /* recorded_at of the oldest unsettled; 0: none */
    uint64_t delivered_total;                /* this process */
    uint64_t retried_total;                  /* this process: RETRY outcomes */
    uint64_t dead_lettered_total;            /* this process */
};

/* A snapshot of the counters.  Any thread. */
void mp_erp_stats(const struct mp_erp *erp, struct mp_erp_stats *stats, int64_t now_ms);

/*
 * Writes the milepost_erp_* metrics (Prometheus text, with HELP/TYPE)
 * including the per-destination latency histogram.  Any thread.
 */
void mp_erp_write_metrics(const struct mp_erp *erp, FILE *out);

/* ---- the push destination (mp_erp_push.c) -------------------------------------- */

/*
 * Creates the libcurl HTTP(S) push destination from erp.url,
 * erp.timeout_ms, erp.batch, erp.batch_max, erp.auth_header,
 * erp.hmac_secret.  Returns 0 and *out (call out->destroy(out->state) if
 * it never reaches a sender), MP_EINVAL or -ENOMEM with a message.
 * JetStream's constructor lives in mp_erp_jetstream.h (helper E2).
 */
int mp_erp_push_create(const struct mp_server_config *config, struct mp_erp_destination *out,
                       char *message, size_t message_size);

#ifdef __cplusplus
}
#endif

#endif
