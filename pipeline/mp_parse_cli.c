/*
 * `milepost parse`: payloads in, canonical events out as JSON lines.
 */
#include "mp_parse_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mp_adapter.h"
#include "mp_assert.h"
#include "mp_error.h"
#include "mp_event_json.h"
#include "mp_json.h"
#include "mp_jsonw.h"
#include "mp_limits.h"
#include "mp_time.h"

/*
 * One event's line at most: every text field at its bound, each byte
 * escaped as \u00XX in the worst case, plus the keys.
 */
#define LINE_SIZE_MAX (6 * MP_EVENT_TEXT_SIZE_MAX + 2048)
/* The parser's smallest input bound (small payloads share one parser). */
#define PARSER_SIZE_MIN (64u << 10)
/* Distinct unmapped codes listed per file; more are summed in one line. */
#define UNMAPPED_LISTED_MAX 64

struct unmapped_code {
    char code[MP_ADAPTER_CODE_LABEL_SIZE_MAX + 1]; /* printable, NUL-terminated */
    uint32_t count;
};

struct parse_run {
    FILE *out;
    FILE *err;
    const char *path;
    enum mp_source source;
    char *line;                 /* LINE_SIZE_MAX bytes */
    uint32_t line_overflows;
    struct unmapped_code unmapped[UNMAPPED_LISTED_MAX];
    uint32_t unmapped_count;    /* distinct codes listed */
    uint32_t unmapped_unlisted; /* occurrences past the list */
};

/* ------------------------------------------------------------------------
 * Inputs: a whole file (or standard input) in a zero-padded buffer
 * ---------------------------------------------------------------------- */

/* Reads `fd` to its end, at most MP_BODY_SIZE_MAX bytes (+1 to notice more). */
static int read_all(int fd, char **data, size_t *size)
{
    size_t capacity = 64u << 10, used = 0;
    char *buffer = malloc(capacity + MP_JSON_PADDING);
    if (!buffer)
        return -ENOMEM;
    for (;;) {
        if (used > MP_BODY_SIZE_MAX)
            break; /* over the bound: the caller refuses it */
        if (used == capacity) {
            size_t grown = capacity * 2 < MP_BODY_SIZE_MAX + 1 ? capacity * 2
                                                                : MP_BODY_SIZE_MAX + 1;
            char *larger = realloc(buffer, grown + MP_JSON_PADDING);
            if (!larger) {
                free(buffer);
                return -ENOMEM;
            }
            buffer = larger;
            capacity = grown;
        }
        ssize_t count = read(fd, buffer + used, capacity - used);
        if (count < 0) {
            if (errno == EINTR)
                continue;
            int error = -errno;
            free(buffer);
            return error;
        }
        if (count == 0)
            break;
        used += (size_t)count;
    }
    memset(buffer + used, 0, MP_JSON_PADDING);
    *data = buffer;
    *size = used;
    return 0;
}

static int read_input(const char *path, char **data, size_t *size)
{
    if (strcmp(path, "-") == 0)
        return read_all(STDIN_FILENO, data, size);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat status;
    if (fstat(fd, &status) != 0 || S_ISDIR(status.st_mode)) {
        int error = S_ISDIR(status.st_mode) ? -EISDIR : -errno;
        close(fd);
        return error;
    }
    int error = read_all(fd, data, size);
    close(fd);
    return error;
}

/* ------------------------------------------------------------------------
 * The sink: one line per event or reject
 * ---------------------------------------------------------------------- */

static void put_line(struct parse_run *run, struct mp_jsonw *writer)
{
    size_t size;
    if (mp_jsonw_finish(writer, &size) != 0) {
        /* Cannot happen within the event's bounds; say so rather than cut a line. */
        run->line_overflows++;
        fprintf(run->err, "milepost parse: %s: a line over %d bytes was left out\n", run->path,
                LINE_SIZE_MAX);
        return;
    }
    fwrite(run->line, 1, size, run->out);
    fputc('\n', run->out);
}

static int on_event(void *context, uint32_t index, struct mp_event *event, const char *raw,
                    size_t raw_size)
{
    (void)index;
    (void)raw;
    (void)raw_size;
    struct parse_run *run = context;
    struct mp_jsonw writer;
    mp_jsonw_init(&writer, run->line, LINE_SIZE_MAX);
    mp_event_write_json(&writer, event, MP_EVENT_JSON_PARSE);
    put_line(run, &writer);
    return 0;
}

static int on_reject(void *context, uint32_t index, enum mp_reject_code code, const char *message,
                     const char *raw, size_t raw_size)
{
    (void)raw;
    (void)raw_size;
    struct parse_run *run = context;
    struct mp_jsonw writer;
    mp_jsonw_init(&writer, run->line, LINE_SIZE_MAX);
    mp_jsonw_object_begin(&writer);
    mp_jsonw_key(&writer, "reject");
    mp_jsonw_uint(&writer, index);
    mp_jsonw_key(&writer, "error");
    mp_jsonw_cstring(&writer, mp_reject_code_name(code));
    mp_jsonw_key(&writer, "message");
    mp_jsonw_cstring(&writer, message);
    mp_jsonw_object_end(&writer);
    put_line(run, &writer);
    return 0;
}

/*
 * Collects the codes an adapter could not map; report_unmapped() lists
 * each once per file.  The code goes to a terminal: anything but
 * printable ASCII shows as '?'.
 */
static void on_unmapped(void *context, enum mp_source source, const char *code, size_t code_size)
{
    (void)source;
    struct parse_run *run = context;
    char shown[MP_ADAPTER_CODE_LABEL_SIZE_MAX + 1];
    size_t size = code_size < MP_ADAPTER_CODE_LABEL_SIZE_MAX ? code_size
                                                             : MP_ADAPTER_CODE_LABEL_SIZE_MAX;
    for (size_t index = 0; index < size; index++) {
        unsigned char byte = (unsigned char)code[index];
        shown[index] = byte >= 0x20 && byte < 0x7f ? (char)byte : '?';
    }
    shown[size] = '\0';
    for (uint32_t index = 0; index < run->unmapped_count; index++) {
        if (strcmp(run->unmapped[index].code, shown) == 0) {
            run->unmapped[index].count++;
            return;
        }
    }
    if (run->unmapped_count == UNMAPPED_LISTED_MAX) {
        run->unmapped_unlisted++;
        return;
    }
    struct unmapped_code *entry = &run->unmapped[run->unmapped_count++];
    memcpy(entry->code, shown, size + 1);
    entry->count = 1;
}

static void report_unmapped(struct parse_run *run)
{
    const char *source = mp_source_name(run->source);
    for (uint32_t index = 0; index < run->unmapped_count; index++)
        fprintf(run->err,
                "milepost parse: %s: %s code \"%s\" (%u times) is not in the %s table: "
                "mapped to its parent status or UNKNOWN, and counted in "
                "milepost_adapter_unmapped_codes_total\n",
                run->path, source, run->unmapped[index].code, run->unmapped[index].count,
                source);
    if (run->unmapped_unlisted)
        fprintf(run->err, "milepost parse: %s: %u more unmapped %s codes not listed\n",
                run->path, run->unmapped_unlisted, source);
    run->unmapped_count = 0;
    run->unmapped_unlisted = 0;
}

/* ------------------------------------------------------------------------
 * The run
 * ---------------------------------------------------------------------- */

/* Parses one payload; returns 0, or 1 when the file is unusable as a whole. */
static int parse_one(struct parse_run *run, struct mp_json_parser *parser, const char *data,
                     size_t size)
{
    char message[MP_ERROR_MESSAGE_SIZE_MAX] = "";
    struct mp_json_summary summary;
    int64_t now_ms = mp_time_now_ms();
    int error;
    if (run->source == MP_SOURCE_CANONICAL) {
        struct mp_json_sink sink = {on_event, on_reject, run};
        error = mp_json_parse_events(parser, data, size, size + MP_JSON_PADDING, MP_JSON_AUTO,
                                     UINT32_MAX, now_ms, &sink, &summary, message,
                                     sizeof message);
    } else {
        struct mp_adapter_sink sink = {{on_event, on_reject, run}, on_unmapped};
        error = mp_adapter_parse(parser, run->source, data, size, size + MP_JSON_PADDING,
                                 UINT32_MAX, now_ms, &sink, &summary, message, sizeof message);
    }
    if (error)
        run->unmapped_count = run->unmapped_unlisted = 0; /* nothing was reported */
    if (error == MP_EPARSE) {
        fprintf(run->err, "milepost parse: %s: not a payload of source %s: %s\n", run->path,
                mp_source_name(run->source), message[0] ? message : "malformed JSON");
        return 1;
    }
    if (error == MP_ETOOBIG) {
        fprintf(run->err, "milepost parse: %s: refused whole: %s\n", run->path,
                message[0] ? message : "over a bound");
        return 1;
    }
    MP_ASSERT(error == 0); /* our sink never stops the parse */
    report_unmapped(run);
    return run->line_overflows ? 1 : 0;
}

int mp_parse_cli_run(enum mp_source source, const char *const *files, size_t file_count,
                     FILE *out, FILE *err)
{
    MP_ASSERT(source < MP_SOURCE_COUNT);
    struct parse_run run = {.out = out, .err = err, .source = source};
    run.line = malloc(LINE_SIZE_MAX);
    if (!run.line) {
        fputs("milepost parse: out of memory\n", err);
        return 1;
    }
    struct mp_json_parser *parser = NULL;
    size_t parser_size = 0;
    int status = 0;
    for (size_t index = 0; index < file_count; index++) {
        run.path = files[index];
        run.line_overflows = 0;
        char *data = NULL;
        size_t size = 0;
        int error = read_input(run.path, &data, &size);
        if (error) {
            fprintf(err, "milepost parse: cannot read %s: %s\n", run.path, mp_strerror(error));
            status = 1;
            continue;
        }
        if (size > MP_BODY_SIZE_MAX) {
            fprintf(err, "milepost parse: %s is over %u MiB, the body bound: split it\n",
                    run.path, MP_BODY_SIZE_MAX >> 20);
            free(data);
            status = 1;
            continue;
        }
        if (size > parser_size || !parser) {
            mp_json_parser_destroy(parser);
            parser = NULL;
            parser_size = size > PARSER_SIZE_MIN ? size : PARSER_SIZE_MIN;
            error = mp_json_parser_create(parser_size, &parser);
            if (error) {
                fprintf(err, "milepost parse: cannot make a parser for %s: %s\n", run.path,
                        mp_strerror(error));
                free(data);
                parser_size = 0;
                status = 1;
                continue;
            }
        }
        if (parse_one(&run, parser, data, size))
            status = 1;
        free(data);
        fflush(out);
    }
    mp_json_parser_destroy(parser);
    free(run.line);
    return status;
}
