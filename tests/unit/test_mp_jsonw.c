/* The bounded JSON writer: commas, escapes, numbers, overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mp_error.h"
#include "mp_jsonw.h"

static void test_structure_and_commas(void **state)
{
    (void)state;
    char buffer[256];
    struct mp_jsonw writer;
    mp_jsonw_init(&writer, buffer, sizeof buffer);
    mp_jsonw_object_begin(&writer);
    mp_jsonw_key(&writer, "a");
    mp_jsonw_int(&writer, -5);
    mp_jsonw_key(&writer, "b");
    mp_jsonw_array_begin(&writer);
    mp_jsonw_bool(&writer, true);
    mp_jsonw_null(&writer);
    mp_jsonw_object_begin(&writer);
    mp_jsonw_object_end(&writer);
    mp_jsonw_array_end(&writer);
    mp_jsonw_key(&writer, "c");
    mp_jsonw_string_or_null(&writer, "", 0);
    mp_jsonw_key(&writer, "t");
    mp_jsonw_time(&writer, 1500, true);
    mp_jsonw_object_end(&writer);
    size_t size;
    assert_int_equal(mp_jsonw_finish(&writer, &size), 0);
    assert_string_equal(buffer, "{\"a\":-5,\"b\":[true,null,{}],\"c\":null,\"t\":\"1970-01-01T00:00:01.500Z\"}");
    assert_int_equal(size, strlen(buffer));
}

static void test_escapes(void **state)
{
    (void)state;
    char buffer[128];
    struct mp_jsonw writer;
    mp_jsonw_init(&writer, buffer, sizeof buffer);
    mp_jsonw_string(&writer, "q\"b\\n\n\x01\x7f\xc3\xa9", 10);
    size_t size;
    assert_int_equal(mp_jsonw_finish(&writer, &size), 0);
    assert_string_equal(buffer, "\"q\\\"b\\\\n\\n\\u0001\\u007f\xc3\xa9\"");
}

static void test_doubles_round_trip(void **state)
{
    (void)state;
    double values[] = {2.4, 0.1, 1e300, -3.0, 123456789.123};
    for (size_t index = 0; index < sizeof values / sizeof values[0]; index++) {
        char buffer[64];
        struct mp_jsonw writer;
        mp_jsonw_init(&writer, buffer, sizeof buffer);
        mp_jsonw_double(&writer, values[index]);
        size_t size;
        assert_int_equal(mp_jsonw_finish(&writer, &size), 0);
        assert_true(strtod(buffer, NULL) == values[index]);
    }
    char buffer[16];
    struct mp_jsonw writer;
    mp_jsonw_init(&writer, buffer, sizeof buffer);
    mp_jsonw_double(&writer, 2.4);
    size_t size;
    assert_int_equal(mp_jsonw_finish(&writer, &size), 0);
    assert_string_equal(buffer, "2.4");
}

static void test_overflow_reported(void **state)
{
    (void)state;
    char buffer[8];
    struct mp_jsonw writer;
    mp_jsonw_init(&writer, buffer, sizeof buffer);
    mp_jsonw_array_begin(&writer);
    mp_jsonw_cstring(&writer, "longer than eight");
    mp_jsonw_array_end(&writer);
    size_t size = 99;
    assert_int_equal(mp_jsonw_finish(&writer, &size), MP_ETOOBIG);
    assert_int_equal(size, 99);
    /* Exactly full leaves no room for the NUL: also too big. */
    mp_jsonw_init(&writer, buffer, 4);
    mp_jsonw_raw(&writer, "1234", 4);
    assert_int_equal(mp_jsonw_finish(&writer, &size), MP_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_structure_and_commas),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_doubles_round_trip),
        cmocka_unit_test(test_overflow_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
