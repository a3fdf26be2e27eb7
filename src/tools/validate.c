/*
 * validate.c - `wasp validate FILE.wasm...`: decode, validate and translate each module
 * and print why one is rejected. Exit status 0 when every module is valid, 1 otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "wasm.h"

static int validate_one(const char *path)
{
    enum wasm_status status = WASM_OK;
    char err[512] = "";
    wasm_module_t *m;
    uint8_t *bytes;
    size_t len;

    if (wasp_read_file(path, &bytes, &len) != 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    m = wasm_module_load(bytes, len, &status, err, sizeof(err));
    free(bytes);
    if (m == NULL) {
        const char *what = status == WASM_ERR_MALFORMED ? "malformed"
                           : status == WASM_ERR_INVALID ? "invalid"
                                                        : "rejected";

        printf("%s: %s: %s\n", path, what, err[0] ? err : "(no reason given)");
        return -1;
    }
    printf("%s: valid (%u imports, %u exports)\n", path, wasm_module_import_count(m),
           wasm_module_export_count(m));
    wasm_module_free(m);
    return 0;
}

int wasp_cmd_validate(int argc, char **argv)
{
    int rc = 0;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fprintf(argc < 2 ? stderr : stdout, "usage: wasp validate FILE.wasm...\n");
        return argc < 2 ? WASP_EXIT_USAGE : 0;
    }
    if (wasm_engine_init() != WASM_OK) {
        fprintf(stderr, "wasp: cannot initialise the engine\n");
        return WASP_EXIT_ERROR;
    }
    for (int i = 1; i < argc; i++)
        if (validate_one(argv[i]) != 0)
            rc = WASP_EXIT_ERROR;
    return rc;
}
