/*
 * replay.c - `wasp replay`: proxy-wasm plugins on recorded traffic, with no sockets.
 *
 * This is a host of the proxy-wasm layer (hostcalls/host.h) for recorded traffic. The
 * traffic file is a JSON array of packets (sip, sp, dip, dp, scheme, uri_path, method,
 * query_params, headers, body, trailers, forward_direction, delta_ms): a forward packet is a
 * request; the next reverse packet on the same address/port pair is its response (an
 * optional "status" gives its :status, default 200). delta_ms is the time since the
 * previous packet on a virtual clock, which drives proxy_on_tick, callout delays and
 * every clock the plugins read, so a replay is deterministic.
 *
 * The plugins (one or more --plugin, in chain order) each get a root context, in their
 * own VM or, like Envoy, in the VM of an earlier plugin with the same file and vm_id. Per
 * request, the chain runs as a proxy runs it: request headers, body, trailers through
 * plugins 1..k, then the response back through k..1. A Pause from headers stops the
 * stream until the plugin calls proxy_continue_stream (e.g. after a callout); bodies come
 * whole or in --body-chunk pieces: a Pause before the end buffers (the next call gets the
 * cumulative body), a Pause at the end waits for a continue; a local reply skips the
 * upstream and runs the response callbacks on the reply; proxy_close_stream resets the
 * stream. A trap fails the plugin closed: the stream gets 503 and the exit status is 1.
 *
 * Everything a plugin does is an event (a JSON object). Text output prints one line per
 * event prefixed by the request number; --json prints one JSON document at the end.
 * Callouts are answered from --callouts FILE.json: an array of {"upstream", "path"
 * (optional, prefix), "status", "headers", "body", "trailers", "delay_ms", "fail"}; the first entry
 * that matches answers after delay_ms; no match means the callout fails; a delay longer
 * than the call's timeout gives a 504 at the timeout (as Envoy's async client).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proxywasm.h"
#include "replay.h"

#define RP_MAX_PLUGINS 16
#define RP_EPOCH_NS 1700000000000000000ull /* virtual wall clock at time 0 */
#define RP_MAX_DELTA_MS 86400000u          /* largest delta_ms of a packet: one day */

struct rp_plugin {
    const char *file;
    char name[128];
    const char *root_id;
    const char *vm_id;
    uint64_t fuel;
    uint32_t max_pages;
    bool new_vm; /* never share a VM (as if on another worker) */
    enum { RP_FAIL_CLOSED, RP_FAIL_OPEN, RP_FAIL_RELOAD } policy;
    struct pw_vm *retired[8]; /* VMs replaced after a failure (freed at the end) */
    int nretired;
    const char *env[16]; /* WASI environment, KEY=VALUE */
    size_t nenv;
    uint8_t *config;
    size_t config_len;
    uint8_t *vm_config;
    size_t vm_config_len;
    struct pw_module *module; /* NULL when the VM is another plugin's */
    struct pw_vm *vm;
    struct rp_plugin *vm_owner; /* the plugin whose VM this one shares, or itself */
    struct pw_root *root;
    uint32_t tick_ms;
    uint64_t next_tick_ms;
};

/* A request/response exchange going through the chain. */
enum rp_phase {
    RP_REQ_HEADERS,
    RP_REQ_BODY,
    RP_REQ_TRAILERS,
    RP_UPSTREAM,
    RP_RESP_HEADERS,
    RP_RESP_BODY,
    RP_RESP_TRAILERS,
    RP_DONE
};

struct rp_stream {
    struct rp_stream *next;
    struct rp *rp;
    int id;
    char src[96], dst[96];
    uint32_t sport, dport;
    uint64_t start_ms;
    struct pw_map maps[4];
    bool has_map[4];
    struct pw_buf body[2]; /* what the current callback sees (buffered so far) */
    bool has_body[2];
    struct pw_buf body_in[2];  /* body phase: what the current plugin has yet to get */
    struct pw_buf body_out[2]; /* body phase: what the current plugin let through */
    bool in_stage;             /* body phase: the current plugin has started its body */
    bool chunk_eos;            /* the chunk just delivered was the last */
    struct pw_stream *ctx[RP_MAX_PLUGINS];
    enum rp_phase phase;
    int at; /* plugin to run next in this phase */
    bool paused;
    bool resume;         /* continue_stream for the paused direction arrived */
    bool response_ready; /* the upstream response (or a local reply) is in maps[2]/body[1] */
    bool local_reply;    /* maps[2]/body[1] hold a local reply */
    bool local_pending;  /* a local reply was requested, not applied yet */
    struct pw_map lr_headers;
    struct pw_buf lr_body;
    struct pw_buf lr_details;
    uint32_t lr_status;
    int32_t lr_grpc;
    bool reset;
    json_t *events;
};

struct rp_event {
    struct rp_event *next;
    uint64_t at_ms;
    enum { RP_EV_CALLOUT, RP_EV_QUEUE } kind;
    struct rp_plugin *plugin;
    uint32_t token;
    json_t *canned; /* NULL: the callout fails */
    bool timed_out; /* answer 504 as Envoy's async client does on a timeout */
    struct pw_vm *vm;
    uint32_t ctx, queue;
};

struct rp {
    struct rp_plugin plugins[RP_MAX_PLUGINS];
    int nplugins;
    uint64_t now_ms;
    struct rp_event *events;
    struct rp_stream *streams;
    struct rp_stream *current;  /* whose callbacks are running (log attribution) */
    struct rp_plugin *starting; /* whose root context is being created */
    int nrequests;
    size_t body_chunk;           /* deliver bodies in chunks of this size (0: whole) */
    bool trace;                  /* log every hostcall */
    enum pw_log_level log_level; /* plugin log lines below it are dropped */
    json_t *canned;
    bool json;
    json_t *out_requests;
    json_t *out_events;
    bool failed;
    bool shutting_down; /* the traffic is over: root contexts are ending */
};

/* ---- Output ------------------------------------------------------------------------ */

static json_t *rp_map_json(const struct pw_map *m)
{
    json_t *a = json_array();

    for (uint32_t i = 0; i < m->count; i++)
        json_array_append_new(a, json_pack("[s%s%]", m->items[i].key, (size_t)m->items[i].key_len,
                                           m->items[i].value, (size_t)m->items[i].value_len));
    return a;
}

/* Bytes as a JSON string (invalid UTF-8 bytes become \u00XX code points). */
static json_t *rp_bytes_json(const uint8_t *p, size_t len)
{
    json_t *s = json_stringn((const char *)p, len);

    if (s == NULL) {
        char *tmp = malloc(len * 2 + 1);
        size_t n = 0;
        for (size_t i = 0; tmp != NULL && i < len; i++) {
            if (p[i] < 0x80) {
                tmp[n++] = (char)p[i];
            } else {
                tmp[n++] = (char)(0xc0 | p[i] >> 6);
                tmp[n++] = (char)(0x80 | (p[i] & 0x3f));
            }
        }
        s = tmp != NULL ? json_stringn(tmp, n) : json_string("");
        free(tmp);
    }
    return s;
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

/* Prints one event as a text line (plus indented detail lines: headers, trailers marked
 * "(trailer)", backtrace). */
static void rp_print_event(const char *prefix, json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "event"));
    const char *key;
    json_t *v, *headers = NULL, *trailers = NULL, *bt = NULL;

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

/* Records an event of stream s (NULL: not tied to a request). Steals ev. */
static void rp_emit(struct rp *rp, struct rp_stream *s, json_t *ev)
{
    if (ev == NULL) {
        fprintf(stderr, "wasp replay: cannot build an event (out of memory?)\n");
        return;
    }
    json_object_set_new(ev, "time_ms", json_integer((json_int_t)rp->now_ms));
    if (rp->json) {
        json_array_append_new(s != NULL ? s->events : rp->out_events, ev);
        return;
    }
    char prefix[32];
    if (s != NULL)
        snprintf(prefix, sizeof(prefix), "#%d", s->id);
    else
        snprintf(prefix, sizeof(prefix), "--");
    rp_print_event(prefix, ev);
    json_decref(ev);
}

/* ---- Host interface ------------------------------------------------------------------- */

/* The plugin of a root context (the one being created when pw_root_new has not
 * returned yet). */
static struct rp_plugin *rp_plugin_of_root(struct rp *rp, struct pw_root *root)
{
    for (int i = 0; i < rp->nplugins; i++)
        if (rp->plugins[i].root == root)
            return &rp->plugins[i];
    return rp->starting;
}

static bool rp_stream_map(void *host, void *stream, enum pw_map_type type, struct pw_map_ref *out,
                          bool *writable)
{
    struct rp_stream *s = stream;

    if (type > PW_MAP_RESPONSE_TRAILERS || !s->has_map[type])
        return false;
    /* Request maps are sent once the request went upstream. */
    if (type <= PW_MAP_REQUEST_TRAILERS && s->phase >= RP_UPSTREAM)
        *writable = false;
    if (s->phase == RP_DONE)
        *writable = false;
    *out = (struct pw_map_ref){&pw_map_plain_ops, &s->maps[type]};
    return true;
}

static bool rp_stream_buffer(void *host, void *stream, enum pw_buffer_type type,
                             struct pw_buffer_ref *out, bool *eos, bool *writable)
{
    struct rp_stream *s = stream;

    if (type > PW_BUFFER_RESPONSE_BODY || !s->has_body[type])
        return false;
    if ((type == PW_BUFFER_REQUEST_BODY && s->phase != RP_REQ_BODY) ||
        (type == PW_BUFFER_RESPONSE_BODY && s->phase != RP_RESP_BODY))
        *writable = false;
    *eos = true;
    *out = (struct pw_buffer_ref){&pw_buf_plain_ops, &s->body[type]};
    return true;
}

static const struct pw_stream_info *rp_stream_info(void *host, void *stream)
{
    static _Thread_local struct pw_stream_info info;
    static _Thread_local char details[256];
    struct rp_stream *s = stream;

    memset(&info, 0, sizeof(info));
    info.source_address = s->src;
    info.source_port = s->sport;
    info.destination_address = s->dst;
    info.destination_port = s->dport;
    info.connection_id = (uint64_t)s->id;
    info.protocol = "HTTP/1.1";
    info.request_time_ns = RP_EPOCH_NS + s->start_ms * 1000000u;
    info.request_size = s->has_body[0] ? s->body[0].len : 0;
    info.response_size = s->has_body[1] ? s->body[1].len : 0;
    if (s->phase >= RP_UPSTREAM) {
        /* The request is complete; it went to the recorded destination (unless a local
         * reply answered it). */
        info.has_request_duration = true;
        info.request_duration_ns = (s->rp->now_ms - s->start_ms) * 1000000u;
        if (!s->local_reply && !s->local_pending) {
            info.upstream_address = s->dst;
            info.upstream_port = s->dport;
        }
    }
    if (s->response_ready && s->local_reply) {
        snprintf(details, sizeof(details), "%.*s", (int)s->lr_details.len,
                 s->lr_details.data != NULL ? (const char *)s->lr_details.data : "");
        info.response_code_details = details;
    } else if (s->response_ready) {
        info.response_code_details = "via_upstream";
    }
    return &info;
}

static const char *rp_dir_name(enum pw_stream_type t)
{
    static const char *names[] = {"request", "response", "downstream", "upstream"};
    return t <= PW_STREAM_UPSTREAM ? names[t] : "?";
}

static void rp_continue(void *host, void *stream, enum pw_stream_type type)
{
    struct rp_stream *s = stream;

    rp_emit(s->rp, s, json_pack("{ss ss}", "event", "continue", "direction", rp_dir_name(type)));
    bool req = s->phase<RP_UPSTREAM, resp = s->phase> RP_UPSTREAM;
    if ((type == PW_STREAM_REQUEST && req) || (type == PW_STREAM_RESPONSE && resp))
        s->resume = true;
}

static void rp_close(void *host, void *stream, enum pw_stream_type type)
{
    struct rp_stream *s = stream;

    rp_emit(s->rp, s, json_pack("{ss ss}", "event", "close", "direction", rp_dir_name(type)));
    s->reset = true;
}

static void rp_local_reply(void *host, void *stream, const struct pw_local_response *r)
{
    struct rp_stream *s = stream;

    if (s->local_reply || s->local_pending) {
        /* One local reply per stream: a second one is reported, not applied. */
        rp_emit(
            s->rp, s,
            json_pack("{ss si}", "event", "local_reply_ignored", "status", (int)r->status_code));
        return;
    }
    s->local_pending = true;
    s->lr_status = r->status_code;
    s->lr_grpc = r->grpc_status;
    pw_buf_set(&s->lr_details, r->details, r->details_len);
    pw_map_copy(&s->lr_headers, r->headers);
    pw_buf_set(&s->lr_body, r->body, r->body_len);
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

static void rp_push_event(struct rp *rp, struct rp_event *e)
{
    struct rp_event **pp = &rp->events;

    /* Sorted by time; equal times keep their order. */
    while (*pp != NULL && (*pp)->at_ms <= e->at_ms)
        pp = &(*pp)->next;
    e->next = *pp;
    *pp = e;
}

static enum pw_status rp_http_call(void *host, struct pw_root *root, uint32_t token,
                                   const struct pw_http_call *call)
{
    struct rp *rp = host;
    const char *path = pw_map_value(call->headers, ":path");
    json_t *canned = rp_canned_for(rp, call->upstream, path);
    struct rp_event *e = calloc(1, sizeof(*e));
    json_t *ev = json_pack("{ss ss si ss ss ss si}", "event", "callout", "plugin",
                           pw_root_name(root), "token", (int)token, "upstream", call->upstream,
                           "method", pw_map_value(call->headers, ":method"), "path", path,
                           "timeout_ms", (int)call->timeout_ms);

    if (e == NULL) {
        json_decref(ev);
        return PW_INTERNAL_FAILURE;
    }
    bool fail = canned == NULL || json_is_true(json_object_get(canned, "fail"));
    json_object_set_new(ev, "answer", json_string(fail ? "failed" : "canned"));
    rp_emit(rp, rp->current, ev);
    e->kind = RP_EV_CALLOUT;
    e->plugin = rp_plugin_of_root(rp, root);
    e->token = token;
    e->canned = fail ? NULL : canned;
    uint64_t delay =
        canned != NULL ? (uint64_t)json_integer_value(json_object_get(canned, "delay_ms")) : 0;
    if (!fail && call->timeout_ms != 0 && delay > call->timeout_ms) {
        delay = call->timeout_ms;
        e->timed_out = true;
    }
    e->at_ms = rp->now_ms + delay;
    rp_push_event(rp, e);
    return PW_OK;
}

static void rp_cancel(void *host, struct pw_root *root, uint32_t token)
{
    struct rp *rp = host;

    for (struct rp_event **pp = &rp->events; *pp != NULL; pp = &(*pp)->next) {
        struct rp_event *e = *pp;
        if (e->kind == RP_EV_CALLOUT && e->token == token &&
            e->plugin == rp_plugin_of_root(rp, root)) {
            *pp = e->next;
            free(e);
            rp_emit(rp, rp->current,
                    json_pack("{ss ss si}", "event", "callout_cancelled", "plugin",
                              pw_root_name(root), "token", (int)token));
            return;
        }
    }
}

static void rp_set_tick(void *host, struct pw_root *root, uint32_t period_ms)
{
    struct rp *rp = host;
    struct rp_plugin *p = rp_plugin_of_root(rp, root);

    if (p == NULL)
        return;
    p->tick_ms = period_ms;
    p->next_tick_ms = rp->now_ms + period_ms;
}

static void rp_post_queue(void *host, struct pw_vm *vm, uint32_t ctx, uint32_t queue)
{
    struct rp *rp = host;
    struct rp_event *e = calloc(1, sizeof(*e));

    if (e == NULL)
        return;
    e->kind = RP_EV_QUEUE;
    e->vm = vm;
    e->ctx = ctx;
    e->queue = queue;
    e->at_ms = rp->now_ms;
    rp_push_event(rp, e);
}

static const char *rp_level_name(enum pw_log_level l)
{
    static const char *names[] = {"trace", "debug", "info", "warn", "error", "critical"};
    return l <= PW_LOG_CRITICAL ? names[l] : "?";
}

static void rp_log(void *host, enum pw_log_level level, const char *line, size_t len)
{
    struct rp *rp = host;

    rp_emit(rp, rp->current,
            json_pack("{ss ss ss%}", "event", "log", "level", rp_level_name(level), "message", line,
                      len));
}

static uint64_t rp_clock(void *host, bool monotonic)
{
    struct rp *rp = host;

    return (monotonic ? 0 : RP_EPOCH_NS) + rp->now_ms * 1000000u;
}

static void rp_failed(void *host, struct pw_vm *vm, const char *plugin, const char *callback,
                      const char *reason, const char *backtrace)
{
    struct rp *rp = host;
    json_t *bt = json_array();

    while (*backtrace) {
        const char *nl = strchr(backtrace, '\n');
        size_t n = nl != NULL ? (size_t)(nl - backtrace) : strlen(backtrace);
        json_array_append_new(bt, json_stringn(backtrace, n));
        backtrace += n + (nl != NULL);
    }
    rp->failed = true;
    rp_emit(rp, rp->current,
            json_pack("{ss ss ss ss so}", "event", "trap", "plugin", plugin, "callback", callback,
                      "reason", reason, "backtrace", bt));
}

static void rp_root_deleted(void *host, struct pw_root *root)
{
    struct rp *rp = host;

    for (int i = 0; i < rp->nplugins; i++) {
        struct rp_plugin *p = &rp->plugins[i];
        if (p->root == root) {
            if (rp->shutting_down)
                rp_emit(rp, NULL, json_pack("{ss ss}", "event", "root_deleted", "plugin", p->name));
            p->root = NULL;
            p->tick_ms = 0;
        }
    }
}

static enum pw_log_level rp_log_level(void *host)
{
    return ((struct rp *)host)->log_level;
}

static const struct pw_host_ops rp_ops = {
    .stream_map = rp_stream_map,
    .stream_buffer = rp_stream_buffer,
    .stream_info = rp_stream_info,
    .continue_stream = rp_continue,
    .close_stream = rp_close,
    .send_local_response = rp_local_reply,
    .http_call = rp_http_call,
    .cancel_http_call = rp_cancel,
    .set_tick_period = rp_set_tick,
    .post_queue_ready = rp_post_queue,
    .log = rp_log,
    .log_level = rp_log_level,
    .clock_ns = rp_clock,
    .vm_failed = rp_failed,
    .root_deleted = rp_root_deleted,
};

/* ---- The chain ------------------------------------------------------------------------ */

static const char *rp_action_name(enum pw_action a)
{
    return a == PW_ACTION_CONTINUE ? "continue" : a == PW_ACTION_PAUSE ? "pause" : "failed";
}

static const char *rp_phase_callback(enum rp_phase p)
{
    switch (p) {
    case RP_REQ_HEADERS:
        return "proxy_on_request_headers";
    case RP_REQ_BODY:
        return "proxy_on_request_body";
    case RP_REQ_TRAILERS:
        return "proxy_on_request_trailers";
    case RP_RESP_HEADERS:
        return "proxy_on_response_headers";
    case RP_RESP_TRAILERS:
        return "proxy_on_response_trailers";
    default:
        return "proxy_on_response_body";
    }
}

/* Runs the current phase's callback of plugin i. */
static enum pw_action rp_run_callback(struct rp_stream *s, int i)
{
    struct rp *rp = s->rp;
    struct rp_plugin *p = &rp->plugins[i];
    enum pw_action a;

    if (p->vm == NULL || pw_vm_failed(p->vm))
        return p->policy == RP_FAIL_OPEN ? PW_ACTION_CONTINUE : PW_ACTION_FAILED;
    if (s->ctx[i] == NULL) {
        rp->current = s;
        s->ctx[i] = pw_stream_new(p->root, s);
        rp->current = NULL;
        if (s->ctx[i] == NULL)
            return PW_ACTION_FAILED;
    }
    rp->current = s;
    /* end_of_stream: nothing follows in that direction (no body, no trailers). */
    bool eos = s->chunk_eos && !s->has_map[s->phase == RP_REQ_BODY ? 1 : 3];
    switch (s->phase) {
    case RP_REQ_HEADERS:
        a = pw_stream_request_headers(s->ctx[i], s->maps[0].count,
                                      !s->has_body[0] && !s->has_map[1]);
        break;
    case RP_REQ_BODY:
        a = pw_stream_request_body(s->ctx[i], s->body[0].len, eos);
        break;
    case RP_REQ_TRAILERS:
        a = pw_stream_request_trailers(s->ctx[i], s->maps[1].count);
        break;
    case RP_RESP_HEADERS:
        a = pw_stream_response_headers(s->ctx[i], s->maps[2].count,
                                       !s->has_body[1] && !s->has_map[3]);
        break;
    case RP_RESP_TRAILERS:
        a = pw_stream_response_trailers(s->ctx[i], s->maps[3].count);
        break;
    default:
        a = pw_stream_response_body(s->ctx[i], s->body[1].len, eos);
        break;
    }
    rp->current = NULL;
    json_t *ev = json_pack("{ss ss ss ss}", "event", "callback", "plugin", p->name, "callback",
                           rp_phase_callback(s->phase), "result", rp_action_name(a));
    if (s->phase == RP_REQ_HEADERS || s->phase == RP_RESP_HEADERS)
        json_object_set_new(ev, "headers",
                            rp_map_json(&s->maps[s->phase == RP_REQ_HEADERS ? 0 : 2]));
    else if (s->phase == RP_REQ_TRAILERS || s->phase == RP_RESP_TRAILERS)
        json_object_set_new(ev, "trailers",
                            rp_map_json(&s->maps[s->phase == RP_REQ_TRAILERS ? 1 : 3]));
    else {
        struct pw_buf *b = &s->body[s->phase == RP_REQ_BODY ? 0 : 1];
        json_object_set_new(ev, "body", rp_bytes_json(b->data, b->len));
        json_object_set_new(ev, "end_of_stream", json_boolean(eos));
    }
    rp_emit(rp, s, ev);
    return a;
}

/* Turns maps[2]/body[1] into the local reply and restarts the response path. */
static void rp_apply_local_reply(struct rp_stream *s)
{
    char status[16];
    json_t *ev = json_pack("{ss si ss% si}", "event", "local_reply", "status", (int)s->lr_status,
                           "details", s->lr_details.data ? (const char *)s->lr_details.data : "",
                           s->lr_details.len, "grpc_status", (int)s->lr_grpc);

    json_object_set_new(ev, "body", rp_bytes_json(s->lr_body.data, s->lr_body.len));
    json_object_set_new(ev, "headers", rp_map_json(&s->lr_headers));
    rp_emit(s->rp, s, ev);

    pw_map_clear(&s->maps[2]);
    snprintf(status, sizeof(status), "%u", s->lr_status);
    pw_map_add(&s->maps[2], ":status", 7, status, strlen(status));
    for (uint32_t i = 0; i < s->lr_headers.count; i++)
        pw_map_add(&s->maps[2], s->lr_headers.items[i].key, s->lr_headers.items[i].key_len,
                   s->lr_headers.items[i].value, s->lr_headers.items[i].value_len);
    s->has_map[2] = true;
    pw_map_clear(&s->maps[3]);
    s->has_map[3] = false;
    pw_buf_set(&s->body[1], s->lr_body.data, s->lr_body.len);
    s->has_body[1] = s->lr_body.len > 0;
    s->local_pending = false;
    s->local_reply = true;
    s->in_stage = false;
    s->response_ready = true;
    s->paused = false;
    s->resume = false;
    s->phase = RP_RESP_HEADERS;
    s->at = s->rp->nplugins - 1;
}

/* Fails the stream closed after a trap: 503, as Envoy's wasm_fail_stream. */
static void rp_fail_closed(struct rp_stream *s)
{
    if (s->local_reply)
        return;
    s->local_pending = true;
    s->lr_status = 503;
    s->lr_grpc = -1;
    pw_map_clear(&s->lr_headers);
    pw_buf_set(&s->lr_details, "wasm_fail_stream", 16);
    pw_buf_set(&s->lr_body, "wasm_fail_stream", 16);
}

static void rp_stream_finish(struct rp_stream *s)
{
    struct rp *rp = s->rp;

    if (s->reset) {
        rp_emit(rp, s, json_pack("{ss}", "event", "reset"));
    } else if (s->phase == RP_DONE) {
        json_t *ev = json_pack("{ss ss}", "event", "response", "source",
                               s->local_reply ? "local" : "upstream");
        json_object_set_new(ev, "headers", rp_map_json(&s->maps[2]));
        json_object_set_new(ev, "body", rp_bytes_json(s->body[1].data, s->body[1].len));
        if (s->has_map[3])
            json_object_set_new(ev, "trailers", rp_map_json(&s->maps[3]));
        rp_emit(rp, s, ev);
    } else {
        rp_emit(rp, s,
                json_pack("{ss ss}", "event", "unfinished", "state",
                          s->paused ? "paused, never resumed" : "no response"));
    }
    rp->current = s;
    s->phase = RP_DONE;
    for (int i = 0; i < rp->nplugins; i++) {
        if (s->ctx[i] != NULL)
            pw_stream_end(s->ctx[i]);
        s->ctx[i] = NULL;
    }
    rp->current = NULL;
    rp_emit(rp, s, json_pack("{ss}", "event", "end"));
}

/*
 * Body phase, per plugin: the body it is to get (body_in) is delivered in chunks of
 * --body-chunk bytes into body (what proxy_get_buffer_bytes sees). Continue lets the
 * buffered bytes through (body_out); Pause before the end keeps them buffered, so the
 * next call sees the cumulative size (Envoy's StopIterationAndBuffer); Pause at the end
 * waits for proxy_continue_stream. This delivers the next chunk.
 */
static void rp_body_next_chunk(struct rp_stream *s, int d)
{
    size_t n = s->body_in[d].len;

    if (!s->in_stage) {
        /* The plugin starts: it gets what the previous one let through. */
        pw_buf_set(&s->body_in[d], s->body[d].data, s->body[d].len);
        pw_buf_set(&s->body[d], NULL, 0);
        pw_buf_set(&s->body_out[d], NULL, 0);
        s->in_stage = true;
        n = s->body_in[d].len;
    }
    if (s->rp->body_chunk != 0 && n > s->rp->body_chunk)
        n = s->rp->body_chunk;
    pw_buf_append(&s->body[d], s->body_in[d].data, n);
    pw_buf_splice(&s->body_in[d], 0, n, NULL, 0);
    s->chunk_eos = s->body_in[d].len == 0;
}

/* The buffered bytes go through; when the body is complete, the plugin is done. */
static bool rp_body_release(struct rp_stream *s, int d)
{
    pw_buf_append(&s->body_out[d], s->body[d].data, s->body[d].len);
    pw_buf_set(&s->body[d], NULL, 0);
    if (!s->chunk_eos)
        return false;
    pw_buf_set(&s->body[d], s->body_out[d].data, s->body_out[d].len);
    s->in_stage = false;
    return true;
}

/* The phase after the current one: body and trailers only when the message has them. */
static enum rp_phase rp_next_phase(const struct rp_stream *s)
{
    switch (s->phase) {
    case RP_REQ_HEADERS:
        return s->has_body[0] ? RP_REQ_BODY : s->has_map[1] ? RP_REQ_TRAILERS : RP_UPSTREAM;
    case RP_REQ_BODY:
        return s->has_map[1] ? RP_REQ_TRAILERS : RP_UPSTREAM;
    case RP_RESP_HEADERS:
        return s->has_body[1] ? RP_RESP_BODY : s->has_map[3] ? RP_RESP_TRAILERS : RP_DONE;
    case RP_RESP_BODY:
        return s->has_map[3] ? RP_RESP_TRAILERS : RP_DONE;
    case RP_REQ_TRAILERS:
        return RP_UPSTREAM;
    default:
        return RP_DONE;
    }
}

/* Moves the stream as far as it can go. Returns true when it finished. */
static bool rp_advance(struct rp_stream *s)
{
    struct rp *rp = s->rp;
    int n = rp->nplugins;

    for (;;) {
        if (s->reset)
            return true;
        if (s->local_pending) {
            rp_apply_local_reply(s);
            continue;
        }
        if (s->paused) {
            if (!s->resume)
                return false;
            s->paused = false;
            s->resume = false;
            if (s->phase == RP_REQ_BODY || s->phase == RP_RESP_BODY)
                rp_body_release(s, s->phase == RP_REQ_BODY ? 0 : 1);
            s->at += s->phase < RP_UPSTREAM ? 1 : -1;
            continue;
        }
        switch (s->phase) {
        case RP_REQ_HEADERS:
        case RP_REQ_BODY:
        case RP_REQ_TRAILERS:
            if (s->at >= n) {
                s->phase = rp_next_phase(s);
                s->at = 0;
                if (s->phase == RP_UPSTREAM) {
                    json_t *ev = json_pack("{ss}", "event", "forward");
                    json_object_set_new(ev, "headers", rp_map_json(&s->maps[0]));
                    if (s->has_body[0])
                        json_object_set_new(ev, "body",
                                            rp_bytes_json(s->body[0].data, s->body[0].len));
                    if (s->has_map[1])
                        json_object_set_new(ev, "trailers", rp_map_json(&s->maps[1]));
                    rp_emit(rp, s, ev);
                }
                continue;
            }
            break;
        case RP_UPSTREAM:
            if (!s->response_ready)
                return false;
            s->phase = RP_RESP_HEADERS;
            s->at = n - 1;
            continue;
        case RP_RESP_HEADERS:
        case RP_RESP_BODY:
        case RP_RESP_TRAILERS:
            if (s->at < 0) {
                s->phase = rp_next_phase(s);
                s->at = n - 1;
                continue;
            }
            break;
        case RP_DONE:
            return true;
        }
        s->resume = false;
        bool body = s->phase == RP_REQ_BODY || s->phase == RP_RESP_BODY;
        int d = s->phase == RP_REQ_BODY ? 0 : 1;
        if (body)
            rp_body_next_chunk(s, d);
        enum pw_action a = rp_run_callback(s, s->at);
        if (a == PW_ACTION_FAILED && rp->plugins[s->at].policy == RP_FAIL_OPEN) {
            /* Fail open: the stream goes on without the plugin. */
            rp_emit(rp, s,
                    json_pack("{ss ss}", "event", "fail_open", "plugin", rp->plugins[s->at].name));
            a = PW_ACTION_CONTINUE;
            if (body)
                s->chunk_eos = true, rp_body_release(s, d);
        } else if (a == PW_ACTION_FAILED) {
            s->in_stage = false;
            if (s->phase < RP_UPSTREAM || !s->local_reply)
                rp_fail_closed(s);
            else
                s->at--; /* already failing closed: go on with the others */
            continue;
        }
        if (a == PW_ACTION_PAUSE) {
            if (body && !s->chunk_eos)
                continue; /* buffer: the next call gets the cumulative body */
            s->paused = true;
            continue;
        }
        if (body && !rp_body_release(s, d))
            continue; /* more chunks for this plugin */
        s->at += s->phase < RP_UPSTREAM ? 1 : -1;
    }
}

/* Advances every open stream; finishes and drops those that are done. */
static void rp_pump(struct rp *rp)
{
    bool again = true;

    while (again) {
        again = false;
        for (struct rp_stream **pp = &rp->streams; *pp != NULL;) {
            struct rp_stream *s = *pp;
            if (rp_advance(s)) {
                *pp = s->next;
                rp_stream_finish(s);
                for (int i = 0; i < 4; i++)
                    pw_map_free(&s->maps[i]);
                for (int d = 0; d < 2; d++) {
                    pw_buf_free(&s->body[d]);
                    pw_buf_free(&s->body_in[d]);
                    pw_buf_free(&s->body_out[d]);
                }
                pw_map_free(&s->lr_headers);
                pw_buf_free(&s->lr_body);
                pw_buf_free(&s->lr_details);
                free(s);
                again = true;
            } else {
                pp = &s->next;
            }
        }
    }
}

/* ---- Events and time -------------------------------------------------------------------- */

static void rp_run_event(struct rp *rp, struct rp_event *e)
{
    if (e->kind == RP_EV_QUEUE) {
        rp_emit(rp, NULL, json_pack("{ss si}", "event", "queue_ready", "queue", (int)e->queue));
        pw_vm_queue_ready(e->vm, e->ctx, e->queue);
        return;
    }
    struct rp_plugin *p = e->plugin;
    if (p == NULL || p->root == NULL)
        return;
    struct pw_http_response resp = {0};
    json_t *ev = json_pack("{ss ss si}", "event", "callout_response", "plugin", p->name, "token",
                           (int)e->token);
    if (e->timed_out) {
        pw_map_add(&resp.headers, ":status", 7, "504", 3);
        pw_buf_set(&resp.body, "upstream request timeout", 24);
        json_object_set_new(ev, "status", json_string("504 (timeout)"));
    } else if (e->canned != NULL) {
        char status[16];
        const char *key;
        json_t *v;
        json_int_t code = json_integer_value(json_object_get(e->canned, "status"));
        snprintf(status, sizeof(status), "%d", code ? (int)code : 200);
        pw_map_add(&resp.headers, ":status", 7, status, strlen(status));
        json_object_foreach(json_object_get(e->canned, "headers"), key, v)
        {
            if (json_is_string(v))
                pw_map_add(&resp.headers, key, strlen(key), json_string_value(v),
                           json_string_length(v));
        }
        json_object_foreach(json_object_get(e->canned, "trailers"), key, v)
        {
            if (json_is_string(v))
                pw_map_add(&resp.trailers, key, strlen(key), json_string_value(v),
                           json_string_length(v));
        }
        json_t *body = json_object_get(e->canned, "body");
        if (json_is_string(body))
            pw_buf_set(&resp.body, json_string_value(body), json_string_length(body));
        json_object_set_new(ev, "status", json_string(status));
    } else {
        json_object_set_new(ev, "status", json_string("failed"));
    }
    rp_emit(rp, NULL, ev);
    pw_root_http_call_response(p->root, e->token, e->canned != NULL ? &resp : NULL);
    pw_map_free(&resp.headers);
    pw_map_free(&resp.trailers);
    pw_buf_free(&resp.body);
}

/* Runs ticks and events up to time t (inclusive), in time order, pumping streams. */
static void rp_advance_time(struct rp *rp, uint64_t t)
{
    for (;;) {
        uint64_t next = UINT64_MAX;
        struct rp_plugin *tick = NULL;

        for (int i = 0; i < rp->nplugins; i++) {
            struct rp_plugin *p = &rp->plugins[i];
            if (p->tick_ms != 0 && p->root != NULL && p->next_tick_ms < next) {
                next = p->next_tick_ms;
                tick = p;
            }
        }
        bool event_first = rp->events != NULL && rp->events->at_ms <= next;
        if (event_first)
            next = rp->events->at_ms;
        if (next > t)
            break;
        if (next > rp->now_ms)
            rp->now_ms = next;
        if (event_first) {
            struct rp_event *e = rp->events;
            rp->events = e->next;
            rp_run_event(rp, e);
            free(e);
        } else {
            tick->next_tick_ms += tick->tick_ms;
            rp_emit(rp, NULL, json_pack("{ss ss}", "event", "tick", "plugin", tick->name));
            pw_root_tick(tick->root);
        }
        rp_pump(rp);
    }
    if (t > rp->now_ms)
        rp->now_ms = t;
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

static void rp_add_json_headers(struct pw_map *m, json_t *obj)
{
    const char *key;
    json_t *v;
    char num[32];

    json_object_foreach(obj, key, v)
    {
        const char *s = json_string_value(v);
        if (s == NULL) {
            snprintf(num, sizeof(num), "%g", json_number_value(v));
            s = num;
        }
        pw_map_add(m, key, strlen(key), s, strlen(s));
    }
}

static void rp_reload_failed(struct rp *rp);

static void rp_request(struct rp *rp, json_t *pkt)
{
    rp_reload_failed(rp);
    struct rp_stream *s = calloc(1, sizeof(*s));
    char sip[64], sp[16], dip[64], dp[16], buf[256];

    if (s == NULL)
        return;
    s->rp = rp;
    s->id = ++rp->nrequests;
    s->start_ms = rp->now_ms;
    rp_field_str(pkt, "sip", true, sip, sizeof(sip), 0, buf, sizeof(buf));
    rp_field_str(pkt, "sp", true, sp, sizeof(sp), 0, buf, sizeof(buf));
    rp_field_str(pkt, "dip", true, dip, sizeof(dip), 0, buf, sizeof(buf));
    rp_field_str(pkt, "dp", true, dp, sizeof(dp), 0, buf, sizeof(buf));
    snprintf(s->src, sizeof(s->src), "%s:%s", sip, sp);
    snprintf(s->dst, sizeof(s->dst), "%s:%s", dip, dp);
    s->sport = (uint32_t)strtoul(sp, NULL, 10);
    s->dport = (uint32_t)strtoul(dp, NULL, 10);

    /* Pseudo-headers first, then the recorded headers. */
    struct pw_map *h = &s->maps[0];
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
    pw_map_add(h, ":method", 7, method != NULL ? method : "GET", strlen(method ? method : "GET"));
    pw_map_add(h, ":path", 5, full, strlen(full));
    const char *authority = json_is_string(host) ? json_string_value(host) : s->dst;
    pw_map_add(h, ":authority", 10, authority, strlen(authority));
    pw_map_add(h, ":scheme", 7, scheme != NULL ? scheme : "http", strlen(scheme ? scheme : "http"));
    rp_add_json_headers(h, json_object_get(pkt, "headers"));
    s->has_map[0] = true;
    if (json_is_object(json_object_get(pkt, "trailers"))) {
        rp_add_json_headers(&s->maps[1], json_object_get(pkt, "trailers"));
        s->has_map[1] = true;
    }
    json_t *body = json_object_get(pkt, "body");
    if (json_is_string(body)) {
        pw_buf_set(&s->body[0], json_string_value(body), json_string_length(body));
        s->has_body[0] = true;
    }
    if (rp->json) {
        s->events = json_array();
        json_array_append_new(rp->out_requests,
                              json_pack("{si ss ss ss ss sO}", "id", s->id, "method",
                                        method ? method : "GET", "path", full, "source", s->src,
                                        "destination", s->dst, "events", s->events));
        json_decref(s->events); /* out_requests holds it */
    }
    rp_emit(rp, s,
            json_pack("{ss ss ss ss ss}", "event", "request", "method", method ? method : "GET",
                      "path", full, "source", s->src, "destination", s->dst));
    /* Append: streams advance in arrival order. */
    struct rp_stream **pp = &rp->streams;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = s;
    rp_pump(rp);
}

static void rp_response(struct rp *rp, json_t *pkt, size_t index)
{
    char sip[64], sp[16], dip[64], dp[16], src[96], dst[96], buf[256];

    rp_field_str(pkt, "sip", true, sip, sizeof(sip), 0, buf, sizeof(buf));
    rp_field_str(pkt, "sp", true, sp, sizeof(sp), 0, buf, sizeof(buf));
    rp_field_str(pkt, "dip", true, dip, sizeof(dip), 0, buf, sizeof(buf));
    rp_field_str(pkt, "dp", true, dp, sizeof(dp), 0, buf, sizeof(buf));
    snprintf(src, sizeof(src), "%s:%s", sip, sp);
    snprintf(dst, sizeof(dst), "%s:%s", dip, dp);
    /* The oldest open request on the reverse address pair that has no response yet. */
    for (struct rp_stream *s = rp->streams; s != NULL; s = s->next) {
        if (strcmp(s->src, dst) != 0 || strcmp(s->dst, src) != 0 || s->response_ready)
            continue;
        if (s->local_reply) {
            rp_emit(rp, s, json_pack("{ss}", "event", "upstream_response_ignored"));
            s->response_ready = true;
            return;
        }
        json_t *st = json_object_get(pkt, "status");
        char status[16];
        snprintf(status, sizeof(status), "%d",
                 json_is_integer(st) ? (int)json_integer_value(st) : 200);
        pw_map_add(&s->maps[2], ":status", 7, status, strlen(status));
        rp_add_json_headers(&s->maps[2], json_object_get(pkt, "headers"));
        s->has_map[2] = true;
        if (json_is_object(json_object_get(pkt, "trailers"))) {
            rp_add_json_headers(&s->maps[3], json_object_get(pkt, "trailers"));
            s->has_map[3] = true;
        }
        json_t *body = json_object_get(pkt, "body");
        if (json_is_string(body)) {
            pw_buf_set(&s->body[1], json_string_value(body), json_string_length(body));
            s->has_body[1] = true;
        }
        s->response_ready = true;
        rp_emit(rp, s, json_pack("{ss ss}", "event", "upstream_response", "status", status));
        rp_pump(rp);
        return;
    }
    rp_emit(rp, NULL,
            json_pack("{ss si ss}", "event", "unmatched_response", "packet", (int)index, "source",
                      src));
}

/* ---- Plugins --------------------------------------------------------------------------- */

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
            uint8_t *p = realloc(data, cap);
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
    *buf = data;
    *len = size;
    return 0;
}

/*
 * Starts p's VM from its module (unless it shares another plugin's) and its root context.
 * Returns 0, or -1 when the start or the configuration failed.
 */
static int rp_start_instance(struct rp *rp, struct rp_plugin *p)
{
    char err[2048];

    if (p->vm_owner == p) {
        struct pw_vm_config vc = {
            .vm_id = p->vm_id,
            .name = p->name,
            .fuel_per_callback = p->fuel,
            .max_memory_pages = p->max_pages,
            .trace = rp->trace,
            .env = p->env,
            .nenv = p->nenv,
            .configuration = p->vm_config,
            .configuration_len = p->vm_config_len,
        };
        p->vm = pw_vm_new(p->module, &vc, &rp_ops, rp, err, sizeof(err));
        if (p->vm == NULL) {
            rp_emit(
                rp, NULL,
                json_pack("{ss ss ss}", "event", "start_failed", "plugin", p->name, "reason", err));
            return -1;
        }
    }
    struct pw_plugin_config pc = {
        .name = p->name,
        .root_id = p->root_id,
        .configuration = p->config,
        .configuration_len = p->config_len,
    };
    rp->starting = p;
    p->root = pw_root_new(p->vm, &pc, err, sizeof(err));
    rp->starting = NULL;
    if (p->root == NULL) {
        rp_emit(
            rp, NULL,
            json_pack("{ss ss ss}", "event", "configure_failed", "plugin", p->name, "reason", err));
        return -1;
    }
    json_t *ev = json_pack("{ss ss ss}", "event", "plugin_started", "plugin", p->name, "abi",
                           pw_abi_name(pw_vm_abi(p->vm)));
    if (p->vm_owner != p)
        json_object_set_new(ev, "shares_vm_of", json_string(p->vm_owner->name));
    rp_emit(rp, NULL, ev);
    return 0;
}

/*
 * --failure-policy reload: before a new request, a plugin whose VM failed gets a fresh VM
 * from its module (streams already on the old VM keep failing closed; the old VM is
 * freed at the end). Only for a plugin with a VM of its own, at most 8 times.
 */
static void rp_reload_failed(struct rp *rp)
{
    for (int i = 0; i < rp->nplugins; i++) {
        struct rp_plugin *p = &rp->plugins[i];
        bool shared = false;
        for (int k = 0; k < rp->nplugins; k++)
            shared |= k != i && rp->plugins[k].vm_owner == p;
        if (p->policy != RP_FAIL_RELOAD || p->vm == NULL || !pw_vm_failed(p->vm) ||
            p->vm_owner != p || shared || p->nretired == 8)
            continue;
        p->retired[p->nretired++] = p->vm;
        p->vm = NULL;
        p->root = NULL;
        p->tick_ms = 0;
        rp_emit(rp, NULL, json_pack("{ss ss}", "event", "plugin_reload", "plugin", p->name));
        rp_start_instance(rp, p);
    }
}

/*
 * Starts plugin p: its own VM, or, like Envoy, the VM of an earlier plugin with the same
 * file and the same non-empty vm_id (then p is one more root context in it). Returns 0,
 * -1 when the plugin failed (load, start, configure), -2 when its file is unreadable.
 */
static int rp_start_plugin(struct rp *rp, struct rp_plugin *p)
{
    char err[2048];
    uint8_t *bytes;
    size_t len;

    p->vm_owner = p;
    for (struct rp_plugin *q = rp->plugins; q < p && *p->vm_id && !p->new_vm; q++) {
        if (q->vm_owner == q && strcmp(q->file, p->file) == 0 && strcmp(q->vm_id, p->vm_id) == 0) {
            p->vm_owner = q;
            p->vm = q->vm;
            return rp_start_instance(rp, p);
        }
    }
    if (rp_read_file(p->file, &bytes, &len) != 0) {
        fprintf(stderr, "wasp replay: %s: %s\n", p->file, strerror(errno));
        return -2;
    }
    p->module = pw_module_load(bytes, len, err, sizeof(err));
    free(bytes);
    if (p->module == NULL) {
        fprintf(stderr, "wasp replay: %s: %s\n", p->file, err);
        return -1;
    }
    return rp_start_instance(rp, p);
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

/* ---- Command line ----------------------------------------------------------------------- */

static void rp_usage(FILE *out)
{
    fprintf(out,
            "usage: wasp replay --plugin FILE.wasm [PLUGIN OPTIONS] [--plugin ...]\n"
            "                   --traffic FILE.json [--callouts FILE.json] [--body-chunk N]\n"
            "                   [--log-level LEVEL] [--json] [--trace]\n"
            "\n"
            "Runs proxy-wasm plugins (a filter chain, in order) on recorded traffic and prints\n"
            "what they did.\n"
            "\n"
            "plugin options (after its --plugin):\n"
            "  --config STR|@FILE   plugin configuration (buffer 7)\n"
            "  --vm-config STR|@FILE  VM configuration (buffer 6; of the VM's first plugin)\n"
            "  --root-id ID         root id (plugin_root_id)\n"
            "  --vm-id ID           plugins with the same file and vm_id share one VM\n"
            "  --new-vm             do not share a VM (as if on another worker)\n"
            "  --name NAME          name in logs (default: the file name)\n"
            "  --env KEY=VALUE      its WASI environment (repeatable)\n"
            "  --fuel N             instruction budget of each callback\n"
            "  --max-memory PAGES   most 64 KiB pages its memory may have\n"
            "  --failure-policy P   after a trap: closed (503, default), open (go on\n"
            "                       without it) or reload (fresh VM for new requests)\n"
            "options:\n"
            "  --callouts FILE      canned callout answers (JSON array)\n"
            "  --body-chunk N       deliver bodies in N-byte chunks (default: whole)\n"
            "  --log-level LEVEL    trace, debug, info, warn, error or critical\n"
            "  --json               one JSON document instead of text lines\n"
            "  --trace              log every hostcall with its arguments and status\n"
            "\n"
            "exit status: 0 ok, 1 a plugin failed, 2 bad usage or input\n");
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
            p->new_vm = true;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "wasp replay: %s needs a value (see --help)\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--plugin") == 0) {
            if (rp->nplugins == RP_MAX_PLUGINS) {
                fprintf(stderr, "wasp replay: at most %d plugins\n", RP_MAX_PLUGINS);
                return 2;
            }
            p = &rp->plugins[rp->nplugins++];
            p->file = v;
            p->root_id = "";
            p->vm_id = "";
            rp_basename(v, p->name, sizeof(p->name));
        } else if (strcmp(a, "--traffic") == 0) {
            *traffic = v;
        } else if (strcmp(a, "--callouts") == 0) {
            *callouts = v;
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
        } else if (strcmp(a, "--config") == 0 || strcmp(a, "--vm-config") == 0) {
            bool vmc = a[2] == 'v';
            uint8_t **conf = vmc ? &p->vm_config : &p->config;
            size_t *conf_len = vmc ? &p->vm_config_len : &p->config_len;
            free(*conf);
            *conf = NULL;
            if (v[0] == '@') {
                if (rp_read_file(v + 1, conf, conf_len) != 0) {
                    fprintf(stderr, "wasp replay: %s: %s\n", v + 1, strerror(errno));
                    return 2;
                }
            } else {
                *conf_len = strlen(v);
                *conf = (uint8_t *)strdup(v);
            }
        } else if (strcmp(a, "--root-id") == 0) {
            p->root_id = v;
        } else if (strcmp(a, "--env") == 0) {
            if (strchr(v, '=') == NULL || p->nenv == 16) {
                fprintf(stderr, "wasp replay: --env needs KEY=VALUE (at most 16 per plugin)\n");
                return 2;
            }
            p->env[p->nenv++] = v;
        } else if (strcmp(a, "--failure-policy") == 0) {
            if (strcmp(v, "closed") == 0)
                p->policy = RP_FAIL_CLOSED;
            else if (strcmp(v, "open") == 0)
                p->policy = RP_FAIL_OPEN;
            else if (strcmp(v, "reload") == 0)
                p->policy = RP_FAIL_RELOAD;
            else {
                fprintf(stderr, "wasp replay: --failure-policy is closed, open or reload\n");
                return 2;
            }
        } else if (strcmp(a, "--name") == 0) {
            snprintf(p->name, sizeof(p->name), "%s", v);
        } else if (strcmp(a, "--vm-id") == 0) {
            p->vm_id = v;
        } else if (strcmp(a, "--fuel") == 0 || strcmp(a, "--max-memory") == 0) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(v, &end, 10);
            if (errno != 0 || *end != '\0' || end == v || (a[2] == 'm' && n > 65536)) {
                fprintf(stderr, "wasp replay: %s needs a number, not '%s'\n", a, v);
                return 2;
            }
            if (a[2] == 'f')
                p->fuel = n;
            else
                p->max_pages = (uint32_t)n;
        } else {
            fprintf(stderr, "wasp replay: unknown option %s (see --help)\n", a);
            return 2;
        }
    }
    if (rp->nplugins == 0 || *traffic == NULL) {
        rp_usage(stderr);
        return 2;
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
 * The end of the replay, as a proxy's plugin shutdown: every root context gets
 * proxy_on_done; one that returns false keeps getting its ticks and callout answers on the
 * virtual clock until it calls proxy_done (then on_delete), for at most
 * RP_SHUTDOWN_GRACE_MS; what is left after that is ended without waiting.
 */
#define RP_SHUTDOWN_GRACE_MS 60000u

static void rp_shutdown_roots(struct rp *rp)
{
    bool waiting = false;

    rp->shutting_down = true;
    for (int i = 0; i < rp->nplugins; i++) {
        struct rp_plugin *p = &rp->plugins[i];
        if (p->root != NULL && !pw_root_shutdown(p->root)) {
            rp_emit(rp, NULL,
                    json_pack("{ss ss}", "event", "root_done_pending", "plugin", p->name));
            waiting = true;
        }
    }
    uint64_t limit = rp->now_ms + RP_SHUTDOWN_GRACE_MS;
    while (waiting) {
        uint64_t next = rp->events != NULL ? rp->events->at_ms : UINT64_MAX;
        waiting = false;
        for (int i = 0; i < rp->nplugins; i++) {
            struct rp_plugin *p = &rp->plugins[i];
            if (p->root == NULL)
                continue;
            waiting = true;
            if (p->tick_ms != 0 && p->next_tick_ms < next)
                next = p->next_tick_ms;
        }
        if (!waiting)
            break;
        if (next > limit) {
            for (int i = 0; i < rp->nplugins; i++) {
                struct rp_plugin *p = &rp->plugins[i];
                if (p->root != NULL) {
                    rp_emit(rp, NULL,
                            json_pack("{ss ss}", "event", "root_done_timeout", "plugin", p->name));
                    pw_root_free(p->root);
                }
            }
            break;
        }
        rp_advance_time(rp, next);
    }
}

static void rp_cleanup(struct rp *rp)
{
    while (rp->events != NULL) {
        struct rp_event *e = rp->events;
        rp->events = e->next;
        free(e);
    }
    /* Root contexts first: a VM may hold the roots of several plugins. */
    for (int i = 0; i < rp->nplugins; i++) {
        if (rp->plugins[i].root != NULL)
            pw_root_free(rp->plugins[i].root);
    }
    for (int i = 0; i < rp->nplugins; i++) {
        struct rp_plugin *p = &rp->plugins[i];
        if (p->vm_owner == p || p->vm_owner == NULL)
            pw_vm_free(p->vm);
        for (int k = 0; k < p->nretired; k++)
            pw_vm_free(p->retired[k]);
        pw_module_free(p->module);
        free(p->config);
        free(p->vm_config);
    }
    json_decref(rp->canned);
    json_decref(rp->out_requests);
    json_decref(rp->out_events);
}

int wasp_cmd_replay(int argc, char **argv)
{
    struct rp rp = {0};
    const char *traffic_path = NULL, *callouts_path = NULL;
    json_t *traffic = NULL;
    char err[512];
    int status = 2;

    if (rp_parse_args(&rp, argc, argv, &traffic_path, &callouts_path) != 0)
        goto out;
    uint8_t *text;
    size_t text_len;
    if (rp_read_file(traffic_path, &text, &text_len) != 0) {
        fprintf(stderr, "wasp replay: traffic %s: %s\n", traffic_path, strerror(errno));
        goto out;
    }
    traffic = rp_traffic_parse((const char *)text, text_len, err, sizeof(err));
    free(text);
    if (traffic == NULL) {
        fprintf(stderr, "wasp replay: traffic %s%s\n", traffic_path, err);
        goto out;
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

    status = 0;
    for (int i = 0; i < rp.nplugins; i++) {
        int rc = rp_start_plugin(&rp, &rp.plugins[i]);
        if (rc != 0) {
            status = rc == -2 ? 2 : 1;
            break;
        }
    }
    if (status == 0) {
        size_t i;
        json_t *pkt;
        json_array_foreach(traffic, i, pkt)
        {
            json_t *d = json_object_get(pkt, "delta_ms");
            rp_advance_time(&rp, rp.now_ms + (d != NULL ? (uint64_t)json_number_value(d) : 0));
            if (json_is_true(json_object_get(pkt, "forward_direction")))
                rp_request(&rp, pkt);
            else
                rp_response(&rp, pkt, i);
        }
        /* Let pending callouts and queue deliveries finish, then end what is left. */
        while (rp.events != NULL)
            rp_advance_time(&rp, rp.events->at_ms);
        while (rp.streams != NULL) {
            struct rp_stream *s = rp.streams;
            rp.streams = s->next;
            rp_stream_finish(s);
            for (int k = 0; k < 4; k++)
                pw_map_free(&s->maps[k]);
            for (int d = 0; d < 2; d++) {
                pw_buf_free(&s->body[d]);
                pw_buf_free(&s->body_in[d]);
                pw_buf_free(&s->body_out[d]);
            }
            pw_map_free(&s->lr_headers);
            pw_buf_free(&s->lr_body);
            pw_buf_free(&s->lr_details);
            free(s);
        }
        rp_shutdown_roots(&rp);
        pw_metrics_foreach(rp_metric, &rp);
    }
    if (rp.failed)
        status = 1;
    if (rp.json) {
        json_t *doc = json_pack("{sO sO sb}", "events", rp.out_events, "requests", rp.out_requests,
                                "failed", status != 0);
        json_dumpf(doc, stdout, JSON_INDENT(1));
        putchar('\n');
        json_decref(doc);
    } else if (status == 1) {
        printf("-- FAILED: a plugin failed\n");
    }
out:
    json_decref(traffic);
    rp_cleanup(&rp);
    return status;
}
