/*
 * The JetStream destination against a real nats-server -js on 127.0.0.1:
 * PubAck is DELIVERED (a repeat too, deduplicated by Nats-Msg-Id), no
 * stream / a refusing stream / no connection are RETRY (never DEAD), bad
 * options are refused.  Exit 77 when nats-server cannot run here.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nats/nats.h>

#include "mp_erp.h"
#include "mp_erp_jetstream.h"
#include "mp_error.h"

static char work_dir[64];
static char url[64];
static pid_t server_pid;

/* Starts nats-server -js on a port it picks; returns false when it cannot run. */
static bool start_nats(void)
{
    strcpy(work_dir, "/tmp/mp_erp_js_test_XXXXXX");
    if (!mkdtemp(work_dir))
        return false;
    char store[128], log[128];
    snprintf(store, sizeof store, "%s/store", work_dir);
    snprintf(log, sizeof log, "%s/nats.log", work_dir);
    server_pid = fork();
    if (server_pid == 0) {
        execlp("nats-server", "nats-server", "-js", "-a", "127.0.0.1", "-p", "-1", "-sd", store,
               "-l", log, (char *)NULL);
        _exit(127);
    }
    if (server_pid < 0)
        return false;
    for (int attempt = 0; attempt < 200; attempt++) {
        FILE *file = fopen(log, "r");
        char line[512];
        int port = 0;
        bool ready = false;
        while (file && fgets(line, sizeof line, file)) {
            const char *at = strstr(line, "client connections on 127.0.0.1:");
            if (at)
                port = atoi(at + strlen("client connections on 127.0.0.1:"));
            if (strstr(line, "Server is ready"))
                ready = true;
        }
        if (file)
            fclose(file);
        if (port && ready) {
            snprintf(url, sizeof url, "nats://127.0.0.1:%d", port);
            return true;
        }
        int status;
        if (waitpid(server_pid, &status, WNOHANG) == server_pid)
            return false;
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return false;
}

static void stop_nats(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", work_dir);
    if (system(command) != 0)
        fprintf(stderr, "could not remove %s\n", work_dir);
}

/* Adds a stream through libnats directly (the operator's side). */
static void add_stream(const char *name, const char *subject, int32_t max_msg_size)
{
    natsConnection *connection = NULL;
    jsCtx *js = NULL;
    assert_int_equal(natsConnection_ConnectTo(&connection, url), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, connection, NULL), NATS_OK);
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    const char *subjects[1] = {subject};
    config.Name = name;
    config.Subjects = subjects;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    config.MaxMsgSize = max_msg_size;
    jsStreamInfo *info = NULL;
    jsErrCode code = 0;
    assert_int_equal(js_AddStream(&info, js, &config, NULL, &code), NATS_OK);
    jsStreamInfo_Destroy(info);
    jsCtx_Destroy(js);
    natsConnection_Destroy(connection);
}

static uint64_t stream_messages(const char *name)
{
    natsConnection *connection = NULL;
    jsCtx *js = NULL;
    assert_int_equal(natsConnection_ConnectTo(&connection, url), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, connection, NULL), NATS_OK);
    jsStreamInfo *info = NULL;
    jsErrCode code = 0;
    assert_int_equal(js_GetStreamInfo(&info, js, name, NULL, &code), NATS_OK);
    uint64_t messages = info->State.Msgs;
    jsStreamInfo_Destroy(info);
    jsCtx_Destroy(js);
    natsConnection_Destroy(connection);
    return messages;
}

struct batch {
    struct mp_erp_item items[3];
    struct mp_erp_outcome outcomes[3];
    char bodies[3][160];
};

static void batch_init(struct batch *batch, const char *prefix)
{
    memset(batch, 0, sizeof *batch);
    for (int index = 0; index < 3; index++) {
        struct mp_erp_item *item = &batch->items[index];
        snprintf(item->key, sizeof item->key, "%s%028d", prefix, index);
        int size = snprintf(batch->bodies[index], sizeof batch->bodies[index],
                            "{\"idempotency_key\":\"%s\",\"type\":\"DELIVERED\"}", item->key);
        item->sequence = (uint64_t)index + 1;
        item->attempt = 1;
        item->body = batch->bodies[index];
        item->body_size = (size_t)size;
        mp_erp_outcome_set(&batch->outcomes[index], MP_ERP_RETRY, 0, NULL, 0,
                           "destination gave no outcome");
    }
}

static struct mp_erp_destination create(const char *subject, bool create_stream,
                                        const char *stream, const char *server_url)
{
    struct mp_erp_jetstream_options options;
    mp_erp_jetstream_options_default(&options);
    options.url = server_url;
    options.subject = subject;
    options.stream = stream;
    options.create_stream = create_stream;
    options.timeout_ms = 2000;
    struct mp_erp_destination destination;
    char message[256];
    assert_int_equal(mp_erp_jetstream_create(&options, &destination, message, sizeof message), 0);
    assert_string_equal(destination.name, "jetstream");
    return destination;
}

static void test_delivered_and_repeats(void **state)
{
    (void)state;
    struct mp_erp_destination destination = create("test.ok", true, "TEST_OK", url);
    struct batch batch;
    /* The connection may still be on its way: the first rounds may say RETRY. */
    for (int round = 0; round < 50; round++) {
        batch_init(&batch, "0000");
        assert_int_equal(destination.deliver(destination.state, batch.items, 3, batch.outcomes), 0);
        if (batch.outcomes[0].result == MP_ERP_DELIVERED)
            break;
        usleep(100 * 1000);
    }
    for (int index = 0; index < 3; index++)
        assert_int_equal(batch.outcomes[index].result, MP_ERP_DELIVERED);
    /* The same keys again: the stream keeps one copy, and that is delivered too. */
    batch_init(&batch, "0000");
    assert_int_equal(destination.deliver(destination.state, batch.items, 3, batch.outcomes), 0);
    for (int index = 0; index < 3; index++) {
        assert_int_equal(batch.outcomes[index].result, MP_ERP_DELIVERED);
        assert_string_equal(batch.outcomes[index].error, "duplicate");
    }
    assert_int_equal(stream_messages("TEST_OK"), 3);
    destination.destroy(destination.state);
}

static void test_no_stream_and_refusal_are_retried(void **state)
{
    (void)state;
    struct mp_erp_destination destination = create("test.nostream", false, "UNUSED", url);
    struct batch batch;
    for (int round = 0; round < 50; round++) {
        batch_init(&batch, "1111");
        assert_int_equal(destination.deliver(destination.state, batch.items, 3, batch.outcomes), 0);
        if (strstr(batch.outcomes[0].error, "no JetStream stream"))
            break;
        usleep(100 * 1000);
    }
    for (int index = 0; index < 3; index++) {
        assert_int_equal(batch.outcomes[index].result, MP_ERP_RETRY);
        assert_non_null(strstr(batch.outcomes[index].error, "no JetStream stream"));
    }
    destination.destroy(destination.state);

    /* A stream whose limit refuses the message: RETRY with the stream's reason, not DEAD. */
    add_stream("TEST_SMALL", "test.small", 16);
    destination = create("test.small", false, "UNUSED", url);
    for (int round = 0; round < 50; round++) {
        batch_init(&batch, "2222");
        assert_int_equal(destination.deliver(destination.state, batch.items, 3, batch.outcomes), 0);
        if (strstr(batch.outcomes[0].error, "refused"))
            break;
        usleep(100 * 1000);
    }
    for (int index = 0; index < 3; index++) {
        assert_int_equal(batch.outcomes[index].result, MP_ERP_RETRY);
        assert_non_null(strstr(batch.outcomes[index].error, "refused"));
    }
    assert_int_equal(stream_messages("TEST_SMALL"), 0);
    destination.destroy(destination.state);
}

static void test_not_connected_is_retried(void **state)
{
    (void)state;
    /* Port 9 (discard) is not a NATS server here: create works, deliver says RETRY. */
    struct mp_erp_destination destination = create("test.ok", false, "UNUSED", "nats://127.0.0.1:9");
    struct batch batch;
    batch_init(&batch, "3333");
    assert_int_equal(destination.deliver(destination.state, batch.items, 3, batch.outcomes), 0);
    for (int index = 0; index < 3; index++) {
        assert_int_equal(batch.outcomes[index].result, MP_ERP_RETRY);
        assert_non_null(strstr(batch.outcomes[index].error, "not connected"));
    }
    destination.destroy(destination.state);
}

static void test_bad_options(void **state)
{
    (void)state;
    struct mp_erp_jetstream_options options;
    struct mp_erp_destination destination;
    char message[256];
    const char *urls[] = {NULL, "http://127.0.0.1:4222", ""};
    for (size_t index = 0; index < 3; index++) {
        mp_erp_jetstream_options_default(&options);
        options.url = urls[index];
        assert_int_equal(mp_erp_jetstream_create(&options, &destination, message, sizeof message),
                         MP_EINVAL);
    }
    const char *subjects[] = {"", "a.*", "a.>", "a b"};
    for (size_t index = 0; index < 4; index++) {
        mp_erp_jetstream_options_default(&options);
        options.url = url;
        options.subject = subjects[index];
        assert_int_equal(mp_erp_jetstream_create(&options, &destination, message, sizeof message),
                         MP_EINVAL);
    }
    mp_erp_jetstream_options_default(&options);
    options.url = url;
    options.stream = "A.B";
    assert_int_equal(mp_erp_jetstream_create(&options, &destination, message, sizeof message),
                     MP_EINVAL);
}

int main(void)
{
    if (!start_nats()) {
        fprintf(stderr, "test_mp_erp_jetstream: nats-server cannot run here (Debian: apt-get "
                        "install nats-server); skipped\n");
        stop_nats();
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delivered_and_repeats),
        cmocka_unit_test(test_no_stream_and_refusal_are_retried),
        cmocka_unit_test(test_not_connected_is_retried),
        cmocka_unit_test(test_bad_options),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    stop_nats();
    nats_Close();
    return failed ? 1 : 0;
}
