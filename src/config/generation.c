/*
 * generation.c - the memory and the lifetime of a configuration generation:
 * a bump arena that owns every byte of one generation (freed in one call),
 * and the atomic reference count that decides when that happens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define ARENA_CHUNK 8192

struct arena_chunk {
    struct arena_chunk *next;
    size_t used;
    size_t size;
    _Alignas(16) unsigned char data[];
};

struct cfg_arena {
    struct arena_chunk *head;
};

static void *arena_checked(void *p)
{
    if (p == NULL) {
        fputs("wasp: out of memory while loading the configuration\n", stderr);
        abort();
    }
    return p;
}

struct cfg_arena *cfg_arena_new(void)
{
    return arena_checked(calloc(1, sizeof(struct cfg_arena)));
}

void *cfg_arena_alloc(struct cfg_arena *a, size_t size)
{
    struct arena_chunk *c = a->head;
    size = (size + 15) & ~(size_t)15;
    if (c == NULL || c->size - c->used < size) {
        size_t cap = size > ARENA_CHUNK ? size : ARENA_CHUNK;
        c = arena_checked(malloc(sizeof(*c) + cap));
        c->used = 0;
        c->size = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

char *cfg_arena_strndup(struct cfg_arena *a, const char *s, size_t n)
{
    char *p = cfg_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *cfg_arena_strdup(struct cfg_arena *a, const char *s)
{
    return cfg_arena_strndup(a, s, strlen(s));
}

void *cfg_arena_grow(struct cfg_arena *a, const void *items, size_t n, size_t size)
{
    unsigned char *p = cfg_arena_alloc(a, (n + 1) * size);
    if (n > 0)
        memcpy(p, items, n * size);
    return p;
}

void cfg_arena_free(struct cfg_arena *a)
{
    if (a == NULL)
        return;
    struct arena_chunk *c = a->head;
    while (c != NULL) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

const struct cfg_generation *cfg_ref(const struct cfg_generation *g)
{
    /* The count is the one field of a published generation that changes. */
    struct cfg_generation *m = (struct cfg_generation *)g;
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return g;
}

void cfg_unref(const struct cfg_generation *g)
{
    struct cfg_generation *m = (struct cfg_generation *)g;
    if (m == NULL)
        return;
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    /* The generation struct itself lives in its arena. */
    cfg_arena_free(m->arena);
}
