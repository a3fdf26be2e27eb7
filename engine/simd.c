/*
 * simd.c - executes the SIMD instructions (simd.h): their semantics and the small
 * dispatch loop that runs them, entered from the interpreter's `simd` op.
 *
 * SIMD code runs in its own loop, apart from interp.c's handlers, so that the scalar
 * interpreter's code, register allocation and layout are what they were without SIMD.
 * The register code of a SIMD instruction is the `simd` op, the instruction's number
 * (enum wasm_simd_op) and its operands as simd.h's layout says; consecutive SIMD
 * instructions run without going back to the main loop.
 *
 * A v128 lives in two adjacent 8-byte frame slots (or 16 bytes of memory) in wasm's lane
 * order, lane 0 lowest. Every operation reads its operands with memcpy, computes into a
 * local value and writes the result last, so a destination may overlap an operand. Lane
 * order is the host's: like the scalar loads and stores, this assumes a little-endian
 * host. GCC/clang vector types (vector_size(16)) give SSE2/NEON code where the vector
 * semantics are exactly wasm's (wrapping integer arithmetic, bitwise ops, shifts,
 * compares, IEEE add/sub/mul/div); everything else (saturation, NaN-aware min/max,
 * rounding, conversions, narrowing and widening) is written lane by lane in plain C,
 * which the compiler may still vectorise, so results are exact on every target. Float
 * results that are NaN follow the spec's rules as the scalar ops do: arithmetic
 * propagates a quiet NaN, and an invalid operation yields the canonical NaN.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "regcode.h"

typedef uint8_t simd_vu8 __attribute__((vector_size(16)));
typedef int8_t simd_vi8 __attribute__((vector_size(16)));
typedef uint16_t simd_vu16 __attribute__((vector_size(16)));
typedef int16_t simd_vi16 __attribute__((vector_size(16)));
typedef uint32_t simd_vu32 __attribute__((vector_size(16)));
typedef int32_t simd_vi32 __attribute__((vector_size(16)));
typedef uint64_t simd_vu64 __attribute__((vector_size(16)));
typedef int64_t simd_vi64 __attribute__((vector_size(16)));
typedef float simd_vf32 __attribute__((vector_size(16)));
typedef double simd_vf64 __attribute__((vector_size(16)));

/* One v128 value, seen as lanes (arrays) or as whole vectors. */
typedef union {
    uint8_t u8[16];
    int8_t i8[16];
    uint16_t u16[8];
    int16_t i16[8];
    uint32_t u32[4];
    int32_t i32[4];
    uint64_t u64[2];
    int64_t i64[2];
    float f32[4];
    double f64[2];
    simd_vu8 vu8;
    simd_vi8 vi8;
    simd_vu16 vu16;
    simd_vi16 vi16;
    simd_vu32 vu32;
    simd_vi32 vi32;
    simd_vu64 vu64;
    simd_vi64 vi64;
    simd_vf32 vf32;
    simd_vf64 vf64;
} simd_v128;

static inline simd_v128 simd_ld(const void *p)
{
    simd_v128 v;
    memcpy(&v, p, 16);
    return v;
}

static inline void simd_st(void *p, simd_v128 v)
{
    memcpy(p, &v, 16);
}

/* A scalar operand slot (i32/f32 in its low 32 bits) and a scalar result slot. */
static inline uint64_t simd_slot(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline void simd_put(void *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static inline float simd_f32_min(float a, float b)
{
    if (isnan(a) || isnan(b))
        return a + b;
    if (a == 0 && b == 0)
        return signbit(a) ? a : b;
    return a < b ? a : b;
}

static inline float simd_f32_max(float a, float b)
{
    if (isnan(a) || isnan(b))
        return a + b;
    if (a == 0 && b == 0)
        return signbit(a) ? b : a;
    return a > b ? a : b;
}

static inline double simd_f64_min(double a, double b)
{
    if (isnan(a) || isnan(b))
        return a + b;
    if (a == 0 && b == 0)
        return signbit(a) ? a : b;
    return a < b ? a : b;
}

static inline double simd_f64_max(double a, double b)
{
    if (isnan(a) || isnan(b))
        return a + b;
    if (a == 0 && b == 0)
        return signbit(a) ? b : a;
    return a > b ? a : b;
}

/* ---- Generators ------------------------------------------------------------------ */

/* Whole-vector binary operation: r.F = expr of a.F, b.F (r may be read through any F). */
#define SIMD_VBIN(name, F, expr)                                                                   \
    static inline void simd_##name(void *d, const void *pa, const void *pb)                        \
    {                                                                                              \
        simd_v128 a = simd_ld(pa), b = simd_ld(pb), r;                                             \
        r.F = (expr);                                                                              \
        simd_st(d, r);                                                                             \
    }
/* Lane-wise binary operation over N lanes of field F: r.F[i] = expr of x = a.F[i], y. */
#define SIMD_LBIN(name, F, N, expr)                                                                \
    static inline void simd_##name(void *d, const void *pa, const void *pb)                        \
    {                                                                                              \
        simd_v128 a = simd_ld(pa), b = simd_ld(pb), r;                                             \
        for (int i = 0; i < (N); i++) {                                                            \
            __typeof__(a.F[0]) x = a.F[i], y = b.F[i];                                             \
            r.F[i] = (expr);                                                                       \
        }                                                                                          \
        simd_st(d, r);                                                                             \
    }
/* Lane-wise unary operation: r.FR[i] = expr of x = a.FA[i], for N lanes. */
#define SIMD_LUN(name, FR, FA, N, expr)                                                            \
    static inline void simd_##name(void *d, const void *pa)                                        \
    {                                                                                              \
        simd_v128 a = simd_ld(pa), r;                                                              \
        for (int i = 0; i < (N); i++) {                                                            \
            __typeof__(a.FA[0]) x = a.FA[i];                                                       \
            r.FR[i] = (expr);                                                                      \
        }                                                                                          \
        simd_st(d, r);                                                                             \
    }
#define SIMD_VUN(name, F, expr)                                                                    \
    static inline void simd_##name(void *d, const void *pa)                                        \
    {                                                                                              \
        simd_v128 a = simd_ld(pa), r;                                                              \
        r.F = (expr);                                                                              \
        simd_st(d, r);                                                                             \
    }

/* ---- Splat, lanes, shuffles -------------------------------------------------------- */

#define SIMD_SPLAT(name, F, N, T)                                                                  \
    static inline void simd_##name(void *d, const void *pa)                                        \
    {                                                                                              \
        uint64_t s = simd_slot(pa);                                                                \
        T x;                                                                                       \
        simd_v128 r;                                                                               \
        memcpy(&x, &s, sizeof(x));                                                                 \
        for (int i = 0; i < (N); i++)                                                              \
            r.F[i] = x;                                                                            \
        simd_st(d, r);                                                                             \
    }
SIMD_SPLAT(i8x16_splat, u8, 16, uint8_t)
SIMD_SPLAT(i16x8_splat, u16, 8, uint16_t)
SIMD_SPLAT(i32x4_splat, u32, 4, uint32_t)
SIMD_SPLAT(i64x2_splat, u64, 2, uint64_t)
SIMD_SPLAT(f32x4_splat, u32, 4, uint32_t)
SIMD_SPLAT(f64x2_splat, u64, 2, uint64_t)

/* Extracts write the whole result slot: i32/f32 zero-extended, i8/i16 lanes extended. */
#define SIMD_EXTRACT(name, F, N, conv)                                                             \
    static inline void simd_##name(void *d, const void *pa, uint32_t lane)                         \
    {                                                                                              \
        simd_v128 a = simd_ld(pa);                                                                 \
        simd_put(d, (uint64_t)(conv)a.F[lane & ((N)-1)]);                                          \
    }
SIMD_EXTRACT(i8x16_extract_lane_s, i8, 16, uint32_t)
SIMD_EXTRACT(i8x16_extract_lane_u, u8, 16, uint32_t)
SIMD_EXTRACT(i16x8_extract_lane_s, i16, 8, uint32_t)
SIMD_EXTRACT(i16x8_extract_lane_u, u16, 8, uint32_t)
SIMD_EXTRACT(i32x4_extract_lane, u32, 4, uint32_t)
SIMD_EXTRACT(i64x2_extract_lane, u64, 2, uint64_t)
SIMD_EXTRACT(f32x4_extract_lane, u32, 4, uint32_t)
SIMD_EXTRACT(f64x2_extract_lane, u64, 2, uint64_t)

#define SIMD_REPLACE(name, F, N, T)                                                                \
    static inline void simd_##name(void *d, const void *pa, const void *pb, uint32_t lane)         \
    {                                                                                              \
        simd_v128 r = simd_ld(pa);                                                                 \
        r.F[lane & ((N)-1)] = (T)simd_slot(pb);                                                    \
        simd_st(d, r);                                                                             \
    }
SIMD_REPLACE(i8x16_replace_lane, u8, 16, uint8_t)
SIMD_REPLACE(i16x8_replace_lane, u16, 8, uint16_t)
SIMD_REPLACE(i32x4_replace_lane, u32, 4, uint32_t)
SIMD_REPLACE(i64x2_replace_lane, u64, 2, uint64_t)
SIMD_REPLACE(f32x4_replace_lane, u32, 4, uint32_t)
SIMD_REPLACE(f64x2_replace_lane, u64, 2, uint64_t)

/* lanes: 16 immediate bytes, each < 32 (validated; masked anyway). */
static inline void simd_i8x16_shuffle(void *d, const void *pa, const void *pb, const void *lanes)
{
    uint8_t ab[32], idx[16];
    simd_v128 r;

    memcpy(ab, pa, 16);
    memcpy(ab + 16, pb, 16);
    memcpy(idx, lanes, 16);
    for (int i = 0; i < 16; i++)
        r.u8[i] = ab[idx[i] & 31];
    simd_st(d, r);
}

static inline void simd_i8x16_swizzle(void *d, const void *pa, const void *pb)
{
    simd_v128 a = simd_ld(pa), b = simd_ld(pb), r;

    for (int i = 0; i < 16; i++)
        r.u8[i] = b.u8[i] < 16 ? a.u8[b.u8[i]] : 0;
    simd_st(d, r);
}

/* ---- Bitwise and boolean ------------------------------------------------------------ */

SIMD_VUN(v128_not, vu64, ~a.vu64)
SIMD_VBIN(v128_and, vu64, (a.vu64 & b.vu64))
SIMD_VBIN(v128_andnot, vu64, a.vu64 & ~b.vu64)
SIMD_VBIN(v128_or, vu64, a.vu64 | b.vu64)
SIMD_VBIN(v128_xor, vu64, a.vu64 ^ b.vu64)

static inline void simd_v128_bitselect(void *d, const void *pa, const void *pb, const void *pc)
{
    simd_v128 a = simd_ld(pa), b = simd_ld(pb), c = simd_ld(pc), r;

    r.vu64 = (a.vu64 & c.vu64) | (b.vu64 & ~c.vu64);
    simd_st(d, r);
}

static inline void simd_v128_any_true(void *d, const void *pa)
{
    simd_v128 a = simd_ld(pa);

    simd_put(d, (a.u64[0] | a.u64[1]) != 0);
}

#define SIMD_ALL_TRUE(name, F, N)                                                                  \
    static inline void simd_##name(void *d, const void *pa)                                        \
    {                                                                                              \
        simd_v128 a = simd_ld(pa);                                                                 \
        uint64_t all = 1;                                                                          \
        for (int i = 0; i < (N); i++)                                                              \
            all &= a.F[i] != 0;                                                                    \
        simd_put(d, all);                                                                          \
    }
SIMD_ALL_TRUE(i8x16_all_true, u8, 16)
SIMD_ALL_TRUE(i16x8_all_true, u16, 8)
SIMD_ALL_TRUE(i32x4_all_true, u32, 4)
SIMD_ALL_TRUE(i64x2_all_true, u64, 2)

#define SIMD_BITMASK(name, F, N, BITS)                                                             \
    static inline void simd_##name(void *d, const void *pa)                                        \
    {                                                                                              \
        simd_v128 a = simd_ld(pa);                                                                 \
        uint64_t m = 0;                                                                            \
        for (int i = 0; i < (N); i++)                                                              \
            m |= (uint64_t)(a.F[i] >> ((BITS)-1)) << i;                                            \
        simd_put(d, m);                                                                            \
    }
SIMD_BITMASK(i8x16_bitmask, u8, 16, 8)
SIMD_BITMASK(i16x8_bitmask, u16, 8, 16)
SIMD_BITMASK(i32x4_bitmask, u32, 4, 32)
SIMD_BITMASK(i64x2_bitmask, u64, 2, 64)

/* ---- Comparisons: each lane all ones (true) or all zeros ---------------------------- */

#define SIMD_CMP(shape, V, R, op, name) SIMD_VBIN(shape##_##name, R, (__typeof__(r.R))(a.V op b.V))
#define SIMD_ICMPS(shape, S, U, R)                                                                 \
    SIMD_CMP(shape, S, R, ==, eq)                                                                  \
    SIMD_CMP(shape, S, R, !=, ne)                                                                  \
    SIMD_CMP(shape, S, R, <, lt_s)                                                                 \
    SIMD_CMP(shape, U, R, <, lt_u)                                                                 \
    SIMD_CMP(shape, S, R, >, gt_s)                                                                 \
    SIMD_CMP(shape, U, R, >, gt_u)                                                                 \
    SIMD_CMP(shape, S, R, <=, le_s)                                                                \
    SIMD_CMP(shape, U, R, <=, le_u)                                                                \
    SIMD_CMP(shape, S, R, >=, ge_s)                                                                \
    SIMD_CMP(shape, U, R, >=, ge_u)
SIMD_ICMPS(i8x16, vi8, vu8, vi8)
SIMD_ICMPS(i16x8, vi16, vu16, vi16)
SIMD_ICMPS(i32x4, vi32, vu32, vi32)
SIMD_CMP(i64x2, vi64, vi64, ==, eq)
SIMD_CMP(i64x2, vi64, vi64, !=, ne)
SIMD_CMP(i64x2, vi64, vi64, <, lt_s)
SIMD_CMP(i64x2, vi64, vi64, >, gt_s)
SIMD_CMP(i64x2, vi64, vi64, <=, le_s)
SIMD_CMP(i64x2, vi64, vi64, >=, ge_s)
/* IEEE compares: false on NaN except ne, as in C. */
#define SIMD_FCMPS(shape, V, R)                                                                    \
    SIMD_CMP(shape, V, R, ==, eq)                                                                  \
    SIMD_CMP(shape, V, R, !=, ne)                                                                  \
    SIMD_CMP(shape, V, R, <, lt)                                                                   \
    SIMD_CMP(shape, V, R, >, gt)                                                                   \
    SIMD_CMP(shape, V, R, <=, le)                                                                  \
    SIMD_CMP(shape, V, R, >=, ge)
SIMD_FCMPS(f32x4, vf32, vi32)
SIMD_FCMPS(f64x2, vf64, vi64)

/* ---- Integer arithmetic (wrapping unless named _sat) -------------------------------- */

#define SIMD_SAT(lo, hi, v) ((v) < (lo) ? (lo) : (v) > (hi) ? (hi) : (v))

/* abs(INT_MIN) is INT_MIN: computed on unsigned lanes, (x ^ m) - m with m the sign mask. */
#define SIMD_IARITH(shape, S, U, BITS)                                                             \
    SIMD_VBIN(shape##_add, U, a.U + b.U)                                                           \
    SIMD_VBIN(shape##_sub, U, a.U - b.U)                                                           \
    SIMD_VUN(shape##_neg, U, -a.U)                                                                 \
    SIMD_VUN(shape##_abs, U,                                                                       \
             (a.U ^ (__typeof__(a.U))(a.S >> ((BITS)-1))) - (__typeof__(a.U))(a.S >> ((BITS)-1)))  \
    static inline void simd_##shape##_shl(void *d, const void *pa, const void *pb)                 \
    {                                                                                              \
        simd_v128 a = simd_ld(pa), r;                                                              \
        r.U = a.U << (int)(simd_slot(pb) & ((BITS)-1));                                            \
        simd_st(d, r);                                                                             \
    }                                                                                              \
    static inline void simd_##shape##_shr_s(void *d, const void *pa, const void *pb)               \
    {                                                                                              \
        simd_v128 a = simd_ld(pa), r;                                                              \
        r.S = a.S >> (int)(simd_slot(pb) & ((BITS)-1));                                            \
        simd_st(d, r);                                                                             \
    }                                                                                              \
    static inline void simd_##shape##_shr_u(void *d, const void *pa, const void *pb)               \
    {                                                                                              \
        simd_v128 a = simd_ld(pa), r;                                                              \
        r.U = a.U >> (int)(simd_slot(pb) & ((BITS)-1));                                            \
        simd_st(d, r);                                                                             \
    }
SIMD_IARITH(i8x16, vi8, vu8, 8)
SIMD_IARITH(i16x8, vi16, vu16, 16)
SIMD_IARITH(i32x4, vi32, vu32, 32)
SIMD_IARITH(i64x2, vi64, vu64, 64)

SIMD_VBIN(i16x8_mul, vu16, (a.vu16 * b.vu16))
SIMD_VBIN(i32x4_mul, vu32, (a.vu32 * b.vu32))
SIMD_VBIN(i64x2_mul, vu64, (a.vu64 * b.vu64))

/* min/max by mask: r = (a & m) | (b & ~m) with m = (a < b) for min, (a > b) for max. */
#define SIMD_MINMAX(shape, S, U)                                                                   \
    SIMD_VBIN(shape##_min_s, U,                                                                    \
              (a.U & (__typeof__(a.U))(a.S < b.S)) | (b.U & ~(__typeof__(a.U))(a.S < b.S)))        \
    SIMD_VBIN(shape##_min_u, U,                                                                    \
              (a.U & (__typeof__(a.U))(a.U < b.U)) | (b.U & ~(__typeof__(a.U))(a.U < b.U)))        \
    SIMD_VBIN(shape##_max_s, U,                                                                    \
              (a.U & (__typeof__(a.U))(a.S > b.S)) | (b.U & ~(__typeof__(a.U))(a.S > b.S)))        \
    SIMD_VBIN(shape##_max_u, U,                                                                    \
              (a.U & (__typeof__(a.U))(a.U > b.U)) | (b.U & ~(__typeof__(a.U))(a.U > b.U)))
SIMD_MINMAX(i8x16, vi8, vu8)
SIMD_MINMAX(i16x8, vi16, vu16)
SIMD_MINMAX(i32x4, vi32, vu32)

SIMD_LBIN(i8x16_add_sat_s, i8, 16, SIMD_SAT(-128, 127, (int)x + y))
SIMD_LBIN(i8x16_add_sat_u, u8, 16, SIMD_SAT(0, 255, (int)x + y))
SIMD_LBIN(i8x16_sub_sat_s, i8, 16, SIMD_SAT(-128, 127, (int)x - y))
SIMD_LBIN(i8x16_sub_sat_u, u8, 16, SIMD_SAT(0, 255, (int)x - y))
SIMD_LBIN(i16x8_add_sat_s, i16, 8, SIMD_SAT(-32768, 32767, (int)x + y))
SIMD_LBIN(i16x8_add_sat_u, u16, 8, SIMD_SAT(0, 65535, (int)x + y))
SIMD_LBIN(i16x8_sub_sat_s, i16, 8, SIMD_SAT(-32768, 32767, (int)x - y))
SIMD_LBIN(i16x8_sub_sat_u, u16, 8, SIMD_SAT(0, 65535, (int)x - y))
SIMD_LBIN(i8x16_avgr_u, u8, 16, ((unsigned)x + y + 1) >> 1)
SIMD_LBIN(i16x8_avgr_u, u16, 8, ((unsigned)x + y + 1) >> 1)
/* (x * y + 2^14) >> 15, saturated: only -32768 * -32768 overflows. */
SIMD_LBIN(i16x8_q15mulr_sat_s, i16, 8, SIMD_SAT(-32768, 32767, ((int32_t)x * y + 0x4000) >> 15))
SIMD_LUN(i8x16_popcnt, u8, u8, 16, __builtin_popcount(x))

/* Narrowing: a's lanes, then b's, each saturated to the narrower type. */
#define SIMD_NARROW(name, RF, AF, N, lo, hi)                                                       \
    static inline void simd_##name(void *d, const void *pa, const void *pb)                        \
    {                                                                                              \
        simd_v128 a = simd_ld(pa), b = simd_ld(pb), r;                                             \
        for (int i = 0; i < (N); i++) {                                                            \
            r.RF[i] = SIMD_SAT(lo, hi, a.AF[i]);                                                   \
            r.RF[i + (N)] = SIMD_SAT(lo, hi, b.AF[i]);                                             \
        }                                                                                          \
        simd_st(d, r);                                                                             \
    }
SIMD_NARROW(i8x16_narrow_i16x8_s, i8, i16, 8, -128, 127)
SIMD_NARROW(i8x16_narrow_i16x8_u, u8, i16, 8, 0, 255)
SIMD_NARROW(i16x8_narrow_i32x4_s, i16, i32, 4, -32768, 32767)
SIMD_NARROW(i16x8_narrow_i32x4_u, u16, i32, 4, 0, 65535)

/* Widening: the low or high half of a's lanes (field AF, N result lanes) extended. */
#define SIMD_EXTEND(name, RF, AF, N, HIGH)                                                         \
    static inline void simd_##name(void *d, const void *pa)                                        \
    {                                                                                              \
        simd_v128 a = simd_ld(pa), r;                                                              \
        for (int i = 0; i < (N); i++)                                                              \
            r.RF[i] = a.AF[i + (HIGH) * (N)];                                                      \
        simd_st(d, r);                                                                             \
    }
SIMD_EXTEND(i16x8_extend_low_i8x16_s, i16, i8, 8, 0)
SIMD_EXTEND(i16x8_extend_high_i8x16_s, i16, i8, 8, 1)
SIMD_EXTEND(i16x8_extend_low_i8x16_u, u16, u8, 8, 0)
SIMD_EXTEND(i16x8_extend_high_i8x16_u, u16, u8, 8, 1)
SIMD_EXTEND(i32x4_extend_low_i16x8_s, i32, i16, 4, 0)
SIMD_EXTEND(i32x4_extend_high_i16x8_s, i32, i16, 4, 1)
SIMD_EXTEND(i32x4_extend_low_i16x8_u, u32, u16, 4, 0)
SIMD_EXTEND(i32x4_extend_high_i16x8_u, u32, u16, 4, 1)
SIMD_EXTEND(i64x2_extend_low_i32x4_s, i64, i32, 2, 0)
SIMD_EXTEND(i64x2_extend_high_i32x4_s, i64, i32, 2, 1)
SIMD_EXTEND(i64x2_extend_low_i32x4_u, u64, u32, 2, 0)
SIMD_EXTEND(i64x2_extend_high_i32x4_u, u64, u32, 2, 1)

/* Extended multiplication of the low or high halves: products in the wider lanes. */
#define SIMD_EXTMUL(name, RF, WT, AF, N, HIGH)                                                     \
    static inline void simd_##name(void *d, const void *pa, const void *pb)                        \
    {                                                                                              \
        simd_v128 a = simd_ld(pa), b = simd_ld(pb), r;                                             \
        for (int i = 0; i < (N); i++)                                                              \
            r.RF[i] = (WT)a.AF[i + (HIGH) * (N)] * (WT)b.AF[i + (HIGH) * (N)];                     \
        simd_st(d, r);                                                                             \
    }
SIMD_EXTMUL(i16x8_extmul_low_i8x16_s, i16, int32_t, i8, 8, 0)
SIMD_EXTMUL(i16x8_extmul_high_i8x16_s, i16, int32_t, i8, 8, 1)
SIMD_EXTMUL(i16x8_extmul_low_i8x16_u, u16, uint32_t, u8, 8, 0)
SIMD_EXTMUL(i16x8_extmul_high_i8x16_u, u16, uint32_t, u8, 8, 1)
SIMD_EXTMUL(i32x4_extmul_low_i16x8_s, i32, int32_t, i16, 4, 0)
SIMD_EXTMUL(i32x4_extmul_high_i16x8_s, i32, int32_t, i16, 4, 1)
SIMD_EXTMUL(i32x4_extmul_low_i16x8_u, u32, uint32_t, u16, 4, 0)
SIMD_EXTMUL(i32x4_extmul_high_i16x8_u, u32, uint32_t, u16, 4, 1)
SIMD_EXTMUL(i64x2_extmul_low_i32x4_s, i64, int64_t, i32, 2, 0)
SIMD_EXTMUL(i64x2_extmul_high_i32x4_s, i64, int64_t, i32, 2, 1)
SIMD_EXTMUL(i64x2_extmul_low_i32x4_u, u64, uint64_t, u32, 2, 0)
SIMD_EXTMUL(i64x2_extmul_high_i32x4_u, u64, uint64_t, u32, 2, 1)

/* Pairwise sums of adjacent lanes, widened (cannot overflow). */
#define SIMD_EXTADD(name, RF, AF, N)                                                               \
    static inline void simd_##name(void *d, const void *pa)                                        \
    {                                                                                              \
        simd_v128 a = simd_ld(pa), r;                                                              \
        for (int i = 0; i < (N); i++)                                                              \
            r.RF[i] = a.AF[2 * i] + a.AF[2 * i + 1];                                               \
        simd_st(d, r);                                                                             \
    }
SIMD_EXTADD(i16x8_extadd_pairwise_i8x16_s, i16, i8, 8)
SIMD_EXTADD(i16x8_extadd_pairwise_i8x16_u, u16, u8, 8)
SIMD_EXTADD(i32x4_extadd_pairwise_i16x8_s, i32, i16, 4)
SIMD_EXTADD(i32x4_extadd_pairwise_i16x8_u, u32, u16, 4)

/* Sums of adjacent signed 16-bit products; -32768^2 * 2 wraps to INT32_MIN. */
static inline void simd_i32x4_dot_i16x8_s(void *d, const void *pa, const void *pb)
{
    simd_v128 a = simd_ld(pa), b = simd_ld(pb), r;

    for (int i = 0; i < 4; i++)
        r.u32[i] = (uint32_t)((int32_t)a.i16[2 * i] * b.i16[2 * i]) +
                   (uint32_t)((int32_t)a.i16[2 * i + 1] * b.i16[2 * i + 1]);
    simd_st(d, r);
}

/* ---- Floating point ------------------------------------------------------------------ */

/* abs/neg flip or clear the sign bit only (NaN payloads are kept), as the scalar ops do. */
SIMD_VUN(f32x4_abs, vu32, a.vu32 & 0x7fffffffu)
SIMD_VUN(f32x4_neg, vu32, a.vu32 ^ 0x80000000u)
SIMD_VUN(f64x2_abs, vu64, a.vu64 & 0x7fffffffffffffffull)
SIMD_VUN(f64x2_neg, vu64, a.vu64 ^ 0x8000000000000000ull)
SIMD_VBIN(f32x4_add, vf32, a.vf32 + b.vf32)
SIMD_VBIN(f32x4_sub, vf32, a.vf32 - b.vf32)
SIMD_VBIN(f32x4_mul, vf32, (a.vf32 * b.vf32))
SIMD_VBIN(f32x4_div, vf32, a.vf32 / b.vf32)
SIMD_VBIN(f64x2_add, vf64, a.vf64 + b.vf64)
SIMD_VBIN(f64x2_sub, vf64, a.vf64 - b.vf64)
SIMD_VBIN(f64x2_mul, vf64, (a.vf64 * b.vf64))
SIMD_VBIN(f64x2_div, vf64, a.vf64 / b.vf64)
SIMD_LUN(f32x4_sqrt, f32, f32, 4, sqrtf(x))
SIMD_LUN(f64x2_sqrt, f64, f64, 2, sqrt(x))
SIMD_LBIN(f32x4_min, f32, 4, simd_f32_min(x, y))
SIMD_LBIN(f32x4_max, f32, 4, simd_f32_max(x, y))
SIMD_LBIN(f64x2_min, f64, 2, simd_f64_min(x, y))
SIMD_LBIN(f64x2_max, f64, 2, simd_f64_max(x, y))
/* Pseudo-min/max: b < a ? b : a and a < b ? b : a, selecting bits (NaNs pass untouched). */
SIMD_VBIN(f32x4_pmin, vu32,
          (b.vu32 & (simd_vu32)(b.vf32 < a.vf32)) | (a.vu32 & ~(simd_vu32)(b.vf32 < a.vf32)))
SIMD_VBIN(f32x4_pmax, vu32,
          (b.vu32 & (simd_vu32)(a.vf32 < b.vf32)) | (a.vu32 & ~(simd_vu32)(a.vf32 < b.vf32)))
SIMD_VBIN(f64x2_pmin, vu64,
          (b.vu64 & (simd_vu64)(b.vf64 < a.vf64)) | (a.vu64 & ~(simd_vu64)(b.vf64 < a.vf64)))
SIMD_VBIN(f64x2_pmax, vu64,
          (b.vu64 & (simd_vu64)(a.vf64 < b.vf64)) | (a.vu64 & ~(simd_vu64)(a.vf64 < b.vf64)))
/* Rounding: a NaN operand comes back quieted (x + x), like the scalar ops. */
SIMD_LUN(f32x4_ceil, f32, f32, 4, isnan(x) ? x + x : ceilf(x))
SIMD_LUN(f32x4_floor, f32, f32, 4, isnan(x) ? x + x : floorf(x))
SIMD_LUN(f32x4_trunc, f32, f32, 4, isnan(x) ? x + x : truncf(x))
SIMD_LUN(f32x4_nearest, f32, f32, 4, isnan(x) ? x + x : nearbyintf(x))
SIMD_LUN(f64x2_ceil, f64, f64, 2, isnan(x) ? x + x : ceil(x))
SIMD_LUN(f64x2_floor, f64, f64, 2, isnan(x) ? x + x : floor(x))
SIMD_LUN(f64x2_trunc, f64, f64, 2, isnan(x) ? x + x : trunc(x))
SIMD_LUN(f64x2_nearest, f64, f64, 2, isnan(x) ? x + x : nearbyint(x))

/* ---- Conversions ------------------------------------------------------------------------ */

/* Saturating float -> int: NaN is 0, out-of-range values clamp to the type's limits. */
static inline int32_t simd_sat_i32(double x)
{
    return isnan(x)             ? 0
           : x <= -2147483649.0 ? INT32_MIN
           : x >= 2147483648.0  ? INT32_MAX
                                : (int32_t)x;
}

static inline uint32_t simd_sat_u32(double x)
{
    return isnan(x) || x <= -1.0 ? 0 : x >= 4294967296.0 ? UINT32_MAX : (uint32_t)x;
}

/* Results with fewer lanes than the vector ("_zero") clear the upper lanes. */
#define SIMD_CONV(name, RF, AF, N, expr)                                                           \
    static inline void simd_##name(void *d, const void *pa)                                        \
    {                                                                                              \
        simd_v128 a = simd_ld(pa), r;                                                              \
        memset(&r, 0, sizeof(r));                                                                  \
        for (int i = 0; i < (N); i++) {                                                            \
            __typeof__(a.AF[0]) x = a.AF[i];                                                       \
            r.RF[i] = (expr);                                                                      \
        }                                                                                          \
        simd_st(d, r);                                                                             \
    }
SIMD_CONV(i32x4_trunc_sat_f32x4_s, i32, f32, 4, simd_sat_i32(x))
SIMD_CONV(i32x4_trunc_sat_f32x4_u, u32, f32, 4, simd_sat_u32(x))
SIMD_CONV(i32x4_trunc_sat_f64x2_s_zero, i32, f64, 2, simd_sat_i32(x))
SIMD_CONV(i32x4_trunc_sat_f64x2_u_zero, u32, f64, 2, simd_sat_u32(x))
SIMD_CONV(f32x4_convert_i32x4_s, f32, i32, 4, (float)x)
SIMD_CONV(f32x4_convert_i32x4_u, f32, u32, 4, (float)x)
SIMD_CONV(f64x2_convert_low_i32x4_s, f64, i32, 2, (double)x)
SIMD_CONV(f64x2_convert_low_i32x4_u, f64, u32, 2, (double)x)
SIMD_CONV(f32x4_demote_f64x2_zero, f32, f64, 2, (float)x)
SIMD_CONV(f64x2_promote_low_f32x4, f64, f32, 2, (double)x)

/* ---- Memory ------------------------------------------------------------------------------ */

/* Loads read exactly the access size at p (bounds already checked or guarded). */
static inline void simd_v128_load(void *d, const uint8_t *p)
{
    memcpy(d, p, 16);
}

#define SIMD_LOAD_EXTEND(name, RF, T, N)                                                           \
    static inline void simd_##name(void *d, const uint8_t *p)                                      \
    {                                                                                              \
        T x[N];                                                                                    \
        simd_v128 r;                                                                               \
        memcpy(x, p, sizeof(x));                                                                   \
        for (int i = 0; i < (N); i++)                                                              \
            r.RF[i] = x[i];                                                                        \
        simd_st(d, r);                                                                             \
    }
SIMD_LOAD_EXTEND(v128_load8x8_s, i16, int8_t, 8)
SIMD_LOAD_EXTEND(v128_load8x8_u, u16, uint8_t, 8)
SIMD_LOAD_EXTEND(v128_load16x4_s, i32, int16_t, 4)
SIMD_LOAD_EXTEND(v128_load16x4_u, u32, uint16_t, 4)
SIMD_LOAD_EXTEND(v128_load32x2_s, i64, int32_t, 2)
SIMD_LOAD_EXTEND(v128_load32x2_u, u64, uint32_t, 2)
#define SIMD_LOAD_BROADCAST(name, F, T, N)                                                         \
    static inline void simd_##name(void *d, const uint8_t *p)                                      \
    {                                                                                              \
        T x;                                                                                       \
        simd_v128 r;                                                                               \
        memcpy(&x, p, sizeof(x));                                                                  \
        for (int i = 0; i < (N); i++)                                                              \
            r.F[i] = x;                                                                            \
        simd_st(d, r);                                                                             \
    }
SIMD_LOAD_BROADCAST(v128_load8_splat, u8, uint8_t, 16)
SIMD_LOAD_BROADCAST(v128_load16_splat, u16, uint16_t, 8)
SIMD_LOAD_BROADCAST(v128_load32_splat, u32, uint32_t, 4)
SIMD_LOAD_BROADCAST(v128_load64_splat, u64, uint64_t, 2)
#define SIMD_LOAD_ZERO(name, SIZE)                                                                 \
    static inline void simd_##name(void *d, const uint8_t *p)                                      \
    {                                                                                              \
        simd_v128 r;                                                                               \
        memset(&r, 0, sizeof(r));                                                                  \
        memcpy(&r, p, SIZE);                                                                       \
        simd_st(d, r);                                                                             \
    }
SIMD_LOAD_ZERO(v128_load32_zero, 4)
SIMD_LOAD_ZERO(v128_load64_zero, 8)

/* Lane loads and stores move 2^align bytes between memory and lane `lane` of v. */
static inline void simd_load_lane(void *d, const uint8_t *p, const void *pv, uint32_t lane,
                                  unsigned align)
{
    simd_v128 r = simd_ld(pv);

    memcpy(r.u8 + ((lane & ((16u >> align) - 1)) << align), p, (size_t)1 << align);
    simd_st(d, r);
}

static inline void simd_store_lane(uint8_t *p, const void *pv, uint32_t lane, unsigned align)
{
    simd_v128 v = simd_ld(pv);

    memcpy(p, v.u8 + ((lane & ((16u >> align) - 1)) << align), (size_t)1 << align);
}

/* ---- The dispatch loop ------------------------------------------------------------------ */

typedef uint32_t simd_u32a __attribute__((may_alias));
typedef const void *simd_ptru __attribute__((may_alias, aligned(4)));

/* Operand k after the `simd` op (two words) and the instruction number (one word). */
#define A(k) (pc[3 + (k)])
#define SLOT(k) (fp + A(k))
/* Effective address of slot ka (an i32) plus the offset operand ko. */
#define EA(ka, ko) ((uint64_t) * (const simd_u32a *)SLOT(ka) + A(ko))
#ifdef WASP_BOUNDS_CHECKS
#define MEMAT(ea, n)                                                                               \
    ({                                                                                             \
        uint64_t ea_ = (ea);                                                                       \
        if (__builtin_expect(ea_ + (n) > memlen, 0))                                               \
            goto out_of_bounds;                                                                    \
        mem + ea_;                                                                                 \
    })
#else
#define MEMAT(ea, n) (mem + (ea))
#endif
/* The next instruction: another SIMD one runs here, anything else goes back. */
#define NEXT(n)                                                                                    \
    do {                                                                                           \
        pc += (n);                                                                                 \
        if (__builtin_expect(*(const simd_ptru *)pc != gate, 0))                                   \
            return pc;                                                                             \
        goto *labels[pc[2]];                                                                       \
    } while (0)

/* Handlers by layout (simd.h): they find the operands; simd_<name>() does the work. */
#define SIMD_HANDLER(code, name, layout, sig, arg) H_##layout(name, arg)
#define H_UN(name, arg)                                                                            \
    L_##name : simd_##name(SLOT(0), SLOT(1));                                                      \
    NEXT(5);
#define H_BIN(name, arg)                                                                           \
    L_##name : simd_##name(SLOT(0), SLOT(1), SLOT(2));                                             \
    NEXT(6);
#define H_TERN(name, arg)                                                                          \
    L_##name : simd_##name(SLOT(0), SLOT(1), SLOT(2), SLOT(3));                                    \
    NEXT(7);
#define H_EXTRACT(name, arg)                                                                       \
    L_##name : simd_##name(SLOT(0), SLOT(1), A(2));                                                \
    NEXT(6);
#define H_REPLACE(name, arg)                                                                       \
    L_##name : simd_##name(SLOT(0), SLOT(1), SLOT(2), A(3));                                       \
    NEXT(7);
#define H_SHUFFLE(name, arg)                                                                       \
    L_##name : simd_##name(SLOT(0), SLOT(1), SLOT(2), &A(3));                                      \
    NEXT(10);
#define H_CONST(name, arg)                                                                         \
    L_##name : memcpy(SLOT(0), &A(1), 16);                                                         \
    NEXT(8);
#define H_LOAD(name, arg)                                                                          \
    L_##name : simd_##name(SLOT(0), MEMAT(EA(1, 2), 1u << (arg)));                                 \
    NEXT(6);
#define H_STORE(name, arg)                                                                         \
    L_##name : simd_st(MEMAT(EA(0, 2), 16), simd_ld(SLOT(1)));                                     \
    NEXT(6);
#define H_LOADLANE(name, arg)                                                                      \
    L_##name : simd_load_lane(SLOT(0), MEMAT(EA(1, 3), 1u << (arg)), SLOT(2), A(4), (arg));        \
    NEXT(8);
#define H_STORELANE(name, arg)                                                                     \
    L_##name : simd_store_lane(MEMAT(EA(0, 2), 1u << (arg)), SLOT(1), A(3), (arg));                \
    NEXT(7);
#define SIMD_LABEL(code, name, layout, sig, arg) [WASM_SIMD_OP_##name] = &&L_##name,

const wasm_code_word *wasm_simd_run(const wasm_code_word *pc, char *fp, struct wasm_instance *inst,
                                    uint8_t *mem, uint64_t memlen, bool *oob)
{
    /* clang-format off */
    static const void *const labels[WASM_SIMD_OP_COUNT] = {
        WASM_SIMD_OPS(SIMD_LABEL)
        [WASM_SIMD_OP_vcopy] = &&L_vcopy, [WASM_SIMD_OP_vselect] = &&L_vselect,
        [WASM_SIMD_OP_vgget] = &&L_vgget, [WASM_SIMD_OP_vgset] = &&L_vgset,
    };
    /* clang-format on */
    const void *const gate = wasm_op_handlers[WASM_OP_simd];

#ifndef WASP_BOUNDS_CHECKS
    (void)memlen, (void)oob; /* the guard pages check every access */
#endif
    goto *labels[pc[2]];

    WASM_SIMD_OPS(SIMD_HANDLER)

L_vcopy: /* source and destination may overlap */
    simd_st(SLOT(0), simd_ld(SLOT(1)));
    NEXT(5);
L_vselect:
    simd_st(SLOT(0), simd_ld(*(const simd_u32a *)SLOT(3) ? SLOT(1) : SLOT(2)));
    NEXT(7);
L_vgget : {
    const struct wasm_global *g = inst->globals[A(1)];
    uint64_t v[2] = {g->value, g->hi};
    memcpy(SLOT(0), v, 16);
    NEXT(5);
}
L_vgset : {
    struct wasm_global *g = inst->globals[A(0)];
    uint64_t v[2];
    memcpy(v, SLOT(1), 16);
    g->value = v[0];
    g->hi = v[1];
    NEXT(5);
}

#ifdef WASP_BOUNDS_CHECKS
out_of_bounds:
    *oob = true;
    return pc;
#endif
}
