/*
 * callout.c - proxy_http_call on live traffic: the rules every transport shares (cluster
 * names checked at call time, the call's timeout answered 504 as Envoy's async client
 * does, cancellation when the context that made it ends, answers delivered from the
 * event loop and never inside a callback), and waspd's transport: the callout is a
 * stream of its own, with no filters, sent to the [cluster:NAME] through the calling
 * worker's upstream pools, its response collected whole.
 */
#include "plugin/internal.h"

#include "config/config.h"
#include "http1/h1.h"
#include "log/log.h"
#include "upstream/upstream.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALLOUT_MAX_BODY (16u << 20) /* a larger answer fails the callout */

void plugin_callout_set_cookie(struct plugin_callout *c, void *cookie)
{
    c->cookie = cookie;
}

void *plugin_callout_cookie(const struct plugin_callout *c)
{
    return c->cookie;
}

static struct plugin_worker *callout_worker(const struct plugin_callout *c)
{
    return c->pr->pvm->slot->inst->w;
}

static const char *callout_plugin(const struct plugin_callout *c)
{
    return plugin_name(c->pr->pvm->slot->inst->set, c->pr->plugin);
}

static void callout_unlink(struct plugin_callout *c)
{
    for (struct plugin_callout **pp = &c->pr->callouts; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            return;
        }
    }
}

static void callout_transport_cancel(struct plugin_callout *c)
{
    struct plugin_worker *w = callout_worker(c);
    if (c->failed_start)
        return;
    if (w->env_ops != NULL && w->env_ops->callout_cancel != NULL)
        w->env_ops->callout_cancel(w->env, c);
    else if (w->env_ops == NULL || w->env_ops->callout_start == NULL)
        plugin_upstream_callout_cancel(w, c);
}

void plugin_callout_answer(struct plugin_callout *c, const struct pw_http_response *resp)
{
    struct plugin_root *pr = c->pr;
    struct plugin_worker *w = callout_worker(c);
    plugin_timer_cancel(&c->timer);
    callout_unlink(c);
    char status[32] = "failed";
    if (resp != NULL) {
        const char *st = pw_map_value(&resp->headers, ":status");
        snprintf(status, sizeof(status), "%s", st != NULL ? st : "?");
    }
    if (c->timed_out)
        snprintf(status, sizeof(status), "504 (timeout)");
    plugin_emit(w, &(struct plugin_event){.kind = PLUGIN_EV_CALLOUT_RESPONSE,
                                          .plugin = callout_plugin(c),
                                          .token = c->token,
                                          .text = status});
    uint32_t token = c->token;
    free(c);
    if (pr->root != NULL)
        pw_root_http_call_response(pr->root, token, resp);
}

/* The call's timeout: the transport is abandoned and the plugin gets Envoy's 504. A
 * callout whose start failed answers "failed" through the same timer (at 0 ms). */
static void callout_timer_cb(struct plugin_timer *t)
{
    struct plugin_callout *c =
        (struct plugin_callout *)((char *)t - offsetof(struct plugin_callout, timer));
    if (c->failed_start) {
        plugin_callout_answer(c, NULL);
        return;
    }
    callout_transport_cancel(c);
    struct pw_http_response resp = {0};
    pw_map_add(&resp.headers, ":status", 7, "504", 3);
    pw_map_add(&resp.headers, "content-type", 12, "text/plain", 10);
    pw_buf_set(&resp.body, "upstream request timeout", 24);
    c->timed_out = true;
    plugin_callout_answer(c, &resp);
    pw_map_free(&resp.headers);
    pw_buf_free(&resp.body);
}

bool plugin_cluster_known(struct plugin_worker *w, const struct plugin_set *set, const char *name)
{
    if (w->env_ops != NULL && w->env_ops->cluster_known != NULL)
        return w->env_ops->cluster_known(w->env, name);
    return set->cfg != NULL && cfg_find_cluster(set->cfg, name) != NULL;
}

enum pw_status plugin_callout_start(struct plugin_root *pr, uint32_t token,
                                    const struct pw_http_call *call)
{
    struct plugin_instances *inst = pr->pvm->slot->inst;
    struct plugin_worker *w = inst->w;
    if (call->upstream[0] == '\0' || !plugin_cluster_known(w, inst->set, call->upstream))
        return PW_BAD_ARGUMENT; /* Envoy: no such cluster */
    struct plugin_callout *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return PW_INTERNAL_FAILURE;
    c->pr = pr;
    c->token = token;
    plugin_timer_init(&c->timer, w, callout_timer_cb);
    c->next = pr->callouts;
    pr->callouts = c;
    plugin_emit(w, &(struct plugin_event){.kind = PLUGIN_EV_CALLOUT,
                                          .plugin = plugin_name(inst->set, pr->plugin),
                                          .token = token,
                                          .upstream = call->upstream,
                                          .method = pw_map_value(call->headers, ":method"),
                                          .path = pw_map_value(call->headers, ":path"),
                                          .timeout_ms = call->timeout_ms});
    struct plugin_callout_req req = {
        .cluster = call->upstream,
        .headers = call->headers,
        .body = call->body,
        .body_len = call->body_len,
        .trailers = call->trailers,
    };
    int rc;
    if (w->env_ops != NULL && w->env_ops->callout_start != NULL)
        rc = w->env_ops->callout_start(w->env, c, &req);
    else
        rc = plugin_upstream_callout_start(w, c, &req);
    if (rc < 0) {
        c->failed_start = true;
        plugin_timer_arm(&c->timer, 0);
        return PW_OK;
    }
    if (call->timeout_ms > 0)
        plugin_timer_arm(&c->timer, call->timeout_ms);
    return PW_OK;
}

void plugin_callout_cancel(struct plugin_root *pr, uint32_t token)
{
    for (struct plugin_callout *c = pr->callouts; c != NULL; c = c->next) {
        if (c->token != token)
            continue;
        callout_transport_cancel(c);
        plugin_timer_cancel(&c->timer);
        callout_unlink(c);
        plugin_emit(callout_worker(c), &(struct plugin_event){.kind = PLUGIN_EV_CALLOUT_CANCELLED,
                                                              .plugin = callout_plugin(c),
                                                              .token = token});
        free(c);
        return;
    }
}

/* ---- waspd's transport: a filterless stream to the cluster ------------------------------ */

static const struct stream_chain callout_chain = {0};
static const struct stream_limits callout_limits = {.hold_max = CALLOUT_MAX_BODY};

struct upstream_call {
    struct plugin_callout *c;
    struct stream *s;
    struct evbuffer *req_body;
    struct pw_http_response resp;
    bool failed;
    struct event done; /* delivers the answer from the event loop */
};

static struct upstream_call *call_of(struct stream *s)
{
    return s->down_ctx;
}

static void call_finish(struct upstream_call *uc, bool failed)
{
    if (event_pending(&uc->done, EV_TIMEOUT, NULL) || uc->c == NULL)
        return;
    uc->failed = failed;
    event_active(&uc->done, EV_TIMEOUT, 0);
}

static void call_response_headers(struct stream *s, bool eos)
{
    struct upstream_call *uc = call_of(s);
    char st[8];
    int n = snprintf(st, sizeof(st), "%d", s->status);
    pw_map_clear(&uc->resp.headers);
    pw_map_add(&uc->resp.headers, ":status", 7, st, (size_t)n);
    for (uint32_t i = 0; i < s->resp_headers.n; i++) {
        const struct stream_header *h = &s->resp_headers.v[i];
        pw_map_add(&uc->resp.headers, h->name, h->name_len, h->value, h->value_len);
    }
    if (s->resp_content_length >= 0) {
        char cl[24];
        n = snprintf(cl, sizeof(cl), "%lld", (long long)s->resp_content_length);
        pw_map_add(&uc->resp.headers, "content-length", 14, cl, (size_t)n);
    }
    if (eos)
        call_finish(uc, false);
}

static void call_response_body(struct stream *s, struct evbuffer *body, bool eos)
{
    struct upstream_call *uc = call_of(s);
    size_t len = evbuffer_get_length(body);
    if (uc->resp.body.len + len > CALLOUT_MAX_BODY) {
        evbuffer_drain(body, len);
        call_finish(uc, true);
        return;
    }
    if (len > 0 && pw_buf_append(&uc->resp.body, evbuffer_pullup(body, -1), len) != 0) {
        evbuffer_drain(body, len);
        call_finish(uc, true);
        return;
    }
    evbuffer_drain(body, len);
    if (eos)
        call_finish(uc, false);
}

static void call_response_trailers(struct stream *s)
{
    struct upstream_call *uc = call_of(s);
    for (uint32_t i = 0; i < s->resp_trailers.n; i++) {
        const struct stream_header *h = &s->resp_trailers.v[i];
        pw_map_add(&uc->resp.trailers, h->name, h->name_len, h->value, h->value_len);
    }
    call_finish(uc, false);
}

static void call_reset(struct stream *s)
{
    call_finish(call_of(s), true);
}

static void call_resume_request(struct stream *s)
{
}

static size_t call_backlog(struct stream *s)
{
    return 0;
}

static const struct stream_downstream_ops call_down_ops = {
    .response_headers = call_response_headers,
    .response_body = call_response_body,
    .response_trailers = call_response_trailers,
    .resume_request = call_resume_request,
    .reset = call_reset,
    .backlog = call_backlog,
};

static void call_free(struct upstream_call *uc)
{
    event_del(&uc->done);
    if (uc->s != NULL)
        stream_destroy(uc->s);
    if (uc->req_body != NULL)
        evbuffer_free(uc->req_body);
    pw_map_free(&uc->resp.headers);
    pw_map_free(&uc->resp.trailers);
    pw_buf_free(&uc->resp.body);
    free(uc);
}

static void call_done_cb(evutil_socket_t fd, short what, void *arg)
{
    struct upstream_call *uc = arg;
    struct plugin_callout *c = uc->c;
    /* The stream goes first: the plugin may start another callout from the answer. */
    stream_destroy(uc->s);
    uc->s = NULL;
    uc->c = NULL;
    plugin_callout_set_cookie(c, NULL);
    plugin_callout_answer(c, uc->failed ? NULL : &uc->resp);
    call_free(uc);
}

static const char *call_header(const struct pw_map *m, const char *key, uint32_t *len)
{
    const struct pw_header *h = pw_map_get(m, key, strlen(key));
    if (h == NULL)
        return NULL;
    *len = h->value_len;
    return h->value;
}

int plugin_upstream_callout_start(struct plugin_worker *w, struct plugin_callout *c,
                                  const struct plugin_callout_req *r)
{
    const struct cfg_cluster *cl = cfg_find_cluster(c->pr->pvm->slot->inst->set->cfg, r->cluster);
    if (cl == NULL || w->daemon_worker == NULL)
        return -1;
    struct upstream_call *uc = calloc(1, sizeof(*uc));
    if (uc == NULL)
        return -1;
    uc->c = c;
    event_assign(&uc->done, w->base, -1, 0, call_done_cb, uc);
    struct stream *s = stream_create(w->base, &callout_chain, &callout_limits);
    if (s == NULL) {
        free(uc);
        return -1;
    }
    uc->s = s;
    s->down = &call_down_ops;
    s->down_ctx = uc;
    s->up = &up_cluster_ops;
    s->route_ctx = cl;
    s->worker = w->daemon_worker;
    s->start_usec = stream_loop_usec(w->base);
    snprintf(s->client, sizeof(s->client), "127.0.0.1:0");
    uint32_t len = 0;
    const char *v;
    if ((v = call_header(r->headers, ":method", &len)) != NULL) {
        s->method = stream_strdup(s, v, len);
        s->method_len = len;
        s->method_id = h1_method_id(v, len);
    }
    if ((v = call_header(r->headers, ":path", &len)) != NULL) {
        s->path = stream_strdup(s, v, len);
        s->path_len = len;
    }
    if ((v = call_header(r->headers, ":authority", &len)) != NULL) {
        s->authority = stream_strdup(s, v, len);
        s->authority_len = len;
    }
    if ((v = call_header(r->headers, ":scheme", &len)) != NULL)
        s->scheme = stream_strdup(s, v, len);
    s->http_minor = 1;
    for (uint32_t i = 0; i < r->headers->count; i++) {
        const struct pw_header *h = &r->headers->items[i];
        if (h->key[0] == ':' || strcmp(h->key, "host") == 0 ||
            strcmp(h->key, "content-length") == 0 || strcmp(h->key, "transfer-encoding") == 0)
            continue;
        stream_headers_add(s, &s->req_headers, h->key, h->key_len, h->value, h->value_len);
    }
    bool trailers = r->trailers != NULL && r->trailers->count > 0;
    for (uint32_t i = 0; trailers && i < r->trailers->count; i++) {
        const struct pw_header *h = &r->trailers->items[i];
        stream_headers_add(s, &s->req_trailers, h->key, h->key_len, h->value, h->value_len);
    }
    if (s->method == NULL || s->path == NULL) {
        call_free(uc);
        return -1;
    }
    s->req_content_length = trailers ? -1 : (int64_t)r->body_len;
    plugin_callout_set_cookie(c, uc);
    bool eos = r->body_len == 0 && !trailers;
    stream_request_headers(s, eos);
    if (!eos && !s->reset && !s->local_reply) {
        uc->req_body = evbuffer_new();
        if (uc->req_body != NULL) {
            evbuffer_add(uc->req_body, r->body, r->body_len);
            stream_request_body(s, uc->req_body, !trailers);
            if (trailers)
                stream_request_trailers(s);
        }
    }
    return 0;
}

void plugin_upstream_callout_cancel(struct plugin_worker *w, struct plugin_callout *c)
{
    struct upstream_call *uc = plugin_callout_cookie(c);
    if (uc == NULL)
        return;
    plugin_callout_set_cookie(c, NULL);
    uc->c = NULL;
    call_free(uc); /* destroying the stream aborts the upstream exchange */
}
