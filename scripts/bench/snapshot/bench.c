/*
 * bench.c - what plugin VMs cost with and without images (hostcalls/ pw_image_new and
 * pw_vm_new_from_image, engine/ wasm_image_new): per plugin, the time to make a VM from
 * scratch (pw_vm_new: instantiate + language runtime initialisation), to make the image
 * once, to clone it, to clone and run the proxy-wasm start sequence (a VM ready for
 * traffic), to replace a used VM by a fresh clone, and the memory each extra clone adds.
 * Not a test: it prints figures (medians of CPU-bound loops; wall time of a quiet loop
 * on one thread) and the targets of issue 11 next to them.
 *
 * Usage: snapshot_bench [--iterations N] [--clones N] [--heap-kb N] [--root-id ID]
 *                       [--config STR] PLUGIN.wasm ...
 * --root-id/--config apply to the plugins after them (scripts/bench/snapshot/run.sh
 * passes the right ones). A last, synthetic plugin has --heap-kb (default 4096) of
 * initialised heap, as a Rust/Go/TinyGo runtime leaves; 0 leaves it out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h" /* pw_vm_fail: the failure a trap ends in */

/* ---- A minimal host: header maps, nothing else ---------------------------------------- */

struct stream {
    struct pw_map maps[4];
};

static bool b_stream_map(void *host, void *stream, enum pw_map_type type, struct pw_map_ref *out,
                         bool *writable)
{
    struct stream *s = stream;

    if (s == NULL || type > PW_MAP_RESPONSE_TRAILERS)
        return false;
    *out = (struct pw_map_ref){&pw_map_plain_ops, &s->maps[type]};
    return true;
}

static const struct pw_host_ops ops = {
    .stream_map = b_stream_map,
};

/* ---- Measuring ------------------------------------------------------------------------ */

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return v[n / 2];
}

/* Sums the kB of the named fields of /proc/self/smaps_rollup ("Rss:", "Pss:"). */
static long rollup_kb(const char *field)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    long kb = -1;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, field, strlen(field)) == 0)
            kb = strtol(line + strlen(field), NULL, 10);
    fclose(f);
    return kb;
}

/* kB of guest pages clones wrote: the private dirty pages of every image mapping. */
static long written_kb(void)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    long kb = 0;
    bool in_image = false;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strchr(line, '-') != NULL && strchr(line, ':') != NULL && line[0] != ' ' &&
            strncmp(line, "Private", 7) != 0 && strncmp(line, "Shared", 6) != 0 &&
            strstr(line, " kB") == NULL)
            in_image = strstr(line, "memfd:wasp-image") != NULL;
        else if (in_image && strncmp(line, "Private_Dirty:", 14) == 0)
            kb += strtol(line + 14, NULL, 10);
    }
    fclose(f);
    return kb;
}

struct plugin {
    const char *path;
    const char *root_id;
    const char *config;
    uint8_t *bytes;
    size_t len;
    struct pw_module *m;
};

static const struct pw_vm_config vm_cfg = {.vm_id = "bench", .name = "bench"};

static struct pw_root *start_root(struct pw_vm *vm, const struct plugin *p)
{
    char err[2048];
    struct pw_plugin_config pc = {
        .name = "bench",
        .root_id = p->root_id,
        .configuration = (const uint8_t *)p->config,
        .configuration_len = strlen(p->config),
    };
    struct pw_root *root = pw_root_new(vm, &pc, err, sizeof(err));

    if (root == NULL) {
        fprintf(stderr, "%s: pw_root_new: %s\n", p->path, err);
        exit(1);
    }
    return root;
}

/* One request and its response through root (headers only). */
static void one_request(struct pw_root *root, int i)
{
    struct stream s = {0};
    char path[64];
    struct pw_stream *ps;

    /* The second request of a VM says 10bytes, on which hc_trap traps. */
    snprintf(path, sizeof(path), i == 1 ? "/bench/10bytes" : "/bench/%d", i);
    pw_map_add(&s.maps[0], ":method", 7, "GET", 3);
    pw_map_add(&s.maps[0], ":path", 5, path, strlen(path));
    pw_map_add(&s.maps[0], ":authority", 10, "bench", 5);
    pw_map_add(&s.maps[2], ":status", 7, "200", 3);
    ps = pw_stream_new(root, &s);
    if (ps != NULL) {
        pw_stream_request_headers(ps, s.maps[0].count, true);
        pw_stream_response_headers(ps, s.maps[2].count, true);
        pw_stream_end(ps);
    }
    for (int t = 0; t < 4; t++)
        pw_map_free(&s.maps[t]);
}

static struct pw_vm *must(struct pw_vm *vm, const char *what, const char *err)
{
    if (vm == NULL) {
        fprintf(stderr, "%s: %s\n", what, err);
        exit(1);
    }
    return vm;
}

static void bench_plugin(struct plugin *p, int iterations, int nclones)
{
    char err[2048];
    double *t = calloc((size_t)iterations, sizeof(double));
    double t_load, t_vm_new, t_image, t_clone, t_ready, t_replace;
    struct pw_image *img;

    double t0 = now_us();
    p->m = pw_module_load(p->bytes, p->len, err, sizeof(err));
    t_load = now_us() - t0;
    if (p->m == NULL) {
        fprintf(stderr, "%s: %s\n", p->path, err);
        exit(1);
    }
    for (int i = 0; i < iterations; i++) {
        t0 = now_us();
        struct pw_vm *vm = pw_vm_new(p->m, &vm_cfg, &ops, NULL, err, sizeof(err));
        t[i] = now_us() - t0;
        pw_vm_free(must(vm, p->path, err));
    }
    t_vm_new = median(t, iterations);
    int nimg = iterations < 50 ? iterations : 50;
    for (int i = 0; i < nimg; i++) {
        t0 = now_us();
        img = pw_image_new(p->m, &vm_cfg, &ops, NULL, err, sizeof(err));
        t[i] = now_us() - t0;
        if (img == NULL) {
            fprintf(stderr, "%s: %s\n", p->path, err);
            exit(1);
        }
        pw_image_free(img);
    }
    t_image = median(t, nimg);
    img = pw_image_new(p->m, &vm_cfg, &ops, NULL, err, sizeof(err));
    for (int i = 0; i < iterations; i++) {
        t0 = now_us();
        struct pw_vm *vm = pw_vm_new_from_image(img, &vm_cfg, &ops, NULL, err, sizeof(err));
        t[i] = now_us() - t0;
        pw_vm_free(must(vm, p->path, err));
    }
    t_clone = median(t, iterations);
    for (int i = 0; i < iterations; i++) {
        t0 = now_us();
        struct pw_vm *vm = pw_vm_new_from_image(img, &vm_cfg, &ops, NULL, err, sizeof(err));
        start_root(must(vm, p->path, err), p);
        t[i] = now_us() - t0;
        pw_vm_free(vm);
    }
    t_ready = median(t, iterations);
    /* A VM that served traffic and failed is replaced by a fresh clone ready for traffic:
     * free + clone + proxy-wasm start sequence. hc_trap really traps on its second request;
     * other plugins are marked failed by pw_vm_fail, the function a trap ends in (so, as
     * after a trap, freeing the VM runs no more callbacks). */
    struct pw_vm *vm =
        must(pw_vm_new_from_image(img, &vm_cfg, &ops, NULL, err, sizeof(err)), p->path, err);
    struct pw_root *root = start_root(vm, p);
    int traps = 0;
    for (int i = 0; i < iterations; i++) {
        for (int k = 0; k < 10 && !pw_vm_failed(vm); k++)
            one_request(root, k);
        if (pw_vm_failed(vm))
            traps++;
        else
            pw_vm_fail(vm, "bench", "marked failed", "");
        t0 = now_us();
        pw_vm_free(vm);
        vm = must(pw_vm_new_from_image(img, &vm_cfg, &ops, NULL, err, sizeof(err)), p->path, err);
        root = start_root(vm, p);
        t[i] = now_us() - t0;
    }
    t_replace = median(t, iterations);
    pw_vm_free(vm);

    /* Memory: nclones live clones, each started and through one request. */
    struct pw_vm **vms = calloc((size_t)nclones, sizeof(*vms));
    long rss0 = rollup_kb("Rss:"), pss0 = rollup_kb("Pss:"), w0 = written_kb();
    for (int i = 0; i < nclones; i++) {
        vms[i] =
            must(pw_vm_new_from_image(img, &vm_cfg, &ops, NULL, err, sizeof(err)), p->path, err);
        one_request(start_root(vms[i], p), i);
    }
    long rss1 = rollup_kb("Rss:"), pss1 = rollup_kb("Pss:"), w1 = written_kb();
    for (int i = 0; i < nclones; i++)
        pw_vm_free(vms[i]);
    /* The same without images: VMs from pw_vm_new. */
    long rss2 = rollup_kb("Rss:"), pss2 = rollup_kb("Pss:");
    for (int i = 0; i < nclones; i++) {
        vms[i] = must(pw_vm_new(p->m, &vm_cfg, &ops, NULL, err, sizeof(err)), p->path, err);
        one_request(start_root(vms[i], p), i);
    }
    long rss3 = rollup_kb("Rss:"), pss3 = rollup_kb("Pss:");
    for (int i = 0; i < nclones; i++)
        pw_vm_free(vms[i]);

    const char *name = strrchr(p->path, '/') ? strrchr(p->path, '/') + 1 : p->path;
    printf("%-18s %4zu %5.1f %7.1f %7.1f %6.1f %7.1f %7.1f%s %5.2f | %5ld %5ld %5ld %6ld | %5ld "
           "%5ld\n",
           name, p->len / 1024, t_load / 1000, t_vm_new, t_image, t_clone, t_ready, t_replace,
           traps == iterations ? "T"
           : traps == 0        ? " "
                               : "?",
           (double)pw_image_memory_size(img) / (1 << 20), (rss1 - rss0) / nclones,
           (pss1 - pss0) / nclones, (w1 - w0) / nclones, (pss1 - pss0 - (w1 - w0)) / nclones,
           (rss3 - rss2) / nclones, (pss3 - pss2) / nclones);
    pw_image_free(img);
    free(vms);
    free(t);
}

/* ---- A synthetic plugin with a large initialised heap -------------------------------- */

struct wbuf {
    uint8_t *p;
    size_t n;
};

static void put(struct wbuf *b, const void *data, size_t len)
{
    b->p = realloc(b->p, b->n + len);
    memcpy(b->p + b->n, data, len);
    b->n += len;
}

static void put_u8(struct wbuf *b, uint8_t v)
{
    put(b, &v, 1);
}

static void put_leb(struct wbuf *b, uint32_t v)
{
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        put_u8(b, c | (v ? 0x80 : 0));
    } while (v);
}

static void put_str(struct wbuf *b, const char *s)
{
    put_leb(b, (uint32_t)strlen(s));
    put(b, s, strlen(s));
}

static void put_section(struct wbuf *b, uint8_t id, struct wbuf *body)
{
    put_u8(b, id);
    put_leb(b, (uint32_t)body->n);
    put(b, body->p, body->n);
    free(body->p);
    *body = (struct wbuf){0};
}

/*
 * A proxy-wasm module whose initialised memory holds heap_kb of non-zero data (as a
 * language runtime's heap after its initialisation), and whose proxy_on_request_headers
 * writes one byte in page 16 + context id: what clones share, and what each one copies.
 */
static uint8_t *synthetic_plugin(uint32_t heap_kb, size_t *len)
{
    static const char *const exports[] = {"proxy_abi_version_0_2_1", "_initialize",
                                          "proxy_on_context_create", "proxy_on_configure",
                                          "proxy_on_request_headers"};
    static const uint8_t types[] = {4,    0x60, 0, 0,    0x60, 2, 0x7f, 0x7f, 0,    0x60, 2,
                                    0x7f, 0x7f, 1, 0x7f, 0x60, 3, 0x7f, 0x7f, 0x7f, 1,    0x7f};
    static const uint8_t funcs[] = {5, 0, 0, 1, 2, 3};
    static const uint8_t body_empty[] = {2, 0, 0x0b};
    static const uint8_t body_true[] = {4, 0, 0x41, 1, 0x0b};
    /* i32.store8 (local0 + 16) << 12 = 1; i32.const 0 */
    static const uint8_t body_write[] = {17,   0,    0x20, 0,    0x41, 16, 0x6a, 0x41, 12,
                                         0x74, 0x41, 1,    0x3a, 0,    0,  0x41, 0,    0x0b};
    uint32_t pages = (heap_kb * 1024 + 65535) / 65536 + 32;
    struct wbuf m = {0}, sec = {0};

    put(&m, "\0asm\1\0\0\0", 8);
    put(&sec, types, sizeof(types));
    put_section(&m, 1, &sec);
    put(&sec, funcs, sizeof(funcs));
    put_section(&m, 3, &sec);
    put_u8(&sec, 1), put_u8(&sec, 0), put_leb(&sec, pages);
    put_section(&m, 5, &sec);
    put_leb(&sec, 6);
    put_str(&sec, "memory"), put_u8(&sec, 2), put_u8(&sec, 0);
    for (uint32_t i = 0; i < 5; i++)
        put_str(&sec, exports[i]), put_u8(&sec, 0), put_u8(&sec, (uint8_t)i);
    put_section(&m, 7, &sec);
    put_u8(&sec, 5);
    put(&sec, body_empty, sizeof(body_empty));
    put(&sec, body_empty, sizeof(body_empty));
    put(&sec, body_empty, sizeof(body_empty));
    put(&sec, body_true, sizeof(body_true));
    put(&sec, body_write, sizeof(body_write));
    put_section(&m, 10, &sec);
    uint8_t *heap = malloc((size_t)heap_kb * 1024);
    for (size_t i = 0; i < (size_t)heap_kb * 1024; i++)
        heap[i] = (uint8_t)(i * 7 + 1);
    put_u8(&sec, 1), put_u8(&sec, 0), put_u8(&sec, 0x41), put_u8(&sec, 0), put_u8(&sec, 0x0b);
    put_leb(&sec, heap_kb * 1024);
    put(&sec, heap, (size_t)heap_kb * 1024);
    free(heap);
    put_section(&m, 11, &sec);
    *len = m.n;
    return m.p;
}

static int usage(void)
{
    fprintf(stderr, "usage: snapshot_bench [--iterations N] [--clones N] [--heap-kb N] "
                    "[--root-id ID] [--config STR] PLUGIN.wasm ...\n");
    return 2;
}

static int read_file(struct plugin *p)
{
    FILE *f = fopen(p->path, "rb");
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        perror(p->path);
        if (f != NULL)
            fclose(f);
        return -1;
    }
    p->len = (size_t)n;
    p->bytes = malloc(p->len);
    if (p->bytes == NULL || fread(p->bytes, 1, p->len, f) != p->len) {
        perror(p->path);
        fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    int iterations = 2000, nclones = 100, nplugins = 0, heap_kb = 4096;
    const char *root_id = "", *config = "";
    struct plugin *plugins = calloc((size_t)argc, sizeof(*plugins));

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc)
            iterations = atoi(argv[++i]);
        else if (strcmp(argv[i], "--clones") == 0 && i + 1 < argc)
            nclones = atoi(argv[++i]);
        else if (strcmp(argv[i], "--heap-kb") == 0 && i + 1 < argc)
            heap_kb = atoi(argv[++i]);
        else if (strcmp(argv[i], "--root-id") == 0 && i + 1 < argc)
            root_id = argv[++i];
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (argv[i][0] == '-')
            return usage();
        else
            plugins[nplugins++] = (struct plugin){argv[i], root_id, config, NULL, 0, NULL};
    }
    if (nplugins == 0 || iterations < 1 || nclones < 1)
        return usage();
    printf("Plugin VMs with and without images: median wall time of %d runs (us), memory per "
           "VM over %d live VMs (kB).\n"
           "vm_new: pw_vm_new (instantiate + runtime init); image: pw_image_new (once per "
           "generation);\n"
           "clone: pw_vm_new_from_image; ready: clone + proxy-wasm start sequence (pw_root_new);\n"
           "replace: free a failed VM that served requests (T: it trapped) + clone + start;\n"
           "per clone: Rss, Pss, guest pages it wrote (Private_Dirty of the image mappings), Pss "
           "without them; per pw_vm_new VM: Rss, Pss.\n"
           "Targets (issue 11): clone <= 50 us for a 150-300 KB plugin; replace <= 100 us; a "
           "clone adds <= 256 kB plus the pages it writes.\n\n",
           iterations, nclones);
    printf("%-18s %4s %5s %7s %7s %6s %7s %8s %5s | %5s %5s %5s %6s | %5s %5s\n", "plugin", "KB",
           "load", "vm_new", "image", "clone", "ready", "replace", "MiB", "rss", "pss", "wrote",
           "pss-w", "rss", "pss");
    printf("%-18s %4s %5s %7s %7s %6s %7s %8s %5s | %27s | %11s\n", "", "", "ms", "us", "us", "us",
           "us", "us", "image", "per clone (kB)", "per vm_new");
    if (heap_kb > 0) /* last: a plugin whose runtime left heap_kb of initialised heap */
        plugins[nplugins++] = (struct plugin){"synthetic-heap", "", "", NULL, 0, NULL};
    for (int i = 0; i < nplugins; i++) {
        if (strcmp(plugins[i].path, "synthetic-heap") == 0)
            plugins[i].bytes = synthetic_plugin((uint32_t)heap_kb, &plugins[i].len);
        else if (read_file(&plugins[i]) != 0)
            return 1;
        bench_plugin(&plugins[i], iterations, nclones);
        pw_module_free(plugins[i].m);
        free(plugins[i].bytes);
    }
    free(plugins);
    return 0;
}
