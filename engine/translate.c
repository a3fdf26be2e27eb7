/*
 * translate.c - turns each validated function body into register code (regcode.h).
 *
 * One pass over the body with a compile-time operand stack. An entry is either a value
 * in its own temporary slot (its "home": T plus the slots of the entries below it, T =
 * the slots of params + locals; a v128 takes two slots, everything else one), a local
 * (just its slot: local.get emits nothing) or a constant (an immediate: i32/i64.const
 * emit nothing until a slot is really needed). Results are retargeted into local.set
 * targets, compare/eqz + br_if/if/select are fused by rewinding the compare just
 * emitted, and branches move block results into the target's slots. Blocks start with
 * every stack entry that names a local copied to its own slot, so code inside a block
 * never has to "preserve" values that other paths would not have preserved.
 *
 * Also the process-wide registry of canonical function types: structurally equal types
 * get equal ids, so call_indirect compares one integer, even across modules.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regcode.h"

/* ---- Canonical function types ------------------------------------------------------ */

struct canon_type {
    uint32_t nparams, nresults;
    uint8_t *types; /* params then results */
    uint32_t hash;
};

static pthread_mutex_t canon_lock = PTHREAD_MUTEX_INITIALIZER;
static struct canon_type *canon;
static uint32_t ncanon, canon_cap;
/* Hash chains: bucket heads and a next link per entry (ids are index + 1; 0 ends). */
#define CANON_BUCKETS 1024u
static uint32_t canon_head[CANON_BUCKETS];
static uint32_t *canon_next;

static uint32_t type_hash(const struct wasm_functype *t)
{
    uint32_t h = 2166136261u ^ t->nparams;
    for (uint32_t i = 0; i < t->nparams; i++)
        h = (h ^ t->params[i]) * 16777619u;
    h = (h ^ 0xffu ^ t->nresults) * 16777619u;
    for (uint32_t i = 0; i < t->nresults; i++)
        h = (h ^ t->results[i]) * 16777619u;
    return h;
}

/*
 * Returns the canonical id of t (ids start at 1; 0 means out of memory). Thread-safe;
 * called once per type at translation and instantiation, so a hash lookup.
 */
uint32_t wasm_type_canon(const struct wasm_functype *t)
{
    uint32_t h = type_hash(t), id = 0;
    pthread_mutex_lock(&canon_lock);
    for (uint32_t e = canon_head[h % CANON_BUCKETS]; e; e = canon_next[e - 1]) {
        struct canon_type *c = &canon[e - 1];
        if (c->hash == h && c->nparams == t->nparams && c->nresults == t->nresults &&
            (t->nparams == 0 || memcmp(c->types, t->params, t->nparams) == 0) &&
            (t->nresults == 0 || memcmp(c->types + t->nparams, t->results, t->nresults) == 0)) {
            id = e;
            goto out;
        }
    }
    if (ncanon == canon_cap) {
        uint32_t nc = canon_cap ? canon_cap * 2 : 64;
        struct canon_type *n = realloc(canon, nc * sizeof(*n));
        if (!n)
            goto out;
        canon = n;
        uint32_t *nx = realloc(canon_next, nc * sizeof(*nx));
        if (!nx)
            goto out;
        canon_next = nx;
        canon_cap = nc;
    }
    uint8_t *types = malloc(t->nparams + t->nresults + 1);
    if (!types)
        goto out;
    if (t->nparams)
        memcpy(types, t->params, t->nparams);
    if (t->nresults)
        memcpy(types + t->nparams, t->results, t->nresults);
    canon[ncanon] = (struct canon_type){t->nparams, t->nresults, types, h};
    canon_next[ncanon] = canon_head[h % CANON_BUCKETS];
    id = ++ncanon;
    canon_head[h % CANON_BUCKETS] = id;
out:
    pthread_mutex_unlock(&canon_lock);
    return id;
}

/* ---- Translator state -------------------------------------------------------------- */

/*
 * K_AFF is an i32 not computed yet: slot + (idx << k) + imm (mod 2^32), slot/idx a local
 * or the entry's own temp, or NOSLOT. Loads and stores fold it into their address;
 * anything else computes it first (add, shl or lea).
 */
enum { K_TEMP, K_LOCAL, K_CONST, K_AFF };
#define NOSLOT UINT32_MAX

struct opnd {
    uint8_t kind;
    uint8_t type;
    uint8_t k;     /* K_AFF: shift of idx */
    uint32_t slot; /* K_TEMP, K_LOCAL; K_AFF: base or NOSLOT */
    uint32_t idx;  /* K_AFF: scaled index or NOSLOT */
    uint64_t imm;  /* K_CONST; K_AFF: displacement (32 bits) */
    uint32_t home; /* the entry's own temporary slot (where a K_TEMP always is) */
};

enum { C_FUNC, C_BLOCK, C_LOOP, C_IF, C_ELSE };

struct ctrl {
    uint8_t kind;
    bool unreachable;
    bool dead; /* entered in unreachable code: no code at all */
    uint32_t height;
    uint32_t base; /* home slot of stack entry `height`: where label values go */
    uint32_t nparams, nresults;
    const uint8_t *params, *results;
    uint32_t loop_pos;
    uint32_t else_fix; /* fixup of the if's false branch, or NOFIX */
    uint32_t fixes;    /* list of forward branches to the end */
};

struct fixup {
    uint32_t instr_pos, off_pos, next;
};

#define NOFIX UINT32_MAX

enum { L_NONE, L_OTHER, L_ADD32, L_CMP32, L_CMP64, L_EQZ32, L_EQZ64, L_AND32, L_SHL32 };

struct last_op {
    int kind;
    uint32_t pos, end; /* instruction span; valid only while code len == end */
    uint32_t iend;     /* end of the instruction even after its result went to a local;
                        * UINT32_MAX once a label follows it */
    uint32_t dst_pos;  /* word of the destination operand */
    uint32_t dst_slot;
    uint32_t cmp; /* compare index (WASM_ICMPS order) */
    uint32_t a;   /* slot */
    uint64_t b;   /* slot or immediate */
    bool b_imm;
    enum wasm_op op; /* the instruction as emitted */
};

/* An instruction that passes its result to the next one in the accumulator (undone if a
 * fusion takes the consumer back). */
struct acc_pair {
    uint32_t prod_pos, cons_pos; /* cons_pos UINT32_MAX: unused */
    enum wasm_op prod_op;        /* the producer's own form, to put back */
};
#define NACC_PAIRS 4

struct call_patch {
    uint32_t caller, pos, callee;
};

struct tr {
    struct wasm_module *m;
    wasm_code_word *code;
    uint32_t len, cap;
    struct opnd *stk;
    uint32_t h, stk_cap;
    uint32_t max_slot; /* one past the highest frame slot used */
    struct ctrl *ctl;
    uint32_t nctl, ctl_cap;
    struct fixup *fix;
    uint32_t nfix, fix_cap;
    uint32_t T, nlocals_total, nparams;
    uint8_t *ltypes;
    uint32_t ltypes_cap;
    uint32_t *lslot; /* frame slot of each local (params first) */
    uint32_t lslot_cap;
    bool unreach;
    struct last_op last, prev; /* the last two result-producing instructions */
    uint32_t copy_end;         /* end of the last copy/copy2/copy3 (adjacent copies merge) */
    uint32_t copy_pos, copy_n;
    /* The last i32.add (op add_op at add_pos, ending at add_end) a following add may join
     * as add2; add2_y is where that second add's operands start inside the add2 (a rewind
     * to it turns the add2 back into the first add). UINT32_MAX: none. */
    uint32_t add_end, add_pos, add2_y;
    enum wasm_op add_op;
    struct acc_pair accp[NACC_PAIRS];
    uint32_t naccp;
    /* Until the first control-flow join, declared locals not yet written are still 0. */
    bool joined;
    uint8_t *written;
    uint32_t written_cap;
    /* (code position, body offset) of each instruction that emitted code, for traps. */
    uint32_t *map;
    uint32_t nmap, map_cap;
    uint32_t low; /* lowest code position the current instruction wrote (rewinds) */
    struct call_patch *patches;
    uint32_t npatches, patch_cap;
    uint32_t func_index;
    const uint8_t *p, *end;
    char *err;
    size_t errlen;
    int status;
};

static const uint8_t valtype_tab[256] = {
    [0x7f] = 0x7f, [0x7e] = 0x7e, [0x7d] = 0x7d, [0x7c] = 0x7c,
    [0x7b] = 0x7b, [0x70] = 0x70, [0x6f] = 0x6f,
};

#define FAIL(t, st, ...)                                                                           \
    do {                                                                                           \
        if ((t)->status == WASM_OK) {                                                              \
            (t)->status = (st);                                                                    \
            snprintf((t)->err, (t)->errlen, __VA_ARGS__);                                          \
        }                                                                                          \
        return;                                                                                    \
    } while (0)

static bool grow(void **buf, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    uint32_t nc = *cap ? *cap : 16;
    while (nc < need)
        nc *= 2;
    void *n = realloc(*buf, (size_t)nc * elem);
    if (!n)
        return false;
    *buf = n;
    *cap = nc;
    return true;
}

/* ---- Emission ---------------------------------------------------------------------- */

/*
 * Room for n more words. After an allocation failure (status set, result discarded)
 * writes go to a scratch area; code positions are then only written while status is OK.
 */
static wasm_code_word *reserve(struct tr *t, uint32_t n)
{
    static __thread wasm_code_word scratch[64];
    if (t->status == WASM_ERR_NOMEM ||
        !grow((void **)&t->code, &t->cap, t->len + n, sizeof(wasm_code_word))) {
        if (t->status == WASM_OK) {
            t->status = WASM_ERR_NOMEM;
            snprintf(t->err, t->errlen, "out of memory translating function %u", t->func_index);
        }
        return scratch;
    }
    wasm_code_word *w = t->code + t->len;
    t->len += n;
    return w;
}

static uint32_t emit_op(struct tr *t, enum wasm_op op)
{
    uint32_t pos = t->len;
    const void *h = wasm_op_handlers[op];
    memcpy(reserve(t, 2), &h, sizeof(h));
    return pos;
}

static void emit_w(struct tr *t, uint32_t w)
{
    *reserve(t, 1) = w;
}

static void emit_w64(struct tr *t, uint64_t v)
{
    memcpy(reserve(t, 2), &v, 8);
}

static inline uint32_t soff(uint32_t slot)
{
    return slot * 8u;
}

/* Takes back code from pos on (a fusion replaces the instruction emitted there). */
static void rewind_to(struct tr *t, uint32_t pos)
{
    for (uint32_t i = 0; i < NACC_PAIRS; i++) {
        struct acc_pair *p = &t->accp[i];
        if (p->cons_pos == UINT32_MAX || pos > p->cons_pos)
            continue;
        if (pos > p->prod_pos && t->status == WASM_OK) {
            /* The consumer goes: the producer writes its slot again. */
            const void *h = wasm_op_handlers[p->prod_op];
            memcpy(&t->code[p->prod_pos], &h, sizeof(h));
        }
        p->cons_pos = UINT32_MAX;
    }
    if (t->add2_y != UINT32_MAX && pos <= t->add2_y) {
        if (pos == t->add2_y && t->status == WASM_OK) {
            const void *h = wasm_op_handlers[t->add_op];
            memcpy(&t->code[t->add_pos], &h, sizeof(h));
        }
        t->add2_y = UINT32_MAX;
    }
    if (pos < t->add_end)
        t->add_end = UINT32_MAX;
    if (pos < t->copy_end)
        t->copy_end = UINT32_MAX;
    t->len = pos;
    if (pos < t->low)
        t->low = pos;
}

/* A position that branches can reach: peephole state no longer describes it. */
static void label(struct tr *t)
{
    t->add_end = UINT32_MAX;
    t->last.end = UINT32_MAX;
    t->last.iend = UINT32_MAX;
    t->copy_end = UINT32_MAX;
}

/* ---- Operand stack ----------------------------------------------------------------- */

/* Slots a value of type `type` takes: two for v128, one for everything else. */
static inline uint32_t width(uint8_t type)
{
    return wasm_valtype_slots(type);
}

/* The home slot the next pushed entry gets (stack index t->h). */
static uint32_t next_home(const struct tr *t)
{
    if (t->h == 0)
        return t->T;
    const struct opnd *e = &t->stk[t->h - 1];
    return e->home + width(e->type);
}

static void push(struct tr *t, uint8_t kind, uint8_t type, uint32_t slot, uint64_t imm)
{
    if (!grow((void **)&t->stk, &t->stk_cap, t->h + 1, sizeof(struct opnd))) {
        if (t->status == WASM_OK) {
            t->status = WASM_ERR_NOMEM;
            snprintf(t->err, t->errlen, "out of memory");
        }
        return;
    }
    uint32_t home = next_home(t);
    t->stk[t->h++] = (struct opnd){kind, type, 0, slot, NOSLOT, imm, home};
    if (home + width(type) > t->max_slot)
        t->max_slot = home + width(type);
}

/* Pushes e as it is (a K_AFF entry), at the home slot of the new top. */
static void push_entry(struct tr *t, struct opnd e)
{
    push(t, e.kind, e.type, e.slot, e.imm);
    if (t->status == WASM_OK) {
        e.home = t->stk[t->h - 1].home;
        t->stk[t->h - 1] = e;
    }
}

static void push_temp(struct tr *t, uint8_t type)
{
    push(t, K_TEMP, type, next_home(t), 0);
}

static struct opnd pop(struct tr *t)
{
    struct ctrl *c = &t->ctl[t->nctl - 1];
    if (t->h <= c->height) {
        if (t->status == WASM_OK) {
            t->status = WASM_ERR_INVALID;
            snprintf(t->err, t->errlen, "type mismatch: operand stack underflow in function %u",
                     t->func_index);
        }
        return (struct opnd){.kind = K_CONST, .type = WASM_I32, .slot = NOSLOT, .idx = NOSLOT};
    }
    return t->stk[--t->h];
}

static void emit_aff(struct tr *t, const struct opnd *e, uint32_t dst);

/* Emits code that puts value e into slot dst. */
static void move_to(struct tr *t, const struct opnd *e, uint32_t dst)
{
    if (e->type == WASM_V128) {
        /* v128 values are never constants on the stack (v128.const has code). */
        if (e->slot != dst) {
            emit_op(t, WASM_OP_simd);
            emit_w(t, WASM_SIMD_OP_vcopy);
            emit_w(t, soff(dst));
            emit_w(t, soff(e->slot));
        }
        return;
    }
    if (e->kind == K_AFF) {
        emit_aff(t, e, dst);
    } else if (e->kind == K_CONST) {
        if (e->imm >> 32) {
            emit_op(t, WASM_OP_const64);
            emit_w(t, soff(dst));
            emit_w64(t, e->imm);
        } else {
            emit_op(t, WASM_OP_const32);
            emit_w(t, soff(dst));
            emit_w(t, (uint32_t)e->imm);
        }
    } else if (e->slot != dst) {
        if (t->copy_end == t->len && t->status == WASM_OK) {
            /* Adjacent copies merge: copy -> copy2 -> copy3 -> copy4 (same order). */
            const void *h = wasm_op_handlers[WASM_OP_copy + t->copy_n];
            memcpy(&t->code[t->copy_pos], &h, sizeof(h));
            emit_w(t, soff(dst));
            emit_w(t, soff(e->slot));
            t->copy_n++;
            t->copy_end = t->copy_n < 4 ? t->len : UINT32_MAX;
            return;
        }
        t->copy_pos = emit_op(t, WASM_OP_copy);
        emit_w(t, soff(dst));
        emit_w(t, soff(e->slot));
        t->copy_end = t->len;
        t->copy_n = 1;
    }
}

/* Makes stack entry i a K_TEMP in its own slot. */
static void materialize(struct tr *t, uint32_t i)
{
    struct opnd *e = &t->stk[i];
    if (e->kind == K_TEMP)
        return;
    move_to(t, e, e->home);
    e->kind = K_TEMP;
    e->slot = e->home;
}

/* A readable slot for a popped entry: a constant or affine value goes to its home first. */
static uint32_t src_slot(struct tr *t, struct opnd *e)
{
    if (e->kind == K_CONST || e->kind == K_AFF) {
        move_to(t, e, e->home);
        e->kind = K_TEMP;
        e->slot = e->home;
    }
    return e->slot;
}

/* Before the local at slot x is written: entries still reading it get their own copy. */
static void preserve_local(struct tr *t, uint32_t x)
{
    for (uint32_t i = 0; i < t->h; i++) {
        const struct opnd *e = &t->stk[i];
        if ((e->kind == K_LOCAL && e->slot == x) ||
            (e->kind == K_AFF && (e->slot == x || e->idx == x)))
            materialize(t, i);
    }
}

/* The WASM_IACC index of WASM_IBINS operator k, or -1 (division and remainder trap). */
/* WASM_IACC: the 11 operators, then the 10 compares. */
#define NIBIN_ACC 11

/*
 * The enum order that iacc_of, to_acc, to_tee and binop_int compute with, checked
 * against regcode.h's X-macros: a reordered or extended list fails the build here
 * instead of mistranslating. Per WASM_IACC operator n (j its index): the _ss/_si pair;
 * 8 accumulator forms from i32_add_ssA + 8 * j in the order ssA siA as ai asA aiA sa
 * saA; 5 tee forms from i32_add_ssT + 5 * j in the order ssT siT asT aiT saT.
 */
#define IACC_J(n) ((WASM_OP_i32_##n##_ssA - WASM_OP_i32_add_ssA) / 8)
#define CHECK_IACC(n)                                                                              \
    _Static_assert(WASM_OP_i32_##n##_si == WASM_OP_i32_##n##_ss + 1, "_ss/_si: " #n);              \
    _Static_assert((WASM_OP_i32_##n##_ssA - WASM_OP_i32_add_ssA) % 8 == 0 &&                       \
                       WASM_OP_i32_##n##_siA == WASM_OP_i32_##n##_ssA + 1 &&                       \
                       WASM_OP_i32_##n##_as == WASM_OP_i32_##n##_ssA + 2 &&                        \
                       WASM_OP_i32_##n##_ai == WASM_OP_i32_##n##_ssA + 3 &&                        \
                       WASM_OP_i32_##n##_asA == WASM_OP_i32_##n##_ssA + 4 &&                       \
                       WASM_OP_i32_##n##_aiA == WASM_OP_i32_##n##_ssA + 5 &&                       \
                       WASM_OP_i32_##n##_sa == WASM_OP_i32_##n##_ssA + 6 &&                        \
                       WASM_OP_i32_##n##_saA == WASM_OP_i32_##n##_ssA + 7,                         \
                   "accumulator forms: " #n);                                                      \
    _Static_assert(WASM_OP_i32_##n##_ssT == WASM_OP_i32_add_ssT + 5 * IACC_J(n) &&                 \
                       WASM_OP_i32_##n##_siT == WASM_OP_i32_##n##_ssT + 1 &&                       \
                       WASM_OP_i32_##n##_asT == WASM_OP_i32_##n##_ssT + 2 &&                       \
                       WASM_OP_i32_##n##_aiT == WASM_OP_i32_##n##_ssT + 3 &&                       \
                       WASM_OP_i32_##n##_saT == WASM_OP_i32_##n##_ssT + 4,                         \
                   "tee forms: " #n);
WASM_IACC(CHECK_IACC)
#undef CHECK_IACC
/* iacc_of's table: WASM_IBINS operator k (i32_add_ss + 2 * k) is WASM_IACC operator j;
 * 3..6 (div, rem) have no accumulator form; 15 operators in all. */
#define CHECK_IBIN(n, k, j)                                                                        \
    _Static_assert(WASM_OP_i32_##n##_ss == WASM_OP_i32_add_ss + 2 * (k) && IACC_J(n) == (j),       \
                   "iacc_of: " #n);
CHECK_IBIN(add, 0, 0)
CHECK_IBIN(sub, 1, 1)
CHECK_IBIN(mul, 2, 2)
CHECK_IBIN(and, 7, 3)
CHECK_IBIN(or, 8, 4)
CHECK_IBIN(xor, 9, 5)
CHECK_IBIN(shl, 10, 6)
CHECK_IBIN(shr_s, 11, 7)
CHECK_IBIN(shr_u, 12, 8)
CHECK_IBIN(rotl, 13, 9)
CHECK_IBIN(rotr, 14, 10)
#undef CHECK_IBIN
_Static_assert(WASM_OP_i32_div_s_ss == WASM_OP_i32_add_ss + 6 &&
                   WASM_OP_i32_div_u_ss == WASM_OP_i32_add_ss + 8 &&
                   WASM_OP_i32_rem_s_ss == WASM_OP_i32_add_ss + 10 &&
                   WASM_OP_i32_rem_u_ss == WASM_OP_i32_add_ss + 12 &&
                   WASM_OP_i32_rotr_si == WASM_OP_i32_add_ss + 29,
               "iacc_of: WASM_IBINS order");
/* Compares: WASM_ICMPS operator k (i32_eq_ss + 2 * k) is WASM_IACC operator
 * NIBIN_ACC + k, the last of them. */
#define CHECK_ICMP(n)                                                                              \
    _Static_assert((WASM_OP_i32_##n##_ss - WASM_OP_i32_eq_ss) % 2 == 0 &&                          \
                       IACC_J(n) == NIBIN_ACC + (WASM_OP_i32_##n##_ss - WASM_OP_i32_eq_ss) / 2,    \
                   "compare accumulator forms: " #n);
WASM_ICMPS(CHECK_ICMP)
#undef CHECK_ICMP
_Static_assert(WASM_OP_i32_ge_u_si == WASM_OP_i32_eq_ss + 19 && IACC_J(ge_u) == NIBIN_ACC + 9 &&
                   WASM_OP_i32_ge_u_saA == WASM_OP_i32_add_ssA + 8 * (NIBIN_ACC + 10) - 1,
               "WASM_IACC: NIBIN_ACC operators, then the 10 compares");
/* Floats (to_acc): 5 forms per WASM_FACC operator, ssA as asA sa saA, f32 then f64, in
 * the order of the slot forms f32_add..f32_div, f64_add..f64_div. */
#define CHECK_FACC(n)                                                                              \
    _Static_assert(WASM_OP_##n##_as == WASM_OP_##n##_ssA + 1 &&                                    \
                       WASM_OP_##n##_asA == WASM_OP_##n##_ssA + 2 &&                               \
                       WASM_OP_##n##_sa == WASM_OP_##n##_ssA + 3 &&                                \
                       WASM_OP_##n##_saA == WASM_OP_##n##_ssA + 4,                                 \
                   "float accumulator forms: " #n);                                                \
    _Static_assert(                                                                                \
        WASM_OP_##n >= WASM_OP_f64_add                                                             \
            ? WASM_OP_##n##_ssA == WASM_OP_f64_add_ssA + 5 * (WASM_OP_##n - WASM_OP_f64_add)       \
            : WASM_OP_##n##_ssA == WASM_OP_f32_add_ssA + 5 * (WASM_OP_##n - WASM_OP_f32_add),      \
        "float accumulator order: " #n);
WASM_FACC(CHECK_FACC)
#undef CHECK_FACC
_Static_assert(WASM_OP_f32_div == WASM_OP_f32_add + 3 && WASM_OP_f64_div == WASM_OP_f64_add + 3 &&
                   WASM_OP_f64_add_ssA == WASM_OP_f32_div_saA + 1,
               "WASM_FACC: f32 add..div, then f64 add..div");
/* Loads (to_acc, to_tee): n_A.. and n_T.. in the order of n, n_ss, n_si, n_sx, n_xi, n_sxi. */
#define CHECK_LOAD(n)                                                                              \
    _Static_assert(WASM_OP_##n##_ss - WASM_OP_##n == 1 && WASM_OP_##n##_si - WASM_OP_##n == 2 &&   \
                       WASM_OP_##n##_sx - WASM_OP_##n == 3 &&                                      \
                       WASM_OP_##n##_xi - WASM_OP_##n == 4 &&                                      \
                       WASM_OP_##n##_sxi - WASM_OP_##n == 5,                                       \
                   "load forms: " #n);                                                             \
    _Static_assert(WASM_OP_##n##_ss_A - WASM_OP_##n##_A == 1 &&                                    \
                       WASM_OP_##n##_si_A - WASM_OP_##n##_A == 2 &&                                \
                       WASM_OP_##n##_sx_A - WASM_OP_##n##_A == 3 &&                                \
                       WASM_OP_##n##_xi_A - WASM_OP_##n##_A == 4 &&                                \
                       WASM_OP_##n##_sxi_A - WASM_OP_##n##_A == 5,                                 \
                   "load accumulator forms: " #n);                                                 \
    _Static_assert(WASM_OP_##n##_ss_T - WASM_OP_##n##_T == 1 &&                                    \
                       WASM_OP_##n##_si_T - WASM_OP_##n##_T == 2 &&                                \
                       WASM_OP_##n##_sx_T - WASM_OP_##n##_T == 3 &&                                \
                       WASM_OP_##n##_xi_T - WASM_OP_##n##_T == 4 &&                                \
                       WASM_OP_##n##_sxi_T - WASM_OP_##n##_T == 5,                                 \
                   "load tee forms: " #n);
WASM_LOADS(CHECK_LOAD)
#undef CHECK_LOAD
#undef IACC_J

static int iacc_of(uint32_t k)
{
    static const int8_t of_ibin[15] = {0, 1, 2, -1, -1, -1, -1, 3, 4, 5, 6, 7, 8, 9, 10};
    return k < 15 ? of_ibin[k] : -1;
}

/*
 * The form of op that leaves its result in the accumulator instead of its destination
 * slot (same operand layout), or WASM_OP_COUNT when op has none.
 */
static enum wasm_op to_acc(enum wasm_op op)
{
    static const uint8_t of_form[8] = {0, 1, 4, 5, 8, 8, 7, 8}; /* ss si as ai .. sa */
    if (op >= WASM_OP_i32_add_ss && op <= WASM_OP_i32_rotr_si) {
        int j = iacc_of((op - WASM_OP_i32_add_ss) / 2);
        return j < 0
                   ? WASM_OP_COUNT
                   : (enum wasm_op)(WASM_OP_i32_add_ssA + 8 * j + ((op - WASM_OP_i32_add_ss) & 1));
    }
    if (op >= WASM_OP_i32_eq_ss && op <= WASM_OP_i32_ge_u_si)
        return (enum wasm_op)(WASM_OP_i32_add_ssA + 8 * (NIBIN_ACC + (op - WASM_OP_i32_eq_ss) / 2) +
                              ((op - WASM_OP_i32_eq_ss) & 1));
    if (op >= WASM_OP_i32_add_ssA && op <= WASM_OP_i32_ge_u_saA) {
        uint32_t f = of_form[(op - WASM_OP_i32_add_ssA) % 8];
        return f == 8
                   ? WASM_OP_COUNT
                   : (enum wasm_op)(WASM_OP_i32_add_ssA + (op - WASM_OP_i32_add_ssA) / 8 * 8 + f);
    }
    if (op >= WASM_OP_f32_add && op <= WASM_OP_f32_div)
        return (enum wasm_op)(WASM_OP_f32_add_ssA + 5 * (op - WASM_OP_f32_add));
    if (op >= WASM_OP_f64_add && op <= WASM_OP_f64_div)
        return (enum wasm_op)(WASM_OP_f64_add_ssA + 5 * (op - WASM_OP_f64_add));
    if (op >= WASM_OP_f32_add_ssA && op <= WASM_OP_f64_div_saA) {
        uint32_t f = (op - WASM_OP_f32_add_ssA) % 5; /* ssA as asA sa saA */
        return f == 1 || f == 3 ? (enum wasm_op)(op + 1) : WASM_OP_COUNT;
    }
#define LOAD_TO_ACC(n)                                                                             \
    if (op >= WASM_OP_##n && op <= WASM_OP_##n##_sxi)                                              \
        return (enum wasm_op)(WASM_OP_##n##_A + (op - WASM_OP_##n));
    WASM_LOADS(LOAD_TO_ACC)
#undef LOAD_TO_ACC
    return WASM_OP_COUNT;
}

/* The form of op that writes its result to its slot and to the accumulator. */
static enum wasm_op to_tee(enum wasm_op op)
{
    static const uint8_t of_form[8] = {0, 1, 2, 3, 5, 5, 4, 5}; /* ss si as ai .. sa */
    if (op >= WASM_OP_i32_add_ss && op <= WASM_OP_i32_rotr_si) {
        int j = iacc_of((op - WASM_OP_i32_add_ss) / 2);
        return j < 0
                   ? WASM_OP_COUNT
                   : (enum wasm_op)(WASM_OP_i32_add_ssT + 5 * j + ((op - WASM_OP_i32_add_ss) & 1));
    }
    if (op >= WASM_OP_i32_eq_ss && op <= WASM_OP_i32_ge_u_si)
        return (enum wasm_op)(WASM_OP_i32_add_ssT + 5 * (NIBIN_ACC + (op - WASM_OP_i32_eq_ss) / 2) +
                              ((op - WASM_OP_i32_eq_ss) & 1));
    if (op >= WASM_OP_i32_add_ssA && op <= WASM_OP_i32_ge_u_saA) {
        uint32_t f = of_form[(op - WASM_OP_i32_add_ssA) % 8];
        return f == 5
                   ? WASM_OP_COUNT
                   : (enum wasm_op)(WASM_OP_i32_add_ssT + (op - WASM_OP_i32_add_ssA) / 8 * 5 + f);
    }
#define LOAD_TO_TEE(n)                                                                             \
    if (op >= WASM_OP_##n && op <= WASM_OP_##n##_sxi)                                              \
        return (enum wasm_op)(WASM_OP_##n##_T + (op - WASM_OP_##n));
    WASM_LOADS(LOAD_TO_TEE)
#undef LOAD_TO_TEE
    return WASM_OP_COUNT;
}

/*
 * Can instruction l, which ends at end, hand value e to the instruction emitted at end in
 * the accumulator? Yes when e is l's result: still only in its temp (l->end == end: l
 * then leaves it in the accumulator only), or in the local a local.set/tee put it in
 * (l then writes both).
 */
static bool acc_from(struct tr *t, const struct last_op *l, uint32_t end, const struct opnd *e)
{
    if (t->status != WASM_OK || l->pos == t->add2_y || e->slot != l->dst_slot || l->iend != end)
        return false;
    if (e->kind == K_TEMP && l->end == end)
        return to_acc(l->op) != WASM_OP_COUNT;
    return e->kind == K_LOCAL && l->dst_slot < t->T && to_tee(l->op) != WASM_OP_COUNT;
}

/* Is e (just popped) the result of the instruction emitted last (acc_from)? */
static bool acc_ready(struct tr *t, const struct opnd *e)
{
    return acc_from(t, &t->last, t->len, e);
}

/* Turns instruction l (the one before t->len) into its accumulator form; the
 * instruction emitted next, at t->len, reads it. A rewind to that position undoes it. */
static void acc_take(struct tr *t, const struct last_op *l)
{
    struct acc_pair *p = &t->accp[t->naccp++ % NACC_PAIRS];
    *p = (struct acc_pair){l->pos, t->len, l->op};
    const void *h = wasm_op_handlers[l->end == t->len ? to_acc(l->op) : to_tee(l->op)];
    memcpy(&t->code[l->pos], &h, sizeof(h));
}

/* Starts an instruction that writes a result to slot dst. */
static uint32_t begin_result_to(struct tr *t, enum wasm_op op, int kind, uint32_t dst)
{
    t->prev = t->last;
    t->last.op = op;
    uint32_t pos;
    bool add = op == WASM_OP_i32_add_ss || op == WASM_OP_i32_add_si;
    if (add && t->add_end == t->len && t->status == WASM_OK) {
        /* Joins the add just before it: that one's handler becomes add2_xy. */
        enum wasm_op two =
            (enum wasm_op)(WASM_OP_add2_ss + (t->add_op == WASM_OP_i32_add_si ? 2 : 0) +
                           (op == WASM_OP_i32_add_si ? 1 : 0));
        const void *h = wasm_op_handlers[two];
        memcpy(&t->code[t->add_pos], &h, sizeof(h));
        pos = t->add2_y = t->len;
        t->add_end = UINT32_MAX;
    } else {
        pos = emit_op(t, op);
        if (add) {
            t->add_pos = pos;
            t->add_op = op;
            t->add_end = pos + 5;
            t->add2_y = UINT32_MAX;
        }
    }
    t->last.kind = kind;
    t->last.pos = pos;
    t->last.dst_pos = t->len;
    t->last.dst_slot = dst;
    emit_w(t, soff(dst));
    return pos;
}

/* Starts an instruction that writes a result to a fresh temp (the new top). */
static uint32_t begin_result(struct tr *t, enum wasm_op op, int kind)
{
    return begin_result_to(t, op, kind, next_home(t));
}

/* As begin_result for SIMD op k: `simd k d ...` (the number before the result). */
static void begin_simd_result(struct tr *t, uint32_t k)
{
    t->prev = t->last;
    t->last.kind = L_OTHER;
    t->last.op = WASM_OP_simd;
    t->last.pos = emit_op(t, WASM_OP_simd);
    emit_w(t, k);
    t->last.dst_pos = t->len;
    t->last.dst_slot = next_home(t);
    emit_w(t, soff(t->last.dst_slot));
}

/* Computes K_AFF e into slot dst: add_si, add_ss, shl_si, or a lea. */
static void emit_aff(struct tr *t, const struct opnd *e, uint32_t dst)
{
    uint32_t imm = (uint32_t)e->imm;
    struct last_op *l = &t->last;
    if (e->slot != NOSLOT && (e->idx == NOSLOT || (e->k == 0 && imm == 0))) {
        bool ss = e->idx != NOSLOT;
        begin_result_to(t, ss ? WASM_OP_i32_add_ss : WASM_OP_i32_add_si, L_ADD32, dst);
        emit_w(t, soff(e->slot));
        emit_w(t, ss ? soff(e->idx) : imm);
        l->a = e->slot;
        l->b = ss ? e->idx : imm;
        l->b_imm = !ss;
    } else if (e->slot == NOSLOT && imm == 0) {
        begin_result_to(t, WASM_OP_i32_shl_si, L_SHL32, dst);
        emit_w(t, soff(e->idx));
        emit_w(t, e->k);
        l->a = e->idx;
        l->b = e->k;
        l->b_imm = true;
    } else if (e->slot == NOSLOT) {
        begin_result_to(t, WASM_OP_lea_xi, L_OTHER, dst);
        emit_w(t, soff(e->idx));
        emit_w(t, e->k);
        emit_w(t, imm);
    } else {
        begin_result_to(t, WASM_OP_lea_sxi, L_OTHER, dst);
        emit_w(t, soff(e->slot));
        emit_w(t, soff(e->idx));
        emit_w(t, e->k);
        emit_w(t, imm);
    }
    l->end = l->iend = t->len;
}

static void end_result(struct tr *t, uint8_t type)
{
    t->last.end = t->len;
    t->last.iend = t->len;
    push_temp(t, type);
}

/* Is the top of the stack the result of the instruction just emitted? */
static bool top_is_last(struct tr *t)
{
    if (t->h == 0 || t->last.end != t->len)
        return false;
    const struct opnd *e = &t->stk[t->h - 1];
    return e->kind == K_TEMP && e->slot == t->last.dst_slot;
}

/* ---- Control ----------------------------------------------------------------------- */

static void add_fix(struct tr *t, uint32_t *list, uint32_t instr_pos, uint32_t off_pos)
{
    if (!grow((void **)&t->fix, &t->fix_cap, t->nfix + 1, sizeof(struct fixup))) {
        if (t->status == WASM_OK) {
            t->status = WASM_ERR_NOMEM;
            snprintf(t->err, t->errlen, "out of memory");
        }
        return;
    }
    t->fix[t->nfix] = (struct fixup){instr_pos, off_pos, *list};
    *list = t->nfix++;
}

static void patch_list(struct tr *t, uint32_t list, uint32_t target)
{
    if (t->status != WASM_OK)
        return;
    for (uint32_t f = list; f != NOFIX; f = t->fix[f].next)
        t->code[t->fix[f].off_pos] = (uint32_t)((int32_t)target - (int32_t)t->fix[f].instr_pos);
}

/* Emits a jump (or records it) from the branch at instr_pos/off_pos to frame c. */
static void branch_to(struct tr *t, struct ctrl *c, uint32_t instr_pos, uint32_t off_pos)
{
    if (t->status != WASM_OK)
        return;
    if (c->kind == C_LOOP)
        t->code[off_pos] = (uint32_t)((int32_t)c->loop_pos - (int32_t)instr_pos);
    else
        add_fix(t, &c->fixes, instr_pos, off_pos);
}

static uint32_t label_arity(const struct ctrl *c, const uint8_t **types)
{
    if (c->kind == C_LOOP) {
        *types = c->params;
        return c->nparams;
    }
    *types = c->results;
    return c->nresults;
}

/* Do the top n values already sit where frame c expects its label values? */
static bool values_in_place(struct tr *t, struct ctrl *c, uint32_t n)
{
    uint32_t slot = c->base;
    for (uint32_t i = 0; i < n; i++) {
        const struct opnd *e = &t->stk[t->h - n + i];
        if (e->kind != K_TEMP || e->slot != slot)
            return false;
        slot += width(e->type);
    }
    return true;
}

static void move_values(struct tr *t, struct ctrl *c, uint32_t n)
{
    uint32_t slot = c->base;
    for (uint32_t i = 0; i < n; i++) {
        move_to(t, &t->stk[t->h - n + i], slot);
        slot += width(t->stk[t->h - n + i].type);
    }
}

/* Emits a return of the top nresults values. */
static void emit_return(struct tr *t)
{
    struct ctrl *f = &t->ctl[0];
    uint32_t n = f->nresults;
    if (t->h < n) {
        if (t->status == WASM_OK) {
            t->status = WASM_ERR_INVALID;
            snprintf(t->err, t->errlen, "type mismatch: missing return values in function %u",
                     t->func_index);
        }
        return;
    }
    uint32_t nslots = 0;
    for (uint32_t i = t->h - n; i < t->h; i++)
        nslots += width(t->stk[i].type);
    if (n == 0) {
        emit_op(t, WASM_OP_ret0);
    } else if (n == 1 && nslots == 1) {
        struct opnd *e = &t->stk[t->h - 1];
        if (e->kind == K_AFF)
            materialize(t, t->h - 1);
        if (e->kind == K_CONST) {
            emit_op(t, WASM_OP_ret1_i64);
            emit_w64(t, e->imm);
        } else if (acc_ready(t, e)) {
            acc_take(t, &t->last);
            emit_op(t, WASM_OP_ret1_a);
            emit_w(t, soff(e->slot));
        } else {
            emit_op(t, WASM_OP_ret1);
            emit_w(t, soff(e->slot));
        }
    } else {
        for (uint32_t i = t->h - n; i < t->h; i++)
            if (t->stk[i].kind == K_CONST || t->stk[i].kind == K_AFF)
                materialize(t, i);
        /* One source word per result slot: a v128 names both of its halves. */
        emit_op(t, WASM_OP_retn);
        emit_w(t, nslots);
        for (uint32_t i = t->h - n; i < t->h; i++)
            for (uint32_t k = 0; k < width(t->stk[i].type); k++)
                emit_w(t, soff(t->stk[i].slot + k));
    }
}

/* Unconditional branch to depth d (values on top of the stack). */
static void emit_br(struct tr *t, uint32_t d)
{
    struct ctrl *c = &t->ctl[t->nctl - 1 - d];
    if (c->kind == C_FUNC) {
        emit_return(t);
        return;
    }
    const uint8_t *types;
    uint32_t n = label_arity(c, &types);
    if (t->h < n + t->ctl[t->nctl - 1].height && !t->unreach) {
        if (t->status == WASM_OK) {
            t->status = WASM_ERR_INVALID;
            snprintf(t->err, t->errlen, "type mismatch in branch, function %u", t->func_index);
        }
        return;
    }
    move_values(t, c, n);
    uint32_t pos;
    if (t->copy_end == t->len && t->copy_n <= 2 && t->status == WASM_OK) {
        /* The copy (or copy2) just emitted branches too: one instruction. */
        pos = t->copy_pos;
        const void *h =
            wasm_op_handlers[(c->kind == C_LOOP ? WASM_OP_copy_br_back : WASM_OP_copy_br) +
                             (t->copy_n - 1)];
        memcpy(&t->code[pos], &h, sizeof(h));
        t->copy_end = UINT32_MAX;
    } else {
        pos = emit_op(t, c->kind == C_LOOP ? WASM_OP_br_back : WASM_OP_br);
    }
    uint32_t off = t->len;
    emit_w(t, 0);
    branch_to(t, c, pos, off);
}

static const uint8_t cmp_inverse[10] = {1, 0, 8, 9, 6, 7, 4, 5, 2, 3};
static const uint8_t cmp_mirror[10] = {0, 1, 4, 5, 2, 3, 8, 9, 6, 7};

/*
 * Emits a conditional branch on cond (already popped) taken when
 * cond != 0 (when_true) or == 0. Fuses with the compare/eqz that produced cond when it
 * was the last instruction. Returns the instruction and offset-word positions.
 */
static void emit_cond_branch(struct tr *t, struct opnd cond, bool when_true, uint32_t *ipos,
                             uint32_t *opos)
{
    bool fuse = cond.kind == K_TEMP && t->last.end == t->len && cond.slot == t->last.dst_slot &&
                t->last.kind >= L_CMP32 && t->last.kind <= L_AND32;
    if (fuse) {
        struct last_op l = t->last, p = t->prev;
        rewind_to(t, l.pos);
        label(t);
        /* The compare's slot operands, as stack entries (for acc_from). */
        struct opnd la = {.kind = l.a < t->T ? K_LOCAL : K_TEMP, .slot = l.a};
        struct opnd lb = {.kind = l.b < t->T ? K_LOCAL : K_TEMP,
                          .slot = l.b_imm ? NOSLOT : (uint32_t)l.b};
        bool eqz_and = l.kind == L_EQZ32 && p.kind == L_AND32 && p.end == l.pos &&
                       p.dst_slot == l.a && l.a >= t->T;
        if (l.kind == L_AND32 || eqz_and) {
            /* (a & b) != 0, or its eqz: one test-and-branch. */
            struct last_op x = eqz_and ? p : l;
            bool nz = eqz_and ? !when_true : when_true;
            rewind_to(t, x.pos);
            *ipos = emit_op(t, (enum wasm_op)((nz ? WASM_OP_br_and_nz_ss : WASM_OP_br_and_z_ss) +
                                              (x.b_imm ? 1 : 0)));
            emit_w(t, soff(x.a));
            emit_w(t, x.b_imm ? (uint32_t)x.b : soff((uint32_t)x.b));
        } else if (l.kind == L_EQZ32 && acc_from(t, &p, l.pos, &la)) {
            /* eqz of the result of the instruction before it: from the accumulator. */
            acc_take(t, &p);
            *ipos = emit_op(t, when_true ? WASM_OP_br_z32_a : WASM_OP_br_nz32_a);
            emit_w(t, soff(l.a));
        } else if (l.kind == L_EQZ32 || l.kind == L_EQZ64) {
            bool is64 = l.kind == L_EQZ64;
            enum wasm_op op = when_true ? (is64 ? WASM_OP_br_z64 : WASM_OP_br_z32)
                                        : (is64 ? WASM_OP_br_nz64 : WASM_OP_br_nz32);
            *ipos = emit_op(t, op);
            emit_w(t, soff(l.a));
        } else if (l.kind == L_CMP32 && p.kind == L_ADD32 && p.iend == l.pos &&
                   (l.a == p.dst_slot || (!l.b_imm && l.b == p.dst_slot))) {
            /* d = a + b, then a compare of d: one add-and-branch (loop counters). */
            uint32_t k = l.cmp;
            uint64_t c = l.b;
            bool c_imm = l.b_imm;
            if (l.a != p.dst_slot) {
                k = cmp_mirror[k];
                c = l.a;
                c_imm = false;
            }
            if (!when_true)
                k = cmp_inverse[k];
            rewind_to(t, p.pos);
            *ipos = emit_op(
                t, (enum wasm_op)(WASM_OP_abr_eq_ss + 4 * k + (p.b_imm ? 2 : 0) + (c_imm ? 1 : 0)));
            emit_w(t, soff(p.dst_slot));
            emit_w(t, soff(p.a));
            emit_w(t, p.b_imm ? (uint32_t)p.b : soff((uint32_t)p.b));
            emit_w(t, c_imm ? (uint32_t)c : soff((uint32_t)c));
        } else if (l.kind == L_CMP32 &&
                   acc_from(t, &p, l.pos, &la) != acc_from(t, &p, l.pos, &lb)) {
            /* The compare reads the result of the instruction before it: that one hands
             * it over in the accumulator. */
            uint32_t k = l.cmp, b = (uint32_t)l.b;
            bool b_imm = l.b_imm;
            if (l.a != p.dst_slot) {
                k = cmp_mirror[k];
                b = l.a;
            }
            if (!when_true)
                k = cmp_inverse[k];
            acc_take(t, &p);
            *ipos = emit_op(t, (enum wasm_op)(WASM_OP_br_i32_eq_as + 2 * k + (b_imm ? 1 : 0)));
            emit_w(t, soff(p.dst_slot));
            emit_w(t, b_imm ? b : soff(b));
        } else {
            uint32_t k = when_true ? l.cmp : cmp_inverse[l.cmp];
            bool is64 = l.kind == L_CMP64;
            enum wasm_op op = (enum wasm_op)((is64 ? WASM_OP_br_i64_eq_ss : WASM_OP_br_i32_eq_ss) +
                                             2 * k + (l.b_imm ? 1 : 0));
            *ipos = emit_op(t, op);
            emit_w(t, soff(l.a));
            if (l.b_imm && is64)
                emit_w64(t, l.b);
            else if (l.b_imm)
                emit_w(t, (uint32_t)l.b);
            else
                emit_w(t, soff((uint32_t)l.b));
        }
    } else if (cond.type == WASM_I32 && acc_ready(t, &cond)) {
        acc_take(t, &t->last);
        *ipos = emit_op(t, when_true ? WASM_OP_br_nz32_a : WASM_OP_br_z32_a);
        emit_w(t, soff(cond.slot));
    } else {
        uint32_t s = src_slot(t, &cond);
        *ipos = emit_op(t, when_true ? WASM_OP_br_nz32 : WASM_OP_br_z32);
        emit_w(t, soff(s));
    }
    *opos = t->len;
    emit_w(t, 0);
}

static void push_ctrl(struct tr *t, uint8_t kind, uint32_t np, const uint8_t *params, uint32_t nr,
                      const uint8_t *results)
{
    if (!grow((void **)&t->ctl, &t->ctl_cap, t->nctl + 1, sizeof(struct ctrl))) {
        if (t->status == WASM_OK) {
            t->status = WASM_ERR_NOMEM;
            snprintf(t->err, t->errlen, "out of memory");
        }
        return;
    }
    struct ctrl *c = &t->ctl[t->nctl++];
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    c->nparams = np;
    c->params = params;
    c->nresults = nr;
    c->results = results;
    c->else_fix = NOFIX;
    c->fixes = NOFIX;
    c->dead = t->unreach;
    c->unreachable = t->unreach;
    c->height = t->h >= np ? t->h - np : 0;
    c->base =
        c->height == 0 ? t->T : t->stk[c->height - 1].home + width(t->stk[c->height - 1].type);
}

/* ---- Reading the body ---------------------------------------------------------------- */

static uint64_t rd_uleb(struct tr *t)
{
    uint64_t r = 0;
    unsigned shift = 0;
    while (t->p < t->end) {
        uint8_t b = *t->p++;
        if (shift < 64)
            r |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80))
            return r;
    }
    if (t->status == WASM_OK) {
        t->status = WASM_ERR_MALFORMED;
        snprintf(t->err, t->errlen, "unexpected end of function %u", t->func_index);
    }
    return 0;
}

static int64_t rd_sleb(struct tr *t)
{
    uint64_t r = 0;
    unsigned shift = 0;
    uint8_t b = 0;
    while (t->p < t->end) {
        b = *t->p++;
        if (shift < 64)
            r |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) {
            if (shift < 64 && (b & 0x40))
                r |= ~(uint64_t)0 << shift;
            return (int64_t)r;
        }
    }
    if (t->status == WASM_OK) {
        t->status = WASM_ERR_MALFORMED;
        snprintf(t->err, t->errlen, "unexpected end of function %u", t->func_index);
    }
    return 0;
}

static uint8_t rd_byte(struct tr *t)
{
    if (t->p < t->end)
        return *t->p++;
    if (t->status == WASM_OK) {
        t->status = WASM_ERR_MALFORMED;
        snprintf(t->err, t->errlen, "unexpected end of function %u", t->func_index);
    }
    return 0;
}

static uint64_t rd_fixed(struct tr *t, unsigned n)
{
    uint64_t v = 0;
    if ((size_t)(t->end - t->p) < n) {
        if (t->status == WASM_OK) {
            t->status = WASM_ERR_MALFORMED;
            snprintf(t->err, t->errlen, "unexpected end of function %u", t->func_index);
        }
        t->p = t->end;
        return 0;
    }
    memcpy(&v, t->p, n);
    t->p += n;
    return v;
}

/* Reads a block type into (params, results). Returns false when it is invalid. */
static bool rd_blocktype(struct tr *t, uint32_t *np, const uint8_t **params, uint32_t *nr,
                         const uint8_t **results)
{
    if (t->p < t->end && *t->p == 0x40) {
        t->p++;
        *np = *nr = 0;
        *params = *results = NULL;
        return true;
    }
    if (t->p < t->end && valtype_tab[*t->p]) {
        *np = 0;
        *params = NULL;
        *nr = 1;
        *results = &valtype_tab[*t->p];
        t->p++;
        return true;
    }
    int64_t idx = rd_sleb(t);
    if (idx < 0 || (uint64_t)idx >= t->m->ntypes)
        return false;
    const struct wasm_functype *ft = &t->m->types[idx];
    *np = ft->nparams;
    *params = ft->params;
    *nr = ft->nresults;
    *results = ft->results;
    return true;
}

/* ---- Instruction groups ----------------------------------------------------------- */

/*
 * The terms of popped i32 entry e as slot + (idx << k) + imm. Only locals and e's own
 * temp (its home) qualify: no other code writes them while e waits.
 */
static bool aff_terms(struct tr *t, const struct opnd *e, struct opnd *r)
{
    *r = (struct opnd){K_AFF, WASM_I32, 0, NOSLOT, NOSLOT, 0, e->home};
    switch (e->kind) {
    case K_CONST:
        r->imm = (uint32_t)e->imm;
        return true;
    case K_LOCAL:
        r->slot = e->slot;
        return true;
    case K_TEMP:
        r->slot = e->slot;
        return e->slot == e->home;
    default:
        *r = *e;
        return (e->slot == NOSLOT || e->slot < t->T || e->slot == e->home) &&
               (e->idx == NOSLOT || e->idx < t->T || e->idx == e->home);
    }
}

/* Normalises an affine value: a constant, a plain slot or a K_AFF entry. */
static struct opnd aff_norm(struct tr *t, struct opnd r)
{
    if (r.slot == NOSLOT && r.idx == NOSLOT)
        return (struct opnd){K_CONST, WASM_I32, 0, 0, NOSLOT, (uint32_t)r.imm, r.home};
    if (r.idx == NOSLOT && (uint32_t)r.imm == 0)
        return (struct opnd){
            r.slot < t->T ? K_LOCAL : K_TEMP, WASM_I32, 0, r.slot, NOSLOT, 0, r.home};
    r.imm = (uint32_t)r.imm;
    return r;
}

/*
 * i32.add / i32.shl by a constant of entries a (index h) and b (index h+1) as an affine
 * value pushed at h, emitting nothing. False when the terms do not fit one base, one
 * scaled index and a displacement, or b lives in a temp (its slot is reused at once).
 */
static bool lazy_addr_op(struct tr *t, const struct opnd *a, const struct opnd *b, bool shl)
{
    struct opnd x, y;
    if (!aff_terms(t, a, &x) || !aff_terms(t, b, &y) ||
        (b->kind != K_CONST && (y.slot == b->home || y.idx == b->home)))
        return false;
    if (shl) {
        if (b->kind != K_CONST)
            return false;
        uint32_t n = (uint32_t)b->imm & 31;
        if (x.slot == NOSLOT && x.idx == NOSLOT) {
            x.imm = (uint32_t)x.imm << n;
        } else if (x.idx == NOSLOT && (uint32_t)x.imm == 0) {
            x.idx = x.slot, x.slot = NOSLOT, x.k = (uint8_t)n;
        } else if (x.slot == NOSLOT && (uint32_t)x.imm == 0 && x.k + n <= 31) {
            x.k = (uint8_t)(x.k + n);
        } else {
            return false;
        }
        push_entry(t, aff_norm(t, x));
        return true;
    }
    /* Terms: unscaled slots go to slot (then idx with k 0), at most one scaled one. */
    uint32_t u[4], nu = 0, sc = NOSLOT;
    uint8_t sk = 0;
    const struct opnd *v[2] = {&x, &y};
    for (int i = 0; i < 2; i++) {
        if (v[i]->slot != NOSLOT)
            u[nu++] = v[i]->slot;
        if (v[i]->idx != NOSLOT) {
            if (v[i]->k == 0)
                u[nu++] = v[i]->idx;
            else if (sc == NOSLOT)
                sc = v[i]->idx, sk = v[i]->k;
            else
                return false;
        }
    }
    /* a + b of two slots stays an add: mostly arithmetic, and as an address the fold of
     * the last add catches it. Deferring it could only cost a later retarget. */
    if (nu + (sc != NOSLOT) > 2 || (nu == 2 && (uint32_t)(x.imm + y.imm) == 0))
        return false;
    struct opnd r = {K_AFF, WASM_I32, 0, NOSLOT, NOSLOT, (uint32_t)(x.imm + y.imm), a->home};
    if (nu > 0)
        r.slot = u[0];
    if (nu > 1)
        r.idx = u[1];
    else if (sc != NOSLOT)
        r.idx = sc, r.k = sk;
    push_entry(t, aff_norm(t, r));
    return true;
}

static void binop_int(struct tr *t, bool is64, uint32_t k, bool is_cmp)
{
    /* k: index in WASM_ICMPS (is_cmp) or WASM_IBINS. */
    struct opnd b = pop(t), a = pop(t);
    if (!is64 && !is_cmp && (k == 0 || k == 10) && t->status == WASM_OK &&
        lazy_addr_op(t, &a, &b, k == 10))
        return;
    static const bool commut_bin[15] = {1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0};
    if (a.kind == K_CONST && b.kind != K_CONST) {
        if (is_cmp) {
            k = cmp_mirror[k];
            struct opnd x = a;
            a = b;
            b = x;
        } else if (commut_bin[k]) {
            struct opnd x = a;
            a = b;
            b = x;
        }
    }
    uint32_t as = src_slot(t, &a);
    enum wasm_op base;
    if (is_cmp)
        base = is64 ? WASM_OP_i64_eq_ss : WASM_OP_i32_eq_ss;
    else
        base = is64 ? WASM_OP_i64_add_ss : WASM_OP_i32_add_ss;
    bool imm = b.kind == K_CONST;
    uint32_t bs = imm ? 0 : src_slot(t, &b);
    int kind = is_cmp                         ? (is64 ? L_CMP64 : L_CMP32)
               : is64                         ? L_OTHER
               : k == 0                       ? L_ADD32
               : k == 7                       ? L_AND32
               : k == 10 && b.kind == K_CONST ? L_SHL32
                                              : L_OTHER;
    enum wasm_op op = WASM_OP_COUNT;
    int j = is64 ? -1 : is_cmp ? NIBIN_ACC + (int)k : iacc_of(k);
    if (j >= 0) {
        /* An operand that the instruction just emitted computed comes in the accumulator
         * (as a, for a commutative operator or a compare, mirrored). */
        bool use_a = acc_ready(t, &a);
        bool use_b = !use_a && !imm && acc_ready(t, &b);
        if (use_b && (is_cmp || commut_bin[k])) {
            uint32_t x = as;
            as = bs, bs = x;
            use_a = true, use_b = false;
            if (is_cmp) {
                k = cmp_mirror[k];
                j = NIBIN_ACC + (int)k;
            }
        }
        if (use_a || use_b) {
            acc_take(t, &t->last);
            op = (enum wasm_op)(WASM_OP_i32_add_ssA + 8 * j + (use_b ? 6 : imm ? 3 : 2));
        }
    }
    if (op == WASM_OP_COUNT)
        op = (enum wasm_op)(base + 2 * k + (imm ? 1 : 0));
    begin_result(t, op, kind);
    emit_w(t, soff(as));
    if (imm && is64)
        emit_w64(t, b.imm);
    else if (imm)
        emit_w(t, (uint32_t)b.imm);
    else
        emit_w(t, soff(bs));
    t->last.cmp = k;
    t->last.a = as;
    t->last.b_imm = imm;
    t->last.b = imm ? b.imm : bs;
    end_result(t, is_cmp ? WASM_I32 : (is64 ? WASM_I64 : WASM_I32));
}

static void unop(struct tr *t, enum wasm_op op, uint8_t rtype, int kind)
{
    struct opnd a = pop(t);
    uint32_t as = src_slot(t, &a);
    begin_result(t, op, kind);
    emit_w(t, soff(as));
    t->last.a = as;
    end_result(t, rtype);
}

static void binop_slots(struct tr *t, enum wasm_op op, uint8_t rtype)
{
    struct opnd b = pop(t), a = pop(t);
    uint32_t as = src_slot(t, &a);
    uint32_t bs = src_slot(t, &b);
    enum wasm_op facc = WASM_OP_COUNT;
    if (op >= WASM_OP_f32_add && op <= WASM_OP_f32_div)
        facc = (enum wasm_op)(WASM_OP_f32_add_ssA + 5 * (op - WASM_OP_f32_add));
    else if (op >= WASM_OP_f64_add && op <= WASM_OP_f64_div)
        facc = (enum wasm_op)(WASM_OP_f64_add_ssA + 5 * (op - WASM_OP_f64_add));
    if (facc != WASM_OP_COUNT) {
        /* An operand the instruction just emitted computed comes in the accumulator. */
        bool commut = op == WASM_OP_f32_add || op == WASM_OP_f32_mul || op == WASM_OP_f64_add ||
                      op == WASM_OP_f64_mul;
        bool use_a = acc_ready(t, &a), use_b = !use_a && acc_ready(t, &b);
        if (use_b && commut) {
            uint32_t x = as;
            as = bs, bs = x;
            use_a = true, use_b = false;
        }
        if (use_a || use_b) {
            acc_take(t, &t->last);
            op = (enum wasm_op)(facc + (use_a ? 1 : 3));
        }
    }
    begin_result(t, op, L_OTHER);
    emit_w(t, soff(as));
    emit_w(t, soff(bs));
    end_result(t, rtype);
}

static void local_write(struct tr *t, uint32_t x, bool tee)
{
    if (x >= t->nlocals_total) {
        if (t->status == WASM_OK) {
            t->status = WASM_ERR_INVALID;
            snprintf(t->err, t->errlen, "unknown local %u in function %u", x, t->func_index);
        }
        return;
    }
    bool retarget = top_is_last(t) && t->last.kind != L_NONE;
    struct opnd v = pop(t);
    uint32_t slot = t->lslot[x];
    if (!t->joined && x >= t->nparams && !t->written[x] && v.kind == K_CONST && v.imm == 0) {
        /* `local.set x (const 0)` on a local that is still zero from function entry. */
        if (tee)
            push(t, K_LOCAL, t->ltypes[x], slot, 0);
        return;
    }
    t->written[x] = 1;
    uint32_t len0 = t->len;
    preserve_local(t, slot);
    if (retarget && t->len == len0 && t->status == WASM_OK) {
        t->code[t->last.dst_pos] = soff(slot);
        t->last.dst_slot = slot;
    } else {
        move_to(t, &v, slot);
    }
    t->last.end = UINT32_MAX; /* the value now lives in a local */
    if (tee)
        push(t, K_LOCAL, t->ltypes[x], slot, 0);
}

static void block_entry(struct tr *t, uint32_t np)
{
    /* Every entry naming a local gets its own slot; the params become temps. */
    for (uint32_t i = 0; i < t->h; i++)
        if (t->stk[i].kind == K_LOCAL || t->stk[i].kind == K_AFF ||
            (i >= t->h - np && t->stk[i].kind == K_CONST))
            materialize(t, i);
}

static void do_end(struct tr *t)
{
    struct ctrl *c = &t->ctl[t->nctl - 1];
    if (c->dead) {
        t->nctl--;
        return;
    }
    if (!t->unreach) {
        if (t->h != c->height + c->nresults) {
            if (t->status == WASM_OK) {
                t->status = WASM_ERR_INVALID;
                snprintf(t->err, t->errlen, "type mismatch at end of block, function %u",
                         t->func_index);
            }
            return;
        }
        if (c->kind == C_FUNC) {
            emit_return(t);
        } else {
            for (uint32_t i = 0; i < c->nresults; i++)
                materialize(t, c->height + i);
        }
    }
    if (c->kind == C_FUNC) {
        t->nctl--;
        return;
    }
    patch_list(t, c->fixes, t->len);
    t->joined = true;
    if (c->else_fix != NOFIX)
        patch_list(t, c->else_fix, t->len);
    label(t);
    uint32_t height = c->height, nr = c->nresults;
    const uint8_t *res = c->results;
    t->nctl--;
    t->h = height;
    t->unreach = t->ctl[t->nctl - 1].unreachable;
    for (uint32_t i = 0; i < nr; i++)
        push_temp(t, res[i]);
}

static void do_else(struct tr *t)
{
    t->joined = true;
    struct ctrl *c = &t->ctl[t->nctl - 1];
    if (c->dead || c->kind != C_IF) {
        if (!c->dead && t->status == WASM_OK) {
            t->status = WASM_ERR_INVALID;
            snprintf(t->err, t->errlen, "else without if in function %u", t->func_index);
        }
        return;
    }
    if (!t->unreach) {
        for (uint32_t i = 0; i < c->nresults && c->height + i < t->h; i++)
            materialize(t, c->height + i);
        uint32_t pos = emit_op(t, WASM_OP_br);
        uint32_t off = t->len;
        emit_w(t, 0);
        add_fix(t, &c->fixes, pos, off);
    }
    patch_list(t, c->else_fix, t->len);
    c->else_fix = NOFIX;
    label(t);
    c->kind = C_ELSE;
    t->h = c->height;
    for (uint32_t i = 0; i < c->nparams; i++)
        push_temp(t, c->params[i]);
    t->unreach = false;
    c->unreachable = false;
}

static void set_unreachable(struct tr *t)
{
    struct ctrl *c = &t->ctl[t->nctl - 1];
    t->h = c->height;
    t->unreach = true;
    c->unreachable = true;
}

static void memarg(struct tr *t, uint32_t *offset)
{
    uint32_t align = (uint32_t)rd_uleb(t);
    if (align & 0x40)
        rd_uleb(t); /* memory index (multi-memory); only memory 0 exists */
    *offset = (uint32_t)rd_uleb(t);
}

/* Is popped entry e the result of an i32.add emitted just before (to fold into an address)? */
static bool addr_is_last_add(struct tr *t, const struct opnd *e)
{
    return e->kind == K_TEMP && t->last.end == t->len && e->slot == t->last.dst_slot &&
           t->last.kind == L_ADD32;
}

/*
 * Emits nothing but works out the address operands of a load/store into w: an affine
 * entry, or the i32.add (and an i32.shl by a constant feeding it) emitted just before.
 * Returns the variant: 0 plain (a), 1 a+b, 2 a+imm, 3 a+(b<<k), 4 (a<<k)+imm,
 * 5 a+(b<<k)+imm; *nw gets the word count.
 */
static int emit_addr(struct tr *t, struct opnd *a, uint32_t *w, int *nw)
{
    if (a->kind == K_AFF) {
        uint32_t imm = (uint32_t)a->imm;
        if (a->idx == NOSLOT) {
            w[0] = soff(a->slot), w[1] = imm;
            *nw = 2;
            return 2;
        }
        if (a->slot == NOSLOT) {
            w[0] = soff(a->idx), w[1] = a->k, w[2] = imm;
            *nw = 3;
            return 4;
        }
        if (imm == 0) {
            w[0] = soff(a->slot), w[1] = soff(a->idx);
            if (a->k == 0) {
                *nw = 2;
                return 1;
            }
            w[2] = a->k;
            *nw = 3;
            return 3;
        }
        w[0] = soff(a->slot), w[1] = soff(a->idx), w[2] = a->k, w[3] = imm;
        *nw = 4;
        return 5;
    }
    if (addr_is_last_add(t, a)) {
        struct last_op l = t->last, p = t->prev;
        bool shl = p.kind == L_SHL32 && p.end == l.pos && p.dst_slot >= t->T;
        if (shl && l.b_imm && l.a == p.dst_slot) {
            rewind_to(t, p.pos);
            label(t);
            w[0] = soff(p.a), w[1] = (uint32_t)p.b & 31, w[2] = (uint32_t)l.b;
            *nw = 3;
            return 4;
        }
        if (shl && !l.b_imm && ((uint32_t)l.b == p.dst_slot) != (l.a == p.dst_slot)) {
            uint32_t other = l.a == p.dst_slot ? (uint32_t)l.b : l.a;
            rewind_to(t, p.pos);
            label(t);
            w[0] = soff(other), w[1] = soff(p.a), w[2] = (uint32_t)p.b & 31;
            *nw = 3;
            return 3;
        }
        rewind_to(t, l.pos);
        label(t);
        w[0] = soff(l.a);
        w[1] = l.b_imm ? (uint32_t)l.b : soff((uint32_t)l.b);
        *nw = 2;
        return l.b_imm ? 2 : 1;
    }
    w[0] = soff(src_slot(t, a));
    *nw = 1;
    return 0;
}

static void load_op(struct tr *t, enum wasm_op op, uint8_t rtype)
{
    uint32_t off, w[4];
    int nw;
    memarg(t, &off);
    if (t->unreach)
        return;
    struct opnd a = pop(t);
    int v = emit_addr(t, &a, w, &nw);
    begin_result(t, (enum wasm_op)(op + v), L_OTHER);
    for (int i = 0; i < nw; i++)
        emit_w(t, w[i]);
    emit_w(t, off);
    end_result(t, rtype);
}

static void store_op(struct tr *t, enum wasm_op op)
{
    uint32_t off, w[4];
    int nw;
    memarg(t, &off);
    if (t->unreach)
        return;
    struct opnd val = pop(t), a = pop(t);
    /* A value with code of its own comes after the address add, which then is not last. */
    if (val.kind == K_AFF)
        src_slot(t, &val);
    bool acc = val.type != WASM_V128 && acc_ready(t, &val);
    uint32_t len0 = t->len;
    int v = emit_addr(t, &a, w, &nw);
    uint32_t vs = val.kind == K_CONST ? 0 : soff(val.slot);
    bool imm = val.kind == K_CONST;
    if (acc && t->len == len0) {
        /* The value is the result of the instruction just emitted: in the accumulator. */
        enum wasm_op a_op = op == WASM_OP_store8    ? WASM_OP_store8_a
                            : op == WASM_OP_store16 ? WASM_OP_store16_a
                            : op == WASM_OP_store32 ? WASM_OP_store32_a
                                                    : WASM_OP_store64_a;
        acc_take(t, &t->last);
        emit_op(t, (enum wasm_op)(a_op + v));
    } else {
        /* Variants: 2 * address form + (immediate value). */
        emit_op(t, (enum wasm_op)(op + 2 * v + (imm ? 1 : 0)));
    }
    for (int i = 0; i < nw; i++)
        emit_w(t, w[i]);
    if (imm) {
        emit_w(t, off);
        emit_w64(t, val.imm);
    } else {
        emit_w(t, vs);
        emit_w(t, off);
    }
}

/* Pops n operands into slots s[0..n-1] (bottom first). */
static void pop_slots(struct tr *t, uint32_t n, uint32_t *s)
{
    struct opnd e[3];
    for (uint32_t i = n; i-- > 0;)
        e[i] = pop(t);
    for (uint32_t i = 0; i < n; i++)
        s[i] = src_slot(t, &e[i]);
}

static void do_call(struct tr *t, uint32_t fi, const struct wasm_functype *ft, bool indirect,
                    uint32_t table, uint32_t typeidx)
{
    struct opnd idx = {0};
    uint32_t idx_slot = 0;
    if (indirect) {
        idx = pop(t);
        idx_slot = src_slot(t, &idx);
    }
    uint32_t n = ft->nparams;
    if (t->h < n + t->ctl[t->nctl - 1].height) {
        if (t->status == WASM_OK) {
            t->status = WASM_ERR_INVALID;
            snprintf(t->err, t->errlen, "type mismatch: missing call arguments in function %u",
                     t->func_index);
        }
        return;
    }
    for (uint32_t i = t->h - n; i < t->h; i++)
        materialize(t, i);
    /* A temp index sits just above the arguments, inside the callee's frame: the
     * call_indirect handler reads it before it sets the frame up. */
    t->h -= n;
    uint32_t base = next_home(t), pslots = 0, rslots = 0;
    for (uint32_t i = 0; i < ft->nparams; i++)
        pslots += width(ft->params[i]);
    for (uint32_t i = 0; i < ft->nresults; i++)
        rslots += width(ft->results[i]);
    uint32_t need = base + (pslots > rslots ? pslots : rslots);
    if (need > t->max_slot)
        t->max_slot = need;
    if (indirect) {
        uint32_t id = wasm_type_canon(&t->m->types[typeidx]);
        if (!id && t->status == WASM_OK) {
            t->status = WASM_ERR_NOMEM;
            snprintf(t->err, t->errlen, "out of memory");
        }
        emit_op(t, WASM_OP_call_indirect);
        emit_w(t, soff(base));
        emit_w(t, table);
        emit_w(t, id);
        emit_w(t, soff(idx_slot));
    } else if (t->m->funcs[fi].imported) {
        emit_op(t, WASM_OP_call_ext);
        emit_w(t, soff(base));
        emit_w(t, fi);
    } else {
        emit_op(t, WASM_OP_call);
        emit_w(t, soff(base));
        if (grow((void **)&t->patches, &t->patch_cap, t->npatches + 1, sizeof(struct call_patch)))
            t->patches[t->npatches++] = (struct call_patch){t->func_index, t->len, fi};
        else if (t->status == WASM_OK) {
            t->status = WASM_ERR_NOMEM;
            snprintf(t->err, t->errlen, "out of memory");
        }
        emit_w64(t, 0);
    }
    label(t);
    for (uint32_t i = 0; i < ft->nresults; i++)
        push_temp(t, ft->results[i]);
}

/* Skips the immediates of an instruction in unreachable code that has no effect. */
static void skip_0xfc(struct tr *t, uint32_t sub)
{
    switch (sub) {
    case 8:
        rd_uleb(t);
        rd_byte(t);
        break;
    case 9:
        rd_uleb(t);
        break;
    case 10:
        rd_byte(t);
        rd_byte(t);
        break;
    case 11:
        rd_byte(t);
        break;
    case 12:
    case 14:
        rd_uleb(t);
        rd_uleb(t);
        break;
    case 13:
    case 15:
    case 16:
    case 17:
        rd_uleb(t);
        break;
    default:
        break;
    }
}

static void do_0xfc(struct tr *t)
{
    uint32_t sub = (uint32_t)rd_uleb(t);
    if (t->unreach) {
        skip_0xfc(t, sub);
        return;
    }
    if (sub <= 7) {
        static const struct {
            enum wasm_op op;
            uint8_t rt;
        } sat[8] = {
            {WASM_OP_i32_trunc_sat_f32_s, WASM_I32}, {WASM_OP_i32_trunc_sat_f32_u, WASM_I32},
            {WASM_OP_i32_trunc_sat_f64_s, WASM_I32}, {WASM_OP_i32_trunc_sat_f64_u, WASM_I32},
            {WASM_OP_i64_trunc_sat_f32_s, WASM_I64}, {WASM_OP_i64_trunc_sat_f32_u, WASM_I64},
            {WASM_OP_i64_trunc_sat_f64_s, WASM_I64}, {WASM_OP_i64_trunc_sat_f64_u, WASM_I64},
        };
        unop(t, sat[sub].op, sat[sub].rt, L_OTHER);
        return;
    }
    uint32_t s[3], x, y;
    switch (sub) {
    case 8: /* memory.init seg mem */
        x = (uint32_t)rd_uleb(t);
        rd_byte(t);
        pop_slots(t, 3, s);
        emit_op(t, WASM_OP_memory_init);
        emit_w(t, soff(s[0]));
        emit_w(t, soff(s[1]));
        emit_w(t, soff(s[2]));
        emit_w(t, x);
        break;
    case 9:
        x = (uint32_t)rd_uleb(t);
        emit_op(t, WASM_OP_data_drop);
        emit_w(t, x);
        break;
    case 10:
    case 11:
        rd_byte(t);
        if (sub == 10)
            rd_byte(t);
        pop_slots(t, 3, s);
        emit_op(t, sub == 10 ? WASM_OP_memory_copy : WASM_OP_memory_fill);
        emit_w(t, soff(s[0]));
        emit_w(t, soff(s[1]));
        emit_w(t, soff(s[2]));
        break;
    case 12: /* table.init seg table */
        x = (uint32_t)rd_uleb(t);
        y = (uint32_t)rd_uleb(t);
        pop_slots(t, 3, s);
        emit_op(t, WASM_OP_table_init);
        emit_w(t, soff(s[0]));
        emit_w(t, soff(s[1]));
        emit_w(t, soff(s[2]));
        emit_w(t, y);
        emit_w(t, x);
        break;
    case 13:
        x = (uint32_t)rd_uleb(t);
        emit_op(t, WASM_OP_elem_drop);
        emit_w(t, x);
        break;
    case 14: /* table.copy dst src */
        x = (uint32_t)rd_uleb(t);
        y = (uint32_t)rd_uleb(t);
        pop_slots(t, 3, s);
        emit_op(t, WASM_OP_table_copy);
        emit_w(t, soff(s[0]));
        emit_w(t, soff(s[1]));
        emit_w(t, soff(s[2]));
        emit_w(t, x);
        emit_w(t, y);
        break;
    case 15: /* table.grow: init delta -> old */
        x = (uint32_t)rd_uleb(t);
        pop_slots(t, 2, s);
        begin_result(t, WASM_OP_table_grow, L_OTHER);
        emit_w(t, soff(s[0]));
        emit_w(t, soff(s[1]));
        emit_w(t, x);
        end_result(t, WASM_I32);
        break;
    case 16:
        x = (uint32_t)rd_uleb(t);
        begin_result(t, WASM_OP_table_size, L_OTHER);
        emit_w(t, x);
        end_result(t, WASM_I32);
        break;
    case 17:
        x = (uint32_t)rd_uleb(t);
        pop_slots(t, 3, s);
        emit_op(t, WASM_OP_table_fill);
        emit_w(t, soff(s[0]));
        emit_w(t, soff(s[1]));
        emit_w(t, soff(s[2]));
        emit_w(t, x);
        break;
    default:
        if (t->status == WASM_OK) {
            t->status = WASM_ERR_MALFORMED;
            snprintf(t->err, t->errlen, "illegal opcode 0xfc %u in function %u", sub,
                     t->func_index);
        }
    }
}

/* SIMD instructions: the `simd` op, the instruction's number, operands by layout. */
static const uint8_t simd_ops[WASM_SIMD_OPCODES] = {
#define SIMD_OP_ROW(code, name, layout, sig, arg) [code] = WASM_SIMD_OP_##name,
    WASM_SIMD_OPS(SIMD_OP_ROW)
#undef SIMD_OP_ROW
};

/* Emits the 16 immediate bytes of v128.const / i8x16.shuffle as four words. */
static void emit_bytes16(struct tr *t)
{
    for (int i = 0; i < 4; i++)
        emit_w(t, (uint32_t)rd_fixed(t, 4));
}

static void do_0xfd(struct tr *t)
{
    uint32_t sub = (uint32_t)rd_uleb(t), off = 0, lane = 0;
    if (sub >= WASM_SIMD_OPCODES || wasm_simd_info[sub].layout == WASM_SIMD_NONE)
        FAIL(t, WASM_ERR_MALFORMED, "illegal opcode 0xfd %u in function %u", sub, t->func_index);
    const struct wasm_simd_info *si = &wasm_simd_info[sub];
    uint32_t k = simd_ops[sub];
    switch (si->layout) {
    case WASM_SIMD_LOAD:
    case WASM_SIMD_STORE:
        memarg(t, &off);
        break;
    case WASM_SIMD_LOADLANE:
    case WASM_SIMD_STORELANE:
        memarg(t, &off);
        lane = rd_byte(t);
        break;
    case WASM_SIMD_EXTRACT:
    case WASM_SIMD_REPLACE:
        lane = rd_byte(t);
        break;
    case WASM_SIMD_CONST:
    case WASM_SIMD_SHUFFLE:
        if (t->unreach) {
            rd_fixed(t, 8);
            rd_fixed(t, 8);
        }
        break;
    default:
        break;
    }
    if (t->unreach)
        return;
    /* Operands, bottom first; an i32 address or scalar may be a constant. */
    uint32_t nin = (si->in[0] != 0) + (si->in[1] != 0) + (si->in[2] != 0), s[3];
    pop_slots(t, nin, s);
    switch (si->layout) {
    case WASM_SIMD_STORE:
        emit_op(t, WASM_OP_simd);
        emit_w(t, k);
        emit_w(t, soff(s[0]));
        emit_w(t, soff(s[1]));
        emit_w(t, off);
        return;
    case WASM_SIMD_STORELANE:
        emit_op(t, WASM_OP_simd);
        emit_w(t, k);
        emit_w(t, soff(s[0]));
        emit_w(t, soff(s[1]));
        emit_w(t, off);
        emit_w(t, lane);
        return;
    default:
        break;
    }
    begin_simd_result(t, k);
    for (uint32_t i = 0; i < nin; i++)
        emit_w(t, soff(s[i]));
    switch (si->layout) {
    case WASM_SIMD_LOAD:
        emit_w(t, off);
        break;
    case WASM_SIMD_LOADLANE:
        emit_w(t, off);
        emit_w(t, lane);
        break;
    case WASM_SIMD_EXTRACT:
    case WASM_SIMD_REPLACE:
        emit_w(t, lane);
        break;
    case WASM_SIMD_CONST:
    case WASM_SIMD_SHUFFLE:
        emit_bytes16(t);
        break;
    default:
        break;
    }
    end_result(t, si->out);
}

static void do_br_table(struct tr *t)
{
    uint32_t n = (uint32_t)rd_uleb(t);
    if (n > (uint32_t)(t->end - t->p)) {
        if (t->status == WASM_OK) {
            t->status = WASM_ERR_MALFORMED;
            snprintf(t->err, t->errlen, "unexpected end in br_table, function %u", t->func_index);
        }
        return;
    }
    uint32_t *depths = malloc((n + 1) * sizeof(uint32_t));
    if (!depths) {
        if (t->status == WASM_OK) {
            t->status = WASM_ERR_NOMEM;
            snprintf(t->err, t->errlen, "out of memory");
        }
        return;
    }
    for (uint32_t i = 0; i <= n; i++) {
        depths[i] = (uint32_t)rd_uleb(t);
        if (depths[i] >= t->nctl && t->status == WASM_OK) {
            t->status = WASM_ERR_INVALID;
            snprintf(t->err, t->errlen, "unknown label in br_table, function %u", t->func_index);
        }
    }
    if (t->unreach || t->status != WASM_OK) {
        free(depths);
        return;
    }
    struct opnd idx = pop(t);
    uint32_t is = src_slot(t, &idx);
    const uint8_t *types;
    uint32_t arity = label_arity(&t->ctl[t->nctl - 1 - depths[n]], &types);
    if (t->h < arity) {
        free(depths);
        if (t->status == WASM_OK) {
            t->status = WASM_ERR_INVALID;
            snprintf(t->err, t->errlen, "type mismatch in br_table, function %u", t->func_index);
        }
        return;
    }
    for (uint32_t i = t->h - arity; i < t->h; i++)
        materialize(t, i);
    bool acc = acc_ready(t, &idx);
    if (acc)
        acc_take(t, &t->last);
    uint32_t pos = emit_op(t, acc ? WASM_OP_br_table_a : WASM_OP_br_table);
    emit_w(t, soff(is));
    emit_w(t, n);
    uint32_t first = t->len;
    if (n + 1 > 64 && t->status == WASM_OK)
        reserve(t, n + 1);
    else
        for (uint32_t i = 0; i <= n; i++)
            reserve(t, 1);
    if (t->status != WASM_OK) {
        free(depths);
        return;
    }
    /* Direct entries where no values move; stubs (moves + br, or return) otherwise. */
    bool *stub = calloc(n + 1, sizeof(bool));
    if (!stub) {
        free(depths);
        if (t->status == WASM_OK) {
            t->status = WASM_ERR_NOMEM;
            snprintf(t->err, t->errlen, "out of memory");
        }
        return;
    }
    for (uint32_t i = 0; i <= n; i++) {
        struct ctrl *c = &t->ctl[t->nctl - 1 - depths[i]];
        const uint8_t *ty;
        uint32_t ar = label_arity(c, &ty);
        if (c->kind == C_FUNC || !values_in_place(t, c, ar))
            stub[i] = true;
        else
            branch_to(t, c, pos, first + i);
    }
    for (uint32_t i = 0; i <= n; i++) {
        if (!stub[i])
            continue;
        /* Share a stub among equal depths. */
        uint32_t j;
        for (j = 0; j < i; j++)
            if (stub[j] && depths[j] == depths[i])
                break;
        if (j < i) {
            t->code[first + i] = t->code[first + j];
            continue;
        }
        t->code[first + i] = t->len - pos;
        emit_br(t, depths[i]);
    }
    free(stub);
    free(depths);
    set_unreachable(t);
}

/* Translates one instruction. */
static void step(struct tr *t)
{
    uint8_t opc = rd_byte(t);
    uint32_t x, y;
    uint32_t np, nr;
    const uint8_t *params, *results;

    switch (opc) {
    case 0x00: /* unreachable */
        if (!t->unreach) {
            emit_op(t, WASM_OP_unreachable);
            set_unreachable(t);
        }
        return;
    case 0x01:
        return;
    case 0x02: /* block */
    case 0x03: /* loop */
    case 0x04: /* if */
        if (!rd_blocktype(t, &np, &params, &nr, &results)) {
            if (t->status == WASM_OK) {
                t->status = WASM_ERR_INVALID;
                snprintf(t->err, t->errlen, "unknown block type in function %u", t->func_index);
            }
            return;
        }
        if (t->unreach) {
            push_ctrl(t,
                      opc == 0x03   ? C_LOOP
                      : opc == 0x04 ? C_IF
                                    : C_BLOCK,
                      np, params, nr, results);
            return;
        }
        {
            struct opnd cond = {0};
            if (opc == 0x04)
                cond = pop(t);
            if (t->h < np + t->ctl[t->nctl - 1].height) {
                if (t->status == WASM_OK) {
                    t->status = WASM_ERR_INVALID;
                    snprintf(t->err, t->errlen, "type mismatch: block params, function %u",
                             t->func_index);
                }
                return;
            }
            block_entry(t, np);
            uint32_t ipos = 0, opos = 0;
            if (opc == 0x04)
                emit_cond_branch(t, cond, false, &ipos, &opos);
            push_ctrl(t,
                      opc == 0x03   ? C_LOOP
                      : opc == 0x04 ? C_IF
                                    : C_BLOCK,
                      np, params, nr, results);
            if (t->status != WASM_OK)
                return;
            struct ctrl *c = &t->ctl[t->nctl - 1];
            if (opc == 0x03) {
                label(t);
                c->loop_pos = t->len;
                t->joined = true;
            }
            if (opc == 0x04)
                add_fix(t, &t->ctl[t->nctl - 1].else_fix, ipos, opos);
        }
        return;
    case 0x05:
        do_else(t);
        return;
    case 0x0b:
        do_end(t);
        return;
    case 0x0c: /* br */
        x = (uint32_t)rd_uleb(t);
        if (t->unreach)
            return;
        if (x >= t->nctl) {
            FAIL(t, WASM_ERR_INVALID, "unknown label %u in function %u", x, t->func_index);
        }
        emit_br(t, x);
        set_unreachable(t);
        return;
    case 0x0d: { /* br_if */
        x = (uint32_t)rd_uleb(t);
        if (t->unreach)
            return;
        if (x >= t->nctl) {
            FAIL(t, WASM_ERR_INVALID, "unknown label %u in function %u", x, t->func_index);
        }
        struct opnd cond = pop(t);
        struct ctrl *c = &t->ctl[t->nctl - 1 - x];
        const uint8_t *ty;
        uint32_t n = label_arity(c, &ty);
        if (t->h < n) {
            FAIL(t, WASM_ERR_INVALID, "type mismatch in br_if, function %u", t->func_index);
        }
        uint32_t ipos, opos;
        if (c->kind != C_FUNC && values_in_place(t, c, n)) {
            emit_cond_branch(t, cond, true, &ipos, &opos);
            branch_to(t, c, ipos, opos);
        } else {
            emit_cond_branch(t, cond, false, &ipos, &opos);
            emit_br(t, x);
            if (t->status == WASM_OK)
                t->code[opos] = t->len - ipos;
            t->joined = true;
            label(t);
        }
        return;
    }
    case 0x0e:
        do_br_table(t);
        return;
    case 0x0f:
        if (t->unreach)
            return;
        emit_return(t);
        set_unreachable(t);
        return;
    case 0x10: /* call */
        x = (uint32_t)rd_uleb(t);
        if (t->unreach)
            return;
        if (x >= t->m->nfuncs || t->m->funcs[x].type_index >= t->m->ntypes) {
            FAIL(t, WASM_ERR_INVALID, "unknown function %u in function %u", x, t->func_index);
        }
        do_call(t, x, &t->m->types[t->m->funcs[x].type_index], false, 0, 0);
        return;
    case 0x11: /* call_indirect type table */
        y = (uint32_t)rd_uleb(t);
        x = (uint32_t)rd_uleb(t);
        if (t->unreach)
            return;
        if (y >= t->m->ntypes || x >= t->m->ntables) {
            FAIL(t, WASM_ERR_INVALID, "unknown type or table in call_indirect, function %u",
                 t->func_index);
        }
        do_call(t, 0, &t->m->types[y], true, x, y);
        return;
    case 0x1a: /* drop */
        if (!t->unreach)
            pop(t);
        return;
    case 0x1c: /* select t* */
        x = (uint32_t)rd_uleb(t);
        for (uint32_t i = 0; i < x && t->p < t->end; i++)
            rd_byte(t);
        /* fallthrough */
    case 0x1b: { /* select */
        if (t->unreach)
            return;
        struct opnd c = pop(t), b = pop(t), a = pop(t);
        bool vec = a.type == WASM_V128;
        bool fuse = !vec && c.kind == K_TEMP && t->last.end == t->len &&
                    c.slot == t->last.dst_slot && t->last.kind == L_CMP32;
        struct last_op l = t->last;
        if (fuse) {
            rewind_to(t, l.pos);
            label(t);
        }
        uint32_t as = src_slot(t, &a), bs = src_slot(t, &b);
        uint8_t type = a.type;
        if (fuse) {
            begin_result(t, (enum wasm_op)(WASM_OP_sel_i32_eq_ss + 2 * l.cmp + (l.b_imm ? 1 : 0)),
                         L_OTHER);
            emit_w(t, soff(as));
            emit_w(t, soff(bs));
            emit_w(t, soff(l.a));
            emit_w(t, l.b_imm ? (uint32_t)l.b : soff((uint32_t)l.b));
        } else {
            uint32_t cs = src_slot(t, &c);
            bool acc = !vec && acc_ready(t, &c);
            if (acc)
                acc_take(t, &t->last);
            if (vec)
                begin_simd_result(t, WASM_SIMD_OP_vselect);
            else
                begin_result(t, acc ? WASM_OP_select_a : WASM_OP_select, L_OTHER);
            emit_w(t, soff(as));
            emit_w(t, soff(bs));
            emit_w(t, soff(cs));
        }
        end_result(t, type);
        return;
    }
    case 0x20: /* local.get */
        x = (uint32_t)rd_uleb(t);
        if (t->unreach)
            return;
        if (x >= t->nlocals_total) {
            FAIL(t, WASM_ERR_INVALID, "unknown local %u in function %u", x, t->func_index);
        }
        push(t, K_LOCAL, t->ltypes[x], t->lslot[x], 0);
        return;
    case 0x21:
    case 0x22:
        x = (uint32_t)rd_uleb(t);
        if (t->unreach)
            return;
        local_write(t, x, opc == 0x22);
        return;
    case 0x23: /* global.get */
        x = (uint32_t)rd_uleb(t);
        if (t->unreach)
            return;
        if (x >= t->m->nglobals) {
            FAIL(t, WASM_ERR_INVALID, "unknown global %u in function %u", x, t->func_index);
        }
        if (t->m->globals[x].valtype == WASM_V128)
            begin_simd_result(t, WASM_SIMD_OP_vgget);
        else
            begin_result(t, WASM_OP_gget, L_OTHER);
        emit_w(t, x);
        end_result(t, t->m->globals[x].valtype);
        return;
    case 0x24: { /* global.set */
        x = (uint32_t)rd_uleb(t);
        if (t->unreach)
            return;
        if (x >= t->m->nglobals) {
            FAIL(t, WASM_ERR_INVALID, "unknown global %u in function %u", x, t->func_index);
        }
        struct opnd v = pop(t);
        if (v.kind == K_AFF)
            src_slot(t, &v);
        if (v.kind == K_CONST) {
            emit_op(t, WASM_OP_gset_i);
            emit_w(t, x);
            emit_w64(t, v.imm);
        } else {
            emit_op(t, v.type == WASM_V128 ? WASM_OP_simd : WASM_OP_gset);
            if (v.type == WASM_V128)
                emit_w(t, WASM_SIMD_OP_vgset);
            emit_w(t, x);
            emit_w(t, soff(v.slot));
        }
        return;
    }
    case 0x25: { /* table.get */
        x = (uint32_t)rd_uleb(t);
        if (t->unreach)
            return;
        if (x >= t->m->ntables) {
            FAIL(t, WASM_ERR_INVALID, "unknown table %u in function %u", x, t->func_index);
        }
        struct opnd a = pop(t);
        uint32_t as = src_slot(t, &a);
        begin_result(t, WASM_OP_table_get, L_OTHER);
        emit_w(t, soff(as));
        emit_w(t, x);
        end_result(t, t->m->tables[x].elemtype);
        return;
    }
    case 0x26: { /* table.set */
        x = (uint32_t)rd_uleb(t);
        if (t->unreach)
            return;
        uint32_t s[2];
        pop_slots(t, 2, s);
        emit_op(t, WASM_OP_table_set);
        emit_w(t, soff(s[0]));
        emit_w(t, soff(s[1]));
        emit_w(t, x);
        return;
    }
    case 0x28:
        load_op(t, WASM_OP_load32, WASM_I32);
        return;
    case 0x29:
        load_op(t, WASM_OP_load64, WASM_I64);
        return;
    case 0x2a:
        load_op(t, WASM_OP_load32, WASM_F32);
        return;
    case 0x2b:
        load_op(t, WASM_OP_load64, WASM_F64);
        return;
    case 0x2c:
        load_op(t, WASM_OP_load8_s32, WASM_I32);
        return;
    case 0x2d:
        load_op(t, WASM_OP_load8_u, WASM_I32);
        return;
    case 0x2e:
        load_op(t, WASM_OP_load16_s32, WASM_I32);
        return;
    case 0x2f:
        load_op(t, WASM_OP_load16_u, WASM_I32);
        return;
    case 0x30:
        load_op(t, WASM_OP_load8_s64, WASM_I64);
        return;
    case 0x31:
        load_op(t, WASM_OP_load8_u, WASM_I64);
        return;
    case 0x32:
        load_op(t, WASM_OP_load16_s64, WASM_I64);
        return;
    case 0x33:
        load_op(t, WASM_OP_load16_u, WASM_I64);
        return;
    case 0x34:
        load_op(t, WASM_OP_load32_s64, WASM_I64);
        return;
    case 0x35:
        load_op(t, WASM_OP_load32, WASM_I64);
        return;
    case 0x36:
        store_op(t, WASM_OP_store32);
        return;
    case 0x37:
        store_op(t, WASM_OP_store64);
        return;
    case 0x38:
        store_op(t, WASM_OP_store32);
        return;
    case 0x39:
        store_op(t, WASM_OP_store64);
        return;
    case 0x3a:
        store_op(t, WASM_OP_store8);
        return;
    case 0x3b:
        store_op(t, WASM_OP_store16);
        return;
    case 0x3c:
        store_op(t, WASM_OP_store8);
        return;
    case 0x3d:
        store_op(t, WASM_OP_store16);
        return;
    case 0x3e:
        store_op(t, WASM_OP_store32);
        return;
    case 0x3f: /* memory.size */
        rd_byte(t);
        if (t->unreach)
            return;
        begin_result(t, WASM_OP_memory_size, L_OTHER);
        end_result(t, WASM_I32);
        return;
    case 0x40: /* memory.grow */
        rd_byte(t);
        if (t->unreach)
            return;
        unop(t, WASM_OP_memory_grow, WASM_I32, L_OTHER);
        return;
    case 0x41: {
        int64_t v = rd_sleb(t);
        if (!t->unreach)
            push(t, K_CONST, WASM_I32, 0, (uint32_t)v);
        return;
    }
    case 0x42: {
        int64_t v = rd_sleb(t);
        if (!t->unreach)
            push(t, K_CONST, WASM_I64, 0, (uint64_t)v);
        return;
    }
    case 0x43: {
        uint64_t v = rd_fixed(t, 4);
        if (!t->unreach)
            push(t, K_CONST, WASM_F32, 0, v);
        return;
    }
    case 0x44: {
        uint64_t v = rd_fixed(t, 8);
        if (!t->unreach)
            push(t, K_CONST, WASM_F64, 0, v);
        return;
    }
    case 0xd0: { /* ref.null t */
        uint8_t rt = rd_byte(t);
        if (!t->unreach)
            push(t, K_CONST, rt, 0, 0);
        return;
    }
    case 0xd1:
        if (!t->unreach)
            unop(t, WASM_OP_ref_is_null, WASM_I32, L_OTHER);
        return;
    case 0xd2: /* ref.func */
        x = (uint32_t)rd_uleb(t);
        if (t->unreach)
            return;
        if (x >= t->m->nfuncs) {
            FAIL(t, WASM_ERR_INVALID, "unknown function %u in function %u", x, t->func_index);
        }
        begin_result(t, WASM_OP_ref_func, L_OTHER);
        emit_w(t, x);
        end_result(t, WASM_FUNCREF);
        return;
    case 0xfc:
        do_0xfc(t);
        return;
    case 0xfd:
        do_0xfd(t);
        return;
    default:
        break;
    }

    if (t->unreach)
        return;
    /* Numeric instructions (no immediates). */
    if (opc == 0x45) {
        unop(t, WASM_OP_i32_eqz, WASM_I32, L_EQZ32);
    } else if (opc >= 0x46 && opc <= 0x4f) {
        binop_int(t, false, opc - 0x46, true);
    } else if (opc == 0x50) {
        unop(t, WASM_OP_i64_eqz, WASM_I32, L_EQZ64);
    } else if (opc >= 0x51 && opc <= 0x5a) {
        binop_int(t, true, opc - 0x51, true);
    } else if (opc >= 0x5b && opc <= 0x60) {
        binop_slots(t, (enum wasm_op)(WASM_OP_f32_eq + (opc - 0x5b)), WASM_I32);
    } else if (opc >= 0x61 && opc <= 0x66) {
        binop_slots(t, (enum wasm_op)(WASM_OP_f64_eq + (opc - 0x61)), WASM_I32);
    } else if (opc >= 0x67 && opc <= 0x69) {
        unop(t, (enum wasm_op)(WASM_OP_i32_clz + (opc - 0x67)), WASM_I32, L_OTHER);
    } else if (opc >= 0x6a && opc <= 0x78) {
        binop_int(t, false, opc - 0x6a, false);
    } else if (opc >= 0x79 && opc <= 0x7b) {
        unop(t, (enum wasm_op)(WASM_OP_i64_clz + (opc - 0x79)), WASM_I64, L_OTHER);
    } else if (opc >= 0x7c && opc <= 0x8a) {
        binop_int(t, true, opc - 0x7c, false);
    } else if (opc >= 0x8b && opc <= 0x91) {
        unop(t, (enum wasm_op)(WASM_OP_f32_abs + (opc - 0x8b)), WASM_F32, L_OTHER);
    } else if (opc >= 0x92 && opc <= 0x98) {
        binop_slots(t, (enum wasm_op)(WASM_OP_f32_add + (opc - 0x92)), WASM_F32);
    } else if (opc >= 0x99 && opc <= 0x9f) {
        unop(t, (enum wasm_op)(WASM_OP_f64_abs + (opc - 0x99)), WASM_F64, L_OTHER);
    } else if (opc >= 0xa0 && opc <= 0xa6) {
        binop_slots(t, (enum wasm_op)(WASM_OP_f64_add + (opc - 0xa0)), WASM_F64);
    } else if (opc >= 0xbc && opc <= 0xbf) {
        /* Reinterpretations: same bits in a 64-bit slot, only the type changes. */
        static const uint8_t rt[4] = {WASM_I32, WASM_I64, WASM_F32, WASM_F64};
        struct opnd v = pop(t);
        if (v.kind == K_AFF)
            src_slot(t, &v);
        v.type = rt[opc - 0xbc];
        push(t, v.kind, v.type, v.slot, v.imm);
    } else if (opc >= 0xa7 && opc <= 0xc4) {
        static const struct {
            enum wasm_op op;
            uint8_t rt;
        } cv[0xc5 - 0xa7] = {
            [0xa7 - 0xa7] = {WASM_OP_i32_wrap_i64, WASM_I32},
            [0xa8 - 0xa7] = {WASM_OP_i32_trunc_f32_s, WASM_I32},
            [0xa9 - 0xa7] = {WASM_OP_i32_trunc_f32_u, WASM_I32},
            [0xaa - 0xa7] = {WASM_OP_i32_trunc_f64_s, WASM_I32},
            [0xab - 0xa7] = {WASM_OP_i32_trunc_f64_u, WASM_I32},
            [0xac - 0xa7] = {WASM_OP_i64_extend32_s, WASM_I64},
            [0xad - 0xa7] = {WASM_OP_i64_extend_i32_u, WASM_I64},
            [0xae - 0xa7] = {WASM_OP_i64_trunc_f32_s, WASM_I64},
            [0xaf - 0xa7] = {WASM_OP_i64_trunc_f32_u, WASM_I64},
            [0xb0 - 0xa7] = {WASM_OP_i64_trunc_f64_s, WASM_I64},
            [0xb1 - 0xa7] = {WASM_OP_i64_trunc_f64_u, WASM_I64},
            [0xb2 - 0xa7] = {WASM_OP_f32_convert_i32_s, WASM_F32},
            [0xb3 - 0xa7] = {WASM_OP_f32_convert_i32_u, WASM_F32},
            [0xb4 - 0xa7] = {WASM_OP_f32_convert_i64_s, WASM_F32},
            [0xb5 - 0xa7] = {WASM_OP_f32_convert_i64_u, WASM_F32},
            [0xb6 - 0xa7] = {WASM_OP_f32_demote_f64, WASM_F32},
            [0xb7 - 0xa7] = {WASM_OP_f64_convert_i32_s, WASM_F64},
            [0xb8 - 0xa7] = {WASM_OP_f64_convert_i32_u, WASM_F64},
            [0xb9 - 0xa7] = {WASM_OP_f64_convert_i64_s, WASM_F64},
            [0xba - 0xa7] = {WASM_OP_f64_convert_i64_u, WASM_F64},
            [0xbb - 0xa7] = {WASM_OP_f64_promote_f32, WASM_F64},
            [0xc0 - 0xa7] = {WASM_OP_i32_extend8_s, WASM_I32},
            [0xc1 - 0xa7] = {WASM_OP_i32_extend16_s, WASM_I32},
            [0xc2 - 0xa7] = {WASM_OP_i64_extend8_s, WASM_I64},
            [0xc3 - 0xa7] = {WASM_OP_i64_extend16_s, WASM_I64},
            [0xc4 - 0xa7] = {WASM_OP_i64_extend32_s, WASM_I64},
        };
        unop(t, cv[opc - 0xa7].op, cv[opc - 0xa7].rt, L_OTHER);
    } else {
        FAIL(t, WASM_ERR_MALFORMED, "illegal opcode 0x%02x in function %u", opc, t->func_index);
    }
}

static int translate_func(struct tr *t, uint32_t fi)
{
    struct wasm_module *m = t->m;
    struct wasm_func_decl *d = &m->funcs[fi];
    if (d->type_index >= m->ntypes) {
        snprintf(t->err, t->errlen, "unknown type of function %u", fi);
        return WASM_ERR_INVALID;
    }
    const struct wasm_functype *ft = &m->types[d->type_index];
    t->func_index = fi;
    t->len = 0;
    t->h = 0;
    t->nctl = 0;
    t->nfix = 0;
    t->nmap = 0;
    t->unreach = false;
    t->status = WASM_OK;
    memset(&t->last, 0, sizeof(t->last));
    t->last.end = UINT32_MAX;
    t->copy_end = UINT32_MAX;
    t->add_end = t->add2_y = UINT32_MAX;
    for (uint32_t i = 0; i < NACC_PAIRS; i++)
        t->accp[i].cons_pos = UINT32_MAX;
    uint64_t total = (uint64_t)ft->nparams + d->nlocals;
    if (total > (1u << 24)) {
        snprintf(t->err, t->errlen, "too many locals in function %u", fi);
        return WASM_ERR_INVALID;
    }
    t->nlocals_total = (uint32_t)total;
    t->nparams = ft->nparams;
    t->joined = false;
    if (!grow((void **)&t->written, &t->written_cap, t->nlocals_total + 1, 1)) {
        snprintf(t->err, t->errlen, "out of memory");
        return WASM_ERR_NOMEM;
    }
    memset(t->written, 0, t->nlocals_total + 1);
    if (!grow((void **)&t->ltypes, &t->ltypes_cap, t->nlocals_total + 1, 1)) {
        snprintf(t->err, t->errlen, "out of memory");
        return WASM_ERR_NOMEM;
    }
    if (ft->nparams)
        memcpy(t->ltypes, ft->params, ft->nparams);
    if (d->nlocals)
        memcpy(t->ltypes + ft->nparams, d->local_types, d->nlocals);
    if (!grow((void **)&t->lslot, &t->lslot_cap, t->nlocals_total + 1, sizeof(uint32_t))) {
        snprintf(t->err, t->errlen, "out of memory");
        return WASM_ERR_NOMEM;
    }
    uint32_t nslots = 0, param_slots = 0;
    for (uint32_t i = 0; i < t->nlocals_total; i++) {
        if (i == ft->nparams)
            param_slots = nslots;
        t->lslot[i] = nslots;
        nslots += width(t->ltypes[i]);
    }
    if (ft->nparams == t->nlocals_total)
        param_slots = nslots;
    uint32_t result_slots = 0;
    for (uint32_t i = 0; i < ft->nresults; i++)
        result_slots += width(ft->results[i]);
    t->T = nslots;
    t->max_slot = t->T;
    t->p = d->body;
    t->end = d->body_end;

    push_ctrl(t, C_FUNC, 0, NULL, ft->nresults, ft->results);
    while (t->nctl > 0 && t->status == WASM_OK) {
        if (t->p >= t->end) {
            snprintf(t->err, t->errlen, "function %u: body ends without end", fi);
            return WASM_ERR_MALFORMED;
        }
        uint32_t len0 = t->len, off = (uint32_t)(t->p - d->body);
        t->low = len0;
        step(t);
        if (t->len > t->low && t->status == WASM_OK) {
            if (!grow((void **)&t->map, &t->map_cap, 2 * t->nmap + 2, sizeof(uint32_t))) {
                snprintf(t->err, t->errlen, "out of memory");
                return WASM_ERR_NOMEM;
            }
            t->map[2 * t->nmap] = t->low;
            t->map[2 * t->nmap + 1] = off;
            t->nmap++;
        }
        if (t->len > (1u << 28) && t->status == WASM_OK) {
            snprintf(t->err, t->errlen, "function %u too large", fi);
            return WASM_ERR_NOMEM;
        }
    }
    if (t->status != WASM_OK)
        return t->status;
    if (t->p != t->end) {
        snprintf(t->err, t->errlen, "function %u: operators after the final end", fi);
        return WASM_ERR_MALFORMED;
    }
    uint64_t frame = (uint64_t)t->max_slot + 1;
    /* Calls zero the declared locals four slots at a time (interp.c, ZERO_LOCALS). */
    uint64_t zeroed = param_slots + (((uint64_t)t->T - param_slots + 3) & ~(uint64_t)3);
    if (frame < zeroed)
        frame = zeroed;
    if (frame > (1u << 26)) {
        snprintf(t->err, t->errlen, "function %u: frame too large", fi);
        return WASM_ERR_INVALID;
    }
    /* Drop map entries that fusions rewound past, keep the rest sorted by position. */
    uint32_t nmap = 0;
    for (uint32_t i = 0; i < t->nmap; i++) {
        if (t->map[2 * i] >= t->len)
            continue;
        while (nmap > 0 && t->map[2 * (nmap - 1)] >= t->map[2 * i])
            nmap--;
        t->map[2 * nmap] = t->map[2 * i];
        t->map[2 * nmap + 1] = t->map[2 * i + 1];
        nmap++;
    }
    struct wasm_code *c =
        malloc(sizeof(*c) + ((size_t)t->len + 2 * (size_t)nmap) * sizeof(wasm_code_word));
    if (!c) {
        snprintf(t->err, t->errlen, "out of memory");
        return WASM_ERR_NOMEM;
    }
    c->func_index = fi;
    c->nparams = param_slots;
    c->nlocals = t->T - param_slots;
    c->nresults = result_slots;
    c->frame_slots = (uint32_t)frame;
    c->len = t->len;
    memcpy(c->ins, t->code, (size_t)t->len * sizeof(wasm_code_word));
    c->nmap = nmap;
    c->body_offset = d->body_offset;
    memcpy(c->ins + t->len, t->map, (size_t)nmap * 2 * sizeof(uint32_t));
    d->code = c;
    d->frame_slots = c->frame_slots;
    return WASM_OK;
}

static pthread_once_t interp_once = PTHREAD_ONCE_INIT;

int wasm_translate(struct wasm_module *m, char *err, size_t errlen)
{
    pthread_once(&interp_once, wasm_interp_init);
    struct tr t;
    memset(&t, 0, sizeof(t));
    t.m = m;
    t.err = err;
    t.errlen = errlen;
    int rc = WASM_OK;
    for (uint32_t i = 0; i < m->nfuncs; i++) {
        if (m->funcs[i].imported || m->funcs[i].code)
            continue;
        rc = translate_func(&t, i);
        if (rc != WASM_OK)
            goto out;
    }
    /* Calls carry the callee's code pointer. */
    for (uint32_t i = 0; i < t.npatches; i++) {
        struct wasm_code *c = m->funcs[t.patches[i].caller].code;
        const void *callee = m->funcs[t.patches[i].callee].code;
        memcpy(&c->ins[t.patches[i].pos], &callee, sizeof(callee));
    }
out:
    free(t.code);
    free(t.stk);
    free(t.ctl);
    free(t.fix);
    free(t.ltypes);
    free(t.lslot);
    free(t.written);
    free(t.map);
    free(t.patches);
    if (rc != WASM_OK)
        wasm_translate_release(m);
    return rc;
}

void wasm_translate_release(struct wasm_module *m)
{
    for (uint32_t i = 0; i < m->nfuncs; i++) {
        if (!m->funcs[i].imported) {
            free(m->funcs[i].code);
            m->funcs[i].code = NULL;
        }
    }
}
