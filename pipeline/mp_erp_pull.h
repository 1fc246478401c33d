/*
 * Pull mode of the ERP queue (API.md `GET /v1/erp/confirmations`,
 * `POST /v1/erp/ack`; docs/erp.md "Pull mode").
 *
 * The outbox itself is the queue: a row stays in the store until an ack
 * deletes it.  One pull thread (never an event loop, never a portal
 * reader) owns a window of the oldest outbox rows in memory and leases
 * them out:
 *
 * - a fetch takes up to `max` rows that are not leased, oldest first, and
 *   leases each for the visibility timeout; a row is handed out only when
 *   it is the oldest unacknowledged row of its ordering group (the
 *   shipment's normalized tracking number, mp_erp_item_parse), so a
 *   shipment's later confirmation never goes out while an earlier one is
 *   leased or waiting;
 * - a fetch with nothing to hand out waits up to wait_ms (bounded by
 *   MP_ERP_PULL_WAIT_MS_MAX) and is answered as soon as a row becomes
 *   available (the commit thread's notify, an expired lease, an ack);
 *   at most waiters_max fetches wait at once, further ones are answered
 *   at once with what there is;
 * - an ack deletes the named rows (and moves the delivery cursor) in one
 *   write batch, fsynced when `sync`, before it is answered; unknown or
 *   already acknowledged keys are ignored; the acks waiting at one moment
 *   share one write;
 * - a lease that runs out makes its row available again (counted as
 *   expired).  Leases live in memory only: after a restart every
 *   unacknowledged row is available at once.
 *
 * Requests are answered through a callback, on the pull thread, exactly
 * once each.  Threads: create/start/drain/destroy on one owner thread;
 * fetch, ack, notify, stats and write_metrics from any thread.
 */
#ifndef MP_ERP_PULL_H
#define MP_ERP_PULL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mp_store.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mp_erp_pull;

#define MP_ERP_PULL_WAITERS_MAX 1024u        /* long polls waiting at once (option bound) */
#define MP_ERP_PULL_WAITERS_DEFAULT 64u
#define MP_ERP_PULL_WAIT_MS_MAX 30000u       /* a longer wait_ms is cut to this */
#define MP_ERP_PULL_FETCH_MAX 1000u          /* a larger max=N is cut to this */
#define MP_ERP_PULL_FETCH_DEFAULT 100u       /* max=N when the query has none */
#define MP_ERP_PULL_WINDOW_MAX 65536u        /* outbox rows held in memory (option bound) */
#define MP_ERP_PULL_WINDOW_DEFAULT 4096u
#define MP_ERP_PULL_ACK_IDS_MAX 10000u       /* ids in one ack request */
#define MP_ERP_PULL_ACK_BODY_SIZE_MAX (MP_ERP_PULL_ACK_IDS_MAX * 40u + 4096u)
#define MP_ERP_PULL_QUEUE_MAX 4096u          /* requests waiting for the pull thread */

struct mp_erp_pull_options {
    uint32_t visibility_timeout_ms;          /* a lease; >= 1 */
    uint32_t waiters_max;                    /* 1..MP_ERP_PULL_WAITERS_MAX */
    uint32_t window_items_max;               /* 1..MP_ERP_PULL_WINDOW_MAX */
    bool sync;                               /* fsync the ack deletes */
};

/* Defaults: 30 s leases, 64 waiters, a window of 4096 rows, sync. */
void mp_erp_pull_options_default(struct mp_erp_pull_options *options);

/*
 * The answer to one request: an HTTP status and a JSON body (malloc'd;
 * the callee takes it and frees it with free(); NULL only with status
 * 500 when memory ran out).  Called exactly once per fetch or ack, on the
 * pull thread, or on the submitting thread when the request is refused at
 * once (queue full: 503; bad ack body: 400).  It must not block and must
 * not call back into the pull module.
 */
typedef void (*mp_erp_pull_done_fn)(void *context, int status, char *body, size_t body_size);

/*
 * Creates the pull queue over `store` (borrowed, opened for writing; it
 * must outlive the queue): loads the delivery progress and counts the
 * backlog.  Returns 0 and *out, MP_EINVAL for options out of bounds,
 * -ENOMEM, or the store's error.  Nothing runs until mp_erp_pull_start.
 */
int mp_erp_pull_create(const struct mp_erp_pull_options *options, struct mp_store *store,
                       struct mp_erp_pull **out);

/* Starts the pull thread.  Returns 0 or -errno. */
int mp_erp_pull_start(struct mp_erp_pull *pull);

/*
 * GET /v1/erp/confirmations?max=N&wait_ms=T.  max is cut to
 * [1, MP_ERP_PULL_FETCH_MAX], wait_ms to MP_ERP_PULL_WAIT_MS_MAX.
 * Answers 200 {"confirmations":[...]} (the stored bytes of each, in
 * outbox order), 500 store_error, or 503 overloaded (queue full).
 */
void mp_erp_pull_fetch(struct mp_erp_pull *pull, uint32_t max, uint32_t wait_ms,
                       mp_erp_pull_done_fn done, void *context);

/*
 * POST /v1/erp/ack with body {"ids":["<key>", ...]} (borrowed for the
 * call: it is parsed before this returns).  Answers 200 {"acked":K}
 * (rows deleted by this request; unknown and already acknowledged ids
 * count nothing), 400 bad_json / bad_request for a body of another
 * shape, 413 too_big past MP_ERP_PULL_ACK_IDS_MAX ids, 500 store_error
 * (nothing deleted), 503 overloaded.
 */
void mp_erp_pull_ack(struct mp_erp_pull *pull, const char *body, size_t body_size,
                     mp_erp_pull_done_fn done, void *context);

/*
 * Tells the queue that outbox rows were committed.  Any thread (the
 * commit thread's notify hook); cheap: it wakes the pull thread only
 * when a fetch is waiting.
 */
void mp_erp_pull_notify(struct mp_erp_pull *pull);

/*
 * Shutdown, step one: answers every waiting fetch now with what there is
 * and makes later fetches answer at once, so the loops can drain.
 */
void mp_erp_pull_drain(struct mp_erp_pull *pull);

/*
 * Stops the thread (answering what is still queued: fetches with what
 * there is, acks after their write) and frees.  Accepts NULL.  Call it
 * before the store closes and while the done callbacks may still run.
 */
void mp_erp_pull_destroy(struct mp_erp_pull *pull);

struct mp_erp_pull_stats {
    uint64_t leased;                         /* rows leased now */
    uint64_t backlog;                        /* unacknowledged outbox rows */
    uint64_t waiting;                        /* fetches waiting now */
    int64_t oldest_pending_age_ms;           /* recorded_at of the oldest row in memory; 0: none */
    uint64_t handed_total;                   /* rows handed out, redeliveries included */
    uint64_t acked_total;                    /* rows deleted by acks */
    uint64_t expired_total;                  /* leases that ran out */
    uint64_t fetches_total;
    uint64_t acks_total;
};

/*
 * Unacknowledged outbox rows (leased or not).  Any thread; cheap (three
 * atomic loads): the server compares it with erp.backlog_max to push back
 * ingest, as it does with mp_erp_backlog in the other modes.
 */
uint64_t mp_erp_pull_backlog(struct mp_erp_pull *pull);

/* A snapshot.  Any thread. */
void mp_erp_pull_stats(struct mp_erp_pull *pull, struct mp_erp_pull_stats *stats);

/* Writes milepost_erp_pull_* (and the backlog gauges) as Prometheus text.  Any thread. */
void mp_erp_pull_write_metrics(struct mp_erp_pull *pull, FILE *out);

#ifdef __cplusplus
}
#endif

#endif
