/*
 * hc_replay: test plugin for what `wasp replay` offers plugin authors.
 *
 * Root contexts are chosen by root id, as the C++ and AssemblyScript SDKs do: the plugin
 * knows the root ids "alpha" and "beta", reads plugin_root_id when a root context is
 * created, and for any other id logs "no root context for root id X" at critical level
 * and aborts (a trap), as those SDKs do.
 *
 * Its configuration is "MODE PROP..." where each PROP is TYPE:PATH (path segments joined
 * by dots, "\." a dot inside one; TYPE s string, i int64, d double, b bool, m map of string values,
 * x bytes in hex) to read with proxy_get_property, and MODE one of: props  logs every PROP from
 * proxy_on_configure ("root PATH = VALUE") and from the request headers ("stream PATH = VALUE");
 * "status N" when not OK tick   ticks every 10 ms from the root (no traffic needed), logging "tick
 * N"; on the first tick calls upstream "authz" from the root and logs its answer; poll  as
 * tick, with a callout to "authz" /poll on every tick (a poller that never lets go); stall
 * pauses every request in its headers and never continues it; nodone  its root answers
 * proxy_on_done with false and never calls proxy_done
 */
#include "proxy_wasm.h"

static const char *const root_ids[] = {"alpha", "beta"};
static char mode[16];
static char props[1024];
static int ticks;

/* Prints v (len bytes) as TYPE says into out. */
static void format(char type, const char *v, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    if (type == 'i' && len == 8) {
        long long x;
        memcpy(&x, v, 8);
        snprintf(out, cap, "%lld", x);
    } else if (type == 'd' && len == 8) {
        double x;
        memcpy(&x, v, 8);
        snprintf(out, cap, "%lld/1000", (long long)(x * 1000)); /* no %f in the SDK's libc */
    } else if (type == 'b' && len == 1) {
        snprintf(out, cap, "%s", v[0] ? "true" : "false");
    } else if (type == 'm') {
        struct wasp_bytes b = {(char *)v, len};
        struct wasp_pairs it;
        const char *k, *val;
        size_t kl, vl;
        if (!wasp_pairs_init(&it, &b)) {
            snprintf(out, cap, "<not a map>");
            return;
        }
        while (wasp_pairs_next(&it, &k, &kl, &val, &vl) && n < cap)
            n += (size_t)snprintf(out + n, cap - n, "%s%.*s=%.*s", n ? "," : "", (int)kl, k,
                                  (int)vl, val);
    } else if (type == 'x') {
        for (size_t i = 0; i < len && n + 3 < cap; i++)
            n += (size_t)snprintf(out + n, cap - n, "%02x", (unsigned char)v[i]);
    } else {
        snprintf(out, cap, "%.*s", (int)len, v);
    }
}

/* Logs every configured property as "<who> PATH = VALUE". */
static void show_props(const char *who)
{
    for (const char *p = props; *p;) {
        const char *end = strchr(p, ' ');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        char path[256], value[1024];
        if (len > 2 && len - 2 < sizeof(path) && p[1] == ':') {
            size_t plen = 0;
            for (size_t i = 2; i < len; i++) { /* "\." is a dot inside a segment */
                if (p[i] == '\\' && i + 1 < len && p[i + 1] == '.')
                    path[plen++] = p[++i];
                else
                    path[plen++] = p[i] == '.' ? '\0' : p[i];
            }
            struct wasp_bytes v = {0};
            int32_t rc = proxy_get_property(path, plen, &v.data, &v.len);
            if (rc == WASP_OK)
                format(p[0], v.data, v.len, value, sizeof(value));
            else
                snprintf(value, sizeof(value), "status %d", rc);
            wasp_log(WASP_LOG_INFO, "%s %.*s = %s", who, (int)len - 2, p + 2, value);
            wasp_bytes_free(&v);
        }
        p += len;
        while (*p == ' ')
            p++;
    }
}

void WASP_EXPORT(proxy_on_context_create)(uint32_t ctx, uint32_t parent)
{
    struct wasp_bytes id = {0};

    if (parent != 0)
        return;
    wasp_get_property(&id, "plugin_root_id", NULL);
    for (size_t i = 0; i < sizeof(root_ids) / sizeof(root_ids[0]); i++)
        if (wasp_bytes_eq(&id, root_ids[i])) {
            wasp_bytes_free(&id);
            return;
        }
    wasp_log(WASP_LOG_CRITICAL, "no root context for root id %.*s", (int)id.len,
             id.data ? id.data : "");
    __builtin_trap();
}

int32_t WASP_EXPORT(proxy_on_configure)(uint32_t root, uint32_t size)
{
    struct wasp_bytes cfg = {0};

    if (size > 0 &&
        wasp_get_configuration(WASP_BUFFER_PLUGIN_CONFIGURATION, size, &cfg) == WASP_OK &&
        cfg.len < sizeof(props)) {
        const char *sp = memchr(cfg.data, ' ', cfg.len);
        size_t ml = sp != NULL ? (size_t)(sp - cfg.data) : cfg.len;
        if (ml < sizeof(mode))
            memcpy(mode, cfg.data, ml);
        if (sp != NULL)
            memcpy(props, sp + 1, cfg.len - ml - 1);
    }
    wasp_bytes_free(&cfg);
    if (strcmp(mode, "props") == 0)
        show_props("root");
    if (strcmp(mode, "tick") == 0 || strcmp(mode, "poll") == 0)
        proxy_set_tick_period_milliseconds(10);
    return 1;
}

void WASP_EXPORT(proxy_on_tick)(uint32_t root)
{
    uint64_t now = 0;
    proxy_get_current_time_nanoseconds(&now);
    wasp_log(WASP_LOG_INFO, "tick %d", ++ticks);
    if (ticks == 1) {
        const char *kv[] = {":method", "GET", ":path", "/from-root", ":authority", "authz"};
        uint32_t token = 0;
        int32_t rc = wasp_http_call("authz", kv, 3, NULL, 0, 1000, &token);
        wasp_log(WASP_LOG_INFO, "root callout: status %d", rc);
    }
    if (strcmp(mode, "poll") == 0) {
        const char *kv[] = {":method", "GET", ":path", "/poll", ":authority", "authz"};
        uint32_t token = 0;
        wasp_http_call("authz", kv, 3, NULL, 0, 1000, &token);
    }
}

void WASP_EXPORT(proxy_on_http_call_response)(uint32_t root, uint32_t token, uint32_t nh,
                                              uint32_t body_size, uint32_t nt)
{
    struct wasp_bytes body = {0};
    wasp_get_buffer(WASP_BUFFER_HTTP_CALL_RESPONSE_BODY, 0, body_size, &body);
    wasp_log(WASP_LOG_INFO, "root callout answered: %u headers, %u body bytes, body %.*s", nh,
             body_size, (int)body.len, body.data ? body.data : "");
    wasp_bytes_free(&body);
}

int32_t WASP_EXPORT(proxy_on_request_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    if (strcmp(mode, "props") == 0)
        show_props("stream");
    return strcmp(mode, "stall") == 0 ? WASP_PAUSE : WASP_CONTINUE;
}

int32_t WASP_EXPORT(proxy_on_done)(uint32_t root)
{
    return strcmp(mode, "nodone") != 0;
}
