/*
 * metrics.c - plugin metrics (proxy_define_metric, proxy_increment_metric,
 * proxy_record_metric, proxy_get_metric): process-wide and thread-safe, like a proxy's
 * stats store, so every worker's VM adds to one counter. A metric is identified by
 * (name, type); defining it again returns the same id. Ids are (index << 2) | type
 * (cpp-host's layout). Counters only go up (a negative increment is BAD_ARGUMENT);
 * record adds to a counter, sets a gauge, adds a sample to a histogram; get of a
 * histogram is BAD_ARGUMENT (as Envoy). A sandbox VM's increments and records are
 * checked and dropped.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct pw_metric {
    char *name;
    enum pw_metric_type type;
    uint64_t value; /* counter/gauge value; histogram: sample count */
    uint64_t sum, min, max;
};

static pthread_mutex_t pw_metric_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pw_metric *pw_metrics;
static uint32_t pw_nmetrics, pw_metric_cap;

/* The metric of id, or NULL. Lock held. */
static struct pw_metric *pw_metric_of(uint32_t id)
{
    uint32_t index = id >> 2;

    if (index == 0 || index > pw_nmetrics)
        return NULL;
    struct pw_metric *m = &pw_metrics[index - 1];
    return (uint32_t)m->type == (id & 3) ? m : NULL;
}

/* proxy_define_metric(type, name, name_len, return_id*) */
PW_HOSTCALL(define_metric)
{
    struct pw_vm *vm = pw_vm_of(inst);
    uint32_t type = pw_arg(slots, 0), nlen = pw_arg(slots, 2), id_out = pw_arg(slots, 3);
    const char *name = pw_guest_ptr(vm, pw_arg(slots, 1), nlen);
    enum pw_status st = PW_OK;
    uint32_t id = 0;

    if (name == NULL || pw_guest_ptr(vm, id_out, 4) == NULL)
        return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    if (type > PW_METRIC_HISTOGRAM || nlen == 0 || memchr(name, 0, nlen) != NULL)
        return pw_ret(slots, PW_BAD_ARGUMENT);
    pthread_mutex_lock(&pw_metric_lock);
    for (uint32_t i = 0; i < pw_nmetrics; i++) {
        struct pw_metric *m = &pw_metrics[i];
        if (m->type == type && strlen(m->name) == nlen && memcmp(m->name, name, nlen) == 0) {
            id = (i + 1) << 2 | type;
            goto unlock;
        }
    }
    if (pw_nmetrics == pw_metric_cap) {
        uint32_t cap = pw_metric_cap ? pw_metric_cap * 2 : 32;
        struct pw_metric *ms = realloc(pw_metrics, cap * sizeof(*ms));
        if (ms == NULL) {
            st = PW_INTERNAL_FAILURE;
            goto unlock;
        }
        pw_metrics = ms;
        pw_metric_cap = cap;
    }
    struct pw_metric *m = &pw_metrics[pw_nmetrics];
    memset(m, 0, sizeof(*m));
    m->name = strndup(name, nlen);
    if (m->name == NULL) {
        st = PW_INTERNAL_FAILURE;
        goto unlock;
    }
    m->type = type;
    id = (++pw_nmetrics) << 2 | type;
unlock:
    pthread_mutex_unlock(&pw_metric_lock);
    if (st == PW_OK)
        pw_guest_put_u32(vm, id_out, id);
    return pw_ret(slots, st);
}

/* proxy_increment_metric(id, delta:i64) */
PW_HOSTCALL(increment_metric)
{
    bool sandbox = pw_vm_of(inst)->sandbox;
    int64_t delta = (int64_t)slots[1];
    enum pw_status st = PW_OK;

    pthread_mutex_lock(&pw_metric_lock);
    struct pw_metric *m = pw_metric_of(pw_arg(slots, 0));
    if (m == NULL)
        st = PW_NOT_FOUND;
    else if (m->type == PW_METRIC_HISTOGRAM || (m->type == PW_METRIC_COUNTER && delta < 0))
        st = PW_BAD_ARGUMENT;
    else if (!sandbox)
        m->value += (uint64_t)delta;
    pthread_mutex_unlock(&pw_metric_lock);
    return pw_ret(slots, st);
}

/* proxy_record_metric(id, value:u64) */
PW_HOSTCALL(record_metric)
{
    bool sandbox = pw_vm_of(inst)->sandbox;
    uint64_t value = slots[1];
    enum pw_status st = PW_OK;

    pthread_mutex_lock(&pw_metric_lock);
    struct pw_metric *m = pw_metric_of(pw_arg(slots, 0));
    if (m == NULL) {
        st = PW_NOT_FOUND;
    } else if (sandbox) {
        /* a canary's samples are not the proxy's */
    } else if (m->type == PW_METRIC_COUNTER) {
        m->value += value;
    } else if (m->type == PW_METRIC_GAUGE) {
        m->value = value;
    } else {
        if (m->value == 0 || value < m->min)
            m->min = value;
        if (m->value == 0 || value > m->max)
            m->max = value;
        m->value++;
        m->sum += value;
    }
    pthread_mutex_unlock(&pw_metric_lock);
    return pw_ret(slots, st);
}

/* proxy_get_metric(id, return_value*) */
PW_HOSTCALL(get_metric)
{
    struct pw_vm *vm = pw_vm_of(inst);
    enum pw_status st = PW_OK;
    uint64_t value = 0;

    if (pw_guest_ptr(vm, pw_arg(slots, 1), 8) == NULL)
        return pw_ret(slots, PW_INVALID_MEMORY_ACCESS);
    pthread_mutex_lock(&pw_metric_lock);
    struct pw_metric *m = pw_metric_of(pw_arg(slots, 0));
    if (m == NULL)
        st = PW_NOT_FOUND;
    else if (m->type == PW_METRIC_HISTOGRAM)
        st = PW_BAD_ARGUMENT;
    else
        value = m->value;
    pthread_mutex_unlock(&pw_metric_lock);
    if (st == PW_OK)
        st = pw_guest_put_u64(vm, pw_arg(slots, 1), value);
    return pw_ret(slots, st);
}

void pw_metrics_foreach(void (*fn)(void *arg, const struct pw_metric_view *m), void *arg)
{
    pthread_mutex_lock(&pw_metric_lock);
    for (uint32_t i = 0; i < pw_nmetrics; i++) {
        const struct pw_metric *m = &pw_metrics[i];
        struct pw_metric_view v = {m->name, m->type, m->value, 0, 0, 0};
        if (m->type == PW_METRIC_HISTOGRAM) {
            v.sum = m->sum;
            v.min = m->min;
            v.max = m->max;
        }
        fn(arg, &v);
    }
    pthread_mutex_unlock(&pw_metric_lock);
}
