/*
 * config.h - wasp's configuration: the INI loader, the typed configuration
 * "generation" it produces, and route lookup.
 *
 * A generation is immutable once cfg_load() returns it and reference-counted:
 * the main thread loads a new one on SIGHUP, hands a reference to each worker,
 * and drops its own reference to the old one; in-flight streams keep the
 * generation they started with alive until they finish. Nothing ever mutates
 * a published generation, so readers on any thread need no locks.
 *
 * Every key of etc/waspd.ini is described there; this header describes the
 * resulting C model. Durations are stored in milliseconds, sizes in bytes.
 */
#ifndef WASP_CONFIG_H
#define WASP_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

enum cfg_log_level {
    CFG_LOG_ERROR,
    CFG_LOG_WARN,
    CFG_LOG_NOTICE,
    CFG_LOG_INFO,
    CFG_LOG_DEBUG,
};

/* Where a log goes: "off", "stderr", "stdout" or a file path. */
enum cfg_log_kind {
    CFG_LOG_OFF,
    CFG_LOG_STDERR,
    CFG_LOG_STDOUT,
    CFG_LOG_FILE,
};

struct cfg_log_dest {
    enum cfg_log_kind kind;
    const char *path; /* CFG_LOG_FILE only, else NULL */
};

enum cfg_listener_protocol {
    CFG_LISTENER_HTTP,
    CFG_LISTENER_HTTPS, /* TLS, then HTTP/2 or HTTP/1.1 by ALPN */
    CFG_LISTENER_TCP,   /* parsed and validated; served once TCP proxying lands */
};

enum cfg_upstream_protocol {
    CFG_UPSTREAM_HTTP1,
};

enum cfg_failure_policy {
    CFG_FAIL_CLOSED, /* the stream gets a 503 */
    CFG_FAIL_OPEN,   /* the stream goes on without the plugin */
    CFG_FAIL_RELOAD, /* the trapped instance is replaced by a fresh clone */
};

/*
 * A socket address, resolved at load time (getaddrinfo, first result).
 * Listeners: "127.0.0.1:8080", "[::1]:8080", "*:8080" / "0.0.0.0:8080".
 * Endpoints: the same, or "name:port".
 */
struct cfg_address {
    const char *text; /* as written in the file, e.g. "[::1]:8080" */
    const char *host; /* host part, without brackets */
    uint16_t port;
    struct sockaddr_storage sa;
    socklen_t sa_len;
};

struct cfg_daemon {
    unsigned workers;               /* >= 1; "auto" already resolved to online CPUs */
    bool workers_auto;              /* "workers = auto" was given (or defaulted) */
    struct cfg_log_dest error_log;  /* default stderr */
    struct cfg_log_dest access_log; /* default off */
    enum cfg_log_level log_level;   /* default info */
    uint64_t drain_timeout_ms;      /* default 30s */
    const char *pid_file;           /* NULL: none */
};

/* "tls_sni = NAME CERT KEY": a certificate for one server name ("*.x" = one label). */
struct cfg_tls_sni {
    const char *name; /* lower case */
    const char *certificate;
    const char *key;
};

/* A header to add (value != NULL) or to remove (value == NULL). */
struct cfg_header {
    const char *name;
    const char *value;
};

/* A local response: "respond = 200 body text" (body may be empty). */
struct cfg_response {
    unsigned status;  /* 200..599 */
    const char *body; /* escapes (\n \t \\ \") already decoded */
    size_t body_len;
    const char *content_type; /* "text/plain; charset=utf-8" */
};

struct cfg_cluster;

/* An on/off key that may be left to an enclosing section. */
enum cfg_switch {
    CFG_SWITCH_UNSET = 0,
    CFG_SWITCH_OFF,
    CFG_SWITCH_ON,
};

/*
 * What a request is sent to. Exactly one of cluster / respond is non-NULL in a
 * route's target; a listener's default_target may have both NULL (no default:
 * unmatched requests get a 404).
 */
struct cfg_target {
    const char *route; /* route name, NULL for the listener default */
    const struct cfg_cluster *cluster;
    const struct cfg_response *respond;
    enum cfg_switch upgrades; /* routes: "upgrades"; UNSET: as the listener says */
};

enum cfg_host_match {
    CFG_HOST_EXACT,  /* host == pattern (case-insensitive) */
    CFG_HOST_SUFFIX, /* "*.example.com": any host ending in ".example.com" */
    CFG_HOST_ANY,    /* no host key, or host = * */
};

/* [route:NAME] */
struct cfg_route {
    const char *name;
    unsigned index; /* position in the file among routes */
    enum cfg_host_match host_match;
    const char *host; /* lower case; SUFFIX: ".example.com"; ANY: NULL */
    size_t host_len;
    const char *path_prefix; /* starts with '/', default "/" */
    size_t path_prefix_len;
    const char *const *listeners; /* listener names; n_listeners == 0: every listener */
    size_t n_listeners;
    struct cfg_target target;
};

/* [plugin:NAME]: a proxy-wasm plugin (src/plugin/ loads and runs it) */
struct cfg_plugin {
    const char *name;
    unsigned line;             /* of the section header, for messages */
    const char *file;          /* readable regular file, path as resolved */
    const char *root_id;       /* default "" */
    const char *vm_id;         /* default "": a VM of its own */
    const char *configuration; /* bytes given to proxy_on_configure; never NULL */
    size_t configuration_len;
    const char *vm_configuration; /* bytes given to proxy_on_vm_start; never NULL */
    size_t vm_configuration_len;
    enum cfg_failure_policy failure_policy; /* default fail_closed */
    uint64_t max_memory;                    /* bytes, default 64m */
    uint64_t max_execution_time_ms;         /* per callback, default 100ms; 0: unlimited */
    uint64_t fuel;                          /* per callback instruction budget; 0: none */
    const char *const *environment;         /* "KEY=VALUE" strings */
    size_t n_environment;
};

/* [cluster:NAME] */
struct cfg_cluster {
    const char *name;
    const struct cfg_address *endpoints; /* round robin order */
    size_t n_endpoints;                  /* >= 1 */
    uint64_t connect_timeout_ms;         /* default 5s */
    uint64_t read_timeout_ms;            /* default 30s: from the request's last byte
                                          * sent, then between response bytes */
    uint64_t idle_timeout_ms;            /* default 60s: pooled connection */
    unsigned max_idle;                   /* pooled connections per worker, default 32 */
    unsigned retries;                    /* 0 or 1, default 1 */
    enum cfg_upstream_protocol protocol; /* default http1 */
};

/* [listener:NAME] */
struct cfg_listener {
    const char *name;
    struct cfg_address address;
    enum cfg_listener_protocol protocol;
    const char *tls_certificate; /* https only, readable; else NULL */
    const char *tls_key;
    const struct cfg_tls_sni *tls_sni; /* https only: per-name certificates */
    size_t n_tls_sni;

    uint64_t max_request_line;  /* default 8k */
    uint64_t max_header_size;   /* whole header block, default 32k */
    uint64_t max_headers;       /* default 100 */
    uint64_t http2_max_streams; /* concurrent HTTP/2 streams per connection, default 128 */
    uint64_t max_body_size;    /* default 0: no limit */
    /* Request body bytes read whole before the upstream sees the head; 0: off,
     * UINT64_MAX: on (every body, bounded by max_body_size). Default 64k. */
    uint64_t request_buffering;
    /* Body bytes the filter chain holds for a filter (a plugin) that pauses on a body;
     * beyond it a request gets 413, a response 500. Default 1m. */
    uint64_t hold_limit;
    bool upgrades; /* default on: Upgrade (WebSocket, ...) and extended CONNECT tunnel */

    uint64_t header_timeout_ms; /* default 10s: whole request head */
    uint64_t idle_timeout_ms;   /* default 60s: keep-alive between requests */
    uint64_t body_timeout_ms;   /* default 30s: between request body reads */
    uint64_t tunnel_idle_timeout_ms; /* default 5m: an upgraded connection with no byte
                                      * either way */
    uint64_t test_pause_ms;     /* default 0 (off): testing, the built-in pause filter
                                 * holds request and response headers this long */

    const struct cfg_plugin *const *plugins; /* the filter chain, in order */
    size_t n_plugins;

    struct cfg_target default_target; /* "cluster =" or "respond =" */

    /* Every route that applies to this listener, in lookup order (see
     * cfg_route_lookup()). */
    const struct cfg_route *const *routes;
    size_t n_routes;

    const struct cfg_header *request_headers_add;
    size_t n_request_headers_add;
    const struct cfg_header *request_headers_remove;
    size_t n_request_headers_remove;
    const struct cfg_header *response_headers_add;
    size_t n_response_headers_add;
    const struct cfg_header *response_headers_remove;
    size_t n_response_headers_remove;
};

struct cfg_arena;

/* One loaded, validated, immutable configuration. */
struct cfg_generation {
    atomic_uint refs;
    uint64_t number; /* 1 for the first successful load, then +1 per load */
    const char *path;
    struct cfg_daemon daemon;
    const struct cfg_listener *const *listeners;
    size_t n_listeners; /* file order */
    const struct cfg_cluster *const *clusters;
    size_t n_clusters;
    const struct cfg_plugin *const *plugins;
    size_t n_plugins;
    const struct cfg_route *const *routes;
    size_t n_routes;
    struct cfg_arena *arena; /* owns every byte above */
};

/* Error messages of a failed load: "file:line: [section] key: what is wrong". */
struct cfg_errors {
    char **items;
    size_t count;
    size_t cap;
};

/* Frees the messages (not the struct itself) and empties the list. */
void cfg_errors_free(struct cfg_errors *errors);
/* Appends a message (printf format). Control characters are masked ('?'), except line
 * breaks: a message may go on over lines (a plugin's log lines, a backtrace), each
 * continuation line starting with two spaces. */
void cfg_errors_add(struct cfg_errors *errors, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Loads, validates and publishes a configuration file.
 * Relative paths inside the file (plugin files, configuration_file) are
 * resolved against the file's directory.
 *
 * @param path    the INI file
 * @param errors  caller-owned, initially zeroed; receives every error found
 *                (not just the first); free with cfg_errors_free()
 * @return a generation with one reference (the caller's), or NULL when any
 *         error was found (errors->count > 0). Thread-safe; does not touch
 *         any running generation.
 */
const struct cfg_generation *cfg_load(const char *path, struct cfg_errors *errors);

/*
 * As cfg_load(), from a string; `name` is used in error messages and
 * relative paths are resolved against the current directory.
 */
const struct cfg_generation *cfg_load_string(const char *name, const char *text,
                                             struct cfg_errors *errors);

/* Takes a reference (any thread). @return g */
const struct cfg_generation *cfg_ref(const struct cfg_generation *g);

/* Drops a reference (any thread); the last one frees the generation. NULL ok. */
void cfg_unref(const struct cfg_generation *g);

/*
 * The config half of `waspd -t -c FILE`: loads the file, prints every error
 * (one per line) to `out`, or "FILE: configuration is valid" when none.
 * @return 0 when valid, 1 otherwise (the process exit status).
 */
int cfg_check(const char *path, FILE *out);

/*
 * Reload support: whether listener `b` of a new generation can keep the
 * listening sockets of listener `a` of the running one (same address and
 * protocol). Listeners of the new generation without such a match are
 * opened, those of the old one left without a match are closed.
 */
bool cfg_listener_same_socket(const struct cfg_listener *a, const struct cfg_listener *b);

/* Finds a section by name. @return NULL when absent. */
const struct cfg_listener *cfg_find_listener(const struct cfg_generation *g, const char *name);
const struct cfg_cluster *cfg_find_cluster(const struct cfg_generation *g, const char *name);
const struct cfg_plugin *cfg_find_plugin(const struct cfg_generation *g, const char *name);

/*
 * Picks where a request goes. Routes are tried in this order, first match wins:
 *   1. the most specific host: exact names, then "*.suffix" wildcards
 *      (longest suffix first), then routes without a host;
 *   2. within the same host, the longest path_prefix;
 *   3. then file order.
 * If no route matches, the listener's default (cluster or respond) is used.
 *
 * @param host  the Host header / :authority (a ":port" and one trailing dot
 *              are ignored, case-insensitive); may be NULL/0 (matches only
 *              routes without a host)
 * @param path  the request target (origin form); a plain byte-prefix match
 * @return the target, or NULL when nothing matches (answer 404). The pointer
 *         lives as long as the generation. Lock-free, any thread.
 */
const struct cfg_target *cfg_route_lookup(const struct cfg_listener *l, const char *host,
                                          size_t host_len, const char *path, size_t path_len);

/*
 * Value parsers, shared by the loader and the tests.
 * Durations: one or more <number><unit> with unit ms, s, m, h ("250ms",
 * "5s", "1m30s"), or "0". Sizes: <number>[k|m|g] (powers of 1024).
 * @return 0 and the value, or -1 when malformed or overflowing.
 */
int cfg_parse_duration(const char *text, uint64_t *ms);
int cfg_parse_size(const char *text, uint64_t *bytes);

#endif /* WASP_CONFIG_H */
