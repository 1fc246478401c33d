/*
 * The configuration of `milepost serve`: one table of options, a YAML
 * config file, command-line flags over it, and the effective config
 * printed back as YAML (API.md "Binaries", "Config file").
 *
 * Every option lives in one table in mp_options.c: its dotted name
 * (`limits.body_size_max`), type, default, minimum, maximum, help text and
 * flag.  The file loader, the flag parser, `--set KEY=VALUE`,
 * `--print-config` and `--help` all work from that table, so an option
 * added there is at once readable from the file, settable from the
 * command line, printed, range-checked and documented.  Unknown keys and
 * out-of-range values are errors that name the key (STYLE.md
 * "Configuration").
 *
 * Nothing here logs: every failure comes back as a code and one line in
 * the caller's message buffer.  All functions are for start-up, from one
 * thread; none keeps a pointer to its arguments.
 */
#ifndef MP_OPTIONS_H
#define MP_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mp_event.h"
#include "mp_limits.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Bounds of configuration values that no other module owns yet.  Sizes
 * are of the char arrays below, terminating NUL included, so a value may
 * be one byte shorter.
 */
#define MP_OPTIONS_PATH_SIZE_MAX 4096          /* a file or directory path (PATH_MAX) */
#define MP_OPTIONS_HOST_SIZE_MAX 256           /* a DNS name is at most 253 bytes */
#define MP_OPTIONS_URL_SIZE_MAX 2048
#define MP_OPTIONS_DPDK_ARGS_SIZE_MAX 1024     /* EAL arguments, one string */
#define MP_OPTIONS_SECRET_SIZE_MAX 512
#define MP_OPTIONS_HEADER_NAME_SIZE_MAX 64
#define MP_OPTIONS_NAME_SIZE_MAX 64            /* a dotted option name */
#define MP_OPTIONS_LIST_SIZE_MAX 1024          /* a list option: names joined by commas */
#define MP_OPTIONS_FILE_SIZE_MAX (1u << 20)    /* the config file itself */

/* Bounds of limits that the protocol modules will allocate for. */
#define MP_OPTIONS_HEADER_SIZE_MAX (64u << 10)       /* HTTP request line and headers */
#define MP_OPTIONS_CONNECTIONS_MAX 1000000u          /* open TCP and HTTP connections */
#define MP_OPTIONS_UDP_DATAGRAM_SIZE_MAX 65507u      /* largest IPv4 UDP payload */
#define MP_OPTIONS_TIMEOUT_MS_MAX 3600000u           /* one hour, any read timeout */
#define MP_OPTIONS_COMMIT_INTERVAL_MS_MAX 1000u
#define MP_OPTIONS_VISIBILITY_TIMEOUT_MS_MAX 43200000u /* twelve hours */
#define MP_OPTIONS_TOLERANCE_S_MAX 86400u            /* a webhook timestamp's age */

enum mp_options_durability {
    MP_OPTIONS_DURABILITY_SYNC = 0,  /* acknowledge after the fsync that covers it */
    MP_OPTIONS_DURABILITY_ASYNC,     /* acknowledge after the WAL write, no fsync */
};

enum mp_options_erp_mode {
    MP_OPTIONS_ERP_PULL = 0,         /* the ERP fetches from GET /v1/erp/confirmations */
    MP_OPTIONS_ERP_PUSH,             /* milepost POSTs to erp.url */
    MP_OPTIONS_ERP_JETSTREAM,        /* milepost publishes to the NATS server at erp.url */
};

enum mp_options_log_level {
    MP_OPTIONS_LOG_ERROR = 0,
    MP_OPTIONS_LOG_WARN,
    MP_OPTIONS_LOG_INFO,
    MP_OPTIONS_LOG_DEBUG,
};

/* What the command line asked for besides configuration. */
enum mp_options_request {
    MP_OPTIONS_REQUEST_SERVE = 0,
    MP_OPTIONS_REQUEST_PRINT_CONFIG,  /* --print-config: print, exit 0 */
    MP_OPTIONS_REQUEST_HELP,          /* --help / -h: mp_options_help(), exit 0 */
    MP_OPTIONS_REQUEST_VERSION,       /* --version / -V: print the version, exit 0 */
};

/* A listening address; the host is kept without IPv6 brackets. */
struct mp_options_address {
    char host[MP_OPTIONS_HOST_SIZE_MAX];
    uint16_t port;                    /* 0: the kernel chooses */
};

/*
 * One webhook source's settings, for the adapters issue.  Every source
 * has `secret` (empty: requests are not authenticated; set: a bad or
 * missing signature is 401).  The others exist in the table only for the
 * sources that use them and stay zero/empty elsewhere.
 */
struct mp_options_source {
    char secret[MP_OPTIONS_SECRET_SIZE_MAX];           /* HMAC key, or the ups/dhl token */
    char header_name[MP_OPTIONS_HEADER_NAME_SIZE_MAX]; /* ups, dhl: header carrying secret */
    char jwks_file[MP_OPTIONS_PATH_SIZE_MAX];          /* shipengine: RSA keys (JWKS) */
    uint32_t tolerance_s;                              /* shippo, shipengine: timestamp age */
};

/*
 * The server's whole configuration.
 *
 * The fields are public, against the usual opaque handle (STYLE.md
 * "Modules and handles"), because this is plain data: no resources, no
 * invariants beyond each value's range, which every setter checks, and
 * the whole point is that start-up code reads it
 * (`config->limits.body_size_max`) and hands pieces to other modules'
 * option structs.  It is self-contained (fixed arrays, no pointers), so
 * it may be copied by assignment.  Treat it as read-only after
 * mp_options_parse_args(): change values only through mp_options_set()
 * or the loaders, which check them.
 */
struct mp_server_config {
    char data[MP_OPTIONS_PATH_SIZE_MAX];
    struct mp_options_address http;
    struct mp_options_address tcp;
    struct mp_options_address udp;
    uint32_t cores;                               /* 0: every core we may run on */
    enum mp_options_durability durability;
    char dpdk[MP_OPTIONS_DPDK_ARGS_SIZE_MAX];     /* EAL arguments; empty: no DPDK port */

    struct {
        enum mp_options_erp_mode mode;
        char url[MP_OPTIONS_URL_SIZE_MAX];
        uint32_t visibility_timeout_ms;           /* pull: a fetched confirmation's lease */
        bool batch;                               /* push: POST JSON arrays */
        /* Delivery (docs/erp.md): push and jetstream. */
        uint32_t batch_max;                       /* items per POST with batch; per round */
        uint32_t timeout_ms;                      /* one delivery, connect included */
        uint32_t retry_initial_ms;                /* backoff: first cap */
        uint32_t retry_max_ms;                    /* backoff: largest cap */
        uint32_t window;                          /* unsettled items read at once */
        uint64_t backlog_max;                     /* outbox rows before ingest gets 503 */
        char auth_header[MP_OPTIONS_SECRET_SIZE_MAX];  /* push: "Name: value" */
        char hmac_secret[MP_OPTIONS_SECRET_SIZE_MAX];  /* push: X-Milepost-Signature key */
        /* JetStream (docs/erp.md "JetStream"). */
        char subject[MP_OPTIONS_HOST_SIZE_MAX];   /* jetstream: the subject published to */
        char stream[MP_OPTIONS_HOST_SIZE_MAX];    /* jetstream: the stream create_stream makes */
        bool create_stream;                       /* jetstream: create it when missing */
        /* The filter: comma-separated names (YAML lists load as such); empty: any. */
        char milestones[MP_OPTIONS_LIST_SIZE_MAX];
        char carriers[MP_OPTIONS_LIST_SIZE_MAX];
        char sources[MP_OPTIONS_LIST_SIZE_MAX];
        char reasons[MP_OPTIONS_LIST_SIZE_MAX];
    } erp;

    struct {
        uint32_t header_size_max;                 /* bytes; at most MP_OPTIONS_HEADER_SIZE_MAX */
        uint32_t body_size_max;                   /* bytes; at most MP_BODY_SIZE_MAX */
        uint32_t line_size_max;                   /* bytes; at most MP_LINE_SIZE_MAX */
        uint32_t connections_max;
        uint32_t events_per_request_max;          /* at most MP_EVENTS_PER_REQUEST_MAX */
        uint32_t idle_timeout_ms;
        uint32_t header_timeout_ms;
        uint32_t body_timeout_ms;
        uint32_t udp_datagram_size_max;           /* bytes */
    } limits;

    struct {
        uint32_t ring_slots;                      /* per (core, core) ring; a power of two */
        uint32_t cache_records_max;               /* per shard */
        uint32_t commit_interval_ms;              /* group commit: longest wait for company */
        uint32_t duplicate_flush_interval_ms;     /* duplicate counts reach the store */
    } pipeline;

    struct {
        enum mp_options_log_level level;
    } logging;

    /* Indexed by enum mp_source; MP_SOURCE_CANONICAL's entry is unused. */
    struct mp_options_source sources[MP_SOURCE_COUNT];

    /*
     * Not configuration: how the values came to be and what the command
     * line asked for.  Never printed, never compared.
     */
    bool erp_mode_given;                          /* erp.mode set explicitly */
    enum mp_options_request request;
    char config_path[MP_OPTIONS_PATH_SIZE_MAX];   /* --config FILE; empty: none */
};

/* Fills config with every option's default.  Cannot fail. */
void mp_options_init(struct mp_server_config *config);

/*
 * Sets one option by its dotted name from text, as the config file or
 * `--set name=value` would.  Returns 0; MP_EINVAL with a message naming
 * the key (unknown key, wrong type, out of range), and config untouched.
 */
int mp_options_set(struct mp_server_config *config, const char *name, const char *value,
                   char *message, size_t message_size);

/*
 * Reads a YAML config file over config's current values (so call
 * mp_options_init() first).  The top level is a mapping; nested mappings
 * flatten to dotted names (`limits: {body_size_max: 8M}` is
 * `limits.body_size_max`), and dotted keys are accepted as they are.
 * Returns 0; MP_EINVAL (syntax, not a mapping, unknown or duplicate key,
 * bad or out-of-range value), MP_ETOOBIG (file over
 * MP_OPTIONS_FILE_SIZE_MAX) or -errno (cannot read), each with a message
 * "PATH:LINE: ..." naming the key.  On failure config may hold the values
 * set before the bad one: discard it.
 */
int mp_options_load_file(struct mp_server_config *config, const char *path,
                         char *message, size_t message_size);

/*
 * Derives what depends on several options and checks how they relate:
 * erp.mode becomes push when erp.url is set and erp.mode was not given;
 * push and jetstream need erp.url, pull refuses one; --dpdk needs a build
 * with DPDK; HTTP and TCP need different ports.  Returns 0 or MP_EINVAL
 * with a message.
 */
int mp_options_finish(struct mp_server_config *config, char *message, size_t message_size);

/*
 * Builds the whole configuration of `milepost serve` from its arguments:
 * defaults, then the file of `--config FILE`, then every other flag in
 * order (`--data --http --tcp --udp --cores --durability --erp-url --dpdk`,
 * `--set KEY=VALUE` for any option; `--flag VALUE` or `--flag=VALUE`),
 * then mp_options_finish().  argv[0] is the command name and is skipped.
 * `--print-config`, `--help` and `--version` set config->request; with
 * `--help` or `--version` nothing else is read or checked.
 *
 * Returns 0; MP_EINVAL for bad usage or a bad value, MP_ETOOBIG or -errno
 * when the config file cannot be used, each with a one-line message.
 * The caller prints "milepost: MESSAGE" and exits 2 on any failure.
 */
int mp_options_parse_args(struct mp_server_config *config, int argc, char **argv,
                          char *message, size_t message_size);

/*
 * Writes the effective configuration as YAML that mp_options_load_file()
 * reads back to an equal config; non-empty secrets are written as "***",
 * which the loader refuses.  Returns 0, or -EIO when out could not be
 * written.
 */
int mp_options_print_yaml(const struct mp_server_config *config, FILE *out);

/* Writes `milepost serve` usage and every option from the table.  Returns 0 or -EIO. */
int mp_options_help(FILE *out);

/* True when every option in the table has the same value in a and b. */
bool mp_options_equal(const struct mp_server_config *a, const struct mp_server_config *b);

#ifdef __cplusplus
}
#endif

#endif
