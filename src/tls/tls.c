/*
 * tls.c - TLS termination with OpenSSL (see tls.h).
 *
 * The SSL object sits directly on the non-blocking socket; the connection's codec reads
 * and writes through tls_io_ops. Renegotiation is off, so a read only ever waits for the
 * socket to be readable and a write for it to be writable (TLS 1.3 key updates are
 * written by OpenSSL on the next write).
 */
#include "tls/tls.h"

#include "config/config.h"
#include "daemon/worker.h"
#include "http2/h2.h"
#include "log/log.h"
#include "server/server.h"
#include "stream/stream.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define TLS_RECORD 16384

/* Mozilla "intermediate" TLS 1.2 suites (forward secret AEAD only); 1.3 uses defaults. */
static const char tls_ciphers12[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

static const unsigned char tls_alpn[] = "\x02h2\x08http/1.1";

struct tls_sni {
    char *name; /* lower case; "*.example.com" matches one label */
    SSL_CTX *ctx;
};

struct tls_ctx {
    SSL_CTX *ctx; /* the default certificate */
    struct tls_sni *sni;
    size_t n_sni;
};

/* ---- contexts ---- */

static void tls_err(char *err, size_t errlen, const char *what, const char *path)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e != 0)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    snprintf(err, errlen, "%s %s: %s", what, path, buf[0] ? buf : "failed");
}

static int tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    unsigned char *o;
    if (SSL_select_next_proto(&o, outlen, tls_alpn, sizeof(tls_alpn) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* no common protocol: HTTP/1.1 without ALPN */
    *out = o;
    return SSL_TLSEXT_ERR_OK;
}

static bool sni_match(const char *pattern, const char *name)
{
    if (pattern[0] == '*' && pattern[1] == '.') {
        const char *dot = strchr(name, '.');
        return dot != NULL && dot != name && strcasecmp(dot + 1, pattern + 2) == 0;
    }
    return strcasecmp(pattern, name) == 0;
}

static int tls_sni_cb(SSL *ssl, int *alert, void *arg)
{
    struct tls_ctx *t = arg;
    (void)alert;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == NULL)
        return SSL_TLSEXT_ERR_OK;
    for (size_t i = 0; i < t->n_sni; i++) {
        if (sni_match(t->sni[i].name, name)) {
            SSL_set_SSL_CTX(ssl, t->sni[i].ctx);
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_OK; /* the default certificate */
}

/* A server context for one certificate/key pair. */
static SSL_CTX *tls_ctx_one(const char *cert, const char *key, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        tls_err(err, errlen, "SSL_CTX_new", "");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_set_cipher_list(ctx, tls_ciphers12) != 1) {
        tls_err(err, errlen, "cipher list", "");
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        tls_err(err, errlen, "cannot load certificate", cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            snprintf(err, errlen, "key %s does not match certificate %s", key, cert);
        } else {
            tls_err(err, errlen, "cannot load key", key);
        }
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "key %s does not match certificate %s", key, cert);
        goto fail;
    }
    SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_cb, NULL);
    /* Resumption: a server-side session cache and (OpenSSL's default) tickets. */
    static const unsigned char sid[] = "wasp";
    SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, 20000);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

struct tls_ctx *tls_ctx_new(const struct cfg_listener *l, char *err, size_t errlen)
{
    struct tls_ctx *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->ctx = tls_ctx_one(l->tls_certificate, l->tls_key, err, errlen);
    if (t->ctx == NULL)
        goto fail;
    if (l->n_tls_sni > 0) {
        t->sni = calloc(l->n_tls_sni, sizeof(*t->sni));
        if (t->sni == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < l->n_tls_sni; i++) {
            const struct cfg_tls_sni *e = &l->tls_sni[i];
            t->sni[i].ctx = tls_ctx_one(e->certificate, e->key, err, errlen);
            if (t->sni[i].ctx == NULL)
                goto fail;
            t->sni[i].name = strdup(e->name);
            t->n_sni = i + 1;
            if (t->sni[i].name == NULL) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
        }
        SSL_CTX_set_tlsext_servername_callback(t->ctx, tls_sni_cb);
        SSL_CTX_set_tlsext_servername_arg(t->ctx, t);
    }
    return t;
fail:
    tls_ctx_free(t);
    return NULL;
}

void tls_ctx_free(struct tls_ctx *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n_sni; i++) {
        SSL_CTX_free(t->sni[i].ctx);
        free(t->sni[i].name);
    }
    free(t->sni);
    SSL_CTX_free(t->ctx);
    free(t);
}

/* ---- the transport ---- */

static ssize_t tls_read(void *ctx, struct evbuffer *in, size_t max)
{
    SSL *ssl = ctx;
    size_t total = 0;
    for (;;) {
        struct evbuffer_iovec v;
        if (evbuffer_reserve_space(in, TLS_RECORD, &v, 1) != 1) {
            errno = ENOMEM;
            return -1;
        }
        int n = SSL_read(ssl, v.iov_base, (int)v.iov_len);
        if (n > 0) {
            v.iov_len = (size_t)n;
            evbuffer_commit_space(in, &v, 1);
            total += (size_t)n;
            /* Decrypted bytes OpenSSL still holds would not wake the loop again. */
            if (total >= max && SSL_pending(ssl) == 0)
                return (ssize_t)total;
            continue;
        }
        evbuffer_commit_space(in, &v, 0);
        int e = SSL_get_error(ssl, n);
        if (total > 0) {
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                ERR_clear_error();
            return (ssize_t)total;
        }
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            errno = EAGAIN;
            return -1;
        }
        ERR_clear_error();
        if (e == SSL_ERROR_ZERO_RETURN)
            return 0;
        errno = ECONNRESET;
        return -1;
    }
}

static int tls_write(void *ctx, struct evbuffer *out)
{
    SSL *ssl = ctx;
    int total = 0;
    size_t len;
    while ((len = evbuffer_get_length(out)) > 0) {
        if (len > TLS_RECORD)
            len = TLS_RECORD;
        const unsigned char *p = evbuffer_pullup(out, (ev_ssize_t)len);
        if (p == NULL) {
            errno = ENOMEM;
            return -1;
        }
        int n = SSL_write(ssl, p, (int)len);
        if (n > 0) {
            evbuffer_drain(out, (size_t)n);
            total += n;
            continue;
        }
        int e = SSL_get_error(ssl, n);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
            if (total > 0)
                return total;
            errno = EAGAIN;
            return -1;
        }
        ERR_clear_error();
        errno = EPIPE;
        return -1;
    }
    return total;
}

static void tls_io_free(void *ctx)
{
    SSL *ssl = ctx;
    /* close_notify if the socket takes it now; never wait for the peer's. */
    SSL_set_quiet_shutdown(ssl, 0);
    if (SSL_is_init_finished(ssl))
        SSL_shutdown(ssl);
    ERR_clear_error();
    SSL_free(ssl);
}

static void tls_info(void *ctx, struct stream_conn_info *out)
{
    SSL *ssl = ctx;
    out->tls_version = SSL_get_version(ssl);
    out->sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    out->mtls = SSL_get0_peer_certificate(ssl) != NULL;
}

const struct srv_io_ops tls_io_ops = {
    .read = tls_read,
    .write = tls_write,
    .free = tls_io_free,
    .info = tls_info,
    .scheme = "https",
};

/* ---- handshakes ---- */

static void tls_hs_step_cb(evutil_socket_t fd, short what, void *arg);

struct tls_hs {
    struct worker *w;
    struct tls_hs *prev, *next;
    struct daemon_gen *gen;
    size_t listener_index;
    int fd;
    SSL *ssl;
    struct event ev, timer;
    char client[64];
};

static __thread struct tls_hs *tls_handshakes;

static void tls_hs_unlink(struct tls_hs *h)
{
    event_del(&h->ev);
    event_del(&h->timer);
    if (h->prev)
        h->prev->next = h->next;
    else
        tls_handshakes = h->next;
    if (h->next)
        h->next->prev = h->prev;
}

/* Ends a handshake that failed; closes everything. */
static void tls_hs_fail(struct tls_hs *h)
{
    struct worker *w = h->w;
    tls_hs_unlink(h);
    SSL_free(h->ssl);
    ERR_clear_error();
    close(h->fd);
    daemon_gen_unref(h->gen);
    free(h);
    worker_conn_closed(w);
}

static void tls_hs_step(struct tls_hs *h)
{
    ERR_clear_error();
    int r = SSL_do_handshake(h->ssl);
    if (r == 1) {
        const unsigned char *proto = NULL;
        unsigned plen = 0;
        SSL_get0_alpn_selected(h->ssl, &proto, &plen);
        struct worker *w = h->w;
        tls_hs_unlink(h);
        /* The codec counts itself as a connection before we stop counting. */
        if (plen == 2 && memcmp(proto, "h2", 2) == 0)
            h2_conn_new(w, h->fd, h->client, h->gen, h->listener_index, &tls_io_ops, h->ssl, NULL);
        else
            srv_conn_new_io(w, h->fd, h->client, h->gen, h->listener_index, &tls_io_ops, h->ssl,
                            NULL);
        daemon_gen_unref(h->gen);
        free(h);
        worker_conn_closed(w);
        return;
    }
    int e = SSL_get_error(h->ssl, r);
    short what;
    if (e == SSL_ERROR_WANT_READ) {
        what = EV_READ;
    } else if (e == SSL_ERROR_WANT_WRITE) {
        what = EV_WRITE;
    } else {
        unsigned long ec = ERR_peek_error();
        char buf[160] = "connection closed";
        if (ec != 0)
            ERR_error_string_n(ec, buf, sizeof(buf));
        log_info("%s: TLS handshake failed: %s", h->client, buf);
        tls_hs_fail(h);
        return;
    }
    event_del(&h->ev);
    event_assign(&h->ev, h->w->base, h->fd, what, tls_hs_step_cb, h);
    event_add(&h->ev, NULL);
}

static void tls_hs_step_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tls_hs_step(arg);
}

static void tls_hs_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tls_hs *h = arg;
    (void)fd;
    (void)what;
    log_info("%s: TLS handshake timeout", h->client);
    tls_hs_fail(h);
}

void tls_conn_new(struct worker *w, int fd, const char *client, struct daemon_gen *gen,
                  size_t listener_index)
{
    const struct worker_listener_conf *lc = &gen->listeners[listener_index];
    struct tls_hs *h = NULL;
    SSL *ssl = NULL;
    if (lc->tls == NULL)
        goto fail;
    ssl = SSL_new(lc->tls->ctx);
    h = calloc(1, sizeof(*h));
    if (ssl == NULL || h == NULL || SSL_set_fd(ssl, fd) != 1)
        goto fail;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    SSL_set_accept_state(ssl);
    h->w = w;
    h->fd = fd;
    h->ssl = ssl;
    h->gen = daemon_gen_ref(gen);
    h->listener_index = listener_index;
    snprintf(h->client, sizeof(h->client), "%s", client);
    evtimer_assign(&h->timer, w->base, tls_hs_timeout_cb, h);
    event_assign(&h->ev, w->base, fd, EV_READ, tls_hs_step_cb, h);
    uint64_t ms = lc->cfg->header_timeout_ms ? lc->cfg->header_timeout_ms : 10000;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(&h->timer, &tv);
    h->next = tls_handshakes;
    if (tls_handshakes)
        tls_handshakes->prev = h;
    tls_handshakes = h;
    w->n_conns++;
    event_add(&h->ev, NULL); /* the ClientHello */
    return;
fail:
    ERR_clear_error();
    log_error("%s: cannot start TLS", client);
    if (ssl)
        SSL_free(ssl);
    free(h);
    close(fd);
}

void tls_drain_all(struct worker *w)
{
    tls_close_all(w);
}

void tls_close_all(struct worker *w)
{
    struct tls_hs *h = tls_handshakes;
    while (h != NULL) {
        struct tls_hs *next = h->next;
        if (h->w == w)
            tls_hs_fail(h);
        h = next;
    }
}
