/*
 * The socket drivers: HTTP and TCP NDJSON over one io_uring, UDP paced
 * with sendto (see mp_driver.h).
 *
 * Every connection owns a fixed set of `pipeline_depth` units, allocated
 * before the run: a unit is one HTTP request or one TCP chunk of lines,
 * with its bytes and its start time.  Units cycle free -> queued (built,
 * waiting for the connection's one outstanding send) -> in flight (sent,
 * waiting for the answer or ack) -> free.  An HTTP 503 puts the unit back
 * in the send queue as is: the server took none of it, and the oracle
 * expects every event to land.
 */
#include "mp_driver.h"

#include <errno.h>
#include <inttypes.h>
#include <liburing.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mp_assert.h"
#include "mp_bench_util.h"
#include "mp_error.h"
#include "mp_time.h"

#define DRIVER_RECV_SIZE (256u << 10)
#define DRIVER_HEADER_ROOM 256u
#define DRIVER_RING_ENTRIES 1024u

enum { TAG_SEND = 1, TAG_RECV = 2 };

/* Visibility samples: one per this many units at most, through a ring of this size. */
#define DRIVER_VISIBILITY_EVERY_UNITS 8u
#define DRIVER_VISIBILITY_RING 1024u
#define DRIVER_VISIBILITY_TIMEOUT_NS INT64_C(5000000000)
#define DRIVER_NO_SAMPLE UINT32_MAX

struct driver_unit {
    char *bytes;            /* DRIVER_HEADER_ROOM, then the body */
    size_t capacity;
    size_t start;           /* where the request begins (the header is written before the body) */
    size_t size;            /* bytes from start */
    uint32_t events;
    uint64_t line_end;      /* TCP: the connection's line count after this chunk */
    int64_t start_ns;       /* intended (open loop) or actual (closed loop) send time */
    uint32_t sample_shipment; /* first appearance of this shipment, or DRIVER_NO_SAMPLE */
};

/*
 * Visibility latency: after the ack of a unit that holds a shipment's
 * first event, a reader thread polls GET /v1/shipments for it until it
 * answers 200.  The loop hands samples over through a single-producer,
 * single-consumer ring and drops them when it is full (a sample, never
 * an event).
 */
struct driver_sample {
    uint32_t shipment_index;
    int64_t ack_ns;
};

struct driver_visibility {
    struct driver_sample ring[DRIVER_VISIBILITY_RING];
    _Atomic uint64_t head; /* written by the loop */
    _Atomic uint64_t tail; /* written by the reader */
    _Atomic bool stop;
    uint64_t dropped;
    struct mp_gen *gen;
    const char *host;
    uint16_t port;
    struct mp_histogram histogram; /* the reader's until joined */
    pthread_t thread;
    bool running;
};

struct driver_conn {
    int fd;
    uint32_t index;
    struct driver_unit *units;
    /* Queues of unit indexes, FIFO; a unit is in at most one. */
    uint32_t *send_queue;
    uint32_t send_head, send_count;
    uint32_t *flight_queue;
    uint32_t flight_head, flight_count;
    uint32_t *free_stack;
    uint32_t free_count;
    bool sending;
    size_t sent_offset;     /* of the queue head's bytes */
    char *recv;
    size_t recv_size;
    uint64_t lines_sent;    /* TCP */
};

struct driver {
    const struct mp_driver_options *options;
    struct mp_gen *gen;
    struct mp_results *results;
    struct io_uring ring;
    struct driver_conn *conns;
    uint32_t conn_count;
    uint32_t depth;
    bool exhausted;         /* the generator or the duration has ended */
    int64_t start_ns;
    int64_t next_intended_ns;
    int64_t next_interval_ns;
    uint64_t in_flight_units;
    struct mp_histogram interval_histogram;
    uint64_t interval_offered;
    uint64_t interval_achieved;
    uint64_t interval_rejected;
    uint64_t interval_overload;
    double last_cpu_s;
    double first_cpu_s;
    bool have_cpu;
    uint8_t *shipment_seen;    /* a byte per shipment: sent before */
    uint64_t units_filled;
    struct driver_visibility *visibility;
    struct driver_erp *erp;
    char line[MP_GEN_LINE_SIZE_MAX];
    char *message;
    size_t message_size;
};

/*
 * ERP confirmation latency: a thread pulls confirmations while the run
 * goes on, records (now - recorded_at) on the wall clock, acks them and
 * keeps their keys for the oracle.  It stops at the first 404 (not in
 * pull mode).
 */
#define DRIVER_ERP_BATCH 1000u
#define DRIVER_ERP_WAIT_MS 100u

struct driver_erp {
    _Atomic bool stop;
    const char *host;
    uint16_t port;
    struct mp_driver_erp_keys *keys;
    struct mp_histogram histogram; /* the thread's until joined */
    bool enabled;
    pthread_t thread;
    bool running;
};

static int64_t driver_now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

int mp_driver_kind_from_name(const char *name)
{
    static const char *const names[] = {"http", "tcp", "udp", "inproc"};
    for (int index = 0; index < 4; index++)
        if (strcmp(name, names[index]) == 0)
            return index;
    return -1;
}

const char *mp_driver_kind_name(enum mp_driver_kind kind)
{
    switch (kind) {
    case MP_DRIVER_HTTP: return "http";
    case MP_DRIVER_TCP: return "tcp";
    case MP_DRIVER_UDP: return "udp";
    default: return "inproc";
    }
}

static int driver_fail(struct driver *driver, int code, const char *text)
{
    snprintf(driver->message, driver->message_size, "%s", text);
    return code;
}

/* ---- intervals and progress -------------------------------------------- */

static void driver_close_interval(struct driver *driver, int64_t now_ns)
{
    struct mp_results *results = driver->results;
    if (results->interval_count >= MP_RESULTS_INTERVALS_MAX)
        return;
    struct mp_results_interval *interval = &results->intervals[results->interval_count];
    double full_s = MP_RESULTS_INTERVAL_MS / 1000.0;
    interval->start_s = (double)results->interval_count * full_s;
    /* The last interval may be partial: rates over the time it lasted. */
    double seconds = (double)(now_ns - driver->start_ns) / 1e9 - interval->start_s;
    if (seconds > full_s || seconds <= 0)
        seconds = full_s;
    interval->offered_events = driver->interval_offered;
    interval->achieved_events = driver->interval_achieved;
    interval->offered_eps = (double)driver->interval_offered / seconds;
    interval->achieved_eps = (double)driver->interval_achieved / seconds;
    mp_results_latency_from(&interval->ack, &driver->interval_histogram);
    interval->rejected_events = driver->interval_rejected;
    interval->overload_answers = driver->interval_overload;
    if (driver->options->server_pid > 0) {
        double cpu_s = 0;
        uint64_t rss = 0;
        if (mp_results_probe_process(driver->options->server_pid, &cpu_s, &rss) == 0) {
            interval->server_rss_bytes = rss;
            interval->server_cpu_s = cpu_s - driver->first_cpu_s;
            driver->last_cpu_s = cpu_s;
            if (rss > results->server_rss_bytes_max)
                results->server_rss_bytes_max = rss;
        }
    }
    results->interval_count++;
    if (driver->options->progress) {
        fprintf(stderr,
                "\r[%4" PRIu32 "s] %9.0f ev/s  p99 %8.2f ms  sent %" PRIu64 " / %" PRIu64
                "   ",
                results->interval_count, interval->achieved_eps,
                (double)interval->ack.p99_us / 1000.0, results->events_sent,
                results->config.event_count);
        fflush(stderr);
    }
    memset(&driver->interval_histogram, 0, sizeof driver->interval_histogram);
    driver->interval_offered = 0;
    driver->interval_achieved = 0;
    driver->interval_rejected = 0;
    driver->interval_overload = 0;
}

static void driver_tick(struct driver *driver, int64_t now_ns)
{
    while (now_ns >= driver->next_interval_ns) {
        driver_close_interval(driver, now_ns);
        driver->next_interval_ns += (int64_t)MP_RESULTS_INTERVAL_MS * 1000000;
    }
}

static void driver_settle(struct driver *driver, const struct driver_unit *unit, int64_t now_ns)
{
    uint64_t latency_us = now_ns > unit->start_ns ? (uint64_t)(now_ns - unit->start_ns) / 1000 : 0;
    for (uint32_t event = 0; event < unit->events; event++) {
        mp_histogram_record(&driver->results->ack_histogram, latency_us);
        mp_histogram_record(&driver->interval_histogram, latency_us);
    }
    driver->results->events_acked += unit->events;
    driver->interval_achieved += unit->events;
    struct driver_visibility *visibility = driver->visibility;
    if (visibility != NULL && unit->sample_shipment != DRIVER_NO_SAMPLE) {
        uint64_t head = atomic_load_explicit(&visibility->head, memory_order_relaxed);
        uint64_t tail = atomic_load_explicit(&visibility->tail, memory_order_acquire);
        if (head - tail < DRIVER_VISIBILITY_RING) {
            visibility->ring[head % DRIVER_VISIBILITY_RING] =
                (struct driver_sample){unit->sample_shipment, now_ns};
            atomic_store_explicit(&visibility->head, head + 1, memory_order_release);
        } else {
            visibility->dropped++;
        }
    }
}

static void *driver_visibility_main(void *argument)
{
    struct driver_visibility *visibility = argument;
    struct mp_driver_http *client = NULL;
    if (mp_driver_http_open(visibility->host, visibility->port, 1u << 20, &client) < 0)
        return NULL;
    for (;;) {
        uint64_t tail = atomic_load_explicit(&visibility->tail, memory_order_relaxed);
        uint64_t head = atomic_load_explicit(&visibility->head, memory_order_acquire);
        if (tail == head) {
            if (atomic_load_explicit(&visibility->stop, memory_order_acquire))
                break;
            struct timespec pause = {0, 1000000};
            nanosleep(&pause, NULL);
            continue;
        }
        struct driver_sample sample = visibility->ring[tail % DRIVER_VISIBILITY_RING];
        atomic_store_explicit(&visibility->tail, tail + 1, memory_order_release);
        char carrier[MP_CARRIER_SIZE_MAX + 1];
        char number[MP_TRACKING_NUMBER_SIZE_MAX + 1];
        if (mp_gen_shipment_key(visibility->gen, sample.shipment_index, carrier, sizeof carrier,
                                number, sizeof number) < 0)
            continue;
        char path[64 + MP_CARRIER_SIZE_MAX + MP_TRACKING_NUMBER_SIZE_MAX];
        size_t path_size = (size_t)snprintf(path, sizeof path, "/v1/shipments/%s/", carrier);
        for (const char *at = number; *at != '\0' && path_size + 1 < sizeof path; at++)
            if (*at != ' ')
                path[path_size++] = *at;
        path[path_size] = '\0';
        for (;;) {
            int status = 0;
            const char *body = NULL;
            size_t size = 0;
            if (mp_driver_http_request(client, "GET", path, NULL, NULL, 0, &status, &body, &size) < 0)
                break;
            int64_t now_ns = driver_now_ns();
            if (status == 200) {
                mp_histogram_record(&visibility->histogram,
                                    now_ns > sample.ack_ns ? (uint64_t)(now_ns - sample.ack_ns) / 1000 : 0);
                break;
            }
            if (now_ns - sample.ack_ns > DRIVER_VISIBILITY_TIMEOUT_NS) {
                /* Never visible: recorded at the timeout, so it shows as a tail, not a gap. */
                mp_histogram_record(&visibility->histogram, (uint64_t)DRIVER_VISIBILITY_TIMEOUT_NS / 1000);
                break;
            }
        }
    }
    mp_driver_http_close(client);
    return NULL;
}

/* ---- building units ---------------------------------------------------- */

/*
 * Fills a unit with up to batch_events lines from the generator.  Returns
 * the events put in (0: the workload is over).
 */
static uint32_t driver_fill(struct driver *driver, struct driver_conn *conn, struct driver_unit *unit)
{
    const struct mp_driver_options *options = driver->options;
    size_t at = DRIVER_HEADER_ROOM;
    uint32_t events = 0;
    unit->sample_shipment = DRIVER_NO_SAMPLE;
    enum mp_gen_feed feed = MP_GEN_FEED_CANONICAL;
    while (events < options->batch_events && !driver->exhausted) {
        if (at + MP_GEN_LINE_SIZE_MAX > unit->capacity)
            break;
        size_t size = 0;
        struct mp_gen_ref ref;
        int result;
        if (options->kind == MP_DRIVER_HTTP) {
            /* A native payload is a request of its own: end a batch of lines before it. */
            int next_feed = mp_gen_peek_feed(driver->gen);
            if (next_feed > MP_GEN_FEED_CANONICAL && events > 0)
                break;
            result = mp_gen_next_payload(driver->gen, unit->bytes + at, unit->capacity - at, &size,
                                         &ref, &feed);
        } else {
            result = mp_gen_next_ref(driver->gen, unit->bytes + at, unit->capacity - at, &size, &ref);
        }
        MP_ASSERT(result >= 0);
        if (result == 0) {
            driver->exhausted = true;
            break;
        }
        if (driver->shipment_seen != NULL && !driver->shipment_seen[ref.shipment_index]) {
            driver->shipment_seen[ref.shipment_index] = 1;
            if (unit->sample_shipment == DRIVER_NO_SAMPLE &&
                driver->units_filled % DRIVER_VISIBILITY_EVERY_UNITS == 0)
                unit->sample_shipment = ref.shipment_index;
        }
        at += size;
        events++;
        if (feed != MP_GEN_FEED_CANONICAL)
            break;
    }
    driver->units_filled++;
    if (events == 0)
        return 0;
    size_t body_size = at - DRIVER_HEADER_ROOM;
    if (options->kind == MP_DRIVER_HTTP) {
        char header[DRIVER_HEADER_ROOM];
        int header_size;
        if (feed == MP_GEN_FEED_CANONICAL)
            header_size = snprintf(header, sizeof header,
                                   "POST /v1/events HTTP/1.1\r\nHost: %s\r\n"
                                   "Content-Type: application/x-ndjson\r\n"
                                   "Content-Length: %zu\r\n\r\n",
                                   options->host, body_size);
        else
            header_size = snprintf(header, sizeof header,
                                   "POST /v1/webhooks/%s HTTP/1.1\r\nHost: %s\r\n"
                                   "Content-Type: application/json\r\n"
                                   "Content-Length: %zu\r\n\r\n",
                                   mp_gen_feed_name(feed), options->host, body_size);
        MP_ASSERT(header_size > 0 && (size_t)header_size < sizeof header);
        unit->start = DRIVER_HEADER_ROOM - (size_t)header_size;
        memcpy(unit->bytes + unit->start, header, (size_t)header_size);
    } else {
        unit->start = DRIVER_HEADER_ROOM;
        conn->lines_sent += events;
        unit->line_end = conn->lines_sent;
    }
    unit->size = at - unit->start;
    unit->events = events;
    driver->results->events_sent += events;
    driver->results->requests_sent++;
    return events;
}

/* A free submission entry, submitting what is queued once to make room; NULL when still full. */
static struct io_uring_sqe *driver_get_sqe(struct driver *driver)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&driver->ring);
    if (sqe == NULL) {
        io_uring_submit(&driver->ring);
        sqe = io_uring_get_sqe(&driver->ring);
    }
    return sqe;
}

static int driver_submit_send(struct driver *driver, struct driver_conn *conn)
{
    MP_ASSERT(conn->send_count > 0 && !conn->sending);
    struct driver_unit *unit = &conn->units[conn->send_queue[conn->send_head]];
    struct io_uring_sqe *sqe = driver_get_sqe(driver);
    if (sqe == NULL)
        return -EBUSY;
    io_uring_prep_send(sqe, conn->fd, unit->bytes + unit->start + conn->sent_offset,
                       unit->size - conn->sent_offset, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, ((uint64_t)conn->index << 8) | TAG_SEND);
    conn->sending = true;
    return 0;
}

static int driver_submit_recv(struct driver *driver, struct driver_conn *conn)
{
    struct io_uring_sqe *sqe = driver_get_sqe(driver);
    if (sqe == NULL)
        return -EBUSY;
    io_uring_prep_recv(sqe, conn->fd, conn->recv + conn->recv_size,
                       DRIVER_RECV_SIZE - conn->recv_size, 0);
    io_uring_sqe_set_data64(sqe, ((uint64_t)conn->index << 8) | TAG_RECV);
    return 0;
}

/*
 * Builds and queues units while the connection has free ones and the
 * schedule allows (open loop: the next intended time has come).
 */
static int driver_feed(struct driver *driver, struct driver_conn *conn, int64_t now_ns)
{
    const struct mp_driver_options *options = driver->options;
    bool open_loop = options->rate_eps > 0;
    while (conn->free_count > 0 && !driver->exhausted) {
        if (open_loop && driver->next_intended_ns > now_ns)
            break;
        if (options->duration_s > 0 &&
            (double)(now_ns - driver->start_ns) / 1e9 >= options->duration_s) {
            driver->exhausted = true;
            break;
        }
        uint32_t unit_index = conn->free_stack[--conn->free_count];
        struct driver_unit *unit = &conn->units[unit_index];
        uint32_t events = driver_fill(driver, conn, unit);
        if (events == 0) {
            conn->free_stack[conn->free_count++] = unit_index;
            break;
        }
        if (open_loop) {
            unit->start_ns = driver->next_intended_ns;
            double elapsed_s = (double)(driver->next_intended_ns - driver->start_ns) / 1e9;
            double rate = options->rate_eps * mp_gen_burst_multiplier(options->burst, elapsed_s);
            driver->next_intended_ns += (int64_t)((double)events / rate * 1e9);
        } else {
            unit->start_ns = now_ns;
        }
        driver->interval_offered += events;
        conn->send_queue[(conn->send_head + conn->send_count) % driver->depth] = unit_index;
        conn->send_count++;
        driver->in_flight_units++;
    }
    if (!conn->sending && conn->send_count > 0)
        return driver_submit_send(driver, conn);
    return 0;
}

/* ---- answers ----------------------------------------------------------- */

static uint64_t driver_number_after(const char *text, size_t size, const char *key)
{
    size_t key_size = strlen(key);
    for (size_t at = 0; at + key_size < size; at++) {
        if (memcmp(text + at, key, key_size) == 0) {
            uint64_t value = 0;
            for (size_t digit = at + key_size; digit < size && text[digit] >= '0' && text[digit] <= '9';
                 digit++)
                value = value * 10 + (uint64_t)(text[digit] - '0');
            return value;
        }
    }
    return 0;
}

static uint64_t driver_count_of(const char *text, size_t size, const char *needle)
{
    size_t needle_size = strlen(needle);
    uint64_t count = 0;
    for (size_t at = 0; at + needle_size <= size; at++)
        if (memcmp(text + at, needle, needle_size) == 0)
            count++;
    return count;
}

/* The flight queue's head is answered: hand it back to the free stack. */
static struct driver_unit *driver_pop_flight(struct driver *driver, struct driver_conn *conn,
                                             uint32_t *unit_index)
{
    MP_ASSERT(conn->flight_count > 0);
    *unit_index = conn->flight_queue[conn->flight_head];
    conn->flight_head = (conn->flight_head + 1) % driver->depth;
    conn->flight_count--;
    return &conn->units[*unit_index];
}

/* Consumes complete HTTP answers from conn->recv.  Returns 0 or an error. */
static int driver_http_answers(struct driver *driver, struct driver_conn *conn, int64_t now_ns)
{
    struct mp_results *results = driver->results;
    size_t offset = 0;
    for (;;) {
        const char *start = conn->recv + offset;
        size_t available = conn->recv_size - offset;
        const char *end = memmem(start, available, "\r\n\r\n", 4);
        if (end == NULL)
            break;
        size_t header_size = (size_t)(end - start) + 4;
        if (available < 12 || memcmp(start, "HTTP/1.1 ", 9) != 0)
            return driver_fail(driver, MP_EPARSE, "the server's answer is not HTTP/1.1");
        int status = atoi(start + 9);
        uint64_t body_size = 0;
        const char *length = memmem(start, header_size, "Content-Length: ", 16);
        if (length == NULL)
            length = memmem(start, header_size, "content-length: ", 16);
        if (length != NULL)
            body_size = strtoull(length + 16, NULL, 10);
        if (header_size + body_size > available)
            break;
        const char *body = start + header_size;
        if (conn->flight_count == 0)
            return driver_fail(driver, MP_EPARSE, "the server answered a request never sent");
        uint32_t unit_index = 0;
        struct driver_unit *unit = driver_pop_flight(driver, conn, &unit_index);
        if (status == 202) {
            uint64_t accepted = driver_number_after(body, body_size, "\"accepted\":");
            uint64_t duplicates = driver_number_after(body, body_size, "\"duplicates\":");
            uint64_t rejected = driver_count_of(body, body_size, "\"index\":");
            results->events_accepted += accepted;
            results->events_duplicate += duplicates;
            results->events_rejected += rejected;
            driver->interval_rejected += rejected;
            driver_settle(driver, unit, now_ns);
            conn->free_stack[conn->free_count++] = unit_index;
            driver->in_flight_units--;
        } else if (status == 503) {
            /* Not taken: send it again, after what is already queued. */
            results->overload_answers++;
            driver->interval_overload++;
            conn->send_queue[(conn->send_head + conn->send_count) % driver->depth] = unit_index;
            conn->send_count++;
        } else {
            char text[200];
            snprintf(text, sizeof text, "POST /v1/events answered %d: %.*s", status,
                     (int)(body_size < 120 ? body_size : 120), body);
            return driver_fail(driver, MP_EPARSE, text);
        }
        offset += header_size + body_size;
    }
    if (offset > 0) {
        memmove(conn->recv, conn->recv + offset, conn->recv_size - offset);
        conn->recv_size -= offset;
    }
    if (conn->recv_size == DRIVER_RECV_SIZE)
        return driver_fail(driver, MP_ETOOBIG, "an HTTP answer is larger than the bench's buffer");
    return 0;
}

/* Consumes complete TCP lines: {"ack":N} and {"reject":L,...}. */
static int driver_tcp_answers(struct driver *driver, struct driver_conn *conn, int64_t now_ns)
{
    size_t offset = 0;
    for (;;) {
        const char *start = conn->recv + offset;
        const char *newline = memchr(start, '\n', conn->recv_size - offset);
        if (newline == NULL)
            break;
        size_t size = (size_t)(newline - start);
        if (size > 7 && memcmp(start, "{\"ack\":", 7) == 0) {
            uint64_t acked = strtoull(start + 7, NULL, 10);
            while (conn->flight_count > 0 &&
                   conn->units[conn->flight_queue[conn->flight_head]].line_end <= acked) {
                uint32_t unit_index = 0;
                struct driver_unit *unit = driver_pop_flight(driver, conn, &unit_index);
                driver_settle(driver, unit, now_ns);
                conn->free_stack[conn->free_count++] = unit_index;
                driver->in_flight_units--;
            }
        } else if (size > 10 && memcmp(start, "{\"reject\":", 10) == 0) {
            driver->results->events_rejected++;
            driver->interval_rejected++;
        } else {
            return driver_fail(driver, MP_EPARSE, "the TCP port wrote a line that is neither an ack nor a reject");
        }
        offset += size + 1;
    }
    if (offset > 0) {
        memmove(conn->recv, conn->recv + offset, conn->recv_size - offset);
        conn->recv_size -= offset;
    }
    return 0;
}

/* ---- the loop ---------------------------------------------------------- */

static int driver_completion(struct driver *driver, struct io_uring_cqe *cqe, int64_t now_ns)
{
    uint64_t data = io_uring_cqe_get_data64(cqe);
    struct driver_conn *conn = &driver->conns[data >> 8];
    int result = cqe->res;
    if ((data & 0xff) == TAG_SEND) {
        conn->sending = false;
        if (result < 0) {
            char text[160];
            snprintf(text, sizeof text, "sending to the server failed: %s", strerror(-result));
            return driver_fail(driver, result, text);
        }
        conn->sent_offset += (size_t)result;
        struct driver_unit *unit = &conn->units[conn->send_queue[conn->send_head]];
        if (conn->sent_offset == unit->size) {
            conn->flight_queue[(conn->flight_head + conn->flight_count) % driver->depth] =
                conn->send_queue[conn->send_head];
            conn->flight_count++;
            conn->send_head = (conn->send_head + 1) % driver->depth;
            conn->send_count--;
            conn->sent_offset = 0;
        }
        return driver_feed(driver, conn, now_ns);
    }
    if (result <= 0) {
        char text[160];
        snprintf(text, sizeof text, "the server closed a connection (%s) with %u requests unanswered",
                 result == 0 ? "end of stream" : strerror(-result), conn->flight_count);
        return driver_fail(driver, result < 0 ? result : -ECONNRESET, text);
    }
    conn->recv_size += (size_t)result;
    int answer_result = driver->options->kind == MP_DRIVER_HTTP
                            ? driver_http_answers(driver, conn, now_ns)
                            : driver_tcp_answers(driver, conn, now_ns);
    if (answer_result < 0)
        return answer_result;
    int feed_result = driver_feed(driver, conn, now_ns);
    if (feed_result < 0)
        return feed_result;
    return driver_submit_recv(driver, conn);
}

static int64_t driver_wall_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static bool driver_erp_keep(struct mp_driver_erp_keys *keys, const char *hex)
{
    if (keys->count == keys->capacity) {
        size_t capacity = keys->capacity > 0 ? 2 * keys->capacity : 4096;
        char(*grown)[33] = realloc(keys->keys, capacity * sizeof *grown);
        if (grown == NULL)
            return false;
        keys->keys = grown;
        keys->capacity = capacity;
    }
    memcpy(keys->keys[keys->count], hex, 32);
    keys->keys[keys->count][32] = '\0';
    keys->count++;
    return true;
}

static void *driver_erp_main(void *argument)
{
    struct driver_erp *erp = argument;
    struct mp_driver_http *client = NULL;
    char *ack = malloc(DRIVER_ERP_BATCH * 40 + 32);
    if (ack == NULL || mp_driver_http_open(erp->host, erp->port, 16u << 20, &client) < 0) {
        free(ack);
        return NULL;
    }
    char path[96];
    snprintf(path, sizeof path, "/v1/erp/confirmations?max=%u&wait_ms=%u", DRIVER_ERP_BATCH,
             DRIVER_ERP_WAIT_MS);
    while (!atomic_load_explicit(&erp->stop, memory_order_acquire)) {
        int status = 0;
        const char *body = NULL;
        size_t size = 0;
        if (mp_driver_http_request(client, "GET", path, NULL, NULL, 0, &status, &body, &size) < 0)
            break;
        if (status != 200)
            break; /* 404: not in pull mode */
        erp->enabled = true;
        int64_t now_ms = driver_wall_ms();
        size_t ack_size = (size_t)snprintf(ack, 32, "{\"ids\":[");
        size_t batch = 0;
        const char *at = body;
        const char *end = body + size;
        for (;;) {
            const char *key = memmem(at, (size_t)(end - at), "\"idempotency_key\":\"", 19);
            if (key == NULL || key + 19 + 32 > end)
                break;
            const char *next = memmem(key + 19, (size_t)(end - key - 19), "\"idempotency_key\"", 17);
            const char *object_end = next != NULL ? next : end;
            const char *recorded = memmem(key, (size_t)(object_end - key), "\"recorded_at\":\"", 15);
            if (recorded != NULL) {
                const char *text = recorded + 15;
                const char *quote = memchr(text, '"', (size_t)(object_end - text));
                struct mp_time_parsed parsed;
                if (quote != NULL && mp_time_parse(text, (size_t)(quote - text), &parsed) == 0) {
                    int64_t latency_ms = now_ms - parsed.utc_ms;
                    mp_histogram_record(&erp->histogram, latency_ms > 0 ? (uint64_t)latency_ms * 1000 : 0);
                }
            }
            if (!driver_erp_keep(erp->keys, key + 19))
                break;
            ack_size += (size_t)snprintf(ack + ack_size, 40, "%s\"%.32s\"", batch > 0 ? "," : "", key + 19);
            batch++;
            at = key + 19 + 32;
        }
        if (batch == 0)
            continue;
        ack_size += (size_t)snprintf(ack + ack_size, 8, "]}");
        if (mp_driver_http_request(client, "POST", "/v1/erp/ack", "application/json", ack, ack_size,
                                   &status, &body, &size) < 0 ||
            status != 200)
            break;
    }
    mp_driver_http_close(client);
    free(ack);
    return NULL;
}

static void driver_free(struct driver *driver)
{
    struct driver_erp *erp = driver->erp;
    if (erp != NULL) {
        if (erp->running) {
            atomic_store_explicit(&erp->stop, true, memory_order_release);
            pthread_join(erp->thread, NULL);
            mp_histogram_merge(&driver->results->erp_histogram, &erp->histogram);
            driver->results->erp_enabled = erp->enabled;
        }
        free(erp);
        driver->erp = NULL;
    }
    struct driver_visibility *visibility = driver->visibility;
    if (visibility != NULL) {
        if (visibility->running) {
            atomic_store_explicit(&visibility->stop, true, memory_order_release);
            pthread_join(visibility->thread, NULL);
            mp_histogram_merge(&driver->results->visibility_histogram, &visibility->histogram);
        }
        free(visibility);
        driver->visibility = NULL;
    }
    free(driver->shipment_seen);
    driver->shipment_seen = NULL;
    if (driver->conns == NULL)
        return;
    for (uint32_t index = 0; index < driver->conn_count; index++) {
        struct driver_conn *conn = &driver->conns[index];
        if (conn->fd >= 0)
            close(conn->fd);
        if (conn->units != NULL)
            for (uint32_t unit = 0; unit < driver->depth; unit++)
                free(conn->units[unit].bytes);
        free(conn->units);
        free(conn->send_queue);
        free(conn->flight_queue);
        free(conn->free_stack);
        free(conn->recv);
    }
    free(driver->conns);
    driver->conns = NULL;
}

static int driver_setup(struct driver *driver)
{
    const struct mp_driver_options *options = driver->options;
    driver->conn_count = options->connections;
    driver->depth = options->pipeline_depth;
    driver->conns = calloc(driver->conn_count, sizeof *driver->conns);
    if (driver->conns == NULL)
        return -ENOMEM;
    struct mp_gen_stats stats;
    mp_gen_stats(driver->gen, &stats);
    driver->shipment_seen = calloc(stats.shipment_count, 1);
    driver->visibility = calloc(1, sizeof *driver->visibility);
    if (driver->shipment_seen == NULL || driver->visibility == NULL)
        return -ENOMEM;
    driver->visibility->gen = driver->gen;
    driver->visibility->host = options->host;
    driver->visibility->port = options->http_port != 0 ? options->http_port : options->port;
    if (pthread_create(&driver->visibility->thread, NULL, driver_visibility_main,
                       driver->visibility) == 0)
        driver->visibility->running = true;
    if (options->erp_keys != NULL) {
        driver->erp = calloc(1, sizeof *driver->erp);
        if (driver->erp == NULL)
            return -ENOMEM;
        driver->erp->host = options->host;
        driver->erp->port = driver->visibility->port;
        driver->erp->keys = options->erp_keys;
        if (pthread_create(&driver->erp->thread, NULL, driver_erp_main, driver->erp) == 0)
            driver->erp->running = true;
    }
    size_t unit_capacity = DRIVER_HEADER_ROOM + (size_t)options->batch_events * MP_GEN_LINE_SIZE_MAX;
    /* Room for one native payload, whose history may be longer than a batch of lines. */
    if (unit_capacity < DRIVER_HEADER_ROOM + MP_GEN_PAYLOAD_SIZE_MAX)
        unit_capacity = DRIVER_HEADER_ROOM + MP_GEN_PAYLOAD_SIZE_MAX;
    for (uint32_t index = 0; index < driver->conn_count; index++) {
        struct driver_conn *conn = &driver->conns[index];
        conn->fd = -1;
        conn->index = index;
        conn->units = calloc(driver->depth, sizeof *conn->units);
        conn->send_queue = calloc(driver->depth, sizeof *conn->send_queue);
        conn->flight_queue = calloc(driver->depth, sizeof *conn->flight_queue);
        conn->free_stack = calloc(driver->depth, sizeof *conn->free_stack);
        conn->recv = malloc(DRIVER_RECV_SIZE);
        if (conn->units == NULL || conn->send_queue == NULL || conn->flight_queue == NULL ||
            conn->free_stack == NULL || conn->recv == NULL)
            return -ENOMEM;
        for (uint32_t unit = 0; unit < driver->depth; unit++) {
            conn->units[unit].bytes = malloc(unit_capacity);
            conn->units[unit].capacity = unit_capacity;
            if (conn->units[unit].bytes == NULL)
                return -ENOMEM;
            conn->free_stack[conn->free_count++] = driver->depth - 1 - unit;
        }
        int fd = mp_bench_util_connect(options->host, options->port, SOCK_STREAM);
        if (fd < 0)
            return fd;
        conn->fd = fd;
    }
    return 0;
}

static int driver_stream_run(struct driver *driver)
{
    const struct mp_driver_options *options = driver->options;
    int result = driver_setup(driver);
    if (result < 0) {
        char text[200];
        snprintf(text, sizeof text, "cannot connect %u connections to %s:%u: %s",
                 options->connections, options->host, options->port, mp_strerror(result));
        return driver_fail(driver, result, text);
    }
    result = io_uring_queue_init(DRIVER_RING_ENTRIES, &driver->ring, 0);
    if (result < 0)
        return driver_fail(driver, result, "io_uring is not available here (io_uring_queue_init failed)");

    int64_t now_ns = driver_now_ns();
    driver->start_ns = now_ns;
    driver->next_intended_ns = now_ns;
    driver->next_interval_ns = now_ns + (int64_t)MP_RESULTS_INTERVAL_MS * 1000000;
    for (uint32_t index = 0; index < driver->conn_count && result == 0; index++) {
        result = driver_submit_recv(driver, &driver->conns[index]);
        if (result == 0)
            result = driver_feed(driver, &driver->conns[index], now_ns);
    }
    while (result == 0 && (!driver->exhausted || driver->in_flight_units > 0)) {
        io_uring_submit(&driver->ring);
        /* Wake for the next interval, or the next open-loop send. */
        int64_t wake_ns = driver->next_interval_ns;
        if (options->rate_eps > 0 && !driver->exhausted && driver->next_intended_ns < wake_ns)
            wake_ns = driver->next_intended_ns;
        now_ns = driver_now_ns();
        int64_t wait_ns = wake_ns > now_ns ? wake_ns - now_ns : 0;
        struct __kernel_timespec timeout = {.tv_sec = wait_ns / 1000000000,
                                            .tv_nsec = wait_ns % 1000000000};
        struct io_uring_cqe *cqe = NULL;
        int wait_result = io_uring_wait_cqe_timeout(&driver->ring, &cqe, &timeout);
        now_ns = driver_now_ns();
        if (wait_result == 0) {
            unsigned head = 0;
            unsigned seen = 0;
            io_uring_for_each_cqe(&driver->ring, head, cqe) {
                seen++;
                if (result == 0)
                    result = driver_completion(driver, cqe, now_ns);
            }
            io_uring_cq_advance(&driver->ring, seen);
        } else if (wait_result != -ETIME && wait_result != -EINTR) {
            result = driver_fail(driver, wait_result, "waiting on io_uring failed");
        }
        driver_tick(driver, now_ns);
        if (options->rate_eps > 0)
            for (uint32_t index = 0; index < driver->conn_count && result == 0; index++)
                result = driver_feed(driver, &driver->conns[index], now_ns);
    }
    now_ns = driver_now_ns();
    driver->results->elapsed_s = (double)(now_ns - driver->start_ns) / 1e9;
    /* The last, partial interval: scaled as if a full one, marked by its start. */
    if (driver->interval_achieved > 0 || driver->interval_offered > 0)
        driver_close_interval(driver, now_ns);
    io_uring_queue_exit(&driver->ring);
    return result;
}

/* ---- UDP --------------------------------------------------------------- */

static int driver_udp_run(struct driver *driver)
{
    const struct mp_driver_options *options = driver->options;
    int fd = mp_bench_util_connect(options->host, options->port, SOCK_DGRAM);
    if (fd < 0)
        return driver_fail(driver, fd, "cannot open a UDP socket to the server");
    char *datagram = malloc(MP_DRIVER_DATAGRAM_SIZE_MAX + MP_GEN_LINE_SIZE_MAX);
    if (datagram == NULL) {
        close(fd);
        return -ENOMEM;
    }
    double rate = options->rate_eps > 0 ? options->rate_eps : MP_DRIVER_UDP_RATE_DEFAULT;
    int64_t now_ns = driver_now_ns();
    driver->start_ns = now_ns;
    driver->next_intended_ns = now_ns;
    driver->next_interval_ns = now_ns + (int64_t)MP_RESULTS_INTERVAL_MS * 1000000;
    int result = 0;
    size_t pending = 0;
    uint32_t pending_events = 0;
    while (result == 0) {
        now_ns = driver_now_ns();
        driver_tick(driver, now_ns);
        if (options->duration_s > 0 &&
            (double)(now_ns - driver->start_ns) / 1e9 >= options->duration_s)
            break;
        if (driver->next_intended_ns > now_ns) {
            int64_t wait_ns = driver->next_intended_ns - now_ns;
            struct timespec pause = {wait_ns / 1000000000, wait_ns % 1000000000};
            nanosleep(&pause, NULL);
            continue;
        }
        size_t size = 0;
        int next = mp_gen_next(driver->gen, datagram + pending, MP_GEN_LINE_SIZE_MAX, &size);
        if (next == 1) {
            pending += size;
            pending_events++;
            driver->results->events_sent++;
            driver->interval_offered++;
        }
        if (pending > 0 && (next == 0 || pending >= MP_DRIVER_DATAGRAM_SIZE_MAX - MP_GEN_LINE_SIZE_MAX / 4 ||
                            pending_events >= options->batch_events)) {
            if (send(fd, datagram, pending, 0) < 0 && errno != ENOBUFS && errno != ECONNREFUSED)
                result = driver_fail(driver, -errno, "sending a datagram failed");
            driver->results->requests_sent++;
            double elapsed_s = (double)(driver->next_intended_ns - driver->start_ns) / 1e9;
            driver->next_intended_ns += (int64_t)((double)pending_events /
                                                  (rate * mp_gen_burst_multiplier(options->burst, elapsed_s)) * 1e9);
            pending = 0;
            pending_events = 0;
        }
        if (next == 0)
            break;
    }
    now_ns = driver_now_ns();
    driver->results->elapsed_s = (double)(now_ns - driver->start_ns) / 1e9;
    if (driver->interval_offered > 0)
        driver_close_interval(driver, now_ns);
    free(datagram);
    close(fd);
    return result;
}

int mp_driver_run(const struct mp_driver_options *options, struct mp_gen *gen,
                  struct mp_results *results, char *message, size_t message_size)
{
    MP_ASSERT(options != NULL && gen != NULL && results != NULL);
    MP_ASSERT(options->kind != MP_DRIVER_INPROC);
    if (options->connections < 1 || options->connections > MP_DRIVER_CONNECTIONS_MAX ||
        options->pipeline_depth < 1 || options->pipeline_depth > MP_DRIVER_PIPELINE_MAX ||
        options->batch_events < 1 || options->batch_events > MP_DRIVER_BATCH_MAX) {
        snprintf(message, message_size, "connections, pipeline depth or batch out of range");
        return MP_EINVAL;
    }
    struct driver *driver = calloc(1, sizeof *driver);
    if (driver == NULL)
        return -ENOMEM;
    driver->options = options;
    driver->gen = gen;
    driver->results = results;
    driver->message = message;
    driver->message_size = message_size;
    if (options->server_pid > 0) {
        uint64_t rss = 0;
        if (mp_results_probe_process(options->server_pid, &driver->first_cpu_s, &rss) == 0)
            driver->have_cpu = true;
    }
    int result = options->kind == MP_DRIVER_UDP ? driver_udp_run(driver) : driver_stream_run(driver);
    if (options->progress)
        fputc('\n', stderr);
    if (driver->have_cpu) {
        double cpu_s = 0;
        uint64_t rss = 0;
        if (mp_results_probe_process(options->server_pid, &cpu_s, &rss) == 0) {
            results->server_cpu_s = cpu_s - driver->first_cpu_s;
            results->server_rss_bytes_end = rss;
            if (rss > results->server_rss_bytes_max)
                results->server_rss_bytes_max = rss;
        }
    }
    driver_free(driver);
    free(driver);
    return result;
}
