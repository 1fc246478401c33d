/*
 * A pcap writer for UDP/IPv4 datagrams over Ethernet (DLT_EN10MB), so a
 * generated or recorded workload can be replayed through DPDK's net_pcap
 * device (docs/dpdk.md) or any replay tool.
 *
 * Frames are built here with correct IPv4 header and UDP checksums and
 * lengths; libpcap only writes the file (pcap_open_dead and
 * pcap_dump_open).  For tests, mp_pcap_write_malformed() writes frames
 * that an ingest port must count and drop.  Record timestamps advance by
 * MP_PCAP_TICK_US per frame from a fixed start, so the same input gives
 * the same file, byte for byte.
 */
#ifndef MP_PCAP_H
#define MP_PCAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest UDP payload over IPv4: 65535 - 20 - 8. */
#define MP_PCAP_DATAGRAM_SIZE_MAX 65507u
/* Ethernet + IPv4 (no options) + UDP headers. */
#define MP_PCAP_HEADERS_SIZE 42u
#define MP_PCAP_FRAME_SIZE_MAX (MP_PCAP_HEADERS_SIZE + MP_PCAP_DATAGRAM_SIZE_MAX)
/* Payload that fits a 1500-byte MTU: 1500 - 20 - 8. */
#define MP_PCAP_DATAGRAM_SIZE_MTU 1472u
#define MP_PCAP_TICK_US 10u
/* First record's time: 2026-11-23T00:00:00Z, the generator's peak-season start. */
#define MP_PCAP_START_TIME_S 1795392000

/* Addresses and ports in host byte order. */
struct mp_pcap_flow {
    uint32_t source_ip;        /* default 127.0.0.1 */
    uint32_t destination_ip;   /* default 127.0.0.1 */
    uint16_t source_port;      /* default 40000 */
    uint16_t destination_port; /* default 7413 */
};

/* Fills a flow with the defaults above (the server's UDP port). */
void mp_pcap_flow_default(struct mp_pcap_flow *flow);

/*
 * Parses "A.B.C.D:PORT" into *ip and *port (host order).  Returns 0 or
 * -EINVAL.
 */
int mp_pcap_parse_endpoint(const char *text, uint32_t *ip, uint16_t *port);

/*
 * Builds one Ethernet/IPv4/UDP frame carrying `payload` into `frame`
 * (MP_PCAP_HEADERS_SIZE + size bytes): MACs 02:00:00:00:00:01 to
 * 02:00:00:00:00:02, IPv4 with DF, TTL 64, identification ip_id, correct
 * header checksum, UDP length and checksum.  Returns the frame size, or 0
 * when size > MP_PCAP_DATAGRAM_SIZE_MAX or capacity is short.  Pure.
 */
size_t mp_pcap_build_udp(const struct mp_pcap_flow *flow, uint16_t ip_id, const void *payload,
                         size_t size, uint8_t *frame, size_t capacity);

/* The kinds of bad frames mp_pcap_write_malformed() writes, and what a port must count. */
enum mp_pcap_malformed {
    MP_PCAP_MALFORMED_SHORT_ETHERNET = 0, /* 10 bytes: bad length */
    MP_PCAP_MALFORMED_SHORT_IP,           /* Ethernet + 12 bytes of IPv4: bad length */
    MP_PCAP_MALFORMED_SHORT_UDP,          /* IPv4 total length leaves 4 bytes of UDP: bad length */
    MP_PCAP_MALFORMED_IP_TOTAL_LONG,      /* IPv4 total length past the frame: bad length */
    MP_PCAP_MALFORMED_IHL_SHORT,          /* IHL 4: bad length */
    MP_PCAP_MALFORMED_UDP_LENGTH_LONG,    /* UDP length past the IPv4 payload: bad length */
    MP_PCAP_MALFORMED_UDP_LENGTH_SHORT,   /* UDP length 7: bad length */
    MP_PCAP_MALFORMED_IP_CHECKSUM,        /* wrong IPv4 header checksum: bad checksum */
    MP_PCAP_MALFORMED_FRAGMENT_FIRST,     /* MF set: fragment */
    MP_PCAP_MALFORMED_FRAGMENT_LATER,     /* offset 185 (1480 bytes): fragment */
    MP_PCAP_MALFORMED_ARP,                /* an ARP request: other frame */
    MP_PCAP_MALFORMED_IPV6,               /* UDP over IPv6: other frame */
    MP_PCAP_MALFORMED_TCP,                /* TCP over IPv4: other frame */
    MP_PCAP_MALFORMED_WRONG_PORT,         /* a valid event to destination port + 1 */
    MP_PCAP_MALFORMED_GARBAGE,            /* binary garbage payload: one bad_json */
    MP_PCAP_MALFORMED_EMPTY,              /* empty payload: one bad_json */
    MP_PCAP_MALFORMED_NOT_AN_EVENT,       /* "[1,2]": two not_an_event rejects */
    MP_PCAP_MALFORMED_COUNT,
};

/* Returns the kind's name ("short_ethernet"); static.  Asserts on range. */
const char *mp_pcap_malformed_name(enum mp_pcap_malformed kind);

struct mp_pcap;

/*
 * Opens `path` ("-" for stdout) for writing a pcap with DLT_EN10MB and a
 * snapshot length that holds any frame built here.  Returns 0 and *out,
 * owned by the caller (mp_pcap_close), or -errno / MP_EINVAL with a
 * one-line reason in `message` (when size > 0).
 */
int mp_pcap_open(const char *path, struct mp_pcap **out, char *message, size_t size);

/*
 * Flushes and closes; returns 0 or -EIO when a write failed.  Accepts
 * NULL (returns 0).
 */
int mp_pcap_close(struct mp_pcap *pcap);

/* Writes one UDP datagram as a frame.  Returns 0, MP_ETOOBIG or -EIO. */
int mp_pcap_write_udp(struct mp_pcap *pcap, const struct mp_pcap_flow *flow, const void *payload,
                      size_t size);

/* Writes a raw frame of up to MP_PCAP_FRAME_SIZE_MAX bytes.  As above. */
int mp_pcap_write_frame(struct mp_pcap *pcap, const void *frame, size_t size);

/* Writes one bad frame of `kind` for `flow`.  Returns 0 or -EIO. */
int mp_pcap_write_malformed(struct mp_pcap *pcap, const struct mp_pcap_flow *flow,
                            enum mp_pcap_malformed kind);

/* Frames written so far, and their bytes (as captured, Ethernet padding included). */
uint64_t mp_pcap_frame_count(const struct mp_pcap *pcap);
uint64_t mp_pcap_byte_count(const struct mp_pcap *pcap);

#ifdef __cplusplus
}
#endif

#endif
