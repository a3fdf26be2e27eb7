/*
 * hc_callout_args: test plugin for the argument checks of proxy_http_call. Its
 * configuration names one case; on request headers it makes that call to upstream
 * "authz" and logs "http_call <case>: status <n>". It treats the status the way the Rust
 * SDK's dispatch_http_call does: OK pauses the request until the answer (then resumes
 * it), BAD_ARGUMENT and INTERNAL_FAILURE are errors the plugin handles (a local 503,
 * details "callout_refused"), and any other status traps ("unexpected status"), as the
 * SDK's panic would.
 *
 * Cases: ok, unbounded_timeout (0xffffffff: what the SDK sends for Duration::MAX),
 * negative_timeout (0x80000000), max_timeout (0x7fffffff), no_method, no_path,
 * no_authority, empty_upstream, malformed_headers, malformed_trailers.
 */
#include "proxy_wasm.h"

static char which[64];
static uint32_t pending_token, pending_stream;

int32_t WASP_EXPORT(proxy_on_configure)(uint32_t root, uint32_t size)
{
    struct wasp_bytes cfg = {0};

    if (wasp_get_configuration(WASP_BUFFER_PLUGIN_CONFIGURATION, size, &cfg) != WASP_OK ||
        cfg.len == 0 || cfg.len >= sizeof(which))
        return 0;
    memcpy(which, cfg.data, cfg.len);
    wasp_bytes_free(&cfg);
    return 1;
}

static bool is(const char *name)
{
    return strcmp(which, name) == 0;
}

/* Makes the call of the configured case; returns its status. */
static int32_t call(uint32_t *token)
{
    const char *method = is("no_method") ? "x-method" : ":method";
    const char *path = is("no_path") ? "x-path" : ":path";
    const char *authority = is("no_authority") ? "x-authority" : ":authority";
    const char *kv[] = {method, "GET", path, "/check/args", authority, "authz.local"};
    const char *upstream = is("empty_upstream") ? "" : "authz";
    uint32_t timeout = 1000;
    struct wasp_bytes h = {0}, t = {0};

    if (is("unbounded_timeout"))
        timeout = 0xffffffffu;
    else if (is("negative_timeout"))
        timeout = 0x80000000u;
    else if (is("max_timeout"))
        timeout = 0x7fffffffu;
    wasp_pairs_encode(kv, 3, &h);
    size_t hlen = is("malformed_headers") ? h.len - 1 : h.len; /* last NUL cut off */
    const char *tkv[] = {"x-trailer", "t"};
    if (is("malformed_trailers")) {
        wasp_pairs_encode(tkv, 1, &t);
        t.len -= 1;
    }
    int32_t rc = proxy_http_call(upstream, strlen(upstream), h.data, hlen, NULL, 0, t.data, t.len,
                                 timeout, token);
    wasp_bytes_free(&h);
    wasp_bytes_free(&t);
    return rc;
}

int32_t WASP_EXPORT(proxy_on_request_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    uint32_t token = 0;
    int32_t rc = call(&token);

    wasp_log(WASP_LOG_INFO, "http_call %s: status %d", which, rc);
    switch (rc) {
    case WASP_OK:
        pending_token = token;
        pending_stream = ctx;
        return WASP_PAUSE;
    case WASP_BAD_ARGUMENT:
    case WASP_INTERNAL_FAILURE:
        wasp_send_local_response(503, "callout_refused", "refused\n", 8, NULL, 0);
        return WASP_PAUSE;
    default:
        wasp_log(WASP_LOG_CRITICAL, "unexpected status: %d", rc);
        __builtin_trap();
    }
}

void WASP_EXPORT(proxy_on_http_call_response)(uint32_t root, uint32_t token, uint32_t nh,
                                              uint32_t body_size, uint32_t nt)
{
    if (token != pending_token || proxy_set_effective_context(pending_stream) != WASP_OK)
        return;
    pending_token = 0;
    wasp_log(WASP_LOG_INFO, "callout %u answered with %u headers", token, nh);
    proxy_continue_stream(WASP_STREAM_REQUEST);
}
