/*
 * wasi.c - WASI preview1 host functions (see wasi.h for the model).
 *
 * Every function of the preview1 name set is present with its exact signature, because
 * real toolchains (Go, TinyGo, Rust, emscripten) import more than they call and a
 * missing import is a link error. What works: stdio writes to the embedder's sink,
 * clocks, random, args, environment, proc_exit, sched_yield and poll_oneoff. What does
 * not: files, directories and sockets, which fail with the errno a host without
 * preopened directories gives. Guest pointers all go through guest_ptr(): a range that
 * leaves memory is EFAULT, never a host access.
 */
#include "wasi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "wasi.c stores guest values with memcpy and needs a little-endian host"
#endif

/* wasi_filetype_t, wasi_rights_t bits and record sizes of the preview1 ABI. */
#define WASI_FILETYPE_CHARACTER_DEVICE 2
#define WASI_RIGHT_FD_READ (1ull << 1)
#define WASI_RIGHT_FD_WRITE (1ull << 6)
#define WASI_FDSTAT_SIZE 24
#define WASI_FILESTAT_SIZE 64
#define WASI_IOVEC_SIZE 8
#define WASI_SUBSCRIPTION_SIZE 48
#define WASI_EVENT_SIZE 32

/* A stack buffer gathers small multi-iovec writes into one sink call. */
#define GATHER_STACK_BYTES 4096

struct wasi_ctx {
    struct wasi_config cfg; /* args/env point into strings below */
    char **args;
    char **env;
    uint32_t args_bytes; /* sum of strlen+1 over args */
    uint32_t env_bytes;
    wasi_resolve_fn resolve; /* dispatch contexts only: who serves each call */
    unsigned reads;          /* enum wasi_read bits, set atomically */
};

/* ---- Helpers ---------------------------------------------------------------------- */

/* The context that serves a call: env itself, or what a dispatch context resolves the
 * calling instance to (NULL: none, see no_ctx). */
static struct wasi_ctx *ctx_for(void *env, wasm_instance_t *inst)
{
    struct wasi_ctx *c = env;

    return c->resolve != NULL ? c->resolve(inst) : c;
}

/* The answer to a call a dispatch context found no context for: the guest stops. */
static int no_ctx(wasm_instance_t *inst)
{
    return wasm_trap_raise(inst, "WASI call from an instance without a WASI context");
}

static void note_read(struct wasi_ctx *c, enum wasi_read what)
{
    __atomic_fetch_or(&c->reads, (unsigned)what, __ATOMIC_RELAXED);
}

/* [ptr, ptr+len) of the guest's memory 0, or NULL when any of it is outside. */
static void *guest_ptr(wasm_instance_t *inst, uint64_t ptr, uint64_t len)
{
    return wasm_memory_ptr(inst, (uint32_t)ptr, len);
}

static uint32_t arg_u32(const uint64_t *slots, int i)
{
    return (uint32_t)slots[i];
}

static void put_u32(void *p, uint32_t v)
{
    memcpy(p, &v, sizeof(v));
}

static void put_u64(void *p, uint64_t v)
{
    memcpy(p, &v, sizeof(v));
}

static uint32_t get_u32(const void *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

/* Sets the errno result and returns to the guest normally. */
static int ret_errno(uint64_t *slots, int err)
{
    slots[0] = (uint32_t)err;
    return WASM_OK;
}

static bool is_stdio(uint32_t fd)
{
    return fd <= 2;
}

/* The answer of an operation that stdio fds do not support: valid_err, else EBADF. */
static int stdio_only(uint64_t *slots, uint32_t fd, int valid_err)
{
    return ret_errno(slots, is_stdio(fd) ? valid_err : WASI_EBADF);
}

/* Copies n strings into one allocation; returns the array (strings follow it). */
static char **copy_strings(const char *const *src, size_t n, uint32_t *bytes)
{
    size_t total = 0;
    char **out;
    char *p;

    for (size_t i = 0; i < n; i++)
        total += strlen(src[i]) + 1;
    if (total > UINT32_MAX || n > UINT32_MAX / 4)
        return NULL;
    out = malloc(sizeof(char *) * (n + 1) + total);
    if (out == NULL)
        return NULL;
    p = (char *)(out + n + 1);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(src[i]) + 1;

        memcpy(p, src[i], len);
        out[i] = p;
        p += len;
    }
    out[n] = NULL;
    *bytes = (uint32_t)total;
    return out;
}

/* ---- Default sources -------------------------------------------------------------- */

static int default_clock(uint32_t id, uint64_t *ns)
{
    static const clockid_t ids[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID,
                                    CLOCK_THREAD_CPUTIME_ID};
    struct timespec ts;

    if (clock_gettime(ids[id], &ts) != 0)
        return WASI_ENOTSUP;
    *ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    return WASI_ESUCCESS;
}

static int default_random(void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- args / environ --------------------------------------------------------------- */

/* Writes count and buffer size of a string list: the *_sizes_get shape. */
static int strings_sizes(wasm_instance_t *inst, uint64_t *slots, size_t n, uint32_t bytes)
{
    void *count = guest_ptr(inst, slots[0], 4);
    void *size = guest_ptr(inst, slots[1], 4);

    if (count == NULL || size == NULL)
        return ret_errno(slots, WASI_EFAULT);
    put_u32(count, (uint32_t)n);
    put_u32(size, bytes);
    return ret_errno(slots, WASI_ESUCCESS);
}

/* Writes a string list as pointers at slots[0] and the strings at slots[1]: *_get. */
static int strings_get(wasm_instance_t *inst, uint64_t *slots, char *const *strs, size_t n,
                       uint32_t bytes)
{
    uint32_t ptrs = arg_u32(slots, 0), buf = arg_u32(slots, 1);
    uint8_t *pv = guest_ptr(inst, ptrs, (uint64_t)n * 4);
    uint8_t *pb = guest_ptr(inst, buf, bytes);
    uint32_t off = 0;

    if (pv == NULL || pb == NULL)
        return ret_errno(slots, WASI_EFAULT);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(strs[i]) + 1;

        put_u32(pv + 4 * i, buf + off);
        memcpy(pb + off, strs[i], len);
        off += (uint32_t)len;
    }
    return ret_errno(slots, WASI_ESUCCESS);
}

static int wasi_args_sizes_get(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    struct wasi_ctx *c = ctx_for(env, inst);

    if (c == NULL)
        return no_ctx(inst);
    note_read(c, WASI_READ_ARGS);
    return strings_sizes(inst, slots, c->cfg.nargs, c->args_bytes);
}

static int wasi_args_get(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    struct wasi_ctx *c = ctx_for(env, inst);

    if (c == NULL)
        return no_ctx(inst);
    note_read(c, WASI_READ_ARGS);
    return strings_get(inst, slots, c->args, c->cfg.nargs, c->args_bytes);
}

static int wasi_environ_sizes_get(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    struct wasi_ctx *c = ctx_for(env, inst);

    if (c == NULL)
        return no_ctx(inst);
    note_read(c, WASI_READ_ENV);
    return strings_sizes(inst, slots, c->cfg.nenv, c->env_bytes);
}

static int wasi_environ_get(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    struct wasi_ctx *c = ctx_for(env, inst);

    if (c == NULL)
        return no_ctx(inst);
    note_read(c, WASI_READ_ENV);
    return strings_get(inst, slots, c->env, c->cfg.nenv, c->env_bytes);
}

/* ---- Clocks, random, scheduling, process ------------------------------------------ */

static int wasi_clock_res_get(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    uint32_t id = arg_u32(slots, 0);
    void *res = guest_ptr(inst, slots[1], 8);

    if (id > WASI_CLOCK_THREAD_CPUTIME)
        return ret_errno(slots, WASI_EINVAL);
    if (res == NULL)
        return ret_errno(slots, WASI_EFAULT);
    put_u64(res, 1);
    return ret_errno(slots, WASI_ESUCCESS);
}

static int wasi_clock_time_get(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    struct wasi_ctx *c = ctx_for(env, inst);
    uint32_t id = arg_u32(slots, 0);
    void *out = guest_ptr(inst, slots[2], 8);
    uint64_t ns = 0;
    int err;

    if (c == NULL)
        return no_ctx(inst);
    if (id > WASI_CLOCK_THREAD_CPUTIME)
        return ret_errno(slots, WASI_EINVAL);
    if (out == NULL)
        return ret_errno(slots, WASI_EFAULT);
    if (c->cfg.clock != NULL)
        err = c->cfg.clock(c->cfg.ctx, inst, id, &ns);
    else
        err = default_clock(id, &ns);
    if (err == WASI_ESUCCESS) {
        note_read(c, WASI_READ_CLOCK);
        put_u64(out, ns);
    }
    return ret_errno(slots, err);
}

static int wasi_random_get(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    struct wasi_ctx *c = ctx_for(env, inst);
    uint32_t len = arg_u32(slots, 1);
    void *buf;
    int rc;

    if (c == NULL)
        return no_ctx(inst);
    if (len > WASI_RANDOM_MAX)
        return ret_errno(slots, WASI_EINVAL);
    buf = guest_ptr(inst, slots[0], len);
    if (buf == NULL)
        return ret_errno(slots, WASI_EFAULT);
    if (c->cfg.random != NULL)
        rc = c->cfg.random(c->cfg.ctx, inst, buf, len);
    else
        rc = default_random(buf, len);
    if (rc == 0)
        note_read(c, WASI_READ_RANDOM);
    return ret_errno(slots, rc == 0 ? WASI_ESUCCESS : WASI_EIO);
}

static int wasi_sched_yield(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    return ret_errno(slots, WASI_ESUCCESS);
}

/*
 * No subscription ever fires: nevents = 0 and success, which is what proxy hosts answer
 * (the Go runtime needs success; blocking a proxy worker in a guest sleep is never right).
 */
static int wasi_poll_oneoff(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    uint32_t nsubs = arg_u32(slots, 2);
    void *in = guest_ptr(inst, slots[0], (uint64_t)nsubs * WASI_SUBSCRIPTION_SIZE);
    void *out = guest_ptr(inst, slots[1], (uint64_t)nsubs * WASI_EVENT_SIZE);
    void *nevents = guest_ptr(inst, slots[3], 4);

    if (in == NULL || out == NULL || nevents == NULL)
        return ret_errno(slots, WASI_EFAULT);
    put_u32(nevents, 0);
    return ret_errno(slots, WASI_ESUCCESS);
}

static int wasi_proc_exit(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    return wasm_exit_raise(inst, (int32_t)arg_u32(slots, 0));
}

static int wasi_proc_raise(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    return ret_errno(slots, WASI_ENOTSUP);
}

/* ---- fd I/O ----------------------------------------------------------------------- */

/*
 * Resolves iovs[0..n) into host pointers, checking every buffer before anything is
 * transferred. Returns WASI_ESUCCESS and the total, or EFAULT/EINVAL.
 */
static int resolve_iovs(wasm_instance_t *inst, uint32_t iovs, uint32_t n, uint64_t *total)
{
    const uint8_t *v = guest_ptr(inst, iovs, (uint64_t)n * WASI_IOVEC_SIZE);

    *total = 0;
    if (v == NULL)
        return WASI_EFAULT;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t ptr = get_u32(v + WASI_IOVEC_SIZE * i);
        uint32_t len = get_u32(v + WASI_IOVEC_SIZE * i + 4);

        if (guest_ptr(inst, ptr, len) == NULL)
            return WASI_EFAULT;
        *total += len;
    }
    return *total > UINT32_MAX ? WASI_EINVAL : WASI_ESUCCESS;
}

/* Hands total bytes of the iovecs to the sink in one call, so a line stays one line. */
static int sink_iovs(struct wasi_ctx *c, wasm_instance_t *inst, int fd, uint32_t iovs, uint32_t n,
                     uint64_t total)
{
    const uint8_t *v = guest_ptr(inst, iovs, (uint64_t)n * WASI_IOVEC_SIZE);
    char stack[GATHER_STACK_BYTES];
    char *buf = stack;
    size_t off = 0;

    if (c->cfg.output == NULL || total == 0)
        return WASI_ESUCCESS;
    if (n == 1) {
        c->cfg.output(c->cfg.ctx, inst, fd, guest_ptr(inst, get_u32(v), total), total);
        return WASI_ESUCCESS;
    }
    if (total > sizeof(stack)) {
        buf = malloc(total);
        if (buf == NULL)
            return WASI_EIO;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t ptr = get_u32(v + WASI_IOVEC_SIZE * i);
        uint32_t len = get_u32(v + WASI_IOVEC_SIZE * i + 4);

        memcpy(buf + off, guest_ptr(inst, ptr, len), len);
        off += len;
    }
    c->cfg.output(c->cfg.ctx, inst, fd, buf, off);
    if (buf != stack)
        free(buf);
    return WASI_ESUCCESS;
}

static int wasi_fd_write(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    struct wasi_ctx *c = ctx_for(env, inst);
    uint32_t fd = arg_u32(slots, 0), iovs = arg_u32(slots, 1), n = arg_u32(slots, 2);
    void *nwritten = guest_ptr(inst, slots[3], 4);
    uint64_t total;
    int err;

    if (c == NULL)
        return no_ctx(inst);
    if (fd != 1 && fd != 2)
        return ret_errno(slots, WASI_EBADF);
    if (nwritten == NULL)
        return ret_errno(slots, WASI_EFAULT);
    err = resolve_iovs(inst, iovs, n, &total);
    if (err == WASI_ESUCCESS)
        err = sink_iovs(c, inst, (int)fd, iovs, n, total);
    if (err != WASI_ESUCCESS)
        return ret_errno(slots, err);
    /* The sink may not re-enter the guest, so nwritten is still a valid pointer. */
    put_u32(nwritten, (uint32_t)total);
    return ret_errno(slots, WASI_ESUCCESS);
}

static int wasi_fd_read(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    struct wasi_ctx *c = ctx_for(env, inst);
    uint32_t fd = arg_u32(slots, 0), iovs = arg_u32(slots, 1), n = arg_u32(slots, 2);
    void *nread = guest_ptr(inst, slots[3], 4);
    const uint8_t *v;
    uint64_t total, got = 0;
    int err;

    if (c == NULL)
        return no_ctx(inst);
    if (fd != 0)
        return ret_errno(slots, WASI_EBADF);
    if (c->cfg.input == NULL)
        return ret_errno(slots, WASI_ENOSYS);
    if (nread == NULL)
        return ret_errno(slots, WASI_EFAULT);
    err = resolve_iovs(inst, iovs, n, &total);
    if (err != WASI_ESUCCESS)
        return ret_errno(slots, err);
    v = guest_ptr(inst, iovs, (uint64_t)n * WASI_IOVEC_SIZE);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len = get_u32(v + WASI_IOVEC_SIZE * i + 4);
        char *buf = guest_ptr(inst, get_u32(v + WASI_IOVEC_SIZE * i), len);
        long r;

        if (len == 0)
            continue;
        r = c->cfg.input(c->cfg.ctx, inst, buf, len);
        if (r < 0) {
            if (got == 0)
                return ret_errno(slots, WASI_EIO);
            break;
        }
        got += (uint64_t)r;
        if ((uint64_t)r < len)
            break; /* a short read ends this call, as readv does */
    }
    put_u32(nread, (uint32_t)got);
    return ret_errno(slots, WASI_ESUCCESS);
}

/* stdio is not seekable but wasi-libc seeks it when flushing; answer offset 0. */
static int wasi_fd_seek(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    uint32_t fd = arg_u32(slots, 0), whence = arg_u32(slots, 2);
    void *out = guest_ptr(inst, slots[3], 8);

    if (!is_stdio(fd))
        return ret_errno(slots, WASI_EBADF);
    if (whence > 2)
        return ret_errno(slots, WASI_EINVAL);
    if (out == NULL)
        return ret_errno(slots, WASI_EFAULT);
    put_u64(out, 0);
    return ret_errno(slots, WASI_ESUCCESS);
}

static int wasi_fd_tell(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    void *out = guest_ptr(inst, slots[1], 8);

    if (!is_stdio(arg_u32(slots, 0)))
        return ret_errno(slots, WASI_EBADF);
    if (out == NULL)
        return ret_errno(slots, WASI_EFAULT);
    put_u64(out, 0);
    return ret_errno(slots, WASI_ESUCCESS);
}

static int wasi_fd_close(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    return stdio_only(slots, arg_u32(slots, 0), WASI_ESUCCESS);
}

static int wasi_fd_fdstat_get(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    uint32_t fd = arg_u32(slots, 0);
    uint8_t *st = guest_ptr(inst, slots[1], WASI_FDSTAT_SIZE);

    if (!is_stdio(fd))
        return ret_errno(slots, WASI_EBADF);
    if (st == NULL)
        return ret_errno(slots, WASI_EFAULT);
    /* filetype u8 @0, flags u16 @2, rights_base u64 @8, rights_inheriting u64 @16 */
    memset(st, 0, WASI_FDSTAT_SIZE);
    st[0] = WASI_FILETYPE_CHARACTER_DEVICE;
    put_u64(st + 8, fd == 0 ? WASI_RIGHT_FD_READ : WASI_RIGHT_FD_WRITE);
    return ret_errno(slots, WASI_ESUCCESS);
}

static int wasi_fd_filestat_get(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    uint8_t *st = guest_ptr(inst, slots[1], WASI_FILESTAT_SIZE);

    if (!is_stdio(arg_u32(slots, 0)))
        return ret_errno(slots, WASI_EBADF);
    if (st == NULL)
        return ret_errno(slots, WASI_EFAULT);
    /* dev @0, ino @8, filetype u8 @16, nlink @24, size @32, atim/mtim/ctim @40/48/56 */
    memset(st, 0, WASI_FILESTAT_SIZE);
    st[16] = WASI_FILETYPE_CHARACTER_DEVICE;
    put_u64(st + 24, 1);
    return ret_errno(slots, WASI_ESUCCESS);
}

/* ---- What a host without a file system answers ------------------------------------ */

static int wasi_fd_fdstat_set_flags(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    return stdio_only(slots, arg_u32(slots, 0), WASI_ENOSYS);
}

static int wasi_fd_notsup(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    return stdio_only(slots, arg_u32(slots, 0), WASI_ENOTSUP);
}

static int wasi_fd_spipe(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    return stdio_only(slots, arg_u32(slots, 0), WASI_ESPIPE);
}

static int wasi_fd_notdir(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    return stdio_only(slots, arg_u32(slots, 0), WASI_ENOTDIR);
}

/* No fd is a preopened directory: the libc preopen scan stops at the first EBADF. */
static int wasi_fd_badf(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    return ret_errno(slots, WASI_EBADF);
}

static int wasi_fd_renumber(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    bool both = is_stdio(arg_u32(slots, 0)) && is_stdio(arg_u32(slots, 1));

    return ret_errno(slots, both ? WASI_ENOTSUP : WASI_EBADF);
}

/* Path calls whose directory fd is the first parameter (and path_link/rename's 2nd fd). */
static int wasi_path_at_fd0(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    return stdio_only(slots, arg_u32(slots, 0), WASI_ENOTDIR);
}

static int wasi_path_symlink(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    return stdio_only(slots, arg_u32(slots, 2), WASI_ENOTDIR);
}

static int wasi_sock(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    return stdio_only(slots, arg_u32(slots, 0), WASI_ENOTSOCK);
}

/* ---- Registration ----------------------------------------------------------------- */

struct wasi_func {
    const char *name;
    const char *sig; /* i=i32, I=i64, as wasm_linker_define_func() reads it */
    wasm_host_func_t fn;
};

static const struct wasi_func wasi_funcs[] = {
    {"args_get", "(ii)i", wasi_args_get},
    {"args_sizes_get", "(ii)i", wasi_args_sizes_get},
    {"environ_get", "(ii)i", wasi_environ_get},
    {"environ_sizes_get", "(ii)i", wasi_environ_sizes_get},
    {"clock_res_get", "(ii)i", wasi_clock_res_get},
    {"clock_time_get", "(iIi)i", wasi_clock_time_get},
    {"fd_advise", "(iIIi)i", wasi_fd_notsup},
    {"fd_allocate", "(iII)i", wasi_fd_notsup},
    {"fd_close", "(i)i", wasi_fd_close},
    {"fd_datasync", "(i)i", wasi_fd_notsup},
    {"fd_fdstat_get", "(ii)i", wasi_fd_fdstat_get},
    {"fd_fdstat_set_flags", "(ii)i", wasi_fd_fdstat_set_flags},
    {"fd_fdstat_set_rights", "(iII)i", wasi_fd_notsup},
    {"fd_filestat_get", "(ii)i", wasi_fd_filestat_get},
    {"fd_filestat_set_size", "(iI)i", wasi_fd_notsup},
    {"fd_filestat_set_times", "(iIIi)i", wasi_fd_notsup},
    {"fd_pread", "(iiiIi)i", wasi_fd_spipe},
    {"fd_prestat_get", "(ii)i", wasi_fd_badf},
    {"fd_prestat_dir_name", "(iii)i", wasi_fd_badf},
    {"fd_pwrite", "(iiiIi)i", wasi_fd_spipe},
    {"fd_read", "(iiii)i", wasi_fd_read},
    {"fd_readdir", "(iiiIi)i", wasi_fd_notdir},
    {"fd_renumber", "(ii)i", wasi_fd_renumber},
    {"fd_seek", "(iIii)i", wasi_fd_seek},
    {"fd_sync", "(i)i", wasi_fd_notsup},
    {"fd_tell", "(ii)i", wasi_fd_tell},
    {"fd_write", "(iiii)i", wasi_fd_write},
    {"path_create_directory", "(iii)i", wasi_path_at_fd0},
    {"path_filestat_get", "(iiiii)i", wasi_path_at_fd0},
    {"path_filestat_set_times", "(iiiiIIi)i", wasi_path_at_fd0},
    {"path_link", "(iiiiiii)i", wasi_path_at_fd0},
    {"path_open", "(iiiiiIIii)i", wasi_path_at_fd0},
    {"path_readlink", "(iiiiii)i", wasi_path_at_fd0},
    {"path_remove_directory", "(iii)i", wasi_path_at_fd0},
    {"path_rename", "(iiiiii)i", wasi_path_at_fd0},
    {"path_symlink", "(iiiii)i", wasi_path_symlink},
    {"path_unlink_file", "(iii)i", wasi_path_at_fd0},
    {"poll_oneoff", "(iiii)i", wasi_poll_oneoff},
    {"proc_exit", "(i)", wasi_proc_exit},
    {"proc_raise", "(i)i", wasi_proc_raise},
    {"random_get", "(ii)i", wasi_random_get},
    {"sched_yield", "()i", wasi_sched_yield},
    {"sock_accept", "(iii)i", wasi_sock},
    {"sock_recv", "(iiiiii)i", wasi_sock},
    {"sock_send", "(iiiii)i", wasi_sock},
    {"sock_shutdown", "(ii)i", wasi_sock},
};

#define WASI_NFUNCS (sizeof(wasi_funcs) / sizeof(wasi_funcs[0]))

static const char *const wasi_module_names[] = {"wasi_snapshot_preview1", "wasi_unstable"};

size_t wasi_function_count(void)
{
    return WASI_NFUNCS;
}

struct wasi_ctx *wasi_ctx_new(const struct wasi_config *cfg)
{
    struct wasi_ctx *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->cfg = *cfg;
    c->args = copy_strings(cfg->args, cfg->nargs, &c->args_bytes);
    if (c->args == NULL)
        goto free_ctx;
    c->env = copy_strings(cfg->env, cfg->nenv, &c->env_bytes);
    if (c->env == NULL)
        goto free_args;
    c->cfg.args = (const char *const *)c->args;
    c->cfg.env = (const char *const *)c->env;
    return c;

free_args:
    free(c->args);
free_ctx:
    free(c);
    return NULL;
}

struct wasi_ctx *wasi_ctx_new_dispatch(wasi_resolve_fn resolve)
{
    struct wasi_ctx *c;

    if (resolve == NULL)
        return NULL;
    c = calloc(1, sizeof(*c));
    if (c != NULL)
        c->resolve = resolve;
    return c;
}

unsigned wasi_ctx_reads(const struct wasi_ctx *ctx)
{
    return __atomic_load_n(&ctx->reads, __ATOMIC_RELAXED);
}

void wasi_ctx_free(struct wasi_ctx *ctx)
{
    if (ctx == NULL)
        return;
    free(ctx->args);
    free(ctx->env);
    free(ctx);
}

int wasi_define(wasm_linker_t *l, struct wasi_ctx *ctx)
{
    for (size_t m = 0; m < 2; m++) {
        for (size_t i = 0; i < WASI_NFUNCS; i++) {
            const struct wasi_func *f = &wasi_funcs[i];
            int rc = wasm_linker_define_func(l, wasi_module_names[m], f->name, f->sig, f->fn, ctx);

            if (rc != WASM_OK)
                return rc;
        }
    }
    return WASM_OK;
}
