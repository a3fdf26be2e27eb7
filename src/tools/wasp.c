/*
 * wasp.c - the `wasp` command-line tool: a table of subcommands and its dispatcher.
 *
 * `wasp run` runs WASI command modules on the engine (benchmarks, debugging), `wasp
 * validate` says why a module is rejected, `wasp replay` (src/replay/) runs proxy-wasm
 * plugins on recorded traffic. The table below is the one place a new subcommand is
 * registered (see commands.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "replay/replay.h"

struct wasp_command {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *summary;
};

static const struct wasp_command wasp_commands[] = {
    {"run", wasp_cmd_run, "run a WASI command module (its _start export)"},
    {"validate", wasp_cmd_validate, "decode and validate modules, saying why one is rejected"},
    {"replay", wasp_cmd_replay, "run proxy-wasm plugins on recorded traffic, offline"},
};

#define WASP_NCOMMANDS (sizeof(wasp_commands) / sizeof(wasp_commands[0]))

static void usage(FILE *out)
{
    fprintf(out, "usage: wasp COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < WASP_NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", wasp_commands[i].name, wasp_commands[i].summary);
    fprintf(out, "\n`wasp COMMAND --help` describes a command.\n");
}

int wasp_read_file(const char *path, uint8_t **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    size_t size = 0, cap = 0;

    if (f == NULL)
        return -1;
    for (;;) {
        size_t n;

        if (size == cap) {
            uint8_t *p;

            cap = cap ? cap * 2 : 65536;
            p = realloc(data, cap);
            if (p == NULL)
                goto fail;
            data = p;
        }
        n = fread(data + size, 1, cap - size, f);
        size += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        errno = EIO;
        goto fail;
    }
    fclose(f);
    *buf = data;
    *len = size;
    return 0;

fail:
    free(data);
    fclose(f);
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return WASP_EXIT_USAGE;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < WASP_NCOMMANDS; i++)
        if (strcmp(argv[1], wasp_commands[i].name) == 0)
            return wasp_commands[i].main(argc - 1, argv + 1);
    fprintf(stderr, "wasp: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return WASP_EXIT_USAGE;
}
