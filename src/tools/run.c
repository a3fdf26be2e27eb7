/*
 * run.c - `wasp run [OPTIONS] FILE.wasm [ARGS...]`: runs a WASI command module.
 *
 * The module's _start runs with WASI bound to the real stdin/stdout/stderr, the given
 * arguments and only the environment passed with --env. The exit status is the guest's
 * proc_exit code (0 when _start returns), WASP_EXIT_TRAP when it traps (the reason and
 * the guest backtrace go to stderr), 1 when it cannot be loaded or linked.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "wasi.h"
#include "wasm.h"

struct run_options {
    uint64_t fuel;       /* 0: unmetered */
    uint32_t max_pages;  /* 0: the module's own maximum */
    bool stats;
    const char **env;    /* --env KEY=VALUE, in order */
    size_t nenv;
    const char *path;
    char **args;         /* guest argv: path then the remaining arguments */
    size_t nargs;
};

static const char run_usage[] =
    "usage: wasp run [OPTIONS] FILE.wasm [ARGS...]\n"
    "Runs the _start export of a WASI command module; ARGS become its argv[1..].\n"
    "  --fuel N          stop the guest with a trap after about N instructions\n"
    "  --max-pages N     limit linear memory to N 64 KiB pages\n"
    "  --env KEY=VALUE   add to the guest's environment (empty by default)\n"
    "  --stats           print load, instantiate and run times to stderr\n"
    "Exit status: the guest's exit code; 134 on a trap; 1 if the module cannot run.\n";

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void write_stdio(void *ctx, wasm_instance_t *inst, int fd, const char *data,
                        size_t len)
{
    fwrite(data, 1, len, fd == 2 ? stderr : stdout);
}

static long read_stdin(void *ctx, wasm_instance_t *inst, char *buf, size_t len)
{
    ssize_t n;

    fflush(stdout); /* a prompt written before the read must be visible */
    do {
        n = read(0, buf, len);
    } while (n < 0 && errno == EINTR);
    return (long)n;
}

static int parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s ? s : "", &end, 10);
    if (s == NULL || *s == '\0' || *s == '-' || *end != '\0' || errno != 0 || v > max) {
        fprintf(stderr, "wasp run: %s needs a number up to %" PRIu64 "\n", opt, max);
        return -1;
    }
    *out = v;
    return 0;
}

/* Fills o from argv; returns 0, 1 for --help, or -1 on a usage error (reported). */
static int parse_options(int argc, char **argv, struct run_options *o)
{
    int i;

    o->env = calloc((size_t)argc, sizeof(*o->env));
    if (o->env == NULL)
        return -1;
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t v;

        if (strcmp(opt, "--") == 0) {
            i++;
            break;
        } else if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            return 1;
        } else if (strcmp(opt, "--stats") == 0) {
            o->stats = true;
        } else if (strcmp(opt, "--fuel") == 0) {
            if (parse_u64(opt, val, UINT64_MAX, &o->fuel) != 0)
                return -1;
            i++;
        } else if (strcmp(opt, "--max-pages") == 0) {
            if (parse_u64(opt, val, WASM_MAX_PAGES, &v) != 0)
                return -1;
            o->max_pages = (uint32_t)v;
            i++;
        } else if (strcmp(opt, "--env") == 0) {
            if (val == NULL || strchr(val, '=') == NULL) {
                fprintf(stderr, "wasp run: --env needs KEY=VALUE\n");
                return -1;
            }
            o->env[o->nenv++] = val;
            i++;
        } else {
            fprintf(stderr, "wasp run: unknown option '%s'\n%s", opt, run_usage);
            return -1;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "%s", run_usage);
        return -1;
    }
    o->path = argv[i];
    o->args = argv + i;
    o->nargs = (size_t)(argc - i);
    return 0;
}

/* Loads o->path; returns the module or NULL (reported). */
static wasm_module_t *load_module(const struct run_options *o, double *read_ms,
                                  double *load_ms)
{
    enum wasm_status status = WASM_OK;
    char err[512] = "";
    wasm_module_t *m;
    uint8_t *bytes;
    size_t len;
    double t0 = now_ms();

    if (wasp_read_file(o->path, &bytes, &len) != 0) {
        fprintf(stderr, "wasp run: %s: %s\n", o->path, strerror(errno));
        return NULL;
    }
    *read_ms = now_ms() - t0;
    t0 = now_ms();
    m = wasm_module_load(bytes, len, &status, err, sizeof(err));
    *load_ms = now_ms() - t0;
    free(bytes);
    if (m == NULL)
        fprintf(stderr, "wasp run: %s: %s: %s\n", o->path,
                status == WASM_ERR_INVALID ? "invalid module" : "malformed module", err);
    return m;
}

/* Maps the outcome of _start to the process exit status, reporting traps. */
static int exit_status(wasm_instance_t *inst, int rc)
{
    char bt[4096];
    size_t n;

    if (rc == WASM_OK)
        return 0;
    if (rc == WASM_ERR_TRAP && wasm_instance_trap(inst) == WASM_TRAP_EXIT)
        return wasm_instance_exit_code(inst);
    fflush(stdout);
    fprintf(stderr, "wasp run: trap: %s\n", wasm_instance_trap_message(inst));
    n = wasm_instance_backtrace(inst, bt, sizeof(bt));
    if (n >= sizeof(bt))
        n = sizeof(bt) - 1;
    bt[n] = '\0';
    if (n > 0)
        fprintf(stderr, "%s%s", bt, bt[n - 1] == '\n' ? "" : "\n");
    return WASP_EXIT_TRAP;
}

static int run(const struct run_options *o)
{
    struct wasm_instance_config icfg = {.max_memory_pages = o->max_pages};
    struct wasi_config wcfg = {
        .args = (const char *const *)o->args,
        .nargs = o->nargs,
        .env = o->env,
        .nenv = o->nenv,
        .output = write_stdio,
        .input = read_stdin,
    };
    double read_ms = 0, load_ms = 0, inst_ms, run_ms, t0;
    wasm_instance_t *inst = NULL;
    struct wasi_ctx *wasi = NULL;
    wasm_linker_t *linker = NULL;
    wasm_module_t *m;
    wasm_func_t *start;
    uint64_t slots[1] = {0};
    char err[512] = "";
    int rc = WASP_EXIT_ERROR;

    m = load_module(o, &read_ms, &load_ms);
    if (m == NULL)
        return WASP_EXIT_ERROR;
    linker = wasm_linker_new();
    wasi = wasi_ctx_new(&wcfg);
    if (linker == NULL || wasi == NULL || wasi_define(linker, wasi) != WASM_OK) {
        fprintf(stderr, "wasp run: out of memory\n");
        goto free_all;
    }
    t0 = now_ms();
    if (wasm_instance_new(m, linker, &icfg, &inst, err, sizeof(err)) != WASM_OK) {
        if (inst != NULL)
            fprintf(stderr, "wasp run: %s: instantiation trapped: %s\n", o->path,
                    wasm_instance_trap_message(inst));
        else
            fprintf(stderr, "wasp run: %s: %s\n", o->path, err);
        goto free_all;
    }
    inst_ms = now_ms() - t0;
    start = wasm_instance_export_func(inst, "_start");
    if (start == NULL || wasm_func_type(start)->nparams != 0) {
        fprintf(stderr, "wasp run: %s: no _start() export: not a WASI command module\n",
                o->path);
        goto free_all;
    }
    if (o->fuel != 0)
        wasm_instance_set_fuel(inst, o->fuel);
    t0 = now_ms();
    rc = exit_status(inst, wasm_call(inst, start, slots));
    run_ms = now_ms() - t0;
    fflush(stdout);
    if (o->stats) {
        fprintf(stderr,
                "wasp run: read %.3f ms, load (decode+validate+translate) %.3f ms, "
                "instantiate %.3f ms, run %.3f ms",
                read_ms, load_ms, inst_ms, run_ms);
        if (o->fuel != 0)
            fprintf(stderr, ", fuel used %" PRIu64, o->fuel - wasm_instance_fuel(inst));
        fprintf(stderr, "\n");
    }

free_all:
    if (inst != NULL)
        wasm_instance_free(inst);
    wasi_ctx_free(wasi);
    if (linker != NULL)
        wasm_linker_free(linker);
    wasm_module_free(m);
    return rc;
}

int wasp_cmd_run(int argc, char **argv)
{
    struct run_options o = {0};
    int rc;

    rc = parse_options(argc, argv, &o);
    if (rc != 0) {
        if (rc > 0)
            printf("%s", run_usage);
        free(o.env);
        return rc > 0 ? 0 : WASP_EXIT_USAGE;
    }
    if (wasm_engine_init() != WASM_OK) {
        fprintf(stderr, "wasp run: cannot initialise the engine\n");
        free(o.env);
        return WASP_EXIT_ERROR;
    }
    rc = run(&o);
    free(o.env);
    return rc;
}
