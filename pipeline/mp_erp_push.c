/*
 * The push destination: HTTP(S) POST of confirmations with libcurl
 * (mp_erp.h "the push destination", docs/erp.md "Push").
 *
 * One curl multi handle and one easy handle per parallel request, all
 * made at creation and reused, so connections stay alive between rounds
 * (the multi handle keeps the connection cache).  Single mode POSTs each
 * item of a round as its own request, in parallel (the items of a round
 * belong to distinct shipments); batch mode POSTs them as one JSON array.
 * TLS verification stays on (libcurl's default; nothing here turns it off).
 */
#include "mp_erp.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mp_assert.h"
#include "mp_config.h"
#include "mp_error.h"
#include "mp_options.h"

/* Requests in flight at once in single mode: a few connections, not one per shipment. */
#define PUSH_PARALLEL_MAX 8u
#define SIGNATURE_HEADER "X-Milepost-Signature: sha256="
#define KEY_HEADER "Idempotency-Key: "

struct request {
    CURL *easy;
    struct curl_slist *headers;
    char error[CURL_ERROR_SIZE];
    char answer[MP_ERP_ANSWER_SIZE_MAX];
    size_t answer_size;
    uint32_t retry_after_ms;
    uint32_t first_item;           /* the items this request carries */
    uint32_t item_count;
    bool done;
    CURLcode result;
    /* Header lines, built per request in fixed buffers. */
    char key_header[sizeof KEY_HEADER + MP_ERP_KEY_SIZE];
    char signature_header[sizeof SIGNATURE_HEADER + 2 * EVP_MAX_MD_SIZE];
};

struct push {
    CURLM *multi;
    struct request *requests;      /* one per item of a round (single), or one (batch) */
    uint32_t request_count;
    bool batch;
    uint32_t batch_items_max;
    uint32_t timeout_ms;
    char url[MP_OPTIONS_URL_SIZE_MAX];
    char auth_header[MP_OPTIONS_SECRET_SIZE_MAX];
    char hmac_secret[MP_OPTIONS_SECRET_SIZE_MAX];
    size_t hmac_secret_size;
    char *batch_body;              /* batch mode: "[" item "," ... "]" */
    size_t batch_body_capacity;
};

static size_t answer_write(char *data, size_t size, size_t count, void *context)
{
    struct request *request = context;
    size_t bytes = size * count;
    size_t room = sizeof request->answer - request->answer_size;
    size_t kept = bytes < room ? bytes : room;
    memcpy(request->answer + request->answer_size, data, kept);
    request->answer_size += kept;
    /* The rest is read and dropped: the answer is bounded, the connection stays usable. */
    return bytes;
}

/* Retry-After: delta-seconds or an HTTP-date (RFC 9110 10.2.3). */
static size_t header_read(char *data, size_t size, size_t count, void *context)
{
    struct request *request = context;
    size_t bytes = size * count;
    static const char name[] = "retry-after:";
    if (bytes > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        char value[64];
        size_t length = bytes - (sizeof name - 1);
        if (length >= sizeof value)
            length = sizeof value - 1;
        memcpy(value, data + sizeof name - 1, length);
        value[length] = '\0';
        char *text = value;
        while (*text == ' ' || *text == '\t')
            text++;
        char *end = NULL;
        errno = 0;
        unsigned long long seconds = strtoull(text, &end, 10);
        if (end != text && errno == 0 && (*end == '\r' || *end == '\n' || *end == '\0')) {
            uint64_t ms = seconds * 1000ull;
            request->retry_after_ms = ms < MP_ERP_RETRY_MS_MAX ? (uint32_t)ms : MP_ERP_RETRY_MS_MAX;
        } else {
            time_t when = curl_getdate(text, NULL);
            time_t now = time(NULL);
            if (when > now) {
                uint64_t ms = (uint64_t)(when - now) * 1000ull;
                request->retry_after_ms =
                    ms < MP_ERP_RETRY_MS_MAX ? (uint32_t)ms : MP_ERP_RETRY_MS_MAX;
            }
        }
    } else if (bytes >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* A new response (after a 100 Continue): forget what the last one said. */
        request->retry_after_ms = 0;
        request->answer_size = 0;
    }
    return bytes;
}

static int request_init(struct push *push, struct request *request)
{
    request->easy = curl_easy_init();
    if (request->easy == NULL)
        return -ENOMEM;
    CURL *easy = request->easy;
    curl_easy_setopt(easy, CURLOPT_URL, push->url);
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)push->timeout_ms);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)push->timeout_ms);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "milepost/" MP_VERSION);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, request->error);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, answer_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, request);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_read);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, request);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, request);
    return 0;
}

static void push_destroy(void *state)
{
    struct push *push = state;
    if (push == NULL)
        return;
    for (uint32_t i = 0; i < push->request_count; i++) {
        if (push->requests[i].easy != NULL)
            curl_easy_cleanup(push->requests[i].easy);
        curl_slist_free_all(push->requests[i].headers);
    }
    if (push->multi != NULL)
        curl_multi_cleanup(push->multi);
    free(push->requests);
    free(push->batch_body);
    /* The secrets do not linger in freed memory. */
    memset(push, 0, sizeof *push);
    free(push);
}

/* The headers of one request: Content-Type, the key (single), auth, signature. */
static int request_headers(struct push *push, struct request *request, const char *key,
                           const char *body, size_t body_size)
{
    curl_slist_free_all(request->headers);
    request->headers = NULL;
    struct curl_slist *list = curl_slist_append(NULL, "Content-Type: application/json");
    /* No "Expect: 100-continue" round trip before large batches. */
    if (list != NULL)
        list = curl_slist_append(list, "Expect:");
    if (list != NULL && key != NULL) {
        snprintf(request->key_header, sizeof request->key_header, "%s%s", KEY_HEADER, key);
        list = curl_slist_append(list, request->key_header);
    }
    if (list != NULL && push->auth_header[0])
        list = curl_slist_append(list, push->auth_header);
    if (list != NULL && push->hmac_secret_size != 0) {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int digest_size = 0;
        if (HMAC(EVP_sha256(), push->hmac_secret, (int)push->hmac_secret_size,
                 (const unsigned char *)body, body_size, digest, &digest_size) == NULL) {
            curl_slist_free_all(list);
            return MP_EINVAL;
        }
        size_t at = strlen(SIGNATURE_HEADER);
        memcpy(request->signature_header, SIGNATURE_HEADER, at);
        static const char hex[] = "0123456789abcdef";
        for (unsigned int i = 0; i < digest_size; i++) {
            request->signature_header[at++] = hex[digest[i] >> 4];
            request->signature_header[at++] = hex[digest[i] & 15];
        }
        request->signature_header[at] = '\0';
        list = curl_slist_append(list, request->signature_header);
    }
    if (list == NULL)
        return -ENOMEM;
    request->headers = list;
    curl_easy_setopt(request->easy, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(request->easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(request->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_size);
    request->answer_size = 0;
    request->retry_after_ms = 0;
    request->error[0] = '\0';
    request->done = false;
    request->result = CURLE_OK;
    return 0;
}

/* Runs the requests added to the multi handle until each is done (each has its timeout). */
static int multi_run(struct push *push)
{
    int running = 1;
    while (running > 0) {
        CURLMcode code = curl_multi_perform(push->multi, &running);
        if (code != CURLM_OK)
            return MP_EINVAL;
        CURLMsg *message;
        int left;
        while ((message = curl_multi_info_read(push->multi, &left)) != NULL) {
            if (message->msg != CURLMSG_DONE)
                continue;
            struct request *request = NULL;
            curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, (char **)&request);
            MP_ASSERT(request != NULL);
            request->done = true;
            request->result = message->data.result;
        }
        if (running > 0) {
            code = curl_multi_poll(push->multi, NULL, 0, 100, NULL);
            if (code != CURLM_OK)
                return MP_EINVAL;
        }
    }
    return 0;
}

/* The outcome of a finished request (mp_erp.h: 2xx, 4xx but 408/429, the rest). */
static void request_outcome(const struct request *request, struct mp_erp_outcome *outcome)
{
    long status = 0;
    curl_easy_getinfo(request->easy, CURLINFO_RESPONSE_CODE, &status);
    if (!request->done || request->result != CURLE_OK) {
        const char *why = request->error[0] ? request->error
                          : request->done   ? curl_easy_strerror(request->result)
                                            : "request did not finish";
        mp_erp_outcome_set(outcome, MP_ERP_RETRY, (int)status, NULL, 0, "%s", why);
        return;
    }
    if (status >= 200 && status <= 299) {
        mp_erp_outcome_set(outcome, MP_ERP_DELIVERED, (int)status, NULL, 0, "HTTP %ld", status);
    } else if (status >= 400 && status <= 499 && status != 408 && status != 429) {
        mp_erp_outcome_set(outcome, MP_ERP_DEAD, (int)status, request->answer,
                           request->answer_size, "HTTP %ld", status);
    } else {
        mp_erp_outcome_set(outcome, MP_ERP_RETRY, (int)status, request->answer,
                           request->answer_size, "HTTP %ld%s", status,
                           status >= 300 && status <= 399 ? " (a redirect: check erp.url)" : "");
        outcome->retry_after_ms = request->retry_after_ms;
    }
}

/*
 * One request per item, all added at once: the multi handle runs at most
 * PUSH_PARALLEL_MAX connections and queues the rest onto whichever
 * connection frees up first.
 */
static int deliver_single(struct push *push, const struct mp_erp_item *items, size_t count,
                          struct mp_erp_outcome *outcomes)
{
    MP_ASSERT(count <= push->request_count);
    for (size_t i = 0; i < count; i++) {
        struct request *request = &push->requests[i];
        const struct mp_erp_item *item = &items[i];
        int rc = request_headers(push, request, item->key, item->body, item->body_size);
        if (rc != 0) {
            for (size_t j = 0; j < i; j++)
                curl_multi_remove_handle(push->multi, push->requests[j].easy);
            return rc;
        }
        request->first_item = (uint32_t)i;
        request->item_count = 1;
        curl_multi_add_handle(push->multi, request->easy);
    }
    int rc = multi_run(push);
    for (size_t i = 0; i < count; i++) {
        struct request *request = &push->requests[i];
        curl_multi_remove_handle(push->multi, request->easy);
        request_outcome(request, &outcomes[i]);
    }
    return rc;
}

static int deliver_batch(struct push *push, const struct mp_erp_item *items, size_t count,
                         struct mp_erp_outcome *outcomes)
{
    size_t needed = 2;
    for (size_t i = 0; i < count; i++)
        needed += items[i].body_size + 1;
    if (needed > push->batch_body_capacity) {
        char *grown = realloc(push->batch_body, needed);
        if (grown == NULL)
            return -ENOMEM;
        push->batch_body = grown;
        push->batch_body_capacity = needed;
    }
    size_t at = 0;
    push->batch_body[at++] = '[';
    for (size_t i = 0; i < count; i++) {
        if (i != 0)
            push->batch_body[at++] = ',';
        memcpy(push->batch_body + at, items[i].body, items[i].body_size);
        at += items[i].body_size;
    }
    push->batch_body[at++] = ']';
    struct request *request = &push->requests[0];
    int rc = request_headers(push, request, NULL, push->batch_body, at);
    if (rc != 0)
        return rc;
    request->first_item = 0;
    request->item_count = (uint32_t)count;
    curl_multi_add_handle(push->multi, request->easy);
    rc = multi_run(push);
    curl_multi_remove_handle(push->multi, request->easy);
    /* One answer for the array: every element shares it. */
    request_outcome(request, &outcomes[0]);
    for (size_t i = 1; i < count; i++)
        outcomes[i] = outcomes[0];
    return rc;
}

static int push_deliver(void *state, const struct mp_erp_item *items, size_t count,
                        struct mp_erp_outcome *outcomes)
{
    struct push *push = state;
    MP_ASSERT(push != NULL && items != NULL);
    MP_ASSERT(count >= 1 && count <= push->batch_items_max);
    return push->batch ? deliver_batch(push, items, count, outcomes)
                       : deliver_single(push, items, count, outcomes);
}

int mp_erp_push_create(const struct mp_server_config *config, struct mp_erp_destination *out,
                       char *message, size_t message_size)
{
    MP_ASSERT(config != NULL && out != NULL);
    if (strncmp(config->erp.url, "http://", 7) != 0 &&
        strncmp(config->erp.url, "https://", 8) != 0) {
        snprintf(message, message_size, "erp.url is not an http:// or https:// URL");
        return MP_EINVAL;
    }
    static bool curl_ready;
    if (!curl_ready) {
        /* Start-up, before any sender thread: libcurl's global init is not for later. */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(message, message_size, "libcurl could not start");
            return MP_EINVAL;
        }
        curl_ready = true;
    }
    struct push *push = calloc(1, sizeof *push);
    if (push == NULL) {
        snprintf(message, message_size, "out of memory");
        return -ENOMEM;
    }
    push->batch = config->erp.batch;
    push->batch_items_max = config->erp.batch_max;
    push->timeout_ms = config->erp.timeout_ms;
    snprintf(push->url, sizeof push->url, "%s", config->erp.url);
    snprintf(push->auth_header, sizeof push->auth_header, "%s", config->erp.auth_header);
    snprintf(push->hmac_secret, sizeof push->hmac_secret, "%s", config->erp.hmac_secret);
    push->hmac_secret_size = strlen(push->hmac_secret);
    uint32_t request_count = push->batch ? 1 : push->batch_items_max;
    push->requests = calloc(request_count, sizeof *push->requests);
    push->multi = curl_multi_init();
    int rc = push->multi != NULL && push->requests != NULL ? 0 : -ENOMEM;
    for (uint32_t i = 0; rc == 0 && i < request_count; i++) {
        rc = request_init(push, &push->requests[i]);
        if (rc == 0)
            push->request_count++;
    }
    if (rc == 0) {
        /* A few connections, kept alive between rounds; requests beyond them queue. */
        curl_multi_setopt(push->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)PUSH_PARALLEL_MAX);
        curl_multi_setopt(push->multi, CURLMOPT_MAXCONNECTS, (long)PUSH_PARALLEL_MAX);
    }
    if (rc != 0) {
        push_destroy(push);
        snprintf(message, message_size, "libcurl: out of memory");
        return rc;
    }
    *out = (struct mp_erp_destination){
        .name = "push",
        .state = push,
        .batch_items_max = push->batch_items_max,
        .deliver = push_deliver,
        .destroy = push_destroy,
    };
    return 0;
}
