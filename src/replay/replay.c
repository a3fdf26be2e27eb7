/*
 * replay.c - `wasp replay`: proxy-wasm plugins on recorded traffic, with no sockets,
 * through the daemon's own code: the plugins are a plugin set (src/plugin: module
 * cache, canary, VMs), run by the wasm stream filter in the stream chain runner
 * (src/stream), on one plugin worker whose clock is virtual. Only the two ends of each
 * stream are replay's: a recorded downstream (the client of the traffic file) and a
 * canned upstream (the recorded response); and the callout transport answers from
 * --callouts. What replay prints is what waspd does.
 *
 * The traffic file is a JSON array of packets (sip, sp, dip, dp, scheme, uri_path,
 * method, query_params, headers, body, trailers, status, forward_direction, delta_ms): a
 * forward packet is a request; the next reverse packet on the same address/port pair is
 * its response (status defaults to 200). delta_ms is the time since the previous packet
 * on the virtual clock, which drives ticks, callout delays and every clock the plugins
 * read, so a replay is deterministic.
 *
 * Everything that happens is an event (a JSON object): the plugin worker's observer
 * reports what plugins do (callbacks, logs, callouts, ticks, traps, ...), and the two
 * ends report the request arriving, what reached the upstream ("forward"), the response
 * the client got ("response"), resets and the end of each stream. Text output prints one
 * line per event prefixed by the request number ("--" for events of no request);
 * --json prints one JSON document at the end.
 *
 * Callouts: proxy_http_call may name the upstreams of --callouts entries and those
 * given with --upstream (others are BAD_ARGUMENT, as an unknown cluster in waspd). The
 * first entry of --callouts that matches (upstream, "path" prefix) answers after its
 * delay_ms; none, or "fail": true, fails the callout; a delay longer than the call's
 * timeout gives the 504 of waspd's (and Envoy's) timeout.
 *
 * For plugin authors: --property values reach proxy_get_property (in Envoy's encodings)
 * through the plugin set's property source; --duration keeps the virtual clock running
 * after the last packet (root contexts need no traffic); bodies that are not text are
 * "body_base64" in the files and in the output; --trace reports each hostcall as a
 * "hostcall" event; a stream still paused at a plugin at the end is "stalled" and fails
 * the replay (exit 1).
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "config/config.h"
#include "http1/h1.h"
#include "log/log.h"
#include "plugin/plugin.h"
#include "proxywasm.h"
#include "replay/replay.h"
#include "stream/stream.h"

#define RP_MAX_PLUGINS 16
#define RP_EPOCH_NS 1700000000000000000ull /* virtual wall clock at time 0 */
#define RP_MAX_DELTA_MS 86400000u          /* largest delta_ms of a packet: one day */
#define RP_SHUTDOWN_GRACE_MS 60000u        /* roots waiting for proxy_done at the end */
#define RP_HOLD_MAX (1024 * 1024)          /* as a waspd listener's */
#define RP_REQUEST_BUFFER (64 * 1024)      /* a listener's default request_buffering */

struct rp_plugin {
    struct cfg_plugin cfg;
    char name[128];
    const char *env[16]; /* WASI environment, KEY=VALUE */
    uint8_t *config;
    uint8_t *vm_config;
};

/* One recorded exchange: the stream and its two ends. */
struct rp_stream {
    struct rp_stream *next;
    struct rp *rp;
    int id;
    struct stream *s; /* NULL once ended */
    char src[96], dst[96];
    json_t *events;     /* --json */
    struct event work;  /* deferred: deliver the response, or end the stream */
    json_t *response;   /* the recorded response, waiting for the request's end */
    bool response_seen; /* a reverse packet was matched to it */
    bool forwarded;     /* the head reached the upstream side */
    bool req_complete;  /* ... and the whole request */
    bool aborted;       /* the upstream side was dropped (local reply, reset) */
    bool answered;      /* the client got the whole response */
    bool reset;
    bool response_due;  /* the recorded response may go: rp_drain delivers it */
    bool busy;          /* the runner is feeding it: it ends only after (rp_release) */
    struct evbuffer *fwd_body;  /* what reached the upstream */
    struct evbuffer *resp_body; /* what reached the client */
};

/* A --property: a value at a path (segments joined by NUL), as Envoy encodes it. */
struct rp_prop {
    char *path;
    size_t path_len;
    uint8_t *bytes; /* scalars: the encoded value */
    size_t len;
    json_t *json; /* map: and list: values, encoded when read (or walked into) */
};

/* A canned callout answer in flight. */
struct rp_canned {
    struct rp_canned *next;
    struct rp *rp;
    struct plugin_callout *c;
    json_t *answer; /* NULL: the callout fails */
    struct plugin_timer timer;
};

struct rp {
    struct rp_plugin plugins[RP_MAX_PLUGINS];
    bool own_vm[RP_MAX_PLUGINS];
    int nplugins;
    size_t body_chunk; /* deliver bodies in chunks of this size (0: whole) */
    bool trace;
    enum pw_log_level log_level;
    bool json;
    json_t *canned;
    json_t *upstreams; /* --upstream names */
    json_t *out_requests;
    json_t *out_events;
    bool failed;
    char failure[256];     /* why, for the summary line ("" with failed: a plugin failed) */
    uint64_t duration_ms;  /* --duration: the clock runs on this long after the traffic */
    struct rp_prop *props; /* --property, in order */
    size_t nprops;

    struct event_base *base;
    struct plugin_worker *w;
    struct plugin_set *set;
    struct stream_chain *chain;
    struct stream_limits limits;
    struct rp_stream *streams; /* in arrival order */
    struct rp_canned *in_flight;
    int nrequests;
    bool in_loop;
};

static enum pw_status rp_get_property(void *arg, const char *path, size_t len, struct pw_buf *out);

/* ---- Output ------------------------------------------------------------------------ */

static json_t *rp_pairs_json(const struct pw_map *m)
{
    json_t *a = json_array();

    for (uint32_t i = 0; m != NULL && i < m->count; i++)
        json_array_append_new(a, json_pack("[s%s%]", m->items[i].key, (size_t)m->items[i].key_len,
                                           m->items[i].value, (size_t)m->items[i].value_len));
    return a;
}

static void rp_field_json(void *arg, const struct pw_field *f)
{
    json_array_append_new(arg, json_pack("[s%s%]", f->key, f->key_len, f->value, f->value_len));
}

/* A stream's map as plugins see it. */
static json_t *rp_stream_map_json(struct stream *s, enum pw_map_type type)
{
    json_t *a = json_array();
    plugin_stream_fields(s, type, rp_field_json, a);
    return a;
}

/* ---- Base64 (RFC 4648, standard alphabet): binary bodies in the JSON files and output -- */

static const char rp_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* p as base64 with padding (malloc'd, NUL-terminated; OpenSSL's encoder), or NULL when out
 * of memory or too long for it. */
static char *rp_base64_encode(const uint8_t *p, size_t len)
{
    char *out = len <= INT_MAX / 4 * 3 - 3 ? malloc((len + 2) / 3 * 4 + 1) : NULL;
    if (out != NULL)
        EVP_EncodeBlock((unsigned char *)out, p, (int)len);
    return out;
}

/*
 * Decodes base64 text (padding optional, nothing else allowed: no whitespace, no
 * characters outside the alphabet, no bits left over). @return 0 with *out (malloc'd,
 * free it) and *outlen, or -1 when the text is not base64 or out of memory.
 */
static int rp_base64_decode(const char *text, size_t len, uint8_t **out, size_t *outlen)
{
    while (len > 0 && text[len - 1] == '=' && len % 4 != 1)
        len--;
    if (len % 4 == 1)
        return -1;
    uint8_t *buf = malloc(len / 4 * 3 + 3), *o = buf;
    if (buf == NULL)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        const char *at = text[i] != '\0' ? strchr(rp_b64, text[i]) : NULL;
        if (at == NULL) {
            free(buf);
            return -1;
        }
        acc = acc << 6 | (uint32_t)(at - rp_b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *o++ = (uint8_t)(acc >> bits);
        }
    }
    if ((acc & ((1u << bits) - 1)) != 0) { /* stray bits in the last character */
        free(buf);
        return -1;
    }
    *out = buf;
    *outlen = (size_t)(o - buf);
    return 0;
}

/*
 * The body of a packet or canned answer: "body" (text) or "body_base64" (bytes; checked
 * when the file was read). *owned is what to free. Empty when there is none.
 */
static void rp_json_body(json_t *obj, const uint8_t **p, size_t *len, uint8_t **owned)
{
    json_t *text = json_object_get(obj, "body"), *b64 = json_object_get(obj, "body_base64");
    *owned = NULL;
    *p = (const uint8_t *)"";
    *len = 0;
    if (json_is_string(text)) {
        *p = (const uint8_t *)json_string_value(text);
        *len = json_string_length(text);
    } else if (json_is_string(b64) &&
               rp_base64_decode(json_string_value(b64), json_string_length(b64), owned, len) == 0) {
        *p = *owned;
    }
}

/*
 * Sets ev's body as "<key>" when the bytes are UTF-8 text, else as "<key>_base64" (binary
 * bodies, gRPC frames), so that the output shows them exactly.
 */
static void rp_set_bytes(json_t *ev, const char *key, const uint8_t *p, size_t len)
{
    json_t *s = memchr(p, 0, len) == NULL ? json_stringn(len ? (const char *)p : "", len) : NULL;
    if (s != NULL) {
        json_object_set_new(ev, key, s);
        return;
    }
    char name[64];
    char *b64 = rp_base64_encode(p, len);
    snprintf(name, sizeof(name), "%s_base64", key);
    json_object_set_new(ev, name, json_string(b64 != NULL ? b64 : ""));
    free(b64);
}

static void rp_set_evbuffer(json_t *ev, const char *key, struct evbuffer *b)
{
    size_t len = b != NULL ? evbuffer_get_length(b) : 0;
    rp_set_bytes(ev, key, len ? evbuffer_pullup(b, -1) : (const uint8_t *)"", len);
}

static void rp_print_quoted(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c == '\n')
            printf("\\n");
        else if (c < 0x20)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void rp_print_pairs(const char *prefix, const char *label, json_t *pairs)
{
    size_t i;
    json_t *kv;

    json_array_foreach(pairs, i, kv)
    {
        printf("%s    %s%s: %s\n", prefix, label, json_string_value(json_array_get(kv, 0)),
               json_string_value(json_array_get(kv, 1)));
    }
}

/* A traced hostcall, as a call: `#1 hostcall PLUGIN: NAME(ARGS) -> STATUS RESULTS`. */
static void rp_print_hostcall(const char *prefix, json_t *ev)
{
    const char *results = json_string_value(json_object_get(ev, "results"));
    printf("%s hostcall %s: %s(%s) -> %s%s%s time_ms=%" JSON_INTEGER_FORMAT "\n", prefix,
           json_string_value(json_object_get(ev, "plugin")),
           json_string_value(json_object_get(ev, "hostcall")),
           json_string_value(json_object_get(ev, "args")),
           json_string_value(json_object_get(ev, "status")), results[0] ? " " : "", results,
           json_integer_value(json_object_get(ev, "time_ms")));
}

/* Prints one event as a text line (plus indented detail lines: headers, trailers marked
 * "(trailer)", backtrace). */
static void rp_print_event(const char *prefix, json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "event"));
    const char *key;
    json_t *v, *headers = NULL, *trailers = NULL, *bt = NULL;

    if (strcmp(type, "hostcall") == 0) {
        rp_print_hostcall(prefix, ev);
        return;
    }
    printf("%s %s", prefix, type);
    json_object_foreach(ev, key, v)
    {
        if (strcmp(key, "event") == 0)
            continue;
        if (strcmp(key, "headers") == 0) {
            headers = v;
            continue;
        }
        if (strcmp(key, "trailers") == 0) {
            trailers = v;
            continue;
        }
        if (strcmp(key, "backtrace") == 0) {
            bt = v;
            continue;
        }
        printf(" %s=", key);
        if (json_is_string(v))
            rp_print_quoted(json_string_value(v));
        else if (json_is_integer(v))
            printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_boolean(v))
            printf("%s", json_is_true(v) ? "true" : "false");
        else
            printf("?");
    }
    putchar('\n');
    if (headers != NULL)
        rp_print_pairs(prefix, "", headers);
    if (trailers != NULL)
        rp_print_pairs(prefix, "(trailer) ", trailers);
    if (bt != NULL) {
        size_t i;
        json_array_foreach(bt, i, v)
        {
            printf("%s    %s\n", prefix, json_string_value(v));
        }
    }
}

static uint64_t rp_now(const struct rp *rp)
{
    return plugin_worker_now_ms(rp->w);
}

/* Records an event of stream rs (NULL: not tied to a request). Steals ev. */
static void rp_emit(struct rp *rp, struct rp_stream *rs, json_t *ev)
{
    if (ev == NULL) {
        fprintf(stderr, "wasp replay: cannot build an event (out of memory?)\n");
        return;
    }
    json_object_set_new(ev, "time_ms", json_integer((json_int_t)rp_now(rp)));
    if (rp->json) {
        json_array_append_new(rs != NULL ? rs->events : rp->out_events, ev);
        return;
    }
    char prefix[32];
    if (rs != NULL)
        snprintf(prefix, sizeof(prefix), "#%d", rs->id);
    else
        snprintf(prefix, sizeof(prefix), "--");
    rp_print_event(prefix, ev);
    json_decref(ev);
}

/* ---- What the plugins do (the worker's observer) ------------------------------------- */

static const char *rp_level_name(enum pw_log_level l)
{
    static const char *names[] = {"trace", "debug", "info", "warn", "error", "critical"};
    return l <= PW_LOG_CRITICAL ? names[l] : "?";
}

static json_t *rp_backtrace_json(const char *bt)
{
    json_t *a = json_array();
    while (bt != NULL && *bt) {
        const char *nl = strchr(bt, '\n');
        size_t n = nl != NULL ? (size_t)(nl - bt) : strlen(bt);
        json_array_append_new(a, json_stringn(bt, n));
        bt += n + (nl != NULL);
    }
    return a;
}

/* The canned answer for a callout, or NULL. */
static json_t *rp_canned_for(struct rp *rp, const char *upstream, const char *path)
{
    size_t i;
    json_t *c;

    json_array_foreach(rp->canned, i, c)
    {
        const char *u = json_string_value(json_object_get(c, "upstream"));
        const char *p = json_string_value(json_object_get(c, "path"));
        if (u != NULL && strcmp(u, upstream) != 0)
            continue;
        if (p != NULL && (path == NULL || strncmp(path, p, strlen(p)) != 0))
            continue;
        return c;
    }
    return NULL;
}

static json_t *rp_callback_json(const struct plugin_event *ev)
{
    json_t *j = json_pack("{ss ss ss ss}", "event", "callback", "plugin", ev->plugin, "callback",
                          ev->callback, "result", ev->result);
    if (strstr(ev->callback, "_body") != NULL) {
        rp_set_evbuffer(j, "body", ev->chunk);
        json_object_set_new(j, "end_of_stream", json_boolean(ev->end_of_stream));
    } else if (ev->stream != NULL) {
        bool trailers = strstr(ev->callback, "_trailers") != NULL;
        enum pw_map_type t = ev->dir == 0
                                 ? (trailers ? PW_MAP_REQUEST_TRAILERS : PW_MAP_REQUEST_HEADERS)
                                 : (trailers ? PW_MAP_RESPONSE_TRAILERS : PW_MAP_RESPONSE_HEADERS);
        json_object_set_new(j, trailers ? "trailers" : "headers",
                            rp_stream_map_json(ev->stream, t));
    }
    return j;
}

/* The event names of the plugin events that carry only the plugin's name. */
static const char *const rp_plugin_only_events[] = {
    [PLUGIN_EV_FAIL_OPEN] = "fail_open",
    [PLUGIN_EV_FAIL_CLOSED] = "fail_closed",
    [PLUGIN_EV_TICK] = "tick",
    [PLUGIN_EV_VM_REPLACED] = "plugin_reload",
    [PLUGIN_EV_ROOT_DELETED] = "root_deleted",
    [PLUGIN_EV_ROOT_DONE_PENDING] = "root_done_pending",
    [PLUGIN_EV_ROOT_DONE_TIMEOUT] = "root_done_timeout",
};

static void rp_observe(void *arg, const struct plugin_event *ev)
{
    struct rp *rp = arg;
    struct rp_stream *rs = ev->stream != NULL ? ev->stream->down_ctx : NULL;
    static const char *dirs[] = {"request", "response", "downstream", "upstream"};
    const char *dir = ev->dir >= 0 && ev->dir < 4 ? dirs[ev->dir] : "?";
    json_t *j = NULL;

    switch (ev->kind) {
    case PLUGIN_EV_FAIL_OPEN:
    case PLUGIN_EV_FAIL_CLOSED:
    case PLUGIN_EV_TICK:
    case PLUGIN_EV_VM_REPLACED:
    case PLUGIN_EV_ROOT_DELETED:
    case PLUGIN_EV_ROOT_DONE_PENDING:
    case PLUGIN_EV_ROOT_DONE_TIMEOUT:
        j = json_pack("{ss ss}", "event", rp_plugin_only_events[ev->kind], "plugin", ev->plugin);
        break;
    case PLUGIN_EV_STARTED:
        j = json_pack("{ss ss ss}", "event", "plugin_started", "plugin", ev->plugin, "abi",
                      ev->abi);
        if (ev->vm_of != NULL)
            json_object_set_new(j, "shares_vm_of", json_string(ev->vm_of));
        break;
    case PLUGIN_EV_START_FAILED:
        rp->failed = true;
        j = json_pack("{ss ss ss}", "event", "start_failed", "plugin", ev->plugin, "reason",
                      ev->text);
        break;
    case PLUGIN_EV_CALLBACK:
        j = rp_callback_json(ev);
        break;
    case PLUGIN_EV_CONTINUE:
        j = json_pack("{ss ss}", "event", "continue", "direction", dir);
        break;
    case PLUGIN_EV_CLOSE:
        j = json_pack("{ss ss}", "event", "close", "direction", dir);
        break;
    case PLUGIN_EV_LOCAL_REPLY:
        j = json_pack("{ss si ss si}", "event", "local_reply", "status", (int)ev->status, "details",
                      ev->text, "grpc_status", (int)ev->grpc_status);
        rp_set_bytes(j, "body", ev->body, ev->body_len);
        json_object_set_new(j, "headers", rp_pairs_json(ev->headers));
        break;
    case PLUGIN_EV_TRAP:
        rp->failed = true;
        j = json_pack("{ss ss ss ss so}", "event", "trap", "plugin", ev->plugin, "callback",
                      ev->callback, "reason", ev->text, "backtrace",
                      rp_backtrace_json(ev->backtrace));
        break;
    case PLUGIN_EV_LOG:
        j = json_pack("{ss ss ss}", "event", "log", "level", rp_level_name(ev->level), "message",
                      ev->text);
        break;
    case PLUGIN_EV_QUEUE_READY:
        j = json_pack("{ss si}", "event", "queue_ready", "queue", (int)ev->queue);
        break;
    case PLUGIN_EV_CALLOUT: {
        json_t *c = rp_canned_for(rp, ev->upstream, ev->path);
        bool fail = c == NULL || json_is_true(json_object_get(c, "fail"));
        j = json_pack("{ss ss si ss ss ss si ss}", "event", "callout", "plugin", ev->plugin,
                      "token", (int)ev->token, "upstream", ev->upstream, "method",
                      ev->method ? ev->method : "", "path", ev->path ? ev->path : "", "timeout_ms",
                      (int)ev->timeout_ms, "answer", fail ? "failed" : "canned");
        break;
    }
    case PLUGIN_EV_CALLOUT_RESPONSE:
        j = json_pack("{ss ss si ss}", "event", "callout_response", "plugin", ev->plugin, "token",
                      (int)ev->token, "status", ev->text);
        break;
    case PLUGIN_EV_CALLOUT_CANCELLED:
        j = json_pack("{ss ss si}", "event", "callout_cancelled", "plugin", ev->plugin, "token",
                      (int)ev->token);
        break;
    case PLUGIN_EV_HOSTCALL:
        j = json_pack("{ss ss si ss ss ss ss}", "event", "hostcall", "plugin", ev->plugin,
                      "context_id", (int)ev->token, "hostcall", ev->hostcall, "args", ev->text,
                      "status", ev->result, "results", ev->results);
        break;
    }
    if (j != NULL)
        rp_emit(rp, rs, j);
}

/* ---- The callout transport: canned answers --------------------------------------------- */

static uint64_t rp_wall_ns(void *env)
{
    return RP_EPOCH_NS + rp_now(env) * 1000000u;
}

static bool rp_cluster_known(void *env, const char *name)
{
    struct rp *rp = env;
    size_t i;
    json_t *v;

    json_array_foreach(rp->upstreams, i, v)
    {
        if (strcmp(json_string_value(v), name) == 0)
            return true;
    }
    json_array_foreach(rp->canned, i, v)
    {
        const char *u = json_string_value(json_object_get(v, "upstream"));
        if (u != NULL && strcmp(u, name) == 0)
            return true;
    }
    return false;
}

static void rp_canned_unlink(struct rp_canned *k)
{
    for (struct rp_canned **pp = &k->rp->in_flight; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == k) {
            *pp = k->next;
            return;
        }
    }
}

static void rp_canned_fire(struct plugin_timer *t)
{
    struct rp_canned *k = (struct rp_canned *)((char *)t - offsetof(struct rp_canned, timer));
    struct pw_http_response resp = {0};
    json_t *c = k->answer;

    rp_canned_unlink(k);
    if (c != NULL) {
        char status[16];
        const char *key;
        json_t *v;
        json_int_t code = json_integer_value(json_object_get(c, "status"));
        snprintf(status, sizeof(status), "%d", code ? (int)code : 200);
        pw_map_add(&resp.headers, ":status", 7, status, strlen(status));
        json_object_foreach(json_object_get(c, "headers"), key, v)
        {
            pw_map_add(&resp.headers, key, strlen(key), json_string_value(v),
                       json_string_length(v));
        }
        json_object_foreach(json_object_get(c, "trailers"), key, v)
        {
            pw_map_add(&resp.trailers, key, strlen(key), json_string_value(v),
                       json_string_length(v));
        }
        const uint8_t *body;
        size_t blen;
        uint8_t *owned;
        rp_json_body(c, &body, &blen, &owned);
        pw_buf_set(&resp.body, body, blen);
        free(owned);
    }
    plugin_callout_answer(k->c, c != NULL ? &resp : NULL);
    pw_map_free(&resp.headers);
    pw_map_free(&resp.trailers);
    pw_buf_free(&resp.body);
    free(k);
}

static int rp_callout_start(void *env, struct plugin_callout *c, const struct plugin_callout_req *r)
{
    struct rp *rp = env;
    json_t *canned = rp_canned_for(rp, r->cluster, pw_map_value(r->headers, ":path"));
    struct rp_canned *k = calloc(1, sizeof(*k));

    if (k == NULL)
        return -1;
    k->rp = rp;
    k->c = c;
    k->answer = canned != NULL && !json_is_true(json_object_get(canned, "fail")) ? canned : NULL;
    plugin_callout_set_cookie(c, k);
    plugin_timer_init(&k->timer, rp->w, rp_canned_fire);
    uint64_t delay = k->answer != NULL
                         ? (uint64_t)json_integer_value(json_object_get(k->answer, "delay_ms"))
                         : 0;
    plugin_timer_arm(&k->timer, delay);
    k->next = rp->in_flight;
    rp->in_flight = k;
    return 0;
}

static void rp_callout_cancel(void *env, struct plugin_callout *c)
{
    struct rp_canned *k = plugin_callout_cookie(c);
    if (k == NULL)
        return;
    plugin_timer_cancel(&k->timer);
    rp_canned_unlink(k);
    free(k);
}

static const struct plugin_env_ops rp_env_ops = {
    .wall_ns = rp_wall_ns,
    .cluster_known = rp_cluster_known,
    .callout_start = rp_callout_start,
    .callout_cancel = rp_callout_cancel,
};

/* ---- The event loop, on the virtual clock --------------------------------------------- */

/* Runs what the loop has to do now (deferred stream work, queue wake-ups); from inside
 * the loop (a deferred callback), the loop itself goes on afterwards. */
static void rp_deliver_response(struct rp_stream *rs);

/* Runs the event loop until nothing is active, then delivers the responses that became
 * due, each outside the loop (as the request side is fed), so that deferred work runs
 * between the pieces of a body as between two reads in waspd. */
static void rp_drain(struct rp *rp)
{
    if (rp->in_loop)
        return;
    for (;;) {
        rp->in_loop = true;
        do {
            event_base_loop(rp->base, EVLOOP_NONBLOCK);
        } while (event_base_get_num_events(rp->base, EVENT_BASE_COUNT_ACTIVE) > 0 ||
                 plugin_worker_has_mail(rp->w));
        rp->in_loop = false;
        struct rp_stream *rs = rp->streams;
        while (rs != NULL && !(rs->response_due && !rs->busy))
            rs = rs->next;
        if (rs == NULL)
            return;
        rs->response_due = false;
        if (rs->s != NULL && rs->response != NULL && !rs->aborted)
            rp_deliver_response(rs);
    }
}

/* Moves the clock to t, running the timers due on the way in order. */
static void rp_advance(struct rp *rp, uint64_t t)
{
    rp_drain(rp);
    while (plugin_worker_step(rp->w, t))
        rp_drain(rp);
}

/* ---- The recorded downstream: the client of the traffic file ----------------------------- */

static void rp_stream_free(struct rp_stream *rs)
{
    struct rp *rp = rs->rp;
    for (struct rp_stream **pp = &rp->streams; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == rs) {
            *pp = rs->next;
            break;
        }
    }
    event_del(&rs->work);
    json_decref(rs->response);
    evbuffer_free(rs->fwd_body);
    evbuffer_free(rs->resp_body);
    free(rs);
}

/* Ends rs: what the client got (or its reset), then the filters' end (on_done, on_log,
 * on_delete), then "end". */
static void rp_stream_end(struct rp_stream *rs, json_t *unfinished)
{
    struct rp *rp = rs->rp;
    struct stream *s = rs->s;

    if (unfinished != NULL) {
        rp_emit(rp, rs, unfinished);
    } else if (rs->reset) {
        rp_emit(rp, rs, json_pack("{ss}", "event", "reset"));
    } else {
        json_t *ev = json_pack("{ss ss}", "event", "response", "source",
                               s->local_reply ? "local" : "upstream");
        json_object_set_new(ev, "headers", rp_stream_map_json(s, PW_MAP_RESPONSE_HEADERS));
        rp_set_evbuffer(ev, "body", rs->resp_body);
        if (s->dir[1].trailers_out)
            json_object_set_new(ev, "trailers", rp_stream_map_json(s, PW_MAP_RESPONSE_TRAILERS));
        rp_emit(rp, rs, ev);
    }
    rs->s = NULL;
    stream_destroy(s); /* the filters' done hooks: on_done, on_log, on_delete */
    rp_emit(rp, rs, json_pack("{ss}", "event", "end"));
    rp_stream_free(rs);
}

/* Deferred work of a stream, from the event loop (never under the runner). A stream the
 * runner is feeding (busy) ends when the runner lets go of it (rp_release). */
static void rp_work_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rp_stream *rs = arg;
    if (rs->busy)
        return;
    if (rs->answered || rs->reset) {
        rp_stream_end(rs, NULL);
        return;
    }
    if (rs->response != NULL && rs->req_complete && !rs->aborted)
        rs->response_due = true;
}

static void rp_schedule(struct rp_stream *rs)
{
    if (!event_pending(&rs->work, EV_TIMEOUT, NULL))
        event_active(&rs->work, EV_TIMEOUT, 0);
}

/* The runner is done feeding rs: what it put off runs now. rs may be gone after. */
static void rp_release(struct rp_stream *rs)
{
    struct rp *rp = rs->rp;
    rs->busy = false;
    if (rs->answered || rs->reset || rs->response_due)
        rp_schedule(rs);
    rp_drain(rp);
}

static struct rp_stream *rs_of(struct stream *s)
{
    return s->down_ctx;
}

static void down_response_headers(struct stream *s, bool eos)
{
    if (eos) {
        rs_of(s)->answered = true;
        rp_schedule(rs_of(s));
    }
}

static void down_response_body(struct stream *s, struct evbuffer *body, bool eos)
{
    struct rp_stream *rs = rs_of(s);
    evbuffer_add_buffer(rs->resp_body, body);
    if (eos) {
        rs->answered = true;
        rp_schedule(rs);
    }
}

static void down_response_trailers(struct stream *s)
{
    rs_of(s)->answered = true;
    rp_schedule(rs_of(s));
}

static void down_resume_request(struct stream *s)
{
}

static void down_reset(struct stream *s)
{
    rs_of(s)->reset = true;
    rp_schedule(rs_of(s));
}

static size_t down_backlog(struct stream *s)
{
    return 0;
}

/* The recorded connection: its destination, the request number as its id. */
static void down_conn_info(struct stream *s, struct stream_conn_info *out)
{
    struct rp_stream *rs = rs_of(s);
    memset(out, 0, sizeof(*out));
    snprintf(out->local, sizeof(out->local), "%.*s", (int)sizeof(out->local) - 1, rs->dst);
    out->id = (uint64_t)rs->id;
}

static const struct stream_downstream_ops rp_down_ops = {
    .response_headers = down_response_headers,
    .response_body = down_response_body,
    .response_trailers = down_response_trailers,
    .resume_request = down_resume_request,
    .reset = down_reset,
    .backlog = down_backlog,
    .conn_info = down_conn_info,
};

/* ---- The canned upstream: the recorded response --------------------------------------- */

/* The request is whole at the upstream side: "forward", then the response if it came. */
static void up_request_complete(struct rp_stream *rs)
{
    struct stream *s = rs->s;
    json_t *ev = json_pack("{ss}", "event", "forward");
    json_object_set_new(ev, "headers", rp_stream_map_json(s, PW_MAP_REQUEST_HEADERS));
    if (evbuffer_get_length(rs->fwd_body) > 0)
        rp_set_evbuffer(ev, "body", rs->fwd_body);
    if (s->req_trailers.n > 0)
        json_object_set_new(ev, "trailers", rp_stream_map_json(s, PW_MAP_REQUEST_TRAILERS));
    rp_emit(rs->rp, rs, ev);
    rs->req_complete = true;
    if (rs->response != NULL)
        rp_schedule(rs);
}

static void up_request_headers(struct stream *s, bool eos)
{
    struct rp_stream *rs = rs_of(s);
    rs->forwarded = true;
    snprintf(s->upstream_addr, sizeof(s->upstream_addr), "%.*s", (int)sizeof(s->upstream_addr) - 1,
             rs->dst);
    if (eos)
        up_request_complete(rs);
}

static void up_request_body(struct stream *s, struct evbuffer *body, bool eos)
{
    struct rp_stream *rs = rs_of(s);
    evbuffer_add_buffer(rs->fwd_body, body);
    if (eos)
        up_request_complete(rs);
}

static void up_request_trailers(struct stream *s)
{
    up_request_complete(rs_of(s));
}

static void up_resume_response(struct stream *s)
{
}

static void up_abort(struct stream *s)
{
    rs_of(s)->aborted = true;
}

static size_t up_backlog(struct stream *s)
{
    return 0;
}

static const struct stream_upstream_ops rp_up_ops = {
    .request_headers = up_request_headers,
    .request_body = up_request_body,
    .request_trailers = up_request_trailers,
    .resume_response = up_resume_response,
    .abort = up_abort,
    .backlog = up_backlog,
};

/* Headers of a packet into a stream's list; host becomes the authority, content-length
 * the length. */
static void rp_add_headers(struct stream *s, struct stream_headers *h, json_t *obj, bool request)
{
    const char *key;
    json_t *v;
    char num[32];

    json_object_foreach(obj, key, v)
    {
        const char *val = json_string_value(v);
        if (val == NULL) {
            snprintf(num, sizeof(num), "%g", json_number_value(v));
            val = num;
        }
        if (request && strcasecmp(key, "host") == 0)
            continue;
        if (strcasecmp(key, "content-length") == 0)
            continue;
        stream_headers_add(s, h, key, strlen(key), val, strlen(val));
    }
}

/* Feeds body bytes into direction d in --body-chunk pieces; eos after the last. */
static void rp_feed_body(struct rp_stream *rs, int d, const uint8_t *body, size_t len, bool eos)
{
    struct rp *rp = rs->rp;
    size_t chunk = rp->body_chunk ? rp->body_chunk : len;
    size_t off = 0;
    do {
        if (rs->s == NULL || rs->s->reset || rs->answered)
            return;
        size_t n = len - off < chunk ? len - off : chunk;
        struct evbuffer *b = evbuffer_new();
        evbuffer_add(b, body + off, n);
        off += n;
        bool last = off >= len;
        if (d == 0)
            stream_request_body(rs->s, b, last && eos);
        else
            stream_response_body(rs->s, b, last && eos);
        evbuffer_free(b);
        rp_drain(rp);
    } while (off < len);
}

static void rp_deliver_response(struct rp_stream *rs)
{
    struct stream *s = rs->s;
    json_t *pkt = rs->response;
    json_t *st = json_object_get(pkt, "status");
    json_t *trailers = json_object_get(pkt, "trailers");
    bool has_trailers = json_is_object(trailers) && json_object_size(trailers) > 0;
    const uint8_t *body;
    size_t blen;
    uint8_t *owned;
    rp_json_body(pkt, &body, &blen, &owned);

    rs->response = NULL;
    rs->busy = true;
    s->status = json_is_integer(st) ? (int)json_integer_value(st) : 200;
    s->details = "via_upstream";
    rp_add_headers(s, &s->resp_headers, json_object_get(pkt, "headers"), false);
    s->resp_content_length = has_trailers ? -1 : (int64_t)blen;
    bool eos = blen == 0 && !has_trailers;
    stream_response_headers(s, eos);
    rp_drain(rs->rp);
    if (!eos && blen > 0)
        rp_feed_body(rs, 1, body, blen, !has_trailers);
    if (has_trailers && !s->reset && !rs->answered) {
        rp_add_headers(s, &s->resp_trailers, trailers, false);
        stream_response_trailers(s);
    }
    free(owned);
    json_decref(pkt);
    rp_release(rs);
}

/* ---- Traffic ------------------------------------------------------------------------- */

/* A packet field as a string (numbers are accepted for ports). */
static int rp_field_str(json_t *pkt, const char *name, bool required, char *out, size_t len,
                        size_t index, char *err, size_t errlen)
{
    json_t *v = json_object_get(pkt, name);

    if (v == NULL && !required) {
        out[0] = '\0';
        return 0;
    }
    if (json_is_string(v)) {
        snprintf(out, len, "%s", json_string_value(v));
        return 0;
    }
    if (json_is_integer(v)) {
        snprintf(out, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return 0;
    }
    snprintf(err, errlen, "packet %zu: field \"%s\" %s", index, name,
             v == NULL ? "is missing" : "must be a string");
    return -1;
}

/* What is wrong with obj's "body_base64" (not a string, not base64, beside "body"), or
 * NULL. */
static const char *rp_check_base64_body(json_t *obj)
{
    json_t *v = json_object_get(obj, "body_base64");
    uint8_t *bytes;
    size_t len;
    if (v == NULL)
        return NULL;
    if (json_object_get(obj, "body") != NULL)
        return "give \"body\" or \"body_base64\", not both";
    if (!json_is_string(v) ||
        rp_base64_decode(json_string_value(v), json_string_length(v), &bytes, &len) != 0)
        return "field \"body_base64\" must be base64 (RFC 4648, standard alphabet)";
    free(bytes);
    return NULL;
}

/* Checks the shape of every packet before anything runs. */
static int rp_check_traffic(json_t *root, char *err, size_t errlen)
{
    size_t i;
    json_t *pkt;
    char tmp[256];

    if (!json_is_array(root)) {
        snprintf(err, errlen, "the top level must be an array of packets");
        return -1;
    }
    json_array_foreach(root, i, pkt)
    {
        if (!json_is_object(pkt)) {
            snprintf(err, errlen, "packet %zu: must be an object", i);
            return -1;
        }
        static const char *req[] = {"sip", "sp", "dip", "dp"};
        for (size_t k = 0; k < 4; k++)
            if (rp_field_str(pkt, req[k], true, tmp, sizeof(tmp), i, err, errlen) != 0)
                return -1;
        static const char *opt[] = {"scheme", "uri_path", "method", "body"};
        for (size_t k = 0; k < 4; k++)
            if (rp_field_str(pkt, opt[k], false, tmp, sizeof(tmp), i, err, errlen) != 0)
                return -1;
        const char *bad = rp_check_base64_body(pkt);
        if (bad != NULL) {
            snprintf(err, errlen, "packet %zu: %s", i, bad);
            return -1;
        }
        if (!json_is_boolean(json_object_get(pkt, "forward_direction"))) {
            snprintf(err, errlen, "packet %zu: field \"forward_direction\" must be true or false",
                     i);
            return -1;
        }
        json_t *d = json_object_get(pkt, "delta_ms");
        if (d != NULL && (!json_is_number(d) || !(json_number_value(d) >= 0) ||
                          json_number_value(d) > RP_MAX_DELTA_MS)) {
            snprintf(err, errlen,
                     "packet %zu: field \"delta_ms\" must be a number from 0 to %u (one day)", i,
                     RP_MAX_DELTA_MS);
            return -1;
        }
        json_t *st = json_object_get(pkt, "status");
        if (st != NULL && (!json_is_integer(st) || json_integer_value(st) < 100 ||
                           json_integer_value(st) > 599)) {
            snprintf(err, errlen, "packet %zu: field \"status\" must be an integer from 100 to 599",
                     i);
            return -1;
        }
        static const char *maps[] = {"headers", "query_params", "trailers"};
        for (size_t k = 0; k < 3; k++) {
            json_t *m = json_object_get(pkt, maps[k]), *v;
            const char *key;
            if (m == NULL)
                continue;
            if (!json_is_object(m)) {
                snprintf(err, errlen, "packet %zu: field \"%s\" must be an object", i, maps[k]);
                return -1;
            }
            json_object_foreach(m, key, v)
            {
                if (!json_is_string(v) && !json_is_number(v)) {
                    snprintf(err, errlen, "packet %zu: %s[\"%s\"] must be a string", i, maps[k],
                             key);
                    return -1;
                }
            }
        }
    }
    return 0;
}

json_t *rp_traffic_parse(const char *text, size_t len, char *err, size_t errlen)
{
    json_error_t e;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);

    if (j == NULL) {
        snprintf(err, errlen, ":%d:%d: %s", e.line, e.column, e.text);
        return NULL;
    }
    char why[400];
    if (rp_check_traffic(j, why, sizeof(why)) != 0) {
        snprintf(err, errlen, ": %s", why);
        json_decref(j);
        return NULL;
    }
    return j;
}

static void rp_endpoint(json_t *pkt, const char *ip, const char *port, char *out, size_t len)
{
    char a[64], p[16], err[256];
    rp_field_str(pkt, ip, true, a, sizeof(a), 0, err, sizeof(err));
    rp_field_str(pkt, port, true, p, sizeof(p), 0, err, sizeof(err));
    snprintf(out, len, "%s:%s", a, p);
}

/* A request packet: a stream starts on the chain. */
static void rp_request(struct rp *rp, json_t *pkt)
{
    struct rp_stream *rs = calloc(1, sizeof(*rs));
    struct stream *s = rs != NULL ? stream_create(rp->base, rp->chain, &rp->limits) : NULL;

    if (s == NULL) {
        fprintf(stderr, "wasp replay: out of memory\n");
        free(rs);
        return;
    }
    rs->rp = rp;
    rs->s = s;
    rs->id = ++rp->nrequests;
    rs->fwd_body = evbuffer_new();
    rs->resp_body = evbuffer_new();
    event_assign(&rs->work, rp->base, -1, 0, rp_work_cb, rs);
    rp_endpoint(pkt, "sip", "sp", rs->src, sizeof(rs->src));
    rp_endpoint(pkt, "dip", "dp", rs->dst, sizeof(rs->dst));

    const char *method = json_string_value(json_object_get(pkt, "method"));
    const char *path = json_string_value(json_object_get(pkt, "uri_path"));
    const char *scheme = json_string_value(json_object_get(pkt, "scheme"));
    json_t *host = json_object_get(json_object_get(pkt, "headers"), "host");
    char full[2048];
    size_t n = (size_t)snprintf(full, sizeof(full), "%s", path != NULL ? path : "/");
    const char *qk;
    json_t *qv;
    char sep = '?';
    json_object_foreach(json_object_get(pkt, "query_params"), qk, qv)
    {
        char num[32];
        const char *val = json_string_value(qv);
        if (val == NULL) {
            snprintf(num, sizeof(num), "%g", json_number_value(qv));
            val = num;
        }
        if (n < sizeof(full))
            n += (size_t)snprintf(full + n, sizeof(full) - n, "%c%s=%s", sep, qk, val);
        sep = '&';
    }
    if (n >= sizeof(full))
        n = sizeof(full) - 1;
    method = method != NULL ? method : "GET";
    const char *authority = json_is_string(host) ? json_string_value(host) : rs->dst;
    s->method = stream_strdup(s, method, strlen(method));
    s->method_len = (uint32_t)strlen(method);
    s->method_id = h1_method_id(method, strlen(method));
    s->path = stream_strdup(s, full, n);
    s->path_len = (uint32_t)n;
    s->authority = stream_strdup(s, authority, strlen(authority));
    s->authority_len = (uint32_t)strlen(authority);
    s->scheme = stream_strdup(s, scheme != NULL ? scheme : "http",
                              strlen(scheme != NULL ? scheme : "http"));
    s->http_minor = 1;
    s->down = &rp_down_ops;
    s->down_ctx = rs;
    s->up = &rp_up_ops;
    s->start_usec = RP_EPOCH_NS / 1000u + rp_now(rp) * 1000u;
    snprintf(s->client, sizeof(s->client), "%.*s", (int)sizeof(s->client) - 1, rs->src);
    rp_add_headers(s, &s->req_headers, json_object_get(pkt, "headers"), true);
    json_t *trailers = json_object_get(pkt, "trailers");
    bool has_trailers = json_is_object(trailers) && json_object_size(trailers) > 0;
    const uint8_t *body;
    size_t blen;
    uint8_t *owned;
    rp_json_body(pkt, &body, &blen, &owned);
    s->req_content_length = has_trailers ? -1 : (int64_t)blen;

    if (rp->json) {
        rs->events = json_array();
        json_array_append_new(rp->out_requests,
                              json_pack("{si ss ss ss ss sO}", "id", rs->id, "method", method,
                                        "path", full, "source", rs->src, "destination", rs->dst,
                                        "events", rs->events));
        json_decref(rs->events); /* out_requests holds it */
    }
    rp_emit(rp, rs,
            json_pack("{ss ss ss ss ss}", "event", "request", "method", method, "path", full,
                      "source", rs->src, "destination", rs->dst));
    struct rp_stream **pp = &rp->streams;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = rs;

    bool eos = blen == 0 && !has_trailers;
    rs->busy = true;
    stream_request_headers(s, eos);
    rp_drain(rp);
    if (!eos && blen > 0)
        rp_feed_body(rs, 0, body, blen, !has_trailers);
    free(owned);
    if (has_trailers && !s->reset && !rs->answered) {
        rp_add_headers(s, &s->req_trailers, trailers, false);
        stream_request_trailers(s);
        rp_drain(rp);
    }
    rp_release(rs);
}

/* A response packet: the oldest open request on the reverse pair without one gets it. */
static void rp_response(struct rp *rp, json_t *pkt, size_t index)
{
    char src[96], dst[96];

    rp_endpoint(pkt, "sip", "sp", src, sizeof(src));
    rp_endpoint(pkt, "dip", "dp", dst, sizeof(dst));
    for (struct rp_stream *rs = rp->streams; rs != NULL; rs = rs->next) {
        if (strcmp(rs->src, dst) != 0 || strcmp(rs->dst, src) != 0 || rs->response_seen)
            continue;
        rs->response_seen = true;
        if (rs->aborted || rs->s == NULL || rs->s->local_reply) {
            rp_emit(rp, rs, json_pack("{ss}", "event", "upstream_response_ignored"));
            return;
        }
        json_t *st = json_object_get(pkt, "status");
        char status[16];
        snprintf(status, sizeof(status), "%d",
                 json_is_integer(st) ? (int)json_integer_value(st) : 200);
        rp_emit(rp, rs, json_pack("{ss ss}", "event", "upstream_response", "status", status));
        rs->response = json_incref(pkt);
        if (rs->req_complete)
            rp_schedule(rs);
        rp_drain(rp);
        return;
    }
    rp_emit(rp, NULL,
            json_pack("{ss si ss}", "event", "unmatched_response", "packet", (int)index, "source",
                      src));
}

/* ---- Plugins ------------------------------------------------------------------------------ */

static int rp_read_file(const char *path, uint8_t **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    size_t size = 0, cap = 0, n;

    if (f == NULL)
        return -1;
    do {
        if (size == cap) {
            cap = cap ? cap * 2 : 65536;
            uint8_t *p = realloc(data, cap + 1);
            if (p == NULL) {
                free(data);
                fclose(f);
                return -1;
            }
            data = p;
        }
        n = fread(data + size, 1, cap - size, f);
        size += n;
    } while (n > 0);
    fclose(f);
    data[size] = '\0';
    *buf = data;
    *len = size;
    return 0;
}

static void rp_metric(void *arg, const struct pw_metric_view *m)
{
    struct rp *rp = arg;
    static const char *types[] = {"counter", "gauge", "histogram"};
    json_t *ev = json_pack("{ss ss ss sI}", "event", "metric", "name", m->name, "type",
                           types[m->type], "value", (json_int_t)m->value);

    if (m->type == PW_METRIC_HISTOGRAM) {
        json_object_set_new(ev, "sum", json_integer((json_int_t)m->sum));
        json_object_set_new(ev, "min", json_integer((json_int_t)m->min));
        json_object_set_new(ev, "max", json_integer((json_int_t)m->max));
    }
    rp_emit(rp, NULL, ev);
}

/*
 * Loads the plugins as a set (each module once, a canary start of each), makes the chain
 * [plugin 1 .. plugin k] and the worker that runs it. @return 0, 1 when a plugin failed
 * (printed), 2 when out of memory.
 */
static int rp_start(struct rp *rp)
{
    const struct cfg_plugin *plugins[RP_MAX_PLUGINS];
    struct cfg_errors errors = {0};

    for (int i = 0; i < rp->nplugins; i++)
        plugins[i] = &rp->plugins[i].cfg;
    rp->base = event_base_new();
    if (rp->base == NULL)
        return 2;
    rp->w = plugin_worker_new(rp->base, 0, &rp_env_ops, rp, true, NULL);
    if (rp->w == NULL)
        return 2;
    plugin_worker_set_observer(rp->w, &(struct plugin_observer){rp_observe, rp});
    plugin_worker_set_log_level(rp->w, rp->log_level);
    plugin_worker_bind(rp->w);
    struct plugin_observer obs = {rp_observe, rp};
    struct plugin_properties props = {rp_get_property, rp};
    struct plugin_set_options opt = {.n_workers = 1,
                                     .own_vm = rp->own_vm,
                                     .trace = rp->trace,
                                     .init_observer = &obs,
                                     .properties = &props,
                                     .root_id_advice = "pass --root-id"};
    rp->set = plugin_set_new(NULL, plugins, (size_t)rp->nplugins, &opt, &errors);
    if (rp->set == NULL) {
        for (size_t i = 0; i < errors.count; i++)
            fprintf(stderr, "wasp replay: %s\n", errors.items[i]);
        cfg_errors_free(&errors);
        return 1;
    }
    rp->chain = stream_chain_new();
    if (rp->chain == NULL)
        return 2;
    for (int i = 0; i < rp->nplugins; i++) {
        void *conf = plugin_filter_conf(rp->set, (size_t)i);
        if (conf == NULL || stream_chain_add_conf(rp->chain, &plugin_filter_ops, conf) < 0)
            return 2;
    }
    rp->limits =
        (struct stream_limits){.hold_max = RP_HOLD_MAX, .request_buffer = RP_REQUEST_BUFFER};
    plugin_worker_serve(rp->w, rp->set);
    rp_drain(rp);
    return rp->failed ? 1 : 0;
}

/* ---- Properties (--property PATH=VALUE) ------------------------------------------------ */

/* A JSON value in Envoy's property encoding (ABI.md §5.3) as a protobuf Struct holds it:
 * strings raw, numbers 8-byte IEEE doubles (Struct numbers are doubles), booleans one
 * byte, objects the pairs encoding with each value encoded the same way, arrays the pairs
 * encoding with the encoded elements as keys and empty values. */
static int rp_json_encode(json_t *v, struct pw_buf *out);

static int rp_pairs_encode(const char *const *keys, const struct pw_buf *vals, size_t n,
                           const size_t *key_lens, struct pw_buf *out)
{
    uint8_t le[4];
    uint32_t count = (uint32_t)n;
    memcpy(le, &count, 4); /* little-endian hosts only (x86-64, aarch64) */
    if (pw_buf_set(out, le, 4) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        uint32_t kl = (uint32_t)key_lens[i], vl = (uint32_t)vals[i].len;
        if (pw_buf_append(out, &kl, 4) != 0 || pw_buf_append(out, &vl, 4) != 0)
            return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (pw_buf_append(out, keys[i], key_lens[i]) != 0 || pw_buf_append(out, "", 1) != 0 ||
            pw_buf_append(out, vals[i].data, vals[i].len) != 0 || pw_buf_append(out, "", 1) != 0)
            return -1;
    return 0;
}

static int rp_json_container_encode(json_t *v, struct pw_buf *out)
{
    size_t n = json_is_object(v) ? json_object_size(v) : json_array_size(v), i = 0;
    const char **keys = calloc(n ? n : 1, sizeof(*keys));
    size_t *lens = calloc(n ? n : 1, sizeof(*lens));
    struct pw_buf *vals = calloc(n ? n : 1, sizeof(*vals)), *elems = NULL;
    int rc = keys != NULL && lens != NULL && vals != NULL ? 0 : -1;
    if (rc == 0 && json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e)
        {
            keys[i] = k;
            lens[i] = strlen(k);
            if (rp_json_encode(e, &vals[i++]) != 0)
                rc = -1;
        }
    } else if (rc == 0) {
        /* A list: the elements are the keys. */
        elems = calloc(n ? n : 1, sizeof(*elems));
        json_t *e;
        rc = elems != NULL ? 0 : -1;
        json_array_foreach(v, i, e)
        {
            if (rc == 0 && rp_json_encode(e, &elems[i]) != 0)
                rc = -1;
            if (rc == 0) {
                keys[i] = (const char *)elems[i].data;
                lens[i] = elems[i].len;
            }
        }
    }
    if (rc == 0)
        rc = rp_pairs_encode(keys, vals, n, lens, out);
    for (size_t k = 0; k < n; k++) {
        if (vals != NULL)
            pw_buf_free(&vals[k]);
        if (elems != NULL)
            pw_buf_free(&elems[k]);
    }
    free(keys);
    free(lens);
    free(vals);
    free(elems);
    return rc;
}

static int rp_json_encode(json_t *v, struct pw_buf *out)
{
    if (json_is_string(v))
        return pw_buf_set(out, json_string_value(v), json_string_length(v));
    if (json_is_boolean(v)) {
        uint8_t b = json_is_true(v);
        return pw_buf_set(out, &b, 1);
    }
    if (json_is_number(v)) {
        double d = json_number_value(v);
        return pw_buf_set(out, &d, 8);
    }
    if (json_is_object(v) || json_is_array(v))
        return rp_json_container_encode(v, out);
    return pw_buf_set(out, "", 0); /* null */
}

/* The segment of path at [*pos, ...) (NUL-terminated segments); advances *pos. */
static bool rp_next_segment(const char *path, size_t len, size_t *pos, const char **seg,
                            size_t *seg_len)
{
    if (*pos > len)
        return false;
    const char *end = memchr(path + *pos, '\0', len - *pos);
    size_t n = end != NULL ? (size_t)(end - (path + *pos)) : len - *pos;
    *seg = path + *pos;
    *seg_len = n;
    *pos += n + 1;
    return true;
}

/* The JSON value below v at the segments path[pos..len), or NULL. */
static json_t *rp_json_walk(json_t *v, const char *path, size_t len, size_t pos)
{
    const char *seg;
    size_t n;
    while (v != NULL && pos <= len && rp_next_segment(path, len, &pos, &seg, &n)) {
        char key[256];
        if (n >= sizeof(key))
            return NULL;
        memcpy(key, seg, n);
        key[n] = '\0';
        if (json_is_object(v)) {
            v = json_object_get(v, key);
        } else if (json_is_array(v)) {
            char *end;
            unsigned long i = strtoul(key, &end, 10);
            v = n > 0 && *end == '\0' ? json_array_get(v, i) : NULL;
        } else {
            return NULL;
        }
    }
    return v;
}

/* The value at path: a property given there; or inside a map/list property given above
 * it; or, when properties were given below it, the map of those (the next segment as the
 * key, each value found the same way), as Envoy serves a map-valued attribute. */
static enum pw_status rp_prop_lookup(const struct rp *rp, const char *path, size_t len,
                                     struct pw_buf *out, int depth)
{
    for (size_t i = 0; i < rp->nprops; i++) {
        const struct rp_prop *p = &rp->props[i];
        if (p->path_len == len && memcmp(p->path, path, len) == 0)
            return (p->json != NULL ? rp_json_encode(p->json, out)
                                    : pw_buf_set(out, p->bytes, p->len)) == 0
                       ? PW_OK
                       : PW_INTERNAL_FAILURE;
        if (p->json != NULL && p->path_len < len && memcmp(p->path, path, p->path_len) == 0 &&
            path[p->path_len] == '\0') {
            json_t *v = rp_json_walk(p->json, path, len, p->path_len + 1);
            if (v != NULL)
                return rp_json_encode(v, out) == 0 ? PW_OK : PW_INTERNAL_FAILURE;
        }
    }
    if (depth > 16)
        return PW_NOT_FOUND;
    /* Children: the distinct next segments of the properties below path, in order. */
    const char *keys[64];
    size_t lens[64], n = 0;
    struct pw_buf vals[64];
    for (size_t i = 0; i < rp->nprops && n < 64; i++) {
        const struct rp_prop *p = &rp->props[i];
        if (p->path_len <= len || memcmp(p->path, path, len) != 0 ||
            (len > 0 && p->path[len] != '\0'))
            continue;
        size_t pos = len > 0 ? len + 1 : 0, kl = 0;
        const char *k = NULL;
        if (!rp_next_segment(p->path, p->path_len, &pos, &k, &kl))
            continue;
        bool seen = false;
        for (size_t j = 0; j < n; j++)
            seen = seen || (lens[j] == kl && memcmp(keys[j], k, kl) == 0);
        if (seen)
            continue;
        char sub[1024];
        size_t sl = (size_t)(k + kl - p->path);
        if (sl > sizeof(sub))
            continue;
        memcpy(sub, p->path, sl);
        vals[n] = (struct pw_buf){0};
        if (rp_prop_lookup(rp, sub, sl, &vals[n], depth + 1) != PW_OK)
            continue;
        keys[n] = k;
        lens[n++] = kl;
    }
    enum pw_status st = PW_NOT_FOUND;
    if (n > 0)
        st = rp_pairs_encode(keys, vals, n, lens, out) == 0 ? PW_OK : PW_INTERNAL_FAILURE;
    for (size_t j = 0; j < n; j++)
        pw_buf_free(&vals[j]);
    return st;
}

/* struct plugin_properties.get over the --property values. */
static enum pw_status rp_get_property(void *arg, const char *path, size_t len, struct pw_buf *out)
{
    return len > 0 ? rp_prop_lookup(arg, path, len, out, 0) : PW_NOT_FOUND;
}

/*
 * Parses --property PATH=VALUE into a struct rp_prop. PATH: segments separated by '.'
 * ("\\." is a dot inside a segment). VALUE: text as given; "@FILE": the file's bytes;
 * typed: "string:TEXT", "int:N" / "uint:N" (8 bytes little-endian), "double:X" (8-byte
 * IEEE), "bool:true|false" (1 byte), "base64:B64" (bytes, e.g. a serialized protobuf),
 * "map:{JSON object}" / "list:[JSON array]" (the pairs encoding; numbers in them are
 * doubles, as in a protobuf Struct; the plugin may also read below them by key or index).
 * @return 0, or -1 with why in err.
 */
static void rp_prop_free(struct rp_prop *p)
{
    free(p->path);
    free(p->bytes);
    json_decref(p->json);
}

static int rp_prop_parse(const char *arg, struct rp_prop *p, char *err, size_t errlen)
{
    const char *eq = strchr(arg, '=');
    memset(p, 0, sizeof(*p));
    if (eq == NULL || eq == arg) {
        snprintf(err, errlen, "--property needs PATH=VALUE, not '%s'", arg);
        return -1;
    }
    p->path = malloc((size_t)(eq - arg) + 1);
    if (p->path == NULL)
        goto nomem;
    for (const char *c = arg; c < eq; c++) {
        if (c[0] == '\\' && c + 1 < eq && c[1] == '.')
            p->path[p->path_len++] = *++c;
        else
            p->path[p->path_len++] = *c == '.' ? '\0' : *c;
    }
    for (size_t i = 0; i < p->path_len; i++)
        if (p->path[i] == '\0' && (i == 0 || i + 1 == p->path_len || p->path[i + 1] == '\0')) {
            snprintf(err, errlen, "--property %.*s: an empty path segment", (int)(eq - arg), arg);
            return -1;
        }
    const char *v = eq + 1, *colon = strchr(v, ':');
    size_t tl = colon != NULL ? (size_t)(colon - v) : 0;
    const char *val = colon != NULL ? colon + 1 : v;
    char *end = NULL;
    errno = 0;
    if (v[0] == '@') {
        return rp_read_file(v + 1, &p->bytes, &p->len) == 0
                   ? 0
                   : (snprintf(err, errlen, "--property %s: %s", v + 1, strerror(errno)), -1);
    } else if (tl == 3 && strncmp(v, "int", 3) == 0) {
        long long n = strtoll(val, &end, 10);
        if (*val == '\0' || *end != '\0' || errno != 0)
            goto bad;
        p->bytes = malloc(8);
        if (p->bytes != NULL)
            memcpy(p->bytes, &n, 8);
        p->len = 8;
    } else if (tl == 4 && strncmp(v, "uint", 4) == 0) {
        unsigned long long n = strtoull(val, &end, 10);
        if (*val == '\0' || *val == '-' || *end != '\0' || errno != 0)
            goto bad;
        p->bytes = malloc(8);
        if (p->bytes != NULL)
            memcpy(p->bytes, &n, 8);
        p->len = 8;
    } else if (tl == 6 && strncmp(v, "double", 6) == 0) {
        double d = strtod(val, &end);
        if (*val == '\0' || *end != '\0')
            goto bad;
        p->bytes = malloc(8);
        if (p->bytes != NULL)
            memcpy(p->bytes, &d, 8);
        p->len = 8;
    } else if (tl == 4 && strncmp(v, "bool", 4) == 0) {
        if (strcmp(val, "true") != 0 && strcmp(val, "false") != 0)
            goto bad;
        p->bytes = malloc(1);
        if (p->bytes != NULL)
            p->bytes[0] = strcmp(val, "true") == 0;
        p->len = 1;
    } else if (tl == 6 && strncmp(v, "base64", 6) == 0) {
        if (rp_base64_decode(val, strlen(val), &p->bytes, &p->len) != 0)
            goto bad;
        return 0;
    } else if ((tl == 3 && strncmp(v, "map", 3) == 0) || (tl == 4 && strncmp(v, "list", 4) == 0)) {
        json_error_t je;
        p->json = json_loads(val, JSON_DECODE_ANY, &je);
        if (p->json == NULL || (tl == 3 && !json_is_object(p->json)) ||
            (tl == 4 && !json_is_array(p->json))) {
            snprintf(err, errlen, "--property %.*s: %s needs a JSON %s%s%s", (int)(eq - arg), arg,
                     tl == 3 ? "map:" : "list:", tl == 3 ? "object" : "array",
                     p->json == NULL ? ": " : "", p->json == NULL ? je.text : "");
            return -1;
        }
        return 0;
    } else {
        if (tl == 6 && strncmp(v, "string", 6) == 0)
            v = val;
        p->len = strlen(v);
        p->bytes = malloc(p->len + 1);
        if (p->bytes != NULL)
            memcpy(p->bytes, v, p->len + 1);
    }
    if (p->bytes == NULL)
        goto nomem;
    return 0;
bad:
    snprintf(err, errlen, "--property %.*s: '%s' is not a valid %.*s", (int)(eq - arg), arg, val,
             (int)tl, v);
    return -1;
nomem:
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* ---- Command line ----------------------------------------------------------------------- */

static void rp_usage(FILE *out)
{
    fprintf(out,
            "usage: wasp replay --plugin FILE.wasm [PLUGIN OPTIONS] [--plugin ...]\n"
            "                   --traffic FILE.json [--callouts FILE.json] [--upstream NAME]\n"
            "                   [--property PATH=VALUE] [--duration MS] [--body-chunk N]\n"
            "                   [--log-level LEVEL] [--json] [--trace]\n"
            "\n"
            "Runs proxy-wasm plugins (a filter chain, in order) on recorded traffic, through\n"
            "waspd's own stream runner and plugin filter, and prints what they did.\n"
            "\n"
            "plugin options (after its --plugin):\n"
            "  --config STR|@FILE   plugin configuration (buffer 7)\n"
            "  --vm-config STR|@FILE  VM configuration (buffer 6)\n"
            "  --root-id ID         root id (plugin_root_id)\n"
            "  --vm-id ID           plugins with the same file, vm_id and VM configuration\n"
            "                       share one VM\n"
            "  --new-vm             do not share a VM (as if on another worker)\n"
            "  --name NAME          name in logs (default: the file name)\n"
            "  --env KEY=VALUE      its WASI environment (repeatable)\n"
            "  --fuel N             instruction budget of each callback\n"
            "  --max-memory PAGES   most 64 KiB pages its memory may have\n"
            "  --failure-policy P   after a trap: closed (503, default), open (go on\n"
            "                       without it) or reload (fresh VM for new requests)\n"
            "options:\n"
            "  --callouts FILE      canned callout answers (JSON array)\n"
            "  --upstream NAME      an upstream proxy_http_call may name (repeatable; the\n"
            "                       upstreams of --callouts are known too)\n"
            "  --property PATH=VALUE  a property the plugins read (repeatable). PATH:\n"
            "                       segments joined by '.' (\\. inside one); VALUE: text,\n"
            "                       @FILE, or typed: string:, int:N, uint:N, double:X,\n"
            "                       bool:true|false, base64:B64, map:{JSON}, list:[JSON]\n"
            "  --duration MS        run the virtual clock MS more after the last packet\n"
            "                       (ticks, queues, callouts; --traffic may be left out)\n"
            "  --body-chunk N       deliver bodies in N-byte chunks (default: whole)\n"
            "  --log-level LEVEL    trace, debug, info, warn, error or critical\n"
            "  --json               one JSON document instead of text lines\n"
            "  --trace              every proxy_* hostcall once, decoded (\"hostcall\" events)\n"
            "\n"
            "exit status: 0 ok, 1 a plugin failed (a trap, a start failure, a stream left\n"
            "paused), 2 bad usage or input\n");
}

static void rp_basename(const char *path, char *out, size_t len)
{
    const char *b = strrchr(path, '/');
    b = b != NULL ? b + 1 : path;
    snprintf(out, len, "%s", b);
    char *dot = strrchr(out, '.');
    if (dot != NULL && strcmp(dot, ".wasm") == 0)
        *dot = '\0';
}

/* A --config / --vm-config value: the text, or @FILE's bytes. */
static int rp_config_arg(const char *v, uint8_t **data, const char **out, size_t *len)
{
    free(*data);
    *data = NULL;
    if (v[0] == '@') {
        if (rp_read_file(v + 1, data, len) != 0) {
            fprintf(stderr, "wasp replay: %s: %s\n", v + 1, strerror(errno));
            return 2;
        }
        *out = (const char *)*data;
        return 0;
    }
    *out = v;
    *len = strlen(v);
    return 0;
}

static struct rp_plugin *rp_new_plugin(struct rp *rp, const char *file)
{
    if (rp->nplugins == RP_MAX_PLUGINS) {
        fprintf(stderr, "wasp replay: at most %d plugins\n", RP_MAX_PLUGINS);
        return NULL;
    }
    struct rp_plugin *p = &rp->plugins[rp->nplugins++];
    rp_basename(file, p->name, sizeof(p->name));
    p->cfg = (struct cfg_plugin){
        .name = p->name,
        .file = file,
        .root_id = "",
        .vm_id = "",
        .configuration = "",
        .vm_configuration = "",
        .failure_policy = CFG_FAIL_CLOSED,
        .environment = p->env,
    };
    return p;
}

/* Parses the options. Returns 0, or 2 after printing why. */
static int rp_parse_args(struct rp *rp, int argc, char **argv, const char **traffic,
                         const char **callouts)
{
    struct rp_plugin *p = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            rp_usage(stdout);
            exit(0);
        }
        if (strcmp(a, "--json") == 0) {
            rp->json = true;
            continue;
        }
        if (strcmp(a, "--trace") == 0) {
            rp->trace = true;
            continue;
        }
        if (strcmp(a, "--new-vm") == 0) {
            if (p == NULL) {
                fprintf(stderr, "wasp replay: --new-vm must follow a --plugin\n");
                return 2;
            }
            rp->own_vm[p - rp->plugins] = true;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "wasp replay: %s needs a value (see --help)\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--plugin") == 0) {
            if ((p = rp_new_plugin(rp, v)) == NULL)
                return 2;
        } else if (strcmp(a, "--traffic") == 0) {
            *traffic = v;
        } else if (strcmp(a, "--callouts") == 0) {
            *callouts = v;
        } else if (strcmp(a, "--upstream") == 0) {
            json_array_append_new(rp->upstreams, json_string(v));
        } else if (strcmp(a, "--property") == 0) {
            char err[512];
            struct rp_prop *np = realloc(rp->props, (rp->nprops + 1) * sizeof(*np));
            if (np == NULL) {
                fprintf(stderr, "wasp replay: out of memory\n");
                return 2;
            }
            rp->props = np;
            if (rp_prop_parse(v, &rp->props[rp->nprops], err, sizeof(err)) != 0) {
                rp_prop_free(&rp->props[rp->nprops]);
                fprintf(stderr, "wasp replay: %s\n", err);
                return 2;
            }
            rp->nprops++;
        } else if (strcmp(a, "--duration") == 0) {
            char *end;
            errno = 0;
            rp->duration_ms = strtoull(v, &end, 10);
            if (*end != '\0' || end == v || v[0] == '-' || errno != 0 ||
                rp->duration_ms > RP_MAX_DELTA_MS) {
                fprintf(stderr,
                        "wasp replay: --duration needs milliseconds from 0 to %u (one "
                        "day), not '%s'\n",
                        RP_MAX_DELTA_MS, v);
                return 2;
            }
        } else if (strcmp(a, "--log-level") == 0) {
            static const char *levels[] = {"trace", "debug", "info", "warn", "error", "critical"};
            int l = 0;
            while (l < 6 && strcmp(v, levels[l]) != 0)
                l++;
            if (l == 6) {
                fprintf(stderr, "wasp replay: --log-level is one of trace, debug, info, warn, "
                                "error, critical\n");
                return 2;
            }
            rp->log_level = (enum pw_log_level)l;
        } else if (strcmp(a, "--body-chunk") == 0) {
            char *end;
            rp->body_chunk = strtoull(v, &end, 10);
            if (*end != '\0' || end == v) {
                fprintf(stderr, "wasp replay: --body-chunk needs a number, not '%s'\n", v);
                return 2;
            }
        } else if (p == NULL) {
            fprintf(stderr, "wasp replay: %s must follow a --plugin\n", a);
            return 2;
        } else if (strcmp(a, "--config") == 0) {
            if (rp_config_arg(v, &p->config, &p->cfg.configuration, &p->cfg.configuration_len))
                return 2;
        } else if (strcmp(a, "--vm-config") == 0) {
            if (rp_config_arg(v, &p->vm_config, &p->cfg.vm_configuration,
                              &p->cfg.vm_configuration_len))
                return 2;
        } else if (strcmp(a, "--root-id") == 0) {
            p->cfg.root_id = v;
        } else if (strcmp(a, "--env") == 0) {
            if (strchr(v, '=') == NULL || p->cfg.n_environment == 16) {
                fprintf(stderr, "wasp replay: --env needs KEY=VALUE (at most 16 per plugin)\n");
                return 2;
            }
            p->env[p->cfg.n_environment++] = v;
        } else if (strcmp(a, "--failure-policy") == 0) {
            if (strcmp(v, "closed") == 0)
                p->cfg.failure_policy = CFG_FAIL_CLOSED;
            else if (strcmp(v, "open") == 0)
                p->cfg.failure_policy = CFG_FAIL_OPEN;
            else if (strcmp(v, "reload") == 0)
                p->cfg.failure_policy = CFG_FAIL_RELOAD;
            else {
                fprintf(stderr, "wasp replay: --failure-policy is closed, open or reload\n");
                return 2;
            }
        } else if (strcmp(a, "--name") == 0) {
            snprintf(p->name, sizeof(p->name), "%s", v);
        } else if (strcmp(a, "--vm-id") == 0) {
            p->cfg.vm_id = v;
        } else if (strcmp(a, "--fuel") == 0 || strcmp(a, "--max-memory") == 0) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(v, &end, 10);
            if (errno != 0 || *end != '\0' || end == v || (a[2] == 'm' && n > 65536)) {
                fprintf(stderr, "wasp replay: %s needs a number, not '%s'\n", a, v);
                return 2;
            }
            if (a[2] == 'f')
                p->cfg.fuel = n;
            else
                p->cfg.max_memory = n * 65536;
        } else {
            fprintf(stderr, "wasp replay: unknown option %s (see --help)\n", a);
            return 2;
        }
    }
    if (rp->nplugins == 0 || (*traffic == NULL && rp->duration_ms == 0)) {
        rp_usage(stderr);
        return 2;
    }
    for (int k = 0; k < rp->nplugins; k++) {
        FILE *f = fopen(rp->plugins[k].cfg.file, "rb");
        if (f == NULL) {
            fprintf(stderr, "wasp replay: %s: %s\n", rp->plugins[k].cfg.file, strerror(errno));
            return 2;
        }
        fclose(f);
    }
    return 0;
}

/* Checks the canned callout answers before anything runs. */
static int rp_check_callouts(json_t *canned, char *err, size_t errlen)
{
    size_t i;
    json_t *c;

    if (!json_is_array(canned)) {
        snprintf(err, errlen, "the top level must be an array");
        return -1;
    }
    json_array_foreach(canned, i, c)
    {
        const char *bad = NULL;
        if (!json_is_object(c)) {
            snprintf(err, errlen, "entry %zu: must be an object", i);
            return -1;
        }
        json_t *v;
        if ((v = json_object_get(c, "upstream")) != NULL && !json_is_string(v))
            bad = "\"upstream\" must be a string";
        else if ((v = json_object_get(c, "path")) != NULL && !json_is_string(v))
            bad = "\"path\" must be a string";
        else if ((v = json_object_get(c, "body")) != NULL && !json_is_string(v))
            bad = "\"body\" must be a string";

        else if ((v = json_object_get(c, "fail")) != NULL && !json_is_boolean(v))
            bad = "\"fail\" must be true or false";
        else if ((v = json_object_get(c, "status")) != NULL &&
                 (!json_is_integer(v) || json_integer_value(v) < 100 ||
                  json_integer_value(v) > 999))
            bad = "\"status\" must be an integer from 100 to 999";
        else if ((v = json_object_get(c, "delay_ms")) != NULL &&
                 (!json_is_integer(v) || json_integer_value(v) < 0 ||
                  json_integer_value(v) > RP_MAX_DELTA_MS))
            bad = "\"delay_ms\" must be an integer from 0 to 86400000 (one day)";
        for (int k = 0; bad == NULL && k < 2; k++) {
            const char *name = k == 0 ? "headers" : "trailers";
            const char *key;
            json_t *hv;
            v = json_object_get(c, name);
            if (v == NULL)
                continue;
            if (!json_is_object(v)) {
                bad = k == 0 ? "\"headers\" must be an object of strings"
                             : "\"trailers\" must be an object of strings";
                break;
            }
            json_object_foreach(v, key, hv)
            {
                if (!json_is_string(hv))
                    bad = k == 0 ? "\"headers\" must be an object of strings"
                                 : "\"trailers\" must be an object of strings";
            }
        }
        if (bad != NULL) {
            snprintf(err, errlen, "entry %zu: field %s", i, bad);
            return -1;
        }
        if ((bad = rp_check_base64_body(c)) != NULL) {
            snprintf(err, errlen, "entry %zu: %s", i, bad);
            return -1;
        }
    }
    return 0;
}

static json_t *rp_load_json(const char *what, const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &e);

    if (j == NULL && e.line < 0)
        fprintf(stderr, "wasp replay: %s %s: %s\n", what, path, e.text);
    else if (j == NULL)
        fprintf(stderr, "wasp replay: %s %s:%d:%d: %s\n", what, path, e.line, e.column, e.text);
    return j;
}

/*
 * The last event of a stream still open when the replay is over. Paused at a plugin that
 * never continued it: "stalled" (plugin, direction, phase), which fails the replay (in
 * waspd the client would wait until a timeout); else it is the recording that ended
 * (no response for the request): "unfinished".
 */
static json_t *rp_leftover_event(struct rp *rp, struct rp_stream *rs)
{
    static const char *const dirs[] = {"request", "response"};
    const char *phase;
    for (int d = 0; d < 2; d++) {
        int at = stream_paused_at(rs->s, d, &phase);
        if (at < 0)
            continue;
        const char *name = rp->plugins[at].name;
        if (!rp->failed)
            snprintf(rp->failure, sizeof(rp->failure),
                     "#%d stayed paused at plugin %s (%s %s) and was never resumed", rs->id, name,
                     dirs[d], phase);
        rp->failed = true;
        return json_pack("{ss ss ss ss ss}", "event", "stalled", "plugin", name, "direction",
                         dirs[d], "phase", phase, "reason", "paused, never resumed");
    }
    return json_pack("{ss ss}", "event", "unfinished", "state", "no response");
}

/* Runs the traffic, then --duration of virtual time, then lets what is pending finish:
 * the answers of the callouts in flight (those started meanwhile are reported and
 * cancelled), then the streams that never finished (a stream still paused at
 * a plugin fails the replay), then the end of the plugins, as waspd's shutdown: root
 * contexts get proxy_on_done, and one that answers false keeps its ticks, callouts and
 * queues on the virtual clock until it calls proxy_done (at most
 * RP_SHUTDOWN_GRACE_MS). */
static void rp_run(struct rp *rp, json_t *traffic)
{
    size_t i;
    json_t *pkt;

    json_array_foreach(traffic, i, pkt)
    {
        json_t *d = json_object_get(pkt, "delta_ms");
        rp_advance(rp, rp_now(rp) + (d != NULL ? (uint64_t)json_number_value(d) : 0));
        if (json_is_true(json_object_get(pkt, "forward_direction")))
            rp_request(rp, pkt);
        else
            rp_response(rp, pkt, i);
        rp_drain(rp);
    }
    if (rp->duration_ms > 0)
        rp_advance(rp, rp_now(rp) + rp->duration_ms); /* ticks, queues, callouts go on */
    /* The callouts in flight get their answers, which come at most the longest canned
     * delay from now; not the ones started meanwhile, or a plugin that keeps starting
     * new ones (from ticks, or from each answer) would never let go. */
    uint64_t end = rp_now(rp);
    size_t ci;
    json_t *cv;
    json_array_foreach(rp->canned, ci, cv)
    {
        json_int_t delay = json_integer_value(json_object_get(cv, "delay_ms"));
        if (delay > 0 && rp_now(rp) + (uint64_t)delay > end)
            end = rp_now(rp) + (uint64_t)delay;
    }
    while (rp->in_flight != NULL) {
        uint64_t next = plugin_worker_next_timer(rp->w);
        if (next == UINT64_MAX || next > end)
            break;
        rp_advance(rp, next);
    }
    int pending = 0;
    for (struct rp_canned *k = rp->in_flight; k != NULL; k = k->next)
        pending++;
    if (pending > 0)
        rp_emit(rp, NULL, json_pack("{ss si}", "event", "callouts_pending", "count", pending));
    while (rp->streams != NULL) {
        rp_stream_end(rp->streams, rp_leftover_event(rp, rp->streams));
        rp_drain(rp);
    }
    plugin_worker_shutdown(rp->w, RP_SHUTDOWN_GRACE_MS);
    rp_drain(rp);
    while (plugin_worker_live(rp->w) > 0) {
        uint64_t next = plugin_worker_next_timer(rp->w);
        if (next == UINT64_MAX)
            break;
        rp_advance(rp, next);
    }
    pw_metrics_foreach(rp_metric, rp);
}

static void rp_cleanup(struct rp *rp)
{
    while (rp->streams != NULL)
        rp_stream_end(rp->streams,
                      json_pack("{ss ss}", "event", "unfinished", "state", "no response"));
    if (rp->w != NULL) {
        plugin_worker_free(rp->w);
        rp->w = NULL;
    }
    stream_chain_free(rp->chain);
    plugin_set_unref(rp->set);
    stream_free_cache();
    if (rp->base != NULL)
        event_base_free(rp->base);
    for (int i = 0; i < rp->nplugins; i++) {
        free(rp->plugins[i].config);
        free(rp->plugins[i].vm_config);
    }
    for (size_t i = 0; i < rp->nprops; i++)
        rp_prop_free(&rp->props[i]);
    free(rp->props);
    json_decref(rp->canned);
    json_decref(rp->upstreams);
    json_decref(rp->out_requests);
    json_decref(rp->out_events);
}

int wasp_cmd_replay(int argc, char **argv)
{
    struct rp rp = {.log_level = PW_LOG_TRACE};
    const char *traffic_path = NULL, *callouts_path = NULL;
    json_t *traffic = NULL;
    char err[512];
    int status = 2;

    rp.upstreams = json_array();
    log_set_level(LOG_LVL_WARN); /* what plugins do is replay's output, not log lines */
    if (rp_parse_args(&rp, argc, argv, &traffic_path, &callouts_path) != 0)
        goto out;
    uint8_t *text;
    size_t text_len;
    if (traffic_path == NULL) {
        traffic = json_array(); /* --duration alone: root contexts on the clock, no traffic */
    } else if (rp_read_file(traffic_path, &text, &text_len) != 0) {
        fprintf(stderr, "wasp replay: traffic %s: %s\n", traffic_path, strerror(errno));
        goto out;
    } else {
        traffic = rp_traffic_parse((const char *)text, text_len, err, sizeof(err));
        free(text);
        if (traffic == NULL) {
            fprintf(stderr, "wasp replay: traffic %s%s\n", traffic_path, err);
            goto out;
        }
    }
    if (callouts_path != NULL) {
        rp.canned = rp_load_json("callouts", callouts_path);
        if (rp.canned == NULL)
            goto out;
        if (rp_check_callouts(rp.canned, err, sizeof(err)) != 0) {
            fprintf(stderr, "wasp replay: callouts %s: %s\n", callouts_path, err);
            goto out;
        }
    } else {
        rp.canned = json_array();
    }
    rp.out_requests = json_array();
    rp.out_events = json_array();

    status = rp_start(&rp);
    if (status == 0)
        rp_run(&rp, traffic);
    if (rp.failed && status == 0)
        status = 1;
    if (rp.json) {
        json_t *doc = json_pack("{sO sO sb}", "events", rp.out_events, "requests", rp.out_requests,
                                "failed", status != 0);
        if (rp.failure[0])
            json_object_set_new(doc, "failure", json_string(rp.failure));
        json_dumpf(doc, stdout, JSON_INDENT(1));
        putchar('\n');
        json_decref(doc);
    } else if (status == 1) {
        printf("-- FAILED: %s\n", rp.failure[0] ? rp.failure : "a plugin failed");
    }
out:
    json_decref(traffic);
    rp_cleanup(&rp);
    return status;
}
