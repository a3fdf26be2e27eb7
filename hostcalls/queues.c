/*
 * queues.c - shared queues: process-wide, thread-safe, keyed by (vm_id, name).
 *
 * proxy_register_shared_queue creates the queue (or opens it) and makes the calling VM's
 * root context its consumer: the latest registrant wins, as in cpp-host. Enqueue (from
 * any VM, any thread) appends and asks the consumer's host, through
 * pw_host_ops.post_queue_ready, to run proxy_on_queue_ready on the consumer VM's own
 * thread; it never runs a VM on the caller's thread. Queue ids are process-wide (index +
 * 1), so an id resolved on one worker names the same queue on every worker.
 *
 * A sandbox VM's queues are its own (its namespace); its enqueues to another VM's queue
 * are accepted and dropped, so a canary never wakes or feeds the live consumers; its
 * queues die with it (the slot stays, dead, so ids never change meaning).
 *
 * Queued bytes are bounded, per queue and for the process (PW_QUEUE_MAX_BYTES,
 * PW_QUEUES_MAX_BYTES, items counted with their overhead): a producer whose consumer is
 * gone or too slow gets INTERNAL_FAILURE instead of growing the daemon without end.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct pw_queue_item {
    struct pw_queue_item *next;
    size_t len;
    uint8_t data[];
};

struct pw_queue {
    char *vm_id; /* the namespace: vm_id, or a sandbox's own; NULL: dead */
    char *name;
    struct pw_queue_item *head, *tail;
    size_t bytes; /* queued, items' overhead included */
    /* The consumer: the last root context that registered. */
    struct pw_vm *owner;
    const struct pw_host_ops *owner_ops;
    void *owner_host;
    uint32_t owner_ctx;
};

static pthread_mutex_t pw_queue_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pw_queue *pw_queues;
static uint32_t pw_nqueues, pw_queue_cap;
static size_t pw_queue_max = PW_QUEUE_MAX_BYTES, pw_queues_max = PW_QUEUES_MAX_BYTES;
static size_t pw_queues_bytes; /* queued in every queue */

void pw_queues_set_limits(size_t per_queue, size_t total)
{
    pthread_mutex_lock(&pw_queue_lock);
    pw_queue_max = per_queue;
    pw_queues_max = total;
    pthread_mutex_unlock(&pw_queue_lock);
}

/* An item's share of the bounds. */
static size_t pw_item_bytes(const struct pw_queue_item *it)
{
    return sizeof(*it) + it->len;
}

/* Takes the head item off q (NULL if empty). Lock held. */
static struct pw_queue_item *pw_queue_pop(struct pw_queue *q)
{
    struct pw_queue_item *item = q->head;
    if (item != NULL) {
        q->head = item->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->bytes -= pw_item_bytes(item);
        pw_queues_bytes -= pw_item_bytes(item);
    }
    return item;
}

/* Index of (vm_id, name), or -1. Lock held. */
static int64_t pw_queue_find(const char *vm_id, const char *name, size_t name_len)
{
    for (uint32_t i = 0; i < pw_nqueues; i++) {
        struct pw_queue *q = &pw_queues[i];
        if (q->vm_id != NULL && strcmp(q->vm_id, vm_id) == 0 && strlen(q->name) == name_len &&
            memcmp(q->name, name, name_len) == 0)
            return i;
    }
    return -1;
}

/* proxy_register_shared_queue(name, name_len, return_id*) */
PW_HOSTCALL(register_shared_queue)
{
    struct pw_vm *vm = pw_vm_of(inst);
    uint32_t nlen = pw_arg(slots, 1), id_out = pw_arg(slots, 2);
    const char *name = pw_guest_ptr(vm, pw_arg(slots, 0), nlen);
    enum pw_status st = PW_OK;
    uint32_t id = 0;

    if (name == NULL || pw_guest_ptr(vm, id_out, 4) == NULL)
        return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    if (vm->effective == NULL || memchr(name, 0, nlen) != NULL)
        return pw_ret(slots, PW_BAD_ARGUMENT);
    pthread_mutex_lock(&pw_queue_lock);
    int64_t i = pw_queue_find(vm->ns, name, nlen);
    if (i < 0) {
        if (pw_nqueues == pw_queue_cap) {
            uint32_t cap = pw_queue_cap ? pw_queue_cap * 2 : 16;
            struct pw_queue *qs = realloc(pw_queues, cap * sizeof(*qs));
            if (qs == NULL) {
                st = PW_INTERNAL_FAILURE;
                goto unlock;
            }
            pw_queues = qs;
            pw_queue_cap = cap;
        }
        struct pw_queue *q = &pw_queues[pw_nqueues];
        memset(q, 0, sizeof(*q));
        q->vm_id = strdup(vm->ns);
        q->name = strndup(name, nlen);
        if (q->vm_id == NULL || q->name == NULL) {
            free(q->vm_id);
            free(q->name);
            st = PW_INTERNAL_FAILURE;
            goto unlock;
        }
        i = pw_nqueues++;
    }
    struct pw_queue *q = &pw_queues[i];
    q->owner = vm;
    q->owner_ops = vm->ops;
    q->owner_host = vm->host;
    q->owner_ctx = vm->effective->root->ctx.id;
    id = (uint32_t)i + 1;
unlock:
    pthread_mutex_unlock(&pw_queue_lock);
    if (st == PW_OK)
        pw_guest_put_u32(vm, id_out, id);
    return pw_ret(slots, st);
}

/* proxy_resolve_shared_queue(vm_id, vm_id_len, name, name_len, return_id*); an empty
 * vm_id means the caller's own (Envoy). */
PW_HOSTCALL(resolve_shared_queue)
{
    struct pw_vm *vm = pw_vm_of(inst);
    uint32_t vlen = pw_arg(slots, 1), nlen = pw_arg(slots, 3), id_out = pw_arg(slots, 4);
    const char *vm_id = pw_guest_ptr(vm, pw_arg(slots, 0), vlen);
    const char *name = pw_guest_ptr(vm, pw_arg(slots, 2), nlen);

    if (vm_id == NULL || name == NULL || pw_guest_ptr(vm, id_out, 4) == NULL)
        return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    char *v = vlen > 0 ? strndup(vm_id, vlen) : strdup(vm->vm_id);
    if (v == NULL)
        return pw_ret(slots, PW_INTERNAL_FAILURE);
    pthread_mutex_lock(&pw_queue_lock);
    int64_t i = vlen == 0 ? pw_queue_find(vm->ns, name, nlen) : -1;
    if (i < 0)
        i = pw_queue_find(v, name, nlen);
    pthread_mutex_unlock(&pw_queue_lock);
    free(v);
    if (i < 0)
        return pw_ret(slots, PW_NOT_FOUND);
    return pw_ret(slots, pw_guest_put_u32(vm, id_out, (uint32_t)i + 1));
}

/* proxy_enqueue_shared_queue(id, value, value_len) */
PW_HOSTCALL(enqueue_shared_queue)
{
    struct pw_vm *vm = pw_vm_of(inst);
    uint32_t id = pw_arg(slots, 0), len = pw_arg(slots, 2);
    const uint8_t *value = pw_guest_ptr(vm, pw_arg(slots, 1), len);
    struct pw_vm *owner = NULL;
    const struct pw_host_ops *ops = NULL;
    void *host = NULL;
    uint32_t ctx = 0;

    if (value == NULL)
        return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    struct pw_queue_item *item = malloc(sizeof(*item) + len);
    if (item == NULL)
        return pw_ret(slots, PW_INTERNAL_FAILURE);
    item->next = NULL;
    item->len = len;
    memcpy(item->data, value, len);

    pthread_mutex_lock(&pw_queue_lock);
    if (id == 0 || id > pw_nqueues || pw_queues[id - 1].vm_id == NULL) {
        pthread_mutex_unlock(&pw_queue_lock);
        free(item);
        return pw_ret(slots, PW_NOT_FOUND);
    }
    struct pw_queue *q = &pw_queues[id - 1];
    if (vm->sandbox && strcmp(q->vm_id, vm->ns) != 0) {
        pthread_mutex_unlock(&pw_queue_lock);
        free(item);
        return pw_ret(slots, PW_OK); /* a sandbox does not feed live consumers */
    }
    size_t n = pw_item_bytes(item);
    if (q->bytes + n > pw_queue_max || pw_queues_bytes + n > pw_queues_max) {
        pthread_mutex_unlock(&pw_queue_lock);
        free(item);
        return pw_ret(slots, PW_INTERNAL_FAILURE); /* full: the consumer is not keeping up */
    }
    q->bytes += n;
    pw_queues_bytes += n;
    if (q->tail != NULL)
        q->tail->next = item;
    else
        q->head = item;
    q->tail = item;
    owner = q->owner;
    ops = q->owner_ops;
    host = q->owner_host;
    ctx = q->owner_ctx;
    pthread_mutex_unlock(&pw_queue_lock);

    /* Wake the consumer on its own thread (the host posts it; never runs it here). */
    if (owner != NULL && ops != NULL && ops->post_queue_ready != NULL)
        ops->post_queue_ready(host, owner, ctx, id);
    return pw_ret(slots, PW_OK);
}

/* proxy_dequeue_shared_queue(id, return_value**, return_value_len*) */
PW_HOSTCALL(dequeue_shared_queue)
{
    struct pw_vm *vm = pw_vm_of(inst);
    uint32_t id = pw_arg(slots, 0);
    bool trapped;

    if (pw_guest_ptr(vm, pw_arg(slots, 1), 4) == NULL ||
        pw_guest_ptr(vm, pw_arg(slots, 2), 4) == NULL)
        return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    pthread_mutex_lock(&pw_queue_lock);
    if (id == 0 || id > pw_nqueues || pw_queues[id - 1].vm_id == NULL) {
        pthread_mutex_unlock(&pw_queue_lock);
        return pw_ret(slots, PW_NOT_FOUND);
    }
    struct pw_queue *q = &pw_queues[id - 1];
    if (vm->sandbox && strcmp(q->vm_id, vm->ns) != 0) {
        pthread_mutex_unlock(&pw_queue_lock);
        return pw_ret(slots, PW_EMPTY); /* nor takes their items */
    }
    struct pw_queue_item *item = pw_queue_pop(q);
    pthread_mutex_unlock(&pw_queue_lock);
    if (item == NULL)
        return pw_ret(slots, PW_EMPTY);
    enum pw_status st =
        pw_guest_copy_out(vm, item->data, item->len, pw_arg(slots, 1), pw_arg(slots, 2), &trapped);
    if (st == PW_OK) {
        free(item);
    } else {
        /* Not delivered: back in front, so no item is lost. The array may have moved
         * (another queue registered meanwhile): index it again under the lock. */
        pthread_mutex_lock(&pw_queue_lock);
        q = &pw_queues[id - 1];
        item->next = q->head;
        q->head = item;
        if (q->tail == NULL)
            q->tail = item;
        q->bytes += pw_item_bytes(item);
        pw_queues_bytes += pw_item_bytes(item);
        pthread_mutex_unlock(&pw_queue_lock);
    }
    if (trapped)
        return pw_trap_from_alloc(vm);
    return pw_ret(slots, st);
}

void pw_queues_forget_vm(struct pw_vm *vm)
{
    pthread_mutex_lock(&pw_queue_lock);
    for (uint32_t i = 0; i < pw_nqueues; i++) {
        struct pw_queue *q = &pw_queues[i];
        if (q->owner == vm) {
            q->owner = NULL;
            q->owner_ops = NULL;
            q->owner_host = NULL;
        }
        if (vm->sandbox && q->vm_id != NULL && strcmp(q->vm_id, vm->ns) == 0) {
            struct pw_queue_item *it;
            while ((it = pw_queue_pop(q)) != NULL)
                free(it);
            free(q->vm_id);
            free(q->name);
            q->vm_id = q->name = NULL;
        }
    }
    pthread_mutex_unlock(&pw_queue_lock);
}
