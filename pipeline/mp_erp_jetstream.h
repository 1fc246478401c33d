/*
 * The JetStream destination of the ERP sender (mp_erp.h "destination";
 * docs/erp.md "JetStream").
 *
 * Publishes each confirmation, its stored bytes unchanged, to a subject
 * that a JetStream stream captures, with header Nats-Msg-Id set to the
 * idempotency key, and reports DELIVERED only once the stream's PubAck
 * came back (a PubAck saying "duplicate" is DELIVERED too: the stream
 * already holds that key).  The items of one deliver call go out
 * asynchronously, all of them in flight at once (the call's items are
 * the bounded window), then the call waits up to timeout_ms for their
 * PubAcks.
 *
 * Everything else is RETRY, never DEAD: not connected (libnats reconnects
 * in the background), no PubAck in time, no stream for the subject, and a
 * stream that refuses the message (wrong subject filter, a size or
 * message limit, an expected-stream mismatch).  Those are the operator's
 * NATS configuration, not the ERP's verdict on the confirmation, and the
 * same bytes succeed once the stream is fixed; the DLQ is for
 * confirmations the ERP itself refuses.  Each kind of failure is logged
 * at most once per 10 s, with what to do.
 *
 * The stream is the operator's: milepost creates it only when
 * create_stream is set (file storage, one replica, the configured
 * duplicate window), and never changes an existing one.
 */
#ifndef MP_ERP_JETSTREAM_H
#define MP_ERP_JETSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mp_erp.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MP_ERP_JETSTREAM_NAME_SIZE_MAX 256       /* subject or stream name, '\0' included */
#define MP_ERP_JETSTREAM_BATCH_DEFAULT 256u      /* items in flight per deliver call */

struct mp_erp_jetstream_options {
    const char *url;                 /* nats://HOST:PORT[,nats://...]; borrowed for create */
    const char *subject;             /* where confirmations are published */
    const char *stream;              /* create_stream: the stream's name */
    bool create_stream;              /* create the stream when it does not exist */
    uint32_t duplicate_window_s;     /* create_stream: the stream's duplicate window */
    uint32_t timeout_ms;             /* connect, and PubAcks of one deliver call */
    uint32_t batch_items_max;        /* 1..MP_ERP_BATCH_MAX */
};

/*
 * Defaults: subject "milepost.confirmations", stream
 * "MILEPOST_CONFIRMATIONS", create_stream false, duplicate window one
 * day, timeout 10 s, batch 256.  url stays NULL.
 */
void mp_erp_jetstream_options_default(struct mp_erp_jetstream_options *options);

/*
 * The destination's options from the server's configuration (erp.url,
 * erp.subject, erp.stream, erp.create_stream, erp.timeout_ms,
 * erp.batch_max).  Pointers into config: keep config alive until create.
 */
void mp_erp_jetstream_options_from_config(const struct mp_server_config *config,
                                          struct mp_erp_jetstream_options *options);

/*
 * Creates the JetStream destination and starts connecting (a server that
 * is not up yet is retried in the background; deliver reports RETRY
 * meanwhile).  Returns 0 and *out (its destroy closes the connection;
 * call it yourself if *out never reaches a sender), MP_EINVAL for bad
 * options (an empty or invalid URL or subject) or -ENOMEM, with a
 * one-line message.  Any thread; libnats runs its own threads.
 */
int mp_erp_jetstream_create(const struct mp_erp_jetstream_options *options,
                            struct mp_erp_destination *out, char *message, size_t message_size);

#ifdef __cplusplus
}
#endif

#endif
