/*
 * bench.c - what execution limits and host calls cost in the engine (issue 11 §3): the
 * CPU time of WASI kernels with fuel metering on, with a wall-clock deadline on, and
 * with both, each against the same kernel with both off (the same instance setup, run
 * back to back in rotating order, medians); then the time of a host call round trip
 * (guest -> trivial import -> guest) and of a host -> guest call of a trivial export.
 * Not a test: it prints figures, with the targets next to them.
 *
 * Usage: limits_bench [--rounds N] [--calls N] CALLS.wasm KERNEL.wasm...
 * CALLS.wasm is scripts/bench/limits/calls.wat compiled (run.sh does it); the kernels
 * are WASI commands (scripts/bench/engine.sh --build-only builds the shared ones).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wasi.h"
#include "wasm.h"

/* CPU time of this thread: other processes on a busy machine do not count. */
static double cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static wasm_module_t *load(const char *path)
{
    FILE *f = fopen(path, "rb");
    char err[256];
    long n;
    uint8_t *buf;
    wasm_module_t *m = NULL;

    if (f == NULL) {
        fprintf(stderr, "limits_bench: cannot open %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n)
        m = wasm_module_load(buf, (size_t)n, NULL, err, sizeof(err));
    else
        snprintf(err, sizeof(err), "read error");
    fclose(f);
    free(buf);
    if (m == NULL)
        fprintf(stderr, "limits_bench: %s: %s\n", path, err);
    return m;
}

/* ---- Kernels under limits ---------------------------------------------------------------- */

enum { OFF, FUEL, DEADLINE, BOTH, NMODES };
static const char *const mode_name[NMODES] = {"off", "fuel", "deadline", "fuel+deadline"};

struct output {
    char buf[256];
    size_t len;
};

static void collect(void *ctx, wasm_instance_t *inst, int fd, const char *data, size_t len)
{
    struct output *o = ctx;

    (void)inst;
    if (fd == 1 && o->len + len < sizeof(o->buf)) {
        memcpy(o->buf + o->len, data, len);
        o->len += len;
    }
}

/* Runs the kernel's _start once in mode; returns its CPU seconds (< 0: it failed) and
 * leaves its stdout in out. */
static double run_kernel(const wasm_module_t *m, int mode, struct output *out)
{
    const char *args[] = {"kernel"};
    struct wasi_config wcfg = {.args = args, .nargs = 1, .output = collect, .ctx = out};
    struct wasi_ctx *wasi = wasi_ctx_new(&wcfg);
    wasm_linker_t *l = wasm_linker_new();
    wasm_instance_t *inst = NULL;
    uint64_t slots[1] = {0};
    char err[256];
    double t = -1;

    out->len = 0;
    if (wasi == NULL || l == NULL || wasi_define(l, wasi) != WASM_OK ||
        wasm_instance_new(m, l, NULL, &inst, err, sizeof(err)) != WASM_OK)
        goto done;
    wasm_func_t *start = wasm_instance_export_func(inst, "_start");
    if (start == NULL)
        goto done;
    if (mode == FUEL || mode == BOTH)
        wasm_instance_set_fuel(inst, UINT64_MAX / 2);
    double t0 = cpu_s();
    if (mode == DEADLINE || mode == BOTH)
        wasm_instance_set_deadline(inst, wasm_clock_ns() + 3600 * 1000000000ull);
    int rc = wasm_call(inst, start, slots);
    t = cpu_s() - t0;
    if (rc != WASM_OK &&
        !(wasm_instance_trap(inst) == WASM_TRAP_EXIT && wasm_instance_exit_code(inst) == 0)) {
        fprintf(stderr, "limits_bench: trap: %s\n", wasm_instance_trap_message(inst));
        t = -1;
    }
done:
    if (inst != NULL)
        wasm_instance_free(inst);
    if (l != NULL)
        wasm_linker_free(l);
    wasi_ctx_free(wasi);
    return t;
}

static int bench_kernels(char **paths, int n, int rounds)
{
    double logsum[NMODES] = {0};
    int counted = 0;

    printf("%-14s", "kernel");
    for (int k = 0; k < NMODES; k++)
        printf(" %10s", k == OFF ? "off(s)" : mode_name[k]);
    printf("   (CPU s; limits on / off)\n");
    for (int i = 0; i < n; i++) {
        wasm_module_t *m = load(paths[i]);
        double *t = calloc((size_t)rounds * NMODES, sizeof(double));
        struct output ref, out;
        const char *name = strrchr(paths[i], '/') ? strrchr(paths[i], '/') + 1 : paths[i];

        if (m == NULL || t == NULL)
            return 1;
        ref.len = 0;
        for (int r = 0; r < rounds; r++) {
            for (int j = 0; j < NMODES; j++) {
                int k = (j + r) % NMODES; /* rotate the order from round to round */
                double s = run_kernel(m, k, &out);
                if (s < 0)
                    return 1;
                if (ref.len == 0)
                    ref = out;
                if (out.len != ref.len || memcmp(out.buf, ref.buf, out.len) != 0) {
                    fprintf(stderr, "limits_bench: %s printed something else with %s\n", name,
                            mode_name[k]);
                    return 1;
                }
                t[k * rounds + r] = s;
            }
        }
        double med[NMODES];
        for (int k = 0; k < NMODES; k++)
            med[k] = median(&t[k * rounds], rounds);
        printf("%-14.14s %10.3f", name, med[OFF]);
        for (int k = 1; k < NMODES; k++) {
            printf(" %10.3f", med[k] / med[OFF]);
            logsum[k] += log(med[k] / med[OFF]);
        }
        printf("\n");
        counted++;
        free(t);
        wasm_module_free(m);
    }
    if (counted > 0) {
        printf("%-14s %10s", "geomean", "");
        for (int k = 1; k < NMODES; k++)
            printf(" %10.3f", exp(logsum[k] / counted));
        printf("   (target: <= 1.05 with fuel, with a deadline)\n");
    }
    return 0;
}

/* ---- Host calls ------------------------------------------------------------------------- */

static int host_inc(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    (void)inst;
    (void)env;
    slots[0] = (uint32_t)slots[0] + 1;
    return WASM_OK;
}

/* CPU seconds of export name(n) (its result must be n). */
static double time_loop(wasm_instance_t *inst, const char *name, uint32_t n)
{
    uint64_t s[1] = {n};
    double t0 = cpu_s();

    if (wasm_call(inst, wasm_instance_export_func(inst, name), s) != WASM_OK || s[0] != n) {
        fprintf(stderr, "limits_bench: %s failed\n", name);
        exit(1);
    }
    return cpu_s() - t0;
}

static int bench_calls(const char *path, uint32_t n, int rounds)
{
    wasm_module_t *m = load(path);
    wasm_linker_t *l = wasm_linker_new();
    wasm_instance_t *inst = NULL;
    char err[256];
    double *rt = calloc((size_t)rounds, sizeof(double));
    double *hg = calloc((size_t)rounds, sizeof(double));
    double *loop_with = calloc((size_t)rounds, sizeof(double));
    double *loop_without = calloc((size_t)rounds, sizeof(double));

    if (m == NULL || l == NULL || rt == NULL || hg == NULL || loop_with == NULL ||
        loop_without == NULL ||
        wasm_linker_define_func(l, "env", "inc", "(i)i", host_inc, NULL) != WASM_OK ||
        wasm_instance_new(m, l, NULL, &inst, err, sizeof(err)) != WASM_OK) {
        fprintf(stderr, "limits_bench: %s: cannot instantiate\n", path);
        return 1;
    }
    wasm_func_t *noop = wasm_instance_export_func(inst, "noop");
    time_loop(inst, "calls", n / 10); /* warm up */
    for (int r = 0; r < rounds; r++) {
        double with = time_loop(inst, "calls", n), without = time_loop(inst, "nocalls", n);
        rt[r] = (with - without) / n * 1e9;
        loop_with[r] = with / n * 1e9;
        loop_without[r] = without / n * 1e9;
        uint64_t s[1];
        uint32_t k = n / 10;
        double t0 = cpu_s();
        for (uint32_t i = 0; i < k; i++) {
            s[0] = i;
            wasm_call(inst, noop, s);
        }
        hg[r] = (cpu_s() - t0) / k * 1e9;
    }
    printf("host call round trip (guest -> trivial import -> guest): %.1f ns   (target: <= 20 "
           "ns)\n  = a counting loop with the call, %.1f ns per iteration, minus the same loop "
           "without it, %.1f ns\n",
           median(rt, rounds), median(loop_with, rounds), median(loop_without, rounds));
    printf("host -> guest call of a trivial export (wasm_call): %.1f ns\n", median(hg, rounds));
    free(rt);
    free(hg);
    free(loop_with);
    free(loop_without);
    wasm_instance_free(inst);
    wasm_linker_free(l);
    wasm_module_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    int rounds = 5, i = 1;
    uint32_t calls = 20000000;

    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (i + 1 >= argc)
            break;
        if (strcmp(argv[i], "--rounds") == 0)
            rounds = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--calls") == 0)
            calls = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else
            break;
    }
    if (argc - i < 1 || rounds < 1 || calls < 10) {
        fprintf(stderr, "usage: limits_bench [--rounds N] [--calls N] CALLS.wasm KERNEL.wasm...\n");
        return 2;
    }
    if (wasm_engine_init() != WASM_OK)
        return 1;
    if (bench_calls(argv[i], calls, rounds) != 0)
        return 1;
    return bench_kernels(argv + i + 1, argc - i - 1, rounds);
}
