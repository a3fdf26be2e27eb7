/*
 * linker.c - named definitions that imports resolve against: host functions registered
 * with a signature string, and the exports of existing instances (shared by reference).
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
};

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
    free(l);
}

const struct wasm_link_entry *wasm_linker_lookup(const wasm_linker_t *l, const char *module,
                                                 const char *name)
{
    if (!l)
        return NULL;
    for (uint32_t i = 0; i < l->n; i++)
        if (strcmp(l->e[i].name, name) == 0 && strcmp(l->e[i].module, module) == 0)
            return &l->e[i];
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
