/*
 * Unit tests of bench/mp_gen: the workload generator.
 *
 * The lines are checked with a tiny JSON reader of our own (the project's
 * parser may still be in the works): it flattens an object into sorted
 * "path=decoded value" items, so two serializations of the same values,
 * in any key order, whitespace or escaping, flatten to the same text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mp_adapter.h"
#include "mp_error.h"
#include "mp_event.h"
#include "mp_gen.h"
#include "mp_json.h"
#include "mp_time.h"

/* ------------------------------------------------------------------------
 * A tiny JSON flattener
 * ---------------------------------------------------------------------- */

#define FLAT_ITEMS_MAX 64
#define FLAT_ITEM_SIZE_MAX 640
#define FLAT_PATH_SIZE_MAX 128
#define FLAT_DEPTH_MAX 8

struct flat {
    char items[FLAT_ITEMS_MAX][FLAT_ITEM_SIZE_MAX];
    size_t count;
};

static void flat_skip_space(const char **at)
{
    while (**at == ' ' || **at == '\t' || **at == '\r' || **at == '\n')
        (*at)++;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool read_hex4(const char **at, unsigned *out)
{
    unsigned value = 0;
    for (int index = 0; index < 4; index++) {
        int digit = hex_value((*at)[index]);
        if (digit < 0)
            return false;
        value = value * 16 + (unsigned)digit;
    }
    *at += 4;
    *out = value;
    return true;
}

static size_t put_utf8(char *out, unsigned code_point)
{
    if (code_point < 0x80) {
        out[0] = (char)code_point;
        return 1;
    }
    if (code_point < 0x800) {
        out[0] = (char)(0xc0 | (code_point >> 6));
        out[1] = (char)(0x80 | (code_point & 0x3f));
        return 2;
    }
    if (code_point < 0x10000) {
        out[0] = (char)(0xe0 | (code_point >> 12));
        out[1] = (char)(0x80 | ((code_point >> 6) & 0x3f));
        out[2] = (char)(0x80 | (code_point & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (code_point >> 18));
    out[1] = (char)(0x80 | ((code_point >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((code_point >> 6) & 0x3f));
    out[3] = (char)(0x80 | (code_point & 0x3f));
    return 4;
}

/* Reads a JSON string, decoding escapes into UTF-8. */
static bool flat_string(const char **at, char *out, size_t capacity)
{
    if (**at != '"')
        return false;
    (*at)++;
    size_t size = 0;
    while (**at != '"') {
        if (size + 5 >= capacity || **at == '\0' || (unsigned char)**at < 0x20)
            return false;
        if (**at != '\\') {
            out[size++] = *(*at)++;
            continue;
        }
        (*at)++;
        char escape = *(*at)++;
        unsigned code_point = 0;
        switch (escape) {
        case '"': out[size++] = '"'; break;
        case '\\': out[size++] = '\\'; break;
        case '/': out[size++] = '/'; break;
        case 'b': out[size++] = '\b'; break;
        case 'f': out[size++] = '\f'; break;
        case 'n': out[size++] = '\n'; break;
        case 'r': out[size++] = '\r'; break;
        case 't': out[size++] = '\t'; break;
        case 'u':
            if (!read_hex4(at, &code_point))
                return false;
            if (code_point >= 0xd800 && code_point < 0xdc00) {
                unsigned low = 0;
                if ((*at)[0] != '\\' || (*at)[1] != 'u')
                    return false;
                *at += 2;
                if (!read_hex4(at, &low) || low < 0xdc00 || low >= 0xe000)
                    return false;
                code_point = 0x10000 + ((code_point - 0xd800) << 10) + (low - 0xdc00);
            }
            size += put_utf8(out + size, code_point);
            break;
        default: return false;
        }
    }
    (*at)++;
    out[size] = '\0';
    return true;
}

static bool flat_add(struct flat *flat, const char *path, const char *kind, const char *value)
{
    if (flat->count >= FLAT_ITEMS_MAX)
        return false;
    int size = snprintf(flat->items[flat->count], FLAT_ITEM_SIZE_MAX, "%s=%s%s", path, kind, value);
    if (size < 0 || size >= FLAT_ITEM_SIZE_MAX)
        return false;
    flat->count++;
    return true;
}

static bool flat_value(const char **at, const char *path, struct flat *flat, int depth);

static bool flat_object(const char **at, const char *path, struct flat *flat, int depth)
{
    if (**at != '{' || depth > FLAT_DEPTH_MAX)
        return false;
    (*at)++;
    flat_skip_space(at);
    if (**at == '}') {
        (*at)++;
        return flat_add(flat, path, "{}", "");
    }
    for (;;) {
        char key[FLAT_PATH_SIZE_MAX];
        char child[FLAT_PATH_SIZE_MAX * 2];
        flat_skip_space(at);
        if (!flat_string(at, key, sizeof key))
            return false;
        flat_skip_space(at);
        if (**at != ':')
            return false;
        (*at)++;
        flat_skip_space(at);
        snprintf(child, sizeof child, "%s%s%s", path, path[0] != '\0' ? "." : "", key);
        if (!flat_value(at, child, flat, depth + 1))
            return false;
        flat_skip_space(at);
        if (**at == ',') {
            (*at)++;
            continue;
        }
        if (**at == '}') {
            (*at)++;
            return true;
        }
        return false;
    }
}

static bool flat_array(const char **at, const char *path, struct flat *flat, int depth)
{
    if (**at != '[' || depth > FLAT_DEPTH_MAX)
        return false;
    (*at)++;
    flat_skip_space(at);
    if (**at == ']') {
        (*at)++;
        return flat_add(flat, path, "[]", "");
    }
    for (int index = 0;; index++) {
        char child[FLAT_PATH_SIZE_MAX * 2];
        snprintf(child, sizeof child, "%s[%d]", path, index);
        flat_skip_space(at);
        if (!flat_value(at, child, flat, depth + 1))
            return false;
        flat_skip_space(at);
        if (**at == ',') {
            (*at)++;
            continue;
        }
        if (**at == ']') {
            (*at)++;
            return true;
        }
        return false;
    }
}

static bool flat_value(const char **at, const char *path, struct flat *flat, int depth)
{
    char text[FLAT_ITEM_SIZE_MAX / 2];
    if (**at == '{')
        return flat_object(at, path, flat, depth);
    if (**at == '[')
        return flat_array(at, path, flat, depth);
    if (**at == '"')
        return flat_string(at, text, sizeof text) && flat_add(flat, path, "s:", text);
    static const char *const literals[] = {"true", "false", "null"};
    for (size_t index = 0; index < 3; index++) {
        size_t size = strlen(literals[index]);
        if (strncmp(*at, literals[index], size) == 0) {
            *at += size;
            return flat_add(flat, path, "l:", literals[index]);
        }
    }
    size_t size = strspn(*at, "-+0123456789.eE");
    if (size == 0 || size >= sizeof text)
        return false;
    memcpy(text, *at, size);
    text[size] = '\0';
    *at += size;
    return flat_add(flat, path, "n:", text);
}

static int compare_items(const void *left, const void *right)
{
    return strcmp(left, right);
}

/*
 * Parses one generated line: whitespace, one object, whitespace, '\n'.
 * Fills `flat` with its sorted items; returns false when it is not that.
 */
static bool flat_line(const char *line, size_t size, struct flat *flat)
{
    flat->count = 0;
    if (size == 0 || line[size - 1] != '\n' || memchr(line, '\n', size - 1) != NULL ||
        memchr(line, '\r', size) != NULL)
        return false;
    const char *at = line;
    flat_skip_space(&at);
    if (!flat_object(&at, "", flat, 0))
        return false;
    while (*at == ' ' || *at == '\t')
        at++;
    if (at != line + size - 1)
        return false;
    qsort(flat->items, flat->count, sizeof flat->items[0], compare_items);
    return true;
}

/* The decoded string at `path`, or NULL. */
static const char *flat_get(const struct flat *flat, const char *path)
{
    size_t path_size = strlen(path);
    for (size_t index = 0; index < flat->count; index++) {
        const char *item = flat->items[index];
        if (strncmp(item, path, path_size) == 0 && item[path_size] == '=' &&
            strncmp(item + path_size + 1, "s:", 2) == 0)
            return item + path_size + 3;
    }
    return NULL;
}

static bool flat_has(const struct flat *flat, const char *item)
{
    for (size_t index = 0; index < flat->count; index++)
        if (strcmp(flat->items[index], item) == 0)
            return true;
    return false;
}

/* All items joined with '\n': the normalized form of the event. */
static char *flat_join(const struct flat *flat)
{
    size_t total = 1;
    for (size_t index = 0; index < flat->count; index++)
        total += strlen(flat->items[index]) + 1;
    char *joined = malloc(total);
    assert_non_null(joined);
    size_t at = 0;
    for (size_t index = 0; index < flat->count; index++) {
        size_t size = strlen(flat->items[index]);
        memcpy(joined + at, flat->items[index], size);
        at += size;
        joined[at++] = '\n';
    }
    joined[at] = '\0';
    return joined;
}

/* ------------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------- */

struct lines {
    char *bytes;
    size_t size;
    size_t count;
    struct mp_gen_ref *refs;
};

static struct mp_gen_config small_config(uint64_t seed)
{
    struct mp_gen_config config;
    mp_gen_config_default(&config);
    config.seed = seed;
    config.event_count = 20000;
    config.shipment_count = 4000;
    config.duplicate_rate = 0.30;
    config.shuffle = MP_GEN_SHUFFLE_FULL;
    return config;
}

static struct mp_gen *create_or_fail(const struct mp_gen_config *config)
{
    struct mp_gen *gen = NULL;
    assert_int_equal(mp_gen_create(config, &gen), 0);
    assert_non_null(gen);
    return gen;
}

/* Drains a generator into memory, with each line's ref. */
static struct lines drain(struct mp_gen *gen)
{
    struct mp_gen_stats stats;
    mp_gen_stats(gen, &stats);
    struct lines lines = {0};
    size_t capacity = (size_t)stats.event_count * 700 + MP_GEN_LINE_SIZE_MAX;
    lines.bytes = malloc(capacity);
    lines.refs = malloc(sizeof *lines.refs * (size_t)(stats.event_count + 1));
    assert_non_null(lines.bytes);
    assert_non_null(lines.refs);
    for (;;) {
        size_t size = 0;
        assert_true(lines.size + MP_GEN_LINE_SIZE_MAX <= capacity);
        int result = mp_gen_next_ref(gen, lines.bytes + lines.size, MP_GEN_LINE_SIZE_MAX, &size,
                                     &lines.refs[lines.count]);
        assert_true(result == 0 || result == 1);
        if (result == 0)
            break;
        assert_int_equal(lines.bytes[lines.size + size], '\0');
        lines.size += size;
        lines.count++;
        assert_true(lines.count <= stats.event_count);
    }
    return lines;
}

static void lines_free(struct lines *lines)
{
    free(lines->bytes);
    free(lines->refs);
}

/* Calls visit(line, size, index, context) for each line of a drained buffer. */
static void for_each_line(const struct lines *lines,
                          void (*visit)(const char *line, size_t size, size_t index, void *context),
                          void *context)
{
    const char *at = lines->bytes;
    const char *end = lines->bytes + lines->size;
    size_t index = 0;
    while (at < end) {
        const char *newline = memchr(at, '\n', (size_t)(end - at));
        assert_non_null(newline);
        visit(at, (size_t)(newline + 1 - at), index++, context);
        at = newline + 1;
    }
    assert_int_equal(index, lines->count);
}

/* RFC 3339 with an offset: YYYY-MM-DDTHH:MM:SS[.mmm](Z|+HH:MM|-HH:MM). */
static bool is_rfc3339_with_offset(const char *text)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    size_t at = 0;
    for (; shape[at] != '\0'; at++) {
        if (shape[at] == 'd' ? (text[at] < '0' || text[at] > '9') : text[at] != shape[at])
            return false;
    }
    if (text[at] == '.') {
        at++;
        size_t digits = strspn(text + at, "0123456789");
        if (digits != 3)
            return false;
        at += digits;
    }
    if (strcmp(text + at, "Z") == 0)
        return true;
    return (text[at] == '+' || text[at] == '-') && strlen(text + at) == 6 &&
           text[at + 3] == ':' && strspn(text + at + 1, "0123456789:") == 5;
}

/* ------------------------------------------------------------------------
 * Tests
 * ---------------------------------------------------------------------- */

static void test_same_seed_same_bytes(void **state)
{
    (void)state;
    struct mp_gen_config config = small_config(42);
    struct mp_gen *first = create_or_fail(&config);
    struct mp_gen *second = create_or_fail(&config);
    struct lines a = drain(first);
    struct lines b = drain(second);
    assert_int_equal(a.size, b.size);
    assert_memory_equal(a.bytes, b.bytes, a.size);

    /* Rewinding replays the same bytes too. */
    mp_gen_rewind(first);
    struct lines c = drain(first);
    assert_int_equal(a.size, c.size);
    assert_memory_equal(a.bytes, c.bytes, a.size);

    lines_free(&a);
    lines_free(&b);
    lines_free(&c);
    mp_gen_destroy(first);
    mp_gen_destroy(second);
}

static void test_different_seed_different_bytes(void **state)
{
    (void)state;
    struct mp_gen_config config = small_config(42);
    struct mp_gen *first = create_or_fail(&config);
    config.seed = 43;
    struct mp_gen *second = create_or_fail(&config);
    struct lines a = drain(first);
    struct lines b = drain(second);
    assert_true(a.size != b.size || memcmp(a.bytes, b.bytes, a.size) != 0);
    lines_free(&a);
    lines_free(&b);
    mp_gen_destroy(first);
    mp_gen_destroy(second);
}

struct shipment_keys {
    char (*keys)[160];
    size_t count;
};

static void collect_shipment_key(const char *line, size_t size, size_t index, void *context)
{
    struct shipment_keys *keys = context;
    static struct flat flat;
    assert_true(flat_line(line, size, &flat));
    const char *carrier = flat_get(&flat, "carrier");
    const char *number = flat_get(&flat, "tracking_number");
    assert_non_null(carrier);
    assert_non_null(number);
    snprintf(keys->keys[index], sizeof keys->keys[index], "%s|%s", carrier, number);
    keys->count++;
}

static int compare_keys(const void *left, const void *right)
{
    return strcmp(left, right);
}

static void test_requested_counts(void **state)
{
    (void)state;
    struct mp_gen_config config = small_config(5);
    struct mp_gen *gen = create_or_fail(&config);
    struct lines lines = drain(gen);
    assert_int_equal(lines.count, config.event_count);

    /* The end stays the end. */
    char line[MP_GEN_LINE_SIZE_MAX];
    size_t size = 0;
    assert_int_equal(mp_gen_next(gen, line, sizeof line, &size), 0);

    struct shipment_keys keys = {calloc(lines.count, sizeof *keys.keys), 0};
    assert_non_null(keys.keys);
    for_each_line(&lines, collect_shipment_key, &keys);
    qsort(keys.keys, keys.count, sizeof *keys.keys, compare_keys);
    size_t distinct = keys.count > 0 ? 1 : 0;
    for (size_t index = 1; index < keys.count; index++)
        if (strcmp(keys.keys[index - 1], keys.keys[index]) != 0)
            distinct++;
    assert_true(distinct <= config.shipment_count);

    struct mp_gen_stats stats;
    mp_gen_stats(gen, &stats);
    assert_int_equal(stats.event_count, config.event_count);
    assert_int_equal(stats.emitted_count, config.event_count);
    assert_int_equal(stats.active_shipment_count, distinct);
    assert_int_equal(stats.distinct_count + stats.duplicate_count, stats.event_count);

    free(keys.keys);
    lines_free(&lines);
    mp_gen_destroy(gen);
}

static void test_fewer_events_than_shipments(void **state)
{
    (void)state;
    struct mp_gen_config config = small_config(9);
    config.event_count = 10;
    config.shipment_count = 100;
    config.duplicate_rate = 0.0;
    struct mp_gen *gen = create_or_fail(&config);
    struct lines lines = drain(gen);
    assert_int_equal(lines.count, 10);
    struct mp_gen_stats stats;
    mp_gen_stats(gen, &stats);
    assert_int_equal(stats.active_shipment_count, 10);
    lines_free(&lines);
    mp_gen_destroy(gen);
}

/* Per line: the identity fields and the full normalized values. */
struct normalized {
    char *identity;
    char *values;
    const char *raw;
    size_t raw_size;
};

struct normalized_set {
    struct normalized *items;
    size_t count;
};

static void collect_normalized(const char *line, size_t size, size_t index, void *context)
{
    struct normalized_set *set = context;
    static struct flat flat;
    assert_true(flat_line(line, size, &flat));
    const char *location_city = flat_get(&flat, "location.city");
    char identity[512];
    snprintf(identity, sizeof identity, "%s|%s|%s|%s|%s|%s", flat_get(&flat, "carrier"),
             flat_get(&flat, "tracking_number"), flat_get(&flat, "status"),
             flat_get(&flat, "event_time"), flat_get(&flat, "source_status"),
             location_city != NULL ? location_city : "");
    set->items[index].identity = strdup(identity);
    set->items[index].values = flat_join(&flat);
    set->items[index].raw = line;
    set->items[index].raw_size = size;
    set->count++;
}

static int compare_normalized(const void *left_pointer, const void *right_pointer)
{
    const struct normalized *left = left_pointer;
    const struct normalized *right = right_pointer;
    int order = strcmp(left->identity, right->identity);
    return order != 0 ? order : strcmp(left->values, right->values);
}

static void normalized_free(struct normalized_set *set)
{
    for (size_t index = 0; index < set->count; index++) {
        free(set->items[index].identity);
        free(set->items[index].values);
    }
    free(set->items);
}

static void check_duplicate_rate(double rate)
{
    struct mp_gen_config config = small_config(77);
    config.duplicate_rate = rate;
    struct mp_gen *gen = create_or_fail(&config);
    struct lines lines = drain(gen);
    struct normalized_set set = {calloc(lines.count, sizeof *set.items), 0};
    assert_non_null(set.items);
    for_each_line(&lines, collect_normalized, &set);
    qsort(set.items, set.count, sizeof *set.items, compare_normalized);

    size_t distinct_values = 0;
    size_t distinct_identities = 0;
    for (size_t index = 0; index < set.count; index++) {
        if (index == 0 || strcmp(set.items[index - 1].values, set.items[index].values) != 0)
            distinct_values++;
        if (index == 0 || strcmp(set.items[index - 1].identity, set.items[index].identity) != 0)
            distinct_identities++;
    }
    /* Same identity means same values: copies never differ in a value. */
    assert_int_equal(distinct_values, distinct_identities);

    double measured = (double)(lines.count - distinct_values) / (double)lines.count;
    assert_true(measured >= rate - 0.005 && measured <= rate + 0.005);
    struct mp_gen_stats stats;
    mp_gen_stats(gen, &stats);
    assert_int_equal(stats.distinct_count, distinct_values);

    normalized_free(&set);
    lines_free(&lines);
    mp_gen_destroy(gen);
}

static void test_duplicate_fraction(void **state)
{
    (void)state;
    check_duplicate_rate(0.0);
    check_duplicate_rate(0.10);
    check_duplicate_rate(0.30);
    check_duplicate_rate(0.60);
}

static void test_duplicates_are_value_copies(void **state)
{
    (void)state;
    struct mp_gen_config config = small_config(3);
    config.duplicate_rate = 0.5;
    struct mp_gen *gen = create_or_fail(&config);
    struct lines lines = drain(gen);
    struct normalized_set set = {calloc(lines.count, sizeof *set.items), 0};
    assert_non_null(set.items);
    for_each_line(&lines, collect_normalized, &set);
    qsort(set.items, set.count, sizeof *set.items, compare_normalized);

    size_t copies = 0;
    size_t reserialized = 0;
    size_t escaped = 0;
    for (size_t index = 1; index < set.count; index++) {
        const struct normalized *previous = &set.items[index - 1];
        const struct normalized *current = &set.items[index];
        if (strcmp(previous->identity, current->identity) != 0)
            continue;
        copies++;
        assert_string_equal(previous->values, current->values);
        if (previous->raw_size != current->raw_size ||
            memcmp(previous->raw, current->raw, current->raw_size) != 0)
            reserialized++;
        if (memmem(current->raw, current->raw_size, "\\u00", 4) != NULL ||
            memmem(current->raw, current->raw_size, "\\/", 2) != NULL)
            escaped++;
    }
    assert_true(copies > 0);
    /* Most copies are written differently; some use escapes; values never differ. */
    assert_true(reserialized > copies / 2);
    assert_true(escaped > 0);

    normalized_free(&set);
    lines_free(&lines);
    mp_gen_destroy(gen);
}

struct field_check {
    size_t offsets_seen[8];
    char offsets[8][8];
    size_t offset_count;
    size_t milestones_seen[MP_MILESTONE_COUNT];
};

static void check_fields(const char *line, size_t size, size_t index, void *context)
{
    struct field_check *check = context;
    static struct flat flat;
    (void)index;
    assert_true(size < MP_GEN_LINE_SIZE_MAX);
    assert_true(flat_line(line, size, &flat));
    const char *carrier = flat_get(&flat, "carrier");
    const char *number = flat_get(&flat, "tracking_number");
    const char *status = flat_get(&flat, "status");
    const char *event_time = flat_get(&flat, "event_time");
    assert_non_null(carrier);
    assert_non_null(number);
    assert_non_null(status);
    assert_non_null(event_time);
    assert_true(carrier[0] != '\0' && number[0] != '\0');

    int milestone = mp_milestone_from_name(status, strlen(status));
    assert_true(milestone > MP_MILESTONE_UNKNOWN);
    check->milestones_seen[milestone]++;
    const char *reason = flat_get(&flat, "reason");
    if (reason != NULL)
        assert_true(mp_reason_from_name(reason, strlen(reason)) > MP_REASON_NONE);
    if (milestone == MP_MILESTONE_EXCEPTION)
        assert_non_null(reason);
    if (milestone == MP_MILESTONE_DAMAGED)
        assert_true(flat_has(&flat, "flags.damaged=l:true"));

    assert_true(is_rfc3339_with_offset(event_time));
    const char *offset = strchr(event_time, 'Z') != NULL ? "Z" : event_time + strlen(event_time) - 6;
    size_t slot = 0;
    for (; slot < check->offset_count; slot++)
        if (strcmp(check->offsets[slot], offset) == 0)
            break;
    if (slot == check->offset_count && slot < 8) {
        snprintf(check->offsets[slot], sizeof check->offsets[slot], "%s", offset);
        check->offset_count++;
    }

    /* A location, when present, is a full one. */
    if (flat_get(&flat, "location.city") != NULL)
        assert_non_null(flat_get(&flat, "location.country"));
    if (strcmp(carrier, "UPS") == 0) {
        assert_int_equal(strlen(number), 18);
        assert_memory_equal(number, "1Z", 2);
        for (size_t at = 2; at < 18; at++)
            assert_true((number[at] >= '0' && number[at] <= '9') ||
                        (number[at] >= 'A' && number[at] <= 'Z'));
    } else if (strcmp(carrier, "FedEx") == 0) {
        assert_int_equal(strlen(number), 12);
        assert_int_equal(strspn(number, "0123456789"), 12);
    } else if (strcmp(carrier, "USPS") == 0) {
        assert_true(strlen(number) == 22 || strlen(number) == 27);
        assert_memory_equal(number, "9400", 4);
    } else if (strcmp(carrier, "DHL") == 0) {
        assert_int_equal(strlen(number), 10);
        assert_int_equal(strspn(number, "0123456789"), 10);
    }
}

static void test_every_line_is_a_canonical_event(void **state)
{
    (void)state;
    struct mp_gen_config config = small_config(11);
    /* Raise the rare outcomes so each shows up in a small sample. */
    config.rates = (struct mp_gen_rates){
        .exception = 0.3, .attempt = 0.3, .returned = 0.1, .lost = 0.1, .damaged = 0.2,
        .cancelled = 0.1,
    };
    config.event_count = 60000;
    config.shipment_count = 6000;
    struct mp_gen *gen = create_or_fail(&config);
    struct lines lines = drain(gen);
    struct field_check check = {0};
    for_each_line(&lines, check_fields, &check);

    /* Offsets vary: UTC writers and several local offsets. */
    assert_true(check.offset_count >= 4);
    bool has_zulu = false;
    for (size_t slot = 0; slot < check.offset_count; slot++)
        has_zulu = has_zulu || strcmp(check.offsets[slot], "Z") == 0;
    assert_true(has_zulu);

    static const enum mp_milestone expected[] = {
        MP_MILESTONE_LABEL_CREATED, MP_MILESTONE_PICKED_UP, MP_MILESTONE_IN_TRANSIT,
        MP_MILESTONE_OUT_FOR_DELIVERY, MP_MILESTONE_DELIVERY_ATTEMPTED,
        MP_MILESTONE_AVAILABLE_FOR_PICKUP, MP_MILESTONE_EXCEPTION, MP_MILESTONE_DAMAGED,
        MP_MILESTONE_RETURN_TO_SENDER, MP_MILESTONE_DELIVERED,
        MP_MILESTONE_RETURNED_TO_SENDER, MP_MILESTONE_LOST, MP_MILESTONE_CANCELLED,
    };
    for (size_t index = 0; index < sizeof expected / sizeof expected[0]; index++) {
        if (check.milestones_seen[expected[index]] == 0)
            fail_msg("no %s event in the sample", mp_milestone_name(expected[index]));
    }
    lines_free(&lines);
    mp_gen_destroy(gen);
}

static int compare_lines(const void *left, const void *right)
{
    const char *const *a = left;
    const char *const *b = right;
    return strcmp(*a, *b);
}

/* Splits a drained buffer into sorted NUL-terminated lines (in place). */
static char **sorted_lines(struct lines *lines)
{
    char **pointers = malloc(sizeof *pointers * lines->count);
    assert_non_null(pointers);
    char *at = lines->bytes;
    for (size_t index = 0; index < lines->count; index++) {
        char *newline = memchr(at, '\n', (size_t)(lines->bytes + lines->size - at));
        assert_non_null(newline);
        *newline = '\0';
        pointers[index] = at;
        at = newline + 1;
    }
    qsort(pointers, lines->count, sizeof *pointers, compare_lines);
    return pointers;
}

static void test_shuffles_reorder_the_same_lines(void **state)
{
    (void)state;
    static const enum mp_gen_shuffle modes[3] = {MP_GEN_SHUFFLE_NONE, MP_GEN_SHUFFLE_WINDOW,
                                                 MP_GEN_SHUFFLE_FULL};
    struct lines drained[3];
    for (int mode = 0; mode < 3; mode++) {
        struct mp_gen_config config = small_config(21);
        config.shuffle = modes[mode];
        config.shuffle_window = 64;
        struct mp_gen *gen = create_or_fail(&config);
        drained[mode] = drain(gen);
        mp_gen_destroy(gen);
    }
    /* Arrival order: every copy comes after the original it copies. */
    for (size_t index = 0; index < drained[0].count; index++) {
        const struct mp_gen_ref *ref = &drained[0].refs[index];
        if (!ref->duplicate)
            continue;
        bool original_before = false;
        for (size_t before = index; before > 0 && !original_before; before--) {
            const struct mp_gen_ref *other = &drained[0].refs[before - 1];
            original_before = !other->duplicate && other->shipment_index == ref->shipment_index &&
                              other->step_index == ref->step_index;
        }
        assert_true(original_before);
        if (index > 2000)
            break; /* a prefix is enough; the scan is quadratic */
    }
    /* Order differs between modes, the multiset of lines does not. */
    assert_true(memcmp(drained[0].bytes, drained[2].bytes, drained[0].size) != 0);
    assert_true(memcmp(drained[0].bytes, drained[1].bytes, drained[0].size) != 0);
    char **sorted[3];
    for (int mode = 0; mode < 3; mode++)
        sorted[mode] = sorted_lines(&drained[mode]);
    for (size_t index = 0; index < drained[0].count; index++) {
        assert_string_equal(sorted[0][index], sorted[1][index]);
        assert_string_equal(sorted[0][index], sorted[2][index]);
    }
    for (int mode = 0; mode < 3; mode++) {
        free(sorted[mode]);
        lines_free(&drained[mode]);
    }
}

static void test_truth_matches_the_stream(void **state)
{
    (void)state;
    struct mp_gen_config config = small_config(8);
    config.zipf_s = 0.9;
    struct mp_gen *gen = create_or_fail(&config);
    struct lines lines = drain(gen);
    struct mp_gen_stats stats;
    mp_gen_stats(gen, &stats);

    /* Emissions per distinct event, counted from the stream's refs. */
    uint32_t *emitted = calloc((size_t)config.shipment_count * MP_GEN_SHIPMENT_EVENTS_MAX,
                               sizeof *emitted);
    assert_non_null(emitted);
    size_t originals = 0;
    for (size_t index = 0; index < lines.count; index++) {
        const struct mp_gen_ref *ref = &lines.refs[index];
        emitted[(size_t)ref->shipment_index * MP_GEN_SHIPMENT_EVENTS_MAX + ref->step_index]++;
        originals += ref->duplicate ? 0 : 1;
    }
    assert_int_equal(originals, stats.distinct_count);

    static struct mp_gen_event events[MP_GEN_SHIPMENT_EVENTS_MAX];
    uint64_t distinct_total = 0;
    uint64_t copies_total = 0;
    for (uint32_t shipment = 0; shipment < config.shipment_count; shipment++) {
        size_t count = 0;
        assert_int_equal(mp_gen_shipment_events(gen, shipment, events, MP_GEN_SHIPMENT_EVENTS_MAX,
                                                &count),
                         0);
        assert_int_equal(count, mp_gen_shipment_event_count(gen, shipment));
        assert_true(count <= MP_GEN_SHIPMENT_EVENTS_MAX);
        char carrier[MP_CARRIER_SIZE_MAX + 1];
        char number[MP_TRACKING_NUMBER_SIZE_MAX + 1];
        assert_int_equal(mp_gen_shipment_key(gen, shipment, carrier, sizeof carrier, number,
                                             sizeof number),
                         0);
        for (size_t index = 0; index < count; index++) {
            const struct mp_gen_event *event = &events[index];
            assert_int_equal(event->step_index, index);
            assert_int_equal(event->copy_count,
                             emitted[(size_t)shipment * MP_GEN_SHIPMENT_EVENTS_MAX + index]);
            if (index > 0)
                assert_true(event->event_time_ms >= events[index - 1].event_time_ms + 1000);
            copies_total += event->copy_count;
            /* The rendered original names the same shipment and milestone. */
            if (shipment % 97 == 0) {
                char line[MP_GEN_LINE_SIZE_MAX];
                size_t size = 0;
                static struct flat flat;
                assert_int_equal(mp_gen_render(gen, shipment, (uint16_t)index, 0, line,
                                               sizeof line, &size),
                                 0);
                assert_true(flat_line(line, size, &flat));
                assert_string_equal(flat_get(&flat, "carrier"), carrier);
                assert_string_equal(flat_get(&flat, "tracking_number"), number);
                assert_string_equal(flat_get(&flat, "status"), mp_milestone_name(event->milestone));
                if (event->reason != MP_REASON_NONE)
                    assert_string_equal(flat_get(&flat, "reason"), mp_reason_name(event->reason));
                else
                    assert_null(flat_get(&flat, "reason"));
                /* The oracle's view of the other state fields matches the line. */
                const char *reference = flat_get(&flat, "shipment_ref");
                if (event->shipment_ref != 0) {
                    char wanted[16];
                    snprintf(wanted, sizeof wanted, "SO-%u", (unsigned)event->shipment_ref);
                    assert_non_null(reference);
                    assert_string_equal(reference, wanted);
                } else {
                    assert_null(reference);
                }
                const char *estimate = flat_get(&flat, "estimated_delivery");
                assert_int_equal(estimate != NULL, event->has_estimated_delivery);
                if (estimate != NULL) {
                    struct mp_time_parsed parsed;
                    assert_int_equal(mp_time_parse(estimate, strlen(estimate), &parsed), 0);
                    assert_int_equal(parsed.date_only, event->estimated_delivery_date_only);
                    assert_int_equal(parsed.utc_ms, event->estimated_delivery_ms);
                }
            }
        }
        distinct_total += count;
    }
    assert_int_equal(distinct_total, stats.distinct_count);
    assert_int_equal(copies_total, stats.event_count);
    assert_true(stats.shipment_events_max > 8); /* Zipf makes some shipments busy */

    /* Out of range. */
    size_t count = 0;
    assert_int_equal(mp_gen_shipment_events(gen, config.shipment_count, events, 1, &count),
                     MP_EINVAL);
    char line[MP_GEN_LINE_SIZE_MAX];
    assert_int_equal(mp_gen_render(gen, 0, MP_GEN_SHIPMENT_EVENTS_MAX, 0, line, sizeof line, &count),
                     MP_EINVAL);

    free(emitted);
    lines_free(&lines);
    mp_gen_destroy(gen);
}

static void test_tracking_numbers_are_unique(void **state)
{
    (void)state;
    struct mp_gen_config config = small_config(13);
    config.shipment_count = 50000;
    config.event_count = 60000;
    struct mp_gen *gen = create_or_fail(&config);
    char (*keys)[160] = calloc(config.shipment_count, sizeof *keys);
    assert_non_null(keys);
    for (uint32_t shipment = 0; shipment < config.shipment_count; shipment++) {
        char carrier[MP_CARRIER_SIZE_MAX + 1];
        char number[MP_TRACKING_NUMBER_SIZE_MAX + 1];
        char normalized[MP_TRACKING_NUMBER_SIZE_MAX];
        assert_int_equal(mp_gen_shipment_key(gen, shipment, carrier, sizeof carrier, number,
                                             sizeof number),
                         0);
        size_t size = mp_tracking_number_normalize(number, strlen(number), normalized,
                                                   sizeof normalized);
        snprintf(keys[shipment], sizeof keys[shipment], "%s|%.*s", carrier, (int)size, normalized);
    }
    qsort(keys, config.shipment_count, sizeof *keys, compare_keys);
    for (uint32_t index = 1; index < config.shipment_count; index++)
        assert_string_not_equal(keys[index - 1], keys[index]);
    free(keys);
    mp_gen_destroy(gen);
}

static void test_zipf_skews_activity(void **state)
{
    (void)state;
    struct mp_gen_config config = small_config(17);
    config.event_count = 200000;
    config.shipment_count = 20000;
    struct mp_gen *uniform = create_or_fail(&config);
    config.zipf_s = 1.2;
    struct mp_gen *skewed = create_or_fail(&config);
    struct mp_gen_stats uniform_stats;
    struct mp_gen_stats skewed_stats;
    mp_gen_stats(uniform, &uniform_stats);
    mp_gen_stats(skewed, &skewed_stats);
    assert_true(uniform_stats.shipment_events_max <= 8);
    assert_int_equal(skewed_stats.shipment_events_max, MP_GEN_SHIPMENT_EVENTS_MAX);
    assert_int_equal(uniform_stats.distinct_count, skewed_stats.distinct_count);
    mp_gen_destroy(uniform);
    mp_gen_destroy(skewed);
}

/* Named profiles are valid, deterministic per seed, and their bursts stay positive. */
static void test_profiles(void **state)
{
    (void)state;
    static const char *const names[] = {"smoke", "peak", "storm"};
    for (size_t index = 0; index < sizeof names / sizeof names[0]; index++) {
        struct mp_gen_profile profile;
        assert_int_equal(mp_gen_profile_get(names[index], &profile), 0);
        assert_string_equal(profile.name, names[index]);
        assert_int_equal(mp_gen_config_check(&profile.config, NULL, 0), 0);
        assert_true(profile.connections > 0 && profile.pipeline_depth > 0 && profile.batch_events > 0);
        for (double second = 0; second < 120; second += 0.5)
            assert_true(mp_gen_burst_multiplier(&profile.burst, second) > 0);
    }
    struct mp_gen_profile profile;
    assert_int_equal(mp_gen_profile_get("nope", &profile), MP_EINVAL);

    /* smoke: same seed, same bytes; another seed, other bytes. */
    assert_int_equal(mp_gen_profile_get("smoke", &profile), 0);
    struct mp_gen *first = create_or_fail(&profile.config);
    struct mp_gen *second = create_or_fail(&profile.config);
    profile.config.seed = 2;
    struct mp_gen *other = create_or_fail(&profile.config);
    char a[MP_GEN_LINE_SIZE_MAX], b[MP_GEN_LINE_SIZE_MAX], c[MP_GEN_LINE_SIZE_MAX];
    size_t a_size = 0, b_size = 0, c_size = 0;
    size_t differing = 0;
    while (mp_gen_next(first, a, sizeof a, &a_size) == 1) {
        assert_int_equal(mp_gen_next(second, b, sizeof b, &b_size), 1);
        assert_int_equal(a_size, b_size);
        assert_memory_equal(a, b, a_size);
        assert_int_equal(mp_gen_next(other, c, sizeof c, &c_size), 1);
        differing += a_size != c_size || memcmp(a, c, a_size) != 0;
    }
    assert_int_equal(mp_gen_next(second, b, sizeof b, &b_size), 0);
    assert_true(differing > 0);
    mp_gen_destroy(first);
    mp_gen_destroy(second);
    mp_gen_destroy(other);

    /* The peak burst: 10x during a cut-off spike, ramping 1x to 3x. */
    assert_int_equal(mp_gen_profile_get("peak", &profile), 0);
    assert_true(mp_gen_burst_multiplier(&profile.burst, 0.0) == 1.0);
    assert_true(mp_gen_burst_multiplier(&profile.burst, 19.0) > 9.0);
    assert_true(mp_gen_burst_multiplier(&profile.burst, 100.0) == 3.0);
    struct mp_gen_burst steady = {.kind = MP_GEN_BURST_STEADY};
    assert_true(mp_gen_burst_multiplier(&steady, 55.0) == 1.0);
}

/* Native feeds: deterministic, at about the asked rate, histories that grow, UPS only for UPS. */
static void test_native_payloads(void **state)
{
    (void)state;
    struct mp_gen_config config = small_config(8);
    config.native_rate = 0.5;
    config.native_events_max = 16;
    struct mp_gen *first = create_or_fail(&config);
    struct mp_gen *second = create_or_fail(&config);
    static char a[MP_GEN_PAYLOAD_SIZE_MAX];
    static char b[MP_GEN_PAYLOAD_SIZE_MAX];
    size_t a_size = 0, b_size = 0;
    struct mp_gen_ref a_ref, b_ref;
    enum mp_gen_feed a_feed, b_feed;
    uint64_t per_feed[MP_GEN_FEED_COUNT] = {0};
    for (;;) {
        int peeked = mp_gen_peek_feed(first);
        int result = mp_gen_next_payload(first, a, sizeof a, &a_size, &a_ref, &a_feed);
        assert_int_equal(mp_gen_next_payload(second, b, sizeof b, &b_size, &b_ref, &b_feed), result);
        if (result == 0) {
            assert_int_equal(peeked, -1);
            break;
        }
        assert_int_equal(result, 1);
        assert_int_equal(peeked, (int)a_feed);
        assert_int_equal(a_feed, b_feed);
        assert_int_equal(a_size, b_size);
        assert_memory_equal(a, b, a_size);
        assert_int_equal(a_feed, mp_gen_shipment_feed(first, a_ref.shipment_index));
        assert_int_equal(strlen(a), a_size);
        per_feed[a_feed]++;
        if (a_feed == MP_GEN_FEED_CANONICAL) {
            assert_int_equal(a[a_size - 1], '\n');
            continue;
        }
        assert_true(a[0] == '{' && a[a_size - 1] == '}');
        assert_true(mp_gen_shipment_event_count(first, a_ref.shipment_index) <= config.native_events_max);
        char carrier[MP_CARRIER_SIZE_MAX + 1];
        char number[MP_TRACKING_NUMBER_SIZE_MAX + 1];
        assert_int_equal(mp_gen_shipment_key(first, a_ref.shipment_index, carrier, sizeof carrier,
                                             number, sizeof number),
                         0);
        assert_non_null(strstr(a, number));
        /* A carrier's own feed serves only its shipments. */
        if (a_feed == MP_GEN_FEED_UPS)
            assert_string_equal(carrier, "UPS");
        if (a_feed == MP_GEN_FEED_FEDEX)
            assert_string_equal(carrier, "FedEx");
        if (a_feed == MP_GEN_FEED_DHL)
            assert_string_equal(carrier, "DHL");
        /* FedEx's unique id and DHL's service are in the payload; other feeds have none. */
        char qualifier[MP_GEN_QUALIFIER_SIZE_MAX];
        assert_int_equal(mp_gen_shipment_qualifier(first, a_ref.shipment_index, qualifier,
                                                   sizeof qualifier),
                         0);
        assert_int_equal(qualifier[0] != '\0', a_feed == MP_GEN_FEED_FEDEX || a_feed == MP_GEN_FEED_DHL);
        if (qualifier[0] != '\0')
            assert_non_null(strstr(a, qualifier));
        /* A history payload holds every checkpoint up to this one. */
        static const char *const markers[MP_GEN_FEED_COUNT] = {
            [MP_GEN_FEED_EASYPOST] = "\"datetime\"",     [MP_GEN_FEED_AFTERSHIP] = "\"checkpoint_time\"",
            [MP_GEN_FEED_SHIPPO] = "\"object_id\"",      [MP_GEN_FEED_UPS] = "\"gmtActivityTime\"",
            [MP_GEN_FEED_17TRACK] = "\"time_utc\"",      [MP_GEN_FEED_FEDEX] = "\"eventType\"",
            [MP_GEN_FEED_DHL] = "\"timestamp\"",         [MP_GEN_FEED_SHIPENGINE] = "\"occurred_at\"",
        };
        size_t checkpoints = 0;
        for (const char *at = strstr(a, markers[a_feed]); at != NULL; at = strstr(at + 1, markers[a_feed]))
            checkpoints++;
        size_t expected = mp_gen_feed_sends_history(a_feed) ? a_ref.step_index + 1u : 1u;
        if (a_feed == MP_GEN_FEED_SHIPPO || a_feed == MP_GEN_FEED_DHL)
            expected++; /* tracking_status / the shipment's status repeats the latest checkpoint */
        assert_int_equal(checkpoints, expected);
    }
    for (int feed = 0; feed < MP_GEN_FEED_COUNT; feed++)
        assert_true(per_feed[feed] > 0);
    mp_gen_destroy(first);
    mp_gen_destroy(second);

    /* Rate 0: every emission canonical, byte-identical to mp_gen_next. */
    config.native_rate = 0;
    first = create_or_fail(&config);
    second = create_or_fail(&config);
    while (mp_gen_next_payload(first, a, sizeof a, &a_size, &a_ref, &a_feed) == 1) {
        assert_int_equal(a_feed, MP_GEN_FEED_CANONICAL);
        assert_int_equal(mp_gen_next(second, b, sizeof b, &b_size), 1);
        assert_int_equal(a_size, b_size);
        assert_memory_equal(a, b, a_size);
    }
    mp_gen_destroy(first);
    mp_gen_destroy(second);
    config.native_rate = 1.5;
    assert_int_equal(mp_gen_config_check(&config, NULL, 0), MP_EINVAL);
}

/* ---- native payloads through the real adapters ------------------------- */

/* What an adapter reported, enough to compare with the generator's truth. */
struct parsed_event {
    uint8_t source;
    uint8_t milestone;
    uint8_t reason;
    bool damaged;
    bool derived;
    int64_t event_time_ms;
    uint16_t shipment_key_size;
    char shipment_key[MP_SHIPMENT_KEY_SIZE_MAX];
};

struct parsed {
    struct parsed_event events[MP_GEN_NATIVE_EVENTS_MAX + 2];
    size_t count;
    size_t facts;
    size_t rejects;
    size_t unmapped;
    char unmapped_code[MP_ADAPTER_CODE_LABEL_SIZE_MAX + 1];
};

static int parsed_event(void *context, uint32_t index, struct mp_event *event, const char *raw,
                        size_t raw_size)
{
    (void)index, (void)raw, (void)raw_size;
    struct parsed *parsed = context;
    if (event->flags & MP_EVENT_FLAG_FACTS) {
        parsed->facts++;
        return 0;
    }
    assert_true(parsed->count < sizeof parsed->events / sizeof parsed->events[0]);
    struct parsed_event *out = &parsed->events[parsed->count++];
    out->source = event->source;
    out->milestone = event->milestone;
    out->reason = event->reason;
    out->damaged = (event->flags & MP_EVENT_FLAG_DAMAGED) != 0;
    out->derived = event->source_code.size == 7 &&
                   memcmp(mp_event_text(event, event->source_code), "derived", 7) == 0;
    out->event_time_ms = event->event_time_ms;
    out->shipment_key_size = event->shipment_key_size;
    memcpy(out->shipment_key, event->shipment_key, event->shipment_key_size);
    return 0;
}

static int parsed_reject(void *context, uint32_t index, enum mp_reject_code code, const char *message,
                         const char *raw, size_t raw_size)
{
    (void)index, (void)code, (void)raw, (void)raw_size;
    print_message("reject: %s\n", message);
    ((struct parsed *)context)->rejects++;
    return 0;
}

static void parsed_unmapped(void *context, enum mp_source source, const char *code, size_t code_size)
{
    (void)source;
    struct parsed *parsed = context;
    parsed->unmapped++;
    snprintf(parsed->unmapped_code, sizeof parsed->unmapped_code, "%.*s", (int)code_size, code);
}

/* The shipment key the parsers must build: carrier code, normalized number, qualifier. */
static size_t expected_shipment_key(struct mp_gen *gen, uint32_t shipment, char *key, size_t capacity)
{
    char carrier[MP_CARRIER_SIZE_MAX + 1];
    char number[MP_TRACKING_NUMBER_SIZE_MAX + 1];
    char qualifier[MP_GEN_QUALIFIER_SIZE_MAX];
    assert_int_equal(mp_gen_shipment_key(gen, shipment, carrier, sizeof carrier, number, sizeof number), 0);
    assert_int_equal(mp_gen_shipment_qualifier(gen, shipment, qualifier, sizeof qualifier), 0);
    size_t size = mp_carrier_code(carrier, strlen(carrier), key, capacity);
    assert_true(size > 0 && size + 2 < capacity);
    key[size++] = '\0';
    size += mp_tracking_number_normalize(number, strlen(number), key + size, capacity - size);
    assert_true(size + 1 + strlen(qualifier) <= capacity);
    key[size++] = '\0';
    memcpy(key + size, qualifier, strlen(qualifier));
    return size + strlen(qualifier);
}

/*
 * The events a payload must give: the truth of each checkpoint it holds
 * (every step up to `last` for a history, the step alone otherwise), and
 * for a source that derives one, a PICKED_UP just before the earliest
 * physical scan when no checkpoint is a PICKED_UP (docs/adapters.md).
 */
static size_t expected_events(const struct mp_gen_event *truth, uint16_t last, enum mp_gen_feed feed,
                              struct mp_gen_event *out)
{
    uint16_t first = mp_gen_feed_sends_history(feed) ? 0 : last;
    int derive_at = -1;
    if (mp_gen_feed_derives_pickup(feed)) {
        bool has_pickup = false;
        for (uint16_t step = first; step <= last; step++) {
            has_pickup |= truth[step].milestone == MP_MILESTONE_PICKED_UP;
            if (derive_at < 0 && mp_milestone_is_physical(truth[step].milestone))
                derive_at = step;
        }
        if (has_pickup)
            derive_at = -1;
    }
    size_t count = 0;
    for (uint16_t step = first; step <= last; step++) {
        if (step == derive_at) {
            out[count] = truth[step];
            out[count].milestone = MP_MILESTONE_PICKED_UP;
            out[count].reason = MP_REASON_NONE;
            out[count].damaged = false;
            out[count].copy_count = 0; /* marks the derived one */
            count++;
        }
        out[count++] = truth[step];
    }
    return count;
}

/*
 * What the checks saw across payloads: per shipment the time of the
 * derived PICKED_UP (INT64_MIN: none yet), per feed the milestones.
 */
struct native_seen {
    int64_t *derived_ms;
    uint32_t milestones[MP_GEN_FEED_COUNT];
};

/* Parses one payload with the server's adapter and holds it to the generator's truth. */
static void check_payload(struct mp_json_parser *parser, struct mp_gen *gen, char *payload,
                          size_t size, size_t capacity, const struct mp_gen_ref *ref,
                          enum mp_gen_feed feed, struct native_seen *seen)
{
    static struct parsed parsed;
    memset(&parsed, 0, sizeof parsed);
    struct mp_adapter_sink sink = {{parsed_event, parsed_reject, &parsed}, parsed_unmapped};
    struct mp_json_summary summary;
    char message[256] = "";
    int source = mp_source_from_name(mp_gen_feed_name(feed), strlen(mp_gen_feed_name(feed)));
    assert_true(source > MP_SOURCE_CANONICAL);
    int result = mp_adapter_parse(parser, (enum mp_source)source, payload, size, capacity,
                                  MP_ADAPTER_CHECKPOINTS_MAX, 0, &sink, &summary, message,
                                  sizeof message);
    if (result != 0)
        print_error("%s: %s\n%s\n", mp_gen_feed_name(feed), message, payload);
    assert_int_equal(result, 0);
    assert_int_equal(parsed.rejects, 0);
    assert_int_equal(parsed.facts, 0); /* native payloads carry no payload facts */
    if (parsed.unmapped != 0)
        print_error("%s: unmapped code %s\n", mp_gen_feed_name(feed), parsed.unmapped_code);
    assert_int_equal(parsed.unmapped, 0);

    static struct mp_gen_event truth[MP_GEN_SHIPMENT_EVENTS_MAX];
    static struct mp_gen_event wanted[MP_GEN_NATIVE_EVENTS_MAX + 1];
    size_t truth_count = 0;
    assert_int_equal(mp_gen_shipment_events(gen, ref->shipment_index, truth, MP_GEN_SHIPMENT_EVENTS_MAX,
                                            &truth_count),
                     0);
    assert_true(ref->step_index < truth_count);
    size_t count = expected_events(truth, ref->step_index, feed, wanted);
    char key[MP_SHIPMENT_KEY_SIZE_MAX];
    size_t key_size = expected_shipment_key(gen, ref->shipment_index, key, sizeof key);
    if (parsed.count != count)
        print_error("%s: %zu events, want %zu\n%s\n", mp_gen_feed_name(feed), parsed.count, count, payload);
    assert_int_equal(parsed.count, count);
    /* Both are in time order: checkpoints are at least 15 minutes apart. */
    for (size_t index = 0; index < count; index++) {
        const struct parsed_event *got = &parsed.events[index];
        const struct mp_gen_event *want = &wanted[index];
        if (got->milestone != want->milestone || got->reason != want->reason)
            print_error("%s step %u: %s/%s, want %s/%s\n", mp_gen_feed_name(feed), want->step_index,
                        mp_milestone_name(got->milestone), mp_reason_name(got->reason),
                        mp_milestone_name(want->milestone), mp_reason_name(want->reason));
        assert_int_equal(got->source, source);
        assert_int_equal(got->milestone, want->milestone);
        assert_int_equal(got->reason, want->reason);
        assert_int_equal(got->event_time_ms, want->event_time_ms);
        assert_int_equal(got->derived, want->copy_count == 0);
        /* The oracle's damage: the DAMAGED milestone or the flag. */
        assert_int_equal(got->damaged || got->milestone == MP_MILESTONE_DAMAGED,
                         want->damaged || want->milestone == MP_MILESTONE_DAMAGED);
        assert_int_equal(got->shipment_key_size, key_size);
        assert_memory_equal(got->shipment_key, key, key_size);
        seen->milestones[feed] |= 1u << got->milestone;
        /* The oracle counts one derived pickup per shipment: every payload must agree on it. */
        int64_t *derived_ms = &seen->derived_ms[ref->shipment_index];
        if (got->derived) {
            assert_true(*derived_ms == INT64_MIN || *derived_ms == got->event_time_ms);
            *derived_ms = got->event_time_ms;
        }
    }
}

/*
 * The oracle's rule (mp_driver_verify): a shipment gets one derived
 * PICKED_UP, at its earliest physical scan, unless a checkpoint of its
 * history is a PICKED_UP.  The union of what every payload derived must be
 * exactly that, or the read-back would disagree with the server.
 */
static void check_derived_union(struct mp_gen *gen, uint32_t shipment, int64_t derived_ms)
{
    static struct mp_gen_event truth[MP_GEN_SHIPMENT_EVENTS_MAX];
    size_t count = 0;
    assert_int_equal(mp_gen_shipment_events(gen, shipment, truth, MP_GEN_SHIPMENT_EVENTS_MAX, &count), 0);
    int64_t wanted_ms = INT64_MIN;
    for (size_t index = 0; index < count; index++) {
        if (truth[index].milestone == MP_MILESTONE_PICKED_UP) {
            wanted_ms = INT64_MIN;
            break;
        }
        if (wanted_ms == INT64_MIN && mp_milestone_is_physical(truth[index].milestone))
            wanted_ms = truth[index].event_time_ms;
    }
    assert_int_equal(derived_ms, wanted_ms);
}

/* Payload counts and longest histories per feed, over the workloads checked. */
struct native_totals {
    uint64_t payloads[MP_GEN_FEED_COUNT];
    uint16_t longest[MP_GEN_FEED_COUNT];
    uint32_t milestones[MP_GEN_FEED_COUNT];
};

/* Checks every payload of one workload (all its shipments native where they may be). */
static void check_native_workload(const struct mp_gen_config *config, struct native_totals *totals)
{
    struct mp_gen *gen = create_or_fail(config);
    struct mp_json_parser *parser = NULL;
    assert_int_equal(mp_json_parser_create(MP_GEN_PAYLOAD_SIZE_MAX, &parser), 0);
    static char payload[MP_GEN_PAYLOAD_SIZE_MAX + MP_JSON_PADDING];
    struct native_seen seen = {.derived_ms = malloc(sizeof(int64_t) * config->shipment_count)};
    assert_non_null(seen.derived_ms);
    for (uint32_t shipment = 0; shipment < config->shipment_count; shipment++)
        seen.derived_ms[shipment] = INT64_MIN;
    size_t size = 0;
    struct mp_gen_ref ref;
    enum mp_gen_feed feed;
    int result;
    while ((result = mp_gen_next_payload(gen, payload, MP_GEN_PAYLOAD_SIZE_MAX, &size, &ref, &feed)) == 1) {
        totals->payloads[feed]++;
        if (feed == MP_GEN_FEED_CANONICAL)
            continue;
        if (ref.step_index + 1u > totals->longest[feed])
            totals->longest[feed] = (uint16_t)(ref.step_index + 1u);
        check_payload(parser, gen, payload, size, sizeof payload, &ref, feed, &seen);
    }
    assert_int_equal(result, 0); /* never MP_ETOOBIG */
    for (uint32_t shipment = 0; shipment < config->shipment_count; shipment++) {
        if (mp_gen_feed_derives_pickup(mp_gen_shipment_feed(gen, shipment)))
            check_derived_union(gen, shipment, seen.derived_ms[shipment]);
    }
    for (int index = 0; index < MP_GEN_FEED_COUNT; index++)
        totals->milestones[index] |= seen.milestones[index];
    free(seen.derived_ms);
    mp_json_parser_destroy(parser);
    mp_gen_destroy(gen);
}

/*
 * The key check of the native feeds: every payload of every feed, run
 * through the real adapter, gives exactly the canonical events the
 * generator's truth says (carrier, number, qualifier, milestone, reason,
 * time, damage; derived pickups where the source has no acceptance code),
 * with no reject, no unmapped code and no facts.  Histories go up to
 * MP_GEN_NATIVE_EVENTS_MAX checkpoints, so the payload bound is checked
 * too.  A second workload of FedEx and DHL shipments only, with many
 * voided labels, reaches their rarer branches.
 */
static void test_native_payloads_parse_to_the_truth(void **state)
{
    (void)state;
    struct native_totals totals;
    memset(&totals, 0, sizeof totals);
    struct mp_gen_config config = small_config(11);
    config.native_rate = 1.0;
    config.native_events_max = MP_GEN_NATIVE_EVENTS_MAX;
    config.zipf_s = 1.1;
    /* Busy lifecycles and more of the carriers with feeds of their own: every branch shows. */
    config.rates = (struct mp_gen_rates){0.20, 0.30, 0.15, 0.10, 0.10, 0.10};
    const uint32_t mixed[MP_GEN_CARRIER_COUNT] = {2, 3, 1, 3, 1, 1};
    memcpy(config.carrier_weights, mixed, sizeof mixed);
    check_native_workload(&config, &totals);
    config.seed = 12;
    config.zipf_s = 0.5;
    config.rates.cancelled = 0.40;
    config.rates.lost = 0.05;
    const uint32_t carriers_own[MP_GEN_CARRIER_COUNT] = {0, 1, 0, 1, 0, 0};
    memcpy(config.carrier_weights, carriers_own, sizeof carriers_own);
    check_native_workload(&config, &totals);

    for (int index = MP_GEN_FEED_EASYPOST; index < MP_GEN_FEED_COUNT; index++) {
        print_message("%-10s %6llu payloads, longest history %u, milestones 0x%04x\n",
                      mp_gen_feed_name(index), (unsigned long long)totals.payloads[index],
                      totals.longest[index], totals.milestones[index]);
        assert_true(totals.payloads[index] > 0);
    }
    assert_true(totals.longest[MP_GEN_FEED_SHIPENGINE] > 32);
    /* The new feeds showed every milestone they can say (FedEx no RETURNED_TO_SENDER;
     * DHL no attempt, damage or cancellation, and UNKNOWN for a voided label). */
    uint32_t lifecycle = 0;
    for (int milestone = MP_MILESTONE_LABEL_CREATED; milestone <= MP_MILESTONE_CANCELLED; milestone++)
        lifecycle |= 1u << milestone;
    lifecycle &= ~(1u << MP_MILESTONE_EXPIRED);
    assert_int_equal(totals.milestones[MP_GEN_FEED_SHIPENGINE], lifecycle);
    assert_int_equal(totals.milestones[MP_GEN_FEED_FEDEX],
                     lifecycle & ~(1u << MP_MILESTONE_RETURNED_TO_SENDER));
    assert_int_equal(totals.milestones[MP_GEN_FEED_DHL],
                     (lifecycle | 1u << MP_MILESTONE_UNKNOWN) &
                         ~(1u << MP_MILESTONE_DELIVERY_ATTEMPTED | 1u << MP_MILESTONE_DAMAGED |
                           1u << MP_MILESTONE_CANCELLED));
}

static void test_invalid_configurations(void **state)
{
    (void)state;
    char message[160];
    struct mp_gen_config base = small_config(1);
    struct mp_gen_config config;
    struct mp_gen *gen = (struct mp_gen *)&message; /* must stay untouched */

    config = base;
    config.event_count = 0;
    assert_int_equal(mp_gen_config_check(&config, message, sizeof message), MP_EINVAL);
    assert_int_equal(mp_gen_create(&config, &gen), MP_EINVAL);
    assert_ptr_equal(gen, (struct mp_gen *)&message);

    config = base;
    config.shipment_count = 0;
    assert_int_equal(mp_gen_create(&config, &gen), MP_EINVAL);
    config.shipment_count = MP_GEN_SHIPMENT_COUNT_MAX + 1;
    assert_int_equal(mp_gen_create(&config, &gen), MP_EINVAL);

    config = base;
    config.duplicate_rate = 0.99;
    assert_int_equal(mp_gen_create(&config, &gen), MP_EINVAL);
    config.duplicate_rate = -0.1;
    assert_int_equal(mp_gen_create(&config, &gen), MP_EINVAL);

    config = base;
    config.zipf_s = MP_GEN_ZIPF_MAX + 1;
    assert_int_equal(mp_gen_create(&config, &gen), MP_EINVAL);

    config = base;
    config.shuffle = MP_GEN_SHUFFLE_WINDOW;
    config.shuffle_window = 0;
    assert_int_equal(mp_gen_create(&config, &gen), MP_EINVAL);

    config = base;
    config.rates.lost = 1.5;
    assert_int_equal(mp_gen_create(&config, &gen), MP_EINVAL);

    /* More distinct events than the shipments can hold. */
    config = base;
    config.shipment_count = 1;
    config.event_count = MP_GEN_SHIPMENT_EVENTS_MAX + 1;
    config.duplicate_rate = 0.0;
    assert_int_equal(mp_gen_config_check(&config, message, sizeof message), MP_EINVAL);
    assert_non_null(strstr(message, "shipments"));
    assert_int_equal(mp_gen_create(&config, &gen), MP_EINVAL);
    config.event_count = MP_GEN_SHIPMENT_EVENTS_MAX;
    assert_int_equal(mp_gen_config_check(&config, message, sizeof message), 0);
    assert_ptr_equal(gen, (struct mp_gen *)&message);
}

static void test_short_buffer_consumes_nothing(void **state)
{
    (void)state;
    struct mp_gen_config config = small_config(2);
    struct mp_gen *gen = create_or_fail(&config);
    char small[16];
    char line[MP_GEN_LINE_SIZE_MAX];
    char first[MP_GEN_LINE_SIZE_MAX];
    size_t size = 0;
    assert_int_equal(mp_gen_next(gen, small, sizeof small, &size), MP_ETOOBIG);
    assert_int_equal(mp_gen_next(gen, line, sizeof line, &size), 1);
    memcpy(first, line, size + 1);
    /* Exactly the line and its NUL fit; one byte less does not. */
    mp_gen_rewind(gen);
    size_t needed = size + 1;
    assert_int_equal(mp_gen_next(gen, line, needed - 1, &size), MP_ETOOBIG);
    assert_int_equal(mp_gen_next(gen, line, needed, &size), 1);
    assert_string_equal(line, first);
    mp_gen_destroy(gen);
}

static void test_write_matches_next(void **state)
{
    (void)state;
    struct mp_gen_config config = small_config(4);
    config.event_count = 3000;
    config.shipment_count = 700;
    struct mp_gen *gen = create_or_fail(&config);
    struct lines lines = drain(gen);
    mp_gen_rewind(gen);
    FILE *file = tmpfile();
    assert_non_null(file);
    uint64_t written = 0;
    assert_int_equal(mp_gen_write(gen, file, &written), 0);
    assert_int_equal(written, config.event_count);
    assert_int_equal(fflush(file), 0);
    long file_size = ftell(file);
    assert_int_equal((size_t)file_size, lines.size);
    rewind(file);
    char *bytes = malloc(lines.size);
    assert_non_null(bytes);
    assert_int_equal(fread(bytes, 1, lines.size, file), lines.size);
    assert_memory_equal(bytes, lines.bytes, lines.size);
    free(bytes);
    fclose(file);
    lines_free(&lines);
    mp_gen_destroy(gen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_bytes),
        cmocka_unit_test(test_different_seed_different_bytes),
        cmocka_unit_test(test_requested_counts),
        cmocka_unit_test(test_fewer_events_than_shipments),
        cmocka_unit_test(test_duplicate_fraction),
        cmocka_unit_test(test_duplicates_are_value_copies),
        cmocka_unit_test(test_every_line_is_a_canonical_event),
        cmocka_unit_test(test_shuffles_reorder_the_same_lines),
        cmocka_unit_test(test_truth_matches_the_stream),
        cmocka_unit_test(test_tracking_numbers_are_unique),
        cmocka_unit_test(test_zipf_skews_activity),
        cmocka_unit_test(test_profiles),
        cmocka_unit_test(test_native_payloads),
        cmocka_unit_test(test_native_payloads_parse_to_the_truth),
        cmocka_unit_test(test_invalid_configurations),
        cmocka_unit_test(test_short_buffer_consumes_nothing),
        cmocka_unit_test(test_write_matches_next),
    };
    /* cmocka returns the failure count; meson wants 0 or 1. */
    return cmocka_run_group_tests_name("mp_gen", tests, NULL, NULL) == 0 ? 0 : 1;
}
