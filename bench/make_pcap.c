/*
 * make_pcap: NDJSON in, a pcap of Ethernet/IPv4/UDP datagrams out, for
 * replaying a workload through DPDK's net_pcap device (docs/dpdk.md).
 * scripts/make-pcap wraps it and can pipe `milepost-bench gen` into it.
 *
 *   make_pcap --output FILE [--destination IP:PORT] [--source IP:PORT]
 *             [--lines N] [--datagram-size-max BYTES] [--malformed N] [INPUT]
 *
 * Exit status: 0 success, 1 runtime failure, 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mp_config.h"
#include "mp_pcap.h"

static const char usage_text[] =
    "usage: make_pcap --output FILE [OPTIONS] [INPUT]\n"
    "\n"
    "Reads NDJSON (one canonical event per line) from INPUT, or stdin when INPUT is\n"
    "absent or '-', and writes a pcap (Ethernet, DLT_EN10MB) of UDP/IPv4 datagrams\n"
    "carrying them, with correct IPv4 and UDP checksums and lengths.  Empty lines are\n"
    "skipped.\n"
    "\n"
    "  --output FILE              the pcap to write ('-': stdout)\n"
    "  --destination IP:PORT      datagrams' destination (default 127.0.0.1:7413)\n"
    "  --source IP:PORT           datagrams' source (default 127.0.0.1:40000)\n"
    "  --lines N                  up to N lines per datagram (default 1)\n"
    "  --datagram-size-max BYTES  pack lines while a datagram stays within BYTES\n"
    "                             (default 1472: a 1500-byte MTU; a longer line goes\n"
    "                             alone, up to 65507)\n"
    "  --malformed N              also write N bad frames, one after each of the first\n"
    "                             N datagrams, cycling through: truncated headers, bad\n"
    "                             IPv4/UDP lengths, a bad IPv4 checksum, IP fragments,\n"
    "                             ARP, IPv6, TCP, another port, garbage, empty and\n"
    "                             non-event payloads\n"
    "  --help, --version\n"
    "\n"
    "Prints one line on stderr: frames, datagrams, lines and malformed frames written.\n";

static int usage_error(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* Prints "make_pcap: <problem>; see make_pcap --help" and returns 2. */
static int usage_error(const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    fprintf(stderr, "make_pcap: ");
    vfprintf(stderr, format, arguments);
    fprintf(stderr, "; see make_pcap --help\n");
    va_end(arguments);
    return 2;
}

static bool parse_count(const char *text, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long value = strtoul(text, &end, 10);
    if (errno || end == text || *end != '\0' || text[0] == '-' || value > max)
        return false;
    *out = value;
    return true;
}

struct writer {
    struct mp_pcap *pcap;
    struct mp_pcap_flow flow;
    unsigned long malformed_left;
    unsigned malformed_next;
    unsigned long datagrams;
    unsigned long malformed;
    char *datagram;
    size_t datagram_size;
    unsigned long datagram_lines;
};

/* Writes the pending datagram, then a malformed frame while some are due. */
static int flush_datagram(struct writer *w)
{
    if (w->datagram_lines == 0)
        return 0;
    int error = mp_pcap_write_udp(w->pcap, &w->flow, w->datagram, w->datagram_size);
    if (error != 0)
        return error;
    w->datagrams++;
    w->datagram_size = 0;
    w->datagram_lines = 0;
    if (w->malformed_left > 0) {
        error = mp_pcap_write_malformed(w->pcap, &w->flow, w->malformed_next);
        w->malformed_next = (w->malformed_next + 1) % MP_PCAP_MALFORMED_COUNT;
        w->malformed_left--;
        w->malformed++;
    }
    return error;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'},
        {"destination", required_argument, NULL, 'd'},
        {"source", required_argument, NULL, 's'},
        {"lines", required_argument, NULL, 'l'},
        {"datagram-size-max", required_argument, NULL, 'm'},
        {"malformed", required_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    const char *output = NULL;
    struct writer w;
    memset(&w, 0, sizeof w);
    mp_pcap_flow_default(&w.flow);
    unsigned long lines_max = 1, size_max = MP_PCAP_DATAGRAM_SIZE_MTU;
    int option;
    while ((option = getopt_long(argc, argv, "o:", options, NULL)) != -1) {
        switch (option) {
        case 'o':
            output = optarg;
            break;
        case 'd':
            if (mp_pcap_parse_endpoint(optarg, &w.flow.destination_ip,
                                       &w.flow.destination_port) != 0)
                return usage_error("--destination '%s' is not IPv4:PORT", optarg);
            break;
        case 's':
            if (mp_pcap_parse_endpoint(optarg, &w.flow.source_ip, &w.flow.source_port) != 0)
                return usage_error("--source '%s' is not IPv4:PORT", optarg);
            break;
        case 'l':
            if (!parse_count(optarg, 1000000, &lines_max) || lines_max == 0)
                return usage_error("--lines '%s' is not a count from 1 to 1000000", optarg);
            break;
        case 'm':
            if (!parse_count(optarg, MP_PCAP_DATAGRAM_SIZE_MAX, &size_max) || size_max < 64)
                return usage_error("--datagram-size-max '%s' is not from 64 to 65507", optarg);
            break;
        case 'x':
            if (!parse_count(optarg, 1000000000, &w.malformed_left))
                return usage_error("--malformed '%s' is not a count", optarg);
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case 'v':
            printf("make_pcap (milepost) %s\n", MP_VERSION);
            return 0;
        default:
            return usage_error("bad option");
        }
    }
    if (!output)
        return usage_error("--output FILE is required");
    if (argc - optind > 1)
        return usage_error("unexpected argument '%s'", argv[optind + 1]);
    const char *input_path = optind < argc ? argv[optind] : "-";
    FILE *input = strcmp(input_path, "-") == 0 ? stdin : fopen(input_path, "r");
    if (!input) {
        fprintf(stderr, "make_pcap: cannot read %s: %s\n", input_path, strerror(errno));
        return 1;
    }
    char message[256];
    int error = mp_pcap_open(output, &w.pcap, message, sizeof message);
    if (error != 0) {
        fprintf(stderr, "make_pcap: %s\n", message);
        return 1;
    }
    w.datagram = malloc(MP_PCAP_DATAGRAM_SIZE_MAX);
    if (!w.datagram) {
        fprintf(stderr, "make_pcap: out of memory\n");
        return 1;
    }

    char *line = NULL;
    size_t line_capacity = 0;
    unsigned long line_number = 0, lines = 0;
    ssize_t length;
    int status = 0;
    while ((length = getline(&line, &line_capacity, input)) > 0) {
        line_number++;
        size_t size = (size_t)length;
        if (line[size - 1] != '\n')
            line[size++] = '\n';   /* getline leaves room for the NUL, now the newline */
        if (size == 1)
            continue;
        if (size > MP_PCAP_DATAGRAM_SIZE_MAX) {
            fprintf(stderr, "make_pcap: line %lu is %zu bytes, over the %u a UDP datagram holds\n",
                    line_number, size, MP_PCAP_DATAGRAM_SIZE_MAX);
            status = 1;
            break;
        }
        if (w.datagram_lines > 0 &&
            (w.datagram_lines == lines_max || w.datagram_size + size > size_max))
            error = flush_datagram(&w);
        if (error != 0)
            break;
        memcpy(w.datagram + w.datagram_size, line, size);
        w.datagram_size += size;
        w.datagram_lines++;
        lines++;
    }
    if (error == 0 && status == 0 && ferror(input)) {
        fprintf(stderr, "make_pcap: cannot read %s: %s\n", input_path, strerror(errno));
        status = 1;
    }
    if (error == 0 && status == 0)
        error = flush_datagram(&w);
    while (error == 0 && status == 0 && w.malformed_left > 0) {
        error = mp_pcap_write_malformed(w.pcap, &w.flow, w.malformed_next);
        w.malformed_next = (w.malformed_next + 1) % MP_PCAP_MALFORMED_COUNT;
        w.malformed_left--;
        w.malformed++;
    }
    uint64_t frames = mp_pcap_frame_count(w.pcap);
    int close_error = mp_pcap_close(w.pcap);
    if (error == 0)
        error = close_error;
    if (error != 0 && status == 0) {
        fprintf(stderr, "make_pcap: writing %s failed: %s\n", output,
                error == -EIO ? "I/O error" : "frame too big");
        status = 1;
    }
    free(line);
    free(w.datagram);
    if (input != stdin)
        fclose(input);
    if (status == 0)
        fprintf(stderr,
                "make_pcap: wrote %llu frames to %s: %lu datagrams carrying %lu lines, %lu "
                "malformed\n",
                (unsigned long long)frames, output, w.datagrams, lines, w.malformed);
    return status;
}
