/*
 * js_tool: the JetStream side of tests/integration/test_erp_jetstream.py and
 * bench/erp-bench, written with libnats so that the test does not trust
 * milepost's own NATS code to check milepost's NATS code.
 *
 *   js_tool create URL STREAM SUBJECT [DUPLICATE_WINDOW_S]
 *       creates (or updates) a file-storage stream over SUBJECT with the
 *       given duplicate window (default 120 s); prints its config as JSON.
 *   js_tool info URL STREAM
 *       prints {"messages":N,"first_seq":F,"last_seq":L}.
 *   js_tool dump URL STREAM
 *       prints one JSON line per stored message, in stream order:
 *       {"seq":S,"subject":"...","msg_id":"...","time_ns":T,"data_hex":"..."}
 *       (data as hex so that the caller can compare the exact bytes).
 *
 * Exit 0 on success, 1 on a NATS error (one line on stderr), 2 on bad usage.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#define REQUEST_WAIT_MS 5000

static int usage(void)
{
    fprintf(stderr, "usage: js_tool create URL STREAM SUBJECT [DUPLICATE_WINDOW_S]\n"
                    "       js_tool info URL STREAM\n"
                    "       js_tool dump URL STREAM\n");
    return 2;
}

static int failed(const char *what, natsStatus status, jsErrCode code)
{
    fprintf(stderr, "js_tool: %s: %s (jetstream error %d; %s)\n", what,
            natsStatus_GetText(status), (int)code, nats_GetLastError(NULL));
    return 1;
}

/* Writes `text` as a JSON string (it is ours or a NATS subject/id: ASCII). */
static void put_json_string(const char *text)
{
    putchar('"');
    for (const unsigned char *at = (const unsigned char *)text; *at; at++) {
        if (*at == '"' || *at == '\\')
            printf("\\%c", *at);
        else if (*at < 0x20)
            printf("\\u%04x", *at);
        else
            putchar(*at);
    }
    putchar('"');
}

static int create_stream(jsCtx *js, const char *stream, const char *subject, int64_t window_s)
{
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    const char *subjects[1] = {subject};
    config.Name = stream;
    config.Subjects = subjects;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    config.Replicas = 1;
    config.Duplicates = window_s * 1000000000LL;
    jsStreamInfo *info = NULL;
    jsErrCode code = 0;
    natsStatus status = js_AddStream(&info, js, &config, NULL, &code);
    if (status != NATS_OK && code == JSStreamNameExistErr)
        status = js_UpdateStream(&info, js, &config, NULL, &code);
    if (status != NATS_OK)
        return failed("cannot create the stream", status, code);
    printf("{\"stream\":");
    put_json_string(stream);
    printf(",\"subject\":");
    put_json_string(subject);
    printf(",\"duplicate_window_s\":%" PRId64 ",\"storage\":\"file\"}\n", window_s);
    jsStreamInfo_Destroy(info);
    return 0;
}

static int stream_info(jsCtx *js, const char *stream)
{
    jsStreamInfo *info = NULL;
    jsErrCode code = 0;
    natsStatus status = js_GetStreamInfo(&info, js, stream, NULL, &code);
    if (status != NATS_OK)
        return failed("cannot read the stream's info", status, code);
    printf("{\"messages\":%" PRIu64 ",\"first_seq\":%" PRIu64 ",\"last_seq\":%" PRIu64 "}\n",
           info->State.Msgs, info->State.FirstSeq, info->State.LastSeq);
    jsStreamInfo_Destroy(info);
    return 0;
}

static int dump_stream(jsCtx *js, const char *stream)
{
    jsStreamInfo *info = NULL;
    jsErrCode code = 0;
    natsStatus status = js_GetStreamInfo(&info, js, stream, NULL, &code);
    if (status != NATS_OK)
        return failed("cannot read the stream's info", status, code);
    uint64_t first = info->State.FirstSeq, last = info->State.LastSeq;
    uint64_t count = info->State.Msgs;
    jsStreamInfo_Destroy(info);
    for (uint64_t sequence = first; count > 0 && sequence <= last; sequence++) {
        natsMsg *message = NULL;
        status = js_GetMsg(&message, js, stream, sequence, NULL, &code);
        if (status == NATS_NOT_FOUND || code == JSNoMessageFoundErr)
            continue; /* deleted from the middle */
        if (status != NATS_OK)
            return failed("cannot read a message", status, code);
        const char *message_id = NULL;
        if (natsMsgHeader_Get(message, "Nats-Msg-Id", &message_id) != NATS_OK)
            message_id = "";
        printf("{\"seq\":%" PRIu64 ",\"subject\":", sequence);
        put_json_string(natsMsg_GetSubject(message));
        printf(",\"msg_id\":");
        put_json_string(message_id);
        printf(",\"time_ns\":%" PRId64 ",\"data_hex\":\"", natsMsg_GetTime(message));
        const unsigned char *data = (const unsigned char *)natsMsg_GetData(message);
        int size = natsMsg_GetDataLength(message);
        for (int index = 0; index < size; index++)
            printf("%02x", data[index]);
        printf("\"}\n");
        natsMsg_Destroy(message);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return usage();
    const char *command = argv[1], *url = argv[2], *stream = argv[3];
    bool create = !strcmp(command, "create");
    if ((create && (argc < 5 || argc > 6)) || (!create && argc != 4) ||
        (!create && strcmp(command, "info") && strcmp(command, "dump")))
        return usage();

    natsOptions *options = NULL;
    natsConnection *connection = NULL;
    jsCtx *js = NULL;
    natsStatus status = natsOptions_Create(&options);
    if (status == NATS_OK)
        status = natsOptions_SetURL(options, url);
    if (status == NATS_OK)
        status = natsOptions_SetTimeout(options, REQUEST_WAIT_MS);
    if (status == NATS_OK)
        status = natsConnection_Connect(&connection, options);
    if (status != NATS_OK) {
        natsOptions_Destroy(options);
        return failed("cannot connect", status, 0);
    }
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.Wait = REQUEST_WAIT_MS;
    status = natsConnection_JetStream(&js, connection, &js_options);
    int result = 1;
    if (status != NATS_OK)
        result = failed("no JetStream context", status, 0);
    else if (create)
        result = create_stream(js, stream, argv[4], argc == 6 ? strtoll(argv[5], NULL, 10) : 120);
    else if (!strcmp(command, "info"))
        result = stream_info(js, stream);
    else
        result = dump_stream(js, stream);
    fflush(stdout);
    jsCtx_Destroy(js);
    natsConnection_Destroy(connection);
    natsOptions_Destroy(options);
    nats_Close();
    return result;
}
