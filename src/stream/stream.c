/*
 * stream.c - the stream object, its arena and headers, and the filter-chain runner
 * (see stream.h for the model). Both directions share one runner: direction 0 is the
 * request (filters in chain order, sink = upstream side), direction 1 the response
 * (filters in reverse order, sink = the downstream codec).
 */
#include "stream/stream.h"

#include "http1/h1.h"
#include "log/log.h"
#include "stream/stream_int.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { PH_NONE = 0, PH_HEADERS, PH_TRAILERS }; /* stream_dir.paused (body pauses are holds) */

/* Back-pressure threshold for a sink's unsent bytes and for body read while paused. */
#define STREAM_HIGH_WATER (256 * 1024)

static __thread struct stream *stream_free_list;
static __thread unsigned stream_free_count;
#define STREAM_FREE_MAX 1024

static __thread struct evbuffer *stream_scratch[2];

/* Buffers of body holds beyond a direction's own (struct stream_hold.buf), recycled. */
#define STREAM_HOLD_POOL_MAX 64
static __thread struct evbuffer *stream_hold_pool[STREAM_HOLD_POOL_MAX];
static __thread unsigned stream_hold_pool_n;

static void stream_deferred_cb(evutil_socket_t fd, short what, void *arg);
static void run_headers(struct stream *s, int d, int from);
static void run_body(struct stream *s, int d, int from, struct evbuffer *chunk);
static void run_trailers(struct stream *s, int d, int from);
static void run_after_headers(struct stream *s, int d);

/* ---- arena ---- */

void *stream_alloc(struct stream *s, size_t size)
{
    size = (size + 7u) & ~(size_t)7u;
    struct stream_arena_chunk *c = s->arena;
    if (c->size - c->used < size) {
        size_t cap = size > 8192 ? size : 8192;
        struct stream_arena_chunk *n = malloc(sizeof(*n) + cap);
        if (n == NULL)
            return NULL;
        n->size = cap;
        n->used = 0;
        n->next = c;
        s->arena = c = n;
    }
    void *p = c->data + c->used;
    c->used += size;
    return p;
}

char *stream_strdup(struct stream *s, const char *p, size_t len)
{
    char *d = stream_alloc(s, len + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, p, len);
    d[len] = '\0';
    return d;
}

static void stream_arena_reset(struct stream *s)
{
    struct stream_arena_chunk *c = s->arena;
    while (c != &s->arena0.first) {
        struct stream_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    s->arena = &s->arena0.first;
    s->arena->used = 0;
}

/* ---- headers ---- */

const char *stream_headers_get(const struct stream_headers *h, const char *name, size_t name_len,
                               uint32_t *len)
{
    for (uint32_t i = 0; i < h->n; i++) {
        const struct stream_header *f = &h->v[i];
        if (f->name_len == name_len && strncasecmp(f->name, name, name_len) == 0) {
            if (len != NULL)
                *len = f->value_len;
            return f->value;
        }
    }
    return NULL;
}

int stream_headers_add_ref(struct stream *s, struct stream_headers *h, const char *name,
                           size_t name_len, const char *value, size_t value_len)
{
    if (h->n == h->cap) {
        uint32_t cap = h->cap ? h->cap * 2 : 16;
        struct stream_header *v = stream_alloc(s, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        if (h->n)
            memcpy(v, h->v, h->n * sizeof(*v));
        h->v = v;
        h->cap = cap;
    }
    h->v[h->n++] = (struct stream_header){name, value, (uint32_t)name_len, (uint32_t)value_len};
    return 0;
}

void stream_header_name_lower(char *name, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (name[i] >= 'A' && name[i] <= 'Z')
            name[i] = (char)(name[i] + ('a' - 'A'));
}

int stream_headers_add(struct stream *s, struct stream_headers *h, const char *name,
                       size_t name_len, const char *value, size_t value_len)
{
    char *buf = stream_alloc(s, name_len + value_len + 2);
    if (buf == NULL)
        return -1;
    memcpy(buf, name, name_len);
    stream_header_name_lower(buf, name_len);
    buf[name_len] = '\0';
    memcpy(buf + name_len + 1, value, value_len);
    buf[name_len + 1 + value_len] = '\0';
    return stream_headers_add_ref(s, h, buf, name_len, buf + name_len + 1, value_len);
}

unsigned stream_headers_remove(struct stream_headers *h, const char *name, size_t name_len)
{
    uint32_t j = 0;
    unsigned removed = 0;
    for (uint32_t i = 0; i < h->n; i++) {
        const struct stream_header *f = &h->v[i];
        if (f->name_len == name_len && strncasecmp(f->name, name, name_len) == 0) {
            removed++;
            continue;
        }
        h->v[j++] = *f;
    }
    h->n = j;
    return removed;
}

/* ---- lifecycle ---- */

static struct stream *stream_new_object(void)
{
    struct stream *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->arena0.first.size = STREAM_ARENA_INLINE;
    s->arena = &s->arena0.first;
    for (int d = 0; d < 2; d++) {
        s->dir[d].hold = evbuffer_new();
        if (s->dir[d].hold == NULL)
            goto fail;
    }
    s->local_body = evbuffer_new();
    s->req_buffer = evbuffer_new();
    if (s->local_body == NULL || s->req_buffer == NULL)
        goto fail;
    return s;
fail:
    for (int d = 0; d < 2; d++)
        if (s->dir[d].hold)
            evbuffer_free(s->dir[d].hold);
    if (s->local_body)
        evbuffer_free(s->local_body);
    free(s);
    return NULL;
}

static void stream_free_object(struct stream *s)
{
    for (int d = 0; d < 2; d++)
        evbuffer_free(s->dir[d].hold);
    evbuffer_free(s->local_body);
    evbuffer_free(s->req_buffer);
    free(s);
}

struct stream *stream_create(struct event_base *base, const struct stream_chain *chain,
                             const struct stream_limits *limits)
{
    struct stream *s = stream_free_list;
    if (s != NULL) {
        stream_free_list = s->free_next;
        stream_free_count--;
    } else {
        s = stream_new_object();
        if (s == NULL)
            return NULL;
    }
    if (stream_scratch[0] == NULL) {
        /* Per thread; each use is synchronous within one runner call. */
        stream_scratch[0] = evbuffer_new();
        stream_scratch[1] = evbuffer_new();
    }
    /* Reset everything before the arena, keeping the recycled buffers. */
    struct evbuffer *hold0 = s->dir[0].hold, *hold1 = s->dir[1].hold, *lb = s->local_body;
    memset(s, 0, offsetof(struct stream, arena));
    s->dir[0].hold = hold0;
    s->dir[1].hold = hold1;
    s->local_body = lb;
    s->base = base;
    s->chain = chain;
    s->limits = limits;
    s->req_content_length = 0;
    s->resp_content_length = -1;
    s->upstream_usec = -1;
    s->scheme = "http";
    event_assign(&s->deferred, base, -1, 0, stream_deferred_cb, s);
    if (chain->n > 0) {
        s->filters = stream_alloc(s, chain->n * sizeof(*s->filters));
        if (s->filters == NULL)
            goto fail;
        for (unsigned i = 0; i < chain->n; i++) {
            struct stream_filter *f = &s->filters[i];
            f->ops = chain->ops[i];
            f->conf = chain->conf[i];
            f->state = NULL;
            f->continue_pending[0] = f->continue_pending[1] = false;
            f->hold[0] = f->hold[1] = (struct stream_hold){0};
            if (f->ops->state_size) {
                f->state = stream_alloc(s, f->ops->state_size);
                if (f->state == NULL)
                    goto fail;
                memset(f->state, 0, f->ops->state_size);
            }
        }
    }
    return s;
fail:
    stream_arena_reset(s);
    stream_free_object(s);
    return NULL;
}

#define STREAM_TIMEOUTS_CACHED 16

struct stream_timeout_slot {
    uint64_t ms;
    const struct timeval *tv;
};

static __thread struct event_base *stream_timeout_base;
static __thread struct stream_timeout_slot stream_timeouts[STREAM_TIMEOUTS_CACHED];
static __thread unsigned stream_n_timeouts;
static __thread struct timeval stream_timeout_plain;

const struct timeval *stream_timeout(struct event_base *base, uint64_t ms)
{
    if (ms == 0)
        return NULL;
    if (base != stream_timeout_base) {
        stream_timeout_base = base;
        stream_n_timeouts = 0;
    }
    for (unsigned i = 0; i < stream_n_timeouts; i++)
        if (stream_timeouts[i].ms == ms)
            return stream_timeouts[i].tv;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    if (stream_n_timeouts < STREAM_TIMEOUTS_CACHED) {
        const struct timeval *common = event_base_init_common_timeout(base, &tv);
        if (common != NULL) {
            stream_timeouts[stream_n_timeouts++] = (struct stream_timeout_slot){ms, common};
            return common;
        }
    }
    /* Too many distinct durations: a plain timeout (copied by event_add at once). */
    stream_timeout_plain = tv;
    return &stream_timeout_plain;
}

uint64_t stream_loop_usec(struct event_base *base)
{
    struct timeval tv;
    if (event_base_gettimeofday_cached(base, &tv) < 0)
        return log_now_usec();
    return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

static void stream_write_log(struct stream *s)
{
    if (s->alog == NULL || !log_access_enabled())
        return;
    uint64_t now = stream_loop_usec(s->base);
    struct log_access_entry e = {
        .client = s->client,
        .method = s->method ? s->method : "-",
        .method_len = s->method ? s->method_len : 1,
        .target = s->path ? s->path : "-",
        .target_len = s->path ? s->path_len : 1,
        .http_minor = s->http_minor,
        .http_major = s->http_major,
        .status = s->status,
        .bytes_sent = s->bytes_sent,
        .start_usec = s->start_usec,
        .duration_usec = now > s->start_usec ? now - s->start_usec : 0,
        .upstream = s->upstream_addr[0] ? s->upstream_addr : NULL,
        .upstream_usec = s->upstream_usec,
    };
    log_access_append(s->alog, &e);
}

/*
 * A buffer for a filter's first body hold in direction d: the direction's own while no
 * filter has it (the common case, one filter holding, allocates nothing), else one from
 * the thread's free list. @return NULL when out of memory.
 */
static struct evbuffer *hold_buffer_take(struct stream *s, int d)
{
    struct stream_dir *sd = &s->dir[d];
    if (!sd->hold_lent) {
        sd->hold_lent = true;
        return sd->hold;
    }
    if (stream_hold_pool_n > 0)
        return stream_hold_pool[--stream_hold_pool_n];
    return evbuffer_new();
}

/* The stream ends: its filters' hold buffers go back to the free list, empty (the
 * directions' own stay with the stream object). */
static void hold_buffers_return(struct stream *s)
{
    for (unsigned i = 0; i < s->chain->n; i++) {
        for (int d = 0; d < 2; d++) {
            struct evbuffer *b = s->filters[i].hold[d].buf;
            if (b == NULL || b == s->dir[d].hold)
                continue;
            evbuffer_drain(b, evbuffer_get_length(b));
            if (stream_hold_pool_n < STREAM_HOLD_POOL_MAX)
                stream_hold_pool[stream_hold_pool_n++] = b;
            else
                evbuffer_free(b);
        }
    }
}

void stream_destroy(struct stream *s)
{
    if (s->up != NULL && s->up->abort != NULL)
        s->up->abort(s);
    for (unsigned i = 0; i < s->chain->n; i++) {
        struct stream_filter *f = &s->filters[i];
        if (f->ops->done)
            f->ops->done(s, f);
    }
    stream_write_log(s);
    event_del(&s->deferred);
    hold_buffers_return(s);
    for (int d = 0; d < 2; d++)
        evbuffer_drain(s->dir[d].hold, evbuffer_get_length(s->dir[d].hold));
    evbuffer_drain(s->local_body, evbuffer_get_length(s->local_body));
    evbuffer_drain(s->req_buffer, evbuffer_get_length(s->req_buffer));
    stream_arena_reset(s);
    if (stream_free_count >= STREAM_FREE_MAX) {
        stream_free_object(s);
        return;
    }
    s->free_next = stream_free_list;
    stream_free_list = s;
    stream_free_count++;
}

void stream_free_cache(void)
{
    while (stream_free_list != NULL) {
        struct stream *s = stream_free_list;
        stream_free_list = s->free_next;
        stream_free_object(s);
    }
    stream_free_count = 0;
    while (stream_hold_pool_n > 0)
        evbuffer_free(stream_hold_pool[--stream_hold_pool_n]);
    for (int d = 0; d < 2; d++) {
        if (stream_scratch[d] != NULL)
            evbuffer_free(stream_scratch[d]);
        stream_scratch[d] = NULL;
    }
}

/* ---- the runner ---- */

/* How a filter holds body (struct stream_hold.mode), after the pause it answered. */
enum {
    HOLD_NONE = 0,
    HOLD_WHOLE,     /* PAUSE, PAUSE_BUFFER: called again with everything it holds */
    HOLD_WATERMARK, /* called with each new piece alone; back-pressure */
    HOLD_NO_BUFFER, /* it took its bytes: the hold stays empty unless it writes into it */
};

static struct stream_filter *dir_filter(const struct stream *s, int d, int i)
{
    return &s->filters[d == 0 ? (unsigned)i : s->chain->n - 1 - (unsigned)i];
}

static struct stream_hold *dir_hold(const struct stream *s, int d, int i)
{
    return &dir_filter(s, d, i)->hold[d];
}

/* True when the direction must not go on (reset, or the request after a local reply). */
static bool dir_stopped(struct stream *s, int d)
{
    return s->reset || (d == 0 && s->local_reply) || (d == 1 && s->local_reply_pending);
}

static enum stream_action call_headers(struct stream *s, int d, struct stream_filter *f, bool eos)
{
    enum stream_action (*hook)(struct stream *, struct stream_filter *, bool) =
        d == 0 ? f->ops->request_headers : f->ops->response_headers;
    if (hook == NULL)
        return STREAM_CONTINUE;
    s->in_filter++;
    enum stream_action r = hook(s, f, eos);
    s->in_filter--;
    return r;
}

static enum stream_action call_body(struct stream *s, int d, struct stream_filter *f,
                                    struct evbuffer *b, bool eos)
{
    enum stream_action (*hook)(struct stream *, struct stream_filter *, struct evbuffer *, bool) =
        d == 0 ? f->ops->request_body : f->ops->response_body;
    if (hook == NULL)
        return STREAM_CONTINUE;
    s->in_filter++;
    enum stream_action r = hook(s, f, b, eos);
    s->in_filter--;
    return r;
}

static enum stream_action call_trailers(struct stream *s, int d, struct stream_filter *f)
{
    enum stream_action (*hook)(struct stream *, struct stream_filter *) =
        d == 0 ? f->ops->request_trailers : f->ops->response_trailers;
    if (hook == NULL)
        return STREAM_CONTINUE;
    s->in_filter++;
    enum stream_action r = hook(s, f);
    s->in_filter--;
    return r;
}

static bool is_pause(enum stream_action r)
{
    return r != STREAM_CONTINUE && r != STREAM_STOP;
}

/* Whether a filter before position pos of direction d holds body: a newer part of it,
 * which the end of the body and the trailers may not overtake. */
static bool held_before(const struct stream *s, int d, int pos)
{
    if (s->dir[d].holds == 0)
        return false;
    for (int i = 0; i < pos; i++)
        if (dir_hold(s, d, i)->mode != HOLD_NONE)
            return true;
    return false;
}

/*
 * Body bytes direction d holds, of one kind: with back-pressure (backpressured: body
 * behind headers paused with PAUSE / PAUSE_WATERMARK / PAUSE_NO_BUFFER, and the watermark
 * holds; the source stops past STREAM_HIGH_WATER, see hold_full) or bounded by hold_max
 * (!backpressured: body behind headers paused with PAUSE_BUFFER, and the buffering and
 * no-buffer holds; see check_hold). Back-pressured bytes never count against hold_max:
 * the README promises them back-pressure, not a 413 / 500, whatever hold_limit is.
 */
static size_t dir_held(const struct stream *s, int d, bool backpressured)
{
    const struct stream_dir *sd = &s->dir[d];
    if (!sd->headers_done)
        return sd->backpressure == backpressured ? evbuffer_get_length(sd->hold) : 0;
    size_t n = 0;
    for (int i = 0; sd->holds > 0 && i < (int)s->chain->n; i++) {
        const struct stream_hold *h = dir_hold(s, d, i);
        if (h->mode != HOLD_NONE && (h->mode == HOLD_WATERMARK) == backpressured)
            n += evbuffer_get_length(h->buf);
    }
    return n;
}

/* Hold h (of direction d) stops: its bytes went on, or were dropped. */
static void hold_end(struct stream *s, int d, struct stream_hold *h)
{
    h->mode = HOLD_NONE;
    h->release = false;
    s->dir[d].holds--;
}

/* A local reply or a reset: what direction d holds goes nowhere. The buffers stay with
 * their filters until the stream ends (a hook running now may still write into the one
 * it was given). */
static void drop_holds(struct stream *s, int d)
{
    for (int i = 0; s->dir[d].holds > 0 && i < (int)s->chain->n; i++) {
        struct stream_hold *h = dir_hold(s, d, i);
        if (h->mode == HOLD_NONE)
            continue;
        evbuffer_drain(h->buf, evbuffer_get_length(h->buf));
        hold_end(s, d, h);
    }
}

/* Direction d holds more than the limit, all its bounded holds together (dir_held): 413
 * for a request, 500 (or a reset once the response started) for a response. */
static bool check_hold(struct stream *s, int d)
{
    size_t max = s->limits ? s->limits->hold_max : 1024 * 1024;
    if (dir_held(s, d, false) <= max)
        return true;
    if (d == 0) {
        static const char msg[] = "request body too large\n";
        stream_local_reply(s, 413, "text/plain", msg, sizeof(msg) - 1);
    } else {
        static const char msg[] = "response body too large for a filter\n";
        stream_local_reply(s, 500, "text/plain", msg, sizeof(msg) - 1);
    }
    return false;
}

static struct stream_headers *dir_trailers(struct stream *s, int d)
{
    return d == 0 ? &s->req_trailers : &s->resp_trailers;
}

/* The message head goes to the sink (the upstream side or the codec). */
static void sink_headers(struct stream *s, int d, bool eos)
{
    if (d == 0) {
        stream_gate_headers(s, eos);
    } else {
        s->resp_started = true;
        s->down->response_headers(s, eos);
    }
}

/*
 * A response head held by sink_held goes out now that the body's first piece passed the
 * filters (requests have the gate instead):
 * with the exact length when that piece ends the body, else with none (chunked).
 */
static void release_head(struct stream *s, int d, size_t len, bool eos)
{
    *(d == 0 ? &s->req_content_length : &s->resp_content_length) = eos ? (int64_t)len : -1;
    sink_headers(s, d, eos && len == 0);
}

static void run_headers(struct stream *s, int d, int from)
{
    struct stream_dir *sd = &s->dir[d];
    bool eos = sd->no_body;
    for (int i = from; i < (int)s->chain->n; i++) {
        enum stream_action r = call_headers(s, d, dir_filter(s, d, i), eos);
        if (dir_stopped(s, d) || r == STREAM_STOP)
            return;
        if (is_pause(r)) {
            sd->paused = PH_HEADERS;
            sd->pause_idx = i;
            /* What arrives behind the headers is held: with back-pressure on the
             * source, except for StopAllIterationAndBuffer (read up to the limit). */
            sd->backpressure = r != STREAM_PAUSE_BUFFER;
            return;
        }
    }
    sd->headers_done = true;
    /* A switched protocol's first bytes may be the client's: its head cannot wait. */
    if (!eos && s->chain->edits_body[d] && !(d == 1 && s->upgraded)) {
        if (d == 0) {
            /* A filter may change the body: the length the client declared no longer
             * holds; the gate re-frames a body that fits its buffer with its real
             * length, a longer one goes chunked. */
            if (s->req_content_length > 0)
                s->req_content_length = -1;
        } else {
            /* The head waits for the body's first piece (release_head). */
            sd->sink_held = true;
            run_after_headers(s, d);
            return;
        }
    }
    sink_headers(s, d, eos);
    if (eos) {
        sd->eos_out = true;
        return;
    }
    if (!dir_stopped(s, d))
        run_after_headers(s, d);
}

/* Flushes what arrived while headers were held: body, then trailers. */
static void run_after_headers(struct stream *s, int d)
{
    struct stream_dir *sd = &s->dir[d];
    if (evbuffer_get_length(sd->hold) > 0 || (sd->eos_in && !sd->trailers_in)) {
        struct evbuffer *chunk = stream_scratch[d];
        evbuffer_add_buffer(chunk, sd->hold);
        run_body(s, d, 0, chunk);
        return;
    }
    if (sd->trailers_in && !sd->trailers_out)
        run_trailers(s, d, 0);
}

/*
 * Filter f (of direction d) stopped the body with pause r after a call with buf (the
 * piece, or everything it holds): what it holds now (see enum stream_action).
 */
static void hold_body(struct stream *s, int d, struct stream_filter *f, enum stream_action r,
                      struct evbuffer *buf, struct evbuffer *chunk)
{
    struct stream_hold *h = &f->hold[d];
    if (h->mode == HOLD_NONE) {
        if (h->buf == NULL && (h->buf = hold_buffer_take(s, d)) == NULL) {
            evbuffer_drain(chunk, evbuffer_get_length(chunk));
            stream_reset(s); /* out of memory: the bytes cannot be kept */
            return;
        }
        /* Bytes a hook wrote into its hold after a local reply dropped it are no body. */
        evbuffer_drain(h->buf, evbuffer_get_length(h->buf));
        s->dir[d].holds++;
    }
    if (r == STREAM_PAUSE_NO_BUFFER)
        evbuffer_drain(buf, evbuffer_get_length(buf)); /* the filter took what it was given */
    else if (buf != h->buf)
        evbuffer_add_buffer(h->buf, chunk);
    h->mode = r == STREAM_PAUSE_WATERMARK   ? HOLD_WATERMARK
              : r == STREAM_PAUSE_NO_BUFFER ? HOLD_NO_BUFFER
                                            : HOLD_WHOLE;
    check_hold(s, d);
}

/*
 * The body bytes in chunk go through the filters from position `from` on and then to the
 * sink, unless a filter holds them. A filter that holds sees them as its mode says, and
 * when it lets them through, what it held goes on ahead of them. The end of the body goes
 * with them when it came and no filter before `from` holds. Leaves chunk empty unless
 * the direction stopped.
 */
static void pass_body(struct stream *s, int d, int from, struct evbuffer *chunk)
{
    struct stream_dir *sd = &s->dir[d];
    bool eos = sd->eos_in && !sd->trailers_in && !held_before(s, d, from);
    for (int i = from; i < (int)s->chain->n; i++) {
        struct stream_filter *f = dir_filter(s, d, i);
        struct stream_hold *h = &f->hold[d];
        struct evbuffer *buf = chunk;
        if (h->mode == HOLD_WHOLE) {
            evbuffer_add_buffer(h->buf, chunk);
            buf = h->buf;
        }
        enum stream_action r = call_body(s, d, f, buf, eos);
        if (dir_stopped(s, d) || r == STREAM_STOP)
            return;
        if (eos && dir_trailers(s, d)->n > 0) {
            /* The filter added trailers at the end of the body (Envoy's
             * addDecodedTrailers): the body no longer ends the message, and the
             * filters after this one get the trailers. */
            sd->trailers_in = true;
            sd->trailers_idx = i + 1;
            eos = false;
        }
        if (is_pause(r)) {
            hold_body(s, d, f, r, buf, chunk);
            return;
        }
        if (h->mode != HOLD_NONE) {
            /* What the filter held goes on ahead of the piece it let through; it no
             * longer holds (a later continue from it is no resume). */
            if (buf == h->buf)
                evbuffer_add_buffer(chunk, h->buf);
            else
                evbuffer_prepend_buffer(chunk, h->buf);
            hold_end(s, d, h);
        }
    }
    size_t len = evbuffer_get_length(chunk);
    if (sd->sink_held && (len > 0 || eos)) {
        sd->sink_held = false;
        release_head(s, d, len, eos);
        if (eos && len == 0) {
            sd->eos_out = true;
            return;
        }
        if (dir_stopped(s, d))
            return;
    }
    if (len > 0 || eos) {
        if (d == 0)
            stream_gate_body(s, chunk, eos);
        else
            s->down->response_body(s, chunk, eos);
        if (eos)
            sd->eos_out = true;
    }
}

/*
 * pass_body, then the trailers if they wait for that body (they came while the headers
 * were held, or a filter added them at the end of the body): from where they wait, once
 * no filter before it holds. chunk is drained.
 */
static void run_body(struct stream *s, int d, int from, struct evbuffer *chunk)
{
    struct stream_dir *sd = &s->dir[d];
    pass_body(s, d, from, chunk);
    evbuffer_drain(chunk, evbuffer_get_length(chunk));
    if (!dir_stopped(s, d) && sd->trailers_in && !sd->trailers_out && sd->paused != PH_TRAILERS &&
        !held_before(s, d, sd->trailers_idx))
        run_trailers(s, d, sd->trailers_idx);
}

/*
 * The trailers went past filter i: what it holds goes on ahead of them, through the
 * filters after it (one that still holds takes it behind its own bytes).
 * @return false when the direction stopped.
 */
static bool trailers_pass(struct stream *s, int d, int i)
{
    struct stream_hold *h = dir_hold(s, d, i);
    if (h->mode == HOLD_NONE)
        return true;
    struct evbuffer *chunk = stream_scratch[d];
    evbuffer_add_buffer(chunk, h->buf);
    hold_end(s, d, h);
    pass_body(s, d, i + 1, chunk);
    evbuffer_drain(chunk, evbuffer_get_length(chunk));
    return !dir_stopped(s, d);
}

/*
 * The trailer hooks from position `from` on, then the sink; no filter before `from`
 * holds body. Trailers reach filters that hold the body (as in Envoy: the body is
 * complete), and when such a filter lets them through, its hold goes on ahead of them.
 */
static void run_trailers(struct stream *s, int d, int from)
{
    struct stream_dir *sd = &s->dir[d];
    for (int i = from; i < (int)s->chain->n; i++) {
        enum stream_action r = call_trailers(s, d, dir_filter(s, d, i));
        if (dir_stopped(s, d) || r == STREAM_STOP)
            return;
        if (is_pause(r)) {
            sd->paused = PH_TRAILERS;
            sd->pause_idx = i;
            return;
        }
        if (!trailers_pass(s, d, i))
            return;
    }
    if (sd->sink_held) {
        sd->sink_held = false;
        release_head(s, d, 0, false);
    }
    if (dir_stopped(s, d))
        return;
    sd->trailers_out = true;
    sd->eos_out = true;
    if (d == 0)
        stream_gate_trailers(s);
    else
        s->down->response_trailers(s);
}

static void dir_headers_in(struct stream *s, int d, bool eos)
{
    s->dir[d].eos_in = eos;
    s->dir[d].no_body = eos;
    run_headers(s, d, 0);
}

static void dir_body_in(struct stream *s, int d, struct evbuffer *body, bool eos)
{
    struct stream_dir *sd = &s->dir[d];
    if (dir_stopped(s, d) || sd->eos_in) {
        evbuffer_drain(body, evbuffer_get_length(body));
        return;
    }
    if (eos)
        sd->eos_in = true;
    s->body_bytes[d] += evbuffer_get_length(body);
    if (!sd->headers_done || sd->paused == PH_HEADERS) {
        evbuffer_add_buffer(sd->hold, body);
        check_hold(s, d);
        return;
    }
    run_body(s, d, 0, body);
}

static void dir_trailers_in(struct stream *s, int d)
{
    struct stream_dir *sd = &s->dir[d];
    if (dir_stopped(s, d))
        return;
    sd->trailers_in = true;
    sd->eos_in = true;
    /* Behind paused headers they wait their turn; a body pause (a filter waiting for the
     * rest of the body) learns from them that the body is over. */
    if (!sd->headers_done || sd->paused == PH_HEADERS || sd->paused == PH_TRAILERS)
        return;
    run_trailers(s, d, 0);
}

void stream_request_headers(struct stream *s, bool eos)
{
    dir_headers_in(s, 0, eos);
}

void stream_request_body(struct stream *s, struct evbuffer *body, bool eos)
{
    dir_body_in(s, 0, body, eos);
}

void stream_request_trailers(struct stream *s)
{
    dir_trailers_in(s, 0);
}

void stream_response_headers(struct stream *s, bool eos)
{
    if (s->local_reply || s->reset)
        return;
    dir_headers_in(s, 1, eos);
}

void stream_response_body(struct stream *s, struct evbuffer *body, bool eos)
{
    if (s->local_reply) {
        evbuffer_drain(body, evbuffer_get_length(body));
        return;
    }
    dir_body_in(s, 1, body, eos);
}

void stream_response_trailers(struct stream *s)
{
    if (s->local_reply)
        return;
    dir_trailers_in(s, 1);
}

static void stream_schedule(struct stream *s)
{
    if (!event_pending(&s->deferred, EV_TIMEOUT, NULL))
        event_active(&s->deferred, EV_TIMEOUT, 0);
}

void stream_resume(struct stream *s)
{
    s->resume_pending[0] = s->resume_pending[1] = true;
    stream_schedule(s);
}

void stream_continue(struct stream *s, struct stream_filter *f, int d)
{
    f->continue_pending[d] = true;
    stream_schedule(s);
}

/* Takes the continue_pending marks: a direction paused in headers or trailers at a filter
 * that asked is resumed, a filter that asked and holds body lets it go on; marks of
 * filters the direction is not paused at are dropped. */
static void take_continues(struct stream *s)
{
    for (int d = 0; d < 2; d++) {
        struct stream_dir *sd = &s->dir[d];
        struct stream_filter *paused =
            sd->paused != PH_NONE ? dir_filter(s, d, sd->pause_idx) : NULL;
        for (unsigned i = 0; i < s->chain->n; i++) {
            struct stream_filter *f = &s->filters[i];
            if (f->continue_pending[d] && f == paused)
                s->resume_pending[d] = true;
            else if (f->continue_pending[d] && f->hold[d].mode != HOLD_NONE)
                f->hold[d].release = true;
            f->continue_pending[d] = false;
        }
    }
}

struct evbuffer *stream_held_body(struct stream *s, struct stream_filter *f, int d)
{
    return f->hold[d].mode != HOLD_NONE ? f->hold[d].buf : NULL;
}

bool stream_held_body_ends(const struct stream *s, const struct stream_filter *f, int d)
{
    const struct stream_dir *sd = &s->dir[d];
    if (f->hold[d].mode == HOLD_NONE || !sd->eos_in || sd->trailers_in)
        return false;
    unsigned idx = (unsigned)(f - s->filters);
    return !held_before(s, d, d == 0 ? (int)idx : (int)(s->chain->n - 1 - idx));
}

int stream_paused_at(const struct stream *s, int d, const char **phase)
{
    const struct stream_dir *sd = &s->dir[d];
    int at = -1;
    if (sd->paused != PH_NONE) {
        *phase = sd->paused == PH_HEADERS ? "headers" : "trailers";
        at = sd->pause_idx;
    } else {
        for (int i = 0; i < (int)s->chain->n && sd->holds > 0 && at < 0; i++)
            if (dir_hold(s, d, i)->mode != HOLD_NONE)
                at = i;
        if (at < 0)
            return -1;
        *phase = "body";
    }
    return d == 0 ? at : (int)s->chain->n - 1 - at;
}

bool stream_headers_sent(const struct stream *s, int d)
{
    return s->dir[d].headers_done;
}

bool stream_trailers_sent(const struct stream *s, int d)
{
    return s->dir[d].trailers_out;
}

/* The filter at position p lets the body it holds go on, to the filters after it. */
static void release_hold(struct stream *s, int d, int p)
{
    struct stream_dir *sd = &s->dir[d];
    struct stream_hold *h = dir_hold(s, d, p);
    struct evbuffer *chunk = stream_scratch[d];
    evbuffer_add_buffer(chunk, h->buf);
    hold_end(s, d, h);
    if (sd->eos_in && !sd->trailers_in && dir_trailers(s, d)->n > 0 && !held_before(s, d, p)) {
        /* Trailers added while it held the end of the body (from a callout's answer):
         * they follow the body, from the next filter on. */
        sd->trailers_in = true;
        sd->trailers_idx = p + 1;
    }
    run_body(s, d, p + 1, chunk);
}

/*
 * Direction d goes on where its filters asked (take_continues), or at every pause for
 * stream_resume(): first the holds, the one nearest the sink first (its bytes are the
 * oldest; a release only moves bytes towards the sink, past holds already done), then a
 * headers or trailers pause (which no release can reach: it sits before every hold).
 */
static void dir_go_on(struct stream *s, int d)
{
    struct stream_dir *sd = &s->dir[d];
    bool resume = s->resume_pending[d];
    int phase = sd->paused;
    bool went = false;
    s->resume_pending[d] = false;
    for (int i = (int)s->chain->n - 1; i >= 0 && sd->holds > 0; i--) {
        struct stream_hold *h = dir_hold(s, d, i);
        if (h->mode == HOLD_NONE || !(h->release || (resume && phase == PH_NONE)))
            continue;
        if (dir_stopped(s, d))
            return;
        release_hold(s, d, i);
        went = true;
    }
    if (dir_stopped(s, d))
        return;
    if (resume && phase != PH_NONE) {
        sd->paused = PH_NONE;
        if (phase == PH_HEADERS)
            run_headers(s, d, sd->pause_idx + 1);
        else if (trailers_pass(s, d, sd->pause_idx))
            run_trailers(s, d, sd->pause_idx + 1);
        went = true;
    }
    if (!went || dir_stopped(s, d))
        return;
    /* The source may have stopped reading while we held: let it go on. */
    if (d == 0 && s->down->resume_request)
        s->down->resume_request(s);
    else if (d == 1 && s->up != NULL && s->up->resume_response)
        s->up->resume_response(s);
}

static void do_local_reply(struct stream *s)
{
    s->local_reply_pending = false;
    struct stream_dir *sd = &s->dir[1];
    size_t len = evbuffer_get_length(s->local_body);
    /* The reply's body may wait here behind its headers; a hook may have written into
     * this buffer, a dropped hold, since the reply was asked for. */
    evbuffer_drain(sd->hold, evbuffer_get_length(sd->hold));
    sd->eos_in = sd->no_body = len == 0;
    run_headers(s, 1, 0);
    if (len > 0 && !s->reset && !s->local_reply_pending)
        dir_body_in(s, 1, s->local_body, true);
}

static void stream_deferred_cb(evutil_socket_t fd, short what, void *arg)
{
    struct stream *s = arg;
    if (s->reset)
        return;
    if (s->local_reply_pending) {
        s->resume_pending[0] = s->resume_pending[1] = false;
        do_local_reply(s);
        return;
    }
    take_continues(s);
    for (int d = 0; d < 2; d++) {
        dir_go_on(s, d);
        if (s->reset)
            return;
    }
}

void stream_reset(struct stream *s)
{
    if (s->reset)
        return;
    s->reset = true;
    drop_holds(s, 0);
    drop_holds(s, 1);
    if (s->up != NULL && s->up->abort)
        s->up->abort(s);
    s->down->reset(s);
}

void stream_local_reply(struct stream *s, int status, const char *content_type, const char *body,
                        size_t body_len)
{
    if (s->reset)
        return;
    if (s->resp_started || s->local_reply_pending) {
        /* Too late for a clean answer: the client sees the connection close. */
        stream_reset(s);
        return;
    }
    s->local_reply = true;
    s->local_reply_pending = true;
    s->details = "local_reply";
    if (s->up != NULL && s->up->abort)
        s->up->abort(s);
    s->status = status;
    s->resp_headers.n = 0;
    s->resp_trailers.n = 0;
    s->resp_content_length = (int64_t)body_len;
    s->resp_no_body = s->method_id == H1_METHOD_HEAD; /* the length, not the body */
    s->body_bytes[1] = 0;
    if (content_type != NULL)
        stream_headers_add_ref(s, &s->resp_headers, "content-type", 12, content_type,
                               strlen(content_type));
    drop_holds(s, 0);
    drop_holds(s, 1);
    struct stream_dir *sd = &s->dir[1];
    evbuffer_drain(sd->hold, evbuffer_get_length(sd->hold));
    memset(sd, 0, offsetof(struct stream_dir, hold));
    evbuffer_drain(s->local_body, evbuffer_get_length(s->local_body));
    if (body_len > 0)
        evbuffer_add(s->local_body, body, body_len);
    stream_schedule(s);
}

void stream_local_reply_headers(struct stream *s, int status, const struct stream_header *headers,
                                uint32_t n, const char *body, size_t body_len, const char *details)
{
    bool has_type = false;
    for (uint32_t i = 0; i < n; i++)
        if (headers[i].name_len == 12 && strncasecmp(headers[i].name, "content-type", 12) == 0)
            has_type = true;
    stream_local_reply(s, status, has_type || body_len == 0 ? NULL : "text/plain", body, body_len);
    if (!s->local_reply_pending)
        return; /* too late: the stream was reset */
    for (uint32_t i = 0; i < n; i++)
        stream_headers_add(s, &s->resp_headers, headers[i].name, headers[i].name_len,
                           headers[i].value, headers[i].value_len);
    s->details = stream_strdup(s, details ? details : "local_reply",
                               strlen(details ? details : "local_reply"));
}

/* Whether what direction d holds wants the source stopped now: body behind headers
 * paused with back-pressure, or watermark holds, together past the high-water mark. */
static bool hold_full(const struct stream *s, int d)
{
    return dir_held(s, d, true) >= STREAM_HIGH_WATER;
}

bool stream_request_writable(struct stream *s)
{
    struct stream_dir *sd = &s->dir[0];
    if (s->local_reply || s->reset)
        return true; /* the codec discards the rest */
    if (!sd->headers_done || sd->paused != PH_NONE || sd->holds > 0)
        return !hold_full(s, 0);
    if (s->upgrade != NULL && !s->upgraded) /* the gate holds tunnel bytes until the 101 */
        return evbuffer_get_length(s->req_buffer) < STREAM_HIGH_WATER;
    return s->up->backlog == NULL || s->up->backlog(s) < STREAM_HIGH_WATER;
}

bool stream_response_writable(struct stream *s)
{
    return s->local_reply || s->reset || !hold_full(s, 1);
}

void stream_request_drained(struct stream *s)
{
    if (s->down->resume_request)
        s->down->resume_request(s);
}

void stream_response_drained(struct stream *s)
{
    if (s->up != NULL && s->up->resume_response)
        s->up->resume_response(s);
}
