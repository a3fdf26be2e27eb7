/*
 * module.c - loading a module (decode, validate, translate) and describing its imports
 * and exports through the public API (wasm.h). A loaded module is immutable and may be
 * read from any number of threads.
 */
#include <stdlib.h>
#include <string.h>

#include "module.h"

wasm_module_t *wasm_module_load(const uint8_t *bytes, size_t len, enum wasm_status *status,
                                char *err, size_t errlen)
{
    struct wasm_module *m;
    int rc;

    m = calloc(1, sizeof(*m));
    if (!m) {
        rc = WASM_ERR_NOMEM;
        if (err && errlen)
            strncpy(err, "out of memory", errlen - 1), err[errlen - 1] = '\0';
        goto fail;
    }
    rc = wasm_decode(m, bytes, len, err, errlen);
    if (rc != WASM_OK)
        goto free_module;
    rc = wasm_validate(m, err, errlen);
    if (rc != WASM_OK)
        goto release_module;
    rc = wasm_translate(m, err, errlen);
    if (rc != WASM_OK)
        goto release_module;
    if (status)
        *status = WASM_OK;
    return m;

release_module:
    wasm_module_release(m);
free_module:
    free(m);
fail:
    if (status)
        *status = (enum wasm_status)rc;
    return NULL;
}

void wasm_module_free(wasm_module_t *m)
{
    if (!m)
        return;
    wasm_module_release(m);
    free(m);
}

uint32_t wasm_module_import_count(const wasm_module_t *m)
{
    return m->nimports;
}

uint32_t wasm_module_export_count(const wasm_module_t *m)
{
    return m->nexports;
}

/* Fills the type part of d for entity (kind, index) of m. */
static void describe_extern(const struct wasm_module *m, enum wasm_extern_kind kind, uint32_t index,
                            struct wasm_extern_desc *d)
{
    d->kind = kind;
    switch (kind) {
    case WASM_EXTERN_FUNC:
        d->type.func = m->types[m->funcs[index].type_index];
        break;
    case WASM_EXTERN_TABLE:
        d->type.table.elemtype = m->tables[index].elemtype;
        d->type.table.limits = m->tables[index].limits;
        break;
    case WASM_EXTERN_MEMORY:
        d->type.memory = m->memories[index].limits;
        break;
    case WASM_EXTERN_GLOBAL:
        d->type.global.valtype = m->globals[index].valtype;
        d->type.global.mutable_ = m->globals[index].mutable_;
        break;
    }
}

int wasm_module_import(const wasm_module_t *m, uint32_t i, struct wasm_extern_desc *d)
{
    if (i >= m->nimports)
        return WASM_ERR_ARG;
    memset(d, 0, sizeof(*d));
    d->module = m->imports[i].module;
    d->name = m->imports[i].name;
    describe_extern(m, m->imports[i].kind, m->imports[i].index, d);
    return WASM_OK;
}

int wasm_module_export(const wasm_module_t *m, uint32_t i, struct wasm_extern_desc *d)
{
    if (i >= m->nexports)
        return WASM_ERR_ARG;
    memset(d, 0, sizeof(*d));
    d->name = m->exports[i].name;
    describe_extern(m, m->exports[i].kind, m->exports[i].index, d);
    return WASM_OK;
}

bool wasm_module_has_export_func(const wasm_module_t *m, const char *name)
{
    size_t len = strlen(name);

    for (uint32_t i = 0; i < m->nexports; i++) {
        const struct wasm_export *ex = &m->exports[i];
        if (ex->kind == WASM_EXTERN_FUNC && ex->name_len == len && memcmp(ex->name, name, len) == 0)
            return true;
    }
    return false;
}
