/*
 * Offline ingest: the shard pipeline fed from files instead of sockets
 * (API.md `milepost ingest`).
 *
 * One thread per core parses its share of the input, routes each event
 * by shipment hash to its owner shard through the SPSC rings, and runs
 * its own shard; the commit thread writes their batches.  The same shard
 * and commit code serve `milepost serve`.
 */
#ifndef MP_INGEST_H
#define MP_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mp_error.h"
#include "mp_event.h"

struct mp_erp_filter;

#ifdef __cplusplus
extern "C" {
#endif

struct mp_ingest_options {
    const char *data_dir;
    const char *const *files;       /* paths; "-" is standard input */
    size_t file_count;
    uint32_t cores;                 /* 0: every core this process may run on */
    enum mp_source source;          /* canonical: events; else one webhook payload per file */
    uint32_t cache_records_max;     /* per shard; 0: default */
    uint32_t flush_records_max;     /* changed records per shard batch; 0: default */
    uint32_t confirm_mask;          /* 0: DESIGN.md's default milestones */
    /* Narrows confirm_mask per event, as a server's erp.* keys do; NULL: none. */
    const struct mp_erp_filter *confirm_filter;
    bool sync;                      /* fsync each group commit */
    bool progress;                  /* a progress line on stderr */
    int64_t fixed_received_time_ms; /* 0: the clock; tests pin it */
    uint64_t disk_reserve_bytes;    /* free space commits keep (mp_store_options); 0: no check */
};

struct mp_ingest_summary {
    uint64_t read;                  /* records: events and rejects (not facts events) */
    uint64_t accepted;
    uint64_t duplicates;
    uint64_t rejected;
    uint64_t rejected_by_error[MP_REJECT_CODE_COUNT];
    uint64_t facts;                 /* payload-facts events read (MP_EVENT_FLAG_FACTS) */
    uint64_t facts_taken;           /* ... of which changed a shipment */
    uint64_t unmapped_codes;        /* status codes an adapter mapped only to a parent */
    uint64_t state_writes;
    uint64_t outbox;
    uint64_t store_reads;
    uint32_t cores;
    double seconds;
};

/* Fills the defaults (all cores, sync, canonical). */
void mp_ingest_options_default(struct mp_ingest_options *options);

/*
 * Runs the ingest to the end of every input and commits it.  Returns 0
 * with *summary; or an error with a one-line explanation in message
 * (MP_ELOCKED: a server holds the directory; -ENOENT etc.: an input
 * could not be read; MP_ETOOBIG: an input over MP_BODY_SIZE_MAX that is
 * not NDJSON, or any over it for a webhook source; MP_ESTORE).  Rejected
 * events are not errors; neither is a payload that is not the source's
 * shape, which is one bad_json reject (index 0 of its file) like a
 * canonical input that is not JSON at all.
 */
int mp_ingest_run(const struct mp_ingest_options *options, struct mp_ingest_summary *summary,
                  char *message, size_t message_size);

struct mp_store;

/* One in-memory input of mp_ingest_run_buffers. */
struct mp_ingest_buffer {
    const char *data;            /* borrowed for the call (copied with the parser's padding) */
    size_t size;                 /* at most MP_BODY_SIZE_MAX */
    enum mp_source source;       /* how to read it, and the source its events and rejects get */
    uint32_t first_index;        /* the reject `index` of its first record (later ones count on) */
};

/*
 * mp_ingest_run over in-memory inputs instead of files (`milepost rejects
 * replay` feeds stored raw bytes back): each buffer is read as a file of
 * its own source would be (canonical: one event, an array or NDJSON;
 * otherwise one payload), so options->files and options->source are not
 * used; options->data_dir only names the directory in messages.  It
 * commits into `store`, an open writable store the caller keeps (borrowed
 * for the call, not closed), so the caller holds the directory's lock
 * before and after.  No other thread may commit appends to that store
 * during the call.  Returns as mp_ingest_run (never MP_ELOCKED).
 */
int mp_ingest_run_buffers(const struct mp_ingest_options *options, struct mp_store *store,
                          const struct mp_ingest_buffer *buffers, size_t buffer_count,
                          struct mp_ingest_summary *summary, char *message, size_t message_size);

/* Writes API.md's one-line JSON summary (NUL-terminated).  Returns 0 or MP_ETOOBIG. */
int mp_ingest_summary_json(const struct mp_ingest_summary *summary, char *out, size_t capacity);

#ifdef __cplusplus
}
#endif

#endif
