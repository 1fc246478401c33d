/*
 * The JetStream destination.  See mp_erp_jetstream.h for the contract and
 * docs/erp.md "JetStream" for how to configure the stream.
 *
 * libnats runs its own threads: the PubAck handler below is called on
 * one of them, so what it shares with deliver() (the current call's items
 * and outcomes) is under `lock`.
 */
#include "mp_erp_jetstream.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "mp_assert.h"
#include "mp_error.h"
#include "mp_options.h"

#define RECONNECT_WAIT_MS 250
#define LOG_INTERVAL_MS 10000
#define CLOSE_WAIT_MS 5000             /* for libnats to confirm a close before the state is freed */
#define MESSAGE_ID_HEADER "Nats-Msg-Id"

enum failure_kind {
    FAILURE_NOT_CONNECTED = 0,
    FAILURE_NO_STREAM,
    FAILURE_REFUSED,
    FAILURE_TIMEOUT,
    FAILURE_PUBLISH,
    FAILURE_CREATE_STREAM,
    FAILURE_KIND_COUNT,
};

struct jetstream {
    char subject[MP_ERP_JETSTREAM_NAME_SIZE_MAX];
    char stream[MP_ERP_JETSTREAM_NAME_SIZE_MAX];
    char url[MP_OPTIONS_URL_SIZE_MAX];
    bool create_stream;
    bool stream_ready;               /* created, or found to exist */
    _Atomic bool closing;            /* destroy: a disconnect is ours, not news */
    /*
     * libnats calls the connection's callbacks on its own thread, after
     * natsConnection_Destroy may have returned; its closed callback comes
     * last, so destroy waits for it before freeing what they read.
     */
    pthread_mutex_t closed_lock;
    pthread_cond_t closed_signal;
    bool closed;
    uint32_t duplicate_window_s;
    uint32_t timeout_ms;
    natsOptions *nats_options;
    natsConnection *connection;
    jsCtx *js;

    /* The deliver call in progress, shared with the PubAck handler. */
    pthread_mutex_t lock;
    const struct mp_erp_item *items;
    struct mp_erp_outcome *outcomes;
    bool *answered;
    size_t count;
    size_t next_guess;               /* PubAcks come back in order: look here first */
    size_t pending;

    int64_t logged_at_ms[FAILURE_KIND_COUNT];
    uint64_t suppressed[FAILURE_KIND_COUNT];
};

static int64_t monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* One line per failure kind per LOG_INTERVAL_MS; the others are counted into the next. */
static void log_failure(struct jetstream *state, enum failure_kind kind, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void log_failure(struct jetstream *state, enum failure_kind kind, const char *format, ...)
{
    int64_t now_ms = monotonic_ms();
    if (state->logged_at_ms[kind] && now_ms - state->logged_at_ms[kind] < LOG_INTERVAL_MS) {
        state->suppressed[kind]++;
        return;
    }
    char text[768];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(text, sizeof text, format, arguments);
    va_end(arguments);
    fprintf(stderr, "warn pipeline.erp_jetstream %s similar=%llu\n", text,
            (unsigned long long)state->suppressed[kind]);
    state->logged_at_ms[kind] = now_ms;
    state->suppressed[kind] = 0;
}

/* ------------------------------------------------------------------------
 * PubAcks (a libnats thread)
 * ---------------------------------------------------------------------- */

static void on_pub_ack(jsCtx *js, natsMsg *message, jsPubAck *ack, jsPubAckErr *ack_error,
                       void *closure)
{
    (void)js;
    struct jetstream *state = closure;
    const char *key = NULL;
    if (natsMsgHeader_Get(message, MESSAGE_ID_HEADER, &key) != NATS_OK)
        key = NULL;
    pthread_mutex_lock(&state->lock);
    size_t found = state->count;
    for (size_t step = 0; key && step < state->count; step++) {
        size_t index = (state->next_guess + step) % state->count;
        if (!state->answered[index] && !strcmp(state->items[index].key, key)) {
            found = index;
            break;
        }
    }
    /* Not found: a PubAck for a call that already gave up on it (ignored). */
    if (found < state->count) {
        struct mp_erp_outcome *outcome = &state->outcomes[found];
        state->answered[found] = true;
        state->next_guess = found + 1;
        state->pending--;
        if (ack) {
            mp_erp_outcome_set(outcome, MP_ERP_DELIVERED, 0, NULL, 0, "%s",
                               ack->Duplicate ? "duplicate" : "stored");
        } else if (ack_error) {
            const char *text = ack_error->ErrText ? ack_error->ErrText
                                                  : natsStatus_GetText(ack_error->Err);
            if (ack_error->Err == NATS_NO_RESPONDERS || ack_error->ErrCode == JSStreamNotFoundErr) {
                mp_erp_outcome_set(outcome, MP_ERP_RETRY, 0, NULL, 0,
                                   "no JetStream stream captures subject %s", state->subject);
            } else {
                mp_erp_outcome_set(outcome, MP_ERP_RETRY, (int)ack_error->ErrCode, text,
                                   strlen(text), "the stream refused the message: %s (error %d)",
                                   text, (int)ack_error->ErrCode);
            }
        }
    }
    pthread_mutex_unlock(&state->lock);
    natsMsg_Destroy(message);
}

/* ------------------------------------------------------------------------
 * Connecting and the stream
 * ---------------------------------------------------------------------- */

/* Makes sure the stream exists when we were asked to create it.  Returns true when usable. */
static bool ensure_stream(struct jetstream *state)
{
    if (!state->create_stream || state->stream_ready)
        return true;
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    const char *subjects[1] = {state->subject};
    config.Name = state->stream;
    config.Subjects = subjects;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    config.Replicas = 1;
    config.Duplicates = (int64_t)state->duplicate_window_s * 1000000000LL;
    jsOptions options;
    jsOptions_Init(&options);
    options.Wait = state->timeout_ms;
    jsStreamInfo *info = NULL;
    jsErrCode code = 0;
    natsStatus status = js_AddStream(&info, state->js, &config, &options, &code);
    jsStreamInfo_Destroy(info);
    if (status == NATS_OK || code == JSStreamNameExistErr) {
        /* An existing stream is the operator's: used as it is, never changed. */
        state->stream_ready = true;
        fprintf(stderr, "info pipeline.erp_jetstream stream ready stream=%s subject=%s created=%s\n",
                state->stream, state->subject, status == NATS_OK ? "yes" : "no (exists)");
        return true;
    }
    log_failure(state, FAILURE_CREATE_STREAM,
                "cannot create stream %s for subject %s: %s (error %d); create it yourself "
                "(docs/erp.md \"JetStream\") or fix erp.stream/erp.subject",
                state->stream, state->subject, natsStatus_GetText(status), (int)code);
    return false;
}

static void on_closed(natsConnection *connection, void *closure)
{
    (void)connection;
    struct jetstream *state = closure;
    pthread_mutex_lock(&state->closed_lock);
    state->closed = true;
    pthread_cond_signal(&state->closed_signal);
    pthread_mutex_unlock(&state->closed_lock);
}

/* Waits for on_closed; false when it did not come within CLOSE_WAIT_MS. */
static bool wait_closed(struct jetstream *state)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += CLOSE_WAIT_MS / 1000;
    pthread_mutex_lock(&state->closed_lock);
    int rc = 0;
    while (!state->closed && rc == 0)
        rc = pthread_cond_timedwait(&state->closed_signal, &state->closed_lock, &deadline);
    bool closed = state->closed;
    pthread_mutex_unlock(&state->closed_lock);
    return closed;
}

static void on_disconnected(natsConnection *connection, void *closure)
{
    (void)connection;
    struct jetstream *state = closure;
    if (atomic_load(&state->closing))
        return;
    fprintf(stderr, "warn pipeline.erp_jetstream disconnected from NATS; reconnecting\n");
}

/* Only with a callback does libnats connect in the background instead of blocking start-up. */
static void on_connected(natsConnection *connection, void *closure)
{
    (void)connection;
    (void)closure;
    fprintf(stderr, "info pipeline.erp_jetstream connected to NATS\n");
}

static void on_reconnected(natsConnection *connection, void *closure)
{
    (void)connection;
    (void)closure;
    fprintf(stderr, "info pipeline.erp_jetstream reconnected to NATS\n");
}

/* ------------------------------------------------------------------------
 * Delivering
 * ---------------------------------------------------------------------- */

static int deliver(void *opaque, const struct mp_erp_item *items, size_t count,
                   struct mp_erp_outcome *outcomes)
{
    struct jetstream *state = opaque;
    MP_ASSERT(count >= 1 && count <= MP_ERP_BATCH_MAX);
    if (!state->connection || natsConnection_Status(state->connection) != NATS_CONN_STATUS_CONNECTED) {
        for (size_t index = 0; index < count; index++)
            mp_erp_outcome_set(&outcomes[index], MP_ERP_RETRY, 0, NULL, 0,
                               "not connected to the NATS server at %s", state->url);
        log_failure(state, FAILURE_NOT_CONNECTED,
                    "not connected to the NATS server url=%s; retrying", state->url);
        return 0;
    }
    if (!ensure_stream(state)) {
        for (size_t index = 0; index < count; index++)
            mp_erp_outcome_set(&outcomes[index], MP_ERP_RETRY, 0, NULL, 0,
                               "stream %s could not be created", state->stream);
        return 0;
    }

    bool answered[MP_ERP_BATCH_MAX];
    memset(answered, 0, count * sizeof answered[0]);
    pthread_mutex_lock(&state->lock);
    state->items = items;
    state->outcomes = outcomes;
    state->answered = answered;
    state->count = count;
    state->next_guess = 0;
    state->pending = 0;
    pthread_mutex_unlock(&state->lock);

    natsStatus status = NATS_OK;
    size_t published = count;
    for (size_t index = 0; index < count; index++) {
        natsMsg *message = NULL;
        status = natsMsg_Create(&message, state->subject, NULL, items[index].body,
                                (int)items[index].body_size);
        if (status == NATS_OK)
            status = natsMsgHeader_Set(message, MESSAGE_ID_HEADER, items[index].key);
        if (status == NATS_OK) {
            pthread_mutex_lock(&state->lock);
            state->pending++;
            pthread_mutex_unlock(&state->lock);
            status = js_PublishMsgAsync(state->js, &message, NULL);
            if (status != NATS_OK) {
                pthread_mutex_lock(&state->lock);
                state->pending--;
                pthread_mutex_unlock(&state->lock);
            }
        }
        natsMsg_Destroy(message); /* NULL once libnats took it */
        if (status != NATS_OK) {
            /* The rest would fail the same way: none of them is sent. */
            for (size_t rest = index; rest < count; rest++)
                mp_erp_outcome_set(&outcomes[rest], MP_ERP_RETRY, 0, NULL, 0,
                                   "cannot publish to NATS: %s", natsStatus_GetText(status));
            log_failure(state, FAILURE_PUBLISH, "cannot publish to NATS: %s; retrying",
                        natsStatus_GetText(status));
            published = index;
            break;
        }
    }

    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = state->timeout_ms;
    natsStatus completion = js_PublishAsyncComplete(state->js, &wait);

    pthread_mutex_lock(&state->lock);
    size_t unanswered = state->pending;
    size_t refused = 0, no_stream = 0;
    for (size_t index = 0; index < count; index++) {
        if (!answered[index])
            continue;
        if (outcomes[index].result == MP_ERP_RETRY) {
            if (strstr(outcomes[index].error, "no JetStream stream"))
                no_stream++;
            else
                refused++;
        }
    }
    /* From here on the handler finds no call: late PubAcks are ignored. */
    state->items = NULL;
    state->outcomes = NULL;
    state->answered = NULL;
    state->count = 0;
    state->pending = 0;
    pthread_mutex_unlock(&state->lock);

    if (unanswered) {
        /* Forget what is still in flight; the sender retries it with the same key. */
        natsMsgList in_flight = {0};
        if (js_PublishAsyncGetPendingList(&in_flight, state->js) == NATS_OK)
            natsMsgList_Destroy(&in_flight);
        for (size_t index = 0; index < published; index++)
            if (!answered[index])
                mp_erp_outcome_set(&outcomes[index], MP_ERP_RETRY, 0, NULL, 0,
                                   "no PubAck within %u ms (%s)", state->timeout_ms,
                                   natsStatus_GetText(completion));
        log_failure(state, FAILURE_TIMEOUT,
                    "no PubAck within timeout_ms=%u for %zu of %zu messages; retrying",
                    state->timeout_ms, unanswered, count);
    }
    if (no_stream)
        log_failure(state, FAILURE_NO_STREAM,
                    "no JetStream stream captures subject %s (%zu messages); create one "
                    "(docs/erp.md \"JetStream\") or set erp.create_stream; retrying",
                    state->subject, no_stream);
    if (refused)
        log_failure(state, FAILURE_REFUSED,
                    "the stream refused %zu messages on subject %s: check its limits and "
                    "subjects; retrying (not dead-lettered: it is configuration)",
                    refused, state->subject);
    return 0;
}

static void destroy(void *opaque)
{
    struct jetstream *state = opaque;
    if (!state)
        return;
    atomic_store(&state->closing, true);
    jsCtx_Destroy(state->js);
    bool callbacks_done = true;
    if (state->connection) {
        natsConnection_Close(state->connection);
        callbacks_done = wait_closed(state);
        natsConnection_Destroy(state->connection);
    }
    natsOptions_Destroy(state->nats_options);
    if (!callbacks_done) {
        /* A callback may still come: keeping the state beats freeing it under one. */
        fprintf(stderr, "warn pipeline.erp_jetstream NATS did not confirm the close within %d "
                        "ms; leaving its state allocated\n", CLOSE_WAIT_MS);
        return;
    }
    pthread_cond_destroy(&state->closed_signal);
    pthread_mutex_destroy(&state->closed_lock);
    pthread_mutex_destroy(&state->lock);
    free(state);
}

/* ------------------------------------------------------------------------
 * Creation
 * ---------------------------------------------------------------------- */

void mp_erp_jetstream_options_default(struct mp_erp_jetstream_options *options)
{
    *options = (struct mp_erp_jetstream_options){
        .url = NULL,
        .subject = "milepost.confirmations",
        .stream = "MILEPOST_CONFIRMATIONS",
        .create_stream = false,
        .duplicate_window_s = 86400,
        .timeout_ms = 10000,
        .batch_items_max = MP_ERP_JETSTREAM_BATCH_DEFAULT,
    };
}

static bool copy_name(char *out, const char *name, bool subject)
{
    if (!name || !name[0] || strlen(name) >= MP_ERP_JETSTREAM_NAME_SIZE_MAX)
        return false;
    for (const char *at = name; *at; at++) {
        /* Subjects are dot-separated tokens; publishing to a wildcard is not allowed. */
        if (*at == ' ' || *at == '\t' || *at == '\r' || *at == '\n' || *at == '*' || *at == '>')
            return false;
        if (!subject && *at == '.')
            return false;
    }
    strcpy(out, name);
    return true;
}

int mp_erp_jetstream_create(const struct mp_erp_jetstream_options *options,
                            struct mp_erp_destination *out, char *message, size_t message_size)
{
    MP_ASSERT(options && out);
    if (!options->url || strncmp(options->url, "nats://", 7) != 0 ||
        strlen(options->url) >= MP_OPTIONS_URL_SIZE_MAX) {
        snprintf(message, message_size,
                 "erp.url must be a nats://HOST:PORT URL for erp.mode jetstream");
        return MP_EINVAL;
    }
    if (options->batch_items_max < 1 || options->batch_items_max > MP_ERP_BATCH_MAX ||
        options->timeout_ms < 1) {
        snprintf(message, message_size, "jetstream batch or timeout out of range");
        return MP_EINVAL;
    }
    struct jetstream *state = calloc(1, sizeof *state);
    if (!state) {
        snprintf(message, message_size, "out of memory");
        return -ENOMEM;
    }
    if (!copy_name(state->subject, options->subject, true)) {
        free(state);
        snprintf(message, message_size,
                 "erp.subject must be a NATS subject without spaces or wildcards");
        return MP_EINVAL;
    }
    if (!copy_name(state->stream, options->stream, false)) {
        free(state);
        snprintf(message, message_size,
                 "erp.stream must be a stream name without spaces, dots or wildcards");
        return MP_EINVAL;
    }
    strcpy(state->url, options->url);
    state->create_stream = options->create_stream;
    state->duplicate_window_s = options->duplicate_window_s;
    state->timeout_ms = options->timeout_ms;
    pthread_mutex_init(&state->lock, NULL);
    pthread_mutex_init(&state->closed_lock, NULL);
    pthread_condattr_t closed_attributes;
    pthread_condattr_init(&closed_attributes);
    pthread_condattr_setclock(&closed_attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&state->closed_signal, &closed_attributes);
    pthread_condattr_destroy(&closed_attributes);

    natsStatus status = natsOptions_Create(&state->nats_options);
    if (status == NATS_OK)
        status = natsOptions_SetURL(state->nats_options, state->url);
    if (status == NATS_OK)
        status = natsOptions_SetName(state->nats_options, "milepost-erp");
    if (status == NATS_OK)
        status = natsOptions_SetTimeout(state->nats_options, state->timeout_ms);
    if (status == NATS_OK)
        status = natsOptions_SetAllowReconnect(state->nats_options, true);
    if (status == NATS_OK)
        status = natsOptions_SetMaxReconnect(state->nats_options, -1);
    if (status == NATS_OK)
        status = natsOptions_SetReconnectWait(state->nats_options, RECONNECT_WAIT_MS);
    if (status == NATS_OK)
        status = natsOptions_SetRetryOnFailedConnect(state->nats_options, true, on_connected,
                                                       state);
    if (status == NATS_OK)
        status = natsOptions_SetDisconnectedCB(state->nats_options, on_disconnected, state);
    if (status == NATS_OK)
        status = natsOptions_SetReconnectedCB(state->nats_options, on_reconnected, state);
    if (status == NATS_OK)
        status = natsOptions_SetClosedCB(state->nats_options, on_closed, state);
    if (status == NATS_OK) {
        status = natsConnection_Connect(&state->connection, state->nats_options);
        /* Not up yet: libnats keeps trying in the background. */
        if (status == NATS_NOT_YET_CONNECTED) {
            fprintf(stderr, "warn pipeline.erp_jetstream NATS server not reachable yet url=%s; "
                            "retrying in the background\n", state->url);
            status = NATS_OK;
        }
    }
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.Wait = state->timeout_ms;
    js_options.PublishAsync.MaxPending = options->batch_items_max;
    js_options.PublishAsync.AckHandler = on_pub_ack;
    js_options.PublishAsync.AckHandlerClosure = state;
    if (status == NATS_OK)
        status = natsConnection_JetStream(&state->js, state->connection, &js_options);
    if (status != NATS_OK) {
        snprintf(message, message_size, "cannot set up the NATS connection to %s: %s (%s)",
                 state->url, natsStatus_GetText(status), nats_GetLastError(NULL));
        destroy(state);
        return status == NATS_NO_MEMORY ? -ENOMEM : MP_EINVAL;
    }
    *out = (struct mp_erp_destination){
        .name = "jetstream",
        .state = state,
        .batch_items_max = options->batch_items_max,
        .deliver = deliver,
        .destroy = destroy,
    };
    return 0;
}

void mp_erp_jetstream_options_from_config(const struct mp_server_config *config,
                                          struct mp_erp_jetstream_options *options)
{
    mp_erp_jetstream_options_default(options);
    options->url = config->erp.url;
    options->subject = config->erp.subject;
    options->stream = config->erp.stream;
    options->create_stream = config->erp.create_stream;
    options->timeout_ms = config->erp.timeout_ms;
    options->batch_items_max = config->erp.batch_max;
}
