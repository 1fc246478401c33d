/*
 * Unit tests of pipeline/mp_dpdk: the DPDK ingest port, on virtual
 * devices, without a NIC or hugepages.
 *
 * The EAL initialises once per process, so each case is its own run of
 * this program, chosen by its argument (tests/meson.build registers both):
 *
 *   pcap       a pcap written with bench/mp_pcap (generated events packed
 *              one to three per datagram, a multi-segment jumbo datagram, a
 *              datagram that fills its mbuf, rejected records and one frame
 *              of every malformed kind) replayed through net_pcap on a
 *              worker lcore: every event arrives once, in order, with its
 *              fields; every bad frame lands in its counter.
 *   af_packet  real UDP datagrams sent to 127.0.0.1 through a socket, read
 *              by net_af_packet on `lo` by the main lcore.
 *
 * Exit status 77 (skipped) only when the EAL cannot start on this machine
 * (rte_eal_init fails for a reason other than its arguments).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mp_dpdk.h"
#include "mp_error.h"
#include "mp_event.h"
#include "mp_gen.h"
#include "mp_json.h"
#include "mp_pcap.h"

#define SKIP 77
#define EVENTS_MAX 4096u
#define WAIT_MS 15000
/* The sink refuses the event that arrives at this index (dropped_events). */
#define REFUSED_ARRIVAL 9u

/* ------------------------------------------------------------------------
 * Events as the test compares them
 * ---------------------------------------------------------------------- */

struct seen {
    struct mp_identity identity;
    uint64_t shipment_hash;
    int64_t event_time_ms;
    uint8_t milestone;
    uint8_t source;
    uint16_t tracking_size;
    char tracking[MP_TRACKING_NUMBER_SIZE_MAX];
};

static void seen_from_event(struct seen *out, const struct mp_event *event)
{
    memset(out, 0, sizeof *out);
    out->identity = event->identity;
    out->shipment_hash = event->shipment_hash;
    out->event_time_ms = event->event_time_ms;
    out->milestone = event->milestone;
    out->source = event->source;
    out->tracking_size = event->tracking_number.size;
    memcpy(out->tracking, mp_event_text(event, event->tracking_number),
           event->tracking_number.size);
}

static bool seen_equal(const struct seen *a, const struct seen *b)
{
    return mp_identity_compare(a->identity, b->identity) == 0 &&
           a->shipment_hash == b->shipment_hash && a->event_time_ms == b->event_time_ms &&
           a->milestone == b->milestone && a->source == b->source &&
           a->tracking_size == b->tracking_size &&
           memcmp(a->tracking, b->tracking, a->tracking_size) == 0;
}

/* What the port's sink saw; written only by the receive lcore. */
struct recorder {
    struct seen seen[EVENTS_MAX];
    uint32_t count;
    uint32_t arrivals;
    uint32_t bursts;
    bool refuse_one;
};

static struct recorder recorder;

static int record_event(void *context, struct mp_event *event)
{
    struct recorder *r = context;
    uint32_t arrival = r->arrivals++;
    if (r->refuse_one && arrival == REFUSED_ARRIVAL)
        return 1;
    if (r->count < EVENTS_MAX)
        seen_from_event(&r->seen[r->count++], event);
    return 0;
}

static void record_burst(void *context)
{
    struct recorder *r = context;
    r->bursts++;
}

/* ------------------------------------------------------------------------
 * The oracle: the project's parser, on the test's thread
 * ---------------------------------------------------------------------- */

struct expected {
    struct seen events[EVENTS_MAX];
    uint32_t count;
    uint64_t rejected[MP_REJECT_CODE_COUNT];
    uint64_t datagrams;
};

static struct expected expected;
static struct mp_json_parser *oracle;
static char oracle_buffer[MP_DPDK_DATAGRAM_SIZE_MAX + MP_JSON_PADDING];

static int oracle_event(void *context, uint32_t index, struct mp_event *event, const char *raw,
                        size_t raw_size)
{
    (void)context;
    (void)index;
    (void)raw;
    (void)raw_size;
    MP_ASSERT(expected.count < EVENTS_MAX);
    seen_from_event(&expected.events[expected.count++], event);
    return 0;
}

static int oracle_reject(void *context, uint32_t index, enum mp_reject_code code,
                         const char *message, const char *raw, size_t raw_size)
{
    (void)context;
    (void)index;
    (void)message;
    (void)raw;
    (void)raw_size;
    expected.rejected[code]++;
    return 0;
}

/* Records what a datagram with this payload must produce. */
static void expect_datagram(const char *payload, size_t size)
{
    MP_ASSERT(size <= MP_DPDK_DATAGRAM_SIZE_MAX);
    memcpy(oracle_buffer, payload, size);
    memset(oracle_buffer + size, 0, MP_JSON_PADDING);
    struct mp_json_sink sink = {oracle_event, oracle_reject, NULL};
    struct mp_json_summary summary;
    int error = mp_json_parse_events(oracle, oracle_buffer, size, size + MP_JSON_PADDING,
                                     MP_JSON_AUTO, MP_EVENTS_PER_REQUEST_MAX, 0, &sink, &summary,
                                     NULL, 0);
    if (error == MP_EPARSE)
        expected.rejected[MP_REJECT_BAD_JSON]++;
    else
        MP_ASSERT(error == 0);
    expected.datagrams++;
}

/* ------------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------- */

/* The EAL's -l list: the first two CPUs this process may use, or the one. */
static void lcore_list(char *out, size_t size, bool want_two)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    int first = -1, second = -1;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
            if (!CPU_ISSET(cpu, &set))
                continue;
            if (first < 0)
                first = cpu;
            else if (second < 0)
                second = cpu;
        }
    }
    if (first < 0)
        first = 0;
    if (want_two && second >= 0)
        snprintf(out, size, "%d,%d", first, second);
    else
        snprintf(out, size, "%d", first);
}

static void sleep_ms(long ms)
{
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

/* Starts the port; exits 77 when the EAL cannot run here, 1 on other failures. */
static struct mp_dpdk *start_or_skip(const char *eal_args, uint16_t udp_port, bool refuse_one)
{
    memset(&recorder, 0, sizeof recorder);
    recorder.refuse_one = refuse_one;
    struct mp_dpdk_options options = {
        .eal_args = eal_args,
        .udp_port = udp_port,
        .lcore = MP_DPDK_LCORE_ANY,
        .on_event = record_event,
        .on_burst = record_burst,
        .context = &recorder,
    };
    struct mp_dpdk *d = NULL;
    char message[256];
    int error = mp_dpdk_start(&options, &d, message, sizeof message);
    if (error != 0) {
        if (strncmp(message, "EAL:", 4) == 0 && error != -EINVAL) {
            fprintf(stderr, "skipped: the DPDK EAL cannot start here (%s)\n", message);
            exit(SKIP);
        }
        fprintf(stderr, "mp_dpdk_start(\"%s\") = %d: %s\n", eal_args, error, message);
        exit(1);
    }
    return d;
}

/*
 * Waits until `done` holds for the counters and then until the port is
 * idle for 100 ms or, on a busy device (lo carries other traffic), until
 * no event came for 200 ms.
 */
static void wait_for(struct mp_dpdk *d, bool (*done)(const struct mp_dpdk_counters *, uint64_t),
                     uint64_t target)
{
    struct mp_dpdk_counters counters;
    uint64_t last_events = UINT64_MAX;
    int stable_ms = 0;
    for (int waited = 0; waited < WAIT_MS; waited += 10) {
        mp_dpdk_counters(d, &counters);
        uint64_t events = counters.events + counters.dropped_events;
        stable_ms = events == last_events ? stable_ms + 10 : 0;
        last_events = events;
        if (done(&counters, target) && (mp_dpdk_idle_since(d, 100) || stable_ms >= 200))
            return;
        sleep_ms(10);
    }
}

static bool rx_packets_reached(const struct mp_dpdk_counters *counters, uint64_t target)
{
    return counters->rx_packets >= target;
}

static bool events_reached(const struct mp_dpdk_counters *counters, uint64_t target)
{
    return counters->events + counters->dropped_events >= target;
}

static void print_counters(const struct mp_dpdk_counters *c)
{
    fprintf(stderr,
            "counters: rx_packets=%llu rx_bytes=%llu datagrams=%llu events=%llu dropped=%llu "
            "other=%llu bad_length=%llu bad_checksum=%llu fragments=%llu wrong_port=%llu "
            "rejected=%llu polls=%llu polls_empty=%llu imissed=%llu ierrors=%llu "
            "rx_nombuf=%llu\n",
            (unsigned long long)c->rx_packets, (unsigned long long)c->rx_bytes,
            (unsigned long long)c->datagrams, (unsigned long long)c->events,
            (unsigned long long)c->dropped_events, (unsigned long long)c->other_frames,
            (unsigned long long)c->bad_length, (unsigned long long)c->bad_checksum,
            (unsigned long long)c->fragments, (unsigned long long)c->wrong_port,
            (unsigned long long)c->rejected_total, (unsigned long long)c->polls,
            (unsigned long long)c->polls_empty, (unsigned long long)c->imissed,
            (unsigned long long)c->ierrors, (unsigned long long)c->rx_nombuf);
}

/* A generator of a small fixed workload. */
static struct mp_gen *make_generator(uint64_t events)
{
    struct mp_gen_config config;
    mp_gen_config_default(&config);
    config.seed = 20261123;
    config.shipment_count = 200;
    config.event_count = events;
    config.duplicate_rate = 0.2;
    struct mp_gen *gen = NULL;
    MP_ASSERT(mp_gen_create(&config, &gen) == 0);
    return gen;
}

static const char unknown_status_line[] =
    "{\"carrier\":\"UPS\",\"tracking_number\":\"1ZUNKNOWN00000001\","
    "\"status\":\"TELEPORTED\",\"event_time\":\"2026-11-23T10:00:00Z\"}\n";

/* ------------------------------------------------------------------------
 * Case pcap: replay through net_pcap
 * ---------------------------------------------------------------------- */

#define PCAP_LINES 1200u

struct pcap_case {
    char directory[64];
    char path[128];
    uint64_t frames;
    uint64_t bytes;
    struct mp_pcap_flow flow;
};

static struct pcap_case pcap_case;

/* Writes one datagram and records what it must produce. */
static void write_datagram(struct mp_pcap *pcap, const char *payload, size_t size)
{
    MP_ASSERT(mp_pcap_write_udp(pcap, &pcap_case.flow, payload, size) == 0);
    pcap_case.frames++;
    expect_datagram(payload, size);
}

static void write_pcap(void)
{
    strcpy(pcap_case.directory, "/tmp/mp-dpdk-test-XXXXXX");
    MP_ASSERT(mkdtemp(pcap_case.directory) != NULL);
    snprintf(pcap_case.path, sizeof pcap_case.path, "%s/replay.pcap", pcap_case.directory);
    mp_pcap_flow_default(&pcap_case.flow);
    pcap_case.flow.destination_port = 7413;

    struct mp_pcap *pcap = NULL;
    char message[256];
    MP_ASSERT(mp_pcap_open(pcap_case.path, &pcap, message, sizeof message) == 0);
    struct mp_gen *gen = make_generator(PCAP_LINES);
    static char datagram[MP_DPDK_DATAGRAM_SIZE_MAX];
    char line[MP_GEN_LINE_SIZE_MAX];
    size_t line_size;
    uint32_t datagram_index = 0;
    uint32_t malformed_kind = 0;
    bool wrote_jumbo = false, wrote_full = false, wrote_mixed = false;
    while (mp_gen_next(gen, line, sizeof line, &line_size) == 1) {
        size_t size = 0;
        memcpy(datagram, line, line_size);
        size = line_size;
        /* One to three lines per datagram. */
        for (uint32_t extra = datagram_index % 3; extra > 0; extra--) {
            if (mp_gen_next(gen, line, sizeof line, &line_size) != 1)
                break;
            memcpy(datagram + size, line, line_size);
            size += line_size;
        }
        write_datagram(pcap, datagram, size);
        datagram_index++;

        if (datagram_index == 100 && !wrote_jumbo) {
            /* 24 lines, about 6 KB: several mbuf segments, gathered. */
            size = 0;
            for (int k = 0; k < 24 && mp_gen_next(gen, line, sizeof line, &line_size) == 1; k++) {
                memcpy(datagram + size, line, line_size);
                size += line_size;
            }
            MP_ASSERT(size > 4096);
            write_datagram(pcap, datagram, size);
            wrote_jumbo = true;
        }
        if (datagram_index == 150 && !wrote_full &&
            mp_gen_next(gen, line, sizeof line, &line_size) == 1) {
            /*
             * One event padded with blanks to a frame of 2,038 bytes: it
             * fits a default mbuf (2,048 bytes of data room) with 10 bytes
             * left, fewer than MP_JSON_PADDING, so the shim copies it.
             */
            size_t payload_size = 2038 - MP_PCAP_HEADERS_SIZE;
            memcpy(datagram, line, line_size - 1);
            memset(datagram + line_size - 1, ' ', payload_size - line_size);
            datagram[payload_size - 1] = '\n';
            write_datagram(pcap, datagram, payload_size);
            wrote_full = true;
        }
        if (datagram_index == 200 && !wrote_mixed &&
            mp_gen_next(gen, line, sizeof line, &line_size) == 1) {
            /* NDJSON with a broken line and an unknown status between good ones. */
            size = 0;
            memcpy(datagram, line, line_size);
            size = line_size;
            static const char broken[] = "{\"carrier\":\"UPS\",\"tracking_number\n";
            memcpy(datagram + size, broken, sizeof broken - 1);
            size += sizeof broken - 1;
            memcpy(datagram + size, unknown_status_line, sizeof unknown_status_line - 1);
            size += sizeof unknown_status_line - 1;
            if (mp_gen_next(gen, line, sizeof line, &line_size) == 1) {
                memcpy(datagram + size, line, line_size);
                size += line_size;
            }
            write_datagram(pcap, datagram, size);
            wrote_mixed = true;
        }
        /* A malformed frame of each kind, spread over the replay. */
        if (datagram_index % 20 == 0 && malformed_kind < MP_PCAP_MALFORMED_COUNT) {
            uint64_t before = mp_pcap_frame_count(pcap);
            MP_ASSERT(mp_pcap_write_malformed(pcap, &pcap_case.flow, malformed_kind) == 0);
            MP_ASSERT(mp_pcap_frame_count(pcap) == before + 1);
            pcap_case.frames++;
            malformed_kind++;
        }
    }
    MP_ASSERT(wrote_jumbo && wrote_full && wrote_mixed);
    MP_ASSERT(malformed_kind == MP_PCAP_MALFORMED_COUNT);
    MP_ASSERT(mp_pcap_frame_count(pcap) == pcap_case.frames);
    pcap_case.bytes = mp_pcap_byte_count(pcap);
    MP_ASSERT(mp_pcap_close(pcap) == 0);
    mp_gen_destroy(gen);
    /* Payload kinds reach the parser: garbage, empty: bad_json; [1,2]: two not_an_event. */
    expected.datagrams += 3;
    expected.rejected[MP_REJECT_BAD_JSON] += 2;    /* garbage, empty */
    expected.rejected[MP_REJECT_NOT_AN_EVENT] += 2; /* [1,2] */
}

static void test_pcap_bad_options(void **state)
{
    (void)state;
    /* Refused before the EAL is touched, so the real start below still works. */
    struct mp_dpdk_options options = {
        .eal_args = "--no-huge 'unterminated", .on_event = record_event, .context = &recorder};
    struct mp_dpdk *d = NULL;
    char message[256];
    assert_int_equal(mp_dpdk_start(&options, &d, message, sizeof message), MP_EINVAL);
    assert_non_null(strstr(message, "unterminated"));
    options.eal_args = "--no-huge";
    options.on_event = NULL;
    assert_int_equal(mp_dpdk_start(&options, &d, message, sizeof message), MP_EINVAL);
    assert_null(d);
    mp_dpdk_stop(NULL);
}

static void test_pcap_replay(void **state)
{
    (void)state;
    char lcores[32], eal_args[512];
    lcore_list(lcores, sizeof lcores, true);
    snprintf(eal_args, sizeof eal_args,
             "--no-huge --no-pci --no-shconf --no-telemetry --file-prefix=mp-test-%d -l %s "
             "--vdev=\"net_pcap0,rx_pcap=%s\",'infinite_rx=0'",
             (int)getpid(), lcores, pcap_case.path);
    struct mp_dpdk *d = start_or_skip(eal_args, pcap_case.flow.destination_port, true);
    assert_int_equal(mp_dpdk_port_count(d), 1);
    if (strchr(lcores, ','))
        assert_int_equal(mp_dpdk_lcore(d), (uint32_t)atoi(strchr(lcores, ',') + 1));

    wait_for(d, rx_packets_reached, pcap_case.frames);
    assert_true(mp_dpdk_idle_since(d, 100));
    struct mp_dpdk_counters c;
    mp_dpdk_counters(d, &c);
    print_counters(&c);
    mp_dpdk_stop(d);

    assert_int_equal(c.rx_packets, pcap_case.frames);
    assert_int_equal(c.rx_bytes, pcap_case.bytes);
    assert_int_equal(c.bad_length, 7);
    assert_int_equal(c.bad_checksum, 1);
    assert_int_equal(c.fragments, 2);
    assert_int_equal(c.other_frames, 3);
    assert_int_equal(c.wrong_port, 1);
    assert_int_equal(c.datagrams, expected.datagrams);
    for (uint32_t code = 0; code < MP_REJECT_CODE_COUNT; code++)
        assert_int_equal(c.rejected[code], expected.rejected[code]);
    assert_int_equal(c.rejected[MP_REJECT_BAD_JSON], 3);
    assert_int_equal(c.rejected[MP_REJECT_UNKNOWN_STATUS], 1);
    assert_int_equal(c.rejected[MP_REJECT_NOT_AN_EVENT], 2);
    assert_int_equal(c.imissed, 0);
    assert_int_equal(c.ierrors, 0);
    assert_true(c.polls >= c.polls_empty);

    /* Every event exactly once, in order, with its fields; one refused by the sink. */
    assert_int_equal(c.dropped_events, 1);
    assert_int_equal(c.events + 1, expected.count);
    assert_int_equal(recorder.count, expected.count - 1);
    assert_true(recorder.bursts > 0 && recorder.bursts <= c.rx_packets);
    for (uint32_t i = 0, j = 0; i < expected.count; i++) {
        if (i == REFUSED_ARRIVAL)
            continue;
        if (!seen_equal(&recorder.seen[j], &expected.events[i]))
            fail_msg("event %u differs from the oracle's (tracking %.*s)", i,
                     (int)expected.events[i].tracking_size, expected.events[i].tracking);
        j++;
    }
    /* No event from a malformed frame. */
    for (uint32_t j = 0; j < recorder.count; j++)
        assert_false(recorder.seen[j].tracking_size == 18 &&
                     memcmp(recorder.seen[j].tracking, "1ZMALFORMED0000001", 18) == 0);

    /* The EAL initialises once per process. */
    struct mp_dpdk_options options = {
        .eal_args = eal_args, .on_event = record_event, .context = &recorder};
    struct mp_dpdk *again = NULL;
    char message[256];
    assert_int_equal(mp_dpdk_start(&options, &again, message, sizeof message), -EALREADY);
    assert_null(again);
}

static int run_pcap(void)
{
    write_pcap();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pcap_bad_options),
        cmocka_unit_test(test_pcap_replay),
    };
    int failed = cmocka_run_group_tests_name("mp_dpdk_pcap", tests, NULL, NULL);
    unlink(pcap_case.path);
    rmdir(pcap_case.directory);
    return failed ? 1 : 0;
}

/* ------------------------------------------------------------------------
 * Case af_packet: real datagrams on lo
 * ---------------------------------------------------------------------- */

#define AF_PACKET_DATAGRAMS 200u

static void test_af_packet_lo(void **state)
{
    (void)state;
    /* A bound receiver, so the kernel answers no ICMP port unreachable. */
    int receiver = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(receiver >= 0);
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(receiver, (struct sockaddr *)&address, sizeof address), 0);
    socklen_t address_size = sizeof address;
    assert_int_equal(getsockname(receiver, (struct sockaddr *)&address, &address_size), 0);
    uint16_t port = ntohs(address.sin_port);

    char lcores[32], eal_args[512];
    lcore_list(lcores, sizeof lcores, false);
    snprintf(eal_args, sizeof eal_args,
             "--no-huge --no-pci --no-shconf --no-telemetry --file-prefix=mp-test-%d -l %s "
             "--vdev=net_af_packet0,iface=lo,framecnt=4096",
             (int)getpid(), lcores);
    struct mp_dpdk *d = start_or_skip(eal_args, port, false);
    assert_int_equal(mp_dpdk_lcore(d), (uint32_t)atoi(lcores));
    /* The packet socket is bound at start; let the loop run before sending. */
    sleep_ms(50);

    int sender = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(sender >= 0);
    struct mp_gen *gen = make_generator(AF_PACKET_DATAGRAMS + 2);
    char line[MP_GEN_LINE_SIZE_MAX * 2];
    size_t line_size, second_size;
    for (uint32_t i = 0; i < AF_PACKET_DATAGRAMS; i++) {
        assert_int_equal(mp_gen_next(gen, line, sizeof line, &line_size), 1);
        if (i == 0) {
            /* Two NDJSON lines in the first datagram. */
            assert_int_equal(
                mp_gen_next(gen, line + line_size, sizeof line - line_size, &second_size), 1);
            line_size += second_size;
        }
        expect_datagram(line, line_size);
        assert_int_equal(sendto(sender, line, line_size, 0, (struct sockaddr *)&address,
                                sizeof address),
                         (ssize_t)line_size);
        if (i % 32 == 31)
            sleep_ms(2); /* within the packet ring */
    }
    static const char garbage[] = "\x01not json";
    assert_int_equal(sendto(sender, garbage, sizeof garbage - 1, 0,
                            (struct sockaddr *)&address, sizeof address),
                     (ssize_t)(sizeof garbage - 1));
    mp_gen_destroy(gen);

    wait_for(d, events_reached, expected.count);
    struct mp_dpdk_counters c;
    mp_dpdk_counters(d, &c);
    print_counters(&c);
    mp_dpdk_stop(d);
    close(sender);
    close(receiver);

    /*
     * A packet socket on lo sees each datagram twice, once leaving and once
     * arriving (libpcap hides the first; net_af_packet does not).  Every
     * event must arrive, and each the same number of times.
     */
    assert_true(recorder.count >= expected.count);
    uint32_t copies = recorder.count / expected.count;
    assert_true(copies == 1 || copies == 2);
    assert_int_equal(recorder.count, copies * expected.count);
    for (uint32_t i = 0; i < expected.count; i++) {
        uint32_t found = 0;
        for (uint32_t j = 0; j < recorder.count; j++)
            found += seen_equal(&recorder.seen[j], &expected.events[i]);
        /* The generator's duplicates are the same event: count them too. */
        uint32_t same = 0;
        for (uint32_t k = 0; k < expected.count; k++)
            same += seen_equal(&expected.events[k], &expected.events[i]);
        if (found != copies * same)
            fail_msg("event %u arrived %u times, want %u", i, found, copies * same);
    }
    assert_int_equal(c.rejected[MP_REJECT_BAD_JSON], copies);
    assert_int_equal(c.datagrams, copies * (AF_PACKET_DATAGRAMS + 1));
    assert_int_equal(c.dropped_events, 0);
}

static int run_af_packet(void)
{
    /*
     * net_af_packet needs a packet socket; without CAP_NET_RAW the EAL
     * starts but cannot probe the device, which is this machine's limit.
     */
    int probe = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (probe < 0 && (errno == EPERM || errno == EACCES)) {
        fprintf(stderr, "skipped: no permission to open a packet socket (%s)\n", strerror(errno));
        return SKIP;
    }
    if (probe >= 0)
        close(probe);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_af_packet_lo),
    };
    return cmocka_run_group_tests_name("mp_dpdk_af_packet", tests, NULL, NULL) ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "pcap") != 0 && strcmp(argv[1], "af_packet") != 0)) {
        fprintf(stderr, "usage: test_mp_dpdk pcap|af_packet\n");
        return 1;
    }
    MP_ASSERT(mp_json_parser_create(MP_DPDK_DATAGRAM_SIZE_MAX, &oracle) == 0);
    int status = strcmp(argv[1], "pcap") == 0 ? run_pcap() : run_af_packet();
    mp_json_parser_destroy(oracle);
    /* The EAL leaves its empty runtime directory (--file-prefix) behind. */
    char runtime[256];
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    snprintf(runtime, sizeof runtime, "%s/dpdk/mp-test-%d",
             geteuid() == 0 ? "/var/run" : xdg ? xdg : "/tmp", (int)getpid());
    rmdir(runtime);
    return status;
}
