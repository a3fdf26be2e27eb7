/*
 * route.c - request routing over a configuration generation: the lookup
 * order of a listener's routes (fixed once at load time) and the lock-free
 * lookup done per request, plus finding sections by name and matching
 * listeners across generations.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* Lower rank is tried first: exact hosts, then wildcards, then any host. */
static int host_rank(const struct cfg_route *r)
{
    switch (r->host_match) {
    case CFG_HOST_EXACT:
        return 0;
    case CFG_HOST_SUFFIX:
        return 1;
    default:
        return 2;
    }
}

static int route_order(const void *pa, const void *pb)
{
    const struct cfg_route *a = *(const struct cfg_route *const *)pa;
    const struct cfg_route *b = *(const struct cfg_route *const *)pb;

    if (host_rank(a) != host_rank(b))
        return host_rank(a) - host_rank(b);
    /* Longer wildcard suffixes are more specific. */
    if (a->host_match == CFG_HOST_SUFFIX && a->host_len != b->host_len)
        return a->host_len > b->host_len ? -1 : 1;
    if (a->path_prefix_len != b->path_prefix_len)
        return a->path_prefix_len > b->path_prefix_len ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

static bool route_applies(const struct cfg_route *r, const char *listener)
{
    if (r->n_listeners == 0)
        return true;
    for (size_t i = 0; i < r->n_listeners; i++)
        if (strcmp(r->listeners[i], listener) == 0)
            return true;
    return false;
}

void cfg_route_index(struct cfg_arena *a, struct cfg_listener *l,
                     const struct cfg_route *const *routes, size_t n_routes)
{
    const struct cfg_route **mine = cfg_arena_alloc(a, (n_routes + 1) * sizeof(*mine));
    size_t n = 0;

    /* TCP listeners have no requests to route. */
    for (size_t i = 0; i < n_routes && l->protocol != CFG_LISTENER_TCP; i++)
        if (route_applies(routes[i], l->name))
            mine[n++] = routes[i];
    qsort(mine, n, sizeof(*mine), route_order);
    l->routes = mine;
    l->n_routes = n;
}

/* Strips ":port" (also after "[v6]") and one trailing dot from a Host value. */
static size_t host_length(const char *host, size_t len)
{
    if (len == 0)
        return 0;
    if (host[0] == '[') {
        const char *rb = memchr(host, ']', len);
        if (rb != NULL)
            len = (size_t)(rb - host) + 1;
    } else {
        const char *colon = memchr(host, ':', len);
        if (colon != NULL)
            len = (size_t)(colon - host);
    }
    if (len > 0 && host[len - 1] == '.')
        len--;
    return len;
}

static bool host_matches(const struct cfg_route *r, const char *host, size_t len)
{
    switch (r->host_match) {
    case CFG_HOST_EXACT:
        return len == r->host_len && strncasecmp(host, r->host, len) == 0;
    case CFG_HOST_SUFFIX:
        /* r->host is ".example.com": at least one character must precede it. */
        return len > r->host_len &&
               strncasecmp(host + len - r->host_len, r->host, r->host_len) == 0;
    default:
        return true;
    }
}

const struct cfg_target *cfg_route_lookup(const struct cfg_listener *l, const char *host,
                                          size_t host_len, const char *path, size_t path_len)
{
    if (host == NULL)
        host_len = 0;
    host_len = host_length(host, host_len);
    if (path == NULL)
        path_len = 0;

    for (size_t i = 0; i < l->n_routes; i++) {
        const struct cfg_route *r = l->routes[i];
        if (r->host_match != CFG_HOST_ANY && host_len == 0)
            continue;
        if (!host_matches(r, host, host_len))
            continue;
        if (path_len < r->path_prefix_len || memcmp(path, r->path_prefix, r->path_prefix_len) != 0)
            continue;
        return &r->target;
    }
    if (l->default_target.cluster != NULL || l->default_target.respond != NULL)
        return &l->default_target;
    return NULL;
}

bool cfg_listener_same_socket(const struct cfg_listener *a, const struct cfg_listener *b)
{
    return a->protocol == b->protocol && a->address.sa_len == b->address.sa_len &&
           memcmp(&a->address.sa, &b->address.sa, a->address.sa_len) == 0;
}

const struct cfg_listener *cfg_find_listener(const struct cfg_generation *g, const char *name)
{
    for (size_t i = 0; i < g->n_listeners; i++)
        if (strcmp(g->listeners[i]->name, name) == 0)
            return g->listeners[i];
    return NULL;
}

const struct cfg_cluster *cfg_find_cluster(const struct cfg_generation *g, const char *name)
{
    for (size_t i = 0; i < g->n_clusters; i++)
        if (strcmp(g->clusters[i]->name, name) == 0)
            return g->clusters[i];
    return NULL;
}

const struct cfg_plugin *cfg_find_plugin(const struct cfg_generation *g, const char *name)
{
    for (size_t i = 0; i < g->n_plugins; i++)
        if (strcmp(g->plugins[i]->name, name) == 0)
            return g->plugins[i];
    return NULL;
}
