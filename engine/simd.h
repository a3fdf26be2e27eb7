/*
 * simd.h - the fixed-width SIMD instructions (prefix 0xfd): one table that the decoder,
 * the validator, the translator and the interpreter all expand, so an instruction's
 * immediates, typing and register-code layout are written down once. Internal to engine/.
 *
 * WASM_SIMD_OPS(X) calls X(code, name, layout, sig, arg) for every instruction, in
 * opcode order. code is the u32 sub-opcode after 0xfd; name its text-format name with
 * '.' written '_'. layout says both the immediates and the register-code operands:
 *
 *   layout     immediates          register code after the `simd` op and its number
 *                                  (d = result slot, a/b/c = source slots)
 *   UN         -                   d a
 *   BIN        -                   d a b
 *   TERN       -                   d a b c
 *   EXTRACT    lane byte           d a lane
 *   REPLACE    lane byte           d a b lane
 *   SHUFFLE    16 lane bytes       d a b + 16 bytes (4 words)
 *   CONST      16 bytes            d + 16 bytes (4 words)
 *   LOAD       memarg              d a offset
 *   STORE      memarg              a v offset
 *   LOADLANE   memarg, lane byte   d a v offset lane
 *   STORELANE  memarg, lane byte   a v offset lane
 *
 * sig names the operand and result types: the letters before '_' are the operands, the
 * ones after it the result (v = v128, i = i32, l = i64, f = f32, d = f64). arg is the
 * natural alignment (log2 bytes, also the access size) of the memory instructions, and
 * the number of lanes a lane immediate may name for the others (0: none).
 */
#ifndef WASP_ENGINE_SIMD_H
#define WASP_ENGINE_SIMD_H

#include "wasm.h"

/* clang-format off */
#define WASM_SIMD_OPS(X)                                                                   \
    X(0x00, v128_load, LOAD, i_v, 4)                                                       \
    X(0x01, v128_load8x8_s, LOAD, i_v, 3)                                                  \
    X(0x02, v128_load8x8_u, LOAD, i_v, 3)                                                  \
    X(0x03, v128_load16x4_s, LOAD, i_v, 3)                                                 \
    X(0x04, v128_load16x4_u, LOAD, i_v, 3)                                                 \
    X(0x05, v128_load32x2_s, LOAD, i_v, 3)                                                 \
    X(0x06, v128_load32x2_u, LOAD, i_v, 3)                                                 \
    X(0x07, v128_load8_splat, LOAD, i_v, 0)                                                \
    X(0x08, v128_load16_splat, LOAD, i_v, 1)                                               \
    X(0x09, v128_load32_splat, LOAD, i_v, 2)                                               \
    X(0x0a, v128_load64_splat, LOAD, i_v, 3)                                               \
    X(0x0b, v128_store, STORE, iv_, 4)                                                     \
    X(0x0c, v128_const, CONST, _v, 0)                                                      \
    X(0x0d, i8x16_shuffle, SHUFFLE, vv_v, 32)                                              \
    X(0x0e, i8x16_swizzle, BIN, vv_v, 0)                                                   \
    X(0x0f, i8x16_splat, UN, i_v, 0)                                                       \
    X(0x10, i16x8_splat, UN, i_v, 0)                                                       \
    X(0x11, i32x4_splat, UN, i_v, 0)                                                       \
    X(0x12, i64x2_splat, UN, l_v, 0)                                                       \
    X(0x13, f32x4_splat, UN, f_v, 0)                                                       \
    X(0x14, f64x2_splat, UN, d_v, 0)                                                       \
    X(0x15, i8x16_extract_lane_s, EXTRACT, v_i, 16)                                        \
    X(0x16, i8x16_extract_lane_u, EXTRACT, v_i, 16)                                        \
    X(0x17, i8x16_replace_lane, REPLACE, vi_v, 16)                                         \
    X(0x18, i16x8_extract_lane_s, EXTRACT, v_i, 8)                                         \
    X(0x19, i16x8_extract_lane_u, EXTRACT, v_i, 8)                                         \
    X(0x1a, i16x8_replace_lane, REPLACE, vi_v, 8)                                          \
    X(0x1b, i32x4_extract_lane, EXTRACT, v_i, 4)                                           \
    X(0x1c, i32x4_replace_lane, REPLACE, vi_v, 4)                                          \
    X(0x1d, i64x2_extract_lane, EXTRACT, v_l, 2)                                           \
    X(0x1e, i64x2_replace_lane, REPLACE, vl_v, 2)                                          \
    X(0x1f, f32x4_extract_lane, EXTRACT, v_f, 4)                                           \
    X(0x20, f32x4_replace_lane, REPLACE, vf_v, 4)                                          \
    X(0x21, f64x2_extract_lane, EXTRACT, v_d, 2)                                           \
    X(0x22, f64x2_replace_lane, REPLACE, vd_v, 2)                                          \
    X(0x23, i8x16_eq, BIN, vv_v, 0)                                                        \
    X(0x24, i8x16_ne, BIN, vv_v, 0)                                                        \
    X(0x25, i8x16_lt_s, BIN, vv_v, 0)                                                      \
    X(0x26, i8x16_lt_u, BIN, vv_v, 0)                                                      \
    X(0x27, i8x16_gt_s, BIN, vv_v, 0)                                                      \
    X(0x28, i8x16_gt_u, BIN, vv_v, 0)                                                      \
    X(0x29, i8x16_le_s, BIN, vv_v, 0)                                                      \
    X(0x2a, i8x16_le_u, BIN, vv_v, 0)                                                      \
    X(0x2b, i8x16_ge_s, BIN, vv_v, 0)                                                      \
    X(0x2c, i8x16_ge_u, BIN, vv_v, 0)                                                      \
    X(0x2d, i16x8_eq, BIN, vv_v, 0)                                                        \
    X(0x2e, i16x8_ne, BIN, vv_v, 0)                                                        \
    X(0x2f, i16x8_lt_s, BIN, vv_v, 0)                                                      \
    X(0x30, i16x8_lt_u, BIN, vv_v, 0)                                                      \
    X(0x31, i16x8_gt_s, BIN, vv_v, 0)                                                      \
    X(0x32, i16x8_gt_u, BIN, vv_v, 0)                                                      \
    X(0x33, i16x8_le_s, BIN, vv_v, 0)                                                      \
    X(0x34, i16x8_le_u, BIN, vv_v, 0)                                                      \
    X(0x35, i16x8_ge_s, BIN, vv_v, 0)                                                      \
    X(0x36, i16x8_ge_u, BIN, vv_v, 0)                                                      \
    X(0x37, i32x4_eq, BIN, vv_v, 0)                                                        \
    X(0x38, i32x4_ne, BIN, vv_v, 0)                                                        \
    X(0x39, i32x4_lt_s, BIN, vv_v, 0)                                                      \
    X(0x3a, i32x4_lt_u, BIN, vv_v, 0)                                                      \
    X(0x3b, i32x4_gt_s, BIN, vv_v, 0)                                                      \
    X(0x3c, i32x4_gt_u, BIN, vv_v, 0)                                                      \
    X(0x3d, i32x4_le_s, BIN, vv_v, 0)                                                      \
    X(0x3e, i32x4_le_u, BIN, vv_v, 0)                                                      \
    X(0x3f, i32x4_ge_s, BIN, vv_v, 0)                                                      \
    X(0x40, i32x4_ge_u, BIN, vv_v, 0)                                                      \
    X(0x41, f32x4_eq, BIN, vv_v, 0)                                                        \
    X(0x42, f32x4_ne, BIN, vv_v, 0)                                                        \
    X(0x43, f32x4_lt, BIN, vv_v, 0)                                                        \
    X(0x44, f32x4_gt, BIN, vv_v, 0)                                                        \
    X(0x45, f32x4_le, BIN, vv_v, 0)                                                        \
    X(0x46, f32x4_ge, BIN, vv_v, 0)                                                        \
    X(0x47, f64x2_eq, BIN, vv_v, 0)                                                        \
    X(0x48, f64x2_ne, BIN, vv_v, 0)                                                        \
    X(0x49, f64x2_lt, BIN, vv_v, 0)                                                        \
    X(0x4a, f64x2_gt, BIN, vv_v, 0)                                                        \
    X(0x4b, f64x2_le, BIN, vv_v, 0)                                                        \
    X(0x4c, f64x2_ge, BIN, vv_v, 0)                                                        \
    X(0x4d, v128_not, UN, v_v, 0)                                                          \
    X(0x4e, v128_and, BIN, vv_v, 0)                                                        \
    X(0x4f, v128_andnot, BIN, vv_v, 0)                                                     \
    X(0x50, v128_or, BIN, vv_v, 0)                                                         \
    X(0x51, v128_xor, BIN, vv_v, 0)                                                        \
    X(0x52, v128_bitselect, TERN, vvv_v, 0)                                                \
    X(0x53, v128_any_true, UN, v_i, 0)                                                     \
    X(0x54, v128_load8_lane, LOADLANE, iv_v, 0)                                            \
    X(0x55, v128_load16_lane, LOADLANE, iv_v, 1)                                           \
    X(0x56, v128_load32_lane, LOADLANE, iv_v, 2)                                           \
    X(0x57, v128_load64_lane, LOADLANE, iv_v, 3)                                           \
    X(0x58, v128_store8_lane, STORELANE, iv_, 0)                                           \
    X(0x59, v128_store16_lane, STORELANE, iv_, 1)                                          \
    X(0x5a, v128_store32_lane, STORELANE, iv_, 2)                                          \
    X(0x5b, v128_store64_lane, STORELANE, iv_, 3)                                          \
    X(0x5c, v128_load32_zero, LOAD, i_v, 2)                                                \
    X(0x5d, v128_load64_zero, LOAD, i_v, 3)                                                \
    X(0x5e, f32x4_demote_f64x2_zero, UN, v_v, 0)                                           \
    X(0x5f, f64x2_promote_low_f32x4, UN, v_v, 0)                                           \
    X(0x60, i8x16_abs, UN, v_v, 0)                                                         \
    X(0x61, i8x16_neg, UN, v_v, 0)                                                         \
    X(0x62, i8x16_popcnt, UN, v_v, 0)                                                      \
    X(0x63, i8x16_all_true, UN, v_i, 0)                                                    \
    X(0x64, i8x16_bitmask, UN, v_i, 0)                                                     \
    X(0x65, i8x16_narrow_i16x8_s, BIN, vv_v, 0)                                            \
    X(0x66, i8x16_narrow_i16x8_u, BIN, vv_v, 0)                                            \
    X(0x67, f32x4_ceil, UN, v_v, 0)                                                        \
    X(0x68, f32x4_floor, UN, v_v, 0)                                                       \
    X(0x69, f32x4_trunc, UN, v_v, 0)                                                       \
    X(0x6a, f32x4_nearest, UN, v_v, 0)                                                     \
    X(0x6b, i8x16_shl, BIN, vi_v, 0)                                                       \
    X(0x6c, i8x16_shr_s, BIN, vi_v, 0)                                                     \
    X(0x6d, i8x16_shr_u, BIN, vi_v, 0)                                                     \
    X(0x6e, i8x16_add, BIN, vv_v, 0)                                                       \
    X(0x6f, i8x16_add_sat_s, BIN, vv_v, 0)                                                 \
    X(0x70, i8x16_add_sat_u, BIN, vv_v, 0)                                                 \
    X(0x71, i8x16_sub, BIN, vv_v, 0)                                                       \
    X(0x72, i8x16_sub_sat_s, BIN, vv_v, 0)                                                 \
    X(0x73, i8x16_sub_sat_u, BIN, vv_v, 0)                                                 \
    X(0x74, f64x2_ceil, UN, v_v, 0)                                                        \
    X(0x75, f64x2_floor, UN, v_v, 0)                                                       \
    X(0x76, i8x16_min_s, BIN, vv_v, 0)                                                     \
    X(0x77, i8x16_min_u, BIN, vv_v, 0)                                                     \
    X(0x78, i8x16_max_s, BIN, vv_v, 0)                                                     \
    X(0x79, i8x16_max_u, BIN, vv_v, 0)                                                     \
    X(0x7a, f64x2_trunc, UN, v_v, 0)                                                       \
    X(0x7b, i8x16_avgr_u, BIN, vv_v, 0)                                                    \
    X(0x7c, i16x8_extadd_pairwise_i8x16_s, UN, v_v, 0)                                     \
    X(0x7d, i16x8_extadd_pairwise_i8x16_u, UN, v_v, 0)                                     \
    X(0x7e, i32x4_extadd_pairwise_i16x8_s, UN, v_v, 0)                                     \
    X(0x7f, i32x4_extadd_pairwise_i16x8_u, UN, v_v, 0)                                     \
    X(0x80, i16x8_abs, UN, v_v, 0)                                                         \
    X(0x81, i16x8_neg, UN, v_v, 0)                                                         \
    X(0x82, i16x8_q15mulr_sat_s, BIN, vv_v, 0)                                             \
    X(0x83, i16x8_all_true, UN, v_i, 0)                                                    \
    X(0x84, i16x8_bitmask, UN, v_i, 0)                                                     \
    X(0x85, i16x8_narrow_i32x4_s, BIN, vv_v, 0)                                            \
    X(0x86, i16x8_narrow_i32x4_u, BIN, vv_v, 0)                                            \
    X(0x87, i16x8_extend_low_i8x16_s, UN, v_v, 0)                                          \
    X(0x88, i16x8_extend_high_i8x16_s, UN, v_v, 0)                                         \
    X(0x89, i16x8_extend_low_i8x16_u, UN, v_v, 0)                                          \
    X(0x8a, i16x8_extend_high_i8x16_u, UN, v_v, 0)                                         \
    X(0x8b, i16x8_shl, BIN, vi_v, 0)                                                       \
    X(0x8c, i16x8_shr_s, BIN, vi_v, 0)                                                     \
    X(0x8d, i16x8_shr_u, BIN, vi_v, 0)                                                     \
    X(0x8e, i16x8_add, BIN, vv_v, 0)                                                       \
    X(0x8f, i16x8_add_sat_s, BIN, vv_v, 0)                                                 \
    X(0x90, i16x8_add_sat_u, BIN, vv_v, 0)                                                 \
    X(0x91, i16x8_sub, BIN, vv_v, 0)                                                       \
    X(0x92, i16x8_sub_sat_s, BIN, vv_v, 0)                                                 \
    X(0x93, i16x8_sub_sat_u, BIN, vv_v, 0)                                                 \
    X(0x94, f64x2_nearest, UN, v_v, 0)                                                     \
    X(0x95, i16x8_mul, BIN, vv_v, 0)                                                       \
    X(0x96, i16x8_min_s, BIN, vv_v, 0)                                                     \
    X(0x97, i16x8_min_u, BIN, vv_v, 0)                                                     \
    X(0x98, i16x8_max_s, BIN, vv_v, 0)                                                     \
    X(0x99, i16x8_max_u, BIN, vv_v, 0)                                                     \
    X(0x9b, i16x8_avgr_u, BIN, vv_v, 0)                                                    \
    X(0x9c, i16x8_extmul_low_i8x16_s, BIN, vv_v, 0)                                        \
    X(0x9d, i16x8_extmul_high_i8x16_s, BIN, vv_v, 0)                                       \
    X(0x9e, i16x8_extmul_low_i8x16_u, BIN, vv_v, 0)                                        \
    X(0x9f, i16x8_extmul_high_i8x16_u, BIN, vv_v, 0)                                       \
    X(0xa0, i32x4_abs, UN, v_v, 0)                                                         \
    X(0xa1, i32x4_neg, UN, v_v, 0)                                                         \
    X(0xa3, i32x4_all_true, UN, v_i, 0)                                                    \
    X(0xa4, i32x4_bitmask, UN, v_i, 0)                                                     \
    X(0xa7, i32x4_extend_low_i16x8_s, UN, v_v, 0)                                          \
    X(0xa8, i32x4_extend_high_i16x8_s, UN, v_v, 0)                                         \
    X(0xa9, i32x4_extend_low_i16x8_u, UN, v_v, 0)                                          \
    X(0xaa, i32x4_extend_high_i16x8_u, UN, v_v, 0)                                         \
    X(0xab, i32x4_shl, BIN, vi_v, 0)                                                       \
    X(0xac, i32x4_shr_s, BIN, vi_v, 0)                                                     \
    X(0xad, i32x4_shr_u, BIN, vi_v, 0)                                                     \
    X(0xae, i32x4_add, BIN, vv_v, 0)                                                       \
    X(0xb1, i32x4_sub, BIN, vv_v, 0)                                                       \
    X(0xb5, i32x4_mul, BIN, vv_v, 0)                                                       \
    X(0xb6, i32x4_min_s, BIN, vv_v, 0)                                                     \
    X(0xb7, i32x4_min_u, BIN, vv_v, 0)                                                     \
    X(0xb8, i32x4_max_s, BIN, vv_v, 0)                                                     \
    X(0xb9, i32x4_max_u, BIN, vv_v, 0)                                                     \
    X(0xba, i32x4_dot_i16x8_s, BIN, vv_v, 0)                                               \
    X(0xbc, i32x4_extmul_low_i16x8_s, BIN, vv_v, 0)                                        \
    X(0xbd, i32x4_extmul_high_i16x8_s, BIN, vv_v, 0)                                       \
    X(0xbe, i32x4_extmul_low_i16x8_u, BIN, vv_v, 0)                                        \
    X(0xbf, i32x4_extmul_high_i16x8_u, BIN, vv_v, 0)                                       \
    X(0xc0, i64x2_abs, UN, v_v, 0)                                                         \
    X(0xc1, i64x2_neg, UN, v_v, 0)                                                         \
    X(0xc3, i64x2_all_true, UN, v_i, 0)                                                    \
    X(0xc4, i64x2_bitmask, UN, v_i, 0)                                                     \
    X(0xc7, i64x2_extend_low_i32x4_s, UN, v_v, 0)                                          \
    X(0xc8, i64x2_extend_high_i32x4_s, UN, v_v, 0)                                         \
    X(0xc9, i64x2_extend_low_i32x4_u, UN, v_v, 0)                                          \
    X(0xca, i64x2_extend_high_i32x4_u, UN, v_v, 0)                                         \
    X(0xcb, i64x2_shl, BIN, vi_v, 0)                                                       \
    X(0xcc, i64x2_shr_s, BIN, vi_v, 0)                                                     \
    X(0xcd, i64x2_shr_u, BIN, vi_v, 0)                                                     \
    X(0xce, i64x2_add, BIN, vv_v, 0)                                                       \
    X(0xd1, i64x2_sub, BIN, vv_v, 0)                                                       \
    X(0xd5, i64x2_mul, BIN, vv_v, 0)                                                       \
    X(0xd6, i64x2_eq, BIN, vv_v, 0)                                                        \
    X(0xd7, i64x2_ne, BIN, vv_v, 0)                                                        \
    X(0xd8, i64x2_lt_s, BIN, vv_v, 0)                                                      \
    X(0xd9, i64x2_gt_s, BIN, vv_v, 0)                                                      \
    X(0xda, i64x2_le_s, BIN, vv_v, 0)                                                      \
    X(0xdb, i64x2_ge_s, BIN, vv_v, 0)                                                      \
    X(0xdc, i64x2_extmul_low_i32x4_s, BIN, vv_v, 0)                                        \
    X(0xdd, i64x2_extmul_high_i32x4_s, BIN, vv_v, 0)                                       \
    X(0xde, i64x2_extmul_low_i32x4_u, BIN, vv_v, 0)                                        \
    X(0xdf, i64x2_extmul_high_i32x4_u, BIN, vv_v, 0)                                       \
    X(0xe0, f32x4_abs, UN, v_v, 0)                                                         \
    X(0xe1, f32x4_neg, UN, v_v, 0)                                                         \
    X(0xe3, f32x4_sqrt, UN, v_v, 0)                                                        \
    X(0xe4, f32x4_add, BIN, vv_v, 0)                                                       \
    X(0xe5, f32x4_sub, BIN, vv_v, 0)                                                       \
    X(0xe6, f32x4_mul, BIN, vv_v, 0)                                                       \
    X(0xe7, f32x4_div, BIN, vv_v, 0)                                                       \
    X(0xe8, f32x4_min, BIN, vv_v, 0)                                                       \
    X(0xe9, f32x4_max, BIN, vv_v, 0)                                                       \
    X(0xea, f32x4_pmin, BIN, vv_v, 0)                                                      \
    X(0xeb, f32x4_pmax, BIN, vv_v, 0)                                                      \
    X(0xec, f64x2_abs, UN, v_v, 0)                                                         \
    X(0xed, f64x2_neg, UN, v_v, 0)                                                         \
    X(0xef, f64x2_sqrt, UN, v_v, 0)                                                        \
    X(0xf0, f64x2_add, BIN, vv_v, 0)                                                       \
    X(0xf1, f64x2_sub, BIN, vv_v, 0)                                                       \
    X(0xf2, f64x2_mul, BIN, vv_v, 0)                                                       \
    X(0xf3, f64x2_div, BIN, vv_v, 0)                                                       \
    X(0xf4, f64x2_min, BIN, vv_v, 0)                                                       \
    X(0xf5, f64x2_max, BIN, vv_v, 0)                                                       \
    X(0xf6, f64x2_pmin, BIN, vv_v, 0)                                                      \
    X(0xf7, f64x2_pmax, BIN, vv_v, 0)                                                      \
    X(0xf8, i32x4_trunc_sat_f32x4_s, UN, v_v, 0)                                           \
    X(0xf9, i32x4_trunc_sat_f32x4_u, UN, v_v, 0)                                           \
    X(0xfa, f32x4_convert_i32x4_s, UN, v_v, 0)                                             \
    X(0xfb, f32x4_convert_i32x4_u, UN, v_v, 0)                                             \
    X(0xfc, i32x4_trunc_sat_f64x2_s_zero, UN, v_v, 0)                                      \
    X(0xfd, i32x4_trunc_sat_f64x2_u_zero, UN, v_v, 0)                                      \
    X(0xfe, f64x2_convert_low_i32x4_s, UN, v_v, 0)                                         \
    X(0xff, f64x2_convert_low_i32x4_u, UN, v_v, 0)
/* clang-format on */

/*
 * Dense numbering of the instructions, for the interpreter's `simd` op (regcode.h), and
 * four more that are not wasm instructions but moves of v128 values the translator needs:
 * vcopy (d a), vselect (d a b c: a if the i32 c is non-zero, else b), vgget (d global)
 * and vgset (global a). They run in simd.c too, so the scalar interpreter needs no
 * handler of its own for v128 values.
 */
#define WASM_SIMD_OP_ENUM(code, name, layout, sig, arg) WASM_SIMD_OP_##name,
/* clang-format off */
enum wasm_simd_op {
    WASM_SIMD_OPS(WASM_SIMD_OP_ENUM)
    WASM_SIMD_OP_vcopy, WASM_SIMD_OP_vselect, WASM_SIMD_OP_vgget, WASM_SIMD_OP_vgset,
    WASM_SIMD_OP_COUNT
};
/* clang-format on */
#undef WASM_SIMD_OP_ENUM

/* Sub-opcodes run from 0 to 0xff (with gaps); anything else after 0xfd is illegal. */
#define WASM_SIMD_OPCODES 256u

enum wasm_simd_layout {
    WASM_SIMD_NONE = 0, /* not an instruction (a gap in the opcode space) */
    WASM_SIMD_UN,
    WASM_SIMD_BIN,
    WASM_SIMD_TERN,
    WASM_SIMD_EXTRACT,
    WASM_SIMD_REPLACE,
    WASM_SIMD_SHUFFLE,
    WASM_SIMD_CONST,
    WASM_SIMD_LOAD,
    WASM_SIMD_STORE,
    WASM_SIMD_LOADLANE,
    WASM_SIMD_STORELANE,
};

/* Operand types (up to three, 0 = none) and result type (0 = none) of each sig. */
#define WASM_SIMD_SIG__v {0, 0, 0}, WASM_V128
#define WASM_SIMD_SIG_i_v {WASM_I32, 0, 0}, WASM_V128
#define WASM_SIMD_SIG_l_v {WASM_I64, 0, 0}, WASM_V128
#define WASM_SIMD_SIG_f_v {WASM_F32, 0, 0}, WASM_V128
#define WASM_SIMD_SIG_d_v {WASM_F64, 0, 0}, WASM_V128
#define WASM_SIMD_SIG_v_v {WASM_V128, 0, 0}, WASM_V128
#define WASM_SIMD_SIG_v_i {WASM_V128, 0, 0}, WASM_I32
#define WASM_SIMD_SIG_v_l {WASM_V128, 0, 0}, WASM_I64
#define WASM_SIMD_SIG_v_f {WASM_V128, 0, 0}, WASM_F32
#define WASM_SIMD_SIG_v_d {WASM_V128, 0, 0}, WASM_F64
#define WASM_SIMD_SIG_vv_v {WASM_V128, WASM_V128, 0}, WASM_V128
#define WASM_SIMD_SIG_vi_v {WASM_V128, WASM_I32, 0}, WASM_V128
#define WASM_SIMD_SIG_vl_v {WASM_V128, WASM_I64, 0}, WASM_V128
#define WASM_SIMD_SIG_vf_v {WASM_V128, WASM_F32, 0}, WASM_V128
#define WASM_SIMD_SIG_vd_v {WASM_V128, WASM_F64, 0}, WASM_V128
#define WASM_SIMD_SIG_vvv_v {WASM_V128, WASM_V128, WASM_V128}, WASM_V128
#define WASM_SIMD_SIG_iv_v {WASM_I32, WASM_V128, 0}, WASM_V128
#define WASM_SIMD_SIG_iv_ {WASM_I32, WASM_V128, 0}, 0

/* One instruction, as the decoder and validator see it. */
struct wasm_simd_info {
    uint8_t layout; /* enum wasm_simd_layout */
    uint8_t in[3];
    uint8_t out;
    uint8_t arg;
};

/* Indexed by sub-opcode; layout WASM_SIMD_NONE for the gaps. */
#define WASM_SIMD_INFO_ROW(code, name, layout, sig, arg)                                           \
    [code] = {WASM_SIMD_##layout, WASM_SIMD_SIG_##sig, arg},
static const struct wasm_simd_info wasm_simd_info[WASM_SIMD_OPCODES] = {
    WASM_SIMD_OPS(WASM_SIMD_INFO_ROW)};
#undef WASM_SIMD_INFO_ROW

#endif /* WASP_ENGINE_SIMD_H */
