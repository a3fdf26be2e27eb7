/*
 * memory.c - linear memories and the guard-page trap machinery.
 *
 * Default (64-bit Linux): each memory reserves 8 GiB + 64 KiB of PROT_NONE address space,
 * enough for any 32-bit address plus any 32-bit offset plus the access size, and commits
 * pages in place with mprotect on grow, so the base never moves and loads/stores need no
 * bounds check. A SIGSEGV/SIGBUS whose address lies in a memory of the instance the
 * faulting thread is running becomes an "out of bounds memory access" trap: the handler
 * siglongjmps to the host->guest boundary in wasm_call (instance.c). Any other fault is
 * passed to the previous handler (or the default action), so real bugs still dump core.
 *
 * With WASP_BOUNDS_CHECKS, memories are plain malloc/realloc buffers and the interpreter
 * checks every access; no signal handler is installed.
 *
 * Images (image.c) keep a memory's contents in a sealed memfd; a memory made from an image
 * maps that file privately (copy-on-write) where its contents start, so pages that no
 * instance writes are one physical copy for all of them. In bounds-check mode the mapping
 * is the whole buffer until the first memory.grow copies it to the heap.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "regcode.h"

__thread struct wasm_guard_ctx wasm_guard;

#ifndef WASP_BOUNDS_CHECKS
#define RESERVE_BYTES ((uint64_t)8 << 30) + WASM_PAGE_SIZE
#endif

/* A memory object of size bytes (no storage yet), or NULL. */
static struct wasm_memory *memory_alloc(uint64_t size, uint32_t max_pages, bool has_max,
                                        uint32_t decl_max)
{
    struct wasm_memory *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    atomic_init(&m->refs, 1);
    m->max_pages = max_pages;
    m->has_max = has_max;
    m->decl_max = decl_max;
    m->size = size;
    return m;
}

#ifndef WASP_BOUNDS_CHECKS
/* Reserves m's whole address range, inaccessible. Returns false when out of space. */
static bool memory_reserve(struct wasm_memory *m)
{
    void *p =
        mmap(NULL, RESERVE_BYTES, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return false;
    m->base = p;
    m->reserved = RESERVE_BYTES;
    return true;
}
#endif

struct wasm_memory *wasm_memory_new(uint32_t min_pages, uint32_t max_pages, bool has_max,
                                    uint32_t decl_max)
{
    if (min_pages > max_pages || max_pages > WASM_MAX_PAGES)
        return NULL;
    struct wasm_memory *m =
        memory_alloc((uint64_t)min_pages * WASM_PAGE_SIZE, max_pages, has_max, decl_max);
    if (!m)
        return NULL;
#ifdef WASP_BOUNDS_CHECKS
    m->base = calloc(1, m->size ? m->size : 1);
    if (!m->base) {
        free(m);
        return NULL;
    }
#else
    if (!memory_reserve(m)) {
        free(m);
        return NULL;
    }
    if (m->size && mprotect(m->base, m->size, PROT_READ | PROT_WRITE) != 0) {
        munmap(m->base, m->reserved);
        free(m);
        return NULL;
    }
#endif
    return m;
}

struct wasm_memory *wasm_memory_new_mapped(int fd, uint64_t size, uint32_t max_pages, bool has_max,
                                           uint32_t decl_max)
{
    if (size % WASM_PAGE_SIZE || size / WASM_PAGE_SIZE > max_pages || max_pages > WASM_MAX_PAGES)
        return NULL;
    if (size == 0)
        return wasm_memory_new(0, max_pages, has_max, decl_max);
    struct wasm_memory *m = memory_alloc(size, max_pages, has_max, decl_max);
    if (!m)
        return NULL;
#ifdef WASP_BOUNDS_CHECKS
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
        free(m);
        return NULL;
    }
    m->base = p;
    m->mapped = true;
#else
    /* The file over the start of the reserved range; growth commits anonymous pages after
     * it, so the base still never moves. */
    if (!memory_reserve(m)) {
        free(m);
        return NULL;
    }
    if (mmap(m->base, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0) == MAP_FAILED) {
        munmap(m->base, m->reserved);
        free(m);
        return NULL;
    }
#endif
    return m;
}

void wasm_memory_unref(struct wasm_memory *m)
{
    if (!m || atomic_fetch_sub(&m->refs, 1) != 1)
        return;
#ifdef WASP_BOUNDS_CHECKS
    if (m->mapped)
        munmap(m->base, m->size);
    else
        free(m->base);
#else
    munmap(m->base, m->reserved);
#endif
    free(m);
}

int64_t wasm_memory_grow(struct wasm_memory *m, uint32_t delta)
{
    uint64_t old = m->size / WASM_PAGE_SIZE;
    if (delta == 0)
        return (int64_t)old;
    if (old + delta > m->max_pages)
        return -1;
    uint64_t nsize = (old + delta) * WASM_PAGE_SIZE;
#ifdef WASP_BOUNDS_CHECKS
    uint8_t *n;
    if (m->mapped) {
        /* A file mapping cannot grow past the file: continue on the heap. */
        n = malloc(nsize);
        if (!n)
            return -1;
        memcpy(n, m->base, m->size);
        munmap(m->base, m->size);
        m->mapped = false;
    } else {
        n = realloc(m->base, nsize);
        if (!n)
            return -1;
    }
    memset(n + m->size, 0, nsize - m->size);
    m->base = n;
#else
    if (mprotect(m->base + m->size, nsize - m->size, PROT_READ | PROT_WRITE) != 0)
        return -1;
#endif
    m->size = nsize;
    return (int64_t)old;
}

/* True when the 4 KiB at p are all zero. */
static bool page_is_zero(const uint8_t *p)
{
    uint64_t acc = 0;
    for (size_t i = 0; i < 4096; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        acc |= w;
    }
    return acc == 0;
}

int wasm_memory_save(const struct wasm_memory *m)
{
    int fd = memfd_create("wasp-image", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -1;
    if (ftruncate(fd, (off_t)m->size) != 0)
        goto fail;
    /* Runs of non-zero 4 KiB pages; zero pages stay holes (they read as zero, cost
     * nothing until someone reads them, and are then shared). */
    for (uint64_t off = 0; off < m->size;) {
        if (page_is_zero(m->base + off)) {
            off += 4096;
            continue;
        }
        uint64_t end = off + 4096;
        while (end < m->size && !page_is_zero(m->base + end))
            end += 4096;
        for (uint64_t w = off; w < end;) {
            ssize_t n = pwrite(fd, m->base + w, end - w, (off_t)w);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                goto fail;
            w += (uint64_t)n;
        }
        off = end;
    }
    /* Immutable from now on: clones map it privately, nobody may change it under them. */
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
        goto fail;
    return fd;
fail:;
    int e = errno ? errno : EIO;
    close(fd);
    errno = e;
    return -1;
}

/* ---- Signals ------------------------------------------------------------------------ */

#ifndef WASP_BOUNDS_CHECKS
static struct sigaction old_segv, old_bus;

static bool in_guest_memory(const struct wasm_instance *inst, uintptr_t addr)
{
    const struct wasm_module *m = inst->module;
    for (uint32_t i = 0; i < m->nmemories; i++) {
        const struct wasm_memory *mem = inst->memories[i];
        if (mem && addr >= (uintptr_t)mem->base && addr - (uintptr_t)mem->base < mem->reserved)
            return true;
    }
    return false;
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    struct wasm_instance *inst = wasm_guard.inst;
    if (inst && wasm_guard.jmp && in_guest_memory(inst, (uintptr_t)si->si_addr)) {
        wasm_guard.inst = NULL;
        siglongjmp(*(sigjmp_buf *)wasm_guard.jmp, 1);
    }
    /* Not ours: hand it to whoever was there before. */
    struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;
    if (old->sa_flags & SA_SIGINFO) {
        if (old->sa_sigaction) {
            old->sa_sigaction(sig, si, uc);
            return;
        }
    } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
        return;
    }
    /* Default action: reinstall it and return, so the fault repeats and kills us. */
    signal(sig, SIG_DFL);
}

static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Installs the fault handler unless it is already the current one. Whatever handler was
 * there becomes the one faults outside guest memory are passed to, so a library (or a
 * test framework) that installed its own handler after us is chained, not lost.
 */
static void install(void)
{
    struct sigaction cur;
    pthread_mutex_lock(&install_lock);
    if (sigaction(SIGSEGV, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
        cur.sa_sigaction == on_fault && sigaction(SIGBUS, NULL, &cur) == 0 &&
        (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_fault) {
        pthread_mutex_unlock(&install_lock);
        return;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fault;
    sigemptyset(&sa.sa_mask);
    /* NODEFER: we leave the handler by siglongjmp without restoring the mask. */
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    struct sigaction o;
    if (sigaction(SIGSEGV, &sa, &o) == 0 &&
        !((o.sa_flags & SA_SIGINFO) && o.sa_sigaction == on_fault))
        old_segv = o;
    if (sigaction(SIGBUS, &sa, &o) == 0 &&
        !((o.sa_flags & SA_SIGINFO) && o.sa_sigaction == on_fault))
        old_bus = o;
    pthread_mutex_unlock(&install_lock);
}

static pthread_key_t altstack_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static __thread bool thread_ready;

static void free_altstack(void *p)
{
    stack_t ss = {.ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    free(p);
}

static void make_key(void)
{
    pthread_key_create(&altstack_key, free_altstack);
}
#endif

/* Makes sure the guard-page fault handler is installed (cheap when it is). */
void wasm_signals_install(void)
{
#ifndef WASP_BOUNDS_CHECKS
    install();
#endif
}

/* Gives the calling thread an alternate signal stack (once) when it has none. */
void wasm_thread_prepare(void)
{
#ifndef WASP_BOUNDS_CHECKS
    if (thread_ready)
        return;
    thread_ready = true;
    wasm_signals_install();
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE))
        return;
    pthread_once(&key_once, make_key);
    size_t sz = 64 * 1024;
    void *p = malloc(sz);
    if (!p)
        return;
    stack_t ss = {.ss_sp = p, .ss_size = sz, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        free(p);
        return;
    }
    pthread_setspecific(altstack_key, p);
#endif
}
