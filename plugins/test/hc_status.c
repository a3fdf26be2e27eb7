/*
 * hc_status: test plugin for the C++ SDK's richer callback results (FilterDataStatus,
 * FilterHeadersStatus), which Rust, Go and AssemblyScript plugins never return. Its
 * configuration names the case; in the response body it logs each call
 * ("piece N: SIZE bytes, eos E: TEXT", the first 24 bytes) and returns:
 *   no_buffer        3 StopIterationNoBuffer before the end, keeping each piece itself;
 *                    at the end it writes back "<" + what it kept + the last piece + ">"
 *                    and continues (the pattern of plugins that stream-transform a body)
 *   no_buffer_lossy  3 before the end without keeping anything: only the last piece
 *                    reaches the client (Envoy's contract: the plugin owns those bytes)
 *   watermark        2 StopIterationAndWatermark before the end: the host holds the
 *                    pieces, each call shows the new piece only, all go on at the end
 *   out_of_range     7 before the end: cpp-host reads it as StopIterationNoBuffer
 *   end_stream       returns 2 ContinueAndEndStream from the request headers (Envoy's
 *                    Wasm filter goes on as for Continue) and 0 from the bodies
 *   buffer_headers   returns 3 StopAllIterationAndBuffer from the request headers and
 *                    resumes the request from a tick 1 ms later
 */
#include "proxy_wasm.h"

static char mode[32];
static char *kept; /* what no_buffer took so far (one stream at a time) */
static size_t kept_len, kept_cap;
static uint32_t pieces;
static uint32_t paused_stream;

static bool is(const char *m)
{
    return strcmp(mode, m) == 0;
}

int32_t WASP_EXPORT(proxy_on_configure)(uint32_t root, uint32_t size)
{
    struct wasp_bytes cfg = {0};

    if (wasp_get_configuration(WASP_BUFFER_PLUGIN_CONFIGURATION, size, &cfg) != WASP_OK ||
        cfg.len == 0 || cfg.len >= sizeof(mode))
        return 0;
    memcpy(mode, cfg.data, cfg.len);
    wasp_bytes_free(&cfg);
    return 1;
}

int32_t WASP_EXPORT(proxy_on_request_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    pieces = 0;
    kept_len = 0;
    if (is("end_stream"))
        return 2;
    if (is("buffer_headers")) {
        paused_stream = ctx;
        proxy_set_tick_period_milliseconds(1);
        return 3;
    }
    return WASP_CONTINUE;
}

void WASP_EXPORT(proxy_on_tick)(uint32_t root)
{
    if (paused_stream == 0 || proxy_set_effective_context(paused_stream) != WASP_OK)
        return;
    paused_stream = 0;
    proxy_set_tick_period_milliseconds(0);
    wasp_log(WASP_LOG_INFO, "tick resumes the request");
    proxy_continue_stream(WASP_STREAM_REQUEST);
}

int32_t WASP_EXPORT(proxy_on_response_body)(uint32_t ctx, uint32_t size, uint32_t eos)
{
    struct wasp_bytes piece = {0};

    if (wasp_get_buffer(WASP_BUFFER_RESPONSE_BODY, 0, size, &piece) != WASP_OK)
        return WASP_CONTINUE;
    /* the first 24 bytes of the piece */
    wasp_log(WASP_LOG_INFO, "piece %u: %u bytes, eos %u: %.*s", ++pieces, size, eos,
             (int)(piece.len < 24 ? piece.len : 24), piece.data);
    int32_t r = WASP_CONTINUE;
    if (!eos &&
        (is("no_buffer") || is("no_buffer_lossy") || is("out_of_range") || is("watermark"))) {
        r = is("watermark") ? 2 : is("out_of_range") ? 7 : 3;
        if (is("no_buffer")) {
            if (kept_len + piece.len > kept_cap) {
                size_t cap = (kept_len + piece.len) * 2;
                char *k = realloc(kept, cap);
                if (k == NULL)
                    __builtin_trap();
                kept = k;
                kept_cap = cap;
            }
            memcpy(kept + kept_len, piece.data, piece.len);
            kept_len += piece.len;
        }
    } else if (eos && is("no_buffer")) {
        /* This last piece becomes the whole body: what was taken before, then it. */
        proxy_set_buffer_bytes(WASP_BUFFER_RESPONSE_BODY, 0, 0, kept, kept_len);
        proxy_set_buffer_bytes(WASP_BUFFER_RESPONSE_BODY, 0, 0, "<", 1);
        proxy_set_buffer_bytes(WASP_BUFFER_RESPONSE_BODY, 1 + (uint32_t)kept_len + size, 0, ">", 1);
        kept_len = 0;
    }
    wasp_bytes_free(&piece);
    return r;
}
