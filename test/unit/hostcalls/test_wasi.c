/*
 * test_wasi.c - unit tests of hostcalls/wasi.c.
 *
 * wasi.c only needs four engine calls (define a host function, resolve a guest pointer,
 * raise an exit); this file implements them over a fake linker and a 64 KiB fake memory,
 * so each WASI function is called exactly as the engine would call it and its effect on
 * guest memory and on the embedder's callbacks is checked byte for byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "wasi.h"

/* ---- Fake engine ------------------------------------------------------------------ */

#define FAKE_MEM_SIZE 65536u
#define FAKE_MAX_FUNCS 256

struct fake_def {
    char module[64];
    char name[64];
    char sig[32];
    wasm_host_func_t fn;
    void *env;
};

struct wasm_linker {
    struct fake_def defs[FAKE_MAX_FUNCS];
    size_t n;
};

struct wasm_instance {
    uint8_t mem[FAKE_MEM_SIZE];
    bool exited;
    int32_t exit_code;
    bool trapped;
    struct wasi_ctx *own_ctx; /* what a dispatch context resolves this instance to */
};

int wasm_linker_define_func(wasm_linker_t *l, const char *module, const char *name, const char *sig,
                            wasm_host_func_t fn, void *env)
{
    struct fake_def *d;

    if (l->n == FAKE_MAX_FUNCS)
        return WASM_ERR_NOMEM;
    d = &l->defs[l->n++];
    snprintf(d->module, sizeof(d->module), "%s", module);
    snprintf(d->name, sizeof(d->name), "%s", name);
    snprintf(d->sig, sizeof(d->sig), "%s", sig);
    d->fn = fn;
    d->env = env;
    return WASM_OK;
}

void *wasm_memory_ptr(wasm_instance_t *inst, uint64_t offset, uint64_t len)
{
    if (offset > FAKE_MEM_SIZE || len > FAKE_MEM_SIZE - offset)
        return NULL;
    return inst->mem + offset;
}

int wasm_trap_raise(wasm_instance_t *inst, const char *message)
{
    inst->trapped = true;
    return WASM_ERR_TRAP;
}

int wasm_exit_raise(wasm_instance_t *inst, int32_t code)
{
    inst->exited = true;
    inst->exit_code = code;
    return WASM_ERR_TRAP;
}

static const struct fake_def *find_def(const wasm_linker_t *l, const char *module, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->defs[i].module, module) == 0 && strcmp(l->defs[i].name, name) == 0)
            return &l->defs[i];
    return NULL;
}

/* ---- Fixture: one linker, one instance, recording callbacks ------------------------ */

struct sink_call {
    int fd;
    char data[256];
    size_t len;
};

struct fixture {
    wasm_linker_t linker;
    wasm_instance_t inst;
    struct wasi_ctx *wasi;
    struct sink_call sink[8];
    int nsink;
    const char *input; /* remaining stdin */
    uint64_t now;
};

static void record_output(void *ctx, wasm_instance_t *inst, int fd, const char *data, size_t len)
{
    struct fixture *f = ctx;
    struct sink_call *s = &f->sink[f->nsink++];

    assert_ptr_equal(inst, &f->inst);
    s->fd = fd;
    s->len = len;
    memcpy(s->data, data, len < sizeof(s->data) ? len : sizeof(s->data));
}

static long read_input(void *ctx, wasm_instance_t *inst, char *buf, size_t len)
{
    struct fixture *f = ctx;
    size_t n = strlen(f->input);

    if (n > len)
        n = len;
    memcpy(buf, f->input, n);
    f->input += n;
    return (long)n;
}

static int virtual_clock(void *ctx, wasm_instance_t *inst, uint32_t id, uint64_t *ns)
{
    struct fixture *f = ctx;

    if (id != WASI_CLOCK_REALTIME && id != WASI_CLOCK_MONOTONIC)
        return WASI_ENOTSUP;
    *ns = f->now;
    return WASI_ESUCCESS;
}

static int counting_random(void *ctx, wasm_instance_t *inst, void *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        ((uint8_t *)buf)[i] = (uint8_t)(i + 1);
    return 0;
}

static struct fixture *fixture_new(const struct wasi_config *base)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct wasi_config cfg = *base;

    assert_non_null(f);
    if (cfg.ctx == NULL)
        cfg.ctx = f;
    f->wasi = wasi_ctx_new(&cfg);
    assert_non_null(f->wasi);
    assert_int_equal(wasi_define(&f->linker, f->wasi), WASM_OK);
    return f;
}

static void fixture_free(struct fixture *f)
{
    wasi_ctx_free(f->wasi);
    free(f);
}

/* Calls wasi_snapshot_preview1.name with up to 9 arguments; returns the errno result. */
static uint32_t call(struct fixture *f, const char *name, int n, ...)
{
    const struct fake_def *d = find_def(&f->linker, "wasi_snapshot_preview1", name);
    uint64_t slots[16] = {0};
    va_list ap;

    assert_non_null(d);
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        slots[i] = va_arg(ap, uint64_t);
    va_end(ap);
    assert_int_equal(d->fn(&f->inst, slots, d->env), WASM_OK);
    return (uint32_t)slots[0];
}

#define A(x) ((uint64_t)(x))

static void put32(struct fixture *f, uint32_t at, uint32_t v)
{
    memcpy(f->inst.mem + at, &v, 4);
}

static uint32_t get32(struct fixture *f, uint32_t at)
{
    uint32_t v;

    memcpy(&v, f->inst.mem + at, 4);
    return v;
}

static uint64_t get64(struct fixture *f, uint32_t at)
{
    uint64_t v;

    memcpy(&v, f->inst.mem + at, 8);
    return v;
}

static const struct wasi_config recording = {.output = record_output};

/* ---- Tests ------------------------------------------------------------------------ */

/* The preview1 set as written in ABI.md §6, independently of wasi.c's table. */
static const char *const preview1[][2] = {
    {"args_get", "(ii)i"},
    {"args_sizes_get", "(ii)i"},
    {"environ_get", "(ii)i"},
    {"environ_sizes_get", "(ii)i"},
    {"clock_res_get", "(ii)i"},
    {"clock_time_get", "(iIi)i"},
    {"fd_advise", "(iIIi)i"},
    {"fd_allocate", "(iII)i"},
    {"fd_close", "(i)i"},
    {"fd_datasync", "(i)i"},
    {"fd_fdstat_get", "(ii)i"},
    {"fd_fdstat_set_flags", "(ii)i"},
    {"fd_fdstat_set_rights", "(iII)i"},
    {"fd_filestat_get", "(ii)i"},
    {"fd_filestat_set_size", "(iI)i"},
    {"fd_filestat_set_times", "(iIIi)i"},
    {"fd_pread", "(iiiIi)i"},
    {"fd_prestat_get", "(ii)i"},
    {"fd_prestat_dir_name", "(iii)i"},
    {"fd_pwrite", "(iiiIi)i"},
    {"fd_read", "(iiii)i"},
    {"fd_readdir", "(iiiIi)i"},
    {"fd_renumber", "(ii)i"},
    {"fd_seek", "(iIii)i"},
    {"fd_sync", "(i)i"},
    {"fd_tell", "(ii)i"},
    {"fd_write", "(iiii)i"},
    {"path_create_directory", "(iii)i"},
    {"path_filestat_get", "(iiiii)i"},
    {"path_filestat_set_times", "(iiiiIIi)i"},
    {"path_link", "(iiiiiii)i"},
    {"path_open", "(iiiiiIIii)i"},
    {"path_readlink", "(iiiiii)i"},
    {"path_remove_directory", "(iii)i"},
    {"path_rename", "(iiiiii)i"},
    {"path_symlink", "(iiiii)i"},
    {"path_unlink_file", "(iii)i"},
    {"poll_oneoff", "(iiii)i"},
    {"proc_exit", "(i)"},
    {"proc_raise", "(i)i"},
    {"random_get", "(ii)i"},
    {"sched_yield", "()i"},
    {"sock_accept", "(iii)i"},
    {"sock_recv", "(iiiiii)i"},
    {"sock_send", "(iiiii)i"},
    {"sock_shutdown", "(ii)i"},
};

static void test_every_preview1_function_is_defined_under_both_names(void **state)
{
    struct fixture *f = fixture_new(&recording);
    size_t n = sizeof(preview1) / sizeof(preview1[0]);

    assert_int_equal(wasi_function_count(), n);
    assert_int_equal(f->linker.n, 2 * n);
    for (size_t i = 0; i < n; i++) {
        const struct fake_def *a = find_def(&f->linker, "wasi_snapshot_preview1", preview1[i][0]);
        const struct fake_def *b = find_def(&f->linker, "wasi_unstable", preview1[i][0]);

        assert_non_null(a);
        assert_non_null(b);
        assert_string_equal(a->sig, preview1[i][1]);
        assert_string_equal(b->sig, preview1[i][1]);
        assert_ptr_equal(a->fn, b->fn);
    }
    fixture_free(f);
}

static void test_fd_write_gathers_iovecs_into_one_sink_call(void **state)
{
    struct fixture *f = fixture_new(&recording);

    memcpy(f->inst.mem + 100, "hello ", 6);
    memcpy(f->inst.mem + 200, "world\n", 6);
    put32(f, 16, 100), put32(f, 20, 6), put32(f, 24, 200), put32(f, 28, 6);
    assert_int_equal(call(f, "fd_write", 4, A(1), A(16), A(2), A(40)), WASI_ESUCCESS);
    assert_int_equal(get32(f, 40), 12);
    assert_int_equal(f->nsink, 1);
    assert_int_equal(f->sink[0].fd, 1);
    assert_int_equal(f->sink[0].len, 12);
    assert_memory_equal(f->sink[0].data, "hello world\n", 12);

    put32(f, 16, 300), put32(f, 20, 3);
    memcpy(f->inst.mem + 300, "err", 3);
    assert_int_equal(call(f, "fd_write", 4, A(2), A(16), A(1), A(40)), WASI_ESUCCESS);
    assert_int_equal(f->nsink, 2);
    assert_int_equal(f->sink[1].fd, 2);
    assert_memory_equal(f->sink[1].data, "err", 3);
    fixture_free(f);
}

static void test_fd_write_rejects_other_fds_and_bad_pointers_without_output(void **state)
{
    struct fixture *f = fixture_new(&recording);

    put32(f, 16, 100), put32(f, 20, 6);
    put32(f, 24, FAKE_MEM_SIZE - 2), put32(f, 28, 6); /* runs off the end */
    assert_int_equal(call(f, "fd_write", 4, A(0), A(16), A(1), A(40)), WASI_EBADF);
    assert_int_equal(call(f, "fd_write", 4, A(3), A(16), A(1), A(40)), WASI_EBADF);
    assert_int_equal(call(f, "fd_write", 4, A(1), A(16), A(2), A(40)), WASI_EFAULT);
    assert_int_equal(call(f, "fd_write", 4, A(1), A(FAKE_MEM_SIZE - 4), A(1), A(40)), WASI_EFAULT);
    assert_int_equal(call(f, "fd_write", 4, A(1), A(16), A(1), A(FAKE_MEM_SIZE - 3)), WASI_EFAULT);
    assert_int_equal(call(f, "fd_write", 4, A(1), A(16), A(0x20000000), A(40)), WASI_EFAULT);
    assert_int_equal(f->nsink, 0);
    fixture_free(f);
}

static void test_args_are_laid_out_as_argv(void **state)
{
    const char *args[] = {"prog", "-x", ""};
    struct wasi_config cfg = {.args = args, .nargs = 3};
    struct fixture *f = fixture_new(&cfg);

    assert_int_equal(call(f, "args_sizes_get", 2, A(0), A(4)), WASI_ESUCCESS);
    assert_int_equal(get32(f, 0), 3);
    assert_int_equal(get32(f, 4), 9); /* "prog\0-x\0\0" */
    assert_int_equal(call(f, "args_get", 2, A(100), A(200)), WASI_ESUCCESS);
    assert_int_equal(get32(f, 100), 200);
    assert_int_equal(get32(f, 104), 205);
    assert_int_equal(get32(f, 108), 208);
    assert_memory_equal(f->inst.mem + 200, "prog\0-x\0\0", 9);
    assert_int_equal(call(f, "args_get", 2, A(100), A(FAKE_MEM_SIZE - 4)), WASI_EFAULT);
    fixture_free(f);
}

static void test_environment_is_the_configured_one_never_the_hosts(void **state)
{
    const char *env[] = {"A=1", "PLUGIN=yes"};
    struct wasi_config cfg = {.env = env, .nenv = 2};
    struct fixture *empty = fixture_new(&recording);
    struct fixture *f;

    setenv("WASP_TEST_HOST_VAR", "leak", 1);
    assert_int_equal(call(empty, "environ_sizes_get", 2, A(0), A(4)), WASI_ESUCCESS);
    assert_int_equal(get32(empty, 0), 0);
    assert_int_equal(get32(empty, 4), 0);
    fixture_free(empty);

    f = fixture_new(&cfg);
    env[0] = "B=changed"; /* the context keeps its own copy */
    assert_int_equal(call(f, "environ_sizes_get", 2, A(0), A(4)), WASI_ESUCCESS);
    assert_int_equal(get32(f, 0), 2);
    assert_int_equal(get32(f, 4), 15);
    assert_int_equal(call(f, "environ_get", 2, A(100), A(200)), WASI_ESUCCESS);
    assert_int_equal(get32(f, 100), 200);
    assert_int_equal(get32(f, 104), 204);
    assert_memory_equal(f->inst.mem + 200, "A=1\0PLUGIN=yes\0", 15);
    fixture_free(f);
}

static void test_clock_comes_from_the_configured_source(void **state)
{
    struct wasi_config cfg = {.clock = virtual_clock};
    struct fixture *f = fixture_new(&cfg);

    f->now = 1234567890123ull;
    assert_int_equal(call(f, "clock_time_get", 3, A(WASI_CLOCK_MONOTONIC), A(1), A(8)),
                     WASI_ESUCCESS);
    assert_int_equal(get64(f, 8), 1234567890123ull);
    assert_int_equal(call(f, "clock_time_get", 3, A(WASI_CLOCK_PROCESS_CPUTIME), A(1), A(8)),
                     WASI_ENOTSUP);
    assert_int_equal(call(f, "clock_time_get", 3, A(4), A(1), A(8)), WASI_EINVAL);
    assert_int_equal(call(f, "clock_time_get", 3, A(0), A(1), A(FAKE_MEM_SIZE - 7)), WASI_EFAULT);
    assert_int_equal(call(f, "clock_res_get", 2, A(WASI_CLOCK_REALTIME), A(16)), WASI_ESUCCESS);
    assert_int_equal(get64(f, 16), 1);
    fixture_free(f);
}

static void test_default_clock_is_the_hosts(void **state)
{
    struct fixture *f = fixture_new(&recording);
    struct timespec ts;
    uint64_t before, after;

    clock_gettime(CLOCK_REALTIME, &ts);
    before = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    assert_int_equal(call(f, "clock_time_get", 3, A(WASI_CLOCK_REALTIME), A(1), A(8)),
                     WASI_ESUCCESS);
    clock_gettime(CLOCK_REALTIME, &ts);
    after = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    assert_true(get64(f, 8) >= before && get64(f, 8) <= after);
    fixture_free(f);
}

static void test_random_get_fills_the_buffer_and_caps_the_size(void **state)
{
    struct wasi_config cfg = {.random = counting_random};
    struct fixture *f = fixture_new(&cfg);
    struct fixture *g = fixture_new(&recording);
    uint8_t zero[64] = {0};

    assert_int_equal(call(f, "random_get", 2, A(10), A(4)), WASI_ESUCCESS);
    assert_memory_equal(f->inst.mem + 10, "\1\2\3\4", 4);
    assert_int_equal(call(f, "random_get", 2, A(0), A(WASI_RANDOM_MAX + 1)), WASI_EINVAL);
    assert_int_equal(call(f, "random_get", 2, A(FAKE_MEM_SIZE - 2), A(4)), WASI_EFAULT);

    assert_int_equal(call(g, "random_get", 2, A(100), A(64)), WASI_ESUCCESS);
    assert_memory_not_equal(g->inst.mem + 100, zero, 64);
    fixture_free(f);
    fixture_free(g);
}

static struct wasi_ctx *own_ctx_of(wasm_instance_t *inst)
{
    return inst->own_ctx;
}

/* Calls wasi_snapshot_preview1.name of linker l from inst with two arguments. */
static int call_from(const wasm_linker_t *l, wasm_instance_t *inst, const char *name, uint64_t a,
                     uint64_t b, uint32_t *result)
{
    const struct fake_def *d = find_def(l, "wasi_snapshot_preview1", name);
    uint64_t slots[16] = {a, b};
    int rc;

    assert_non_null(d);
    rc = d->fn(inst, slots, d->env);
    *result = (uint32_t)slots[0];
    return rc;
}

static void test_a_dispatch_context_serves_each_instance_from_its_own_context(void **state)
{
    const char *env_a[] = {"WHO=a"}, *env_b[] = {"WHO=bb"};
    struct wasi_config ca = {.env = env_a, .nenv = 1}, cb = {.env = env_b, .nenv = 1};
    static wasm_linker_t shared;
    static wasm_instance_t a, b, orphan;
    struct wasi_ctx *dispatch = wasi_ctx_new_dispatch(own_ctx_of);
    uint32_t r;

    assert_non_null(dispatch);
    assert_null(wasi_ctx_new_dispatch(NULL));
    assert_int_equal(wasi_define(&shared, dispatch), WASM_OK);
    a.own_ctx = wasi_ctx_new(&ca);
    b.own_ctx = wasi_ctx_new(&cb);
    assert_int_equal(call_from(&shared, &a, "environ_get", 100, 200, &r), WASM_OK);
    assert_int_equal(r, WASI_ESUCCESS);
    assert_memory_equal(a.mem + 200, "WHO=a", 6);
    assert_int_equal(call_from(&shared, &b, "environ_sizes_get", 0, 4, &r), WASM_OK);
    memcpy(&r, b.mem + 4, 4);
    assert_int_equal(r, 7);
    assert_int_equal(call_from(&shared, &b, "environ_get", 100, 200, &r), WASM_OK);
    assert_memory_equal(b.mem + 200, "WHO=bb", 7);
    /* What was read is recorded on the context that served it. */
    assert_int_equal(wasi_ctx_reads(a.own_ctx), WASI_READ_ENV);
    assert_int_equal(wasi_ctx_reads(b.own_ctx), WASI_READ_ENV);
    assert_int_equal(wasi_ctx_reads(dispatch), 0);
    /* An instance the resolver knows nothing of is stopped, not served. */
    assert_int_equal(call_from(&shared, &orphan, "environ_get", 100, 200, &r), WASM_ERR_TRAP);
    assert_true(orphan.trapped);
    wasi_ctx_free(a.own_ctx);
    wasi_ctx_free(b.own_ctx);
    wasi_ctx_free(dispatch);
}

static void test_reads_record_what_the_guest_depends_on(void **state)
{
    struct wasi_config cfg = {.clock = virtual_clock, .random = counting_random};
    struct fixture *f = fixture_new(&cfg);
    unsigned all = WASI_READ_CLOCK | WASI_READ_RANDOM | WASI_READ_ARGS | WASI_READ_ENV;

    assert_int_equal(wasi_ctx_reads(f->wasi), 0);
    call(f, "fd_write", 4, A(1), A(0), A(0), A(8));
    call(f, "clock_time_get", 3, A(WASI_CLOCK_PROCESS_CPUTIME), A(1), A(8)); /* ENOTSUP */
    call(f, "random_get", 2, A(0), A(WASI_RANDOM_MAX + 1));                  /* EINVAL */
    assert_int_equal(wasi_ctx_reads(f->wasi), 0);
    call(f, "clock_time_get", 3, A(WASI_CLOCK_MONOTONIC), A(1), A(8));
    assert_int_equal(wasi_ctx_reads(f->wasi), WASI_READ_CLOCK);
    call(f, "random_get", 2, A(10), A(4));
    call(f, "args_sizes_get", 2, A(0), A(4));
    assert_int_equal(wasi_ctx_reads(f->wasi), WASI_READ_CLOCK | WASI_READ_RANDOM | WASI_READ_ARGS);
    call(f, "environ_get", 2, A(100), A(200));
    assert_int_equal(wasi_ctx_reads(f->wasi), all);
    fixture_free(f);
}

static void test_proc_exit_raises_an_exit_with_the_code(void **state)
{
    struct fixture *f = fixture_new(&recording);
    const struct fake_def *d = find_def(&f->linker, "wasi_unstable", "proc_exit");
    uint64_t slots[1] = {A(7)};

    assert_int_equal(d->fn(&f->inst, slots, d->env), WASM_ERR_TRAP);
    assert_true(f->inst.exited);
    assert_int_equal(f->inst.exit_code, 7);
    fixture_free(f);
}

static void test_stdio_fds_look_like_character_devices(void **state)
{
    struct fixture *f = fixture_new(&recording);

    memset(f->inst.mem, 0xff, 64);
    assert_int_equal(call(f, "fd_fdstat_get", 2, A(1), A(0)), WASI_ESUCCESS);
    assert_int_equal(f->inst.mem[0], 2);
    assert_int_equal(get64(f, 8), 1u << 6);
    assert_int_equal(get64(f, 16), 0);
    assert_int_equal(call(f, "fd_fdstat_get", 2, A(3), A(0)), WASI_EBADF);
    assert_int_equal(call(f, "fd_fdstat_get", 2, A(2), A(FAKE_MEM_SIZE - 8)), WASI_EFAULT);
    assert_int_equal(call(f, "fd_seek", 4, A(1), A(10), A(0), A(32)), WASI_ESUCCESS);
    assert_int_equal(get64(f, 32), 0);
    assert_int_equal(call(f, "fd_seek", 4, A(9), A(10), A(0), A(32)), WASI_EBADF);
    assert_int_equal(call(f, "fd_close", 1, A(1)), WASI_ESUCCESS);
    assert_int_equal(call(f, "fd_close", 1, A(3)), WASI_EBADF);
    fixture_free(f);
}

static void test_without_a_file_system_calls_fail_as_on_a_real_host(void **state)
{
    struct fixture *f = fixture_new(&recording);

    assert_int_equal(call(f, "fd_prestat_get", 2, A(3), A(0)), WASI_EBADF);
    assert_int_equal(call(f, "path_open", 9, A(3), A(0), A(0), A(1), A(0), A(0), A(0), A(0), A(0)),
                     WASI_EBADF);
    assert_int_equal(call(f, "path_open", 9, A(0), A(0), A(0), A(1), A(0), A(0), A(0), A(0), A(0)),
                     WASI_ENOTDIR);
    assert_int_equal(call(f, "path_symlink", 5, A(0), A(1), A(5), A(0), A(1)), WASI_EBADF);
    assert_int_equal(call(f, "sock_recv", 6, A(1), A(0), A(0), A(0), A(0), A(0)), WASI_ENOTSOCK);
    assert_int_equal(call(f, "fd_read", 4, A(0), A(0), A(0), A(8)), WASI_ENOSYS);
    assert_int_equal(call(f, "fd_pread", 5, A(1), A(0), A(0), A(0), A(8)), WASI_ESPIPE);
    assert_int_equal(call(f, "sched_yield", 0), WASI_ESUCCESS);
    put32(f, 60, 99);
    assert_int_equal(call(f, "poll_oneoff", 4, A(0), A(100), A(1), A(60)), WASI_ESUCCESS);
    assert_int_equal(get32(f, 60), 0);
    fixture_free(f);
}

static void test_fd_read_reads_stdin_from_the_input_callback(void **state)
{
    struct wasi_config cfg = {.input = read_input};
    struct fixture *f = fixture_new(&cfg);

    f->input = "abcdef";
    put32(f, 16, 100), put32(f, 20, 4), put32(f, 24, 200), put32(f, 28, 4);
    assert_int_equal(call(f, "fd_read", 4, A(0), A(16), A(2), A(40)), WASI_ESUCCESS);
    assert_int_equal(get32(f, 40), 6);
    assert_memory_equal(f->inst.mem + 100, "abcd", 4);
    assert_memory_equal(f->inst.mem + 200, "ef", 2);
    assert_int_equal(call(f, "fd_read", 4, A(0), A(16), A(2), A(40)), WASI_ESUCCESS);
    assert_int_equal(get32(f, 40), 0);
    assert_int_equal(call(f, "fd_read", 4, A(1), A(16), A(2), A(40)), WASI_EBADF);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_preview1_function_is_defined_under_both_names),
        cmocka_unit_test(test_fd_write_gathers_iovecs_into_one_sink_call),
        cmocka_unit_test(test_fd_write_rejects_other_fds_and_bad_pointers_without_output),
        cmocka_unit_test(test_args_are_laid_out_as_argv),
        cmocka_unit_test(test_environment_is_the_configured_one_never_the_hosts),
        cmocka_unit_test(test_clock_comes_from_the_configured_source),
        cmocka_unit_test(test_default_clock_is_the_hosts),
        cmocka_unit_test(test_random_get_fills_the_buffer_and_caps_the_size),
        cmocka_unit_test(test_a_dispatch_context_serves_each_instance_from_its_own_context),
        cmocka_unit_test(test_reads_record_what_the_guest_depends_on),
        cmocka_unit_test(test_proc_exit_raises_an_exit_with_the_code),
        cmocka_unit_test(test_stdio_fds_look_like_character_devices),
        cmocka_unit_test(test_without_a_file_system_calls_fail_as_on_a_real_host),
        cmocka_unit_test(test_fd_read_reads_stdin_from_the_input_callback),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
