/*
 * ratelimit: a fixed-window rate limiter shared by every worker through shared data.
 * Configuration: requests per second per client (default 10). The client is the
 * x-client-id header, else the source address (without its port). Counters live in shared data as
 * "<window>:<count>" and are updated with compare-and-swap, retrying on CAS_MISMATCH,
 * so concurrent workers never lose an increment of an existing counter. Over the limit: 429.
 *
 * The one race left is the ABI's: it has no create-if-absent (a set with cas 0 is
 * unconditional), so when a client's very first requests reach two workers at once, both
 * may see no counter and the later write replaces the earlier one's count. After that the
 * key exists for good (new windows are CAS updates of it), so this can only happen once
 * per client.
 */
#include "proxy_wasm.h"

static uint64_t limit = 10;
static uint32_t limited_metric;

int32_t WASP_EXPORT(proxy_on_configure)(uint32_t root_id, uint32_t size)
{
    if (size > 0) {
        struct wasp_bytes conf;
        if (wasp_get_configuration(WASP_BUFFER_PLUGIN_CONFIGURATION, size, &conf) != WASP_OK)
            return 0;
        char text[32] = "";
        if (conf.len < sizeof(text))
            memcpy(text, conf.data, conf.len);
        wasp_bytes_free(&conf);
        char *end;
        unsigned long long v = strtoull(text, &end, 10);
        if (text[0] == '\0' || *end != '\0' || v == 0) {
            wasp_log(WASP_LOG_ERROR, "ratelimit: configuration must be a positive integer");
            return 0;
        }
        limit = v;
    }
    wasp_define_metric(WASP_METRIC_COUNTER, "ratelimit_limited_total", &limited_metric);
    return 1;
}

/* The address part of "ip:port" or "[ipv6]:port" (source.address carries the port). */
static size_t address_without_port(const char *a, size_t len)
{
    if (len > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', len);
        return close ? (size_t)(close - a) + 1 : len;
    }
    const char *colon = memchr(a, ':', len);
    if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon - a) - 1) == NULL)
        return (size_t)(colon - a); /* exactly one colon: IPv4 with a port */
    return len;
}

static void client_key(char *key, size_t size)
{
    struct wasp_bytes v = {0};
    size_t len;
    if (wasp_get_header(WASP_MAP_REQUEST_HEADERS, "x-client-id", &v) == WASP_OK && v.len > 0) {
        len = v.len;
    } else {
        wasp_bytes_free(&v);
        wasp_get_property(&v, "source", "address", NULL);
        len = address_without_port(v.data, v.len);
    }
    snprintf(key, size, "rl:%.*s", (int)(len < 200 ? len : 200), v.data ? v.data : "");
    wasp_bytes_free(&v);
}

/* Counts one request for key in the current window; returns the new count. */
static uint64_t count_request(const char *key, uint64_t window)
{
    for (int attempt = 0; attempt < 32; attempt++) {
        struct wasp_bytes cur = {0};
        uint32_t cas = 0;
        uint64_t count = 0;
        if (wasp_get_shared_data(key, &cur, &cas) == WASP_OK) {
            char text[64] = "";
            if (cur.len < sizeof(text))
                memcpy(text, cur.data, cur.len);
            unsigned long long w = 0, c = 0;
            if (sscanf(text, "%llu:%llu", &w, &c) == 2 && w == window)
                count = c;
        }
        wasp_bytes_free(&cur);
        char next[64];
        int n = snprintf(next, sizeof(next), "%llu:%llu", (unsigned long long)window,
                         (unsigned long long)count + 1);
        int32_t rc = wasp_set_shared_data(key, next, (size_t)n, cas);
        if (rc == WASP_OK)
            return count + 1;
        if (rc != WASP_CAS_MISMATCH)
            break;
    }
    return UINT64_MAX; /* could not count: treat as over the limit */
}

int32_t WASP_EXPORT(proxy_on_request_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    uint64_t now = 0;
    proxy_get_current_time_nanoseconds(&now);
    char key[256];
    client_key(key, sizeof(key));
    uint64_t count = count_request(key, now / 1000000000u);
    if (count <= limit)
        return WASP_CONTINUE;
    proxy_increment_metric(limited_metric, 1);
    static const char *const hdrs[] = {"retry-after", "1"};
    wasp_send_local_response(429, "rate_limited", "too many requests\n", 18, hdrs, 1);
    return WASP_PAUSE;
}
