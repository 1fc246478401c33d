/*
 * The DPDK ingest port (DESIGN.md "Pipeline", API.md "UDP"): UDP/IPv4
 * datagrams carrying canonical events (one event or NDJSON lines per
 * datagram), read from a DPDK port's rx queue by a busy-polling lcore and
 * parsed straight from the mbuf data.  Every other frame is counted and
 * dropped.  docs/dpdk.md says how to run it.
 *
 * Built only where DPDK is (MP_HAVE_DPDK in mp_config.h; meson option
 * `dpdk`).  This header compiles everywhere so callers need no #ifdef
 * around the types; where DPDK is absent the functions do not exist and
 * the caller must not call them (`milepost serve --dpdk` refuses).
 *
 * Threads.  mp_dpdk_start() starts one thread of its own, the EAL's main
 * thread: it calls rte_eal_init() (which pins it to the main lcore's CPU,
 * so the caller's affinity is never touched and threads the caller creates
 * later do not inherit it), sets the ports up and then either runs the
 * receive loop itself (when the chosen lcore is the main lcore, as with
 * `-l 1`) or launches it on a worker lcore with rte_eal_remote_launch()
 * (as with `-l 0,1`) and sleeps until mp_dpdk_stop().  The loop busy-polls
 * its CPU: give it a core no other milepost loop uses.
 *
 * The EAL can be initialised once per process, ever: after one
 * mp_dpdk_start(), successful or not past rte_eal_init(), every later one
 * fails with -EALREADY, even after mp_dpdk_stop().  Tests therefore run
 * each DPDK case in its own process.
 */
#ifndef MP_DPDK_H
#define MP_DPDK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mp_error.h"
#include "mp_event.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- bounds ------------------------------------------------------------ */

/* The EAL argument string, with its NUL (matches MP_OPTIONS_DPDK_ARGS_SIZE_MAX). */
#define MP_DPDK_EAL_ARGS_SIZE_MAX 1024u
/* Words in the EAL argument string (argv[0] not counted). */
#define MP_DPDK_EAL_ARGC_MAX 64u
/* Ports polled (port 0 and any further ones the EAL arguments create). */
#define MP_DPDK_PORTS_MAX 8u
/* Frames taken per rte_eth_rx_burst(). */
#define MP_DPDK_BURST_SIZE 32u
/* Largest UDP payload over IPv4: 65535 - 20 - 8. */
#define MP_DPDK_DATAGRAM_SIZE_MAX 65507u
/* options.lcore: the first worker lcore, or the main lcore when alone. */
#define MP_DPDK_LCORE_ANY UINT32_MAX

/* ---- options and callbacks -------------------------------------------- */

/*
 * Called on the receive lcore for each event that parsed and passed
 * mp_event_finish(), in arrival order.  `event` is the parser's scratch:
 * valid only during the call, copy what you keep (into a shard ring).
 * Return 0 when the event was taken; non-zero counts it as dropped
 * (dropped_events) and the loop goes on with the next one.  Must not
 * block: the loop polls the NIC between bursts.
 */
typedef int (*mp_dpdk_event_fn)(void *context, struct mp_event *event);

/*
 * Called on the receive lcore after a burst that handed at least one
 * event to on_event, so the caller can publish or wake consumers once per
 * burst instead of once per event.  May be NULL.
 */
typedef void (*mp_dpdk_burst_fn)(void *context);

struct mp_dpdk_options {
    /*
     * EAL arguments, split like a shell (blanks separate words; '...' and
     * "..." quote; backslash escapes), e.g. "--no-huge --no-pci -l 1
     * --vdev=net_pcap0,rx_pcap=peak.pcap".  Borrowed for the call.
     */
    const char *eal_args;
    uint16_t udp_port;             /* destination port taken; 0: any */
    uint32_t lcore;                /* lcore id that runs the loop, or MP_DPDK_LCORE_ANY */
    uint32_t datagram_size_max;    /* larger payloads count as too_big; 0: MAX */
    uint32_t events_per_datagram_max; /* 0: MP_EVENTS_PER_REQUEST_MAX */
    mp_dpdk_event_fn on_event;     /* required */
    mp_dpdk_burst_fn on_burst;     /* optional */
    void *context;                 /* passed to both; borrowed until mp_dpdk_stop() */
};

/*
 * Counters, summed over the ports.  Frame-level drops each count once, at
 * the first check that fails, in this order: other_frames, bad_length
 * (with bad IPv4 version), bad_checksum, fragments, wrong_port.
 */
struct mp_dpdk_counters {
    uint64_t rx_packets;       /* frames taken from the rx queues */
    uint64_t rx_bytes;         /* their bytes (mbuf pkt_len, no FCS) */
    uint64_t datagrams;        /* UDP datagrams to the port handed to the parser */
    uint64_t events;           /* events the sink took */
    uint64_t dropped_events;   /* events the sink refused (ring full) */
    uint64_t other_frames;     /* not UDP over IPv4: ARP, IPv6, TCP, ICMP, ... */
    uint64_t bad_length;       /* truncated headers, IHL < 5, version not 4,
                                  IP total or UDP length inconsistent with the frame */
    uint64_t bad_checksum;     /* IPv4 header checksum wrong (checked in software unless
                                  the NIC vouched), or the NIC flagged a bad L4 checksum */
    uint64_t fragments;        /* IPv4 fragments (MF set or offset non-zero) */
    uint64_t wrong_port;       /* UDP to another destination port */
    /*
     * Records rejected, by reject code, as the UDP socket port counts
     * them: each rejected record of a datagram, or one bad_json for a
     * datagram that is empty or not JSON at all, or one too_big for a
     * datagram over datagram_size_max or events_per_datagram_max.
     */
    uint64_t rejected[MP_REJECT_CODE_COUNT];
    uint64_t rejected_total;
    uint64_t polls;            /* rte_eth_rx_burst() calls */
    uint64_t polls_empty;      /* of them, the ones that returned nothing */
    /* From rte_eth_stats_get() at the time of the call. */
    uint64_t imissed;          /* dropped by the NIC: rx queue full */
    uint64_t ierrors;          /* erroneous frames the NIC dropped */
    uint64_t rx_nombuf;        /* mbuf allocation failures */
};

struct mp_dpdk;

/* ---- lifecycle --------------------------------------------------------- */

/*
 * Initialises the EAL from options->eal_args, creates the mbuf pool, the
 * parser (one, for the one receive lcore) and the padded copy area it
 * needs, configures every port the EAL found (1 rx queue each, a tx queue
 * only when the PMD insists; promiscuous where supported), starts them and
 * starts the receive loop.  Nothing is allocated after that.
 *
 * Returns 0 and the running port in *out (freed by mp_dpdk_stop()), or
 * MP_EINVAL (bad options or EAL argument string), -EALREADY (the EAL was
 * initialised before in this process), -ENODEV (no port), or -errno of the
 * failed step.  On failure a one-line reason is written to `message`
 * (NUL-terminated, when size > 0); it starts with "EAL:" exactly when
 * rte_eal_init() itself failed (no hugepages, no permission, a device the
 * EAL could not probe, bad EAL arguments: -EINVAL), which is how a test
 * tells "this machine cannot run DPDK" from a failure.
 *
 * Call once per process, from a thread whose signal mask every DPDK
 * thread should have (the port's thread, the lcore threads and the EAL's
 * control threads inherit it): block SIGTERM/SIGINT first if the caller
 * takes them through a signalfd.  DPDK logs go to stderr (not stdout and
 * syslog, DPDK's default) at NOTICE unless the arguments say
 * --log-level; on bad arguments the EAL prints its usage on stdout.
 */
int mp_dpdk_start(const struct mp_dpdk_options *options, struct mp_dpdk **out, char *message,
                  size_t size);

/*
 * Stops the receive loop (it finishes its current burst), waits for it,
 * stops and closes the ports, frees the pool and parser and calls
 * rte_eal_cleanup().  Accepts NULL.  Call from the thread that called
 * mp_dpdk_start(), or any one thread, once.
 */
void mp_dpdk_stop(struct mp_dpdk *d);

/* ---- observing --------------------------------------------------------- */

/*
 * Writes the counters (relaxed reads of what the loop publishes after
 * each burst, plus the ports' rte_eth_stats_get()).  Any thread, while
 * the port runs.
 */
void mp_dpdk_counters(const struct mp_dpdk *d, struct mp_dpdk_counters *out);

/*
 * True when the loop has been polling and has received no frame for at
 * least `ms` milliseconds: a finite source (a net_pcap replay) is then
 * exhausted.  Any thread.
 */
bool mp_dpdk_idle_since(const struct mp_dpdk *d, uint64_t ms);

/* The lcore id running the loop, and the number of ports it polls. */
uint32_t mp_dpdk_lcore(const struct mp_dpdk *d);
uint32_t mp_dpdk_port_count(const struct mp_dpdk *d);

#ifdef __cplusplus
}
#endif

#endif
