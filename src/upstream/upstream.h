/*
 * upstream.h - the router and the upstream HTTP/1.1 client: clusters with endpoints in
 * round robin, a keep-alive pool per worker and endpoint, connect/read/idle timeouts
 * (502 on connection errors, 504 on timeouts, each with a short body; the read timeout
 * runs between two reads once the whole request was sent), one retry of an
 * idempotent request whose pooled connection died before any response byte, hop-by-hop
 * removal, Via and X-Forwarded-For/-Proto, Host preserved. Bodies stream both ways with
 * back-pressure (Content-Length and chunked); this side never buffers them whole (the
 * stream's request gate may hold a small request body before the head comes here).
 * A request asking for a protocol upgrade goes with Connection/Upgrade (unless the
 * listener or route refuses upgrades); a 101 makes the connection a byte tunnel that is
 * never pooled: each side's end is passed on as a half-close, and it closes when both
 * ended.
 */
#ifndef WASP_UPSTREAM_UPSTREAM_H
#define WASP_UPSTREAM_UPSTREAM_H

#include "stream/stream.h"

struct event_base;
struct up_worker;

/*
 * The upstream side of a stream: routes the request (stream->route_ctx is the
 * worker_listener_conf, stream->worker the struct worker) to a cluster or a local
 * response, then proxies it.
 */
extern const struct stream_upstream_ops up_router_ops;

/* The upstream side of a stream that goes to one cluster (stream->route_ctx is the
 * struct cfg_cluster, stream->worker the struct worker): plugin callouts. */
extern const struct stream_upstream_ops up_cluster_ops;

/* Per-worker upstream state (pools, round-robin counters). */
struct up_worker *up_worker_new(struct event_base *base);
/* Closes every pooled connection and frees the state (worker exit). */
void up_worker_free(struct up_worker *u);

#endif
