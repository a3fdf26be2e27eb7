/*
 * hc_hold: test plugin for body holds of several plugins at once. In the response body it
 * continues the first piece and pauses (StopIterationAndBuffer) on the later ones, so
 * that a plugin after it (nearer the client) that paused on that first piece still holds
 * it: two plugins hold the response at once. What it lets go at the end, it wraps in
 * "<" and ">", which shows at the client exactly which bytes it held (a byte it let
 * through before must never be in there). It logs each call ("call N: SIZE bytes,
 * eos E: TEXT"). Its configuration says how it ends:
 *   first_then_buffer  it continues the last piece (end of stream), wrapping what it
 *                      holds with it
 *   first_then_tick    it pauses on the last piece too, and a tick 1 ms later reads the
 *                      body it holds ("tick: held SIZE bytes, eos E: TEXT"), wraps it and
 *                      continues the response (as a plugin answered by a callout would)
 */
#include "proxy_wasm.h"

static char mode[32];
static uint32_t calls;
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
    return is("first_then_buffer") || is("first_then_tick");
}

/* Wraps the response body this plugin sees now (its piece, or the body it holds). */
static void wrap_body(void)
{
    size_t len = 0;
    uint32_t flags = 0;

    proxy_set_buffer_bytes(WASP_BUFFER_RESPONSE_BODY, 0, 0, "<", 1);
    proxy_get_buffer_status(WASP_BUFFER_RESPONSE_BODY, &len, &flags);
    proxy_set_buffer_bytes(WASP_BUFFER_RESPONSE_BODY, (uint32_t)len, 0, ">", 1);
}

int32_t WASP_EXPORT(proxy_on_response_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    calls = 0;
    return WASP_CONTINUE;
}

int32_t WASP_EXPORT(proxy_on_response_body)(uint32_t ctx, uint32_t size, uint32_t eos)
{
    struct wasp_bytes body = {0};

    if (wasp_get_buffer(WASP_BUFFER_RESPONSE_BODY, 0, size, &body) == WASP_OK) {
        wasp_log(WASP_LOG_INFO, "call %u: %u bytes, eos %u: %.*s", ++calls, size, eos,
                 (int)body.len, body.data);
        wasp_bytes_free(&body);
    }
    if (calls == 1 && !eos)
        return WASP_CONTINUE;
    if (!eos)
        return WASP_PAUSE;
    if (is("first_then_buffer")) {
        wrap_body();
        return WASP_CONTINUE;
    }
    paused_stream = ctx;
    proxy_set_tick_period_milliseconds(1);
    return WASP_PAUSE;
}

void WASP_EXPORT(proxy_on_tick)(uint32_t root)
{
    struct wasp_bytes body = {0};
    size_t len = 0;
    uint32_t flags = 0;

    if (paused_stream == 0 || proxy_set_effective_context(paused_stream) != WASP_OK)
        return;
    paused_stream = 0;
    proxy_set_tick_period_milliseconds(0);
    if (proxy_get_buffer_status(WASP_BUFFER_RESPONSE_BODY, &len, &flags) != WASP_OK ||
        wasp_get_buffer(WASP_BUFFER_RESPONSE_BODY, 0, (uint32_t)len, &body) != WASP_OK) {
        wasp_log(WASP_LOG_INFO, "tick: no held body");
        return;
    }
    wasp_log(WASP_LOG_INFO, "tick: held %u bytes, eos %u: %.*s", (uint32_t)len, flags,
             (int)body.len, body.data);
    wasp_bytes_free(&body);
    wrap_body();
    proxy_continue_stream(WASP_STREAM_RESPONSE);
}
