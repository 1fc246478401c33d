/*
 * bench_tcp_stream: streams an NDJSON file to a milepost TCP port over N
 * connections and measures events/s and ack latency (from the moment a
 * line was written to the first {"ack":N} that covers it).
 *
 * Each connection gets every N-th line and keeps at most --window lines
 * unacknowledged (so latency is not just queueing in our own buffers).
 * Reject lines are counted.  Prints one result line of key=value pairs.
 *
 *   bench_tcp_stream --server 127.0.0.1:7412 --file events.ndjson
 *                    [--connections 4] [--window 4096]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mp_histogram.h"

#define CONNECTIONS_MAX 64

struct stream {
    pthread_t thread;
    int index;
    int fd;
    const char **lines;      /* this connection's lines */
    size_t *sizes;
    size_t count;
    int64_t *sent_us;        /* per line */
    size_t acked;
    uint64_t rejects;
    struct mp_histogram latency_us;
    int error;
};

static const char *file_data;
static size_t file_size;
static size_t window = 4096;
static struct sockaddr_in server_address;

static int64_t now_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static void *stream_main(void *argument)
{
    struct stream *stream = argument;
    stream->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(stream->fd, (struct sockaddr *)&server_address, sizeof server_address) != 0) {
        stream->error = errno;
        return NULL;
    }
    int one = 1;
    setsockopt(stream->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(stream->fd, F_SETFL, O_NONBLOCK);
    size_t next = 0;             /* next line to send */
    size_t partial = 0;          /* bytes of line `next` already sent */
    char input[65536];
    size_t input_size = 0;
    while (stream->acked < stream->count) {
        struct pollfd poll_fd = {stream->fd, POLLIN, 0};
        bool can_send = next < stream->count && next - stream->acked < window;
        if (can_send)
            poll_fd.events |= POLLOUT;
        if (poll(&poll_fd, 1, 10000) <= 0) {
            stream->error = ETIMEDOUT;
            return NULL;
        }
        if (poll_fd.revents & POLLOUT) {
            /* Write as many whole lines as the window and the socket take. */
            while (next < stream->count && next - stream->acked < window) {
                if (partial == 0)
                    stream->sent_us[next] = now_us();
                ssize_t wrote = write(stream->fd, stream->lines[next] + partial,
                                      stream->sizes[next] - partial);
                if (wrote < 0)
                    break;
                partial += (size_t)wrote;
                if (partial < stream->sizes[next])
                    break;
                partial = 0;
                next++;
            }
        }
        if (poll_fd.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t got = read(stream->fd, input + input_size, sizeof input - input_size);
            if (got == 0 || (got < 0 && errno != EAGAIN)) {
                stream->error = got == 0 ? ECONNRESET : errno;
                return NULL;
            }
            if (got > 0)
                input_size += (size_t)got;
            char *start = input;
            char *newline;
            while ((newline = memchr(start, '\n', input_size - (size_t)(start - input)))) {
                unsigned long long value;
                if (sscanf(start, "{\"ack\":%llu}", &value) == 1) {
                    int64_t now = now_us();
                    while (stream->acked < value && stream->acked < stream->count) {
                        mp_histogram_record(&stream->latency_us,
                                            (uint64_t)(now - stream->sent_us[stream->acked]));
                        stream->acked++;
                    }
                } else if (strncmp(start, "{\"reject\"", 9) == 0)
                    stream->rejects++;
                start = newline + 1;
            }
            input_size -= (size_t)(start - input);
            memmove(input, start, input_size);
        }
    }
    close(stream->fd);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *server = "127.0.0.1:7412", *path = NULL;
    int connections = 4;
    for (int index = 1; index < argc; index++) {
        if (!strcmp(argv[index], "--server") && index + 1 < argc)
            server = argv[++index];
        else if (!strcmp(argv[index], "--file") && index + 1 < argc)
            path = argv[++index];
        else if (!strcmp(argv[index], "--connections") && index + 1 < argc)
            connections = atoi(argv[++index]);
        else if (!strcmp(argv[index], "--window") && index + 1 < argc)
            window = (size_t)atol(argv[++index]);
        else {
            fprintf(stderr, "usage: bench_tcp_stream --server HOST:PORT --file NDJSON "
                            "[--connections N] [--window LINES]\n");
            return 2;
        }
    }
    if (!path || connections < 1 || connections > CONNECTIONS_MAX || window < 1) {
        fprintf(stderr, "bench_tcp_stream: --file is required; --connections 1..%d\n", CONNECTIONS_MAX);
        return 2;
    }
    char host[64];
    int port = 0;
    if (sscanf(server, "%63[^:]:%d", host, &port) != 2) {
        fprintf(stderr, "bench_tcp_stream: --server takes HOST:PORT\n");
        return 2;
    }
    server_address.sin_family = AF_INET;
    server_address.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &server_address.sin_addr);

    int fd = open(path, O_RDONLY);
    struct stat status;
    if (fd < 0 || fstat(fd, &status) != 0) {
        fprintf(stderr, "bench_tcp_stream: cannot read %s: %s\n", path, strerror(errno));
        return 1;
    }
    file_size = (size_t)status.st_size;
    file_data = mmap(NULL, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
    size_t total = 0;
    for (const char *at = file_data; at < file_data + file_size;) {
        const char *newline = memchr(at, '\n', (size_t)(file_data + file_size - at));
        total++;
        at = newline ? newline + 1 : file_data + file_size;
    }
    struct stream *streams = calloc((size_t)connections, sizeof *streams);
    for (int index = 0; index < connections; index++) {
        streams[index].index = index;
        streams[index].lines = malloc(sizeof(char *) * (total / (size_t)connections + 1));
        streams[index].sizes = malloc(sizeof(size_t) * (total / (size_t)connections + 1));
        streams[index].sent_us = malloc(sizeof(int64_t) * (total / (size_t)connections + 1));
    }
    size_t line = 0;
    for (const char *at = file_data; at < file_data + file_size; line++) {
        const char *newline = memchr(at, '\n', (size_t)(file_data + file_size - at));
        const char *end = newline ? newline + 1 : file_data + file_size;
        struct stream *stream = &streams[line % (size_t)connections];
        stream->lines[stream->count] = at;
        stream->sizes[stream->count++] = (size_t)(end - at);
        at = end;
    }
    int64_t started = now_us();
    for (int index = 0; index < connections; index++)
        pthread_create(&streams[index].thread, NULL, stream_main, &streams[index]);
    struct mp_histogram latency = {0};
    uint64_t rejects = 0, acked = 0;
    int errors = 0;
    for (int index = 0; index < connections; index++) {
        pthread_join(streams[index].thread, NULL);
        mp_histogram_merge(&latency, &streams[index].latency_us);
        rejects += streams[index].rejects;
        acked += streams[index].acked;
        if (streams[index].error) {
            fprintf(stderr, "bench_tcp_stream: connection %d: %s\n", index, strerror(streams[index].error));
            errors++;
        }
    }
    double seconds = (double)(now_us() - started) / 1e6;
    printf("tcp_result lines=%zu acked=%llu rejects=%llu seconds=%.3f events_per_s=%.0f "
           "ack_p50_us=%llu ack_p99_us=%llu ack_max_us=%llu connections=%d window=%zu\n",
           total, (unsigned long long)acked, (unsigned long long)rejects, seconds,
           (double)acked / seconds, (unsigned long long)mp_histogram_quantile(&latency, 0.5),
           (unsigned long long)mp_histogram_quantile(&latency, 0.99),
           (unsigned long long)latency.max, connections, window);
    return errors ? 1 : 0;
}
