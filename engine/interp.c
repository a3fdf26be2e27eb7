/*
 * interp.c - the register-code interpreter: direct-threaded dispatch with computed goto.
 *
 * Every instruction starts with its handler's address; each handler ends with its own
 * `goto *` (one dispatch site per handler, two for conditional branches), so the branch
 * predictor sees per-op history. Calls between functions of the same instance stay in
 * this loop (no native recursion): a frame record goes on the instance's call stack and
 * the callee's frame starts at the caller's argument slots. Guest memory is accessed
 * without bounds checks (guard pages, see memory.c) unless WASP_BOUNDS_CHECKS is set.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regcode.h"

const void *wasm_op_handlers[WASM_OP_COUNT];
wasm_code_word wasm_halt_code[2];

typedef uint64_t u64a __attribute__((may_alias));
typedef uint32_t u32a __attribute__((may_alias));
typedef float f32a __attribute__((may_alias));
typedef double f64a __attribute__((may_alias));
typedef uint64_t u64u __attribute__((may_alias, aligned(1)));
typedef uint32_t u32u __attribute__((may_alias, aligned(1)));
typedef uint16_t u16u __attribute__((may_alias, aligned(1)));
typedef const void *ptru __attribute__((may_alias, aligned(4)));

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

static inline float f32_min(float a, float b)
{
    if (isnan(a) || isnan(b))
        return a + b;
    if (a == 0 && b == 0)
        return signbit(a) ? a : b;
    return a < b ? a : b;
}

static inline float f32_max(float a, float b)
{
    if (isnan(a) || isnan(b))
        return a + b;
    if (a == 0 && b == 0)
        return signbit(a) ? b : a;
    return a > b ? a : b;
}

static inline double f64_min(double a, double b)
{
    if (isnan(a) || isnan(b))
        return a + b;
    if (a == 0 && b == 0)
        return signbit(a) ? a : b;
    return a < b ? a : b;
}

static inline double f64_max(double a, double b)
{
    if (isnan(a) || isnan(b))
        return a + b;
    if (a == 0 && b == 0)
        return signbit(a) ? b : a;
    return a > b ? a : b;
}

static inline uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint64_t f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static inline double bits_f64(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/*
 * select without a branch: guest selects are often data-dependent (CRC bits, min/max),
 * and a mispredicted branch costs more than the few ALU ops of a mask.
 */
static inline uint64_t select64(bool c, uint64_t a, uint64_t b)
{
    uint64_t m = -(uint64_t)c;
    return (a & m) | (b & ~m);
}

/*
 * Fuel: run() counts fuel points down in a local counter. Its budget is the instance's
 * fuel when metering is on, else unlimited; with a deadline the counter gets it in
 * slices of WASM_DEADLINE_SLICE, the rest waiting in inst->fuel_rest, and the clock is
 * read each time a slice runs out.
 *
 * A host call parks the counter in inst->fuel_ctr (fuel_park). A run nested in it (a
 * host function re-entering the guest, e.g. the allocator call of a proxy-wasm host
 * call) goes on from the parked counter instead of starting a slice of its own, and
 * parks what is left when it returns or traps; the caller then goes on from that. So
 * nested work is charged to the same slice and the clock is read every slice of fuel
 * points however they are split between nested runs; otherwise a loop whose host calls
 * re-enter the guest for less than a slice each would read it only once per slice of
 * its own points.
 */

/* Writes the counter back to the instance: the budget left (metering on) and the
 * counter itself for a caller or a nested run to go on from. */
static inline void fuel_park(struct wasm_instance *inst, uint64_t counter)
{
    inst->fuel_ctr = counter;
    if (inst->fuel_on)
        inst->fuel = counter + inst->fuel_rest;
}

/*
 * Goes on from a parked counter (after a host call, or in a nested run), within the
 * budget the instance has now: a host function may have set fuel or a deadline.
 * counter + fuel_rest never exceeds 2^64 - 1 (it is a budget, or unlimited).
 */
static inline uint64_t fuel_continue(struct wasm_instance *inst, uint64_t counter)
{
    if (inst->fuel_on) {
        uint64_t total = inst->fuel;
        if (total <= counter) {
            inst->fuel_rest = 0;
            counter = total;
        } else {
            inst->fuel_rest = total - counter;
        }
    }
    if (UNLIKELY(inst->deadline && counter > WASM_DEADLINE_SLICE)) {
        inst->fuel_rest += counter - WASM_DEADLINE_SLICE;
        counter = WASM_DEADLINE_SLICE;
    }
    return counter;
}

/* The first counter value of a run; nested: a run entered while the instance has
 * frames below it, i.e. from a host call of its own (which parked the counter). */
static inline uint64_t fuel_load(struct wasm_instance *inst, bool nested)
{
    if (nested)
        return fuel_continue(inst, inst->fuel_ctr);
    uint64_t total = inst->fuel_on ? inst->fuel : UINT64_MAX;
    uint64_t s = inst->deadline && total > WASM_DEADLINE_SLICE ? WASM_DEADLINE_SLICE : total;
    inst->fuel_rest = total - s;
    return s;
}

/* The counter passed 0 at a fuel point: the next slice, or why execution stops. Returned
 * by value: the counter must not have its address taken (it lives in a register). */
struct fuel_next {
    uint64_t counter;
    enum wasm_trap trap;
};
static __attribute__((noinline, cold)) struct fuel_next fuel_slice(struct wasm_instance *inst)
{
    if (inst->fuel_rest == 0) {
        if (inst->fuel_on)
            return (struct fuel_next){0, WASM_TRAP_FUEL_EXHAUSTED};
        inst->fuel_rest = UINT64_MAX; /* unlimited: 2^64 points later */
    }
    if (inst->deadline && wasm_clock_ns() >= inst->deadline)
        return (struct fuel_next){0, WASM_TRAP_DEADLINE};
    uint64_t s = inst->deadline && inst->fuel_rest > WASM_DEADLINE_SLICE ? WASM_DEADLINE_SLICE
                                                                         : inst->fuel_rest;
    inst->fuel_rest -= s;
    return (struct fuel_next){s - 1, WASM_TRAP_NONE}; /* this point takes one */
}

/* Copies n results from arbitrary slots to fp[0..n-1] (sources may overlap targets). */
static __attribute__((noinline)) void copy_results(uint64_t *fp, const wasm_code_word *srcs,
                                                   uint32_t n)
{
    uint64_t small[16];
    uint64_t *tmp = n <= 16 ? small : malloc(n * sizeof(uint64_t));
    if (!tmp) {
        /* Forward copy is correct when every source is at or above its target. */
        for (uint32_t i = 0; i < n; i++)
            fp[i] = *(u64a *)((char *)fp + srcs[i]);
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        tmp[i] = *(u64a *)((char *)fp + srcs[i]);
    memcpy(fp, tmp, n * sizeof(uint64_t));
    if (tmp != small)
        free(tmp);
}

/* Operand k (0-based, after the 2-word handler). */
#define A(k) (pc[2 + (k)])
#define SLOT(k) (fp + A(k))
#define R32(k) (*(u32a *)SLOT(k))
#define R64(k) (*(u64a *)SLOT(k))
#define RF32(k) (*(f32a *)SLOT(k))
#define RF64(k) (*(f64a *)SLOT(k))
#define W32(k, v) (*(u64a *)SLOT(k) = (uint32_t)(v))
#define W64(k, v) (*(u64a *)SLOT(k) = (uint64_t)(v))
#define WF32(k, v) W32(k, f32_bits(v))
#define WF64(k, v) (*(f64a *)SLOT(k) = (v))
#define IMM64(k) (*(const u64u *)&pc[2 + (k)])

#ifdef WASP_OPSTATS
/*
 * Profiling aid (never in a normal build): counts dispatches per handler and per pair of
 * consecutive handlers (fusion candidates); printed to stderr at exit when the
 * environment has WASP_OPSTATS set (see wasm_opstats_dump below).
 */
#define OPSTATS_N 65536u
static const void *opstats_key[OPSTATS_N][2];
static uint64_t opstats_cnt[OPSTATS_N];
static __thread const void *opstats_prev;
static void opstats_add(const void *a, const void *b)
{
    unsigned i =
        (unsigned)((((uintptr_t)a >> 2) * 2654435761u) ^ ((uintptr_t)b >> 2) * 40503u) % OPSTATS_N;
    for (unsigned n = 0; n < OPSTATS_N; n++, i = (i + 1) % OPSTATS_N) {
        if (opstats_key[i][0] == a && opstats_key[i][1] == b) {
            opstats_cnt[i]++;
            return;
        }
        if (!opstats_key[i][0]) {
            opstats_key[i][0] = a;
            opstats_key[i][1] = b;
            opstats_cnt[i] = 1;
            return;
        }
    }
}
static const char *op_name(const void *h);
/* WASP_TRACE=FIRST:COUNT prints dispatches FIRST..FIRST+COUNT-1 (function, position, op,
 * the next 8 code words). */
static uint64_t trace_n, trace_first = UINT64_MAX, trace_count;
static void trace(const wasm_code_word *pc, const struct wasm_frame *csp)
{
    if (trace_first == UINT64_MAX) {
        const char *e = getenv("WASP_TRACE");
        trace_first = e ? strtoull(e, NULL, 10) : UINT64_MAX - 1;
        trace_count = e && strchr(e, ':') ? strtoull(strchr(e, ':') + 1, NULL, 10) : 0;
    }
    uint64_t n = trace_n++;
    if (n < trace_first || n - trace_first >= trace_count)
        return;
    const struct wasm_code *c = csp[-1].code;
    fprintf(stderr, "trace f%u @%ld %-16s", c->func_index, (long)(pc - c->ins),
            op_name(*(const ptru *)pc));
    for (int i = 2; i < 10; i++)
        fprintf(stderr, " %d", (int32_t)pc[i]);
    fprintf(stderr, "\n");
}
static inline void opstat(const void *h)
{
    opstats_add(h, NULL);
    if (opstats_prev)
        opstats_add(opstats_prev, h);
    opstats_prev = h;
}
#define OPSTAT() (opstat(*(const ptru *)pc), trace(pc, csp))
#else
#define OPSTAT() ((void)0)
#endif

#define NEXT(n)                                                                                    \
    do {                                                                                           \
        pc += (n);                                                                                 \
        OPSTAT();                                                                                  \
        goto **(const ptru *)pc;                                                                   \
    } while (0)
#define TRAP(t)                                                                                    \
    do {                                                                                           \
        trap = (t);                                                                                \
        goto trap_out;                                                                             \
    } while (0)
/* A fuel point: one tick of the counter; when it runs out, the next slice or a trap. */
#define FUEL_TICK                                                                                  \
    do {                                                                                           \
        if (UNLIKELY(__builtin_sub_overflow(fuel, 1, &fuel))) {                                    \
            struct fuel_next n_ = fuel_slice(inst);                                                \
            fuel = n_.counter;                                                                     \
            if (n_.trap != WASM_TRAP_NONE)                                                         \
                TRAP(n_.trap);                                                                     \
        }                                                                                          \
    } while (0)

#ifdef WASP_BOUNDS_CHECKS
#define RELOAD_MEM                                                                                 \
    do {                                                                                           \
        mem = inst->mem0 ? inst->mem0->base : NULL;                                                \
        memlen = inst->mem0 ? inst->mem0->size : 0;                                                \
    } while (0)
#define MEMAT(ea, n)                                                                               \
    ({                                                                                             \
        uint64_t ea_ = (ea);                                                                       \
        if (UNLIKELY(ea_ + (n) > memlen))                                                          \
            TRAP(WASM_TRAP_MEMORY_OOB);                                                            \
        mem + ea_;                                                                                 \
    })
#else
#define RELOAD_MEM                                                                                 \
    do {                                                                                           \
        mem = inst->mem0 ? inst->mem0->base : NULL;                                                \
    } while (0)
#define MEMAT(ea, n) (mem + (ea))
#endif
#ifdef WASP_BOUNDS_CHECKS
#define SIMD_MEMLEN memlen
#else
#define SIMD_MEMLEN 0
#endif

/*
 * Zeroes the declared locals of callee c in its frame nfp, four slots at a time: the
 * translator makes every frame big enough for the rounded-up count (the slots past the
 * locals are operand-stack temps, written before they are read). Most functions have a
 * few locals or none; the empty asm keeps gcc from turning the loop into a memset call,
 * which costs more than the whole call for such counts.
 */
#define ZERO_LOCALS(nfp, c)                                                                        \
    do {                                                                                           \
        uint64_t *z_ = (nfp) + (c)->nparams, *ze_ = z_ + (c)->nlocals;                             \
        for (; z_ < ze_; z_ += 4) {                                                                \
            z_[0] = 0;                                                                             \
            z_[1] = 0;                                                                             \
            z_[2] = 0;                                                                             \
            z_[3] = 0;                                                                             \
            __asm__("" : "+r"(z_));                                                                \
        }                                                                                          \
    } while (0)

/* Handler generators. */
#define BIN32(name, expr)                                                                          \
    L_i32_##name##_ss:                                                                             \
    {                                                                                              \
        uint32_t a = R32(1), b = R32(2);                                                           \
        W32(0, expr);                                                                              \
        NEXT(5);                                                                                   \
    }                                                                                              \
    L_i32_##name##_si:                                                                             \
    {                                                                                              \
        uint32_t a = R32(1), b = A(2);                                                             \
        W32(0, expr);                                                                              \
        NEXT(5);                                                                                   \
    }
#define BIN64(name, expr)                                                                          \
    L_i64_##name##_ss:                                                                             \
    {                                                                                              \
        uint64_t a = R64(1), b = R64(2);                                                           \
        W64(0, expr);                                                                              \
        NEXT(5);                                                                                   \
    }                                                                                              \
    L_i64_##name##_si:                                                                             \
    {                                                                                              \
        uint64_t a = R64(1), b = IMM64(2);                                                         \
        W64(0, expr);                                                                              \
        NEXT(6);                                                                                   \
    }
/* The accumulator forms of an i32 operator (regcode.h WASM_IACC). */
#define ACC1(name, suffix, ra, rb, wr)                                                             \
    L_i32_##name##_##suffix:                                                                       \
    {                                                                                              \
        uint32_t a = (ra), b = (rb);                                                               \
        wr;                                                                                        \
        NEXT(5);                                                                                   \
    }
#define ACC32(name, expr)                                                                          \
    ACC1(name, ssA, R32(1), R32(2), acc = (uint32_t)(expr))                                        \
    ACC1(name, siA, R32(1), A(2), acc = (uint32_t)(expr))                                          \
    ACC1(name, as, (uint32_t)acc, R32(2), W32(0, expr))                                            \
    ACC1(name, ai, (uint32_t)acc, A(2), W32(0, expr))                                              \
    ACC1(name, asA, (uint32_t)acc, R32(2), acc = (uint32_t)(expr))                                 \
    ACC1(name, aiA, (uint32_t)acc, A(2), acc = (uint32_t)(expr))                                   \
    ACC1(name, sa, R32(1), (uint32_t)acc, W32(0, expr))                                            \
    ACC1(name, saA, R32(1), (uint32_t)acc, acc = (uint32_t)(expr))                                 \
    ACC1(name, ssT, R32(1), R32(2), W32(0, acc = (uint32_t)(expr)))                                \
    ACC1(name, siT, R32(1), A(2), W32(0, acc = (uint32_t)(expr)))                                  \
    ACC1(name, asT, (uint32_t)acc, R32(2), W32(0, acc = (uint32_t)(expr)))                         \
    ACC1(name, aiT, (uint32_t)acc, A(2), W32(0, acc = (uint32_t)(expr)))                           \
    ACC1(name, saT, R32(1), (uint32_t)acc, W32(0, acc = (uint32_t)(expr)))
/* The accumulator forms of a float operator (regcode.h WASM_FACC): acc holds the bits. */
#define FACC1(T, FT, name, suffix, ra, rb, wr)                                                     \
    L_##T##_##name##_##suffix:                                                                     \
    {                                                                                              \
        FT a = (ra), b = (rb);                                                                     \
        wr;                                                                                        \
        NEXT(5);                                                                                   \
    }
#define FACC(T, FT, tobits, frombits, name, expr)                                                  \
    FACC1(T, FT, name, ssA, *(FT##_slot *)SLOT(1), *(FT##_slot *)SLOT(2), acc = tobits(expr))      \
    FACC1(T, FT, name, as, frombits(acc), *(FT##_slot *)SLOT(2),                                   \
          *(u64a *)SLOT(0) = tobits(expr))                                                         \
    FACC1(T, FT, name, asA, frombits(acc), *(FT##_slot *)SLOT(2), acc = tobits(expr))              \
    FACC1(T, FT, name, sa, *(FT##_slot *)SLOT(1), frombits(acc),                                   \
          *(u64a *)SLOT(0) = tobits(expr))                                                         \
    FACC1(T, FT, name, saA, *(FT##_slot *)SLOT(1), frombits(acc), acc = tobits(expr))
typedef float float_slot __attribute__((may_alias));
typedef double double_slot __attribute__((may_alias));
/* Compares: value form, fused branch form, fused select form (i32 only). */
#define CMP32(name, cond)                                                                          \
    L_i32_##name##_ss:                                                                             \
    {                                                                                              \
        uint32_t a = R32(1), b = R32(2);                                                           \
        W32(0, cond);                                                                              \
        NEXT(5);                                                                                   \
    }                                                                                              \
    L_i32_##name##_si:                                                                             \
    {                                                                                              \
        uint32_t a = R32(1), b = A(2);                                                             \
        W32(0, cond);                                                                              \
        NEXT(5);                                                                                   \
    }                                                                                              \
    L_br_i32_##name##_ss:                                                                          \
    {                                                                                              \
        uint32_t a = R32(0), b = R32(1);                                                           \
        if (cond) {                                                                                \
            FUEL_TICK;                                                                             \
            pc += (int32_t)A(2);                                                                   \
            OPSTAT();                                                                              \
            goto **(const ptru *)pc;                                                               \
        }                                                                                          \
        NEXT(5);                                                                                   \
    }                                                                                              \
    L_br_i32_##name##_si:                                                                          \
    {                                                                                              \
        uint32_t a = R32(0), b = A(1);                                                             \
        if (cond) {                                                                                \
            FUEL_TICK;                                                                             \
            pc += (int32_t)A(2);                                                                   \
            OPSTAT();                                                                              \
            goto **(const ptru *)pc;                                                               \
        }                                                                                          \
        NEXT(5);                                                                                   \
    }                                                                                              \
    L_br_i32_##name##_as:                                                                          \
    {                                                                                              \
        uint32_t a = (uint32_t)acc, b = R32(1);                                                    \
        if (cond) {                                                                                \
            FUEL_TICK;                                                                             \
            pc += (int32_t)A(2);                                                                   \
            OPSTAT();                                                                              \
            goto **(const ptru *)pc;                                                               \
        }                                                                                          \
        NEXT(5);                                                                                   \
    }                                                                                              \
    L_br_i32_##name##_ai:                                                                          \
    {                                                                                              \
        uint32_t a = (uint32_t)acc, b = A(1);                                                      \
        if (cond) {                                                                                \
            FUEL_TICK;                                                                             \
            pc += (int32_t)A(2);                                                                   \
            OPSTAT();                                                                              \
            goto **(const ptru *)pc;                                                               \
        }                                                                                          \
        NEXT(5);                                                                                   \
    }                                                                                              \
    L_sel_i32_##name##_ss:                                                                         \
    {                                                                                              \
        uint32_t a = R32(3), b = R32(4);                                                           \
        W64(0, select64(cond, R64(1), R64(2)));                                                    \
        NEXT(7);                                                                                   \
    }                                                                                              \
    L_sel_i32_##name##_si:                                                                         \
    {                                                                                              \
        uint32_t a = R32(3), b = A(4);                                                             \
        W64(0, select64(cond, R64(1), R64(2)));                                                    \
        NEXT(7);                                                                                   \
    }
#define CMP64(name, cond)                                                                          \
    L_i64_##name##_ss:                                                                             \
    {                                                                                              \
        uint64_t a = R64(1), b = R64(2);                                                           \
        W32(0, cond);                                                                              \
        NEXT(5);                                                                                   \
    }                                                                                              \
    L_i64_##name##_si:                                                                             \
    {                                                                                              \
        uint64_t a = R64(1), b = IMM64(2);                                                         \
        W32(0, cond);                                                                              \
        NEXT(6);                                                                                   \
    }                                                                                              \
    L_br_i64_##name##_ss:                                                                          \
    {                                                                                              \
        uint64_t a = R64(0), b = R64(1);                                                           \
        if (cond) {                                                                                \
            FUEL_TICK;                                                                             \
            pc += (int32_t)A(2);                                                                   \
            OPSTAT();                                                                              \
            goto **(const ptru *)pc;                                                               \
        }                                                                                          \
        NEXT(5);                                                                                   \
    }                                                                                              \
    L_br_i64_##name##_si:                                                                          \
    {                                                                                              \
        uint64_t a = R64(0), b = IMM64(1);                                                         \
        if (cond) {                                                                                \
            FUEL_TICK;                                                                             \
            pc += (int32_t)A(3);                                                                   \
            OPSTAT();                                                                              \
            goto **(const ptru *)pc;                                                               \
        }                                                                                          \
        NEXT(6);                                                                                   \
    }
/* i32.add + compare-and-branch on the sum (regcode.h: abr_*). */
#define ABR1(name, cond, suffix, rb, rc)                                                           \
    L_abr_##name##_##suffix:                                                                       \
    {                                                                                              \
        uint32_t a = R32(1) + (rb), b;                                                             \
        W32(0, a);                                                                                 \
        b = (rc);                                                                                  \
        if (cond) {                                                                                \
            FUEL_TICK;                                                                             \
            pc += (int32_t)A(4);                                                                   \
            OPSTAT();                                                                              \
            goto **(const ptru *)pc;                                                               \
        }                                                                                          \
        NEXT(7);                                                                                   \
    }
#define ABR(name, cond)                                                                            \
    ABR1(name, cond, ss, R32(2), R32(3))                                                           \
    ABR1(name, cond, si, R32(2), A(3))                                                             \
    ABR1(name, cond, is, A(2), R32(3))                                                             \
    ABR1(name, cond, ii, A(2), A(3))
#define FBIN32(name, expr)                                                                         \
    L_f32_##name:                                                                                  \
    {                                                                                              \
        float a = RF32(1), b = RF32(2);                                                            \
        WF32(0, expr);                                                                             \
        NEXT(5);                                                                                   \
    }
#define FBIN64(name, expr)                                                                         \
    L_f64_##name:                                                                                  \
    {                                                                                              \
        double a = RF64(1), b = RF64(2);                                                           \
        WF64(0, expr);                                                                             \
        NEXT(5);                                                                                   \
    }
#define FCMP32(name, expr)                                                                         \
    L_f32_##name:                                                                                  \
    {                                                                                              \
        float a = RF32(1), b = RF32(2);                                                            \
        W32(0, expr);                                                                              \
        NEXT(5);                                                                                   \
    }
#define FCMP64(name, expr)                                                                         \
    L_f64_##name:                                                                                  \
    {                                                                                              \
        double a = RF64(1), b = RF64(2);                                                           \
        W32(0, expr);                                                                              \
        NEXT(5);                                                                                   \
    }
#define UN(name, T, rd, wr, expr)                                                                  \
    L_##name:                                                                                      \
    {                                                                                              \
        T a = rd(1);                                                                               \
        wr(0, expr);                                                                               \
        NEXT(4);                                                                                   \
    }
/* Trapping float -> int truncation: NaN -> invalid conversion; out of (lo, hi) -> overflow. */
#define TRUNC(name, FT, rd, IT, wr, lo_ok, hi_ok)                                                  \
    L_##name:                                                                                      \
    {                                                                                              \
        FT a = rd(1);                                                                              \
        if (UNLIKELY(isnan(a)))                                                                    \
            TRAP(WASM_TRAP_INVALID_CONVERSION);                                                    \
        if (UNLIKELY(!((lo_ok) && (hi_ok))))                                                       \
            TRAP(WASM_TRAP_INT_OVERFLOW);                                                          \
        wr(0, (IT)a);                                                                              \
        NEXT(4);                                                                                   \
    }
#define TRUNC_SAT(name, FT, rd, IT, wr, lo_ok, hi_ok, minv, maxv)                                  \
    L_##name:                                                                                      \
    {                                                                                              \
        FT a = rd(1);                                                                              \
        IT r;                                                                                      \
        if (isnan(a))                                                                              \
            r = 0;                                                                                 \
        else if (!(lo_ok))                                                                         \
            r = (minv);                                                                            \
        else if (!(hi_ok))                                                                         \
            r = (maxv);                                                                            \
        else                                                                                       \
            r = (IT)a;                                                                             \
        wr(0, r);                                                                                  \
        NEXT(4);                                                                                   \
    }
/* Effective addresses: plain, a+b and a+imm (both sums wrap at 32 bits), plus offset. */
#define EA_PLAIN(ka, ko) ((uint64_t)R32(ka) + A(ko))
#define EA_SS(ka, kb, ko) ((uint64_t)(uint32_t)(R32(ka) + R32(kb)) + A(ko))
#define EA_SI(ka, kb, ko) ((uint64_t)(uint32_t)(R32(ka) + A(kb)) + A(ko))
#define EA_SX(ka, kb, kk, ko) ((uint64_t)(uint32_t)(R32(ka) + (R32(kb) << A(kk))) + A(ko))
#define EA_XI(ka, kk, ki, ko) ((uint64_t)(uint32_t)((R32(ka) << A(kk)) + A(ki)) + A(ko))
#define EA_SXI(ka, kb, kk, ki, ko)                                                                 \
    ((uint64_t)(uint32_t)(R32(ka) + (R32(kb) << A(kk)) + A(ki)) + A(ko))
#define SIZE_load32 4
#define SIZE_load64 8
#define SIZE_load8_s32 1
#define SIZE_load8_u 1
#define SIZE_load16_s32 2
#define SIZE_load16_u 2
#define SIZE_load8_s64 1
#define SIZE_load16_s64 2
#define SIZE_load32_s64 4
#define SIZE_store8 1
#define SIZE_store16 2
#define SIZE_store32 4
#define SIZE_store64 8
/* The 64-bit slot value a load gives (zero-extended for i32 results). */
#define LV_load32(p) ((uint64_t) * (const u32u *)(p))
#define LV_load64(p) (*(const u64u *)(p))
#define LV_load8_s32(p) ((uint64_t)(uint32_t)(int32_t)(int8_t) * (p))
#define LV_load8_u(p) ((uint64_t) * (p))
#define LV_load16_s32(p) ((uint64_t)(uint32_t)(int32_t)(int16_t) * (const u16u *)(p))
#define LV_load16_u(p) ((uint64_t) * (const u16u *)(p))
#define LV_load8_s64(p) ((uint64_t)(int64_t)(int8_t) * (p))
#define LV_load16_s64(p) ((uint64_t)(int64_t)(int16_t) * (const u16u *)(p))
#define LV_load32_s64(p) ((uint64_t)(int64_t)(int32_t) * (const u32u *)(p))
#define ST_store8(p, v) (*(p) = (uint8_t)(v))
#define ST_store16(p, v) (*(u16u *)(p) = (uint16_t)(v))
#define ST_store32(p, v) (*(u32u *)(p) = (uint32_t)(v))
#define ST_store64(p, v) (*(u64u *)(p) = (uint64_t)(v))
/* A load in every address form; wr(v) puts the value: a slot, or the accumulator (A). */
#define LOAD1(n, form, sfx, ea, len, wr)                                                           \
    L_##n##form##sfx:                                                                              \
    {                                                                                              \
        uint8_t *p_ = MEMAT(ea, SIZE_##n);                                                         \
        wr(LV_##n(p_));                                                                            \
        NEXT(len);                                                                                 \
    }
#define LOADS6(n, sfx, wr)                                                                         \
    LOAD1(n, , sfx, EA_PLAIN(1, 2), 5, wr)                                                         \
    LOAD1(n, _ss, sfx, EA_SS(1, 2, 3), 6, wr)                                                      \
    LOAD1(n, _si, sfx, EA_SI(1, 2, 3), 6, wr)                                                      \
    LOAD1(n, _sx, sfx, EA_SX(1, 2, 3, 4), 7, wr)                                                   \
    LOAD1(n, _xi, sfx, EA_XI(1, 2, 3, 4), 7, wr)                                                   \
    LOAD1(n, _sxi, sfx, EA_SXI(1, 2, 3, 4, 5), 8, wr)
#define WR_SLOT(v) W64(0, v)
#define WR_ACC(v) (acc = (v))
#define WR_BOTH(v) W64(0, acc = (v))
#define LOADX(n) LOADS6(n, , WR_SLOT) LOADS6(n, _A, WR_ACC) LOADS6(n, _T, WR_BOTH)
/* The stores of the accumulator, in the address forms of the slot-value stores. */
#define STORE1A(n, form, ea, len)                                                                  \
    L_##n##form##_a:                                                                               \
    {                                                                                              \
        uint8_t *p_ = MEMAT(ea, SIZE_##n);                                                         \
        ST_##n(p_, acc);                                                                           \
        NEXT(len);                                                                                 \
    }
#define STOREA(n)                                                                                  \
    STORE1A(n, , EA_PLAIN(0, 2), 5)                                                                \
    STORE1A(n, _ss, EA_SS(0, 1, 3), 6)                                                             \
    STORE1A(n, _si, EA_SI(0, 1, 3), 6)                                                             \
    STORE1A(n, _sx, EA_SX(0, 1, 2, 4), 7)                                                          \
    STORE1A(n, _xi, EA_XI(0, 1, 2, 4), 7)                                                          \
    STORE1A(n, _sxi, EA_SXI(0, 1, 2, 3, 5), 8)
#define STOREX(n)                                                                                  \
    L_##n:                                                                                         \
    {                                                                                              \
        uint8_t *p_ = MEMAT(EA_PLAIN(0, 2), SIZE_##n);                                             \
        ST_##n(p_, R64(1));                                                                        \
        NEXT(5);                                                                                   \
    }                                                                                              \
    L_##n##_i:                                                                                     \
    {                                                                                              \
        uint8_t *p_ = MEMAT(EA_PLAIN(0, 1), SIZE_##n);                                             \
        ST_##n(p_, IMM64(2));                                                                      \
        NEXT(6);                                                                                   \
    }                                                                                              \
    L_##n##_ss:                                                                                    \
    {                                                                                              \
        uint8_t *p_ = MEMAT(EA_SS(0, 1, 3), SIZE_##n);                                             \
        ST_##n(p_, R64(2));                                                                        \
        NEXT(6);                                                                                   \
    }                                                                                              \
    L_##n##_ss_i:                                                                                  \
    {                                                                                              \
        uint8_t *p_ = MEMAT(EA_SS(0, 1, 2), SIZE_##n);                                             \
        ST_##n(p_, IMM64(3));                                                                      \
        NEXT(7);                                                                                   \
    }                                                                                              \
    L_##n##_si:                                                                                    \
    {                                                                                              \
        uint8_t *p_ = MEMAT(EA_SI(0, 1, 3), SIZE_##n);                                             \
        ST_##n(p_, R64(2));                                                                        \
        NEXT(6);                                                                                   \
    }                                                                                              \
    L_##n##_si_i:                                                                                  \
    {                                                                                              \
        uint8_t *p_ = MEMAT(EA_SI(0, 1, 2), SIZE_##n);                                             \
        ST_##n(p_, IMM64(3));                                                                      \
        NEXT(7);                                                                                   \
    }                                                                                              \
    L_##n##_sx:                                                                                    \
    {                                                                                              \
        uint8_t *p_ = MEMAT(EA_SX(0, 1, 2, 4), SIZE_##n);                                          \
        ST_##n(p_, R64(3));                                                                        \
        NEXT(7);                                                                                   \
    }                                                                                              \
    L_##n##_sx_i:                                                                                  \
    {                                                                                              \
        uint8_t *p_ = MEMAT(EA_SX(0, 1, 2, 3), SIZE_##n);                                          \
        ST_##n(p_, IMM64(4));                                                                      \
        NEXT(8);                                                                                   \
    }                                                                                              \
    L_##n##_xi:                                                                                    \
    {                                                                                              \
        uint8_t *p_ = MEMAT(EA_XI(0, 1, 2, 4), SIZE_##n);                                          \
        ST_##n(p_, R64(3));                                                                        \
        NEXT(7);                                                                                   \
    }                                                                                              \
    L_##n##_xi_i:                                                                                  \
    {                                                                                              \
        uint8_t *p_ = MEMAT(EA_XI(0, 1, 2, 3), SIZE_##n);                                          \
        ST_##n(p_, IMM64(4));                                                                      \
        NEXT(8);                                                                                   \
    }                                                                                              \
    L_##n##_sxi:                                                                                   \
    {                                                                                              \
        uint8_t *p_ = MEMAT(EA_SXI(0, 1, 2, 3, 5), SIZE_##n);                                      \
        ST_##n(p_, R64(4));                                                                        \
        NEXT(8);                                                                                   \
    }                                                                                              \
    L_##n##_sxi_i:                                                                                 \
    {                                                                                              \
        uint8_t *p_ = MEMAT(EA_SXI(0, 1, 2, 3, 4), SIZE_##n);                                      \
        ST_##n(p_, IMM64(5));                                                                      \
        NEXT(9);                                                                                   \
    }

#define LABEL_ADDR(n) [WASM_OP_##n] = &&L_##n,
#define LABEL_IBIN32(n)                                                                            \
    [WASM_OP_i32_##n##_ss] = &&L_i32_##n##_ss, [WASM_OP_i32_##n##_si] = &&L_i32_##n##_si,
#define LABEL_IBIN64(n)                                                                            \
    [WASM_OP_i64_##n##_ss] = &&L_i64_##n##_ss, [WASM_OP_i64_##n##_si] = &&L_i64_##n##_si,
#define LABEL_BR32(n)                                                                              \
    [WASM_OP_br_i32_##n##_ss] = &&L_br_i32_##n##_ss,                                               \
    [WASM_OP_br_i32_##n##_si] = &&L_br_i32_##n##_si,
#define LABEL_BR64(n)                                                                              \
    [WASM_OP_br_i64_##n##_ss] = &&L_br_i64_##n##_ss,                                               \
    [WASM_OP_br_i64_##n##_si] = &&L_br_i64_##n##_si,
#define LABEL_SEL32(n)                                                                             \
    [WASM_OP_sel_i32_##n##_ss] = &&L_sel_i32_##n##_ss,                                             \
    [WASM_OP_sel_i32_##n##_si] = &&L_sel_i32_##n##_si,
#define LABEL_ABR(n)                                                                               \
    [WASM_OP_abr_##n##_ss] = &&L_abr_##n##_ss, [WASM_OP_abr_##n##_si] = &&L_abr_##n##_si,          \
    [WASM_OP_abr_##n##_is] = &&L_abr_##n##_is, [WASM_OP_abr_##n##_ii] = &&L_abr_##n##_ii,
#define LABEL_IACC(n)                                                                              \
    [WASM_OP_i32_##n##_ssA] = &&L_i32_##n##_ssA, [WASM_OP_i32_##n##_siA] = &&L_i32_##n##_siA,     \
    [WASM_OP_i32_##n##_as] = &&L_i32_##n##_as, [WASM_OP_i32_##n##_ai] = &&L_i32_##n##_ai,         \
    [WASM_OP_i32_##n##_asA] = &&L_i32_##n##_asA, [WASM_OP_i32_##n##_aiA] = &&L_i32_##n##_aiA,     \
    [WASM_OP_i32_##n##_sa] = &&L_i32_##n##_sa, [WASM_OP_i32_##n##_saA] = &&L_i32_##n##_saA,
#define LABEL_LOADA(n)                                                                             \
    [WASM_OP_##n##_A] = &&L_##n##_A, [WASM_OP_##n##_ss_A] = &&L_##n##_ss_A,                        \
    [WASM_OP_##n##_si_A] = &&L_##n##_si_A, [WASM_OP_##n##_sx_A] = &&L_##n##_sx_A,                  \
    [WASM_OP_##n##_xi_A] = &&L_##n##_xi_A, [WASM_OP_##n##_sxi_A] = &&L_##n##_sxi_A,
#define LABEL_STOREA(n)                                                                            \
    [WASM_OP_##n##_a] = &&L_##n##_a, [WASM_OP_##n##_ss_a] = &&L_##n##_ss_a,                        \
    [WASM_OP_##n##_si_a] = &&L_##n##_si_a, [WASM_OP_##n##_sx_a] = &&L_##n##_sx_a,                  \
    [WASM_OP_##n##_xi_a] = &&L_##n##_xi_a, [WASM_OP_##n##_sxi_a] = &&L_##n##_sxi_a,
#define LABEL_BRA(n)                                                                               \
    [WASM_OP_br_i32_##n##_as] = &&L_br_i32_##n##_as, [WASM_OP_br_i32_##n##_ai] = &&L_br_i32_##n##_ai,
#define LABEL_IACCT(n)                                                                             \
    [WASM_OP_i32_##n##_ssT] = &&L_i32_##n##_ssT, [WASM_OP_i32_##n##_siT] = &&L_i32_##n##_siT,     \
    [WASM_OP_i32_##n##_asT] = &&L_i32_##n##_asT, [WASM_OP_i32_##n##_aiT] = &&L_i32_##n##_aiT,     \
    [WASM_OP_i32_##n##_saT] = &&L_i32_##n##_saT,
#define LABEL_LOADT(n)                                                                             \
    [WASM_OP_##n##_T] = &&L_##n##_T, [WASM_OP_##n##_ss_T] = &&L_##n##_ss_T,                        \
    [WASM_OP_##n##_si_T] = &&L_##n##_si_T, [WASM_OP_##n##_sx_T] = &&L_##n##_sx_T,                  \
    [WASM_OP_##n##_xi_T] = &&L_##n##_xi_T, [WASM_OP_##n##_sxi_T] = &&L_##n##_sxi_T,
#define LABEL_FACC(n)                                                                              \
    [WASM_OP_##n##_ssA] = &&L_##n##_ssA, [WASM_OP_##n##_as] = &&L_##n##_as,                        \
    [WASM_OP_##n##_asA] = &&L_##n##_asA, [WASM_OP_##n##_sa] = &&L_##n##_sa,                        \
    [WASM_OP_##n##_saA] = &&L_##n##_saA,
#define LABEL_F32(n) [WASM_OP_f32_##n] = &&L_f32_##n,
#define LABEL_F64(n) [WASM_OP_f64_##n] = &&L_f64_##n,
#define LABEL_LOAD(n)                                                                              \
    [WASM_OP_##n] = &&L_##n, [WASM_OP_##n##_ss] = &&L_##n##_ss, [WASM_OP_##n##_si] = &&L_##n##_si, \
    [WASM_OP_##n##_sx] = &&L_##n##_sx, [WASM_OP_##n##_xi] = &&L_##n##_xi,                          \
    [WASM_OP_##n##_sxi] = &&L_##n##_sxi,
#define LABEL_STORE(n)                                                                             \
    [WASM_OP_##n] = &&L_##n, [WASM_OP_##n##_i] = &&L_##n##_i, [WASM_OP_##n##_ss] = &&L_##n##_ss,   \
    [WASM_OP_##n##_ss_i] = &&L_##n##_ss_i, [WASM_OP_##n##_si] = &&L_##n##_si,                      \
    [WASM_OP_##n##_si_i] = &&L_##n##_si_i, [WASM_OP_##n##_sx] = &&L_##n##_sx,                      \
    [WASM_OP_##n##_sx_i] = &&L_##n##_sx_i, [WASM_OP_##n##_xi] = &&L_##n##_xi,                      \
    [WASM_OP_##n##_xi_i] = &&L_##n##_xi_i, [WASM_OP_##n##_sxi] = &&L_##n##_sxi,                    \
    [WASM_OP_##n##_sxi_i] = &&L_##n##_sxi_i,

/* The handler lists below are laid out by hand. */
/* clang-format off */
static int run(struct wasm_instance *inst, const struct wasm_code *code, uint64_t *entry_fp)
{
    static const void *const labels[WASM_OP_COUNT] = {
        WASM_OPS_MISC(LABEL_ADDR)
        WASM_ICMPS(LABEL_IBIN32) WASM_IBINS(LABEL_IBIN32)
        WASM_ICMPS(LABEL_IBIN64) WASM_IBINS(LABEL_IBIN64)
        WASM_ICMPS(LABEL_BR32) WASM_ICMPS(LABEL_BR64) WASM_ICMPS(LABEL_SEL32)
        WASM_FCMPS(LABEL_F32) WASM_FBINS(LABEL_F32) WASM_FUNS(LABEL_F32)
        WASM_FCMPS(LABEL_F64) WASM_FBINS(LABEL_F64) WASM_FUNS(LABEL_F64)
        WASM_LOADS(LABEL_LOAD) WASM_STORES(LABEL_STORE)
        WASM_ICMPS(LABEL_ABR) WASM_OPS_ADD2(LABEL_ADDR) WASM_OPS_LEA(LABEL_ADDR)
        WASM_IACC(LABEL_IACC)
        WASM_LOADS(LABEL_LOADA) WASM_STORES(LABEL_STOREA)
        WASM_OPS_BRA(LABEL_ADDR) WASM_ICMPS(LABEL_BRA) WASM_FACC(LABEL_FACC)
        WASM_IACC(LABEL_IACCT) WASM_LOADS(LABEL_LOADT) WASM_OPS_COPYBR(LABEL_ADDR)
    };
    if (!inst) {
        memcpy(wasm_op_handlers, labels, sizeof(labels));
        const void *h = labels[WASM_OP_halt];
        memcpy(wasm_halt_code, &h, sizeof(h));
        return 0;
    }

    const wasm_code_word *pc = code->ins;
    char *fp = (char *)entry_fp;
    struct wasm_frame *csp = inst->csp;
    struct wasm_frame *const entry = csp;
    struct wasm_frame *const cs_end = inst->cs_end;
    uint64_t *const stack_end = inst->stack_end;
    struct wasm_global *const *const G = inst->globals;
    uint64_t fuel = fuel_load(inst, csp != inst->cs);
    uint64_t acc = 0; /* an i32 result passed to the next instruction (WASM_IACC ops) */
    uint8_t *mem;
#ifdef WASP_BOUNDS_CHECKS
    uint64_t memlen;
#endif
    enum wasm_trap trap;
    enum wasm_op slow_op;

    if (UNLIKELY(csp >= cs_end || entry_fp + code->frame_slots > stack_end)) {
        fuel_park(inst, fuel);
        trap = WASM_TRAP_STACK_EXHAUSTED;
        wasm_record_trap(inst, trap, NULL, entry);
        return WASM_ERR_TRAP;
    }
    csp->ret_pc = wasm_halt_code;
    csp->ret_fp = NULL;
    csp->code = code;
    inst->csp = ++csp;
    memset(entry_fp + code->nparams, 0, (size_t)code->nlocals * 8);
    RELOAD_MEM;
    NEXT(0);

L_halt:
    fuel_park(inst, fuel);
    return WASM_OK;

L_unreachable:
    TRAP(WASM_TRAP_UNREACHABLE);
L_trap_stack:
    TRAP(WASM_TRAP_STACK_EXHAUSTED);

L_br:
    pc += (int32_t)A(0);
    OPSTAT();
    goto **(const ptru *)pc;
L_br_back:
    FUEL_TICK;
    pc += (int32_t)A(0);
    OPSTAT();
    goto **(const ptru *)pc;
L_copy_br:
    W64(0, R64(1));
    pc += (int32_t)A(2);
    OPSTAT();
    goto **(const ptru *)pc;
L_copy2_br:
    W64(0, R64(1));
    W64(2, R64(3));
    pc += (int32_t)A(4);
    OPSTAT();
    goto **(const ptru *)pc;
L_copy_br_back:
    FUEL_TICK;
    W64(0, R64(1));
    pc += (int32_t)A(2);
    OPSTAT();
    goto **(const ptru *)pc;
L_copy2_br_back:
    FUEL_TICK;
    W64(0, R64(1));
    W64(2, R64(3));
    pc += (int32_t)A(4);
    OPSTAT();
    goto **(const ptru *)pc;
L_br_z32:
    if (R32(0) == 0) {
        FUEL_TICK;
        pc += (int32_t)A(1);
        OPSTAT();
        goto **(const ptru *)pc;
    }
    NEXT(4);
L_br_nz32:
    if (R32(0) != 0) {
        FUEL_TICK;
        pc += (int32_t)A(1);
        OPSTAT();
        goto **(const ptru *)pc;
    }
    NEXT(4);
L_br_z32_a:
    if ((uint32_t)acc == 0) {
        FUEL_TICK;
        pc += (int32_t)A(1);
        OPSTAT();
        goto **(const ptru *)pc;
    }
    NEXT(4);
L_br_nz32_a:
    if ((uint32_t)acc != 0) {
        FUEL_TICK;
        pc += (int32_t)A(1);
        OPSTAT();
        goto **(const ptru *)pc;
    }
    NEXT(4);
L_br_z64:
    if (R64(0) == 0) {
        FUEL_TICK;
        pc += (int32_t)A(1);
        OPSTAT();
        goto **(const ptru *)pc;
    }
    NEXT(4);
L_br_nz64:
    if (R64(0) != 0) {
        FUEL_TICK;
        pc += (int32_t)A(1);
        OPSTAT();
        goto **(const ptru *)pc;
    }
    NEXT(4);
#define BR_AND(name, rb, cond)                                                             \
    L_##name : {                                                                           \
        uint32_t v_ = R32(0) & (rb);                                                       \
        if (cond) {                                                                        \
            FUEL_TICK;                                                                     \
            pc += (int32_t)A(2);                                                           \
            OPSTAT(); goto **(const ptru *)pc;                                             \
        }                                                                                  \
        NEXT(5);                                                                           \
    }
    BR_AND(br_and_z_ss, R32(1), v_ == 0)
    BR_AND(br_and_z_si, A(1), v_ == 0)
    BR_AND(br_and_nz_ss, R32(1), v_ != 0)
    BR_AND(br_and_nz_si, A(1), v_ != 0)
L_br_table: {
    uint32_t i = R32(0), n = A(1);
    if (i > n)
        i = n;
    FUEL_TICK;
    pc += (int32_t)A(2 + i);
    OPSTAT();
    goto **(const ptru *)pc;
}
L_br_table_a: {
    uint32_t i = (uint32_t)acc, n = A(1);
    if (i > n)
        i = n;
    FUEL_TICK;
    pc += (int32_t)A(2 + i);
    OPSTAT();
    goto **(const ptru *)pc;
}
L_copy:
    W64(0, R64(1));
    NEXT(4);
L_copy2:
    W64(0, R64(1));
    W64(2, R64(3));
    NEXT(6);
L_copy3:
    W64(0, R64(1));
    W64(2, R64(3));
    W64(4, R64(5));
    NEXT(8);
L_copy4:
    W64(0, R64(1));
    W64(2, R64(3));
    W64(4, R64(5));
    W64(6, R64(7));
    NEXT(10);
L_const32:
    W64(0, (uint64_t)A(1));
    NEXT(4);
L_const64:
    W64(0, IMM64(1));
    NEXT(5);
    /* Each return has its own dispatch site. */
#ifdef WASP_BOUNDS_CHECKS
#define RET_RELOAD RELOAD_MEM
#else
#define RET_RELOAD ((void)0)
#endif
#define RETURN_TO_CALLER                                                                   \
    do {                                                                                   \
        --csp;                                                                             \
        pc = csp->ret_pc;                                                                  \
        fp = (char *)csp->ret_fp;                                                          \
        inst->csp = csp;                                                                   \
        RET_RELOAD;                                                                        \
        OPSTAT();                                                                          \
        goto **(const ptru *)pc;                                                           \
    } while (0)
L_ret0:
    RETURN_TO_CALLER;
L_ret1:
    *(u64a *)fp = R64(0);
    RETURN_TO_CALLER;
L_ret1_a:
    *(u64a *)fp = acc;
    RETURN_TO_CALLER;
L_ret1_i64:
    *(u64a *)fp = IMM64(0);
    RETURN_TO_CALLER;
L_retn:
    copy_results((uint64_t *)fp, &A(1), A(0));
    RETURN_TO_CALLER;

L_call: {
    const struct wasm_code *c;
    memcpy(&c, &A(1), sizeof(c));
    uint64_t *nfp = (uint64_t *)(fp + A(0));
    if (UNLIKELY(csp >= cs_end || nfp + c->frame_slots > stack_end))
        TRAP(WASM_TRAP_STACK_EXHAUSTED);
    FUEL_TICK;
    csp->ret_pc = pc + 5;
    csp->ret_fp = (uint64_t *)fp;
    csp->code = c;
    inst->csp = ++csp;
    ZERO_LOCALS(nfp, c);
    fp = (char *)nfp;
    pc = c->ins;
    OPSTAT();
    goto **(const ptru *)pc;
}
L_call_ext: {
    struct wasm_func *f = inst->funcs[A(1)];
    FUEL_TICK;
    fuel_park(inst, fuel);
    uint64_t *top = (uint64_t *)fp + csp[-1].code->frame_slots;
    enum wasm_trap t = wasm_do_call_ext(inst, f, (uint64_t *)(fp + A(0)), top);
    fuel = fuel_continue(inst, inst->fuel_ctr);
    RELOAD_MEM;
    if (UNLIKELY(t != WASM_TRAP_NONE))
        TRAP(t);
    NEXT(4);
}
L_call_indirect: {
    const struct wasm_table *tb = inst->tables[A(1)];
    uint32_t i = R32(3);
    if (UNLIKELY(i >= tb->size))
        TRAP(WASM_TRAP_UNDEFINED_ELEMENT);
    struct wasm_func *f = (struct wasm_func *)(uintptr_t)tb->elems[i];
    if (UNLIKELY(!f))
        TRAP(WASM_TRAP_UNINITIALIZED_ELEMENT);
    if (UNLIKELY(f->type_id != A(2)))
        TRAP(WASM_TRAP_INDIRECT_TYPE);
    FUEL_TICK;
    if (LIKELY(f->inst == inst)) {
        const struct wasm_code *c = f->code;
        uint64_t *nfp = (uint64_t *)(fp + A(0));
        if (UNLIKELY(csp >= cs_end || nfp + c->frame_slots > stack_end))
            TRAP(WASM_TRAP_STACK_EXHAUSTED);
        csp->ret_pc = pc + 6;
        csp->ret_fp = (uint64_t *)fp;
        csp->code = c;
        inst->csp = ++csp;
        ZERO_LOCALS(nfp, c);
        fp = (char *)nfp;
        pc = c->ins;
        OPSTAT();
        goto **(const ptru *)pc;
    }
    fuel_park(inst, fuel);
    uint64_t *top = (uint64_t *)fp + csp[-1].code->frame_slots;
    enum wasm_trap t = wasm_do_call_ext(inst, f, (uint64_t *)(fp + A(0)), top);
    fuel = fuel_continue(inst, inst->fuel_ctr);
    RELOAD_MEM;
    if (UNLIKELY(t != WASM_TRAP_NONE))
        TRAP(t);
    NEXT(6);
}

L_select:
    W64(0, select64(R32(3) != 0, R64(1), R64(2)));
    NEXT(6);
L_select_a:
    W64(0, select64((uint32_t)acc != 0, R64(1), R64(2)));
    NEXT(6);
L_gget:
    W64(0, G[A(1)]->value);
    NEXT(4);
L_gset:
    G[A(0)]->value = R64(1);
    NEXT(4);
L_gset_i:
    G[A(0)]->value = IMM64(1);
    NEXT(5);
L_ref_func:
    W64(0, (uintptr_t)inst->funcs[A(1)]);
    NEXT(4);
L_ref_is_null:
    W32(0, R64(1) == 0);
    NEXT(4);

    LOADX(load32) LOADX(load64) LOADX(load8_s32) LOADX(load8_u) LOADX(load16_s32)
    LOADX(load16_u) LOADX(load8_s64) LOADX(load16_s64) LOADX(load32_s64)
    STOREX(store8) STOREX(store16) STOREX(store32) STOREX(store64)
    STOREA(store8) STOREA(store16) STOREA(store32) STOREA(store64)
L_memory_size:
    W32(0, inst->mem0->size / WASM_PAGE_SIZE);
    NEXT(3);
L_memory_grow:
    W32(0, wasm_memory_grow_inst(inst, R32(1)));
    RELOAD_MEM;
    NEXT(4);

#define SLOW(n)                                                                            \
    L_##n : slow_op = WASM_OP_##n;                                                         \
    goto slow;
    SLOW(memory_fill) SLOW(memory_copy) SLOW(memory_init) SLOW(data_drop) SLOW(table_get)
    SLOW(table_set) SLOW(table_size) SLOW(table_grow) SLOW(table_fill) SLOW(table_copy)
    SLOW(table_init) SLOW(elem_drop)
slow: {
    /* Rare ops: a helper does the work. */
    static const uint8_t len[WASM_OP_COUNT] = {
        [WASM_OP_memory_fill] = 5, [WASM_OP_memory_copy] = 5, [WASM_OP_memory_init] = 6,
        [WASM_OP_data_drop] = 3,   [WASM_OP_table_get] = 5,   [WASM_OP_table_set] = 5,
        [WASM_OP_table_size] = 4,  [WASM_OP_table_grow] = 6,  [WASM_OP_table_fill] = 6,
        [WASM_OP_table_copy] = 7,  [WASM_OP_table_init] = 7,  [WASM_OP_elem_drop] = 3,
    };
    enum wasm_trap t = wasm_bulk_op(inst, slow_op, pc + 2, (uint64_t *)fp);
    if (UNLIKELY(t != WASM_TRAP_NONE))
        TRAP(t);
    NEXT(len[slow_op]);
}

    /* Integer unary and conversions. */
    UN(i32_eqz, uint32_t, R32, W32, a == 0)
    UN(i64_eqz, uint64_t, R64, W32, a == 0)
    UN(i32_clz, uint32_t, R32, W32, a ? __builtin_clz(a) : 32)
    UN(i32_ctz, uint32_t, R32, W32, a ? __builtin_ctz(a) : 32)
    UN(i32_popcnt, uint32_t, R32, W32, __builtin_popcount(a))
    UN(i64_clz, uint64_t, R64, W64, a ? __builtin_clzll(a) : 64)
    UN(i64_ctz, uint64_t, R64, W64, a ? __builtin_ctzll(a) : 64)
    UN(i64_popcnt, uint64_t, R64, W64, __builtin_popcountll(a))
    UN(i32_extend8_s, uint32_t, R32, W32, (uint32_t)(int32_t)(int8_t)a)
    UN(i32_extend16_s, uint32_t, R32, W32, (uint32_t)(int32_t)(int16_t)a)
    UN(i64_extend8_s, uint64_t, R64, W64, (uint64_t)(int64_t)(int8_t)a)
    UN(i64_extend16_s, uint64_t, R64, W64, (uint64_t)(int64_t)(int16_t)a)
    UN(i64_extend32_s, uint64_t, R64, W64, (uint64_t)(int64_t)(int32_t)a)
    UN(i32_wrap_i64, uint64_t, R64, W32, (uint32_t)a)
    UN(i64_extend_i32_u, uint32_t, R32, W64, (uint64_t)a)

    TRUNC(i32_trunc_f32_s, float, RF32, int32_t, W32, a >= -2147483648.0f, a < 2147483648.0f)
    TRUNC(i32_trunc_f32_u, float, RF32, uint32_t, W32, a > -1.0f, a < 4294967296.0f)
    TRUNC(i32_trunc_f64_s, double, RF64, int32_t, W32, a > -2147483649.0, a < 2147483648.0)
    TRUNC(i32_trunc_f64_u, double, RF64, uint32_t, W32, a > -1.0, a < 4294967296.0)
    TRUNC(i64_trunc_f32_s, float, RF32, int64_t, W64, a >= -9223372036854775808.0f,
          a < 9223372036854775808.0f)
    TRUNC(i64_trunc_f32_u, float, RF32, uint64_t, W64, a > -1.0f, a < 18446744073709551616.0f)
    TRUNC(i64_trunc_f64_s, double, RF64, int64_t, W64, a >= -9223372036854775808.0,
          a < 9223372036854775808.0)
    TRUNC(i64_trunc_f64_u, double, RF64, uint64_t, W64, a > -1.0, a < 18446744073709551616.0)
    TRUNC_SAT(i32_trunc_sat_f32_s, float, RF32, int32_t, W32, a >= -2147483648.0f,
              a < 2147483648.0f, INT32_MIN, INT32_MAX)
    TRUNC_SAT(i32_trunc_sat_f32_u, float, RF32, uint32_t, W32, a > -1.0f, a < 4294967296.0f,
              0, UINT32_MAX)
    TRUNC_SAT(i32_trunc_sat_f64_s, double, RF64, int32_t, W32, a > -2147483649.0,
              a < 2147483648.0, INT32_MIN, INT32_MAX)
    TRUNC_SAT(i32_trunc_sat_f64_u, double, RF64, uint32_t, W32, a > -1.0, a < 4294967296.0, 0,
              UINT32_MAX)
    TRUNC_SAT(i64_trunc_sat_f32_s, float, RF32, int64_t, W64, a >= -9223372036854775808.0f,
              a < 9223372036854775808.0f, INT64_MIN, INT64_MAX)
    TRUNC_SAT(i64_trunc_sat_f32_u, float, RF32, uint64_t, W64, a > -1.0f,
              a < 18446744073709551616.0f, 0, UINT64_MAX)
    TRUNC_SAT(i64_trunc_sat_f64_s, double, RF64, int64_t, W64, a >= -9223372036854775808.0,
              a < 9223372036854775808.0, INT64_MIN, INT64_MAX)
    TRUNC_SAT(i64_trunc_sat_f64_u, double, RF64, uint64_t, W64, a > -1.0,
              a < 18446744073709551616.0, 0, UINT64_MAX)

    UN(f32_convert_i32_s, uint32_t, R32, WF32, (float)(int32_t)a)
    UN(f32_convert_i32_u, uint32_t, R32, WF32, (float)a)
    UN(f32_convert_i64_s, uint64_t, R64, WF32, (float)(int64_t)a)
    UN(f32_convert_i64_u, uint64_t, R64, WF32, (float)a)
    UN(f32_demote_f64, double, RF64, WF32, (float)a)
    UN(f64_convert_i32_s, uint32_t, R32, WF64, (double)(int32_t)a)
    UN(f64_convert_i32_u, uint32_t, R32, WF64, (double)a)
    UN(f64_convert_i64_s, uint64_t, R64, WF64, (double)(int64_t)a)
    UN(f64_convert_i64_u, uint64_t, R64, WF64, (double)a)
    UN(f64_promote_f32, float, RF32, WF64, (double)a)

    /* Float unary: abs/neg are bit operations (NaN payloads are kept). */
    UN(f32_abs, uint32_t, R32, W32, a & 0x7fffffffu)
    UN(f32_neg, uint32_t, R32, W32, a ^ 0x80000000u)
    UN(f32_ceil, float, RF32, WF32, isnan(a) ? a + a : ceilf(a))
    UN(f32_floor, float, RF32, WF32, isnan(a) ? a + a : floorf(a))
    UN(f32_trunc, float, RF32, WF32, isnan(a) ? a + a : truncf(a))
    UN(f32_nearest, float, RF32, WF32, isnan(a) ? a + a : nearbyintf(a))
    UN(f32_sqrt, float, RF32, WF32, sqrtf(a))
    UN(f64_abs, uint64_t, R64, W64, a & 0x7fffffffffffffffull)
    UN(f64_neg, uint64_t, R64, W64, a ^ 0x8000000000000000ull)
    UN(f64_ceil, double, RF64, WF64, isnan(a) ? a + a : ceil(a))
    UN(f64_floor, double, RF64, WF64, isnan(a) ? a + a : floor(a))
    UN(f64_trunc, double, RF64, WF64, isnan(a) ? a + a : trunc(a))
    UN(f64_nearest, double, RF64, WF64, isnan(a) ? a + a : nearbyint(a))
    UN(f64_sqrt, double, RF64, WF64, sqrt(a))

    FCMP32(eq, a == b) FCMP32(ne, a != b) FCMP32(lt, a < b) FCMP32(gt, a > b)
    FCMP32(le, a <= b) FCMP32(ge, a >= b)
    FCMP64(eq, a == b) FCMP64(ne, a != b) FCMP64(lt, a < b) FCMP64(gt, a > b)
    FCMP64(le, a <= b) FCMP64(ge, a >= b)
    FBIN32(add, a + b) FBIN32(sub, a - b) FBIN32(mul, a * b) FBIN32(div, a / b)
    FBIN32(min, f32_min(a, b)) FBIN32(max, f32_max(a, b))
    FBIN32(copysign, bits_f32((f32_bits(a) & 0x7fffffffu) | (f32_bits(b) & 0x80000000u)))
    FACC(f32, float, f32_bits, bits_f32, add, a + b) FACC(f32, float, f32_bits, bits_f32, sub, a - b)
    FACC(f32, float, f32_bits, bits_f32, mul, a * b) FACC(f32, float, f32_bits, bits_f32, div, a / b)
    FACC(f64, double, f64_bits, bits_f64, add, a + b) FACC(f64, double, f64_bits, bits_f64, sub, a - b)
    FACC(f64, double, f64_bits, bits_f64, mul, a * b) FACC(f64, double, f64_bits, bits_f64, div, a / b)
    FBIN64(add, a + b) FBIN64(sub, a - b) FBIN64(mul, a * b) FBIN64(div, a / b)
    FBIN64(min, f64_min(a, b)) FBIN64(max, f64_max(a, b))
    FBIN64(copysign, bits_f64((f64_bits(a) & 0x7fffffffffffffffull) |
                              (f64_bits(b) & 0x8000000000000000ull)))

    CMP32(eq, a == b) CMP32(ne, a != b)
    CMP32(lt_s, (int32_t)a < (int32_t)b) CMP32(lt_u, a < b)
    CMP32(gt_s, (int32_t)a > (int32_t)b) CMP32(gt_u, a > b)
    CMP32(le_s, (int32_t)a <= (int32_t)b) CMP32(le_u, a <= b)
    CMP32(ge_s, (int32_t)a >= (int32_t)b) CMP32(ge_u, a >= b)
    CMP64(eq, a == b) CMP64(ne, a != b)
    CMP64(lt_s, (int64_t)a < (int64_t)b) CMP64(lt_u, a < b)
    CMP64(gt_s, (int64_t)a > (int64_t)b) CMP64(gt_u, a > b)
    CMP64(le_s, (int64_t)a <= (int64_t)b) CMP64(le_u, a <= b)
    CMP64(ge_s, (int64_t)a >= (int64_t)b) CMP64(ge_u, a >= b)

#define ADD2(xy, rb, rb2)                                                                  \
    L_add2_##xy : W32(0, R32(1) + (rb));                                                   \
    W32(3, R32(4) + (rb2));                                                                \
    NEXT(8);
    ADD2(ss, R32(2), R32(5)) ADD2(si, R32(2), A(5))
    ADD2(is, A(2), R32(5)) ADD2(ii, A(2), A(5))
L_lea_sxi:
    W32(0, R32(1) + (R32(2) << A(3)) + A(4));
    NEXT(7);
L_lea_xi:
    W32(0, (R32(1) << A(2)) + A(3));
    NEXT(6);

    ABR(eq, a == b) ABR(ne, a != b)
    ABR(lt_s, (int32_t)a < (int32_t)b) ABR(lt_u, a < b)
    ABR(gt_s, (int32_t)a > (int32_t)b) ABR(gt_u, a > b)
    ABR(le_s, (int32_t)a <= (int32_t)b) ABR(le_u, a <= b)
    ABR(ge_s, (int32_t)a >= (int32_t)b) ABR(ge_u, a >= b)

    ACC32(add, a + b) ACC32(sub, a - b) ACC32(mul, a * b)
    ACC32(and, a & b) ACC32(or, a | b) ACC32(xor, a ^ b)
    ACC32(shl, a << (b & 31)) ACC32(shr_s, (uint32_t)((int32_t)a >> (b & 31)))
    ACC32(shr_u, a >> (b & 31))
    ACC32(rotl, (a << (b & 31)) | (a >> ((32 - b) & 31)))
    ACC32(rotr, (a >> (b & 31)) | (a << ((32 - b) & 31)))
    ACC32(eq, a == b) ACC32(ne, a != b)
    ACC32(lt_s, (int32_t)a < (int32_t)b) ACC32(lt_u, a < b)
    ACC32(gt_s, (int32_t)a > (int32_t)b) ACC32(gt_u, a > b)
    ACC32(le_s, (int32_t)a <= (int32_t)b) ACC32(le_u, a <= b)
    ACC32(ge_s, (int32_t)a >= (int32_t)b) ACC32(ge_u, a >= b)

    BIN32(add, a + b) BIN32(sub, a - b) BIN32(mul, a * b)
    BIN32(and, a & b) BIN32(or, a | b) BIN32(xor, a ^ b)
    BIN32(shl, a << (b & 31)) BIN32(shr_s, (uint32_t)((int32_t)a >> (b & 31)))
    BIN32(shr_u, a >> (b & 31))
    BIN32(rotl, (a << (b & 31)) | (a >> ((32 - b) & 31)))
    BIN32(rotr, (a >> (b & 31)) | (a << ((32 - b) & 31)))
    BIN64(add, a + b) BIN64(sub, a - b) BIN64(mul, a * b)
    BIN64(and, a & b) BIN64(or, a | b) BIN64(xor, a ^ b)
    BIN64(shl, a << (b & 63)) BIN64(shr_s, (uint64_t)((int64_t)a >> (b & 63)))
    BIN64(shr_u, a >> (b & 63))
    BIN64(rotl, (a << (b & 63)) | (a >> ((64 - b) & 63)))
    BIN64(rotr, (a >> (b & 63)) | (a << ((64 - b) & 63)))

    /* Division: traps on zero and on INT_MIN / -1. */
#define DIVS(N, T, ST, MIN, rd_b, n)                                                       \
    L_i##N##_div_s_##n : {                                                                 \
        T a = R##N(1), b = rd_b;                                                           \
        if (UNLIKELY(b == 0))                                                              \
            TRAP(WASM_TRAP_DIV_ZERO);                                                      \
        if (UNLIKELY((ST)a == MIN && (ST)b == -1))                                         \
            TRAP(WASM_TRAP_INT_OVERFLOW);                                                  \
        W##N(0, (T)((ST)a / (ST)b));                                                       \
        NEXT(N == 32 || #n[1] == 's' ? 5 : 6);                                            \
    }                                                                                      \
    L_i##N##_rem_s_##n : {                                                                 \
        T a = R##N(1), b = rd_b;                                                           \
        if (UNLIKELY(b == 0))                                                              \
            TRAP(WASM_TRAP_DIV_ZERO);                                                      \
        W##N(0, (ST)b == -1 ? 0 : (T)((ST)a % (ST)b));                                     \
        NEXT(N == 32 || #n[1] == 's' ? 5 : 6);                                            \
    }                                                                                      \
    L_i##N##_div_u_##n : {                                                                 \
        T a = R##N(1), b = rd_b;                                                           \
        if (UNLIKELY(b == 0))                                                              \
            TRAP(WASM_TRAP_DIV_ZERO);                                                      \
        W##N(0, a / b);                                                                    \
        NEXT(N == 32 || #n[1] == 's' ? 5 : 6);                                            \
    }                                                                                      \
    L_i##N##_rem_u_##n : {                                                                 \
        T a = R##N(1), b = rd_b;                                                           \
        if (UNLIKELY(b == 0))                                                              \
            TRAP(WASM_TRAP_DIV_ZERO);                                                      \
        W##N(0, a % b);                                                                    \
        NEXT(N == 32 || #n[1] == 's' ? 5 : 6);                                            \
    }
    DIVS(32, uint32_t, int32_t, INT32_MIN, R32(2), ss)
    DIVS(32, uint32_t, int32_t, INT32_MIN, A(2), si)
    DIVS(64, uint64_t, int64_t, INT64_MIN, R64(2), ss)
    DIVS(64, uint64_t, int64_t, INT64_MIN, IMM64(2), si)

L_simd: {
    /* SIMD instructions and v128 moves run in their own dispatch loop (simd.c), which
     * returns at the first instruction of another kind. */
    bool oob = false;
    pc = wasm_simd_run(pc, fp, inst, mem, SIMD_MEMLEN, &oob);
    if (UNLIKELY(oob))
        TRAP(WASM_TRAP_MEMORY_OOB);
    OPSTAT();
    goto **(const ptru *)pc;
}

trap_out:
    inst->csp = csp;
    fuel_park(inst, fuel);
    wasm_record_trap(inst, trap, pc, entry);
    inst->csp = entry;
    return WASM_ERR_TRAP;
}

/* clang-format on */

void wasm_interp_init(void)
{
    run(NULL, NULL, NULL);
}

int wasm_interp_run(struct wasm_instance *inst, const struct wasm_code *code, uint64_t *fp)
{
    return run(inst, code, fp);
}

#ifdef WASP_OPSTATS
/* Names of the ops, in enum wasm_op order (profiling output only). */
/* clang-format off */
#define NAME_MISC(n) #n,
#define NAME_IBIN32(n) "i32_" #n "_ss", "i32_" #n "_si",
#define NAME_IBIN64(n) "i64_" #n "_ss", "i64_" #n "_si",
#define NAME_BR32(n) "br_i32_" #n "_ss", "br_i32_" #n "_si",
#define NAME_BR64(n) "br_i64_" #n "_ss", "br_i64_" #n "_si",
#define NAME_SEL32(n) "sel_i32_" #n "_ss", "sel_i32_" #n "_si",
#define NAME_ABR(n) "abr_" #n "_ss", "abr_" #n "_si", "abr_" #n "_is", "abr_" #n "_ii",
#define NAME_IACC(n)                                                                               \
    "i32_" #n "_ssA", "i32_" #n "_siA", "i32_" #n "_as", "i32_" #n "_ai", "i32_" #n "_asA",        \
        "i32_" #n "_aiA", "i32_" #n "_sa", "i32_" #n "_saA",
#define NAME_LOADA(n) #n "_A", #n "_ss_A", #n "_si_A", #n "_sx_A", #n "_xi_A", #n "_sxi_A",
#define NAME_STOREA(n) #n "_a", #n "_ss_a", #n "_si_a", #n "_sx_a", #n "_xi_a", #n "_sxi_a",
#define NAME_BRA(n) "br_i32_" #n "_as", "br_i32_" #n "_ai",
#define NAME_IACCT(n) "i32_" #n "_ssT", "i32_" #n "_siT", "i32_" #n "_asT", "i32_" #n "_aiT", "i32_" #n "_saT",
#define NAME_LOADT(n) #n "_T", #n "_ss_T", #n "_si_T", #n "_sx_T", #n "_xi_T", #n "_sxi_T",
#define NAME_FACC(n) #n "_ssA", #n "_as", #n "_asA", #n "_sa", #n "_saA",
#define NAME_F32(n) "f32_" #n,
#define NAME_F64(n) "f64_" #n,
#define NAME_LOAD(n) #n, #n "_ss", #n "_si", #n "_sx", #n "_xi", #n "_sxi",
#define NAME_STORE(n)                                                                              \
    #n, #n "_i", #n "_ss", #n "_ss_i", #n "_si", #n "_si_i", #n "_sx", #n "_sx_i", #n "_xi",     \
        #n "_xi_i", #n "_sxi", #n "_sxi_i",
static const char *const op_names[WASM_OP_COUNT] = {
    WASM_OPS_MISC(NAME_MISC) WASM_ICMPS(NAME_IBIN32) WASM_IBINS(NAME_IBIN32)
    WASM_ICMPS(NAME_IBIN64) WASM_IBINS(NAME_IBIN64) WASM_ICMPS(NAME_BR32) WASM_ICMPS(NAME_BR64)
    WASM_ICMPS(NAME_SEL32) WASM_FCMPS(NAME_F32) WASM_FBINS(NAME_F32) WASM_FUNS(NAME_F32)
    WASM_FCMPS(NAME_F64) WASM_FBINS(NAME_F64) WASM_FUNS(NAME_F64) WASM_LOADS(NAME_LOAD)
    WASM_STORES(NAME_STORE) WASM_ICMPS(NAME_ABR) WASM_OPS_ADD2(NAME_MISC)
    WASM_OPS_LEA(NAME_MISC) WASM_IACC(NAME_IACC) WASM_LOADS(NAME_LOADA) WASM_STORES(NAME_STOREA)
    WASM_OPS_BRA(NAME_MISC) WASM_ICMPS(NAME_BRA) WASM_FACC(NAME_FACC)
    WASM_IACC(NAME_IACCT) WASM_LOADS(NAME_LOADT) WASM_OPS_COPYBR(NAME_MISC)};
/* clang-format on */

static const char *op_name(const void *h)
{
    for (int i = 0; i < WASM_OP_COUNT; i++)
        if (wasm_op_handlers[i] == h)
            return op_names[i];
    return "?";
}

static int cmp_cnt(const void *a, const void *b)
{
    uint64_t x = opstats_cnt[*(const unsigned *)a], y = opstats_cnt[*(const unsigned *)b];
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Prints the 60 most frequent ops and op pairs with their share of all dispatches. */
__attribute__((destructor)) static void wasm_opstats_dump(void)
{
    if (!getenv("WASP_OPSTATS"))
        return;
    static unsigned idx[OPSTATS_N];
    unsigned n1 = 0, n2 = 0;
    uint64_t total = 0;
    for (unsigned i = 0; i < OPSTATS_N; i++)
        if (opstats_key[i][0] && !opstats_key[i][1])
            idx[n1++] = i, total += opstats_cnt[i];
    qsort(idx, n1, sizeof(unsigned), cmp_cnt);
    fprintf(stderr, "opstats: %llu dispatches\n", (unsigned long long)total);
    for (unsigned i = 0; i < n1 && i < 60; i++)
        fprintf(stderr, "  %6.2f%% %14llu %s\n", 100.0 * opstats_cnt[idx[i]] / total,
                (unsigned long long)opstats_cnt[idx[i]], op_name(opstats_key[idx[i]][0]));
    for (unsigned i = 0; i < OPSTATS_N; i++)
        if (opstats_key[i][0] && opstats_key[i][1])
            idx[n2++] = i;
    qsort(idx, n2, sizeof(unsigned), cmp_cnt);
    fprintf(stderr, "opstats: pairs\n");
    for (unsigned i = 0; i < n2 && i < 60; i++)
        fprintf(stderr, "  %6.2f%% %14llu %s -> %s\n", 100.0 * opstats_cnt[idx[i]] / total,
                (unsigned long long)opstats_cnt[idx[i]], op_name(opstats_key[idx[i]][0]),
                op_name(opstats_key[idx[i]][1]));
}
#endif
