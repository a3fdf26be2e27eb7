/*
 * h2.c - the HTTP/2 server connection (see h2.h).
 *
 * Every nghttp2 receive happens in the read callback and every send in the connection's
 * own post event (or the write event), never while the filter-chain runner is on the
 * stack: the stream's downstream hooks only submit frames, resume data and schedule a
 * flush. Streams are destroyed in nghttp2's stream-close callback, which therefore also
 * runs outside the runner.
 */
#include "http2/h2.h"

#include "config/config.h"
#include "daemon/worker.h"
#include "http1/h1.h"
#include "log/log.h"
#include "server/server.h"
#include "stream/stream.h"
#include "upstream/upstream.h"

#include <errno.h>
#include <event2/buffer.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#define H2_READ_CHUNK (64 * 1024)
/* Framed output held before nghttp2 is asked to stop producing / reads stop. */
#define H2_OUT_HIGH (128 * 1024)
/* Per stream: response body held before the upstream stops reading, and resumes. */
#define H2_RESP_HIGH (256 * 1024)
#define H2_RESP_LOW (64 * 1024)
#define H2_STREAM_WINDOW (256 * 1024)
#define H2_CONN_WINDOW (16 * 1024 * 1024)
#define H2_FLUSH_ROUNDS 16
#define H2_CLOSE_LINGER_MS 1000
/* Request body still read (and dropped) after a complete answer before RST_STREAM. */
#define H2_DISCARD_MAX (1024 * 1024)

struct h2_stream;

#define H2_RST_NOTES 8
struct h2_rst_note {
    int32_t id;
    enum log_level level;
    char why[160];
};

struct h2_conn {
    struct worker *w;
    uint64_t id; /* connection.id */
    struct h2_conn *prev, *next;
    struct daemon_gen *gen;
    const struct worker_listener_conf *lc;
    int fd;
    const struct srv_io_ops *io;
    void *io_ctx;
    nghttp2_session *ng;
    struct evbuffer *in, *out, *scratch;
    struct event rev, wev, timer, post_ev;
    struct h2_guard guard;
    struct h2_guard_limits limits;
    struct h2_history hist; /* what became of the client's streams (RFC 9113 §5.1) */
    uint32_t to_feed;       /* bytes nghttp2 gets before the next frame header */
    unsigned n_streams;
    unsigned n_tunnels;        /* streams switched to a tunnel (extended CONNECT) */
    struct h2_stream *drained; /* streams whose upstream may read again */
    struct h2_stream *streams; /* every open stream */
    /* closing: no new streams, close when the last ends; fatal: GOAWAY with an error,
     * read nothing more */
    bool reading, writing, dead, post_flush, closing, fatal, goaway, in_send;
    /* Upgrade: h2c: only the 101 goes out until the client's preface came (some
     * clients cannot buffer much HTTP/2 data behind the 101) */
    bool upgrade_wait;
    /* The connection's one error-log line, written when it closes: the first reason
     * given wins (h2_close_reason). */
    bool close_why_set;
    bool facts_known; /* facts is filled (srv_conn_info) */
    struct stream_conn_info facts;
    enum log_level close_level;
    char close_why[200];
    /* Why the RST_STREAM frames queued and not sent yet are sent: each is logged as it
     * goes out (h2_frame_send_cb), so a stream reset is one line. */
    struct h2_rst_note rst_notes[H2_RST_NOTES];
    unsigned n_rst_notes;
    char lib_err[200]; /* nghttp2's last error message, for the invalid frame it is about */
    struct h2_frame_hd last_hd; /* the last client frame header, for errors nghttp2 gives
                                   no reason for */
    char client[64];
};

struct h2_stream {
    struct h2_conn *c;
    struct daemon_gen *gen; /* what the stream runs with (the connection may move on) */
    int32_t id;
    struct stream *s;
    struct h2_req_check chk;
    struct evbuffer *resp; /* response body not framed yet */
    size_t unconsumed;     /* request DATA bytes not acknowledged yet */
    uint64_t body_total;   /* request DATA bytes received */
    uint64_t discarded;    /* request DATA bytes dropped after the answer */
    size_t hdr_bytes;
    uint32_t nfields;
    char status[4];
    bool bad;            /* the head was rejected: ignore the rest */
    bool too_large;      /* the request head passed the listener's limits: 431 */
    bool started;        /* the request head went into the stream */
    bool req_eos;        /* the client finished its side */
    bool resp_submitted; /* response HEADERS submitted */
    bool resp_eos;       /* the response body is complete in resp */
    bool resp_trailers;  /* trailers follow the body */
    bool resp_done;      /* END_STREAM of the response queued */
    bool deferred;       /* the data provider is deferred */
    bool blocked;        /* the upstream was told to stop reading */
    bool on_drained;
    bool tunnel; /* counted in n_tunnels */
    struct h2_stream *drained_next;
    struct h2_stream *prev, *next; /* the connection's streams */
};

static __thread struct h2_conn *h2_conns;

/* The RFC 9113 §7 name of an error code, for the logs. */
static const char *h2_code_name(uint32_t code)
{
    static const char *const names[] = {"NO_ERROR",
                                        "PROTOCOL_ERROR",
                                        "INTERNAL_ERROR",
                                        "FLOW_CONTROL_ERROR",
                                        "SETTINGS_TIMEOUT",
                                        "STREAM_CLOSED",
                                        "FRAME_SIZE_ERROR",
                                        "REFUSED_STREAM",
                                        "CANCEL",
                                        "COMPRESSION_ERROR",
                                        "CONNECT_ERROR",
                                        "ENHANCE_YOUR_CALM",
                                        "INADEQUATE_SECURITY",
                                        "HTTP_1_1_REQUIRED"};
    return code < sizeof(names) / sizeof(names[0]) ? names[code] : "UNKNOWN_ERROR";
}

static const char *h2_frame_name(uint8_t type)
{
    static const char *const names[] = {"DATA",          "HEADERS",      "PRIORITY", "RST_STREAM",
                                        "SETTINGS",      "PUSH_PROMISE", "PING",     "GOAWAY",
                                        "WINDOW_UPDATE", "CONTINUATION"};
    return type < sizeof(names) / sizeof(names[0]) ? names[type] : "unknown";
}

/* Formats into buf, with bytes that could forge a log line (controls, non-ASCII from a
 * client's header field) shown as '?'. */
static void h2_format(char *buf, size_t cap, const char *fmt, va_list ap)
{
    vsnprintf(buf, cap, fmt, ap);
    for (char *p = buf; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
}

/* Sets why the connection closes (the first reason wins): logged at lvl by h2_free. */
static void h2_close_reason(struct h2_conn *c, enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void h2_close_reason(struct h2_conn *c, enum log_level lvl, const char *fmt, ...)
{
    if (c->close_why_set)
        return;
    va_list ap;
    va_start(ap, fmt);
    h2_format(c->close_why, sizeof(c->close_why), fmt, ap);
    va_end(ap);
    c->close_level = lvl;
    c->close_why_set = true;
}

/* Notes why stream id is about to be reset: logged at lvl when the RST_STREAM goes out.
 * A second note for the same stream replaces the first; the oldest goes when full. */
static void h2_rst_note(struct h2_conn *c, int32_t id, enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void h2_rst_note(struct h2_conn *c, int32_t id, enum log_level lvl, const char *fmt, ...)
{
    struct h2_rst_note *n = NULL;
    for (unsigned i = 0; i < c->n_rst_notes && n == NULL; i++)
        if (c->rst_notes[i].id == id)
            n = &c->rst_notes[i];
    if (n == NULL) {
        if (c->n_rst_notes == H2_RST_NOTES) {
            memmove(c->rst_notes, c->rst_notes + 1, sizeof(c->rst_notes[0]) * (H2_RST_NOTES - 1));
            c->n_rst_notes--;
        }
        n = &c->rst_notes[c->n_rst_notes++];
    }
    n->id = id;
    n->level = lvl;
    va_list ap;
    va_start(ap, fmt);
    h2_format(n->why, sizeof(n->why), fmt, ap);
    va_end(ap);
}

/* The one line for a RST_STREAM we sent: with its note, or at debug level without. */
static void h2_log_rst(struct h2_conn *c, int32_t id, uint32_t code)
{
    for (unsigned i = 0; i < c->n_rst_notes; i++) {
        struct h2_rst_note *n = &c->rst_notes[i];
        if (n->id != id)
            continue;
        log_msg(n->level, "%s: h2: stream %d reset (%s): %s", c->client, id, h2_code_name(code),
                n->why);
        c->n_rst_notes--;
        memmove(n, n + 1, sizeof(*n) * (c->n_rst_notes - i));
        return;
    }
    /* nghttp2 resets a stream whose DATA contradicts its content-length without saying
     * so (no invalid-frame callback): that is the PROTOCOL_ERROR without a note. */
    struct h2_stream *hs = nghttp2_session_get_stream_user_data(c->ng, id);
    if (code == NGHTTP2_PROTOCOL_ERROR && hs != NULL && hs->started &&
        hs->s->req_content_length >= 0)
        log_info("%s: h2: stream %d reset (%s): malformed request: body length differs from "
                 "content-length %lld (%llu bytes came before)",
                 c->client, id, h2_code_name(code), (long long)hs->s->req_content_length,
                 (unsigned long long)hs->body_total);
    else if (code == NGHTTP2_PROTOCOL_ERROR)
        log_info("%s: h2: stream %d reset (%s): malformed request", c->client, id,
                 h2_code_name(code));
    else
        log_debug("%s: h2: stream %d reset (%s)", c->client, id, h2_code_name(code));
}

static void h2_flush(struct h2_conn *c);
static void h2_update_read(struct h2_conn *c);
static void h2_update_timer(struct h2_conn *c);

/* ---- connection plumbing ---- */

static void h2_post(struct h2_conn *c)
{
    if (!event_pending(&c->post_ev, EV_TIMEOUT, NULL))
        event_active(&c->post_ev, EV_TIMEOUT, 0);
}

static void h2_schedule_flush(struct h2_conn *c)
{
    c->post_flush = true;
    h2_post(c);
}

static void h2_kill(struct h2_conn *c)
{
    c->dead = true;
    h2_post(c);
}

static void h2_free(struct h2_conn *c)
{
    struct worker *w = c->w;
    if (c->close_why_set)
        log_msg(c->close_level, "%s: h2: connection closed: %s", c->client, c->close_why);
    else
        log_debug("%s: h2: connection closed", c->client);
    /* nghttp2_session_del does not call the close callback: end the streams here. */
    if (c->ng != NULL) {
        nghttp2_session *ng = c->ng;
        while (c->streams != NULL) {
            struct h2_stream *hs = c->streams;
            c->streams = hs->next;
            nghttp2_session_set_stream_user_data(ng, hs->id, NULL);
            if (hs->s->status == 0)
                hs->s->status = 499;
            hs->s->reset = true;
            stream_destroy(hs->s);
            daemon_gen_unref(hs->gen);
            evbuffer_free(hs->resp);
            free(hs);
        }
        nghttp2_session_del(ng);
        c->ng = NULL;
    }
    event_del(&c->rev);
    event_del(&c->wev);
    event_del(&c->timer);
    event_del(&c->post_ev);
    if (c->io != NULL)
        c->io->free(c->io_ctx);
    close(c->fd);
    evbuffer_free(c->in);
    evbuffer_free(c->out);
    evbuffer_free(c->scratch);
    if (c->prev)
        c->prev->next = c->next;
    else
        h2_conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    daemon_gen_unref(c->gen);
    free(c);
    worker_conn_closed(w);
}

static int h2_write_out(struct h2_conn *c)
{
    if (evbuffer_get_length(c->out) == 0)
        return 0;
    ssize_t n = c->io != NULL ? c->io->write(c->io_ctx, c->out) : srv_write_fd(c->out, c->fd);
    if (n < 0 && errno != EAGAIN && errno != EINTR)
        return -1;
    return 0;
}

/* Tells the upstream of every drained stream to read again (outside nghttp2 calls). */
static void h2_run_drained(struct h2_conn *c)
{
    while (c->drained != NULL) {
        struct h2_stream *hs = c->drained;
        c->drained = hs->drained_next;
        hs->on_drained = false;
        hs->blocked = false;
        stream_response_drained(hs->s);
    }
}

/* Produces frames and writes them; arms the write event when the socket is full. */
static void h2_flush(struct h2_conn *c)
{
    h2_update_timer(c); /* activity: a read, a write or upstream data */
    for (int round = 0; round < H2_FLUSH_ROUNDS && !c->dead; round++) {
        if (evbuffer_get_length(c->out) < H2_OUT_HIGH && !c->upgrade_wait &&
            nghttp2_session_want_write(c->ng)) {
            c->in_send = true;
            int rv = nghttp2_session_send(c->ng);
            c->in_send = false;
            if (rv != 0) {
                h2_close_reason(c, LOG_LVL_INFO, "send: %s", nghttp2_strerror(rv));
                h2_kill(c);
                return;
            }
        }
        h2_run_drained(c);
        if (h2_write_out(c) < 0) {
            h2_close_reason(c, LOG_LVL_DEBUG, "write: %s", strerror(errno));
            h2_kill(c);
            return;
        }
        if (evbuffer_get_length(c->out) > 0) {
            if (!c->writing) {
                event_add(&c->wev, NULL);
                c->writing = true;
            }
            h2_update_read(c);
            return;
        }
        if (!nghttp2_session_want_write(c->ng))
            break;
    }
    if (c->writing && evbuffer_get_length(c->out) == 0) {
        event_del(&c->wev);
        c->writing = false;
    }
    if (nghttp2_session_want_write(c->ng) && evbuffer_get_length(c->out) == 0 && !c->upgrade_wait) {
        h2_schedule_flush(c); /* more to do: next loop turn */
        return;
    }
    if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng) &&
        evbuffer_get_length(c->out) == 0) {
        h2_close_reason(c, LOG_LVL_DEBUG, "GOAWAY exchanged, no stream left");
        h2_kill(c);
        return;
    }
    if (c->closing && c->n_streams == 0 && evbuffer_get_length(c->out) == 0) {
        h2_close_reason(c, LOG_LVL_DEBUG, "GOAWAY sent, no stream left");
        h2_kill(c);
        return;
    }
    h2_update_read(c);
    h2_update_timer(c);
}

static void h2_post_cb(evutil_socket_t fd, short what, void *arg)
{
    struct h2_conn *c = arg;
    (void)fd;
    (void)what;
    if (!c->dead && c->post_flush) {
        c->post_flush = false;
        h2_flush(c);
    }
    if (c->dead)
        h2_free(c);
}

static void h2_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct h2_conn *c = arg;
    (void)fd;
    (void)what;
    c->writing = false;
    h2_flush(c);
    if (c->dead)
        h2_free(c);
}

static void h2_update_read(struct h2_conn *c)
{
    bool want = !c->dead && !c->fatal && evbuffer_get_length(c->out) < H2_OUT_HIGH &&
                nghttp2_session_want_read(c->ng);
    if (want && !c->reading) {
        event_add(&c->rev, NULL);
        c->reading = true;
    } else if (!want && c->reading) {
        event_del(&c->rev);
        c->reading = false;
    }
}

/* Re-armed on every read and flush: without streams the idle timeout (then GOAWAY), with
 * streams the body timeout (no byte either way for that long: GOAWAY, then close), and a
 * short linger once closing. */
static void h2_update_timer(struct h2_conn *c)
{
    uint64_t ms;
    if (c->n_tunnels > 0)
        ms = c->lc->cfg->tunnel_idle_timeout_ms;
    else if (c->n_streams > 0)
        ms = c->lc->cfg->body_timeout_ms;
    else
        ms = c->closing ? H2_CLOSE_LINGER_MS : c->lc->cfg->idle_timeout_ms;
    if (ms == 0) {
        evtimer_del(&c->timer);
        return;
    }
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(&c->timer, &tv);
}

/* Sends GOAWAY with code and stops taking new streams; the connection closes once the
 * streams below the last id finished. */
static void h2_goaway(struct h2_conn *c, uint32_t code)
{
    if (c->goaway)
        return;
    c->goaway = true;
    if (code == NGHTTP2_NO_ERROR) {
        nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(c->ng), code, NULL, 0);
        c->closing = true;
    } else {
        nghttp2_session_terminate_session(c->ng, code);
        c->closing = true;
        c->fatal = true;
    }
    h2_schedule_flush(c);
}

/*
 * A connection error (RFC 9113 §5.4.1): GOAWAY with code, nothing more is read, the
 * connection closes once the GOAWAY is out. The one log line for it says why.
 * @return NGHTTP2_ERR_CALLBACK_FAILURE, for nghttp2 callbacks to return.
 */
static int h2_conn_error(struct h2_conn *c, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int h2_conn_error(struct h2_conn *c, uint32_t code, const char *fmt, ...)
{
    if (!c->close_why_set) {
        char why[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        h2_close_reason(c, LOG_LVL_INFO, "connection error %s: %s", h2_code_name(code), why);
    }
    nghttp2_session_terminate_session(c->ng, code);
    c->goaway = true;
    c->closing = true;
    c->fatal = true;
    h2_schedule_flush(c);
    return NGHTTP2_ERR_CALLBACK_FAILURE;
}

static void h2_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct h2_conn *c = arg;
    (void)fd;
    (void)what;
    if (c->closing) {
        h2_close_reason(c, LOG_LVL_DEBUG, "no answer to our GOAWAY");
        h2_free(c);
        return;
    }
    if (c->n_streams > 0)
        h2_close_reason(c, LOG_LVL_INFO, "timeout: %u stream(s) made no progress for %llu ms",
                        c->n_streams, (unsigned long long)c->lc->cfg->body_timeout_ms);
    else
        h2_close_reason(c, LOG_LVL_DEBUG, "idle for %llu ms",
                        (unsigned long long)c->lc->cfg->idle_timeout_ms);
    h2_goaway(c, NGHTTP2_NO_ERROR);
}

static void h2_read_cb(evutil_socket_t fd, short what, void *arg);

/* Is stream id alive in nghttp2 (open or half-closed)? */
static bool h2_stream_live(struct h2_conn *c, int32_t id)
{
    nghttp2_stream *st = id > 0 ? nghttp2_session_find_stream(c->ng, id) : NULL;
    return st != NULL && nghttp2_stream_get_state(st) != NGHTTP2_STREAM_STATE_CLOSED &&
           nghttp2_stream_get_state(st) != NGHTTP2_STREAM_STATE_IDLE;
}

/* Stream error (RFC 9113 §5.4.2) for a stream nghttp2 would not reset itself. */
static void h2_stream_error(struct h2_conn *c, int32_t id, uint32_t code, const char *why)
{
    h2_rst_note(c, id, LOG_LVL_INFO, "%s", why);
    nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, id, code);
    h2_history_set(&c->hist, id, H2_SID_SERVER_RESET);
    h2_schedule_flush(c);
}

/* Gives nghttp2 len bytes of `in`. @return false when it failed (the connection ends). */
static bool h2_feed(struct h2_conn *c, size_t len)
{
    while (len > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(c->in, (ev_ssize_t)len, NULL, &v, 1) < 1)
            return true;
        size_t n = v.iov_len < len ? v.iov_len : len;
        ssize_t rv = nghttp2_session_mem_recv(c->ng, v.iov_base, n);
        if (rv < 0) {
            evbuffer_drain(c->in, evbuffer_get_length(c->in));
            if (rv == NGHTTP2_ERR_NOMEM) {
                h2_close_reason(c, LOG_LVL_ERROR, "out of memory");
                c->dead = true;
            } else if (rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
                h2_conn_error(c, NGHTTP2_PROTOCOL_ERROR, "bad connection preface");
            } else if (rv == NGHTTP2_ERR_FLOODED) {
                h2_conn_error(c, NGHTTP2_ENHANCE_YOUR_CALM, "too many frames to answer queued");
            } else { /* a callback of ours failed and said why (c->fatal is set) */
                h2_conn_error(c, NGHTTP2_PROTOCOL_ERROR, "%s", nghttp2_strerror((int)rv));
            }
            return false;
        }
        evbuffer_drain(c->in, (size_t)rv);
        len -= (size_t)rv;
        if ((size_t)rv < n || c->fatal)
            return false;
    }
    return true;
}

/*
 * Feeds what `in` holds to nghttp2 one frame at a time, judging each frame header first
 * (h2_frame_verdict) with the state left by the frames before it, so that the answer to
 * a frame never depends on how the bytes arrived. @return false when the connection must
 * end now (c->dead); a connection error sets c->fatal and lets the GOAWAY go out.
 */
static bool h2_recv(struct h2_conn *c)
{
    while (evbuffer_get_length(c->in) > 0 && !c->dead && !c->fatal) {
        if (c->to_feed > 0) {
            size_t avail = evbuffer_get_length(c->in);
            size_t n = avail < c->to_feed ? avail : c->to_feed;
            c->to_feed -= (uint32_t)n;
            if (!h2_feed(c, n))
                break;
            continue;
        }
        if (evbuffer_get_length(c->in) < 9)
            break;
        const uint8_t *p = evbuffer_pullup(c->in, 9);
        size_t need = h2_frame_hd_need(p);
        if (evbuffer_get_length(c->in) < need)
            break;
        p = evbuffer_pullup(c->in, (ev_ssize_t)need);
        struct h2_frame_hd hd;
        h2_frame_hd_parse(p, &hd);
        c->last_hd = hd;
        if (hd.type == NGHTTP2_HEADERS && (hd.id & 1) && hd.id > c->hist.last)
            h2_history_open(&c->hist, hd.id);
        uint32_t code;
        const char *why;
        switch (h2_frame_verdict(&c->hist, &hd, h2_stream_live(c, hd.id), &code, &why)) {
        case H2_STREAM_ERROR:
            h2_stream_error(c, hd.id, code, why);
            break;
        case H2_CONN_ERROR:
            h2_conn_error(c, code, "stream %d: %s", hd.id, why);
            return true;
        default:
            break;
        }
        /* The header (with a PRIORITY frame's payload), then the rest as it comes. */
        c->to_feed = need == 14 ? 0 : hd.length;
        if (!h2_feed(c, need))
            break;
    }
    return !c->dead;
}

static void h2_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct h2_conn *c = arg;
    (void)what;
    ssize_t r = c->io != NULL ? c->io->read(c->io_ctx, c->in, H2_READ_CHUNK)
                              : srv_read_fd(c->in, fd, H2_READ_CHUNK);
    if (r == 0) {
        h2_close_reason(c, LOG_LVL_DEBUG, "the client closed the connection");
        h2_free(c);
        return;
    }
    if (r < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        h2_close_reason(c, LOG_LVL_DEBUG, "read: %s", strerror(errno));
        h2_free(c);
        return;
    }
    c->upgrade_wait = false;
    if (!h2_recv(c)) {
        h2_free(c);
        return;
    }
    h2_schedule_flush(c);
}

/* ---- the stream's downstream side ---- */

static struct h2_stream *hs_of(struct stream *s)
{
    return s->down_ctx;
}

static void h2_mark_drained(struct h2_stream *hs)
{
    if (hs->on_drained || !hs->blocked)
        return;
    hs->on_drained = true;
    hs->drained_next = hs->c->drained;
    hs->c->drained = hs;
}

static bool field_skipped(const char *n, size_t len)
{
    static const char *const drop[] = {
        "connection",     "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
        "content-length", "te",         "http2-settings"};
    for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
        if (strlen(drop[i]) == len && strncasecmp(drop[i], n, len) == 0)
            return true;
    return false;
}

/* A name as HTTP/2 wants it (lower case): the field's own if already, else a copy. */
static const char *lower_name(struct stream *s, const char *n, size_t len)
{
    size_t i = 0;
    while (i < len && !(n[i] >= 'A' && n[i] <= 'Z'))
        i++;
    if (i == len)
        return n;
    char *d = stream_alloc(s, len + 1);
    if (d == NULL)
        return NULL;
    for (i = 0; i < len; i++)
        d[i] = (n[i] >= 'A' && n[i] <= 'Z') ? (char)(n[i] + 32) : n[i];
    d[len] = '\0';
    return d;
}

/* Fills nva from headers (skipping connection-specific ones). @return count or -1. */
static ssize_t h2_fill_nva(struct stream *s, nghttp2_nv *nva, size_t cap,
                           const struct stream_headers *h, size_t k)
{
    for (uint32_t i = 0; i < h->n; i++) {
        const struct stream_header *f = &h->v[i];
        if (f->name_len == 0 || f->name[0] == ':' || field_skipped(f->name, f->name_len))
            continue;
        if (k >= cap)
            return -1;
        const char *name = lower_name(s, f->name, f->name_len);
        if (name == NULL)
            return -1;
        nva[k++] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)f->value, f->name_len, f->value_len,
                                NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
    }
    return (ssize_t)k;
}

/* Resets hs with code; why (at lvl) is the line logged when the RST_STREAM goes out. */
static void h2_rst(struct h2_stream *hs, uint32_t code, enum log_level lvl, const char *why)
{
    h2_rst_note(hs->c, hs->id, lvl, "%s", why);
    nghttp2_submit_rst_stream(hs->c->ng, NGHTTP2_FLAG_NONE, hs->id, code);
    hs->resp_done = true;
    h2_schedule_flush(hs->c);
}

static ssize_t h2_data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct h2_stream *hs = src->ptr;
    (void)ng;
    (void)id;
    (void)buf;
    (void)ud;
    size_t avail = evbuffer_get_length(hs->resp);
    size_t n = avail < length ? avail : length;
    if (n > 0)
        *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (n == avail && hs->resp_eos) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        hs->resp_done = true;
        if (hs->resp_trailers) {
            struct stream *s = hs->s;
            nghttp2_nv stackv[32];
            size_t cap = s->resp_trailers.n;
            nghttp2_nv *nva = cap <= 32 ? stackv : malloc(cap * sizeof(*nva));
            ssize_t k = nva ? h2_fill_nva(s, nva, cap, &s->resp_trailers, 0) : -1;
            if (k > 0 && nghttp2_submit_trailer(hs->c->ng, hs->id, nva, (size_t)k) == 0)
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            if (nva != stackv)
                free(nva);
        }
    } else if (n == 0) {
        hs->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

/* NO_COPY DATA: the frame header, then the body straight from the stream's buffer. */
static int h2_send_data(nghttp2_session *ng, nghttp2_frame *frame, const uint8_t *framehd,
                        size_t length, nghttp2_data_source *src, void *ud)
{
    struct h2_conn *c = ud;
    struct h2_stream *hs = src->ptr;
    (void)ng;
    if (evbuffer_get_length(c->out) >= H2_OUT_HIGH)
        return NGHTTP2_ERR_WOULDBLOCK;
    evbuffer_add(c->out, framehd, 9);
    size_t pad = frame->data.padlen;
    if (pad > 0) {
        uint8_t p = (uint8_t)(pad - 1);
        evbuffer_add(c->out, &p, 1);
    }
    evbuffer_remove_buffer(hs->resp, c->out, length);
    if (pad > 1) {
        static const uint8_t zeros[256];
        evbuffer_add(c->out, zeros, pad - 1);
    }
    hs->s->bytes_sent += length;
    if (hs->blocked && evbuffer_get_length(hs->resp) <= H2_RESP_LOW)
        h2_mark_drained(hs);
    return 0;
}

static void h2_response_headers(struct stream *s, bool eos)
{
    struct h2_stream *hs = hs_of(s);
    struct h2_conn *c = hs->c;
    if (hs->resp_done || hs->resp_submitted)
        return;
    int st = s->status;
    if (st == 101 && s->upgraded) {
        /* The upstream switched (HTTP/1.1 Upgrade): the extended CONNECT succeeded
         * (RFC 8441 §5); its HTTP/1.1 handshake answer means nothing here. */
        st = 200;
        stream_headers_remove(&s->resp_headers, "sec-websocket-accept", 20);
        if (!hs->tunnel) {
            hs->tunnel = true;
            c->n_tunnels++;
        }
    }
    if (st < 200 || st > 999) {
        h2_rst(hs, NGHTTP2_INTERNAL_ERROR, LOG_LVL_ERROR, "response status out of range");
        return;
    }
    snprintf(hs->status, sizeof(hs->status), "%03d", st);
    size_t cap = s->resp_headers.n + 2;
    nghttp2_nv stackv[64];
    nghttp2_nv *nva = cap <= 64 ? stackv : malloc(cap * sizeof(*nva));
    if (nva == NULL) {
        h2_rst(hs, NGHTTP2_INTERNAL_ERROR, LOG_LVL_ERROR, "out of memory");
        return;
    }
    nva[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)hs->status, 7, 3,
                          NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
    ssize_t k = h2_fill_nva(s, nva, cap, &s->resp_headers, 1);
    bool bodyless = st == 204 || st == 304;
    char clbuf[24];
    if (k >= 0 && s->resp_content_length >= 0 && st != 204 && (size_t)k < cap) {
        int l = snprintf(clbuf, sizeof(clbuf), "%lld", (long long)s->resp_content_length);
        nva[k++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)clbuf, 14, (size_t)l,
                                NGHTTP2_NV_FLAG_NO_COPY_NAME};
    }
    int rv = -1;
    if (k >= 0) {
        hs->resp_submitted = true;
        if (eos || s->resp_no_body || bodyless) {
            hs->resp_done = true;
            rv = nghttp2_submit_response(c->ng, hs->id, nva, (size_t)k, NULL);
        } else {
            nghttp2_data_provider prd = {.source.ptr = hs, .read_callback = h2_data_read};
            rv = nghttp2_submit_response(c->ng, hs->id, nva, (size_t)k, &prd);
        }
    }
    if (nva != stackv)
        free(nva);
    if (rv != 0) {
        h2_rst(hs, NGHTTP2_INTERNAL_ERROR, LOG_LVL_ERROR, "cannot submit the response head");
        return;
    }
    h2_schedule_flush(c);
}

static void h2_response_body(struct stream *s, struct evbuffer *body, bool eos)
{
    struct h2_stream *hs = hs_of(s);
    if (hs->resp_done || hs->resp_eos) {
        evbuffer_drain(body, evbuffer_get_length(body));
        return;
    }
    evbuffer_add_buffer(hs->resp, body);
    if (eos)
        hs->resp_eos = true;
    if (evbuffer_get_length(hs->resp) > H2_RESP_HIGH)
        hs->blocked = true;
    if (hs->deferred) {
        hs->deferred = false;
        nghttp2_session_resume_data(hs->c->ng, hs->id);
    }
    h2_schedule_flush(hs->c);
}

static void h2_response_trailers(struct stream *s)
{
    struct h2_stream *hs = hs_of(s);
    if (hs->resp_done || hs->resp_eos)
        return;
    hs->resp_eos = true;
    hs->resp_trailers = s->resp_trailers.n > 0;
    if (hs->deferred) {
        hs->deferred = false;
        nghttp2_session_resume_data(hs->c->ng, hs->id);
    }
    h2_schedule_flush(hs->c);
}

static void h2_resume_request(struct stream *s)
{
    struct h2_stream *hs = hs_of(s);
    if (hs->unconsumed == 0 || !stream_request_writable(s))
        return;
    nghttp2_session_consume_stream(hs->c->ng, hs->id, hs->unconsumed);
    hs->unconsumed = 0;
    h2_schedule_flush(hs->c);
}

static void h2_reset(struct stream *s)
{
    struct h2_stream *hs = hs_of(s);
    s->reset = true;
    /* Whoever reset the stream (upstream, request gate, plugin) logged why. */
    h2_rst(hs, NGHTTP2_INTERNAL_ERROR, LOG_LVL_DEBUG, "the proxy side cannot go on");
}

static size_t h2_backlog(struct stream *s)
{
    return evbuffer_get_length(hs_of(s)->resp);
}

static void h2_stream_conn_info(struct stream *s, struct stream_conn_info *out)
{
    struct h2_stream *hs = s->down_ctx;
    srv_conn_info(hs->c->fd, hs->c->id, hs->c->io, hs->c->io_ctx, &hs->c->facts,
                  &hs->c->facts_known, out);
}

static const struct stream_downstream_ops h2_down_ops = {
    .conn_info = h2_stream_conn_info,
    .response_headers = h2_response_headers,
    .response_body = h2_response_body,
    .response_trailers = h2_response_trailers,
    .resume_request = h2_resume_request,
    .reset = h2_reset,
    .backlog = h2_backlog,
};

/* ---- nghttp2 callbacks ---- */

static ssize_t h2_send_cb(nghttp2_session *ng, const uint8_t *data, size_t len, int flags, void *ud)
{
    struct h2_conn *c = ud;
    (void)ng;
    (void)flags;
    if (evbuffer_get_length(c->out) >= H2_OUT_HIGH)
        return NGHTTP2_ERR_WOULDBLOCK;
    evbuffer_add(c->out, data, len);
    return (ssize_t)len;
}

static int h2_begin_frame_cb(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *ud)
{
    struct h2_conn *c = ud;
    (void)ng;
    uint64_t now = stream_loop_usec(c->w->base) / 1000;
    int k = h2_guard_frame(&c->guard, &c->limits, now, hd->type, hd->flags, hd->length);
    if (k >= 0) {
        static const char *const names[H2G_N] = {"RST_STREAM",  "SETTINGS", "PING",
                                                 "empty DATA",  "PRIORITY", "WINDOW_UPDATE",
                                                 "CONTINUATION"};
        h2_close_reason(c, LOG_LVL_WARN, "%s flood (GOAWAY ENHANCE_YOUR_CALM)", names[k]);
        return h2_conn_error(c, NGHTTP2_ENHANCE_YOUR_CALM, "flood");
    }
    return 0;
}

/* True if the worker's current generation still has this connection's listener. */
static bool h2_listener_alive(struct h2_conn *c)
{
    struct daemon_gen *g = c->w->gen;
    if (g == c->gen)
        return true;
    const struct cfg_listener *me = c->lc->cfg;
    for (size_t i = 0; i < g->n_listeners; i++) {
        const struct cfg_listener *l = g->listeners[i].cfg;
        if (strcmp(l->name, me->name) == 0 && l->address.sa_len == me->address.sa_len &&
            memcmp(&l->address.sa, &me->address.sa, l->address.sa_len) == 0) {
            /* New streams use the new generation's listener. */
            daemon_gen_unref(c->gen);
            c->gen = daemon_gen_ref(g);
            c->lc = &g->listeners[i];
            return true;
        }
    }
    return false;
}

static struct h2_stream *h2_stream_open(struct h2_conn *c, int32_t id);

static int h2_begin_headers_cb(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    struct h2_conn *c = ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    if (c->closing)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (!h2_listener_alive(c)) {
        /* Reload removed the listener: finish what runs, take nothing new. */
        h2_close_reason(c, LOG_LVL_DEBUG, "its listener was removed by a reload");
        h2_goaway(c, NGHTTP2_NO_ERROR);
        h2_rst_note(c, frame->hd.stream_id, LOG_LVL_DEBUG, "its listener was removed by a reload");
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    return h2_stream_open(c, frame->hd.stream_id) != NULL ? 0
                                                          : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

/* A new stream (HTTP/2 stream id) on the connection's current listener configuration.
 * @return it, or NULL (out of memory). */
static struct h2_stream *h2_stream_open(struct h2_conn *c, int32_t id)
{
    nghttp2_session *ng = c->ng;
    struct h2_stream *hs = calloc(1, sizeof(*hs));
    if (hs == NULL)
        return NULL;
    hs->resp = evbuffer_new();
    struct stream *s = stream_create(c->w->base, c->lc->chain, &c->lc->stream);
    if (s == NULL || hs->resp == NULL) {
        if (hs->resp)
            evbuffer_free(hs->resp);
        free(hs);
        if (s != NULL)
            stream_destroy(s);
        return NULL;
    }
    hs->c = c;
    hs->gen = daemon_gen_ref(c->gen);
    hs->id = id;
    hs->s = s;
    s->down = &h2_down_ops;
    s->down_ctx = hs;
    s->up = &up_router_ops;
    s->route_ctx = c->lc;
    s->worker = c->w;
    s->alog = &c->w->alog;
    s->start_usec = stream_loop_usec(c->w->base);
    s->http_minor = 1; /* as far as HTTP/1.1 framing decisions go */
    s->http_major = 2; /* the access log */
    if (c->io != NULL)
        s->scheme = c->io->scheme;
    memcpy(s->client, c->client, sizeof(s->client));
    nghttp2_session_set_stream_user_data(ng, hs->id, hs);
    hs->next = c->streams;
    if (c->streams)
        c->streams->prev = hs;
    c->streams = hs;
    c->n_streams++;
    h2_update_timer(c);
    return hs;
}

static int h2_header_cb(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                        size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                        void *ud)
{
    struct h2_conn *c = ud;
    (void)flags;
    struct h2_stream *hs = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (hs == NULL || hs->bad)
        return 0;
    struct stream *s = hs->s;
    hs->hdr_bytes += namelen + valuelen + 32;
    hs->nfields++;
    if (hs->hdr_bytes > c->lc->cfg->max_header_size || hs->nfields > c->lc->cfg->max_headers) {
        hs->bad = true;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            log_info("%s: h2: stream %d: header list too large (431)", c->client, hs->id);
            hs->too_large = true; /* answered 431 once the block ended */
        } else {
            h2_rst(hs, NGHTTP2_ENHANCE_YOUR_CALM, LOG_LVL_INFO, "trailers too large");
        }
        return 0;
    }
    const char *n = (const char *)name, *v = (const char *)value;
    if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        const char *vc = stream_strdup(s, v, valuelen);
        if (vc == NULL)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        if (h2_req_field(&hs->chk, n, namelen, vc, valuelen) < 0) {
            hs->bad = true;
            char msg[128];
            snprintf(msg, sizeof(msg), "malformed request: %s [%.*s]", hs->chk.why,
                     (int)(namelen < 64 ? namelen : 64), n);
            h2_rst(hs, NGHTTP2_PROTOCOL_ERROR, LOG_LVL_INFO, msg);
            return 0;
        }
        if (namelen > 0 && n[0] != ':' && !(namelen == 4 && memcmp(n, "host", 4) == 0))
            if (stream_headers_add(s, &s->req_headers, n, namelen, vc, valuelen) < 0)
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        return 0;
    }
    /* Trailers. */
    if (namelen > 0 && n[0] == ':') {
        hs->bad = true;
        h2_rst(hs, NGHTTP2_PROTOCOL_ERROR, LOG_LVL_INFO,
               "malformed request: a pseudo-header field in trailers");
        return 0;
    }
    if (stream_headers_add(s, &s->req_trailers, n, namelen, v, valuelen) < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return 0;
}

/* Joins split cookie fields for the HTTP/1.1 upstream (RFC 9113 §8.2.3). */
static void h2_join_cookies(struct stream *s)
{
    uint32_t count = 0;
    size_t total = 0;
    for (uint32_t i = 0; i < s->req_headers.n; i++) {
        const struct stream_header *h = &s->req_headers.v[i];
        if (h->name_len == 6 && memcmp(h->name, "cookie", 6) == 0) {
            count++;
            total += h->value_len + 2;
        }
    }
    if (count < 2)
        return;
    char *buf = stream_alloc(s, total + 1);
    if (buf == NULL)
        return;
    size_t len = 0;
    for (uint32_t i = 0; i < s->req_headers.n; i++) {
        const struct stream_header *h = &s->req_headers.v[i];
        if (h->name_len == 6 && memcmp(h->name, "cookie", 6) == 0) {
            if (len > 0) {
                memcpy(buf + len, "; ", 2);
                len += 2;
            }
            memcpy(buf + len, h->value, h->value_len);
            len += h->value_len;
        }
    }
    buf[len] = '\0';
    stream_headers_remove(&s->req_headers, "cookie", 6);
    stream_headers_add_ref(s, &s->req_headers, "cookie", 6, buf, len);
}

/* A refusal before the stream ran (e.g. CONNECT): a bare status, no body. */
static void h2_plain_reply(struct h2_stream *hs, int status)
{
    hs->bad = true;
    hs->s->status = status;
    snprintf(hs->status, sizeof(hs->status), "%03d", status);
    nghttp2_nv nv = {(uint8_t *)":status", (uint8_t *)hs->status, 7, 3,
                     NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
    hs->resp_submitted = hs->resp_done = true;
    nghttp2_submit_response(hs->c->ng, hs->id, &nv, 1, NULL);
    h2_schedule_flush(hs->c);
}

/*
 * An extended CONNECT (RFC 8441) for :protocol: HTTP/1.1 upstreams get the request as
 * an Upgrade (GET, Upgrade: PROTOCOL; for WebSocket the handshake fields RFC 6455 wants,
 * which an HTTP/2 client does not send), and the stream becomes a tunnel when they answer
 * 101 (h2_response_headers turns that into 200).
 */
static void h2_extended_connect(struct h2_stream *hs, bool eos)
{
    struct stream *s = hs->s;
    const struct h2_req_check *r = &hs->chk;
    s->upgrade = r->protocol;
    s->upgrade_len = (uint32_t)r->protocol_len;
    s->method = "GET";
    s->method_len = 3;
    s->method_id = H1_METHOD_GET;
    s->req_content_length = 0;
    stream_headers_remove(&s->req_headers, "content-length", 14);
    if (r->protocol_len == 9 && strncasecmp(r->protocol, "websocket", 9) == 0) {
        if (stream_headers_get(&s->req_headers, "sec-websocket-key", 17, NULL) == NULL) {
            uint8_t nonce[16];
            char key[25];
            if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
                memset(nonce, 0x5a, sizeof(nonce)); /* a fixed nonce is still valid */
            EVP_EncodeBlock((unsigned char *)key, nonce, sizeof(nonce)); /* base64, padded */
            stream_headers_add(s, &s->req_headers, "sec-websocket-key", 17, key, 24);
        }
        if (stream_headers_get(&s->req_headers, "sec-websocket-version", 21, NULL) == NULL)
            stream_headers_add(s, &s->req_headers, "sec-websocket-version", 21, "13", 2);
    }
    hs->started = true;
    hs->req_eos = eos;
    stream_request_headers(s, false);
    if (eos) /* the client half-closed at once: the tunnel's request side is empty */
        stream_request_body(s, hs->c->scratch, true);
}

static void h2_request_head_done(struct h2_stream *hs, bool eos)
{
    struct stream *s = hs->s;
    struct h2_req_check *r = &hs->chk;
    int status;
    const char *why;
    int v = h2_req_validate(r, &status, &why);
    if (v < 0) {
        hs->bad = true;
        char msg[120];
        snprintf(msg, sizeof(msg), "malformed request: %s", why);
        h2_rst(hs, NGHTTP2_PROTOCOL_ERROR, LOG_LVL_INFO, msg);
        return;
    }
    s->method = r->method;
    s->method_len = (uint32_t)r->method_len;
    s->method_id = h1_method_id(r->method, r->method_len);
    if (v > 0) {
        h2_plain_reply(hs, status);
        return;
    }
    s->path = r->path;
    s->path_len = (uint32_t)r->path_len;
    if (r->authority != NULL) {
        s->authority = r->authority;
        s->authority_len = (uint32_t)r->authority_len;
    } else {
        s->authority = r->host;
        s->authority_len = (uint32_t)r->host_len;
    }
    h2_join_cookies(s);
    if (r->protocol != NULL) {
        h2_extended_connect(hs, eos);
        return;
    }
    if (eos) {
        s->req_content_length = 0;
    } else {
        uint32_t cl_len;
        const char *cl = stream_headers_get(&s->req_headers, "content-length", 14, &cl_len);
        s->req_content_length = -1;
        if (cl != NULL) {
            /* nghttp2 checked it is a number and will check the DATA adds up. */
            s->req_content_length = strtoll(cl, NULL, 10);
        }
    }
    /* The length lives in s->req_content_length from here on (what plugins see and what
     * goes upstream). */
    stream_headers_remove(&s->req_headers, "content-length", 14);
    uint64_t max = hs->c->lc->cfg->max_body_size;
    if (max && s->req_content_length > 0 && (uint64_t)s->req_content_length > max) {
        h2_plain_reply(hs, 413);
        return;
    }
    hs->started = true;
    hs->req_eos = eos;
    stream_request_headers(s, eos);
}

static int h2_frame_recv_cb(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    struct h2_conn *c = ud;
    struct h2_stream *hs;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        hs = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
        if (hs != NULL && hs->too_large && !hs->resp_submitted) {
            h2_plain_reply(hs, 431);
            return 0;
        }
        if (hs == NULL || hs->bad)
            return 0;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            h2_request_head_done(hs, (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0);
        } else if (hs->started && !hs->req_eos) {
            hs->req_eos = true;
            stream_request_trailers(hs->s);
        }
        break;
    case NGHTTP2_RST_STREAM:
        if (h2_history_get(&c->hist, frame->hd.stream_id) == H2_SID_OPEN)
            h2_history_set(&c->hist, frame->hd.stream_id, H2_SID_CLIENT_RESET);
        log_debug("%s: h2: stream %d reset by the client (%s)", c->client, frame->hd.stream_id,
                  h2_code_name(frame->rst_stream.error_code));
        break;
    case NGHTTP2_GOAWAY:
        h2_close_reason(c, LOG_LVL_DEBUG, "the client sent GOAWAY (%s)",
                        h2_code_name(frame->goaway.error_code));
        break;
    case NGHTTP2_DATA:
        hs = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
        if (hs == NULL || hs->bad || !hs->started)
            return 0;
        if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && !hs->req_eos) {
            hs->req_eos = true;
            struct evbuffer *b = hs->c->scratch;
            stream_request_body(hs->s, b, true);
        }
        break;
    default:
        break;
    }
    return 0;
}

static int h2_data_chunk_cb(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                            size_t len, void *ud)
{
    struct h2_conn *c = ud;
    (void)flags;
    nghttp2_session_consume_connection(ng, len);
    struct h2_stream *hs = nghttp2_session_get_stream_user_data(ng, id);
    if (hs == NULL || hs->bad || !hs->started) {
        nghttp2_session_consume_stream(ng, id, len);
        if (hs != NULL) {
            nghttp2_session_consume_stream(ng, id, hs->unconsumed);
            hs->unconsumed = 0;
            hs->discarded += len;
            if (hs->discarded > H2_DISCARD_MAX && hs->discarded - len <= H2_DISCARD_MAX) {
                h2_rst_note(c, id, LOG_LVL_DEBUG, "request body still coming after the answer");
                nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
            }
        }
        return 0;
    }
    struct stream *s = hs->s;
    hs->body_total += len;
    uint64_t max = c->lc->cfg->max_body_size;
    if (max && hs->body_total > max && s->upgrade == NULL) {
        /* Over max_body_size: 413 (or a reset once the response started). */
        hs->bad = true;
        nghttp2_session_consume_stream(ng, id, len + hs->unconsumed);
        hs->unconsumed = 0;
        static const char msg[] = "request body too large\n";
        stream_local_reply(s, 413, "text/plain", msg, sizeof(msg) - 1);
        return 0;
    }
    evbuffer_add(c->scratch, data, len);
    stream_request_body(s, c->scratch, false);
    evbuffer_drain(c->scratch, evbuffer_get_length(c->scratch));
    if (stream_request_writable(s)) {
        nghttp2_session_consume_stream(ng, id, len + hs->unconsumed);
        hs->unconsumed = 0;
    } else {
        hs->unconsumed += len;
    }
    return 0;
}

static int h2_frame_send_cb(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    struct h2_conn *c = ud;
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
        if (h2_history_get(&c->hist, frame->hd.stream_id) == H2_SID_OPEN)
            h2_history_set(&c->hist, frame->hd.stream_id, H2_SID_SERVER_RESET);
        h2_log_rst(c, frame->hd.stream_id, frame->rst_stream.error_code);
    } else if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR) {
        /* nghttp2's own connection errors say why in the GOAWAY's debug data; the few
         * without (frame size, HPACK, flow control) are told by the frame they hit. */
        uint32_t code = frame->goaway.error_code;
        if (frame->goaway.opaque_data_len > 0) {
            int len = (int)frame->goaway.opaque_data_len;
            h2_close_reason(c, LOG_LVL_INFO, "connection error %s: %.*s", h2_code_name(code),
                            len > 150 ? 150 : len, (const char *)frame->goaway.opaque_data);
        } else {
            const struct h2_frame_hd *hd = &c->last_hd;
            h2_close_reason(
                c, LOG_LVL_INFO, "connection error %s: %s%s%s frame on stream %d (%u bytes)",
                h2_code_name(code),
                code == NGHTTP2_COMPRESSION_ERROR ? "undecodable field block in a " : "",
                code == NGHTTP2_FRAME_SIZE_ERROR ? "bad length of a " : "", h2_frame_name(hd->type),
                hd->id, hd->length);
        }
    }
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        struct h2_stream *hs = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
        /* The answer is complete while the client still sends: the rest of the body is
         * read and dropped (a RST_STREAM right away races with clients reading the
         * answer), up to H2_DISCARD_MAX, then RST_STREAM NO_ERROR (RFC 9113 §8.1). */
        if (hs != NULL && !hs->req_eos && !hs->s->upgraded)
            hs->bad = true;
    }
    return 0;
}

/* nghttp2's message for the error it is about to act on (a header field it refuses, with
 * its name and value): kept for the log line of the reset or GOAWAY that follows. */
static int h2_error_cb(nghttp2_session *ng, int lib_error_code, const char *msg, size_t len,
                       void *ud)
{
    struct h2_conn *c = ud;
    (void)ng;
    (void)lib_error_code;
    size_t n = len < sizeof(c->lib_err) - 1 ? len : sizeof(c->lib_err) - 1;
    memcpy(c->lib_err, msg, n);
    c->lib_err[n] = '\0';
    return 0;
}

/* A frame nghttp2 refuses: a stream it resets (logged when the RST_STREAM goes out) or
 * the connection (logged with the GOAWAY). */
static int h2_invalid_frame_cb(nghttp2_session *ng, const nghttp2_frame *frame, int lib_error_code,
                               void *ud)
{
    struct h2_conn *c = ud;
    (void)ng;
    int32_t id = frame->hd.stream_id;
    const char *field = strstr(c->lib_err, "name: [");
    if (id == 0) {
        /* a connection error: the GOAWAY's line says why */
    } else if (lib_error_code == NGHTTP2_ERR_REFUSED_STREAM) {
        h2_rst_note(c, id, LOG_LVL_DEBUG, "over SETTINGS_MAX_CONCURRENT_STREAMS");
    } else if (lib_error_code == NGHTTP2_ERR_HTTP_HEADER && field != NULL) {
        h2_rst_note(c, id, LOG_LVL_INFO, "malformed request: invalid header field %.140s", field);
    } else if (lib_error_code == NGHTTP2_ERR_HTTP_MESSAGING && frame->hd.type == NGHTTP2_DATA) {
        h2_rst_note(c, id, LOG_LVL_INFO,
                    "malformed request: body length differs from content-length");
    } else if (lib_error_code == NGHTTP2_ERR_HTTP_MESSAGING && frame->hd.type == NGHTTP2_HEADERS) {
        h2_rst_note(c, id, LOG_LVL_INFO, "malformed request: %s",
                    frame->headers.cat == NGHTTP2_HCAT_HEADERS
                        ? "trailers without END_STREAM, or with pseudo-header fields"
                        : "missing or bad pseudo-header fields, or a bad content-length");
    } else {
        h2_rst_note(c, id, LOG_LVL_INFO, "%s frame refused: %s", h2_frame_name(frame->hd.type),
                    nghttp2_strerror(lib_error_code));
    }
    c->lib_err[0] = '\0';
    return 0;
}

static int h2_stream_close_cb(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
    struct h2_conn *c = ud;
    /* Neither side reset it: both ended it. */
    if (h2_history_get(&c->hist, id) == H2_SID_OPEN)
        h2_history_set(&c->hist, id, H2_SID_DONE);
    struct h2_stream *hs = nghttp2_session_get_stream_user_data(ng, id);
    if (hs == NULL)
        return 0;
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    struct stream *s = hs->s;
    if (code != NGHTTP2_NO_ERROR || !hs->resp_done) {
        s->reset = true;
        if (s->status == 0)
            s->status = 499;
    }
    if (hs->on_drained) {
        struct h2_stream **pp = &c->drained;
        while (*pp != hs)
            pp = &(*pp)->drained_next;
        *pp = hs->drained_next;
    }
    if (hs->tunnel)
        c->n_tunnels--;
    if (hs->prev)
        hs->prev->next = hs->next;
    else
        c->streams = hs->next;
    if (hs->next)
        hs->next->prev = hs->prev;
    stream_destroy(s);
    daemon_gen_unref(hs->gen);
    evbuffer_free(hs->resp);
    free(hs);
    c->n_streams--;
    if (c->n_streams == 0) {
        if (c->closing)
            h2_schedule_flush(c);
        else
            h2_update_timer(c);
    }
    return 0;
}

/* Callbacks and options: built once for the process (sessions copy what they need). */
static nghttp2_session_callbacks *h2_cbs;
static nghttp2_option *h2_opt;
static pthread_once_t h2_once = PTHREAD_ONCE_INIT;

static void h2_callbacks_init(void)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return;
    nghttp2_session_callbacks_set_send_callback(cbs, h2_send_cb);
    nghttp2_session_callbacks_set_send_data_callback(cbs, h2_send_data);
    nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, h2_begin_frame_cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, h2_begin_headers_cb);
    nghttp2_session_callbacks_set_on_header_callback(cbs, h2_header_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2_frame_recv_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2_data_chunk_cb);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, h2_frame_send_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2_stream_close_cb);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, h2_invalid_frame_cb);
    nghttp2_session_callbacks_set_error_callback2(cbs, h2_error_cb);
    h2_cbs = cbs;
}

/*
 * Options: none turns an RFC 9113 check off (no_http_messaging would drop the HTTP
 * messaging checks: pseudo-headers, field validity, content-length against DATA;
 * no_rfc9113_leading_and_trailing_ws_validation the §8.2.1 whitespace rule; neither is
 * set). Two checks are waspd's because nghttp2 skips them here: with
 * SETTINGS_NO_RFC7540_PRIORITIES it ignores PRIORITY frames unread (stream 0, a stream
 * depending on itself), and it drops frames on streams it has freed (a stream closed
 * without RFC 7540 priorities is not kept, no_closed_streams or not); h2_recv judges
 * both (h2_frame_verdict).
 */
static void h2_options_init(void)
{
    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0)
        return;
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_settings(opt, 32);
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    /* Rapid reset (CVE-2023-44487): a token bucket on incoming RST_STREAM. */
    nghttp2_option_set_stream_reset_rate_limit(opt, 400, 100);
    nghttp2_option_set_max_continuations(opt, 16);
    h2_opt = opt;
}

static void h2_init(void)
{
    h2_callbacks_init();
    h2_options_init();
}

/* Sets a connection up (session, our SETTINGS, events, accounting); closes fd and frees
 * io_ctx on failure. @return it or NULL. */
static struct h2_conn *h2_conn_make(struct worker *w, int fd, const char *client,
                                    struct daemon_gen *gen, size_t listener_index,
                                    const struct srv_io_ops *io, void *io_ctx)
{
    struct h2_conn *c = calloc(1, sizeof(*c));
    pthread_once(&h2_once, h2_init);
    nghttp2_session_callbacks *cbs = h2_cbs;
    nghttp2_option *opt = h2_opt;
    if (c == NULL || cbs == NULL || opt == NULL)
        goto fail;
    c->in = evbuffer_new();
    c->out = evbuffer_new();
    c->scratch = evbuffer_new();
    if (c->in == NULL || c->out == NULL || c->scratch == NULL)
        goto fail;
    if (nghttp2_session_server_new2(&c->ng, cbs, c, opt) != 0)
        goto fail;
    c->w = w;
    c->fd = fd;
    c->id = srv_new_conn_id();
    c->io = io;
    c->io_ctx = io_ctx;
    c->gen = daemon_gen_ref(gen);
    c->lc = &gen->listeners[listener_index];
    snprintf(c->client, sizeof(c->client), "%s", client);
    h2_guard_limits_default(&c->limits);
    h2_history_init(&c->hist);
    c->to_feed = H2_PREFACE_LEN;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)c->lc->cfg->http2_max_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)c->lc->cfg->max_header_size},
        {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
        /* WebSocket over HTTP/2 (RFC 8441), last: left out when upgrades are off. */
        {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
    };
    size_t niv = sizeof(iv) / sizeof(iv[0]) - (c->lc->cfg->upgrades ? 0 : 1);
    nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, niv);
    nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW);
    event_assign(&c->rev, w->base, fd, EV_READ | EV_PERSIST, h2_read_cb, c);
    event_assign(&c->wev, w->base, fd, EV_WRITE, h2_write_cb, c);
    evtimer_assign(&c->timer, w->base, h2_timer_cb, c);
    event_assign(&c->post_ev, w->base, -1, 0, h2_post_cb, c);
    c->next = h2_conns;
    if (h2_conns)
        h2_conns->prev = c;
    h2_conns = c;
    w->n_conns++;
    return c;
fail:
    log_error("%s: h2: out of memory", client);
    if (c != NULL) {
        if (c->ng)
            nghttp2_session_del(c->ng);
        if (c->in)
            evbuffer_free(c->in);
        if (c->out)
            evbuffer_free(c->out);
        if (c->scratch)
            evbuffer_free(c->scratch);
        free(c);
    }
    if (io != NULL)
        io->free(io_ctx);
    close(fd);
    return NULL;
}

/* Feeds the bytes read so far and starts the connection's turn. */
static void h2_conn_start(struct h2_conn *c, struct evbuffer *pre)
{
    if (pre != NULL)
        evbuffer_add_buffer(c->in, pre);
    if (c->w->draining) {
        h2_close_reason(c, LOG_LVL_DEBUG, "draining");
        h2_goaway(c, NGHTTP2_NO_ERROR);
    }
    if (!h2_recv(c)) {
        h2_kill(c);
        return;
    }
    h2_update_timer(c);
    h2_schedule_flush(c);
}

void h2_conn_new(struct worker *w, int fd, const char *client, struct daemon_gen *gen,
                 size_t listener_index, const struct srv_io_ops *io, void *io_ctx,
                 struct evbuffer *pre)
{
    struct h2_conn *c = h2_conn_make(w, fd, client, gen, listener_index, io, io_ctx);
    if (c != NULL)
        h2_conn_start(c, pre);
}

/* ---- Upgrade: h2c (RFC 7540 §3.2) ---- */

/* Decodes base64url (no padding needed) into out. @return length or -1. */
static ssize_t b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = in[i];
        int v;
        if (ch >= 'A' && ch <= 'Z')
            v = ch - 'A';
        else if (ch >= 'a' && ch <= 'z')
            v = ch - 'a' + 26;
        else if (ch >= '0' && ch <= '9')
            v = ch - '0' + 52;
        else if (ch == '-' || ch == '+')
            v = 62;
        else if (ch == '_' || ch == '/')
            v = 63;
        else if (ch == '=')
            break;
        else
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == cap)
                return -1;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return (ssize_t)n;
}

/* The decoded HTTP2-Settings of r (in settings, cap bytes). @return length or -1. */
static ssize_t upgrade_settings(const char *buf, const struct h1_request *r, uint8_t *settings,
                                size_t cap)
{
    int i = h1_header_find(buf, r->headers, r->nheaders, "http2-settings", 14, 0);
    if (i < 0 ||
        h1_header_find(buf, r->headers, r->nheaders, "http2-settings", 14, (uint32_t)i + 1) >= 0)
        return -1;
    const struct h1_header *h = &r->headers[i];
    ssize_t n = b64url_decode(buf + h->value.off, h->value.len, settings, cap);
    return n >= 0 && n % 6 == 0 ? n : -1;
}

bool h2_upgrade_wanted(const char *buf, const struct h1_request *r)
{
    if (r->version_minor != 1 || r->body_kind != H1_BODY_NONE || r->method_id == H1_METHOD_CONNECT)
        return false;
    int i = h1_header_find(buf, r->headers, r->nheaders, "upgrade", 7, 0);
    if (i < 0 ||
        !h1_list_has_token(buf + r->headers[i].value.off, r->headers[i].value.len, "h2c", 3))
        return false;
    uint8_t settings[256];
    return upgrade_settings(buf, r, settings, sizeof(settings)) >= 0;
}

void h2_conn_upgrade(struct worker *w, int fd, const char *client, struct daemon_gen *gen,
                     size_t listener_index, const char *buf, const struct h1_request *r,
                     struct evbuffer *in)
{
    uint8_t settings[256];
    ssize_t slen = upgrade_settings(buf, r, settings, sizeof(settings));
    struct h2_conn *c = h2_conn_make(w, fd, client, gen, listener_index, NULL, NULL);
    if (c == NULL) {
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    static const char sw[] =
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
    evbuffer_add(c->out, sw, sizeof(sw) - 1);
    struct h2_stream *hs = NULL;
    if (slen >= 0 && nghttp2_session_upgrade2(c->ng, settings, (size_t)slen,
                                              r->method_id == H1_METHOD_HEAD, NULL) == 0)
        hs = h2_stream_open(c, 1);
    h2_history_open(&c->hist, 1);
    char *copy = hs != NULL ? stream_alloc(hs->s, r->head_len) : NULL;
    if (copy == NULL) {
        evbuffer_drain(in, evbuffer_get_length(in));
        h2_kill(c);
        return;
    }
    /* The HTTP/1.1 request becomes stream 1, which the client already half-closed. */
    memcpy(copy, buf, r->head_len);
    struct stream *s = hs->s;
    if (srv_stream_request(s, copy, r) < 0) {
        evbuffer_drain(in, evbuffer_get_length(in));
        h2_kill(c);
        return;
    }
    s->req_content_length = 0;
    hs->started = true;
    hs->req_eos = true;
    evbuffer_drain(in, r->head_len);
    c->upgrade_wait = evbuffer_get_length(in) == 0;
    stream_request_headers(s, true);
    h2_conn_start(c, in);
}

void h2_drain_all(struct worker *w)
{
    for (struct h2_conn *c = h2_conns; c != NULL; c = c->next)
        if (c->w == w && !c->dead) {
            h2_close_reason(c, LOG_LVL_DEBUG, "draining");
            h2_goaway(c, NGHTTP2_NO_ERROR);
        }
}

void h2_gen_changed(struct worker *w)
{
    for (struct h2_conn *c = h2_conns; c != NULL; c = c->next)
        if (c->w == w && !c->dead && !c->closing && !h2_listener_alive(c)) {
            h2_close_reason(c, LOG_LVL_DEBUG, "its listener was removed by a reload");
            h2_goaway(c, NGHTTP2_NO_ERROR);
        }
}

void h2_close_all(struct worker *w)
{
    struct h2_conn *c = h2_conns;
    while (c != NULL) {
        struct h2_conn *next = c->next;
        if (c->w == w) {
            h2_close_reason(c, LOG_LVL_INFO, "closed at once (drain deadline or exit)");
            h2_free(c);
        }
        c = next;
    }
}
