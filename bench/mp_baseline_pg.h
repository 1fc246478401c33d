/*
 * The side-by-side baseline: what teams build instead of milepost, fed
 * the same generated events (docs/bench.md "Baseline").
 *
 * Each event is parsed with the project's parser (the cost any consumer
 * pays), then written to PostgreSQL in batched transactions: the event
 * into an event-history table (INSERT ... ON CONFLICT DO NOTHING on its
 * natural key) and the shipment's latest event into a latest-state table
 * (INSERT ... ON CONFLICT (carrier, tracking_number) DO UPDATE ... WHERE
 * excluded.event_time > t.event_time), with synchronous_commit on.
 * Statements are prepared and take their rows as arrays (unnest), and a
 * transaction is one round trip (libpq pipeline mode).  Several
 * connections each own a share of the shipments, as milepost's shards
 * do, so no two transactions contend for one row.
 *
 * The baseline does less than milepost: no sticky-status rules, no
 * milestones map, no ERP outbox, dedup only on (carrier, tracking number,
 * status, event time).  Its rate is therefore an upper bound for that
 * design on this machine.
 */
#ifndef MP_BASELINE_PG_H
#define MP_BASELINE_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mp_gen.h"
#include "mp_results.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MP_BASELINE_PG_CONNECTIONS_MAX 64u
#define MP_BASELINE_PG_CONNECTIONS_DEFAULT 4u
#define MP_BASELINE_PG_BATCH_MAX 10000u
#define MP_BASELINE_PG_BATCH_DEFAULT 1000u
#define MP_BASELINE_PG_CONNINFO_SIZE_MAX 512u

struct mp_baseline_pg_options {
    const char *conninfo;           /* libpq connection string */
    uint32_t connections;           /* 1..MP_BASELINE_PG_CONNECTIONS_MAX */
    uint32_t batch_events;          /* events per transaction, 1..MP_BASELINE_PG_BATCH_MAX */
    uint64_t event_count;           /* lines from the generator's start; 0: all of them */
    bool progress;                  /* a line on stderr when done connecting and when done */
};

/*
 * Replaces the two tables (untimed), then feeds the first event_count
 * lines of `gen` (rewound first, rewound again at the end) through the
 * parser into PostgreSQL, and reads the tables' row counts back.  Fills
 * *out (ran = true) and leaves milepost_ratio 0 (mp_baseline_pg_compare
 * sets it).  Returns 0, or a negative code with a one-line reason in
 * message: -ECONNREFUSED-like libpq failures are MP_ESTORE, a line the
 * parser rejects is counted, not fatal.  Holds every line in memory
 * while it runs (about 300 bytes each).  Called by one thread; starts
 * `connections` threads of its own and joins them.
 */
int mp_baseline_pg_run(const struct mp_baseline_pg_options *options, struct mp_gen *gen,
                       struct mp_results_baseline *out, char *message, size_t message_size);

/* Sets results->baseline.milepost_ratio from the two rates (0 when either is 0). */
void mp_baseline_pg_compare(struct mp_results *results);

/*
 * The baseline beside a milepost run (`milepost-bench run --baseline
 * postgres`): the first results->events_sent lines of `gen` into
 * PostgreSQL at `conninfo` (NULL: $MP_PG_CONNINFO, else a throwaway
 * server started and stopped here), default connections and batch.
 * Fills results->baseline and its ratio, prints one line on stderr.
 * Returns 0, or a negative code with a one-line reason in message.
 */
int mp_baseline_pg_beside(const char *conninfo, struct mp_gen *gen, bool progress,
                          struct mp_results *results, char *message, size_t message_size);

/*
 * A throwaway PostgreSQL started through scripts/baseline-postgres (in a
 * temporary directory, stopped by mp_baseline_pg_server_stop).
 */
struct mp_baseline_pg_server {
    char directory[256];
    char conninfo[MP_BASELINE_PG_CONNINFO_SIZE_MAX];
    bool running;
};

/*
 * Starts one and fills `server`.  Returns 0, or -errno / MP_ESTORE with a
 * one-line reason in message (no PostgreSQL installed, it did not start).
 */
int mp_baseline_pg_server_start(struct mp_baseline_pg_server *server, char *message,
                                size_t message_size);

/* Stops it and removes its directory; accepts a server that is not running. */
void mp_baseline_pg_server_stop(struct mp_baseline_pg_server *server);

/*
 * `milepost-bench baseline-postgres [OPTIONS]`: argv[0] is the
 * subcommand's name.  Returns the process exit code (0, 1 failure, 2 usage).
 */
int mp_baseline_pg_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif
