/*
 * hc_queue: test plugin for shared queues and shared data across VMs. With root id
 * "consumer" it registers the queue "jobs" and, on proxy_on_queue_ready, drains it and
 * logs each item. With root id "producer" it resolves "jobs" (in its own vm_id) on each
 * request, enqueues the request path, and counts requests in the shared-data key "count"
 * with a compare-and-swap loop, logging the new count.
 */
#include "proxy_wasm.h"

static bool consumer;
static uint32_t queue_id;

int32_t WASP_EXPORT(proxy_on_configure)(uint32_t root_id, uint32_t size)
{
    struct wasp_bytes rid = {0};

    wasp_get_property(&rid, "plugin_root_id", NULL);
    consumer = wasp_bytes_eq(&rid, "consumer");
    wasp_bytes_free(&rid);
    if (consumer && proxy_register_shared_queue("jobs", 4, &queue_id) != WASP_OK)
        return 0;
    return 1;
}

void WASP_EXPORT(proxy_on_queue_ready)(uint32_t root_id, uint32_t id)
{
    struct wasp_bytes item;

    for (;;) {
        item.data = NULL;
        item.len = 0;
        int32_t rc = proxy_dequeue_shared_queue(id, &item.data, &item.len);
        if (rc != WASP_OK) {
            wasp_log(WASP_LOG_INFO, "queue %u drained: status %d", id, rc);
            return;
        }
        wasp_log(WASP_LOG_INFO, "dequeued: %.*s", (int)item.len, item.data);
        wasp_bytes_free(&item);
    }
}

int32_t WASP_EXPORT(proxy_on_request_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    struct wasp_bytes path, cur;
    uint32_t id, cas;
    char next[16];

    if (consumer)
        return WASP_CONTINUE;
    if (proxy_resolve_shared_queue("", 0, "jobs", 4, &id) != WASP_OK) {
        wasp_log(WASP_LOG_ERROR, "no queue jobs");
        return WASP_CONTINUE;
    }
    if (wasp_get_header(WASP_MAP_REQUEST_HEADERS, ":path", &path) == WASP_OK) {
        proxy_enqueue_shared_queue(id, path.data, path.len);
        wasp_bytes_free(&path);
    }
    for (;;) {
        int count = 0;
        cas = 0;
        if (wasp_get_shared_data("count", &cur, &cas) == WASP_OK) {
            snprintf(next, sizeof(next), "%.*s", (int)cur.len, cur.data ? cur.data : "");
            count = atoi(next);
            wasp_bytes_free(&cur);
        }
        snprintf(next, sizeof(next), "%d", count + 1);
        if (wasp_set_shared_data("count", next, strlen(next), cas) == WASP_OK) {
            wasp_log(WASP_LOG_INFO, "count %s", next);
            break;
        }
    }
    return WASP_CONTINUE;
}
