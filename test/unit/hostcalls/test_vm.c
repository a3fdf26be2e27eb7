/*
 * test_vm.c - VMs and images of hostcalls/vm.c on the real engine: the language runtime's
 * initialisation runs once into an image and never again in a VM made from it, while
 * each such VM runs the proxy-wasm start sequence itself; a VM from an image behaves as
 * one from pw_vm_new; VMs of one image are isolated and a trapped one is replaced by a
 * fresh clone; what the initialisation read (clock, random, environment) is frozen and
 * reported, and each VM sees its own environment; max_execution_ns cuts a callback that
 * runs too long; max_execution_ns and fuel_per_callback cut an endless start function;
 * many threads clone one image at once.
 * Modules: the .wat files of wat/ (built to VM_WASM_DIR) and the C test plugin hc_headers.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "internal.h"

/* ---- A recording host ---------------------------------------------------------------- */

#define MAX_LINES 64

struct host {
    char lines[MAX_LINES][256];
    int nlines;
    int failures;
};

/* A stream's maps, handed to the layer as the host stream. */
struct stream {
    struct pw_map maps[4];
};

static void h_log(void *host, enum pw_log_level level, const char *line, size_t len)
{
    struct host *h = host;

    if (h->nlines < MAX_LINES)
        snprintf(h->lines[h->nlines++], sizeof(h->lines[0]), "%.*s", (int)len, line);
}

static enum pw_log_level h_log_level(void *host)
{
    return PW_LOG_TRACE;
}

static bool h_stream_map(void *host, void *stream, enum pw_map_type type, struct pw_map_ref *out,
                         bool *writable)
{
    struct stream *s = stream;

    if (s == NULL || type > PW_MAP_RESPONSE_TRAILERS)
        return false;
    *out = (struct pw_map_ref){&pw_map_plain_ops, &s->maps[type]};
    return true;
}

static void h_failed(void *host, struct pw_vm *vm, const char *plugin, const char *callback,
                     const char *reason, const char *backtrace)
{
    ((struct host *)host)->failures++;
}

static const struct pw_host_ops ops = {
    .log = h_log,
    .log_level = h_log_level,
    .stream_map = h_stream_map,
    .vm_failed = h_failed,
};

/* How many log lines of h contain needle. */
static int logged(const struct host *h, const char *needle)
{
    int n = 0;

    for (int i = 0; i < h->nlines; i++)
        n += strstr(h->lines[i], needle) != NULL;
    return n;
}

/* ---- Helpers ------------------------------------------------------------------------- */

static struct pw_module *load(const char *dir, const char *name)
{
    char path[512], err[512];
    FILE *f;
    long n;
    uint8_t *buf;
    struct pw_module *m;

    snprintf(path, sizeof(path), "%s/%s.wasm", dir, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    m = pw_module_load(buf, (size_t)n, err, sizeof(err));
    free(buf);
    if (m == NULL)
        fprintf(stderr, "%s: %s\n", path, err);
    assert_non_null(m);
    return m;
}

static struct pw_image *image_of(struct pw_module *m, const struct pw_vm_config *cfg,
                                 struct host *h)
{
    char err[1024];
    struct pw_image *img = pw_image_new(m, cfg, &ops, h, err, sizeof(err));

    if (img == NULL)
        fprintf(stderr, "pw_image_new: %s\n", err);
    assert_non_null(img);
    return img;
}

static struct pw_vm *clone_of(struct pw_image *img, const struct pw_vm_config *cfg, struct host *h)
{
    char err[1024];
    struct pw_vm *vm = pw_vm_new_from_image(img, cfg, &ops, h, err, sizeof(err));

    if (vm == NULL)
        fprintf(stderr, "pw_vm_new_from_image: %s\n", err);
    assert_non_null(vm);
    return vm;
}

static struct pw_root *root_of(struct pw_vm *vm, const char *config)
{
    char err[1024];
    struct pw_plugin_config pc = {
        .name = "plug",
        .root_id = "",
        .configuration = (const uint8_t *)config,
        .configuration_len = strlen(config),
    };
    struct pw_root *root = pw_root_new(vm, &pc, err, sizeof(err));

    if (root == NULL)
        fprintf(stderr, "pw_root_new: %s\n", err);
    return root;
}

static uint32_t global_of(struct pw_vm *vm, const char *name)
{
    uint64_t v = 0;

    assert_int_equal(wasm_instance_export_global(vm->inst, name, NULL, &v), WASM_OK);
    return (uint32_t)v;
}

static uint32_t u32_at(struct pw_vm *vm, uint32_t addr)
{
    uint32_t v;

    memcpy(&v, wasm_memory_ptr(vm->inst, addr, 4), 4);
    return v;
}

/* One request through root: its headers callback; returns the action. */
static enum pw_action request(struct pw_root *root, struct stream *s)
{
    struct pw_stream *ps = pw_stream_new(root, s);
    enum pw_action a;

    if (ps == NULL)
        return PW_ACTION_FAILED;
    a = pw_stream_request_headers(ps, s->maps[0].count, true);
    pw_stream_end(ps);
    return a;
}

static const struct pw_vm_config plain = {.vm_id = "", .name = "plug"};

/* ---- Tests --------------------------------------------------------------------------- */

static void test_initialisation_runs_once_and_each_vm_starts_itself(void **state)
{
    struct pw_module *m = load(VM_WASM_DIR, "init_once");
    struct host h0 = {0}, h[3] = {0};
    struct pw_image *img = image_of(m, &plain, &h0);
    struct pw_vm *vms[3];

    assert_int_equal(logged(&h0, "initialized"), 1);
    assert_int_equal(logged(&h0, "vm_start"), 0); /* the proxy-wasm sequence is per VM */
    for (int i = 0; i < 3; i++) {
        vms[i] = clone_of(img, &plain, &h[i]);
        /* on_configure answers false unless _initialize ran exactly once in this VM. */
        assert_non_null(root_of(vms[i], "c"));
        assert_int_equal(global_of(vms[i], "inits"), 1);
        assert_int_equal(global_of(vms[i], "vm_starts"), 1);
        assert_int_equal(logged(&h[i], "initialized"), 0);
        assert_int_equal(logged(&h[i], "wasm log plug: vm_start"), 1);
    }
    assert_int_equal(logged(&h0, "initialized"), 1);
    for (int i = 0; i < 3; i++)
        pw_vm_free(vms[i]);
    pw_image_free(img);
    pw_module_free(m);
}

static void test_vms_of_an_image_are_isolated_and_a_trapped_one_is_replaced(void **state)
{
    struct pw_module *m = load(VM_WASM_DIR, "init_once");
    struct host h = {0};
    struct pw_image *img = image_of(m, &plain, &h);
    struct pw_vm *a = clone_of(img, &plain, &h), *b = clone_of(img, &plain, &h);
    struct pw_root *ra = root_of(a, "a"), *rb = root_of(b, "b");
    struct stream s = {0};

    assert_int_equal(request(ra, &s), PW_ACTION_CONTINUE);
    assert_int_equal(request(ra, &s), PW_ACTION_CONTINUE);
    assert_int_equal(u32_at(a, 1024), 2);
    assert_int_equal(u32_at(b, 1024), 0);
    assert_int_equal(request(rb, &s), PW_ACTION_CONTINUE);
    assert_int_equal(u32_at(b, 1024), 1);
    assert_int_equal(u32_at(a, 1024), 2);

    /* The third request traps a; a fresh VM from the image starts clean. */
    assert_int_equal(request(ra, &s), PW_ACTION_FAILED);
    assert_true(pw_vm_failed(a));
    assert_int_equal(h.failures, 1);
    pw_vm_free(a);
    a = clone_of(img, &plain, &h);
    ra = root_of(a, "a");
    assert_non_null(ra);
    assert_int_equal(u32_at(a, 1024), 0);
    assert_int_equal(request(ra, &s), PW_ACTION_CONTINUE);
    assert_int_equal(u32_at(a, 1024), 1);
    assert_int_equal(u32_at(b, 1024), 1);
    pw_vm_free(a);
    pw_vm_free(b);
    pw_image_free(img);
    pw_module_free(m);
}

static void test_what_initialisation_read_is_frozen_and_reported(void **state)
{
    struct pw_module *m = load(VM_WASM_DIR, "init_once");
    struct host h = {0};
    struct pw_image *img = image_of(m, &plain, &h);
    struct pw_vm *a = clone_of(img, &plain, &h), *b = clone_of(img, &plain, &h);
    static const uint8_t zero[16];

    assert_int_equal(pw_image_frozen(img), PW_FROZEN_CLOCK | PW_FROZEN_RANDOM);
    /* The seed drawn at initialisation is the same in every VM of the image. */
    assert_memory_not_equal(wasm_memory_ptr(a->inst, 64, 16), zero, 16);
    assert_memory_equal(wasm_memory_ptr(a->inst, 64, 16), wasm_memory_ptr(b->inst, 64, 16), 16);
    assert_int_equal(u32_at(a, 96), u32_at(b, 96));
    pw_vm_free(a);
    pw_vm_free(b);
    pw_image_free(img);
    pw_module_free(m);

    m = load(VM_WASM_DIR, "env_late");
    img = image_of(m, &plain, &h);
    assert_int_equal(pw_image_frozen(img), 0);
    pw_image_free(img);
    pw_module_free(m);
}

static void test_each_vm_sees_its_own_environment(void **state)
{
    const char *env1[] = {"A=1"}, *env3[] = {"A=1", "B=2", "C=3"}, *same[] = {"A=1"};
    struct pw_vm_config c1 = {.vm_id = "", .name = "plug", .env = env1, .nenv = 1};
    struct pw_vm_config c3 = {.vm_id = "", .name = "plug", .env = env3, .nenv = 3};
    struct pw_vm_config csame = {.vm_id = "", .name = "plug", .env = same, .nenv = 1};
    struct host h0 = {0}, h1 = {0}, h2 = {0};

    /* Not read during initialisation: the image serves any environment. */
    struct pw_module *m = load(VM_WASM_DIR, "env_late");
    struct pw_image *img = image_of(m, &c1, &h0);
    struct pw_vm *vm = clone_of(img, &c3, &h1);
    assert_non_null(root_of(vm, ""));
    assert_int_equal(u32_at(vm, 512), 3);
    pw_vm_free(vm);
    pw_image_free(img);
    pw_module_free(m);

    /* Read during initialisation: equal environments share the image ... */
    m = load(VM_WASM_DIR, "env_init");
    memset(&h0, 0, sizeof(h0));
    memset(&h1, 0, sizeof(h1));
    img = image_of(m, &c1, &h0);
    assert_int_equal(pw_image_frozen(img), PW_FROZEN_ENV);
    assert_int_equal(logged(&h0, "initialized"), 1);
    vm = clone_of(img, &csame, &h1);
    assert_non_null(root_of(vm, ""));
    assert_int_equal(logged(&h1, "initialized"), 0);
    assert_int_equal(u32_at(vm, 256), 1);
    assert_int_equal(u32_at(vm, 512), 1);
    pw_vm_free(vm);
    /* ... another one gets an initialisation of its own, with its environment. */
    vm = clone_of(img, &c3, &h2);
    assert_non_null(root_of(vm, ""));
    assert_int_equal(logged(&h2, "initialized"), 1);
    assert_int_equal(u32_at(vm, 256), 3);
    assert_int_equal(u32_at(vm, 512), 3);
    pw_vm_free(vm);
    pw_image_free(img);
    pw_module_free(m);
}

static void test_start_section_and_command_start_run_once(void **state)
{
    struct pw_module *m = load(VM_WASM_DIR, "start_command");
    struct host h = {0};
    struct pw_image *img = image_of(m, &plain, &h); /* proc_exit(0) in _start is success */
    struct pw_vm *a = clone_of(img, &plain, &h), *b = clone_of(img, &plain, &h);

    assert_non_null(root_of(a, ""));
    assert_non_null(root_of(b, ""));
    assert_int_equal(h.failures, 0);
    pw_vm_free(a);
    pw_vm_free(b);
    pw_image_free(img);
    pw_module_free(m);
}

static void test_failures_are_reported(void **state)
{
    char err[1024];
    struct host h = {0};
    struct pw_module *m = load(VM_WASM_DIR, "init_trap");

    assert_null(pw_image_new(m, &plain, &ops, &h, err, sizeof(err)));
    assert_non_null(strstr(err, "plugin plug: _initialize failed: unreachable"));
    assert_int_equal(logged(&h, "_initialize failed"), 1);
    pw_module_free(m);

    /* A memory limit below what the image already has. */
    m = load(VM_WASM_DIR, "init_once");
    struct pw_image *img = image_of(m, &plain, &h);
    struct pw_vm_config small = {.vm_id = "", .name = "plug", .max_memory_pages = 1};
    assert_null(pw_vm_new_from_image(img, &small, &ops, &h, err, sizeof(err)));
    assert_string_equal(err, "memory 0 needs 2 pages, more than the limit of 1");
    small.max_memory_pages = 2;
    struct pw_vm *vm = clone_of(img, &small, &h);
    pw_vm_free(vm);
    pw_image_free(img);
    pw_module_free(m);
}

/* Runs a root and one stream of hc_headers on vm; fills h and s. */
static void run_hc_headers(struct pw_vm *vm, struct stream *s)
{
    struct pw_root *root = root_of(vm, "cfgval");
    struct pw_stream *ps;

    assert_non_null(root);
    pw_map_add(&s->maps[0], ":path", 5, "/x", 2);
    pw_map_add(&s->maps[0], "h2", 2, "v", 1);
    pw_map_add(&s->maps[2], ":status", 7, "200", 3);
    ps = pw_stream_new(root, s);
    assert_non_null(ps);
    assert_int_equal(pw_stream_request_headers(ps, 2, true), PW_ACTION_CONTINUE);
    assert_int_equal(pw_stream_response_headers(ps, 1, true), PW_ACTION_CONTINUE);
    pw_stream_end(ps);
}

static void test_a_vm_from_an_image_behaves_like_pw_vm_new(void **state)
{
    char err[1024];
    const char *env[] = {"HC_GREETING=hi"};
    struct pw_vm_config cfg = {.vm_id = "v", .name = "hc", .env = env, .nenv = 1};
    struct pw_module *m = load(WASP_TEST_PLUGIN_DIR, "hc_headers");
    struct host hn = {0}, hi = {0}, hc = {0};
    struct stream sn = {0}, sc = {0};
    struct pw_vm *fresh = pw_vm_new(m, &cfg, &ops, &hn, err, sizeof(err));
    struct pw_image *img = image_of(m, &plain, &hi); /* another environment: not read */
    struct pw_vm *clone = clone_of(img, &cfg, &hc);

    assert_non_null(fresh);
    run_hc_headers(fresh, &sn);
    run_hc_headers(clone, &sc);
    assert_true(hn.nlines > 3);
    assert_int_equal(hc.nlines, hn.nlines);
    for (int i = 0; i < hn.nlines; i++)
        assert_string_equal(hc.lines[i], hn.lines[i]);
    assert_int_equal(logged(&hc, "greeting from the environment: hi"), 1);
    for (int t = 0; t < 4; t++) {
        assert_int_equal(sc.maps[t].count, sn.maps[t].count);
        for (uint32_t i = 0; i < sn.maps[t].count; i++) {
            assert_string_equal(sc.maps[t].items[i].key, sn.maps[t].items[i].key);
            assert_string_equal(sc.maps[t].items[i].value, sn.maps[t].items[i].value);
        }
    }
    assert_string_equal(pw_map_value(&sc.maps[0], "x-replayed"), "1");
    assert_null(pw_map_value(&sc.maps[0], "h2"));
    assert_string_equal(pw_map_value(&sc.maps[2], "x-resp"), "cfgval");
    pw_vm_free(clone);
    pw_vm_free(fresh);

    /* A tracing VM links through its own linker: every proxy_* hostcall is logged. */
    struct host ht = {0};
    struct stream st = {0};
    cfg.trace = true;
    clone = clone_of(img, &cfg, &ht);
    run_hc_headers(clone, &st);
    assert_true(logged(&ht, "hostcall proxy_add_header_map_value(") > 0);
    assert_int_equal(logged(&hc, "hostcall "), 0);
    pw_vm_free(clone);
    for (int t = 0; t < 4; t++) {
        pw_map_free(&sn.maps[t]);
        pw_map_free(&sc.maps[t]);
        pw_map_free(&st.maps[t]);
    }
    pw_image_free(img);
    pw_module_free(m);
}

/* max_execution_ns: an endless loop (hc_loop on a path with "10bytes") is cut at the
 * limit and reported as the callback's failure; each callback gets its own budget, so
 * callbacks that return in time never add up to it. */
static void test_max_execution_time_cuts_a_loop_per_callback(void **state)
{
    char err[1024];
    struct pw_vm_config cfg = {.vm_id = "", .name = "loop", .max_execution_ns = 50000000};
    struct pw_module *m = load(WASP_TEST_PLUGIN_DIR, "hc_loop");
    struct host h = {0};
    struct pw_vm *vm = pw_vm_new(m, &cfg, &ops, &h, err, sizeof(err));
    struct stream ok = {0}, spin = {0};

    assert_non_null(vm);
    struct pw_root *root = root_of(vm, "");
    assert_non_null(root);
    pw_map_add(&ok.maps[0], ":path", 5, "/ok", 3);
    pw_map_add(&spin.maps[0], ":path", 5, "/10bytes", 8);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(request(root, &ok), PW_ACTION_CONTINUE);
        struct timespec nap = {0, 30000000}; /* 3 x 30 ms: more than one budget in all */
        nanosleep(&nap, NULL);
    }
    assert_int_equal(h.failures, 0);
    uint64_t t0 = wasm_clock_ns();
    assert_int_equal(request(root, &spin), PW_ACTION_FAILED);
    uint64_t took = wasm_clock_ns() - t0;
    assert_true(took >= 50000000u);
    assert_true(took < 5000000000u); /* cut, not waited for (generous: loaded machines) */
    assert_int_equal(h.failures, 1);
    assert_int_equal(logged(&h, "proxy_on_request_headers failed: execution time exceeded"), 1);
    pw_vm_free(vm);
    for (int t = 0; t < 4; t++) {
        pw_map_free(&ok.maps[t]);
        pw_map_free(&spin.maps[t]);
    }
    pw_module_free(m);
}

/* The start function runs under the same limits: an endless loop in a start section
 * fails pw_vm_new (and pw_image_new) at the deadline or when the fuel runs out. */
static void test_limits_cut_an_endless_start_function(void **state)
{
    char err[1024];
    struct pw_vm_config timed = {.vm_id = "", .name = "plug", .max_execution_ns = 50000000};
    struct pw_vm_config fueled = {.vm_id = "", .name = "plug", .fuel_per_callback = 1000000};
    struct pw_module *m = load(VM_WASM_DIR, "start_loop");
    struct host h = {0};

    uint64_t t0 = wasm_clock_ns();
    assert_null(pw_vm_new(m, &timed, &ops, &h, err, sizeof(err)));
    uint64_t took = wasm_clock_ns() - t0;
    assert_non_null(strstr(err, "start function failed: execution time exceeded"));
    assert_true(took >= 50000000u);
    assert_true(took < 5000000000u); /* cut, not waited for (generous: loaded machines) */
    assert_null(pw_image_new(m, &timed, &ops, &h, err, sizeof(err)));
    assert_non_null(strstr(err, "start function failed: execution time exceeded"));
    assert_null(pw_vm_new(m, &fueled, &ops, &h, err, sizeof(err)));
    assert_non_null(strstr(err, "start function failed: fuel exhausted"));
    assert_int_equal(logged(&h, "start function failed"), 3);
    pw_module_free(m);
}

/* ---- Many threads --------------------------------------------------------------------- */

enum { THREADS = 4, CLONES = 25 };

struct job {
    struct pw_image *img;
    int failures;
};

static void *clone_worker(void *arg)
{
    struct job *j = arg;
    char err[1024];
    struct host *h = calloc(1, sizeof(*h));
    struct stream s = {0};

    for (int i = 0; i < CLONES; i++) {
        struct pw_vm *vm = pw_vm_new_from_image(j->img, &plain, &ops, h, err, sizeof(err));
        struct pw_root *root = vm != NULL ? root_of(vm, "") : NULL;
        if (root == NULL || request(root, &s) != PW_ACTION_CONTINUE ||
            request(root, &s) != PW_ACTION_CONTINUE || u32_at(vm, 1024) != 2 ||
            global_of(vm, "vm_starts") != 1 || request(root, &s) != PW_ACTION_FAILED)
            j->failures++;
        pw_vm_free(vm);
    }
    if (logged(h, "initialized") != 0 || h->failures != CLONES)
        j->failures++;
    free(h);
    return NULL;
}

static void test_many_threads_make_vms_from_one_image(void **state)
{
    struct pw_module *m = load(VM_WASM_DIR, "init_once");
    struct host h = {0};
    struct pw_image *img = image_of(m, &plain, &h);
    pthread_t th[THREADS];
    struct job jobs[THREADS];

    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (struct job){.img = img};
        assert_int_equal(pthread_create(&th[t], NULL, clone_worker, &jobs[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(jobs[t].failures, 0);
    }
    assert_int_equal(logged(&h, "initialized"), 1);
    pw_image_free(img);
    pw_module_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initialisation_runs_once_and_each_vm_starts_itself),
        cmocka_unit_test(test_vms_of_an_image_are_isolated_and_a_trapped_one_is_replaced),
        cmocka_unit_test(test_what_initialisation_read_is_frozen_and_reported),
        cmocka_unit_test(test_each_vm_sees_its_own_environment),
        cmocka_unit_test(test_start_section_and_command_start_run_once),
        cmocka_unit_test(test_failures_are_reported),
        cmocka_unit_test(test_a_vm_from_an_image_behaves_like_pw_vm_new),
        cmocka_unit_test(test_limits_cut_an_endless_start_function),
        cmocka_unit_test(test_max_execution_time_cuts_a_loop_per_callback),
        cmocka_unit_test(test_many_threads_make_vms_from_one_image),
    };
    wasm_engine_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
