/*
 * The pcap writer: Ethernet/IPv4/UDP frames built by hand (so checksums
 * and lengths are under our control, including the wrong ones tests
 * need), written with libpcap's dump API.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "mp_assert.h"
#include "mp_error.h"
#include "mp_pcap.h"

#define ETHERNET_SIZE 14u
#define IPV4_SIZE 20u
#define IPV6_SIZE 40u
#define UDP_SIZE 8u
#define TCP_SIZE 20u
#define ETHERNET_MIN_FRAME_SIZE 60u  /* without FCS; shorter frames are padded */
/* libpcap's largest snapshot length; any frame built here is shorter. */
#define SNAPSHOT_SIZE 262144

MP_STATIC_ASSERT(MP_PCAP_HEADERS_SIZE == ETHERNET_SIZE + IPV4_SIZE + UDP_SIZE,
                 "headers are Ethernet, IPv4 without options and UDP");
MP_STATIC_ASSERT(MP_PCAP_FRAME_SIZE_MAX + IPV6_SIZE - IPV4_SIZE < SNAPSHOT_SIZE,
                 "every frame fits the snapshot length");

struct mp_pcap {
    pcap_t *dead;
    pcap_dumper_t *dumper;
    uint64_t frame_count;
    uint64_t byte_count;
    uint16_t next_ip_id;
    bool failed;
    uint8_t frame[MP_PCAP_FRAME_SIZE_MAX + IPV6_SIZE];
};

/* A valid event that a port must never deliver when it arrives in a bad frame. */
static const char malformed_event[] =
    "{\"carrier\":\"UPS\",\"tracking_number\":\"1ZMALFORMED0000001\","
    "\"status\":\"IN_TRANSIT\",\"event_time\":\"2026-11-23T00:00:00Z\"}\n";

static const char *const malformed_names[MP_PCAP_MALFORMED_COUNT] = {
    [MP_PCAP_MALFORMED_SHORT_ETHERNET] = "short_ethernet",
    [MP_PCAP_MALFORMED_SHORT_IP] = "short_ip",
    [MP_PCAP_MALFORMED_SHORT_UDP] = "short_udp",
    [MP_PCAP_MALFORMED_IP_TOTAL_LONG] = "ip_total_long",
    [MP_PCAP_MALFORMED_IHL_SHORT] = "ihl_short",
    [MP_PCAP_MALFORMED_UDP_LENGTH_LONG] = "udp_length_long",
    [MP_PCAP_MALFORMED_UDP_LENGTH_SHORT] = "udp_length_short",
    [MP_PCAP_MALFORMED_IP_CHECKSUM] = "ip_checksum",
    [MP_PCAP_MALFORMED_FRAGMENT_FIRST] = "fragment_first",
    [MP_PCAP_MALFORMED_FRAGMENT_LATER] = "fragment_later",
    [MP_PCAP_MALFORMED_ARP] = "arp",
    [MP_PCAP_MALFORMED_IPV6] = "ipv6",
    [MP_PCAP_MALFORMED_TCP] = "tcp",
    [MP_PCAP_MALFORMED_WRONG_PORT] = "wrong_port",
    [MP_PCAP_MALFORMED_GARBAGE] = "garbage",
    [MP_PCAP_MALFORMED_EMPTY] = "empty",
    [MP_PCAP_MALFORMED_NOT_AN_EVENT] = "not_an_event",
};

/* ------------------------------------------------------------------------
 * Frame building
 * ---------------------------------------------------------------------- */

static void put16(uint8_t *at, uint16_t value)
{
    at[0] = (uint8_t)(value >> 8);
    at[1] = (uint8_t)value;
}

static void put32(uint8_t *at, uint32_t value)
{
    put16(at, (uint16_t)(value >> 16));
    put16(at + 2, (uint16_t)value);
}

static uint16_t get16(const uint8_t *at)
{
    return (uint16_t)(at[0] << 8 | at[1]);
}

/* Adds bytes to a ones'-complement sum (RFC 1071), big-endian words. */
static uint32_t sum_bytes(uint32_t sum, const uint8_t *bytes, size_t size)
{
    for (size_t i = 0; i + 1 < size; i += 2)
        sum += (uint32_t)bytes[i] << 8 | bytes[i + 1];
    if (size & 1)
        sum += (uint32_t)bytes[size - 1] << 8;
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Recomputes the IPv4 header checksum of a 20-byte header. */
static void ipv4_checksum(uint8_t *ip)
{
    put16(ip + 10, 0);
    put16(ip + 10, fold(sum_bytes(0, ip, IPV4_SIZE)));
}

static void ethernet_header(uint8_t *frame, uint16_t ether_type)
{
    static const uint8_t destination[6] = {0x02, 0, 0, 0, 0, 0x02};
    static const uint8_t source[6] = {0x02, 0, 0, 0, 0, 0x01};
    memcpy(frame, destination, 6);
    memcpy(frame + 6, source, 6);
    put16(frame + 12, ether_type);
}

void mp_pcap_flow_default(struct mp_pcap_flow *flow)
{
    MP_ASSERT(flow != NULL);
    flow->source_ip = 0x7f000001u;
    flow->destination_ip = 0x7f000001u;
    flow->source_port = 40000;
    flow->destination_port = 7413;
}

int mp_pcap_parse_endpoint(const char *text, uint32_t *ip, uint16_t *port)
{
    MP_ASSERT(text != NULL);
    unsigned parts[4], number;
    char tail;
    if (sscanf(text, "%3u.%3u.%3u.%3u:%5u%c", &parts[0], &parts[1], &parts[2], &parts[3],
               &number, &tail) != 5)
        return -EINVAL;
    uint32_t address = 0;
    for (int i = 0; i < 4; i++) {
        if (parts[i] > 255)
            return -EINVAL;
        address = address << 8 | parts[i];
    }
    if (number > 65535)
        return -EINVAL;
    *ip = address;
    *port = (uint16_t)number;
    return 0;
}

size_t mp_pcap_build_udp(const struct mp_pcap_flow *flow, uint16_t ip_id, const void *payload,
                         size_t size, uint8_t *frame, size_t capacity)
{
    MP_ASSERT(flow != NULL);
    MP_ASSERT(frame != NULL);
    if (size > MP_PCAP_DATAGRAM_SIZE_MAX || capacity < MP_PCAP_HEADERS_SIZE + size)
        return 0;
    ethernet_header(frame, 0x0800);
    uint8_t *ip = frame + ETHERNET_SIZE;
    ip[0] = 0x45;                     /* version 4, IHL 5 */
    ip[1] = 0;                        /* DSCP, ECN */
    put16(ip + 2, (uint16_t)(IPV4_SIZE + UDP_SIZE + size));
    put16(ip + 4, ip_id);
    put16(ip + 6, 0x4000);            /* DF, offset 0: not a fragment */
    ip[8] = 64;                       /* TTL */
    ip[9] = 17;                       /* UDP */
    put32(ip + 12, flow->source_ip);
    put32(ip + 16, flow->destination_ip);
    ipv4_checksum(ip);

    uint8_t *udp = ip + IPV4_SIZE;
    uint16_t udp_size = (uint16_t)(UDP_SIZE + size);
    put16(udp, flow->source_port);
    put16(udp + 2, flow->destination_port);
    put16(udp + 4, udp_size);
    put16(udp + 6, 0);
    if (size > 0)
        memcpy(udp + UDP_SIZE, payload, size);
    /* Pseudo-header: addresses, protocol, UDP length; then header and payload. */
    uint32_t sum = sum_bytes(0, ip + 12, 8);
    sum += 17u + udp_size;
    sum = sum_bytes(sum, udp, udp_size);
    uint16_t checksum = fold(sum);
    put16(udp + 6, checksum == 0 ? 0xffff : checksum);
    return MP_PCAP_HEADERS_SIZE + size;
}

/* ------------------------------------------------------------------------
 * Writing
 * ---------------------------------------------------------------------- */

int mp_pcap_open(const char *path, struct mp_pcap **out, char *message, size_t size)
{
    MP_ASSERT(path != NULL);
    MP_ASSERT(out != NULL);
    struct mp_pcap *pcap = calloc(1, sizeof *pcap);
    if (!pcap)
        return -ENOMEM;
    pcap->dead = pcap_open_dead(DLT_EN10MB, SNAPSHOT_SIZE);
    if (!pcap->dead) {
        free(pcap);
        if (message && size)
            snprintf(message, size, "pcap_open_dead failed");
        return -ENOMEM;
    }
    errno = 0;
    pcap->dumper = pcap_dump_open(pcap->dead, path);
    if (!pcap->dumper) {
        int error = errno ? errno : EINVAL;
        if (message && size)
            snprintf(message, size, "cannot write %s: %s", path, pcap_geterr(pcap->dead));
        pcap_close(pcap->dead);
        free(pcap);
        return -error;
    }
    *out = pcap;
    return 0;
}

int mp_pcap_close(struct mp_pcap *pcap)
{
    if (!pcap)
        return 0;
    bool failed = pcap->failed;
    if (pcap_dump_flush(pcap->dumper) != 0 || ferror(pcap_dump_file(pcap->dumper)))
        failed = true;
    pcap_dump_close(pcap->dumper);
    pcap_close(pcap->dead);
    free(pcap);
    return failed ? -EIO : 0;
}

/* Writes one record as it is. */
static int dump(struct mp_pcap *pcap, const uint8_t *frame, size_t size)
{
    struct pcap_pkthdr header;
    uint64_t us = pcap->frame_count * MP_PCAP_TICK_US;
    header.ts.tv_sec = (time_t)(MP_PCAP_START_TIME_S + us / 1000000u);
    header.ts.tv_usec = (suseconds_t)(us % 1000000u);
    header.caplen = (bpf_u_int32)size;
    header.len = (bpf_u_int32)size;
    pcap_dump((u_char *)pcap->dumper, &header, frame);
    pcap->frame_count++;
    pcap->byte_count += size;
    if (ferror(pcap_dump_file(pcap->dumper))) {
        pcap->failed = true;
        return -EIO;
    }
    return 0;
}

int mp_pcap_write_frame(struct mp_pcap *pcap, const void *frame, size_t size)
{
    MP_ASSERT(pcap != NULL);
    MP_ASSERT(frame != NULL);
    if (size > MP_PCAP_FRAME_SIZE_MAX)
        return MP_ETOOBIG;
    /* Ethernet pads frames to 60 bytes, and a capture shows the padding. */
    uint8_t padded[ETHERNET_MIN_FRAME_SIZE];
    if (size >= ETHERNET_SIZE && size < ETHERNET_MIN_FRAME_SIZE) {
        memset(padded, 0, sizeof padded);
        memcpy(padded, frame, size);
        return dump(pcap, padded, sizeof padded);
    }
    return dump(pcap, frame, size);
}

int mp_pcap_write_udp(struct mp_pcap *pcap, const struct mp_pcap_flow *flow, const void *payload,
                      size_t size)
{
    MP_ASSERT(pcap != NULL);
    size_t frame_size = mp_pcap_build_udp(flow, pcap->next_ip_id++, payload, size, pcap->frame,
                                          sizeof pcap->frame);
    if (frame_size == 0)
        return MP_ETOOBIG;
    return mp_pcap_write_frame(pcap, pcap->frame, frame_size);
}

const char *mp_pcap_malformed_name(enum mp_pcap_malformed kind)
{
    MP_ASSERT((unsigned)kind < MP_PCAP_MALFORMED_COUNT);
    return malformed_names[kind];
}

int mp_pcap_write_malformed(struct mp_pcap *pcap, const struct mp_pcap_flow *flow,
                            enum mp_pcap_malformed kind)
{
    MP_ASSERT(pcap != NULL);
    MP_ASSERT((unsigned)kind < MP_PCAP_MALFORMED_COUNT);
    uint8_t *frame = pcap->frame;
    const size_t event_size = sizeof malformed_event - 1;
    size_t size = mp_pcap_build_udp(flow, pcap->next_ip_id++, malformed_event, event_size, frame,
                                    sizeof pcap->frame);
    MP_ASSERT(size > 0);
    uint8_t *ip = frame + ETHERNET_SIZE;
    uint8_t *udp = ip + IPV4_SIZE;
    switch (kind) {
    case MP_PCAP_MALFORMED_SHORT_ETHERNET:
        /* Written unpadded: mp_pcap_write_frame pads only whole Ethernet headers. */
        size = 10;
        break;
    case MP_PCAP_MALFORMED_SHORT_IP:
        size = ETHERNET_SIZE + 12;
        break;
    case MP_PCAP_MALFORMED_SHORT_UDP:
        put16(ip + 2, IPV4_SIZE + 4);
        ipv4_checksum(ip);
        size = ETHERNET_SIZE + IPV4_SIZE + 4;
        break;
    case MP_PCAP_MALFORMED_IP_TOTAL_LONG:
        put16(ip + 2, (uint16_t)(get16(ip + 2) + 100));
        ipv4_checksum(ip);
        break;
    case MP_PCAP_MALFORMED_IHL_SHORT:
        ip[0] = 0x44;
        ipv4_checksum(ip);
        break;
    case MP_PCAP_MALFORMED_UDP_LENGTH_LONG:
        put16(udp + 4, (uint16_t)(get16(udp + 4) + 1));
        break;
    case MP_PCAP_MALFORMED_UDP_LENGTH_SHORT:
        put16(udp + 4, UDP_SIZE - 1);
        break;
    case MP_PCAP_MALFORMED_IP_CHECKSUM:
        put16(ip + 10, (uint16_t)~get16(ip + 10));
        break;
    case MP_PCAP_MALFORMED_FRAGMENT_FIRST:
        put16(ip + 6, 0x2000);
        ipv4_checksum(ip);
        break;
    case MP_PCAP_MALFORMED_FRAGMENT_LATER:
        put16(ip + 6, 185);
        ipv4_checksum(ip);
        break;
    case MP_PCAP_MALFORMED_ARP: {
        ethernet_header(frame, 0x0806);
        uint8_t *arp = frame + ETHERNET_SIZE;
        put16(arp, 1);            /* Ethernet */
        put16(arp + 2, 0x0800);   /* IPv4 */
        arp[4] = 6;
        arp[5] = 4;
        put16(arp + 6, 1);        /* request */
        memcpy(arp + 8, frame + 6, 6);
        put32(arp + 14, flow->source_ip);
        memset(arp + 18, 0, 6);
        put32(arp + 24, flow->destination_ip);
        size = ETHERNET_SIZE + 28;
        break;
    }
    case MP_PCAP_MALFORMED_IPV6: {
        ethernet_header(frame, 0x86dd);
        uint8_t *ip6 = frame + ETHERNET_SIZE;
        uint8_t *udp6 = ip6 + IPV6_SIZE;
        memset(ip6, 0, IPV6_SIZE);
        ip6[0] = 0x60;
        put16(ip6 + 4, (uint16_t)(UDP_SIZE + event_size));
        ip6[6] = 17;
        ip6[7] = 64;
        ip6[23] = 1;              /* ::1 */
        ip6[39] = 1;
        put16(udp6, flow->source_port);
        put16(udp6 + 2, flow->destination_port);
        put16(udp6 + 4, (uint16_t)(UDP_SIZE + event_size));
        put16(udp6 + 6, 0);
        memcpy(udp6 + UDP_SIZE, malformed_event, event_size);
        uint32_t sum = sum_bytes(0, ip6 + 8, 32);
        sum += 17u + UDP_SIZE + (uint32_t)event_size;
        sum = sum_bytes(sum, udp6, UDP_SIZE + event_size);
        put16(udp6 + 6, fold(sum));
        size = ETHERNET_SIZE + IPV6_SIZE + UDP_SIZE + event_size;
        break;
    }
    case MP_PCAP_MALFORMED_TCP: {
        uint8_t *tcp = udp;
        memset(tcp, 0, TCP_SIZE);
        put16(tcp, flow->source_port);
        put16(tcp + 2, flow->destination_port);
        put32(tcp + 4, 1);
        tcp[12] = 5 << 4;         /* data offset: 20 bytes */
        tcp[13] = 0x18;           /* PSH, ACK */
        put16(tcp + 14, 65535);
        memcpy(tcp + TCP_SIZE, malformed_event, event_size);
        ip[9] = 6;
        put16(ip + 2, (uint16_t)(IPV4_SIZE + TCP_SIZE + event_size));
        ipv4_checksum(ip);
        uint32_t sum = sum_bytes(0, ip + 12, 8);
        sum += 6u + TCP_SIZE + (uint32_t)event_size;
        sum = sum_bytes(sum, tcp, TCP_SIZE + event_size);
        put16(tcp + 16, fold(sum));
        size = ETHERNET_SIZE + IPV4_SIZE + TCP_SIZE + event_size;
        break;
    }
    case MP_PCAP_MALFORMED_WRONG_PORT: {
        struct mp_pcap_flow other = *flow;
        other.destination_port = (uint16_t)(flow->destination_port + 1);
        size = mp_pcap_build_udp(&other, pcap->next_ip_id++, malformed_event, event_size, frame,
                                 sizeof pcap->frame);
        break;
    }
    case MP_PCAP_MALFORMED_GARBAGE: {
        static const uint8_t garbage[] = {0x00, 0x01, 0xfe, 0xff, 'g', 'a', 'r', 'b', 'a',
                                          'g', 'e', ' ', '{', '[', '"', 0x80, 0xc3, 0x28};
        size = mp_pcap_build_udp(flow, pcap->next_ip_id++, garbage, sizeof garbage, frame,
                                 sizeof pcap->frame);
        break;
    }
    case MP_PCAP_MALFORMED_EMPTY:
        size = mp_pcap_build_udp(flow, pcap->next_ip_id++, "", 0, frame, sizeof pcap->frame);
        break;
    case MP_PCAP_MALFORMED_NOT_AN_EVENT:
        size = mp_pcap_build_udp(flow, pcap->next_ip_id++, "[1,2]", 5, frame,
                                 sizeof pcap->frame);
        break;
    case MP_PCAP_MALFORMED_COUNT:
        MP_ASSERT(!"not a kind");
    }
    MP_ASSERT(size > 0);
    /* A frame shorter than an Ethernet header is no Ethernet frame to pad. */
    if (size < ETHERNET_SIZE)
        return dump(pcap, frame, size);
    return mp_pcap_write_frame(pcap, frame, size);
}

uint64_t mp_pcap_frame_count(const struct mp_pcap *pcap)
{
    MP_ASSERT(pcap != NULL);
    return pcap->frame_count;
}

uint64_t mp_pcap_byte_count(const struct mp_pcap *pcap)
{
    MP_ASSERT(pcap != NULL);
    return pcap->byte_count;
}
