/*
 * server.h - the HTTP/1.1 server connection: socket reads -> h1 parser -> stream, and
 * the stream's response -> h1 head/chunk writers -> socket.
 *
 * One request is processed at a time per connection; pipelined requests wait in the
 * input buffer (bounded), so responses go out in order. Keep-alive, HTTP/1.0,
 * Expect: 100-continue, header/idle/body timeouts, and back-pressure in both directions
 * (a slow client stops the upstream reads; a slow upstream stops the client reads).
 * Malformed requests get a 4xx/5xx answer and the connection is closed. A request with
 * Upgrade (other than h2c) that the upstream answers with 101 turns the connection into
 * a byte tunnel: half-closes passed on both ways, tunnel_idle_timeout.
 */
#ifndef WASP_SERVER_SERVER_H
#define WASP_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct evbuffer;
struct stream_conn_info;
struct worker;
struct daemon_gen;
struct worker_listener_conf;

/*
 * Takes over accepted socket fd on worker w, served with listener conf lc of gen (the
 * connection takes its own generation reference). Closes fd on failure.
 */
void srv_conn_new(struct worker *w, int fd, const struct sockaddr *peer, socklen_t peer_len,
                  struct daemon_gen *gen, size_t listener_index);

/*
 * A transport under a connection other than the plain socket (TLS, src/tls/). read and
 * write behave like srv_read_fd() and evbuffer_write() (-1 with errno EAGAIN when the
 * transport must wait for the socket); free releases the context (not the fd).
 */
struct srv_io_ops {
    ssize_t (*read)(void *ctx, struct evbuffer *in, size_t max);
    int (*write)(void *ctx, struct evbuffer *out);
    void (*free)(void *ctx);
    /* The transport's facts for plugins: TLS version, server name, client certificate. */
    void (*info)(void *ctx, struct stream_conn_info *out);
    const char *scheme; /* "https" */
};

/*
 * Like srv_conn_new, over transport io (NULL: the plain socket) with bytes already read
 * (pre, may be NULL; its content is moved). The connection owns io_ctx from now on.
 */
void srv_conn_new_io(struct worker *w, int fd, const char *client, struct daemon_gen *gen,
                     size_t listener_index, const struct srv_io_ops *io, void *io_ctx,
                     struct evbuffer *pre);

/* Drain: close idle connections now, let busy ones finish their request then close. */
void srv_drain_all(struct worker *w);

/* Closes every connection at once (drain deadline passed, or exit). */
void srv_close_all(struct worker *w);

/*
 * Reads what the socket has into `in` (at most max bytes, no FIONREAD, no 4 KiB cap).
 * @return bytes read (> 0), 0 on EOF, -1 with errno (EAGAIN when nothing is there).
 */
ssize_t srv_read_fd(struct evbuffer *in, int fd, size_t max);

/*
 * Writes as much of `out` as the socket takes (one sendmsg of up to 64 pieces, no copy)
 * and drains what went out. @return bytes written, 0 if out is empty, -1 with errno.
 */
ssize_t srv_write_fd(struct evbuffer *out, int fd);

struct stream;
struct h1_request;

/*
 * Fills s's request line, authority and end-to-end header fields from the parsed
 * HTTP/1.1 head r, whose bytes the stream's arena holds at copy (slices of r are offsets
 * into it). An absolute-form target's authority replaces Host (RFC 9112 §3.2.2).
 * Hop-by-hop fields, Expect, Content-Length and HTTP2-Settings are left out. Used for
 * HTTP/1.1 requests and for the request an h2c upgrade turns into stream 1.
 * @return 0, or -1 when out of memory.
 */
int srv_stream_request(struct stream *s, char *copy, const struct h1_request *r);

/* A new connection id, unique in the process (connection.id). Any thread. */
uint64_t srv_new_conn_id(void);

/* Fills out for a connection on socket fd with id over transport io (NULL: plain). The
 * facts do not change while the connection lives: the first call reads them into *cache
 * (a connection's, zeroed with it: *known false), later calls copy them from there. */
void srv_conn_info(int fd, uint64_t id, const struct srv_io_ops *io, void *io_ctx,
                   struct stream_conn_info *cache, bool *known, struct stream_conn_info *out);

/* Formats a socket address as "ip:port" into buf. */
void srv_format_addr(const struct sockaddr *sa, char *buf, size_t cap);

#endif
