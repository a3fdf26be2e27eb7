/*
 * linker.c - named definitions that imports resolve against: host functions registered
 * with a signature string, and the exports of existing instances (shared by reference).
 *
 * Lookups go through a hash index of (module, name), so resolving the imports of a
 * module costs O(imports) whatever the number of definitions: instantiation from an
 * image (image.c) relinks every import per clone and must stay in the microseconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regcode.h"

/* A host function with its own copy of its type (entries move when the array grows). */
struct host_func {
    struct wasm_func f; /* first: entries point here and free it */
    struct wasm_functype type;
};

struct wasm_linker {
    struct wasm_link_entry *e;
    uint32_t n, cap;
    /* Open addressing, linear probing: entry index + 1, 0 empty; a power of two, at
     * least twice n (rebuilt when it would be fuller). */
    uint32_t *index;
    uint32_t index_cap;
};

/* FNV-1a over module, a separator no name can contain here (NUL), and name. */
static uint32_t name_hash(const char *module, const char *name)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)module; *p; p++)
        h = (h ^ *p) * 16777619u;
    h = (h ^ 0xffu) * 16777619u;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

/* Puts entry i into the index (which has room). */
static void index_put(wasm_linker_t *l, uint32_t i)
{
    uint32_t mask = l->index_cap - 1;
    uint32_t k = name_hash(l->e[i].module, l->e[i].name) & mask;
    while (l->index[k])
        k = (k + 1) & mask;
    l->index[k] = i + 1;
}

/* Makes the index hold n entries at most half full. Returns false when out of memory. */
static bool index_reserve(wasm_linker_t *l, uint32_t n)
{
    if (l->index_cap >= 2 * n)
        return true;
    uint32_t cap = l->index_cap ? l->index_cap : 64;
    while (cap < 2 * n)
        cap *= 2;
    uint32_t *idx = calloc(cap, sizeof(*idx));
    if (!idx)
        return false;
    free(l->index);
    l->index = idx;
    l->index_cap = cap;
    for (uint32_t i = 0; i < l->n; i++)
        index_put(l, i);
    return true;
}

wasm_linker_t *wasm_linker_new(void)
{
    return calloc(1, sizeof(struct wasm_linker));
}

static void entry_release(struct wasm_link_entry *e)
{
    free(e->module);
    free(e->name);
    if (e->owned) {
        free((void *)e->type.params);
        free(e->func);
    }
    memset(e, 0, sizeof(*e));
}

void wasm_linker_free(wasm_linker_t *l)
{
    if (!l)
        return;
    for (uint32_t i = 0; i < l->n; i++)
        entry_release(&l->e[i]);
    free(l->e);
    free(l->index);
    free(l);
}

const struct wasm_link_entry *wasm_linker_lookup(const wasm_linker_t *l, const char *module,
                                                 const char *name)
{
    if (!l || !l->index_cap)
        return NULL;
    uint32_t mask = l->index_cap - 1;
    for (uint32_t k = name_hash(module, name) & mask; l->index[k]; k = (k + 1) & mask) {
        const struct wasm_link_entry *e = &l->e[l->index[k] - 1];
        if (strcmp(e->name, name) == 0 && strcmp(e->module, module) == 0)
            return e;
    }
    return NULL;
}

/* A fresh or replaced entry for (module, name); NULL when out of memory. */
static struct wasm_link_entry *slot_for(wasm_linker_t *l, const char *module, const char *name)
{
    struct wasm_link_entry *e = (struct wasm_link_entry *)wasm_linker_lookup(l, module, name);
    char *mc = strdup(module), *nc = strdup(name);
    if (!mc || !nc) {
        free(mc);
        free(nc);
        return NULL;
    }
    if (e) {
        entry_release(e);
    } else {
        if (!index_reserve(l, l->n + 1)) {
            free(mc);
            free(nc);
            return NULL;
        }
        if (l->n == l->cap) {
            uint32_t nc2 = l->cap ? l->cap * 2 : 32;
            struct wasm_link_entry *ne = realloc(l->e, nc2 * sizeof(*ne));
            if (!ne) {
                free(mc);
                free(nc);
                return NULL;
            }
            l->e = ne;
            l->cap = nc2;
        }
        e = &l->e[l->n++];
        memset(e, 0, sizeof(*e));
        e->module = mc;
        e->name = nc;
        index_put(l, l->n - 1);
        return e;
    }
    e->module = mc;
    e->name = nc;
    return e;
}

static int sig_type(char c)
{
    switch (c) {
    case 'i':
        return WASM_I32;
    case 'I':
        return WASM_I64;
    case 'f':
        return WASM_F32;
    case 'F':
        return WASM_F64;
    case 'r':
        return WASM_EXTERNREF;
    default:
        return -1;
    }
}

int wasm_linker_define_func(wasm_linker_t *l, const char *module, const char *name, const char *sig,
                            wasm_host_func_t fn, void *env)
{
    if (!l || !module || !name || !sig || !fn || sig[0] != '(')
        return WASM_ERR_ARG;
    const char *close = strchr(sig, ')');
    if (!close)
        return WASM_ERR_ARG;
    size_t np = (size_t)(close - sig - 1), nr = strlen(close + 1);
    uint8_t *types = malloc(np + nr + 1);
    if (!types)
        return WASM_ERR_NOMEM;
    for (size_t i = 0; i < np; i++) {
        int t = sig_type(sig[1 + i]);
        if (t < 0) {
            free(types);
            return WASM_ERR_ARG;
        }
        types[i] = (uint8_t)t;
    }
    for (size_t i = 0; i < nr; i++) {
        int t = sig_type(close[1 + i]);
        if (t < 0) {
            free(types);
            return WASM_ERR_ARG;
        }
        types[np + i] = (uint8_t)t;
    }
    struct host_func *hf = calloc(1, sizeof(*hf));
    struct wasm_func *f = hf ? &hf->f : NULL;
    if (!f) {
        free(types);
        return WASM_ERR_NOMEM;
    }
    struct wasm_link_entry *e = slot_for(l, module, name);
    if (!e) {
        free(types);
        free(hf);
        return WASM_ERR_NOMEM;
    }
    e->kind = WASM_EXTERN_FUNC;
    e->owned = true;
    e->type.nparams = (uint32_t)np;
    e->type.nresults = (uint32_t)nr;
    e->type.params = types;
    e->type.results = types + np;
    hf->type = e->type;
    f->type = &hf->type; /* stable: the entry array may move */
    f->host = fn;
    f->env = env;
    f->index = UINT32_MAX;
    e->func = f;
    f->type_id = wasm_type_canon(&e->type);
    return f->type_id ? WASM_OK : WASM_ERR_NOMEM;
}

int wasm_linker_define_instance(wasm_linker_t *l, const char *module_name, wasm_instance_t *inst)
{
    if (!l || !module_name || !inst)
        return WASM_ERR_ARG;
    const struct wasm_module *m = inst->module;
    for (uint32_t i = 0; i < m->nexports; i++) {
        const struct wasm_export *x = &m->exports[i];
        struct wasm_link_entry *e = slot_for(l, module_name, x->name);
        if (!e)
            return WASM_ERR_NOMEM;
        e->kind = x->kind;
        switch (x->kind) {
        case WASM_EXTERN_FUNC:
            e->func = inst->funcs[x->index];
            break;
        case WASM_EXTERN_TABLE:
            e->table = inst->tables[x->index];
            break;
        case WASM_EXTERN_MEMORY:
            e->memory = inst->memories[x->index];
            break;
        case WASM_EXTERN_GLOBAL:
            e->global = inst->globals[x->index];
            break;
        }
    }
    return WASM_OK;
}

void wasm_functype_str(const struct wasm_functype *t, char *buf, size_t len)
{
    size_t o = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(buf + o, o < len ? len - o : 0, __VA_ARGS__);                            \
        if (w_ > 0)                                                                                \
            o += (size_t)w_;                                                                       \
    } while (0)
    if (!len)
        return;
    buf[0] = 0;
    PUT("(");
    for (uint32_t i = 0; i < t->nparams; i++)
        PUT("%s%s", i ? " " : "", wasm_valtype_name(t->params[i]));
    PUT(")->(");
    for (uint32_t i = 0; i < t->nresults; i++)
        PUT("%s%s", i ? " " : "", wasm_valtype_name(t->results[i]));
    PUT(")");
#undef PUT
}
