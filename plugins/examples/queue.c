/*
 * queue: a shared-queue producer and consumer in one module, told apart by root id.
 * Root "producer" enqueues "<method> <path>" of every request on the queue
 * "requests" (resolved in its own VM). Root "consumer" registers that queue and, on
 * proxy_on_queue_ready, drains it, logging each item and counting them in the
 * "queue_consumed_total" counter.
 */
#include "proxy_wasm.h"

enum role { ROLE_NONE, ROLE_PRODUCER, ROLE_CONSUMER };

struct root {
    uint32_t id; /* the root context that owns this state */
    enum role role;
    uint32_t queue_id;
    uint32_t consumed_metric;
};

static struct root *root_of(uint32_t id)
{
    return wasp_ctx_get(id);
}

void WASP_EXPORT(proxy_on_context_create)(uint32_t ctx, uint32_t parent)
{
    if (parent == 0) {
        struct root *r = calloc(1, sizeof(*r));
        if (r == NULL)
            return;
        r->id = ctx;
        if (!wasp_ctx_set(ctx, r))
            free(r);
        return;
    }
    wasp_ctx_set(ctx, root_of(parent)); /* streams share their root's state */
}

int32_t WASP_EXPORT(proxy_on_configure)(uint32_t root_id, uint32_t size)
{
    struct root *r = root_of(root_id);
    struct wasp_bytes id = {0};
    if (r == NULL || wasp_get_property(&id, "plugin_root_id", NULL) != WASP_OK)
        return 0;
    if (wasp_bytes_eq(&id, "consumer")) {
        r->role = ROLE_CONSUMER;
        if (proxy_register_shared_queue("requests", 8, &r->queue_id) != WASP_OK)
            return 0;
        wasp_define_metric(WASP_METRIC_COUNTER, "queue_consumed_total", &r->consumed_metric);
    } else if (wasp_bytes_eq(&id, "producer")) {
        r->role = ROLE_PRODUCER;
    }
    wasp_bytes_free(&id);
    return r->role != ROLE_NONE;
}

int32_t WASP_EXPORT(proxy_on_request_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    struct root *r = root_of(ctx);
    if (r == NULL || r->role != ROLE_PRODUCER)
        return WASP_CONTINUE;
    if (r->queue_id == 0 &&
        proxy_resolve_shared_queue("", 0, "requests", 8, &r->queue_id) != WASP_OK) {
        wasp_log(WASP_LOG_WARN, "producer: queue \"requests\" is not registered");
        return WASP_CONTINUE;
    }
    struct wasp_bytes method = {0}, path = {0};
    wasp_get_header(WASP_MAP_REQUEST_HEADERS, ":method", &method);
    wasp_get_header(WASP_MAP_REQUEST_HEADERS, ":path", &path);
    char item[512];
    int len = snprintf(item, sizeof(item), "%.*s %.*s", (int)method.len,
                       method.data ? method.data : "", (int)path.len, path.data ? path.data : "");
    wasp_bytes_free(&method);
    wasp_bytes_free(&path);
    if (len >= (int)sizeof(item))
        len = sizeof(item) - 1;
    proxy_enqueue_shared_queue(r->queue_id, item, (size_t)len);
    return WASP_CONTINUE;
}

void WASP_EXPORT(proxy_on_queue_ready)(uint32_t root_id, uint32_t queue_id)
{
    struct root *r = root_of(root_id);
    if (r == NULL || r->role != ROLE_CONSUMER)
        return;
    struct wasp_bytes item = {0};
    while (proxy_dequeue_shared_queue(queue_id, &item.data, &item.len) == WASP_OK) {
        wasp_log(WASP_LOG_INFO, "consumer: %.*s", (int)item.len, item.data ? item.data : "");
        proxy_increment_metric(r->consumed_metric, 1);
        wasp_bytes_free(&item);
    }
}

void WASP_EXPORT(proxy_on_delete)(uint32_t ctx)
{
    struct root *r = wasp_ctx_take(ctx);
    if (r != NULL && r->id == ctx)
        free(r); /* only the root owns it; streams borrowed it */
}
