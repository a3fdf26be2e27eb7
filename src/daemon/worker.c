/*
 * worker.c - worker threads (event loop, SO_REUSEPORT listeners, accept, messages from
 * the main thread) and the runtime generation (see worker.h).
 */
#include "daemon/worker.h"

#include "config/config.h"
#include "http2/h2.h"
#include "log/log.h"
#include "plugin/plugin.h"
#include "server/server.h"
#include "tls/tls.h"
#include "upstream/upstream.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WORKER_ACCEPT_BATCH 64

struct worker_msg {
    int kind;
    struct daemon_gen *gen;
};

/* ---- runtime generation ---- */

static int gen_add_header_filters(struct stream_chain *c, const char *filter,
                                  const struct cfg_header *h, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        char arg[1024];
        if (h[i].value != NULL)
            snprintf(arg, sizeof(arg), "%s: %s", h[i].name, h[i].value);
        else
            snprintf(arg, sizeof(arg), "%s", h[i].name);
        if (stream_chain_add(c, filter, arg, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* Appends the wasm filters of the listener's plugins, in order. */
static int gen_add_plugin_filters(struct stream_chain *c, const struct cfg_listener *l,
                                  const struct cfg_generation *cfg, struct plugin_set *set,
                                  char *err, size_t errlen)
{
    for (size_t k = 0; k < l->n_plugins; k++) {
        size_t i = 0;
        while (i < cfg->n_plugins && cfg->plugins[i] != l->plugins[k])
            i++;
        void *conf = set != NULL && i < cfg->n_plugins ? plugin_filter_conf(set, i) : NULL;
        if (conf == NULL || stream_chain_add_conf(c, &plugin_filter_ops, conf) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/*
 * The listener's chain: [test_pause] [plugins...] [header edits...]. Requests meet the
 * plugins first and the configured edits last (as Envoy's route edits, applied when
 * forwarding); responses run the chain backwards, so the edits come first and the
 * plugins see them (as Envoy's encoder filters see the route's response edits).
 */
static struct stream_chain *gen_build_chain(const struct cfg_listener *l,
                                            const struct cfg_generation *cfg,
                                            struct plugin_set *set, char *err, size_t errlen)
{
    struct stream_chain *c = stream_chain_new();
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* test_pause (testing): the pause filter first, so that everything behind it waits
     * for its timer to resume the stream from the event loop. */
    if (l->test_pause_ms > 0) {
        char ms[32];
        snprintf(ms, sizeof(ms), "%llu", (unsigned long long)l->test_pause_ms);
        if (stream_chain_add(c, "pause", ms, err, errlen) < 0) {
            stream_chain_free(c);
            return NULL;
        }
    }
    /* Responses run the chain backwards: adds are listed before removes so that
     * removes run first on the way out, as they do on the way in. */
    if (gen_add_plugin_filters(c, l, cfg, set, err, errlen) < 0 ||
        gen_add_header_filters(c, "remove_request_header", l->request_headers_remove,
                               l->n_request_headers_remove, err, errlen) < 0 ||
        gen_add_header_filters(c, "add_request_header", l->request_headers_add,
                               l->n_request_headers_add, err, errlen) < 0 ||
        gen_add_header_filters(c, "add_response_header", l->response_headers_add,
                               l->n_response_headers_add, err, errlen) < 0 ||
        gen_add_header_filters(c, "remove_response_header", l->response_headers_remove,
                               l->n_response_headers_remove, err, errlen) < 0) {
        stream_chain_free(c);
        return NULL;
    }
    return c;
}

static void gen_free(struct daemon_gen *g)
{
    for (size_t i = 0; i < g->n_listeners; i++) {
        stream_chain_free(g->listeners[i].chain);
        tls_ctx_free(g->listeners[i].tls);
    }
    free(g->listeners);
    plugin_set_unref(g->plugins);
    cfg_unref(g->cfg);
    free(g);
}

struct daemon_gen *daemon_gen_new(const struct cfg_generation *cfg, unsigned n_workers,
                                  struct cfg_errors *errors)
{
    struct daemon_gen *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        cfg_errors_add(errors, "%s: out of memory", cfg->path);
        cfg_unref(cfg);
        return NULL;
    }
    atomic_init(&g->refs, 1);
    g->cfg = cfg;
    g->n_listeners = cfg->n_listeners;
    g->listeners = calloc(cfg->n_listeners ? cfg->n_listeners : 1, sizeof(*g->listeners));
    if (g->listeners == NULL) {
        cfg_errors_add(errors, "%s: out of memory", cfg->path);
        gen_free(g);
        return NULL;
    }
    if (cfg->n_plugins > 0) {
        /* At debug level every hostcall of the plugins is logged, decoded (it costs
         * nothing otherwise: untraced VMs link the hostcalls directly). */
        struct plugin_set_options po = {.n_workers = n_workers,
                                        .trace = cfg->daemon.log_level == CFG_LOG_DEBUG};
        g->plugins = plugin_set_new(cfg, NULL, 0, &po, errors);
        if (g->plugins == NULL) {
            gen_free(g);
            return NULL;
        }
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct cfg_listener *l = cfg->listeners[i];
        struct worker_listener_conf *lc = &g->listeners[i];
        lc->cfg = l;
        char e[256];
        lc->chain = gen_build_chain(l, cfg, g->plugins, e, sizeof(e));
        if (lc->chain == NULL) {
            cfg_errors_add(errors, "%s: [listener:%s]: %s", cfg->path, l->name, e);
            gen_free(g);
            return NULL;
        }
        h1_limits_default(&lc->h1);
        lc->h1.max_request_line = (uint32_t)l->max_request_line;
        lc->h1.max_head_bytes = (uint32_t)l->max_header_size;
        lc->h1.max_headers = (uint32_t)l->max_headers;
        lc->h1.max_body = l->max_body_size;
        lc->stream.hold_max = (size_t)l->hold_limit;
        lc->stream.request_buffer = l->request_buffering;
        if (l->protocol == CFG_LISTENER_HTTPS) {
            lc->tls = tls_ctx_new(l, e, sizeof(e));
            if (lc->tls == NULL) {
                cfg_errors_add(errors, "%s: [listener:%s]: %s", cfg->path, l->name, e);
                gen_free(g);
                return NULL;
            }
        }
    }
    return g;
}

struct daemon_gen *daemon_gen_ref(struct daemon_gen *g)
{
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
    return g;
}

void daemon_gen_unref(struct daemon_gen *g)
{
    if (g == NULL)
        return;
    if (atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1)
        gen_free(g);
}

/* ---- listening sockets ---- */

int worker_listen_socket(const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto fail;
    if (sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, sa, len) < 0 || listen(fd, 4096) < 0)
        goto fail;
    return fd;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

int worker_probe_address(const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    int rc = bind(fd, sa, len);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

static void worker_accept_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker_socket *ws = arg;
    struct worker *w = ws->w;
    for (int i = 0; i < WORKER_ACCEPT_BATCH; i++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        int c = accept4(fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN)
                log_error("worker %u: accept on %s: %s", w->id, ws->name, strerror(errno));
            return;
        }
        srv_conn_new(w, c, (struct sockaddr *)&peer, plen, w->gen, ws->conf_index);
    }
}

static void worker_socket_close(struct worker_socket *ws)
{
    if (ws->fd < 0)
        return;
    event_del(&ws->ev);
    close(ws->fd);
    ws->fd = -1;
}

static bool listener_served(const struct cfg_listener *l)
{
    return l->protocol == CFG_LISTENER_HTTP || l->protocol == CFG_LISTENER_HTTPS;
}

/*
 * Makes the worker's sockets match gen: keeps sockets whose address is still listened
 * on (no connection in their backlog is lost), opens new ones, closes the rest.
 * @return 0, or -1 if a socket could not be opened (logged, others still served).
 */
static int worker_reconcile(struct worker *w, struct daemon_gen *g)
{
    int rc = 0;
    for (size_t i = 0; i < w->n_sockets; i++)
        w->sockets[i].seen = false;
    size_t need = w->n_sockets + g->n_listeners;
    struct worker_socket *arr = malloc((need ? need : 1) * sizeof(*arr));
    if (arr == NULL)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < g->n_listeners; i++) {
        const struct cfg_listener *l = g->listeners[i].cfg;
        if (!listener_served(l))
            continue;
        struct worker_socket *old = NULL;
        for (size_t j = 0; j < w->n_sockets; j++) {
            struct worker_socket *s = &w->sockets[j];
            if (!s->seen && s->fd >= 0 && s->sa_len == l->address.sa_len &&
                memcmp(&s->sa, &l->address.sa, s->sa_len) == 0) {
                old = s;
                break;
            }
        }
        struct worker_socket *ns = &arr[n];
        if (old != NULL) {
            old->seen = true;
            event_del(&old->ev);
            *ns = *old;
        } else {
            memset(ns, 0, sizeof(*ns));
            ns->fd =
                worker_listen_socket((const struct sockaddr *)&l->address.sa, l->address.sa_len);
            if (ns->fd < 0) {
                log_error("worker %u: listen on %s: %s", w->id, l->address.text, strerror(errno));
                rc = -1;
                continue;
            }
            memcpy(&ns->sa, &l->address.sa, l->address.sa_len);
            ns->sa_len = l->address.sa_len;
        }
        ns->w = w;
        ns->name = l->name;
        ns->conf_index = i;
        n++;
    }
    for (size_t j = 0; j < w->n_sockets; j++)
        if (!w->sockets[j].seen)
            worker_socket_close(&w->sockets[j]);
    free(w->sockets);
    w->sockets = arr;
    w->n_sockets = n;
    /* The array moved: (re)register every event with its new address. */
    for (size_t i = 0; i < n; i++) {
        struct worker_socket *s = &arr[i];
        event_assign(&s->ev, w->base, s->fd, EV_READ | EV_PERSIST, worker_accept_cb, s);
        event_add(&s->ev, NULL);
    }
    return rc;
}

static void worker_close_sockets(struct worker *w)
{
    for (size_t i = 0; i < w->n_sockets; i++)
        worker_socket_close(&w->sockets[i]);
    w->n_sockets = 0;
}

/* The level plugins log at (proxy_get_log_level answers it): the configured one. */
static enum pw_log_level worker_plugin_log_level(const struct daemon_gen *g)
{
    switch (g->cfg->daemon.log_level) {
    case CFG_LOG_DEBUG:
        return PW_LOG_DEBUG;
    case CFG_LOG_INFO:
    case CFG_LOG_NOTICE:
        return PW_LOG_INFO;
    case CFG_LOG_WARN:
        return PW_LOG_WARN;
    default:
        return PW_LOG_ERROR;
    }
}

/* ---- messages ---- */

void worker_conn_closed(struct worker *w)
{
    w->n_conns--;
    if (w->draining && w->n_conns == 0)
        event_base_loopexit(w->base, NULL);
}

static void worker_msg_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct worker_msg m;
    for (;;) {
        ssize_t r = read(fd, &m, sizeof(m));
        if (r != (ssize_t)sizeof(m))
            return;
        switch (m.kind) {
        case WORKER_MSG_GEN:
            if (w->draining) {
                daemon_gen_unref(m.gen);
                break;
            }
            worker_reconcile(w, m.gen);
            daemon_gen_unref(w->gen);
            w->gen = m.gen;
            plugin_worker_set_log_level(w->plugins, worker_plugin_log_level(m.gen));
            plugin_worker_serve(w->plugins, m.gen->plugins);
            h2_gen_changed(w);
            break;
        case WORKER_MSG_DRAIN:
            w->draining = true;
            worker_close_sockets(w);
            srv_drain_all(w);
            if (w->n_conns == 0)
                event_base_loopexit(w->base, NULL);
            break;
        case WORKER_MSG_STOP:
            worker_close_sockets(w);
            srv_close_all(w);
            event_base_loopbreak(w->base);
            break;
        }
    }
}

int worker_post(struct worker *w, enum worker_msg_kind kind, struct daemon_gen *gen)
{
    struct worker_msg m = {kind, gen};
    ssize_t r;
    do {
        r = write(w->msg_fd[1], &m, sizeof(m));
    } while (r < 0 && errno == EINTR);
    return r == (ssize_t)sizeof(m) ? 0 : -1;
}

static void worker_alog_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    log_access_flush(&w->alog);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    snprintf(w->log_tag, sizeof(w->log_tag), "worker %u", w->id);
    log_set_thread_tag(w->log_tag);
    plugin_worker_bind(w->plugins);
    plugin_worker_serve(w->plugins, w->gen->plugins);
    event_base_dispatch(w->base);
    srv_close_all(w);
    worker_close_sockets(w);
    free(w->sockets);
    w->sockets = NULL;
    /* Plugins before the pools: ending roots cancel their callouts' upstream exchanges. */
    plugin_worker_free(w->plugins);
    w->plugins = NULL;
    up_worker_free(w->up);
    w->up = NULL;
    event_del(&w->alog_timer);
    event_del(&w->msg_ev);
    log_access_free(&w->alog);
    stream_free_cache();
    /* Anything still queued (a late generation) is released here. */
    struct worker_msg m;
    while (read(w->msg_fd[0], &m, sizeof(m)) == (ssize_t)sizeof(m))
        if (m.kind == WORKER_MSG_GEN)
            daemon_gen_unref(m.gen);
    daemon_gen_unref(w->gen);
    w->gen = NULL;
    event_base_free(w->base);
    w->base = NULL;
    log_set_thread_tag(NULL);
    atomic_store(&w->exited, true);
    return NULL;
}

int worker_start(struct worker *w, unsigned id, struct daemon_gen *gen, char *err, size_t errlen)
{
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->msg_fd[0] = w->msg_fd[1] = -1;
    struct event_config *ec = event_config_new();
    if (ec == NULL)
        goto nomem;
    /* One thread per base; the changelist folds a del+add in one turn into nothing. */
    event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    w->base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (w->base == NULL)
        goto nomem;
    w->up = up_worker_new(w->base);
    if (w->up == NULL)
        goto nomem;
    w->plugins = plugin_worker_new(w->base, id, NULL, NULL, false, w);
    if (w->plugins == NULL)
        goto nomem;
    plugin_worker_set_log_level(w->plugins, worker_plugin_log_level(gen));
    if (pipe2(w->msg_fd, O_NONBLOCK | O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    event_assign(&w->msg_ev, w->base, w->msg_fd[0], EV_READ | EV_PERSIST, worker_msg_cb, w);
    event_add(&w->msg_ev, NULL);
    log_access_init(&w->alog);
    event_assign(&w->alog_timer, w->base, -1, EV_PERSIST, worker_alog_cb, w);
    struct timeval sec = {1, 0};
    event_add(&w->alog_timer, &sec);
    w->gen = daemon_gen_ref(gen);
    if (worker_reconcile(w, gen) < 0) {
        snprintf(err, errlen, "worker %u: cannot open every listener", id);
        goto fail;
    }
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0) {
        snprintf(err, errlen, "pthread_create: %s", strerror(rc));
        goto fail;
    }
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
fail:
    worker_close_sockets(w);
    free(w->sockets);
    if (w->plugins)
        plugin_worker_free(w->plugins);
    if (w->up)
        up_worker_free(w->up);
    if (w->gen)
        daemon_gen_unref(w->gen);
    if (w->msg_fd[0] >= 0) {
        close(w->msg_fd[0]);
        close(w->msg_fd[1]);
    }
    if (w->base)
        event_base_free(w->base);
    w->base = NULL;
    return -1;
}

void worker_join(struct worker *w)
{
    pthread_join(w->thread, NULL);
    close(w->msg_fd[0]);
    close(w->msg_fd[1]);
}
