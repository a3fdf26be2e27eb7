/*
 * hc_grpc: test plugin for the gRPC hostcalls on a host that cannot reach the service.
 * On request headers it calls the gRPC service of the upstream named by its
 * configuration (proxy_grpc_call, then proxy_grpc_stream), sends on, cancels and closes
 * tokens that name no call or stream, and logs "<hostcall>: status <n>" for each. It
 * treats every status as the Rust SDK does (dispatch_grpc_call / open_grpc_stream accept
 * OK, PARSE_FAILURE, INTERNAL_FAILURE; send_grpc_stream_message OK, BAD_ARGUMENT,
 * NOT_FOUND; cancel_grpc_call / close_grpc_stream OK, NOT_FOUND): any other status traps
 * ("unexpected status"), as the SDK's panic would. When the call could not be made, the
 * request gets a local 503 (details "grpc_unavailable").
 */
#include "proxy_wasm.h"

/* Tokens of the kinds Envoy hands out (low two bits: 1 gRPC call, 2 gRPC stream) that no
 * call or stream has. */
#define NO_SUCH_CALL 5u
#define NO_SUCH_STREAM 6u

static char upstream[64];

int32_t WASP_EXPORT(proxy_on_configure)(uint32_t root, uint32_t size)
{
    struct wasp_bytes cfg = {0};

    if (wasp_get_configuration(WASP_BUFFER_PLUGIN_CONFIGURATION, size, &cfg) != WASP_OK ||
        cfg.len >= sizeof(upstream))
        return 0;
    if (cfg.len > 0)
        memcpy(upstream, cfg.data, cfg.len);
    wasp_bytes_free(&cfg);
    return 1;
}

/* Logs the status and traps unless it is one of the n allowed ones. */
static int32_t expect(const char *what, int32_t rc, int n, ...)
{
    va_list ap;
    bool ok = false;

    va_start(ap, n);
    for (int i = 0; i < n; i++)
        ok = ok || rc == va_arg(ap, int32_t);
    va_end(ap);
    wasp_log(WASP_LOG_INFO, "%s: status %d", what, rc);
    if (!ok) {
        wasp_log(WASP_LOG_CRITICAL, "%s: unexpected status: %d", what, rc);
        __builtin_trap();
    }
    return rc;
}

int32_t WASP_EXPORT(proxy_on_request_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    const char *md[] = {"x-md", "1"};
    struct wasp_bytes meta = {0};
    uint32_t call = 0, stream = 0;
    size_t ulen = strlen(upstream);

    wasp_pairs_encode(md, 1, &meta);
    int32_t rc = expect("grpc_call",
                        proxy_grpc_call(upstream, ulen, "svc.Greeter", 11, "Hello", 5, meta.data,
                                        meta.len, "hi", 2, 1000, &call),
                        3, WASP_OK, WASP_PARSE_FAILURE, WASP_INTERNAL_FAILURE);
    expect("grpc_stream",
           proxy_grpc_stream(upstream, ulen, "svc.Greeter", 11, "Chat", 4, meta.data, meta.len,
                             &stream),
           3, WASP_OK, WASP_PARSE_FAILURE, WASP_INTERNAL_FAILURE);
    wasp_bytes_free(&meta);
    expect("grpc_send", proxy_grpc_send(NO_SUCH_STREAM, "m", 1, 0), 3, WASP_OK, WASP_BAD_ARGUMENT,
           WASP_NOT_FOUND);
    expect("grpc_send on a call token", proxy_grpc_send(NO_SUCH_CALL, "m", 1, 0), 3, WASP_OK,
           WASP_BAD_ARGUMENT, WASP_NOT_FOUND);
    expect("grpc_cancel", proxy_grpc_cancel(NO_SUCH_CALL), 2, WASP_OK, WASP_NOT_FOUND);
    expect("grpc_close", proxy_grpc_close(NO_SUCH_STREAM), 2, WASP_OK, WASP_NOT_FOUND);
    if (rc == WASP_OK)
        return WASP_PAUSE; /* the answer resumes the request (not on a host without gRPC) */
    wasp_send_local_response(503, "grpc_unavailable", "no grpc\n", 8, NULL, 0);
    return WASP_PAUSE;
}
