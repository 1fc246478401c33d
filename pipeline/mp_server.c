/*
 * `milepost serve`.  See mp_server.h for the contract; the sections below
 * follow an event through the server: types, listeners, connections and
 * output, HTTP, TCP NDJSON, UDP, routing to shards, the shard side and
 * completions, portal reads, metrics, the loop, start-up and shutdown.
 */
#include "mp_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mp_ack_window.h"
#include "mp_adapter.h"
#include "mp_assert.h"
#include "mp_commit.h"
#include "mp_config.h"
#include "mp_erp.h"
#include "mp_erp_jetstream.h"
#include "mp_erp_pull.h"
#include "mp_cpu.h"
#include "mp_histogram.h"
#include "mp_http.h"
#include "mp_json.h"
#include "mp_jsonw.h"
#include "mp_limits.h"
#include "mp_lookup.h"
#include "mp_record.h"
#include "mp_ring.h"
#include "mp_shard.h"
#include "mp_store.h"
#include "mp_time.h"
#include "mp_webhook_auth.h"

#if MP_HAVE_DPDK
#include "mp_dpdk.h"
#endif

/* ------------------------------------------------------------------------
 * Bounds
 * ---------------------------------------------------------------------- */

#define RECV_BUFFER_SIZE (16u << 10)
#define RECV_BUFFER_COUNT 512u              /* per core: 8 MiB of receive buffers */
#define RECV_BUFFER_GROUP 1
#define URING_ENTRIES 4096u
#define CQE_BATCH_MAX 256u
#define REQUESTS_PER_CONNECTION_MAX 32u      /* HTTP pipelining depth we hold */
#define OUTPUT_SIZE_MAX (16u << 20)          /* queued answer bytes per connection */
#define OUTPUT_PAUSE_SIZE (1u << 20)         /* stop reading a client that does not read */
#define INPUT_SLACK_SIZE (4u * RECV_BUFFER_SIZE)
#define TIMER_INTERVAL_MS 100
#define READER_THREADS 2
#define READ_JOBS_MAX 4096u
#define SHUTDOWN_DRAIN_MS_MAX 10000
#define RETRY_AFTER_SECONDS "1"
#define NO_ORIGIN UINT32_MAX
#define APPLY_BATCH_MAX 512u

_Static_assert(RECV_BUFFER_COUNT <= 32768, "a provided-buffer ring holds at most 32768");

/* ------------------------------------------------------------------------
 * Types
 * ---------------------------------------------------------------------- */

enum operation {
    OP_ACCEPT_HTTP = 1,
    OP_ACCEPT_TCP,
    OP_RECV,
    OP_SEND,
    OP_UDP_RECV,
    OP_WAKE,
    OP_TIMER,
    OP_CANCEL,
    OP_CLOSE,
};

/* user_data: operation (8 bits), connection index (24), generation (32). */
static uint64_t user_data(enum operation operation, uint32_t index, uint32_t generation)
{
    return ((uint64_t)operation << 56) | ((uint64_t)(index & 0xffffff) << 32) | generation;
}

enum completion_result {
    RESULT_ACCEPTED = 0,
    RESULT_DUPLICATE,
    RESULT_REJECTED,
    RESULT_FACTS,               /* a payload-facts event: counted neither way */
};

/* Where an event's answer goes. */
struct tag {
    uint32_t origin_core;       /* NO_ORIGIN: nobody waits (UDP) */
    uint32_t conn_index;
    uint32_t conn_generation;
    uint32_t request_id;        /* HTTP request, or TCP line number */
    uint32_t item_index;        /* the event's index in its request */
    uint32_t pad;
    int64_t received_us;        /* for the ack latency histogram */
};

struct routed_event {
    struct tag tag;
    struct mp_event event;
};

struct completion {
    struct tag tag;
    uint64_t generation;        /* durable once this is committed; 0: now */
    uint8_t result;             /* enum completion_result */
    uint8_t reject_code;        /* enum mp_reject_code, when rejected */
};

enum conn_kind { CONN_HTTP = 1, CONN_TCP };

enum request_state {
    REQUEST_EVENTS = 0,         /* waiting for its events' completions */
    REQUEST_READ,               /* waiting for a reader thread */
    REQUEST_READY,              /* its response is built */
};

/* One HTTP request between its arrival and its answer. */
struct request {
    struct request *next;
    uint32_t id;
    enum request_state state;
    bool keep_alive;
    bool head_only;
    uint32_t outstanding;
    uint32_t accepted;
    uint32_t duplicates;
    uint32_t reject_count;
    int status;                 /* for READY */
    char *rejects;              /* JSON array elements, comma-separated; kept for reuse */
    size_t rejects_size;
    size_t rejects_capacity;
    char *response;             /* the whole response; kept for reuse */
    size_t response_size;
    size_t response_capacity;
    int64_t started_us;
};

struct conn {
    int fd;
    uint32_t generation;
    uint8_t kind;
    bool open;
    bool recv_armed;
    bool recv_cancelled;
    bool send_in_flight;
    bool reading_closed;        /* no more input will be read */
    bool close_when_done;       /* close once the answers are out */
    bool closing;
    bool closed;                /* the close completed; a send is still out */
    bool resume_queued;         /* on the loop's resume list */
    int64_t last_activity_ms;
    int64_t request_started_ms; /* first byte of an unfinished request, 0 if none */
    int64_t body_started_ms;    /* its header completed, 0 if not yet */
    char *input;                /* bytes received and not yet consumed */
    size_t input_size;
    size_t input_capacity;
    char *output;
    size_t output_size;
    size_t output_sent;
    size_t output_capacity;
    char *output_pinned;        /* the buffer the send in flight reads: never moved or freed under it */
    struct mp_http_conn *http;
    struct request *requests;   /* FIFO, oldest first */
    struct request *requests_tail;
    uint32_t request_count;
    uint32_t next_request_id;
    /* TCP: lines read (numbered from 1), their settling, the last ack sent. */
    uint64_t tcp_next_line;
    struct mp_ack_window tcp_window;
    uint64_t tcp_acked;
    uint32_t free_next;
};

/* Counters of one loop; summed on read (STYLE.md "Metrics"). */
/*
 * Codes adapters could not map exactly, by (source, code): the label set
 * of milepost_adapter_unmapped_codes_total.  Bounded, since codes come
 * from senders: past UNMAPPED_LABELS_MAX distinct codes a loop counts
 * them under code="_other".  The loop appends; /metrics reads entries
 * below the published count.
 */
#define UNMAPPED_LABELS_MAX 64

struct unmapped_entry {
    uint8_t source;
    uint8_t code_size;
    char code[MP_ADAPTER_CODE_LABEL_SIZE_MAX];
    uint64_t total;
};

struct unmapped_counts {
    _Atomic uint32_t count;
    struct unmapped_entry entries[UNMAPPED_LABELS_MAX];
    uint64_t other[MP_SOURCE_COUNT];
};

static void unmapped_count(struct unmapped_counts *counts, enum mp_source source,
                           const char *code, size_t code_size)
{
    if (code_size > MP_ADAPTER_CODE_LABEL_SIZE_MAX)
        code_size = MP_ADAPTER_CODE_LABEL_SIZE_MAX;
    uint32_t count = atomic_load_explicit(&counts->count, memory_order_relaxed);
    for (uint32_t index = 0; index < count; index++) {
        struct unmapped_entry *entry = &counts->entries[index];
        if (entry->source == source && entry->code_size == code_size &&
            memcmp(entry->code, code, code_size) == 0) {
            entry->total++;
            return;
        }
    }
    if (count == UNMAPPED_LABELS_MAX) {
        counts->other[source]++;
        return;
    }
    struct unmapped_entry *entry = &counts->entries[count];
    entry->source = (uint8_t)source;
    entry->code_size = (uint8_t)code_size;
    memcpy(entry->code, code, code_size);
    entry->total = 1;
    atomic_store_explicit(&counts->count, count + 1, memory_order_release);
}

struct loop_counters {
    uint64_t connections_accepted;
    uint64_t connections_refused;
    uint64_t connections_open;
    uint64_t http_requests;
    uint64_t http_responses[6];         /* by status class 1xx..5xx, [0] unused */
    uint64_t http_overloaded;           /* 503s */
    uint64_t slow_client_cuts;
    uint64_t events_received;           /* parsed as events, before routing */
    uint64_t records_rejected[MP_REJECT_CODE_COUNT];
    uint64_t source_events[MP_SOURCE_COUNT];
    uint64_t tcp_lines;
    uint64_t tcp_acks;
    uint64_t tcp_pauses;
    uint64_t udp_datagrams;
    uint64_t udp_dropped_events;
    uint64_t ring_full_waits;
    uint64_t reads;
    uint64_t rejects_kept;              /* raw bytes stored in the rejects family */
    uint64_t rejects_not_kept;          /* over REJECTS_KEPT_PER_SECOND_MAX: counted only */
    struct mp_histogram ack_us;         /* the words above are summed; nothing below */
    struct unmapped_counts unmapped;
};

struct read_job;

struct loop {
    struct server *server;
    uint32_t index;
    pthread_t thread;
    bool started;
    struct io_uring uring;
    bool uring_ready;
    struct io_uring_buf_ring *buffer_ring;
    bool buffer_ring_registered;
    char *buffers;
    int http_fd, tcp_fd, udp_fd;
    int wake_fd;
    uint64_t wake_value;
    _Atomic bool sleeping;
    struct __kernel_timespec timer;
    bool timer_armed;
    bool accepting;

    struct conn *conns;
    uint32_t *resume;           /* connections whose held input may go on */
    uint32_t *resume_taken;     /* the list being worked through */
    uint32_t resume_count;
    uint32_t conn_count_max;
    uint32_t free_conn;
    uint32_t open_count;

    struct mp_shard *shard;
    struct mp_json_parser *parser;
    uint64_t generation_in_flight;
    int64_t last_duplicate_flush_ms;
    int64_t reject_window_s;    /* the second rejects_in_window counts */
    uint32_t rejects_in_window;

    /* Completions waiting for their generation to be committed. */
    struct completion *pending;
    uint32_t pending_capacity;
    uint32_t pending_head;
    uint32_t pending_count;

    /*
     * Requests are recycled, with their response and reject buffers, so a
     * warmed-up loop answers without allocating.
     */
    struct request *request_pool;
    char *scratch;              /* an answer's body being put together */
    size_t scratch_capacity;

    /* Reader results for this loop. */
    pthread_mutex_t results_lock;
    struct read_job *results;

    char udp_buffer[65536 + MP_JSON_PADDING];
    struct sockaddr_storage udp_peer;
    struct msghdr udp_message;
    struct iovec udp_vector;
    /* SO_RXQ_OVFL: the socket's count of datagrams the kernel dropped (buffer full). */
    char udp_control[CMSG_SPACE(sizeof(uint32_t))];
    uint32_t udp_kernel_drops;  /* the count last seen */

    char date[MP_HTTP_DATE_SIZE];
    int64_t date_second;
    _Atomic int64_t heartbeat_ms;
    _Atomic bool drained;
    struct loop_counters counters;
};

struct read_job {
    struct read_job *next;
    struct server *server;      /* ERP pull jobs: where erp_pull_done finds the loop */
    uint32_t loop_index;
    uint32_t conn_index;
    uint32_t conn_generation;
    uint32_t request_id;
    bool by_number;             /* ?tracking_number=T: every carrier */
    bool timeline;
    char code[MP_CARRIER_SIZE_MAX];
    size_t code_size;
    char number[MP_TRACKING_NUMBER_SIZE_MAX];
    size_t number_size;
    int status;                 /* result */
    char *body;                 /* result (malloc) */
    size_t body_size;
};

struct server {
    const struct mp_server_config *config;
    uint32_t core_count;
    struct loop *loops;
    struct mp_ring **event_rings;       /* [from * cores + to] */
    struct mp_ring **completion_rings;  /* [from * cores + to] */
    struct mp_store *store;
    struct mp_commit *commit;
    struct mp_erp_pull *erp_pull;       /* erp.mode pull: the lease queue; else NULL */
    struct mp_erp *erp_sender;          /* erp.mode push or jetstream: the sender; else NULL */
    struct mp_erp_filter erp_filter;    /* which accepted events fire confirmations */
    struct mp_webhook_auth *webhook_auth; /* per-source signatures and credentials */
    _Atomic bool stopping;              /* stop taking input */
    _Atomic bool finishing;             /* everything answered: final flush and exit */
    _Atomic int fatal_error;

    pthread_t readers[READER_THREADS];
    uint32_t reader_count;
    pthread_mutex_t jobs_lock;
    pthread_cond_t jobs_ready;
    struct read_job *jobs;
    struct read_job *jobs_tail;
    uint32_t job_count;
    bool readers_stopping;

    char listen_line[512];
    int64_t started_ms;

    /*
     * The DPDK port (docs/dpdk.md): its lcore is one more producer, with
     * a ring to each shard; the shards drain them like the others.
     */
    struct mp_ring *dpdk_rings[MP_CORES_MAX];
    bool dpdk_wake[MP_CORES_MAX];       /* written by the DPDK lcore only */
    void *dpdk;                          /* struct mp_dpdk * */
};

/* ------------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------- */

static int64_t monotonic_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static int64_t monotonic_ms(void)
{
    return monotonic_us() / 1000;
}

/* A log line: level, source, message, then key=value pairs (STYLE.md). */
static void log_line(const char *level, const char *source, const char *format, ...)
{
    char text[512];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(text, sizeof text, format, arguments);
    va_end(arguments);
    fprintf(stderr, "%s %s %s\n", level, source, text);
}

static void wake_loop(struct loop *loop)
{
    uint64_t one = 1;
    ssize_t written = write(loop->wake_fd, &one, sizeof one);
    (void)written; /* a full eventfd counter still wakes the reader */
}

/* Wakes a loop only when it may be asleep (it checks its rings after saying so). */
static void nudge_loop(struct loop *loop)
{
    if (atomic_load(&loop->sleeping))
        wake_loop(loop);
}

static struct io_uring_sqe *get_sqe(struct loop *loop)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->uring);
    if (!sqe) {
        /* The submission queue is full: hand it to the kernel and go on. */
        io_uring_submit(&loop->uring);
        sqe = io_uring_get_sqe(&loop->uring);
    }
    MP_ASSERT(sqe != NULL);
    return sqe;
}

/* ------------------------------------------------------------------------
 * Listeners
 * ---------------------------------------------------------------------- */

static int open_socket(const struct mp_options_address *address, int type, uint16_t port,
                       bool shared, struct sockaddr_storage *bound, socklen_t *bound_size)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = type, .ai_flags = AI_NUMERICHOST | AI_PASSIVE};
    struct addrinfo *found = NULL;
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    int status = getaddrinfo(address->host[0] ? address->host : NULL, service, &hints, &found);
    if (status != 0) {
        hints.ai_flags = AI_PASSIVE;
        status = getaddrinfo(address->host, service, &hints, &found);
        if (status != 0)
            return -EADDRNOTAVAIL;
    }
    int fd = socket(found->ai_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        int error = -errno;
        freeaddrinfo(found);
        return error;
    }
    int one = 1;
    /* TCP: past TIME_WAIT only; on UDP it would let others bind the port too. */
    if (type == SOCK_STREAM)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (shared)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    /* Datagrams the kernel drops (receive buffer full) are counted too. */
    if (type == SOCK_DGRAM && shared)
        setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
    if (bind(fd, found->ai_addr, found->ai_addrlen) != 0 ||
        (type == SOCK_STREAM && shared && listen(fd, 4096) != 0)) {
        int error = -errno;
        close(fd);
        freeaddrinfo(found);
        return error;
    }
    freeaddrinfo(found);
    *bound_size = sizeof *bound;
    getsockname(fd, (struct sockaddr *)bound, bound_size);
    return fd;
}

static uint16_t port_of(const struct sockaddr_storage *address)
{
    if (address->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)address)->sin6_port);
    return ntohs(((const struct sockaddr_in *)address)->sin_port);
}

static int listen_failed(char *message, size_t message_size, const char *name,
                         const struct mp_options_address *address, uint16_t port, int error)
{
    snprintf(message, message_size, "cannot listen for %s on %s:%u: %s; pick another address with --%s",
             name, address->host, port, mp_strerror(error), name);
    return error;
}

/*
 * One socket per core per protocol, all bound to the same port with
 * SO_REUSEPORT so the kernel spreads connections and datagrams over the
 * cores.  Port 0: the first bind picks the port, the others reuse it.
 */
static int open_listeners(struct server *server, char *message, size_t message_size)
{
    const struct mp_server_config *config = server->config;
    const struct mp_options_address *addresses[3] = {&config->http, &config->tcp, &config->udp};
    static const char *const names[3] = {"http", "tcp", "udp"};
    uint16_t ports[3];
    for (int which = 0; which < 3; which++) {
        uint16_t port = addresses[which]->port;
        /*
         * SO_REUSEPORT would let any process of this user bind the port
         * beside us (another milepost, say) and take part of the traffic.
         * So first bind once without it: that fails when anyone holds the
         * port, and for port 0 picks one nobody holds.
         */
        struct sockaddr_storage probed;
        socklen_t probed_size;
        int probe = open_socket(addresses[which], which == 2 ? SOCK_DGRAM : SOCK_STREAM, port,
                                false, &probed, &probed_size);
        if (probe < 0)
            return listen_failed(message, message_size, names[which], addresses[which], port, probe);
        port = port_of(&probed);
        close(probe);
        for (uint32_t core = 0; core < server->core_count; core++) {
            struct sockaddr_storage bound;
            socklen_t bound_size;
            int fd = open_socket(addresses[which], which == 2 ? SOCK_DGRAM : SOCK_STREAM, port,
                                 true, &bound, &bound_size);
            if (fd < 0)
                return listen_failed(message, message_size, names[which], addresses[which], port,
                                     fd);
            port = port_of(&bound);
            struct loop *loop = &server->loops[core];
            if (which == 0)
                loop->http_fd = fd;
            else if (which == 1)
                loop->tcp_fd = fd;
            else
                loop->udp_fd = fd;
        }
        ports[which] = port;
    }
    snprintf(server->listen_line, sizeof server->listen_line,
             "listening http=%s:%u tcp=%s:%u udp=%s:%u", config->http.host, ports[0],
             config->tcp.host, ports[1], config->udp.host, ports[2]);
    return 0;
}

/* ------------------------------------------------------------------------
 * Connections and output
 * ---------------------------------------------------------------------- */

static struct conn *conn_at(struct loop *loop, uint32_t index, uint32_t generation)
{
    if (index >= loop->conn_count_max)
        return NULL;
    struct conn *conn = &loop->conns[index];
    return conn->open && conn->generation == generation ? conn : NULL;
}

static uint32_t conn_index(const struct loop *loop, const struct conn *conn)
{
    return (uint32_t)(conn - loop->conns);
}

static bool reserve(char **buffer, size_t *capacity, size_t needed, size_t limit)
{
    if (needed <= *capacity)
        return true;
    if (needed > limit)
        return false;
    size_t grown = *capacity ? *capacity : 4096;
    while (grown < needed)
        grown *= 2;
    if (grown > limit)
        grown = limit;
    char *bytes = realloc(*buffer, grown);
    if (!bytes)
        return false;
    *buffer = bytes;
    *capacity = grown;
    return true;
}

static void close_conn(struct loop *loop, struct conn *conn);

static void start_send(struct loop *loop, struct conn *conn)
{
    if (conn->send_in_flight || conn->output_sent == conn->output_size || conn->closing)
        return;
    struct io_uring_sqe *sqe = get_sqe(loop);
    io_uring_prep_send(sqe, conn->fd, conn->output + conn->output_sent,
                       conn->output_size - conn->output_sent, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, user_data(OP_SEND, conn_index(loop, conn), conn->generation));
    conn->send_in_flight = true;
    conn->output_pinned = conn->output;
}

/* The send in flight completed: a buffer it kept alive may go. */
static void unpin_output(struct conn *conn)
{
    if (conn->output_pinned && conn->output_pinned != conn->output)
        free(conn->output_pinned);
    conn->output_pinned = NULL;
}

/*
 * Room for `needed` output bytes.  The kernel reads a send's bytes when it
 * runs the send, which may be long after the SQE was written (a full
 * socket buffer), so the pinned buffer is neither moved nor freed: output
 * grows into a new buffer and the pinned one goes in unpin_output().
 */
static bool reserve_output(struct conn *conn, size_t needed)
{
    if (needed <= conn->output_capacity)
        return true;
    if (!conn->send_in_flight || conn->output != conn->output_pinned)
        return reserve(&conn->output, &conn->output_capacity, needed, OUTPUT_SIZE_MAX);
    char *pinned = conn->output;
    size_t pinned_capacity = conn->output_capacity;
    conn->output = NULL;
    conn->output_capacity = 0;
    if (!reserve(&conn->output, &conn->output_capacity, needed, OUTPUT_SIZE_MAX)) {
        conn->output = pinned;
        conn->output_capacity = pinned_capacity;
        return false;
    }
    memcpy(conn->output, pinned, conn->output_size);
    return true;
}

/* Appends answer bytes; a client that lets OUTPUT_SIZE_MAX pile up is closed. */
static bool queue_output(struct loop *loop, struct conn *conn, const char *bytes, size_t size)
{
    if (conn->output_sent == conn->output_size) {
        conn->output_sent = conn->output_size = 0;
    } else if (conn->output_sent > conn->output_capacity / 2 && !conn->send_in_flight) {
        /* Not under a send in flight: it reads output + output_sent. */
        memmove(conn->output, conn->output + conn->output_sent,
                conn->output_size - conn->output_sent);
        conn->output_size -= conn->output_sent;
        conn->output_sent = 0;
    }
    if (!reserve_output(conn, conn->output_size + size)) {
        loop->counters.slow_client_cuts++;
        close_conn(loop, conn);
        return false;
    }
    memcpy(conn->output + conn->output_size, bytes, size);
    conn->output_size += size;
    start_send(loop, conn);
    return true;
}

static void arm_recv(struct loop *loop, struct conn *conn)
{
    if (conn->recv_armed || conn->reading_closed || conn->closing)
        return;
    struct io_uring_sqe *sqe = get_sqe(loop);
    io_uring_prep_recv_multishot(sqe, conn->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = RECV_BUFFER_GROUP;
    io_uring_sqe_set_data64(sqe, user_data(OP_RECV, conn_index(loop, conn), conn->generation));
    conn->recv_armed = true;
    conn->recv_cancelled = false;
}

/*
 * Stops the multishot receive, so the kernel's receive window fills and
 * the sender slows down (TCP backpressure).  arm_recv resumes.
 */
static void pause_recv(struct loop *loop, struct conn *conn)
{
    if (!conn->recv_armed || conn->recv_cancelled)
        return;
    struct io_uring_sqe *sqe = get_sqe(loop);
    io_uring_prep_cancel64(sqe, user_data(OP_RECV, conn_index(loop, conn), conn->generation), 0);
    io_uring_sqe_set_data64(sqe, user_data(OP_CANCEL, 0, 0));
    conn->recv_cancelled = true;
}

/* Takes a request back into the loop's pool, keeping its buffers. */
static void recycle_request(struct loop *loop, struct request *request)
{
    request->next = loop->request_pool;
    loop->request_pool = request;
}

/* Takes a request from the pool (or allocates one) and queues it on conn. */
static struct request *push_request(struct loop *loop, struct conn *conn)
{
    struct request *request = loop->request_pool;
    if (request) {
        loop->request_pool = request->next;
        struct request kept = *request;
        memset(request, 0, sizeof *request);
        request->rejects = kept.rejects;
        request->rejects_capacity = kept.rejects_capacity;
        request->response = kept.response;
        request->response_capacity = kept.response_capacity;
    } else {
        request = calloc(1, sizeof *request);
        if (!request)
            return NULL;
    }
    request->id = conn->next_request_id++;
    request->started_us = monotonic_us();
    if (conn->requests_tail)
        conn->requests_tail->next = request;
    else
        conn->requests = request;
    conn->requests_tail = request;
    conn->request_count++;
    return request;
}

static void free_requests(struct loop *loop, struct conn *conn)
{
    while (conn->requests) {
        struct request *request = conn->requests;
        conn->requests = request->next;
        recycle_request(loop, request);
    }
    conn->requests_tail = NULL;
    conn->request_count = 0;
}

static void close_conn(struct loop *loop, struct conn *conn)
{
    if (!conn->open || conn->closing)
        return;
    conn->closing = true;
    /* Cancel what is armed; the close completes after them. */
    struct io_uring_sqe *sqe = get_sqe(loop);
    io_uring_prep_cancel_fd(sqe, conn->fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, user_data(OP_CANCEL, 0, 0));
    sqe = get_sqe(loop);
    io_uring_prep_close(sqe, conn->fd);
    io_uring_sqe_set_data64(sqe, user_data(OP_CLOSE, conn_index(loop, conn), conn->generation));
}

/* Called when the close completed: the slot may be reused. */
static void release_conn(struct loop *loop, struct conn *conn)
{
    free_requests(loop, conn);
    mp_http_conn_destroy(conn->http);
    free(conn->input);
    unpin_output(conn);
    free(conn->output);
    uint32_t generation = conn->generation + 1;
    memset(conn, 0, sizeof *conn);
    conn->generation = generation;
    conn->fd = -1;
    conn->free_next = loop->free_conn;
    loop->free_conn = conn_index(loop, conn);
    loop->open_count--;
    loop->counters.connections_open = loop->open_count;
}

static void accept_conn(struct loop *loop, int fd, enum conn_kind kind)
{
    const struct mp_server_config *config = loop->server->config;
    if (loop->free_conn == UINT32_MAX || atomic_load(&loop->server->stopping)) {
        loop->counters.connections_refused++;
        close(fd);
        return;
    }
    struct conn *conn = &loop->conns[loop->free_conn];
    loop->free_conn = conn->free_next;
    conn->fd = fd;
    conn->kind = (uint8_t)kind;
    conn->open = true;
    conn->last_activity_ms = monotonic_ms();
    if (kind == CONN_HTTP) {
        struct mp_http_limits limits = {config->limits.header_size_max, config->limits.body_size_max};
        if (mp_http_conn_create(&limits, &conn->http) != 0) {
            conn->open = false;
            conn->free_next = loop->free_conn;
            loop->free_conn = conn_index(loop, conn);
            loop->counters.connections_refused++;
            close(fd);
            return;
        }
    } else {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    loop->open_count++;
    loop->counters.connections_accepted++;
    loop->counters.connections_open = loop->open_count;
    arm_recv(loop, conn);
}

/* ------------------------------------------------------------------------
 * Routing events to their owner shards
 * ---------------------------------------------------------------------- */

static uint32_t owner_of(const struct server *server, uint64_t shipment_hash)
{
    return mp_shard_owner(shipment_hash, server->core_count);
}

static void pump(struct loop *loop);

/* True when a request of `count` events may start without waiting long. */
/* Confirmations waiting for the ERP: the outbox rows not yet settled. */
static uint64_t erp_backlog(const struct server *server)
{
    if (server->erp_sender)
        return mp_erp_backlog(server->erp_sender);
    if (server->erp_pull)
        return mp_erp_pull_backlog(server->erp_pull);
    return 0;
}

/*
 * Whether this loop may take more input: its rings to the other shards
 * and its completion list have room, and the ERP is not so far behind
 * that the outbox passed erp.backlog_max (DESIGN.md "Overload": a full
 * outbox pushes back like full rings, no confirmation is dropped).
 */
static bool has_room(const struct loop *loop)
{
    const struct server *server = loop->server;
    if (erp_backlog(server) > server->config->erp.backlog_max)
        return false;
    for (uint32_t to = 0; to < server->core_count; to++) {
        if (to == loop->index)
            continue;
        const struct mp_ring *ring = server->event_rings[loop->index * server->core_count + to];
        if (mp_ring_count(ring) > mp_ring_capacity(ring) * 3 / 4)
            return false;
    }
    return loop->pending_count < loop->pending_capacity * 3 / 4;
}

static void apply_routed(struct loop *loop, const struct tag *tag, const struct mp_event *event);

/* Hands one event to its owner: applied here, or copied onto its ring. */
static void route(struct loop *loop, const struct tag *tag, const struct mp_event *event)
{
    struct server *server = loop->server;
    uint32_t owner = owner_of(server, event->shipment_hash);
    if (owner == loop->index) {
        apply_routed(loop, tag, event);
        return;
    }
    struct mp_ring *ring = server->event_rings[loop->index * server->core_count + owner];
    struct routed_event *slot;
    while (!(slot = mp_ring_reserve(ring))) {
        /* The owner is behind: do our own share of the work meanwhile. */
        loop->counters.ring_full_waits++;
        nudge_loop(&server->loops[owner]);
        pump(loop);
        if (atomic_load(&server->fatal_error))
            return;
        sched_yield();
    }
    slot->tag = *tag;
    mp_event_copy(&slot->event, event);
    mp_ring_publish(ring);
    nudge_loop(&server->loops[owner]);
}

/* ------------------------------------------------------------------------
 * The shard side: apply, completions, flush and commit
 * ---------------------------------------------------------------------- */

static void pending_push(struct loop *loop, const struct completion *completion)
{
    while (loop->pending_count == loop->pending_capacity) {
        /* Every slot waits for a commit: let one finish. */
        pump(loop);
        if (atomic_load(&loop->server->fatal_error))
            return;
        sched_yield();
    }
    uint32_t at = (loop->pending_head + loop->pending_count) % loop->pending_capacity;
    loop->pending[at] = *completion;
    loop->pending_count++;
}

static void fail_server(struct server *server, int error, const char *what)
{
    int expected = 0;
    if (atomic_compare_exchange_strong(&server->fatal_error, &expected, error ? error : -EIO)) {
        log_line("error", "pipeline.server", "%s: %s; stopping", what, mp_strerror(error));
        for (uint32_t index = 0; index < server->core_count; index++)
            wake_loop(&server->loops[index]);
    }
}

static void settle(struct loop *loop);

static void apply_routed(struct loop *loop, const struct tag *tag, const struct mp_event *event)
{
    struct server *server = loop->server;
    enum mp_record_result result;
    int error;
    for (;;) {
        error = mp_shard_apply(loop->shard, event, &result);
        if (error != MP_EFULL)
            break;
        /* Every cached record waits for a commit: wait for it. */
        if (loop->generation_in_flight)
            mp_commit_wait(server->commit, loop->index, loop->generation_in_flight);
        settle(loop);
        if (atomic_load(&server->fatal_error))
            return;
    }
    struct completion completion = {.tag = *tag, .generation = 0};
    if (error) {
        fail_server(server, error, "reading a shipment record");
        completion.result = RESULT_REJECTED;
        completion.reject_code = MP_REJECT_INTERNAL;
    } else if (result == MP_RECORD_FULL) {
        completion.result = RESULT_REJECTED;
        completion.reject_code = MP_REJECT_SHIPMENT_FULL;
    } else {
        completion.result = result == MP_RECORD_ACCEPTED    ? RESULT_ACCEPTED
                            : result == MP_RECORD_DUPLICATE ? RESULT_DUPLICATE
                                                            : RESULT_FACTS;
        /* Durable with the next flush (a duplicate: with whatever holds its original). */
        completion.generation = mp_shard_generation(loop->shard) + 1;
    }
    if (tag->origin_core != NO_ORIGIN)
        pending_push(loop, &completion);
}

static void deliver_completion(struct loop *loop, const struct completion *completion);

/* Sends released completions to the cores that wait for them. */
static bool release_completion(struct loop *loop, const struct completion *completion)
{
    struct server *server = loop->server;
    uint32_t origin = completion->tag.origin_core;
    if (origin == loop->index) {
        deliver_completion(loop, completion);
        return true;
    }
    struct mp_ring *ring = server->completion_rings[loop->index * server->core_count + origin];
    struct completion *slot = mp_ring_reserve(ring);
    if (!slot)
        return false;
    *slot = *completion;
    mp_ring_publish(ring);
    /* The origin may sleep: without this its answer waits for its next timer tick. */
    nudge_loop(&server->loops[origin]);
    return true;
}

static void flush_shard(struct loop *loop, bool with_duplicates)
{
    struct mp_store_batch *batch;
    uint64_t generation;
    int error = mp_shard_flush(loop->shard, with_duplicates, &batch, &generation);
    if (error) {
        fail_server(loop->server, error, "encoding a shard batch");
        return;
    }
    mp_commit_submit(loop->server->commit, loop->index, batch, generation);
    loop->generation_in_flight = generation;
}

/*
 * Takes note of commits, starts the next flush as soon as the previous
 * one is durable (so one fsync covers everything applied meanwhile), and
 * releases completions whose generation is durable.
 */
static void settle(struct loop *loop)
{
    struct server *server = loop->server;
    uint64_t committed = mp_commit_committed(server->commit, loop->index);
    if (loop->generation_in_flight && committed >= loop->generation_in_flight) {
        mp_shard_committed(loop->shard, loop->generation_in_flight);
        loop->generation_in_flight = 0;
    }
    int64_t now_ms = monotonic_ms();
    /* Duplicate counts ride along with changes when due, so steady load does not starve them. */
    bool duplicates_due = now_ms - loop->last_duplicate_flush_ms >=
                              server->config->pipeline.duplicate_flush_interval_ms ||
                          mp_shard_duplicates_due(loop->shard) || atomic_load(&server->finishing);
    if (!loop->generation_in_flight && !atomic_load(&server->fatal_error) &&
        mp_shard_has_changes(loop->shard, duplicates_due)) {
        flush_shard(loop, duplicates_due);
        if (duplicates_due)
            loop->last_duplicate_flush_ms = now_ms;
    }
    /* With nothing in flight and nothing new, everything applied is durable. */
    bool all_durable = !loop->generation_in_flight && !mp_shard_has_changes(loop->shard, false);
    uint64_t open_generation = mp_shard_generation(loop->shard) + 1;
    while (loop->pending_count) {
        struct completion *completion = &loop->pending[loop->pending_head];
        bool durable = completion->generation <= committed ||
                       (all_durable && completion->generation <= open_generation);
        if (!durable || !release_completion(loop, completion))
            break;
        loop->pending_head = (loop->pending_head + 1) % loop->pending_capacity;
        loop->pending_count--;
    }
}

/* Applies what other cores routed here, and takes their completions. */
static uint32_t drain_rings(struct loop *loop)
{
    struct server *server = loop->server;
    uint32_t work = 0;
    for (uint32_t from = 0; from < server->core_count; from++) {
        if (from == loop->index)
            continue;
        struct mp_ring *events = server->event_rings[from * server->core_count + loop->index];
        for (uint32_t taken = 0; taken < APPLY_BATCH_MAX; taken++) {
            if (loop->pending_count == loop->pending_capacity)
                break; /* backpressure: wait for commits first */
            struct routed_event *routed = mp_ring_peek(events);
            if (!routed)
                break;
            MP_ASSERT(owner_of(server, routed->event.shipment_hash) == loop->index);
            struct tag tag = routed->tag;
            apply_routed(loop, &tag, &routed->event);
            mp_ring_release(events);
            work++;
        }
        struct mp_ring *completions =
            server->completion_rings[from * server->core_count + loop->index];

        struct completion *completion;
        while ((completion = mp_ring_peek(completions))) {
            struct completion copy = *completion;
            mp_ring_release(completions);
            deliver_completion(loop, &copy);
            work++;
        }
    }
    struct mp_ring *dpdk = server->dpdk_rings[loop->index];
    for (uint32_t taken = 0; dpdk && taken < APPLY_BATCH_MAX; taken++) {
        struct routed_event *routed = mp_ring_peek(dpdk);
        if (!routed)
            break;
        struct tag tag = {.origin_core = NO_ORIGIN};
        apply_routed(loop, &tag, &routed->event);
        mp_ring_release(dpdk);
        work++;
    }
    return work;
}

/* One round of the work that needs no socket: rings, commits, completions. */
static void pump(struct loop *loop)
{
    drain_rings(loop);
    settle(loop);
}

/* ------------------------------------------------------------------------
 * HTTP: answers
 * ---------------------------------------------------------------------- */

static void count_status(struct loop *loop, int status)
{
    int class = status / 100;
    if (class >= 1 && class <= 5)
        loop->counters.http_responses[class]++;
}

/* Builds a complete response into the request's (reused) buffer. */
static void request_respond(struct loop *loop, struct request *request, int status,
                            const char *content_type, const char *body, size_t body_size,
                            const struct mp_http_header *extra, size_t extra_count)
{
    struct mp_http_header headers[4];
    size_t header_count = 0;
    headers[header_count++] = (struct mp_http_header){"Date", 4, loop->date, strlen(loop->date)};
    for (size_t index = 0; index < extra_count && header_count < 4; index++)
        headers[header_count++] = extra[index];
    size_t size = 0;
    if (!reserve(&request->response, &request->response_capacity, body_size + 512, SIZE_MAX) ||
        mp_http_write_head(request->response, request->response_capacity, status, content_type,
                           body_size, request->keep_alive, headers, header_count, &size) != 0) {
        request->response_size = 0;
        request->keep_alive = false;
        request->status = 500;
        request->state = REQUEST_READY;
        count_status(loop, 500);
        return;
    } else if (!request->head_only) {
        memcpy(request->response + size, body, body_size);
        size += body_size;
    }
    request->response_size = size;
    request->status = status;
    request->state = REQUEST_READY;
    count_status(loop, status);
}

static void request_respond_error(struct loop *loop, struct request *request, int status,
                                  const char *code, const char *message)
{
    char body[512];
    size_t size = 0;
    mp_http_error_body(body, sizeof body, code, message, &size);
    struct mp_http_header retry = {"Retry-After", 11, RETRY_AFTER_SECONDS, 1};
    request_respond(loop, request, status, "application/json", body, size, &retry,
                    status == 503 ? 1 : 0);
}

/* Sends every ready answer at the head of the queue, in request order. */
static void flush_answers(struct loop *loop, struct conn *conn)
{
    while (conn->requests && conn->requests->state == REQUEST_READY) {
        struct request *request = conn->requests;
        bool keep_alive = request->keep_alive;
        if (request->response_size)
            queue_output(loop, conn, request->response, request->response_size);
        else {
            static const char fallback[] =
                "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            queue_output(loop, conn, fallback, sizeof fallback - 1);
        }
        if (!conn->open || conn->closing)
            return;
        conn->requests = request->next;
        if (!conn->requests)
            conn->requests_tail = NULL;
        conn->request_count--;
        recycle_request(loop, request);
        if (!keep_alive) {
            conn->close_when_done = true;
            conn->reading_closed = true;
            free_requests(loop, conn);
        }
    }
}

static void finish_events_request(struct loop *loop, struct request *request)
{
    /* {"accepted":A,"duplicates":D,"rejected":[...]} */
    size_t capacity = request->rejects_size + 128;
    if (!reserve(&loop->scratch, &loop->scratch_capacity, capacity, SIZE_MAX)) {
        request_respond_error(loop, request, 500, "internal_error", "out of memory");
        return;
    }
    char *body = loop->scratch;
    int size = snprintf(body, capacity, "{\"accepted\":%u,\"duplicates\":%u,\"rejected\":[",
                        request->accepted, request->duplicates);
    if (request->rejects_size > 0)
        memcpy(body + size, request->rejects, request->rejects_size);
    size += (int)request->rejects_size;
    memcpy(body + size, "]}", 2);
    size += 2;
    request_respond(loop, request, 202, "application/json", body, (size_t)size, NULL, 0);
    mp_histogram_record(&loop->counters.ack_us, (uint64_t)(monotonic_us() - request->started_us));
}

static void request_add_reject(struct loop *loop, struct request *request, uint32_t index,
                               enum mp_reject_code code, const char *message)
{
    loop->counters.records_rejected[code]++;
    char entry[MP_ERROR_MESSAGE_SIZE_MAX * 2 + 96];
    struct mp_jsonw writer;
    mp_jsonw_init(&writer, entry, sizeof entry);
    mp_jsonw_object_begin(&writer);
    mp_jsonw_key(&writer, "index");
    mp_jsonw_uint(&writer, index);
    mp_jsonw_key(&writer, "error");
    mp_jsonw_cstring(&writer, mp_reject_code_name(code));
    mp_jsonw_key(&writer, "message");
    mp_jsonw_cstring(&writer, message);
    mp_jsonw_object_end(&writer);
    size_t size = 0;
    if (mp_jsonw_finish(&writer, &size) != 0)
        return;
    size_t needed = request->rejects_size + size + 1;
    if (!reserve(&request->rejects, &request->rejects_capacity, needed, SIZE_MAX))
        return;
    if (request->reject_count > 0)
        request->rejects[request->rejects_size++] = ',';
    memcpy(request->rejects + request->rejects_size, entry, size);
    request->rejects_size += size;
    request->reject_count++;
}

static struct request *find_request(struct conn *conn, uint32_t id)
{
    for (struct request *request = conn->requests; request; request = request->next) {
        if (request->id == id)
            return request;
    }
    return NULL;
}

static void tcp_write_ack(struct loop *loop, struct conn *conn);

/* A completion reached the core that received the event. */
static void deliver_completion(struct loop *loop, const struct completion *completion)
{
    struct conn *conn = conn_at(loop, completion->tag.conn_index, completion->tag.conn_generation);
    if (!conn || conn->closing)
        return; /* the client left; its events are durable all the same */
    if (completion->result == RESULT_REJECTED)
        loop->counters.records_rejected[completion->reject_code]++;
    if (conn->kind == CONN_TCP) {
        uint64_t line_number = mp_ack_window_line(&conn->tcp_window, completion->tag.request_id);
        if (completion->result == RESULT_REJECTED) {
            char line[256];
            int size = snprintf(line, sizeof line,
                                "{\"reject\":%llu,\"error\":\"%s\",\"message\":\"%s\"}\n",
                                (unsigned long long)line_number,
                                mp_reject_code_name(completion->reject_code),
                                completion->reject_code == MP_REJECT_SHIPMENT_FULL
                                    ? "the shipment keeps the most events a record may"
                                    : "the store failed; retry later");
            if (!queue_output(loop, conn, line, (size_t)size))
                return;
        }
        mp_histogram_record(&loop->counters.ack_us,
                            (uint64_t)(monotonic_us() - completion->tag.received_us));
        mp_ack_window_settle(&conn->tcp_window, line_number);
        tcp_write_ack(loop, conn);
        return;
    }
    struct request *request = find_request(conn, completion->tag.request_id);
    if (!request || request->state != REQUEST_EVENTS)
        return;
    if (completion->result == RESULT_ACCEPTED)
        request->accepted++;
    else if (completion->result == RESULT_DUPLICATE)
        request->duplicates++;
    else if (completion->result == RESULT_REJECTED)
        request_add_reject(loop, request, completion->tag.item_index,
                           completion->reject_code,
                           completion->reject_code == MP_REJECT_SHIPMENT_FULL
                               ? "the shipment keeps the most events a record may"
                               : "the store failed; retry later");
    MP_ASSERT(request->outstanding > 0);
    if (--request->outstanding == 0) {
        finish_events_request(loop, request);
        flush_answers(loop, conn);
    }
}

/* ------------------------------------------------------------------------
 * HTTP: requests
 * ---------------------------------------------------------------------- */

struct parse_context {
    struct loop *loop;
    struct conn *conn;
    struct request *request;
    uint32_t tcp_first_line;
    int64_t received_us;
    enum mp_source source;
};

/*
 * Rejects whose raw bytes one loop stores per second.  DESIGN.md wants a
 * rejected record's payload kept for inspection and replay; a sender
 * spraying garbage must not turn that into a disk-filling write path, so
 * past this rate rejects are answered and counted, not stored.
 */
#define REJECTS_KEPT_PER_SECOND_MAX 1000

/*
 * Keeps a rejected record's raw bytes (bounded by MP_REJECT_RAW_SIZE_MAX)
 * in the rejects family through this loop's own shard: they are written
 * with its next batch.  `milepost rejects list` shows them.
 */
static void keep_reject(struct loop *loop, enum mp_source source, uint32_t index,
                        enum mp_reject_code code, const char *message, const char *raw,
                        size_t raw_size)
{
    int64_t now_ms = mp_time_now_ms();
    if (now_ms / 1000 != loop->reject_window_s) {
        loop->reject_window_s = now_ms / 1000;
        loop->rejects_in_window = 0;
    }
    if (loop->rejects_in_window >= REJECTS_KEPT_PER_SECOND_MAX) {
        loop->counters.rejects_not_kept++;
        return;
    }
    loop->rejects_in_window++;
    loop->counters.rejects_kept++;
    mp_shard_add_reject(loop->shard, source, now_ms, index, code, message, raw, raw_size);
}

/* Counts an event a connection sent and routes it, its answer due back here. */
static void route_received(struct loop *loop, struct conn *conn, uint32_t request_id,
                           uint32_t item_index, int64_t received_us, const struct mp_event *event)
{
    loop->counters.events_received++;
    loop->counters.source_events[event->source]++;
    struct tag tag = {
        .origin_core = loop->index,
        .conn_index = conn_index(loop, conn),
        .conn_generation = conn->generation,
        .request_id = request_id,
        .item_index = item_index,
        .received_us = received_us,
    };
    route(loop, &tag, event);
}

static int http_on_event(void *context, uint32_t index, struct mp_event *event, const char *raw,
                         size_t raw_size)
{
    (void)raw;
    (void)raw_size;
    struct parse_context *parse = context;
    parse->request->outstanding++;
    route_received(parse->loop, parse->conn, parse->request->id, index, parse->received_us, event);
    return 0;
}

static int http_on_reject(void *context, uint32_t index, enum mp_reject_code code,
                          const char *message, const char *raw, size_t raw_size)
{
    struct parse_context *parse = context;
    request_add_reject(parse->loop, parse->request, index, code, message);
    keep_reject(parse->loop, parse->source, index, code, message, raw, raw_size);
    return 0;
}

static struct request *new_request(struct loop *loop, struct conn *conn,
                                   const struct mp_http_request *http)
{
    struct request *request = push_request(loop, conn);
    if (!request)
        return NULL;
    request->keep_alive = http->keep_alive && !atomic_load(&loop->server->stopping);
    request->head_only = http->method == MP_HTTP_METHOD_HEAD;
    loop->counters.http_requests++;
    return request;
}

/*
 * Checks a webhook's signature or credential over the raw body before
 * anything parses it.  Returns true to go on; false once it answered 401.
 */
static bool webhook_authenticate(struct loop *loop, struct request *request,
                                 const struct mp_http_request *http, enum mp_source source)
{
    char message[MP_ERROR_MESSAGE_SIZE_MAX];
    enum mp_webhook_auth_result result = mp_webhook_auth_verify(
        loop->server->webhook_auth, source, http, mp_time_now_ms(), message, sizeof message);
    if (mp_webhook_auth_accepted(result))
        return true;
    /* No side effect beyond the count: nothing parsed, nothing kept. */
    request_respond_error(loop, request, 401, "bad_signature", message);
    return false;
}

/* Counts a status code an adapter could only map to its parent or UNKNOWN. */
static void adapter_on_unmapped(void *context, enum mp_source source, const char *code,
                                size_t code_size)
{
    struct parse_context *parse = context;
    unmapped_count(&parse->loop->counters.unmapped, source, code, code_size);
}

/*
 * POST /v1/events (source canonical) and POST /v1/webhooks/{source}: the
 * body's events go to their shards; the answer waits for their commit.
 */
static void handle_post_events(struct loop *loop, struct conn *conn, struct request *request,
                               const struct mp_http_request *http, enum mp_source source)
{
    const struct mp_server_config *config = loop->server->config;
    if (http->body_size == 0) {
        request_respond_error(loop, request, 400, "bad_json", "the request body is empty");
        return;
    }
    if (!has_room(loop)) {
        loop->counters.http_overloaded++;
        request_respond_error(loop, request, 503, "overloaded",
                              "milepost is behind; retry after the Retry-After seconds");
        return;
    }
    enum mp_json_shape shape = MP_JSON_AUTO;
    if (http->content_type && http->content_type_size >= 20 &&
        strncasecmp(http->content_type, "application/x-ndjson", 20) == 0)
        shape = MP_JSON_NDJSON;
    struct parse_context parse = {loop, conn, request, 0, monotonic_us(), source};
    struct mp_json_sink sink = {http_on_event, http_on_reject, &parse};
    struct mp_json_summary summary;
    char message[MP_ERROR_MESSAGE_SIZE_MAX];
    request->state = REQUEST_EVENTS;
    /* Routing may pump the shard, which may complete this very request: hold it open. */
    request->outstanding++;
    int error;
    if (source == MP_SOURCE_CANONICAL)
        error = mp_json_parse_events(loop->parser, http->body, http->body_size,
                                     http->body_capacity, shape,
                                     config->limits.events_per_request_max, mp_time_now_ms(),
                                     &sink, &summary, message, sizeof message);
    else {
        struct mp_adapter_sink adapter_sink = {sink, adapter_on_unmapped};
        error = mp_adapter_parse(loop->parser, source, http->body, http->body_size,
                                 http->body_capacity, config->limits.events_per_request_max,
                                 mp_time_now_ms(), &adapter_sink, &summary, message,
                                 sizeof message);
    }
    request->outstanding--;
    if (error == MP_EPARSE) {
        MP_ASSERT(request->outstanding == 0);
        request_respond_error(loop, request, 400,
                              source == MP_SOURCE_CANONICAL ? "bad_json" : "not_source_shape",
                              message);
        /* The whole body is the rejected record (an authenticated one, for a webhook). */
        keep_reject(loop, source, 0,
                    source == MP_SOURCE_CANONICAL ? MP_REJECT_BAD_JSON : MP_REJECT_NOT_AN_EVENT,
                    message, http->body, http->body_size);
        return;
    }
    if (error == MP_ETOOBIG) {
        MP_ASSERT(request->outstanding == 0);
        request_respond_error(loop, request, 413, "too_big", message);
        return;
    }
    if (request->outstanding == 0)
        finish_events_request(loop, request);
}

/* Normalizes CARRIER and TRACKING into a read job. */
static bool job_key(struct read_job *job, const char *carrier, size_t carrier_size,
                    const char *number, size_t number_size)
{
    job->code_size = carrier ? mp_carrier_code(carrier, carrier_size, job->code, sizeof job->code) : 0;
    job->number_size = mp_tracking_number_normalize(number, number_size, job->number,
                                                    sizeof job->number);
    return job->number_size > 0 && (!carrier || job->code_size > 0) &&
           number_size <= MP_TRACKING_NUMBER_SIZE_MAX;
}

static void submit_read(struct loop *loop, struct conn *conn, struct request *request,
                        struct read_job *job)
{
    struct server *server = loop->server;
    job->loop_index = loop->index;
    job->conn_index = conn_index(loop, conn);
    job->conn_generation = conn->generation;
    job->request_id = request->id;
    request->state = REQUEST_READ;
    pthread_mutex_lock(&server->jobs_lock);
    if (server->job_count >= READ_JOBS_MAX) {
        pthread_mutex_unlock(&server->jobs_lock);
        free(job);
        loop->counters.http_overloaded++;
        request_respond_error(loop, request, 503, "overloaded", "too many reads are waiting");
        return;
    }
    job->next = NULL;
    if (server->jobs_tail)
        server->jobs_tail->next = job;
    else
        server->jobs = job;
    server->jobs_tail = job;
    server->job_count++;
    pthread_cond_signal(&server->jobs_ready);
    pthread_mutex_unlock(&server->jobs_lock);
    loop->counters.reads++;
}

/* ------------------------------------------------------------------------
 * ERP pull mode (mp_erp_pull.h): long polls and acks run on the pull
 * thread, never on a loop or a portal reader; answers come back like
 * portal reads, through the loop's results list.
 * ---------------------------------------------------------------------- */

static void erp_pull_done(void *context, int status, char *body, size_t body_size)
{
    struct read_job *job = context;
    job->status = status;
    job->body = body;
    job->body_size = body_size;
    struct loop *loop = &job->server->loops[job->loop_index];
    pthread_mutex_lock(&loop->results_lock);
    job->next = loop->results;
    loop->results = job;
    pthread_mutex_unlock(&loop->results_lock);
    wake_loop(loop);
}

/* A query parameter as a decimal number; absent: fallback.  False when malformed. */
static bool query_number(const struct mp_http_request *http, const char *name, uint32_t fallback,
                         uint32_t *out)
{
    char text[16];
    size_t size = 0;
    int error = mp_http_query_copy(http, name, text, sizeof text - 1, &size);
    if (error == MP_ENOTFOUND) {
        *out = fallback;
        return true;
    }
    if (error || size == 0 || size > 9)
        return false;
    uint32_t value = 0;
    for (size_t index = 0; index < size; index++) {
        if (text[index] < '0' || text[index] > '9')
            return false;
        value = value * 10 + (uint32_t)(text[index] - '0');
    }
    *out = value;
    return true;
}

static void handle_erp_pull(struct loop *loop, struct conn *conn, struct request *request,
                            const struct mp_http_request *http, const struct mp_http_slice *name)
{
    struct server *server = loop->server;
    bool confirmations = name->size == 13 && !memcmp(name->bytes, "confirmations", 13);
    bool ack = name->size == 3 && !memcmp(name->bytes, "ack", 3);
    bool get = http->method == MP_HTTP_METHOD_GET;
    uint32_t max = 0, wait_ms = 0;
    if (!confirmations && !ack) {
        request_respond_error(loop, request, 404, "not_found", "no such path");
        return;
    } else if (!server->erp_pull) {
        request_respond_error(loop, request, 404, "not_in_pull_mode",
                              "ERP delivery is not in pull mode (erp.mode is push or jetstream)");
        return;
    } else if (confirmations && !get) {
        request_respond_error(loop, request, 405, "method_not_allowed", "use GET");
        return;
    } else if (ack && http->method != MP_HTTP_METHOD_POST) {
        request_respond_error(loop, request, 405, "method_not_allowed", "use POST");
        return;
    } else if (confirmations &&
               (!query_number(http, "max", MP_ERP_PULL_FETCH_DEFAULT, &max) || max == 0 ||
                !query_number(http, "wait_ms", 0, &wait_ms))) {
        request_respond_error(loop, request, 400, "bad_request",
                              "max must be a whole number from 1 and wait_ms a whole number "
                              "of milliseconds");
        return;
    }
    struct read_job *job = calloc(1, sizeof *job);
    if (!job) {
        request_respond_error(loop, request, 500, "internal_error", "out of memory");
        return;
    }
    job->server = server;
    job->loop_index = loop->index;
    job->conn_index = conn_index(loop, conn);
    job->conn_generation = conn->generation;
    job->request_id = request->id;
    request->state = REQUEST_READ;
    if (confirmations)
        mp_erp_pull_fetch(server->erp_pull, max, wait_ms, erp_pull_done, job);
    else
        mp_erp_pull_ack(server->erp_pull, http->body, http->body_size, erp_pull_done, job);
}

static void write_metrics(struct loop *loop, FILE *out);

static void handle_request(struct loop *loop, struct conn *conn, const struct mp_http_request *http)
{
    struct request *request = new_request(loop, conn, http);
    if (!request) {
        close_conn(loop, conn);
        return;
    }
    struct mp_http_slice segments[MP_HTTP_PATH_SEGMENTS_MAX];
    uint32_t segment_count = 0;
    int split = mp_http_path_split(http->path, http->path_size, segments, MP_HTTP_PATH_SEGMENTS_MAX,
                                   &segment_count);
    bool get = http->method == MP_HTTP_METHOD_GET || http->method == MP_HTTP_METHOD_HEAD;
    bool post = http->method == MP_HTTP_METHOD_POST;
#define SEGMENT_IS(index, text)                                                                 \
    (segments[index].size == sizeof(text) - 1 &&                                               \
     memcmp(segments[index].bytes, text, sizeof(text) - 1) == 0)
    if (split != 0) {
        request_respond_error(loop, request, 404, "not_found", "no such path");
    } else if (segment_count == 2 && SEGMENT_IS(0, "v1") && SEGMENT_IS(1, "events")) {
        if (post)
            handle_post_events(loop, conn, request, http, MP_SOURCE_CANONICAL);
        else
            request_respond_error(loop, request, 405, "method_not_allowed", "use POST");
    } else if (segment_count == 3 && SEGMENT_IS(0, "v1") && SEGMENT_IS(1, "webhooks")) {
        int source = mp_source_from_name(segments[2].bytes, segments[2].size);
        if (source < 0 || source == MP_SOURCE_CANONICAL)
            request_respond_error(loop, request, 404, "unknown_source",
                                  "no webhook source of that name (easypost, aftership, shippo, "
                                  "shipengine, ups, fedex, dhl, 17track)");
        else if (!post)
            request_respond_error(loop, request, 405, "method_not_allowed", "use POST");
        else if (webhook_authenticate(loop, request, http, (enum mp_source)source))
            handle_post_events(loop, conn, request, http, (enum mp_source)source);
    } else if (get && segment_count == 4 && SEGMENT_IS(0, "v1") && SEGMENT_IS(1, "shipments")) {
        struct read_job *job = calloc(1, sizeof *job);
        char carrier[MP_CARRIER_SIZE_MAX * 3], number[MP_TRACKING_NUMBER_SIZE_MAX * 3];
        size_t carrier_size = 0, number_size = 0;
        char flag[8];
        size_t flag_size = 0;
        if (job && mp_http_query_copy(http, "timeline", flag, sizeof flag, &flag_size) == 0)
            job->timeline = flag_size == 4 && memcmp(flag, "true", 4) == 0;
        if (!job || mp_http_percent_decode(segments[2].bytes, segments[2].size, false, carrier,
                                           sizeof carrier, &carrier_size) != 0 ||
            mp_http_percent_decode(segments[3].bytes, segments[3].size, false, number,
                                   sizeof number, &number_size) != 0 ||
            !job_key(job, carrier, carrier_size, number, number_size)) {
            free(job);
            request_respond_error(loop, request, 404, "not_found", "no such shipment");
        } else
            submit_read(loop, conn, request, job);
    } else if (get && segment_count == 2 && SEGMENT_IS(0, "v1") && SEGMENT_IS(1, "shipments")) {
        struct read_job *job = calloc(1, sizeof *job);
        char number[MP_TRACKING_NUMBER_SIZE_MAX * 3];
        size_t number_size = 0;
        if (!job || mp_http_query_copy(http, "tracking_number", number, sizeof number,
                                       &number_size) != 0 ||
            !job_key(job, NULL, 0, number, number_size)) {
            free(job);
            request_respond_error(loop, request, 400, "bad_request",
                                  "give ?tracking_number=T (at most 64 characters)");
        } else {
            job->by_number = true;
            submit_read(loop, conn, request, job);
        }
    } else if (get && segment_count == 1 && SEGMENT_IS(0, "metrics")) {
        char *text = NULL;
        size_t size = 0;
        FILE *out = open_memstream(&text, &size);
        if (out) {
            write_metrics(loop, out);
            fclose(out);
            request_respond(loop, request, 200, "text/plain; version=0.0.4", text, size, NULL, 0);
            free(text);
        } else
            request_respond_error(loop, request, 500, "internal_error", "out of memory");
    } else if (get && segment_count == 1 && SEGMENT_IS(0, "healthz")) {
        struct server *server = loop->server;
        int64_t now_ms = monotonic_ms();
        bool healthy = !atomic_load(&server->fatal_error);
        for (uint32_t index = 0; index < server->core_count; index++)
            healthy = healthy && now_ms - atomic_load(&server->loops[index].heartbeat_ms) < 5000;
        if (healthy)
            request_respond(loop, request, 200, "text/plain", "ok\n", 3, NULL, 0);
        else
            request_respond_error(loop, request, 503, "unhealthy",
                                  "a core loop is stuck or the store failed");
    } else if ((segment_count == 3 && SEGMENT_IS(0, "v1") && SEGMENT_IS(1, "erp")) ) {
        handle_erp_pull(loop, conn, request, http, &segments[2]);
    } else {
        request_respond_error(loop, request, 404, "not_found", "no such path");
    }
#undef SEGMENT_IS
    flush_answers(loop, conn);
}

static void http_input(struct loop *loop, struct conn *conn)
{
    size_t offset = 0;
    while (conn->open && !conn->closing && !conn->reading_closed) {
        if (conn->request_count >= REQUESTS_PER_CONNECTION_MAX)
            break; /* answer the ones we hold first */
        size_t consumed = 0;
        int result = mp_http_feed(conn->http, conn->input + offset, conn->input_size - offset,
                                  &consumed);
        offset += consumed;
        if (mp_http_conn_take_continue(conn->http))
            queue_output(loop, conn, MP_HTTP_CONTINUE_RESPONSE,
                         sizeof MP_HTTP_CONTINUE_RESPONSE - 1);
        if (result == 1) {
            conn->request_started_ms = 0;
            conn->body_started_ms = 0;
            handle_request(loop, conn, mp_http_conn_request(conn->http));
            continue;
        }
        if (result < 0) {
            const struct mp_http_error *error = mp_http_conn_error(conn->http);
            struct request *request = push_request(loop, conn);
            if (!request) {
                close_conn(loop, conn);
                return;
            }
            request_respond_error(loop, request, error->status, error->code, error->message);
            conn->reading_closed = true;
            flush_answers(loop, conn);
            conn->close_when_done = true;
            offset = conn->input_size;
            break;
        }
        /* Needs more bytes: time the header phase, then the body phase. */
        if (conn->input_size > offset || consumed > 0) {
            int64_t now_ms = monotonic_ms();
            if (!conn->request_started_ms)
                conn->request_started_ms = now_ms;
            if (!conn->body_started_ms && mp_http_conn_in_body(conn->http))
                conn->body_started_ms = now_ms;
        }
        break;
    }
    if (offset > 0) {
        memmove(conn->input, conn->input + offset, conn->input_size - offset);
        conn->input_size -= offset;
    }
}

/* ------------------------------------------------------------------------
 * TCP NDJSON
 * ---------------------------------------------------------------------- */

static void tcp_write_ack(struct loop *loop, struct conn *conn)
{
    if (conn->tcp_window.settled == conn->tcp_acked)
        return;
    char line[48];
    int size = snprintf(line, sizeof line, "{\"ack\":%llu}\n",
                        (unsigned long long)conn->tcp_window.settled);
    if (queue_output(loop, conn, line, (size_t)size)) {
        conn->tcp_acked = conn->tcp_window.settled;
        loop->counters.tcp_acks++;
    }
}

struct tcp_line_context {
    struct loop *loop;
    struct conn *conn;
    uint64_t line;
    int64_t received_us;
};

static int tcp_on_event(void *context, uint32_t index, struct mp_event *event, const char *raw,
                        size_t raw_size)
{
    (void)index;
    (void)raw;
    (void)raw_size;
    struct tcp_line_context *line = context;
    route_received(line->loop, line->conn, (uint32_t)line->line, 0, line->received_us, event);
    return 0;
}

static int tcp_on_reject(void *context, uint32_t index, enum mp_reject_code code,
                         const char *message, const char *raw, size_t raw_size)
{
    (void)index;
    struct tcp_line_context *line = context;
    struct loop *loop = line->loop;
    loop->counters.records_rejected[code]++;
    keep_reject(loop, MP_SOURCE_CANONICAL, line->line, code, message, raw, raw_size);
    char text[MP_ERROR_MESSAGE_SIZE_MAX * 2 + 96];
    struct mp_jsonw writer;
    mp_jsonw_init(&writer, text, sizeof text - 1);
    mp_jsonw_object_begin(&writer);
    mp_jsonw_key(&writer, "reject");
    mp_jsonw_uint(&writer, line->line);
    mp_jsonw_key(&writer, "error");
    mp_jsonw_cstring(&writer, mp_reject_code_name(code));
    mp_jsonw_key(&writer, "message");
    mp_jsonw_cstring(&writer, message);
    mp_jsonw_object_end(&writer);
    size_t size = 0;
    if (mp_jsonw_finish(&writer, &size) == 0) {
        text[size++] = '\n';
        queue_output(loop, line->conn, text, size);
    }
    if (line->conn->open && !line->conn->closing)
        mp_ack_window_settle(&line->conn->tcp_window, line->line);
    return 0;
}

static void tcp_input(struct loop *loop, struct conn *conn)
{
    const struct mp_server_config *config = loop->server->config;
    size_t offset = 0;
    int64_t received_us = monotonic_us();
    while (conn->open && !conn->closing) {
        if (conn->tcp_next_line - conn->tcp_window.settled >= MP_ACK_WINDOW_LINES || !has_room(loop) ||
            conn->output_size - conn->output_sent > OUTPUT_PAUSE_SIZE)
            break; /* keep the rest until acks and rings catch up */
        char *start = conn->input + offset;
        char *newline = memchr(start, '\n', conn->input_size - offset);
        if (!newline) {
            if (conn->input_size - offset > config->limits.line_size_max) {
                /* A line over the limit: refuse it and what follows; the stream cannot resync. */
                char text[160];
                int size = snprintf(text, sizeof text,
                                    "{\"reject\":%llu,\"error\":\"too_big\",\"message\":\"the line is "
                                    "over %u bytes; the connection closes\"}\n",
                                    (unsigned long long)(conn->tcp_next_line + 1),
                                    config->limits.line_size_max);
                queue_output(loop, conn, text, (size_t)size);
                loop->counters.records_rejected[MP_REJECT_TOO_BIG]++;
                conn->reading_closed = true;
                conn->close_when_done = true;
                offset = conn->input_size;
            }
            break;
        }
        uint64_t line = ++conn->tcp_next_line;
        loop->counters.tcp_lines++;
        size_t size = (size_t)(newline - start);
        size_t content = size;
        while (content > 0 && (start[content - 1] == '\r' || start[content - 1] == ' ' ||
                               start[content - 1] == '\t'))
            content--;
        if (content == 0) {
            mp_ack_window_settle(&conn->tcp_window, line); /* empty lines count and are ignored */
        } else {
            struct tcp_line_context context = {loop, conn, line, received_us};
            struct mp_json_sink sink = {tcp_on_event, tcp_on_reject, &context};
            struct mp_json_summary summary;
            char message[MP_ERROR_MESSAGE_SIZE_MAX];
            /* The newline after the line is the whitespace the shim parses in place. */
            size_t capacity = conn->input_capacity - (size_t)(start - conn->input);
            int error = mp_json_parse_events(loop->parser, start, content, capacity,
                                             MP_JSON_NDJSON, 1, mp_time_now_ms(), &sink, &summary,
                                             message, sizeof message);
            if (error == MP_EPARSE)
                tcp_on_reject(&context, 0, MP_REJECT_BAD_JSON, "the line is not valid JSON",
                              start, content);
            else if (error == MP_ETOOBIG)
                tcp_on_reject(&context, 0, MP_REJECT_TOO_BIG, message, start, content);
        }
        offset += size + 1;
    }
    if (offset > 0 && conn->open) {
        memmove(conn->input, conn->input + offset, conn->input_size - offset);
        conn->input_size -= offset;
    }
    if (conn->open && !conn->closing)
        tcp_write_ack(loop, conn);
}

/* ------------------------------------------------------------------------
 * Input: receive completions, backpressure
 * ---------------------------------------------------------------------- */

/* Input stopped for room (rings, acks, answers): look again next round. */
static void queue_resume(struct loop *loop, struct conn *conn)
{
    if (conn->resume_queued)
        return;
    MP_ASSERT(loop->resume_count < loop->conn_count_max);
    conn->resume_queued = true;
    loop->resume[loop->resume_count++] = conn_index(loop, conn);
}

/*
 * TCP: every line received is parsed and settled, so a closing stream has
 * its acks for all of them (a last line without its newline is dropped).
 */
static bool tcp_all_settled(const struct conn *conn)
{
    return conn->tcp_window.settled == conn->tcp_next_line &&
           (conn->input_size == 0 || !memchr(conn->input, '\n', conn->input_size));
}

static void process_input(struct loop *loop, struct conn *conn)
{
    if (conn->kind == CONN_HTTP)
        http_input(loop, conn);
    else
        tcp_input(loop, conn);
    if (!conn->open || conn->closing)
        return;
    /* Pause reading while input waits (rings full, answers unread); resume when it is gone. */
    size_t limit = conn->kind == CONN_HTTP
                       ? loop->server->config->limits.header_size_max +
                             loop->server->config->limits.body_size_max
                       : loop->server->config->limits.line_size_max;
    /* TCP lines held when the client closed its side still get their acks. */
    if (conn->input_size > 0 && (!conn->reading_closed || conn->kind == CONN_TCP))
        queue_resume(loop, conn);
    bool backlog = conn->input_size > INPUT_SLACK_SIZE ||
                   conn->request_count >= REQUESTS_PER_CONNECTION_MAX ||
                   conn->output_size - conn->output_sent > OUTPUT_PAUSE_SIZE;
    if (backlog && conn->recv_armed && !conn->recv_cancelled) {
        if (conn->kind == CONN_TCP)
            loop->counters.tcp_pauses++;
        pause_recv(loop, conn);
    } else if (!backlog && !conn->recv_armed && !conn->reading_closed)
        arm_recv(loop, conn);
    (void)limit;
    if (conn->close_when_done && conn->output_sent == conn->output_size &&
        !conn->send_in_flight && !conn->requests &&
        (conn->kind != CONN_TCP || tcp_all_settled(conn)))
        close_conn(loop, conn);
}

static void on_recv(struct loop *loop, struct conn *conn, const struct io_uring_cqe *cqe)
{
    bool more = cqe->flags & IORING_CQE_F_MORE;
    if (!more)
        conn->recv_armed = false;
    if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
        uint32_t buffer_id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        const char *bytes = loop->buffers + (size_t)buffer_id * RECV_BUFFER_SIZE;
        size_t size = (size_t)cqe->res;
        /* A paused receive may still deliver every provided buffer of the
         * loop before the cancel lands: that is the slack a connection needs. */
        size_t limit = (conn->kind == CONN_HTTP
                            ? loop->server->config->limits.header_size_max +
                                  loop->server->config->limits.body_size_max
                            : loop->server->config->limits.line_size_max) +
                       (size_t)RECV_BUFFER_COUNT * RECV_BUFFER_SIZE + MP_JSON_PADDING;
        bool kept = reserve(&conn->input, &conn->input_capacity,
                            conn->input_size + size + MP_JSON_PADDING, limit);
        if (kept) {
            memcpy(conn->input + conn->input_size, bytes, size);
            conn->input_size += size;
        }
        io_uring_buf_ring_add(loop->buffer_ring, loop->buffers + (size_t)buffer_id * RECV_BUFFER_SIZE,
                              RECV_BUFFER_SIZE, (unsigned short)buffer_id,
                              io_uring_buf_ring_mask(RECV_BUFFER_COUNT), 0);
        io_uring_buf_ring_advance(loop->buffer_ring, 1);
        if (!kept) {
            close_conn(loop, conn);
            return;
        }
        conn->last_activity_ms = monotonic_ms();
        if (!conn->reading_closed)
            process_input(loop, conn);
        return;
    }
    if (cqe->res == -ENOBUFS) {
        /* Every receive buffer is queued in a connection: re-arm later. */
        conn->recv_armed = false;
        return;
    }
    if (cqe->res == -ECANCELED && conn->recv_cancelled) {
        conn->recv_armed = false;
        conn->recv_cancelled = false;
        process_input(loop, conn);
        return;
    }
    if (cqe->res <= 0 && !more) {
        /* End of stream or an error: answer what we hold, then close. */
        conn->reading_closed = true;
        conn->close_when_done = true;
        if (conn->kind == CONN_TCP) {
            tcp_input(loop, conn);
            tcp_write_ack(loop, conn);
        }
        if (conn->output_sent == conn->output_size && !conn->send_in_flight &&
            (conn->kind == CONN_TCP ? tcp_all_settled(conn) : !conn->requests))
            close_conn(loop, conn);
    }
}

static void on_send(struct loop *loop, struct conn *conn, const struct io_uring_cqe *cqe)
{
    conn->send_in_flight = false;
    unpin_output(conn);
    if (cqe->res < 0) {
        close_conn(loop, conn);
        return;
    }
    conn->output_sent += (size_t)cqe->res;
    conn->last_activity_ms = monotonic_ms();
    if (conn->output_sent < conn->output_size) {
        start_send(loop, conn);
        return;
    }
    if (conn->close_when_done && !conn->requests &&
        (conn->kind != CONN_TCP || tcp_all_settled(conn))) {
        close_conn(loop, conn);
        return;
    }
    /* Output drained: input held back for it may go on. */
    if (conn->input_size > 0 || !conn->recv_armed)
        process_input(loop, conn);
}

/* ------------------------------------------------------------------------
 * UDP
 * ---------------------------------------------------------------------- */

static void arm_udp(struct loop *loop)
{
    if (atomic_load(&loop->server->stopping))
        return;
    loop->udp_vector.iov_base = loop->udp_buffer;
    loop->udp_vector.iov_len = loop->server->config->limits.udp_datagram_size_max;
    memset(&loop->udp_message, 0, sizeof loop->udp_message);
    loop->udp_message.msg_iov = &loop->udp_vector;
    loop->udp_message.msg_iovlen = 1;
    loop->udp_message.msg_control = loop->udp_control;
    loop->udp_message.msg_controllen = sizeof loop->udp_control;
    struct io_uring_sqe *sqe = get_sqe(loop);
    io_uring_prep_recvmsg(sqe, loop->udp_fd, &loop->udp_message, 0);
    io_uring_sqe_set_data64(sqe, user_data(OP_UDP_RECV, 0, 0));
}

static int udp_on_event(void *context, uint32_t index, struct mp_event *event, const char *raw,
                        size_t raw_size)
{
    (void)index;
    (void)raw;
    (void)raw_size;
    struct loop *loop = context;
    loop->counters.events_received++;
    loop->counters.source_events[event->source]++;
    struct server *server = loop->server;
    uint32_t owner = owner_of(server, event->shipment_hash);
    struct tag tag = {.origin_core = NO_ORIGIN};
    if (owner == loop->index) {
        apply_routed(loop, &tag, event);
        return 0;
    }
    /* Datagrams are never waited for: a full ring drops, and counts. */
    struct mp_ring *ring = server->event_rings[loop->index * server->core_count + owner];
    struct routed_event *slot = mp_ring_reserve(ring);
    if (!slot) {
        loop->counters.udp_dropped_events++;
        return 0;
    }
    slot->tag = tag;
    mp_event_copy(&slot->event, event);
    mp_ring_publish(ring);
    nudge_loop(&server->loops[owner]);
    return 0;
}

static int udp_on_reject(void *context, uint32_t index, enum mp_reject_code code,
                         const char *message, const char *raw, size_t raw_size)
{
    struct loop *loop = context;
    loop->counters.records_rejected[code]++;
    keep_reject(loop, MP_SOURCE_CANONICAL, index, code, message, raw, raw_size);
    return 0;
}

static void on_udp(struct loop *loop, const struct io_uring_cqe *cqe)
{
    if (cqe->res > 0) {
        loop->counters.udp_datagrams++;
        for (struct cmsghdr *control = CMSG_FIRSTHDR(&loop->udp_message); control;
             control = CMSG_NXTHDR(&loop->udp_message, control)) {
            if (control->cmsg_level == SOL_SOCKET && control->cmsg_type == SO_RXQ_OVFL) {
                uint32_t drops;
                memcpy(&drops, CMSG_DATA(control), sizeof drops);
                loop->counters.udp_dropped_events += (uint32_t)(drops - loop->udp_kernel_drops);
                loop->udp_kernel_drops = drops;
            }
        }
        size_t size = (size_t)cqe->res;
        if (loop->udp_message.msg_flags & MSG_TRUNC)
            loop->counters.records_rejected[MP_REJECT_TOO_BIG]++;
        else if (!has_room(loop)) {
            loop->counters.udp_dropped_events++;
        } else {
            memset(loop->udp_buffer + size, 0, MP_JSON_PADDING);
            struct mp_json_sink sink = {udp_on_event, udp_on_reject, loop};
            struct mp_json_summary summary;
            char message[MP_ERROR_MESSAGE_SIZE_MAX];
            int error = mp_json_parse_events(loop->parser, loop->udp_buffer, size,
                                             size + MP_JSON_PADDING, MP_JSON_AUTO,
                                             loop->server->config->limits.events_per_request_max,
                                             mp_time_now_ms(), &sink, &summary, message,
                                             sizeof message);
            if (error == MP_EPARSE)
                loop->counters.records_rejected[MP_REJECT_BAD_JSON]++;
            else if (error == MP_ETOOBIG)
                loop->counters.records_rejected[MP_REJECT_TOO_BIG]++;
        }
    }
    arm_udp(loop);
}

/* ------------------------------------------------------------------------
 * Portal reads (reader threads)
 * ---------------------------------------------------------------------- */

static void run_read(struct server *server, struct read_job *job)
{
    struct mp_lookup_result result = {.count = 0};
    struct mp_record *record = NULL;
    int error = job->by_number
                    ? mp_lookup_by_number(server->store, NULL, 0, job->number, job->number_size,
                                          &result)
                    : mp_lookup_latest(server->store, job->code, job->code_size, job->number,
                                       job->number_size, &record);
    job->status = 500;
    if (error == MP_ENOTFOUND) {
        job->status = 404;
        job->body = strdup("{\"error\":\"not_found\",\"message\":\"no such shipment\"}");
    } else if (error) {
        job->body = strdup("{\"error\":\"store_error\",\"message\":\"the store could not be read\"}");
    } else if (job->by_number) {
        size_t capacity = MP_STATE_JSON_SIZE_MAX;
        job->body = malloc(capacity);
        size_t used = 0;
        if (job->body) {
            used += (size_t)snprintf(job->body, capacity, "{\"shipments\":[");
            for (uint32_t index = 0; index < result.count; index++) {
                size_t size = 0;
                if (index > 0)
                    job->body[used++] = ',';
                if (mp_record_write_state_json(result.records[index], false, job->body + used,
                                               capacity - used - 4, &size) == 0)
                    used += size;
            }
            memcpy(job->body + used, "]}", 2);
            used += 2;
            job->status = 200;
            job->body_size = used;
        }
    } else {
        job->body = malloc(MP_STATE_JSON_SIZE_MAX);
        if (job->body && mp_record_write_state_json(record, job->timeline, job->body,
                                                    MP_STATE_JSON_SIZE_MAX, &job->body_size) == 0)
            job->status = 200;
    }
    if (job->body && job->body_size == 0)
        job->body_size = strlen(job->body);
    mp_lookup_result_fini(&result);
    mp_record_destroy(record);
}

static void *reader_main(void *argument)
{
    struct server *server = argument;
    pthread_mutex_lock(&server->jobs_lock);
    for (;;) {
        while (!server->jobs && !server->readers_stopping)
            pthread_cond_wait(&server->jobs_ready, &server->jobs_lock);
        if (!server->jobs)
            break;
        struct read_job *job = server->jobs;
        server->jobs = job->next;
        if (!server->jobs)
            server->jobs_tail = NULL;
        server->job_count--;
        pthread_mutex_unlock(&server->jobs_lock);
        run_read(server, job);
        struct loop *loop = &server->loops[job->loop_index];
        pthread_mutex_lock(&loop->results_lock);
        job->next = loop->results;
        loop->results = job;
        pthread_mutex_unlock(&loop->results_lock);
        wake_loop(loop);
        pthread_mutex_lock(&server->jobs_lock);
    }
    pthread_mutex_unlock(&server->jobs_lock);
    return NULL;
}

static void take_read_results(struct loop *loop)
{
    pthread_mutex_lock(&loop->results_lock);
    struct read_job *job = loop->results;
    loop->results = NULL;
    pthread_mutex_unlock(&loop->results_lock);
    while (job) {
        struct read_job *next = job->next;
        struct conn *conn = conn_at(loop, job->conn_index, job->conn_generation);
        struct request *request = conn ? find_request(conn, job->request_id) : NULL;
        if (request && request->state == REQUEST_READ) {
            if (job->body)
                request_respond(loop, request, job->status, "application/json", job->body,
                                job->body_size, NULL, 0);
            else
                request_respond_error(loop, request, 500, "internal_error", "out of memory");
            flush_answers(loop, conn);
            if (conn->open && !conn->closing)
                process_input(loop, conn);
        }
        free(job->body);
        free(job);
        job = next;
    }
}

/* ------------------------------------------------------------------------
 * Metrics (Prometheus text)
 * ---------------------------------------------------------------------- */

static void write_dpdk_metrics(struct server *server, FILE *out);

/* Writes a label value with Prometheus's escapes; other control bytes become '?'. */
static void write_label_value(FILE *out, const char *bytes, size_t size)
{
    for (size_t index = 0; index < size; index++) {
        unsigned char c = (unsigned char)bytes[index];
        if (c == '\\' || c == '"')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else
            fputc(c < 0x20 || c == 0x7f ? '?' : c, out);
    }
}

/* The entry for (source, code) among a loop's published ones, or NULL. */
static const struct unmapped_entry *unmapped_find(const struct unmapped_counts *counts,
                                                  const struct unmapped_entry *like)
{
    uint32_t count = atomic_load_explicit(&counts->count, memory_order_acquire);
    for (uint32_t index = 0; index < count; index++) {
        const struct unmapped_entry *entry = &counts->entries[index];
        if (entry->source == like->source && entry->code_size == like->code_size &&
            memcmp(entry->code, like->code, like->code_size) == 0)
            return entry;
    }
    return NULL;
}

static void write_unmapped_metrics(struct server *server, FILE *out)
{
    fprintf(out, "# HELP milepost_adapter_unmapped_codes_total Source status codes mapped only "
                 "to their parent or UNKNOWN, by source and code (bounded: code=\"_other\" "
                 "past the label limit).\n"
                 "# TYPE milepost_adapter_unmapped_codes_total counter\n");
    uint64_t other[MP_SOURCE_COUNT] = {0};
    for (uint32_t index = 0; index < server->core_count; index++) {
        const struct unmapped_counts *counts = &server->loops[index].counters.unmapped;
        uint32_t count = atomic_load_explicit(&counts->count, memory_order_acquire);
        for (uint32_t at = 0; at < count; at++) {
            const struct unmapped_entry *entry = &counts->entries[at];
            /* Each (source, code) once: at the first loop that has it, summed over the rest. */
            bool seen = false;
            for (uint32_t before = 0; before < index && !seen; before++)
                seen = unmapped_find(&server->loops[before].counters.unmapped, entry) != NULL;
            if (seen)
                continue;
            uint64_t total = entry->total;
            for (uint32_t after = index + 1; after < server->core_count; after++) {
                const struct unmapped_entry *same =
                    unmapped_find(&server->loops[after].counters.unmapped, entry);
                total += same ? same->total : 0;
            }
            fprintf(out, "milepost_adapter_unmapped_codes_total{source=\"%s\",code=\"",
                    mp_source_name(entry->source));
            write_label_value(out, entry->code, entry->code_size);
            fprintf(out, "\"} %llu\n", (unsigned long long)total);
        }
        for (int source = 0; source < MP_SOURCE_COUNT; source++)
            other[source] += counts->other[source];
    }
    for (int source = 0; source < MP_SOURCE_COUNT; source++) {
        if (other[source])
            fprintf(out, "milepost_adapter_unmapped_codes_total{source=\"%s\",code=\"_other\"} %llu\n",
                    mp_source_name(source), (unsigned long long)other[source]);
    }
}

/* One family of milepost_webhook_auth_*: a series per (source, result). */
static void write_webhook_auth_family(struct server *server, FILE *out, const char *name,
                                      const char *help,
                                      const enum mp_webhook_auth_result *results,
                                      size_t result_count)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (int source = 1; source < MP_SOURCE_COUNT; source++) {
        for (size_t index = 0; index < result_count; index++)
            fprintf(out, "%s{source=\"%s\",result=\"%s\"} %llu\n", name,
                    mp_source_name(source), mp_webhook_auth_result_name(results[index]),
                    (unsigned long long)mp_webhook_auth_count(server->webhook_auth, source,
                                                              results[index]));
    }
}

static void write_webhook_auth_metrics(struct server *server, FILE *out)
{
    static const enum mp_webhook_auth_result failures[] = {
        MP_WEBHOOK_AUTH_MISSING, MP_WEBHOOK_AUTH_BAD, MP_WEBHOOK_AUTH_STALE};
    static const enum mp_webhook_auth_result passes[] = {MP_WEBHOOK_AUTH_OK,
                                                         MP_WEBHOOK_AUTH_UNSIGNED};
    write_webhook_auth_family(server, out, "milepost_webhook_auth_failures_total",
                              "Webhooks answered 401, by source and result (missing, bad, stale).",
                              failures, sizeof failures / sizeof failures[0]);
    write_webhook_auth_family(server, out, "milepost_webhook_auth_accepted_total",
                              "Webhooks let through, by source and result (ok: verified; "
                              "unsigned: the source has no secret configured).",
                              passes, sizeof passes / sizeof passes[0]);
}

static void write_metrics(struct loop *loop, FILE *out)
{
    struct server *server = loop->server;
    struct loop_counters total;
    memset(&total, 0, sizeof total);
    struct mp_shard_counters shards;
    memset(&shards, 0, sizeof shards);
    uint64_t ring_occupancy = 0;
    for (uint32_t index = 0; index < server->core_count; index++) {
        const struct loop_counters *counters = &server->loops[index].counters;
        const uint64_t *from = (const uint64_t *)counters;
        uint64_t *into = (uint64_t *)&total;
        size_t words = offsetof(struct loop_counters, ack_us) / sizeof(uint64_t);
        for (size_t word = 0; word < words; word++)
            into[word] += from[word];
        mp_histogram_merge(&total.ack_us, &counters->ack_us);
        const struct mp_shard_counters *shard = mp_shard_counters(server->loops[index].shard);
        shards.accepted += shard->accepted;
        shards.duplicates += shard->duplicates;
        shards.facts_taken += shard->facts_taken;
        shards.state_writes += shard->state_writes;
        shards.outbox += shard->outbox;
        shards.store_reads += shard->store_reads;
        shards.evictions += shard->evictions;
        for (uint32_t to = 0; to < server->core_count; to++) {
            if (to != index)
                ring_occupancy += mp_ring_count(server->event_rings[index * server->core_count + to]);
        }
    }
    struct mp_commit_counters *commit = malloc(sizeof *commit);
    if (commit)
        mp_commit_counters(server->commit, commit);

#define COUNTER(name, help, value)                                                              \
    fprintf(out, "# HELP " name " " help "\n# TYPE " name " counter\n" name " %llu\n",          \
            (unsigned long long)(value))
#define GAUGE(name, help, value)                                                                \
    fprintf(out, "# HELP " name " " help "\n# TYPE " name " gauge\n" name " %llu\n",            \
            (unsigned long long)(value))
    COUNTER("milepost_ingest_received_events_total", "Events parsed from HTTP, TCP and UDP.",
            total.events_received);
    fprintf(out, "# HELP milepost_ingest_source_events_total Events parsed, by source.\n"
                 "# TYPE milepost_ingest_source_events_total counter\n");
    for (int source = 0; source < MP_SOURCE_COUNT; source++)
        fprintf(out, "milepost_ingest_source_events_total{source=\"%s\"} %llu\n",
                mp_source_name(source), (unsigned long long)total.source_events[source]);
    write_unmapped_metrics(server, out);
    write_webhook_auth_metrics(server, out);
    fprintf(out, "# HELP milepost_ingest_rejected_records_total Records refused, by reason.\n"
                 "# TYPE milepost_ingest_rejected_records_total counter\n");
    for (int code = 1; code < MP_REJECT_CODE_COUNT; code++)
        fprintf(out, "milepost_ingest_rejected_records_total{reason=\"%s\"} %llu\n",
                mp_reject_code_name(code), (unsigned long long)total.records_rejected[code]);
    COUNTER("milepost_shard_accepted_events_total", "Events accepted into shipment state.",
            shards.accepted);
    COUNTER("milepost_shard_duplicate_events_total", "Copies of accepted events, dropped.",
            shards.duplicates);
    COUNTER("milepost_ingest_rejects_kept_total",
            "Rejected records whose raw bytes were stored in the rejects family.",
            total.rejects_kept);
    COUNTER("milepost_ingest_rejects_not_kept_total",
            "Rejected records answered and counted but not stored (over the per-second cap).",
            total.rejects_not_kept);
    COUNTER("milepost_shard_facts_taken_total",
            "Payload-level facts (estimated delivery, shipment reference) that changed a shipment.",
            shards.facts_taken);
    COUNTER("milepost_shard_state_writes_total", "Shipment records written to the store.",
            shards.state_writes);
    COUNTER("milepost_shard_outbox_entries_total", "ERP confirmations queued in the outbox.",
            shards.outbox);
    COUNTER("milepost_shard_store_reads_total", "Records read back after eviction.",
            shards.store_reads);
    COUNTER("milepost_shard_evictions_total", "Records evicted from shard caches.",
            shards.evictions);
    GAUGE("milepost_ring_queued_events", "Events waiting in the core-to-core rings.",
          ring_occupancy);
    COUNTER("milepost_ring_full_waits_total", "Times a core found a ring full and waited.",
            total.ring_full_waits);
    COUNTER("milepost_http_requests_total", "HTTP requests parsed.", total.http_requests);
    fprintf(out, "# HELP milepost_http_responses_total HTTP responses, by status class.\n"
                 "# TYPE milepost_http_responses_total counter\n");
    for (int class = 1; class <= 5; class++)
        fprintf(out, "milepost_http_responses_total{class=\"%dxx\"} %llu\n", class,
                (unsigned long long)total.http_responses[class]);
    COUNTER("milepost_http_overloaded_total", "503 answers with Retry-After.", total.http_overloaded);
    COUNTER("milepost_http_slow_client_cuts_total", "Connections cut for timeouts or unread answers.",
            total.slow_client_cuts);
    COUNTER("milepost_http_reads_total", "Portal reads served by the reader threads.", total.reads);
    COUNTER("milepost_net_connections_accepted_total", "Connections accepted.",
            total.connections_accepted);
    COUNTER("milepost_net_connections_refused_total", "Connections refused at the limit.",
            total.connections_refused);
    GAUGE("milepost_net_connections_open", "Connections open.", total.connections_open);
    COUNTER("milepost_tcp_lines_total", "TCP NDJSON lines read.", total.tcp_lines);
    COUNTER("milepost_tcp_acks_total", "TCP ack lines written.", total.tcp_acks);
    COUNTER("milepost_tcp_read_pauses_total", "Times a TCP stream's reading paused.", total.tcp_pauses);
    COUNTER("milepost_udp_datagrams_total", "UDP datagrams received.", total.udp_datagrams);
    COUNTER("milepost_udp_dropped_events_total",
            "UDP datagrams or events dropped under overload, the kernel's drops included.",
            total.udp_dropped_events);
    static const uint64_t latency_edges_us[] = {100, 250, 500, 1000, 2500, 5000, 10000,
                                                25000, 50000, 100000, 250000, 1000000};
    fprintf(out, "# HELP milepost_ingest_ack_latency_seconds From receipt to durable acknowledgement.\n"
                 "# TYPE milepost_ingest_ack_latency_seconds histogram\n");
    mp_histogram_write_prometheus(&total.ack_us, out, "milepost_ingest_ack_latency_seconds", "",
                                  latency_edges_us, 12, 1e6);
    if (commit) {
        COUNTER("milepost_commit_groups_total", "Group commits (one fsync each in sync mode).",
                commit->commits);
        COUNTER("milepost_commit_batches_total", "Shard batches committed.", commit->batches);
        COUNTER("milepost_commit_failures_total", "Commits that failed.", commit->failures);
        fprintf(out, "# HELP milepost_commit_latency_seconds One group commit: write and fsync.\n"
                     "# TYPE milepost_commit_latency_seconds histogram\n");
        mp_histogram_write_prometheus(&commit->commit_us, out, "milepost_commit_latency_seconds", "",
                                      latency_edges_us, 12, 1e6);
        static const uint64_t size_edges[] = {1, 10, 100, 1000, 10000, 100000};
        fprintf(out, "# HELP milepost_commit_batch_operations Store operations per group commit.\n"
                     "# TYPE milepost_commit_batch_operations histogram\n");
        mp_histogram_write_prometheus(&commit->operations_per_commit, out,
                                      "milepost_commit_batch_operations", "", size_edges, 6, 1);
        free(commit);
    }
    GAUGE("milepost_server_uptime_seconds", "Seconds since start.",
          (monotonic_ms() - server->started_ms) / 1000);
    write_dpdk_metrics(server, out);
    if (server->erp_pull)
        mp_erp_pull_write_metrics(server->erp_pull, out);
    if (server->erp_sender)
        mp_erp_write_metrics(server->erp_sender, out);
#undef COUNTER
#undef GAUGE
}

/* ------------------------------------------------------------------------
 * Timers: slow clients, idle connections, the Date header
 * ---------------------------------------------------------------------- */

static void arm_timer(struct loop *loop)
{
    loop->timer.tv_sec = 0;
    loop->timer.tv_nsec = TIMER_INTERVAL_MS * 1000000L;
    struct io_uring_sqe *sqe = get_sqe(loop);
    io_uring_prep_timeout(sqe, &loop->timer, 0, 0);
    io_uring_sqe_set_data64(sqe, user_data(OP_TIMER, 0, 0));
}

static void on_timer(struct loop *loop)
{
    const struct mp_server_config *config = loop->server->config;
    int64_t now_ms = monotonic_ms();
    atomic_store(&loop->heartbeat_ms, now_ms);
    int64_t second = (int64_t)time(NULL);
    if (second != loop->date_second) {
        loop->date_second = second;
        mp_http_date_format(second, loop->date);
    }
    for (uint32_t index = 0; index < loop->conn_count_max; index++) {
        struct conn *conn = &loop->conns[index];
        if (!conn->open || conn->closing)
            continue;
        bool busy = conn->requests || conn->send_in_flight ||
                    (conn->kind == CONN_TCP && conn->tcp_window.settled < conn->tcp_next_line);
        int64_t idle_ms = now_ms - conn->last_activity_ms;
        bool slow = false;
        if (conn->request_started_ms && conn->kind == CONN_HTTP) {
            /* The header must be in within its timeout, then the body within its own. */
            if (conn->body_started_ms)
                slow = now_ms - conn->body_started_ms > (int64_t)config->limits.body_timeout_ms;
            else
                slow = now_ms - conn->request_started_ms > (int64_t)config->limits.header_timeout_ms;
        }
        if (!busy && idle_ms > (int64_t)config->limits.idle_timeout_ms)
            slow = slow || conn->input_size > 0;
        if (slow) {
            loop->counters.slow_client_cuts++;
            close_conn(loop, conn);
        } else if (!busy && idle_ms > (int64_t)config->limits.idle_timeout_ms)
            close_conn(loop, conn);
    }
    arm_timer(loop);
}

/* ------------------------------------------------------------------------
 * The loop
 * ---------------------------------------------------------------------- */

static void arm_wake(struct loop *loop)
{
    struct io_uring_sqe *sqe = get_sqe(loop);
    io_uring_prep_read(sqe, loop->wake_fd, &loop->wake_value, sizeof loop->wake_value, 0);
    io_uring_sqe_set_data64(sqe, user_data(OP_WAKE, 0, 0));
}

static void arm_accept(struct loop *loop, int fd, enum operation operation)
{
    struct io_uring_sqe *sqe = get_sqe(loop);
    io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    io_uring_sqe_set_data64(sqe, user_data(operation, 0, 0));
}

static void handle_cqe(struct loop *loop, const struct io_uring_cqe *cqe)
{
    uint64_t data = io_uring_cqe_get_data64(cqe);
    enum operation operation = (enum operation)(data >> 56);
    uint32_t index = (uint32_t)((data >> 32) & 0xffffff);
    uint32_t generation = (uint32_t)data;
    switch (operation) {
    case OP_ACCEPT_HTTP:
    case OP_ACCEPT_TCP:
        if (cqe->res >= 0)
            accept_conn(loop, cqe->res, operation == OP_ACCEPT_HTTP ? CONN_HTTP : CONN_TCP);
        if (!(cqe->flags & IORING_CQE_F_MORE) && loop->accepting)
            arm_accept(loop, operation == OP_ACCEPT_HTTP ? loop->http_fd : loop->tcp_fd, operation);
        break;
    case OP_RECV: {
        struct conn *conn = conn_at(loop, index, generation);
        if (conn && !conn->closing)
            on_recv(loop, conn, cqe);
        else if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
            uint32_t buffer_id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
            io_uring_buf_ring_add(loop->buffer_ring,
                                  loop->buffers + (size_t)buffer_id * RECV_BUFFER_SIZE,
                                  RECV_BUFFER_SIZE, (unsigned short)buffer_id,
                                  io_uring_buf_ring_mask(RECV_BUFFER_COUNT), 0);
            io_uring_buf_ring_advance(loop->buffer_ring, 1);
        }
        break;
    }
    case OP_SEND: {
        struct conn *conn = conn_at(loop, index, generation);
        if (conn && !conn->closing)
            on_send(loop, conn, cqe);
        else if (conn) {
            conn->send_in_flight = false;
            unpin_output(conn);
            if (conn->closed)
                release_conn(loop, conn);
        }
        break;
    }
    case OP_CLOSE: {
        /* The output buffer goes only once no send can still read it. */
        struct conn *conn = conn_at(loop, index, generation);
        if (conn && conn->send_in_flight)
            conn->closed = true;
        else if (conn)
            release_conn(loop, conn);
        break;
    }
    case OP_UDP_RECV:
        on_udp(loop, cqe);
        break;
    case OP_WAKE:
        arm_wake(loop);
        break;
    case OP_TIMER:
        on_timer(loop);
        break;
    case OP_CANCEL:
        break;
    }
}

/* Gives held input another go; process_input queues what must wait again. */
static uint32_t resume_held_input(struct loop *loop)
{
    uint32_t count = loop->resume_count;
    if (count == 0)
        return 0;
    /* Swap lists: process_input may queue connections again meanwhile. */
    uint32_t *taken = loop->resume;
    loop->resume = loop->resume_taken;
    loop->resume_taken = taken;
    loop->resume_count = 0;
    uint32_t progressed = 0;
    for (uint32_t index = 0; index < count; index++) {
        struct conn *conn = &loop->conns[taken[index]];
        conn->resume_queued = false;
        if (!conn->open || conn->closing)
            continue;
        size_t before = conn->input_size;
        process_input(loop, conn);
        progressed += conn->input_size != before;
    }
    return progressed;
}

/* Re-arms receives that ran out of provided buffers. */
static void rearm_starved(struct loop *loop)
{
    for (uint32_t index = 0; index < loop->conn_count_max; index++) {
        struct conn *conn = &loop->conns[index];
        if (conn->open && !conn->closing && !conn->recv_armed && !conn->reading_closed &&
            conn->input_size <= INPUT_SLACK_SIZE)
            process_input(loop, conn);
    }
}

static bool loop_idle(const struct loop *loop)
{
    if (loop->pending_count || loop->generation_in_flight ||
        mp_shard_has_changes(loop->shard, false))
        return false;
    for (uint32_t index = 0; index < loop->conn_count_max; index++) {
        const struct conn *conn = &loop->conns[index];
        if (!conn->open)
            continue;
        if (conn->requests || conn->send_in_flight ||
            (conn->kind == CONN_TCP && conn->tcp_window.settled < conn->tcp_next_line))
            return false;
    }
    const struct server *server = loop->server;
    for (uint32_t from = 0; from < server->core_count; from++) {
        if (from == loop->index)
            continue;
        if (mp_ring_count(server->event_rings[from * server->core_count + loop->index]) ||
            mp_ring_count(server->completion_rings[from * server->core_count + loop->index]))
            return false;
    }
    return !server->dpdk_rings[loop->index] || !mp_ring_count(server->dpdk_rings[loop->index]);
}

/* Stops taking input: no accepts, no receives, no datagrams. */
static void stop_input(struct loop *loop)
{
    loop->accepting = false;
    struct io_uring_sqe *sqe = get_sqe(loop);
    io_uring_prep_cancel64(sqe, user_data(OP_ACCEPT_HTTP, 0, 0), IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, user_data(OP_CANCEL, 0, 0));
    sqe = get_sqe(loop);
    io_uring_prep_cancel64(sqe, user_data(OP_ACCEPT_TCP, 0, 0), IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, user_data(OP_CANCEL, 0, 0));
    sqe = get_sqe(loop);
    io_uring_prep_cancel64(sqe, user_data(OP_UDP_RECV, 0, 0), IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, user_data(OP_CANCEL, 0, 0));
    for (uint32_t index = 0; index < loop->conn_count_max; index++) {
        struct conn *conn = &loop->conns[index];
        if (!conn->open || conn->closing)
            continue;
        /* Finish parsing what was received; answer it; read nothing more. */
        process_input(loop, conn);
        conn->reading_closed = true;
        conn->close_when_done = true;
        pause_recv(loop, conn);
    }
}

static void *loop_main(void *argument)
{
    struct loop *loop = argument;
    struct server *server = loop->server;
    mp_cpu_pin_self(loop->index);
    loop->accepting = true;
    arm_accept(loop, loop->http_fd, OP_ACCEPT_HTTP);
    arm_accept(loop, loop->tcp_fd, OP_ACCEPT_TCP);
    arm_udp(loop);
    arm_wake(loop);
    arm_timer(loop);
    mp_http_date_format((int64_t)time(NULL), loop->date);
    atomic_store(&loop->heartbeat_ms, monotonic_ms());
    bool stopped_input = false;
    int64_t rearm_ms = 0;
    for (;;) {
        if (atomic_load(&server->stopping) && !stopped_input) {
            stop_input(loop);
            stopped_input = true;
        }
        if (atomic_load(&server->finishing) || atomic_load(&server->fatal_error))
            break;

        struct io_uring_cqe *cqes[CQE_BATCH_MAX];
        unsigned count = io_uring_peek_batch_cqe(&loop->uring, cqes, CQE_BATCH_MAX);
        for (unsigned index = 0; index < count; index++)
            handle_cqe(loop, cqes[index]);
        io_uring_cq_advance(&loop->uring, count);

        uint32_t work = drain_rings(loop) + count;
        settle(loop);
        take_read_results(loop);
        work += resume_held_input(loop);
        int64_t now_ms = monotonic_ms();
        if (now_ms - rearm_ms >= 10) {
            rearm_starved(loop);
            rearm_ms = now_ms;
        }
        if (stopped_input)
            atomic_store(&loop->drained, loop_idle(loop));

        if (work == 0) {
            /* Sleep until a completion, a wake-up, or the next timer tick. */
            atomic_store(&loop->sleeping, true);
            bool ready = false;
            for (uint32_t from = 0; from < server->core_count && !ready; from++) {
                if (from == loop->index)
                    continue;
                ready = mp_ring_count(server->event_rings[from * server->core_count + loop->index]) ||
                        mp_ring_count(server->completion_rings[from * server->core_count + loop->index]);
            }
            if (server->dpdk_rings[loop->index])
                ready = ready || mp_ring_count(server->dpdk_rings[loop->index]);
            bool waiting_commit = loop->generation_in_flight &&
                                  mp_commit_committed(server->commit, loop->index) >=
                                      loop->generation_in_flight;
            if (!ready && !waiting_commit)
                io_uring_submit_and_wait(&loop->uring, 1);
            else
                io_uring_submit(&loop->uring);
            atomic_store(&loop->sleeping, false);
        } else {
            io_uring_submit(&loop->uring);
        }
    }
    /* Finishing: the final flush, duplicate counts included. */
    if (!atomic_load(&server->fatal_error)) {
        settle(loop);
        if (loop->generation_in_flight)
            mp_commit_wait(server->commit, loop->index, loop->generation_in_flight);
        settle(loop);
        if (mp_shard_has_changes(loop->shard, true) && !loop->generation_in_flight) {
            flush_shard(loop, true);
            mp_commit_wait(server->commit, loop->index, loop->generation_in_flight);
            settle(loop);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * Start-up and shutdown
 * ---------------------------------------------------------------------- */

static void notify_committed(void *context, uint32_t shard_index)
{
    struct server *server = context;
    wake_loop(&server->loops[shard_index]);
    mp_erp_pull_notify(server->erp_pull); /* NULL unless pull mode; cheap without waiters */
    mp_erp_notify(server->erp_sender);    /* NULL unless push or jetstream; cheap when busy */
}

static int setup_loop(struct server *server, struct loop *loop, uint32_t index)
{
    const struct mp_server_config *config = server->config;
    loop->server = server;
    loop->index = index;
    loop->http_fd = loop->tcp_fd = loop->udp_fd = loop->wake_fd = -1;
    pthread_mutex_init(&loop->results_lock, NULL);
    atomic_init(&loop->sleeping, false);
    atomic_init(&loop->drained, false);
    atomic_init(&loop->heartbeat_ms, monotonic_ms());
    loop->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (loop->wake_fd < 0)
        return -errno;
    struct io_uring_params params = {0};
    /* Not SINGLE_ISSUER: the ring is set up here and submitted to by the loop thread. */
    params.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
    int error = io_uring_queue_init_params(URING_ENTRIES, &loop->uring, &params);
    if (error == -EINVAL) {
        /* Older kernels lack some flags: plain set-up. */
        memset(&params, 0, sizeof params);
        error = io_uring_queue_init_params(URING_ENTRIES, &loop->uring, &params);
    }
    if (error)
        return error;
    loop->uring_ready = true;
    loop->buffers = aligned_alloc(4096, (size_t)RECV_BUFFER_COUNT * RECV_BUFFER_SIZE);
    if (!loop->buffers)
        return -ENOMEM;
    /* liburing 2.3 registers a provided-buffer ring that we allocate. */
    loop->buffer_ring = aligned_alloc(4096, RECV_BUFFER_COUNT * sizeof(struct io_uring_buf));
    if (!loop->buffer_ring)
        return -ENOMEM;
    io_uring_buf_ring_init(loop->buffer_ring);
    struct io_uring_buf_reg registration = {
        .ring_addr = (uint64_t)(uintptr_t)loop->buffer_ring,
        .ring_entries = RECV_BUFFER_COUNT,
        .bgid = RECV_BUFFER_GROUP,
    };
    error = io_uring_register_buf_ring(&loop->uring, &registration, 0);
    if (error)
        return error;
    loop->buffer_ring_registered = true;
    for (uint32_t buffer = 0; buffer < RECV_BUFFER_COUNT; buffer++)
        io_uring_buf_ring_add(loop->buffer_ring, loop->buffers + (size_t)buffer * RECV_BUFFER_SIZE,
                              RECV_BUFFER_SIZE, (unsigned short)buffer,
                              io_uring_buf_ring_mask(RECV_BUFFER_COUNT), (int)buffer);
    io_uring_buf_ring_advance(loop->buffer_ring, RECV_BUFFER_COUNT);

    loop->conn_count_max = config->limits.connections_max / server->core_count + 1;
    loop->conns = calloc(loop->conn_count_max, sizeof *loop->conns);
    loop->resume = calloc(loop->conn_count_max, sizeof *loop->resume);
    loop->resume_taken = calloc(loop->conn_count_max, sizeof *loop->resume_taken);
    if (!loop->conns || !loop->resume || !loop->resume_taken)
        return -ENOMEM;
    loop->free_conn = UINT32_MAX;
    for (uint32_t conn = loop->conn_count_max; conn-- > 0;) {
        loop->conns[conn].fd = -1;
        loop->conns[conn].free_next = loop->free_conn;
        loop->free_conn = conn;
    }
    loop->pending_capacity = config->pipeline.ring_slots * server->core_count * 2;
    loop->pending = calloc(loop->pending_capacity, sizeof *loop->pending);
    if (!loop->pending)
        return -ENOMEM;
    struct mp_shard_options shard_options = {
        .shard_index = index,
        .cache_records_max = config->pipeline.cache_records_max,
        .flush_records_max = config->pipeline.cache_records_max / 2,
        .confirm_mask = server->erp_filter.milestone_mask,
        .confirm_filter = &server->erp_filter,
    };
    error = mp_shard_create(&shard_options, server->store, &loop->shard);
    if (error)
        return error;
    size_t parser_size = config->limits.body_size_max > config->limits.udp_datagram_size_max
                             ? config->limits.body_size_max
                             : config->limits.udp_datagram_size_max;
    if (parser_size < config->limits.line_size_max)
        parser_size = config->limits.line_size_max;
    return mp_json_parser_create(parser_size, &loop->parser);
}

static void teardown_loop(struct loop *loop)
{
    if (loop->conns) {
        for (uint32_t index = 0; index < loop->conn_count_max; index++) {
            struct conn *conn = &loop->conns[index];
            if (conn->open) {
                close(conn->fd);
                free_requests(loop, conn);
                mp_http_conn_destroy(conn->http);
                free(conn->input);
                free(conn->output);
            }
        }
    }
    free(loop->conns);
    free(loop->resume);
    free(loop->resume_taken);
    while (loop->request_pool) {
        struct request *request = loop->request_pool;
        loop->request_pool = request->next;
        free(request->rejects);
        free(request->response);
        free(request);
    }
    free(loop->scratch);
    if (loop->buffer_ring_registered)
        io_uring_unregister_buf_ring(&loop->uring, RECV_BUFFER_GROUP);
    free(loop->buffer_ring);
    if (loop->uring_ready)
        io_uring_queue_exit(&loop->uring);
    free(loop->buffers);
    free(loop->pending);
    mp_shard_destroy(loop->shard);
    mp_json_parser_destroy(loop->parser);
    for (int *fd = &loop->http_fd; fd <= &loop->wake_fd; fd++) {
        if (*fd >= 0)
            close(*fd);
    }
    struct read_job *job = loop->results;
    while (job) {
        struct read_job *next = job->next;
        free(job->body);
        free(job);
        job = next;
    }
    pthread_mutex_destroy(&loop->results_lock);
}


static int create_rings(struct server *server)
{
    uint32_t count = server->core_count;
    server->event_rings = calloc((size_t)count * count, sizeof *server->event_rings);
    server->completion_rings = calloc((size_t)count * count, sizeof *server->completion_rings);
    if (!server->event_rings || !server->completion_rings)
        return -ENOMEM;
    for (uint32_t from = 0; from < count; from++) {
        for (uint32_t to = 0; to < count; to++) {
            if (from == to)
                continue;
            int error = mp_ring_create(server->config->pipeline.ring_slots,
                                       sizeof(struct routed_event),
                                       &server->event_rings[from * count + to]);
            if (!error)
                error = mp_ring_create(server->config->pipeline.ring_slots * 2,
                                       sizeof(struct completion),
                                       &server->completion_rings[from * count + to]);
            if (error)
                return error;
        }
    }
    return 0;
}

static void destroy_server(struct server *server)
{
    /* The loops are stopped: nobody verifies any more. */
    mp_webhook_auth_destroy(server->webhook_auth);
    server->webhook_auth = NULL;
    mp_commit_destroy(server->commit);
    server->commit = NULL;
    /* After the commit thread, whose notify may still reach the sender; before the store. */
    mp_erp_destroy(server->erp_sender);
    server->erp_sender = NULL;
    /*
     * Pull mode: after the commit thread too, for the same reason; before
     * the loops' teardown, which frees the answers its last requests leave
     * on their results lists (queued acks are written and answered here).
     */
    mp_erp_pull_destroy(server->erp_pull);
    server->erp_pull = NULL;
    for (uint32_t index = 0; server->loops && index < server->core_count; index++)
        teardown_loop(&server->loops[index]);
    for (uint32_t index = 0; server->event_rings && index < server->core_count * server->core_count; index++) {
        mp_ring_destroy(server->event_rings[index]);
        mp_ring_destroy(server->completion_rings[index]);
    }
    free(server->event_rings);
    free(server->completion_rings);
    for (uint32_t index = 0; index < MP_CORES_MAX; index++)
        mp_ring_destroy(server->dpdk_rings[index]);
    free(server->loops);
    while (server->jobs) {
        struct read_job *job = server->jobs;
        server->jobs = job->next;
        free(job);
    }
    pthread_mutex_destroy(&server->jobs_lock);
    pthread_cond_destroy(&server->jobs_ready);
    mp_store_close(server->store);
}

static void stop_readers(struct server *server)
{
    pthread_mutex_lock(&server->jobs_lock);
    server->readers_stopping = true;
    pthread_cond_broadcast(&server->jobs_ready);
    pthread_mutex_unlock(&server->jobs_lock);
    for (uint32_t index = 0; index < server->reader_count; index++)
        pthread_join(server->readers[index], NULL);
    server->reader_count = 0;
}

static int open_store(struct server *server, char *message, size_t message_size)
{
    struct mp_store_options options;
    mp_store_options_default(&options);
    options.path = server->config->data;
    options.create_if_missing = true;
    char store_message[256] = "";
    int error = mp_store_open(&options, &server->store, store_message, sizeof store_message);
    if (error == MP_ELOCKED)
        snprintf(message, message_size,
                 "the data directory %s is in use by another milepost process; stop it or "
                 "serve from another --data directory", server->config->data);
    else if (error)
        snprintf(message, message_size, "cannot open the store in %s: %s %s",
                 server->config->data, mp_strerror(error), store_message);
    return error;
}

#if MP_HAVE_DPDK
/*
 * On the DPDK lcore: copy the event onto its owner's ring.  A full ring is
 * waited for, up to DPDK_RING_WAIT_US, so a replay runs at the shards'
 * pace and the NIC counts what it cannot take (imissed); past the wait the
 * event is dropped and counted.
 */
#define DPDK_RING_WAIT_US 100000
static int dpdk_on_event(void *context, struct mp_event *event)
{
    struct server *server = context;
    uint32_t owner = owner_of(server, event->shipment_hash);
    struct routed_event *slot = mp_ring_reserve(server->dpdk_rings[owner]);
    if (!slot) {
        int64_t deadline = monotonic_us() + DPDK_RING_WAIT_US;
        while (!(slot = mp_ring_reserve(server->dpdk_rings[owner])) && monotonic_us() < deadline &&
               !atomic_load(&server->stopping)) {
            wake_loop(&server->loops[owner]);
            sched_yield();
        }
        if (!slot)
            return 1;
    }
    slot->tag = (struct tag){.origin_core = NO_ORIGIN};
    mp_event_copy(&slot->event, event);
    mp_ring_publish(server->dpdk_rings[owner]);
    server->dpdk_wake[owner] = true;
    return 0;
}

/* Once per burst: wake the owners that got events, not once per event. */
static void dpdk_on_burst(void *context)
{
    struct server *server = context;
    for (uint32_t index = 0; index < server->core_count; index++) {
        if (server->dpdk_wake[index]) {
            server->dpdk_wake[index] = false;
            nudge_loop(&server->loops[index]);
        }
    }
}
#endif

static int start_dpdk(struct server *server, char *message, size_t message_size)
{
#if MP_HAVE_DPDK
    const struct mp_server_config *config = server->config;
    for (uint32_t index = 0; index < server->core_count; index++) {
        int error = mp_ring_create(config->pipeline.ring_slots, sizeof(struct routed_event),
                                   &server->dpdk_rings[index]);
        if (error)
            return error;
    }
    struct mp_dpdk_options options = {
        .eal_args = config->dpdk,
        .udp_port = config->udp.port,
        .lcore = MP_DPDK_LCORE_ANY,
        .datagram_size_max = config->limits.udp_datagram_size_max,
        .events_per_datagram_max = config->limits.events_per_request_max,
        .on_event = dpdk_on_event,
        .on_burst = dpdk_on_burst,
        .context = server,
    };
    struct mp_dpdk *dpdk;
    char dpdk_message[256] = "";
    int error = mp_dpdk_start(&options, &dpdk, dpdk_message, sizeof dpdk_message);
    if (error) {
        snprintf(message, message_size, "cannot start the DPDK port: %s", dpdk_message);
        return error;
    }
    server->dpdk = dpdk;
    return 0;
#else
    (void)server;
    snprintf(message, message_size, "this milepost was built without DPDK");
    return MP_EINVAL;
#endif
}

static void stop_dpdk(struct server *server)
{
#if MP_HAVE_DPDK
    mp_dpdk_stop(server->dpdk);
    server->dpdk = NULL;
#else
    (void)server;
#endif
}

static void write_dpdk_metrics(struct server *server, FILE *out)
{
#if MP_HAVE_DPDK
    if (!server->dpdk)
        return;
    struct mp_dpdk_counters counters;
    mp_dpdk_counters(server->dpdk, &counters);
    fprintf(out, "# TYPE milepost_dpdk_rx_packets_total counter\nmilepost_dpdk_rx_packets_total %llu\n"
                 "# TYPE milepost_dpdk_rx_bytes_total counter\nmilepost_dpdk_rx_bytes_total %llu\n"
                 "# TYPE milepost_dpdk_events_total counter\nmilepost_dpdk_events_total %llu\n"
                 "# TYPE milepost_dpdk_dropped_events_total counter\nmilepost_dpdk_dropped_events_total %llu\n"
                 "# TYPE milepost_dpdk_other_frames_total counter\nmilepost_dpdk_other_frames_total %llu\n"
                 "# TYPE milepost_dpdk_fragments_total counter\nmilepost_dpdk_fragments_total %llu\n"
                 "# TYPE milepost_dpdk_bad_frames_total counter\nmilepost_dpdk_bad_frames_total %llu\n"
                 "# TYPE milepost_dpdk_rejected_records_total counter\nmilepost_dpdk_rejected_records_total %llu\n"
                 "# TYPE milepost_dpdk_imissed_total counter\nmilepost_dpdk_imissed_total %llu\n",
            (unsigned long long)counters.rx_packets, (unsigned long long)counters.rx_bytes,
            (unsigned long long)counters.events, (unsigned long long)counters.dropped_events,
            (unsigned long long)counters.other_frames, (unsigned long long)counters.fragments,
            (unsigned long long)(counters.bad_length + counters.bad_checksum + counters.wrong_port),
            (unsigned long long)counters.rejected_total, (unsigned long long)counters.imissed);
#else
    (void)server;
    (void)out;
#endif
}

/* Pull mode: the lease queue over the outbox and its thread (mp_erp_pull.h). */
static int start_erp_pull(struct server *server, char *message, size_t message_size)
{
    const struct mp_server_config *config = server->config;
    struct mp_erp_pull_options options;
    mp_erp_pull_options_default(&options);
    options.visibility_timeout_ms = config->erp.visibility_timeout_ms;
    options.sync = config->durability == MP_OPTIONS_DURABILITY_SYNC;
    int error = mp_erp_pull_create(&options, server->store, &server->erp_pull);
    if (!error)
        error = mp_erp_pull_start(server->erp_pull);
    if (error)
        snprintf(message, message_size, "cannot start ERP pull mode: %s", mp_strerror(error));
    return error;
}

/*
 * Push and jetstream: the sender thread over the outbox (mp_erp.h) with
 * the mode's destination.  Pull mode has no sender (start_erp_pull).
 */
static int start_erp_sender(struct server *server, char *message, size_t message_size)
{
    const struct mp_server_config *config = server->config;
    struct mp_erp_destination destination;
    int error = MP_EINVAL;
    switch (config->erp.mode) {
    case MP_OPTIONS_ERP_PUSH:
        error = mp_erp_push_create(config, &destination, message, message_size);
        break;
    case MP_OPTIONS_ERP_JETSTREAM: {
        struct mp_erp_jetstream_options jetstream;
        mp_erp_jetstream_options_from_config(config, &jetstream);
        error = mp_erp_jetstream_create(&jetstream, &destination, message, message_size);
        break;
    }
    case MP_OPTIONS_ERP_PULL:
        MP_ASSERT(!"pull mode runs no sender");
        break;
    }
    if (error)
        return error;
    struct mp_erp_options options;
    mp_erp_options_from_config(config, &options);
    error = mp_erp_create(&options, server->store, &destination, &server->erp_sender);
    if (error) {
        if (destination.destroy)
            destination.destroy(destination.state);
        snprintf(message, message_size, "cannot start ERP delivery: %s", mp_strerror(error));
        return error;
    }
    error = mp_erp_start(server->erp_sender);
    if (error)
        snprintf(message, message_size, "cannot start the ERP sender: %s", mp_strerror(error));
    return error;
}

int mp_server_run(const struct mp_server_config *config, char *message, size_t message_size)
{
    struct server server_memory;
    struct server *server = &server_memory;
    memset(server, 0, sizeof *server);
    server->config = config;
    server->started_ms = monotonic_ms();
    pthread_mutex_init(&server->jobs_lock, NULL);
    pthread_cond_init(&server->jobs_ready, NULL);
    atomic_init(&server->stopping, false);
    atomic_init(&server->finishing, false);
    atomic_init(&server->fatal_error, 0);
    server->core_count = config->cores ? config->cores : mp_cpu_count_usable();
    if (server->core_count > MP_CORES_MAX)
        server->core_count = MP_CORES_MAX;
    message[0] = '\0';

    /* Signals go to sigwait below, never to a loop. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    int error = mp_erp_filter_from_config(config, &server->erp_filter, message, message_size);
    if (!error)
        error = mp_webhook_auth_create(config->sources, &server->webhook_auth, message,
                                       message_size);
    if (!error)
        error = open_store(server, message, message_size);
    server->loops = error ? NULL : calloc(server->core_count, sizeof *server->loops);
    if (!error && !server->loops)
        error = -ENOMEM;
    if (!error)
        error = create_rings(server);
    for (uint32_t index = 0; !error && index < server->core_count; index++) {
        error = setup_loop(server, &server->loops[index], index);
        if (error == -ENOSYS || error == -EPERM)
            snprintf(message, message_size,
                     "io_uring is unavailable (%s): set /proc/sys/kernel/io_uring_disabled to 0, "
                     "or allow io_uring_setup in the container's seccomp profile",
                     mp_strerror(error));
        else if (error)
            snprintf(message, message_size, "cannot set up core %u: %s", index, mp_strerror(error));
    }
    if (!error) {
        struct mp_shard *shards[MP_CORES_MAX];
        for (uint32_t index = 0; index < server->core_count; index++)
            shards[index] = server->loops[index].shard;
        error = mp_shard_index_load(server->store, shards, server->core_count);
        if (error)
            snprintf(message, message_size, "cannot read the tracking index: %s", mp_strerror(error));
    }
    if (!error)
        error = open_listeners(server, message, message_size);
    if (!error && config->erp.mode == MP_OPTIONS_ERP_PULL)
        error = start_erp_pull(server, message, message_size);
    if (!error && config->erp.mode != MP_OPTIONS_ERP_PULL)
        error = start_erp_sender(server, message, message_size);
    if (!error) {
        error = mp_commit_create(server->store, server->core_count,
                                 config->durability == MP_OPTIONS_DURABILITY_SYNC, &server->commit);
        if (error)
            snprintf(message, message_size, "cannot start the commit thread: %s", mp_strerror(error));
        else
            mp_commit_set_notify(server->commit, notify_committed, server);
    }
    for (uint32_t index = 0; !error && index < READER_THREADS; index++) {
        error = -pthread_create(&server->readers[index], NULL, reader_main, server);
        if (!error)
            server->reader_count++;
    }
    for (uint32_t index = 0; !error && index < server->core_count; index++) {
        struct loop *loop = &server->loops[index];
        error = -pthread_create(&loop->thread, NULL, loop_main, loop);
        if (!error)
            loop->started = true;
        else
            snprintf(message, message_size, "cannot start core %u: %s", index, mp_strerror(error));
    }
    if (!error && config->dpdk[0])
        error = start_dpdk(server, message, message_size);
    if (error) {
        stop_dpdk(server);
        atomic_store(&server->finishing, true);
        for (uint32_t index = 0; server->loops && index < server->core_count; index++) {
            if (server->loops[index].started) {
                wake_loop(&server->loops[index]);
                pthread_join(server->loops[index].thread, NULL);
            }
        }
        stop_readers(server);
        destroy_server(server); /* stops and frees the ERP sender too */
        return 1;
    }
    printf("%s\n", server->listen_line);
    fflush(stdout);
    log_line("info", "pipeline.server", "serving cores=%u durability=%s data=%s",
             server->core_count, config->durability == MP_OPTIONS_DURABILITY_SYNC ? "sync" : "async",
             config->data);

    /* Wait for a signal, or for a fatal store error. */
    for (;;) {
        struct timespec tick = {0, 200 * 1000 * 1000};
        siginfo_t info;
        int signal_number = sigtimedwait(&signals, &info, &tick);
        if (signal_number == SIGTERM || signal_number == SIGINT)
            break;
        if (atomic_load(&server->fatal_error))
            break;
    }
    log_line("info", "pipeline.server", "stopping: answering what is in flight");
    stop_dpdk(server); /* no new events from the port; its rings drain below */
    atomic_store(&server->stopping, true);
    mp_erp_pull_drain(server->erp_pull); /* long polls answer now, so the loops can drain */
    for (uint32_t index = 0; index < server->core_count; index++)
        wake_loop(&server->loops[index]);
    /* Every loop must be idle at once: events cross cores. */
    int64_t deadline = monotonic_ms() + SHUTDOWN_DRAIN_MS_MAX;
    while (monotonic_ms() < deadline && !atomic_load(&server->fatal_error)) {
        bool all_drained = true;
        for (uint32_t index = 0; index < server->core_count; index++)
            all_drained = all_drained && atomic_load(&server->loops[index].drained);
        if (all_drained)
            break;
        struct timespec pause = {0, 5 * 1000 * 1000};
        nanosleep(&pause, NULL);
        for (uint32_t index = 0; index < server->core_count; index++)
            wake_loop(&server->loops[index]);
    }
    atomic_store(&server->finishing, true);
    for (uint32_t index = 0; index < server->core_count; index++) {
        wake_loop(&server->loops[index]);
        pthread_join(server->loops[index].thread, NULL);
    }
    stop_readers(server);
    /*
     * The loops made their last commits: the sender settles the delivery in
     * progress and stops (destroy_server frees it once the commit thread is
     * gone); what is left is sent after the next start.
     */
    mp_erp_stop(server->erp_sender);
    int fatal = atomic_load(&server->fatal_error);
    if (fatal)
        snprintf(message, message_size, "stopped after a store failure: %s", mp_strerror(fatal));
    destroy_server(server);
    if (!fatal)
        log_line("info", "pipeline.server", "stopped cleanly");
    return fatal ? 1 : 0;
}
