/*
 * The results of one milepost-bench run, in memory, and their JSON form
 * (`--report DIR` writes results.json from it; bench/mp_report writes
 * report.html from the same struct).
 *
 * Plain data in caller memory: the bench fills it while it runs and after
 * the oracle check; readers only read.  Every array has a fixed maximum,
 * so a run never allocates for its results after start-up.  A struct
 * mp_results is about 400 KiB: allocate it (mp_results_create) rather
 * than putting it on a stack.
 *
 * Units are in the names: _us microseconds, _ms milliseconds, _s seconds,
 * _eps events per second, _bytes bytes.  Latencies are kept in
 * microseconds in mp_histogram (12.5% bucket precision); percentiles are
 * the histogram's upper bucket edges, never above the recorded maximum.
 *
 * Extending: add fields at the end of a struct and keys to the JSON;
 * never rename or drop a key results.json already has (API.md names
 * events_per_s, oracle_mismatches and the ack latency percentiles).
 */
#ifndef MP_RESULTS_H
#define MP_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mp_histogram.h"
#include "mp_limits.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- bounds ------------------------------------------------------------ */

/* One interval per second of the run: an hour at most. */
#define MP_RESULTS_INTERVALS_MAX 3600u
#define MP_RESULTS_INTERVAL_MS 1000u
/* Per-stage counters scraped from /metrics (series with their labels). */
#define MP_RESULTS_COUNTERS_MAX 256u
#define MP_RESULTS_COUNTER_NAME_SIZE_MAX 160u
/* Oracle mismatches kept as examples (all are counted). */
#define MP_RESULTS_EXAMPLES_MAX 10u
#define MP_RESULTS_EXAMPLE_VALUE_SIZE_MAX 256u
/* Short names: profile, driver, durability, ERP mode, field names. */
#define MP_RESULTS_NAME_SIZE_MAX 32u
/* host:port, cpu model, kernel release, git-describe style versions. */
#define MP_RESULTS_TEXT_SIZE_MAX 128u
/* Runs in one capacity sweep. */
#define MP_RESULTS_SWEEP_RUNS_MAX 32u

/* ---- parts ------------------------------------------------------------- */

/* Percentiles of one latency histogram, in microseconds. */
struct mp_results_latency {
    uint64_t count;
    uint64_t p50_us;
    uint64_t p90_us;
    uint64_t p99_us;
    uint64_t p999_us;
    uint64_t max_us;
    double mean_us;
};

/* What the run was asked to do. */
struct mp_results_config {
    char profile[MP_RESULTS_NAME_SIZE_MAX];     /* smoke, peak, storm */
    uint64_t seed;
    char driver[MP_RESULTS_NAME_SIZE_MAX];      /* http, tcp, udp, inproc */
    char server[MP_RESULTS_TEXT_SIZE_MAX];      /* host:port driven; "" for inproc */
    bool server_started;                        /* the bench started it (no --server) */
    bool closed_loop;                           /* true: as fast as acks allow */
    double target_rate_eps;                     /* open loop: offered rate; 0 closed */
    double duration_s;                          /* 0: until the workload is sent */
    uint32_t connections;
    uint32_t pipeline_depth;                    /* requests (HTTP) or batches in flight per connection */
    uint32_t batch_events;                      /* events per request / per TCP write */
    uint32_t server_cores;                      /* 0 when unknown (external server) */
    char durability[MP_RESULTS_NAME_SIZE_MAX];  /* sync, async, "" when unknown */
    char erp_mode[MP_RESULTS_NAME_SIZE_MAX];    /* pull, push, jetstream, "" when off or unknown */
    /* The workload (bench/mp_gen). */
    uint32_t shipment_count;
    uint64_t event_count;                       /* lines planned, duplicates included */
    uint64_t distinct_count;
    double duplicate_rate;
    double out_of_order_rate;
    double native_rate;                         /* fraction sent as native webhook payloads */
};

/* Where it ran. */
struct mp_results_machine {
    char cpu_model[MP_RESULTS_TEXT_SIZE_MAX];
    uint32_t cores_online;
    char kernel[MP_RESULTS_TEXT_SIZE_MAX];      /* uname -sr */
    uint64_t memory_bytes;                      /* MemTotal */
    char hostname[MP_RESULTS_TEXT_SIZE_MAX];
    char bench_version[MP_RESULTS_TEXT_SIZE_MAX];
    char build_type[MP_RESULTS_NAME_SIZE_MAX];  /* release, debugoptimized, ... */
};

/*
 * One interval of MP_RESULTS_INTERVAL_MS.  "Offered" counts events whose
 * intended send time fell in the interval (open loop) or that were sent
 * in it (closed loop); "achieved" counts events acknowledged in it.  Ack
 * latency is from the intended send time (open loop: no coordinated
 * omission) or the actual one (closed loop) to the ack.
 */
struct mp_results_interval {
    double start_s;                             /* since the run's start */
    uint64_t offered_events;
    uint64_t achieved_events;
    double offered_eps;
    double achieved_eps;
    struct mp_results_latency ack;
    uint64_t server_rss_bytes;                  /* sampled at the interval's end; 0 unknown */
    double server_cpu_s;                        /* user + system, cumulative since the run's start */
    uint64_t rejected_events;
    uint64_t overload_answers;                  /* HTTP 503 seen in the interval */
};

/* One series of /metrics, before and after the run (delta = after - before). */
struct mp_results_counter {
    char name[MP_RESULTS_COUNTER_NAME_SIZE_MAX]; /* metric{labels} as the server wrote it */
    double before;
    double after;
};

/* One oracle mismatch: which shipment, which field, expected and got. */
struct mp_results_mismatch {
    char carrier[MP_CARRIER_SIZE_MAX + 1];
    char tracking_number[MP_TRACKING_NUMBER_SIZE_MAX + 1];
    char field[MP_RESULTS_NAME_SIZE_MAX];       /* status, milestones, ..., or "erp_confirmation" */
    char expected[MP_RESULTS_EXAMPLE_VALUE_SIZE_MAX];
    char actual[MP_RESULTS_EXAMPLE_VALUE_SIZE_MAX];
};

struct mp_results_oracle {
    bool checked;                               /* false: no read-back was done */
    uint64_t shipments_expected;
    uint64_t shipments_read;
    uint64_t confirmations_expected;
    uint64_t confirmations_read;
    uint64_t mismatch_count;                    /* every mismatch, examples or not */
    uint32_t example_count;
    struct mp_results_mismatch examples[MP_RESULTS_EXAMPLES_MAX];
    double seconds;                             /* the read-back and comparison */
};

/*
 * The side-by-side baseline: the same events (same profile and seed) fed
 * into a latest-state table with batched upserts plus an event-history
 * table, synchronous commit on (docs/bench.md "Baseline").
 */
struct mp_results_baseline {
    bool ran;
    char system[MP_RESULTS_NAME_SIZE_MAX];      /* "postgresql 15.x" */
    char server[MP_RESULTS_TEXT_SIZE_MAX];      /* host:port */
    uint32_t connections;
    uint32_t batch_events;                      /* events per transaction */
    uint64_t events_sent;
    uint64_t events_rejected;                   /* failed our parser: never sent */
    uint64_t history_rows;                      /* distinct events stored */
    uint64_t state_rows;                        /* shipments in the latest-state table */
    uint64_t transactions;
    double elapsed_s;
    double events_per_s;                        /* events_sent / elapsed_s */
    struct mp_histogram commit_histogram;       /* one transaction, BEGIN to COMMIT, us */
    struct mp_results_latency commit;
    double milepost_ratio;                      /* milepost events_per_s / events_per_s; 0 unknown */
};

/* ---- one run ----------------------------------------------------------- */

struct mp_results {
    struct mp_results_config config;
    struct mp_results_machine machine;
    int64_t started_at_ms;                      /* UTC wall clock */
    double elapsed_s;                           /* first send to last ack */

    /* Totals. */
    uint64_t events_sent;
    uint64_t events_acked;                      /* settled: accepted, duplicate or rejected */
    uint64_t events_accepted;                   /* as the server reported them */
    uint64_t events_duplicate;
    uint64_t events_rejected;
    uint64_t events_dropped;                    /* UDP: sent but never counted by the server */
    uint64_t requests_sent;                     /* HTTP requests, TCP writes, datagrams */
    uint64_t overload_answers;
    double events_per_s;                        /* events_acked / elapsed_s */
    double offered_events_per_s;                /* open loop: the target; closed: events_sent / elapsed_s */
    double dedup_ratio;                         /* duplicates / (accepted + duplicates) */

    /* Ack latency over the whole run, and per interval below. */
    struct mp_histogram ack_histogram;
    struct mp_results_latency ack;

    uint32_t interval_count;
    struct mp_results_interval intervals[MP_RESULTS_INTERVALS_MAX];

    /* Ack-to-visible in GET /v1/shipments, sampled. */
    struct mp_histogram visibility_histogram;
    struct mp_results_latency visibility;

    /* Event ack to its ERP confirmation appearing (pull mode), when on. */
    bool erp_enabled;
    struct mp_histogram erp_histogram;
    struct mp_results_latency erp;

    /* The server process, from /proc/<pid> (0 when external or unknown). */
    int server_pid;
    double server_cpu_s;                        /* user + system over the run */
    double server_cpu_us_per_event;
    uint64_t server_rss_bytes_max;
    uint64_t server_rss_bytes_end;

    uint32_t counter_count;
    struct mp_results_counter counters[MP_RESULTS_COUNTERS_MAX];

    struct mp_results_oracle oracle;

    /* A one-line verdict (the report's headline); "" until someone writes it. */
    char verdict[2 * MP_RESULTS_TEXT_SIZE_MAX];

    /*
     * The PostgreSQL baseline fed the same generated events in the same
     * run (bench/mp_baseline_pg: `--baseline postgres`); ran is false when
     * none did.  Filled by mp_baseline_pg_run().
     */
    struct mp_results_baseline baseline;
};

/*
 * A capacity sweep: runs at rising offered rates (bench `capacity`).
 * `runs` points at run_count results owned by whoever made the sweep.
 */
struct mp_results_sweep {
    double target_eps;                          /* asked for */
    double p99_limit_ms;
    uint32_t run_count;
    struct mp_results *runs[MP_RESULTS_SWEEP_RUNS_MAX];
    int32_t knee_index;                         /* the last run under the limit; -1 none */
    double per_core_eps;                        /* at the knee / server cores */
    uint32_t cores_needed;
    char assumptions[512];
    double headroom;                            /* cores_needed plans for target * headroom */
    double achieved_fraction_min;               /* a run holds when achieved >= this * offered */
};

/* ---- functions --------------------------------------------------------- */

/*
 * Allocates zeroed results (mp_results_destroy frees them).  Returns NULL
 * when memory is short.
 */
struct mp_results *mp_results_create(void);

/* Frees results; accepts NULL. */
void mp_results_destroy(struct mp_results *results);

/* Fills `out` from a histogram (zeros when empty). */
void mp_results_latency_from(struct mp_results_latency *out, const struct mp_histogram *histogram);

/*
 * Fills the machine facts from /proc/cpuinfo, /proc/meminfo, uname and
 * gethostname.  A fact it cannot read stays empty or 0.
 */
void mp_results_probe_machine(struct mp_results_machine *machine);

/*
 * Reads /proc/<pid>/stat and /proc/<pid>/status: user + system CPU
 * seconds and the resident set.  Returns 0, or -errno when the process
 * is gone or the files cannot be read (outputs untouched).
 */
int mp_results_probe_process(int pid, double *cpu_s, uint64_t *rss_bytes);

/*
 * Derives what can be computed from the rest: ack/visibility/erp
 * percentiles from their histograms, events_per_s, dedup_ratio and CPU
 * per event.  Call once before writing.
 */
void mp_results_finish(struct mp_results *results);

/*
 * Adds a counter series (before or after).  `after` = false sets its
 * before value, true its after value; a series seen only after has before
 * 0.  Returns 0 or MP_EFULL when MP_RESULTS_COUNTERS_MAX series are kept.
 */
int mp_results_counter_set(struct mp_results *results, const char *name, double value, bool after);

/*
 * Records one oracle mismatch: counts it, and keeps it as an example while
 * fewer than MP_RESULTS_EXAMPLES_MAX are kept.  Strings are truncated to
 * their fields.
 */
void mp_results_add_mismatch(struct mp_results_oracle *oracle, const char *carrier,
                             const char *tracking_number, const char *field,
                             const char *expected, const char *actual);

/*
 * Writes results.json: one JSON object (pretty enough to read, one key per
 * line at the top level).  Top-level keys include events_per_s,
 * oracle_mismatches and ack_latency_us {p50,p90,p99,p999,max} (API.md).
 * Returns 0 or -errno of the failed write.  The caller owns `out`.
 */
int mp_results_write_json(const struct mp_results *results, FILE *out);

/*
 * Writes a sweep as JSON: {"target_eps":..,"runs":[<run>, ...],"knee_index":..}.
 * Returns 0 or -errno.
 */
int mp_results_sweep_write_json(const struct mp_results_sweep *sweep, FILE *out);

#ifdef __cplusplus
}
#endif

#endif
