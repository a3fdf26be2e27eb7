/*
 * validate.c - type-checks a decoded module, as the WebAssembly spec's validation rules say.
 *
 * Module-level rules (index spaces, limits, constant expressions, exports, start, segments)
 * are checked first, then every function body is walked once with the operand/control
 * stack algorithm of the spec's appendix ("Validation Algorithm"). Features: MVP,
 * sign-extension, non-trapping float-to-int, bulk memory, multi-value, reference types,
 * mutable globals, fixed-width SIMD (simd.h). The walk also rejects encoding errors inside bodies
 * (unknown opcodes, bad LEB128 immediates, non-zero reserved bytes): the decoder rejects them
 * first, but the validator does not rely on it and is safe on any decoded module. Linear in the
 * size of the module; the stacks are growable arrays reused across bodies, no allocation per
 * instruction.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leb128.h"
#include "module.h"
#include "simd.h"

/* The spec's "Unknown" operand type: produced by popping an unreachable stack. */
#define TYPE_UNKNOWN 0

/* Block kinds on the control stack (the opcode that opened the frame). */
enum frame_kind {
    FRAME_FUNC = 0x00,
    FRAME_BLOCK = 0x02,
    FRAME_LOOP = 0x03,
    FRAME_IF = 0x04,
    FRAME_ELSE = 0x05,
};

struct ctrl_frame {
    const uint8_t *params;  /* start types */
    const uint8_t *results; /* end types */
    uint32_t nparams;
    uint32_t nresults;
    uint32_t height; /* operand stack height at entry (after the params were popped) */
    uint8_t kind;
    bool unreachable;
};

struct validator {
    const struct wasm_module *m;
    char *err;
    size_t errlen;

    uint8_t *declared; /* C.refs: functions ref.func may name, one byte each */

    /* The function being checked. */
    uint32_t func_index;
    const struct wasm_functype *type;
    const uint8_t *local_types;
    uint32_t nlocals_declared;
    const uint8_t *insn; /* first byte of the instruction being checked */
    const uint8_t *p;    /* read position */
    const uint8_t *end;  /* one past the body */

    uint8_t *vals; /* operand stack of value types */
    uint32_t nvals, vals_cap;
    struct ctrl_frame *ctrls;
    uint32_t nctrls, ctrls_cap;
};

/* One-element result types for block types written as a single value type. */
static const uint8_t single_types[] = {WASM_I32,  WASM_I64,     WASM_F32,      WASM_F64,
                                       WASM_V128, WASM_FUNCREF, WASM_EXTERNREF};

static const uint8_t i32x3[] = {WASM_I32, WASM_I32, WASM_I32};

static const char *type_name(uint8_t t)
{
    return t == TYPE_UNKNOWN ? "unknown" : wasm_valtype_name(t);
}

static bool is_valtype(uint8_t t)
{
    return t == WASM_I32 || t == WASM_I64 || t == WASM_F32 || t == WASM_F64 || t == WASM_V128 ||
           t == WASM_FUNCREF || t == WASM_EXTERNREF;
}

static bool is_reftype(uint8_t t)
{
    return t == WASM_FUNCREF || t == WASM_EXTERNREF;
}

/* The operand types of an untyped `select`: numbers and vectors (not references). */
static bool is_numtype_or_vector(uint8_t t)
{
    return t == WASM_I32 || t == WASM_I64 || t == WASM_F32 || t == WASM_F64 || t == WASM_V128;
}

static const uint8_t *single_type(uint8_t t)
{
    for (size_t i = 0; i < sizeof(single_types); i++)
        if (single_types[i] == t)
            return &single_types[i];
    return NULL;
}

/* Writes "<fmt...>" into the caller's buffer and returns status. */
static __attribute__((cold, format(printf, 3, 4))) int module_error(struct validator *v, int status,
                                                                    const char *fmt, ...)
{
    va_list ap;

    if (v->errlen == 0)
        return status;
    va_start(ap, fmt);
    vsnprintf(v->err, v->errlen, fmt, ap);
    va_end(ap);
    return status;
}

/* Writes "function N at offset 0xOFF: <fmt...>" for the current instruction. */
static __attribute__((cold, format(printf, 3, 4))) int body_error(struct validator *v, int status,
                                                                  const char *fmt, ...)
{
    va_list ap;
    int n;

    if (v->errlen == 0)
        return status;
    n = snprintf(v->err, v->errlen, "function %u at offset 0x%zx: ", v->func_index,
                 (size_t)(v->insn - v->m->bytes));
    if (n < 0 || (size_t)n >= v->errlen)
        return status;
    va_start(ap, fmt);
    vsnprintf(v->err + n, v->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return status;
}

static int invalid(struct validator *v, const char *what)
{
    return body_error(v, WASM_ERR_INVALID, "%s", what);
}

static int malformed(struct validator *v, const char *what)
{
    return body_error(v, WASM_ERR_MALFORMED, "%s", what);
}

/* ---- Immediates ------------------------------------------------------------------- */

static __attribute__((cold)) int leb_error(struct validator *v, enum wasm_leb_status s)
{
    if (s == WASM_LEB_END)
        return malformed(v, "unexpected end of section or function");
    return malformed(v, wasm_leb_message(s));
}

static inline int read_u32(struct validator *v, uint32_t *out)
{
    enum wasm_leb_status s;

    *out = 0;
    s = wasm_leb_u32(&v->p, v->end, out);
    return s == WASM_LEB_OK ? WASM_OK : leb_error(v, s);
}

static int read_byte(struct validator *v, uint8_t *out)
{
    *out = 0;
    if (v->p >= v->end)
        return malformed(v, "unexpected end of section or function");
    *out = *v->p++;
    return WASM_OK;
}

static int skip_bytes(struct validator *v, size_t n)
{
    if ((size_t)(v->end - v->p) < n)
        return malformed(v, "unexpected end of section or function");
    v->p += n;
    return WASM_OK;
}

/* A reserved memory index byte (memory.size/grow/init/copy/fill): must be 0x00. */
static int read_zero_byte(struct validator *v)
{
    uint8_t b = 0;
    int rc = read_byte(v, &b);

    if (rc != WASM_OK)
        return rc;
    if (b != 0)
        return malformed(v, "zero byte expected");
    return WASM_OK;
}

/* ---- Operand and control stacks --------------------------------------------------- */

static int grow(void **arr, uint32_t *cap, size_t elem, uint32_t need)
{
    uint32_t ncap = *cap ? *cap : 64;
    void *n;

    while (ncap < need) {
        if (ncap > UINT32_MAX / 2)
            return WASM_ERR_NOMEM;
        ncap *= 2;
    }
    n = realloc(*arr, (size_t)ncap * elem);
    if (!n)
        return WASM_ERR_NOMEM;
    *arr = n;
    *cap = ncap;
    return WASM_OK;
}

static __attribute__((noinline, cold)) int push_grow(struct validator *v, uint8_t t)
{
    if (grow((void **)&v->vals, &v->vals_cap, 1, v->nvals + 1) != WASM_OK)
        return body_error(v, WASM_ERR_NOMEM, "out of memory");
    v->vals[v->nvals++] = t;
    return WASM_OK;
}

static inline int push(struct validator *v, uint8_t t)
{
    if (__builtin_expect(v->nvals == v->vals_cap, 0))
        return push_grow(v, t);
    v->vals[v->nvals++] = t;
    return WASM_OK;
}

static int push_n(struct validator *v, const uint8_t *types, uint32_t n)
{
    if (v->vals_cap - v->nvals < n &&
        grow((void **)&v->vals, &v->vals_cap, 1, v->nvals + n) != WASM_OK)
        return body_error(v, WASM_ERR_NOMEM, "out of memory");
    if (n)
        memcpy(v->vals + v->nvals, types, n);
    v->nvals += n;
    return WASM_OK;
}

static inline struct ctrl_frame *top_frame(struct validator *v)
{
    return &v->ctrls[v->nctrls - 1];
}

/* The failing and the unreachable cases of pop_actual(), out of the hot path. */
static __attribute__((noinline)) int pop_slow(struct validator *v, uint8_t expect, uint8_t *actual)
{
    struct ctrl_frame *f = top_frame(v);
    uint8_t t;

    *actual = TYPE_UNKNOWN;
    if (v->nvals == f->height) {
        if (f->unreachable)
            return WASM_OK;
        if (expect == TYPE_UNKNOWN)
            return invalid(v, "type mismatch: expected a value, found nothing");
        return body_error(v, WASM_ERR_INVALID, "type mismatch: expected %s, found nothing",
                          type_name(expect));
    }
    t = v->vals[--v->nvals];
    if (t != expect && t != TYPE_UNKNOWN && expect != TYPE_UNKNOWN)
        return body_error(v, WASM_ERR_INVALID, "type mismatch: expected %s, found %s",
                          type_name(expect), type_name(t));
    *actual = t;
    return WASM_OK;
}

/* Pops one operand of type expect (TYPE_UNKNOWN: any); *actual gets what was there. */
static inline int pop_actual(struct validator *v, uint8_t expect, uint8_t *actual)
{
    uint8_t t;

    if (__builtin_expect(v->nvals > top_frame(v)->height, 1)) {
        t = v->vals[v->nvals - 1];
        if (__builtin_expect(t == expect || expect == TYPE_UNKNOWN, 1)) {
            v->nvals--;
            *actual = t;
            return WASM_OK;
        }
    }
    return pop_slow(v, expect, actual);
}

static inline int pop(struct validator *v, uint8_t expect)
{
    uint8_t ignored;
    return pop_actual(v, expect, &ignored);
}

static int pop_n(struct validator *v, const uint8_t *types, uint32_t n)
{
    for (uint32_t i = n; i-- > 0;) {
        int rc = pop(v, types[i]);
        if (rc != WASM_OK)
            return rc;
    }
    return WASM_OK;
}

static int push_ctrl(struct validator *v, uint8_t kind, const uint8_t *params, uint32_t np,
                     const uint8_t *results, uint32_t nr)
{
    struct ctrl_frame *f;

    if (v->nctrls == v->ctrls_cap &&
        grow((void **)&v->ctrls, &v->ctrls_cap, sizeof(*v->ctrls), v->nctrls + 1) != WASM_OK)
        return body_error(v, WASM_ERR_NOMEM, "out of memory");
    f = &v->ctrls[v->nctrls++];
    f->kind = kind;
    f->params = params;
    f->nparams = np;
    f->results = results;
    f->nresults = nr;
    f->height = v->nvals;
    f->unreachable = false;
    return push_n(v, params, np);
}

/* Pops the innermost frame into *out after checking its results are on the stack. */
static int pop_ctrl(struct validator *v, struct ctrl_frame *out)
{
    struct ctrl_frame *f = top_frame(v);
    int rc = pop_n(v, f->results, f->nresults);

    if (rc != WASM_OK)
        return rc;
    if (v->nvals != f->height)
        return body_error(v, WASM_ERR_INVALID,
                          "type mismatch: %u value(s) left on the stack at end of block",
                          v->nvals - f->height);
    *out = *f;
    v->nctrls--;
    return WASM_OK;
}

static void set_unreachable(struct validator *v)
{
    struct ctrl_frame *f = top_frame(v);

    v->nvals = f->height;
    f->unreachable = true;
}

/* The types a branch to frame f carries: the params of a loop, else the results. */
static void label_types(const struct ctrl_frame *f, const uint8_t **types, uint32_t *n)
{
    if (f->kind == FRAME_LOOP) {
        *types = f->params;
        *n = f->nparams;
    } else {
        *types = f->results;
        *n = f->nresults;
    }
}

/*
 * Checks that the top of the stack matches types without popping them (what the spec
 * writes as push_vals(pop_vals(types)) for br_if/br_table: same effect on later checks).
 */
static int peek_n(struct validator *v, const uint8_t *types, uint32_t n)
{
    struct ctrl_frame *f = top_frame(v);

    for (uint32_t i = 0; i < n; i++) {
        uint8_t expect = types[n - 1 - i];
        uint8_t t;
        if (v->nvals - f->height <= i) {
            if (f->unreachable)
                continue;
            return body_error(v, WASM_ERR_INVALID, "type mismatch: expected %s, found nothing",
                              type_name(expect));
        }
        t = v->vals[v->nvals - 1 - i];
        if (t != expect && t != TYPE_UNKNOWN)
            return body_error(v, WASM_ERR_INVALID, "type mismatch: expected %s, found %s",
                              type_name(expect), type_name(t));
    }
    return WASM_OK;
}

/* ---- Instructions ----------------------------------------------------------------- */

/* Reads a label index and returns its frame (relative depth 0 = innermost). */
static int read_label(struct validator *v, struct ctrl_frame **out)
{
    uint32_t depth;
    int rc;

    *out = NULL;
    rc = read_u32(v, &depth);

    if (rc != WASM_OK)
        return rc;
    if (depth >= v->nctrls)
        return body_error(v, WASM_ERR_INVALID, "unknown label %u", depth);
    *out = &v->ctrls[v->nctrls - 1 - depth];
    return WASM_OK;
}

static int read_blocktype(struct validator *v, const uint8_t **params, uint32_t *np,
                          const uint8_t **results, uint32_t *nr)
{
    const uint8_t *start = v->p;
    int64_t idx;
    enum wasm_leb_status s;

    if (v->p >= v->end)
        return malformed(v, "unexpected end of section or function");
    *params = NULL;
    *np = 0;
    if (*v->p == 0x40) {
        v->p++;
        *results = NULL;
        *nr = 0;
        return WASM_OK;
    }
    if (single_type(*v->p)) {
        *results = single_type(*v->p);
        *nr = 1;
        v->p++;
        return WASM_OK;
    }
    s = wasm_leb_s33(&v->p, v->end, &idx);
    if (s != WASM_LEB_OK)
        return leb_error(v, s);
    if (idx < 0) {
        v->p = start;
        return malformed(v, "malformed value type");
    }
    if ((uint64_t)idx >= v->m->ntypes)
        return body_error(v, WASM_ERR_INVALID, "unknown type %lld", (long long)idx);
    *params = v->m->types[idx].params;
    *np = v->m->types[idx].nparams;
    *results = v->m->types[idx].results;
    *nr = v->m->types[idx].nresults;
    return WASM_OK;
}

static int read_local(struct validator *v, uint8_t *type)
{
    uint32_t idx;
    int rc;

    *type = TYPE_UNKNOWN;
    rc = read_u32(v, &idx);
    if (rc != WASM_OK)
        return rc;
    if (idx < v->type->nparams) {
        *type = v->type->params[idx];
    } else if ((uint64_t)idx - v->type->nparams < v->nlocals_declared) {
        *type = v->local_types[idx - v->type->nparams];
    } else {
        return body_error(v, WASM_ERR_INVALID, "unknown local %u", idx);
    }
    return WASM_OK;
}

/* Reads an index immediate into an index space of count entries ("unknown <what> N"). */
static int read_index(struct validator *v, uint32_t count, const char *what, uint32_t *idx)
{
    int rc = read_u32(v, idx);

    if (rc != WASM_OK)
        return rc;
    if (*idx >= count)
        return body_error(v, WASM_ERR_INVALID, "unknown %s %u", what, *idx);
    return WASM_OK;
}

static int read_global(struct validator *v, const struct wasm_global_decl **g)
{
    uint32_t idx;
    int rc = read_index(v, v->m->nglobals, "global", &idx);

    *g = rc == WASM_OK ? &v->m->globals[idx] : NULL;
    return rc;
}

static int read_table(struct validator *v, const struct wasm_table_decl **t)
{
    uint32_t idx;
    int rc = read_index(v, v->m->ntables, "table", &idx);

    *t = rc == WASM_OK ? &v->m->tables[idx] : NULL;
    return rc;
}

static int read_elem(struct validator *v, const struct wasm_elem_segment **e)
{
    uint32_t idx;
    int rc = read_index(v, v->m->nelems, "elem segment", &idx);

    *e = rc == WASM_OK ? &v->m->elems[idx] : NULL;
    return rc;
}

/* memory.init / data.drop: needs the data count section (a binary-format rule). */
static int read_data(struct validator *v)
{
    uint32_t idx;
    int rc = read_u32(v, &idx);

    if (rc != WASM_OK)
        return rc;
    if (!v->m->has_datacount) {
        /* With no data section either, the index is simply out of range. */
        if (v->m->ndatas > 0)
            return malformed(v, "data count section required");
        return body_error(v, WASM_ERR_INVALID, "unknown data segment %u", idx);
    }
    if (idx >= v->m->datacount)
        return body_error(v, WASM_ERR_INVALID, "unknown data segment %u", idx);
    return WASM_OK;
}

static int need_memory(struct validator *v)
{
    if (v->m->nmemories == 0)
        return invalid(v, "unknown memory 0");
    return WASM_OK;
}

/* Loads and stores: memarg with alignment at most natural (2^natural bytes). */
static int check_memarg(struct validator *v, unsigned natural)
{
    uint32_t align, offset;
    int rc;

    if ((rc = read_u32(v, &align)) != WASM_OK || (rc = read_u32(v, &offset)) != WASM_OK)
        return rc;
    if ((rc = need_memory(v)) != WASM_OK)
        return rc;
    if (align > natural)
        return invalid(v, "alignment must not be larger than natural");
    return WASM_OK;
}

static int check_load(struct validator *v, unsigned natural, uint8_t result)
{
    int rc = check_memarg(v, natural);

    if (rc == WASM_OK)
        rc = pop(v, WASM_I32);
    if (rc == WASM_OK)
        rc = push(v, result);
    return rc;
}

static int check_store(struct validator *v, unsigned natural, uint8_t operand)
{
    int rc = check_memarg(v, natural);

    if (rc == WASM_OK)
        rc = pop(v, operand);
    if (rc == WASM_OK)
        rc = pop(v, WASM_I32);
    return rc;
}

/* [in...] -> [out] numeric instruction; out == TYPE_UNKNOWN means no result. */
static int check_op(struct validator *v, uint8_t in1, uint8_t in2, uint8_t out)
{
    int rc = WASM_OK;

    if (in2 != TYPE_UNKNOWN)
        rc = pop(v, in2);
    if (rc == WASM_OK)
        rc = pop(v, in1);
    if (rc == WASM_OK && out != TYPE_UNKNOWN)
        rc = push(v, out);
    return rc;
}

/* Signature of the plain numeric opcodes 0x45..0xc4: operands and result. */
struct num_sig {
    uint8_t in1, in2, out;
};

/* clang-format off */
#define UN(a, r) {a, TYPE_UNKNOWN, r}
#define BIN(a, r) {a, a, r}
static const struct num_sig numeric_sigs[256] = {
    [0x45] = UN(WASM_I32, WASM_I32),
    [0x46 ... 0x4f] = BIN(WASM_I32, WASM_I32),
    [0x50] = UN(WASM_I64, WASM_I32),
    [0x51 ... 0x5a] = BIN(WASM_I64, WASM_I32),
    [0x5b ... 0x60] = BIN(WASM_F32, WASM_I32),
    [0x61 ... 0x66] = BIN(WASM_F64, WASM_I32),
    [0x67 ... 0x69] = UN(WASM_I32, WASM_I32),
    [0x6a ... 0x78] = BIN(WASM_I32, WASM_I32),
    [0x79 ... 0x7b] = UN(WASM_I64, WASM_I64),
    [0x7c ... 0x8a] = BIN(WASM_I64, WASM_I64),
    [0x8b ... 0x91] = UN(WASM_F32, WASM_F32),
    [0x92 ... 0x98] = BIN(WASM_F32, WASM_F32),
    [0x99 ... 0x9f] = UN(WASM_F64, WASM_F64),
    [0xa0 ... 0xa6] = BIN(WASM_F64, WASM_F64),
    [0xa7] = UN(WASM_I64, WASM_I32),
    [0xa8 ... 0xa9] = UN(WASM_F32, WASM_I32),
    [0xaa ... 0xab] = UN(WASM_F64, WASM_I32),
    [0xac ... 0xad] = UN(WASM_I32, WASM_I64),
    [0xae ... 0xaf] = UN(WASM_F32, WASM_I64),
    [0xb0 ... 0xb1] = UN(WASM_F64, WASM_I64),
    [0xb2 ... 0xb3] = UN(WASM_I32, WASM_F32),
    [0xb4 ... 0xb5] = UN(WASM_I64, WASM_F32),
    [0xb6] = UN(WASM_F64, WASM_F32),
    [0xb7 ... 0xb8] = UN(WASM_I32, WASM_F64),
    [0xb9 ... 0xba] = UN(WASM_I64, WASM_F64),
    [0xbb] = UN(WASM_F32, WASM_F64),
    [0xbc] = UN(WASM_F32, WASM_I32),
    [0xbd] = UN(WASM_F64, WASM_I64),
    [0xbe] = UN(WASM_I32, WASM_F32),
    [0xbf] = UN(WASM_I64, WASM_F64),
    [0xc0 ... 0xc1] = UN(WASM_I32, WASM_I32),
    [0xc2 ... 0xc4] = UN(WASM_I64, WASM_I64),
};

/* 0xfc 0..7: the saturating truncations. */
static const struct num_sig trunc_sat_sigs[8] = {
    UN(WASM_F32, WASM_I32), UN(WASM_F32, WASM_I32), UN(WASM_F64, WASM_I32),
    UN(WASM_F64, WASM_I32), UN(WASM_F32, WASM_I64), UN(WASM_F32, WASM_I64),
    UN(WASM_F64, WASM_I64), UN(WASM_F64, WASM_I64),
};
#undef UN
#undef BIN
/* clang-format on */

/* Natural alignment (log2 bytes) of loads 0x28..0x35 and stores 0x36..0x3e. */
static const uint8_t mem_natural[0x3f - 0x28] = {
    2, 3, 2, 3, 0, 0, 1, 1, 0, 0, 1, 1, 2, 2, /* loads */
    2, 3, 2, 3, 0, 1, 0, 1, 2,                /* stores */
};
static const uint8_t mem_type[0x3f - 0x28] = {
    WASM_I32, WASM_I64, WASM_F32, WASM_F64, WASM_I32, WASM_I32, WASM_I32, WASM_I32,
    WASM_I64, WASM_I64, WASM_I64, WASM_I64, WASM_I64, WASM_I64, WASM_I32, WASM_I64,
    WASM_F32, WASM_F64, WASM_I32, WASM_I32, WASM_I64, WASM_I64, WASM_I64,
};

static int check_block(struct validator *v, uint8_t kind)
{
    const uint8_t *params = NULL, *results = NULL;
    uint32_t np = 0, nr = 0;
    int rc = read_blocktype(v, &params, &np, &results, &nr);

    if (rc == WASM_OK && kind == FRAME_IF)
        rc = pop(v, WASM_I32);
    if (rc == WASM_OK)
        rc = pop_n(v, params, np);
    if (rc == WASM_OK)
        rc = push_ctrl(v, kind, params, np, results, nr);
    return rc;
}

static int check_else(struct validator *v)
{
    struct ctrl_frame f;
    int rc;

    if (top_frame(v)->kind != FRAME_IF)
        return malformed(v, "else without a matching if");
    if ((rc = pop_ctrl(v, &f)) != WASM_OK)
        return rc;
    return push_ctrl(v, FRAME_ELSE, f.params, f.nparams, f.results, f.nresults);
}

static int check_end(struct validator *v)
{
    struct ctrl_frame f;
    int rc;

    if (top_frame(v)->kind == FRAME_IF) {
        /* An if without else has an empty else branch: [params] must produce [results]. */
        if ((rc = check_else(v)) != WASM_OK)
            return rc;
    }
    if ((rc = pop_ctrl(v, &f)) != WASM_OK)
        return rc;
    if (v->nctrls == 0)
        return WASM_OK; /* the function's own end: nothing to push */
    return push_n(v, f.results, f.nresults);
}

static int check_br_table(struct validator *v)
{
    uint32_t n, arity, dflt_arity, ignored;
    const uint8_t *types, *dflt_types, *targets, *after;
    struct ctrl_frame *f;
    int rc;

    if ((rc = read_u32(v, &n)) != WASM_OK)
        return rc;
    /* The default label comes last but fixes the arity: find it first, then come back. */
    targets = v->p;
    for (uint32_t i = 0; i < n; i++)
        if ((rc = read_u32(v, &ignored)) != WASM_OK)
            return rc;
    if ((rc = read_label(v, &f)) != WASM_OK)
        return rc;
    label_types(f, &dflt_types, &dflt_arity);
    after = v->p;

    if ((rc = pop(v, WASM_I32)) != WASM_OK)
        return rc;
    v->p = targets;
    for (uint32_t i = 0; i < n; i++) {
        if ((rc = read_label(v, &f)) != WASM_OK)
            return rc;
        label_types(f, &types, &arity);
        if (arity != dflt_arity)
            return body_error(v, WASM_ERR_INVALID,
                              "type mismatch: br_table target %u has %u value(s), the "
                              "default has %u",
                              i, arity, dflt_arity);
        if ((rc = peek_n(v, types, arity)) != WASM_OK)
            return rc;
    }
    v->p = after;
    if ((rc = pop_n(v, dflt_types, dflt_arity)) != WASM_OK)
        return rc;
    set_unreachable(v);
    return WASM_OK;
}

static int check_call(struct validator *v, const struct wasm_functype *ft)
{
    int rc = pop_n(v, ft->params, ft->nparams);

    if (rc == WASM_OK)
        rc = push_n(v, ft->results, ft->nresults);
    return rc;
}

static int check_call_indirect(struct validator *v)
{
    uint32_t typeidx;
    const struct wasm_table_decl *t;
    int rc;

    if ((rc = read_u32(v, &typeidx)) != WASM_OK || (rc = read_table(v, &t)) != WASM_OK)
        return rc;
    if (typeidx >= v->m->ntypes)
        return body_error(v, WASM_ERR_INVALID, "unknown type %u", typeidx);
    if (t->elemtype != WASM_FUNCREF)
        return invalid(v, "type mismatch: call_indirect needs a funcref table");
    if ((rc = pop(v, WASM_I32)) != WASM_OK)
        return rc;
    return check_call(v, &v->m->types[typeidx]);
}

/* select without a type: both operands the same numeric type. */
static int check_select(struct validator *v)
{
    uint8_t t1, t2;
    int rc;

    if ((rc = pop(v, WASM_I32)) != WASM_OK || (rc = pop_actual(v, TYPE_UNKNOWN, &t1)) != WASM_OK ||
        (rc = pop_actual(v, TYPE_UNKNOWN, &t2)) != WASM_OK)
        return rc;
    if ((t1 != TYPE_UNKNOWN && !is_numtype_or_vector(t1)) ||
        (t2 != TYPE_UNKNOWN && !is_numtype_or_vector(t2)))
        return invalid(v, "type mismatch: select without a type needs numeric or vector operands");
    if (t1 != t2 && t1 != TYPE_UNKNOWN && t2 != TYPE_UNKNOWN)
        return body_error(v, WASM_ERR_INVALID, "type mismatch: select of %s and %s", type_name(t2),
                          type_name(t1));
    return push(v, t1 == TYPE_UNKNOWN ? t2 : t1);
}

static int check_select_typed(struct validator *v)
{
    uint32_t n;
    uint8_t t;
    int rc;

    if ((rc = read_u32(v, &n)) != WASM_OK)
        return rc;
    if (n != 1) {
        /* Read the types anyway so a malformed one is reported as such. */
        for (uint32_t i = 0; i < n; i++) {
            if ((rc = read_byte(v, &t)) != WASM_OK)
                return rc;
            if (!is_valtype(t))
                return malformed(v, "malformed value type");
        }
        return invalid(v, "invalid result arity");
    }
    if ((rc = read_byte(v, &t)) != WASM_OK)
        return rc;
    if (!is_valtype(t))
        return malformed(v, "malformed value type");
    if ((rc = pop(v, WASM_I32)) != WASM_OK || (rc = pop(v, t)) != WASM_OK ||
        (rc = pop(v, t)) != WASM_OK)
        return rc;
    return push(v, t);
}

static int check_ref_func(struct validator *v)
{
    uint32_t idx;
    int rc = read_index(v, v->m->nfuncs, "function", &idx);

    if (rc != WASM_OK)
        return rc;
    if (!v->declared[idx])
        return body_error(v, WASM_ERR_INVALID, "undeclared function reference %u", idx);
    return push(v, WASM_FUNCREF);
}

/* The 0xfc prefix: saturating truncations, bulk memory and table instructions. */
static int check_prefixed(struct validator *v)
{
    const struct wasm_table_decl *t, *t2;
    const struct wasm_elem_segment *e;
    const uint8_t *after;
    uint32_t sub;
    int rc;

    if ((rc = read_u32(v, &sub)) != WASM_OK)
        return rc;
    if (sub < 8) {
        const struct num_sig *s = &trunc_sat_sigs[sub];
        return check_op(v, s->in1, s->in2, s->out);
    }
    switch (sub) {
    case 8: /* memory.init: the memory is checked before the data index, as in the spec */
        if ((rc = need_memory(v)) != WASM_OK || (rc = read_data(v)) != WASM_OK ||
            (rc = read_zero_byte(v)) != WASM_OK)
            return rc;
        return pop_n(v, i32x3, 3);
    case 9: /* data.drop */
        return read_data(v);
    case 10: /* memory.copy */
        if ((rc = read_zero_byte(v)) != WASM_OK || (rc = read_zero_byte(v)) != WASM_OK ||
            (rc = need_memory(v)) != WASM_OK)
            return rc;
        return pop_n(v, i32x3, 3);
    case 11: /* memory.fill */
        if ((rc = read_zero_byte(v)) != WASM_OK || (rc = need_memory(v)) != WASM_OK)
            return rc;
        return pop_n(v, i32x3, 3);
    case 12: { /* table.init elem table: the table is checked first, as in the spec */
        const uint8_t *elem_at = v->p;
        uint32_t skipped;
        if ((rc = read_u32(v, &skipped)) != WASM_OK || (rc = read_table(v, &t)) != WASM_OK)
            return rc;
        after = v->p;
        v->p = elem_at;
        if ((rc = read_elem(v, &e)) != WASM_OK)
            return rc;
        v->p = after;
        if (e->reftype != t->elemtype)
            return body_error(v, WASM_ERR_INVALID,
                              "type mismatch: table.init of a %s segment into a %s table",
                              type_name(e->reftype), type_name(t->elemtype));
        return pop_n(v, i32x3, 3);
    }
    case 13: /* elem.drop */
        return read_elem(v, &e);
    case 14: /* table.copy dst src */
        if ((rc = read_table(v, &t)) != WASM_OK || (rc = read_table(v, &t2)) != WASM_OK)
            return rc;
        if (t->elemtype != t2->elemtype)
            return body_error(v, WASM_ERR_INVALID,
                              "type mismatch: table.copy from a %s table to a %s table",
                              type_name(t2->elemtype), type_name(t->elemtype));
        return pop_n(v, i32x3, 3);
    case 15: /* table.grow: [t i32] -> [i32] */
        if ((rc = read_table(v, &t)) != WASM_OK)
            return rc;
        return check_op(v, t->elemtype, WASM_I32, WASM_I32);
    case 16: /* table.size */
        if ((rc = read_table(v, &t)) != WASM_OK)
            return rc;
        return push(v, WASM_I32);
    case 17: /* table.fill: [i32 t i32] -> [] */
        if ((rc = read_table(v, &t)) != WASM_OK)
            return rc;
        if ((rc = pop(v, WASM_I32)) != WASM_OK)
            return rc;
        return check_op(v, WASM_I32, t->elemtype, TYPE_UNKNOWN);
    default:
        return body_error(v, WASM_ERR_MALFORMED, "illegal opcode 0xfc %u", sub);
    }
}

/* A lane index immediate: one byte below lanes ("invalid lane index" otherwise). */
static int read_lane(struct validator *v, uint32_t lanes)
{
    uint8_t lane;
    int rc = read_byte(v, &lane);

    if (rc != WASM_OK)
        return rc;
    if (lane >= lanes)
        return body_error(v, WASM_ERR_INVALID, "invalid lane index %u (at most %u)", lane,
                          lanes - 1);
    return WASM_OK;
}

/* The 0xfd prefix: fixed-width SIMD; immediates and types come from simd.h. */
static int check_simd(struct validator *v)
{
    const struct wasm_simd_info *si;
    uint32_t sub;
    int rc;

    if ((rc = read_u32(v, &sub)) != WASM_OK)
        return rc;
    if (sub >= WASM_SIMD_OPCODES || wasm_simd_info[sub].layout == WASM_SIMD_NONE)
        return body_error(v, WASM_ERR_MALFORMED, "illegal opcode 0xfd %u", sub);
    si = &wasm_simd_info[sub];
    switch (si->layout) {
    case WASM_SIMD_LOAD:
    case WASM_SIMD_STORE:
        rc = check_memarg(v, si->arg);
        break;
    case WASM_SIMD_LOADLANE:
    case WASM_SIMD_STORELANE:
        if ((rc = check_memarg(v, si->arg)) == WASM_OK)
            rc = read_lane(v, 16u >> si->arg);
        break;
    case WASM_SIMD_EXTRACT:
    case WASM_SIMD_REPLACE:
        rc = read_lane(v, si->arg);
        break;
    case WASM_SIMD_SHUFFLE:
        for (int i = 0; i < 16 && rc == WASM_OK; i++)
            rc = read_lane(v, si->arg);
        break;
    case WASM_SIMD_CONST:
        rc = skip_bytes(v, 16);
        break;
    default:
        break;
    }
    for (int i = 2; i >= 0 && rc == WASM_OK; i--)
        if (si->in[i])
            rc = pop(v, si->in[i]);
    if (rc == WASM_OK && si->out)
        rc = push(v, si->out);
    return rc;
}

/* Checks one instruction whose opcode byte has been read (v->insn points at it). */
static int check_instr(struct validator *v, uint8_t op)
{
    const struct wasm_global_decl *g;
    const struct wasm_table_decl *t;
    struct ctrl_frame *f;
    const uint8_t *types;
    uint32_t idx, n;
    uint8_t b;
    int rc;

    if (op >= 0x45 && op <= 0xc4) {
        const struct num_sig *s = &numeric_sigs[op];
        return check_op(v, s->in1, s->in2, s->out);
    }
    if (op >= 0x28 && op <= 0x35)
        return check_load(v, mem_natural[op - 0x28], mem_type[op - 0x28]);
    if (op >= 0x36 && op <= 0x3e)
        return check_store(v, mem_natural[op - 0x28], mem_type[op - 0x28]);

    switch (op) {
    case 0x00: /* unreachable */
        set_unreachable(v);
        return WASM_OK;
    case 0x01: /* nop */
        return WASM_OK;
    case 0x02: /* block */
        return check_block(v, FRAME_BLOCK);
    case 0x03: /* loop */
        return check_block(v, FRAME_LOOP);
    case 0x04: /* if */
        return check_block(v, FRAME_IF);
    case 0x05: /* else */
        return check_else(v);
    case 0x0b: /* end */
        return check_end(v);
    case 0x0c: /* br */
        if ((rc = read_label(v, &f)) != WASM_OK)
            return rc;
        label_types(f, &types, &n);
        if ((rc = pop_n(v, types, n)) != WASM_OK)
            return rc;
        set_unreachable(v);
        return WASM_OK;
    case 0x0d: /* br_if */
        if ((rc = read_label(v, &f)) != WASM_OK || (rc = pop(v, WASM_I32)) != WASM_OK)
            return rc;
        label_types(f, &types, &n);
        if ((rc = pop_n(v, types, n)) != WASM_OK)
            return rc;
        return push_n(v, types, n);
    case 0x0e:
        return check_br_table(v);
    case 0x0f: /* return */
        if ((rc = pop_n(v, v->type->results, v->type->nresults)) != WASM_OK)
            return rc;
        set_unreachable(v);
        return WASM_OK;
    case 0x10: /* call */
        if ((rc = read_index(v, v->m->nfuncs, "function", &idx)) != WASM_OK)
            return rc;
        if (v->m->funcs[idx].type_index >= v->m->ntypes)
            return body_error(v, WASM_ERR_INVALID, "unknown type %u", v->m->funcs[idx].type_index);
        return check_call(v, &v->m->types[v->m->funcs[idx].type_index]);
    case 0x11:
        return check_call_indirect(v);
    case 0x1a: /* drop */
        return pop(v, TYPE_UNKNOWN);
    case 0x1b:
        return check_select(v);
    case 0x1c:
        return check_select_typed(v);
    case 0x20: /* local.get */
        if ((rc = read_local(v, &b)) != WASM_OK)
            return rc;
        return push(v, b);
    case 0x21: /* local.set */
        if ((rc = read_local(v, &b)) != WASM_OK)
            return rc;
        return pop(v, b);
    case 0x22: /* local.tee */
        if ((rc = read_local(v, &b)) != WASM_OK || (rc = pop(v, b)) != WASM_OK)
            return rc;
        return push(v, b);
    case 0x23: /* global.get */
        if ((rc = read_global(v, &g)) != WASM_OK)
            return rc;
        return push(v, g->valtype);
    case 0x24: /* global.set */
        if ((rc = read_global(v, &g)) != WASM_OK)
            return rc;
        if (!g->mutable_)
            return invalid(v, "global is immutable");
        return pop(v, g->valtype);
    case 0x25: /* table.get */
        if ((rc = read_table(v, &t)) != WASM_OK)
            return rc;
        return check_op(v, WASM_I32, TYPE_UNKNOWN, t->elemtype);
    case 0x26: /* table.set */
        if ((rc = read_table(v, &t)) != WASM_OK)
            return rc;
        return check_op(v, WASM_I32, t->elemtype, TYPE_UNKNOWN);
    case 0x3f: /* memory.size */
        if ((rc = read_zero_byte(v)) != WASM_OK || (rc = need_memory(v)) != WASM_OK)
            return rc;
        return push(v, WASM_I32);
    case 0x40: /* memory.grow */
        if ((rc = read_zero_byte(v)) != WASM_OK || (rc = need_memory(v)) != WASM_OK)
            return rc;
        return check_op(v, WASM_I32, TYPE_UNKNOWN, WASM_I32);
    case 0x41: { /* i32.const */
        int32_t ignored;
        enum wasm_leb_status s = wasm_leb_s32(&v->p, v->end, &ignored);
        if (s != WASM_LEB_OK)
            return leb_error(v, s);
        return push(v, WASM_I32);
    }
    case 0x42: { /* i64.const */
        int64_t ignored;
        enum wasm_leb_status s = wasm_leb_s64(&v->p, v->end, &ignored);
        if (s != WASM_LEB_OK)
            return leb_error(v, s);
        return push(v, WASM_I64);
    }
    case 0x43: /* f32.const */
        if ((rc = skip_bytes(v, 4)) != WASM_OK)
            return rc;
        return push(v, WASM_F32);
    case 0x44: /* f64.const */
        if ((rc = skip_bytes(v, 8)) != WASM_OK)
            return rc;
        return push(v, WASM_F64);
    case 0xd0: /* ref.null t */
        if ((rc = read_byte(v, &b)) != WASM_OK)
            return rc;
        if (!is_reftype(b))
            return malformed(v, "malformed reference type");
        return push(v, b);
    case 0xd1: { /* ref.is_null */
        uint8_t actual;
        if ((rc = pop_actual(v, TYPE_UNKNOWN, &actual)) != WASM_OK)
            return rc;
        if (actual != TYPE_UNKNOWN && !is_reftype(actual))
            return body_error(v, WASM_ERR_INVALID, "type mismatch: expected a reference, found %s",
                              type_name(actual));
        return push(v, WASM_I32);
    }
    case 0xd2:
        return check_ref_func(v);
    case 0xfc:
        return check_prefixed(v);
    case 0xfd:
        return check_simd(v);
    default:
        return body_error(v, WASM_ERR_MALFORMED, "illegal opcode 0x%02x", op);
    }
}

static int check_body(struct validator *v, uint32_t func_index)
{
    const struct wasm_module *m = v->m;
    const struct wasm_func_decl *fn = &m->funcs[func_index];
    int rc;

    v->func_index = func_index;
    v->type = &m->types[fn->type_index];
    v->local_types = fn->local_types;
    v->nlocals_declared = fn->nlocals;
    v->p = fn->body;
    v->end = fn->body_end;
    v->insn = fn->body;
    v->nvals = 0;
    v->nctrls = 0;
    for (uint32_t i = 0; i < fn->nlocals; i++) {
        uint8_t t = fn->local_types[i];
        if (!is_valtype(t))
            return body_error(v, WASM_ERR_MALFORMED, "local %u: malformed value type",
                              v->type->nparams + i);
    }
    rc = push_ctrl(v, FRAME_FUNC, NULL, 0, v->type->results, v->type->nresults);
    while (rc == WASM_OK && v->nctrls > 0) {
        v->insn = v->p;
        if (v->p >= v->end)
            return malformed(v, "unexpected end of section or function");
        rc = check_instr(v, *v->p++);
    }
    if (rc != WASM_OK)
        return rc;
    if (v->p != v->end) {
        v->insn = v->p;
        return malformed(v, "END opcode expected: bytes after the end of the function");
    }
    return WASM_OK;
}

/* ---- Module-level rules ----------------------------------------------------------- */

/*
 * Reports an error in a constant expression, named by its owner and offset: "global 3 at
 * offset 0x2a: type mismatch: expected i32, found i64".
 */
static __attribute__((cold, format(printf, 6, 7))) int expr_error(struct validator *v,
                                                                  const struct wasm_constexpr *e,
                                                                  const char *what, uint32_t index,
                                                                  int status, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (v->errlen == 0)
        return status;
    if (e->expr)
        n = snprintf(v->err, v->errlen, "%s %u at offset 0x%zx: ", what, index,
                     (size_t)(e->expr - v->m->bytes));
    else
        n = snprintf(v->err, v->errlen, "%s %u: ", what, index);
    if (n < 0 || (size_t)n >= v->errlen)
        return status;
    va_start(ap, fmt);
    vsnprintf(v->err + n, v->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return status;
}

/*
 * A constant expression the decoder could not reduce to one instruction (none, several,
 * or a non-constant one): type it instruction by instruction, as the spec does.
 */
static int check_constexpr_seq(struct validator *v, const struct wasm_constexpr *e, uint8_t expect,
                               const char *what, uint32_t index)
{
    const struct wasm_module *m = v->m;
    const uint8_t *p = e->expr, *end = e->expr_end;
    uint32_t depth = 0, idx;
    uint8_t t = TYPE_UNKNOWN;
    enum wasm_leb_status s = WASM_LEB_OK;
    int64_t ignored64;
    int32_t ignored32;

    while (p < end && *p != 0x0b) {
        uint8_t op = *p++;
        switch (op) {
        case 0x41:
            s = wasm_leb_s32(&p, end, &ignored32);
            t = WASM_I32;
            break;
        case 0x42:
            s = wasm_leb_s64(&p, end, &ignored64);
            t = WASM_I64;
            break;
        case 0x43:
            p = (size_t)(end - p) >= 4 ? p + 4 : end;
            t = WASM_F32;
            break;
        case 0x44:
            p = (size_t)(end - p) >= 8 ? p + 8 : end;
            t = WASM_F64;
            break;
        case 0x23:
            s = wasm_leb_u32(&p, end, &idx);
            if (s != WASM_LEB_OK)
                break;
            if (idx >= m->nglobal_imports || idx >= m->nglobals)
                return expr_error(v, e, what, index, WASM_ERR_INVALID, "unknown global %u", idx);
            if (m->globals[idx].mutable_)
                return expr_error(v, e, what, index, WASM_ERR_INVALID,
                                  "constant expression required (global %u is mutable)", idx);
            t = m->globals[idx].valtype;
            break;
        case 0xd0:
            t = p < end ? *p++ : TYPE_UNKNOWN;
            break;
        case 0xd2:
            s = wasm_leb_u32(&p, end, &idx);
            if (s == WASM_LEB_OK && idx >= m->nfuncs)
                return expr_error(v, e, what, index, WASM_ERR_INVALID, "unknown function %u", idx);
            t = WASM_FUNCREF;
            break;
        case 0xfd: /* only v128.const is constant */
            s = wasm_leb_u32(&p, end, &idx);
            if (s != WASM_LEB_OK)
                break;
            if (idx != 12)
                return expr_error(v, e, what, index, WASM_ERR_INVALID,
                                  "constant expression required (opcode 0xfd %u)", idx);
            p = (size_t)(end - p) >= 16 ? p + 16 : end;
            t = WASM_V128;
            break;
        default:
            return expr_error(v, e, what, index, WASM_ERR_INVALID,
                              "constant expression required (opcode 0x%02x)", op);
        }
        if (s != WASM_LEB_OK)
            return expr_error(v, e, what, index, WASM_ERR_MALFORMED, "%s", wasm_leb_message(s));
        depth++;
    }
    if (depth == 0)
        return expr_error(v, e, what, index, WASM_ERR_INVALID,
                          "type mismatch: expected %s, found nothing", type_name(expect));
    if (depth > 1)
        return expr_error(v, e, what, index, WASM_ERR_INVALID,
                          "type mismatch: %u values where one %s is expected", depth,
                          type_name(expect));
    if (t != expect)
        return expr_error(v, e, what, index, WASM_ERR_INVALID,
                          "type mismatch: expected %s, found %s", type_name(expect), type_name(t));
    return WASM_OK;
}

/*
 * A constant expression of type expect. Its global.get may only name an imported,
 * immutable global (the rule of this spec revision: later globals are not in scope).
 */
static int check_constexpr(struct validator *v, const struct wasm_constexpr *e, uint8_t expect,
                           const char *what, uint32_t index)
{
    const struct wasm_module *m = v->m;
    uint8_t t;

    switch (e->op) {
    case WASM_CONST_I32:
        t = WASM_I32;
        break;
    case WASM_CONST_I64:
        t = WASM_I64;
        break;
    case WASM_CONST_F32:
        t = WASM_F32;
        break;
    case WASM_CONST_F64:
        t = WASM_F64;
        break;
    case WASM_CONST_GLOBAL:
        if (e->index >= m->nglobal_imports || e->index >= m->nglobals)
            return expr_error(v, e, what, index, WASM_ERR_INVALID, "unknown global %u", e->index);
        if (m->globals[e->index].mutable_)
            return expr_error(v, e, what, index, WASM_ERR_INVALID,
                              "constant expression required (global %u is mutable)", e->index);
        t = m->globals[e->index].valtype;
        break;
    case WASM_CONST_REF_NULL:
        if (!is_reftype((uint8_t)e->index))
            return expr_error(v, e, what, index, WASM_ERR_MALFORMED, "malformed reference type");
        t = (uint8_t)e->index;
        break;
    case WASM_CONST_REF_FUNC:
        if (e->index >= m->nfuncs)
            return expr_error(v, e, what, index, WASM_ERR_INVALID, "unknown function %u", e->index);
        t = WASM_FUNCREF;
        break;
    case WASM_CONST_V128:
        t = WASM_V128;
        break;
    case WASM_CONST_EXPR:
        return check_constexpr_seq(v, e, expect, what, index);
    default:
        return expr_error(v, e, what, index, WASM_ERR_INVALID, "constant expression required");
    }
    if (t != expect)
        return expr_error(v, e, what, index, WASM_ERR_INVALID,
                          "type mismatch: expected %s, found %s", type_name(expect), type_name(t));
    return WASM_OK;
}

static int check_types(struct validator *v)
{
    const struct wasm_module *m = v->m;

    for (uint32_t i = 0; i < m->ntypes; i++) {
        const struct wasm_functype *ft = &m->types[i];
        for (uint32_t j = 0; j < ft->nparams + ft->nresults; j++) {
            uint8_t t = j < ft->nparams ? ft->params[j] : ft->results[j - ft->nparams];
            if (!is_valtype(t))
                return module_error(v, WASM_ERR_MALFORMED, "type %u: malformed value type", i);
        }
    }
    for (uint32_t i = 0; i < m->nfuncs; i++)
        if (m->funcs[i].type_index >= m->ntypes)
            return module_error(v, WASM_ERR_INVALID, "function %u: unknown type %u", i,
                                m->funcs[i].type_index);
    return WASM_OK;
}

static int check_limits(struct validator *v)
{
    const struct wasm_module *m = v->m;

    for (uint32_t i = 0; i < m->ntables; i++) {
        const struct wasm_table_decl *t = &m->tables[i];
        if (!is_reftype(t->elemtype))
            return module_error(v, WASM_ERR_MALFORMED, "table %u: malformed reference type", i);
        if (t->limits.has_max && t->limits.min > t->limits.max)
            return module_error(v, WASM_ERR_INVALID,
                                "table %u: size minimum must not be greater than maximum", i);
    }
    if (m->nmemories > 1)
        return module_error(v, WASM_ERR_INVALID, "multiple memories (%u)", m->nmemories);
    for (uint32_t i = 0; i < m->nmemories; i++) {
        const struct wasm_limits *l = &m->memories[i].limits;
        if (l->min > WASM_MAX_PAGES || (l->has_max && l->max > WASM_MAX_PAGES))
            return module_error(v, WASM_ERR_INVALID,
                                "memory %u: memory size must be at most 65536 pages (4GiB)", i);
        if (l->has_max && l->min > l->max)
            return module_error(v, WASM_ERR_INVALID,
                                "memory %u: size minimum must not be greater than maximum", i);
    }
    return WASM_OK;
}

static int check_globals(struct validator *v)
{
    const struct wasm_module *m = v->m;

    for (uint32_t i = 0; i < m->nglobals; i++) {
        const struct wasm_global_decl *g = &m->globals[i];
        int rc;
        if (!is_valtype(g->valtype))
            return module_error(v, WASM_ERR_MALFORMED, "global %u: malformed value type", i);
        if (g->imported)
            continue;
        if ((rc = check_constexpr(v, &g->init, g->valtype, "global", i)) != WASM_OK)
            return rc;
    }
    return WASM_OK;
}

/* Orders exports by name bytes (names may contain NUL, so not strcmp). */
static int compare_export_names(const void *a, const void *b)
{
    const struct wasm_export *x = *(const struct wasm_export *const *)a;
    const struct wasm_export *y = *(const struct wasm_export *const *)b;
    uint32_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);

    if (c != 0)
        return c;
    return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

static int check_exports(struct validator *v)
{
    const struct wasm_module *m = v->m;
    static const char *const kinds[] = {"function", "table", "memory", "global"};
    const struct wasm_export **sorted;
    int rc = WASM_OK;

    for (uint32_t i = 0; i < m->nexports; i++) {
        const struct wasm_export *e = &m->exports[i];
        uint32_t limit;
        switch (e->kind) {
        case WASM_EXTERN_FUNC:
            limit = m->nfuncs;
            break;
        case WASM_EXTERN_TABLE:
            limit = m->ntables;
            break;
        case WASM_EXTERN_MEMORY:
            limit = m->nmemories;
            break;
        case WASM_EXTERN_GLOBAL:
            limit = m->nglobals;
            break;
        default:
            return module_error(v, WASM_ERR_MALFORMED, "export %u: malformed export kind", i);
        }
        if (e->index >= limit)
            return module_error(v, WASM_ERR_INVALID, "export %u: unknown %s %u", i, kinds[e->kind],
                                e->index);
    }
    if (m->nexports < 2)
        return WASM_OK;
    sorted = malloc(m->nexports * sizeof(*sorted));
    if (!sorted)
        return module_error(v, WASM_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < m->nexports; i++)
        sorted[i] = &m->exports[i];
    qsort(sorted, m->nexports, sizeof(*sorted), compare_export_names);
    for (uint32_t i = 1; i < m->nexports; i++) {
        if (compare_export_names(&sorted[i - 1], &sorted[i]) == 0) {
            rc = module_error(v, WASM_ERR_INVALID, "duplicate export name \"%s\"", sorted[i]->name);
            break;
        }
    }
    free(sorted);
    return rc;
}

static int check_start(struct validator *v)
{
    const struct wasm_module *m = v->m;
    const struct wasm_functype *ft;

    if (!m->has_start)
        return WASM_OK;
    if (m->start_index >= m->nfuncs)
        return module_error(v, WASM_ERR_INVALID, "start: unknown function %u", m->start_index);
    ft = &m->types[m->funcs[m->start_index].type_index];
    if (ft->nparams != 0 || ft->nresults != 0)
        return module_error(v, WASM_ERR_INVALID,
                            "start function %u must have type [] -> [], not %u params, "
                            "%u results",
                            m->start_index, ft->nparams, ft->nresults);
    return WASM_OK;
}

static int check_elems(struct validator *v)
{
    const struct wasm_module *m = v->m;
    int rc;

    for (uint32_t i = 0; i < m->nelems; i++) {
        const struct wasm_elem_segment *e = &m->elems[i];
        if (!is_reftype(e->reftype))
            return module_error(v, WASM_ERR_MALFORMED, "elem segment %u: malformed reference type",
                                i);
        if (e->mode == WASM_SEGMENT_ACTIVE) {
            if (e->table_index >= m->ntables)
                return module_error(v, WASM_ERR_INVALID, "elem segment %u: unknown table %u", i,
                                    e->table_index);
            if (m->tables[e->table_index].elemtype != e->reftype)
                return module_error(v, WASM_ERR_INVALID,
                                    "elem segment %u: type mismatch: %s segment for a %s "
                                    "table",
                                    i, type_name(e->reftype),
                                    type_name(m->tables[e->table_index].elemtype));
            if ((rc = check_constexpr(v, &e->offset, WASM_I32, "elem segment", i)) != WASM_OK)
                return rc;
        }
        for (uint32_t j = 0; j < e->count; j++) {
            if ((rc = check_constexpr(v, &e->items[j], e->reftype, "elem segment", i)) != WASM_OK)
                return rc;
        }
    }
    return WASM_OK;
}

static int check_datas(struct validator *v)
{
    const struct wasm_module *m = v->m;
    int rc;

    for (uint32_t i = 0; i < m->ndatas; i++) {
        const struct wasm_data_segment *d = &m->datas[i];
        if (d->mode != WASM_SEGMENT_ACTIVE)
            continue;
        if (d->memory_index >= m->nmemories)
            return module_error(v, WASM_ERR_INVALID, "data segment %u: unknown memory %u", i,
                                d->memory_index);
        if ((rc = check_constexpr(v, &d->offset, WASM_I32, "data segment", i)) != WASM_OK)
            return rc;
    }
    return WASM_OK;
}

/* C.refs: functions named by ref.func outside function bodies, or exported. */
static int collect_declared(struct validator *v)
{
    const struct wasm_module *m = v->m;

    v->declared = calloc(m->nfuncs ? m->nfuncs : 1, 1);
    if (!v->declared)
        return module_error(v, WASM_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < m->nglobals; i++) {
        const struct wasm_constexpr *e = &m->globals[i].init;
        if (!m->globals[i].imported && e->op == WASM_CONST_REF_FUNC && e->index < m->nfuncs)
            v->declared[e->index] = 1;
    }
    for (uint32_t i = 0; i < m->nelems; i++) {
        for (uint32_t j = 0; j < m->elems[i].count; j++) {
            const struct wasm_constexpr *e = &m->elems[i].items[j];
            if (e->op == WASM_CONST_REF_FUNC && e->index < m->nfuncs)
                v->declared[e->index] = 1;
        }
    }
    for (uint32_t i = 0; i < m->nexports; i++) {
        const struct wasm_export *e = &m->exports[i];
        if (e->kind == WASM_EXTERN_FUNC && e->index < m->nfuncs)
            v->declared[e->index] = 1;
    }
    return WASM_OK;
}

static int check_module(struct validator *v)
{
    const struct wasm_module *m = v->m;
    int rc;

    if ((rc = check_types(v)) != WASM_OK || (rc = check_limits(v)) != WASM_OK ||
        (rc = check_globals(v)) != WASM_OK || (rc = check_exports(v)) != WASM_OK ||
        (rc = check_start(v)) != WASM_OK || (rc = check_elems(v)) != WASM_OK ||
        (rc = check_datas(v)) != WASM_OK || (rc = collect_declared(v)) != WASM_OK)
        return rc;
    for (uint32_t i = 0; i < m->nfuncs; i++) {
        if (m->funcs[i].imported)
            continue;
        if ((rc = check_body(v, i)) != WASM_OK)
            return rc;
    }
    return WASM_OK;
}

/*
 * Validates a module the decoder has filled. Returns WASM_OK, WASM_ERR_INVALID (a typing
 * rule failed), WASM_ERR_MALFORMED (an encoding error inside a function body, which the
 * decoder does not walk) or WASM_ERR_NOMEM, with the reason in err ("function 5 at offset
 * 0x3f: type mismatch: expected i32, found f64"). Does not modify m; thread-safe.
 */
int wasm_validate(const struct wasm_module *m, char *err, size_t errlen)
{
    struct validator v = {.m = m, .err = err, .errlen = errlen};
    int rc;

    if (errlen)
        err[0] = '\0';
    rc = check_module(&v);
    free(v.vals);
    free(v.ctrls);
    free(v.declared);
    return rc;
}
