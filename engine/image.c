/*
 * image.c - snapshots of an instance (images) and instances made from them (clones).
 *
 * An image is the state of an instance frozen after its initialisation: the contents of
 * its memories (one sealed memfd each, see memory.c), the values of its defined globals,
 * the elements of its defined tables, which data and element segments are dropped, and
 * the evaluated passive element segments. Function references inside it are stored as
 * function indices, so each clone points at its own functions and its own imports.
 * A clone is made without running any guest code and without touching the module's data
 * segments: memories are mapped copy-on-write from the image, everything else is a few
 * small copies. The image is immutable, so any number of threads clone it at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "regcode.h"

#define ERR(...) snprintf(err, errlen, __VA_ARGS__)

struct image_table {
    uint32_t size;
    uint64_t *elems; /* encoded references (see encode_ref) */
};

struct image_memory {
    int fd; /* sealed memfd of size bytes; -1 when size is 0 */
    uint64_t size;
};

struct wasm_image {
    const struct wasm_module *module;
    uint32_t *type_ids;            /* canonical ids, one per module type */
    uint64_t *globals;             /* defined globals: encoded value, then a v128's high half */
    struct image_table *tables;    /* defined tables */
    struct image_memory *memories; /* defined memories */
    uint64_t **elem_refs;          /* per element segment, encoded; NULL when dropped */
    uint32_t *elem_len;            /* 0 once dropped */
    uint8_t *data_dropped;
};

/* ---- References -------------------------------------------------------------------- */

/*
 * A reference of type reftype as stored in an image: externrefs are opaque host bits and
 * kept as they are; a funcref becomes its index in inst's function space plus one (0 is
 * null). Returns false for a function that inst neither defines nor imports.
 */
static bool encode_ref(const struct wasm_instance *inst, uint8_t reftype, uint64_t ref,
                       uint64_t *out)
{
    const struct wasm_module *m = inst->module;
    if (reftype != WASM_FUNCREF || ref == 0) {
        *out = ref;
        return true;
    }
    uintptr_t p = (uintptr_t)ref, own = (uintptr_t)inst->own_funcs;
    uint32_t ndef = m->nfuncs - m->nfunc_imports;
    if (p >= own && p < own + ndef * sizeof(struct wasm_func)) {
        *out = (uint64_t)((const struct wasm_func *)p)->index + 1;
        return true;
    }
    for (uint32_t i = 0; i < m->nfunc_imports; i++)
        if ((uintptr_t)inst->funcs[i] == p) {
            *out = (uint64_t)i + 1;
            return true;
        }
    return false;
}

static uint64_t decode_ref(const struct wasm_instance *inst, uint8_t reftype, uint64_t v)
{
    if (reftype != WASM_FUNCREF || v == 0)
        return v;
    return (uintptr_t)inst->funcs[v - 1];
}

/*
 * A copy of n references, encoded, in *out (NULL when n is 0). Returns WASM_OK,
 * WASM_ERR_ARG when one names a function of another instance, or WASM_ERR_NOMEM.
 */
static int encode_refs(const struct wasm_instance *inst, uint8_t reftype, const uint64_t *refs,
                       uint32_t n, uint64_t **out)
{
    *out = NULL;
    if (n == 0)
        return WASM_OK;
    uint64_t *e = malloc((size_t)n * sizeof(uint64_t));
    if (!e)
        return WASM_ERR_NOMEM;
    for (uint32_t k = 0; k < n; k++)
        if (!encode_ref(inst, reftype, refs[k], &e[k])) {
            free(e);
            return WASM_ERR_ARG;
        }
    *out = e;
    return WASM_OK;
}

/* The message of a failed encode_refs of what (e.g. "table 3"); returns rc. */
static int refs_error(int rc, const char *what, uint32_t index, char *err, size_t errlen)
{
    if (rc == WASM_ERR_NOMEM)
        ERR("out of memory");
    else
        ERR("%s %u holds a function of another instance", what, index);
    return rc;
}

/* ---- Capture ----------------------------------------------------------------------- */

void wasm_image_free(wasm_image_t *img)
{
    if (!img)
        return;
    const struct wasm_module *m = img->module;
    if (img->tables)
        for (uint32_t i = 0; i < m->ntables - m->ntable_imports; i++)
            free(img->tables[i].elems);
    if (img->memories)
        for (uint32_t i = 0; i < m->nmemories - m->nmemory_imports; i++)
            if (img->memories[i].fd >= 0)
                close(img->memories[i].fd);
    if (img->elem_refs)
        for (uint32_t i = 0; i < m->nelems; i++)
            free(img->elem_refs[i]);
    free(img->type_ids);
    free(img->globals);
    free(img->tables);
    free(img->memories);
    free(img->elem_refs);
    free(img->elem_len);
    free(img->data_dropped);
    free(img);
}

/* Checks that inst's state can live in an image: nothing it shares with another
 * instance other than functions and globals. */
static int check_capturable(const struct wasm_instance *inst, char *err, size_t errlen)
{
    const struct wasm_module *m = inst->module;
    if (inst->stack && inst->csp != inst->cs) {
        ERR("cannot capture a running instance");
        return WASM_ERR_ARG;
    }
    if (m->nmemory_imports || m->ntable_imports) {
        ERR("cannot capture an instance that imports a %s: its state belongs to another "
            "instance",
            m->nmemory_imports ? "memory" : "table");
        return WASM_ERR_ARG;
    }
    return WASM_OK;
}

static int capture_tables_globals(wasm_image_t *img, const struct wasm_instance *inst, char *err,
                                  size_t errlen)
{
    const struct wasm_module *m = inst->module;
    uint32_t ng = m->nglobals - m->nglobal_imports, nt = m->ntables - m->ntable_imports;
    img->globals = calloc(ng ? 2 * ng : 1, sizeof(uint64_t));
    img->tables = calloc(nt ? nt : 1, sizeof(struct image_table));
    if (!img->globals || !img->tables) {
        ERR("out of memory");
        return WASM_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < ng; i++) {
        const struct wasm_global *g = inst->globals[m->nglobal_imports + i];
        img->globals[2 * i + 1] = g->hi;
        if (!encode_ref(inst, g->valtype, g->value, &img->globals[2 * i])) {
            ERR("global %u holds a function of another instance", m->nglobal_imports + i);
            return WASM_ERR_ARG;
        }
    }
    for (uint32_t i = 0; i < nt; i++) {
        const struct wasm_table *t = inst->tables[m->ntable_imports + i];
        img->tables[i].size = t->size;
        int rc = encode_refs(inst, t->elemtype, t->elems, t->size, &img->tables[i].elems);
        if (rc != WASM_OK)
            return refs_error(rc, "table", m->ntable_imports + i, err, errlen);
    }
    return WASM_OK;
}

static int capture_segments(wasm_image_t *img, const struct wasm_instance *inst, char *err,
                            size_t errlen)
{
    const struct wasm_module *m = inst->module;
    img->elem_refs = calloc(m->nelems ? m->nelems : 1, sizeof(uint64_t *));
    img->elem_len = calloc(m->nelems ? m->nelems : 1, sizeof(uint32_t));
    img->data_dropped = calloc(m->ndatas ? m->ndatas : 1, 1);
    if (!img->elem_refs || !img->elem_len || !img->data_dropped) {
        ERR("out of memory");
        return WASM_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < m->nelems; i++) {
        img->elem_len[i] = inst->elem_len[i];
        int rc = encode_refs(inst, m->elems[i].reftype, inst->elem_refs[i], inst->elem_len[i],
                             &img->elem_refs[i]);
        if (rc != WASM_OK)
            return refs_error(rc, "element segment", i, err, errlen);
    }
    if (m->ndatas)
        memcpy(img->data_dropped, inst->data_dropped, m->ndatas);
    return WASM_OK;
}

static int capture_memories(wasm_image_t *img, const struct wasm_instance *inst, char *err,
                            size_t errlen)
{
    const struct wasm_module *m = inst->module;
    uint32_t nm = m->nmemories - m->nmemory_imports;
    img->memories = calloc(nm ? nm : 1, sizeof(struct image_memory));
    if (!img->memories) {
        ERR("out of memory");
        return WASM_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < nm; i++)
        img->memories[i].fd = -1;
    for (uint32_t i = 0; i < nm; i++) {
        const struct wasm_memory *mem = inst->memories[m->nmemory_imports + i];
        img->memories[i].size = mem->size;
        if (mem->size == 0)
            continue;
        img->memories[i].fd = wasm_memory_save(mem);
        if (img->memories[i].fd < 0) {
            ERR("cannot save memory %u (%llu bytes) to a memfd: %s", i,
                (unsigned long long)mem->size, strerror(errno));
            return WASM_ERR_NOMEM;
        }
    }
    return WASM_OK;
}

int wasm_image_new(const wasm_instance_t *inst, wasm_image_t **out, char *err, size_t errlen)
{
    static char dummy[1];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = 0;
    if (out)
        *out = NULL;
    if (!inst || !out) {
        ERR("bad argument");
        return WASM_ERR_ARG;
    }
    int rc = check_capturable(inst, err, errlen);
    if (rc != WASM_OK)
        return rc;
    const struct wasm_module *m = inst->module;
    wasm_image_t *img = calloc(1, sizeof(*img));
    if (!img) {
        ERR("out of memory");
        return WASM_ERR_NOMEM;
    }
    img->module = m;
    img->type_ids = malloc((m->ntypes ? m->ntypes : 1) * sizeof(uint32_t));
    if (!img->type_ids) {
        ERR("out of memory");
        rc = WASM_ERR_NOMEM;
        goto fail;
    }
    if (m->ntypes)
        memcpy(img->type_ids, inst->type_ids, m->ntypes * sizeof(uint32_t));
    rc = capture_tables_globals(img, inst, err, errlen);
    if (rc == WASM_OK)
        rc = capture_segments(img, inst, err, errlen);
    if (rc == WASM_OK)
        rc = capture_memories(img, inst, err, errlen);
    if (rc != WASM_OK)
        goto fail;
    *out = img;
    return WASM_OK;
fail:
    wasm_image_free(img);
    return rc;
}

const wasm_module_t *wasm_image_module(const wasm_image_t *img)
{
    return img->module;
}

uint64_t wasm_image_memory_size(const wasm_image_t *img)
{
    const struct wasm_module *m = img->module;
    return m->nmemories > m->nmemory_imports ? img->memories[0].size : 0;
}

/* ---- Clones ------------------------------------------------------------------------ */

static int restore_state(struct wasm_instance *inst, const wasm_image_t *img,
                         const struct wasm_instance_config *cfg, char *err, size_t errlen)
{
    const struct wasm_module *m = inst->module;
    for (uint32_t i = m->nglobal_imports; i < m->nglobals; i++) {
        const struct wasm_global_decl *d = &m->globals[i];
        const uint64_t *v = &img->globals[2 * (i - m->nglobal_imports)];
        inst->globals[i] = wasm_global_new(d, decode_ref(inst, d->valtype, v[0]));
        if (!inst->globals[i]) {
            ERR("out of memory");
            return WASM_ERR_NOMEM;
        }
        inst->globals[i]->hi = v[1];
    }
    for (uint32_t i = m->ntable_imports; i < m->ntables; i++) {
        const struct image_table *it = &img->tables[i - m->ntable_imports];
        struct wasm_table *t = wasm_table_new(&m->tables[i], it->size);
        if (!t) {
            ERR("cannot allocate table %u (%u elements)", i, it->size);
            return WASM_ERR_NOMEM;
        }
        inst->tables[i] = t;
        for (uint32_t k = 0; k < it->size; k++)
            t->elems[k] = decode_ref(inst, t->elemtype, it->elems[k]);
    }
    for (uint32_t i = m->nmemory_imports; i < m->nmemories; i++) {
        const struct image_memory *im = &img->memories[i - m->nmemory_imports];
        const struct wasm_memory_decl *md = &m->memories[i];
        uint32_t max;
        int rc =
            wasm_memory_limit(m, i, cfg, (uint32_t)(im->size / WASM_PAGE_SIZE), &max, err, errlen);
        if (rc != WASM_OK)
            return rc;
        inst->memories[i] =
            wasm_memory_new_mapped(im->fd, im->size, max, md->limits.has_max, md->limits.max);
        if (!inst->memories[i]) {
            ERR("cannot map memory %u (%llu bytes) from the image", i,
                (unsigned long long)im->size);
            return WASM_ERR_NOMEM;
        }
    }
    inst->mem0 = m->nmemories ? inst->memories[0] : NULL;
    for (uint32_t i = 0; i < m->nelems; i++) {
        uint32_t n = img->elem_len[i];
        inst->elem_len[i] = n;
        if (n == 0)
            continue;
        inst->elem_refs[i] = malloc((size_t)n * sizeof(uint64_t));
        if (!inst->elem_refs[i]) {
            ERR("out of memory");
            return WASM_ERR_NOMEM;
        }
        for (uint32_t k = 0; k < n; k++)
            inst->elem_refs[i][k] = decode_ref(inst, m->elems[i].reftype, img->elem_refs[i][k]);
    }
    if (m->ndatas)
        memcpy(inst->data_dropped, img->data_dropped, m->ndatas);
    return WASM_OK;
}

int wasm_instance_new_from_image(const wasm_image_t *img, const wasm_linker_t *l,
                                 const struct wasm_instance_config *cfg, wasm_instance_t **out,
                                 char *err, size_t errlen)
{
    static char dummy[1];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = 0;
    if (out)
        *out = NULL;
    if (!img || !out) {
        ERR("bad argument");
        return WASM_ERR_ARG;
    }
    wasm_engine_init();
    struct wasm_instance *inst = wasm_instance_alloc(img->module, cfg);
    if (!inst) {
        ERR("out of memory");
        return WASM_ERR_NOMEM;
    }
    int rc = wasm_instance_link(inst, l, img->type_ids, err, errlen);
    if (rc == WASM_OK)
        rc = restore_state(inst, img, cfg, err, errlen);
    if (rc != WASM_OK) {
        wasm_instance_free(inst);
        return rc;
    }
    *out = inst;
    return WASM_OK;
}
