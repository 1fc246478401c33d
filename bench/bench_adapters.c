/*
 * bench_adapters: how fast each source adapter turns native payloads into
 * canonical events, against the canonical parser on the same events.
 *
 * For each source with samples in DIR/<source>/ (its .json files): the source's
 * samples are parsed round-robin with mp_adapter_parse for --seconds
 * (one thread, one core), giving payloads/s, events/s and MB/s of native
 * bytes.  Then the events those samples give are written as canonical
 * NDJSON (the parse form of `milepost parse`, which the canonical parser
 * reads: unknown keys are ignored) and parsed with mp_json_parse_events
 * for as long, giving its events/s and MB/s.  The last column is the
 * adapter's MB/s over the canonical parser's: issue 4 asks for at least
 * 0.5 (within 2x per byte).
 *
 * Runs --repeat rounds and prints one Markdown table of medians on stdout
 * and one line per run on stderr.
 *
 *   bench_adapters [--samples DIR] [--seconds S] [--repeat N] [--cpu N]
 *
 * DIR defaults to $MP_SAMPLES_DIR.  --cpu pins the thread (default: the
 * CPU it starts on).
 */
#include <errno.h>
#include <dirent.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mp_adapter.h"
#include "mp_event.h"
#include "mp_event_json.h"
#include "mp_json.h"
#include "mp_jsonw.h"

#define SAMPLES_PER_SOURCE_MAX 32
#define SAMPLE_SIZE_MAX (1u << 20)
#define REPEAT_MAX 31
#define PARSER_SIZE_MAX (4u << 20)
#define LINE_SIZE_MAX (6 * MP_EVENT_TEXT_SIZE_MAX + 2048)
#define CHECK_EVERY 64 /* parses between clock reads */

struct payload {
    char *bytes;                /* zero-padded: parsed in place */
    size_t size;
};

struct source_samples {
    enum mp_source source;
    struct payload payloads[SAMPLES_PER_SOURCE_MAX];
    size_t count;
    struct payload canonical;   /* the same events as canonical NDJSON */
};

struct rate {
    double payloads_per_s;
    double events_per_s;
    double mb_per_s;
};

static double now_s(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static int count_event(void *context, uint32_t index, struct mp_event *event, const char *raw,
                       size_t raw_size)
{
    (void)index;
    (void)event;
    (void)raw;
    (void)raw_size;
    (*(uint64_t *)context)++;
    return 0;
}

static int ignore_reject(void *context, uint32_t index, enum mp_reject_code code,
                         const char *message, const char *raw, size_t raw_size)
{
    (void)context;
    (void)index;
    (void)code;
    (void)message;
    (void)raw;
    (void)raw_size;
    return 0;
}

/* Appends the event's parse-form line to the canonical NDJSON being built. */
struct canonical_builder {
    char *bytes;
    size_t size;
    size_t capacity;
    char *line;
};

static int append_event(void *context, uint32_t index, struct mp_event *event, const char *raw,
                        size_t raw_size)
{
    (void)index;
    (void)raw;
    (void)raw_size;
    struct canonical_builder *builder = context;
    struct mp_jsonw writer;
    mp_jsonw_init(&writer, builder->line, LINE_SIZE_MAX);
    mp_event_write_json(&writer, event, 0);
    size_t size;
    if (mp_jsonw_finish(&writer, &size) != 0)
        return 1;
    if (builder->size + size + 1 + MP_JSON_PADDING > builder->capacity) {
        size_t capacity = (builder->capacity + size + 1 + MP_JSON_PADDING) * 2;
        char *bytes = realloc(builder->bytes, capacity);
        if (!bytes)
            return 1;
        builder->bytes = bytes;
        builder->capacity = capacity;
    }
    memcpy(builder->bytes + builder->size, builder->line, size);
    builder->size += size;
    builder->bytes[builder->size++] = '\n';
    return 0;
}

static int load_source(const char *root, const char *name, struct source_samples *samples)
{
    char folder[1024];
    snprintf(folder, sizeof folder, "%s/%s", root, name);
    DIR *directory = opendir(folder);
    if (!directory)
        return -errno;
    struct dirent *entry;
    while ((entry = readdir(directory)) && samples->count < SAMPLES_PER_SOURCE_MAX) {
        size_t length = strlen(entry->d_name);
        if (length < 6 || strcmp(entry->d_name + length - 5, ".json") != 0)
            continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", folder, entry->d_name);
        FILE *file = fopen(path, "rb");
        if (!file)
            continue;
        struct payload *payload = &samples->payloads[samples->count];
        payload->bytes = calloc(1, SAMPLE_SIZE_MAX + MP_JSON_PADDING);
        if (!payload->bytes) {
            fclose(file);
            closedir(directory);
            return -ENOMEM;
        }
        payload->size = fread(payload->bytes, 1, SAMPLE_SIZE_MAX, file);
        fclose(file);
        samples->count++;
    }
    closedir(directory);
    return 0;
}

/* Parses every sample once, checks it parses, and builds the canonical NDJSON. */
static int build_canonical(struct mp_json_parser *parser, struct source_samples *samples)
{
    struct canonical_builder builder = {0};
    builder.line = malloc(LINE_SIZE_MAX);
    if (!builder.line)
        return -ENOMEM;
    for (size_t index = 0; index < samples->count; index++) {
        const struct payload *payload = &samples->payloads[index];
        struct mp_adapter_sink sink = {{append_event, ignore_reject, &builder}, NULL};
        struct mp_json_summary summary;
        char message[MP_ERROR_MESSAGE_SIZE_MAX] = "";
        int error = mp_adapter_parse(parser, samples->source, payload->bytes, payload->size,
                                     payload->size + MP_JSON_PADDING, UINT32_MAX, 0, &sink,
                                     &summary, message, sizeof message);
        if (error) {
            fprintf(stderr, "bench_adapters: a %s sample does not parse: %s\n",
                    mp_source_name(samples->source), message);
            free(builder.line);
            free(builder.bytes);
            return error;
        }
    }
    free(builder.line);
    if (!builder.bytes)
        return MP_EINVAL;
    memset(builder.bytes + builder.size, 0, MP_JSON_PADDING);
    samples->canonical.bytes = builder.bytes;
    samples->canonical.size = builder.size;
    return 0;
}

static struct rate measure_adapter(struct mp_json_parser *parser,
                                   const struct source_samples *samples, double seconds)
{
    uint64_t payloads = 0, events = 0, bytes = 0;
    struct mp_adapter_sink sink = {{count_event, ignore_reject, &events}, NULL};
    double start = now_s(), elapsed = 0;
    for (;;) {
        for (int inner = 0; inner < CHECK_EVERY; inner++) {
            const struct payload *payload = &samples->payloads[payloads % samples->count];
            struct mp_json_summary summary;
            char message[MP_ERROR_MESSAGE_SIZE_MAX];
            mp_adapter_parse(parser, samples->source, payload->bytes, payload->size,
                             payload->size + MP_JSON_PADDING, UINT32_MAX, 0, &sink, &summary,
                             message, sizeof message);
            payloads++;
            bytes += payload->size;
        }
        elapsed = now_s() - start;
        if (elapsed >= seconds)
            break;
    }
    return (struct rate){payloads / elapsed, events / elapsed, bytes / elapsed / 1e6};
}

static struct rate measure_canonical(struct mp_json_parser *parser,
                                     const struct source_samples *samples, double seconds)
{
    uint64_t inputs = 0, events = 0, bytes = 0;
    struct mp_json_sink sink = {count_event, ignore_reject, &events};
    double start = now_s(), elapsed = 0;
    for (;;) {
        for (int inner = 0; inner < CHECK_EVERY; inner++) {
            struct mp_json_summary summary;
            char message[MP_ERROR_MESSAGE_SIZE_MAX];
            mp_json_parse_events(parser, samples->canonical.bytes, samples->canonical.size,
                                 samples->canonical.size + MP_JSON_PADDING, MP_JSON_NDJSON,
                                 UINT32_MAX, 0, &sink, &summary, message, sizeof message);
            inputs++;
            bytes += samples->canonical.size;
        }
        elapsed = now_s() - start;
        if (elapsed >= seconds)
            break;
    }
    return (struct rate){inputs / elapsed, events / elapsed, bytes / elapsed / 1e6};
}

static int compare_double(const void *a, const void *b)
{
    double left = *(const double *)a, right = *(const double *)b;
    return left < right ? -1 : left > right;
}

static double median(double *values, int count)
{
    qsort(values, (size_t)count, sizeof *values, compare_double);
    return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

static int usage(void)
{
    fputs("usage: bench_adapters [--samples DIR] [--seconds S] [--repeat N] [--cpu N]\n", stderr);
    return 2;
}

int main(int argc, char **argv)
{
    const char *root = getenv("MP_SAMPLES_DIR");
    double seconds = 1.0;
    int repeat = 5;
    int cpu = -1;
    for (int index = 1; index < argc; index++) {
        if (index + 1 >= argc)
            return usage();
        if (strcmp(argv[index], "--samples") == 0)
            root = argv[++index];
        else if (strcmp(argv[index], "--seconds") == 0)
            seconds = atof(argv[++index]);
        else if (strcmp(argv[index], "--repeat") == 0)
            repeat = atoi(argv[++index]);
        else if (strcmp(argv[index], "--cpu") == 0)
            cpu = atoi(argv[++index]);
        else
            return usage();
    }
    if (!root || seconds <= 0 || repeat < 1 || repeat > REPEAT_MAX)
        return usage();
    if (cpu < 0)
        cpu = sched_getcpu();
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        fprintf(stderr, "bench_adapters: cannot pin to CPU %d; running unpinned\n", cpu);

    struct mp_json_parser *parser;
    if (mp_json_parser_create(PARSER_SIZE_MAX, &parser) != 0) {
        fputs("bench_adapters: cannot create a parser\n", stderr);
        return 1;
    }
    static struct source_samples sources[MP_SOURCE_COUNT];
    int source_count = 0;
    for (int source = MP_SOURCE_CANONICAL + 1; source < MP_SOURCE_COUNT; source++) {
        struct source_samples *samples = &sources[source_count];
        samples->source = (enum mp_source)source;
        if (load_source(root, mp_source_name((enum mp_source)source), samples) != 0 ||
            samples->count == 0)
            continue;
        if (build_canonical(parser, samples) != 0)
            return 1;
        source_count++;
    }
    if (source_count == 0) {
        fprintf(stderr, "bench_adapters: no samples under %s\n", root);
        return 1;
    }

    printf("| source | samples | payloads/s | events/s | MB/s | canonical events/s | "
           "canonical MB/s | MB/s ratio |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int index = 0; index < source_count; index++) {
        const struct source_samples *samples = &sources[index];
        double payloads[REPEAT_MAX], events[REPEAT_MAX], megabytes[REPEAT_MAX];
        double canonical_events[REPEAT_MAX], canonical_megabytes[REPEAT_MAX];
        double ratios[REPEAT_MAX];
        for (int run = 0; run < repeat; run++) {
            struct rate adapter = measure_adapter(parser, samples, seconds);
            struct rate canonical = measure_canonical(parser, samples, seconds);
            payloads[run] = adapter.payloads_per_s;
            events[run] = adapter.events_per_s;
            megabytes[run] = adapter.mb_per_s;
            canonical_events[run] = canonical.events_per_s;
            canonical_megabytes[run] = canonical.mb_per_s;
            ratios[run] = adapter.mb_per_s / canonical.mb_per_s;
            fprintf(stderr,
                    "%s run %d: %.0f payloads/s %.0f events/s %.1f MB/s; canonical %.0f "
                    "events/s %.1f MB/s\n",
                    mp_source_name(samples->source), run + 1, adapter.payloads_per_s,
                    adapter.events_per_s, adapter.mb_per_s, canonical.events_per_s,
                    canonical.mb_per_s);
        }
        printf("| %s | %zu | %.0f | %.0f | %.1f | %.0f | %.1f | %.2f |\n",
               mp_source_name(samples->source), samples->count, median(payloads, repeat),
               median(events, repeat), median(megabytes, repeat),
               median(canonical_events, repeat), median(canonical_megabytes, repeat),
               median(ratios, repeat));
        fflush(stdout);
    }
    for (int index = 0; index < source_count; index++) {
        for (size_t sample = 0; sample < sources[index].count; sample++)
            free(sources[index].payloads[sample].bytes);
        free(sources[index].canonical.bytes);
    }
    mp_json_parser_destroy(parser);
    return 0;
}
