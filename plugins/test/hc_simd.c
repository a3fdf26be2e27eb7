/*
 * hc_simd: test plugin built with -msimd128, for the engine's SIMD. Every result is
 * computed with vector code and checked against plain scalar code in the plugin (a
 * difference logs "MISMATCH ..."):
 * - proxy_on_configure: a 4096-byte table's dot product with its reverse, in a loop
 *   clang auto-vectorises, logged as "hc_simd: dot N";
 * - proxy_on_request_headers: the :path upper-cased 16 bytes at a time (wasm_simd128.h
 *   compares, masks and subtracts) into x-simd-upper, and its '/' count (i8x16.eq,
 *   bitmask, popcount) into x-simd-slashes;
 * - proxy_on_response_body: the whole body reversed with i8x16.shuffle.
 */
#define _GNU_SOURCE
#include <wasm_simd128.h>

#include "proxy_wasm.h"

#define TABLE 4096

static uint8_t table[TABLE];

/* Vectorised by clang at -O2 with -msimd128 (i32x4 extmul/add over widened bytes). */
static uint32_t dot_reverse(const uint8_t *t, uint32_t n)
{
    uint32_t sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += (uint32_t)t[i] * t[n - 1 - i];
    return sum;
}

static uint32_t dot_reverse_scalar(const uint8_t *t, uint32_t n)
{
    uint32_t sum = 0;
#pragma clang loop vectorize(disable) interleave(disable)
    for (uint32_t i = 0; i < n; i++)
        sum += (uint32_t)t[i] * t[n - 1 - i];
    return sum;
}

int32_t WASP_EXPORT(proxy_on_configure)(uint32_t root_id, uint32_t size)
{
    for (uint32_t i = 0; i < TABLE; i++)
        table[i] = (uint8_t)(i * 37 + 11);
    uint32_t v = dot_reverse(table, TABLE), s = dot_reverse_scalar(table, TABLE);
    if (v != s)
        wasp_log(WASP_LOG_ERROR, "MISMATCH dot %u, scalar %u", v, s);
    wasp_log(WASP_LOG_INFO, "dot %u", v);
    return 1;
}

/* Upper-cases a-z in n bytes (n a multiple of 16) and counts the '/' bytes. */
static uint32_t upper_count_simd(uint8_t *p, size_t n)
{
    uint32_t slashes = 0;
    for (size_t i = 0; i < n; i += 16) {
        v128_t v = wasm_v128_load(p + i);
        v128_t lower = wasm_v128_and(wasm_u8x16_ge(v, wasm_u8x16_splat('a')),
                                     wasm_u8x16_le(v, wasm_u8x16_splat('z')));
        v = wasm_i8x16_sub(v, wasm_v128_and(lower, wasm_u8x16_splat(0x20)));
        wasm_v128_store(p + i, v);
        slashes += (uint32_t)__builtin_popcount(
            wasm_i8x16_bitmask(wasm_i8x16_eq(v, wasm_u8x16_splat('/'))));
    }
    return slashes;
}

int32_t WASP_EXPORT(proxy_on_request_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    struct wasp_bytes path;
    uint8_t buf[512 + 16] __attribute__((aligned(16)));
    char scalar[512 + 1], count[16];
    uint32_t slashes, want = 0;

    if (wasp_get_header(WASP_MAP_REQUEST_HEADERS, ":path", &path) != WASP_OK)
        return WASP_CONTINUE;
    if (path.len > 512) {
        wasp_bytes_free(&path);
        return WASP_CONTINUE;
    }
    memset(buf, 0, sizeof(buf));
    memcpy(buf, path.data, path.len);
    slashes = upper_count_simd(buf, (path.len + 15) & ~(size_t)15);
#pragma clang loop vectorize(disable) interleave(disable)
    for (size_t i = 0; i < path.len; i++) {
        char c = path.data[i];
        scalar[i] = c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
        want += c == '/';
    }
    scalar[path.len] = '\0';
    buf[path.len] = '\0';
    if (memcmp(buf, scalar, path.len) != 0 || slashes != want)
        wasp_log(WASP_LOG_ERROR, "MISMATCH %s vs %s, %u vs %u slashes", (char *)buf,
                 scalar, slashes, want);
    snprintf(count, sizeof(count), "%u", slashes);
    wasp_add_header(WASP_MAP_REQUEST_HEADERS, "x-simd-upper", (char *)buf);
    wasp_add_header(WASP_MAP_REQUEST_HEADERS, "x-simd-slashes", count);
    wasp_bytes_free(&path);
    return WASP_CONTINUE;
}

/* Reverses n bytes: 16-byte blocks from both ends, each reversed by one shuffle. */
static void reverse_simd(const uint8_t *in, uint8_t *out, size_t n)
{
    size_t blocks = n / 16, tail = n % 16;
    for (size_t b = 0; b < blocks; b++) {
        v128_t v = wasm_v128_load(in + 16 * b);
        v = wasm_i8x16_shuffle(v, v, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
        wasm_v128_store(out + n - 16 * (b + 1), v);
    }
    for (size_t i = 0; i < tail; i++)
        out[tail - 1 - i] = in[16 * blocks + i];
}

int32_t WASP_EXPORT(proxy_on_response_body)(uint32_t ctx, uint32_t size, uint32_t eos)
{
    struct wasp_bytes body;

    if (!eos)
        return WASP_PAUSE;
    if (wasp_get_buffer(WASP_BUFFER_RESPONSE_BODY, 0, size, &body) != WASP_OK)
        return WASP_CONTINUE;
    uint8_t *rev = malloc(body.len + 1);
    if (rev != NULL) {
        reverse_simd((const uint8_t *)body.data, rev, body.len);
#pragma clang loop vectorize(disable) interleave(disable)
        for (size_t i = 0; i < body.len; i++)
            if (rev[i] != (uint8_t)body.data[body.len - 1 - i]) {
                wasp_log(WASP_LOG_ERROR, "MISMATCH reversing byte %zu", i);
                break;
            }
        proxy_set_buffer_bytes(WASP_BUFFER_RESPONSE_BODY, 0, (uint32_t)body.len, (char *)rev,
                               body.len);
        free(rev);
    }
    wasp_bytes_free(&body);
    return WASP_CONTINUE;
}
