/*
 * test_route.c - routing decisions (src/config/route.c): exact and wildcard
 * hosts, default targets, longest path prefix, file order as the last tie
 * breaker, and listener scoping.
 */
#include "helpers.h"

static const struct cfg_generation *gen;

/* The route name a request would take on listener `listener`, "default" for
 * the listener's own target, or "404". */
static const char *route_of(const char *listener, const char *host, const char *path)
{
    const struct cfg_listener *l = cfg_find_listener(gen, listener);
    assert_non_null(l);
    const struct cfg_target *t =
        cfg_route_lookup(l, host, host ? strlen(host) : 0, path, strlen(path));
    if (t == NULL)
        return "404";
    assert_true((t->cluster != NULL) != (t->respond != NULL));
    return t->route ? t->route : "default";
}

static int load_routes(void **state)
{
    struct cfg_errors errors = {0};
    gen = cfg_load_string(
        "routes.ini",
        "[cluster:c]\nendpoints = 127.0.0.1:9000\n"
        "[listener:pub]\naddress = 127.0.0.1:18081\ncluster = c\n"
        "[listener:admin]\naddress = 127.0.0.1:18082\n"
        "[listener:bare]\naddress = 127.0.0.1:18083\n"
        /* for every listener, in a deliberately scrambled file order */
        "[route:any-root]\nrespond = 200\n"
        "[route:any-api]\npath_prefix = /api\nrespond = 200\n"
        "[route:wild]\nhost = *.example.com\nrespond = 200\n"
        "[route:wild-deep]\nhost = *.eu.example.com\nrespond = 200\n"
        "[route:exact-api-v1]\nhost = www.example.com\npath_prefix = /api/v1/\ncluster = c\n"
        "[route:exact]\nhost = www.example.com\ncluster = c\n"
        "[route:exact-api]\nhost = www.example.com\npath_prefix = /api/\ncluster = c\n"
        "[route:other-host]\nhost = Other.Test\npath_prefix = /x\nrespond = 200\n"
        "[route:any-api-twin]\npath_prefix = /api\nrespond = 200\n"
        /* scoped: only the admin and bare listeners */
        "[route:admin-stats]\nlistener = admin, bare\npath_prefix = /stats\nrespond = 200\n"
        "[route:admin-exact]\nlistener = admin\nhost = admin.local\nrespond = 200\n",
        &errors);
    for (size_t i = 0; i < errors.count; i++)
        print_error("%s\n", errors.items[i]);
    cfg_errors_free(&errors);
    return gen ? 0 : -1;
}

static int unload_routes(void **state)
{
    cfg_unref(gen);
    return 0;
}

static void test_exact_host_beats_wildcard_and_any(void **state)
{
    assert_string_equal(route_of("pub", "www.example.com", "/"), "exact");
    assert_string_equal(route_of("pub", "www.example.com", "/index.html"), "exact");
}

static void test_longest_prefix_wins_within_a_host(void **state)
{
    assert_string_equal(route_of("pub", "www.example.com", "/api/v1/users"), "exact-api-v1");
    assert_string_equal(route_of("pub", "www.example.com", "/api/v2/users"), "exact-api");
    assert_string_equal(route_of("pub", "www.example.com", "/api/v1"), "exact-api");
    assert_string_equal(route_of("pub", "www.example.com", "/apis"), "exact");
}

static void test_more_specific_host_wins_over_longer_prefix(void **state)
{
    /* any-api has a longer prefix than exact's "/", but the host decides first. */
    assert_string_equal(route_of("pub", "www.example.com", "/api"), "exact");
}

static void test_host_is_case_insensitive_and_ignores_port_and_trailing_dot(void **state)
{
    assert_string_equal(route_of("pub", "WWW.Example.Com", "/"), "exact");
    assert_string_equal(route_of("pub", "www.example.com:8080", "/"), "exact");
    assert_string_equal(route_of("pub", "www.example.com.", "/"), "exact");
    assert_string_equal(route_of("pub", "other.test", "/x"), "other-host");
    assert_string_equal(route_of("pub", "OTHER.TEST:1", "/xyz"), "other-host");
}

static void test_wildcard_matches_subdomains_only(void **state)
{
    assert_string_equal(route_of("pub", "a.example.com", "/api/v1/"), "wild");
    assert_string_equal(route_of("pub", "a.b.example.com", "/"), "wild");
    /* "*.example.com" does not match the bare domain nor look-alikes. */
    assert_string_equal(route_of("pub", "example.com", "/"), "any-root");
    assert_string_equal(route_of("pub", "badexample.com", "/"), "any-root");
    assert_string_equal(route_of("pub", ".example.com", "/"), "any-root");
}

static void test_longest_wildcard_suffix_wins(void **state)
{
    assert_string_equal(route_of("pub", "x.eu.example.com", "/"), "wild-deep");
    assert_string_equal(route_of("pub", "eu.example.com", "/"), "wild");
}

static void test_unmatched_exact_host_falls_back_to_any_host_routes(void **state)
{
    assert_string_equal(route_of("pub", "other.test", "/y"), "any-root");
    assert_string_equal(route_of("pub", "unknown", "/api/x"), "any-api");
}

static void test_file_order_breaks_ties(void **state)
{
    /* any-api and any-api-twin are identical: the first in the file wins. */
    assert_string_equal(route_of("pub", "h", "/api"), "any-api");
}

static void test_missing_host_only_matches_routes_without_host(void **state)
{
    assert_string_equal(route_of("pub", NULL, "/api/x"), "any-api");
    assert_string_equal(route_of("pub", "", "/"), "any-root");
}

static void test_listener_scoping(void **state)
{
    /* admin-* routes exist only on the listeners they name. */
    assert_string_equal(route_of("admin", "h", "/stats/x"), "admin-stats");
    assert_string_equal(route_of("bare", "h", "/stats"), "admin-stats");
    assert_string_equal(route_of("pub", "h", "/stats"), "any-root");
    assert_string_equal(route_of("admin", "admin.local", "/"), "admin-exact");
    assert_string_equal(route_of("bare", "admin.local", "/"), "any-root");
    assert_string_equal(route_of("pub", "admin.local", "/"), "any-root");

    assert_int_equal(cfg_find_listener(gen, "pub")->n_routes, 9);
    assert_int_equal(cfg_find_listener(gen, "admin")->n_routes, 11);
    assert_int_equal(cfg_find_listener(gen, "bare")->n_routes, 10);
}

static void test_lookup_order_is_precomputed(void **state)
{
    const struct cfg_listener *l = cfg_find_listener(gen, "pub");
    static const char *const order[] = {
        "exact-api-v1", "exact-api", "other-host",   "exact",    "wild-deep",
        "wild",         "any-api",   "any-api-twin", "any-root",
    };
    assert_int_equal(l->n_routes, sizeof(order) / sizeof(order[0]));
    for (size_t i = 0; i < l->n_routes; i++)
        assert_string_equal(l->routes[i]->name, order[i]);
}

static void test_default_target_and_404(void **state)
{
    struct cfg_errors errors = {0};
    const struct cfg_generation *g =
        cfg_load_string("d.ini",
                        "[cluster:c]\nendpoints = 127.0.0.1:9000\n"
                        "[listener:withdefault]\naddress = 127.0.0.1:1\ncluster = c\n"
                        "[listener:nodefault]\naddress = 127.0.0.1:2\n"
                        "[route:only]\nhost = only.test\nrespond = 200\n",
                        &errors);
    assert_non_null(g);
    const struct cfg_listener *wd = cfg_find_listener(g, "withdefault");
    const struct cfg_listener *nd = cfg_find_listener(g, "nodefault");

    const struct cfg_target *t = cfg_route_lookup(wd, "x.test", 6, "/", 1);
    assert_ptr_equal(t, &wd->default_target);
    assert_null(t->route);
    assert_ptr_equal(t->cluster, cfg_find_cluster(g, "c"));
    assert_null(cfg_route_lookup(nd, "x.test", 6, "/", 1));
    t = cfg_route_lookup(nd, "only.test", 9, "/", 1);
    assert_non_null(t);
    assert_string_equal(t->route, "only");
    cfg_unref(g);
}

static void test_listeners_match_across_generations_by_address_and_protocol(void **state)
{
    struct cfg_errors errors = {0};
    const struct cfg_generation *next =
        cfg_load_string("next.ini",
                        "[cluster:c]\nendpoints = 127.0.0.1:9000\n"
                        "[listener:renamed]\naddress = 127.0.0.1:18081\nrespond = 200\n"
                        "[listener:admin]\naddress = 127.0.0.1:18092\nrespond = 200\n"
                        "[listener:bare]\naddress = 127.0.0.1:18083\nprotocol = tcp\ncluster = c\n",
                        &errors);
    assert_non_null(next);
    /* Same address under another name: the socket is kept. */
    assert_true(cfg_listener_same_socket(cfg_find_listener(gen, "pub"),
                                         cfg_find_listener(next, "renamed")));
    /* Moved to another port: a new socket. */
    assert_false(cfg_listener_same_socket(cfg_find_listener(gen, "admin"),
                                          cfg_find_listener(next, "admin")));
    /* Same address, other protocol: a new socket. */
    assert_false(
        cfg_listener_same_socket(cfg_find_listener(gen, "bare"), cfg_find_listener(next, "bare")));
    cfg_unref(next);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_host_beats_wildcard_and_any),
        cmocka_unit_test(test_longest_prefix_wins_within_a_host),
        cmocka_unit_test(test_more_specific_host_wins_over_longer_prefix),
        cmocka_unit_test(test_host_is_case_insensitive_and_ignores_port_and_trailing_dot),
        cmocka_unit_test(test_wildcard_matches_subdomains_only),
        cmocka_unit_test(test_longest_wildcard_suffix_wins),
        cmocka_unit_test(test_unmatched_exact_host_falls_back_to_any_host_routes),
        cmocka_unit_test(test_file_order_breaks_ties),
        cmocka_unit_test(test_missing_host_only_matches_routes_without_host),
        cmocka_unit_test(test_listener_scoping),
        cmocka_unit_test(test_lookup_order_is_precomputed),
        cmocka_unit_test(test_default_target_and_404),
        cmocka_unit_test(test_listeners_match_across_generations_by_address_and_protocol),
    };
    return cmocka_run_group_tests(tests, load_routes, unload_routes);
}
