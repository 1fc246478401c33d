/*
 * The PostgreSQL baseline: the same generated events, parsed and upserted
 * in batched transactions (bench/mp_baseline_pg.h says what and why).
 */
#include "mp_baseline_pg.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "mp_assert.h"
#include "mp_bench_util.h"
#include "mp_error.h"
#include "mp_event.h"
#include "mp_json.h"
#include "mp_time.h"

#ifndef MP_BASELINE_PG_SCRIPT
#define MP_BASELINE_PG_SCRIPT "scripts/baseline-postgres"
#endif

/* ------------------------------------------------------------------------ */
/* Schema and statements                                                    */
/* ------------------------------------------------------------------------ */

static const char baseline_schema[] =
    "SET client_min_messages = warning;"
    "DROP TABLE IF EXISTS shipment_state;"
    "DROP TABLE IF EXISTS shipment_event;"
    "CREATE TABLE shipment_state ("
    " carrier text NOT NULL, tracking_number text NOT NULL,"
    " status text NOT NULL, reason text, event_time timestamptz NOT NULL,"
    " city text, region text, country text, postal_code text,"
    " updated_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (carrier, tracking_number));"
    "CREATE TABLE shipment_event ("
    " carrier text NOT NULL, tracking_number text NOT NULL,"
    " status text NOT NULL, event_time timestamptz NOT NULL, reason text,"
    " source_status text, description text,"
    " city text, region text, country text, postal_code text,"
    " received_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (carrier, tracking_number, event_time, status));";

enum {
    HISTORY_CARRIER = 0,
    HISTORY_TRACKING_NUMBER,
    HISTORY_STATUS,
    HISTORY_EVENT_TIME,
    HISTORY_REASON,
    HISTORY_SOURCE_STATUS,
    HISTORY_DESCRIPTION,
    HISTORY_CITY,
    HISTORY_REGION,
    HISTORY_COUNTRY,
    HISTORY_POSTAL_CODE,
    HISTORY_COLUMN_COUNT,
};

static const char baseline_history_sql[] =
    "INSERT INTO shipment_event (carrier, tracking_number, status, event_time, reason,"
    " source_status, description, city, region, country, postal_code)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[],"
    " $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])"
    " ON CONFLICT (carrier, tracking_number, event_time, status) DO NOTHING";

enum {
    STATE_CARRIER = 0,
    STATE_TRACKING_NUMBER,
    STATE_STATUS,
    STATE_REASON,
    STATE_EVENT_TIME,
    STATE_CITY,
    STATE_REGION,
    STATE_COUNTRY,
    STATE_POSTAL_CODE,
    STATE_COLUMN_COUNT,
};

static const char baseline_state_sql[] =
    "INSERT INTO shipment_state AS t (carrier, tracking_number, status, reason, event_time,"
    " city, region, country, postal_code)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],"
    " $6::text[], $7::text[], $8::text[], $9::text[])"
    " ON CONFLICT (carrier, tracking_number) DO UPDATE SET status = excluded.status,"
    " reason = excluded.reason, event_time = excluded.event_time, city = excluded.city,"
    " region = excluded.region, country = excluded.country,"
    " postal_code = excluded.postal_code, updated_at = now()"
    " WHERE excluded.event_time > t.event_time";

/* ------------------------------------------------------------------------ */
/* PostgreSQL array literals                                                */
/* ------------------------------------------------------------------------ */

/*
 * One text[] parameter being built: {"a","b",NULL}.  Grows to the largest
 * batch once, then is reused.
 */
struct baseline_array {
    char *text;
    size_t used;
    size_t capacity;
    uint32_t count;
};

static bool baseline_array_reserve(struct baseline_array *array, size_t more)
{
    if (array->used + more <= array->capacity)
        return true;
    size_t capacity = array->capacity > 0 ? array->capacity : 4096;
    while (capacity < array->used + more)
        capacity *= 2;
    char *text = realloc(array->text, capacity);
    if (text == NULL)
        return false;
    array->text = text;
    array->capacity = capacity;
    return true;
}

static bool baseline_array_begin(struct baseline_array *array)
{
    array->used = 0;
    array->count = 0;
    if (!baseline_array_reserve(array, 2))
        return false;
    array->text[array->used++] = '{';
    return true;
}

/* Adds one element; size 0 with is_null adds NULL, otherwise a quoted string. */
static bool baseline_array_add(struct baseline_array *array, const char *bytes, size_t size, bool is_null)
{
    /* Worst case every byte escaped, quotes, comma. */
    if (!baseline_array_reserve(array, 2 * size + 8))
        return false;
    if (array->count > 0)
        array->text[array->used++] = ',';
    array->count++;
    if (is_null) {
        memcpy(array->text + array->used, "NULL", 4);
        array->used += 4;
        return true;
    }
    array->text[array->used++] = '"';
    for (size_t index = 0; index < size; index++) {
        char byte = bytes[index];
        if (byte == '"' || byte == '\\')
            array->text[array->used++] = '\\';
        array->text[array->used++] = byte;
    }
    array->text[array->used++] = '"';
    return true;
}

static bool baseline_array_end(struct baseline_array *array)
{
    if (!baseline_array_reserve(array, 2))
        return false;
    array->text[array->used++] = '}';
    array->text[array->used] = '\0';
    return true;
}

/* ------------------------------------------------------------------------ */
/* Workers                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * The starting line: workers connect and prepare (untimed), report in,
 * and wait for the go, so the clock starts once for all of them.
 */
struct baseline_start {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    uint32_t ready_count;
    bool go;
    bool abort;
};

/* What the latest-state upsert needs of an event, kept until the batch is sent. */
struct baseline_state_row {
    int64_t event_time_ms;
    uint8_t milestone;
    uint8_t reason;
    char carrier[MP_CARRIER_SIZE_MAX + 1];
    char tracking_number[MP_TRACKING_NUMBER_SIZE_MAX + 1];
    char city[MP_LOCATION_FIELD_SIZE_MAX + 1];
    char region[MP_LOCATION_FIELD_SIZE_MAX + 1];
    char country[MP_LOCATION_FIELD_SIZE_MAX + 1];
    char postal_code[MP_LOCATION_FIELD_SIZE_MAX + 1];
};

struct baseline_worker {
    pthread_t thread;
    uint32_t index;
    const struct mp_baseline_pg_options *options;
    struct baseline_start *start;

    /* This worker's lines: NDJSON, the shipments hashed to it. */
    char *lines;
    size_t lines_size;
    size_t lines_capacity;
    uint64_t line_count;

    PGconn *connection;
    struct mp_json_parser *parser;
    struct baseline_array history[HISTORY_COLUMN_COUNT];
    struct baseline_array state[STATE_COLUMN_COUNT];
    struct baseline_state_row *rows;
    uint32_t row_count;
    bool out_of_memory;

    struct mp_histogram commit_histogram;
    uint64_t transactions;
    uint64_t events_sent;
    uint64_t events_rejected;
    int error;
    char message[256];
};

static int64_t baseline_now_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

__attribute__((format(printf, 3, 4))) static int baseline_fail(struct baseline_worker *worker, int error,
                                                               const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(worker->message, sizeof worker->message, format, arguments);
    va_end(arguments);
    /* libpq messages end in a newline; the message is one line. */
    for (char *at = worker->message; *at != '\0'; at++)
        if (*at == '\n')
            *at = *(at + 1) == '\0' ? '\0' : ' ';
    worker->error = error;
    return error;
}

static bool baseline_add_slice(struct baseline_array *array, const struct mp_event *event, struct mp_slice slice,
                               bool null_when_empty)
{
    return baseline_array_add(array, mp_event_text(event, slice), slice.size, null_when_empty && slice.size == 0);
}

static void baseline_copy_slice(char *to, size_t capacity, const struct mp_event *event, struct mp_slice slice)
{
    size_t size = slice.size < capacity - 1 ? slice.size : capacity - 1;
    memcpy(to, mp_event_text(event, slice), size);
    to[size] = '\0';
}

/* The parser's sink: one event into the history arrays and the state rows. */
static int baseline_on_event(void *context, uint32_t index, struct mp_event *event, const char *raw, size_t raw_size)
{
    struct baseline_worker *worker = context;
    char time_text[MP_TIME_TEXT_SIZE];
    size_t time_size = mp_time_format_utc(event->event_time_ms, time_text);
    const char *status = mp_milestone_name((enum mp_milestone)event->milestone);
    const char *reason = event->reason != MP_REASON_NONE ? mp_reason_name((enum mp_reason)event->reason) : "";
    struct baseline_array *history = worker->history;
    bool ok = baseline_add_slice(&history[HISTORY_CARRIER], event, event->carrier, false) &&
              baseline_add_slice(&history[HISTORY_TRACKING_NUMBER], event, event->tracking_number, false) &&
              baseline_array_add(&history[HISTORY_STATUS], status, strlen(status), false) &&
              baseline_array_add(&history[HISTORY_EVENT_TIME], time_text, time_size, false) &&
              baseline_array_add(&history[HISTORY_REASON], reason, strlen(reason), reason[0] == '\0') &&
              baseline_add_slice(&history[HISTORY_SOURCE_STATUS], event, event->source_status, true) &&
              baseline_add_slice(&history[HISTORY_DESCRIPTION], event, event->description, true) &&
              baseline_add_slice(&history[HISTORY_CITY], event, event->city, true) &&
              baseline_add_slice(&history[HISTORY_REGION], event, event->region, true) &&
              baseline_add_slice(&history[HISTORY_COUNTRY], event, event->country, true) &&
              baseline_add_slice(&history[HISTORY_POSTAL_CODE], event, event->postal_code, true);
    if (!ok) {
        worker->out_of_memory = true;
        return 1;
    }
    MP_ASSERT(worker->row_count < worker->options->batch_events);
    struct baseline_state_row *row = &worker->rows[worker->row_count++];
    row->event_time_ms = event->event_time_ms;
    row->milestone = event->milestone;
    row->reason = event->reason;
    baseline_copy_slice(row->carrier, sizeof row->carrier, event, event->carrier);
    baseline_copy_slice(row->tracking_number, sizeof row->tracking_number, event, event->tracking_number);
    baseline_copy_slice(row->city, sizeof row->city, event, event->city);
    baseline_copy_slice(row->region, sizeof row->region, event, event->region);
    baseline_copy_slice(row->country, sizeof row->country, event, event->country);
    baseline_copy_slice(row->postal_code, sizeof row->postal_code, event, event->postal_code);
    worker->events_sent++;
    return 0;
}

static int baseline_on_reject(void *context, uint32_t index, enum mp_reject_code code, const char *message,
                              const char *raw, size_t raw_size)
{
    struct baseline_worker *worker = context;
    worker->events_rejected++;
    return 0;
}

/* By shipment, then newest first (event time, then rank): the first of a shipment wins. */
static int baseline_row_compare(const void *left, const void *right)
{
    const struct baseline_state_row *a = left;
    const struct baseline_state_row *b = right;
    int order = strcmp(a->carrier, b->carrier);
    if (order == 0)
        order = strcmp(a->tracking_number, b->tracking_number);
    if (order != 0)
        return order;
    if (a->event_time_ms != b->event_time_ms)
        return a->event_time_ms > b->event_time_ms ? -1 : 1;
    return (int)b->milestone - (int)a->milestone;
}

/*
 * The upsert may touch a row once per statement, so a batch sends only
 * each shipment's newest event to the latest-state table, as any
 * application batching these upserts must.
 */
static bool baseline_build_state(struct baseline_worker *worker)
{
    qsort(worker->rows, worker->row_count, sizeof worker->rows[0], baseline_row_compare);
    struct baseline_array *state = worker->state;
    for (int column = 0; column < STATE_COLUMN_COUNT; column++)
        if (!baseline_array_begin(&state[column]))
            return false;
    for (uint32_t index = 0; index < worker->row_count; index++) {
        const struct baseline_state_row *row = &worker->rows[index];
        if (index > 0 && strcmp(row->carrier, worker->rows[index - 1].carrier) == 0 &&
            strcmp(row->tracking_number, worker->rows[index - 1].tracking_number) == 0)
            continue;
        char time_text[MP_TIME_TEXT_SIZE];
        size_t time_size = mp_time_format_utc(row->event_time_ms, time_text);
        const char *status = mp_milestone_name((enum mp_milestone)row->milestone);
        const char *reason = row->reason != MP_REASON_NONE ? mp_reason_name((enum mp_reason)row->reason) : "";
        bool ok = baseline_array_add(&state[STATE_CARRIER], row->carrier, strlen(row->carrier), false) &&
                  baseline_array_add(&state[STATE_TRACKING_NUMBER], row->tracking_number,
                                     strlen(row->tracking_number), false) &&
                  baseline_array_add(&state[STATE_STATUS], status, strlen(status), false) &&
                  baseline_array_add(&state[STATE_REASON], reason, strlen(reason), reason[0] == '\0') &&
                  baseline_array_add(&state[STATE_EVENT_TIME], time_text, time_size, false) &&
                  baseline_array_add(&state[STATE_CITY], row->city, strlen(row->city), row->city[0] == '\0') &&
                  baseline_array_add(&state[STATE_REGION], row->region, strlen(row->region), row->region[0] == '\0') &&
                  baseline_array_add(&state[STATE_COUNTRY], row->country, strlen(row->country),
                                     row->country[0] == '\0') &&
                  baseline_array_add(&state[STATE_POSTAL_CODE], row->postal_code, strlen(row->postal_code),
                                     row->postal_code[0] == '\0');
        if (!ok)
            return false;
    }
    for (int column = 0; column < STATE_COLUMN_COUNT; column++)
        if (!baseline_array_end(&state[column]))
            return false;
    return true;
}

/* Reads one statement's result in the pipeline: expects `want`, then the NULL that ends it. */
static int baseline_read_result(struct baseline_worker *worker, ExecStatusType want, const char *what)
{
    PGresult *result = PQgetResult(worker->connection);
    if (result == NULL)
        return baseline_fail(worker, MP_ESTORE, "%s: no result from PostgreSQL: %s", what,
                             PQerrorMessage(worker->connection));
    ExecStatusType status = PQresultStatus(result);
    int error = 0;
    if (status != want)
        error = baseline_fail(worker, MP_ESTORE, "%s failed: %s", what,
                              status == PGRES_PIPELINE_ABORTED ? "an earlier statement failed"
                                                               : PQresultErrorMessage(result));
    PQclear(result);
    if (status == PGRES_PIPELINE_SYNC)
        return error;
    result = PQgetResult(worker->connection);
    if (result != NULL) {
        PQclear(result);
        return baseline_fail(worker, MP_ESTORE, "%s: PostgreSQL sent more than one result", what);
    }
    return error;
}

/* One transaction: BEGIN, the history insert, the state upsert, COMMIT; one round trip. */
static int baseline_send_batch(struct baseline_worker *worker)
{
    if (worker->row_count == 0)
        return 0;
    for (int column = 0; column < HISTORY_COLUMN_COUNT; column++)
        if (!baseline_array_end(&worker->history[column]))
            return baseline_fail(worker, -ENOMEM, "out of memory building a batch");
    if (!baseline_build_state(worker))
        return baseline_fail(worker, -ENOMEM, "out of memory building a batch");
    const char *history_values[HISTORY_COLUMN_COUNT];
    for (int column = 0; column < HISTORY_COLUMN_COUNT; column++)
        history_values[column] = worker->history[column].text;
    const char *state_values[STATE_COLUMN_COUNT];
    for (int column = 0; column < STATE_COLUMN_COUNT; column++)
        state_values[column] = worker->state[column].text;

    int64_t started_us = baseline_now_us();
    PGconn *connection = worker->connection;
    if (!PQsendQueryParams(connection, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) ||
        !PQsendQueryPrepared(connection, "history", HISTORY_COLUMN_COUNT, history_values, NULL, NULL, 0) ||
        !PQsendQueryPrepared(connection, "state", STATE_COLUMN_COUNT, state_values, NULL, NULL, 0) ||
        !PQsendQueryParams(connection, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) || !PQpipelineSync(connection))
        return baseline_fail(worker, MP_ESTORE, "cannot send a batch: %s", PQerrorMessage(connection));
    int error = baseline_read_result(worker, PGRES_COMMAND_OK, "BEGIN");
    int next = baseline_read_result(worker, PGRES_COMMAND_OK, "the event-history insert");
    error = error != 0 ? error : next;
    next = baseline_read_result(worker, PGRES_COMMAND_OK, "the latest-state upsert");
    error = error != 0 ? error : next;
    next = baseline_read_result(worker, PGRES_COMMAND_OK, "COMMIT");
    error = error != 0 ? error : next;
    next = baseline_read_result(worker, PGRES_PIPELINE_SYNC, "the pipeline sync");
    error = error != 0 ? error : next;
    if (error != 0)
        return error;
    mp_histogram_record(&worker->commit_histogram, (uint64_t)(baseline_now_us() - started_us));
    worker->transactions++;
    return 0;
}

static bool baseline_begin_batch(struct baseline_worker *worker)
{
    worker->row_count = 0;
    for (int column = 0; column < HISTORY_COLUMN_COUNT; column++)
        if (!baseline_array_begin(&worker->history[column]))
            return false;
    return true;
}

/* Connects and prepares; untimed. */
static int baseline_worker_open(struct baseline_worker *worker)
{
    worker->connection = PQconnectdb(worker->options->conninfo);
    if (PQstatus(worker->connection) != CONNECTION_OK)
        return baseline_fail(worker, MP_ESTORE, "cannot connect to PostgreSQL: %s",
                             PQerrorMessage(worker->connection));
    PGresult *result = PQexec(worker->connection, "SET synchronous_commit = on");
    bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
    PQclear(result);
    if (!ok)
        return baseline_fail(worker, MP_ESTORE, "cannot set synchronous_commit: %s",
                             PQerrorMessage(worker->connection));
    const char *names[] = {"history", "state"};
    const char *statements[] = {baseline_history_sql, baseline_state_sql};
    for (int index = 0; index < 2; index++) {
        result = PQprepare(worker->connection, names[index], statements[index], 0, NULL);
        ok = PQresultStatus(result) == PGRES_COMMAND_OK;
        if (!ok)
            baseline_fail(worker, MP_ESTORE, "cannot prepare the %s statement: %s", names[index],
                          PQresultErrorMessage(result));
        PQclear(result);
        if (!ok)
            return worker->error;
    }
    if (!PQenterPipelineMode(worker->connection))
        return baseline_fail(worker, MP_ESTORE, "cannot enter pipeline mode: %s",
                             PQerrorMessage(worker->connection));
    size_t chunk_size_max = (size_t)worker->options->batch_events * MP_GEN_LINE_SIZE_MAX;
    int error = mp_json_parser_create(chunk_size_max, &worker->parser);
    if (error < 0)
        return baseline_fail(worker, error, "cannot create a parser: %s", mp_strerror(error));
    worker->rows = calloc(worker->options->batch_events, sizeof worker->rows[0]);
    if (worker->rows == NULL)
        return baseline_fail(worker, -ENOMEM, "out of memory for a batch of %" PRIu32 " rows",
                             worker->options->batch_events);
    return 0;
}

/* The timed part: parse a batch of lines, send it, until the lines run out. */
static int baseline_worker_feed(struct baseline_worker *worker)
{
    const struct mp_json_sink sink = {
        .on_event = baseline_on_event,
        .on_reject = baseline_on_reject,
        .context = worker,
    };
    size_t offset = 0;
    while (offset < worker->lines_size) {
        /* The next batch_events lines. */
        size_t end = offset;
        for (uint32_t line = 0; line < worker->options->batch_events && end < worker->lines_size; line++) {
            const char *newline = memchr(worker->lines + end, '\n', worker->lines_size - end);
            end = newline != NULL ? (size_t)(newline - worker->lines) + 1 : worker->lines_size;
        }
        if (!baseline_begin_batch(worker))
            return baseline_fail(worker, -ENOMEM, "out of memory building a batch");
        struct mp_json_summary summary;
        char message[MP_ERROR_MESSAGE_SIZE_MAX];
        message[0] = '\0';
        int result = mp_json_parse_events(worker->parser, worker->lines + offset, end - offset, end - offset,
                                          MP_JSON_NDJSON, worker->options->batch_events, 0, &sink, &summary,
                                          message, sizeof message);
        if (worker->out_of_memory)
            return baseline_fail(worker, -ENOMEM, "out of memory building a batch");
        if (result < 0)
            return baseline_fail(worker, result, "the parser refused a batch of generated lines: %s", message);
        result = baseline_send_batch(worker);
        if (result < 0)
            return result;
        offset = end;
    }
    return 0;
}

static void *baseline_worker_main(void *argument)
{
    struct baseline_worker *worker = argument;
    struct baseline_start *start = worker->start;
    int error = baseline_worker_open(worker);
    pthread_mutex_lock(&start->lock);
    start->ready_count++;
    pthread_cond_broadcast(&start->changed);
    while (!start->go && !start->abort)
        pthread_cond_wait(&start->changed, &start->lock);
    bool go = start->go;
    pthread_mutex_unlock(&start->lock);
    if (error == 0 && go)
        baseline_worker_feed(worker);
    return NULL;
}

static void baseline_worker_fini(struct baseline_worker *worker)
{
    if (worker->connection != NULL)
        PQfinish(worker->connection);
    mp_json_parser_destroy(worker->parser);
    for (int column = 0; column < HISTORY_COLUMN_COUNT; column++)
        free(worker->history[column].text);
    for (int column = 0; column < STATE_COLUMN_COUNT; column++)
        free(worker->state[column].text);
    free(worker->rows);
    free(worker->lines);
}

static bool baseline_worker_append(struct baseline_worker *worker, const char *line, size_t size)
{
    if (worker->lines_size + size > worker->lines_capacity) {
        size_t capacity = worker->lines_capacity > 0 ? worker->lines_capacity : (1u << 20);
        while (capacity < worker->lines_size + size)
            capacity *= 2;
        char *lines = realloc(worker->lines, capacity);
        if (lines == NULL)
            return false;
        worker->lines = lines;
        worker->lines_capacity = capacity;
    }
    memcpy(worker->lines + worker->lines_size, line, size);
    worker->lines_size += size;
    worker->line_count++;
    return true;
}

/* ------------------------------------------------------------------------ */
/* The run                                                                  */
/* ------------------------------------------------------------------------ */

__attribute__((format(printf, 3, 4))) static int baseline_message(char *message, size_t message_size,
                                                                  const char *format, ...)
{
    if (message != NULL && message_size > 0) {
        va_list arguments;
        va_start(arguments, format);
        vsnprintf(message, message_size, format, arguments);
        va_end(arguments);
        for (char *at = message; *at != '\0'; at++)
            if (*at == '\n')
                *at = *(at + 1) == '\0' ? '\0' : ' ';
    }
    return 0;
}

static int baseline_exec(PGconn *connection, const char *sql, char *message, size_t message_size)
{
    PGresult *result = PQexec(connection, sql);
    ExecStatusType status = PQresultStatus(result);
    int error = 0;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        baseline_message(message, message_size, "PostgreSQL refused the baseline's schema: %s",
                         PQresultErrorMessage(result));
        error = MP_ESTORE;
    }
    PQclear(result);
    return error;
}

static uint64_t baseline_count_rows(PGconn *connection, const char *table)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    PGresult *result = PQexec(connection, sql);
    uint64_t count = 0;
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1)
        count = strtoull(PQgetvalue(result, 0, 0), NULL, 10);
    PQclear(result);
    return count;
}

int mp_baseline_pg_run(const struct mp_baseline_pg_options *options, struct mp_gen *gen,
                       struct mp_results_baseline *out, char *message, size_t message_size)
{
    MP_ASSERT(options != NULL && gen != NULL && out != NULL);
    MP_ASSERT(options->conninfo != NULL);
    if (options->connections < 1 || options->connections > MP_BASELINE_PG_CONNECTIONS_MAX ||
        options->batch_events < 1 || options->batch_events > MP_BASELINE_PG_BATCH_MAX) {
        baseline_message(message, message_size, "connections must be 1..%u and the batch 1..%u events",
                         MP_BASELINE_PG_CONNECTIONS_MAX, MP_BASELINE_PG_BATCH_MAX);
        return MP_EINVAL;
    }

    /* The schema, fresh: earlier runs must not make this one's upserts cheaper or dearer. */
    PGconn *control = PQconnectdb(options->conninfo);
    if (PQstatus(control) != CONNECTION_OK) {
        baseline_message(message, message_size, "cannot connect to PostgreSQL (%s): %s", options->conninfo,
                         PQerrorMessage(control));
        PQfinish(control);
        return MP_ESTORE;
    }
    int error = baseline_exec(control, baseline_schema, message, message_size);
    if (error != 0) {
        PQfinish(control);
        return error;
    }

    struct baseline_worker *workers = calloc(options->connections, sizeof *workers);
    if (workers == NULL) {
        PQfinish(control);
        return -ENOMEM;
    }
    /* Deal the lines to the workers by shipment (untimed: milepost's drivers pre-plan too). */
    mp_gen_rewind(gen);
    char line[MP_GEN_LINE_SIZE_MAX];
    size_t size = 0;
    struct mp_gen_ref ref;
    uint64_t dealt = 0;
    while (options->event_count == 0 || dealt < options->event_count) {
        int result = mp_gen_next_ref(gen, line, sizeof line, &size, &ref);
        MP_ASSERT(result >= 0);
        if (result == 0)
            break;
        if (!baseline_worker_append(&workers[ref.shipment_index % options->connections], line, size)) {
            error = -ENOMEM;
            baseline_message(message, message_size, "out of memory holding the events");
            break;
        }
        dealt++;
    }
    mp_gen_rewind(gen);

    struct baseline_start start = {
        .lock = PTHREAD_MUTEX_INITIALIZER,
        .changed = PTHREAD_COND_INITIALIZER,
    };
    uint32_t started = 0;
    for (; error == 0 && started < options->connections; started++) {
        struct baseline_worker *worker = &workers[started];
        worker->index = started;
        worker->options = options;
        worker->start = &start;
        int result = pthread_create(&worker->thread, NULL, baseline_worker_main, worker);
        if (result != 0) {
            error = -result;
            baseline_message(message, message_size, "cannot start a worker thread: %s", strerror(result));
            break;
        }
    }
    int64_t started_us = 0;
    pthread_mutex_lock(&start.lock);
    while (error == 0 && start.ready_count < started)
        pthread_cond_wait(&start.changed, &start.lock);
    if (error == 0) {
        start.go = true;
        started_us = baseline_now_us();
    } else {
        start.abort = true;
    }
    pthread_cond_broadcast(&start.changed);
    pthread_mutex_unlock(&start.lock);
    if (error == 0 && options->progress)
        fprintf(stderr, "milepost-bench: baseline: %" PRIu64 " events over %" PRIu32 " connections...\n", dealt,
                options->connections);
    for (uint32_t index = 0; index < started; index++)
        pthread_join(workers[index].thread, NULL);
    int64_t finished_us = baseline_now_us();

    struct mp_results_baseline result = {0};
    result.ran = true;
    result.connections = options->connections;
    result.batch_events = options->batch_events;
    for (uint32_t index = 0; index < started; index++) {
        struct baseline_worker *worker = &workers[index];
        if (worker->error != 0 && error == 0) {
            error = worker->error;
            baseline_message(message, message_size, "%s", worker->message);
        }
        result.events_sent += worker->events_sent;
        result.events_rejected += worker->events_rejected;
        result.transactions += worker->transactions;
        mp_histogram_merge(&result.commit_histogram, &worker->commit_histogram);
    }
    for (uint32_t index = 0; index < options->connections; index++)
        baseline_worker_fini(&workers[index]);
    free(workers);

    if (error == 0) {
        result.elapsed_s = (double)(finished_us - started_us) / 1e6;
        result.events_per_s = result.elapsed_s > 0 ? (double)result.events_sent / result.elapsed_s : 0;
        mp_results_latency_from(&result.commit, &result.commit_histogram);
        result.history_rows = baseline_count_rows(control, "shipment_event");
        result.state_rows = baseline_count_rows(control, "shipment_state");
        const char *version = PQparameterStatus(control, "server_version");
        char version_number[32] = "";
        if (version != NULL)
            sscanf(version, "%31[0-9.]", version_number);
        snprintf(result.system, sizeof result.system, "postgresql %s", version_number);
        snprintf(result.server, sizeof result.server, "%s:%s", PQhost(control), PQport(control));
        *out = result;
    }
    PQfinish(control);
    return error;
}

void mp_baseline_pg_compare(struct mp_results *results)
{
    MP_ASSERT(results != NULL);
    struct mp_results_baseline *baseline = &results->baseline;
    baseline->milepost_ratio = baseline->ran && baseline->events_per_s > 0 && results->events_per_s > 0
                                   ? results->events_per_s / baseline->events_per_s
                                   : 0;
}

/* ------------------------------------------------------------------------ */
/* A throwaway server through scripts/baseline-postgres                     */
/* ------------------------------------------------------------------------ */

static const char *baseline_script(void)
{
    const char *script = getenv("MP_BASELINE_PG_SCRIPT");
    return script != NULL && script[0] != '\0' ? script : MP_BASELINE_PG_SCRIPT;
}

int mp_baseline_pg_server_start(struct mp_baseline_pg_server *server, char *message, size_t message_size)
{
    MP_ASSERT(server != NULL);
    memset(server, 0, sizeof *server);
    const char *temporary = getenv("TMPDIR");
    snprintf(server->directory, sizeof server->directory, "%s/milepost-bench-pg.XXXXXX",
             temporary != NULL && temporary[0] != '\0' ? temporary : "/tmp");
    if (mkdtemp(server->directory) == NULL) {
        int error = errno;
        baseline_message(message, message_size, "cannot create a directory for PostgreSQL: %s", strerror(error));
        return -error;
    }
    if (access(baseline_script(), X_OK) != 0) {
        int error = errno;
        baseline_message(message, message_size, "cannot run %s: %s; set MP_BASELINE_PG_SCRIPT or pass --conninfo",
                         baseline_script(), strerror(error));
        rmdir(server->directory);
        return -error;
    }
    /* The directory name is ours (mkdtemp over a fixed pattern), the script path is quoted. */
    char command[1024];
    snprintf(command, sizeof command, "'%s' start '%s'", baseline_script(), server->directory);
    FILE *pipe = popen(command, "r");
    if (pipe == NULL) {
        int error = errno;
        baseline_message(message, message_size, "cannot run %s: %s", baseline_script(), strerror(error));
        return -error;
    }
    char line[MP_BASELINE_PG_CONNINFO_SIZE_MAX] = "";
    bool have_line = fgets(line, sizeof line, pipe) != NULL;
    int status = pclose(pipe);
    server->running = true; /* stop is harmless when start failed half way */
    if (status != 0 || !have_line || strncmp(line, "host=", 5) != 0) {
        baseline_message(message, message_size,
                         "PostgreSQL did not start (scripts/baseline-postgres said so on stderr); "
                         "install postgresql-15 or pass --conninfo");
        mp_baseline_pg_server_stop(server);
        return MP_ESTORE;
    }
    line[strcspn(line, "\n")] = '\0';
    snprintf(server->conninfo, sizeof server->conninfo, "%s", line);
    return 0;
}

void mp_baseline_pg_server_stop(struct mp_baseline_pg_server *server)
{
    if (server == NULL || !server->running)
        return;
    char command[1024];
    snprintf(command, sizeof command, "'%s' stop '%s' >/dev/null && rm -rf -- '%s'", baseline_script(),
             server->directory, server->directory);
    int status = system(command);
    (void)status; /* the script has said on stderr what went wrong */
    server->running = false;
}

int mp_baseline_pg_beside(const char *conninfo, struct mp_gen *gen, bool progress,
                          struct mp_results *results, char *message, size_t message_size)
{
    MP_ASSERT(gen != NULL && results != NULL);
    struct mp_baseline_pg_server server = {0};
    if (conninfo == NULL) {
        const char *environment = getenv("MP_PG_CONNINFO");
        if (environment != NULL && environment[0] != '\0') {
            conninfo = environment;
        } else {
            int error = mp_baseline_pg_server_start(&server, message, message_size);
            if (error < 0)
                return error;
            conninfo = server.conninfo;
        }
    }
    /* The same events: the prefix the milepost run sent (all of them when it sent none). */
    const struct mp_baseline_pg_options options = {
        .conninfo = conninfo,
        .connections = MP_BASELINE_PG_CONNECTIONS_DEFAULT,
        .batch_events = MP_BASELINE_PG_BATCH_DEFAULT,
        .event_count = results->events_sent,
        .progress = progress,
    };
    int error = mp_baseline_pg_run(&options, gen, &results->baseline, message, message_size);
    mp_baseline_pg_server_stop(&server);
    if (error < 0)
        return error;
    mp_baseline_pg_compare(results);
    fprintf(stderr,
            "baseline: %s, %" PRIu32 " connections, %" PRIu32 " events per transaction: %" PRIu64
            " events in %.2f s = %.0f events/s (transaction p99 %.1f ms); milepost %.0f events/s = %.2fx\n",
            results->baseline.system, results->baseline.connections, results->baseline.batch_events,
            results->baseline.events_sent, results->baseline.elapsed_s, results->baseline.events_per_s,
            (double)results->baseline.commit.p99_us / 1000.0, results->events_per_s,
            results->baseline.milepost_ratio);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* milepost-bench baseline-postgres                                         */
/* ------------------------------------------------------------------------ */

static const char baseline_usage[] =
    "usage: milepost-bench baseline-postgres [OPTIONS]\n"
    "\n"
    "Feeds a generated workload into PostgreSQL the way teams do without milepost: each\n"
    "event parsed, then batched transactions of INSERT ... ON CONFLICT DO NOTHING into an\n"
    "event-history table and INSERT ... ON CONFLICT (carrier, tracking_number) DO UPDATE\n"
    "... WHERE excluded.event_time > t.event_time into a latest-state table, with\n"
    "synchronous_commit on.  The tables are dropped and created first.\n"
    "\n"
    "  --profile NAME     smoke, peak or storm (default smoke)\n"
    "  --seed N           the generator's seed (default: the profile's)\n"
    "  --events N         only the first N lines of the workload (default all)\n"
    "  --connections N    connections, each owning a share of the shipments (default 4)\n"
    "  --batch N          events per transaction (default 1000)\n"
    "  --conninfo S       a libpq connection string; default $MP_PG_CONNINFO, else a\n"
    "                     throwaway server started with scripts/baseline-postgres\n"
    "  --events-out FILE  also write the lines it sends to FILE (NDJSON), for checks\n"
    "\n"
    "Prints one JSON line: events_per_s, events, transactions, history_rows, state_rows,\n"
    "shipments_expected and transaction latency percentiles (us).  Exit status 0, 1 when\n"
    "PostgreSQL failed or the latest-state table does not hold every shipment sent, 2 bad usage.\n";

__attribute__((format(printf, 1, 2))) static int baseline_usage_error(const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    fputs("milepost-bench: ", stderr);
    vfprintf(stderr, format, arguments);
    va_end(arguments);
    fputs("; see milepost-bench baseline-postgres --help\n", stderr);
    return 2;
}

/* Shipments with at least one line among the first `event_count` (all when 0). */
static uint64_t baseline_shipments_sent(struct mp_gen *gen, uint64_t event_count, uint32_t shipment_count)
{
    uint8_t *seen = calloc(shipment_count, 1);
    if (seen == NULL)
        return 0;
    mp_gen_rewind(gen);
    char line[MP_GEN_LINE_SIZE_MAX];
    size_t size = 0;
    struct mp_gen_ref ref;
    uint64_t count = 0;
    for (uint64_t dealt = 0; event_count == 0 || dealt < event_count; dealt++) {
        if (mp_gen_next_ref(gen, line, sizeof line, &size, &ref) <= 0)
            break;
        if (!seen[ref.shipment_index]) {
            seen[ref.shipment_index] = 1;
            count++;
        }
    }
    mp_gen_rewind(gen);
    free(seen);
    return count;
}

/* The first event_count lines (all when 0) to a file; untimed, for tests. */
static int baseline_write_events(struct mp_gen *gen, uint64_t event_count, const char *path)
{
    FILE *out = fopen(path, "w");
    if (out == NULL) {
        fprintf(stderr, "milepost-bench: cannot write %s: %s; check the path\n", path, strerror(errno));
        return -1;
    }
    mp_gen_rewind(gen);
    char line[MP_GEN_LINE_SIZE_MAX];
    size_t size = 0;
    for (uint64_t written = 0; event_count == 0 || written < event_count; written++) {
        if (mp_gen_next(gen, line, sizeof line, &size) <= 0)
            break;
        fwrite(line, 1, size, out);
    }
    mp_gen_rewind(gen);
    bool failed = ferror(out) != 0;
    if (fclose(out) != 0)
        failed = true;
    if (failed) {
        fprintf(stderr, "milepost-bench: cannot write %s; check free space\n", path);
        return -1;
    }
    return 0;
}

enum {
    BASELINE_OPTION_PROFILE = 256,
    BASELINE_OPTION_SEED,
    BASELINE_OPTION_EVENTS,
    BASELINE_OPTION_CONNECTIONS,
    BASELINE_OPTION_BATCH,
    BASELINE_OPTION_CONNINFO,
    BASELINE_OPTION_EVENTS_OUT,
    BASELINE_OPTION_HELP,
};

int mp_baseline_pg_main(int argc, char **argv)
{
    static const struct option options[] = {
        {"profile", required_argument, NULL, BASELINE_OPTION_PROFILE},
        {"seed", required_argument, NULL, BASELINE_OPTION_SEED},
        {"events", required_argument, NULL, BASELINE_OPTION_EVENTS},
        {"connections", required_argument, NULL, BASELINE_OPTION_CONNECTIONS},
        {"batch", required_argument, NULL, BASELINE_OPTION_BATCH},
        {"conninfo", required_argument, NULL, BASELINE_OPTION_CONNINFO},
        {"events-out", required_argument, NULL, BASELINE_OPTION_EVENTS_OUT},
        {"help", no_argument, NULL, BASELINE_OPTION_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *profile_name = "smoke";
    const char *events_out = NULL;
    bool have_seed = false;
    uint64_t seed = 0;
    struct mp_baseline_pg_options run = {
        .connections = MP_BASELINE_PG_CONNECTIONS_DEFAULT,
        .batch_events = MP_BASELINE_PG_BATCH_DEFAULT,
        .progress = isatty(STDERR_FILENO),
    };
    opterr = 0;
    optind = 1;
    for (;;) {
        int option = getopt_long(argc, argv, "", options, NULL);
        if (option == -1)
            break;
        uint64_t number = 0;
        switch (option) {
        case BASELINE_OPTION_PROFILE:
            profile_name = optarg;
            break;
        case BASELINE_OPTION_SEED:
            if (!mp_bench_util_parse_u64(optarg, 0, UINT64_MAX, &seed))
                return baseline_usage_error("--seed '%s' is not a whole number", optarg);
            have_seed = true;
            break;
        case BASELINE_OPTION_EVENTS:
            if (!mp_bench_util_parse_u64(optarg, 1, MP_GEN_EVENT_COUNT_MAX, &run.event_count))
                return baseline_usage_error("--events '%s' must be a whole number from 1", optarg);
            break;
        case BASELINE_OPTION_CONNECTIONS:
            if (!mp_bench_util_parse_u64(optarg, 1, MP_BASELINE_PG_CONNECTIONS_MAX, &number))
                return baseline_usage_error("--connections '%s' must be from 1 to 64", optarg);
            run.connections = (uint32_t)number;
            break;
        case BASELINE_OPTION_BATCH:
            if (!mp_bench_util_parse_u64(optarg, 1, MP_BASELINE_PG_BATCH_MAX, &number))
                return baseline_usage_error("--batch '%s' must be from 1 to 10000 events", optarg);
            run.batch_events = (uint32_t)number;
            break;
        case BASELINE_OPTION_CONNINFO:
            run.conninfo = optarg;
            break;
        case BASELINE_OPTION_EVENTS_OUT:
            events_out = optarg;
            break;
        case BASELINE_OPTION_HELP:
            fputs(baseline_usage, stdout);
            return 0;
        default:
            return baseline_usage_error("'%s' is not an option of baseline-postgres, or needs a value",
                                        argv[optind - 1]);
        }
    }
    if (optind < argc)
        return baseline_usage_error("unexpected argument '%s'", argv[optind]);
    struct mp_gen_profile profile;
    if (mp_gen_profile_get(profile_name, &profile) < 0)
        return baseline_usage_error("unknown --profile '%s'; use " MP_GEN_PROFILE_NAMES, profile_name);
    if (have_seed)
        profile.config.seed = seed;

    struct mp_gen *gen = NULL;
    int error = mp_gen_create(&profile.config, &gen);
    if (error < 0) {
        fprintf(stderr, "milepost-bench: cannot plan the workload: %s\n", mp_strerror(error));
        return 1;
    }
    if (events_out != NULL && baseline_write_events(gen, run.event_count, events_out) < 0) {
        mp_gen_destroy(gen);
        return 1;
    }
    struct mp_baseline_pg_server server = {0};
    char message[512] = "";
    if (run.conninfo == NULL) {
        const char *environment = getenv("MP_PG_CONNINFO");
        if (environment != NULL && environment[0] != '\0') {
            run.conninfo = environment;
        } else {
            error = mp_baseline_pg_server_start(&server, message, sizeof message);
            if (error < 0) {
                fprintf(stderr, "milepost-bench: %s\n", message);
                mp_gen_destroy(gen);
                return 1;
            }
            run.conninfo = server.conninfo;
        }
    }
    struct mp_results_baseline result;
    error = mp_baseline_pg_run(&run, gen, &result, message, sizeof message);
    uint64_t shipments = baseline_shipments_sent(gen, run.event_count, profile.config.shipment_count);
    mp_baseline_pg_server_stop(&server);
    mp_gen_destroy(gen);
    if (error < 0) {
        fprintf(stderr, "milepost-bench: baseline failed: %s\n", message);
        return 1;
    }
    printf("{\"system\":\"%s\",\"profile\":\"%s\",\"seed\":%" PRIu64 ",\"connections\":%" PRIu32
           ",\"batch_events\":%" PRIu32 ",\"events\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"seconds\":%.3f"
           ",\"events_per_s\":%.0f,\"transactions\":%" PRIu64 ",\"history_rows\":%" PRIu64
           ",\"state_rows\":%" PRIu64 ",\"shipments_expected\":%" PRIu64
           ",\"transaction_latency_us\":{\"p50\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"max\":%" PRIu64 "}}\n",
           result.system, profile.name, profile.config.seed, result.connections, result.batch_events,
           result.events_sent, result.events_rejected, result.elapsed_s, result.events_per_s, result.transactions,
           result.history_rows, result.state_rows, shipments, result.commit.p50_us, result.commit.p99_us,
           result.commit.max_us);
    if (result.state_rows != shipments) {
        fprintf(stderr,
                "milepost-bench: the latest-state table holds %" PRIu64 " shipments, but %" PRIu64
                " were sent; the baseline lost or split shipments\n",
                result.state_rows, shipments);
        return 1;
    }
    return 0;
}
