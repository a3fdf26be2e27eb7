/*
 * authz: an external authorizer. For every request it calls the cluster named in the
 * configuration (default "authz") with GET /check<request path>, forwarding the
 * Authorization header, and pauses the request. A 2xx answer resumes it; anything else (or a failed call)
 * answers 403 locally. The callout belongs to the root context, so the plugin maps the
 * call id back to its stream and switches to it with proxy_set_effective_context.
 */
#include "proxy_wasm.h"

static char cluster[128] = "authz";

struct pending {
    uint32_t call_id;
    uint32_t stream_id;
};
#define MAX_PENDING 1024
static struct pending pending[MAX_PENDING];

int32_t WASP_EXPORT(proxy_on_configure)(uint32_t root_id, uint32_t size)
{
    struct wasp_bytes conf;
    if (size == 0)
        return 1;
    if (wasp_get_configuration(WASP_BUFFER_PLUGIN_CONFIGURATION, size, &conf) != WASP_OK ||
        conf.len == 0 || conf.len >= sizeof(cluster)) {
        wasp_bytes_free(&conf);
        return 0;
    }
    memcpy(cluster, conf.data, conf.len);
    cluster[conf.len] = '\0';
    wasp_bytes_free(&conf);
    return 1;
}

static void deny(const char *why)
{
    static const char *const hdrs[] = {"content-type", "text/plain"};
    wasp_log(WASP_LOG_INFO, "authz: denied (%s)", why);
    wasp_send_local_response(403, why, "forbidden\n", 10, hdrs, 1);
}

int32_t WASP_EXPORT(proxy_on_request_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    struct wasp_bytes auth = {0};
    wasp_get_header(WASP_MAP_REQUEST_HEADERS, "authorization", &auth);
    char auth_value[512] = "";
    if (auth.len < sizeof(auth_value) && auth.len > 0)
        memcpy(auth_value, auth.data, auth.len);
    wasp_bytes_free(&auth);

    struct wasp_bytes path = {0};
    wasp_get_header(WASP_MAP_REQUEST_HEADERS, ":path", &path);
    char check_path[1024];
    snprintf(check_path, sizeof(check_path), "/check%.*s", (int)path.len,
             path.data ? path.data : "");
    wasp_bytes_free(&path);

    const char *const hdrs[] = {":method", "GET", ":path", check_path, ":authority", cluster,
                                "authorization", auth_value};
    uint32_t call_id = 0;
    int32_t rc = wasp_http_call(cluster, hdrs, auth_value[0] ? 4 : 3, NULL, 0, 1000, &call_id);
    if (rc != WASP_OK) {
        deny("authz_call_failed");
        return WASP_PAUSE;
    }
    for (size_t i = 0; i < MAX_PENDING; i++) {
        if (pending[i].call_id == 0) {
            pending[i].call_id = call_id + 1; /* 0 marks a free slot; ids may be 0 */
            pending[i].stream_id = ctx;
            return WASP_PAUSE;
        }
    }
    deny("authz_overloaded");
    return WASP_PAUSE;
}

void WASP_EXPORT(proxy_on_http_call_response)(uint32_t root, uint32_t call_id, uint32_t nh,
                                              uint32_t body_size, uint32_t nt)
{
    uint32_t stream_id = 0;
    for (size_t i = 0; i < MAX_PENDING; i++) {
        if (pending[i].call_id == call_id + 1) {
            stream_id = pending[i].stream_id;
            pending[i].call_id = 0;
            break;
        }
    }
    if (stream_id == 0 || proxy_set_effective_context(stream_id) != WASP_OK)
        return; /* the stream ended meanwhile */

    struct wasp_bytes status = {0};
    wasp_get_header(WASP_MAP_HTTP_CALL_RESPONSE_HEADERS, ":status", &status);
    bool ok = nh > 0 && status.len == 3 && status.data[0] == '2';
    wasp_bytes_free(&status);
    if (ok)
        proxy_continue_stream(WASP_STREAM_REQUEST);
    else
        deny(nh == 0 ? "authz_unavailable" : "authz_denied");
}

void WASP_EXPORT(proxy_on_delete)(uint32_t ctx)
{
    for (size_t i = 0; i < MAX_PENDING; i++)
        if (pending[i].call_id != 0 && pending[i].stream_id == ctx)
            pending[i].call_id = 0;
}
