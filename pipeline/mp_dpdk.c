/*
 * The DPDK ingest port: EAL and port set-up on a thread of its own, then
 * a burst loop on one lcore in the manner of DPDK's examples/l2fwd:
 * rte_eth_rx_burst(), check each frame's Ethernet, IPv4 and UDP headers,
 * parse the UDP payload where it lies in the mbuf, hand each event to the
 * caller's sink, free the burst in bulk, publish the counters once.
 *
 * Where the payload is parsed.  simdjson reads up to MP_JSON_PADDING bytes
 * past the input, and the shim parses in place only when that padding is
 * there and its first byte is a NUL or blank.  A datagram that lies whole
 * in the first segment of a direct, unshared mbuf is parsed in the mbuf:
 * the byte after the payload (Ethernet padding, FCS or tailroom, all ours
 * once received) is set to NUL and the capacity given to the shim runs to
 * the end of the mbuf's buffer.  With the default 2,176-byte mbufs and a
 * 1,500-byte MTU there are always more than MP_JSON_PADDING bytes left, so
 * no byte is copied; a frame that fills its buffer (jumbo frames with
 * scatter) is copied once by the shim into its padded area.  A datagram
 * spread over several segments, or in an indirect or shared mbuf (which
 * we must not write), is gathered into this port's padded scratch area.
 * Both areas are allocated at start; the loop never allocates.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_udp.h>

#include "mp_assert.h"
#include "mp_dpdk.h"
#include "mp_json.h"
#include "mp_limits.h"
#include "mp_time.h"

/* ------------------------------------------------------------------------
 * Bounds and sizes
 * ---------------------------------------------------------------------- */

#define RX_DESC_COUNT 1024u        /* asked for; the PMD may adjust it */
#define TX_DESC_COUNT 64u          /* only when the PMD insists on a tx queue */
#define POOL_CACHE_SIZE 256u
#define POOL_NAME "mp_dpdk_pool"
#define MESSAGE_SIZE 256u
/* Empty polls between two publications of the poll counters. */
#define EMPTY_POLLS_PER_PUBLISH 4096u
/* Ethernet header plus at most two VLAN tags, the longest IPv4 header, UDP. */
#define VLAN_TAGS_MAX 2u
#define IPV4_HEADER_SIZE_MAX 60u

MP_STATIC_ASSERT(MP_DPDK_DATAGRAM_SIZE_MAX <= MP_BODY_SIZE_MAX,
                 "a datagram must fit the parser's bound");
MP_STATIC_ASSERT(MP_DPDK_BURST_SIZE <= RX_DESC_COUNT, "a burst must fit the rx ring");
MP_STATIC_ASSERT(MP_DPDK_PORTS_MAX <= RTE_MAX_ETHPORTS, "ports are DPDK ports");
MP_STATIC_ASSERT(MP_DPDK_EAL_ARGS_SIZE_MAX >= 256u, "room for a useful EAL argument string");

/*
 * The loop's counters, as an array so that publishing is one loop of
 * relaxed stores.  REJECTED is the first of MP_REJECT_CODE_COUNT slots.
 */
enum counter {
    C_RX_PACKETS = 0,
    C_RX_BYTES,
    C_DATAGRAMS,
    C_EVENTS,
    C_DROPPED_EVENTS,
    C_OTHER_FRAMES,
    C_BAD_LENGTH,
    C_BAD_CHECKSUM,
    C_FRAGMENTS,
    C_WRONG_PORT,
    C_POLLS,
    C_POLLS_EMPTY,
    C_REJECTED,
    C_COUNT = C_REJECTED + MP_REJECT_CODE_COUNT,
};

struct mp_dpdk {
    /* ---- set by mp_dpdk_start() and the set-up, read-only after -------- */
    uint16_t udp_port;
    uint32_t lcore;
    uint32_t main_lcore;
    uint32_t datagram_size_max;
    uint32_t events_per_datagram_max;
    mp_dpdk_event_fn on_event;
    mp_dpdk_burst_fn on_burst;
    void *context;
    uint16_t ports[MP_DPDK_PORTS_MAX];
    uint32_t port_count;
    uint32_t ports_started;
    struct rte_mempool *pool;
    struct mp_json_parser *parser;
    char *scratch;                     /* datagram_size_max + MP_JSON_PADDING */
    uint64_t tsc_hz;
    bool eal_up;                       /* rte_eal_init() succeeded: cleanup due */

    /* ---- the port thread and the start/stop handshake ------------------ */
    pthread_t thread;
    sem_t ready;
    sem_t stop_requested;
    int start_error;
    char start_message[MESSAGE_SIZE];
    int eal_argc;
    char *eal_argv[MP_DPDK_EAL_ARGC_MAX + 2];
    char eal_words[MP_DPDK_EAL_ARGS_SIZE_MAX];

    /* ---- written by the stopping thread, read by the loop -------------- */
    alignas(64) bool stop;

    /* ---- the loop's own state ------------------------------------------ */
    alignas(64) uint64_t local[C_COUNT];
    uint32_t burst_events;             /* events taken in the current burst */

    /* ---- published by the loop, read by any thread --------------------- */
    alignas(64) uint64_t published[C_COUNT];
    uint64_t last_activity_tsc;        /* 0 until the loop runs */
};

/* Once per process: rte_eal_init() cannot be called again, even after cleanup. */
static bool eal_claimed;

static void set_message(char *message, size_t size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void set_message(char *message, size_t size, const char *format, ...)
{
    if (!message || size == 0)
        return;
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(message, size, format, arguments);
    va_end(arguments);
}

/* ------------------------------------------------------------------------
 * EAL argument string
 * ---------------------------------------------------------------------- */

/*
 * Splits `text` into words like a POSIX shell without expansions: blanks
 * separate words, '...' quotes literally, "..." quotes with \" \\ \$ \`
 * escapes, a backslash outside quotes escapes the next character.  The
 * words go to d->eal_words, argv[0] is "milepost".  Returns 0 or MP_EINVAL.
 */
static int split_eal_args(struct mp_dpdk *d, const char *text, char *message, size_t size)
{
    static char program_name[] = "milepost";
    size_t length = strlen(text);
    if (length >= sizeof d->eal_words) {
        set_message(message, size, "dpdk: the EAL argument string is over %u bytes",
                    MP_DPDK_EAL_ARGS_SIZE_MAX - 1);
        return MP_EINVAL;
    }
    int argc = 0;
    d->eal_argv[argc++] = program_name;
    char *out = d->eal_words;
    const char *at = text;
    for (;;) {
        while (*at == ' ' || *at == '\t' || *at == '\n')
            at++;
        if (*at == '\0')
            break;
        if ((size_t)argc > MP_DPDK_EAL_ARGC_MAX) {
            set_message(message, size, "dpdk: more than %u EAL arguments",
                        MP_DPDK_EAL_ARGC_MAX);
            return MP_EINVAL;
        }
        d->eal_argv[argc++] = out;
        char quote = 0;
        while (*at != '\0' && (quote || (*at != ' ' && *at != '\t' && *at != '\n'))) {
            char c = *at++;
            if (quote == '\'') {
                if (c == '\'')
                    quote = 0;
                else
                    *out++ = c;
            } else if (quote == '"') {
                if (c == '"')
                    quote = 0;
                else if (c == '\\' && (*at == '"' || *at == '\\' || *at == '$' || *at == '`'))
                    *out++ = *at++;
                else
                    *out++ = c;
            } else if (c == '\'' || c == '"') {
                quote = c;
            } else if (c == '\\' && *at != '\0') {
                *out++ = *at++;
            } else {
                *out++ = c;
            }
        }
        if (quote) {
            set_message(message, size, "dpdk: unterminated %c quote in the EAL arguments",
                        quote);
            return MP_EINVAL;
        }
        *out++ = '\0';
    }
    /* Each word takes at most its own bytes plus a NUL, and a word needs a separator. */
    MP_ASSERT(out <= d->eal_words + sizeof d->eal_words);
    d->eal_argv[argc] = NULL;
    d->eal_argc = argc;
    return 0;
}

/* ------------------------------------------------------------------------
 * Frame checks
 * ---------------------------------------------------------------------- */

/* Copies frame bytes [offset, offset + size) to out; false when the frame is shorter. */
static inline bool read_bytes(const struct rte_mbuf *m, uint32_t offset, uint32_t size, void *out)
{
    if ((uint64_t)offset + size > rte_pktmbuf_pkt_len(m))
        return false;
    const void *at = rte_pktmbuf_read(m, offset, size, out);
    MP_ASSERT(at != NULL);
    if (at != out)
        memcpy(out, at, size);
    return true;
}

/* True when an IPv4 header (options included) sums to 0xffff, as RFC 1071 asks. */
static inline bool ipv4_checksum_ok(const uint8_t *header, uint32_t size)
{
    uint32_t sum = 0;
    for (uint32_t i = 0; i + 1 < size; i += 2)
        sum += (uint32_t)header[i] << 8 | header[i + 1];
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return sum == 0xffff;
}

static int on_json_event(void *context, uint32_t index, struct mp_event *event, const char *raw,
                         size_t raw_size)
{
    (void)index;
    (void)raw;
    (void)raw_size;
    struct mp_dpdk *d = context;
    if (d->on_event(d->context, event) == 0) {
        d->local[C_EVENTS]++;
        d->burst_events++;
    } else {
        d->local[C_DROPPED_EVENTS]++;
    }
    return 0;
}

static int on_json_reject(void *context, uint32_t index, enum mp_reject_code code,
                          const char *message, const char *raw, size_t raw_size)
{
    (void)index;
    (void)message;
    (void)raw;
    (void)raw_size;
    struct mp_dpdk *d = context;
    MP_ASSERT(code > MP_REJECT_NONE);
    MP_ASSERT(code < MP_REJECT_CODE_COUNT);
    d->local[C_REJECTED + code]++;
    return 0;
}

/* Parses the UDP payload at [offset, offset + size) of the frame. */
static void parse_datagram(struct mp_dpdk *d, struct rte_mbuf *m, uint32_t offset, uint32_t size,
                           int64_t now_ms)
{
    d->local[C_DATAGRAMS]++;
    if (size > d->datagram_size_max) {
        d->local[C_REJECTED + MP_REJECT_TOO_BIG]++;
        return;
    }
    const char *payload;
    size_t capacity;
    if ((uint64_t)offset + size <= rte_pktmbuf_data_len(m) && RTE_MBUF_DIRECT(m) &&
        rte_mbuf_refcnt_read(m) == 1) {
        /* In place (see the top of the file). */
        char *at = rte_pktmbuf_mtod_offset(m, char *, offset);
        const char *buffer_end = (const char *)m->buf_addr + m->buf_len;
        MP_DEBUG_ASSERT(at + size <= buffer_end);
        capacity = (size_t)(buffer_end - at);
        if (capacity > size)
            at[size] = '\0';
        else
            capacity = size;
        payload = at;
    } else {
        /* Several segments, or a buffer we may not write: gather. */
        bool whole = read_bytes(m, offset, size, d->scratch);
        MP_ASSERT(whole);
        d->scratch[size] = '\0';
        payload = d->scratch;
        capacity = (size_t)size + MP_JSON_PADDING;
    }
    struct mp_json_sink sink = {on_json_event, on_json_reject, d};
    struct mp_json_summary summary;
    int error = mp_json_parse_events(d->parser, payload, size, capacity, MP_JSON_AUTO,
                                     d->events_per_datagram_max, now_ms, &sink, &summary, NULL,
                                     0);
    if (error == MP_EPARSE)
        d->local[C_REJECTED + MP_REJECT_BAD_JSON]++;
    else if (error == MP_ETOOBIG)
        d->local[C_REJECTED + MP_REJECT_TOO_BIG]++;
    else
        MP_ASSERT(error == 0);
}

/*
 * One frame: Ethernet (up to two VLAN tags), IPv4 (options skipped by IHL),
 * UDP, each length checked against what the frame holds.  Each dropped
 * frame counts in exactly one counter.
 */
static void handle_frame(struct mp_dpdk *d, struct rte_mbuf *m, int64_t now_ms)
{
    uint32_t frame_size = rte_pktmbuf_pkt_len(m);
    d->local[C_RX_PACKETS]++;
    d->local[C_RX_BYTES] += frame_size;

    struct rte_ether_hdr ethernet;
    if (!read_bytes(m, 0, sizeof ethernet, &ethernet)) {
        d->local[C_BAD_LENGTH]++;
        return;
    }
    uint32_t offset = sizeof ethernet;
    uint16_t ether_type = rte_be_to_cpu_16(ethernet.ether_type);
    for (uint32_t tags = 0; tags < VLAN_TAGS_MAX && (ether_type == RTE_ETHER_TYPE_VLAN ||
                                                     ether_type == RTE_ETHER_TYPE_QINQ);
         tags++) {
        struct rte_vlan_hdr vlan;
        if (!read_bytes(m, offset, sizeof vlan, &vlan)) {
            d->local[C_BAD_LENGTH]++;
            return;
        }
        ether_type = rte_be_to_cpu_16(vlan.eth_proto);
        offset += sizeof vlan;
    }
    if (ether_type != RTE_ETHER_TYPE_IPV4) {
        d->local[C_OTHER_FRAMES]++;
        return;
    }

    uint8_t ip_bytes[IPV4_HEADER_SIZE_MAX];
    struct rte_ipv4_hdr ip;
    if (!read_bytes(m, offset, sizeof ip, &ip)) {
        d->local[C_BAD_LENGTH]++;
        return;
    }
    uint32_t header_size = (uint32_t)(ip.version_ihl & 0x0f) * 4u;
    uint32_t total_size = rte_be_to_cpu_16(ip.total_length);
    /* The frame may be longer than the packet (Ethernet padding), never shorter. */
    if ((ip.version_ihl >> 4) != 4 || header_size < sizeof ip || total_size < header_size ||
        (uint64_t)offset + total_size > frame_size) {
        d->local[C_BAD_LENGTH]++;
        return;
    }
    uint64_t ip_checksum = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
    if (ip_checksum == RTE_MBUF_F_RX_IP_CKSUM_BAD ||
        (ip_checksum != RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
         (!read_bytes(m, offset, header_size, ip_bytes) ||
          !ipv4_checksum_ok(ip_bytes, header_size)))) {
        d->local[C_BAD_CHECKSUM]++;
        return;
    }
    if (ip.next_proto_id != IPPROTO_UDP) {
        d->local[C_OTHER_FRAMES]++;
        return;
    }
    if (rte_be_to_cpu_16(ip.fragment_offset) & (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) {
        d->local[C_FRAGMENTS]++;
        return;
    }

    offset += header_size;
    uint32_t ip_payload_size = total_size - header_size;
    struct rte_udp_hdr udp;
    if (ip_payload_size < sizeof udp || !read_bytes(m, offset, sizeof udp, &udp)) {
        d->local[C_BAD_LENGTH]++;
        return;
    }
    /* As Linux does: a UDP length below the IP payload trims it, above is an error. */
    uint32_t udp_size = rte_be_to_cpu_16(udp.dgram_len);
    if (udp_size < sizeof udp || udp_size > ip_payload_size) {
        d->local[C_BAD_LENGTH]++;
        return;
    }
    if ((m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_BAD) {
        d->local[C_BAD_CHECKSUM]++;
        return;
    }
    if (d->udp_port != 0 && rte_be_to_cpu_16(udp.dst_port) != d->udp_port) {
        d->local[C_WRONG_PORT]++;
        return;
    }
    parse_datagram(d, m, offset + (uint32_t)sizeof udp, udp_size - (uint32_t)sizeof udp, now_ms);
}

/* ------------------------------------------------------------------------
 * The receive loop
 * ---------------------------------------------------------------------- */

static void publish(struct mp_dpdk *d)
{
    for (uint32_t i = 0; i < C_COUNT; i++)
        __atomic_store_n(&d->published[i], d->local[i], __ATOMIC_RELAXED);
}

/* Runs on the chosen lcore until d->stop; the lcore_function_t of rte_eal_remote_launch(). */
static int receive_loop(void *argument)
{
    struct mp_dpdk *d = argument;
    MP_ASSERT(rte_lcore_id() == d->lcore);
    struct rte_mbuf *burst[MP_DPDK_BURST_SIZE];
    __atomic_store_n(&d->last_activity_tsc, rte_rdtsc(), __ATOMIC_RELAXED);
    while (!__atomic_load_n(&d->stop, __ATOMIC_RELAXED)) {
        for (uint32_t p = 0; p < d->port_count; p++) {
            uint16_t count = rte_eth_rx_burst(d->ports[p], 0, burst, MP_DPDK_BURST_SIZE);
            d->local[C_POLLS]++;
            if (count == 0) {
                if (++d->local[C_POLLS_EMPTY] % EMPTY_POLLS_PER_PUBLISH == 0)
                    publish(d);
                continue;
            }
            MP_DEBUG_ASSERT(count <= MP_DPDK_BURST_SIZE);
            int64_t now_ms = mp_time_now_ms();
            d->burst_events = 0;
            for (uint16_t i = 0; i < count; i++) {
                if (i + 1 < count)
                    rte_prefetch0(rte_pktmbuf_mtod(burst[i + 1], void *));
                handle_frame(d, burst[i], now_ms);
            }
            rte_pktmbuf_free_bulk(burst, count);
            if (d->burst_events > 0 && d->on_burst)
                d->on_burst(d->context);
            publish(d);
            __atomic_store_n(&d->last_activity_tsc, rte_rdtsc(), __ATOMIC_RELAXED);
        }
    }
    publish(d);
    return 0;
}

/* ------------------------------------------------------------------------
 * Set-up and teardown (on the port thread)
 * ---------------------------------------------------------------------- */

/* Stops and closes the ports started so far, frees the pool, parser and scratch. */
static void release_ports(struct mp_dpdk *d)
{
    for (uint32_t p = 0; p < d->port_count; p++) {
        if (p < d->ports_started)
            rte_eth_dev_stop(d->ports[p]);
        rte_eth_dev_close(d->ports[p]);
    }
    d->ports_started = 0;
    d->port_count = 0;
    rte_mempool_free(d->pool);
    d->pool = NULL;
    mp_json_parser_destroy(d->parser);
    d->parser = NULL;
    free(d->scratch);
    d->scratch = NULL;
}

/* Configures one port with one rx queue (and a tx queue if the PMD insists). */
static int configure_port(struct mp_dpdk *d, uint16_t port, uint16_t *rx_desc_count,
                          uint64_t *rx_offloads, char *message, size_t size)
{
    struct rte_eth_dev_info info;
    int error = rte_eth_dev_info_get(port, &info);
    if (error < 0) {
        set_message(message, size, "dpdk: port %u: rte_eth_dev_info_get: %s", port,
                    rte_strerror(-error));
        return error;
    }
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof conf);
    /* Checksum verdicts from the NIC save the software check; scatter takes jumbo frames. */
    conf.rxmode.offloads = info.rx_offload_capa & (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM |
                                                   RTE_ETH_RX_OFFLOAD_UDP_CKSUM |
                                                   RTE_ETH_RX_OFFLOAD_SCATTER);
    uint16_t tx_queues = 0;
    error = rte_eth_dev_configure(port, 1, 0, &conf);
    if (error < 0) {
        tx_queues = 1;
        error = rte_eth_dev_configure(port, 1, 1, &conf);
    }
    if (error < 0) {
        set_message(message, size, "dpdk: port %u (%s): rte_eth_dev_configure: %s", port,
                    info.driver_name, rte_strerror(-error));
        return error;
    }
    uint16_t rx_desc = RX_DESC_COUNT, tx_desc = TX_DESC_COUNT;
    error = rte_eth_dev_adjust_nb_rx_tx_desc(port, &rx_desc, &tx_desc);
    if (error < 0) {
        set_message(message, size, "dpdk: port %u: rte_eth_dev_adjust_nb_rx_tx_desc: %s",
                    port, rte_strerror(-error));
        return error;
    }
    if (tx_queues > 0) {
        error = rte_eth_tx_queue_setup(port, 0, tx_desc, (unsigned)rte_eth_dev_socket_id(port),
                                       NULL);
        if (error < 0) {
            set_message(message, size, "dpdk: port %u: rte_eth_tx_queue_setup: %s", port,
                        rte_strerror(-error));
            return error;
        }
    }
    *rx_desc_count = rx_desc;
    *rx_offloads = conf.rxmode.offloads;
    return 0;
}

/* Sets up everything after rte_eal_init(); on failure releases what it made. */
static int setup_ports(struct mp_dpdk *d, char *message, size_t size)
{
    uint16_t port;
    RTE_ETH_FOREACH_DEV(port)
    {
        if (d->port_count == MP_DPDK_PORTS_MAX) {
            set_message(message, size, "dpdk: more than %u ports", MP_DPDK_PORTS_MAX);
            return MP_ETOOBIG;
        }
        d->ports[d->port_count++] = port;
    }
    if (d->port_count == 0) {
        set_message(message, size,
                    "dpdk: the EAL found no port: give a --vdev or bind a NIC (docs/dpdk.md)");
        return -ENODEV;
    }

    uint16_t rx_desc[MP_DPDK_PORTS_MAX];
    uint64_t rx_offloads[MP_DPDK_PORTS_MAX];
    uint32_t mbuf_count = 2 * POOL_CACHE_SIZE + MP_DPDK_BURST_SIZE;
    for (uint32_t p = 0; p < d->port_count; p++) {
        int error = configure_port(d, d->ports[p], &rx_desc[p], &rx_offloads[p], message, size);
        if (error < 0)
            return error;
        mbuf_count += rx_desc[p] + MP_DPDK_BURST_SIZE;
    }
    /* A mempool is most compact at 2^n - 1 objects. */
    uint32_t pool_size = 1;
    while (pool_size < mbuf_count + 1)
        pool_size <<= 1;
    int socket = (int)rte_lcore_to_socket_id(d->lcore);
    d->pool = rte_pktmbuf_pool_create(POOL_NAME, pool_size - 1, POOL_CACHE_SIZE, 0,
                                      RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    if (!d->pool) {
        set_message(message, size, "dpdk: rte_pktmbuf_pool_create(%u mbufs): %s", pool_size - 1,
                    rte_strerror(rte_errno));
        return -rte_errno;
    }
    int error = mp_json_parser_create(d->datagram_size_max, &d->parser);
    if (error == 0) {
        d->scratch = malloc((size_t)d->datagram_size_max + MP_JSON_PADDING);
        if (!d->scratch)
            error = -ENOMEM;
    }
    if (error != 0) {
        set_message(message, size, "dpdk: parser: %s", mp_strerror(error));
        return error;
    }

    for (uint32_t p = 0; p < d->port_count; p++) {
        port = d->ports[p];
        struct rte_eth_dev_info info;
        error = rte_eth_dev_info_get(port, &info);
        if (error == 0) {
            struct rte_eth_rxconf rxconf = info.default_rxconf;
            rxconf.offloads = rx_offloads[p];
            error = rte_eth_rx_queue_setup(port, 0, rx_desc[p],
                                           (unsigned)rte_eth_dev_socket_id(port), &rxconf,
                                           d->pool);
        }
        if (error < 0) {
            set_message(message, size, "dpdk: port %u: rte_eth_rx_queue_setup: %s", port,
                        rte_strerror(-error));
            return error;
        }
        error = rte_eth_dev_start(port);
        if (error < 0) {
            set_message(message, size, "dpdk: port %u: rte_eth_dev_start: %s", port,
                        rte_strerror(-error));
            return error;
        }
        d->ports_started = p + 1;
        /* Replays carry any MAC address; virtual devices may not support it. */
        (void)rte_eth_promiscuous_enable(port);
    }
    return 0;
}

/* rte_eal_init() and the lcore choice; "EAL:" prefixes the EAL's own failure. */
static int init_eal(struct mp_dpdk *d, char *message, size_t size)
{
    /* DPDK logs to stdout and syslog by default; stdout carries our `listening` line. */
    rte_openlog_stream(stderr);
    rte_log_set_global_level(RTE_LOG_NOTICE);
    int parsed = rte_eal_init(d->eal_argc, d->eal_argv);
    if (parsed < 0) {
        int error = rte_errno > 0 ? rte_errno : EIO;
        set_message(message, size, "EAL: rte_eal_init failed: %s (DPDK's log above says why)",
                    rte_strerror(error));
        return -error;
    }
    d->eal_up = true;
    if (parsed + 1 < d->eal_argc) {
        set_message(message, size, "dpdk: '%s' is not an EAL argument", d->eal_argv[parsed + 1]);
        return MP_EINVAL;
    }
    d->main_lcore = rte_get_main_lcore();
    if (d->lcore == MP_DPDK_LCORE_ANY) {
        unsigned worker = rte_get_next_lcore((unsigned)-1, 1, 0);
        d->lcore = worker < RTE_MAX_LCORE ? worker : d->main_lcore;
    }
    if (d->lcore >= RTE_MAX_LCORE || !rte_lcore_is_enabled(d->lcore)) {
        set_message(message, size, "dpdk: lcore %u is not in the EAL's lcore list (-l)",
                    d->lcore);
        return MP_EINVAL;
    }
    d->tsc_hz = rte_get_tsc_hz();
    return 0;
}

/*
 * The port thread: EAL, ports, then the loop here (main lcore) or on a
 * worker lcore while this thread sleeps; after the stop, the teardown.
 */
static void *port_thread(void *argument)
{
    struct mp_dpdk *d = argument;
    char *message = d->start_message;
    size_t size = sizeof d->start_message;
    int error = init_eal(d, message, size);
    if (error == 0)
        error = setup_ports(d, message, size);
    bool on_worker = error == 0 && d->lcore != d->main_lcore;
    if (on_worker) {
        error = rte_eal_remote_launch(receive_loop, d, d->lcore);
        if (error < 0)
            set_message(message, size, "dpdk: rte_eal_remote_launch on lcore %u: %s", d->lcore,
                        rte_strerror(-error));
    }
    if (error != 0) {
        release_ports(d);
        if (d->eal_up)
            rte_eal_cleanup();
        d->start_error = error;
        sem_post(&d->ready);
        return NULL;
    }
    d->start_error = 0;
    sem_post(&d->ready);

    if (on_worker) {
        while (sem_wait(&d->stop_requested) != 0)
            MP_ASSERT(errno == EINTR);
        __atomic_store_n(&d->stop, true, __ATOMIC_RELAXED);
        rte_eal_wait_lcore(d->lcore);
    } else {
        receive_loop(d);
    }
    release_ports(d);
    rte_eal_cleanup();
    return NULL;
}

/* ------------------------------------------------------------------------
 * Public functions
 * ---------------------------------------------------------------------- */

int mp_dpdk_start(const struct mp_dpdk_options *options, struct mp_dpdk **out, char *message,
                  size_t size)
{
    MP_ASSERT(options != NULL);
    MP_ASSERT(out != NULL);
    set_message(message, size, "%s", "");
    if (!options->eal_args || !options->on_event ||
        options->datagram_size_max > MP_DPDK_DATAGRAM_SIZE_MAX ||
        options->events_per_datagram_max > MP_EVENTS_PER_REQUEST_MAX) {
        set_message(message, size, "dpdk: bad options (eal_args and on_event are required)");
        return MP_EINVAL;
    }
    struct mp_dpdk *d = aligned_alloc(64, (sizeof *d + 63) / 64 * 64);
    if (!d) {
        set_message(message, size, "dpdk: out of memory");
        return -ENOMEM;
    }
    memset(d, 0, sizeof *d);
    d->udp_port = options->udp_port;
    d->lcore = options->lcore;
    d->datagram_size_max =
        options->datagram_size_max ? options->datagram_size_max : MP_DPDK_DATAGRAM_SIZE_MAX;
    d->events_per_datagram_max = options->events_per_datagram_max
                                     ? options->events_per_datagram_max
                                     : MP_EVENTS_PER_REQUEST_MAX;
    d->on_event = options->on_event;
    d->on_burst = options->on_burst;
    d->context = options->context;
    int error = split_eal_args(d, options->eal_args, message, size);
    if (error != 0) {
        free(d);
        return error;
    }
    if (__atomic_exchange_n(&eal_claimed, true, __ATOMIC_ACQ_REL)) {
        set_message(message, size,
                    "dpdk: the EAL was initialised before in this process; it can be only once");
        free(d);
        return -EALREADY;
    }
    sem_init(&d->ready, 0, 0);
    sem_init(&d->stop_requested, 0, 0);
    error = pthread_create(&d->thread, NULL, port_thread, d);
    if (error != 0) {
        set_message(message, size, "dpdk: pthread_create: %s", strerror(error));
        sem_destroy(&d->ready);
        sem_destroy(&d->stop_requested);
        free(d);
        return -error;
    }
    while (sem_wait(&d->ready) != 0)
        MP_ASSERT(errno == EINTR);
    if (d->start_error != 0) {
        error = d->start_error;
        pthread_join(d->thread, NULL);
        set_message(message, size, "%s", d->start_message);
        sem_destroy(&d->ready);
        sem_destroy(&d->stop_requested);
        free(d);
        return error;
    }
    *out = d;
    return 0;
}

void mp_dpdk_stop(struct mp_dpdk *d)
{
    if (!d)
        return;
    __atomic_store_n(&d->stop, true, __ATOMIC_RELAXED);
    sem_post(&d->stop_requested);
    pthread_join(d->thread, NULL);
    sem_destroy(&d->ready);
    sem_destroy(&d->stop_requested);
    free(d);
}

void mp_dpdk_counters(const struct mp_dpdk *d, struct mp_dpdk_counters *out)
{
    MP_ASSERT(d != NULL);
    MP_ASSERT(out != NULL);
    uint64_t c[C_COUNT];
    for (uint32_t i = 0; i < C_COUNT; i++)
        c[i] = __atomic_load_n(&d->published[i], __ATOMIC_RELAXED);
    memset(out, 0, sizeof *out);
    out->rx_packets = c[C_RX_PACKETS];
    out->rx_bytes = c[C_RX_BYTES];
    out->datagrams = c[C_DATAGRAMS];
    out->events = c[C_EVENTS];
    out->dropped_events = c[C_DROPPED_EVENTS];
    out->other_frames = c[C_OTHER_FRAMES];
    out->bad_length = c[C_BAD_LENGTH];
    out->bad_checksum = c[C_BAD_CHECKSUM];
    out->fragments = c[C_FRAGMENTS];
    out->wrong_port = c[C_WRONG_PORT];
    out->polls = c[C_POLLS];
    out->polls_empty = c[C_POLLS_EMPTY];
    for (uint32_t code = 0; code < MP_REJECT_CODE_COUNT; code++) {
        out->rejected[code] = c[C_REJECTED + code];
        out->rejected_total += c[C_REJECTED + code];
    }
    for (uint32_t p = 0; p < d->port_count; p++) {
        struct rte_eth_stats stats;
        if (rte_eth_stats_get(d->ports[p], &stats) == 0) {
            out->imissed += stats.imissed;
            out->ierrors += stats.ierrors;
            out->rx_nombuf += stats.rx_nombuf;
        }
    }
}

bool mp_dpdk_idle_since(const struct mp_dpdk *d, uint64_t ms)
{
    MP_ASSERT(d != NULL);
    uint64_t last = __atomic_load_n(&d->last_activity_tsc, __ATOMIC_RELAXED);
    if (last == 0)
        return false;
    uint64_t now = rte_rdtsc();
    return now > last && (now - last) / (d->tsc_hz / 1000 ? d->tsc_hz / 1000 : 1) >= ms;
}

uint32_t mp_dpdk_lcore(const struct mp_dpdk *d)
{
    MP_ASSERT(d != NULL);
    return d->lcore;
}

uint32_t mp_dpdk_port_count(const struct mp_dpdk *d)
{
    MP_ASSERT(d != NULL);
    return d->port_count;
}
