/*
 * fuzz_replay.c - libFuzzer target for the traffic-file reader of `wasp replay`
 * (rp_traffic_parse in src/replay/): JSON text in, the checked packet array or an error
 * out. Contract checked: exactly one of the two, and an error message that can follow
 * the file's name (":LINE:COLUMN: ..." or ": packet N: ...").
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "replay/replay.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    err[0] = '\0';
    json_t *t = rp_traffic_parse((const char *)data, size, err, sizeof(err));
    if (t != NULL) {
        CHECK(json_is_array(t));
        json_decref(t);
    } else {
        CHECK(err[0] == ':');
    }
    return 0;
}
