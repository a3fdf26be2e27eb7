/*
 * load.c - the INI loader: reads a file with libinih, fills typed section
 * objects through per-kind key tables, applies defaults, validates and
 * cross-links everything, and publishes the result as a new immutable
 * generation. Every error is collected, each naming file:line, the section
 * and the key, so one `waspd -t` run shows all of them.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "internal.h"

#define MAX_KEYS 32
#define MAX_NAME 64

enum { KEY_REQUIRED = 1, KEY_MULTI = 2 };

struct loader;
struct section;
struct key;

/* Parses `value` for key `k` of section `sec`. On error it reports through
 * ld_key_error() and returns -1. */
typedef int key_parser(struct loader *ld, struct section *sec, const struct key *k,
                       const char *value);

struct key {
    const char *name;
    key_parser *parse;
    size_t offset;       /* of the field in the section's draft object */
    size_t count_offset; /* KEY_MULTI / lists: of the element count */
    const char *def;     /* default, parsed like a value; NULL: none */
    unsigned flags;
    uint64_t min, max; /* bounds of numbers, sizes and durations */
};

enum kind_id { KIND_DAEMON, KIND_LISTENER, KIND_CLUSTER, KIND_ROUTE, KIND_PLUGIN };

struct kind {
    enum kind_id id;
    const char *name;
    bool named;
    size_t obj_size;
    const struct key *keys;
    size_t n_keys;
};

/* One section of the file while it loads. */
struct section {
    const struct kind *kind;
    const char *name;            /* NULL for [daemon] */
    unsigned line;               /* of the header; 0 for an implicit [daemon] */
    void *obj;                   /* the kind's draft object, in the arena */
    unsigned key_line[MAX_KEYS]; /* 0: key not given */
};

/* Draft objects: the public struct first, then what is resolved later. */
struct daemon_draft {
    struct cfg_daemon pub;
};

struct listener_draft {
    struct cfg_listener pub;
    const char *cluster;
    struct cfg_response *respond;
    const char **plugin_names;
    size_t n_plugin_names;
};

struct cluster_draft {
    struct cfg_cluster pub;
};

struct route_draft {
    struct cfg_route pub;
    const char *cluster;
    struct cfg_response *respond;
};

struct plugin_draft {
    struct cfg_plugin pub;
    const char *configuration_file;
};

struct loader {
    const char *file;     /* name used in messages */
    const char *base_dir; /* for relative paths; NULL: current directory */
    const char *text;
    size_t len, pos;
    unsigned line;
    struct section *cur; /* section receiving keys */
    bool skip;           /* current header was bad: ignore its keys */
    struct section *sections;
    size_t n_sections, cap_sections;
    struct cfg_arena *arena;
    struct cfg_errors *errors;
};

static atomic_uint_fast64_t generation_counter;

/* ---- errors ---------------------------------------------------------- */

void cfg_errors_add(struct cfg_errors *e, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    if (e->count == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        char **items = realloc(e->items, cap * sizeof(*items));
        if (items == NULL)
            return;
        e->items = items;
        e->cap = cap;
    }
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) >= 0) {
        /* Values are quoted in messages: keep terminals safe from them. A value never
         * holds a line break (the file is read by lines); messages that go on over
         * lines (a plugin's own log lines, a backtrace) keep theirs. */
        for (char *p = msg; *p; p++)
            if (((unsigned char)*p < 0x20 && *p != '\n') || *p == 0x7f)
                *p = '?';
        e->items[e->count++] = msg;
    }
    va_end(ap);
}

void cfg_errors_free(struct cfg_errors *errors)
{
    for (size_t i = 0; i < errors->count; i++)
        free(errors->items[i]);
    free(errors->items);
    errors->items = NULL;
    errors->count = errors->cap = 0;
}

static void section_label(const struct section *sec, char *buf, size_t size)
{
    if (sec->name != NULL)
        snprintf(buf, size, "%s:%s", sec->kind->name, sec->name);
    else
        snprintf(buf, size, "%s", sec->kind->name);
}

static void ld_error_v(struct loader *ld, unsigned line, const struct section *sec, const char *key,
                       const char *fmt, va_list ap)
{
    char what[512], where[160], label[MAX_NAME + 16];

    vsnprintf(what, sizeof(what), fmt, ap);
    if (line > 0)
        snprintf(where, sizeof(where), "%s:%u: ", ld->file, line);
    else
        snprintf(where, sizeof(where), "%s: ", ld->file);
    if (sec == NULL) {
        if (key != NULL)
            cfg_errors_add(ld->errors, "%s%s: %s", where, key, what);
        else
            cfg_errors_add(ld->errors, "%s%s", where, what);
        return;
    }
    section_label(sec, label, sizeof(label));
    if (key != NULL)
        cfg_errors_add(ld->errors, "%s[%s] %s: %s", where, label, key, what);
    else
        cfg_errors_add(ld->errors, "%s[%s]: %s", where, label, what);
}

static void ld_error(struct loader *ld, unsigned line, const struct section *sec, const char *key,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void ld_error(struct loader *ld, unsigned line, const struct section *sec, const char *key,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ld_error_v(ld, line, sec, key, fmt, ap);
    va_end(ap);
}

/* Reports against key `k` of `sec` at that key's line (or the section's). */
static void ld_key_error(struct loader *ld, const struct section *sec, const struct key *k,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void ld_key_error(struct loader *ld, const struct section *sec, const struct key *k,
                         const char *fmt, ...)
{
    size_t i = (size_t)(k - sec->kind->keys);
    unsigned line = sec->key_line[i] ? sec->key_line[i] : sec->line;
    va_list ap;
    va_start(ap, fmt);
    ld_error_v(ld, line, sec, k->name, fmt, ap);
    va_end(ap);
}

/* ---- small helpers ----------------------------------------------------- */

#define FIELD(sec, k, type) ((type *)((char *)(sec)->obj + (k)->offset))
#define COUNT(sec, k) ((size_t *)((char *)(sec)->obj + (k)->count_offset))

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
            return false;
    return true;
}

/* RFC 9110 token characters, for header names. */
static bool token_ok(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("!#$%&'*+-.^_`|~", s[i]))
            return false;
    return true;
}

static bool field_value_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 && *s != '\t')
            return false;
    return true;
}

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Calls fn(ld, sec, k, item, len) for each comma-separated item, trimmed.
 * Empty items are an error. @return 0, or -1 if any item failed. */
static int for_each_item(struct loader *ld, struct section *sec, const struct key *k,
                         const char *value,
                         int (*fn)(struct loader *, struct section *, const struct key *,
                                   const char *, size_t))
{
    int rc = 0;
    const char *p = value;

    for (;;) {
        const char *end = strchr(p, ',');
        const char *stop = end ? end : p + strlen(p);
        const char *b = skip_ws(p);
        const char *e = stop;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e == b) {
            ld_key_error(ld, sec, k, "empty item in list '%s'", value);
            return -1;
        }
        if (fn(ld, sec, k, b, (size_t)(e - b)) < 0)
            rc = -1;
        if (end == NULL)
            return rc;
        p = end + 1;
    }
}

/* ---- value parsers --------------------------------------------------- */

/* Reads a decimal number within the key's bounds. @return 0, or -1. */
static int read_u64(struct loader *ld, struct section *sec, const struct key *k, const char *value,
                    uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(value, &end, 10);
    if (!isdigit((unsigned char)value[0]) || *end != '\0' || errno == ERANGE) {
        ld_key_error(ld, sec, k, "'%s' is not a number", value);
        return -1;
    }
    if (v < k->min || (k->max && v > k->max)) {
        ld_key_error(ld, sec, k, "%llu is out of range (%llu..%llu)", v, (unsigned long long)k->min,
                     (unsigned long long)k->max);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_u64(struct loader *ld, struct section *sec, const struct key *k, const char *value)
{
    return read_u64(ld, sec, k, value, FIELD(sec, k, uint64_t));
}

/* For `unsigned` fields; the key's max must fit. */
static int parse_unsigned(struct loader *ld, struct section *sec, const struct key *k,
                          const char *value)
{
    uint64_t v;

    if (read_u64(ld, sec, k, value, &v) < 0)
        return -1;
    *FIELD(sec, k, unsigned) = (unsigned)v;
    return 0;
}

static int parse_duration(struct loader *ld, struct section *sec, const struct key *k,
                          const char *value)
{
    uint64_t ms;

    if (cfg_parse_duration(value, &ms) < 0) {
        ld_key_error(ld, sec, k, "'%s' is not a duration (e.g. 250ms, 5s, 1m, 1h; units required)",
                     value);
        return -1;
    }
    if (ms < k->min || (k->max && ms > k->max)) {
        ld_key_error(ld, sec, k, "'%s' is out of range (%llums..%llums)", value,
                     (unsigned long long)k->min, (unsigned long long)k->max);
        return -1;
    }
    *FIELD(sec, k, uint64_t) = ms;
    return 0;
}

static int parse_size(struct loader *ld, struct section *sec, const struct key *k,
                      const char *value)
{
    uint64_t bytes;

    if (cfg_parse_size(value, &bytes) < 0) {
        ld_key_error(ld, sec, k, "'%s' is not a size (e.g. 8192, 64k, 10m, 1g)", value);
        return -1;
    }
    if (bytes < k->min || (k->max && bytes > k->max)) {
        ld_key_error(ld, sec, k, "'%s' is out of range (%llu..%llu bytes)", value,
                     (unsigned long long)k->min, (unsigned long long)k->max);
        return -1;
    }
    *FIELD(sec, k, uint64_t) = bytes;
    return 0;
}

/* Any text, possibly empty. */
static int parse_text(struct loader *ld, struct section *sec, const struct key *k,
                      const char *value)
{
    *FIELD(sec, k, const char *) = cfg_arena_strdup(ld->arena, value);
    return 0;
}

/* A section name (reference to another section). */
static int parse_name(struct loader *ld, struct section *sec, const struct key *k,
                      const char *value)
{
    if (!name_ok(value, strlen(value))) {
        ld_key_error(ld, sec, k, "'%s' is not a valid name (1-%d of A-Z a-z 0-9 _ . -)", value,
                     MAX_NAME);
        return -1;
    }
    return parse_text(ld, sec, k, value);
}

static const char *resolve_path(struct loader *ld, const char *value)
{
    if (value[0] == '/' || ld->base_dir == NULL)
        return cfg_arena_strdup(ld->arena, value);
    size_t n = strlen(ld->base_dir) + strlen(value) + 2;
    char *p = cfg_arena_alloc(ld->arena, n);
    snprintf(p, n, "%s/%s", ld->base_dir, value);
    return p;
}

/* A file path; relative ones are taken from the config file's directory. */
static int parse_path(struct loader *ld, struct section *sec, const struct key *k,
                      const char *value)
{
    if (value[0] == '\0') {
        ld_key_error(ld, sec, k, "empty path");
        return -1;
    }
    *FIELD(sec, k, const char *) = resolve_path(ld, value);
    return 0;
}

static int parse_log_dest(struct loader *ld, struct section *sec, const struct key *k,
                          const char *value)
{
    struct cfg_log_dest *d = FIELD(sec, k, struct cfg_log_dest);

    d->path = NULL;
    if (strcmp(value, "off") == 0)
        d->kind = CFG_LOG_OFF;
    else if (strcmp(value, "stderr") == 0)
        d->kind = CFG_LOG_STDERR;
    else if (strcmp(value, "stdout") == 0)
        d->kind = CFG_LOG_STDOUT;
    else if (value[0] != '\0') {
        d->kind = CFG_LOG_FILE;
        d->path = resolve_path(ld, value);
    } else {
        ld_key_error(ld, sec, k, "empty value (off, stderr, stdout or a file path)");
        return -1;
    }
    return 0;
}

/* @return the index of `value` in the NULL-terminated `choices`, or -1
 * after reporting the valid ones. */
static int parse_choice(struct loader *ld, struct section *sec, const struct key *k,
                        const char *value, const char *const *choices)
{
    char list[160] = "";

    for (int i = 0; choices[i] != NULL; i++)
        if (strcmp(value, choices[i]) == 0)
            return i;
    for (int i = 0; choices[i] != NULL; i++) {
        strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
        strncat(list, choices[i], sizeof(list) - strlen(list) - 1);
    }
    ld_key_error(ld, sec, k, "'%s' is not one of: %s", value, list);
    return -1;
}

/* "off", "on" or a size: how much request body is read before forwarding. */
static int parse_request_buffering(struct loader *ld, struct section *sec, const struct key *k,
                                   const char *value)
{
    uint64_t *out = FIELD(sec, k, uint64_t);
    if (strcmp(value, "off") == 0) {
        *out = 0;
        return 0;
    }
    if (strcmp(value, "on") == 0) {
        *out = UINT64_MAX;
        return 0;
    }
    uint64_t bytes;
    if (cfg_parse_size(value, &bytes) < 0 || bytes < k->min || bytes > k->max) {
        ld_key_error(ld, sec, k, "'%s' is not off, on or a size %llu..%llu (e.g. 64k)", value,
                     (unsigned long long)k->min, (unsigned long long)k->max);
        return -1;
    }
    *out = bytes;
    return 0;
}

/* "on" or "off" into a bool. */
static int parse_on_off(struct loader *ld, struct section *sec, const struct key *k,
                        const char *value)
{
    static const char *const names[] = {"off", "on", NULL};
    int i = parse_choice(ld, sec, k, value, names);
    if (i < 0)
        return -1;
    *FIELD(sec, k, bool) = i == 1;
    return 0;
}

/* "on" or "off" into an enum cfg_switch (not given: UNSET). */
static int parse_switch(struct loader *ld, struct section *sec, const struct key *k,
                        const char *value)
{
    static const char *const names[] = {"off", "on", NULL};
    int i = parse_choice(ld, sec, k, value, names);
    if (i < 0)
        return -1;
    *FIELD(sec, k, enum cfg_switch) = i == 1 ? CFG_SWITCH_ON : CFG_SWITCH_OFF;
    return 0;
}

static int parse_log_level(struct loader *ld, struct section *sec, const struct key *k,
                           const char *value)
{
    static const char *const names[] = {"error", "warn", "notice", "info", "debug", NULL};
    int i = parse_choice(ld, sec, k, value, names);
    if (i < 0)
        return -1;
    *FIELD(sec, k, enum cfg_log_level) = (enum cfg_log_level)i;
    return 0;
}

static int parse_listener_protocol(struct loader *ld, struct section *sec, const struct key *k,
                                   const char *value)
{
    static const char *const names[] = {"http", "https", "tcp", NULL};
    int i = parse_choice(ld, sec, k, value, names);
    if (i < 0)
        return -1;
    *FIELD(sec, k, enum cfg_listener_protocol) = (enum cfg_listener_protocol)i;
    return 0;
}

static int parse_upstream_protocol(struct loader *ld, struct section *sec, const struct key *k,
                                   const char *value)
{
    static const char *const names[] = {"http1", NULL};
    int i = parse_choice(ld, sec, k, value, names);
    if (i < 0)
        return -1;
    *FIELD(sec, k, enum cfg_upstream_protocol) = (enum cfg_upstream_protocol)i;
    return 0;
}

static int parse_failure_policy(struct loader *ld, struct section *sec, const struct key *k,
                                const char *value)
{
    static const char *const names[] = {"fail_closed", "fail_open", "reload", NULL};
    int i = parse_choice(ld, sec, k, value, names);
    if (i < 0)
        return -1;
    *FIELD(sec, k, enum cfg_failure_policy) = (enum cfg_failure_policy)i;
    return 0;
}

static int parse_workers(struct loader *ld, struct section *sec, const struct key *k,
                         const char *value)
{
    struct cfg_daemon *d = FIELD(sec, k, struct cfg_daemon);
    char *end;
    unsigned long n;

    if (strcmp(value, "auto") == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        d->workers = cpus > 0 ? (unsigned)cpus : 1;
        d->workers_auto = true;
        return 0;
    }
    errno = 0;
    n = strtoul(value, &end, 10);
    if (!isdigit((unsigned char)value[0]) || *end != '\0' || errno || n < 1 || n > k->max) {
        ld_key_error(ld, sec, k, "'%s' is not 'auto' or a number 1..%llu", value,
                     (unsigned long long)k->max);
        return -1;
    }
    d->workers = (unsigned)n;
    d->workers_auto = false;
    return 0;
}

/* Splits "host:port", "[v6]:port" or "*:port" and resolves it into `a`.
 * @return NULL, or what is wrong (possibly written into `why`). */
static const char *address_resolve(struct loader *ld, const char *text, size_t len, bool passive,
                                   struct cfg_address *a, char why[128])
{
    char host[256], port[8];
    const char *colon;
    size_t hlen;
    struct addrinfo hints, *res;
    int rc;

    if (len == 0)
        return "empty address";
    if (text[0] == '[') {
        const char *rb = memchr(text, ']', len);
        if (rb == NULL)
            return "missing ']' after an IPv6 address";
        if (rb + 1 == text + len || rb[1] != ':')
            return "missing ':port'";
        colon = rb + 1;
        hlen = (size_t)(rb - text - 1);
        if (hlen == 0 || hlen >= sizeof(host))
            return "bad IPv6 address";
        memcpy(host, text + 1, hlen);
    } else {
        colon = memrchr(text, ':', len);
        if (colon == NULL)
            return "missing ':port' (host:port)";
        if (memchr(text, ':', (size_t)(colon - text)) != NULL)
            return "IPv6 addresses need brackets: [::1]:8080";
        hlen = (size_t)(colon - text);
        if (hlen >= sizeof(host))
            return "host name too long";
        memcpy(host, text, hlen);
    }
    host[hlen] = '\0';
    size_t plen = len - (size_t)(colon + 1 - text);
    if (plen == 0 || plen > 5)
        return "bad port (1-65535)";
    memcpy(port, colon + 1, plen);
    port[plen] = '\0';
    for (size_t i = 0; i < plen; i++)
        if (!isdigit((unsigned char)port[i]))
            return "bad port (1-65535)";
    long pn = strtol(port, NULL, 10);
    if (pn < 1 || pn > 65535)
        return "bad port (1-65535)";

    bool any = hlen == 0 || strcmp(host, "*") == 0;
    if (any && !passive)
        return "an endpoint needs a host";
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    if (any) {
        hints.ai_family = AF_INET;
        rc = getaddrinfo(NULL, port, &hints, &res);
    } else {
        rc = getaddrinfo(host, port, &hints, &res);
    }
    if (rc != 0) {
        snprintf(why, 128, "cannot resolve '%.40s': %s", host, gai_strerror(rc));
        return why;
    }
    memcpy(&a->sa, res->ai_addr, res->ai_addrlen);
    a->sa_len = res->ai_addrlen;
    freeaddrinfo(res);
    a->text = cfg_arena_strndup(ld->arena, text, len);
    a->host = cfg_arena_strdup(ld->arena, any ? "0.0.0.0" : host);
    a->port = (uint16_t)pn;
    return NULL;
}

static int parse_listen_address(struct loader *ld, struct section *sec, const struct key *k,
                                const char *value)
{
    char buf[128];
    const char *why =
        address_resolve(ld, value, strlen(value), true, FIELD(sec, k, struct cfg_address), buf);
    if (why != NULL) {
        ld_key_error(ld, sec, k, "'%s': %s", value, why);
        return -1;
    }
    return 0;
}

static int add_endpoint(struct loader *ld, struct section *sec, const struct key *k,
                        const char *item, size_t len)
{
    const struct cfg_address **items = FIELD(sec, k, const struct cfg_address *);
    size_t *n = COUNT(sec, k);
    struct cfg_address *grown = cfg_arena_grow(ld->arena, *items, *n, sizeof(**items));
    char buf[128];
    const char *why = address_resolve(ld, item, len, false, &grown[*n], buf);

    if (why != NULL) {
        ld_key_error(ld, sec, k, "'%.*s': %s", (int)len, item, why);
        return -1;
    }
    *items = grown;
    (*n)++;
    return 0;
}

/* A list with a bad item is dropped whole, so that no error follows from
 * its remaining items. */
static int
parse_list(struct loader *ld, struct section *sec, const struct key *k, const char *value,
           int (*add)(struct loader *, struct section *, const struct key *, const char *, size_t))
{
    if (for_each_item(ld, sec, k, value, add) == 0)
        return 0;
    *FIELD(sec, k, void *) = NULL;
    *COUNT(sec, k) = 0;
    return -1;
}

static int parse_endpoints(struct loader *ld, struct section *sec, const struct key *k,
                           const char *value)
{
    return parse_list(ld, sec, k, value, add_endpoint);
}

static int add_name(struct loader *ld, struct section *sec, const struct key *k, const char *item,
                    size_t len)
{
    const char ***items = FIELD(sec, k, const char **);
    size_t *n = COUNT(sec, k);

    if (!name_ok(item, len)) {
        ld_key_error(ld, sec, k, "'%.*s' is not a valid name", (int)len, item);
        return -1;
    }
    for (size_t i = 0; i < *n; i++) {
        if (strlen((*items)[i]) == len && memcmp((*items)[i], item, len) == 0) {
            ld_key_error(ld, sec, k, "'%.*s' is listed twice", (int)len, item);
            return -1;
        }
    }
    const char **grown = cfg_arena_grow(ld->arena, *items, *n, sizeof(**items));
    grown[*n] = cfg_arena_strndup(ld->arena, item, len);
    *items = grown;
    (*n)++;
    return 0;
}

static int parse_names(struct loader *ld, struct section *sec, const struct key *k,
                       const char *value)
{
    return parse_list(ld, sec, k, value, add_name);
}

/* Decodes \n \r \t \\ \" in a response body. @return length, or -1. */
static long unescape(char *dst, const char *src)
{
    char *d = dst;

    for (; *src; src++) {
        if (*src != '\\') {
            *d++ = *src;
            continue;
        }
        switch (*++src) {
        case 'n':
            *d++ = '\n';
            break;
        case 'r':
            *d++ = '\r';
            break;
        case 't':
            *d++ = '\t';
            break;
        case '\\':
            *d++ = '\\';
            break;
        case '"':
            *d++ = '"';
            break;
        default:
            return -1;
        }
    }
    *d = '\0';
    return d - dst;
}

/* "STATUS [BODY]": BODY is the rest of the line, optionally in double quotes. */
static int parse_respond(struct loader *ld, struct section *sec, const struct key *k,
                         const char *value)
{
    struct cfg_response *r = cfg_arena_alloc(ld->arena, sizeof(*r));
    const char *p = value;
    unsigned status = 0;
    char *body;
    size_t blen;
    long n;

    for (int i = 0; i < 3; i++, p++) {
        if (!isdigit((unsigned char)*p))
            goto bad;
        status = status * 10 + (unsigned)(*p - '0');
    }
    if ((*p != '\0' && *p != ' ' && *p != '\t') || status < 200 || status > 599)
        goto bad;
    p = skip_ws(p);
    blen = strlen(p);
    if (blen >= 2 && p[0] == '"' && p[blen - 1] == '"') {
        p++;
        blen -= 2;
    }
    body = cfg_arena_strndup(ld->arena, p, blen);
    n = unescape(body, body);
    if (n < 0) {
        ld_key_error(ld, sec, k, "bad escape in body (use \\n \\r \\t \\\\ \\\")");
        return -1;
    }
    r->status = status;
    r->body = body;
    r->body_len = (size_t)n;
    r->content_type = "text/plain; charset=utf-8";
    *FIELD(sec, k, struct cfg_response *) = r;
    return 0;
bad:
    ld_key_error(ld, sec, k, "'%s' is not 'STATUS [BODY]' with STATUS 200..599", value);
    return -1;
}

static int header_append(struct loader *ld, struct section *sec, const struct key *k,
                         const char *name, size_t nlen, const char *value)
{
    const struct cfg_header **items = FIELD(sec, k, const struct cfg_header *);
    size_t *n = COUNT(sec, k);
    struct cfg_header *grown = cfg_arena_grow(ld->arena, *items, *n, sizeof(**items));

    grown[*n].name = cfg_arena_strndup(ld->arena, name, nlen);
    grown[*n].value = value ? cfg_arena_strdup(ld->arena, value) : NULL;
    *items = grown;
    (*n)++;
    return 0;
}

/* "Name: value" */
static int parse_header_add(struct loader *ld, struct section *sec, const struct key *k,
                            const char *value)
{
    const char *colon = strchr(value, ':');

    if (colon == NULL || !token_ok(value, (size_t)(colon - value))) {
        ld_key_error(ld, sec, k, "'%s' is not 'Header-Name: value'", value);
        return -1;
    }
    if (!field_value_ok(colon + 1)) {
        ld_key_error(ld, sec, k, "control characters in the header value");
        return -1;
    }
    return header_append(ld, sec, k, value, (size_t)(colon - value), skip_ws(colon + 1));
}

static int parse_header_remove(struct loader *ld, struct section *sec, const struct key *k,
                               const char *value)
{
    if (!token_ok(value, strlen(value))) {
        ld_key_error(ld, sec, k, "'%s' is not a header name", value);
        return -1;
    }
    return header_append(ld, sec, k, value, strlen(value), NULL);
}

/* "KEY=VALUE", one per line (the key may repeat). */
static int parse_environment(struct loader *ld, struct section *sec, const struct key *k,
                             const char *value)
{
    const char ***items = FIELD(sec, k, const char **);
    size_t *n = COUNT(sec, k);
    const char *eq = strchr(value, '=');
    bool ok = eq != NULL && eq != value && (isalpha((unsigned char)value[0]) || value[0] == '_');

    for (const char *p = value; ok && p < eq; p++)
        ok = isalnum((unsigned char)*p) || *p == '_';
    if (!ok) {
        ld_key_error(ld, sec, k, "'%s' is not NAME=VALUE", value);
        return -1;
    }
    for (size_t i = 0; i < *n; i++) {
        if (strncmp((*items)[i], value, (size_t)(eq - value) + 1) == 0) {
            ld_key_error(ld, sec, k, "'%.*s' is set twice", (int)(eq - value), value);
            return -1;
        }
    }
    const char **grown = cfg_arena_grow(ld->arena, *items, *n, sizeof(**items));
    grown[*n] = cfg_arena_strdup(ld->arena, value);
    *items = grown;
    (*n)++;
    return 0;
}

/* "example.com", "*.example.com" or "*". */
static int parse_route_host(struct loader *ld, struct section *sec, const struct key *k,
                            const char *value)
{
    struct cfg_route *r = FIELD(sec, k, struct cfg_route);
    const char *h = value;
    size_t len = strlen(value);
    char *lower;

    if (strcmp(value, "*") == 0) {
        r->host_match = CFG_HOST_ANY;
        r->host = NULL;
        r->host_len = 0;
        return 0;
    }
    r->host_match = CFG_HOST_EXACT;
    if (strncmp(value, "*.", 2) == 0) {
        r->host_match = CFG_HOST_SUFFIX;
        h++;
        len--;
    }
    if (len > 0 && h[len - 1] == '.')
        len--;
    bool ok = len > (r->host_match == CFG_HOST_SUFFIX ? 1u : 0u) && len < 256;
    for (size_t i = 0; ok && i < len; i++)
        ok = isalnum((unsigned char)h[i]) || h[i] == '-' || h[i] == '.' || h[i] == '_';
    if (!ok) {
        ld_key_error(ld, sec, k, "'%s' is not a host name, '*.suffix' or '*'", value);
        return -1;
    }
    lower = cfg_arena_strndup(ld->arena, h, len);
    for (size_t i = 0; i < len; i++)
        lower[i] = (char)tolower((unsigned char)lower[i]);
    r->host = lower;
    r->host_len = len;
    return 0;
}

/* "NAME CERT KEY": a server name (or *.domain) and its certificate and key files. */
static int parse_tls_sni(struct loader *ld, struct section *sec, const struct key *k,
                         const char *value)
{
    char name[256], cert[1024], key[1024], extra[2];
    int n = sscanf(value, "%255s %1023s %1023s %1s", name, cert, key, extra);
    if (n != 3) {
        ld_key_error(ld, sec, k, "'%s' is not 'server-name certificate-file key-file'", value);
        return -1;
    }
    const char *p = name[0] == '*' && name[1] == '.' ? name + 2 : name;
    if (*p == '\0' || *p == '.') {
        ld_key_error(ld, sec, k, "'%s' is not a server name", name);
        return -1;
    }
    for (; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.')) {
            ld_key_error(ld, sec, k, "'%s' is not a server name", name);
            return -1;
        }
    }
    for (char *q = name; *q; q++)
        if (*q >= 'A' && *q <= 'Z')
            *q = (char)(*q + 32);
    const struct cfg_tls_sni **items = FIELD(sec, k, const struct cfg_tls_sni *);
    size_t *cnt = COUNT(sec, k);
    for (size_t i = 0; i < *cnt; i++) {
        if (strcmp((*items)[i].name, name) == 0) {
            ld_key_error(ld, sec, k, "server name '%s' given twice", name);
            return -1;
        }
    }
    struct cfg_tls_sni *grown = cfg_arena_grow(ld->arena, *items, *cnt, sizeof(**items));
    grown[*cnt].name = cfg_arena_strdup(ld->arena, name);
    grown[*cnt].certificate = resolve_path(ld, cert);
    grown[*cnt].key = resolve_path(ld, key);
    *items = grown;
    (*cnt)++;
    return 0;
}

static int parse_path_prefix(struct loader *ld, struct section *sec, const struct key *k,
                             const char *value)
{
    struct cfg_route *r = FIELD(sec, k, struct cfg_route);

    if (value[0] != '/' || !field_value_ok(value) || strpbrk(value, " \t")) {
        ld_key_error(ld, sec, k, "'%s' must start with '/' and hold no spaces", value);
        return -1;
    }
    r->path_prefix = cfg_arena_strdup(ld->arena, value);
    r->path_prefix_len = strlen(value);
    return 0;
}

/* ---- key tables -------------------------------------------------------- */

#define D(field) offsetof(struct daemon_draft, field)
#define L(field) offsetof(struct listener_draft, field)
#define C(field) offsetof(struct cluster_draft, field)
#define R(field) offsetof(struct route_draft, field)
#define P(field) offsetof(struct plugin_draft, field)

#define DAY (24ull * 3600 * 1000)

static const struct key daemon_keys[] = {
    {"workers", parse_workers, D(pub), 0, "auto", 0, 1, 1024},
    {"error_log", parse_log_dest, D(pub.error_log), 0, "stderr", 0, 0, 0},
    {"access_log", parse_log_dest, D(pub.access_log), 0, "off", 0, 0, 0},
    {"log_level", parse_log_level, D(pub.log_level), 0, "info", 0, 0, 0},
    {"drain_timeout", parse_duration, D(pub.drain_timeout_ms), 0, "30s", 0, 0, DAY},
    {"pid_file", parse_path, D(pub.pid_file), 0, NULL, 0, 0, 0},
};

static const struct key listener_keys[] = {
    {"address", parse_listen_address, L(pub.address), 0, NULL, KEY_REQUIRED, 0, 0},
    {"protocol", parse_listener_protocol, L(pub.protocol), 0, "http", 0, 0, 0},
    {"tls_certificate", parse_path, L(pub.tls_certificate), 0, NULL, 0, 0, 0},
    {"tls_key", parse_path, L(pub.tls_key), 0, NULL, 0, 0, 0},
    {"tls_sni", parse_tls_sni, L(pub.tls_sni), L(pub.n_tls_sni), NULL, KEY_MULTI, 0, 0},
    {"max_request_line", parse_size, L(pub.max_request_line), 0, "8k", 0, 64, 1 << 20},
    {"max_header_size", parse_size, L(pub.max_header_size), 0, "32k", 0, 256, 16 << 20},
    {"max_headers", parse_u64, L(pub.max_headers), 0, "100", 0, 1, 10000},
    {"http2_max_streams", parse_u64, L(pub.http2_max_streams), 0, "128", 0, 1, 10000},
    {"max_body_size", parse_size, L(pub.max_body_size), 0, "0", 0, 0, 0},
    {"request_buffering", parse_request_buffering, L(pub.request_buffering), 0, "64k", 0, 1,
     64 << 20},
    {"hold_limit", parse_size, L(pub.hold_limit), 0, "1m", 0, 4096, 1u << 30},
    {"header_timeout", parse_duration, L(pub.header_timeout_ms), 0, "10s", 0, 1, DAY},
    {"idle_timeout", parse_duration, L(pub.idle_timeout_ms), 0, "60s", 0, 1, DAY},
    {"body_timeout", parse_duration, L(pub.body_timeout_ms), 0, "30s", 0, 1, DAY},
    {"upgrades", parse_on_off, L(pub.upgrades), 0, "on", 0, 0, 0},
    {"tunnel_idle_timeout", parse_duration, L(pub.tunnel_idle_timeout_ms), 0, "5m", 0, 1, DAY},
    {"test_pause", parse_duration, L(pub.test_pause_ms), 0, "0", 0, 0, 60000},
    {"plugins", parse_names, L(plugin_names), L(n_plugin_names), NULL, 0, 0, 0},
    {"cluster", parse_name, L(cluster), 0, NULL, 0, 0, 0},
    {"respond", parse_respond, L(respond), 0, NULL, 0, 0, 0},
    {"add_request_header", parse_header_add, L(pub.request_headers_add),
     L(pub.n_request_headers_add), NULL, KEY_MULTI, 0, 0},
    {"remove_request_header", parse_header_remove, L(pub.request_headers_remove),
     L(pub.n_request_headers_remove), NULL, KEY_MULTI, 0, 0},
    {"add_response_header", parse_header_add, L(pub.response_headers_add),
     L(pub.n_response_headers_add), NULL, KEY_MULTI, 0, 0},
    {"remove_response_header", parse_header_remove, L(pub.response_headers_remove),
     L(pub.n_response_headers_remove), NULL, KEY_MULTI, 0, 0},
};

static const struct key cluster_keys[] = {
    {"endpoints", parse_endpoints, C(pub.endpoints), C(pub.n_endpoints), NULL, KEY_REQUIRED, 0, 0},
    {"connect_timeout", parse_duration, C(pub.connect_timeout_ms), 0, "5s", 0, 1, DAY},
    {"read_timeout", parse_duration, C(pub.read_timeout_ms), 0, "30s", 0, 1, DAY},
    {"idle_timeout", parse_duration, C(pub.idle_timeout_ms), 0, "60s", 0, 1, DAY},
    {"max_idle", parse_unsigned, C(pub.max_idle), 0, "32", 0, 0, 100000},
    {"retries", parse_unsigned, C(pub.retries), 0, "1", 0, 0, 1},
    {"protocol", parse_upstream_protocol, C(pub.protocol), 0, "http1", 0, 0, 0},
};

static const struct key route_keys[] = {
    {"listener", parse_names, R(pub.listeners), R(pub.n_listeners), NULL, 0, 0, 0},
    {"host", parse_route_host, R(pub), 0, "*", 0, 0, 0},
    {"path_prefix", parse_path_prefix, R(pub), 0, "/", 0, 0, 0},
    {"cluster", parse_name, R(cluster), 0, NULL, 0, 0, 0},
    {"respond", parse_respond, R(respond), 0, NULL, 0, 0, 0},
    {"upgrades", parse_switch, R(pub.target.upgrades), 0, NULL, 0, 0, 0},
};

static const struct key plugin_keys[] = {
    {"file", parse_path, P(pub.file), 0, NULL, KEY_REQUIRED, 0, 0},
    {"root_id", parse_text, P(pub.root_id), 0, "", 0, 0, 0},
    {"vm_id", parse_text, P(pub.vm_id), 0, "", 0, 0, 0},
    {"configuration", parse_text, P(pub.configuration), 0, NULL, 0, 0, 0},
    {"configuration_file", parse_path, P(configuration_file), 0, NULL, 0, 0, 0},
    {"vm_configuration", parse_text, P(pub.vm_configuration), 0, "", 0, 0, 0},
    {"failure_policy", parse_failure_policy, P(pub.failure_policy), 0, "fail_closed", 0, 0, 0},
    {"max_memory", parse_size, P(pub.max_memory), 0, "64m", 0, 64 << 10, 4ull << 30},
    {"max_execution_time", parse_duration, P(pub.max_execution_time_ms), 0, "100ms", 0, 0, 60000},
    {"fuel", parse_u64, P(pub.fuel), 0, "0", 0, 0, 0},
    {"environment", parse_environment, P(pub.environment), P(pub.n_environment), NULL, KEY_MULTI, 0,
     0},
};

#define KIND(id, name, named, type, keys)                                                          \
    {                                                                                              \
        id, name, named, sizeof(type), keys, sizeof(keys) / sizeof(keys[0])                        \
    }

static const struct kind kinds[] = {
    KIND(KIND_DAEMON, "daemon", false, struct daemon_draft, daemon_keys),
    KIND(KIND_LISTENER, "listener", true, struct listener_draft, listener_keys),
    KIND(KIND_CLUSTER, "cluster", true, struct cluster_draft, cluster_keys),
    KIND(KIND_ROUTE, "route", true, struct route_draft, route_keys),
    KIND(KIND_PLUGIN, "plugin", true, struct plugin_draft, plugin_keys),
};

_Static_assert(sizeof(listener_keys) / sizeof(listener_keys[0]) <= MAX_KEYS, "keys");
_Static_assert(sizeof(plugin_keys) / sizeof(plugin_keys[0]) <= MAX_KEYS, "keys");

void cfg_each_key(void (*fn)(const char *kind, const char *key, void *arg), void *arg)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        for (size_t j = 0; j < kinds[i].n_keys; j++)
            fn(kinds[i].name, kinds[i].keys[j].name, arg);
}

/* ---- reading the file ---------------------------------------------------- */

static struct section *section_add(struct loader *ld, const struct kind *kind, const char *name,
                                   unsigned line)
{
    if (ld->n_sections == ld->cap_sections) {
        size_t cap = ld->cap_sections ? ld->cap_sections * 2 : 16;
        struct section *s = realloc(ld->sections, cap * sizeof(*s));
        if (s == NULL) {
            fputs("wasp: out of memory while loading the configuration\n", stderr);
            abort();
        }
        ld->sections = s;
        ld->cap_sections = cap;
    }
    struct section *sec = &ld->sections[ld->n_sections++];
    memset(sec, 0, sizeof(*sec));
    sec->kind = kind;
    sec->name = name ? cfg_arena_strdup(ld->arena, name) : NULL;
    sec->line = line;
    sec->obj = cfg_arena_alloc(ld->arena, kind->obj_size);
    return sec;
}

static struct section *section_find(struct loader *ld, enum kind_id kind, const char *name)
{
    for (size_t i = 0; i < ld->n_sections; i++) {
        struct section *s = &ld->sections[i];
        if (s->kind->id == kind &&
            (name == NULL ? s->name == NULL : s->name && strcmp(s->name, name) == 0))
            return s;
    }
    return NULL;
}

/* "[kind]" or "[kind:name]" at ld->line; `p` starts at '['. */
static void section_header(struct loader *ld, const char *p, size_t n)
{
    char inner[MAX_NAME * 2 + 8];
    const char *rb = memchr(p, ']', n);
    const char *kind_end, *name = NULL;
    const struct kind *kind = NULL;

    ld->cur = NULL;
    ld->skip = true;
    if (rb == NULL) {
        ld_error(ld, ld->line, NULL, NULL, "section header without ']'");
        return;
    }
    const char *after = skip_ws(rb + 1);
    if (after < p + n && *after != ';' && *after != '#') {
        ld_error(ld, ld->line, NULL, NULL, "text after the section header");
        return;
    }
    size_t ilen = (size_t)(rb - p - 1);
    if (ilen >= sizeof(inner)) {
        ld_error(ld, ld->line, NULL, NULL, "section name too long");
        return;
    }
    memcpy(inner, p + 1, ilen);
    inner[ilen] = '\0';
    kind_end = strchr(inner, ':');
    if (kind_end != NULL) {
        name = kind_end + 1;
        inner[kind_end - inner] = '\0';
    }
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(inner, kinds[i].name) == 0)
            kind = &kinds[i];
    if (kind == NULL) {
        ld_error(ld, ld->line, NULL, NULL,
                 "[%.*s]: unknown section kind '%s' (daemon, listener, cluster, route, "
                 "plugin)",
                 (int)ilen, p + 1, inner);
        return;
    }
    if (kind->named && name == NULL) {
        ld_error(ld, ld->line, NULL, NULL, "[%s]: needs a name: [%s:NAME]", inner, inner);
        return;
    }
    if (!kind->named && name != NULL) {
        ld_error(ld, ld->line, NULL, NULL, "[%.*s]: [%s] takes no name", (int)ilen, p + 1, inner);
        return;
    }
    if (name != NULL && !name_ok(name, strlen(name))) {
        ld_error(ld, ld->line, NULL, NULL,
                 "[%.*s]: '%s' is not a valid name (1-%d of A-Z a-z 0-9 _ . -)", (int)ilen, p + 1,
                 name, MAX_NAME);
        return;
    }
    struct section *prev = section_find(ld, kind->id, name);
    if (prev != NULL) {
        ld_error(ld, ld->line, prev, NULL, "duplicate section (first at line %u)", prev->line);
        return;
    }
    ld->cur = section_add(ld, kind, name, ld->line);
    ld->skip = false;
}

/*
 * The ini_reader given to libinih: hands it one line at a time, counting
 * lines (libinih's handler has no line number), handling section headers
 * itself (so empty and duplicate sections are seen and their lines known),
 * and reporting every malformed line instead of only the first.
 */
static char *read_line(char *buf, int size, void *stream)
{
    struct loader *ld = stream;
    const char *start, *nl, *p;
    size_t n;

    if (ld->pos >= ld->len)
        return NULL;
    start = ld->text + ld->pos;
    nl = memchr(start, '\n', ld->len - ld->pos);
    n = nl ? (size_t)(nl - start) : ld->len - ld->pos;
    ld->pos += n + (nl != NULL);
    ld->line++;
    buf[0] = '\0';

    if (n > 0 && start[n - 1] == '\r')
        n--;
    if (ld->line == 1 && n >= 3 && memcmp(start, "\xEF\xBB\xBF", 3) == 0) {
        start += 3;
        n -= 3;
    }
    if (memchr(start, '\0', n) != NULL) {
        ld_error(ld, ld->line, NULL, NULL, "NUL byte in line");
        return buf;
    }
    p = start;
    while (p < start + n && (*p == ' ' || *p == '\t'))
        p++;
    n -= (size_t)(p - start);
    if (n == 0 || *p == ';' || *p == '#')
        return buf;
    if (*p == '[') {
        section_header(ld, p, n);
        return buf;
    }
    if (n + 2 > (size_t)size) {
        ld_error(ld, ld->line, ld->cur, NULL,
                 "line longer than %d bytes (use configuration_file for long values)", size - 2);
        return buf;
    }
    if (memchr(p, '=', n) == NULL && memchr(p, ':', n) == NULL) {
        ld_error(ld, ld->line, ld->cur, NULL, "expected 'key = value', got '%.*s'",
                 (int)(n > 60 ? 60 : n), p);
        return buf;
    }
    /* Leading blanks stripped: libinih would take the line as a continuation. */
    memcpy(buf, p, n);
    buf[n] = '\n';
    buf[n + 1] = '\0';
    return buf;
}

/* The ini_handler: one key = value of the current section. */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
    struct loader *ld = user;
    struct section *sec = ld->cur;
    const struct key *k = NULL;
    size_t i;

    (void)section; /* read_line() tracks sections itself */
    if (ld->skip)
        return 1;
    if (sec == NULL) {
        ld_error(ld, ld->line, NULL, name, "key outside of any section");
        return 1;
    }
    for (i = 0; i < sec->kind->n_keys; i++) {
        if (strcmp(sec->kind->keys[i].name, name) == 0) {
            k = &sec->kind->keys[i];
            break;
        }
    }
    if (k == NULL) {
        ld_error(ld, ld->line, sec, name[0] ? name : "(empty)", "unknown key");
        return 1;
    }
    if (sec->key_line[i] != 0 && !(k->flags & KEY_MULTI)) {
        ld_error(ld, ld->line, sec, name, "set twice (first at line %u)", sec->key_line[i]);
        return 1;
    }
    sec->key_line[i] = ld->line;
    k->parse(ld, sec, k, value);
    return 1;
}

/* ---- defaults, validation, linking ------------------------------------- */

static bool has_key(const struct section *sec, const char *name)
{
    for (size_t i = 0; i < sec->kind->n_keys; i++)
        if (strcmp(sec->kind->keys[i].name, name) == 0)
            return sec->key_line[i] != 0;
    return false;
}

static const struct key *key_of(const struct section *sec, const char *name)
{
    for (size_t i = 0; i < sec->kind->n_keys; i++)
        if (strcmp(sec->kind->keys[i].name, name) == 0)
            return &sec->kind->keys[i];
    return NULL;
}

/* Applies the default of every key not given; reports missing required keys. */
static void apply_defaults(struct loader *ld, struct section *sec)
{
    for (size_t i = 0; i < sec->kind->n_keys; i++) {
        const struct key *k = &sec->kind->keys[i];
        if (sec->key_line[i] != 0)
            continue;
        if (k->flags & KEY_REQUIRED)
            ld_error(ld, sec->line, sec, k->name, "missing (required)");
        else if (k->def != NULL)
            k->parse(ld, sec, k, k->def);
    }
}

static bool file_readable(const char *path, const char **why)
{
    struct stat st;

    if (stat(path, &st) < 0 || access(path, R_OK) < 0) {
        *why = strerror(errno);
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        *why = "not a regular file";
        return false;
    }
    return true;
}

static void check_readable(struct loader *ld, struct section *sec, const char *key,
                           const char *path)
{
    const char *why;
    if (path != NULL && !file_readable(path, &why))
        ld_key_error(ld, sec, key_of(sec, key), "cannot read '%s': %s", path, why);
}

/* Reads a whole file into the arena. @return NULL with errno set on error. */
static char *slurp(struct cfg_arena *a, const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;

    if (f == NULL)
        return NULL;
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 8192;
            char *grown = realloc(buf, cap + 1);
            if (grown == NULL)
                goto fail;
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f))
        goto fail;
    fclose(f);
    char *copy = cfg_arena_strndup(a, buf, n);
    free(buf);
    *len = n;
    return copy;
fail:
    free(buf);
    fclose(f);
    errno = errno ? errno : EIO;
    return NULL;
}

static struct cfg_cluster *cluster_ref(struct loader *ld, struct section *sec, const char *name)
{
    struct section *c = section_find(ld, KIND_CLUSTER, name);
    if (c == NULL) {
        ld_key_error(ld, sec, key_of(sec, "cluster"), "unknown cluster '%s'", name);
        return NULL;
    }
    return &((struct cluster_draft *)c->obj)->pub;
}

/* Reads a plugin's configuration_file into its configuration. */
static void read_configuration_file(struct loader *ld, struct section *sec, struct plugin_draft *p)
{
    const char *why;
    size_t len = 0;
    char *text = NULL;

    if (file_readable(p->configuration_file, &why)) {
        text = slurp(ld->arena, p->configuration_file, &len);
        if (text == NULL)
            why = strerror(errno);
    }
    if (text == NULL) {
        ld_key_error(ld, sec, key_of(sec, "configuration_file"), "cannot read '%s': %s",
                     p->configuration_file, why);
        return;
    }
    p->pub.configuration = text;
    p->pub.configuration_len = len;
}

static void link_plugin(struct loader *ld, struct section *sec)
{
    struct plugin_draft *p = sec->obj;

    check_readable(ld, sec, "file", p->pub.file);
    if (has_key(sec, "configuration") && has_key(sec, "configuration_file"))
        ld_key_error(ld, sec, key_of(sec, "configuration_file"),
                     "give configuration or configuration_file, not both");
    else if (p->configuration_file != NULL)
        read_configuration_file(ld, sec, p);
    else if (p->pub.configuration != NULL)
        p->pub.configuration_len = strlen(p->pub.configuration);
    if (p->pub.configuration == NULL)
        p->pub.configuration = "";
    p->pub.vm_configuration_len = strlen(p->pub.vm_configuration);
}

static void link_listener(struct loader *ld, struct section *sec)
{
    struct listener_draft *l = sec->obj;
    const struct cfg_plugin **plugins;

    if (has_key(sec, "cluster") && has_key(sec, "respond"))
        ld_key_error(ld, sec, key_of(sec, "respond"), "give cluster or respond, not both");
    else if (l->cluster != NULL)
        l->pub.default_target.cluster = cluster_ref(ld, sec, l->cluster);
    else
        l->pub.default_target.respond = l->respond;

    plugins = cfg_arena_alloc(ld->arena, (l->n_plugin_names + 1) * sizeof(*plugins));
    for (size_t i = 0; i < l->n_plugin_names; i++) {
        struct section *p = section_find(ld, KIND_PLUGIN, l->plugin_names[i]);
        if (p == NULL)
            ld_key_error(ld, sec, key_of(sec, "plugins"), "unknown plugin '%s'",
                         l->plugin_names[i]);
        else
            plugins[l->pub.n_plugins++] = &((struct plugin_draft *)p->obj)->pub;
    }
    l->pub.plugins = plugins;

    if (l->pub.protocol == CFG_LISTENER_HTTPS) {
        if (l->pub.tls_certificate == NULL)
            ld_error(ld, sec->line, sec, "tls_certificate", "missing (required for https)");
        if (l->pub.tls_key == NULL)
            ld_error(ld, sec->line, sec, "tls_key", "missing (required for https)");
        check_readable(ld, sec, "tls_certificate", l->pub.tls_certificate);
        check_readable(ld, sec, "tls_key", l->pub.tls_key);
        for (size_t i = 0; i < l->pub.n_tls_sni; i++) {
            check_readable(ld, sec, "tls_sni", l->pub.tls_sni[i].certificate);
            check_readable(ld, sec, "tls_sni", l->pub.tls_sni[i].key);
        }
    } else {
        if (has_key(sec, "tls_sni"))
            ld_key_error(ld, sec, key_of(sec, "tls_sni"), "only for protocol = https");
        if (has_key(sec, "tls_certificate"))
            ld_key_error(ld, sec, key_of(sec, "tls_certificate"), "only for protocol = https");
        if (has_key(sec, "tls_key"))
            ld_key_error(ld, sec, key_of(sec, "tls_key"), "only for protocol = https");
    }
    if (l->pub.request_buffering == UINT64_MAX && l->pub.max_body_size == 0)
        ld_key_error(ld, sec, key_of(sec, "request_buffering"),
                     "'on' holds whole bodies in memory: it needs a max_body_size");
    if (l->pub.protocol == CFG_LISTENER_TCP) {
        if (has_key(sec, "respond"))
            ld_key_error(ld, sec, key_of(sec, "respond"), "not possible with protocol = tcp");
        if (!has_key(sec, "cluster"))
            ld_error(ld, sec->line, sec, "cluster", "missing (required for protocol = tcp)");
        static const char *const http_only[] = {"add_request_header",
                                                "remove_request_header",
                                                "add_response_header",
                                                "remove_response_header",
                                                "test_pause",
                                                "request_buffering",
                                                "upgrades",
                                                "tunnel_idle_timeout"};
        for (size_t i = 0; i < sizeof(http_only) / sizeof(http_only[0]); i++)
            if (has_key(sec, http_only[i]))
                ld_key_error(ld, sec, key_of(sec, http_only[i]),
                             "not possible with protocol = tcp");
    }
}

static void link_route(struct loader *ld, struct section *sec)
{
    struct route_draft *r = sec->obj;

    if (has_key(sec, "cluster") && has_key(sec, "respond"))
        ld_key_error(ld, sec, key_of(sec, "respond"), "give cluster or respond, not both");
    else if (!has_key(sec, "cluster") && !has_key(sec, "respond"))
        ld_error(ld, sec->line, sec, NULL, "needs 'cluster' or 'respond'");
    else if (r->cluster != NULL)
        r->pub.target.cluster = cluster_ref(ld, sec, r->cluster);
    else
        r->pub.target.respond = r->respond;
    r->pub.target.route = r->pub.name;

    for (size_t i = 0; i < r->pub.n_listeners; i++) {
        struct section *l = section_find(ld, KIND_LISTENER, r->pub.listeners[i]);
        if (l == NULL)
            ld_key_error(ld, sec, key_of(sec, "listener"), "unknown listener '%s'",
                         r->pub.listeners[i]);
        else if (((struct listener_draft *)l->obj)->pub.protocol == CFG_LISTENER_TCP)
            ld_key_error(ld, sec, key_of(sec, "listener"),
                         "listener '%s' is protocol = tcp: it has no routes", r->pub.listeners[i]);
    }
}

/* Port and "any address" of an IPv4/IPv6 socket address. */
static uint16_t address_port(const struct cfg_address *a, bool *any)
{
    if (a->sa.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&a->sa;
        *any = in->sin_addr.s_addr == htonl(INADDR_ANY);
        return in->sin_port;
    }
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->sa;
    *any = IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
    return in6->sin6_port;
}

/* Two listeners cannot bind the same address, nor the same port when one of
 * them is the wildcard address of the same family. */
static bool addresses_clash(const struct cfg_address *a, const struct cfg_address *b)
{
    bool a_any, b_any;

    if (a->sa_len == 0 || b->sa_len == 0 || a->sa.ss_family != b->sa.ss_family)
        return false;
    if (a->sa_len == b->sa_len && memcmp(&a->sa, &b->sa, a->sa_len) == 0)
        return true;
    return address_port(a, &a_any) == address_port(b, &b_any) && (a_any || b_any);
}

/* Checks what involves several sections once every section is linked. */
static void check_listeners(struct loader *ld, struct section **ls, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct listener_draft *l = ls[i]->obj;
        for (size_t j = 0; j < i; j++) {
            struct listener_draft *o = ls[j]->obj;
            if (addresses_clash(&l->pub.address, &o->pub.address))
                ld_key_error(ld, ls[i], key_of(ls[i], "address"),
                             "'%s' clashes with listener '%s' ('%s')", l->pub.address.text,
                             o->pub.name, o->pub.address.text);
        }
        if (l->pub.protocol != CFG_LISTENER_TCP && l->pub.n_routes == 0 &&
            !has_key(ls[i], "cluster") && !has_key(ls[i], "respond"))
            ld_error(ld, ls[i]->line, ls[i], NULL,
                     "nowhere to send requests: give cluster, respond or a [route:*] "
                     "for it");
    }
}

/* The sections of one kind, in file order, in a malloc'd array. */
static struct section **sections_of(struct loader *ld, enum kind_id kind, size_t *n)
{
    struct section **s = calloc(ld->n_sections + 1, sizeof(*s));

    if (s == NULL) {
        fputs("wasp: out of memory while loading the configuration\n", stderr);
        abort();
    }
    *n = 0;
    for (size_t i = 0; i < ld->n_sections; i++)
        if (ld->sections[i].kind->id == kind)
            s[(*n)++] = &ld->sections[i];
    return s;
}

/* Publishes the section objects into the generation's arrays. */
static void publish(struct loader *ld, struct cfg_generation *g, struct section **ls,
                    struct section **cs, struct section **ps, struct section **rs)
{
    struct cfg_listener **listeners =
        cfg_arena_alloc(ld->arena, (g->n_listeners + 1) * sizeof(*listeners));
    struct cfg_cluster **clusters =
        cfg_arena_alloc(ld->arena, (g->n_clusters + 1) * sizeof(*clusters));
    struct cfg_plugin **plugins = cfg_arena_alloc(ld->arena, (g->n_plugins + 1) * sizeof(*plugins));
    struct cfg_route **routes = cfg_arena_alloc(ld->arena, (g->n_routes + 1) * sizeof(*routes));

    for (size_t i = 0; i < g->n_listeners; i++) {
        listeners[i] = &((struct listener_draft *)ls[i]->obj)->pub;
        listeners[i]->name = ls[i]->name;
    }
    for (size_t i = 0; i < g->n_clusters; i++) {
        clusters[i] = &((struct cluster_draft *)cs[i]->obj)->pub;
        clusters[i]->name = cs[i]->name;
    }
    for (size_t i = 0; i < g->n_plugins; i++) {
        plugins[i] = &((struct plugin_draft *)ps[i]->obj)->pub;
        plugins[i]->name = ps[i]->name;
        plugins[i]->line = ps[i]->line;
    }
    for (size_t i = 0; i < g->n_routes; i++) {
        routes[i] = &((struct route_draft *)rs[i]->obj)->pub;
        routes[i]->name = rs[i]->name;
        routes[i]->index = (unsigned)i;
    }
    g->listeners = (const struct cfg_listener *const *)listeners;
    g->clusters = (const struct cfg_cluster *const *)clusters;
    g->plugins = (const struct cfg_plugin *const *)plugins;
    g->routes = (const struct cfg_route *const *)routes;
}

static struct cfg_generation *finish(struct loader *ld)
{
    struct cfg_generation *g = cfg_arena_alloc(ld->arena, sizeof(*g));
    struct section **ls, **cs, **ps, **rs;
    struct section *daemon = section_find(ld, KIND_DAEMON, NULL);

    if (daemon == NULL)
        daemon = section_add(ld, &kinds[KIND_DAEMON], NULL, 0);
    for (size_t i = 0; i < ld->n_sections; i++)
        apply_defaults(ld, &ld->sections[i]);

    ls = sections_of(ld, KIND_LISTENER, &g->n_listeners);
    cs = sections_of(ld, KIND_CLUSTER, &g->n_clusters);
    ps = sections_of(ld, KIND_PLUGIN, &g->n_plugins);
    rs = sections_of(ld, KIND_ROUTE, &g->n_routes);
    publish(ld, g, ls, cs, ps, rs);

    for (size_t i = 0; i < g->n_plugins; i++)
        link_plugin(ld, ps[i]);
    for (size_t i = 0; i < g->n_listeners; i++)
        link_listener(ld, ls[i]);
    for (size_t i = 0; i < g->n_routes; i++)
        link_route(ld, rs[i]);
    for (size_t i = 0; i < g->n_listeners; i++)
        cfg_route_index(ld->arena, &((struct listener_draft *)ls[i]->obj)->pub, g->routes,
                        g->n_routes);
    check_listeners(ld, ls, g->n_listeners);
    if (g->n_listeners == 0)
        ld_error(ld, 0, NULL, NULL, "no [listener:NAME] section: nothing to serve");

    g->daemon = ((struct daemon_draft *)daemon->obj)->pub;
    g->path = cfg_arena_strdup(ld->arena, ld->file);
    free(ls);
    free(cs);
    free(ps);
    free(rs);
    return g;
}

/* The line number in "FILE:LINE: ...", or UINT_MAX for file-level messages. */
static unsigned message_line(const char *msg, size_t file_len)
{
    char *end;
    unsigned long line = strtoul(msg + file_len + 1, &end, 10);
    return end != msg + file_len + 1 && *end == ':' ? (unsigned)line : UINT_MAX;
}

/* Orders this load's messages by line (stable), as a reader expects. */
static void sort_errors(struct cfg_errors *e, size_t from, size_t file_len)
{
    for (size_t i = from + 1; i < e->count; i++) {
        char *m = e->items[i];
        unsigned line = message_line(m, file_len);
        size_t j = i;
        for (; j > from && message_line(e->items[j - 1], file_len) > line; j--)
            e->items[j] = e->items[j - 1];
        e->items[j] = m;
    }
}

static const struct cfg_generation *load_text(const char *file, const char *base_dir,
                                              const char *text, size_t len,
                                              struct cfg_errors *errors)
{
    struct loader ld = {
        .file = file,
        .base_dir = base_dir,
        .text = text,
        .len = len,
        .errors = errors,
        .arena = cfg_arena_new(),
    };
    size_t errors_before = errors->count;
    struct cfg_generation *g;

    /* read_line() reports what libinih would, so its own result adds nothing
     * but the first of those lines again. */
    (void)ini_parse_stream(read_line, &ld, on_key, &ld);
    g = finish(&ld);
    free(ld.sections);
    if (errors->count > errors_before) {
        sort_errors(errors, errors_before, strlen(file));
        cfg_arena_free(ld.arena);
        return NULL;
    }
    g->arena = ld.arena;
    atomic_init(&g->refs, 1);
    g->number = atomic_fetch_add(&generation_counter, 1) + 1;
    return g;
}

const struct cfg_generation *cfg_load_string(const char *name, const char *text,
                                             struct cfg_errors *errors)
{
    return load_text(name, NULL, text, strlen(text), errors);
}

const struct cfg_generation *cfg_load(const char *path, struct cfg_errors *errors)
{
    struct cfg_arena *tmp = cfg_arena_new();
    const struct cfg_generation *g = NULL;
    const char *slash = strrchr(path, '/');
    char *dir;
    size_t len;
    char *text = slurp(tmp, path, &len);

    if (text == NULL) {
        cfg_errors_add(errors, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    dir = slash ? cfg_arena_strndup(tmp, path, slash == path ? 1 : (size_t)(slash - path)) : NULL;
    g = load_text(path, dir, text, len, errors);
out:
    cfg_arena_free(tmp);
    return g;
}

int cfg_check(const char *path, FILE *out)
{
    struct cfg_errors errors = {0};
    const struct cfg_generation *g = cfg_load(path, &errors);

    if (g != NULL) {
        fprintf(out, "%s: configuration is valid\n", path);
        cfg_unref(g);
        return 0;
    }
    for (size_t i = 0; i < errors.count; i++)
        fprintf(out, "%s\n", errors.items[i]);
    fprintf(out, "%s: %zu error%s\n", path, errors.count, errors.count == 1 ? "" : "s");
    cfg_errors_free(&errors);
    return 1;
}
