/*
 * leb128.h - LEB128 readers shared by the decoder, the validator and the translator.
 *
 * The binary format encodes integers as (signed or unsigned) LEB128 with at most
 * ceil(N/7) bytes for an N-bit integer; unused bits of the last byte must be zero
 * (unsigned) or copies of the sign bit (signed). Every reader checks that rule and the
 * end of the buffer, advances *p past the integer on success and leaves it unchanged on
 * failure. Header-only so the hot body walks inline it.
 */
#ifndef WASP_ENGINE_LEB128_H
#define WASP_ENGINE_LEB128_H

#include <stdbool.h>
#include <stdint.h>

enum wasm_leb_status {
    WASM_LEB_OK = 0,
    WASM_LEB_END,      /* ran past end: "unexpected end" */
    WASM_LEB_TOO_LONG, /* more than ceil(N/7) bytes: "integer representation too long" */
    WASM_LEB_TOO_LARGE /* bad unused bits in the last byte: "integer too large" */
};

/* The spec test suite's wording for a reader status (WASM_LEB_OK gives ""). */
static inline const char *wasm_leb_message(enum wasm_leb_status s)
{
    switch (s) {
    case WASM_LEB_END:
        return "unexpected end";
    case WASM_LEB_TOO_LONG:
        return "integer representation too long";
    case WASM_LEB_TOO_LARGE:
        return "integer too large";
    default:
        return "";
    }
}

/*
 * Reads an integer of `bits` bits (1..64), signed or not, from [*p, end). On success
 * stores it in *out (signed values sign-extended to 64 bits) and advances *p.
 */
static inline enum wasm_leb_status wasm_leb_read(const uint8_t **p, const uint8_t *end,
                                                 unsigned bits, bool is_signed, uint64_t *out)
{
    const uint8_t *q = *p;
    unsigned maxbytes = (bits + 6) / 7;
    uint64_t result = 0;
    unsigned shift = 0;

    /* Fast path: most immediates (indices, small constants) fit in one byte. */
    if (bits >= 7 && q < end && !(*q & 0x80)) {
        result = *q;
        if (is_signed && (result & 0x40))
            result |= ~(uint64_t)0x7f;
        *out = result;
        *p = q + 1;
        return WASM_LEB_OK;
    }

    for (unsigned i = 0;; i++) {
        if (q >= end)
            return WASM_LEB_END;
        uint8_t byte = *q++;
        if (i + 1 == maxbytes) {
            /* Last permitted byte: check the bits beyond `bits`. */
            unsigned used = bits - shift; /* 1..7 value bits in this byte */
            if (byte & 0x80)
                return WASM_LEB_TOO_LONG;
            if (used < 7) {
                uint8_t rest = (uint8_t)(byte & 0x7f) >> used;
                uint8_t ones = (uint8_t)(0x7f >> used);
                if (is_signed) {
                    bool neg = (byte >> (used - 1)) & 1;
                    if (rest != (neg ? ones : 0))
                        return WASM_LEB_TOO_LARGE;
                } else if (rest != 0) {
                    return WASM_LEB_TOO_LARGE;
                }
            }
            result |= (uint64_t)(byte & 0x7f) << shift;
            shift += 7;
            break;
        }
        result |= (uint64_t)(byte & 0x7f) << shift;
        shift += 7;
        if (!(byte & 0x80))
            break;
    }
    if (is_signed && shift < 64 && (result >> (shift - 1)) & 1)
        result |= ~(uint64_t)0 << shift;
    if (bits < 64) {
        /* Keep exactly `bits` bits, sign- or zero-extended. */
        uint64_t mask = ((uint64_t)1 << bits) - 1;
        if (is_signed && ((result >> (bits - 1)) & 1))
            result |= ~mask;
        else
            result &= mask;
    }
    *out = result;
    *p = q;
    return WASM_LEB_OK;
}

static inline enum wasm_leb_status wasm_leb_u32(const uint8_t **p, const uint8_t *end,
                                                uint32_t *out)
{
    uint64_t v;
    enum wasm_leb_status s = wasm_leb_read(p, end, 32, false, &v);
    if (s == WASM_LEB_OK)
        *out = (uint32_t)v;
    return s;
}

static inline enum wasm_leb_status wasm_leb_s32(const uint8_t **p, const uint8_t *end, int32_t *out)
{
    uint64_t v;
    enum wasm_leb_status s = wasm_leb_read(p, end, 32, true, &v);
    if (s == WASM_LEB_OK)
        *out = (int32_t)(uint32_t)v;
    return s;
}

/* Block types: a signed 33-bit integer (a type index when non-negative). */
static inline enum wasm_leb_status wasm_leb_s33(const uint8_t **p, const uint8_t *end, int64_t *out)
{
    uint64_t v;
    enum wasm_leb_status s = wasm_leb_read(p, end, 33, true, &v);
    if (s == WASM_LEB_OK)
        *out = (int64_t)v;
    return s;
}

static inline enum wasm_leb_status wasm_leb_s64(const uint8_t **p, const uint8_t *end, int64_t *out)
{
    uint64_t v;
    enum wasm_leb_status s = wasm_leb_read(p, end, 64, true, &v);
    if (s == WASM_LEB_OK)
        *out = (int64_t)v;
    return s;
}

#endif /* WASP_ENGINE_LEB128_H */
