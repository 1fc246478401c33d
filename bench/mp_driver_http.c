/*
 * The bench's blocking HTTP/1.1 client: one keep-alive connection, one
 * request at a time.  For /metrics, the oracle's read-back and the ERP
 * pull API; never on the measured path.
 */
#include "mp_driver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mp_assert.h"
#include "mp_bench_util.h"
#include "mp_error.h"

struct mp_driver_http {
    int fd;
    char host[64];
    uint16_t port;
    char *buffer;
    size_t capacity;
    size_t size;        /* bytes held, the answer handed out first */
    size_t consumed;    /* of those, the last answer's */
};

static int http_connect(struct mp_driver_http *client)
{
    int fd = mp_bench_util_connect(client->host, client->port, SOCK_STREAM);
    if (fd < 0)
        return fd;
    client->fd = fd;
    client->size = 0;
    client->consumed = 0;
    return 0;
}

int mp_driver_http_open(const char *host, uint16_t port, size_t buffer_size,
                        struct mp_driver_http **out)
{
    struct mp_driver_http *client = calloc(1, sizeof *client);
    if (client == NULL)
        return -ENOMEM;
    client->buffer = malloc(buffer_size + 1);
    if (client->buffer == NULL) {
        free(client);
        return -ENOMEM;
    }
    client->capacity = buffer_size;
    snprintf(client->host, sizeof client->host, "%s", host);
    client->port = port;
    int result = http_connect(client);
    if (result < 0) {
        free(client->buffer);
        free(client);
        return result;
    }
    *out = client;
    return 0;
}

void mp_driver_http_close(struct mp_driver_http *client)
{
    if (client == NULL)
        return;
    if (client->fd >= 0)
        close(client->fd);
    free(client->buffer);
    free(client);
}

static int http_send_all(int fd, const char *bytes, size_t size)
{
    while (size > 0) {
        ssize_t sent = send(fd, bytes, size, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        bytes += sent;
        size -= (size_t)sent;
    }
    return 0;
}

/* One attempt: 0, -errno (the connection failed: worth one reconnect) or MP_E*. */
static int http_exchange(struct mp_driver_http *client, const char *method, const char *path,
                         const char *content_type, const char *body, size_t body_size,
                         int *status, const char **answer, size_t *answer_size)
{
    /* Drop the previous answer's bytes. */
    if (client->consumed > 0) {
        memmove(client->buffer, client->buffer + client->consumed, client->size - client->consumed);
        client->size -= client->consumed;
        client->consumed = 0;
    }
    char header[512];
    int header_size;
    if (body != NULL)
        header_size = snprintf(header, sizeof header,
                               "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\n"
                               "Content-Length: %zu\r\n\r\n",
                               method, path, client->host,
                               content_type != NULL ? content_type : "application/json", body_size);
    else
        header_size = snprintf(header, sizeof header, "%s %s HTTP/1.1\r\nHost: %s\r\n\r\n", method,
                               path, client->host);
    if (header_size < 0 || (size_t)header_size >= sizeof header)
        return MP_ETOOBIG;
    int result = http_send_all(client->fd, header, (size_t)header_size);
    if (result == 0 && body != NULL && body_size > 0)
        result = http_send_all(client->fd, body, body_size);
    if (result < 0)
        return result;
    for (;;) {
        const char *end = client->size >= 4 ? memmem(client->buffer, client->size, "\r\n\r\n", 4) : NULL;
        if (end != NULL) {
            size_t header_bytes = (size_t)(end - client->buffer) + 4;
            if (client->size < 12 || memcmp(client->buffer, "HTTP/1.", 7) != 0)
                return MP_EPARSE;
            size_t content_length = 0;
            const char *length = memmem(client->buffer, header_bytes, "Content-Length:", 15);
            if (length == NULL)
                length = memmem(client->buffer, header_bytes, "content-length:", 15);
            if (length != NULL)
                content_length = strtoull(length + 15, NULL, 10);
            if (header_bytes + content_length > client->capacity)
                return MP_ETOOBIG;
            if (client->size >= header_bytes + content_length) {
                *status = atoi(client->buffer + 9);
                *answer = client->buffer + header_bytes;
                *answer_size = content_length;
                client->consumed = header_bytes + content_length;
                return 0;
            }
        }
        if (client->size == client->capacity)
            return MP_ETOOBIG;
        ssize_t received = recv(client->fd, client->buffer + client->size,
                                client->capacity - client->size, 0);
        if (received < 0 && errno == EINTR)
            continue;
        if (received < 0)
            return -errno;
        if (received == 0)
            return -ECONNRESET;
        client->size += (size_t)received;
    }
}

int mp_driver_http_request(struct mp_driver_http *client, const char *method, const char *path,
                           const char *content_type, const char *body, size_t body_size,
                           int *status, const char **answer, size_t *answer_size)
{
    MP_ASSERT(client != NULL && method != NULL && path != NULL);
    int result = http_exchange(client, method, path, content_type, body, body_size, status, answer,
                               answer_size);
    /* -errno (not one of our MP_E* codes): the connection failed. */
    if (result < 0 && result >= -4095) {
        /* A kept-alive connection the server closed: one fresh try. */
        close(client->fd);
        client->fd = -1;
        int connect_result = http_connect(client);
        if (connect_result < 0)
            return connect_result;
        result = http_exchange(client, method, path, content_type, body, body_size, status, answer,
                               answer_size);
    }
    return result;
}

int mp_driver_scrape_metrics(struct mp_driver_http *client, struct mp_results *results, bool after)
{
    int status = 0;
    const char *body = NULL;
    size_t size = 0;
    int result = mp_driver_http_request(client, "GET", "/metrics", NULL, NULL, 0, &status, &body, &size);
    if (result < 0)
        return result;
    if (status != 200)
        return MP_EPARSE;
    const char *at = body;
    const char *end = body + size;
    while (at < end) {
        const char *newline = memchr(at, '\n', (size_t)(end - at));
        const char *line_end = newline != NULL ? newline : end;
        size_t line_size = (size_t)(line_end - at);
        if (line_size > 9 && memcmp(at, "milepost_", 9) == 0) {
            const char *space = NULL;
            /* The value follows the last space of the series. */
            for (const char *scan = line_end; scan > at; scan--)
                if (scan[-1] == ' ') {
                    space = scan - 1;
                    break;
                }
            size_t name_size = space != NULL ? (size_t)(space - at) : 0;
            bool bucket = memmem(at, name_size, "_bucket", 7) != NULL;
            if (space != NULL && !bucket && name_size < MP_RESULTS_COUNTER_NAME_SIZE_MAX) {
                char name[MP_RESULTS_COUNTER_NAME_SIZE_MAX];
                memcpy(name, at, name_size);
                name[name_size] = '\0';
                double value = strtod(space + 1, NULL);
                if (mp_results_counter_set(results, name, value, after) < 0)
                    break; /* full: the first series are kept */
            }
        }
        at = line_end + 1;
    }
    return 0;
}

double mp_driver_counter_sum(const struct mp_results *results, const char *metric, bool after)
{
    size_t metric_size = strlen(metric);
    double sum = 0;
    for (uint32_t index = 0; index < results->counter_count; index++) {
        const struct mp_results_counter *counter = &results->counters[index];
        if (strncmp(counter->name, metric, metric_size) == 0 &&
            (counter->name[metric_size] == '\0' || counter->name[metric_size] == '{'))
            sum += after ? counter->after : counter->before;
    }
    return sum;
}
