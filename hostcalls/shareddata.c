/*
 * shareddata.c - shared data (proxy_get_shared_data / proxy_set_shared_data):
 * process-wide, thread-safe, keyed by (vm_id, key) so every worker's VM of one vm_id
 * shares it. Semantics of ABI.md §7.5: each value carries a CAS number; the CAS counter is
 * process-global, increments on every set and skips 0; set with cas 0 is unconditional,
 * set with a cas that is not the current one is CAS_MISMATCH (also for a key that does
 * not exist yet); get of a missing key is NOT_FOUND. Entries live as long as the process
 * (ABI 0.2.1 has no delete): unlike cpp-host, which drops a vm_id's data with its last
 * VM, data here survives a configuration reload that replaces every VM.
 *
 * A sandbox VM (pw_vm_config.sandbox) writes under its own namespace: it reads its own
 * entries first, then the process-wide ones, and its entries go with it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct pw_shared_entry {
    struct pw_shared_entry *next;
    uint64_t hash;
    char *key; /* vm_id, NUL, key */
    size_t key_len;
    struct pw_buf value;
    uint32_t cas;
};

#define PW_SHARED_BUCKETS 1024u

static pthread_mutex_t pw_shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pw_shared_entry *pw_shared_buckets[PW_SHARED_BUCKETS];
static uint32_t pw_shared_cas;

static uint64_t pw_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

/* Builds the composite key "vm_id\0key". Returns NULL when out of memory. */
static char *pw_shared_key(const char *vm_id, const char *key, size_t key_len, size_t *len)
{
    size_t vlen = strlen(vm_id);
    char *k = malloc(vlen + 1 + key_len + 1);

    if (k == NULL)
        return NULL;
    memcpy(k, vm_id, vlen + 1);
    memcpy(k + vlen + 1, key, key_len);
    k[vlen + 1 + key_len] = '\0';
    *len = vlen + 1 + key_len;
    return k;
}

/* The entry for a composite key, or NULL. Lock held. */
static struct pw_shared_entry *pw_shared_find(const char *k, size_t len, uint64_t h)
{
    for (struct pw_shared_entry *e = pw_shared_buckets[h % PW_SHARED_BUCKETS]; e != NULL;
         e = e->next)
        if (e->hash == h && e->key_len == len && memcmp(e->key, k, len) == 0)
            return e;
    return NULL;
}

/* The entry key names for vm: its own, and (a sandbox) the process-wide one it reads
 * through, or NULL. */
static struct pw_shared_entry *pw_shared_lookup(struct pw_vm *vm, const char *k, size_t len,
                                                uint64_t h, const char *key, size_t klen)
{
    struct pw_shared_entry *e = pw_shared_find(k, len, h);
    if (e != NULL || !vm->sandbox)
        return e;
    size_t glen;
    char *g = pw_shared_key(vm->vm_id, key, klen, &glen);
    if (g == NULL)
        return NULL;
    e = pw_shared_find(g, glen, pw_hash(g, glen));
    free(g);
    return e;
}

/* proxy_set_shared_data(key, key_len, value, value_len, cas) */
PW_HOSTCALL(set_shared_data)
{
    struct pw_vm *vm = pw_vm_of(inst);
    uint32_t klen = pw_arg(slots, 1), vlen = pw_arg(slots, 3), cas = pw_arg(slots, 4);
    const char *key = pw_guest_ptr(vm, pw_arg(slots, 0), klen);
    const uint8_t *value = pw_guest_ptr(vm, pw_arg(slots, 2), vlen);
    enum pw_status st = PW_OK;
    size_t len;

    if (key == NULL || value == NULL)
        return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    char *k = pw_shared_key(vm->ns, key, klen, &len);
    if (k == NULL)
        return pw_ret(slots, PW_INTERNAL_FAILURE);
    uint64_t h = pw_hash(k, len);

    pthread_mutex_lock(&pw_shared_lock);
    struct pw_shared_entry *e = pw_shared_lookup(vm, k, len, h, key, klen);
    if (cas != 0 && (e == NULL || e->cas != cas)) {
        st = PW_CAS_MISMATCH;
        goto unlock;
    }
    if (e != NULL && vm->sandbox && (e->key_len != len || memcmp(e->key, k, len) != 0))
        e = NULL; /* copy on write: the sandbox's own entry */
    if (e == NULL) {
        e = calloc(1, sizeof(*e));
        if (e == NULL) {
            st = PW_INTERNAL_FAILURE;
            goto unlock;
        }
        if (vm->sandbox)
            vm->shared_written = true; /* its entries go with it */
        e->hash = h;
        e->key = k;
        e->key_len = len;
        k = NULL;
        e->next = pw_shared_buckets[h % PW_SHARED_BUCKETS];
        pw_shared_buckets[h % PW_SHARED_BUCKETS] = e;
    }
    if (pw_buf_set(&e->value, value, vlen) != 0) {
        st = PW_INTERNAL_FAILURE;
        goto unlock;
    }
    if (++pw_shared_cas == 0)
        pw_shared_cas = 1;
    e->cas = pw_shared_cas;
unlock:
    pthread_mutex_unlock(&pw_shared_lock);
    free(k);
    return pw_ret(slots, st);
}

/* proxy_get_shared_data(key, key_len, return_value**, return_value_len*, return_cas*) */
PW_HOSTCALL(get_shared_data)
{
    struct pw_vm *vm = pw_vm_of(inst);
    uint32_t klen = pw_arg(slots, 1), cas_out = pw_arg(slots, 4);
    const char *key = pw_guest_ptr(vm, pw_arg(slots, 0), klen);
    struct pw_buf copy = {0};
    uint32_t cas = 0;
    bool found = false, trapped;
    size_t len;

    if (key == NULL || pw_guest_ptr(vm, cas_out, 4) == NULL)
        return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    char *k = pw_shared_key(vm->ns, key, klen, &len);
    if (k == NULL)
        return pw_ret(slots, PW_INTERNAL_FAILURE);
    uint64_t h = pw_hash(k, len);

    /* Copy under the lock; the guest allocator runs without it. */
    pthread_mutex_lock(&pw_shared_lock);
    struct pw_shared_entry *e = pw_shared_lookup(vm, k, len, h, key, klen);
    if (e != NULL) {
        found = pw_buf_set(&copy, e->value.data, e->value.len) == 0;
        cas = e->cas;
    }
    pthread_mutex_unlock(&pw_shared_lock);
    free(k);
    if (e == NULL)
        return pw_ret(slots, PW_NOT_FOUND);
    if (!found)
        return pw_ret(slots, PW_INTERNAL_FAILURE);
    enum pw_status st =
        pw_guest_copy_out(vm, copy.data, copy.len, pw_arg(slots, 2), pw_arg(slots, 3), &trapped);
    pw_buf_free(&copy);
    if (trapped)
        return pw_trap_from_alloc(vm);
    if (st == PW_OK)
        st = pw_guest_put_u32(vm, cas_out, cas);
    return pw_ret(slots, st);
}

void pw_shared_forget_vm(struct pw_vm *vm)
{
    size_t nlen = strlen(vm->ns) + 1; /* entries start with "ns\0" */

    pthread_mutex_lock(&pw_shared_lock);
    for (uint32_t b = 0; b < PW_SHARED_BUCKETS; b++) {
        for (struct pw_shared_entry **pp = &pw_shared_buckets[b]; *pp != NULL;) {
            struct pw_shared_entry *e = *pp;
            if (e->key_len >= nlen && memcmp(e->key, vm->ns, nlen) == 0) {
                *pp = e->next;
                free(e->key);
                pw_buf_free(&e->value);
                free(e);
            } else {
                pp = &e->next;
            }
        }
    }
    pthread_mutex_unlock(&pw_shared_lock);
}
