#include "mp_jsonw.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mp_assert.h"
#include "mp_error.h"
#include "mp_time.h"

void mp_jsonw_init(struct mp_jsonw *writer, char *buffer, size_t capacity)
{
    MP_ASSERT(buffer != NULL || capacity == 0);
    memset(writer, 0, sizeof *writer);
    writer->buffer = buffer;
    writer->capacity = capacity;
}

int mp_jsonw_finish(struct mp_jsonw *writer, size_t *size)
{
    MP_ASSERT(writer->depth == 0);
    if (writer->overflow || writer->used >= writer->capacity)
        return MP_ETOOBIG;
    writer->buffer[writer->used] = '\0';
    *size = writer->used;
    return 0;
}

static void put(struct mp_jsonw *writer, const char *bytes, size_t size)
{
    if (writer->overflow || size > writer->capacity - writer->used) {
        writer->overflow = true;
        return;
    }
    memcpy(writer->buffer + writer->used, bytes, size);
    writer->used += size;
}

static void put_char(struct mp_jsonw *writer, char c)
{
    if (writer->overflow || writer->used >= writer->capacity) {
        writer->overflow = true;
        return;
    }
    writer->buffer[writer->used++] = c;
}

/* Writes the comma that separates this value from the previous sibling. */
static void before_value(struct mp_jsonw *writer)
{
    if (writer->need_comma[writer->depth])
        put_char(writer, ',');
    writer->need_comma[writer->depth] = true;
}

static void open_container(struct mp_jsonw *writer, char c)
{
    before_value(writer);
    put_char(writer, c);
    MP_ASSERT(writer->depth + 1 < MP_JSONW_DEPTH_MAX);
    writer->depth++;
    writer->need_comma[writer->depth] = false;
}

static void close_container(struct mp_jsonw *writer, char c)
{
    MP_ASSERT(writer->depth > 0);
    writer->depth--;
    put_char(writer, c);
}

void mp_jsonw_object_begin(struct mp_jsonw *writer) { open_container(writer, '{'); }
void mp_jsonw_object_end(struct mp_jsonw *writer) { close_container(writer, '}'); }
void mp_jsonw_array_begin(struct mp_jsonw *writer) { open_container(writer, '['); }
void mp_jsonw_array_end(struct mp_jsonw *writer) { close_container(writer, ']'); }

static void put_escaped(struct mp_jsonw *writer, const char *bytes, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    put_char(writer, '"');
    size_t run_start = 0;
    for (size_t index = 0; index < size; index++) {
        unsigned char c = (unsigned char)bytes[index];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
            continue;
        put(writer, bytes + run_start, index - run_start);
        run_start = index + 1;
        switch (c) {
        case '"': put(writer, "\\\"", 2); break;
        case '\\': put(writer, "\\\\", 2); break;
        case '\n': put(writer, "\\n", 2); break;
        case '\r': put(writer, "\\r", 2); break;
        case '\t': put(writer, "\\t", 2); break;
        default: {
            char escape[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(writer, escape, sizeof escape);
        }
        }
    }
    put(writer, bytes + run_start, size - run_start);
    put_char(writer, '"');
}

void mp_jsonw_key(struct mp_jsonw *writer, const char *name)
{
    before_value(writer);
    put_escaped(writer, name, strlen(name));
    put_char(writer, ':');
    /* The value that follows belongs to this key: no comma before it. */
    writer->need_comma[writer->depth] = false;
}


void mp_jsonw_string(struct mp_jsonw *writer, const char *bytes, size_t size)
{
    before_value(writer);
    put_escaped(writer, bytes, size);
}

void mp_jsonw_string_or_null(struct mp_jsonw *writer, const char *bytes, size_t size)
{
    if (size == 0)
        mp_jsonw_null(writer);
    else
        mp_jsonw_string(writer, bytes, size);
}

void mp_jsonw_cstring(struct mp_jsonw *writer, const char *text)
{
    mp_jsonw_string(writer, text, strlen(text));
}

void mp_jsonw_int(struct mp_jsonw *writer, int64_t value)
{
    char text[24];
    int size = snprintf(text, sizeof text, "%" PRId64, value);
    before_value(writer);
    put(writer, text, (size_t)size);
}

void mp_jsonw_uint(struct mp_jsonw *writer, uint64_t value)
{
    char text[24];
    int size = snprintf(text, sizeof text, "%" PRIu64, value);
    before_value(writer);
    put(writer, text, (size_t)size);
}

void mp_jsonw_double(struct mp_jsonw *writer, double value)
{
    char text[32];
    int size = 0;
    /* The shortest of these precisions that reads back exactly. */
    for (int precision = 6; precision <= 17; precision++) {
        size = snprintf(text, sizeof text, "%.*g", precision, value);
        if (strtod(text, NULL) == value)
            break;
    }
    before_value(writer);
    put(writer, text, (size_t)size);
}

void mp_jsonw_bool(struct mp_jsonw *writer, bool value)
{
    before_value(writer);
    if (value)
        put(writer, "true", 4);
    else
        put(writer, "false", 5);
}

void mp_jsonw_null(struct mp_jsonw *writer)
{
    before_value(writer);
    put(writer, "null", 4);
}

void mp_jsonw_raw(struct mp_jsonw *writer, const char *json, size_t size)
{
    before_value(writer);
    put(writer, json, size);
}

void mp_jsonw_time(struct mp_jsonw *writer, int64_t utc_ms, bool has_value)
{
    if (!has_value) {
        mp_jsonw_null(writer);
        return;
    }
    char text[MP_TIME_TEXT_SIZE];
    size_t size = mp_time_format_utc(utc_ms, text);
    before_value(writer);
    put_char(writer, '"');
    put(writer, text, size);
    put_char(writer, '"');
}
