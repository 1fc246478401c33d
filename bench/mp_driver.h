/*
 * milepost-bench drivers: feed a generated workload to a server and
 * measure it into struct mp_results; and a small blocking HTTP client for
 * the bench's own reads (/metrics, the oracle's read-back).
 *
 * The socket drivers (HTTP, TCP NDJSON) run one thread with one io_uring
 * over N connections.  Closed loop keeps `pipeline_depth` requests (HTTP)
 * or chunks of lines (TCP) in flight per connection and sends the next as
 * soon as one settles; open loop sends at the target rate shaped by the
 * profile's burst curve and measures latency from each request's INTENDED
 * send time, so a stalled server shows as latency, not as a lower offered
 * rate (no coordinated omission).  The UDP driver paces datagrams at the
 * target rate (it has no acks to close a loop on).
 *
 * Drivers always send a prefix of the generator's sequence and wait for
 * every sent event to settle, so the oracle knows exactly what was sent:
 * results->events_sent lines from the start.
 */
#ifndef MP_DRIVER_H
#define MP_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mp_gen.h"
#include "mp_results.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MP_DRIVER_CONNECTIONS_MAX 256u
#define MP_DRIVER_PIPELINE_MAX 64u
#define MP_DRIVER_BATCH_MAX 1000u
/* UDP paces at this rate without --rate: it has no acks to close a loop on. */
#define MP_DRIVER_UDP_RATE_DEFAULT 10000.0
/* UDP: lines per datagram are packed up to this many bytes. */
#define MP_DRIVER_DATAGRAM_SIZE_MAX 8192u

enum mp_driver_kind {
    MP_DRIVER_HTTP = 0,
    MP_DRIVER_TCP,
    MP_DRIVER_UDP,
    MP_DRIVER_INPROC,
};

/*
 * Idempotency keys of ERP confirmations the driver pulled (and acked)
 * while it ran, for the oracle's comparison afterwards.  `keys` is
 * malloc'ed; the caller frees it.
 */
struct mp_driver_erp_keys {
    char (*keys)[33];
    size_t count;
    size_t capacity;
};

struct mp_driver_options {
    enum mp_driver_kind kind;
    char host[64];
    uint16_t port;                  /* the listener of that kind */
    uint16_t http_port;             /* for UDP: where /metrics is read */
    uint32_t connections;
    uint32_t pipeline_depth;
    uint32_t batch_events;          /* events per HTTP request or TCP chunk */
    double rate_eps;                /* 0: closed loop */
    double duration_s;              /* 0: until the workload is sent */
    const struct mp_gen_burst *burst; /* open loop's shape over time; NULL steady */
    int server_pid;                 /* > 0: sample its CPU and RSS */
    bool progress;                  /* a progress line on stderr */
    /*
     * Non-NULL: a thread pulls ERP confirmations during the run (pull mode),
     * records now - recorded_at as the ERP confirmation latency, acks them
     * and keeps their keys here.
     */
    struct mp_driver_erp_keys *erp_keys;
};

/* "http" etc.; returns -1 for an unknown name. */
int mp_driver_kind_from_name(const char *name);
const char *mp_driver_kind_name(enum mp_driver_kind kind);

/*
 * Runs a socket driver (HTTP, TCP or UDP) from the generator's current
 * position.  Fills the run's totals, histograms and intervals in
 * `results` (not config, machine or oracle).  Returns 0, or a negative
 * code with a one-line reason in message (connection refused, a
 * malformed answer, io_uring unavailable).  One thread.
 */
int mp_driver_run(const struct mp_driver_options *options, struct mp_gen *gen,
                  struct mp_results *results, char *message, size_t message_size);

/* ---- the blocking HTTP client ------------------------------------------ */

struct mp_driver_http;

/*
 * Connects to host:port with a response buffer of buffer_size bytes (the
 * largest body it can read).  Returns 0 and *out, or -errno / -ENOMEM.
 */
int mp_driver_http_open(const char *host, uint16_t port, size_t buffer_size,
                        struct mp_driver_http **out);
void mp_driver_http_close(struct mp_driver_http *client);

/*
 * Sends one request and reads its answer (reconnecting once if the
 * server closed a kept-alive connection).  *body points into the
 * client's buffer until the next call.  Returns 0 with *status, or
 * -errno, MP_ETOOBIG (answer over the buffer), MP_EPARSE (not HTTP).
 */
int mp_driver_http_request(struct mp_driver_http *client, const char *method, const char *path,
                           const char *content_type, const char *body, size_t body_size,
                           int *status, const char **answer, size_t *answer_size);

/*
 * Scrapes GET /metrics into results' counters (before or after the run):
 * every `milepost_*` series that is not a histogram bucket.  Returns 0 or
 * the request's error.
 */
int mp_driver_scrape_metrics(struct mp_driver_http *client, struct mp_results *results,
                             bool after);

/* Sums every series of the named metric in the last scrape (after = true) or the first. */
double mp_driver_counter_sum(const struct mp_results *results, const char *metric, bool after);

/* ---- the oracle's read-back -------------------------------------------- */

/*
 * Reads back every shipment that the first `events_sent` emissions of the
 * generator's sequence touched (`native`: as mp_gen_next_payload sends
 * them, native feeds included; else as canonical lines) (GET /v1/shipments/{carrier}/{number}) and
 * compares it with bench/mp_oracle's expected state; then, with check_erp
 * and when the server is in ERP pull mode, drains (after the keys the
 * driver already pulled, `pulled`, may be NULL) GET /v1/erp/confirmations (acking each) and
 * compares the set of idempotency keys with the expected one.  Fills
 * results->oracle (and erp_enabled).  Rewinds the generator.  Returns 0
 * when the comparison ran (mismatches are counted, not errors), or an
 * error with a one-line reason (the server went away).
 */
int mp_driver_verify(struct mp_gen *gen, uint64_t events_sent, bool native, bool check_erp,
                     const struct mp_driver_erp_keys *pulled, struct mp_driver_http *client,
                     struct mp_results *results, char *message, size_t message_size);

#ifdef __cplusplus
}
#endif

#endif
