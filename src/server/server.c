/*
 * server.c - the HTTP/1.1 server connection (see server.h).
 *
 * Read side states: HEAD (waiting for / parsing a request head), BODY (decoding the
 * request body into the stream), DONE (request complete, response in progress). Every
 * teardown is deferred to the connection's own event (`post_ev`) so that no callback
 * frees the connection or its stream while the filter-chain runner is on the stack.
 */
#include "server/server.h"

#include "config/config.h"
#include "daemon/worker.h"
#include "http1/h1.h"
#include "http2/h2.h"
#include "log/log.h"
#include "stream/stream.h"
#include "tls/tls.h"
#include "upstream/upstream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define SRV_READ_CHUNK 16384
#define SRV_WRITE_IOV 64
/* Unparsed input we accept while a response is in progress (pipelining bound). */
#define SRV_PIPELINE_MAX (64 * 1024)
/* Response bytes held before the upstream is told to stop reading. */
#define SRV_OUT_HIGH (256 * 1024)
#define SRV_OUT_LOW (64 * 1024)
#define SRV_MAX_TRAILERS 32
#define SRV_LINGER_MS 2000

enum srv_state { SRV_HEAD, SRV_BODY, SRV_DONE, SRV_TUNNEL, SRV_LINGER };

struct srv_conn {
    struct worker *w;
    struct srv_conn *prev, *next;
    struct daemon_gen *gen;
    const struct worker_listener_conf *lc;
    int fd;
    enum srv_state state;
    struct event rev, wev, timer, post_ev;
    struct evbuffer *in, *out, *body;
    struct stream *s;

    struct h1_parser parser;
    struct h1_request req;
    struct h1_body bodyp;
    struct h1_header *hdrs;
    struct h1_header trailers[SRV_MAX_TRAILERS];

    bool eof;                    /* the client closed its side */
    bool reading;                /* rev is added */
    bool writing;                /* wev is added */
    bool head_timer;             /* the header timeout is running */
    bool keep_alive;             /* the connection may serve another request */
    bool resp_chunked;           /* the response body is chunk-encoded */
    bool resp_eos;               /* the whole response is in `out` */
    bool out_blocked;            /* the upstream was told we are over the high mark */
    bool closing;                /* close once `out` is flushed */
    bool dead;                   /* close now (from post_ev) */
    bool facts_known;            /* facts is filled (srv_conn_info) */
    struct stream_conn_info facts;
    bool post_flush;             /* post_ev should flush */
    bool post_process;           /* post_ev should process input */
    uint64_t deadline;           /* loop usec of the current timeout, 0: none */
    uint64_t timer_at;           /* when the pending timer event fires, 0: not pending */
    bool served;                 /* a request was parsed (no h2c preface check after it) */
    bool handed_off;             /* fd and transport went to another codec (HTTP/2) */
    bool tunnel_in_done;         /* SRV_TUNNEL: the client's half-close went upstream */
    bool wr_shut;                /* SRV_TUNNEL: our write side is shut (upstream ended) */
    const struct srv_io_ops *io; /* transport (TLS) or NULL: the plain socket */
    void *io_ctx;
    uint64_t id; /* connection.id */
    char client[64];
};

static void srv_process(struct srv_conn *c);
static void srv_update_read(struct srv_conn *c);
static void srv_tunnel_flushed(struct srv_conn *c);

/* ---- small helpers ---- */

void srv_format_addr(const struct sockaddr *sa, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        port = ntohs(in->sin_port);
        snprintf(buf, cap, "%s:%u", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        port = ntohs(in6->sin6_port);
        snprintf(buf, cap, "[%s]:%u", ip, port);
    } else {
        snprintf(buf, cap, "unix");
    }
}

ssize_t srv_read_fd(struct evbuffer *in, int fd, size_t max)
{
    struct evbuffer_iovec v[2];
    int n = evbuffer_reserve_space(in, (ev_ssize_t)max, v, 2);
    if (n <= 0) {
        errno = ENOMEM;
        return -1;
    }
    /* recv/recvmsg, not read/readv: the socket calls skip the VFS layer. */
    ssize_t r;
    do {
        if (n == 1) {
            r = recv(fd, v[0].iov_base, v[0].iov_len, 0);
        } else {
            struct iovec iov[2] = {{v[0].iov_base, v[0].iov_len}, {v[1].iov_base, v[1].iov_len}};
            struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
            r = recvmsg(fd, &mh, 0);
        }
    } while (r < 0 && errno == EINTR);
    if (r <= 0) {
        evbuffer_commit_space(in, v, 0);
        return r;
    }
    size_t left = (size_t)r;
    for (int i = 0; i < n; i++) {
        size_t take = left < v[i].iov_len ? left : v[i].iov_len;
        v[i].iov_len = take;
        left -= take;
    }
    evbuffer_commit_space(in, v, n);
    return r;
}

ssize_t srv_write_fd(struct evbuffer *out, int fd)
{
    struct evbuffer_iovec v[SRV_WRITE_IOV];
    int n = evbuffer_peek(out, -1, NULL, v, SRV_WRITE_IOV);
    if (n > SRV_WRITE_IOV)
        n = SRV_WRITE_IOV;
    if (n <= 0)
        return 0;
    struct iovec iov[SRV_WRITE_IOV];
    for (int i = 0; i < n; i++) {
        iov[i].iov_base = v[i].iov_base;
        iov[i].iov_len = v[i].iov_len;
    }
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    ssize_t r;
    do {
        r = sendmsg(fd, &mh, MSG_NOSIGNAL);
    } while (r < 0 && errno == EINTR);
    if (r > 0)
        evbuffer_drain(out, (size_t)r);
    return r;
}

/*
 * Sets the connection's one deadline (0: none). Lazy, as nginx does: the timer event is
 * re-armed only when the new deadline is earlier than the pending one; when it fires
 * early (the deadline moved later, or went away) srv_timer_cb re-arms or ignores it.
 * This keeps timer-queue work off the per-request path.
 */
static void srv_timer_set(struct srv_conn *c, uint64_t ms)
{
    if (ms == 0) {
        c->deadline = 0;
        return;
    }
    uint64_t now = stream_loop_usec(c->w->base);
    c->deadline = now + ms * 1000;
    if (c->timer_at != 0 && c->timer_at <= c->deadline)
        return; /* fires first, then re-arms for the rest */
    evtimer_add(&c->timer, stream_timeout(c->w->base, ms));
    c->timer_at = c->deadline;
}

/* @return true if the timer fired before the connection's deadline (re-armed if any). */
static bool srv_timer_early(struct srv_conn *c)
{
    c->timer_at = 0;
    if (c->deadline == 0)
        return true;
    uint64_t now = stream_loop_usec(c->w->base);
    if (now + 1000 >= c->deadline)
        return false;
    uint64_t left = c->deadline - now;
    struct timeval tv = {(time_t)(left / 1000000), (suseconds_t)(left % 1000000)};
    evtimer_add(&c->timer, &tv);
    c->timer_at = c->deadline;
    return true;
}

static void srv_post(struct srv_conn *c)
{
    if (!event_pending(&c->post_ev, EV_TIMEOUT, NULL))
        event_active(&c->post_ev, EV_TIMEOUT, 0);
}

/* Schedules a write of `out` at the end of this loop iteration (one writev per turn). */
static void srv_schedule_flush(struct srv_conn *c)
{
    c->post_flush = true;
    srv_post(c);
}

/* Tears the connection down from post_ev (never under the runner). */
static void srv_kill(struct srv_conn *c)
{
    c->dead = true;
    srv_post(c);
}

static void srv_free(struct srv_conn *c)
{
    struct worker *w = c->w;
    if (c->s != NULL) {
        struct stream *s = c->s;
        c->s = NULL;
        if (s->status == 0)
            s->status = 499; /* client went away before the response */
        stream_destroy(s);
    }
    event_del(&c->rev);
    event_del(&c->wev);
    event_del(&c->timer);
    event_del(&c->post_ev);
    if (!c->handed_off) {
        if (c->io != NULL)
            c->io->free(c->io_ctx);
        close(c->fd);
    }
    evbuffer_free(c->in);
    evbuffer_free(c->out);
    evbuffer_free(c->body);
    free(c->hdrs);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    daemon_gen_unref(c->gen);
    free(c);
    worker_conn_closed(w);
}

/* Closes after the response: half-close, then read and discard briefly, so the client
 * gets our answer instead of a reset caused by its unread request bytes. */
static void srv_linger(struct srv_conn *c)
{
    if (c->in != NULL && evbuffer_get_length(c->in) == 0 && c->state != SRV_BODY && c->eof) {
        srv_kill(c);
        return;
    }
    c->state = SRV_LINGER;
    shutdown(c->fd, SHUT_WR);
    srv_timer_set(c, SRV_LINGER_MS);
    srv_update_read(c);
}

/* Writes `out` (one writev); arms wev when the socket is full. */
static void srv_flush(struct srv_conn *c)
{
    if (evbuffer_get_length(c->out) > 0) {
        ssize_t n = c->io != NULL ? c->io->write(c->io_ctx, c->out) : srv_write_fd(c->out, c->fd);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            srv_kill(c);
            return;
        }
    }
    size_t left = evbuffer_get_length(c->out);
    if (left > 0) {
        if (!c->writing) {
            uint64_t ms = c->state == SRV_TUNNEL ? c->lc->cfg->tunnel_idle_timeout_ms
                                                 : c->lc->cfg->body_timeout_ms;
            event_add(&c->wev, stream_timeout(c->w->base, ms));
            c->writing = true;
        }
        if (left > SRV_OUT_HIGH) {
            c->out_blocked = true;
        } else if (c->out_blocked && left < SRV_OUT_LOW && c->s != NULL) {
            /* Below the low mark: let the upstream read again while the rest goes out. */
            c->out_blocked = false;
            stream_response_drained(c->s);
        }
        return;
    }
    if (c->writing) {
        event_del(&c->wev);
        c->writing = false;
    }
    if (c->state == SRV_TUNNEL) {
        srv_tunnel_flushed(c);
        return;
    }
    if (c->s != NULL && c->resp_eos) {
        /* The exchange is over. */
        struct stream *s = c->s;
        c->s = NULL;
        c->resp_eos = false;
        c->out_blocked = false;
        bool reuse = c->keep_alive && c->state == SRV_DONE && !c->closing && !c->w->draining;
        stream_destroy(s);
        if (!reuse) {
            srv_linger(c);
            return;
        }
        c->state = SRV_HEAD;
        srv_process(c);
        return;
    }
    if (c->closing && c->s == NULL) {
        srv_linger(c);
        return;
    }
    if (c->out_blocked && c->s != NULL) {
        c->out_blocked = false;
        stream_response_drained(c->s);
    }
}

static void srv_post_cb(evutil_socket_t fd, short what, void *arg)
{
    struct srv_conn *c = arg;
    if (c->dead) {
        srv_free(c);
        return;
    }
    if (c->post_flush) {
        c->post_flush = false;
        srv_flush(c);
    }
    if (c->post_process && !c->dead) {
        c->post_process = false;
        srv_process(c);
    }
    if (c->dead)
        srv_free(c);
}

/* Schedules srv_process from the event loop (never under the runner). */
static void srv_post_process(struct srv_conn *c)
{
    c->post_process = true;
    srv_post(c);
}

/*
 * A tunnel's output went out. Once the upstream's end is among it, the client hears of
 * it: a half-close on plain TCP (its own bytes may still go upstream), a close on TLS;
 * once both ends passed, the connection closes (the stream with it).
 */
static void srv_tunnel_flushed(struct srv_conn *c)
{
    if (c->resp_eos && (c->tunnel_in_done || c->io != NULL)) {
        srv_kill(c);
        return;
    }
    if (c->resp_eos && !c->wr_shut) {
        shutdown(c->fd, SHUT_WR);
        c->wr_shut = true;
    }
    if (c->out_blocked && c->s != NULL) {
        c->out_blocked = false;
        stream_response_drained(c->s);
    }
}

/* Moves what the client sent into the tunnel, then its half-close. */
static void srv_tunnel_read(struct srv_conn *c)
{
    struct stream *s = c->s;
    if (s == NULL || c->tunnel_in_done)
        return;
    if (evbuffer_get_length(c->in) > 0 && stream_request_writable(s)) {
        evbuffer_add_buffer(c->body, c->in);
        srv_timer_set(c, c->lc->cfg->tunnel_idle_timeout_ms);
        stream_request_body(s, c->body, false);
        if (c->dead || c->s != s)
            return;
    }
    if (c->eof && evbuffer_get_length(c->in) == 0) {
        c->tunnel_in_done = true;
        stream_request_body(s, c->body, true);
        if (!c->dead && c->resp_eos && evbuffer_get_length(c->out) == 0)
            srv_kill(c);
    }
}

static void srv_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct srv_conn *c = arg;
    if (what & EV_TIMEOUT) {
        log_info("%s: send timeout", c->client);
        c->writing = false;
        srv_free(c);
        return;
    }
    c->writing = false; /* not persistent: re-armed by srv_flush if needed */
    srv_flush(c);
    if (c->dead)
        srv_free(c);
}

/* Answers a request the codec rejects (or times out) and closes the connection. */
static void srv_error_reply(struct srv_conn *c, int status, const char *why)
{
    char body[128];
    int blen = snprintf(body, sizeof(body), "%d %s\n", status, h1_status_reason(status));
    char head[256];
    int hlen = snprintf(head, sizeof(head),
                        "HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n"
                        "connection: close\r\n\r\n",
                        status, h1_status_reason(status), blen);
    log_info("%s: %d %s", c->client, status, why ? why : "");
    evbuffer_add(c->out, head, (size_t)hlen);
    evbuffer_add(c->out, body, (size_t)blen);
    c->closing = true;
    c->keep_alive = false;
    if (c->state == SRV_HEAD)
        c->state = SRV_DONE;
    srv_schedule_flush(c);
}

/* ---- the stream's downstream side ---- */

static struct srv_conn *conn_of(struct stream *s)
{
    return s->down_ctx;
}

static void srv_add_bytes(struct srv_conn *c, size_t n)
{
    if (c->s != NULL)
        c->s->bytes_sent += n;
}

static void srv_response_headers(struct stream *s, bool eos)
{
    struct srv_conn *c = conn_of(s);
    uint32_t n = s->resp_headers.n;
    struct h1_field stackf[64];
    struct h1_field *f = n + 4 <= 64 ? stackf : malloc((n + 4) * sizeof(*f));
    if (f == NULL) {
        srv_kill(c);
        return;
    }
    size_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct stream_header *h = &s->resp_headers.v[i];
        f[k++] = (struct h1_field){h->name, h->name_len, h->value, h->value_len};
    }
    char clbuf[24];
    int st = s->status;
    bool bodyless_status = st < 200 || st == 204 || st == 304;
    bool tunnel = st == 101 && s->upgraded;
    c->resp_chunked = false;
    if (tunnel) {
        /* The upstream switched protocols: so does this connection, after this head. */
        f[k++] = (struct h1_field){"connection", 10, "upgrade", 7};
        f[k++] = (struct h1_field){"upgrade", 7, s->upgrade, s->upgrade_len};
        c->keep_alive = false;
    } else if (s->resp_no_body || bodyless_status) {
        if (s->resp_content_length >= 0 && !bodyless_status) {
            int l = snprintf(clbuf, sizeof(clbuf), "%lld", (long long)s->resp_content_length);
            f[k++] = (struct h1_field){"content-length", 14, clbuf, (size_t)l};
        }
    } else if (eos) {
        f[k++] = (struct h1_field){"content-length", 14, "0", 1};
    } else if (s->resp_content_length >= 0) {
        int l = snprintf(clbuf, sizeof(clbuf), "%lld", (long long)s->resp_content_length);
        f[k++] = (struct h1_field){"content-length", 14, clbuf, (size_t)l};
    } else if (s->http_minor == 1) {
        f[k++] = (struct h1_field){"transfer-encoding", 17, "chunked", 7};
        c->resp_chunked = true;
    } else {
        c->keep_alive = false; /* the body ends when we close */
    }
    if (c->w->draining)
        c->keep_alive = false;
    if (tunnel)
        ; /* a switch of protocols: no keep-alive or close of ours */
    else if (!c->keep_alive)
        f[k++] = (struct h1_field){"connection", 10, "close", 5};
    else if (s->http_minor == 0)
        f[k++] = (struct h1_field){"connection", 10, "keep-alive", 10};

    char stackbuf[4096];
    ssize_t len = h1_write_response_head(stackbuf, sizeof(stackbuf), st, NULL, 1, f, k);
    if (len > (ssize_t)sizeof(stackbuf)) {
        struct evbuffer_iovec v;
        if (evbuffer_reserve_space(c->out, len, &v, 1) == 1) {
            len = h1_write_response_head(v.iov_base, (size_t)len, st, NULL, 1, f, k);
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
    if (len < 0) {
        /* A filter put an invalid field in: nothing was written yet. */
        log_error("%s: cannot write the response head (invalid header field)", c->client);
        s->reset = true;
        srv_kill(c);
        return;
    }
    srv_add_bytes(c, (size_t)len);
    if (tunnel) {
        c->state = SRV_TUNNEL;
        srv_timer_set(c, c->lc->cfg->tunnel_idle_timeout_ms);
        srv_post_process(c); /* bytes the client sent after its request are the first */
    } else if (eos || s->resp_no_body || bodyless_status) {
        c->resp_eos = true;
    }
    srv_schedule_flush(c);
}

static void srv_response_body(struct stream *s, struct evbuffer *body, bool eos)
{
    struct srv_conn *c = conn_of(s);
    if (c->resp_eos) {
        evbuffer_drain(body, evbuffer_get_length(body));
        return;
    }
    size_t len = evbuffer_get_length(body);
    if (len > 0) {
        if (c->state == SRV_TUNNEL)
            srv_timer_set(c, c->lc->cfg->tunnel_idle_timeout_ms);
        if (c->resp_chunked) {
            char hdr[H1_CHUNK_HEADER_MAX];
            size_t hl = h1_write_chunk_header(hdr, len);
            evbuffer_add(c->out, hdr, hl);
            evbuffer_add_buffer(c->out, body);
            evbuffer_add(c->out, "\r\n", 2);
            srv_add_bytes(c, hl + len + 2);
        } else {
            evbuffer_add_buffer(c->out, body);
            srv_add_bytes(c, len);
        }
    }
    if (eos) {
        if (c->resp_chunked) {
            evbuffer_add(c->out, "0\r\n\r\n", 5);
            srv_add_bytes(c, 5);
        }
        c->resp_eos = true;
    }
    if (evbuffer_get_length(c->out) > SRV_OUT_HIGH)
        c->out_blocked = true;
    srv_schedule_flush(c);
}

static void srv_response_trailers(struct stream *s)
{
    struct srv_conn *c = conn_of(s);
    if (c->resp_eos)
        return;
    if (c->resp_chunked) {
        uint32_t n = s->resp_trailers.n;
        struct h1_field f[SRV_MAX_TRAILERS];
        if (n > SRV_MAX_TRAILERS)
            n = SRV_MAX_TRAILERS;
        for (uint32_t i = 0; i < n; i++) {
            const struct stream_header *h = &s->resp_trailers.v[i];
            f[i] = (struct h1_field){h->name, h->name_len, h->value, h->value_len};
        }
        char buf[8192];
        ssize_t len = h1_write_last_chunk(buf, sizeof(buf), f, n);
        if (len < 0 || len > (ssize_t)sizeof(buf))
            len = h1_write_last_chunk(buf, sizeof(buf), NULL, 0);
        evbuffer_add(c->out, buf, (size_t)len);
        srv_add_bytes(c, (size_t)len);
    }
    c->resp_eos = true;
    srv_schedule_flush(c);
}

static void srv_resume_request(struct stream *s)
{
    struct srv_conn *c = conn_of(s);
    if (c->dead)
        return;
    srv_process(c);
}

static void srv_reset(struct stream *s)
{
    struct srv_conn *c = conn_of(s);
    srv_kill(c);
}

static size_t srv_backlog(struct stream *s)
{
    struct srv_conn *c = conn_of(s);
    return evbuffer_get_length(c->out);
}

static _Atomic uint64_t srv_conn_ids;

uint64_t srv_new_conn_id(void)
{
    return atomic_fetch_add_explicit(&srv_conn_ids, 1, memory_order_relaxed) + 1;
}

void srv_conn_info(int fd, uint64_t id, const struct srv_io_ops *io, void *io_ctx,
                   struct stream_conn_info *cache, bool *known, struct stream_conn_info *out)
{
    if (!*known) {
        struct sockaddr_storage sa;
        socklen_t len = sizeof(sa);
        memset(cache, 0, sizeof(*cache));
        cache->id = id;
        if (getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
            srv_format_addr((struct sockaddr *)&sa, cache->local, sizeof(cache->local));
        if (io != NULL && io->info != NULL)
            io->info(io_ctx, cache);
        *known = true;
    }
    *out = *cache;
}

static void srv_stream_conn_info(struct stream *s, struct stream_conn_info *out)
{
    struct srv_conn *c = conn_of(s);
    srv_conn_info(c->fd, c->id, c->io, c->io_ctx, &c->facts, &c->facts_known, out);
}

static const struct stream_downstream_ops srv_down_ops = {
    .response_headers = srv_response_headers,
    .response_body = srv_response_body,
    .response_trailers = srv_response_trailers,
    .resume_request = srv_resume_request,
    .reset = srv_reset,
    .backlog = srv_backlog,
    .conn_info = srv_stream_conn_info,
};

/* ---- request side ---- */

/* Switches a keep-alive connection to the worker's newest generation between requests. */
static void srv_maybe_new_gen(struct srv_conn *c)
{
    struct daemon_gen *g = c->w->gen;
    if (g == c->gen)
        return;
    const char *name = c->lc->cfg->name;
    for (size_t i = 0; i < g->n_listeners; i++) {
        const struct cfg_listener *l = g->listeners[i].cfg;
        if (strcmp(l->name, name) == 0 && l->address.sa_len == c->lc->cfg->address.sa_len &&
            memcmp(&l->address.sa, &c->lc->cfg->address.sa, l->address.sa_len) == 0) {
            uint32_t want = g->listeners[i].h1.max_headers ? g->listeners[i].h1.max_headers : 1;
            if (want > c->req.headers_cap) {
                /* The new generation allows more header fields than this array holds. */
                struct h1_header *h = realloc(c->hdrs, want * sizeof(*h));
                if (h == NULL)
                    break;
                c->hdrs = c->req.headers = h;
                c->req.headers_cap = want;
            }
            daemon_gen_unref(c->gen);
            c->gen = daemon_gen_ref(g);
            c->lc = &g->listeners[i];
            return;
        }
    }
    /* The listener is gone: serve this request on the old one, then close. */
    c->keep_alive = false;
    c->closing = true;
}

int srv_stream_request(struct stream *s, char *copy, const struct h1_request *r)
{
    s->method = copy + r->method.off;
    s->method_len = r->method.len;
    s->method_id = r->method_id;
    s->http_minor = r->version_minor;
    bool absolute = r->target_form == H1_TARGET_ABSOLUTE;
    if (absolute) {
        s->path = r->path.len ? copy + r->path.off : "/";
        s->path_len = r->path.len ? r->path.len : 1;
        s->authority = copy + r->authority.off;
        s->authority_len = r->authority.len;
    } else {
        s->path = copy + r->target.off;
        s->path_len = r->target.len;
        s->authority = copy + r->host.off;
        s->authority_len = r->host.len;
    }
    for (uint32_t i = 0; i < r->nheaders; i++) {
        const struct h1_header *h = &r->headers[i];
        /* Host is s->authority (:authority to plugins; the upstream's Host); for an
         * absolute-form target the target's authority replaces it (RFC 9112 §3.2.2). The
         * length is s->req_content_length. */
        if ((h->flags & H1_HF_HOP_BY_HOP) || h->id == H1_HDR_EXPECT ||
            h->id == H1_HDR_CONTENT_LENGTH || h->id == H1_HDR_HOST ||
            (h->name.len == 14 && h1_name_eq(copy + h->name.off, "http2-settings", 14)))
            continue;
        stream_header_name_lower(copy + h->name.off, h->name.len);
        if (stream_headers_add_ref(s, &s->req_headers, copy + h->name.off, h->name.len,
                                   copy + h->value.off, h->value.len) < 0)
            return -1;
    }
    return 0;
}

/* The protocols of Upgrade fields being joined (srv_upgrade_protocols). */
struct srv_protocols {
    char *out;
    size_t n;
};

/* h1_list_walk callback: one protocol of an Upgrade list, h2c (ours) and empties left out. */
static bool srv_protocol_add(void *ctx, const unsigned char *el, uint32_t len)
{
    struct srv_protocols *p = ctx;
    if (len == 0 || (len == 3 && h1_name_eq((const char *)el, "h2c", 3)))
        return true;
    if (p->n > 0) {
        memcpy(p->out + p->n, ", ", 2);
        p->n += 2;
    }
    memcpy(p->out + p->n, el, len);
    p->n += len;
    return true;
}

/*
 * The protocols request r (its bytes at copy, in s's arena) asks to switch to: its Upgrade
 * list without h2c (waspd's own, taken before a stream exists when it can be), into *len.
 * Only HTTP/1.1 requests without a body that list "upgrade" in Connection may switch.
 * @return the list in s's arena, or NULL when there is none to forward.
 */
static const char *srv_upgrade_protocols(struct stream *s, const char *copy,
                                         const struct h1_request *r, uint32_t *len)
{
    if (!(r->flags & H1_F_UPGRADE) || r->version_minor != 1 || r->body_kind != H1_BODY_NONE ||
        r->method_id == H1_METHOD_CONNECT)
        return NULL;
    size_t cap = 0;
    for (uint32_t i = 0; i < r->nheaders; i++)
        if (r->headers[i].id == H1_HDR_UPGRADE)
            cap += r->headers[i].value.len + 2;
    struct srv_protocols p = {.out = stream_alloc(s, cap + 1)};
    if (p.out == NULL)
        return NULL;
    for (uint32_t i = 0; i < r->nheaders; i++)
        if (r->headers[i].id == H1_HDR_UPGRADE)
            h1_list_walk((const unsigned char *)copy + r->headers[i].value.off,
                         r->headers[i].value.len, srv_protocol_add, &p);
    p.out[p.n] = '\0';
    *len = (uint32_t)p.n;
    return p.n > 0 ? p.out : NULL;
}

/* Creates the stream for a parsed head at buf[0..len). @return false when answered. */
static bool srv_start_stream(struct srv_conn *c, const char *buf, size_t len)
{
    struct h1_request *r = &c->req;
    struct stream *s = stream_create(c->w->base, c->lc->chain, &c->lc->stream);
    if (s == NULL) {
        srv_error_reply(c, 500, "out of memory");
        return false;
    }
    char *copy = stream_alloc(s, len);
    if (copy == NULL) {
        stream_destroy(s);
        srv_error_reply(c, 500, "out of memory");
        return false;
    }
    memcpy(copy, buf, len);
    c->s = s;
    s->down = &srv_down_ops;
    s->down_ctx = c;
    s->up = &up_router_ops;
    s->route_ctx = c->lc;
    s->worker = c->w;
    s->alog = &c->w->alog;
    s->start_usec = stream_loop_usec(c->w->base);
    if (c->io != NULL)
        s->scheme = c->io->scheme;
    memcpy(s->client, c->client, sizeof(s->client));
    if (srv_stream_request(s, copy, r) < 0) {
        c->s = NULL;
        stream_destroy(s);
        srv_error_reply(c, 500, "out of memory");
        return false;
    }
    s->req_content_length = r->body_kind == H1_BODY_LENGTH    ? (int64_t)r->content_length
                            : r->body_kind == H1_BODY_CHUNKED ? -1
                                                              : 0;
    c->keep_alive = (r->flags & H1_F_KEEP_ALIVE) != 0;
    h1_body_init(&c->bodyp, r->body_kind, r->content_length, &c->lc->h1, c->trailers,
                 SRV_MAX_TRAILERS);
    bool no_body = r->body_kind == H1_BODY_NONE;
    c->state = no_body ? SRV_DONE : SRV_BODY;
    c->head_timer = false;
    srv_timer_set(c, no_body ? 0 : c->lc->cfg->body_timeout_ms);
    bool expect = (r->flags & H1_F_EXPECT_CONTINUE) && !no_body;
    /* An upgrade keeps the request open: after a 101 its body is the tunnel. */
    s->upgrade = srv_upgrade_protocols(s, copy, r, &s->upgrade_len);
    stream_request_headers(s, no_body && s->upgrade == NULL);
    if (expect && !s->local_reply && !c->dead) {
        /* Only when the body is wanted: a local reply goes out without it. */
        evbuffer_add(c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        srv_schedule_flush(c);
    }
    return true;
}

/* Hands decoded body bytes and the end of the body to the stream. */
static void srv_body_done(struct srv_conn *c, const char *tbuf)
{
    struct stream *s = c->s;
    c->state = SRV_DONE;
    srv_timer_set(c, 0);
    if (c->bodyp.ntrailers > 0) {
        for (uint32_t i = 0; i < c->bodyp.ntrailers; i++) {
            const struct h1_header *h = &c->trailers[i];
            if (h->flags & H1_HF_HOP_BY_HOP)
                continue;
            stream_headers_add(s, &s->req_trailers, tbuf + h->name.off, h->name.len,
                               tbuf + h->value.off, h->value.len);
        }
        if (evbuffer_get_length(c->body) > 0)
            stream_request_body(s, c->body, false);
        stream_request_trailers(s);
    } else {
        stream_request_body(s, c->body, true);
    }
}

/* Decodes as much request body as the stream takes now. @return true if it finished. */
static bool srv_read_body(struct srv_conn *c)
{
    struct h1_body *b = &c->bodyp;
    bool progress = false;
    while (c->state == SRV_BODY && !c->dead) {
        if (!stream_request_writable(c->s))
            break;
        size_t avail = evbuffer_get_length(c->in);
        if (avail == 0)
            break;
        if (b->kind == H1_BODY_LENGTH) {
            size_t take = avail < b->remaining ? avail : (size_t)b->remaining;
            evbuffer_remove_buffer(c->in, c->body, take);
            b->remaining -= take;
            b->total += take;
            progress = true;
            if (b->remaining == 0) {
                b->done = true;
                srv_body_done(c, NULL);
                return true;
            }
            stream_request_body(c->s, c->body, false);
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
            break;
        }
        if (n == H1_ERROR) {
            log_info("%s: %d bad request body: %s%s", c->client, b->status,
                     b->reason != NULL ? b->reason : "malformed",
                     c->s->resp_started ? " (mid-response: connection closed)" : "");
            if (c->s->resp_started) {
                srv_kill(c);
            } else {
                c->s->status = b->status;
                c->closing = true;
                stream_local_reply(c->s, b->status, "text/plain", "bad request body\n", 17);
                c->state = SRV_DONE;
            }
            return false;
        }
        progress = true;
        if (span.len > 0) {
            evbuffer_drain(c->in, span.off);
            evbuffer_remove_buffer(c->in, c->body, span.len);
            if (b->done) {
                /* Trailers point into v: hand them over before draining the rest. */
                srv_body_done(c, (const char *)v.iov_base);
                evbuffer_drain(c->in, (size_t)n - span.off - span.len);
                return true;
            }
            evbuffer_drain(c->in, (size_t)n - span.off - span.len);
            stream_request_body(c->s, c->body, false);
        } else {
            if (b->done) {
                srv_body_done(c, (const char *)v.iov_base);
                evbuffer_drain(c->in, (size_t)n);
                return true;
            }
            evbuffer_drain(c->in, (size_t)n);
        }
    }
    if (progress && c->state == SRV_BODY)
        srv_timer_set(c, c->lc->cfg->body_timeout_ms);
    return false;
}

/* Parses heads and bodies while there is input and nothing blocks. */
static void srv_process(struct srv_conn *c)
{
    while (!c->dead) {
        if (c->state == SRV_HEAD) {
            if (c->s != NULL || c->closing)
                break; /* a response is still going out: pipelined input waits */
            size_t avail = evbuffer_get_length(c->in);
            if (avail == 0) {
                if (c->eof) {
                    srv_kill(c);
                    return;
                }
                c->head_timer = false;
                srv_timer_set(c, c->lc->cfg->idle_timeout_ms);
                break;
            }
            if (!c->served && c->io == NULL) {
                /* HTTP/2 with prior knowledge: the client preface instead of a request. */
                int p = h2_preface_match(c->in);
                if (p == 0) {
                    if (c->eof) {
                        srv_kill(c);
                        return;
                    }
                    break; /* a prefix of the preface: wait for more */
                }
                if (p > 0) {
                    h2_conn_new(c->w, c->fd, c->client, c->gen, (size_t)(c->lc - c->gen->listeners),
                                NULL, NULL, c->in);
                    c->handed_off = true;
                    srv_kill(c);
                    return;
                }
            }
            if (!c->head_timer) {
                srv_maybe_new_gen(c);
                h1_parser_init(&c->parser, &c->lc->h1);
                c->req.nheaders = 0;
                c->head_timer = true;
                srv_timer_set(c, c->lc->cfg->header_timeout_ms);
            }
            size_t want = avail;
            size_t lim = (size_t)c->lc->h1.max_head_bytes + H1_MAX_LEADING_CRLF * 2 + 1;
            if (want > lim)
                want = lim;
            const char *buf = (const char *)evbuffer_pullup(c->in, (ev_ssize_t)want);
            ssize_t n = h1_parse_request(&c->parser, buf, want, &c->req);
            if (n == H1_AGAIN) {
                if (c->eof) {
                    srv_kill(c);
                    return;
                }
                break;
            }
            if (n == H1_ERROR) {
                srv_error_reply(c, c->parser.status, c->parser.reason);
                break;
            }
            if (!c->served && c->io == NULL && h2_upgrade_wanted(buf, &c->req)) {
                /* Upgrade: h2c on the first request: HTTP/2 from here on. */
                h2_conn_upgrade(c->w, c->fd, c->client, c->gen, (size_t)(c->lc - c->gen->listeners),
                                buf, &c->req, c->in);
                c->handed_off = true;
                srv_kill(c);
                return;
            }
            c->served = true;
            if (c->req.method_id == H1_METHOD_CONNECT) {
                evbuffer_drain(c->in, (size_t)n);
                srv_error_reply(c, 405, "CONNECT is not supported");
                break;
            }
            bool ok = srv_start_stream(c, buf, (size_t)n);
            evbuffer_drain(c->in, (size_t)n);
            if (!ok)
                break;
            continue;
        }
        if (c->state == SRV_TUNNEL) {
            srv_tunnel_read(c);
            break;
        }
        if (c->state == SRV_BODY) {
            if (!srv_read_body(c)) {
                if (c->state == SRV_BODY && c->eof && evbuffer_get_length(c->in) == 0 && !c->dead) {
                    /* Truncated body: nothing sensible can follow. */
                    log_info("%s: the client closed the connection mid-body (%llu bytes of "
                             "it came): request reset",
                             c->client, (unsigned long long)c->bodyp.total);
                    if (c->s != NULL)
                        c->s->reset = true;
                    srv_kill(c);
                    return;
                }
                break;
            }
            continue;
        }
        if (c->state == SRV_DONE && c->s != NULL && c->s->upgrade == NULL && c->eof &&
            evbuffer_get_length(c->in) == 0) {
            /* The client went away while its request is served (waiting for the
             * upstream, paused by a plugin, mid-response): as nginx (499) and Envoy do,
             * the stream ends now, so the upstream exchange is aborted and the filters
             * (plugins: on_done, on_log, their callouts cancelled) see its end. An
             * upgrade's half-close is the tunnel's (it goes upstream after the 101). */
            c->s->reset = true;
            srv_kill(c);
            return;
        }
        break;
    }
    if (!c->dead)
        srv_update_read(c);
}

/* Reads from the socket only while we can use the bytes (bounded buffering). */
static void srv_update_read(struct srv_conn *c)
{
    bool want;
    if (c->eof || c->dead)
        want = false;
    else if (c->state == SRV_LINGER)
        want = true;
    else if (c->state == SRV_BODY)
        want = evbuffer_get_length(c->in) < SRV_READ_CHUNK * 4 && stream_request_writable(c->s);
    else if (c->state == SRV_TUNNEL)
        want = !c->tunnel_in_done && c->s != NULL &&
               evbuffer_get_length(c->in) < SRV_READ_CHUNK * 4 && stream_request_writable(c->s);
    else
        want = evbuffer_get_length(c->in) < SRV_PIPELINE_MAX;
    if (want && !c->reading) {
        event_add(&c->rev, NULL);
        c->reading = true;
    } else if (!want && c->reading) {
        event_del(&c->rev);
        c->reading = false;
    }
}

static void srv_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct srv_conn *c = arg;
    if (c->state == SRV_LINGER) {
        char junk[4096];
        ssize_t r = read(fd, junk, sizeof(junk));
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            srv_free(c);
        return;
    }
    ssize_t r = c->io != NULL ? c->io->read(c->io_ctx, c->in, SRV_READ_CHUNK)
                              : srv_read_fd(c->in, fd, SRV_READ_CHUNK);
    if (r == 0) {
        c->eof = true;
    } else if (r < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        if (c->s != NULL)
            c->s->reset = true;
        srv_free(c);
        return;
    }
    srv_process(c);
    if (c->dead)
        srv_free(c);
}

static void srv_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct srv_conn *c = arg;
    if (srv_timer_early(c))
        return;
    c->deadline = 0;
    switch (c->state) {
    case SRV_HEAD:
        if (c->head_timer && evbuffer_get_length(c->in) > 0) {
            srv_error_reply(c, 408, "request head timeout");
            return;
        }
        log_debug("%s: idle keep-alive connection closed", c->client);
        srv_free(c);
        return;
    case SRV_BODY:
        log_info("%s: request body timeout: no byte for %llu ms%s", c->client,
                 (unsigned long long)c->lc->cfg->body_timeout_ms,
                 c->s != NULL && !c->s->resp_started && !c->s->local_reply ? " (408)"
                                                                           : ", connection closed");
        if (c->s != NULL && !c->s->resp_started && !c->s->local_reply) {
            c->closing = true;
            c->keep_alive = false;
            c->state = SRV_DONE;
            static const char msg[] = "request body timeout\n";
            stream_local_reply(c->s, 408, "text/plain", msg, sizeof(msg) - 1);
            return;
        }
        srv_free(c);
        return;
    case SRV_TUNNEL:
        log_info("%s: tunnel idle for %llu ms, closing", c->client,
                 (unsigned long long)c->lc->cfg->tunnel_idle_timeout_ms);
        if (c->s != NULL)
            c->s->reset = true;
        srv_free(c);
        return;
    default:
        srv_free(c);
        return;
    }
}

void srv_conn_new(struct worker *w, int fd, const struct sockaddr *peer, socklen_t peer_len,
                  struct daemon_gen *gen, size_t listener_index)
{
    char client[64];
    srv_format_addr(peer, client, sizeof(client));
    (void)peer_len;
    const struct cfg_listener *l = gen->listeners[listener_index].cfg;
    if (l->protocol == CFG_LISTENER_HTTPS) {
        tls_conn_new(w, fd, client, gen, listener_index);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    srv_conn_new_io(w, fd, client, gen, listener_index, NULL, NULL, NULL);
}

void srv_conn_new_io(struct worker *w, int fd, const char *client, struct daemon_gen *gen,
                     size_t listener_index, const struct srv_io_ops *io, void *io_ctx,
                     struct evbuffer *pre)
{
    struct srv_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        if (io != NULL)
            io->free(io_ctx);
        close(fd);
        return;
    }
    c->io = io;
    c->io_ctx = io_ctx;
    c->w = w;
    c->fd = fd;
    c->id = srv_new_conn_id();
    c->gen = daemon_gen_ref(gen);
    c->lc = &gen->listeners[listener_index];
    c->in = evbuffer_new();
    c->out = evbuffer_new();
    c->body = evbuffer_new();
    c->hdrs = calloc(c->lc->h1.max_headers ? c->lc->h1.max_headers : 1, sizeof(*c->hdrs));
    if (c->in == NULL || c->out == NULL || c->body == NULL || c->hdrs == NULL) {
        if (c->in)
            evbuffer_free(c->in);
        if (c->out)
            evbuffer_free(c->out);
        if (c->body)
            evbuffer_free(c->body);
        free(c->hdrs);
        daemon_gen_unref(c->gen);
        free(c);
        if (io != NULL)
            io->free(io_ctx);
        close(fd);
        return;
    }
    c->req.headers = c->hdrs;
    c->req.headers_cap = c->lc->h1.max_headers;
    snprintf(c->client, sizeof(c->client), "%s", client);
    event_assign(&c->rev, w->base, fd, EV_READ | EV_PERSIST, srv_read_cb, c);
    event_assign(&c->wev, w->base, fd, EV_WRITE, srv_write_cb, c);
    evtimer_assign(&c->timer, w->base, srv_timer_cb, c);
    event_assign(&c->post_ev, w->base, -1, 0, srv_post_cb, c);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->n_conns++;
    c->state = SRV_HEAD;
    srv_timer_set(c, c->lc->cfg->header_timeout_ms);
    c->reading = true;
    event_add(&c->rev, NULL);
    if (pre != NULL && evbuffer_get_length(pre) > 0) {
        evbuffer_add_buffer(c->in, pre);
        srv_process(c);
    }
}

void srv_drain_all(struct worker *w)
{
    h2_drain_all(w);
    tls_drain_all(w);
    struct srv_conn *c = w->conns;
    while (c != NULL) {
        struct srv_conn *next = c->next;
        c->keep_alive = false;
        if (c->s == NULL && c->state == SRV_HEAD && evbuffer_get_length(c->in) == 0)
            srv_free(c);
        c = next;
    }
}

void srv_close_all(struct worker *w)
{
    h2_close_all(w);
    tls_close_all(w);
    while (w->conns != NULL)
        srv_free(w->conns);
}
