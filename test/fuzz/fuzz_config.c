/*
 * fuzz_config.c - libFuzzer target for the configuration loader (src/config/) and what
 * the daemon builds from a valid file (src/daemon/worker.c: filter chains, codec limits,
 * TLS contexts).
 *
 * The input is the text of an INI file. Contract checked: a load either succeeds with no
 * error or fails with at least one, and every error names the file and line
 * ("fuzz.ini:LINE: ..."), as operators read them; the same for what building the runtime
 * generation reports.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "daemon/worker.h"
#include "log/log.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool quiet;
    if (!quiet) {
        log_set_level(LOG_LVL_ERROR);
        quiet = true;
    }
    if (size > 16384)
        return 0;
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct cfg_errors errors = {0};
    const struct cfg_generation *g = cfg_load_string("fuzz.ini", text, &errors);
    CHECK((g != NULL) == (errors.count == 0));
    for (size_t i = 0; i < errors.count; i++)
        CHECK(strncmp(errors.items[i], "fuzz.ini:", 9) == 0);
    if (g != NULL) {
        struct cfg_errors gen_errors = {0};
        struct daemon_gen *dg = daemon_gen_new(g, 1, &gen_errors); /* takes g's reference */
        CHECK((dg != NULL) == (gen_errors.count == 0));
        for (size_t i = 0; i < gen_errors.count; i++)
            CHECK(strncmp(gen_errors.items[i], "fuzz.ini:", 9) == 0);
        if (dg != NULL)
            daemon_gen_unref(dg);
        cfg_errors_free(&gen_errors);
    }
    cfg_errors_free(&errors);
    free(text);
    return 0;
}
