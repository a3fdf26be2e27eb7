/*
 * helpers.h - shared by the config tests: load a configuration from a
 * string and check the exact error messages it produces.
 */
#ifndef WASP_TEST_CONFIG_HELPERS_H
#define WASP_TEST_CONFIG_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"

/* A listener line that makes a file valid on its own. */
#define LISTENER "[listener:l]\naddress = 127.0.0.1:18080\nrespond = 200 ok\n"

/* Loads `text` as "t.ini", which must be valid. Caller unrefs. */
static inline const struct cfg_generation *load_ok(const char *text)
{
    struct cfg_errors errors = {0};
    const struct cfg_generation *g = cfg_load_string("t.ini", text, &errors);

    for (size_t i = 0; i < errors.count; i++)
        print_error("unexpected: %s\n", errors.items[i]);
    assert_int_equal(errors.count, 0);
    assert_non_null(g);
    cfg_errors_free(&errors);
    return g;
}

/* Loads `text` as "t.ini", which must fail with exactly the NULL-terminated
 * list of messages given, in this order. */
static inline void load_fails(const char *text, ...)
{
    struct cfg_errors errors = {0};
    const struct cfg_generation *g = cfg_load_string("t.ini", text, &errors);
    const char *want;
    size_t n = 0;
    va_list ap;
    bool ok = true;

    va_start(ap, text);
    while ((want = va_arg(ap, const char *)) != NULL) {
        if (n >= errors.count || strcmp(errors.items[n], want) != 0) {
            print_error("want: %s\n got: %s\n", want,
                        n < errors.count ? errors.items[n] : "(nothing)");
            ok = false;
        }
        n++;
    }
    va_end(ap);
    if (n != errors.count) {
        for (size_t i = 0; i < errors.count; i++)
            print_error("all errors: %s\n", errors.items[i]);
        ok = false;
    }
    assert_null(g);
    cfg_errors_free(&errors);
    assert_true(ok);
}

#endif
