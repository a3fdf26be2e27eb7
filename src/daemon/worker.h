/*
 * worker.h - worker threads and the runtime generation they serve.
 *
 * A runtime generation wraps one immutable configuration generation (config/) with what
 * the daemon derives from it once, on the main thread: per listener the filter chain and
 * the codec limits. It is reference-counted: each worker holds one on its current
 * generation, each connection one on the generation it serves requests with.
 *
 * Each worker owns an event_base, its own SO_REUSEPORT listening sockets, its
 * connections and its upstream pools. The main thread talks to a worker only through the
 * worker's message pipe (new generation, drain, stop); nothing on the request path locks.
 */
#ifndef WASP_DAEMON_WORKER_H
#define WASP_DAEMON_WORKER_H

#include "http1/h1.h"
#include "log/log.h"
#include "stream/stream.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>

struct cfg_generation;
struct cfg_listener;
struct srv_conn;
struct up_worker;
struct tls_ctx;
struct plugin_set;
struct plugin_worker;
struct cfg_errors;

/* What a worker serves one listener with, for one generation. */
struct worker_listener_conf {
    const struct cfg_listener *cfg;
    struct stream_chain *chain;
    struct h1_limits h1;
    struct stream_limits stream;
    struct tls_ctx *tls; /* https: the server context (certificates read at build) */
};

struct daemon_gen {
    atomic_uint refs;
    const struct cfg_generation *cfg;
    struct plugin_set *plugins;             /* validated, with the canary run; NULL: none */
    struct worker_listener_conf *listeners; /* cfg->n_listeners entries, same order */
    size_t n_listeners;
};

/*
 * Builds the runtime generation for cfg (takes over the caller's reference) for
 * n_workers workers: the listeners' chains and TLS contexts, and the plugins (loaded,
 * validated, each started once in a canary VM).
 * @return it with one reference, or NULL with every problem in errors
 *         ("FILE:LINE: [section]: ..." lines).
 */
struct daemon_gen *daemon_gen_new(const struct cfg_generation *cfg, unsigned n_workers,
                                  struct cfg_errors *errors);
struct daemon_gen *daemon_gen_ref(struct daemon_gen *g);
void daemon_gen_unref(struct daemon_gen *g);

/* One listening socket of a worker. */
struct worker_socket {
    struct worker *w;
    int fd;
    struct event ev;
    struct sockaddr_storage sa;
    socklen_t sa_len;
    const char *name;  /* listener name in the current generation */
    size_t conf_index; /* index into the current generation's listeners */
    bool seen;         /* reconcile mark */
};

struct worker {
    unsigned id;
    pthread_t thread;
    struct event_base *base;
    struct daemon_gen *gen; /* current generation (this worker's reference) */
    struct log_access_buf alog;
    struct event alog_timer;

    struct worker_socket *sockets;
    size_t n_sockets;

    struct srv_conn *conns; /* every open downstream connection */
    unsigned n_conns;
    bool draining;

    struct up_worker *up;          /* upstream pools */
    struct plugin_worker *plugins; /* this worker's plugin VMs */

    int msg_fd[2]; /* main -> worker messages */
    struct event msg_ev;
    atomic_bool exited;
    int start_status; /* 0 ok, -1 failed to open listeners */
    char log_tag[24]; /* "worker N": the thread's error-log lines carry it */
};

/* Messages the main thread sends. */
enum worker_msg_kind { WORKER_MSG_GEN = 1, WORKER_MSG_DRAIN, WORKER_MSG_STOP };

/* Opens a listening socket for a (SO_REUSEPORT, non-blocking). @return fd or -1 + errno */
int worker_listen_socket(const struct sockaddr *sa, socklen_t len);

/*
 * Checks that nobody else holds address sa: binds it WITHOUT SO_REUSEPORT (which would
 * let a second daemon silently share the port) and closes it. @return 0 or -1 + errno.
 */
int worker_probe_address(const struct sockaddr *sa, socklen_t len);

/*
 * Starts worker `id` serving gen (the worker takes its own reference). Returns once the
 * worker opened its sockets. @return 0, or -1 with a message in err.
 */
int worker_start(struct worker *w, unsigned id, struct daemon_gen *gen, char *err, size_t errlen);
/* Posts a message (gen: a reference the worker takes over). Main thread. */
int worker_post(struct worker *w, enum worker_msg_kind kind, struct daemon_gen *gen);
void worker_join(struct worker *w);

/* Called by the server when a connection closes (drain bookkeeping). */
void worker_conn_closed(struct worker *w);

#endif
