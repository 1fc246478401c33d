/*
 * Source adapters: everything around one adapter's walk (mp_adapter.h,
 * mp_adapter_impl.h).
 *
 * An adapter fills events one at a time; each is finished (validated,
 * keyed) as it ends and appended to an arena in compact form (the event
 * up to its used text).  Nothing reaches the sink until the walk and the
 * end-of-document check succeeded, so a payload is reported whole or not
 * at all.  Then each shipment's checkpoints take the payload's signer and
 * weight where they have none, the derived PICKED_UP events are added,
 * and the entries are sorted (UTC instant, source index, derived before
 * the scan it came from; facts events last) and reported.  The arena and the entry table belong
 * to the parser: they grow to the largest payload seen and are reused, so
 * a warm parser does not allocate.
 */

#include "mp_adapter_impl.h"

#include "mp_assert.h"
#include "mp_time.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <algorithm>
#include <new>

namespace od = simdjson::ondemand;
using simdjson::error_code;

static_assert(MP_ADAPTER_CHECKPOINTS_MAX <= UINT32_MAX / 2, "entry indexes fit in 32 bits");

/* ========================================================================
 * Per-parser state
 * ======================================================================== */

enum entry_kind : uint8_t {
    ENTRY_PENDING = 0, /* an event as the adapter ended it, not finished yet */
    ENTRY_EVENT,       /* a finished event */
    ENTRY_REJECT,      /* a reject: its message is stored instead */
};

/* One reported item: where its bytes are in the arena and how it sorts. */
struct adapter_entry {
    int64_t sort_ms;
    uint64_t shipment_hash;
    uint32_t index;          /* source array position given to begin() */
    uint32_t sequence;       /* order of end()/reject(), the last tie-break */
    uint32_t offset;         /* in the arena, 8-byte aligned */
    uint32_t size;
    uint32_t group;          /* shipment group (run::shipment()) it ended in */
    uint8_t kind;            /* entry_kind */
    uint8_t reject_code;     /* enum mp_reject_code for ENTRY_REJECT */
    bool facts;              /* MP_EVENT_FLAG_FACTS: reported last */
    bool derived;            /* a derived PICKED_UP: just before its scan */
};

/* Distinct unmapped codes one payload may report; later ones count as "(more)". */
static const unsigned adapter_unmapped_distinct_max = 32;

/* A shipment group's fields, copied into the arena. */
struct adapter_group {
    uint32_t offset;         /* carrier, tracking number, qualifier back to back */
    uint16_t carrier_size;
    uint16_t tracking_number_size;
    uint16_t qualifier_size;
};

struct adapter_unmapped {
    char code[MP_ADAPTER_CODE_LABEL_SIZE_MAX];
    uint8_t size;
    uint32_t count;
};

/*
 * The arena starts at this size and doubles up to the largest payload's
 * need.  An event may be stored up to three times in one run (as ended,
 * as finished, with the payload's signer and weight), plus the messages
 * and shipment groups: four times the largest events bounds it.
 */
static const size_t adapter_arena_size_initial = 256u << 10;
static const size_t adapter_arena_size_max =
    4 * (size_t)MP_ADAPTER_CHECKPOINTS_MAX *
    ((offsetof(struct mp_event, text) + MP_EVENT_TEXT_SIZE_MAX + 7) & ~(size_t)7);

static_assert(4 * (size_t)MP_ADAPTER_CHECKPOINTS_MAX *
                      (offsetof(struct mp_event, text) + MP_EVENT_TEXT_SIZE_MAX + 7) <
                  UINT32_MAX,
              "arena offsets fit in 32 bits");

struct mp_adapter_state {
    adapter_entry *entries;  /* MP_ADAPTER_CHECKPOINTS_MAX */
    uint32_t entry_count;
    adapter_group *groups;   /* MP_ADAPTER_CHECKPOINTS_MAX + 1 */
    uint32_t group_count;    /* groups closed by run::shipment() */
    mp_adapt::run::amend_fn amend;
    uint64_t amend_context;
    char *arena;
    size_t arena_size;
    size_t arena_used;
    bool out_of_memory;      /* the arena could not grow: the run fails */
    bool too_many;           /* MP_ADAPTER_CHECKPOINTS_MAX reached */
    bool too_deep;           /* skip() met nesting beyond MP_JSON_DEPTH_MAX */
    bool failed;             /* fail() was called */
    bool want_derived;
    bool event_open;
    uint32_t open_index;
    enum mp_source source;
    int64_t received_time_ms;
    uint16_t delivery_id_size;
    char delivery_id[MP_DELIVERY_ID_SIZE_MAX];
    adapter_unmapped unmapped[adapter_unmapped_distinct_max];
    unsigned unmapped_count;
    uint32_t unmapped_more;
    struct mp_event open;    /* the event between begin() and end() */
    struct mp_event report;  /* an entry expanded for the sink */
    char message[MP_ERROR_MESSAGE_SIZE_MAX];
};

struct mp_adapt::run::state {
    mp_adapter_state *shared;
};

void mp_adapter_state_destroy(struct mp_adapter_state *state) noexcept
{
    if (state == NULL)
        return;
    delete[] state->entries;
    delete[] state->groups;
    delete[] state->arena;
    delete state;
}

static mp_adapter_state *adapter_state_get(mp_json_parser *parser)
{
    if (parser->adapter != NULL)
        return parser->adapter;
    mp_adapter_state *state = new (std::nothrow) mp_adapter_state();
    if (state == NULL)
        return NULL;
    state->entries = new (std::nothrow) adapter_entry[MP_ADAPTER_CHECKPOINTS_MAX];
    state->groups = new (std::nothrow) adapter_group[MP_ADAPTER_CHECKPOINTS_MAX + 1];
    state->arena = new (std::nothrow) char[adapter_arena_size_initial];
    if (state->entries == NULL || state->groups == NULL || state->arena == NULL) {
        mp_adapter_state_destroy(state);
        return NULL;
    }
    state->arena_size = adapter_arena_size_initial;
    parser->adapter = state;
    return state;
}

static void adapter_format(char *out, size_t size, const char *format, va_list arguments)
    __attribute__((format(printf, 3, 0)));

static void adapter_format(char *out, size_t size, const char *format, va_list arguments)
{
    int written = vsnprintf(out, size, format, arguments);
    if (written < 0)
        out[0] = '\0';
}

/* Room for `size` more bytes at an 8-byte boundary; false when it cannot grow. */
static bool adapter_arena_reserve(mp_adapter_state *state, size_t size)
{
    size_t at = (state->arena_used + 7) & ~(size_t)7;
    if (at + size <= state->arena_size)
        return true;
    size_t grown = state->arena_size;
    while (grown < at + size && grown < adapter_arena_size_max)
        grown *= 2;
    if (grown < at + size)
        return false;
    char *arena = new (std::nothrow) char[grown];
    if (arena == NULL)
        return false;
    memcpy(arena, state->arena, state->arena_used);
    delete[] state->arena;
    state->arena = arena;
    state->arena_size = grown;
    return true;
}

/* Copies bytes into the arena; false (out_of_memory set) when it cannot grow. */
static bool adapter_store(mp_adapter_state *state, const void *bytes, size_t size,
                          uint32_t *offset)
{
    if (!adapter_arena_reserve(state, size)) {
        state->out_of_memory = true;
        return false;
    }
    size_t at = (state->arena_used + 7) & ~(size_t)7;
    if (size > 0)
        memcpy(state->arena + at, bytes, size);
    state->arena_used = at + size;
    *offset = (uint32_t)at;
    return true;
}

/* Appends bytes as a new entry's payload; returns false (and marks why) when it cannot. */
static bool adapter_append(mp_adapter_state *state, const void *bytes, size_t size,
                           adapter_entry *entry)
{
    if (state->entry_count >= MP_ADAPTER_CHECKPOINTS_MAX) {
        state->too_many = true;
        return false;
    }
    if (!adapter_store(state, bytes, size, &entry->offset))
        return false;
    entry->size = (uint32_t)size;
    entry->sequence = state->entry_count;
    state->entries[state->entry_count++] = *entry;
    return true;
}

/* An event entry's compact bytes: the event up to its used text. */
static const mp_event *adapter_entry_event(const mp_adapter_state *state,
                                           const adapter_entry *entry)
{
    MP_ASSERT(entry->kind == ENTRY_EVENT || entry->kind == ENTRY_PENDING);
    return reinterpret_cast<const mp_event *>(state->arena + entry->offset);
}

static size_t adapter_event_size(const mp_event *event)
{
    return offsetof(struct mp_event, text) + event->text_used;
}

/* ========================================================================
 * The run: what adapters call
 * ======================================================================== */

namespace mp_adapt {

mp_event *run::begin(uint32_t index)
{
    mp_adapter_state *state = impl->shared;
    MP_ASSERT(!state->event_open);
    if (state->entry_count >= MP_ADAPTER_CHECKPOINTS_MAX) {
        state->too_many = true;
        return nullptr;
    }
    mp_event *event = &state->open;
    mp_event_init(event, state->source, state->received_time_ms);
    state->event_open = true;
    state->open_index = index;
    return event;
}

/* Stores a reject entry for the open event with the message in state->message. */
static void run_store_reject(mp_adapter_state *state, enum mp_reject_code code)
{
    adapter_entry entry = {};
    entry.kind = ENTRY_REJECT;
    entry.reject_code = (uint8_t)code;
    entry.index = state->open_index;
    entry.sort_ms = state->open.event_time_ms;
    entry.group = state->group_count;
    adapter_append(state, state->message, strlen(state->message) + 1, &entry);
}

void run::end(mp_event *event, int64_t sort_ms)
{
    mp_adapter_state *state = impl->shared;
    MP_ASSERT(state->event_open && event == &state->open);
    state->event_open = false;
    adapter_entry entry = {};
    entry.kind = ENTRY_PENDING;
    entry.index = state->open_index;
    entry.sort_ms = sort_ms;
    entry.group = state->group_count;
    entry.facts = (event->flags & MP_EVENT_FLAG_FACTS) != 0;
    adapter_append(state, event, adapter_event_size(event), &entry);
}

void run::shipment(std::string_view carrier, std::string_view tracking_number,
                   std::string_view qualifier)
{
    mp_adapter_state *state = impl->shared;
    if (state->group_count >= MP_ADAPTER_CHECKPOINTS_MAX) {
        state->too_many = true;
        return;
    }
    /* Over-long values are cut here and refused by mp_event_set_text() later. */
    size_t carrier_size = std::min(carrier.size(), (size_t)MP_CARRIER_SIZE_MAX + 1);
    size_t number_size = std::min(tracking_number.size(), (size_t)MP_TRACKING_NUMBER_SIZE_MAX + 1);
    size_t qualifier_size = std::min(qualifier.size(), (size_t)MP_QUALIFIER_SIZE_MAX + 1);
    char joined[MP_CARRIER_SIZE_MAX + MP_TRACKING_NUMBER_SIZE_MAX + MP_QUALIFIER_SIZE_MAX + 3];
    /* An absent value may have a null data(): memcpy must not see it. */
    if (carrier_size > 0)
        memcpy(joined, carrier.data(), carrier_size);
    if (number_size > 0)
        memcpy(joined + carrier_size, tracking_number.data(), number_size);
    if (qualifier_size > 0)
        memcpy(joined + carrier_size + number_size, qualifier.data(), qualifier_size);
    adapter_group *group = &state->groups[state->group_count];
    if (!adapter_store(state, joined, carrier_size + number_size + qualifier_size,
                       &group->offset))
        return;
    group->carrier_size = (uint16_t)carrier_size;
    group->tracking_number_size = (uint16_t)number_size;
    group->qualifier_size = (uint16_t)qualifier_size;
    state->group_count++;
}

void run::amend(amend_fn fn, uint64_t context)
{
    impl->shared->amend = fn;
    impl->shared->amend_context = context;
}

void run::reject(mp_event *event, enum mp_reject_code code, const char *format, ...)
{
    mp_adapter_state *state = impl->shared;
    MP_ASSERT(state->event_open && event == &state->open);
    MP_ASSERT(code != MP_REJECT_NONE && code < MP_REJECT_CODE_COUNT);
    state->event_open = false;
    va_list arguments;
    va_start(arguments, format);
    adapter_format(state->message, sizeof state->message, format, arguments);
    va_end(arguments);
    run_store_reject(state, code);
}

enum mp_reject_code run::text(mp_event *event, mp_slice *field, std::string_view value,
                              size_t size_max)
{
    return mp_event_set_text(event, field, value.data(), value.size(), size_max);
}

void run::unmapped(std::string_view code)
{
    mp_adapter_state *state = impl->shared;
    size_t size = std::min(code.size(), (size_t)MP_ADAPTER_CODE_LABEL_SIZE_MAX);
    for (unsigned at = 0; at < state->unmapped_count; at++) {
        adapter_unmapped *known = &state->unmapped[at];
        if (known->size == size && memcmp(known->code, code.data(), size) == 0) {
            known->count++;
            return;
        }
    }
    if (state->unmapped_count == adapter_unmapped_distinct_max) {
        state->unmapped_more++;
        return;
    }
    adapter_unmapped *added = &state->unmapped[state->unmapped_count++];
    memcpy(added->code, code.data(), size);
    added->size = (uint8_t)size;
    added->count = 1;
}

void run::want_derived_pickup()
{
    impl->shared->want_derived = true;
}

void run::delivery_id(std::string_view id)
{
    mp_adapter_state *state = impl->shared;
    /* Longer than any source writes: kept cut rather than losing the audit trail. */
    size_t size = std::min(id.size(), (size_t)MP_DELIVERY_ID_SIZE_MAX);
    memcpy(state->delivery_id, id.data(), size);
    state->delivery_id_size = (uint16_t)size;
}

int run::fail(const char *format, ...)
{
    mp_adapter_state *state = impl->shared;
    va_list arguments;
    va_start(arguments, format);
    adapter_format(state->message, sizeof state->message, format, arguments);
    va_end(arguments);
    state->failed = true;
    return MP_EPARSE;
}

int run::fail_json(simdjson::error_code error)
{
    if (impl->shared->too_deep)
        return fail("the body is not valid JSON: it nests too deeply");
    return fail("the body is not valid JSON: %s", json_error_phrase(error));
}

simdjson::error_code run::skip(od::value &value)
{
    /*
     * Adapters do not track how deep they are; counting from level 2
     * keeps the recursion bounded all the same (the few levels an adapter
     * descends itself are fixed by its field paths).
     */
    bool too_deep = false;
    error_code error = json_walk_value(value, 2, &too_deep);
    if (too_deep) {
        impl->shared->too_deep = true;
        return simdjson::DEPTH_ERROR;
    }
    return error;
}

enum mp_source run::source() const
{
    return impl->shared->source;
}

int64_t run::received_time_ms() const
{
    return impl->shared->received_time_ms;
}

/* ========================================================================
 * Code tables
 * ======================================================================== */

static char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

const code *lookup(const code *table, size_t count, std::string_view name, bool fold_case)
{
    for (size_t at = 0; at < count; at++) {
        const char *candidate = table[at].name;
        size_t size = strlen(candidate);
        if (size != name.size())
            continue;
        bool same = true;
        for (size_t i = 0; i < size && same; i++)
            same = fold_case ? ascii_lower(candidate[i]) == ascii_lower(name[i])
                             : candidate[i] == name[i];
        if (same)
            return &table[at];
    }
    return nullptr;
}

/* ========================================================================
 * Times (FORMATS.md 10)
 * ======================================================================== */

static const int64_t ms_per_minute = 60 * 1000;
static const int64_t ms_per_day = 24 * 60 * ms_per_minute;

bool parse_time(std::string_view text, int16_t default_offset_min, instant *out)
{
    struct mp_time_parsed parsed;
    if (text.empty() || mp_time_parse(text.data(), text.size(), &parsed) != 0)
        return false;
    instant result = {};
    result.date_only = parsed.date_only;
    if (parsed.date_only) {
        /* Midnight UTC of the day: a date is never shifted across days. */
        result.utc_ms = parsed.utc_ms;
        result.offset_min = 0;
        result.offset_assumed = true;
    } else if (parsed.has_offset) {
        result.utc_ms = parsed.utc_ms;
        result.offset_min = parsed.offset_min;
    } else {
        result.utc_ms = parsed.utc_ms - (int64_t)default_offset_min * ms_per_minute;
        result.offset_min = default_offset_min;
        result.offset_assumed = true;
    }
    *out = result;
    return true;
}

bool parse_local_time(std::string_view text, std::string_view country,
                      int16_t default_offset_min, instant *out)
{
    instant result;
    if (!parse_time(text, default_offset_min, &result))
        return false;
    if (result.offset_assumed && !result.date_only) {
        /* The wall-clock time read as UTC: DST changes are hours apart from it. */
        int64_t wall_ms = result.utc_ms + (int64_t)result.offset_min * ms_per_minute;
        int16_t offset_min;
        if (country_offset(country, wall_ms, &offset_min)) {
            /* Recheck at the instant itself, so the hour after a change is right. */
            int16_t at_instant;
            if (country_offset(country, wall_ms - (int64_t)offset_min * ms_per_minute,
                               &at_instant))
                offset_min = at_instant;
            result.utc_ms = wall_ms - (int64_t)offset_min * ms_per_minute;
            result.offset_min = offset_min;
        }
    }
    *out = result;
    return true;
}

static bool digits_value(std::string_view text, unsigned *value)
{
    if (text.empty() || text.size() > 9)
        return false;
    unsigned result = 0;
    for (char c : text) {
        if (c < '0' || c > '9')
            return false;
        result = result * 10 + (unsigned)(c - '0');
    }
    *value = result;
    return true;
}

static bool days_in_month_ok(unsigned year, unsigned month, unsigned day)
{
    static const unsigned days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12 || day < 1)
        return false;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    unsigned limit = days[month - 1] + (month == 2 && leap ? 1 : 0);
    return day <= limit;
}

bool parse_ups_time(std::string_view date, std::string_view time, std::string_view offset,
                    int16_t default_offset_min, instant *out)
{
    unsigned year, month, day;
    if (date.size() != 8 || !digits_value(date.substr(0, 4), &year) ||
        !digits_value(date.substr(4, 2), &month) || !digits_value(date.substr(6, 2), &day) ||
        !days_in_month_ok(year, month, day))
        return false;

    /* HHMMSS, HH:MM:SS, or HMMSS with its leading zero dropped. */
    char clock[6];
    if (time.size() == 8 && time[2] == ':' && time[5] == ':') {
        const char from[6] = {time[0], time[1], time[3], time[4], time[6], time[7]};
        memcpy(clock, from, 6);
    } else if (time.size() == 6) {
        memcpy(clock, time.data(), 6);
    } else if (time.size() == 5) {
        clock[0] = '0';
        memcpy(clock + 1, time.data(), 5);
    } else {
        return false;
    }
    unsigned hour, minute, second;
    std::string_view digits(clock, 6);
    if (!digits_value(digits.substr(0, 2), &hour) || !digits_value(digits.substr(2, 2), &minute) ||
        !digits_value(digits.substr(4, 2), &second) || hour > 23 || minute > 59 || second > 59)
        return false;

    instant result = {};
    int64_t days = mp_time_days_from_civil(year, month, day);
    int64_t wall_ms = days * ms_per_day + ((int64_t)hour * 3600 + minute * 60 + second) * 1000;
    if (offset.empty()) {
        result.offset_min = default_offset_min;
        result.offset_assumed = true;
    } else {
        /* ±HH:MM (Track API) or ±HH.MM (Track Alert). */
        unsigned offset_hour, offset_minute;
        if (offset.size() != 6 || (offset[0] != '+' && offset[0] != '-') ||
            (offset[3] != ':' && offset[3] != '.') ||
            !digits_value(offset.substr(1, 2), &offset_hour) ||
            !digits_value(offset.substr(4, 2), &offset_minute) || offset_hour > 23 ||
            offset_minute > 59)
            return false;
        int minutes = (int)(offset_hour * 60 + offset_minute);
        result.offset_min = (int16_t)(offset[0] == '-' ? -minutes : minutes);
    }
    result.utc_ms = wall_ms - (int64_t)result.offset_min * ms_per_minute;
    *out = result;
    return true;
}

bool parse_epoch_seconds(std::string_view digits, int64_t *utc_ms)
{
    /* 12 digits reach the year 33658: far enough, and never overflows. */
    if (digits.empty() || digits.size() > 12)
        return false;
    int64_t seconds = 0;
    for (char c : digits) {
        if (c < '0' || c > '9')
            return false;
        seconds = seconds * 10 + (c - '0');
    }
    *utc_ms = seconds * 1000;
    return true;
}

/* ---- single-zone countries ------------------------------------------------ */

enum dst_rule : uint8_t {
    DST_NONE = 0,
    DST_EU,   /* last Sunday of March 01:00 UTC to last Sunday of October 01:00 UTC */
    DST_US,   /* second Sunday of March 02:00 local to first Sunday of November 02:00 local */
};

struct country_zone {
    char iso2[3];
    char iso3[4];
    int16_t standard_offset_min;
    uint8_t dst;
};

/*
 * Countries with one time zone on their whole territory (overseas parts
 * with their own ISO code do not count), with the rules in force since
 * 2023.  Countries with several zones (US, CA, MX, BR, RU, AU, ES, PT,
 * ID, KZ, CL, EC, NZ, ...) and those with irregular rules (IL, EG, MA,
 * PY, LB, ...) are left out on purpose: their offset is not known from
 * the country alone.
 */
static const country_zone country_zones[] = {
    {"AD", "AND", 60, DST_EU},  {"AE", "ARE", 240, DST_NONE}, {"AF", "AFG", 270, DST_NONE},
    {"AL", "ALB", 60, DST_EU},  {"AM", "ARM", 240, DST_NONE}, {"AR", "ARG", -180, DST_NONE},
    {"AT", "AUT", 60, DST_EU},  {"AZ", "AZE", 240, DST_NONE}, {"BA", "BIH", 60, DST_EU},
    {"BD", "BGD", 360, DST_NONE}, {"BE", "BEL", 60, DST_EU}, {"BG", "BGR", 120, DST_EU},
    {"BH", "BHR", 180, DST_NONE}, {"BM", "BMU", -240, DST_US}, {"BS", "BHS", -300, DST_US},
    {"BY", "BLR", 180, DST_NONE}, {"CH", "CHE", 60, DST_EU}, {"CN", "CHN", 480, DST_NONE},
    {"CO", "COL", -300, DST_NONE}, {"CR", "CRI", -360, DST_NONE}, {"CY", "CYP", 120, DST_EU},
    {"CZ", "CZE", 60, DST_EU},  {"DE", "DEU", 60, DST_EU},  {"DK", "DNK", 60, DST_EU},
    {"DO", "DOM", -240, DST_NONE}, {"DZ", "DZA", 60, DST_NONE}, {"EE", "EST", 120, DST_EU},
    {"ET", "ETH", 180, DST_NONE}, {"FI", "FIN", 120, DST_EU}, {"FR", "FRA", 60, DST_EU},
    {"GB", "GBR", 0, DST_EU},   {"GE", "GEO", 240, DST_NONE}, {"GH", "GHA", 0, DST_NONE},
    {"GR", "GRC", 120, DST_EU}, {"GT", "GTM", -360, DST_NONE}, {"HK", "HKG", 480, DST_NONE},
    {"HN", "HND", -360, DST_NONE}, {"HR", "HRV", 60, DST_EU}, {"HT", "HTI", -300, DST_US},
    {"HU", "HUN", 60, DST_EU},  {"IE", "IRL", 0, DST_EU},   {"IN", "IND", 330, DST_NONE},
    {"IQ", "IRQ", 180, DST_NONE}, {"IR", "IRN", 210, DST_NONE}, {"IS", "ISL", 0, DST_NONE},
    {"IT", "ITA", 60, DST_EU},  {"JM", "JAM", -300, DST_NONE}, {"JO", "JOR", 180, DST_NONE},
    {"JP", "JPN", 540, DST_NONE}, {"KE", "KEN", 180, DST_NONE}, {"KH", "KHM", 420, DST_NONE},
    {"KR", "KOR", 540, DST_NONE}, {"KW", "KWT", 180, DST_NONE}, {"LI", "LIE", 60, DST_EU},
    {"LK", "LKA", 330, DST_NONE}, {"LT", "LTU", 120, DST_EU}, {"LU", "LUX", 60, DST_EU},
    {"LV", "LVA", 120, DST_EU}, {"MC", "MCO", 60, DST_EU},  {"MD", "MDA", 120, DST_EU},
    {"ME", "MNE", 60, DST_EU},  {"MK", "MKD", 60, DST_EU},  {"MO", "MAC", 480, DST_NONE},
    {"MT", "MLT", 60, DST_EU},  {"MY", "MYS", 480, DST_NONE}, {"NG", "NGA", 60, DST_NONE},
    {"NI", "NIC", -360, DST_NONE}, {"NL", "NLD", 60, DST_EU}, {"NO", "NOR", 60, DST_EU},
    {"NP", "NPL", 345, DST_NONE}, {"OM", "OMN", 240, DST_NONE}, {"PA", "PAN", -300, DST_NONE},
    {"PE", "PER", -300, DST_NONE}, {"PH", "PHL", 480, DST_NONE}, {"PK", "PAK", 300, DST_NONE},
    {"PL", "POL", 60, DST_EU},  {"PR", "PRI", -240, DST_NONE}, {"QA", "QAT", 180, DST_NONE},
    {"RO", "ROU", 120, DST_EU}, {"RS", "SRB", 60, DST_EU},  {"SA", "SAU", 180, DST_NONE},
    {"SE", "SWE", 60, DST_EU},  {"SG", "SGP", 480, DST_NONE}, {"SI", "SVN", 60, DST_EU},
    {"SK", "SVK", 60, DST_EU},  {"SM", "SMR", 60, DST_EU},  {"SV", "SLV", -360, DST_NONE},
    {"TH", "THA", 420, DST_NONE}, {"TN", "TUN", 60, DST_NONE}, {"TR", "TUR", 180, DST_NONE},
    {"TW", "TWN", 480, DST_NONE}, {"UA", "UKR", 120, DST_EU}, {"UY", "URY", -180, DST_NONE},
    {"UZ", "UZB", 300, DST_NONE}, {"VA", "VAT", 60, DST_EU}, {"VE", "VEN", -240, DST_NONE},
    {"VN", "VNM", 420, DST_NONE}, {"ZA", "ZAF", 120, DST_NONE},
};

/* Days since 1970-01-01 of the last Sunday of a month, or the nth Sunday (1-based). */
static int64_t sunday_of_month(int64_t year, unsigned month, int nth)
{
    if (nth > 0) {
        int64_t first = mp_time_days_from_civil(year, month, 1);
        int64_t weekday = ((first + 4) % 7 + 7) % 7; /* 0 = Sunday; 1970-01-01 was a Thursday */
        return first + (7 - weekday) % 7 + 7 * (nth - 1);
    }
    int64_t next_first = month == 12 ? mp_time_days_from_civil(year + 1, 1, 1)
                                     : mp_time_days_from_civil(year, month + 1, 1);
    int64_t last = next_first - 1;
    int64_t weekday = ((last + 4) % 7 + 7) % 7;
    return last - weekday;
}

static int64_t year_of(int64_t utc_ms)
{
    int64_t days = utc_ms >= 0 ? utc_ms / ms_per_day : -((-utc_ms + ms_per_day - 1) / ms_per_day);
    /* Civil-from-days (Howard Hinnant's algorithm), year only. */
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t day_of_era = days - era * 146097;
    int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 -
                           day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t month_index = (5 * day_of_year + 2) / 153;
    return year_of_era + era * 400 + (month_index >= 10 ? 1 : 0);
}

static bool in_daylight_time(uint8_t rule, int16_t standard_offset_min, int64_t utc_ms)
{
    int64_t year = year_of(utc_ms);
    int64_t start_ms, end_ms;
    if (rule == DST_EU) {
        start_ms = sunday_of_month(year, 3, 0) * ms_per_day + 3600 * 1000;
        end_ms = sunday_of_month(year, 10, 0) * ms_per_day + 3600 * 1000;
    } else if (rule == DST_US) {
        int64_t two_am = 2 * 3600 * 1000;
        start_ms = sunday_of_month(year, 3, 2) * ms_per_day + two_am -
                   (int64_t)standard_offset_min * ms_per_minute;
        end_ms = sunday_of_month(year, 11, 1) * ms_per_day + two_am -
                 (int64_t)(standard_offset_min + 60) * ms_per_minute;
    } else {
        return false;
    }
    return utc_ms >= start_ms && utc_ms < end_ms;
}

bool country_offset(std::string_view country, int64_t utc_ms, int16_t *offset_min)
{
    if (country.size() != 2 && country.size() != 3)
        return false;
    char upper[3];
    for (size_t at = 0; at < country.size(); at++) {
        char c = country[at];
        upper[at] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
    }
    for (const country_zone &zone : country_zones) {
        const char *code = country.size() == 2 ? zone.iso2 : zone.iso3;
        if (memcmp(code, upper, country.size()) != 0)
            continue;
        int16_t offset = zone.standard_offset_min;
        if (in_daylight_time(zone.dst, zone.standard_offset_min, utc_ms))
            offset = (int16_t)(offset + 60);
        *offset_min = offset;
        return true;
    }
    return false;
}

} // namespace mp_adapt

/* ========================================================================
 * Dispatch
 * ======================================================================== */

/*
 * Each adapter lives in its own file; parsers/meson.build compiles the
 * ones present and defines MP_ADAPT_HAVE_<NAME> for each, so a source
 * whose adapter is not built answers MP_EPARSE instead of breaking the
 * build.
 */
static mp_adapt::entry adapter_entry_of(enum mp_source source)
{
    switch (source) {
#ifdef MP_ADAPT_HAVE_EASYPOST
    case MP_SOURCE_EASYPOST: return mp_adapt::easypost;
#endif
#ifdef MP_ADAPT_HAVE_AFTERSHIP
    case MP_SOURCE_AFTERSHIP: return mp_adapt::aftership;
#endif
#ifdef MP_ADAPT_HAVE_SHIPPO
    case MP_SOURCE_SHIPPO: return mp_adapt::shippo;
#endif
#ifdef MP_ADAPT_HAVE_SHIPENGINE
    case MP_SOURCE_SHIPENGINE: return mp_adapt::shipengine;
#endif
#ifdef MP_ADAPT_HAVE_UPS
    case MP_SOURCE_UPS: return mp_adapt::ups;
#endif
#ifdef MP_ADAPT_HAVE_FEDEX
    case MP_SOURCE_FEDEX: return mp_adapt::fedex;
#endif
#ifdef MP_ADAPT_HAVE_DHL
    case MP_SOURCE_DHL: return mp_adapt::dhl;
#endif
#ifdef MP_ADAPT_HAVE_17TRACK
    case MP_SOURCE_17TRACK: return mp_adapt::seventeen_track;
#endif
    default: return nullptr;
    }
}

/* ========================================================================
 * After the walk: derived pickups, order, reporting
 * ======================================================================== */

/* Sets a text field the adapter left empty; a value over its bound is a reject. */
static enum mp_reject_code adapter_fill(mp_event *event, mp_slice *field, const char *bytes,
                                        size_t size, size_t size_max, const char *name,
                                        char *message, size_t message_size)
{
    if (field->size > 0 || size == 0)
        return MP_REJECT_NONE;
    if (mp_event_set_text(event, field, bytes, size, size_max) == MP_REJECT_NONE)
        return MP_REJECT_NONE;
    snprintf(message, message_size, "field \"%s\" is longer than %zu bytes", name, size_max);
    return MP_REJECT_TOO_BIG;
}

/*
 * Finishes every pending entry: the shipment fields of its group and the
 * delivery id where the adapter left them empty, the adapter's amend rule,
 * then mp_event_finish().  Each finished event is stored again (its text
 * grew); a refused one becomes a reject in its place.  Returns false when
 * the arena cannot grow.
 */
static bool adapter_finish_all(mp_adapter_state *state)
{
    mp_event *event = &state->report;
    for (uint32_t at = 0; at < state->entry_count; at++) {
        adapter_entry *entry = &state->entries[at];
        if (entry->kind != ENTRY_PENDING)
            continue;
        mp_event_copy(event, adapter_entry_event(state, entry));
        enum mp_reject_code code = MP_REJECT_NONE;
        char *message = state->message;
        size_t message_size = sizeof state->message;
        if (entry->group < state->group_count) {
            const adapter_group *group = &state->groups[entry->group];
            const char *bytes = state->arena + group->offset;
            code = adapter_fill(event, &event->carrier, bytes, group->carrier_size,
                                MP_CARRIER_SIZE_MAX, "carrier", message, message_size);
            bytes += group->carrier_size;
            if (code == MP_REJECT_NONE)
                code = adapter_fill(event, &event->tracking_number, bytes,
                                    group->tracking_number_size, MP_TRACKING_NUMBER_SIZE_MAX,
                                    "tracking_number", message, message_size);
            bytes += group->tracking_number_size;
            if (code == MP_REJECT_NONE)
                code = adapter_fill(event, &event->qualifier, bytes, group->qualifier_size,
                                    MP_QUALIFIER_SIZE_MAX, "qualifier", message, message_size);
        }
        if (code == MP_REJECT_NONE)
            code = adapter_fill(event, &event->delivery_id, state->delivery_id,
                                state->delivery_id_size, MP_DELIVERY_ID_SIZE_MAX,
                                "delivery_id", message, message_size);
        if (entry->facts) {
            /* Facts are not a checkpoint: no milestone, whatever the adapter left. */
            event->milestone = MP_MILESTONE_UNKNOWN;
            event->reason = MP_REASON_NONE;
            event->flags |= MP_EVENT_FLAG_HAS_STATUS;
        } else if (state->amend != nullptr) {
            state->amend(event, state->amend_context);
        }
        if (code == MP_REJECT_NONE)
            code = mp_event_finish(event, message, message_size);
        if (code != MP_REJECT_NONE) {
            entry->kind = ENTRY_REJECT;
            entry->reject_code = (uint8_t)code;
            if (!adapter_store(state, message, strlen(message) + 1, &entry->offset))
                return false;
            entry->size = (uint32_t)strlen(message) + 1;
            continue;
        }
        if (!adapter_store(state, event, adapter_event_size(event), &entry->offset))
            return false;
        entry->kind = ENTRY_EVENT;
        entry->size = (uint32_t)adapter_event_size(event);
        entry->shipment_hash = event->shipment_hash;
    }
    return true;
}

/* Copies a text field of `from` into `to`. */
static void adapter_copy_text(mp_event *to, mp_slice *to_field, const mp_event *from,
                              mp_slice from_field)
{
    mp_event_set_text(to, to_field, mp_event_text(from, from_field), from_field.size,
                      MP_EVENT_TEXT_SIZE_MAX);
}

/*
 * The derived PICKED_UP of FORMATS.md 1.4 for `scan`: its shipment, time,
 * offset, place, delivery id, raw status, description and weight; raw
 * code `derived`; no event id (a source's per-checkpoint id belongs to the
 * scan), reason, money, weight or signer.
 */
static void adapter_build_derived(mp_event *derived, const mp_event *scan)
{
    mp_event_init(derived, (enum mp_source)scan->source, scan->received_time_ms);
    adapter_copy_text(derived, &derived->carrier, scan, scan->carrier);
    adapter_copy_text(derived, &derived->tracking_number, scan, scan->tracking_number);
    adapter_copy_text(derived, &derived->qualifier, scan, scan->qualifier);
    adapter_copy_text(derived, &derived->delivery_id, scan, scan->delivery_id);
    adapter_copy_text(derived, &derived->source_status, scan, scan->source_status);
    adapter_copy_text(derived, &derived->source_substatus, scan, scan->source_substatus);
    mp_event_set_text(derived, &derived->source_code, "derived", 7, MP_SOURCE_STATUS_SIZE_MAX);
    adapter_copy_text(derived, &derived->description, scan, scan->description);
    adapter_copy_text(derived, &derived->city, scan, scan->city);
    adapter_copy_text(derived, &derived->region, scan, scan->region);
    adapter_copy_text(derived, &derived->country, scan, scan->country);
    adapter_copy_text(derived, &derived->postal_code, scan, scan->postal_code);
    derived->event_time_ms = scan->event_time_ms;
    derived->utc_offset_min = scan->utc_offset_min;
    adapter_copy_text(derived, &derived->weight_unit, scan, scan->weight_unit);
    derived->weight_value = scan->weight_value;
    derived->milestone = MP_MILESTONE_PICKED_UP;
    derived->reason = MP_REASON_NONE;
    derived->flags = (uint8_t)(MP_EVENT_FLAG_HAS_TIME | MP_EVENT_FLAG_HAS_STATUS |
                               (scan->flags & (MP_EVENT_FLAG_OFFSET_ASSUMED |
                                               MP_EVENT_FLAG_HAS_WEIGHT)));
}

/*
 * Reporting order: (sort time, index), derived before its scan; facts
 * last, since the record takes facts only for a shipment that already
 * has an accepted event (docs/semantics.md "Payload facts").
 */
static bool adapter_entry_before(const adapter_entry &a, const adapter_entry &b)
{
    if (a.facts != b.facts)
        return b.facts;
    if (a.sort_ms != b.sort_ms)
        return a.sort_ms < b.sort_ms;
    if (a.index != b.index)
        return a.index < b.index;
    if (a.derived != b.derived)
        return a.derived;
    return a.sequence < b.sequence;
}

static int adapter_compare_keys(const mp_adapter_state *state, const adapter_entry &a,
                                const adapter_entry &b)
{
    if (a.shipment_hash != b.shipment_hash)
        return a.shipment_hash < b.shipment_hash ? -1 : 1;
    const mp_event *x = adapter_entry_event(state, &a);
    const mp_event *y = adapter_entry_event(state, &b);
    if (x->shipment_key_size != y->shipment_key_size)
        return x->shipment_key_size < y->shipment_key_size ? -1 : 1;
    return memcmp(x->shipment_key, y->shipment_key, x->shipment_key_size);
}

/*
 * Gives a checkpoint the payload's signer (DELIVERED only) and weight
 * where it has none: a confirmation is written when its event is
 * applied, before the facts event (tests/expected/README.md).  The
 * changed event is stored again; its identity does not depend on them.
 */
static bool adapter_take_facts(mp_adapter_state *state, adapter_entry *entry,
                               const mp_event *facts)
{
    const mp_event *event = adapter_entry_event(state, entry);
    bool signer = facts->signer.size > 0 && event->signer.size == 0 &&
                  event->milestone == MP_MILESTONE_DELIVERED;
    bool weight = (facts->flags & MP_EVENT_FLAG_HAS_WEIGHT) &&
                  !(event->flags & MP_EVENT_FLAG_HAS_WEIGHT);
    if (!signer && !weight)
        return true;
    mp_event *changed = &state->report;
    mp_event_copy(changed, event);
    if (signer)
        adapter_copy_text(changed, &changed->signer, facts, facts->signer);
    if (weight) {
        adapter_copy_text(changed, &changed->weight_unit, facts, facts->weight_unit);
        changed->weight_value = facts->weight_value;
        changed->flags |= MP_EVENT_FLAG_HAS_WEIGHT;
    }
    if (!adapter_store(state, changed, adapter_event_size(changed), &entry->offset))
        return false;
    entry->size = (uint32_t)adapter_event_size(changed);
    return true;
}

/*
 * Per shipment in the payload: its checkpoints take the facts event's
 * signer and weight (adapter_take_facts), and when the adapter asked for
 * it and the shipment has a physical scan but no PICKED_UP of its own,
 * one derived PICKED_UP is added at its earliest physical scan.  Returns
 * false when the arena or the entry table is full (the run fails).
 */
static bool adapter_shipments(mp_adapter_state *state)
{
    /* Group the events by shipment, each group in reporting order (facts last). */
    uint32_t count = state->entry_count;
    adapter_entry *entries = state->entries;
    uint32_t events = 0;
    for (uint32_t at = 0; at < count; at++) {
        if (entries[at].kind == ENTRY_EVENT)
            std::swap(entries[events++], entries[at]);
    }
    std::sort(entries, entries + events, [state](const adapter_entry &a, const adapter_entry &b) {
        int keys = adapter_compare_keys(state, a, b);
        return keys != 0 ? keys < 0 : adapter_entry_before(a, b);
    });
    uint32_t group = 0;
    while (group < events) {
        uint32_t next = group + 1;
        while (next < events && adapter_compare_keys(state, entries[group], entries[next]) == 0)
            next++;
        /* The facts event sorts last in its group; several: the last one wins. */
        const mp_event *facts = nullptr;
        if (entries[next - 1].facts)
            facts = adapter_entry_event(state, &entries[next - 1]);
        uint32_t earliest = next;
        bool has_pickup = false;
        for (uint32_t at = group; at < next; at++) {
            if (entries[at].facts)
                continue;
            if (facts != nullptr) {
                /* The arena may move while the entry is stored again. */
                size_t facts_offset = (size_t)((const char *)facts - state->arena);
                if (!adapter_take_facts(state, &entries[at], facts))
                    return false;
                facts = reinterpret_cast<const mp_event *>(state->arena + facts_offset);
            }
            const mp_event *event = adapter_entry_event(state, &entries[at]);
            if (event->milestone == MP_MILESTONE_PICKED_UP)
                has_pickup = true;
            if (earliest == next &&
                mp_milestone_is_physical((enum mp_milestone)event->milestone) &&
                !(event->flags & MP_EVENT_FLAG_LOGICAL_SCAN))
                earliest = at;
        }
        if (state->want_derived && !has_pickup && earliest != next) {
            adapter_entry entry = entries[earliest];
            adapter_build_derived(&state->report, adapter_entry_event(state, &entry));
            char message[MP_ERROR_MESSAGE_SIZE_MAX];
            enum mp_reject_code code = mp_event_finish(&state->report, message, sizeof message);
            MP_ASSERT(code == MP_REJECT_NONE); /* its scan passed the same checks */
            entry.derived = true;
            if (!adapter_append(state, &state->report, adapter_event_size(&state->report),
                                &entry))
                return false;
        }
        group = next;
    }
    return true;
}

static int adapter_report(mp_adapter_state *state, const struct mp_adapter_sink *sink,
                          const char *raw, size_t raw_size, struct mp_json_summary *summary)
{
    for (uint32_t at = 0; at < state->entry_count; at++) {
        const adapter_entry *entry = &state->entries[at];
        int stop = 0;
        if (entry->kind == ENTRY_EVENT) {
            summary->events++;
            summary->records++;
            mp_event_copy(&state->report, adapter_entry_event(state, entry));
            if (sink->events.on_event != NULL)
                stop = sink->events.on_event(sink->events.context, entry->index, &state->report,
                                             raw, raw_size);
        } else {
            summary->rejects++;
            summary->records++;
            if (sink->events.on_reject != NULL)
                stop = sink->events.on_reject(sink->events.context, entry->index,
                                              (enum mp_reject_code)entry->reject_code,
                                              state->arena + entry->offset, raw, raw_size);
        }
        if (stop != 0)
            return stop;
    }
    if (sink->on_unmapped != NULL) {
        for (unsigned at = 0; at < state->unmapped_count; at++) {
            const adapter_unmapped *unmapped = &state->unmapped[at];
            for (uint32_t n = 0; n < unmapped->count; n++)
                sink->on_unmapped(sink->events.context, state->source, unmapped->code,
                                  unmapped->size);
        }
        for (uint32_t n = 0; n < state->unmapped_more; n++)
            sink->on_unmapped(sink->events.context, state->source, "(more)", 6);
    }
    return 0;
}

static int adapter_error(char *message, size_t message_size, int result, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

static int adapter_error(char *message, size_t message_size, int result, const char *format, ...)
{
    if (message != NULL && message_size > 0) {
        va_list arguments;
        va_start(arguments, format);
        adapter_format(message, message_size, format, arguments);
        va_end(arguments);
    }
    return result;
}

extern "C" int mp_adapter_parse(struct mp_json_parser *parser, enum mp_source source,
                                const char *buffer, size_t size, size_t capacity,
                                uint32_t events_max, int64_t received_time_ms,
                                const struct mp_adapter_sink *sink,
                                struct mp_json_summary *summary, char *message,
                                size_t message_size) noexcept
{
    MP_ASSERT(parser != NULL && sink != NULL && summary != NULL);
    MP_ASSERT(buffer != NULL || size == 0);
    MP_ASSERT(capacity >= size);
    MP_ASSERT(source > MP_SOURCE_CANONICAL && source < MP_SOURCE_COUNT);
    *summary = mp_json_summary{};
    if (message != NULL && message_size > 0)
        message[0] = '\0';
    if (size > parser->size_max)
        return adapter_error(message, message_size, MP_ETOOBIG,
                             "the body is %zu bytes, more than the limit of %zu", size,
                             parser->size_max);
    mp_adapt::entry entry = adapter_entry_of(source);
    if (entry == nullptr)
        return adapter_error(message, message_size, MP_EPARSE,
                             "the %s adapter is not built into this milepost",
                             mp_source_name(source));
    mp_adapter_state *state = adapter_state_get(parser);
    if (state == NULL)
        return -ENOMEM;

    /* Padding as mp_json_parse_events() does it (see there for why). */
    const char *base = buffer;
    size_t padded_size = capacity;
    if (!(capacity - size >= MP_JSON_PADDING && json_is_inert(buffer[size]))) {
        if (size > 0)
            memcpy(parser->copy, buffer, size);
        memset(parser->copy + size, ' ', MP_JSON_PADDING);
        base = parser->copy;
        padded_size = parser->size_max + MP_JSON_PADDING;
    }
    const char *first = json_skip_space(base, base + size);
    if (first == base + size)
        return adapter_error(message, message_size, MP_EPARSE, "the body is empty");
    const char *last = json_trim_back(first, base + size);
    if (*first != '{')
        return adapter_error(message, message_size, MP_EPARSE,
                             "the body is not a JSON object, as a %s payload is",
                             mp_source_name(source));

    /* A fresh run over the reused state. */
    state->entry_count = 0;
    state->arena_used = 0;
    state->out_of_memory = state->too_many = state->too_deep = false;
    state->failed = state->want_derived = state->event_open = false;
    state->source = source;
    state->received_time_ms = received_time_ms;
    state->delivery_id_size = 0;
    state->unmapped_count = 0;
    state->unmapped_more = 0;
    state->group_count = 0;
    state->amend = nullptr;
    state->amend_context = 0;
    state->message[0] = '\0';
    mp_adapt::run::state run_state = {state};
    mp_adapt::run run;
    run.impl = &run_state;

    od::document document;
    error_code error = parser->simd
                           .iterate(first, (size_t)(last - first),
                                    padded_size - (size_t)(first - base))
                           .get(document);
    int result = error ? run.fail_json(error) : entry(document, run);
    if (result == 0) {
        /* Nothing may follow the payload's object. */
        simdjson::simdjson_result<const char *> location = document.current_location();
        if (location.error() != simdjson::OUT_OF_BOUNDS)
            result = run.fail_json(location.error() ? location.error()
                                                    : simdjson::TRAILING_CONTENT);
    }
    MP_ASSERT(result == 0 || result == MP_EPARSE || state->too_many || state->out_of_memory);
    if (state->out_of_memory)
        return -ENOMEM;
    if (state->too_many)
        return adapter_error(message, message_size, MP_ETOOBIG,
                             "the payload holds more than %u checkpoints",
                             (unsigned)MP_ADAPTER_CHECKPOINTS_MAX);
    if (result != 0) {
        if (!state->failed)
            run.fail("the body is not a %s payload", mp_source_name(source));
        return adapter_error(message, message_size, MP_EPARSE, "%s", state->message);
    }
    MP_ASSERT(!state->event_open);

    if (!adapter_finish_all(state))
        return -ENOMEM;
    if (!adapter_shipments(state)) {
        if (state->out_of_memory)
            return -ENOMEM;
        return adapter_error(message, message_size, MP_ETOOBIG,
                             "the payload holds more than %u checkpoints",
                             (unsigned)MP_ADAPTER_CHECKPOINTS_MAX);
    }
    if (state->entry_count > events_max)
        return adapter_error(message, message_size, MP_ETOOBIG,
                             "the payload holds %u events, more than the limit of %u",
                             (unsigned)state->entry_count, (unsigned)events_max);
    std::sort(state->entries, state->entries + state->entry_count, adapter_entry_before);
    return adapter_report(state, sink, buffer, size, summary);
}

/* ========================================================================
 * The time rules for C (tests and tools)
 * ======================================================================== */

static void adapter_time_out(const mp_adapt::instant &when, struct mp_adapter_time *out)
{
    out->utc_ms = when.utc_ms;
    out->offset_min = when.offset_min;
    out->offset_assumed = when.offset_assumed;
    out->date_only = when.date_only;
}

extern "C" bool mp_adapter_time_parse(const char *text, size_t size, const char *country,
                                      size_t country_size, int16_t default_offset_min,
                                      struct mp_adapter_time *out) noexcept
{
    MP_ASSERT(out != NULL);
    mp_adapt::instant when;
    if (!mp_adapt::parse_local_time(std::string_view(text, size),
                                    std::string_view(country, country_size), default_offset_min,
                                    &when))
        return false;
    adapter_time_out(when, out);
    return true;
}

extern "C" bool mp_adapter_time_parse_ups(const char *date, size_t date_size, const char *time,
                                          size_t time_size, const char *offset,
                                          size_t offset_size, int16_t default_offset_min,
                                          struct mp_adapter_time *out) noexcept
{
    MP_ASSERT(out != NULL);
    mp_adapt::instant when;
    if (!mp_adapt::parse_ups_time(std::string_view(date, date_size),
                                  std::string_view(time, time_size),
                                  std::string_view(offset, offset_size), default_offset_min,
                                  &when))
        return false;
    adapter_time_out(when, out);
    return true;
}

extern "C" bool mp_adapter_epoch_seconds(const char *digits, size_t size, int64_t *utc_ms) noexcept
{
    return mp_adapt::parse_epoch_seconds(std::string_view(digits, size), utc_ms);
}

extern "C" bool mp_adapter_country_offset(const char *country, size_t size, int64_t utc_ms,
                                          int16_t *offset_min) noexcept
{
    return mp_adapt::country_offset(std::string_view(country, size), utc_ms, offset_min);
}
