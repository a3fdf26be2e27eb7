/*
 * tls.h - TLS termination (OpenSSL): one server SSL_CTX per https listener and
 * configuration generation (certificates are re-read on every reload), TLS 1.2+,
 * ALPN h2 / http/1.1, SNI with per-name certificates, session resumption (server cache
 * and tickets), the handshake with a timeout, then the connection goes to the HTTP/2 or
 * the HTTP/1.1 codec over the TLS transport (struct srv_io_ops).
 */
#ifndef WASP_TLS_TLS_H
#define WASP_TLS_TLS_H

#include <stddef.h>

struct cfg_listener;
struct daemon_gen;
struct worker;
struct srv_io_ops;

struct tls_ctx;

/*
 * Builds the listener's server context: loads and checks the certificate chain and the
 * key (and that they match), and every SNI certificate. Main thread.
 * @return the context, or NULL with a message in err.
 */
struct tls_ctx *tls_ctx_new(const struct cfg_listener *l, char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx *t);

/*
 * Starts the TLS handshake on accepted socket fd of listener listener_index of gen (the
 * listener's worker_listener_conf.tls must be set). Closes fd on failure.
 */
void tls_conn_new(struct worker *w, int fd, const char *client, struct daemon_gen *gen,
                  size_t listener_index);

/* Handshakes in progress: drain closes them, close_all too. */
void tls_drain_all(struct worker *w);
void tls_close_all(struct worker *w);

/* The transport of an established TLS connection (ctx: its SSL object). */
extern const struct srv_io_ops tls_io_ops;

#endif
