/*
 * test_image.c - images and clones (engine/image.c, memory.c): a clone starts in the
 * image's state (memory written by the start function, globals, tables, funcref globals,
 * dropped segments) without running the start function or copying data segments; clones
 * are isolated from each other, from the image and from the captured instance; imports
 * are linked per clone; traps, memory.grow and the memory limit in a clone; images of
 * clones; what cannot be captured; many threads cloning and running one image at once.
 * The same tests run in both memory modes (CI reruns `-L engine` with bounds checks).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "exec_util.h"

static int started_calls; /* env.started: how often a start function ran */

static int host_started(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    (void)inst;
    (void)slots;
    (void)env;
    __atomic_fetch_add(&started_calls, 1, __ATOMIC_SEQ_CST);
    return WASM_OK;
}

/* env.host: returns the number its linker was made with. */
static int host_value(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    (void)inst;
    slots[0] = (uint32_t)(uintptr_t)env;
    return WASM_OK;
}

static wasm_linker_t *linker_with(uint32_t value)
{
    wasm_linker_t *l = wasm_linker_new();
    assert_non_null(l);
    assert_int_equal(
        wasm_linker_define_func(l, "env", "host", "()i", host_value, (void *)(uintptr_t)value),
        WASM_OK);
    assert_int_equal(wasm_linker_define_func(l, "env", "started", "()", host_started, NULL),
                     WASM_OK);
    return l;
}

struct fixture {
    wasm_module_t *mod;
    wasm_linker_t *l11;
    wasm_instance_t *source; /* the instance the image was taken from */
    wasm_image_t *img;
};

static int setup(void **state)
{
    static struct fixture f;
    char err[256];
    wasm_engine_init(); /* take SIGSEGV back from cmocka */
    started_calls = 0;
    f.mod = load_wasm("image");
    if (!f.mod)
        return -1;
    f.l11 = linker_with(11);
    if (wasm_instance_new(f.mod, f.l11, NULL, &f.source, err, sizeof(err)) != WASM_OK ||
        wasm_image_new(f.source, &f.img, err, sizeof(err)) != WASM_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    wasm_image_free(f->img);
    wasm_instance_free(f->source);
    wasm_linker_free(f->l11);
    wasm_module_free(f->mod);
    return 0;
}

static wasm_instance_t *clone_of(const wasm_image_t *img, const wasm_linker_t *l,
                                 const struct wasm_instance_config *cfg)
{
    char err[256];
    wasm_instance_t *inst = NULL;
    int rc = wasm_instance_new_from_image(img, l, cfg, &inst, err, sizeof(err));
    if (rc != WASM_OK)
        fprintf(stderr, "clone: %s\n", err);
    assert_int_equal(rc, WASM_OK);
    assert_non_null(inst);
    return inst;
}

/* Calls export name with up to two arguments; asserts it returns want_rc; the result. */
static uint32_t call_rc(wasm_instance_t *inst, const char *name, int want_rc, uint64_t a,
                        uint64_t b)
{
    uint64_t s[2] = {a, b};
    assert_int_equal(call_export(inst, name, s), want_rc);
    return (uint32_t)s[0];
}

static uint32_t call(wasm_instance_t *inst, const char *name, uint64_t a, uint64_t b)
{
    return call_rc(inst, name, WASM_OK, a, b);
}

static void test_clone_starts_in_the_image_state(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(started_calls, 1);
    wasm_instance_t *c = clone_of(f->img, f->l11, NULL);
    assert_int_equal(started_calls, 1); /* the start function did not run again */
    assert_int_equal(call(c, "counter", 0, 0), 1);
    /* Memory as the start function left it, not as the data segment says. */
    assert_memory_equal(wasm_memory_ptr(c, 16, 5), "Hello", 5);
    assert_int_equal(call(c, "size", 0, 0), 2);
    assert_int_equal(wasm_memory_size(c), 2 * WASM_PAGE_SIZE);
    assert_int_equal(wasm_image_memory_size(f->img), 2 * WASM_PAGE_SIZE);
    assert_int_equal(call(c, "load32", 70000, 0), 0xdeadbeef);
    assert_int_equal(call(c, "load32", 2 * WASM_PAGE_SIZE - 4, 0), 0);
    /* The table: an active segment's function and an import the start function put. */
    assert_int_equal(call(c, "call_table", 0, 0), 7);
    assert_int_equal(call(c, "call_table", 1, 0), 11);
    /* The funcref global names the clone's own counter function. */
    assert_int_equal(call(c, "call_global", 0, 0), 1);
    /* Passive segments: the kept ones work, the dropped ones stay dropped. */
    call(c, "init_data", 0, 0);
    assert_memory_equal(wasm_memory_ptr(c, 32, 8), "passive!", 8);
    call_rc(c, "init_gone_data", WASM_ERR_TRAP, 0, 0);
    assert_int_equal(wasm_instance_trap(c), WASM_TRAP_MEMORY_OOB);
    call(c, "init_elem", 0, 0);
    assert_int_equal(call(c, "call_table", 2, 0), 1);  /* $counter_get */
    assert_int_equal(call(c, "call_table", 3, 0), 11); /* $host */
    call_rc(c, "init_gone_elem", WASM_ERR_TRAP, 0, 0);
    assert_int_equal(wasm_instance_trap(c), WASM_TRAP_TABLE_OOB);
    assert_ptr_equal(wasm_image_module(f->img), f->mod);
    wasm_instance_free(c);
}

static void test_clone_links_its_own_imports(void **state)
{
    struct fixture *f = *state;
    char err[256];
    wasm_linker_t *l22 = linker_with(22);
    wasm_instance_t *c22 = clone_of(f->img, l22, NULL), *c11 = clone_of(f->img, f->l11, NULL);
    /* The import in the table, captured from an instance linked to l11, is l22's here. */
    assert_int_equal(call(c22, "call_table", 1, 0), 22);
    assert_int_equal(call(c11, "call_table", 1, 0), 11);
    wasm_instance_free(c22);
    wasm_instance_free(c11);
    wasm_linker_free(l22);

    /* Link errors are those of wasm_instance_new. */
    wasm_linker_t *bad = wasm_linker_new();
    wasm_instance_t *c = (wasm_instance_t *)1;
    assert_int_equal(wasm_instance_new_from_image(f->img, bad, NULL, &c, err, sizeof(err)),
                     WASM_ERR_LINK);
    assert_null(c);
    assert_string_equal(err, "unknown import env.host");
    assert_int_equal(wasm_linker_define_func(bad, "env", "host", "()I", host_value, NULL), WASM_OK);
    assert_int_equal(wasm_instance_new_from_image(f->img, bad, NULL, &c, err, sizeof(err)),
                     WASM_ERR_LINK);
    assert_string_equal(err, "incompatible import type for env.host: expected ()->(i32), got "
                             "()->(i64)");
    wasm_linker_free(bad);
}

static void test_clones_are_isolated(void **state)
{
    struct fixture *f = *state;
    wasm_instance_t *a = clone_of(f->img, f->l11, NULL), *b = clone_of(f->img, f->l11, NULL);
    call(a, "store8", 200, 9);
    call(a, "store8", 16, 'J');
    assert_int_equal(call(a, "inc", 0, 0), 2);
    assert_int_equal(call(a, "grow", 1, 0), 2);
    assert_int_equal(call(a, "load8", 200, 0), 9);
    assert_int_equal(call(a, "call_global", 0, 0), 2); /* a's own counter */

    assert_int_equal(call(b, "load8", 200, 0), 0);
    assert_int_equal(call(b, "load8", 16, 0), 'H');
    assert_int_equal(call(b, "counter", 0, 0), 1);
    assert_int_equal(call(b, "call_global", 0, 0), 1);
    assert_int_equal(call(b, "size", 0, 0), 2);

    /* Neither the image nor the captured instance saw a's writes ... */
    assert_int_equal(call(f->source, "load8", 200, 0), 0);
    assert_int_equal(call(f->source, "counter", 0, 0), 1);
    /* ... and what the captured instance does later is not in the image. */
    call(f->source, "store8", 300, 5);
    call(f->source, "inc", 0, 0);
    wasm_instance_t *c = clone_of(f->img, f->l11, NULL);
    assert_int_equal(call(c, "load8", 300, 0), 0);
    assert_int_equal(call(c, "counter", 0, 0), 1);
    assert_int_equal(call(c, "size", 0, 0), 2);
    assert_int_equal(call(c, "load8", 16, 0), 'H');
    wasm_instance_free(a);
    wasm_instance_free(b);
    wasm_instance_free(c);
}

static void test_trap_in_a_clone_leaves_the_image_intact(void **state)
{
    struct fixture *f = *state;
    wasm_instance_t *a = clone_of(f->img, f->l11, NULL);
    call_rc(a, "write_then_trap", WASM_ERR_TRAP, 16, 0);
    assert_int_equal(wasm_instance_trap(a), WASM_TRAP_UNREACHABLE);
    /* An access past the clone's memory traps, whatever lies beyond the image's pages. */
    call_rc(a, "load32", WASM_ERR_TRAP, 2 * WASM_PAGE_SIZE, 0);
    assert_int_equal(wasm_instance_trap(a), WASM_TRAP_MEMORY_OOB);
    call_rc(a, "load8", WASM_ERR_TRAP, 0xfffffff0u, 0);
    assert_int_equal(wasm_instance_trap(a), WASM_TRAP_MEMORY_OOB);
    /* The trapped clone keeps what it wrote before the trap; a fresh one does not. */
    assert_int_equal(call(a, "load8", 16, 0), 0x77);
    assert_int_equal(call(a, "counter", 0, 0), 1000);
    wasm_instance_free(a);
    wasm_instance_t *b = clone_of(f->img, f->l11, NULL);
    assert_int_equal(call(b, "load8", 16, 0), 'H');
    assert_int_equal(call(b, "counter", 0, 0), 1);
    wasm_instance_free(b);
}

static void test_clone_memory_grow_and_limit(void **state)
{
    struct fixture *f = *state;
    char err[256];
    /* Up to the module's own maximum (8 pages); grown pages are zero and writable. */
    wasm_instance_t *a = clone_of(f->img, f->l11, NULL);
    assert_int_equal(call(a, "grow", 6, 0), 2);
    assert_int_equal(call(a, "grow", 1, 0), UINT32_MAX);
    assert_int_equal(call(a, "size", 0, 0), 8);
    assert_int_equal(call(a, "load32", 8 * WASM_PAGE_SIZE - 4, 0), 0);
    call(a, "store8", 8 * WASM_PAGE_SIZE - 1, 0x5a);
    assert_int_equal(call(a, "load8", 8 * WASM_PAGE_SIZE - 1, 0), 0x5a);
    assert_int_equal(call(a, "load32", 70000, 0), 0xdeadbeef);
    assert_memory_equal(wasm_memory_ptr(a, 16, 5), "Hello", 5);
    call(a, "store8", 17, 'a'); /* after the grow (bounds mode: a heap copy by now) */
    assert_int_equal(call(a, "load8", 17, 0), 'a');
    wasm_instance_free(a);

    /* The configured limit applies to clones. */
    struct wasm_instance_config cfg = {.max_memory_pages = 3};
    wasm_instance_t *b = clone_of(f->img, f->l11, &cfg);
    assert_int_equal(call(b, "grow", 1, 0), 2);
    assert_int_equal(call(b, "grow", 1, 0), UINT32_MAX);
    assert_int_equal(call(b, "size", 0, 0), 3);
    wasm_instance_free(b);

    /* An image memory larger than the limit is refused. */
    cfg.max_memory_pages = 1;
    wasm_instance_t *c = NULL;
    assert_int_equal(wasm_instance_new_from_image(f->img, f->l11, &cfg, &c, err, sizeof(err)),
                     WASM_ERR_NOMEM);
    assert_null(c);
    assert_string_equal(err, "memory 0 needs 2 pages, more than the limit of 1");

    /* The other clones never saw any of it. */
    wasm_instance_t *d = clone_of(f->img, f->l11, NULL);
    assert_int_equal(call(d, "size", 0, 0), 2);
    assert_int_equal(call(d, "load8", 17, 0), 'e');
    wasm_instance_free(d);
}

/* Clones do not need their image; an image can be taken of a clone. */
static void test_images_of_clones_and_lifetimes(void **state)
{
    struct fixture *f = *state;
    char err[256];
    wasm_instance_t *a = clone_of(f->img, f->l11, NULL);
    call(a, "store8", 400, 3);
    call(a, "inc", 0, 0);
    call(a, "grow", 1, 0);
    call(a, "store8", 2 * WASM_PAGE_SIZE + 8, 4);
    wasm_image_t *img2 = NULL;
    assert_int_equal(wasm_image_new(a, &img2, err, sizeof(err)), WASM_OK);
    wasm_instance_t *b = clone_of(img2, f->l11, NULL);
    wasm_image_free(img2);
    wasm_instance_free(a);
    assert_int_equal(call(b, "load8", 400, 0), 3);
    assert_int_equal(call(b, "counter", 0, 0), 2);
    assert_int_equal(call(b, "call_global", 0, 0), 2);
    assert_int_equal(call(b, "size", 0, 0), 3);
    assert_int_equal(call(b, "load8", 2 * WASM_PAGE_SIZE + 8, 0), 4);
    assert_memory_equal(wasm_memory_ptr(b, 16, 5), "Hello", 5);
    call(b, "store8", 400, 6);
    assert_int_equal(call(b, "load8", 400, 0), 6);
    wasm_instance_free(b);
}

/* env.started of the capture test: tries to capture the instance in the middle of a call. */
static int capture_rc;
static char capture_err[256];

static int host_capture(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    (void)slots;
    (void)env;
    wasm_image_t *img = NULL;
    capture_rc = wasm_image_new(inst, &img, capture_err, sizeof(capture_err));
    wasm_image_free(img);
    return WASM_OK;
}

static void test_what_cannot_be_captured(void **state)
{
    struct fixture *f = *state;
    char err[256];
    wasm_image_t *img = (wasm_image_t *)1;

    /* A running instance (here: from its start function's host call). */
    wasm_linker_t *l = linker_with(1);
    assert_int_equal(wasm_linker_define_func(l, "env", "started", "()", host_capture, NULL),
                     WASM_OK);
    wasm_instance_t *inst;
    assert_int_equal(wasm_instance_new(f->mod, l, NULL, &inst, err, sizeof(err)), WASM_OK);
    assert_int_equal(capture_rc, WASM_ERR_ARG);
    assert_string_equal(capture_err, "cannot capture a running instance");
    wasm_instance_free(inst);
    wasm_linker_free(l);

    /* An imported memory or table belongs to another instance. */
    wasm_module_t *pm = load_wasm("provider"), *cm = load_wasm("consumer");
    wasm_instance_t *prov, *cons;
    assert_int_equal(wasm_instance_new(pm, NULL, NULL, &prov, err, sizeof(err)), WASM_OK);
    l = wasm_linker_new();
    assert_int_equal(wasm_linker_define_instance(l, "prov", prov), WASM_OK);
    assert_int_equal(wasm_instance_new(cm, l, NULL, &cons, err, sizeof(err)), WASM_OK);
    assert_int_equal(wasm_image_new(cons, &img, err, sizeof(err)), WASM_ERR_ARG);
    assert_null(img);
    assert_string_equal(err, "cannot capture an instance that imports a memory: its state "
                             "belongs to another instance");
    wasm_instance_free(cons);
    wasm_linker_free(l);
    wasm_instance_free(prov);
    wasm_module_free(pm);
    wasm_module_free(cm);

    /* A reference to a function of another instance that is not an import. */
    wasm_module_t *gm = load_wasm("image_give"), *tm = load_wasm("image_take");
    wasm_instance_t *giver, *taker;
    assert_int_equal(wasm_instance_new(gm, NULL, NULL, &giver, err, sizeof(err)), WASM_OK);
    l = wasm_linker_new();
    assert_int_equal(wasm_linker_define_instance(l, "prov", giver), WASM_OK);
    assert_int_equal(wasm_instance_new(tm, l, NULL, &taker, err, sizeof(err)), WASM_OK);
    assert_int_equal(wasm_image_new(taker, &img, err, sizeof(err)), WASM_OK); /* null so far */
    wasm_image_free(img);
    call(taker, "take", 0, 0);
    assert_int_equal(wasm_image_new(taker, &img, err, sizeof(err)), WASM_ERR_ARG);
    assert_string_equal(err, "global 0 holds a function of another instance");
    wasm_instance_free(taker);
    assert_int_equal(wasm_instance_new(tm, l, NULL, &taker, err, sizeof(err)), WASM_OK);
    call(taker, "take_table", 0, 0);
    assert_int_equal(wasm_image_new(taker, &img, err, sizeof(err)), WASM_ERR_ARG);
    assert_string_equal(err, "table 0 holds a function of another instance");
    wasm_instance_free(taker);
    wasm_linker_free(l);
    wasm_instance_free(giver);
    wasm_module_free(gm);
    wasm_module_free(tm);
}

/* ---- Many threads ------------------------------------------------------------------ */

enum { THREADS = 4, LIVE = 6, ROUNDS = 60 };

struct job {
    const wasm_image_t *img;
    const wasm_linker_t *l;
    int id;
    int failures;
};

/* Checks a fresh clone, then makes it this thread's own; false on any surprise. */
static bool use_clone(wasm_instance_t *c, uint32_t tag)
{
    uint64_t s[2] = {0, 0};
    bool ok = true;
    ok &= call_export(c, "counter", s) == WASM_OK && s[0] == 1;
    s[0] = 16;
    ok &= call_export(c, "load8", s) == WASM_OK && s[0] == 'H';
    s[0] = 70000;
    ok &= call_export(c, "load32", s) == WASM_OK && (uint32_t)s[0] == 0xdeadbeef;
    s[0] = 1;
    ok &= call_export(c, "call_table", s) == WASM_OK && s[0] == 11;
    /* Write a tag on a shared page and in the global; some clones grow. */
    s[0] = 500 + tag % 64;
    s[1] = tag & 0xff;
    ok &= call_export(c, "store8", s) == WASM_OK;
    ok &= call_export(c, "inc", s) == WASM_OK && s[0] == 2;
    if (tag % 3 == 0) {
        s[0] = 1;
        ok &= call_export(c, "grow", s) == WASM_OK && s[0] == 2;
    }
    return ok;
}

static bool still_own(wasm_instance_t *c, uint32_t tag)
{
    uint64_t s[2] = {500 + tag % 64, 0};
    bool ok = call_export(c, "load8", s) == WASM_OK && s[0] == (tag & 0xff);
    s[0] = 0;
    ok &= call_export(c, "counter", s) == WASM_OK && s[0] == 2;
    s[0] = 0;
    ok &= call_export(c, "size", s) == WASM_OK && s[0] == (tag % 3 == 0 ? 3u : 2u);
    /* Neighbouring tags were written by other clones only. */
    s[0] = 500 + (tag + 1) % 64;
    ok &= call_export(c, "load8", s) == WASM_OK && s[0] == 0;
    return ok;
}

static void *clone_worker(void *arg)
{
    struct job *j = arg;
    char err[256];
    wasm_instance_t *live[LIVE] = {0};
    uint32_t tags[LIVE] = {0};
    for (int r = 0; r < ROUNDS; r++) {
        int k = r % LIVE;
        if (live[k]) {
            if (!still_own(live[k], tags[k]))
                j->failures++;
            wasm_instance_free(live[k]);
        }
        tags[k] = (uint32_t)(j->id * 1000 + r);
        if (wasm_instance_new_from_image(j->img, j->l, NULL, &live[k], err, sizeof(err)) !=
                WASM_OK ||
            !use_clone(live[k], tags[k]))
            j->failures++;
    }
    for (int k = 0; k < LIVE; k++) {
        if (live[k] && !still_own(live[k], tags[k]))
            j->failures++;
        wasm_instance_free(live[k]);
    }
    return NULL;
}

static void test_many_threads_clone_one_image(void **state)
{
    struct fixture *f = *state;
    pthread_t th[THREADS];
    struct job jobs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (struct job){.img = f->img, .l = f->l11, .id = t};
        assert_int_equal(pthread_create(&th[t], NULL, clone_worker, &jobs[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(jobs[t].failures, 0);
    }
    assert_int_equal(started_calls, 1);
    /* The image is unchanged by all of it. */
    wasm_instance_t *c = clone_of(f->img, f->l11, NULL);
    assert_int_equal(call(c, "load8", 500, 0), 0);
    assert_int_equal(call(c, "counter", 0, 0), 1);
    wasm_instance_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clone_starts_in_the_image_state),
        cmocka_unit_test(test_clone_links_its_own_imports),
        cmocka_unit_test(test_clones_are_isolated),
        cmocka_unit_test(test_trap_in_a_clone_leaves_the_image_intact),
        cmocka_unit_test(test_clone_memory_grow_and_limit),
        cmocka_unit_test(test_images_of_clones_and_lifetimes),
        cmocka_unit_test(test_what_cannot_be_captured),
        cmocka_unit_test(test_many_threads_clone_one_image),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
