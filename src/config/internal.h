/*
 * internal.h - what the files of src/config/ share and nobody else uses:
 * the arena that owns a generation's memory, and route indexing.
 */
#ifndef WASP_CONFIG_INTERNAL_H
#define WASP_CONFIG_INTERNAL_H

#include "config.h"

/* Creates an empty arena. Aborts on out-of-memory, as every arena call does:
 * a configuration that cannot be allocated cannot be reported either. */
struct cfg_arena *cfg_arena_new(void);

/* Zeroed, 16-byte aligned memory that lives until cfg_arena_free(). */
void *cfg_arena_alloc(struct cfg_arena *a, size_t size);

/* A NUL-terminated copy of s[0..n). */
char *cfg_arena_strndup(struct cfg_arena *a, const char *s, size_t n);
char *cfg_arena_strdup(struct cfg_arena *a, const char *s);

/* Returns a copy of `items` (n elements of `size` bytes) with room for one
 * more element, which is returned zeroed at index n. */
void *cfg_arena_grow(struct cfg_arena *a, const void *items, size_t n, size_t size);

void cfg_arena_free(struct cfg_arena *a);

/* Fills l->routes with every route of `routes` that applies to listener `l`,
 * in lookup order (see cfg_route_lookup()). */
void cfg_route_index(struct cfg_arena *a, struct cfg_listener *l,
                     const struct cfg_route *const *routes, size_t n_routes);

/* Calls fn(kind, key, arg) for every key of every section kind, in table
 * order (used by the test that etc/waspd.ini documents every key). */
void cfg_each_key(void (*fn)(const char *kind, const char *key, void *arg), void *arg);

#endif /* WASP_CONFIG_INTERNAL_H */
