/*
 * Offline ingest: files in, shard pipeline, commit thread.
 */
#include "mp_ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mp_adapter.h"
#include "mp_assert.h"
#include "mp_commit.h"
#include "mp_cpu.h"
#include "mp_erp.h"
#include "mp_json.h"
#include "mp_jsonw.h"
#include "mp_limits.h"
#include "mp_record.h"
#include "mp_ring.h"
#include "mp_shard.h"
#include "mp_store.h"
#include "mp_time.h"

/* NDJSON inputs are cut into chunks of about this size at line ends. */
#define CHUNK_SIZE (1u << 20)
/* Inputs at most this big are parsed whole (one object, array or NDJSON). */
#define WHOLE_INPUT_SIZE_MAX (4u << 20)
#define RING_SLOTS 1024
/* Events taken from one incoming ring before looking at the others. */
#define DRAIN_BATCH_MAX 256
/*
 * Events a core routes between looks at its incoming rings: often enough
 * that the others rarely find a ring full, rarely enough to stay cheap.
 */
#define ROUTED_PER_DRAIN 64
#define DEFAULT_CACHE_RECORDS (1u << 20)
#define DEFAULT_FLUSH_RECORDS (512u << 10)

_Static_assert(RING_SLOTS <= MP_RING_SLOTS_MAX, "rings are bounded");
_Static_assert(CHUNK_SIZE <= WHOLE_INPUT_SIZE_MAX, "a chunk fits a parser");

/* One piece of input that one thread parses. */
struct input_unit {
    const char *data;
    size_t size;
    size_t capacity;            /* readable bytes from data (padding) */
    uint32_t first_index;       /* index of the unit's first record in its input */
    enum mp_json_shape shape;
    enum mp_source source;      /* options->source, or its buffer's (mp_ingest_run_buffers) */
};

/* An input held in memory: mapped file, or standard input read whole. */
struct input {
    char *data;
    size_t size;
    size_t mapped_size;         /* 0 when malloc'd */
};

struct ingest;

struct core {
    struct ingest *ingest;
    uint32_t index;
    pthread_t thread;
    bool started;
    struct mp_shard *shard;
    struct mp_json_parser *parser;
    uint64_t generation_in_flight;
    uint32_t routed_since_drain;
    _Atomic uint64_t read;
    uint64_t facts;                 /* payload-facts events parsed here */
    uint64_t unmapped_codes;
    int error;
    char message[512];
};

struct ingest {
    const struct mp_ingest_options *options;
    /* mp_ingest_run_buffers: the inputs, and the caller's open store (not ours to close). */
    const struct mp_ingest_buffer *buffers;
    size_t buffer_count;
    bool store_borrowed;
    uint32_t core_count;
    struct core *cores;
    struct mp_ring **rings;             /* rings[from * core_count + to] */
    struct mp_store *store;
    struct mp_commit *commit;
    struct input *inputs;
    size_t input_count;
    struct input_unit *units;
    size_t unit_count;
    size_t parser_size_max;
    _Atomic size_t next_unit;
    _Atomic uint32_t producers_done;
    _Atomic bool failed;
};

void mp_ingest_options_default(struct mp_ingest_options *options)
{
    memset(options, 0, sizeof *options);
    options->data_dir = "./milepost-data";
    options->source = MP_SOURCE_CANONICAL;
    options->sync = true;
    options->disk_reserve_bytes = MP_STORE_DISK_RESERVE_DEFAULT;
}

/* ------------------------------------------------------------------------
 * Inputs
 * ---------------------------------------------------------------------- */

static int read_stdin(struct input *input)
{
    size_t capacity = 1u << 20, size = 0;
    char *data = malloc(capacity);
    if (!data)
        return -ENOMEM;
    for (;;) {
        if (capacity - size < MP_JSON_PADDING + 1) {
            char *grown = realloc(data, capacity * 2);
            if (!grown) {
                free(data);
                return -ENOMEM;
            }
            data = grown;
            capacity *= 2;
        }
        ssize_t count = read(STDIN_FILENO, data + size, capacity - size - MP_JSON_PADDING);
        if (count < 0) {
            if (errno == EINTR)
                continue;
            int error = -errno;
            free(data);
            return error;
        }
        if (count == 0)
            break;
        size += (size_t)count;
    }
    input->data = data;
    input->size = size;
    input->mapped_size = 0;
    return 0;
}

static int map_file(const char *path, struct input *input)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat status;
    if (fstat(fd, &status) != 0) {
        int error = -errno;
        close(fd);
        return error;
    }
    if (!S_ISREG(status.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    input->size = (size_t)status.st_size;
    input->mapped_size = 0;
    input->data = NULL;
    if (input->size > 0) {
        void *data = mmap(NULL, input->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (data == MAP_FAILED) {
            int error = -errno;
            close(fd);
            return error;
        }
        madvise(data, input->size, MADV_SEQUENTIAL);
        input->data = data;
        input->mapped_size = input->size;
    }
    close(fd);
    return 0;
}

static void free_input(struct input *input)
{
    if (input->mapped_size)
        munmap(input->data, input->mapped_size);
    else
        free(input->data);
}

/*
 * Bytes readable from `at`: a mapping's last page reads as zeros past the
 * end of the file, which serves as simdjson's padding when it is there.
 */
static size_t readable_from(const struct input *input, const char *at)
{
    size_t remaining = input->size - (size_t)(at - input->data);
    if (input->mapped_size == 0)
        return remaining + MP_JSON_PADDING;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t mapped_end = (input->size + page - 1) / page * page;
    return mapped_end - (size_t)(at - input->data);
}

static int add_unit(struct ingest *ingest, size_t *capacity, struct input_unit unit)
{
    if (ingest->unit_count == *capacity) {
        size_t grown_capacity = *capacity ? *capacity * 2 : 64;
        struct input_unit *units = realloc(ingest->units, grown_capacity * sizeof *units);
        if (!units)
            return -ENOMEM;
        ingest->units = units;
        *capacity = grown_capacity;
    }
    ingest->units[ingest->unit_count++] = unit;
    if (unit.size > ingest->parser_size_max)
        ingest->parser_size_max = unit.size;
    return 0;
}

/*
 * Cuts one input of `source` into units: whole when small or an array,
 * else NDJSON chunks.  Records are indexed from first_index.
 */
static int split_input(struct ingest *ingest, const struct input *input, enum mp_source source,
                       uint32_t first_index, size_t *capacity, char *message,
                       size_t message_size, const char *path)
{
    const char *data = input->data;
    size_t size = input->size;
    if (source != MP_SOURCE_CANONICAL) {
        /* A webhook source: the file is one payload, parsed whole; an
         * empty one is a payload too (refused as not the source's shape). */
        if (size > MP_BODY_SIZE_MAX) {
            snprintf(message, message_size, "%s: a %s payload over %u MiB, the body bound",
                     path, mp_source_name(source), MP_BODY_SIZE_MAX >> 20);
            return MP_ETOOBIG;
        }
        return add_unit(ingest, capacity,
                        (struct input_unit){size ? data : "", size,
                                            size ? readable_from(input, data) : 0, first_index,
                                            MP_JSON_AUTO, source});
    }
    if (size == 0)
        return 0; /* an empty file holds no records */
    size_t first = 0;
    while (first < size && (data[first] == ' ' || data[first] == '\t' || data[first] == '\n' ||
                            data[first] == '\r'))
        first++;
    bool is_array = first < size && data[first] == '[';
    if (size <= WHOLE_INPUT_SIZE_MAX || is_array) {
        if (size > MP_BODY_SIZE_MAX) {
            snprintf(message, message_size,
                     "%s: a JSON array over %u MiB; write it as NDJSON (one event per line)",
                     path, MP_BODY_SIZE_MAX >> 20);
            return MP_ETOOBIG;
        }
        return add_unit(ingest, capacity,
                        (struct input_unit){data, size, readable_from(input, data), first_index,
                                            MP_JSON_AUTO, source});
    }
    uint32_t line = first_index;
    size_t start = 0;
    while (start < size) {
        size_t end = start + CHUNK_SIZE < size ? start + CHUNK_SIZE : size;
        if (end < size) {
            const char *newline = memchr(data + end, '\n', size - end);
            end = newline ? (size_t)(newline - data) + 1 : size;
        }
        if (end - start > MP_LINE_SIZE_MAX + CHUNK_SIZE) {
            snprintf(message, message_size, "%s: a line near line %u is over %u bytes", path,
                     line - first_index + 1, MP_LINE_SIZE_MAX);
            return MP_ETOOBIG;
        }
        /* The chunk stops before its last newline, which then serves as
         * the whitespace the shim needs after a buffer it parses in place. */
        size_t unit_size = end - start;
        if (end < size && data[end - 1] == '\n')
            unit_size--;
        int error = add_unit(ingest, capacity,
                             (struct input_unit){data + start, unit_size,
                                                 readable_from(input, data + start), line,
                                                 MP_JSON_NDJSON, source});
        if (error)
            return error;
        for (const char *at = data + start; (at = memchr(at, '\n', (size_t)(data + end - at)));
             at++)
            line++;
        start = end;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Core threads
 * ---------------------------------------------------------------------- */

static uint32_t owner_of(const struct ingest *ingest, uint64_t shipment_hash)
{
    return mp_shard_owner(shipment_hash, ingest->core_count);
}

static void fail(struct core *core, int error, const char *text)
{
    if (!core->error) {
        core->error = error;
        if (error == -ENOSPC)
            snprintf(core->message, sizeof core->message,
                     "the disk under %s is nearly full (less free than the %llu MiB reserve); "
                     "free space or lower --disk-reserve-mb, then ingest again (what was "
                     "committed stays, repeats count as duplicates)",
                     core->ingest->options->data_dir,
                     (unsigned long long)(core->ingest->options->disk_reserve_bytes >> 20));
        else
            snprintf(core->message, sizeof core->message, "%s: %s", text, mp_strerror(error));
    }
    atomic_store(&core->ingest->failed, true);
}

/* Waits for the batch in flight, if any, and lets the shard reuse it. */
static int settle_in_flight(struct core *core)
{
    if (!core->generation_in_flight)
        return 0;
    int error = mp_commit_wait(core->ingest->commit, core->index, core->generation_in_flight);
    if (error)
        return error;
    mp_shard_committed(core->shard, core->generation_in_flight);
    core->generation_in_flight = 0;
    return 0;
}

/* Hands the shard's changes to the commit thread, after the previous ones. */
static int flush_shard(struct core *core, bool with_duplicates)
{
    int error = settle_in_flight(core);
    if (error || !mp_shard_has_changes(core->shard, with_duplicates))
        return error;
    struct mp_store_batch *batch;
    uint64_t generation;
    error = mp_shard_flush(core->shard, with_duplicates, &batch, &generation);
    if (error)
        return error;
    mp_commit_submit(core->ingest->commit, core->index, batch, generation);
    core->generation_in_flight = generation;
    return 0;
}

static int apply_owned(struct core *core, const struct mp_event *event)
{
    for (;;) {
        enum mp_record_result result;
        int error = mp_shard_apply(core->shard, event, &result);
        if (error == MP_EFULL) {
            /* Every cached record waits for a commit: flush, wait, retry. */
            error = flush_shard(core, true);
            if (!error)
                error = settle_in_flight(core);
            if (error)
                return error;
            continue;
        }
        if (error)
            return error;
        break;
    }
    if (mp_shard_flush_due(core->shard) || mp_shard_duplicates_due(core->shard))
        return flush_shard(core, mp_shard_duplicates_due(core->shard));
    return 0;
}

/* Applies what other cores routed here; returns how many events. */
static int drain_incoming(struct core *core, uint32_t *drained)
{
    struct ingest *ingest = core->ingest;
    *drained = 0;
    for (uint32_t from = 0; from < ingest->core_count; from++) {
        if (from == core->index)
            continue;
        struct mp_ring *ring = ingest->rings[from * ingest->core_count + core->index];
        for (uint32_t taken = 0; taken < DRAIN_BATCH_MAX; taken++) {
            struct mp_event *event = mp_ring_peek(ring);
            if (!event)
                break;
            MP_ASSERT(owner_of(ingest, event->shipment_hash) == core->index);
            int error = apply_owned(core, event);
            mp_ring_release(ring);
            if (error)
                return error;
            (*drained)++;
        }
    }
    return 0;
}

static int route_event(struct core *core, const struct mp_event *event)
{
    struct ingest *ingest = core->ingest;
    uint32_t owner = owner_of(ingest, event->shipment_hash);
    if (owner == core->index)
        return apply_owned(core, event);
    struct mp_ring *ring = ingest->rings[core->index * ingest->core_count + owner];
    for (;;) {
        struct mp_event *slot = mp_ring_reserve(ring);
        if (slot) {
            mp_event_copy(slot, event);
            mp_ring_publish(ring);
            return 0;
        }
        /* Full: the owner is busy; do our own share meanwhile. */
        uint32_t drained;
        int error = drain_incoming(core, &drained);
        if (error)
            return error;
        if (drained == 0) {
            if (atomic_load(&ingest->failed))
                return MP_EFULL;
            sched_yield();
        }
    }
}

static int on_event(void *context, uint32_t index, struct mp_event *event, const char *raw,
                    size_t raw_size)
{
    (void)index;
    (void)raw;
    (void)raw_size;
    struct core *core = context;
    /* A facts event is not a record of the input: `read` stays events
     * plus rejects, so it still adds up to accepted + duplicates + rejected. */
    if (event->flags & MP_EVENT_FLAG_FACTS)
        core->facts++;
    else
        atomic_fetch_add_explicit(&core->read, 1, memory_order_relaxed);
    int error = route_event(core, event);
    if (!error && ++core->routed_since_drain == ROUTED_PER_DRAIN) {
        uint32_t drained;
        core->routed_since_drain = 0;
        error = drain_incoming(core, &drained);
    }
    if (error) {
        fail(core, error, "applying an event");
        return error;
    }
    return 0;
}

struct reject_context {
    struct core *core;
    enum mp_source source;
    uint32_t first_index;
    int64_t received_time_ms;
};

static int on_reject(void *context, uint32_t index, enum mp_reject_code code, const char *message,
                     const char *raw, size_t raw_size)
{
    struct reject_context *reject = context;
    struct core *core = reject->core;
    atomic_fetch_add_explicit(&core->read, 1, memory_order_relaxed);
    return mp_shard_add_reject(core->shard, reject->source, reject->received_time_ms,
                               reject->first_index + index, code, message, raw, raw_size);
}

static int event_with_offset(void *context, uint32_t index, struct mp_event *event,
                             const char *raw, size_t raw_size)
{
    struct reject_context *reject = context;
    return on_event(reject->core, reject->first_index + index, event, raw, raw_size);
}

static void on_unmapped(void *context, enum mp_source source, const char *code,
                        size_t code_size)
{
    (void)source;
    (void)code;
    (void)code_size;
    struct reject_context *reject = context;
    reject->core->unmapped_codes++;
}

static int parse_unit(struct core *core, const struct input_unit *unit,
                      struct reject_context *context, struct mp_json_summary *parsed,
                      char *message, size_t message_size)
{
    enum mp_source source = unit->source;
    struct mp_json_sink sink = {event_with_offset, on_reject, context};
    if (source == MP_SOURCE_CANONICAL)
        return mp_json_parse_events(core->parser, unit->data, unit->size, unit->capacity,
                                    unit->shape, UINT32_MAX, context->received_time_ms, &sink,
                                    parsed, message, message_size);
    struct mp_adapter_sink adapter_sink = {sink, on_unmapped};
    return mp_adapter_parse(core->parser, source, unit->data, unit->size, unit->capacity,
                            UINT32_MAX, context->received_time_ms, &adapter_sink, parsed,
                            message, message_size);
}


static void parse_units(struct core *core)
{
    struct ingest *ingest = core->ingest;
    const struct mp_ingest_options *options = ingest->options;
    for (;;) {
        size_t unit_index = atomic_fetch_add(&ingest->next_unit, 1);
        if (unit_index >= ingest->unit_count || atomic_load(&ingest->failed))
            return;
        const struct input_unit *unit = &ingest->units[unit_index];
        struct reject_context context = {
            .core = core,
            .source = unit->source,
            .first_index = unit->first_index,
            .received_time_ms = options->fixed_received_time_ms ? options->fixed_received_time_ms
                                                                : mp_time_now_ms(),
        };
        struct mp_json_summary parsed;
        char message[MP_ERROR_MESSAGE_SIZE_MAX] = "";
        int error = parse_unit(core, unit, &context, &parsed, message, sizeof message);
        if (error == MP_EPARSE || error == MP_ETOOBIG) {
            /* The whole input is unusable: one reject stands for it. */
            atomic_fetch_add_explicit(&core->read, 1, memory_order_relaxed);
            mp_shard_add_reject(core->shard, unit->source, context.received_time_ms,
                                unit->first_index,
                                error == MP_EPARSE ? MP_REJECT_BAD_JSON : MP_REJECT_TOO_BIG,
                                message, unit->data, unit->size);
        } else if (error) {
            fail(core, error, "parsing input");
            return;
        }
    }
}

static void *core_main(void *argument)
{
    struct core *core = argument;
    struct ingest *ingest = core->ingest;
    mp_cpu_pin_self(core->index);
    parse_units(core);
    atomic_fetch_add_explicit(&ingest->producers_done, 1, memory_order_release);

    /* Take what the others route here until every producer is done and
     * its rings are empty. */
    while (!atomic_load(&ingest->failed)) {
        uint32_t done = atomic_load_explicit(&ingest->producers_done, memory_order_acquire);
        uint32_t drained;
        int error = drain_incoming(core, &drained);
        if (error) {
            fail(core, error, "applying an event");
            break;
        }
        if (drained == 0) {
            if (done == ingest->core_count)
                break;
            sched_yield();
        }
    }
    if (!atomic_load(&ingest->failed)) {
        int error = flush_shard(core, true);
        if (!error)
            error = settle_in_flight(core);
        if (error)
            fail(core, error, "committing");
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * Set-up and the run
 * ---------------------------------------------------------------------- */

static void sum_counters(const struct ingest *ingest, struct mp_ingest_summary *summary)
{
    memset(summary, 0, sizeof *summary);
    summary->cores = ingest->core_count;
    for (uint32_t index = 0; ingest->cores && index < ingest->core_count; index++) {
        const struct core *core = &ingest->cores[index];
        if (!core->shard)
            continue;
        const struct mp_shard_counters *counters = mp_shard_counters(core->shard);
        summary->read += atomic_load(&core->read);
        summary->accepted += counters->accepted;
        summary->duplicates += counters->duplicates;
        summary->facts += core->facts;
        summary->facts_taken += counters->facts_taken;
        summary->unmapped_codes += core->unmapped_codes;
        summary->state_writes += counters->state_writes;
        summary->outbox += counters->outbox;
        summary->store_reads += counters->store_reads;
        for (int code = 0; code < MP_REJECT_CODE_COUNT; code++) {
            summary->rejected_by_error[code] += counters->rejected[code];
            summary->rejected += counters->rejected[code];
        }
    }
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void show_progress(const struct ingest *ingest, const struct timespec *start, bool last)
{
    uint64_t read = 0;
    for (uint32_t index = 0; index < ingest->core_count; index++)
        read += atomic_load_explicit(&ingest->cores[index].read, memory_order_relaxed);
    double seconds = seconds_since(start);
    fprintf(stderr, "\rmilepost ingest: %llu records, %.0f/s, %.1f s   %s",
            (unsigned long long)read, seconds > 0 ? (double)read / seconds : 0.0, seconds,
            last ? "\n" : "");
    fflush(stderr);
}

static void destroy_ingest(struct ingest *ingest)
{
    mp_commit_destroy(ingest->commit);
    for (uint32_t index = 0; ingest->cores && index < ingest->core_count; index++) {
        mp_shard_destroy(ingest->cores[index].shard);
        mp_json_parser_destroy(ingest->cores[index].parser);
    }
    for (uint32_t index = 0; ingest->rings && index < ingest->core_count * ingest->core_count;
         index++)
        mp_ring_destroy(ingest->rings[index]);
    free(ingest->rings);
    free(ingest->cores);
    for (size_t index = 0; index < ingest->input_count; index++)
        free_input(&ingest->inputs[index]);
    free(ingest->inputs);
    free(ingest->units);
    if (!ingest->store_borrowed)
        mp_store_close(ingest->store);
}

static int load_inputs(struct ingest *ingest, char *message, size_t message_size)
{
    const struct mp_ingest_options *options = ingest->options;
    ingest->inputs = calloc(options->file_count ? options->file_count : 1, sizeof *ingest->inputs);
    if (!ingest->inputs)
        return -ENOMEM;
    size_t unit_capacity = 0;
    for (size_t index = 0; index < options->file_count; index++) {
        const char *path = options->files[index];
        struct input *input = &ingest->inputs[index];
        int error = strcmp(path, "-") == 0 ? read_stdin(input) : map_file(path, input);
        if (error) {
            snprintf(message, message_size, "cannot read %s: %s", path, mp_strerror(error));
            return error;
        }
        ingest->input_count = index + 1;
        error = split_input(ingest, input, options->source, 0, &unit_capacity, message,
                            message_size, path);
        if (error) {
            if (error == -ENOMEM)
                snprintf(message, message_size, "out of memory splitting %s", path);
            return error;
        }
    }
    return 0;
}

/* Copies each buffer with the parser's padding, as standard input is read. */
static int load_buffers(struct ingest *ingest, char *message, size_t message_size)
{
    ingest->inputs = calloc(ingest->buffer_count ? ingest->buffer_count : 1,
                            sizeof *ingest->inputs);
    if (!ingest->inputs)
        return -ENOMEM;
    size_t unit_capacity = 0;
    for (size_t index = 0; index < ingest->buffer_count; index++) {
        const struct mp_ingest_buffer *buffer = &ingest->buffers[index];
        MP_ASSERT(buffer->source < MP_SOURCE_COUNT);
        MP_ASSERT(buffer->data != NULL || buffer->size == 0);
        struct input *input = &ingest->inputs[index];
        if (buffer->size > MP_BODY_SIZE_MAX) {
            snprintf(message, message_size, "input %zu is over %u MiB, the body bound", index,
                     MP_BODY_SIZE_MAX >> 20);
            return MP_ETOOBIG;
        }
        input->data = malloc(buffer->size + MP_JSON_PADDING);
        if (!input->data) {
            snprintf(message, message_size, "out of memory copying input %zu", index);
            return -ENOMEM;
        }
        if (buffer->size)
            memcpy(input->data, buffer->data, buffer->size);
        memset(input->data + buffer->size, 0, MP_JSON_PADDING);
        input->size = buffer->size;
        input->mapped_size = 0;
        ingest->input_count = index + 1;
        char name[32];
        snprintf(name, sizeof name, "input %zu", index);
        int error = split_input(ingest, input, buffer->source, buffer->first_index,
                                &unit_capacity, message, message_size, name);
        if (error) {
            if (error == -ENOMEM)
                snprintf(message, message_size, "out of memory splitting %s", name);
            return error;
        }
    }
    return 0;
}

static int open_store(struct ingest *ingest, char *message, size_t message_size)
{
    if (ingest->store_borrowed)
        return 0;
    struct mp_store_options store_options;
    mp_store_options_default(&store_options);
    store_options.path = ingest->options->data_dir;
    store_options.create_if_missing = true;
    store_options.disk_reserve_bytes = ingest->options->disk_reserve_bytes;
    char store_message[256] = "";
    int error = mp_store_open(&store_options, &ingest->store, store_message, sizeof store_message);
    if (error == MP_ELOCKED)
        snprintf(message, message_size,
                 "the data directory %s is in use by another milepost process (a running "
                 "server?); stop it or ingest into another --data directory",
                 ingest->options->data_dir);
    else if (error)
        snprintf(message, message_size, "cannot open the store in %s: %s %s",
                 ingest->options->data_dir, mp_strerror(error), store_message);
    return error;
}

static int create_cores(struct ingest *ingest)
{
    const struct mp_ingest_options *options = ingest->options;
    uint32_t count = ingest->core_count;
    ingest->cores = calloc(count, sizeof *ingest->cores);
    ingest->rings = calloc((size_t)count * count, sizeof *ingest->rings);
    if (!ingest->cores || !ingest->rings)
        return -ENOMEM;
    uint32_t cache_records =
        options->cache_records_max ? options->cache_records_max : DEFAULT_CACHE_RECORDS;
    uint32_t flush_records =
        options->flush_records_max ? options->flush_records_max : DEFAULT_FLUSH_RECORDS;
    if (flush_records > cache_records / 2)
        flush_records = cache_records / 2;
    size_t parser_size = ingest->parser_size_max > CHUNK_SIZE ? ingest->parser_size_max : CHUNK_SIZE;
    for (uint32_t index = 0; index < count; index++) {
        struct core *core = &ingest->cores[index];
        core->ingest = ingest;
        core->index = index;
        atomic_init(&core->read, 0);
        struct mp_shard_options shard_options = {
            .shard_index = index,
            .cache_records_max = cache_records,
            .flush_records_max = flush_records ? flush_records : 1,
            .confirm_mask = options->confirm_filter ? options->confirm_filter->milestone_mask
                            : options->confirm_mask ? options->confirm_mask
                                                    : MP_CONFIRM_DEFAULT_MASK,
            .confirm_filter = options->confirm_filter,
        };
        int error = mp_shard_create(&shard_options, ingest->store, &core->shard);
        if (!error)
            error = mp_json_parser_create(parser_size, &core->parser);
        if (error)
            return error;
        for (uint32_t to = 0; to < count; to++) {
            if (to == index)
                continue;
            error = mp_ring_create(RING_SLOTS, sizeof(struct mp_event),
                                   &ingest->rings[index * count + to]);
            if (error)
                return error;
        }
    }
    return 0;
}

/* Runs an ingest whose inputs (files or buffers) and store the caller chose. */
static int run(struct ingest *ingest, struct mp_ingest_summary *summary, char *message,
               size_t message_size)
{
    const struct mp_ingest_options *options = ingest->options;
    MP_ASSERT(options->data_dir != NULL);
    MP_ASSERT(ingest->store_borrowed == (ingest->store != NULL));
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    message[0] = '\0';
    atomic_init(&ingest->next_unit, 0);
    atomic_init(&ingest->producers_done, 0);
    atomic_init(&ingest->failed, false);
    ingest->core_count = options->cores ? options->cores : mp_cpu_count_usable();
    if (ingest->core_count > MP_CORES_MAX)
        ingest->core_count = MP_CORES_MAX;

    int error = ingest->buffers ? load_buffers(ingest, message, message_size)
                                : load_inputs(ingest, message, message_size);
    if (!error)
        error = open_store(ingest, message, message_size);
    if (!error) {
        error = create_cores(ingest);
        if (error)
            snprintf(message, message_size, "cannot set up %u cores: %s", ingest->core_count,
                     mp_strerror(error));
    }
    if (!error) {
        struct mp_shard *shards[MP_CORES_MAX];
        for (uint32_t index = 0; index < ingest->core_count; index++)
            shards[index] = ingest->cores[index].shard;
        error = mp_shard_index_load(ingest->store, shards, ingest->core_count);
        if (error)
            snprintf(message, message_size, "cannot read the tracking index: %s",
                     mp_strerror(error));
    }
    if (!error) {
        error = mp_commit_create(ingest->store, ingest->core_count, options->sync, &ingest->commit);
        if (error)
            snprintf(message, message_size, "cannot start the commit thread: %s",
                     mp_strerror(error));
    }
    for (uint32_t index = 0; !error && index < ingest->core_count; index++) {
        struct core *core = &ingest->cores[index];
        error = -pthread_create(&core->thread, NULL, core_main, core);
        if (error) {
            snprintf(message, message_size, "cannot start a core thread: %s", mp_strerror(error));
            atomic_store(&ingest->failed, true);
            /* Threads already started see `failed` and stop. */
            atomic_fetch_add(&ingest->producers_done, ingest->core_count);
            break;
        }
        core->started = true;
    }
    if (!error && options->progress) {
        struct timespec pause = {0, 250 * 1000 * 1000};
        for (;;) {
            uint32_t done = atomic_load(&ingest->producers_done);
            if (done >= ingest->core_count || atomic_load(&ingest->failed))
                break;
            nanosleep(&pause, NULL);
            show_progress(ingest, &start, false);
        }
    }
    for (uint32_t index = 0; ingest->cores && index < ingest->core_count; index++) {
        struct core *core = &ingest->cores[index];
        if (core->started)
            pthread_join(core->thread, NULL);
        if (!error && core->error) {
            error = core->error;
            snprintf(message, message_size, "%s", core->message);
        }
    }
    if (!error && options->progress)
        show_progress(ingest, &start, true);
    sum_counters(ingest, summary);
    destroy_ingest(ingest);
    summary->seconds = seconds_since(&start);
    return error;
}

int mp_ingest_run(const struct mp_ingest_options *options, struct mp_ingest_summary *summary,
                  char *message, size_t message_size)
{
    MP_ASSERT(options->source < MP_SOURCE_COUNT);
    struct ingest ingest = {.options = options};
    return run(&ingest, summary, message, message_size);
}

int mp_ingest_run_buffers(const struct mp_ingest_options *options, struct mp_store *store,
                          const struct mp_ingest_buffer *buffers, size_t buffer_count,
                          struct mp_ingest_summary *summary, char *message, size_t message_size)
{
    MP_ASSERT(store != NULL);
    MP_ASSERT(buffers != NULL || buffer_count == 0);
    struct ingest ingest = {
        .options = options,
        .buffers = buffers,
        .buffer_count = buffer_count,
        .store_borrowed = true,
        .store = store,
    };
    return run(&ingest, summary, message, message_size);
}

int mp_ingest_summary_json(const struct mp_ingest_summary *summary, char *out, size_t capacity)
{
    struct mp_jsonw writer;
    mp_jsonw_init(&writer, out, capacity);
    mp_jsonw_object_begin(&writer);
    mp_jsonw_key(&writer, "read");
    mp_jsonw_uint(&writer, summary->read);
    mp_jsonw_key(&writer, "accepted");
    mp_jsonw_uint(&writer, summary->accepted);
    mp_jsonw_key(&writer, "duplicates");
    mp_jsonw_uint(&writer, summary->duplicates);
    mp_jsonw_key(&writer, "rejected");
    mp_jsonw_uint(&writer, summary->rejected);
    mp_jsonw_key(&writer, "rejected_by_error");
    mp_jsonw_object_begin(&writer);
    for (int code = 1; code < MP_REJECT_CODE_COUNT; code++) {
        if (summary->rejected_by_error[code] == 0)
            continue;
        mp_jsonw_key(&writer, mp_reject_code_name(code));
        mp_jsonw_uint(&writer, summary->rejected_by_error[code]);
    }
    mp_jsonw_object_end(&writer);
    mp_jsonw_key(&writer, "facts");
    mp_jsonw_uint(&writer, summary->facts);
    mp_jsonw_key(&writer, "facts_taken");
    mp_jsonw_uint(&writer, summary->facts_taken);
    mp_jsonw_key(&writer, "state_writes");
    mp_jsonw_uint(&writer, summary->state_writes);
    mp_jsonw_key(&writer, "outbox");
    mp_jsonw_uint(&writer, summary->outbox);
    mp_jsonw_key(&writer, "seconds");
    mp_jsonw_double(&writer, (double)(int64_t)(summary->seconds * 1000.0 + 0.5) / 1000.0);
    mp_jsonw_object_end(&writer);
    size_t size;
    return mp_jsonw_finish(&writer, &size);
}
