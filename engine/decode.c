/*
 * decode.c - the binary-format decoder: bytes -> struct wasm_module (module.h).
 *
 * Checks well-formedness only (the spec's "malformed" class): header, section ids, order
 * and sizes, LEB128 widths, UTF-8 names, every instruction's encoding inside bodies and
 * constant expressions, and the count agreements between sections. Typing and index
 * checks are left to validate.c. Errors use the spec's wording, prefixed with where:
 * "code section: function 3 at offset 0x1a2: unexpected end of section or function".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leb128.h"
#include "module.h"
#include "simd.h"

/* Implementation limits (the spec allows 2^32-1 locals; nobody needs that many). */
#define DECODE_MAX_FUNC_LOCALS 50000u
#define DECODE_MAX_MODULE_LOCALS (1u << 24)

enum section_id {
    SEC_CUSTOM = 0,
    SEC_TYPE,
    SEC_IMPORT,
    SEC_FUNCTION,
    SEC_TABLE,
    SEC_MEMORY,
    SEC_GLOBAL,
    SEC_EXPORT,
    SEC_START,
    SEC_ELEMENT,
    SEC_CODE,
    SEC_DATA,
    SEC_DATACOUNT,
    SEC_COUNT,
};

static const char *const section_names[SEC_COUNT] = {
    "custom", "type",  "import",  "function", "table", "memory",    "global",
    "export", "start", "element", "code",     "data",  "datacount",
};

/* Position of each section id in the required order (datacount sits before code). */
static const uint8_t section_rank[SEC_COUNT] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 10};

struct decoder {
    struct wasm_module *m;
    const uint8_t *base;     /* module bytes (m->bytes) */
    const uint8_t *file_end; /* base + len */
    const uint8_t *p;        /* cursor */
    const uint8_t *end;      /* limit of the current section or body */
    const char *section;     /* for messages; NULL outside sections */
    int64_t func;            /* function index for messages; -1 when none */
    bool in_code;            /* reading a function body (data count checks) */
    char *err;
    size_t errlen;
    int status;              /* WASM_ERR_MALFORMED or WASM_ERR_NOMEM once failed */
    uint32_t ndefined_funcs; /* entries of the function section */
    uint64_t total_locals;
    bool has_code_section;
    bool has_data_section;
    const uint8_t *datacount_use; /* first memory.init/data.drop, or NULL */
    int64_t datacount_use_func;
    const uint8_t *name_sec; /* first custom `name` section payload, parsed at the end */
    const uint8_t *name_sec_end;
};

/* Records the first error, at byte position at; always returns false. */
static bool fail_at(struct decoder *d, const uint8_t *at, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    size_t off = (size_t)(at - d->base);

    if (d->status != WASM_OK)
        return false;
    d->status = WASM_ERR_MALFORMED;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!d->err || d->errlen == 0)
        return false;
    if (d->section && d->func >= 0)
        snprintf(d->err, d->errlen, "%s section: function %lld at offset 0x%zx: %s", d->section,
                 (long long)d->func, off, msg);
    else if (d->section)
        snprintf(d->err, d->errlen, "%s section at offset 0x%zx: %s", d->section, off, msg);
    else
        snprintf(d->err, d->errlen, "at offset 0x%zx: %s", off, msg);
    return false;
}

static bool fail_nomem(struct decoder *d)
{
    fail_at(d, d->p, "out of memory");
    d->status = WASM_ERR_NOMEM;
    return false;
}

static bool fail_eos(struct decoder *d)
{
    if (d->section)
        return fail_at(d, d->p, "unexpected end of section or function");
    return fail_at(d, d->p, "unexpected end");
}

/* Fails unless n more bytes are left in the current section or body. */
static bool need(struct decoder *d, uint64_t n)
{
    if (n <= (uint64_t)(d->end - d->p))
        return true;
    return fail_eos(d);
}

/* As need() for a byte length (section, body, name): a length past the end of the whole
 * input is "length out of bounds", as the reference interpreter says. */
static bool need_len(struct decoder *d, uint64_t n)
{
    if (n > (uint64_t)(d->file_end - d->p))
        return fail_at(d, d->p, "length out of bounds");
    return need(d, n);
}

static bool read_u8(struct decoder *d, uint8_t *out)
{
    *out = 0;
    if (d->p >= d->end)
        return fail_eos(d);
    *out = *d->p++;
    return true;
}

/*
 * An LEB128 integer of at most `bits` bits (leb128.h). It is read up to the end of the
 * input, not just of the section, so an over-long integer straddling the section end is
 * reported as such, like the reference interpreter does; then the overrun is an
 * "unexpected end".
 */
static bool read_leb(struct decoder *d, unsigned bits, bool is_signed, uint64_t *out)
{
    const uint8_t *start = d->p;
    enum wasm_leb_status st;

    *out = 0;
    st = wasm_leb_read(&d->p, d->file_end, bits, is_signed, out);
    if (st == WASM_LEB_END) {
        d->p = d->file_end < d->end ? d->file_end : d->end;
        return fail_eos(d);
    }
    if (st != WASM_LEB_OK)
        return fail_at(d, start, "%s", wasm_leb_message(st));
    if (d->p > d->end) {
        d->p = d->end;
        return fail_eos(d);
    }
    return true;
}

static bool read_uleb(struct decoder *d, unsigned bits, uint64_t *out)
{
    return read_leb(d, bits, false, out);
}

static bool read_sleb(struct decoder *d, unsigned bits, int64_t *out)
{
    uint64_t v;
    bool ok = read_leb(d, bits, true, &v);

    *out = (int64_t)v;
    return ok;
}

static bool read_u32(struct decoder *d, uint32_t *out)
{
    uint64_t v = 0;

    if (!read_uleb(d, 32, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

/* A vector length: each element takes at least one byte, so a count larger than the
 * bytes left is an error right away (and bounds every allocation by the input size). */
static bool read_count(struct decoder *d, uint32_t *out)
{
    return read_u32(d, out) && need(d, *out);
}

static bool read_zero_byte(struct decoder *d)
{
    uint8_t b;

    if (!read_u8(d, &b))
        return false;
    if (b != 0)
        return fail_at(d, d->p - 1, "zero byte expected");
    return true;
}

/* Checks RFC 3629 UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp, min;

        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

/* A name: u32 length, UTF-8 bytes. *out is a NUL-terminated malloc'd copy. */
static bool read_name(struct decoder *d, char **out, uint32_t *len_out)
{
    const uint8_t *start = d->p;
    uint32_t len;
    char *s;

    /* A length that runs past the section but not the input is still judged against
     * the input first, to report what the reference interpreter reports. */
    const uint8_t *limit = d->end;
    bool ok;

    d->end = d->file_end;
    ok = read_u32(d, &len) && need_len(d, len);
    d->end = limit;
    if (!ok)
        return false;
    if (d->p > d->end || len > (uint64_t)(d->end - d->p)) {
        d->p = d->p > d->end ? d->end : d->p;
        return fail_eos(d);
    }
    if (!utf8_valid(d->p, len))
        return fail_at(d, start, "malformed UTF-8 encoding");
    s = malloc((size_t)len + 1);
    if (!s)
        return fail_nomem(d);
    memcpy(s, d->p, len);
    s[len] = '\0';
    d->p += len;
    *out = s;
    if (len_out)
        *len_out = len;
    return true;
}

static bool is_valtype(uint8_t b)
{
    switch (b) {
    case WASM_I32:
    case WASM_I64:
    case WASM_F32:
    case WASM_F64:
    case WASM_V128:
    case WASM_FUNCREF:
    case WASM_EXTERNREF:
        return true;
    default:
        return false;
    }
}

static bool read_valtype(struct decoder *d, uint8_t *out)
{
    if (!read_u8(d, out))
        return false;
    if (!is_valtype(*out))
        return fail_at(d, d->p - 1, "malformed value type");
    return true;
}

static bool read_reftype(struct decoder *d, uint8_t *out)
{
    if (!read_u8(d, out))
        return false;
    if (*out != WASM_FUNCREF && *out != WASM_EXTERNREF)
        return fail_at(d, d->p - 1, "malformed reference type");
    return true;
}

static bool read_limits(struct decoder *d, struct wasm_limits *lim)
{
    uint64_t flags;

    /* The flag is a 1-bit LEB: 0x02.. is "integer too large", 0x81 0x00 "too long". */
    if (!read_uleb(d, 1, &flags) || !read_u32(d, &lim->min))
        return false;
    lim->has_max = flags == 1;
    lim->max = 0;
    if (lim->has_max && !read_u32(d, &lim->max))
        return false;
    return true;
}

static bool read_mutability(struct decoder *d, bool *mut)
{
    uint8_t b;

    if (!read_u8(d, &b))
        return false;
    if (b > 1)
        return fail_at(d, d->p - 1, "malformed mutability");
    *mut = b == 1;
    return true;
}

/* ---- Instructions ---------------------------------------------------------------- */

static bool read_blocktype(struct decoder *d)
{
    const uint8_t *start = d->p;
    int64_t idx;

    if (d->p >= d->end)
        return fail_eos(d);
    if (*d->p == 0x40 || is_valtype(*d->p)) {
        d->p++;
        return true;
    }
    if (!read_sleb(d, 33, &idx))
        return false;
    if (idx < 0)
        return fail_at(d, start, "malformed block type");
    return true;
}

static bool read_memarg(struct decoder *d)
{
    uint32_t align, offset;

    return read_u32(d, &align) && read_u32(d, &offset);
}

static bool skip_u32s(struct decoder *d, uint64_t n)
{
    uint32_t v;

    for (uint64_t i = 0; i < n; i++)
        if (!read_u32(d, &v))
            return false;
    return true;
}

/* memory.init and data.drop need the data count section. Whether that is malformed
 * depends on the data section, which comes later: remember the first use. */
static bool data_count_required(struct decoder *d, const uint8_t *at)
{
    if (d->in_code && !d->m->has_datacount && !d->datacount_use) {
        d->datacount_use = at;
        d->datacount_use_func = d->func;
    }
    return true;
}

/* Reads the 0xfc-prefixed instruction whose prefix byte was at `at`. */
static bool read_prefixed_fc(struct decoder *d, const uint8_t *at)
{
    uint32_t sub;

    if (!read_u32(d, &sub))
        return false;
    switch (sub) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 7: /* trunc_sat */
        return true;
    case 8: /* memory.init dataidx 0x00 */
        return data_count_required(d, at) && skip_u32s(d, 1) && read_zero_byte(d);
    case 9: /* data.drop dataidx */
        return data_count_required(d, at) && skip_u32s(d, 1);
    case 10: /* memory.copy 0x00 0x00 */
        return read_zero_byte(d) && read_zero_byte(d);
    case 11: /* memory.fill 0x00 */
        return read_zero_byte(d);
    case 12: /* table.init elemidx tableidx */
    case 14: /* table.copy dst src */
        return skip_u32s(d, 2);
    case 13: /* elem.drop */
    case 15: /* table.grow */
    case 16: /* table.size */
    case 17: /* table.fill */
        return skip_u32s(d, 1);
    default:
        return fail_at(d, at, "illegal opcode");
    }
}

/* Reads the 0xfd-prefixed (SIMD) instruction whose prefix byte was at `at`. */
static bool read_prefixed_fd(struct decoder *d, const uint8_t *at)
{
    uint32_t sub;

    if (!read_u32(d, &sub))
        return false;
    if (sub >= WASM_SIMD_OPCODES || wasm_simd_info[sub].layout == WASM_SIMD_NONE)
        return fail_at(d, at, "illegal opcode");
    switch (wasm_simd_info[sub].layout) {
    case WASM_SIMD_LOAD:
    case WASM_SIMD_STORE:
        return read_memarg(d);
    case WASM_SIMD_LOADLANE:
    case WASM_SIMD_STORELANE:
        if (!read_memarg(d) || !need(d, 1))
            return false;
        d->p++;
        return true;
    case WASM_SIMD_EXTRACT:
    case WASM_SIMD_REPLACE:
        if (!need(d, 1))
            return false;
        d->p++;
        return true;
    case WASM_SIMD_CONST:
    case WASM_SIMD_SHUFFLE:
        if (!need(d, 16))
            return false;
        d->p += 16;
        return true;
    default:
        return true;
    }
}

/*
 * Reads one instruction and its immediates at d->p, updating the block nesting *depth
 * (block/loop/if open one, end closes one). *op gets the opcode byte.
 */
static bool read_instr(struct decoder *d, uint32_t *depth, uint8_t *op)
{
    const uint8_t *at = d->p;
    uint8_t b;
    int64_t sv;

    if (!read_u8(d, &b))
        return false;
    *op = b;
    switch (b) {
    case 0x00:
    case 0x01: /* unreachable, nop */
    case 0x05: /* else */
    case 0x0f: /* return */
    case 0x1a:
    case 0x1b: /* drop, select */
    case 0xd1: /* ref.is_null */
        return true;
    case 0x02:
    case 0x03:
    case 0x04: /* block, loop, if */
        if (!read_blocktype(d))
            return false;
        (*depth)++;
        return true;
    case 0x0b: /* end */
        (*depth)--;
        return true;
    case 0x0c:
    case 0x0d: /* br, br_if */
    case 0x10: /* call */
    case 0x20:
    case 0x21:
    case 0x22:
    case 0x23:
    case 0x24: /* local.*, global.* */
    case 0x25:
    case 0x26: /* table.get, table.set */
    case 0xd2: /* ref.func */
        return skip_u32s(d, 1);
    case 0x0e: { /* br_table vec(label) label */
        uint32_t n;

        return read_count(d, &n) && skip_u32s(d, n + (uint64_t)1);
    }
    case 0x11: /* call_indirect typeidx tableidx */
        return skip_u32s(d, 2);
    case 0x1c: { /* select vec(valtype) */
        uint32_t n;
        uint8_t t;

        if (!read_count(d, &n))
            return false;
        for (uint32_t i = 0; i < n; i++)
            if (!read_valtype(d, &t))
                return false;
        return true;
    }
    case 0x3f:
    case 0x40: /* memory.size, memory.grow */
        return read_zero_byte(d);
    case 0x41:
        return read_sleb(d, 32, &sv);
    case 0x42:
        return read_sleb(d, 64, &sv);
    case 0x43:
        if (!need(d, 4))
            return false;
        d->p += 4;
        return true;
    case 0x44:
        if (!need(d, 8))
            return false;
        d->p += 8;
        return true;
    case 0xd0: { /* ref.null reftype */
        uint8_t t;

        return read_reftype(d, &t);
    }
    case 0xfc:
        return read_prefixed_fc(d, at);
    case 0xfd:
        return read_prefixed_fd(d, at);
    default:
        if (b >= 0x28 && b <= 0x3e) /* loads and stores */
            return read_memarg(d);
        if (b >= 0x45 && b <= 0xc4) /* numeric, incl. sign-extension */
            return true;
        return fail_at(d, at, "illegal opcode");
    }
}

/* ---- Constant expressions -------------------------------------------------------- */

static bool read_constexpr(struct decoder *d, struct wasm_constexpr *ce)
{
    const uint8_t *start = d->p;
    uint32_t depth = 1;
    uint8_t op;

    memset(ce, 0, sizeof(*ce));
    ce->expr = start;
    /* The common one-instruction forms are read directly. */
    if (d->p < d->end) {
        uint8_t b = *d->p++;
        bool simple = true;
        int64_t sv;
        uint64_t uv;

        switch (b) {
        case 0x41:
            simple = read_sleb(d, 32, &sv);
            ce->op = WASM_CONST_I32, ce->bits = (uint32_t)sv;
            break;
        case 0x42:
            simple = read_sleb(d, 64, &sv);
            ce->op = WASM_CONST_I64, ce->bits = (uint64_t)sv;
            break;
        case 0x43:
            simple = need(d, 4);
            if (simple) {
                uint32_t v = (uint32_t)d->p[0] | (uint32_t)d->p[1] << 8 | (uint32_t)d->p[2] << 16 |
                             (uint32_t)d->p[3] << 24;
                ce->op = WASM_CONST_F32, ce->bits = v;
                d->p += 4;
            }
            break;
        case 0x44:
            simple = need(d, 8);
            if (simple) {
                uint64_t v = 0;
                for (int i = 7; i >= 0; i--)
                    v = v << 8 | d->p[i];
                ce->op = WASM_CONST_F64, ce->bits = v;
                d->p += 8;
            }
            break;
        case 0x23:
            simple = read_uleb(d, 32, &uv);
            ce->op = WASM_CONST_GLOBAL, ce->index = (uint32_t)uv;
            break;
        case 0xd0: {
            uint8_t t;
            simple = read_reftype(d, &t);
            ce->op = WASM_CONST_REF_NULL, ce->index = t;
            break;
        }
        case 0xd2:
            simple = read_uleb(d, 32, &uv);
            ce->op = WASM_CONST_REF_FUNC, ce->index = (uint32_t)uv;
            break;
        case 0xfd: /* v128.const: the only SIMD instruction that is constant */
            simple = read_uleb(d, 32, &uv) && uv == 12 && need(d, 16);
            if (simple) {
                memcpy(&ce->bits, d->p, 8);
                memcpy(&ce->bits_hi, d->p + 8, 8);
                ce->op = WASM_CONST_V128;
                d->p += 16;
            }
            break;
        default:
            simple = false;
            break;
        }
        if (d->status != WASM_OK)
            return false;
        if (simple && d->p < d->end && *d->p == 0x0b) {
            d->p++;
            ce->expr_end = d->p;
            return true;
        }
    }
    /* Anything else: check the encoding, leave the meaning to the validator. */
    d->p = start;
    memset(ce, 0, sizeof(*ce));
    ce->op = WASM_CONST_EXPR;
    ce->expr = start;
    while (depth > 0)
        if (!read_instr(d, &depth, &op))
            return false;
    ce->expr_end = d->p;
    return true;
}

/* ---- Sections -------------------------------------------------------------------- */

static bool grow_array(struct decoder *d, void **arr, size_t elem, uint32_t old_n, uint32_t add)
{
    size_t n = (size_t)old_n + add;
    void *p;

    if (add == 0)
        return true;
    p = realloc(*arr, n * elem);
    if (!p)
        return fail_nomem(d);
    memset((char *)p + (size_t)old_n * elem, 0, (size_t)add * elem);
    *arr = p;
    return true;
}

static bool decode_type_section(struct decoder *d)
{
    struct wasm_module *m = d->m;
    uint32_t n;

    if (!read_count(d, &n))
        return false;
    m->types = calloc(n ? n : 1, sizeof(*m->types));
    if (!m->types)
        return fail_nomem(d);
    for (uint32_t i = 0; i < n; i++) {
        struct wasm_functype *ft = &m->types[i];
        uint32_t np, nr;
        uint8_t *vt;
        const uint8_t *params_at, *at = d->p;
        int64_t form;

        if (!read_sleb(d, 7, &form))
            return false;
        if (form != -0x20)
            return fail_at(d, at, "malformed function type");
        if (!read_count(d, &np))
            return false;
        /* Check the params first, copy them once the results count is known, so
         * params and results share one allocation. */
        params_at = d->p;
        for (uint32_t k = 0; k < np; k++) {
            uint8_t t;
            if (!read_valtype(d, &t))
                return false;
        }
        if (!read_count(d, &nr))
            return false;
        vt = malloc((size_t)np + nr + 1);
        if (!vt)
            return fail_nomem(d);
        memcpy(vt, params_at, np); /* valtypes are single bytes, checked above */
        for (uint32_t k = 0; k < nr; k++)
            if (!read_valtype(d, &vt[np + k])) {
                free(vt);
                return false;
            }
        ft->nparams = np;
        ft->nresults = nr;
        ft->params = vt;
        ft->results = vt + np;
        m->ntypes = i + 1;
    }
    return true;
}

static bool decode_import_section(struct decoder *d)
{
    struct wasm_module *m = d->m;
    uint32_t n;

    if (!read_count(d, &n))
        return false;
    /* Every import may be of any kind: room for n of each, trimmed by later growth. */
    m->imports = calloc(n ? n : 1, sizeof(*m->imports));
    m->funcs = calloc(n ? n : 1, sizeof(*m->funcs));
    m->tables = calloc(n ? n : 1, sizeof(*m->tables));
    m->memories = calloc(n ? n : 1, sizeof(*m->memories));
    m->globals = calloc(n ? n : 1, sizeof(*m->globals));
    if (!m->imports || !m->funcs || !m->tables || !m->memories || !m->globals)
        return fail_nomem(d);
    for (uint32_t i = 0; i < n; i++) {
        struct wasm_import *im = &m->imports[i];
        uint8_t kind;

        m->nimports = i + 1;
        if (!read_name(d, &im->module, &im->module_len) ||
            !read_name(d, &im->name, &im->name_len) || !read_u8(d, &kind))
            return false;
        switch (kind) {
        case WASM_EXTERN_FUNC: {
            uint32_t type;
            if (!read_u32(d, &type))
                return false;
            m->funcs[m->nfuncs] = (struct wasm_func_decl){.type_index = type, .imported = true};
            im->index = m->nfuncs++;
            m->nfunc_imports++;
            break;
        }
        case WASM_EXTERN_TABLE: {
            struct wasm_table_decl t = {.imported = true};
            if (!read_reftype(d, &t.elemtype) || !read_limits(d, &t.limits))
                return false;
            m->tables[m->ntables] = t;
            im->index = m->ntables++;
            m->ntable_imports++;
            break;
        }
        case WASM_EXTERN_MEMORY: {
            struct wasm_memory_decl mem = {.imported = true};
            if (!read_limits(d, &mem.limits))
                return false;
            m->memories[m->nmemories] = mem;
            im->index = m->nmemories++;
            m->nmemory_imports++;
            break;
        }
        case WASM_EXTERN_GLOBAL: {
            struct wasm_global_decl g = {.imported = true};
            if (!read_valtype(d, &g.valtype) || !read_mutability(d, &g.mutable_))
                return false;
            m->globals[m->nglobals] = g;
            im->index = m->nglobals++;
            m->nglobal_imports++;
            break;
        }
        default:
            return fail_at(d, d->p - 1, "malformed import kind");
        }
        im->kind = (enum wasm_extern_kind)kind;
    }
    return true;
}

static bool decode_function_section(struct decoder *d)
{
    struct wasm_module *m = d->m;
    uint32_t n;

    if (!read_count(d, &n) || !grow_array(d, (void **)&m->funcs, sizeof(*m->funcs), m->nfuncs, n))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        if (!read_u32(d, &m->funcs[m->nfuncs + i].type_index))
            return false;
    }
    m->nfuncs += n;
    d->ndefined_funcs = n;
    return true;
}

static bool decode_table_section(struct decoder *d)
{
    struct wasm_module *m = d->m;
    uint32_t n;

    if (!read_count(d, &n) ||
        !grow_array(d, (void **)&m->tables, sizeof(*m->tables), m->ntables, n))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        struct wasm_table_decl *t = &m->tables[m->ntables];
        if (!read_reftype(d, &t->elemtype) || !read_limits(d, &t->limits))
            return false;
        m->ntables++;
    }
    return true;
}

static bool decode_memory_section(struct decoder *d)
{
    struct wasm_module *m = d->m;
    uint32_t n;

    if (!read_count(d, &n) ||
        !grow_array(d, (void **)&m->memories, sizeof(*m->memories), m->nmemories, n))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        if (!read_limits(d, &m->memories[m->nmemories].limits))
            return false;
        m->nmemories++;
    }
    return true;
}

static bool decode_global_section(struct decoder *d)
{
    struct wasm_module *m = d->m;
    uint32_t n;

    if (!read_count(d, &n) ||
        !grow_array(d, (void **)&m->globals, sizeof(*m->globals), m->nglobals, n))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        struct wasm_global_decl *g = &m->globals[m->nglobals];
        if (!read_valtype(d, &g->valtype) || !read_mutability(d, &g->mutable_) ||
            !read_constexpr(d, &g->init))
            return false;
        m->nglobals++;
    }
    return true;
}

static bool decode_export_section(struct decoder *d)
{
    struct wasm_module *m = d->m;
    uint32_t n;

    if (!read_count(d, &n))
        return false;
    m->exports = calloc(n ? n : 1, sizeof(*m->exports));
    if (!m->exports)
        return fail_nomem(d);
    for (uint32_t i = 0; i < n; i++) {
        struct wasm_export *ex = &m->exports[i];
        uint8_t kind;

        m->nexports = i + 1;
        if (!read_name(d, &ex->name, &ex->name_len) || !read_u8(d, &kind))
            return false;
        if (kind > WASM_EXTERN_GLOBAL)
            return fail_at(d, d->p - 1, "malformed export kind");
        ex->kind = (enum wasm_extern_kind)kind;
        if (!read_u32(d, &ex->index))
            return false;
    }
    return true;
}

static bool decode_start_section(struct decoder *d)
{
    d->m->has_start = true;
    return read_u32(d, &d->m->start_index);
}

/* Element items: a vector of function indices, or of expressions. */
static bool read_elem_items(struct decoder *d, struct wasm_elem_segment *seg, bool exprs)
{
    uint32_t n;

    if (!read_count(d, &n))
        return false;
    seg->items = calloc(n ? n : 1, sizeof(*seg->items));
    if (!seg->items)
        return fail_nomem(d);
    for (uint32_t i = 0; i < n; i++) {
        struct wasm_constexpr *it = &seg->items[i];
        if (exprs) {
            if (!read_constexpr(d, it))
                return false;
        } else {
            it->op = WASM_CONST_REF_FUNC; /* no expression: expr stays NULL */
            if (!read_u32(d, &it->index))
                return false;
        }
        seg->count = i + 1;
    }
    return true;
}

static bool decode_elem_segment(struct decoder *d, struct wasm_elem_segment *seg)
{
    const uint8_t *at = d->p;
    uint32_t flags;
    uint8_t kind;

    if (!read_u32(d, &flags))
        return false;
    if (flags > 7)
        return fail_at(d, at, "malformed elements segment kind");
    seg->reftype = WASM_FUNCREF;
    if (flags & 1)
        seg->mode = (flags & 2) ? WASM_SEGMENT_DECLARATIVE : WASM_SEGMENT_PASSIVE;
    else
        seg->mode = WASM_SEGMENT_ACTIVE;
    if ((flags & 3) == 2 && !read_u32(d, &seg->table_index))
        return false;
    if (!(flags & 1) && !read_constexpr(d, &seg->offset))
        return false;
    if (flags & 3) { /* an element kind or reference type follows */
        if (flags & 4) {
            if (!read_reftype(d, &seg->reftype))
                return false;
        } else {
            if (!read_u8(d, &kind))
                return false;
            if (kind != 0x00)
                return fail_at(d, d->p - 1, "malformed element kind");
        }
    }
    return read_elem_items(d, seg, flags & 4);
}

static bool decode_element_section(struct decoder *d)
{
    struct wasm_module *m = d->m;
    uint32_t n;

    if (!read_count(d, &n))
        return false;
    m->elems = calloc(n ? n : 1, sizeof(*m->elems));
    if (!m->elems)
        return fail_nomem(d);
    for (uint32_t i = 0; i < n; i++) {
        m->nelems = i + 1;
        if (!decode_elem_segment(d, &m->elems[i]))
            return false;
    }
    return true;
}

static bool decode_datacount_section(struct decoder *d)
{
    d->m->has_datacount = true;
    return read_u32(d, &d->m->datacount);
}

static bool decode_data_section(struct decoder *d)
{
    struct wasm_module *m = d->m;
    uint32_t n;

    d->has_data_section = true;
    if (!read_count(d, &n))
        return false;
    m->datas = calloc(n ? n : 1, sizeof(*m->datas));
    if (!m->datas)
        return fail_nomem(d);
    for (uint32_t i = 0; i < n; i++) {
        struct wasm_data_segment *seg = &m->datas[i];
        const uint8_t *at = d->p;
        uint32_t flags;

        m->ndatas = i + 1;
        if (!read_u32(d, &flags))
            return false;
        if (flags > 2)
            return fail_at(d, at, "malformed data segment kind");
        seg->mode = flags == 1 ? WASM_SEGMENT_PASSIVE : WASM_SEGMENT_ACTIVE;
        if (flags == 2 && !read_u32(d, &seg->memory_index))
            return false;
        if (flags != 1 && !read_constexpr(d, &seg->offset))
            return false;
        if (!read_u32(d, &seg->len) || !need(d, seg->len))
            return false;
        seg->bytes = d->p;
        d->p += seg->len;
    }
    return true;
}

/* Locals of one body: run-length groups expanded into f->local_types. */
static bool read_locals(struct decoder *d, struct wasm_func_decl *f)
{
    const uint8_t *start = d->p, *groups;
    uint32_t ngroups, count, k = 0;
    uint64_t total = 0;
    uint8_t t;

    if (!read_count(d, &ngroups))
        return false;
    groups = d->p;
    for (uint32_t i = 0; i < ngroups; i++) {
        if (!read_u32(d, &count) || !read_valtype(d, &t))
            return false;
        total += count;
        if (total > DECODE_MAX_FUNC_LOCALS || d->total_locals + total > DECODE_MAX_MODULE_LOCALS)
            return fail_at(d, start, "too many locals");
    }
    d->total_locals += total;
    f->nlocals = (uint32_t)total;
    f->local_types = malloc(total ? total : 1);
    if (!f->local_types)
        return fail_nomem(d);
    /* Second pass over the groups, already known to be well-formed. */
    d->p = groups;
    for (uint32_t i = 0; i < ngroups; i++) {
        if (!read_u32(d, &count) || !read_u8(d, &t))
            return false;
        memset(f->local_types + k, t, count);
        k += count;
    }
    return true;
}

/* Reads one body; d->end is the end of the body. */
static bool decode_body(struct decoder *d, struct wasm_func_decl *f)
{
    uint32_t depth = 1;
    uint8_t op;

    if (!read_locals(d, f))
        return false;
    f->body = d->p;
    f->body_offset = (uint32_t)(d->p - d->base);
    while (depth > 0) {
        if (d->p >= d->end)
            return fail_at(d, d->p, "unexpected end of section or function (END opcode expected)");
        if (!read_instr(d, &depth, &op))
            return false;
    }
    if (d->p != d->end)
        return fail_at(d, d->p, "section size mismatch (code after the final end)");
    f->body_end = d->p;
    return true;
}

static bool decode_code_section(struct decoder *d)
{
    struct wasm_module *m = d->m;
    const uint8_t *section_end = d->end;
    uint32_t n;

    d->has_code_section = true;
    if (!read_count(d, &n))
        return false;
    if (n != d->ndefined_funcs)
        return fail_at(d, d->p, "function and code section have inconsistent lengths");
    d->in_code = true;
    for (uint32_t i = 0; i < n; i++) {
        struct wasm_func_decl *f = &m->funcs[m->nfunc_imports + i];
        uint32_t size;

        d->func = m->nfunc_imports + i;
        if (!read_u32(d, &size) || !need_len(d, size))
            return false;
        d->end = d->p + size;
        if (!decode_body(d, f))
            return false;
        d->end = section_end;
    }
    d->func = -1;
    d->in_code = false;
    return true;
}

static bool decode_custom_section(struct decoder *d)
{
    char *name;
    uint32_t len;

    if (!read_name(d, &name, &len))
        return false;
    if (len == 4 && memcmp(name, "name", 4) == 0 && !d->name_sec) {
        d->name_sec = d->p;
        d->name_sec_end = d->end;
    }
    free(name);
    d->p = d->end;
    return true;
}

static bool decode_section(struct decoder *d, uint8_t id)
{
    switch (id) {
    case SEC_CUSTOM:
        return decode_custom_section(d);
    case SEC_TYPE:
        return decode_type_section(d);
    case SEC_IMPORT:
        return decode_import_section(d);
    case SEC_FUNCTION:
        return decode_function_section(d);
    case SEC_TABLE:
        return decode_table_section(d);
    case SEC_MEMORY:
        return decode_memory_section(d);
    case SEC_GLOBAL:
        return decode_global_section(d);
    case SEC_EXPORT:
        return decode_export_section(d);
    case SEC_START:
        return decode_start_section(d);
    case SEC_ELEMENT:
        return decode_element_section(d);
    case SEC_CODE:
        return decode_code_section(d);
    case SEC_DATA:
        return decode_data_section(d);
    case SEC_DATACOUNT:
        return decode_datacount_section(d);
    }
    return false;
}

/* ---- The `name` section (lenient: any problem just drops the names) --------------- */

static void free_names(struct wasm_module *m)
{
    free(m->name);
    m->name = NULL;
    for (uint32_t i = 0; i < m->nfuncs; i++) {
        free(m->funcs[i].name);
        m->funcs[i].name = NULL;
    }
}

static bool parse_name_section(struct decoder *d)
{
    struct wasm_module *m = d->m;
    uint8_t id;
    uint32_t size, n, idx;
    char *s;

    d->p = d->name_sec;
    d->end = d->name_sec_end;
    d->section = "custom name";
    while (d->p < d->name_sec_end) {
        const uint8_t *sub_end;

        if (!read_u8(d, &id) || !read_u32(d, &size) || !need(d, size))
            return false;
        sub_end = d->p + size;
        d->end = sub_end;
        if (id == 0) {
            if (!read_name(d, &s, NULL))
                return false;
            free(m->name);
            m->name = s;
        } else if (id == 1) {
            if (!read_count(d, &n))
                return false;
            for (uint32_t i = 0; i < n; i++) {
                if (!read_u32(d, &idx) || !read_name(d, &s, NULL))
                    return false;
                if (idx < m->nfuncs && !m->funcs[idx].name)
                    m->funcs[idx].name = s;
                else
                    free(s);
            }
        }
        if (d->p > sub_end)
            return false;
        d->p = sub_end;
        d->end = d->name_sec_end;
    }
    return true;
}

static void decode_names(struct decoder *d)
{
    /* Errors here must not reach the caller: decode into a scratch status. */
    char *err = d->err;

    if (!d->name_sec)
        return;
    d->err = NULL;
    if (!parse_name_section(d) || d->status != WASM_OK) {
        free_names(d->m); /* even out of memory: names are optional */
        d->status = WASM_OK;
    }
    d->err = err;
    d->section = NULL;
}

/* ---- Module ---------------------------------------------------------------------- */

static void mark_declared(struct wasm_module *m, const struct wasm_constexpr *ce)
{
    if (ce->op == WASM_CONST_REF_FUNC && ce->index < m->nfuncs)
        m->func_declared[ce->index] = 1;
}

/* Spec C.refs: functions named outside function bodies may be used by ref.func. */
static bool collect_declared_funcs(struct decoder *d)
{
    struct wasm_module *m = d->m;

    m->func_declared = calloc(m->nfuncs ? m->nfuncs : 1, 1);
    if (!m->func_declared)
        return fail_nomem(d);
    for (uint32_t i = m->nglobal_imports; i < m->nglobals; i++)
        mark_declared(m, &m->globals[i].init);
    for (uint32_t i = 0; i < m->nelems; i++)
        for (uint32_t k = 0; k < m->elems[i].count; k++)
            mark_declared(m, &m->elems[i].items[k]);
    for (uint32_t i = 0; i < m->nexports; i++)
        if (m->exports[i].kind == WASM_EXTERN_FUNC && m->exports[i].index < m->nfuncs)
            m->func_declared[m->exports[i].index] = 1;
    return true;
}

static bool decode_header(struct decoder *d)
{
    static const uint8_t magic[4] = {0x00, 0x61, 0x73, 0x6d};
    static const uint8_t version[4] = {0x01, 0x00, 0x00, 0x00};
    size_t len = (size_t)(d->file_end - d->base);

    if (len < 4)
        return fail_at(d, d->file_end, "unexpected end");
    if (memcmp(d->base, magic, 4) != 0)
        return fail_at(d, d->base, "magic header not detected");
    if (len < 8)
        return fail_at(d, d->file_end, "unexpected end");
    if (memcmp(d->base + 4, version, 4) != 0)
        return fail_at(d, d->base + 4, "unknown binary version");
    d->p = d->base + 8;
    return true;
}

static bool decode_sections(struct decoder *d)
{
    uint8_t last_rank = 0;

    while (d->p < d->file_end) {
        const uint8_t *at = d->p;
        uint8_t id;
        uint32_t size;

        d->section = NULL;
        d->end = d->file_end;
        id = *d->p++;
        if (id >= SEC_COUNT)
            return fail_at(d, at, "malformed section id");
        d->section = section_names[id];
        if (!read_u32(d, &size))
            return false;
        if (size > (size_t)(d->file_end - d->p))
            return fail_at(d, d->p, "length out of bounds");
        if (id != SEC_CUSTOM) {
            if (section_rank[id] <= last_rank)
                return fail_at(d, at, "unexpected content after last section");
            last_rank = section_rank[id];
        }
        d->end = d->p + size;
        if (!decode_section(d, id))
            return false;
        if (d->p != d->end)
            return fail_at(d, d->p, "section size mismatch");
    }
    d->section = NULL;
    d->end = d->file_end;
    if (!d->has_code_section && d->ndefined_funcs != 0)
        return fail_at(d, d->p, "function and code section have inconsistent lengths");
    if (d->datacount_use && d->has_data_section) {
        d->section = section_names[SEC_CODE];
        d->func = d->datacount_use_func;
        return fail_at(d, d->datacount_use, "data count section required");
    }
    if (d->m->has_datacount && d->m->datacount != d->m->ndatas)
        return fail_at(d, d->p, "data count and data section have inconsistent lengths");
    return true;
}

int wasm_decode(struct wasm_module *m, const uint8_t *bytes, size_t len, char *err, size_t errlen)
{
    struct decoder d = {.m = m, .func = -1, .err = err, .errlen = errlen, .status = WASM_OK};

    memset(m, 0, sizeof(*m));
    if (err && errlen)
        err[0] = '\0';
    if (len > UINT32_MAX) {
        if (err && errlen)
            snprintf(err, errlen, "module too large (%zu bytes)", len);
        return WASM_ERR_MALFORMED;
    }
    m->bytes = malloc(len ? len : 1);
    if (!m->bytes) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return WASM_ERR_NOMEM;
    }
    if (len)
        memcpy(m->bytes, bytes, len);
    m->len = len;
    d.base = m->bytes;
    d.file_end = m->bytes + len;
    d.p = d.base;
    d.end = d.file_end;
    if (decode_header(&d) && decode_sections(&d) && collect_declared_funcs(&d))
        decode_names(&d);
    if (d.status != WASM_OK) {
        wasm_module_release(m);
        return d.status;
    }
    return WASM_OK;
}

void wasm_module_release(struct wasm_module *m)
{
    if (!m)
        return;
    for (uint32_t i = 0; i < m->ntypes; i++)
        free((void *)m->types[i].params);
    free(m->types);
    for (uint32_t i = 0; i < m->nimports; i++) {
        free(m->imports[i].module);
        free(m->imports[i].name);
    }
    free(m->imports);
    for (uint32_t i = 0; i < m->nfuncs; i++) {
        free(m->funcs[i].local_types);
        free(m->funcs[i].name);
        free(m->funcs[i].code);
    }
    free(m->funcs);
    free(m->tables);
    free(m->memories);
    free(m->globals);
    for (uint32_t i = 0; i < m->nexports; i++)
        free(m->exports[i].name);
    free(m->exports);
    for (uint32_t i = 0; i < m->nelems; i++)
        free(m->elems[i].items);
    free(m->elems);
    free(m->datas);
    free(m->func_declared);
    free(m->name);
    free(m->bytes);
    memset(m, 0, sizeof(*m));
}
