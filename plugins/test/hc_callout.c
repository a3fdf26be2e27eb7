/*
 * hc_callout: test plugin for callouts and pausing. Request headers: asks upstream
 * "authz" (GET /check<path>) and pauses; the answer (delivered to the root context) is
 * mapped back to the stream with proxy_set_effective_context: status 200 resumes the
 * request, anything else (or a failed callout) sends a local 403 reply.
 */
#include "proxy_wasm.h"

struct pending {
    uint32_t token;
    uint32_t stream;
};

static struct pending pending[64];

int32_t WASP_EXPORT(proxy_on_request_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    struct wasp_bytes path;
    char target[512];
    uint32_t token;

    if (wasp_get_header(WASP_MAP_REQUEST_HEADERS, ":path", &path) != WASP_OK)
        return WASP_CONTINUE;
    snprintf(target, sizeof(target), "/check%.*s", (int)path.len, path.data);
    wasp_bytes_free(&path);
    const char *kv[] = {":method", "GET", ":path", target, ":authority", "authz.local"};
    int32_t rc = wasp_http_call("authz", kv, 3, NULL, 0, 1000, &token);
    if (rc != WASP_OK) {
        wasp_log(WASP_LOG_ERROR, "http_call failed: %d", rc);
        return WASP_CONTINUE;
    }
    for (size_t i = 0; i < 64; i++) {
        if (pending[i].token == 0) {
            pending[i].token = token;
            pending[i].stream = ctx;
            break;
        }
    }
    return WASP_PAUSE;
}

void WASP_EXPORT(proxy_on_http_call_response)(uint32_t root, uint32_t token, uint32_t nh,
                                              uint32_t body_size, uint32_t nt)
{
    uint32_t stream = 0;
    struct wasp_bytes status = {0}, body = {0};

    for (size_t i = 0; i < 64; i++) {
        if (pending[i].token == token) {
            stream = pending[i].stream;
            pending[i].token = 0;
        }
    }
    wasp_get_header(WASP_MAP_HTTP_CALL_RESPONSE_HEADERS, ":status", &status);
    if (body_size > 0)
        wasp_get_buffer(WASP_BUFFER_HTTP_CALL_RESPONSE_BODY, 0, body_size, &body);
    wasp_log(WASP_LOG_INFO, "callout %u answered: %u headers, status %.*s, body %.*s", token, nh,
             (int)status.len, status.data ? status.data : "", (int)body.len,
             body.data ? body.data : "");
    if (stream == 0 || proxy_set_effective_context(stream) != WASP_OK)
        return;
    if (wasp_bytes_eq(&status, "200")) {
        proxy_continue_stream(WASP_STREAM_REQUEST);
    } else {
        const char *kv[] = {"x-denied-by", "hc_callout"};
        wasp_send_local_response(403, "denied", "forbidden\n", 10, kv, 1);
    }
    wasp_bytes_free(&status);
    wasp_bytes_free(&body);
}
