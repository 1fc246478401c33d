/*
 * Times: RFC 3339 text in, UTC milliseconds inside, API.md's UTC form out.
 *
 * Everything here is pure integer arithmetic on the proleptic Gregorian
 * calendar, so it works for any year and for instants before 1970.  No
 * libc time function is used: gmtime/timegm depend on time_t's range and
 * the TZ environment, and formatting must not allocate or lock.
 */
#include "mp_time.h"

#include <errno.h>
#include <time.h>

#include "mp_assert.h"

#define MP_TIME_MS_PER_SECOND 1000
#define MP_TIME_MS_PER_DAY INT64_C(86400000)
#define MP_TIME_SECONDS_PER_DAY INT64_C(86400)

_Static_assert(MP_TIME_TEXT_SIZE >= sizeof("-292277026-12-31T23:59:59.999Z"),
               "the text buffer holds the widest year an int64 of ms reaches");

/* ------------------------------------------------------------------------
 * Calendar arithmetic
 * ------------------------------------------------------------------------ */

/*
 * Floor division: C's `/` truncates toward zero, which would put
 * 1969-12-31T23:59:59.999Z (-1 ms) on day 0 instead of day -1.  Written
 * so that no intermediate product can overflow, even for INT64_MIN.
 */
static int64_t time_floor_div(int64_t value, int64_t divisor, int64_t *remainder)
{
    MP_ASSERT(divisor > 0);
    int64_t quotient = value / divisor;
    int64_t rest = value % divisor;
    if (rest < 0) {
        rest += divisor;
        quotient -= 1;
    }
    *remainder = rest;
    return quotient;
}

static bool time_is_leap_year(int64_t year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static unsigned time_days_in_month(int64_t year, unsigned month)
{
    static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    MP_ASSERT(month >= 1 && month <= 12);
    if (month == 2 && time_is_leap_year(year))
        return 29;
    return days[month - 1];
}

/*
 * Howard Hinnant's days_from_civil: eras of 400 years (146097 days) make
 * the leap-year rule periodic, and counting years from March puts the
 * leap day last, so the day of the year is a linear formula.
 */
int64_t mp_time_days_from_civil(int64_t year, unsigned month, unsigned day)
{
    MP_ASSERT(month >= 1 && month <= 12);
    MP_ASSERT(day >= 1 && day <= 31);
    int64_t y = year - (month <= 2 ? 1 : 0);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t year_of_era = y - era * 400;                           /* [0, 399] */
    int64_t month_from_march = month > 2 ? (int64_t)month - 3 : (int64_t)month + 9;
    int64_t day_of_year = (153 * month_from_march + 2) / 5 + (int64_t)day - 1; /* [0, 365] */
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

/* The inverse of mp_time_days_from_civil (Hinnant's civil_from_days). */
static void time_civil_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *day)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t day_of_era = z - era * 146097;                                   /* [0, 146096] */
    int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t month_from_march = (5 * day_of_year + 2) / 153;                  /* [0, 11] */
    *day = (unsigned)(day_of_year - (153 * month_from_march + 2) / 5 + 1);
    *month = (unsigned)(month_from_march < 10 ? month_from_march + 3 : month_from_march - 9);
    *year = year_of_era + era * 400 + (*month <= 2 ? 1 : 0);
}

/* ------------------------------------------------------------------------
 * Parsing
 * ------------------------------------------------------------------------ */

/* Reads exactly `count` ASCII digits at text[*at]; false when any is not one. */
static bool time_read_digits(const char *text, size_t size, size_t *at, unsigned count,
                             unsigned *value)
{
    if (size - *at < count)
        return false;
    unsigned result = 0;
    for (unsigned i = 0; i < count; i++) {
        char c = text[*at + i];
        if (c < '0' || c > '9')
            return false;
        result = result * 10 + (unsigned)(c - '0');
    }
    *at += count;
    *value = result;
    return true;
}

static bool time_expect(const char *text, size_t size, size_t *at, char expected)
{
    if (*at >= size || text[*at] != expected)
        return false;
    *at += 1;
    return true;
}

int mp_time_parse(const char *text, size_t size, struct mp_time_parsed *out)
{
    MP_ASSERT(out != NULL);
    MP_ASSERT(text != NULL || size == 0);

    size_t at = 0;
    unsigned year = 0, month = 0, day = 0;
    if (!time_read_digits(text, size, &at, 4, &year) || !time_expect(text, size, &at, '-') ||
        !time_read_digits(text, size, &at, 2, &month) || !time_expect(text, size, &at, '-') ||
        !time_read_digits(text, size, &at, 2, &day))
        return -EINVAL;
    if (month < 1 || month > 12 || day < 1 || day > time_days_in_month(year, month))
        return -EINVAL;
    int64_t days = mp_time_days_from_civil(year, month, day);

    if (at == size) {
        out->utc_ms = days * MP_TIME_MS_PER_DAY;
        out->offset_min = 0;
        out->has_offset = false;
        out->date_only = true;
        return 0;
    }

    /* RFC 3339 section 5.6 allows a space or a lower-case t instead of T. */
    char separator = text[at++];
    if (separator != 'T' && separator != 't' && separator != ' ')
        return -EINVAL;
    unsigned hour = 0, minute = 0, second = 0;
    if (!time_read_digits(text, size, &at, 2, &hour) || !time_expect(text, size, &at, ':') ||
        !time_read_digits(text, size, &at, 2, &minute) || !time_expect(text, size, &at, ':') ||
        !time_read_digits(text, size, &at, 2, &second))
        return -EINVAL;
    if (hour > 23 || minute > 59 || second > 60)
        return -EINVAL;

    /* Any number of fraction digits; those past milliseconds are dropped. */
    unsigned millisecond = 0;
    if (at < size && text[at] == '.') {
        at++;
        unsigned digits = 0;
        while (at < size && text[at] >= '0' && text[at] <= '9') {
            if (digits < 3)
                millisecond = millisecond * 10 + (unsigned)(text[at] - '0');
            digits++;
            at++;
        }
        if (digits == 0)
            return -EINVAL;
        for (; digits < 3; digits++)
            millisecond *= 10;
    }

    /*
     * A leap second cannot be represented in a count of milliseconds; the
     * last instant of the second before it keeps the order of events.
     */
    if (second == 60) {
        second = 59;
        millisecond = 999;
    }

    bool has_offset = false;
    int offset_min = 0;
    if (at < size) {
        char zone = text[at++];
        if (zone == 'Z' || zone == 'z') {
            has_offset = true;
        } else if (zone == '+' || zone == '-') {
            unsigned offset_hour = 0, offset_minute = 0;
            if (!time_read_digits(text, size, &at, 2, &offset_hour) ||
                !time_expect(text, size, &at, ':') ||
                !time_read_digits(text, size, &at, 2, &offset_minute))
                return -EINVAL;
            if (offset_hour > 23 || offset_minute > 59)
                return -EINVAL;
            offset_min = (int)(offset_hour * 60 + offset_minute);
            if (zone == '-')
                offset_min = -offset_min;
            has_offset = true;
        } else {
            return -EINVAL;
        }
    }
    if (at != size)
        return -EINVAL;

    int64_t local_seconds = days * MP_TIME_SECONDS_PER_DAY + (int64_t)hour * 3600 +
                            (int64_t)minute * 60 + (int64_t)second;
    /* Local time minus its offset is UTC: 10:00+02:00 is 08:00Z. */
    int64_t utc_seconds = local_seconds - (int64_t)offset_min * 60;
    out->utc_ms = utc_seconds * MP_TIME_MS_PER_SECOND + (int64_t)millisecond;
    out->offset_min = (int16_t)offset_min;
    out->has_offset = has_offset;
    out->date_only = false;
    return 0;
}

/* ------------------------------------------------------------------------
 * Formatting
 * ------------------------------------------------------------------------ */

/* Writes `value` as exactly `count` digits, zero-padded. */
static size_t time_put_digits(char *out, unsigned value, unsigned count)
{
    for (unsigned i = count; i > 0; i--) {
        out[i - 1] = (char)('0' + value % 10);
        value /= 10;
    }
    return count;
}

/*
 * Writes a year as at least four digits (RFC 3339's range 0000-9999, and
 * wider years, reachable only from absurd instants, without truncation).
 */
static size_t time_put_year(char *out, int64_t year)
{
    size_t length = 0;
    uint64_t magnitude = year < 0 ? (uint64_t)0 - (uint64_t)year : (uint64_t)year;
    if (year < 0)
        out[length++] = '-';
    char reversed[20];
    unsigned count = 0;
    do {
        reversed[count++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude != 0);
    for (; count < 4; count++)
        reversed[count] = '0';
    while (count > 0)
        out[length++] = reversed[--count];
    return length;
}

static size_t time_put_date(char *out, int64_t days)
{
    int64_t year;
    unsigned month, day;
    time_civil_from_days(days, &year, &month, &day);
    size_t length = time_put_year(out, year);
    out[length++] = '-';
    length += time_put_digits(out + length, month, 2);
    out[length++] = '-';
    length += time_put_digits(out + length, day, 2);
    return length;
}

size_t mp_time_format_utc(int64_t utc_ms, char out[MP_TIME_TEXT_SIZE])
{
    MP_ASSERT(out != NULL);
    int64_t ms_of_day;
    int64_t days = time_floor_div(utc_ms, MP_TIME_MS_PER_DAY, &ms_of_day);
    unsigned ms = (unsigned)(ms_of_day % 1000);
    unsigned seconds_of_day = (unsigned)(ms_of_day / 1000);

    size_t length = time_put_date(out, days);
    out[length++] = 'T';
    length += time_put_digits(out + length, seconds_of_day / 3600, 2);
    out[length++] = ':';
    length += time_put_digits(out + length, seconds_of_day / 60 % 60, 2);
    out[length++] = ':';
    length += time_put_digits(out + length, seconds_of_day % 60, 2);
    if (ms != 0) {
        out[length++] = '.';
        length += time_put_digits(out + length, ms, 3);
    }
    out[length++] = 'Z';
    out[length] = '\0';
    MP_ASSERT(length < MP_TIME_TEXT_SIZE);
    return length;
}

size_t mp_time_format_date(int64_t utc_ms, char out[MP_TIME_TEXT_SIZE])
{
    MP_ASSERT(out != NULL);
    int64_t ms_of_day;
    int64_t days = time_floor_div(utc_ms, MP_TIME_MS_PER_DAY, &ms_of_day);
    size_t length = time_put_date(out, days);
    out[length] = '\0';
    MP_ASSERT(length < MP_TIME_TEXT_SIZE);
    return length;
}

int64_t mp_time_now_ms(void)
{
    struct timespec now;
    /* CLOCK_REALTIME cannot fail with a valid clock id and pointer. */
    int result = clock_gettime(CLOCK_REALTIME, &now);
    MP_ASSERT(result == 0);
    return (int64_t)now.tv_sec * MP_TIME_MS_PER_SECOND + now.tv_nsec / 1000000;
}
