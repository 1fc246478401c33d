/*
 * Unit tests for parsers/mp_time.c: RFC 3339 parsing, UTC formatting,
 * the civil calendar (leap years, years 0000-9999) and instants before
 * 1970.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mp_time.h"

#define MS_PER_DAY INT64_C(86400000)

static int parse_text(const char *text, struct mp_time_parsed *out)
{
    return mp_time_parse(text, strlen(text), out);
}

/* Parses `text` and asserts it is the UTC instant `expected_utc` (formatted). */
static void assert_instant(const char *text, const char *expected_utc, int offset_min)
{
    struct mp_time_parsed parsed;
    memset(&parsed, 0xA5, sizeof parsed);
    int result = parse_text(text, &parsed);
    if (result != 0)
        print_error("\"%s\" did not parse\n", text);
    assert_int_equal(result, 0);
    assert_true(parsed.has_offset);
    assert_false(parsed.date_only);
    assert_int_equal(parsed.offset_min, offset_min);
    char formatted[MP_TIME_TEXT_SIZE];
    size_t length = mp_time_format_utc(parsed.utc_ms, formatted);
    assert_int_equal(length, strlen(formatted));
    assert_string_equal(formatted, expected_utc);
}

static void test_days_from_civil(void **state)
{
    (void)state;
    assert_int_equal(mp_time_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(mp_time_days_from_civil(1970, 1, 2), 1);
    assert_int_equal(mp_time_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(mp_time_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(mp_time_days_from_civil(2000, 2, 29), 11016);
    assert_int_equal(mp_time_days_from_civil(0, 1, 1), -719528);
    assert_int_equal(mp_time_days_from_civil(9999, 12, 31), 2932896);
    assert_int_equal(mp_time_days_from_civil(-1, 12, 31), -719529);
    /* A 400-year era has 146097 days. */
    assert_int_equal(mp_time_days_from_civil(2400, 1, 1) - mp_time_days_from_civil(2000, 1, 1),
                     146097);
    /* Every day from 1600 to 2400 follows the previous one. */
    int64_t previous = mp_time_days_from_civil(1599, 12, 31);
    static const unsigned lengths[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int64_t year = 1600; year < 2400; year++) {
        bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        for (unsigned month = 1; month <= 12; month++) {
            unsigned days = lengths[month - 1] + (month == 2 && leap ? 1 : 0);
            for (unsigned day = 1; day <= days; day++) {
                int64_t current = mp_time_days_from_civil(year, month, day);
                assert_int_equal(current, previous + 1);
                previous = current;
            }
        }
    }
}

static void test_parse_utc_forms(void **state)
{
    (void)state;
    assert_instant("2026-11-27T19:03:00Z", "2026-11-27T19:03:00Z", 0);
    assert_instant("2026-11-27t19:03:00z", "2026-11-27T19:03:00Z", 0);
    assert_instant("2026-11-27 19:03:00Z", "2026-11-27T19:03:00Z", 0);
    assert_instant("2026-11-27T19:03:00+00:00", "2026-11-27T19:03:00Z", 0);
    assert_instant("2026-11-27T19:03:00-00:00", "2026-11-27T19:03:00Z", 0);
    assert_instant("1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z", 0);

    struct mp_time_parsed parsed;
    assert_int_equal(parse_text("1970-01-01T00:00:00Z", &parsed), 0);
    assert_int_equal(parsed.utc_ms, 0);
    assert_int_equal(parse_text("2026-11-27T19:03:00Z", &parsed), 0);
    assert_int_equal(parsed.utc_ms, (mp_time_days_from_civil(2026, 11, 27) * 86400 +
                                     19 * 3600 + 3 * 60) * 1000);
}

static void test_parse_offsets(void **state)
{
    (void)state;
    assert_instant("2026-11-27T14:03:00-05:00", "2026-11-27T19:03:00Z", -300);
    assert_instant("2026-11-27T14:03:00+05:30", "2026-11-27T08:33:00Z", 330);
    /* Offsets that cross into the previous or next UTC day, month and year. */
    assert_instant("2026-11-28T01:00:00+02:00", "2026-11-27T23:00:00Z", 120);
    assert_instant("2026-11-27T22:30:00-03:00", "2026-11-28T01:30:00Z", -180);
    assert_instant("2027-01-01T00:15:00+01:00", "2026-12-31T23:15:00Z", 60);
    assert_instant("2026-12-31T23:59:59-23:59", "2027-01-01T23:58:59Z", -1439);
    assert_instant("2024-03-01T00:00:00+23:59", "2024-02-29T00:01:00Z", 1439);
    assert_instant("2023-03-01T00:00:00+00:01", "2023-02-28T23:59:00Z", 1);
}

static void test_parse_fractions(void **state)
{
    (void)state;
    assert_instant("2026-11-27T19:03:00.5Z", "2026-11-27T19:03:00.500Z", 0);
    assert_instant("2026-11-27T19:03:00.25Z", "2026-11-27T19:03:00.250Z", 0);
    assert_instant("2026-11-27T19:03:00.123Z", "2026-11-27T19:03:00.123Z", 0);
    /* Digits past milliseconds are dropped, never rounded. */
    assert_instant("2026-11-27T19:03:00.123999999999Z", "2026-11-27T19:03:00.123Z", 0);
    assert_instant("2026-11-27T19:03:00.000Z", "2026-11-27T19:03:00Z", 0);
    assert_instant("2026-11-27T19:03:00.0009+01:00", "2026-11-27T18:03:00Z", 60);
    /* A leap second becomes the last millisecond before the next second. */
    assert_instant("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999Z", 0);
    assert_instant("2016-12-31T18:59:60.5-05:00", "2016-12-31T23:59:59.999Z", -300);
}

static void test_parse_date_only_and_offsetless(void **state)
{
    (void)state;
    struct mp_time_parsed parsed;
    assert_int_equal(parse_text("2026-11-27", &parsed), 0);
    assert_true(parsed.date_only);
    assert_false(parsed.has_offset);
    assert_int_equal(parsed.offset_min, 0);
    assert_int_equal(parsed.utc_ms, mp_time_days_from_civil(2026, 11, 27) * MS_PER_DAY);

    assert_int_equal(parse_text("2026-11-27T14:03:00", &parsed), 0);
    assert_false(parsed.date_only);
    assert_false(parsed.has_offset);
    assert_int_equal(parsed.offset_min, 0);
    assert_int_equal(parsed.utc_ms,
                     (mp_time_days_from_civil(2026, 11, 27) * 86400 + 14 * 3600 + 180) * 1000);

    assert_int_equal(parse_text("2026-11-27T14:03:00.750", &parsed), 0);
    assert_false(parsed.has_offset);
    assert_int_equal(parsed.utc_ms % 1000, 750);
}

static void test_parse_leap_years(void **state)
{
    (void)state;
    struct mp_time_parsed parsed;
    assert_int_equal(parse_text("2024-02-29", &parsed), 0);
    assert_int_equal(parse_text("2000-02-29T00:00:00Z", &parsed), 0);
    assert_int_equal(parse_text("2400-02-29T00:00:00Z", &parsed), 0);
    assert_int_equal(parse_text("0000-02-29T00:00:00Z", &parsed), 0);
    assert_int_equal(parse_text("2023-02-29", &parsed), -EINVAL);
    assert_int_equal(parse_text("1900-02-29T00:00:00Z", &parsed), -EINVAL);
    assert_int_equal(parse_text("2100-02-29T00:00:00Z", &parsed), -EINVAL);
    assert_int_equal(parse_text("2023-02-28T23:59:59Z", &parsed), 0);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "2026",
        "2026-11",
        "2026-1-27",
        "26-11-27",
        "+2026-11-27",
        "2026/11/27",
        "2026-00-10",
        "2026-13-10",
        "2026-11-00",
        "2026-11-31",
        "2026-04-31T00:00:00Z",
        "2026-11-27T",
        "2026-11-27X10:00:00Z",
        "2026-11-27T24:00:00Z",
        "2026-11-27T23:60:00Z",
        "2026-11-27T23:59:61Z",
        "2026-11-27T10:00Z",
        "2026-11-27T10:00:0Z",
        "2026-11-27T1:00:00Z",
        "2026-11-27T10:00:00.Z",
        "2026-11-27T10:00:00,5Z",
        "2026-11-27T10:00:00+05",
        "2026-11-27T10:00:00+0500",
        "2026-11-27T10:00:00+24:00",
        "2026-11-27T10:00:00+05:60",
        "2026-11-27T10:00:00+5:00",
        "2026-11-27T10:00:00ZZ",
        "2026-11-27T10:00:00Z ",
        " 2026-11-27T10:00:00Z",
        "2026-11-27T10:00:00UTC",
        "2026-11-27 ",
        "2026-11-27T10:00:00-05:00x",
        "２０２６-11-27",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct mp_time_parsed parsed;
        memset(&parsed, 0x5A, sizeof parsed);
        struct mp_time_parsed untouched = parsed;
        int result = parse_text(bad[i], &parsed);
        if (result != -EINVAL)
            print_error("\"%s\" parsed\n", bad[i]);
        assert_int_equal(result, -EINVAL);
        /* Output is written only on success. */
        assert_memory_equal(&parsed, &untouched, sizeof parsed);
    }
    /* The size bounds the text: no NUL is needed and bytes past it are ignored. */
    struct mp_time_parsed parsed;
    assert_int_equal(mp_time_parse("2026-11-27T10:00:00Zjunk", 20, &parsed), 0);
    assert_true(parsed.has_offset);
    assert_int_equal(mp_time_parse("2026-11-27T10:00:00Z", 19, &parsed), 0);
    assert_false(parsed.has_offset);
    assert_int_equal(mp_time_parse("2026-11-27T10:00:00Z", 18, &parsed), -EINVAL);
}

static void test_years_zero_to_9999(void **state)
{
    (void)state;
    assert_instant("0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z", 0);
    assert_instant("0001-01-01T00:00:00+01:00", "0000-12-31T23:00:00Z", 60);
    assert_instant("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z", 0);
    assert_instant("0999-06-15T12:00:00Z", "0999-06-15T12:00:00Z", 0);

    struct mp_time_parsed parsed;
    assert_int_equal(parse_text("0000-01-01T00:00:00Z", &parsed), 0);
    assert_int_equal(parsed.utc_ms, INT64_C(-62167219200000));
    /* Year 10000 is reachable only through an offset; it formats in full. */
    assert_int_equal(parse_text("9999-12-31T23:30:00-01:00", &parsed), 0);
    char out[MP_TIME_TEXT_SIZE];
    mp_time_format_utc(parsed.utc_ms, out);
    assert_string_equal(out, "10000-01-01T00:30:00Z");
}

static void test_format_negative_times(void **state)
{
    (void)state;
    char out[MP_TIME_TEXT_SIZE];
    /* Floor division: one millisecond before the epoch is on 1969-12-31. */
    assert_int_equal(mp_time_format_utc(-1, out), 24);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
    assert_int_equal(mp_time_format_utc(-1000, out), 20);
    assert_string_equal(out, "1969-12-31T23:59:59Z");
    mp_time_format_utc(-MS_PER_DAY, out);
    assert_string_equal(out, "1969-12-31T00:00:00Z");
    mp_time_format_utc(-MS_PER_DAY - 1, out);
    assert_string_equal(out, "1969-12-30T23:59:59.999Z");
    mp_time_format_utc(INT64_C(-14182940000000), out);
    assert_string_equal(out, "1520-07-24T14:26:40Z");

    assert_int_equal(mp_time_format_date(-1, out), 10);
    assert_string_equal(out, "1969-12-31");
    assert_int_equal(mp_time_format_date(0, out), 10);
    assert_string_equal(out, "1970-01-01");
    mp_time_format_date(MS_PER_DAY - 1, out);
    assert_string_equal(out, "1970-01-01");

    struct mp_time_parsed parsed;
    assert_int_equal(parse_text("1969-12-31T23:59:59.999Z", &parsed), 0);
    assert_int_equal(parsed.utc_ms, -1);
    assert_int_equal(parse_text("1969-12-31T19:00:00-05:00", &parsed), 0);
    assert_int_equal(parsed.utc_ms, 0);
    assert_int_equal(parse_text("1969-12-31", &parsed), 0);
    assert_int_equal(parsed.utc_ms, -MS_PER_DAY);
}

static void test_format_extremes(void **state)
{
    (void)state;
    char out[MP_TIME_TEXT_SIZE];
    size_t length = mp_time_format_utc(INT64_MIN, out);
    assert_int_equal(length, strlen(out));
    assert_true(length < MP_TIME_TEXT_SIZE);
    assert_int_equal(out[0], '-');
    length = mp_time_format_utc(INT64_MAX, out);
    assert_int_equal(length, strlen(out));
    assert_true(length < MP_TIME_TEXT_SIZE);
    assert_string_equal(out, "292278994-08-17T07:12:55.807Z");
    length = mp_time_format_date(INT64_MIN, out);
    assert_int_equal(length, strlen(out));
}

static void test_round_trips(void **state)
{
    (void)state;
    /* Every formatted instant parses back to itself, across eras and signs. */
    int64_t step = INT64_C(7919) * 3600 * 1000 + 123;
    for (int64_t ms = INT64_C(-62167219200000); ms < INT64_C(253402300800000); ms += step) {
        char out[MP_TIME_TEXT_SIZE];
        size_t length = mp_time_format_utc(ms, out);
        struct mp_time_parsed parsed;
        assert_int_equal(mp_time_parse(out, length, &parsed), 0);
        assert_int_equal(parsed.utc_ms, ms);
        assert_true(parsed.has_offset);

        char date[MP_TIME_TEXT_SIZE];
        assert_int_equal(mp_time_format_date(ms, date), 10);
        assert_memory_equal(date, out, 10);
        assert_int_equal(mp_time_parse(date, 10, &parsed), 0);
        assert_true(parsed.date_only);
        assert_true(parsed.utc_ms <= ms && ms - parsed.utc_ms < MS_PER_DAY);
    }
}

static void test_now(void **state)
{
    (void)state;
    int64_t now = mp_time_now_ms();
    /* After 2024-01-01 and before 2100-01-01. */
    assert_true(now > INT64_C(1704067200000));
    assert_true(now < INT64_C(4102444800000));
    assert_true(mp_time_now_ms() >= now - 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_days_from_civil),
        cmocka_unit_test(test_parse_utc_forms),
        cmocka_unit_test(test_parse_offsets),
        cmocka_unit_test(test_parse_fractions),
        cmocka_unit_test(test_parse_date_only_and_offsetless),
        cmocka_unit_test(test_parse_leap_years),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_years_zero_to_9999),
        cmocka_unit_test(test_format_negative_times),
        cmocka_unit_test(test_format_extremes),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_now),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) == 0 ? 0 : 1;
}
