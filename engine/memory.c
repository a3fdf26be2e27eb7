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
 */
#include <errno.h>
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

struct wasm_memory *wasm_memory_new(uint32_t min_pages, uint32_t max_pages, bool has_max,
                                    uint32_t decl_max)
{
    if (min_pages > max_pages || max_pages > WASM_MAX_PAGES)
        return NULL;
    struct wasm_memory *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    atomic_init(&m->refs, 1);
    m->max_pages = max_pages;
    m->has_max = has_max;
    m->decl_max = decl_max;
    m->size = (uint64_t)min_pages * WASM_PAGE_SIZE;
#ifdef WASP_BOUNDS_CHECKS
    m->base = calloc(1, m->size ? m->size : 1);
    if (!m->base) {
        free(m);
        return NULL;
    }
#else
    void *p =
        mmap(NULL, RESERVE_BYTES, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        free(m);
        return NULL;
    }
    m->base = p;
    m->reserved = RESERVE_BYTES;
    if (m->size && mprotect(p, m->size, PROT_READ | PROT_WRITE) != 0) {
        munmap(p, RESERVE_BYTES);
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
    uint8_t *n = realloc(m->base, nsize);
    if (!n)
        return -1;
    memset(n + m->size, 0, nsize - m->size);
    m->base = n;
#else
    if (mprotect(m->base + m->size, nsize - m->size, PROT_READ | PROT_WRITE) != 0)
        return -1;
#endif
    m->size = nsize;
    return (int64_t)old;
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
