/*
 * The serve configuration: defaults, the YAML file, flags over it, the
 * messages of bad input, --print-config's round trip, and the example
 * config kept in step with the table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mp_config.h"
#include "mp_error.h"
#include "mp_options.h"

#define MESSAGE_SIZE 512
#define TEXT_SIZE_MAX (256u << 10)

/* ---- helpers ------------------------------------------------------------- */

static char temp_path[256];

/* Writes text to a fresh temporary file; returns its path (valid until the next call). */
static const char *write_temp(const char *text)
{
    if (temp_path[0])
        unlink(temp_path);
    const char *directory = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(temp_path, sizeof temp_path, "%s/test_mp_options_XXXXXX", directory);
    int fd = mkstemp(temp_path);
    assert_true(fd >= 0);
    size_t length = strlen(text);
    assert_int_equal(write(fd, text, length), (ssize_t)length);
    close(fd);
    return temp_path;
}

/* Loads text as a config file over the defaults; returns the result code. */
static int load_text(struct mp_server_config *config, const char *text, char *message)
{
    mp_options_init(config);
    message[0] = '\0';
    return mp_options_load_file(config, write_temp(text), message, MESSAGE_SIZE);
}

/* Asserts that message contains needle, showing both when it does not. */
static void assert_contains(const char *message, const char *needle)
{
    assert_non_null(message);
    if (!strstr(message, needle))
        fail_msg("message \"%s\" lacks \"%s\"", message, needle);
}

static int parse(struct mp_server_config *config, char *message, int argc, ...)
{
    char *argv[32];
    va_list arguments;
    va_start(arguments, argc);
    argv[0] = (char *)"serve";
    for (int index = 1; index < argc; index++)
        argv[index] = va_arg(arguments, char *);
    va_end(arguments);
    message[0] = '\0';
    return mp_options_parse_args(config, argc, argv, message, MESSAGE_SIZE);
}

/* Prints config into a new malloc'd string. */
static char *print_to_string(const struct mp_server_config *config)
{
    char *text = NULL;
    size_t size = 0;
    FILE *stream = open_memstream(&text, &size);
    assert_non_null(stream);
    assert_int_equal(mp_options_print_yaml(config, stream), 0);
    fclose(stream);
    return text;
}

/* Drops blank lines and comment lines, so files compare by their keys and values. */
static void strip_comments(const char *text, char *out, size_t out_size)
{
    size_t used = 0;
    while (*text) {
        size_t line = strcspn(text, "\n");
        size_t indent = strspn(text, " ");
        if (indent < line && text[indent] != '#') {
            assert_true(used + line + 2 < out_size);
            memcpy(out + used, text, line);
            used += line;
            out[used++] = '\n';
        }
        text += line + (text[line] == '\n');
    }
    out[used] = '\0';
}

/* ---- defaults ------------------------------------------------------------ */

static void test_defaults(void **state)
{
    (void)state;
    struct mp_server_config config;
    mp_options_init(&config);
    assert_string_equal(config.data, "./milepost-data");
    assert_string_equal(config.http.host, "127.0.0.1");
    assert_int_equal(config.http.port, 7411);
    assert_int_equal(config.tcp.port, 7412);
    assert_int_equal(config.udp.port, 7413);
    assert_int_equal(config.cores, 0);
    assert_int_equal(config.durability, MP_OPTIONS_DURABILITY_SYNC);
    assert_string_equal(config.dpdk, "");
    assert_int_equal(config.erp.mode, MP_OPTIONS_ERP_PULL);
    assert_false(config.erp_mode_given);
    assert_string_equal(config.erp.url, "");
    assert_int_equal(config.erp.visibility_timeout_ms, 30000);
    assert_false(config.erp.batch);
    assert_int_equal(config.limits.header_size_max, 16 << 10);
    assert_int_equal(config.limits.body_size_max, 8 << 20);
    assert_int_equal(config.limits.line_size_max, 64 << 10);
    assert_int_equal(config.limits.connections_max, 10000);
    assert_int_equal(config.limits.events_per_request_max, 10000);
    assert_int_equal(config.limits.idle_timeout_ms, 60000);
    assert_int_equal(config.limits.header_timeout_ms, 10000);
    assert_int_equal(config.limits.body_timeout_ms, 30000);
    assert_int_equal(config.limits.udp_datagram_size_max, 65507);
    assert_int_equal(config.pipeline.ring_slots, 1024);
    assert_int_equal(config.pipeline.cache_records_max, 1 << 20);
    assert_int_equal(config.pipeline.commit_interval_ms, 1);
    assert_int_equal(config.pipeline.duplicate_flush_interval_ms, 1000);
    assert_int_equal(config.logging.level, MP_OPTIONS_LOG_INFO);
    assert_string_equal(config.sources[MP_SOURCE_UPS].header_name, "Authorization");
    assert_int_equal(config.sources[MP_SOURCE_SHIPPO].tolerance_s, 300);
    for (int source = 0; source < MP_SOURCE_COUNT; source++)
        assert_string_equal(config.sources[source].secret, "");
    assert_int_equal(config.request, MP_OPTIONS_REQUEST_SERVE);

    /* No arguments: the defaults, checked. */
    struct mp_server_config parsed;
    char message[MESSAGE_SIZE];
    assert_int_equal(parse(&parsed, message, 1), 0);
    assert_true(mp_options_equal(&config, &parsed));
}

/* ---- the file ------------------------------------------------------------ */

static void test_load_nested(void **state)
{
    (void)state;
    struct mp_server_config config;
    char message[MESSAGE_SIZE];
    int result = load_text(&config,
                           "# a comment\n"
                           "data: /var/lib/milepost\n"
                           "http: 0.0.0.0:0\n"
                           "tcp: \"[::1]:9000\"\n"
                           "cores: 2\n"
                           "durability: async\n"
                           "erp:\n"
                           "  mode: jetstream\n"
                           "  url: nats://127.0.0.1:4222\n"
                           "  visibility_timeout_ms: 2m\n"
                           "  batch: true\n"
                           "limits:\n"
                           "  body_size_max: 16M\n"
                           "  header_size_max: 8KiB\n"
                           "  line_size_max: 2000\n"
                           "  idle_timeout_ms: 90s\n"
                           "  header_timeout_ms: 250ms\n"
                           "  body_timeout_ms: 1500\n"
                           "limits.connections_max: 500\n"
                           "pipeline: {ring_slots: 4096, commit_interval_ms: 2ms}\n"
                           "logging:\n"
                           "  level: debug\n"
                           "sources:\n"
                           "  ups: {secret: s3cret, header_name: X-Token}\n"
                           "  17track:\n"
                           "    secret: 'k:ey'\n",
                           message);
    assert_int_equal(result, 0);
    assert_string_equal(config.data, "/var/lib/milepost");
    assert_string_equal(config.http.host, "0.0.0.0");
    assert_int_equal(config.http.port, 0);
    assert_string_equal(config.tcp.host, "::1");
    assert_int_equal(config.tcp.port, 9000);
    assert_int_equal(config.cores, 2);
    assert_int_equal(config.durability, MP_OPTIONS_DURABILITY_ASYNC);
    assert_int_equal(config.erp.mode, MP_OPTIONS_ERP_JETSTREAM);
    assert_true(config.erp_mode_given);
    assert_string_equal(config.erp.url, "nats://127.0.0.1:4222");
    assert_int_equal(config.erp.visibility_timeout_ms, 120000);
    assert_true(config.erp.batch);
    assert_int_equal(config.limits.body_size_max, 16 << 20);
    assert_int_equal(config.limits.header_size_max, 8 << 10);
    assert_int_equal(config.limits.line_size_max, 2000);
    assert_int_equal(config.limits.idle_timeout_ms, 90000);
    assert_int_equal(config.limits.header_timeout_ms, 250);
    assert_int_equal(config.limits.body_timeout_ms, 1500);
    assert_int_equal(config.limits.connections_max, 500);
    assert_int_equal(config.pipeline.ring_slots, 4096);
    assert_int_equal(config.pipeline.commit_interval_ms, 2);
    assert_int_equal(config.logging.level, MP_OPTIONS_LOG_DEBUG);
    assert_string_equal(config.sources[MP_SOURCE_UPS].secret, "s3cret");
    assert_string_equal(config.sources[MP_SOURCE_UPS].header_name, "X-Token");
    assert_string_equal(config.sources[MP_SOURCE_17TRACK].secret, "k:ey");
    /* Untouched keys keep their defaults. */
    assert_int_equal(config.udp.port, 7413);
    assert_int_equal(config.limits.events_per_request_max, 10000);
    assert_int_equal(mp_options_finish(&config, message, sizeof message), 0);
}

static void test_sizes_and_durations(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint32_t bytes;
    } sizes[] = {
        {"2048", 2048}, {"16k", 16 << 10}, {"16K", 16 << 10}, {"16KiB", 16 << 10},
        {"1M", 1 << 20}, {"1MiB", 1 << 20}, {"64M", 64u << 20},
    };
    static const char *const bad_sizes[] = {"", "k", "1.5M", "-1", "+1", "1 M", "1m", "1MB",
                                            "0x100", "1T", "65M", "1G", "99999999999999999999"};
    static const struct {
        const char *text;
        uint32_t ms;
    } durations[] = {
        {"250", 250}, {"250ms", 250}, {"30s", 30000}, {"2m", 120000}, {"1h", 3600000},
    };
    static const char *const bad_durations[] = {"1.5s", "5 s", "1d", "s", "2h", "-5s", "9ms"};
    struct mp_server_config config;
    char message[MESSAGE_SIZE];
    mp_options_init(&config);
    for (size_t index = 0; index < sizeof sizes / sizeof sizes[0]; index++) {
        assert_int_equal(mp_options_set(&config, "limits.body_size_max", sizes[index].text,
                                        message, sizeof message),
                         0);
        assert_int_equal(config.limits.body_size_max, sizes[index].bytes);
    }
    for (size_t index = 0; index < sizeof bad_sizes / sizeof bad_sizes[0]; index++) {
        assert_int_equal(mp_options_set(&config, "limits.body_size_max", bad_sizes[index],
                                        message, sizeof message),
                         MP_EINVAL);
        assert_contains(message, "limits.body_size_max");
    }
    assert_int_equal(config.limits.body_size_max, 64u << 20); /* failures change nothing */
    for (size_t index = 0; index < sizeof durations / sizeof durations[0]; index++) {
        assert_int_equal(mp_options_set(&config, "limits.idle_timeout_ms",
                                        durations[index].text, message, sizeof message),
                         0);
        assert_int_equal(config.limits.idle_timeout_ms, durations[index].ms);
    }
    for (size_t index = 0; index < sizeof bad_durations / sizeof bad_durations[0]; index++)
        assert_int_equal(mp_options_set(&config, "limits.idle_timeout_ms",
                                        bad_durations[index], message, sizeof message),
                         MP_EINVAL);
    assert_int_equal(mp_options_set(&config, "limits.idle_timeout_ms", "1.5s", message,
                                    sizeof message),
                     MP_EINVAL);
    assert_contains(message, "is not a duration");
}

static void test_unknown_key(void **state)
{
    (void)state;
    struct mp_server_config config;
    char message[MESSAGE_SIZE];
    assert_int_equal(load_text(&config, "data: x\nlimits:\n  body_size: 1M\n", message),
                     MP_EINVAL);
    assert_contains(message, "unknown key 'limits.body_size'");
    assert_contains(message, "did you mean 'limits.body_size_max'");
    assert_contains(message, ":3:");
    assert_contains(message, temp_path);

    assert_int_equal(load_text(&config, "body_size_max: 1M\n", message), MP_EINVAL);
    assert_contains(message, "unknown key 'body_size_max' (did you mean 'limits.body_size_max'");
    assert_int_equal(load_text(&config, "durabilty: sync\n", message), MP_EINVAL);
    assert_contains(message, "did you mean 'durability'");
    assert_int_equal(load_text(&config, "sources:\n  usps: {secret: x}\n", message), MP_EINVAL);
    assert_contains(message, "unknown key 'sources.usps'");
    assert_int_equal(load_text(&config, "limits: {bodysize: 1M}\n", message), MP_EINVAL);
    assert_contains(message, "did you mean 'limits.body_size_max'");
    assert_int_equal(load_text(&config, "zzzzzzzz: 1\n", message), MP_EINVAL);
    assert_contains(message, "unknown key 'zzzzzzzz' (milepost serve --help");
    assert_int_equal(load_text(&config, "<<: {data: x}\n", message), MP_EINVAL);
    assert_contains(message, "unknown key '<<'");
}

static void test_out_of_range(void **state)
{
    (void)state;
    struct mp_server_config config;
    char message[MESSAGE_SIZE];
    assert_int_equal(load_text(&config, "limits:\n  body_size_max: 100M\n", message),
                     MP_EINVAL);
    assert_contains(message, "key 'limits.body_size_max'");
    assert_contains(message, "'100M' is out of range (allowed 1k to 64M)");
    assert_int_equal(load_text(&config, "cores: 65\n", message), MP_EINVAL);
    assert_contains(message, "key 'cores': value '65' is out of range (allowed 0 to 64)");
    assert_int_equal(load_text(&config, "limits: {events_per_request_max: 0}\n", message),
                     MP_EINVAL);
    assert_contains(message, "allowed 1 to 100000");
    assert_int_equal(load_text(&config, "limits: {idle_timeout_ms: 2h}\n", message), MP_EINVAL);
    assert_contains(message, "allowed 10ms to 1h");
    assert_int_equal(load_text(&config, "pipeline: {ring_slots: 1000}\n", message), MP_EINVAL);
    assert_contains(message, "not a power of two");
    assert_int_equal(load_text(&config, "cores: two\n", message), MP_EINVAL);
    assert_contains(message, "key 'cores': value 'two' is not a whole number");
    assert_int_equal(load_text(&config, "data: \"\"\n", message), MP_EINVAL);
    assert_contains(message, "key 'data': value must not be empty");

    char long_value[MP_OPTIONS_URL_SIZE_MAX + 16];
    memset(long_value, 'u', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    mp_options_init(&config);
    assert_int_equal(mp_options_set(&config, "erp.url", long_value, message, sizeof message),
                     MP_EINVAL);
    assert_contains(message, "longer than 2047 bytes");
    assert_int_equal(mp_options_set(&config, "data", "bad\xff", message, sizeof message),
                     MP_EINVAL);
    assert_contains(message, "not valid UTF-8");
}

static void test_bad_enum_and_bool(void **state)
{
    (void)state;
    struct mp_server_config config;
    char message[MESSAGE_SIZE];
    assert_int_equal(load_text(&config, "durability: fast\n", message), MP_EINVAL);
    assert_contains(message, "key 'durability': value 'fast' is not one of sync, async");
    assert_int_equal(load_text(&config, "erp: {mode: PUSH}\n", message), MP_EINVAL);
    assert_contains(message, "is not one of pull, push, jetstream");
    assert_int_equal(load_text(&config, "erp: {batch: yes}\n", message), MP_EINVAL);
    assert_contains(message, "key 'erp.batch': value 'yes' is not true or false");
}

static void test_bad_address(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *why;
    } bad[] = {
        {"localhost", "is not HOST:PORT"},
        {"127.0.0.1:99999", "the port is not a number from 0 to 65535"},
        {"127.0.0.1:", "the port"},
        {"127.0.0.1:80x", "the port"},
        {":7411", "has no host"},
        {"::1:7411", "an IPv6 host goes in brackets"},
        {"[::g]:7411", "is not an IPv6 address"},
        {"[]:7411", "is not [IPV6]:PORT"},
        {"300.1.1.1:80", "is not an IPv4 address"},
        {"my host:80", "not an IP address or a host name"},
    };
    struct mp_server_config config;
    char message[MESSAGE_SIZE];
    mp_options_init(&config);
    for (size_t index = 0; index < sizeof bad / sizeof bad[0]; index++) {
        assert_int_equal(mp_options_set(&config, "http", bad[index].text, message,
                                        sizeof message),
                         MP_EINVAL);
        assert_contains(message, "key 'http'");
        assert_contains(message, bad[index].why);
    }
    assert_int_equal(mp_options_set(&config, "udp", "example.com:0", message, sizeof message), 0);
    assert_string_equal(config.udp.host, "example.com");
    assert_int_equal(mp_options_set(&config, "udp", "[fe80::1%eth0]:1", message, sizeof message),
                     MP_EINVAL);
    assert_int_equal(mp_options_set(&config, "udp", "[::]:65535", message, sizeof message), 0);
    assert_string_equal(config.udp.host, "::");
    assert_int_equal(config.udp.port, 65535);

    /* Unquoted, YAML reads [::1]:7411 as a list; the message says to quote it. */
    assert_int_equal(load_text(&config, "http: [::1]:7411\n", message), MP_EINVAL);
    assert_int_equal(load_text(&config, "http: [\"::1\"]\n", message), MP_EINVAL);
    assert_contains(message, "quote an IPv6 address");
    assert_int_equal(load_text(&config, "tcp: 127.0.0.1\n", message), MP_EINVAL);
    assert_contains(message, "key 'tcp': value '127.0.0.1' is not HOST:PORT");
}

static void test_duplicate_key(void **state)
{
    (void)state;
    struct mp_server_config config;
    char message[MESSAGE_SIZE];
    assert_int_equal(load_text(&config, "cores: 1\ncores: 2\n", message), MP_EINVAL);
    assert_contains(message, "duplicate key 'cores' (first on line 1)");
    assert_contains(message, ":2:");
    assert_int_equal(load_text(&config,
                               "limits:\n  body_size_max: 1M\nlimits:\n  line_size_max: 2k\n",
                               message),
                     MP_EINVAL);
    assert_contains(message, "duplicate key 'limits'");
    assert_int_equal(load_text(&config, "limits: {body_size_max: 1M}\nlimits.body_size_max: 2M\n",
                               message),
                     MP_EINVAL);
    assert_contains(message, "duplicate key 'limits.body_size_max' (first set on line 1)");
    assert_int_equal(load_text(&config, "erp: {mode: push, mode: pull}\n", message), MP_EINVAL);
    assert_contains(message, "duplicate key 'erp.mode'");
}

static void test_file_shape(void **state)
{
    (void)state;
    struct mp_server_config config;
    struct mp_server_config defaults;
    char message[MESSAGE_SIZE];
    mp_options_init(&defaults);
    assert_int_equal(load_text(&config, "- data\n- http\n", message), MP_EINVAL);
    assert_contains(message, "the top level must be a mapping");
    assert_int_equal(load_text(&config, "just text\n", message), MP_EINVAL);
    assert_contains(message, "the top level must be a mapping");
    assert_int_equal(load_text(&config, "cores: 1\n---\ncores: 2\n", message), MP_EINVAL);
    assert_contains(message, "a second YAML document");
    assert_int_equal(load_text(&config, "cores: [1\n", message), MP_EINVAL);
    assert_contains(message, "YAML syntax error");
    assert_int_equal(load_text(&config, "limits: 5\n", message), MP_EINVAL);
    assert_contains(message, "key 'limits' is a section");
    assert_int_equal(load_text(&config, "erp:\n  mode:\n    a: b\n", message), MP_EINVAL);
    assert_contains(message, "key 'erp.mode' takes a value, not a mapping");
    assert_int_equal(load_text(&config, "? [a]\n: b\n", message), MP_EINVAL);
    assert_contains(message, "a key must be a name");
    assert_int_equal(load_text(&config, "cores:\n", message), MP_EINVAL);
    assert_contains(message, "key 'cores': no value given");

    /* Empty files, empty sections and null strings are fine. */
    assert_int_equal(load_text(&config, "", message), 0);
    assert_true(mp_options_equal(&config, &defaults));
    assert_int_equal(load_text(&config, "# nothing set\n", message), 0);
    assert_int_equal(load_text(&config, "erp:\nlimits: ~\ndpdk:\n", message), 0);
    assert_true(mp_options_equal(&config, &defaults));
    /* Anchors and aliases are YAML's own; they work. */
    assert_int_equal(load_text(&config, "sources:\n  ups: &token {secret: abc}\n  dhl: *token\n",
                               message),
                     0);
    assert_string_equal(config.sources[MP_SOURCE_DHL].secret, "abc");

    mp_options_init(&config);
    assert_int_equal(mp_options_load_file(&config, "/nonexistent/milepost.yaml", message,
                                          sizeof message),
                     -ENOENT);
    assert_contains(message, "/nonexistent/milepost.yaml");

    size_t big = MP_OPTIONS_FILE_SIZE_MAX + 1;
    char *text = malloc(big + 1);
    assert_non_null(text);
    memset(text, '#', big);
    text[big] = '\0';
    assert_int_equal(load_text(&config, text, message), MP_ETOOBIG);
    free(text);
}

/* ---- the command line ---------------------------------------------------- */

static void test_flags_override_file(void **state)
{
    (void)state;
    struct mp_server_config config;
    char message[MESSAGE_SIZE];
    char path[sizeof temp_path];
    snprintf(path, sizeof path, "%s",
             write_temp("data: /from/file\nhttp: 10.0.0.1:80\ncores: 4\n"
                        "limits: {body_size_max: 2M, line_size_max: 4k}\n"));
    /* --config comes last here, yet is read first: every flag overrides it. */
    assert_int_equal(parse(&config, message, 11, "--http", "0.0.0.0:0", "--cores=2",
                           "--set", "limits.body_size_max=1M", "--durability", "async",
                           "--data=/from/flag", "--config", path),
                     0);
    assert_string_equal(config.config_path, path);
    assert_string_equal(config.data, "/from/flag");
    assert_string_equal(config.http.host, "0.0.0.0");
    assert_int_equal(config.http.port, 0);
    assert_int_equal(config.cores, 2);
    assert_int_equal(config.limits.body_size_max, 1 << 20);
    assert_int_equal(config.limits.line_size_max, 4 << 10);   /* from the file */
    assert_int_equal(config.durability, MP_OPTIONS_DURABILITY_ASYNC);
    assert_int_equal(config.request, MP_OPTIONS_REQUEST_SERVE);

    /* Later flags win over earlier ones, --set or not. */
    assert_int_equal(parse(&config, message, 5, "--set", "tcp=127.0.0.1:1", "--tcp",
                           "127.0.0.1:2"),
                     0);
    assert_int_equal(config.tcp.port, 2);
    assert_int_equal(parse(&config, message, 5, "--udp", "127.0.0.1:1", "--set",
                           "udp=127.0.0.1:3"),
                     0);
    assert_int_equal(config.udp.port, 3);

    /* A bad file stops everything, with the file's message. */
    write_temp("limits: {body_size: 1M}\n");
    assert_int_equal(parse(&config, message, 3, "--config", temp_path), MP_EINVAL);
    assert_contains(message, "unknown key 'limits.body_size'");
}

static void test_set(void **state)
{
    (void)state;
    struct mp_server_config config;
    char message[MESSAGE_SIZE];
    assert_int_equal(parse(&config, message, 6, "--set", "sources.shippo.tolerance_s=0", "--set",
                           "logging.level=warn", "--set=sources.fedex.secret=a=b"),
                     0);
    assert_int_equal(config.sources[MP_SOURCE_SHIPPO].tolerance_s, 0);
    assert_int_equal(config.logging.level, MP_OPTIONS_LOG_WARN);
    assert_string_equal(config.sources[MP_SOURCE_FEDEX].secret, "a=b");

    assert_int_equal(parse(&config, message, 3, "--set", "limits.body_size=1M"), MP_EINVAL);
    assert_contains(message, "--set: unknown key 'limits.body_size' (did you mean "
                             "'limits.body_size_max'?)");
    assert_int_equal(parse(&config, message, 3, "--set", "limits=1M"), MP_EINVAL);
    assert_contains(message, "key 'limits' is a section");
    assert_int_equal(parse(&config, message, 3, "--set", "limits.body_size_max"), MP_EINVAL);
    assert_contains(message, "--set takes KEY=VALUE");
    assert_int_equal(parse(&config, message, 3, "--set", "cores=99"), MP_EINVAL);
    assert_contains(message, "--set: key 'cores': value '99' is out of range (allowed 0 to 64)");

    char long_key[200];
    memset(long_key, 'k', sizeof long_key - 3);
    memcpy(long_key + sizeof long_key - 3, "=1", 3);
    assert_int_equal(parse(&config, message, 3, "--set", long_key), MP_EINVAL);
    assert_contains(message, "unknown key");

    mp_options_init(&config);
    assert_int_equal(mp_options_set(&config, "erp.batch", "true", message, sizeof message), 0);
    assert_true(config.erp.batch);
    assert_int_equal(mp_options_set(&config, "erp", "x", message, sizeof message), MP_EINVAL);
    assert_contains(message, "key 'erp' is a section");
}

static void test_usage_errors(void **state)
{
    (void)state;
    struct mp_server_config config;
    char message[MESSAGE_SIZE];
    assert_int_equal(parse(&config, message, 2, "--bogus"), MP_EINVAL);
    assert_contains(message, "unknown option '--bogus'");
    assert_int_equal(parse(&config, message, 2, "--http"), MP_EINVAL);
    assert_contains(message, "option '--http' needs a value HOST:PORT");
    assert_int_equal(parse(&config, message, 2, "--config"), MP_EINVAL);
    assert_contains(message, "needs a value FILE");
    assert_int_equal(parse(&config, message, 2, "extra"), MP_EINVAL);
    assert_contains(message, "unexpected argument 'extra'");
    assert_int_equal(parse(&config, message, 2, "--"), MP_EINVAL);
    assert_int_equal(parse(&config, message, 2, "--print-config=yes"), MP_EINVAL);
    assert_contains(message, "takes no value");
    assert_int_equal(parse(&config, message, 5, "--config", "a", "--config", "b"), MP_EINVAL);
    assert_contains(message, "--config given twice");
    assert_int_equal(parse(&config, message, 3, "--config", "/nonexistent.yaml"), -ENOENT);
    assert_int_equal(parse(&config, message, 3, "--cores", "-1"), MP_EINVAL);
    assert_contains(message, "--cores: value '-1' is not a whole number");
    assert_int_equal(parse(&config, message, 3, "--durability", "fast"), MP_EINVAL);
    assert_contains(message, "--durability: value 'fast' is not one of sync, async");

    /* Requests. */
    assert_int_equal(parse(&config, message, 2, "--print-config"), 0);
    assert_int_equal(config.request, MP_OPTIONS_REQUEST_PRINT_CONFIG);
    assert_int_equal(parse(&config, message, 4, "--config", "/nonexistent.yaml", "--help"), 0);
    assert_int_equal(config.request, MP_OPTIONS_REQUEST_HELP);
    assert_int_equal(parse(&config, message, 2, "-h"), 0);
    assert_int_equal(config.request, MP_OPTIONS_REQUEST_HELP);
    assert_int_equal(parse(&config, message, 2, "--version"), 0);
    assert_int_equal(config.request, MP_OPTIONS_REQUEST_VERSION);
}

static void test_erp_mode(void **state)
{
    (void)state;
    struct mp_server_config config;
    char message[MESSAGE_SIZE];
    assert_int_equal(parse(&config, message, 3, "--erp-url", "https://erp.example/confirm"), 0);
    assert_int_equal(config.erp.mode, MP_OPTIONS_ERP_PUSH);
    assert_string_equal(config.erp.url, "https://erp.example/confirm");

    /* The same from the file alone. */
    write_temp("erp: {url: 'http://erp:8080/in'}\n");
    assert_int_equal(parse(&config, message, 3, "--config", temp_path), 0);
    assert_int_equal(config.erp.mode, MP_OPTIONS_ERP_PUSH);

    /* A mode given anywhere stays. */
    assert_int_equal(parse(&config, message, 5, "--set", "erp.mode=jetstream", "--erp-url",
                           "nats://127.0.0.1:4222"),
                     0);
    assert_int_equal(config.erp.mode, MP_OPTIONS_ERP_JETSTREAM);
    write_temp("erp: {mode: pull}\n");
    assert_int_equal(parse(&config, message, 5, "--config", temp_path, "--erp-url",
                           "http://erp/"),
                     MP_EINVAL);
    assert_contains(message, "erp.url is set but erp.mode is pull");

    assert_int_equal(parse(&config, message, 3, "--set", "erp.mode=push"), MP_EINVAL);
    assert_contains(message, "erp.mode is push but erp.url is empty");
    assert_int_equal(parse(&config, message, 3, "--erp-url", "erp.example:80"), MP_EINVAL);
    assert_contains(message, "not an http:// or https:// URL");
    assert_int_equal(parse(&config, message, 3, "--set", "erp.mode=jetstream"), MP_EINVAL);
    assert_contains(message, "erp.mode is jetstream but erp.url is empty");
}

static void test_relations(void **state)
{
    (void)state;
    struct mp_server_config config;
    char message[MESSAGE_SIZE];
    /* EAL arguments begin with '-': the flag takes them as its value. */
    int result = parse(&config, message, 3, "--dpdk", "--no-huge -l 0 --vdev=net_null0");
    if (MP_HAVE_DPDK) {
        assert_int_equal(result, 0);
        assert_string_equal(config.dpdk, "--no-huge -l 0 --vdev=net_null0");
    } else {
        assert_int_equal(result, MP_EINVAL);
        assert_contains(message, "built without DPDK");
    }
    assert_int_equal(parse(&config, message, 3, "--tcp", "127.0.0.1:7411"), MP_EINVAL);
    assert_contains(message, "http and tcp both listen on 127.0.0.1:7411");
    /* Port 0 twice is fine: the kernel picks two. */
    assert_int_equal(parse(&config, message, 5, "--tcp", "127.0.0.1:0", "--http", "127.0.0.1:0"),
                     0);
}

/* ---- printing ------------------------------------------------------------ */

static void test_round_trip(void **state)
{
    (void)state;
    static const char *const settings[][2] = {
        {"data", "/srv/milepost data/\"quoted\" \\ back\ttab\nline é ✓"},
        {"http", "[::1]:0"},
        {"tcp", "0.0.0.0:17412"},
        {"udp", "example.com:9"},
        {"cores", "3"},
        {"durability", "async"},
        {"erp.url", "https://erp.example/hook?a=1&b=2#x"},
        {"erp.visibility_timeout_ms", "1500"},
        {"erp.batch", "true"},
        {"limits.header_size_max", "1500"},
        {"limits.body_size_max", "64M"},
        {"limits.line_size_max", "1025"},
        {"limits.idle_timeout_ms", "61s"},
        {"limits.header_timeout_ms", "10"},
        {"limits.udp_datagram_size_max", "512"},
        {"pipeline.ring_slots", "65536"},
        {"pipeline.commit_interval_ms", "0"},
        {"pipeline.duplicate_flush_interval_ms", "3m"},
        {"logging.level", "error"},
        {"sources.ups.header_name", "X-UPS-Credential"},
        {"sources.shipengine.jwks_file", "/etc/milepost/shipengine.jwks"},
        {"sources.shipengine.tolerance_s", "86400"},
        {"sources.dhl.header_name", "#not a comment: really"},
    };
    struct mp_server_config config, loaded;
    char message[MESSAGE_SIZE];
    mp_options_init(&config);
    for (size_t index = 0; index < sizeof settings / sizeof settings[0]; index++)
        if (mp_options_set(&config, settings[index][0], settings[index][1], message,
                           sizeof message))
            fail_msg("%s: %s", settings[index][0], message);
    assert_int_equal(mp_options_finish(&config, message, sizeof message), 0);
    assert_int_equal(config.erp.mode, MP_OPTIONS_ERP_PUSH);

    char *printed = print_to_string(&config);
    mp_options_init(&loaded);
    assert_false(mp_options_equal(&config, &loaded));
    if (mp_options_load_file(&loaded, write_temp(printed), message, sizeof message))
        fail_msg("%s\n%s", message, printed);
    assert_int_equal(mp_options_finish(&loaded, message, sizeof message), 0);
    assert_true(mp_options_equal(&config, &loaded));
    char *reprinted = print_to_string(&loaded);
    assert_string_equal(printed, reprinted);
    assert_contains(printed, "\nlimits:\n  header_size_max: 1500\n  body_size_max: 64M\n");
    assert_contains(printed, "  idle_timeout_ms: 61s\n");
    assert_contains(printed, "  commit_interval_ms: 0ms\n");
    assert_contains(printed, "http: \"[::1]:0\"\n");
    assert_contains(printed, "\nsources:\n  easypost:\n    secret: \"\"\n  aftership:\n");
    free(printed);
    free(reprinted);

    /* The defaults round-trip too. */
    mp_options_init(&config);
    printed = print_to_string(&config);
    assert_int_equal(load_text(&loaded, printed, message), 0);
    assert_true(mp_options_equal(&config, &loaded));
    free(printed);
}

static void test_secrets_redacted(void **state)
{
    (void)state;
    struct mp_server_config config;
    char message[MESSAGE_SIZE];
    mp_options_init(&config);
    assert_int_equal(mp_options_set(&config, "sources.easypost.secret", "hunter2-very-secret",
                                    message, sizeof message),
                     0);
    char *printed = print_to_string(&config);
    assert_null(strstr(printed, "hunter2"));
    assert_contains(printed, "  easypost:\n    secret: \"***\"\n");
    assert_contains(printed, "  aftership:\n    secret: \"\"\n");
    assert_contains(printed, "# Secrets are written as \"***\"");
    /* Loading the placeholder back would turn a real secret into "***": refused. */
    assert_int_equal(load_text(&config, printed, message), MP_EINVAL);
    assert_contains(message, "key 'sources.easypost.secret'");
    assert_contains(message, "placeholder");
    free(printed);
    /* Messages never quote a secret. */
    char long_secret[MP_OPTIONS_SECRET_SIZE_MAX + 8];
    memset(long_secret, 'z', sizeof long_secret - 1);
    long_secret[sizeof long_secret - 1] = '\0';
    assert_int_equal(mp_options_set(&config, "sources.ups.secret", long_secret, message,
                                    sizeof message),
                     MP_EINVAL);
    assert_null(strstr(message, "zzz"));
}

static void test_help(void **state)
{
    (void)state;
    char *text = NULL;
    size_t size = 0;
    FILE *stream = open_memstream(&text, &size);
    assert_non_null(stream);
    assert_int_equal(mp_options_help(stream), 0);
    fclose(stream);
    assert_contains(text, "usage: milepost serve [--config FILE] [--data DIR]");
    assert_contains(text, "[--erp-url URL]");
    assert_contains(text, "[--print-config]");
    assert_contains(text, "  limits.body_size_max  (default 8M, 1k to 64M)\n");
    assert_contains(text, "  limits.idle_timeout_ms  (default 1m, 10ms to 1h)\n");
    assert_contains(text, "  durability, --durability sync|async  (default sync, one of "
                          "sync|async)\n");
    assert_contains(text, "  http, --http HOST:PORT  (default \"127.0.0.1:7411\")\n");
    assert_contains(text, "a power of two");
    assert_contains(text, "sources.17track.secret");
    /* Every line fits a terminal. */
    for (const char *line = text; *line;) {
        size_t length = strcspn(line, "\n");
        if (length > 100)
            fail_msg("help line too long: %.*s", (int)length, line);
        line += length + (line[length] == '\n');
    }
    free(text);
}

/* ---- the example config -------------------------------------------------- */

/*
 * docs/milepost.example.yaml shows every key with its default: it loads,
 * it equals the defaults, and without its comments it is exactly what
 * --print-config prints for the defaults, so a key added to the table
 * without the example fails here.
 */
static void test_example_file(void **state)
{
    (void)state;
    const char *root = getenv("MP_SOURCE_ROOT");
    if (!root)
        skip();
    char path[MP_OPTIONS_PATH_SIZE_MAX];
    snprintf(path, sizeof path, "%s/docs/milepost.example.yaml", root);
    struct mp_server_config config, defaults;
    char message[MESSAGE_SIZE];
    mp_options_init(&config);
    mp_options_init(&defaults);
    if (mp_options_load_file(&config, path, message, sizeof message))
        fail_msg("%s", message);
    assert_int_equal(mp_options_finish(&config, message, sizeof message), 0);
    assert_true(mp_options_equal(&config, &defaults));

    FILE *file = fopen(path, "r");
    assert_non_null(file);
    char *example = malloc(TEXT_SIZE_MAX);
    char *stripped_example = malloc(TEXT_SIZE_MAX);
    char *stripped_defaults = malloc(TEXT_SIZE_MAX);
    assert_true(example && stripped_example && stripped_defaults);
    size_t size = fread(example, 1, TEXT_SIZE_MAX - 1, file);
    fclose(file);
    example[size] = '\0';
    char *printed = print_to_string(&defaults);
    strip_comments(example, stripped_example, TEXT_SIZE_MAX);
    strip_comments(printed, stripped_defaults, TEXT_SIZE_MAX);
    assert_string_equal(stripped_example, stripped_defaults);
    free(printed);
    free(example);
    free(stripped_example);
    free(stripped_defaults);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_load_nested),
        cmocka_unit_test(test_sizes_and_durations),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_bad_enum_and_bool),
        cmocka_unit_test(test_bad_address),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_file_shape),
        cmocka_unit_test(test_flags_override_file),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_erp_mode),
        cmocka_unit_test(test_relations),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_secrets_redacted),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_example_file),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (temp_path[0])
        unlink(temp_path);
    return failed ? 1 : 0;
}
