/*
 * upstream.c - the router and the upstream HTTP/1.1 client (see upstream.h).
 *
 * An up_conn is one TCP connection to one endpoint. While it serves a stream,
 * stream->up_ctx points to it; when the response is complete it detaches and goes back
 * to its endpoint's idle pool (if both sides allow keep-alive) or closes. Teardown is
 * deferred to the connection's post event so no callback frees it under the runner.
 */
#include "upstream/upstream.h"

#include "config/config.h"
#include "daemon/worker.h"
#include "http1/h1.h"
#include "log/log.h"
#include "server/server.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define UP_READ_CHUNK 16384
#define UP_MAX_HEADERS 128
#define UP_MAX_TRAILERS 32
#define UP_HIGH (256 * 1024)
#define UP_LOW (64 * 1024)

struct up_conn;

/* Idle connections to one endpoint address, per worker. */
struct up_pool {
    struct up_pool *next;
    struct sockaddr_storage sa;
    socklen_t sa_len;
    char addr_text[64];
    struct up_conn *idle; /* most recently used first */
    unsigned n_idle;
};

/* Round-robin position of a cluster, by name (survives reloads). */
struct up_rr {
    struct up_rr *next;
    unsigned pos;
    char name[];
};

struct up_worker {
    struct event_base *base;
    struct up_pool *pools;
    struct up_rr *rr;
    struct h1_limits limits;
    struct up_conn *all; /* every open connection (idle, busy or dying), for the exit */
};

struct up_conn {
    struct up_worker *u;
    struct up_pool *pool;
    struct up_conn *idle_prev, *idle_next;
    struct up_conn *all_prev, *all_next; /* up_worker.all */
    int fd;
    struct event rev, wev, post_ev;
    struct evbuffer *in, *out, *body;
    struct stream *s;
    const struct cfg_cluster *cl;
    unsigned retries_left;

    struct h1_parser parser;
    struct h1_response resp;
    struct h1_body bodyp;
    struct h1_header hdrs[UP_MAX_HEADERS];
    struct h1_header trailers[UP_MAX_TRAILERS];

    bool connecting;
    bool reused;    /* came from the pool */
    bool got_bytes; /* a response byte arrived for the current request */
    bool req_chunked;
    bool req_done;   /* the whole request is in `out` */
    bool read_timed; /* the whole request went out: read_timeout runs between reads */
    /* 101: the connection is a byte tunnel; each side's end is a half-close, the
     * connection closes once both ended (never pooled) */
    bool tunnel;
    bool tunnel_resp_done; /* the upstream half-closed: the stream got the response end */
    bool wr_shut;          /* the client half-closed: our write side is shut */
    bool linger;           /* detached from its ended stream: flush `out`, then close */
    /* While lingering (cl is NULL then: the stream and its generation reference are
     * gone): the send timeout, the cluster's read_timeout taken when the stream ended. */
    uint64_t linger_ms;
    bool head_done;
    bool keep_alive;
    bool eof;
    bool reading, writing;
    bool in_blocked; /* the client is slow: we stopped reading */
    bool out_blocked;
    bool idle;
    bool dead;
    bool post_process;
    bool post_flush;
};

static void up_process(struct up_conn *c);
static void up_flush(struct up_conn *c);
static void up_start(struct stream *s, const struct cfg_cluster *cl, bool eos, unsigned retries);

/* ---- per-worker state ---- */

struct up_worker *up_worker_new(struct event_base *base)
{
    struct up_worker *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return NULL;
    u->base = base;
    h1_limits_default(&u->limits);
    u->limits.max_body = 0;
    return u;
}

static void up_conn_free(struct up_conn *c);

void up_worker_free(struct up_worker *u)
{
    if (u == NULL)
        return;
    /* Idle, busy and killed ones alike: after the loop has stopped, a killed
     * connection's post event never runs to free it. */
    while (u->all != NULL)
        up_conn_free(u->all);
    struct up_pool *p = u->pools;
    while (p != NULL) {
        struct up_pool *next = p->next;
        free(p);
        p = next;
    }
    struct up_rr *r = u->rr;
    while (r != NULL) {
        struct up_rr *next = r->next;
        free(r);
        r = next;
    }
    free(u);
}

static struct up_pool *up_pool_get(struct up_worker *u, const struct cfg_address *a)
{
    for (struct up_pool *p = u->pools; p != NULL; p = p->next)
        if (p->sa_len == a->sa_len && memcmp(&p->sa, &a->sa, a->sa_len) == 0)
            return p;
    struct up_pool *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    memcpy(&p->sa, &a->sa, a->sa_len);
    p->sa_len = a->sa_len;
    srv_format_addr((const struct sockaddr *)&a->sa, p->addr_text, sizeof(p->addr_text));
    p->next = u->pools;
    u->pools = p;
    return p;
}

static unsigned up_rr_next(struct up_worker *u, const struct cfg_cluster *cl)
{
    if (cl->n_endpoints == 1)
        return 0;
    struct up_rr *r;
    for (r = u->rr; r != NULL; r = r->next)
        if (strcmp(r->name, cl->name) == 0)
            break;
    if (r == NULL) {
        size_t len = strlen(cl->name);
        r = calloc(1, sizeof(*r) + len + 1);
        if (r == NULL)
            return 0;
        memcpy(r->name, cl->name, len + 1);
        r->next = u->rr;
        u->rr = r;
    }
    return r->pos++ % (unsigned)cl->n_endpoints;
}

/* ---- connection lifecycle ---- */

static void idle_unlink(struct up_conn *c)
{
    if (!c->idle)
        return;
    if (c->idle_prev)
        c->idle_prev->idle_next = c->idle_next;
    else
        c->pool->idle = c->idle_next;
    if (c->idle_next)
        c->idle_next->idle_prev = c->idle_prev;
    c->idle_prev = c->idle_next = NULL;
    c->pool->n_idle--;
    c->idle = false;
}

static void up_conn_free(struct up_conn *c)
{
    idle_unlink(c);
    if (c->all_prev != NULL)
        c->all_prev->all_next = c->all_next;
    else
        c->u->all = c->all_next;
    if (c->all_next != NULL)
        c->all_next->all_prev = c->all_prev;
    if (c->s != NULL) {
        c->s->up_ctx = NULL;
        c->s = NULL;
    }
    event_del(&c->rev);
    event_del(&c->wev);
    event_del(&c->post_ev);
    if (c->fd >= 0)
        close(c->fd);
    evbuffer_free(c->in);
    evbuffer_free(c->out);
    evbuffer_free(c->body);
    free(c);
}

static void up_post(struct up_conn *c)
{
    if (!event_pending(&c->post_ev, EV_TIMEOUT, NULL))
        event_active(&c->post_ev, EV_TIMEOUT, 0);
}

/* Detaches from the stream and frees the connection from the post event. */
static void up_kill(struct up_conn *c)
{
    if (c->s != NULL) {
        c->s->up_ctx = NULL;
        c->s = NULL;
    }
    c->dead = true;
    event_del(&c->rev);
    event_del(&c->wev);
    c->reading = c->writing = false;
    up_post(c);
}

static void up_set_read(struct up_conn *c, bool on, uint64_t timeout_ms)
{
    if (on) {
        event_add(&c->rev, stream_timeout(c->u->base, timeout_ms));
        c->reading = true;
    } else if (c->reading) {
        event_del(&c->rev);
        c->reading = false;
    }
}

/*
 * The read timeout for the current exchange: the cluster's read_timeout once the whole
 * request is on the wire, none while it is still going out (as nginx's
 * proxy_read_timeout: a slow upload is bounded by the client's body_timeout and the
 * send timeout, not by how long the upstream has been waiting for it).
 */
static uint64_t up_read_timeout(const struct up_conn *c)
{
    return c->read_timed && !c->tunnel ? c->cl->read_timeout_ms : 0;
}

/* A tunnel broke (a read or write error): both sides of the stream end now. */
static void up_tunnel_reset(struct up_conn *c, const char *why)
{
    struct stream *s = c->s;
    up_kill(c);
    if (s == NULL)
        return;
    log_info("%s %.*s: upstream %s: tunnel closed: %s", s->client, (int)s->path_len, s->path,
             s->upstream_addr, why);
    s->reset = true;
    s->down->reset(s);
}

static bool method_idempotent(int m)
{
    return m == H1_METHOD_GET || m == H1_METHOD_HEAD || m == H1_METHOD_OPTIONS ||
           m == H1_METHOD_TRACE || m == H1_METHOD_PUT || m == H1_METHOD_DELETE;
}

/*
 * The exchange failed before a response head reached the stream. Retries once on a
 * fresh connection when allowed, else answers status with a short body.
 */
static void up_fail(struct up_conn *c, int status, const char *why, bool retryable)
{
    struct stream *s = c->s;
    const struct cfg_cluster *cl = c->cl;
    unsigned retries = c->retries_left;
    bool was_reused = c->reused;
    bool got = c->got_bytes;
    up_kill(c);
    if (s == NULL)
        return;
    if (retryable && was_reused && !got && retries > 0 && method_idempotent(s->method_id) &&
        s->req_content_length == 0) {
        log_debug("%s: retrying on a new connection (%s)", s->upstream_addr, why);
        up_start(s, cl, s->upgrade == NULL, retries - 1);
        return;
    }
    log_warn("%s %.*s: upstream %s: %s -> %d", s->client, (int)s->path_len, s->path,
             s->upstream_addr, why, status);
    if (s->resp_started) {
        s->reset = true;
        s->down->reset(s);
        return;
    }
    char body[96];
    int n = snprintf(body, sizeof(body), "%d %s\n", status, h1_status_reason(status));
    if (s->upstream_start_usec)
        s->upstream_usec = (int64_t)(stream_loop_usec(s->base) - s->upstream_start_usec);
    stream_local_reply(s, status, "text/plain", body, (size_t)n);
}

/* The response is complete: pool the connection or close it. */
static void up_done(struct up_conn *c)
{
    struct stream *s = c->s;
    if (s != NULL) {
        s->up_ctx = NULL;
        c->s = NULL;
    }
    bool reuse = c->keep_alive && c->req_done && !c->eof && evbuffer_get_length(c->in) == 0 &&
                 evbuffer_get_length(c->out) == 0 && c->pool->n_idle < c->cl->max_idle;
    if (!reuse) {
        up_kill(c);
        return;
    }
    uint64_t idle_ms = c->cl->idle_timeout_ms;
    c->cl = NULL;
    c->idle = true;
    c->in_blocked = false;
    c->idle_prev = NULL;
    c->idle_next = c->pool->idle;
    if (c->pool->idle)
        c->pool->idle->idle_prev = c;
    c->pool->idle = c;
    c->pool->n_idle++;
    up_set_read(c, true, idle_ms);
}

/* ---- request writing ---- */

/* "ip:port" / "[ip]:port" -> ip */
static size_t client_ip(const char *client, const char **ip)
{
    const char *colon = strrchr(client, ':');
    size_t len = colon ? (size_t)(colon - client) : strlen(client);
    if (len >= 2 && client[0] == '[' && client[len - 1] == ']') {
        *ip = client + 1;
        return len - 2;
    }
    *ip = client;
    return len;
}

static bool name_is(const struct stream_header *h, const char *name, size_t len)
{
    return h->name_len == len && h1_name_eq(h->name, name, len);
}

/* Serialises the request head into c->out. @return 0 or -1 (invalid field). */
static int up_write_head(struct up_conn *c, struct stream *s)
{
    uint32_t n = s->req_headers.n;
    struct h1_field stackf[72];
    struct h1_field *f = n + 8 <= 72 ? stackf : malloc((n + 8) * sizeof(*f));
    if (f == NULL)
        return -1;
    size_t k = 0;
    const char *xff = NULL, *via = NULL;
    uint32_t xff_len = 0, via_len = 0;
    bool has_host = false;
    for (uint32_t i = 0; i < n; i++) {
        const struct stream_header *h = &s->req_headers.v[i];
        if (name_is(h, "x-forwarded-for", 15)) {
            xff = h->value;
            xff_len = h->value_len;
            continue;
        }
        if (name_is(h, "via", 3)) {
            via = h->value;
            via_len = h->value_len;
            continue;
        }
        if (name_is(h, "x-forwarded-proto", 17) || name_is(h, "content-length", 14) ||
            name_is(h, "transfer-encoding", 17))
            continue;
        if (name_is(h, "host", 4))
            has_host = true;
        f[k++] = (struct h1_field){h->name, h->name_len, h->value, h->value_len};
    }
    if (!has_host) {
        if (s->authority_len)
            f[k++] = (struct h1_field){"host", 4, s->authority, s->authority_len};
        else
            f[k++] = (struct h1_field){"host", 4, c->pool->addr_text, strlen(c->pool->addr_text)};
    }
    char clbuf[24];
    c->req_chunked = false;
    if (s->req_content_length > 0) {
        int l = snprintf(clbuf, sizeof(clbuf), "%lld", (long long)s->req_content_length);
        f[k++] = (struct h1_field){"content-length", 14, clbuf, (size_t)l};
    } else if (s->req_content_length < 0) {
        f[k++] = (struct h1_field){"transfer-encoding", 17, "chunked", 7};
        c->req_chunked = true;
    } else if (s->method_id == H1_METHOD_POST || s->method_id == H1_METHOD_PUT ||
               s->method_id == H1_METHOD_PATCH) {
        f[k++] = (struct h1_field){"content-length", 14, "0", 1};
    }
    if (s->upgrade != NULL) {
        f[k++] = (struct h1_field){"connection", 10, "upgrade", 7};
        f[k++] = (struct h1_field){"upgrade", 7, s->upgrade, s->upgrade_len};
    }
    const char *ip;
    size_t ip_len = client_ip(s->client, &ip);
    char xffbuf[512];
    if (xff != NULL && xff_len + ip_len + 2 < sizeof(xffbuf)) {
        memcpy(xffbuf, xff, xff_len);
        memcpy(xffbuf + xff_len, ", ", 2);
        memcpy(xffbuf + xff_len + 2, ip, ip_len);
        f[k++] = (struct h1_field){"x-forwarded-for", 15, xffbuf, xff_len + 2 + ip_len};
    } else {
        f[k++] = (struct h1_field){"x-forwarded-for", 15, ip, ip_len};
    }
    f[k++] = (struct h1_field){"x-forwarded-proto", 17, s->scheme, strlen(s->scheme)};
    char viabuf[512];
    static const char me[] = "1.1 wasp";
    if (via != NULL && via_len + sizeof(me) + 2 < sizeof(viabuf)) {
        memcpy(viabuf, via, via_len);
        memcpy(viabuf + via_len, ", ", 2);
        memcpy(viabuf + via_len + 2, me, sizeof(me) - 1);
        f[k++] = (struct h1_field){"via", 3, viabuf, via_len + 2 + sizeof(me) - 1};
    } else {
        f[k++] = (struct h1_field){"via", 3, me, sizeof(me) - 1};
    }

    char stackbuf[4096];
    ssize_t len = h1_write_request_head(stackbuf, sizeof(stackbuf), s->method, s->method_len,
                                        s->path, s->path_len, 1, f, k);
    if (len > (ssize_t)sizeof(stackbuf)) {
        struct evbuffer_iovec v;
        if (evbuffer_reserve_space(c->out, len, &v, 1) == 1) {
            len = h1_write_request_head(v.iov_base, (size_t)len, s->method, s->method_len, s->path,
                                        s->path_len, 1, f, k);
            v.iov_len = len > 0 ? (size_t)len : 0;
            evbuffer_commit_space(c->out, &v, 1);
        } else {
            len = H1_ERROR;
        }
    } else if (len > 0) {
        evbuffer_add(c->out, stackbuf, (size_t)len);
    }
    if (f != stackf)
        free(f);
    return len < 0 ? -1 : 0;
}

/* ---- I/O ---- */

static void up_flush(struct up_conn *c)
{
    if (c->connecting || c->dead)
        return;
    if (evbuffer_get_length(c->out) > 0) {
        ssize_t n = srv_write_fd(c->out, c->fd);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            if (c->tunnel)
                up_tunnel_reset(c, strerror(errno));
            else if (c->s != NULL && !c->head_done)
                up_fail(c, 502, strerror(errno), errno == EPIPE || errno == ECONNRESET);
            else
                up_kill(c);
            return;
        }
    }
    size_t left = evbuffer_get_length(c->out);
    if (left > 0) {
        if (!c->writing) {
            /* A live tunnel waits as long as its client does (tunnel_idle_timeout); a
             * lingering one as long as its cluster's read_timeout said. */
            uint64_t ms = c->linger   ? c->linger_ms
                          : c->tunnel ? 0
                          : c->cl     ? c->cl->read_timeout_ms
                                      : 30000;
            event_add(&c->wev, stream_timeout(c->u->base, ms));
            c->writing = true;
        }
        if (left >= UP_HIGH) {
            c->out_blocked = true;
        } else if (c->out_blocked && left < UP_LOW && c->s != NULL) {
            /* Below the low mark: let the client send more while the rest goes out. */
            c->out_blocked = false;
            stream_request_drained(c->s);
        }
        return;
    }
    if (c->writing) {
        event_del(&c->wev);
        c->writing = false;
    }
    if (c->linger) {
        up_kill(c);
        return;
    }
    /* An upgrade request is whole with its head: the 101 (or an answer) is owed. */
    bool sent = c->req_done || (c->s != NULL && c->s->upgrade != NULL && !c->tunnel);
    if (sent && !c->read_timed && c->s != NULL) {
        /* The last request byte went out: from now on the upstream owes the answer. */
        c->read_timed = true;
        if (c->reading)
            up_set_read(c, true, up_read_timeout(c));
    }
    if (c->tunnel && c->req_done && !c->wr_shut) {
        /* The client half-closed and all it sent went out: pass the half-close on. */
        shutdown(c->fd, SHUT_WR);
        c->wr_shut = true;
        if (c->tunnel_resp_done) {
            up_done(c);
            return;
        }
    }
    if (c->out_blocked && c->s != NULL) {
        c->out_blocked = false;
        stream_request_drained(c->s);
    }
}

static void up_post_cb(evutil_socket_t fd, short what, void *arg)
{
    struct up_conn *c = arg;
    if (c->dead) {
        up_conn_free(c);
        return;
    }
    if (c->post_flush) {
        c->post_flush = false;
        up_flush(c);
    }
    if (!c->dead && c->post_process) {
        c->post_process = false;
        up_process(c);
    }
    if (c->dead)
        up_conn_free(c);
}

static void up_schedule_flush(struct up_conn *c)
{
    c->post_flush = true;
    up_post(c);
}

static void up_connected(struct up_conn *c)
{
    c->connecting = false;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0) {
        up_fail(c, 502, strerror(err), false);
        return;
    }
    up_set_read(c, true, up_read_timeout(c));
    up_flush(c);
}

static void up_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct up_conn *c = arg;
    c->writing = false;
    if (what & EV_TIMEOUT) {
        if (c->connecting)
            up_fail(c, 504, "connect timeout", false);
        else if (c->s != NULL && !c->head_done)
            up_fail(c, 504, "send timeout", false);
        else
            up_kill(c);
    } else if (c->connecting) {
        up_connected(c);
    } else {
        up_flush(c);
    }
    if (c->dead)
        up_conn_free(c);
}

/* Copies the parsed response head into the stream and sends it down the chain. */
static void up_response_head(struct up_conn *c, const char *buf, size_t len)
{
    struct stream *s = c->s;
    char *copy = stream_alloc(s, len);
    if (copy == NULL) {
        up_fail(c, 502, "out of memory", false);
        return;
    }
    memcpy(copy, buf, len);
    struct h1_response *r = &c->resp;
    s->status = r->status;
    s->details = "via_upstream";
    s->resp_headers.n = 0;
    for (uint32_t i = 0; i < r->nheaders; i++) {
        const struct h1_header *h = &r->headers[i];
        if ((h->flags & H1_HF_HOP_BY_HOP) || h->id == H1_HDR_CONTENT_LENGTH)
            continue;
        stream_header_name_lower(copy + h->name.off, h->name.len);
        stream_headers_add_ref(s, &s->resp_headers, copy + h->name.off, h->name.len,
                               copy + h->value.off, h->value.len);
    }
    bool head = s->method_id == H1_METHOD_HEAD;
    s->resp_no_body = head || r->status == 204 || r->status == 304;
    if (r->body_kind == H1_BODY_LENGTH ||
        (head && h1_header_find(buf, r->headers, r->nheaders, "content-length", 14, 0) >= 0))
        s->resp_content_length = (int64_t)r->content_length;
    else if (r->body_kind == H1_BODY_NONE && !s->resp_no_body)
        s->resp_content_length = 0;
    else
        s->resp_content_length = -1;
    c->keep_alive = (r->flags & H1_F_KEEP_ALIVE) != 0;
    s->upstream_usec = (int64_t)(stream_loop_usec(s->base) - s->upstream_start_usec);
    h1_body_init(&c->bodyp, r->body_kind, r->content_length, &c->u->limits, c->trailers,
                 UP_MAX_TRAILERS);
    c->head_done = true;
}

static void up_body_done(struct up_conn *c, const char *tbuf)
{
    struct stream *s = c->s;
    if (c->bodyp.ntrailers > 0 && tbuf != NULL) {
        for (uint32_t i = 0; i < c->bodyp.ntrailers; i++) {
            const struct h1_header *h = &c->trailers[i];
            stream_headers_add(s, &s->resp_trailers, tbuf + h->name.off, h->name.len,
                               tbuf + h->value.off, h->value.len);
        }
        if (evbuffer_get_length(c->body) > 0)
            stream_response_body(s, c->body, false);
        if (c->s == s)
            stream_response_trailers(s);
    } else {
        stream_response_body(s, c->body, true);
    }
}

/*
 * The upstream answered 101 to the stream's upgrade: the rest of the connection is the
 * tunnel (bytes after the head are its first). buf[0..len) is the response head, still
 * in `in`.
 */
static void up_switch(struct up_conn *c, const char *buf, size_t len)
{
    struct stream *s = c->s;
    int i = h1_header_find(buf, c->resp.headers, c->resp.nheaders, "upgrade", 7, 0);
    const struct h1_header *h = &c->resp.headers[i]; /* the parser requires one */
    char *proto = stream_strdup(s, buf + h->value.off, h->value.len);
    up_response_head(c, buf, len);
    evbuffer_drain(c->in, len);
    if (c->s != s || proto == NULL) {
        if (c->s == s)
            up_fail(c, 502, "out of memory", false);
        return;
    }
    s->upgrade = proto;
    s->upgrade_len = h->value.len;
    s->resp_content_length = -1;
    c->tunnel = true;
    c->keep_alive = false;
    h1_body_init(&c->bodyp, H1_BODY_UNTIL_CLOSE, 0, &c->u->limits, NULL, 0);
    if (c->reading)
        up_set_read(c, true, 0);
    log_debug("%s %.*s: upstream %s switched to %s", s->client, (int)s->path_len, s->path,
              s->upstream_addr, proto);
    stream_upgraded(s);
    if (c->s == s)
        stream_response_headers(s, false);
}

/* The upstream half-closed a tunnel: the response ends; the client may still send, so
 * the connection stays (for writing) until the client's end went out too. */
static void up_tunnel_half_closed(struct up_conn *c)
{
    struct stream *s = c->s;
    c->tunnel_resp_done = true;
    stream_response_body(s, c->body, true);
    if (c->s == s && c->wr_shut)
        up_done(c);
}

/* Parses the response and streams its body while the client keeps up. */
static void up_process(struct up_conn *c)
{
    while (!c->dead && c->s != NULL) {
        struct stream *s = c->s;
        size_t avail = evbuffer_get_length(c->in);
        if (!c->head_done) {
            if (avail == 0) {
                if (c->eof)
                    up_fail(c, 502, "connection closed before the response", !c->got_bytes);
                return;
            }
            const char *buf = (const char *)evbuffer_pullup(c->in, -1);
            ssize_t n =
                h1_parse_response(&c->parser, buf, avail, (enum h1_method)s->method_id, &c->resp);
            if (n == H1_AGAIN) {
                if (c->eof)
                    up_fail(c, 502, "truncated response head", false);
                return;
            }
            if (n == H1_ERROR) {
                up_fail(c, 502, c->parser.reason ? c->parser.reason : "bad response", false);
                return;
            }
            if (c->resp.status < 200) {
                if (c->resp.status == 101) {
                    if (s->upgrade == NULL) {
                        up_fail(c, 502, "101 to a request that asked for no upgrade", false);
                        return;
                    }
                    up_switch(c, buf, (size_t)n);
                    if (c->s != s)
                        return;
                    continue;
                }
                evbuffer_drain(c->in, (size_t)n);
                h1_parser_init(&c->parser, &c->u->limits);
                c->resp.nheaders = 0;
                continue;
            }
            up_response_head(c, buf, (size_t)n);
            evbuffer_drain(c->in, (size_t)n);
            if (c->s != s)
                return;
            bool eos = c->bodyp.done;
            stream_response_headers(s, eos);
            if (c->s != s)
                return;
            if (eos) {
                up_done(c);
                return;
            }
            continue;
        }
        /* body: read while the codec and the chain can take it */
        if (s->down->backlog(s) > UP_HIGH || !stream_response_writable(s)) {
            c->in_blocked = true;
            up_set_read(c, false, 0);
            return;
        }
        struct h1_body *b = &c->bodyp;
        if (avail == 0) {
            if (c->eof && !c->tunnel_resp_done) {
                if (c->tunnel) {
                    up_tunnel_half_closed(c);
                } else if (h1_body_eof(b) == H1_OK) {
                    up_body_done(c, NULL);
                    if (c->s == s)
                        up_done(c);
                } else {
                    log_warn("%s: upstream %s closed mid-response", s->client, s->upstream_addr);
                    s->reset = true;
                    up_kill(c);
                    s->down->reset(s);
                }
            }
            return;
        }
        if (b->kind == H1_BODY_LENGTH || b->kind == H1_BODY_UNTIL_CLOSE) {
            size_t take = avail;
            if (b->kind == H1_BODY_LENGTH && take > b->remaining)
                take = (size_t)b->remaining;
            evbuffer_remove_buffer(c->in, c->body, take);
            b->total += take;
            if (b->kind == H1_BODY_LENGTH) {
                b->remaining -= take;
                if (b->remaining == 0) {
                    b->done = true;
                    up_body_done(c, NULL);
                    if (c->s == s)
                        up_done(c);
                    return;
                }
            }
            stream_response_body(s, c->body, false);
            continue;
        }
        struct evbuffer_iovec v;
        evbuffer_peek(c->in, -1, NULL, &v, 1);
        struct h1_span span;
        ssize_t n = h1_body_parse(b, v.iov_base, v.iov_len, &span);
        if (n == H1_AGAIN) {
            if (v.iov_len < avail) {
                size_t want = v.iov_len + 8192 < avail ? v.iov_len + 8192 : avail;
                evbuffer_pullup(c->in, (ev_ssize_t)want);
                continue;
            }
            if (c->eof) {
                s->reset = true;
                up_kill(c);
                s->down->reset(s);
            }
            return;
        }
        if (n == H1_ERROR) {
            log_warn("%s: upstream %s: bad response body: %s", s->client, s->upstream_addr,
                     b->reason ? b->reason : "");
            s->reset = true;
            up_kill(c);
            s->down->reset(s);
            return;
        }
        if (span.len > 0) {
            evbuffer_drain(c->in, span.off);
            evbuffer_remove_buffer(c->in, c->body, span.len);
        } else {
            span.off = (size_t)n;
        }
        if (b->done) {
            up_body_done(c, (const char *)v.iov_base);
            evbuffer_drain(c->in, (size_t)n - span.off - span.len);
            if (c->s == s)
                up_done(c);
            return;
        }
        evbuffer_drain(c->in, (size_t)n - span.off - span.len);
        if (evbuffer_get_length(c->body) > 0)
            stream_response_body(s, c->body, false);
    }
}

static void up_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct up_conn *c = arg;
    if (what & EV_TIMEOUT) {
        if (c->idle) {
            up_conn_free(c);
            return;
        }
        if (c->s != NULL && !c->head_done)
            up_fail(c, 504, "read timeout", false);
        else if (c->s != NULL) {
            struct stream *s = c->s;
            log_warn("%s: upstream %s: read timeout mid-response", s->client, s->upstream_addr);
            s->reset = true;
            up_kill(c);
            s->down->reset(s);
        } else {
            up_kill(c);
        }
        up_conn_free(c);
        return;
    }
    if (c->idle) {
        /* A pooled connection must be silent: EOF or stray bytes retire it. */
        up_conn_free(c);
        return;
    }
    ssize_t r = srv_read_fd(c->in, fd, UP_READ_CHUNK);
    if (r == 0) {
        c->eof = true;
        up_set_read(c, false, 0);
    } else if (r < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        c->eof = true;
        up_set_read(c, false, 0);
        if (c->tunnel) {
            up_tunnel_reset(c, strerror(errno));
            up_conn_free(c);
            return;
        }
        if (c->s != NULL && !c->head_done) {
            int e = errno;
            up_fail(c, 502, strerror(e), !c->got_bytes && evbuffer_get_length(c->in) == 0);
            up_conn_free(c);
            return;
        }
    } else {
        c->got_bytes = true;
    }
    if (c->s == NULL) {
        up_kill(c);
        up_conn_free(c);
        return;
    }
    up_process(c);
    if (c->dead)
        up_conn_free(c);
}

/* Opens a new connection to pool's endpoint. @return the connection or NULL (errno). */
static struct up_conn *up_conn_open(struct up_worker *u, struct up_pool *pool)
{
    struct up_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->u = u;
    c->pool = pool;
    c->fd = socket(pool->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    c->in = evbuffer_new();
    c->out = evbuffer_new();
    c->body = evbuffer_new();
    if (c->fd < 0 || c->in == NULL || c->out == NULL || c->body == NULL)
        goto fail;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    event_assign(&c->rev, u->base, c->fd, EV_READ | EV_PERSIST, up_read_cb, c);
    event_assign(&c->wev, u->base, c->fd, EV_WRITE, up_write_cb, c);
    event_assign(&c->post_ev, u->base, -1, 0, up_post_cb, c);
    if (connect(c->fd, (const struct sockaddr *)&pool->sa, pool->sa_len) < 0) {
        if (errno != EINPROGRESS)
            goto fail;
        c->connecting = true;
    }
    c->all_next = u->all;
    if (u->all != NULL)
        u->all->all_prev = c;
    u->all = c;
    return c;
fail:;
    int e = errno;
    if (c->fd >= 0)
        close(c->fd);
    if (c->in)
        evbuffer_free(c->in);
    if (c->out)
        evbuffer_free(c->out);
    if (c->body)
        evbuffer_free(c->body);
    free(c);
    errno = e;
    return NULL;
}

/* Sends the stream's request to an endpoint of cl (pooled connection or a new one). */
static void up_start(struct stream *s, const struct cfg_cluster *cl, bool eos, unsigned retries)
{
    struct worker *w = s->worker;
    struct up_worker *u = w->up;
    const struct cfg_address *ep = &cl->endpoints[up_rr_next(u, cl)];
    struct up_pool *pool = up_pool_get(u, ep);
    if (pool == NULL) {
        stream_local_reply(s, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    memcpy(s->upstream_addr, pool->addr_text, sizeof(s->upstream_addr));
    s->upstream_start_usec = stream_loop_usec(s->base);
    struct up_conn *c = NULL;
    /* A retry always takes a fresh connection. */
    if (retries == cl->retries && pool->idle != NULL) {
        c = pool->idle;
        idle_unlink(c);
        c->reused = true; /* rev stays registered: up_set_read only changes its timeout */
    } else {
        c = up_conn_open(u, pool);
        if (c == NULL) {
            int e = errno;
            log_warn("%s: connect to %s: %s", s->client, pool->addr_text, strerror(e));
            stream_local_reply(s, 502, "text/plain", "502 Bad Gateway\n", 16);
            return;
        }
        c->reused = false;
    }
    c->cl = cl;
    c->retries_left = retries;
    c->s = s;
    c->got_bytes = false;
    c->head_done = false;
    c->eof = false;
    c->req_done = eos;
    c->read_timed = false;
    c->tunnel = c->tunnel_resp_done = c->wr_shut = c->linger = false;
    c->keep_alive = false;
    c->in_blocked = false;
    c->out_blocked = false;
    h1_parser_init(&c->parser, &u->limits);
    c->resp.headers = c->hdrs;
    c->resp.headers_cap = UP_MAX_HEADERS;
    c->resp.nheaders = 0;
    s->up_ctx = c;
    if (up_write_head(c, s) < 0) {
        up_kill(c);
        stream_local_reply(s, 500, "text/plain", "invalid request header\n", 23);
        return;
    }
    if (eos && c->req_chunked) {
        evbuffer_add(c->out, "0\r\n\r\n", 5);
    }
    if (c->connecting) {
        event_add(&c->wev, stream_timeout(u->base, cl->connect_timeout_ms));
        c->writing = true;
        return;
    }
    up_set_read(c, true, up_read_timeout(c));
    up_schedule_flush(c);
}

/* ---- the stream's upstream side ---- */

/*
 * Routes the request: answers it locally when it has no route (404) or a local response,
 * @return NULL then, else its target (a cluster).
 */
static const struct cfg_target *router_target(struct stream *s)
{
    const struct worker_listener_conf *lc = s->route_ctx;
    const struct cfg_target *t =
        cfg_route_lookup(lc->cfg, s->authority, s->authority_len, s->path, s->path_len);
    if (t == NULL) {
        stream_local_reply(s, 404, "text/plain", "404 Not Found (no route)\n", 25);
        return NULL;
    }
    if (t->respond != NULL) {
        const struct cfg_response *r = t->respond;
        stream_local_reply(s, (int)r->status, r->content_type, r->body, r->body_len);
        return NULL;
    }
    return t;
}

static bool router_answer_locally(struct stream *s)
{
    return router_target(s) == NULL;
}

static void router_request_headers(struct stream *s, bool eos)
{
    const struct worker_listener_conf *lc = s->route_ctx;
    const struct cfg_target *t = router_target(s);
    if (t == NULL)
        return;
    bool upgrades =
        t->upgrades == CFG_SWITCH_UNSET ? lc->cfg->upgrades : t->upgrades == CFG_SWITCH_ON;
    if (s->upgrade != NULL && !upgrades) {
        if (s->http_major == 2) {
            /* Extended CONNECT has no plain form to fall back to. */
            static const char msg[] = "403 Forbidden (no protocol upgrades here)\n";
            stream_local_reply(s, 403, "text/plain", msg, sizeof(msg) - 1);
            return;
        }
        /* A server may ignore Upgrade (RFC 9110 §7.8): the plain request, complete. */
        s->upgrade = NULL;
        eos = true;
    }
    up_start(s, t->cluster, eos, t->cluster->retries);
}

static void router_request_body(struct stream *s, struct evbuffer *body, bool eos)
{
    struct up_conn *c = s->up_ctx;
    if (c == NULL) {
        evbuffer_drain(body, evbuffer_get_length(body));
        return;
    }
    size_t len = evbuffer_get_length(body);
    if (c->req_chunked) {
        if (len > 0) {
            char hdr[H1_CHUNK_HEADER_MAX];
            size_t hl = h1_write_chunk_header(hdr, len);
            evbuffer_add(c->out, hdr, hl);
            evbuffer_add_buffer(c->out, body);
            evbuffer_add(c->out, "\r\n", 2);
        }
        if (eos)
            evbuffer_add(c->out, "0\r\n\r\n", 5);
    } else {
        evbuffer_add_buffer(c->out, body);
    }
    if (eos)
        c->req_done = true;
    if (evbuffer_get_length(c->out) >= UP_HIGH)
        c->out_blocked = true;
    up_schedule_flush(c);
}

static void router_request_trailers(struct stream *s)
{
    struct up_conn *c = s->up_ctx;
    if (c == NULL)
        return;
    if (c->req_chunked) {
        uint32_t n = s->req_trailers.n < UP_MAX_TRAILERS ? s->req_trailers.n : UP_MAX_TRAILERS;
        struct h1_field f[UP_MAX_TRAILERS];
        for (uint32_t i = 0; i < n; i++) {
            const struct stream_header *h = &s->req_trailers.v[i];
            f[i] = (struct h1_field){h->name, h->name_len, h->value, h->value_len};
        }
        char buf[8192];
        ssize_t len = h1_write_last_chunk(buf, sizeof(buf), f, n);
        if (len < 0 || len > (ssize_t)sizeof(buf))
            len = h1_write_last_chunk(buf, sizeof(buf), NULL, 0);
        evbuffer_add(c->out, buf, (size_t)len);
    }
    c->req_done = true;
    up_schedule_flush(c);
}

static void router_resume_response(struct stream *s)
{
    struct up_conn *c = s->up_ctx;
    if (c == NULL || !c->in_blocked)
        return;
    c->in_blocked = false;
    if (!c->eof)
        up_set_read(c, true, up_read_timeout(c));
    c->post_process = true;
    up_post(c);
}

static void router_abort(struct stream *s)
{
    struct up_conn *c = s->up_ctx;
    if (c == NULL)
        return;
    if (c->tunnel && !s->reset && !c->dead && evbuffer_get_length(c->out) > 0) {
        /* A tunnel that ended normally: the client's last bytes still go out, within the
         * cluster's read_timeout. The cluster goes with the stream (its generation may be
         * freed by a reload, as up_done knows), so the timeout is kept here; wev, armed
         * without a timeout for the live tunnel, is re-armed with it by up_flush. */
        s->up_ctx = NULL;
        c->s = NULL;
        c->linger = true;
        c->linger_ms = c->cl->read_timeout_ms;
        c->cl = NULL;
        up_set_read(c, false, 0);
        if (c->writing) {
            event_del(&c->wev);
            c->writing = false;
        }
        up_schedule_flush(c);
        return;
    }
    up_kill(c);
}

static size_t router_backlog(struct stream *s)
{
    struct up_conn *c = s->up_ctx;
    return c ? evbuffer_get_length(c->out) : 0;
}

static void router_route_info(struct stream *s, struct stream_route_info *out)
{
    const struct worker_listener_conf *lc = s->route_ctx;
    const struct cfg_target *t =
        cfg_route_lookup(lc->cfg, s->authority, s->authority_len, s->path, s->path_len);
    out->listener = lc->cfg->name;
    out->route = t != NULL ? t->route : NULL;
    out->cluster = t != NULL && t->cluster != NULL ? t->cluster->name : NULL;
}

/* A callout: straight to the cluster in route_ctx. */
static void cluster_request_headers(struct stream *s, bool eos)
{
    const struct cfg_cluster *cl = s->route_ctx;
    up_start(s, cl, eos, cl->retries);
}

const struct stream_upstream_ops up_cluster_ops = {
    .request_headers = cluster_request_headers,
    .request_body = router_request_body,
    .request_trailers = router_request_trailers,
    .resume_response = router_resume_response,
    .abort = router_abort,
    .backlog = router_backlog,
};

const struct stream_upstream_ops up_router_ops = {
    .route_info = router_route_info,
    .answer_locally = router_answer_locally,
    .request_headers = router_request_headers,
    .request_body = router_request_body,
    .request_trailers = router_request_trailers,
    .resume_response = router_resume_response,
    .abort = router_abort,
    .backlog = router_backlog,
};
