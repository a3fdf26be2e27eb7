/*
 * filters.c - the built-in filters and the chain builder.
 *
 *   respond = STATUS ["BODY"]      answer every request locally (the embedded responder)
 *   add_request_header = Name: v   append a request header before it goes upstream
 *   remove_request_header = Name   drop a request header
 *   add_response_header = Name: v  append a response header
 *   remove_response_header = Name  drop a response header
 *   pause = MS                     (testing) hold request and response headers for MS
 *                                  milliseconds on a timer, then resume the stream
 *
 * Configurations are parsed on the main thread and are immutable afterwards.
 */
#include "stream/stream.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- respond ---- */

struct respond_conf {
    int status;
    size_t body_len;
    char body[];
};

static void *respond_conf_create(const char *arg, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    long status = strtol(arg, &end, 10);
    if (end == arg || errno != 0 || status < 200 || status > 599) {
        snprintf(err, errlen, "respond: expected a status 200..599, got \"%s\"", arg);
        return NULL;
    }
    while (*end == ' ' || *end == '\t')
        end++;
    const char *body = end;
    size_t len = strlen(body);
    if (len > 0 && body[0] == '"') {
        if (len < 2 || body[len - 1] != '"') {
            snprintf(err, errlen, "respond: unterminated quoted body");
            return NULL;
        }
        body++;
        len -= 2;
    }
    struct respond_conf *c = malloc(sizeof(*c) + len + 2);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->status = (int)status;
    memcpy(c->body, body, len);
    /* A text body ends with a newline, as a terminal expects. */
    if (len > 0)
        c->body[len++] = '\n';
    c->body[len] = '\0';
    c->body_len = len;
    return c;
}

static enum stream_action respond_request_headers(struct stream *s, struct stream_filter *f,
                                                  bool eos)
{
    const struct respond_conf *c = f->conf;
    stream_local_reply(s, c->status, "text/plain", c->body, c->body_len);
    return STREAM_STOP;
}

static const struct stream_filter_ops respond_ops = {
    .name = "respond",
    .conf_create = respond_conf_create,
    .conf_free = free,
    .request_headers = respond_request_headers,
};

/* ---- add / remove headers ---- */

struct header_conf {
    size_t name_len, value_len;
    char *value;
    char name[];
};

static bool is_tchar(int c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void *header_conf_create(const char *arg, bool with_value, char *err, size_t errlen)
{
    size_t n = 0;
    while (is_tchar((unsigned char)arg[n]))
        n++;
    if (n == 0 || (with_value ? arg[n] != ':' : arg[n] != '\0')) {
        snprintf(err, errlen,
                 with_value ? "expected \"Name: value\", got \"%s\""
                            : "expected a header name, got \"%s\"",
                 arg);
        return NULL;
    }
    const char *v = with_value ? arg + n + 1 : "";
    while (*v == ' ' || *v == '\t')
        v++;
    size_t vlen = strlen(v);
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    for (size_t i = 0; i < vlen; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            snprintf(err, errlen, "control character in header value");
            return NULL;
        }
    }
    struct header_conf *c = malloc(sizeof(*c) + n + vlen + 2);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        c->name[i] = (char)tolower((unsigned char)arg[i]);
    c->name[n] = '\0';
    c->value = c->name + n + 1;
    memcpy(c->value, v, vlen);
    c->value[vlen] = '\0';
    c->name_len = n;
    c->value_len = vlen;
    return c;
}

static void *add_header_conf_create(const char *arg, char *err, size_t errlen)
{
    return header_conf_create(arg, true, err, errlen);
}

static void *remove_header_conf_create(const char *arg, char *err, size_t errlen)
{
    return header_conf_create(arg, false, err, errlen);
}

static enum stream_action add_request_header(struct stream *s, struct stream_filter *f, bool eos)
{
    const struct header_conf *c = f->conf;
    stream_headers_add_ref(s, &s->req_headers, c->name, c->name_len, c->value, c->value_len);
    return STREAM_CONTINUE;
}

static enum stream_action remove_request_header(struct stream *s, struct stream_filter *f, bool eos)
{
    const struct header_conf *c = f->conf;
    stream_headers_remove(&s->req_headers, c->name, c->name_len);
    return STREAM_CONTINUE;
}

static enum stream_action add_response_header(struct stream *s, struct stream_filter *f, bool eos)
{
    const struct header_conf *c = f->conf;
    stream_headers_add_ref(s, &s->resp_headers, c->name, c->name_len, c->value, c->value_len);
    return STREAM_CONTINUE;
}

static enum stream_action remove_response_header(struct stream *s, struct stream_filter *f,
                                                 bool eos)
{
    const struct header_conf *c = f->conf;
    stream_headers_remove(&s->resp_headers, c->name, c->name_len);
    return STREAM_CONTINUE;
}

static const struct stream_filter_ops add_request_header_ops = {
    .name = "add_request_header",
    .conf_create = add_header_conf_create,
    .conf_free = free,
    .request_headers = add_request_header,
};

static const struct stream_filter_ops remove_request_header_ops = {
    .name = "remove_request_header",
    .conf_create = remove_header_conf_create,
    .conf_free = free,
    .request_headers = remove_request_header,
};

static const struct stream_filter_ops add_response_header_ops = {
    .name = "add_response_header",
    .conf_create = add_header_conf_create,
    .conf_free = free,
    .response_headers = add_response_header,
};

static const struct stream_filter_ops remove_response_header_ops = {
    .name = "remove_response_header",
    .conf_create = remove_header_conf_create,
    .conf_free = free,
    .response_headers = remove_response_header,
};

/* ---- pause (testing): hold headers on a timer, then resume ---- */

struct pause_conf {
    struct timeval delay;
};

struct pause_state {
    struct event timer;
    bool armed;
};

static void *pause_conf_create(const char *arg, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    long ms = strtol(arg, &end, 10);
    if (end == arg || *end != '\0' || errno != 0 || ms < 0 || ms > 60000) {
        snprintf(err, errlen, "pause: expected milliseconds 0..60000, got \"%s\"", arg);
        return NULL;
    }
    struct pause_conf *c = malloc(sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->delay.tv_sec = ms / 1000;
    c->delay.tv_usec = (ms % 1000) * 1000;
    return c;
}

static void pause_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct stream *s = arg;
    stream_resume(s);
}

static enum stream_action pause_headers(struct stream *s, struct stream_filter *f, bool eos)
{
    const struct pause_conf *c = f->conf;
    struct pause_state *st = f->state;
    if (st->armed)
        event_del(&st->timer);
    evtimer_assign(&st->timer, s->base, pause_timer_cb, s);
    evtimer_add(&st->timer, &c->delay);
    st->armed = true;
    return STREAM_PAUSE;
}

static void pause_done(struct stream *s, struct stream_filter *f)
{
    struct pause_state *st = f->state;
    if (st->armed)
        event_del(&st->timer);
}

static const struct stream_filter_ops pause_ops = {
    .name = "pause",
    .state_size = sizeof(struct pause_state),
    .conf_create = pause_conf_create,
    .conf_free = free,
    .request_headers = pause_headers,
    .response_headers = pause_headers,
    .done = pause_done,
};

/* ---- registry and chains ---- */

static const struct stream_filter_ops *const builtin_filters[] = {
    &respond_ops,
    &add_request_header_ops,
    &remove_request_header_ops,
    &add_response_header_ops,
    &remove_response_header_ops,
    &pause_ops,
};

const struct stream_filter_ops *stream_filter_find(const char *name)
{
    for (size_t i = 0; i < sizeof(builtin_filters) / sizeof(builtin_filters[0]); i++)
        if (strcmp(builtin_filters[i]->name, name) == 0)
            return builtin_filters[i];
    return NULL;
}

struct stream_chain *stream_chain_new(void)
{
    return calloc(1, sizeof(struct stream_chain));
}

static int stream_chain_append(struct stream_chain *c, const struct stream_filter_ops *ops,
                               void *conf)
{
    const struct stream_filter_ops **o = realloc(c->ops, (c->n + 1) * sizeof(*o));
    if (o == NULL)
        return -1;
    c->ops = o;
    void **cf = realloc(c->conf, (c->n + 1) * sizeof(*cf));
    if (cf == NULL)
        return -1;
    c->conf = cf;
    c->ops[c->n] = ops;
    c->conf[c->n] = conf;
    c->n++;
    for (int d = 0; d < 2; d++)
        if (ops->edits_body != NULL && ops->edits_body(conf, d))
            c->edits_body[d] = true;
    return 0;
}

int stream_chain_add_conf(struct stream_chain *c, const struct stream_filter_ops *ops, void *conf)
{
    if (stream_chain_append(c, ops, conf) < 0) {
        if (ops->conf_free)
            ops->conf_free(conf);
        return -1;
    }
    return 0;
}

int stream_chain_add(struct stream_chain *c, const char *name, const char *arg, char *err,
                     size_t errlen)
{
    const struct stream_filter_ops *ops = stream_filter_find(name);
    if (ops == NULL) {
        snprintf(err, errlen, "unknown filter \"%s\"", name);
        return -1;
    }
    void *conf = ops->conf_create ? ops->conf_create(arg ? arg : "", err, errlen) : NULL;
    if (ops->conf_create && conf == NULL)
        return -1;
    if (stream_chain_append(c, ops, conf) < 0) {
        if (ops->conf_free)
            ops->conf_free(conf);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

void stream_chain_free(struct stream_chain *c)
{
    if (c == NULL)
        return;
    for (unsigned i = 0; i < c->n; i++)
        if (c->ops[i]->conf_free)
            c->ops[i]->conf_free(c->conf[i]);
    free(c->ops);
    free(c->conf);
    free(c);
}
