/*
 * instance.c - instantiation (linking, globals, tables, memories, segments, start),
 * the host->guest boundary (wasm_call), exports, fuel, guest-memory access, and the
 * interpreter's slow helpers (calls leaving the instance, bulk memory and table ops).
 *
 * An instance holds pointers to its memories, tables and globals (shared objects with
 * reference counts, so imports share them with their exporter) and a function object
 * per function index. The translated code of the module is shared and refers to all of
 * them through the instance.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "regcode.h"

#define DEFAULT_DEPTH 10000u
#define DEFAULT_STACK (4u << 20) /* malloc'd: pages are only committed when used */
#define MAX_TABLE_ELEMS 10000000u

static pthread_once_t engine_once = PTHREAD_ONCE_INIT;

static void engine_setup(void)
{
    wasm_interp_init();
}

/*
 * Also re-installs the fault handler when something replaced it since (the handler that
 * replaced it is then chained for faults outside guest memory).
 */
int wasm_engine_init(void)
{
    pthread_once(&engine_once, engine_setup);
    wasm_signals_install();
    return WASM_OK;
}

/* ---- Small helpers --------------------------------------------------------------- */

#define ERR(...) snprintf(err, errlen, __VA_ARGS__)

static inline uint32_t slot32(uint64_t *fp, uint32_t off)
{
    uint32_t v;
    memcpy(&v, (char *)fp + off, 4);
    return v;
}

static inline uint64_t slot64(uint64_t *fp, uint32_t off)
{
    uint64_t v;
    memcpy(&v, (char *)fp + off, 8);
    return v;
}

static inline void set_slot(uint64_t *fp, uint32_t off, uint64_t v)
{
    memcpy((char *)fp + off, &v, 8);
}

static struct wasm_table *table_new(uint8_t elemtype, uint32_t min, uint32_t max, bool has_max)
{
    if (min > MAX_TABLE_ELEMS)
        return NULL;
    struct wasm_table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->elems = calloc(min ? min : 1, sizeof(uint64_t));
    if (!t->elems) {
        free(t);
        return NULL;
    }
    atomic_init(&t->refs, 1);
    t->elemtype = elemtype;
    t->size = min;
    t->max = has_max ? max : UINT32_MAX;
    t->has_max = has_max;
    return t;
}

static void table_unref(struct wasm_table *t)
{
    if (t && atomic_fetch_sub(&t->refs, 1) == 1) {
        free(t->elems);
        free(t);
    }
}

static void global_unref(struct wasm_global *g)
{
    if (g && atomic_fetch_sub(&g->refs, 1) == 1)
        free(g);
}

/* Grows t by delta elements set to init; returns the old size or -1. */
static int64_t table_grow(struct wasm_table *t, uint32_t delta, uint64_t init)
{
    uint64_t old = t->size, n = old + delta;
    if (n > t->max || n > MAX_TABLE_ELEMS)
        return -1;
    if (delta == 0)
        return (int64_t)old;
    uint64_t *e = realloc(t->elems, n * sizeof(uint64_t));
    if (!e)
        return -1;
    for (uint64_t i = old; i < n; i++)
        e[i] = init;
    t->elems = e;
    t->size = (uint32_t)n;
    return (int64_t)old;
}

static uint64_t eval_expr(const struct wasm_instance *inst, const uint8_t *p, const uint8_t *end);

static uint64_t eval_const(const struct wasm_instance *inst, const struct wasm_constexpr *c)
{
    switch (c->op) {
    case WASM_CONST_EXPR:
        return c->expr ? eval_expr(inst, c->expr, c->expr_end) : 0;
    case WASM_CONST_I32:
    case WASM_CONST_F32:
        return (uint32_t)c->bits;
    case WASM_CONST_I64:
    case WASM_CONST_F64:
        return c->bits;
    case WASM_CONST_GLOBAL:
        return c->index < inst->module->nglobals && inst->globals[c->index]
                   ? inst->globals[c->index]->value
                   : 0;
    case WASM_CONST_REF_NULL:
        return 0;
    case WASM_CONST_REF_FUNC:
        return c->index < inst->module->nfuncs ? (uintptr_t)inst->funcs[c->index] : 0;
    case WASM_CONST_V128:
        return c->bits;
    }
    return 0;
}

/* The high 64 bits of a v128 constant expression (v128.const or global.get). */
static uint64_t eval_const_hi(const struct wasm_instance *inst, const struct wasm_constexpr *c)
{
    if (c->op == WASM_CONST_V128)
        return c->bits_hi;
    if (c->op == WASM_CONST_GLOBAL && c->index < inst->module->nglobals && inst->globals[c->index])
        return inst->globals[c->index]->hi;
    return 0;
}

static uint64_t rd_leb(const uint8_t **pp, const uint8_t *end, bool sgn)
{
    const uint8_t *p = *pp;
    uint64_t r = 0;
    unsigned shift = 0;
    uint8_t b = 0;
    while (p < end) {
        b = *p++;
        if (shift < 64)
            r |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80))
            break;
    }
    if (sgn && shift < 64 && (b & 0x40))
        r |= ~(uint64_t)0 << shift;
    *pp = p;
    return r;
}

/*
 * Evaluates a validated constant expression of several instructions (extended-const:
 * i32/i64 add, sub, mul over constants and global.get).
 */
static uint64_t eval_expr(const struct wasm_instance *inst, const uint8_t *p, const uint8_t *end)
{
    uint64_t st[64];
    unsigned n = 0;
    while (p < end) {
        uint8_t op = *p++;
        uint64_t v = 0, a, b;
        switch (op) {
        case 0x0b:
            return n ? st[n - 1] : 0;
        case 0x41:
            v = (uint32_t)rd_leb(&p, end, true);
            break;
        case 0x42:
            v = rd_leb(&p, end, true);
            break;
        case 0x43:
            if (end - p < 4)
                return 0;
            memcpy(&v, p, 4);
            p += 4;
            break;
        case 0x44:
            if (end - p < 8)
                return 0;
            memcpy(&v, p, 8);
            p += 8;
            break;
        case 0x23: {
            uint32_t g = (uint32_t)rd_leb(&p, end, false);
            v = g < inst->module->nglobals && inst->globals[g] ? inst->globals[g]->value : 0;
            break;
        }
        case 0xd0:
            p++;
            v = 0;
            break;
        case 0xd2: {
            uint32_t f = (uint32_t)rd_leb(&p, end, false);
            v = f < inst->module->nfuncs ? (uintptr_t)inst->funcs[f] : 0;
            break;
        }
        case 0x6a:
        case 0x6b:
        case 0x6c:
        case 0x7c:
        case 0x7d:
        case 0x7e:
            if (n < 2)
                return 0;
            b = st[--n];
            a = st[--n];
            switch (op) {
            case 0x6a:
                v = (uint32_t)(a + b);
                break;
            case 0x6b:
                v = (uint32_t)(a - b);
                break;
            case 0x6c:
                v = (uint32_t)((uint32_t)a * (uint32_t)b);
                break;
            case 0x7c:
                v = a + b;
                break;
            case 0x7d:
                v = a - b;
                break;
            default:
                v = a * b;
                break;
            }
            break;
        default:
            return 0;
        }
        if (n == 64)
            return 0;
        st[n++] = v;
    }
    return n ? st[n - 1] : 0;
}

/* ---- Import checks ----------------------------------------------------------------- */

static bool functype_eq(const struct wasm_functype *a, const struct wasm_functype *b)
{
    return a->nparams == b->nparams && a->nresults == b->nresults &&
           (a->nparams == 0 || memcmp(a->params, b->params, a->nparams) == 0) &&
           (a->nresults == 0 || memcmp(a->results, b->results, a->nresults) == 0);
}

static const char *kind_name(enum wasm_extern_kind k)
{
    switch (k) {
    case WASM_EXTERN_FUNC:
        return "function";
    case WASM_EXTERN_TABLE:
        return "table";
    case WASM_EXTERN_MEMORY:
        return "memory";
    case WASM_EXTERN_GLOBAL:
        return "global";
    }
    return "?";
}

/* Does an actual (size, max) satisfy the imported limits? */
static bool limits_ok(uint64_t size, bool has_max, uint64_t max, const struct wasm_limits *want)
{
    if (size < want->min)
        return false;
    if (want->has_max && (!has_max || max > want->max))
        return false;
    return true;
}

static int link_import(struct wasm_instance *inst, const wasm_linker_t *l, uint32_t i, char *err,
                       size_t errlen)
{
    const struct wasm_module *m = inst->module;
    const struct wasm_import *im = &m->imports[i];
    const struct wasm_link_entry *e = wasm_linker_lookup(l, im->module, im->name);
    if (!e) {
        ERR("unknown import %s.%s", im->module, im->name);
        return WASM_ERR_LINK;
    }
    if (e->kind != im->kind) {
        ERR("incompatible import type for %s.%s: expected %s, got %s", im->module, im->name,
            kind_name(im->kind), kind_name(e->kind));
        return WASM_ERR_LINK;
    }
    switch (im->kind) {
    case WASM_EXTERN_FUNC: {
        const struct wasm_functype *want = &m->types[m->funcs[im->index].type_index];
        if (!functype_eq(want, e->func->type)) {
            char a[128], b[128];
            wasm_functype_str(want, a, sizeof(a));
            wasm_functype_str(e->func->type, b, sizeof(b));
            ERR("incompatible import type for %s.%s: expected %s, got %s", im->module, im->name, a,
                b);
            return WASM_ERR_LINK;
        }
        inst->funcs[im->index] = e->func;
        break;
    }
    case WASM_EXTERN_TABLE: {
        const struct wasm_table_decl *want = &m->tables[im->index];
        struct wasm_table *t = e->table;
        if (t->elemtype != want->elemtype ||
            !limits_ok(t->size, t->has_max, t->max, &want->limits)) {
            ERR("incompatible import type for %s.%s: table type or limits differ", im->module,
                im->name);
            return WASM_ERR_LINK;
        }
        atomic_fetch_add(&t->refs, 1);
        inst->tables[im->index] = t;
        break;
    }
    case WASM_EXTERN_MEMORY: {
        const struct wasm_memory_decl *want = &m->memories[im->index];
        struct wasm_memory *mem = e->memory;
        if (!limits_ok(mem->size / WASM_PAGE_SIZE, mem->has_max, mem->decl_max, &want->limits)) {
            ERR("incompatible import type for %s.%s: memory limits differ", im->module, im->name);
            return WASM_ERR_LINK;
        }
        atomic_fetch_add(&mem->refs, 1);
        inst->memories[im->index] = mem;
        break;
    }
    case WASM_EXTERN_GLOBAL: {
        const struct wasm_global_decl *want = &m->globals[im->index];
        struct wasm_global *g = e->global;
        if (g->valtype != want->valtype || g->mutable_ != want->mutable_) {
            ERR("incompatible import type for %s.%s: global type differs", im->module, im->name);
            return WASM_ERR_LINK;
        }
        atomic_fetch_add(&g->refs, 1);
        inst->globals[im->index] = g;
        break;
    }
    }
    return WASM_OK;
}

/* ---- Segments ---------------------------------------------------------------------- */

static enum wasm_trap table_init(struct wasm_instance *inst, uint32_t ti, uint32_t seg, uint32_t d,
                                 uint32_t s, uint32_t n)
{
    struct wasm_table *t = inst->tables[ti];
    uint64_t seglen = inst->elem_len[seg];
    if ((uint64_t)s + n > seglen || (uint64_t)d + n > t->size)
        return WASM_TRAP_TABLE_OOB;
    if (n)
        memcpy(t->elems + d, inst->elem_refs[seg] + s, (size_t)n * sizeof(uint64_t));
    return WASM_TRAP_NONE;
}

static enum wasm_trap memory_init(struct wasm_instance *inst, uint32_t seg, uint32_t d, uint32_t s,
                                  uint32_t n)
{
    const struct wasm_data_segment *ds = &inst->module->datas[seg];
    uint64_t seglen = inst->data_dropped[seg] ? 0 : ds->len;
    struct wasm_memory *mem = inst->mem0;
    if (!mem || (uint64_t)s + n > seglen || (uint64_t)d + n > mem->size)
        return WASM_TRAP_MEMORY_OOB;
    if (n)
        memcpy(mem->base + d, ds->bytes + s, n);
    return WASM_TRAP_NONE;
}

static int init_segments(struct wasm_instance *inst, char *err, size_t errlen)
{
    const struct wasm_module *m = inst->module;
    for (uint32_t i = 0; i < m->nelems; i++) {
        const struct wasm_elem_segment *es = &m->elems[i];
        uint64_t *refs = NULL;
        if (es->count) {
            refs = malloc(es->count * sizeof(uint64_t));
            if (!refs) {
                ERR("out of memory");
                return WASM_ERR_NOMEM;
            }
            for (uint32_t k = 0; k < es->count; k++)
                refs[k] = eval_const(inst, &es->items[k]);
        }
        inst->elem_refs[i] = refs;
        inst->elem_len[i] = es->count;
        if (es->mode == WASM_SEGMENT_ACTIVE) {
            uint32_t off = (uint32_t)eval_const(inst, &es->offset);
            if (es->table_index >= m->ntables ||
                table_init(inst, es->table_index, i, off, 0, es->count) != WASM_TRAP_NONE) {
                wasm_record_trap(inst, WASM_TRAP_TABLE_OOB, NULL, inst->csp);
                ERR("out of bounds table access");
                return WASM_ERR_TRAP;
            }
        }
        if (es->mode != WASM_SEGMENT_PASSIVE)
            inst->elem_len[i] = 0; /* dropped */
    }
    for (uint32_t i = 0; i < m->ndatas; i++) {
        const struct wasm_data_segment *ds = &m->datas[i];
        if (ds->mode != WASM_SEGMENT_ACTIVE)
            continue;
        uint32_t off = (uint32_t)eval_const(inst, &ds->offset);
        if (ds->memory_index != 0 || memory_init(inst, i, off, 0, ds->len) != WASM_TRAP_NONE) {
            wasm_record_trap(inst, WASM_TRAP_MEMORY_OOB, NULL, inst->csp);
            ERR("out of bounds memory access");
            return WASM_ERR_TRAP;
        }
        inst->data_dropped[i] = 1;
    }
    return WASM_OK;
}

/* ---- Instances --------------------------------------------------------------------- */

struct wasm_instance *wasm_instance_alloc(const struct wasm_module *m,
                                          const struct wasm_instance_config *cfg)
{
    uint32_t ndef = m->nfuncs - m->nfunc_imports;
    size_t sz = sizeof(struct wasm_instance);
    size_t o_funcs = sz;
    sz += m->nfuncs * sizeof(struct wasm_func *);
    size_t o_globals = sz;
    sz += m->nglobals * sizeof(struct wasm_global *);
    size_t o_tables = sz;
    sz += m->ntables * sizeof(struct wasm_table *);
    size_t o_mems = sz;
    sz += m->nmemories * sizeof(struct wasm_memory *);
    size_t o_own = sz;
    sz += ndef * sizeof(struct wasm_func);
    size_t o_tids = sz;
    sz += m->ntypes * sizeof(uint32_t);
    sz = (sz + 7) & ~(size_t)7;
    size_t o_erefs = sz;
    sz += m->nelems * sizeof(uint64_t *);
    size_t o_elen = sz;
    sz += m->nelems * sizeof(uint32_t);
    size_t o_dd = sz;
    sz += m->ndatas;
    char *blk = calloc(1, sz);
    if (!blk)
        return NULL;
    struct wasm_instance *inst = (struct wasm_instance *)blk;
    inst->module = m;
    inst->funcs = (struct wasm_func **)(blk + o_funcs);
    inst->globals = (struct wasm_global **)(blk + o_globals);
    inst->tables = (struct wasm_table **)(blk + o_tables);
    inst->memories = (struct wasm_memory **)(blk + o_mems);
    inst->own_funcs = (struct wasm_func *)(blk + o_own);
    inst->type_ids = (uint32_t *)(blk + o_tids);
    inst->elem_refs = (uint64_t **)(blk + o_erefs);
    inst->elem_len = (uint32_t *)(blk + o_elen);
    inst->data_dropped = (uint8_t *)(blk + o_dd);
    inst->max_depth = cfg && cfg->max_call_depth ? cfg->max_call_depth : DEFAULT_DEPTH;
    inst->stack_bytes = cfg && cfg->value_stack_bytes ? cfg->value_stack_bytes : DEFAULT_STACK;
    return inst;
}

int wasm_instance_link(struct wasm_instance *inst, const wasm_linker_t *l, const uint32_t *type_ids,
                       char *err, size_t errlen)
{
    const struct wasm_module *m = inst->module;
    if (type_ids) {
        memcpy(inst->type_ids, type_ids, m->ntypes * sizeof(uint32_t));
    } else {
        for (uint32_t i = 0; i < m->ntypes; i++) {
            inst->type_ids[i] = wasm_type_canon(&m->types[i]);
            if (!inst->type_ids[i]) {
                ERR("out of memory");
                return WASM_ERR_NOMEM;
            }
        }
    }
    for (uint32_t i = 0; i < m->nimports; i++) {
        int rc = link_import(inst, l, i, err, errlen);
        if (rc != WASM_OK)
            return rc;
    }
    for (uint32_t i = m->nfunc_imports; i < m->nfuncs; i++) {
        struct wasm_func *f = &inst->own_funcs[i - m->nfunc_imports];
        const struct wasm_func_decl *d = &m->funcs[i];
        f->inst = inst;
        f->code = d->code;
        f->type = &m->types[d->type_index];
        f->type_id = inst->type_ids[d->type_index];
        f->index = i;
        inst->funcs[i] = f;
        if (!f->code) {
            ERR("function %u was not translated", i);
            return WASM_ERR_ARG;
        }
    }
    return WASM_OK;
}

struct wasm_global *wasm_global_new(const struct wasm_global_decl *d, uint64_t value)
{
    struct wasm_global *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    atomic_init(&g->refs, 1);
    g->valtype = d->valtype;
    g->mutable_ = d->mutable_;
    g->value = value;
    return g;
}

struct wasm_table *wasm_table_new(const struct wasm_table_decl *d, uint32_t size)
{
    return table_new(d->elemtype, size, d->limits.max, d->limits.has_max);
}

int wasm_memory_limit(const struct wasm_module *m, uint32_t i,
                      const struct wasm_instance_config *cfg, uint32_t pages, uint32_t *max,
                      char *err, size_t errlen)
{
    const struct wasm_memory_decl *md = &m->memories[i];
    uint32_t lim = md->limits.has_max ? md->limits.max : WASM_MAX_PAGES;
    if (lim > WASM_MAX_PAGES)
        lim = WASM_MAX_PAGES;
    if (cfg && cfg->max_memory_pages && cfg->max_memory_pages < lim)
        lim = cfg->max_memory_pages;
    if (pages > lim) {
        ERR("memory %u needs %u pages, more than the limit of %u", i, pages, lim);
        return WASM_ERR_NOMEM;
    }
    *max = lim;
    return WASM_OK;
}

int wasm_instance_new(const wasm_module_t *m, const wasm_linker_t *l,
                      const struct wasm_instance_config *cfg, wasm_instance_t **out, char *err,
                      size_t errlen)
{
    static char dummy[1];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = 0;
    if (out)
        *out = NULL;
    if (!m || !out) {
        ERR("bad argument");
        return WASM_ERR_ARG;
    }
    wasm_engine_init();
    struct wasm_instance *inst = wasm_instance_alloc(m, cfg);
    if (!inst) {
        ERR("out of memory");
        return WASM_ERR_NOMEM;
    }
    int rc = wasm_instance_link(inst, l, NULL, err, errlen);
    if (rc != WASM_OK)
        goto fail;
    for (uint32_t i = m->nglobal_imports; i < m->nglobals; i++) {
        inst->globals[i] = wasm_global_new(&m->globals[i], eval_const(inst, &m->globals[i].init));
        if (!inst->globals[i]) {
            ERR("out of memory");
            rc = WASM_ERR_NOMEM;
            goto fail;
        }
        if (m->globals[i].valtype == WASM_V128)
            inst->globals[i]->hi = eval_const_hi(inst, &m->globals[i].init);
    }
    for (uint32_t i = m->ntable_imports; i < m->ntables; i++) {
        const struct wasm_table_decl *td = &m->tables[i];
        inst->tables[i] = wasm_table_new(td, td->limits.min);
        if (!inst->tables[i]) {
            ERR("cannot allocate table %u (%u elements)", i, td->limits.min);
            rc = WASM_ERR_NOMEM;
            goto fail;
        }
    }
    for (uint32_t i = m->nmemory_imports; i < m->nmemories; i++) {
        const struct wasm_memory_decl *md = &m->memories[i];
        uint32_t max;
        rc = wasm_memory_limit(m, i, cfg, md->limits.min, &max, err, errlen);
        if (rc != WASM_OK)
            goto fail;
        inst->memories[i] =
            wasm_memory_new(md->limits.min, max, md->limits.has_max, md->limits.max);
        if (!inst->memories[i]) {
            ERR("cannot allocate memory %u (%u pages)", i, md->limits.min);
            rc = WASM_ERR_NOMEM;
            goto fail;
        }
    }
    inst->mem0 = m->nmemories ? inst->memories[0] : NULL;

    rc = init_segments(inst, err, errlen);
    if (rc == WASM_ERR_TRAP) {
        *out = inst;
        return rc;
    }
    if (rc != WASM_OK)
        goto fail;
    *out = inst;
    if (m->has_start && !(cfg && cfg->defer_start)) {
        rc = wasm_instance_start(inst);
        if (rc != WASM_OK)
            ERR("start function trapped: %s", wasm_instance_trap_message(inst));
        return rc;
    }
    return WASM_OK;
fail:
    wasm_instance_free(inst);
    return rc;
}

int wasm_instance_start(wasm_instance_t *inst)
{
    const struct wasm_module *m = inst->module;
    if (!m->has_start)
        return WASM_OK;
    uint64_t slots[1] = {0};
    return wasm_call(inst, inst->funcs[m->start_index], slots);
}

void wasm_instance_free(wasm_instance_t *inst)
{
    if (!inst)
        return;
    const struct wasm_module *m = inst->module;
    for (uint32_t i = 0; i < m->nglobals; i++)
        global_unref(inst->globals[i]);
    for (uint32_t i = 0; i < m->ntables; i++)
        table_unref(inst->tables[i]);
    for (uint32_t i = 0; i < m->nmemories; i++)
        wasm_memory_unref(inst->memories[i]);
    for (uint32_t i = 0; i < m->nelems; i++)
        free(inst->elem_refs[i]);
    free(inst->stack);
    free(inst->cs);
    free(inst);
}

const wasm_module_t *wasm_instance_module(const wasm_instance_t *inst)
{
    return inst->module;
}

void wasm_instance_set_userdata(wasm_instance_t *inst, void *userdata)
{
    inst->userdata = userdata;
}

void *wasm_instance_userdata(const wasm_instance_t *inst)
{
    return inst->userdata;
}

static const struct wasm_export *find_export(const struct wasm_module *m, const char *name,
                                             enum wasm_extern_kind kind)
{
    for (uint32_t i = 0; i < m->nexports; i++)
        if (m->exports[i].kind == kind && strcmp(m->exports[i].name, name) == 0)
            return &m->exports[i];
    return NULL;
}

wasm_func_t *wasm_instance_export_func(wasm_instance_t *inst, const char *name)
{
    const struct wasm_export *x = find_export(inst->module, name, WASM_EXTERN_FUNC);
    return x ? inst->funcs[x->index] : NULL;
}

const struct wasm_functype *wasm_func_type(const wasm_func_t *f)
{
    return f->type;
}

int wasm_instance_export_global(wasm_instance_t *inst, const char *name, uint8_t *valtype,
                                uint64_t *value)
{
    const struct wasm_export *x = find_export(inst->module, name, WASM_EXTERN_GLOBAL);
    if (!x)
        return WASM_ERR_ARG;
    const struct wasm_global *g = inst->globals[x->index];
    if (valtype)
        *valtype = g->valtype;
    if (value)
        *value = g->value;
    return WASM_OK;
}

int wasm_instance_export_global_v128(wasm_instance_t *inst, const char *name, uint64_t value[2])
{
    const struct wasm_export *x = find_export(inst->module, name, WASM_EXTERN_GLOBAL);
    if (!x || inst->globals[x->index]->valtype != WASM_V128)
        return WASM_ERR_ARG;
    value[0] = inst->globals[x->index]->value;
    value[1] = inst->globals[x->index]->hi;
    return WASM_OK;
}

/* ---- Calls --------------------------------------------------------------------------- */

static __thread char *native_stack_limit;

/* True when the native stack is nearly used up (host re-entry, cross-instance calls):
 * less than 128 KiB (or a quarter of a small stack) left. */
static bool native_stack_low(void)
{
    char here;
    if (!native_stack_limit) {
        pthread_attr_t a;
        void *addr = NULL;
        size_t size = 0;
        if (pthread_getattr_np(pthread_self(), &a) == 0) {
            pthread_attr_getstack(&a, &addr, &size);
            pthread_attr_destroy(&a);
        }
        size_t margin = size / 4 < (128u << 10) ? size / 4 : (128u << 10);
        native_stack_limit = addr ? (char *)addr + margin : (char *)1;
    }
    return &here < native_stack_limit;
}

static int ensure_exec_state(struct wasm_instance *inst)
{
    if (inst->stack)
        return WASM_OK;
    size_t nslots = inst->stack_bytes / sizeof(uint64_t);
    if (nslots < 64)
        nslots = 64;
    inst->stack = malloc(nslots * sizeof(uint64_t));
    inst->cs = malloc((size_t)(inst->max_depth + 1) * sizeof(struct wasm_frame));
    if (!inst->stack || !inst->cs) {
        free(inst->stack);
        free(inst->cs);
        inst->stack = NULL;
        inst->cs = NULL;
        return WASM_ERR_NOMEM;
    }
    inst->stack_end = inst->stack + nslots;
    inst->stack_top = inst->stack;
    inst->csp = inst->cs;
    inst->cs_end = inst->cs + inst->max_depth;
    return WASM_OK;
}

static void copy_trap(struct wasm_instance *to, const struct wasm_instance *from)
{
    to->trap = from->trap;
    to->exit_code = from->exit_code;
    memcpy(to->trap_msg, from->trap_msg, sizeof(to->trap_msg));
    memcpy(to->backtrace, from->backtrace, sizeof(to->backtrace));
}

static int call_host(struct wasm_instance *inst, struct wasm_func *f, uint64_t *slots)
{
    struct wasm_guard_ctx saved = wasm_guard;
    wasm_guard.inst = NULL;
    inst->trap = WASM_TRAP_NONE;
    int rc = f->host(inst, slots, f->env);
    wasm_guard = saved;
    if (rc == WASM_OK) {
        /* Keep i32/f32 results zero-extended whatever the host wrote above them. */
        const struct wasm_functype *ft = f->type;
        for (uint32_t i = 0; i < ft->nresults; i++)
            if (ft->results[i] == WASM_I32 || ft->results[i] == WASM_F32)
                slots[i] = (uint32_t)slots[i];
        return WASM_OK;
    }
    if (inst->trap == WASM_TRAP_NONE) {
        inst->trap = WASM_TRAP_HOST;
        snprintf(inst->trap_msg, sizeof(inst->trap_msg), "host function failed (%d)", rc);
    }
    return WASM_ERR_TRAP;
}

int wasm_call(wasm_instance_t *inst, wasm_func_t *f, uint64_t *slots)
{
    if (!inst || !f || !slots)
        return WASM_ERR_ARG;
    inst->trap = WASM_TRAP_NONE;
    if (f->host) {
        int rc = ensure_exec_state(inst);
        if (rc != WASM_OK)
            return rc;
        return call_host(inst, f, slots);
    }
    if (f->inst != inst) {
        int rc = wasm_call(f->inst, f, slots);
        if (rc == WASM_ERR_TRAP)
            copy_trap(inst, f->inst);
        return rc;
    }
    if (ensure_exec_state(inst) != WASM_OK)
        return WASM_ERR_NOMEM;
    wasm_thread_prepare();
    const struct wasm_code *code = f->code;
    uint64_t *fp = inst->stack_top;
    struct wasm_frame *entry = inst->csp;
    uint32_t nio = code->nparams > code->nresults ? code->nparams : code->nresults;
    if (native_stack_low() || fp + nio > inst->stack_end) {
        wasm_record_trap(inst, WASM_TRAP_STACK_EXHAUSTED, NULL, entry);
        return WASM_ERR_TRAP;
    }
    /* i32/f32 live zero-extended in their slots, whatever the caller left above them. */
    const struct wasm_functype *ft = f->type;
    for (uint32_t i = 0, k = 0; i < ft->nparams; i++) {
        uint8_t t = ft->params[i];
        fp[k] = t == WASM_I32 || t == WASM_F32 ? (uint32_t)slots[k] : slots[k];
        k++;
        if (t == WASM_V128) {
            fp[k] = slots[k];
            k++;
        }
    }

    struct wasm_guard_ctx saved = wasm_guard;
    sigjmp_buf jb;
    wasm_guard.inst = inst;
    wasm_guard.jmp = &jb;
    if (sigsetjmp(jb, 0)) {
        /* A guard-page fault in this instance's memory (memory.c). */
        wasm_guard = saved;
        wasm_record_trap(inst, WASM_TRAP_MEMORY_OOB, NULL, entry);
        inst->csp = entry;
        inst->stack_top = fp;
        return WASM_ERR_TRAP;
    }
    int rc = wasm_interp_run(inst, code, fp);
    wasm_guard = saved;
    inst->csp = entry;
    inst->stack_top = fp;
    if (rc == WASM_OK) {
        memcpy(slots, fp, (size_t)code->nresults * sizeof(uint64_t));
        /* A host function may have swallowed a trap of a nested call: the call succeeded. */
        inst->trap = WASM_TRAP_NONE;
    }
    return rc;
}

enum wasm_trap wasm_do_call_ext(struct wasm_instance *inst, struct wasm_func *f, uint64_t *args,
                                uint64_t *stack_top)
{
    int rc;
    uint64_t *saved_top = inst->stack_top;
    inst->stack_top = stack_top;
    if (f->host) {
        rc = call_host(inst, f, args);
    } else {
        rc = wasm_call(f->inst, f, args);
        if (rc == WASM_ERR_TRAP && f->inst != inst)
            copy_trap(inst, f->inst);
    }
    inst->stack_top = saved_top;
    if (rc == WASM_OK)
        return WASM_TRAP_NONE;
    if (inst->trap == WASM_TRAP_NONE)
        inst->trap = WASM_TRAP_HOST;
    return inst->trap;
}

/* ---- Memory, fuel ----------------------------------------------------------------- */

uint32_t wasm_memory_grow_inst(struct wasm_instance *inst, uint32_t delta)
{
    if (!inst->mem0)
        return UINT32_MAX;
    int64_t r = wasm_memory_grow(inst->mem0, delta);
    return r < 0 ? UINT32_MAX : (uint32_t)r;
}

void *wasm_memory_ptr(wasm_instance_t *inst, uint64_t offset, uint64_t len)
{
    struct wasm_memory *m = inst->mem0;
    if (!m || offset > m->size || len > m->size - offset)
        return NULL;
    return m->base + offset;
}

uint64_t wasm_memory_size(const wasm_instance_t *inst)
{
    return inst->mem0 ? inst->mem0->size : 0;
}

void wasm_instance_set_fuel(wasm_instance_t *inst, uint64_t fuel)
{
    inst->fuel = fuel;
    inst->fuel_on = fuel != 0;
}

uint64_t wasm_instance_fuel(const wasm_instance_t *inst)
{
    return inst->fuel;
}

void wasm_instance_set_deadline(wasm_instance_t *inst, uint64_t deadline_ns)
{
    inst->deadline = deadline_ns;
}

uint64_t wasm_instance_deadline(const wasm_instance_t *inst)
{
    return inst->deadline;
}

uint64_t wasm_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- Bulk memory and table ops ------------------------------------------------------ */

enum wasm_trap wasm_bulk_op(struct wasm_instance *inst, enum wasm_op op, const wasm_code_word *a,
                            uint64_t *fp)
{
    struct wasm_memory *mem = inst->mem0;
    switch (op) {
    case WASM_OP_memory_fill: {
        uint32_t d = slot32(fp, a[0]), v = slot32(fp, a[1]), n = slot32(fp, a[2]);
        if ((uint64_t)d + n > mem->size)
            return WASM_TRAP_MEMORY_OOB;
        memset(mem->base + d, (int)(v & 0xff), n);
        return WASM_TRAP_NONE;
    }
    case WASM_OP_memory_copy: {
        uint32_t d = slot32(fp, a[0]), s = slot32(fp, a[1]), n = slot32(fp, a[2]);
        if ((uint64_t)d + n > mem->size || (uint64_t)s + n > mem->size)
            return WASM_TRAP_MEMORY_OOB;
        memmove(mem->base + d, mem->base + s, n);
        return WASM_TRAP_NONE;
    }
    case WASM_OP_memory_init:
        return memory_init(inst, a[3], slot32(fp, a[0]), slot32(fp, a[1]), slot32(fp, a[2]));
    case WASM_OP_data_drop:
        inst->data_dropped[a[0]] = 1;
        return WASM_TRAP_NONE;
    case WASM_OP_table_get: {
        struct wasm_table *t = inst->tables[a[2]];
        uint32_t i = slot32(fp, a[1]);
        if (i >= t->size)
            return WASM_TRAP_TABLE_OOB;
        set_slot(fp, a[0], t->elems[i]);
        return WASM_TRAP_NONE;
    }
    case WASM_OP_table_set: {
        struct wasm_table *t = inst->tables[a[2]];
        uint32_t i = slot32(fp, a[0]);
        if (i >= t->size)
            return WASM_TRAP_TABLE_OOB;
        t->elems[i] = slot64(fp, a[1]);
        return WASM_TRAP_NONE;
    }
    case WASM_OP_table_size:
        set_slot(fp, a[0], inst->tables[a[1]]->size);
        return WASM_TRAP_NONE;
    case WASM_OP_table_grow: {
        int64_t r = table_grow(inst->tables[a[3]], slot32(fp, a[2]), slot64(fp, a[1]));
        set_slot(fp, a[0], (uint32_t)r);
        return WASM_TRAP_NONE;
    }
    case WASM_OP_table_fill: {
        struct wasm_table *t = inst->tables[a[3]];
        uint32_t i = slot32(fp, a[0]), n = slot32(fp, a[2]);
        uint64_t v = slot64(fp, a[1]);
        if ((uint64_t)i + n > t->size)
            return WASM_TRAP_TABLE_OOB;
        for (uint32_t k = 0; k < n; k++)
            t->elems[i + k] = v;
        return WASM_TRAP_NONE;
    }
    case WASM_OP_table_copy: {
        struct wasm_table *td = inst->tables[a[3]], *ts = inst->tables[a[4]];
        uint32_t d = slot32(fp, a[0]), s = slot32(fp, a[1]), n = slot32(fp, a[2]);
        if ((uint64_t)d + n > td->size || (uint64_t)s + n > ts->size)
            return WASM_TRAP_TABLE_OOB;
        memmove(td->elems + d, ts->elems + s, (size_t)n * sizeof(uint64_t));
        return WASM_TRAP_NONE;
    }
    case WASM_OP_table_init:
        return table_init(inst, a[3], a[4], slot32(fp, a[0]), slot32(fp, a[1]), slot32(fp, a[2]));
    case WASM_OP_elem_drop:
        inst->elem_len[a[0]] = 0;
        return WASM_TRAP_NONE;
    default:
        return WASM_TRAP_UNREACHABLE;
    }
}
