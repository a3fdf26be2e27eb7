/*
 * plugin.c - plugin sets (module cache, canary validation), workers (clock, timers, the
 * queue mailbox, the observer), per-worker instances and their VMs (the clone step, the
 * reload policy's back-off, the end of roots), and the host operations of root contexts.
 * See plugin.h for the model and internal.h for who owns what.
 */
#include "plugin/internal.h"

#include "config/config.h"
#include "log/log.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PLUGIN_MAX_MODULE_SIZE (256u << 20)
#define PLUGIN_BACKOFF_MAX_MS 60000u
#define PLUGIN_BACKOFF_RESET_MS 60000u /* a VM that ran this long without failing: reset */
#define PLUGIN_SHUTDOWN_GRACE_MS 30000u

static __thread struct plugin_worker *plugin_tls_worker;

/* ---- module cache --------------------------------------------------------------------- */

struct plugin_module {
    struct plugin_module *next;
    unsigned char sha[SHA256_DIGEST_LENGTH];
    struct pw_module *m;
    unsigned refs; /* under plugin_cache_lock */
};

static pthread_mutex_t plugin_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct plugin_module *plugin_cache;

static int plugin_read_file(const char *path, uint8_t **out, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (st.st_size > PLUGIN_MAX_MODULE_SIZE) {
        snprintf(err, errlen, "%s: larger than %u MiB", path, PLUGIN_MAX_MODULE_SIZE >> 20);
        close(fd);
        return -1;
    }
    uint8_t *buf = malloc(st.st_size ? (size_t)st.st_size : 1);
    size_t got = 0;
    while (buf != NULL && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r <= 0) {
            snprintf(err, errlen, "cannot read %s: %s", path,
                     r < 0 ? strerror(errno) : "short read");
            free(buf);
            close(fd);
            return -1;
        }
        got += (size_t)r;
    }
    close(fd);
    if (buf == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *out = buf;
    *len = got;
    return 0;
}

/* The module of file path: the cached one when a module with the same SHA-256 is loaded,
 * else decoded, validated and translated now. @return it with a reference, or NULL. */
static struct plugin_module *plugin_module_get(const char *path, char *err, size_t errlen)
{
    uint8_t *bytes;
    size_t len;
    unsigned char sha[SHA256_DIGEST_LENGTH];

    if (plugin_read_file(path, &bytes, &len, err, errlen) < 0)
        return NULL;
    SHA256(bytes, len, sha);
    char hex[17];
    for (int i = 0; i < 8; i++)
        snprintf(hex + 2 * i, 3, "%02x", sha[i]);
    pthread_mutex_lock(&plugin_cache_lock);
    for (struct plugin_module *pm = plugin_cache; pm != NULL; pm = pm->next) {
        if (memcmp(pm->sha, sha, sizeof(sha)) == 0) {
            pm->refs++;
            pthread_mutex_unlock(&plugin_cache_lock);
            free(bytes);
            log_info("plugin module %s: unchanged (sha256 %s...), reused", path, hex);
            return pm;
        }
    }
    pthread_mutex_unlock(&plugin_cache_lock);
    uint64_t t0 = log_now_usec();
    struct plugin_module *pm = calloc(1, sizeof(*pm));
    if (pm == NULL) {
        free(bytes);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pm->m = pw_module_load(bytes, len, err, errlen);
    free(bytes);
    if (pm->m == NULL) {
        free(pm);
        return NULL;
    }
    memcpy(pm->sha, sha, sizeof(sha));
    pm->refs = 1;
    log_info("plugin module %s: %zu bytes (sha256 %s...) decoded, validated and translated in "
             "%.1f ms",
             path, len, hex, (double)(log_now_usec() - t0) / 1000.0);
    pthread_mutex_lock(&plugin_cache_lock);
    pm->next = plugin_cache;
    plugin_cache = pm;
    pthread_mutex_unlock(&plugin_cache_lock);
    return pm;
}

static void plugin_module_put(struct plugin_module *pm)
{
    if (pm == NULL)
        return;
    pthread_mutex_lock(&plugin_cache_lock);
    if (--pm->refs > 0) {
        pthread_mutex_unlock(&plugin_cache_lock);
        return;
    }
    for (struct plugin_module **pp = &plugin_cache; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == pm) {
            *pp = pm->next;
            break;
        }
    }
    pthread_mutex_unlock(&plugin_cache_lock);
    pw_module_free(pm->m);
    free(pm);
}

/* ---- sets --------------------------------------------------------------------------------- */

const char *plugin_name(const struct plugin_set *set, size_t i)
{
    return set->plugins[i].cfg->name;
}

size_t plugin_set_count(const struct plugin_set *set)
{
    return set->n_plugins;
}

bool plugin_set_edits_body(const struct plugin_set *set, size_t i, int d)
{
    return set->plugins[i].edits_body[d];
}

const char *plugin_set_abi(const struct plugin_set *set, size_t i)
{
    return pw_abi_name(pw_module_abi(set->groups[set->plugins[i].group].mod->m));
}

static void plugin_set_free(struct plugin_set *set)
{
    for (size_t g = 0; g < set->n_groups; g++) {
        if (set->groups[g].image != NULL)
            pw_image_free(set->groups[g].image);
        plugin_module_put(set->groups[g].mod);
        free(set->groups[g].members);
    }
    free(set->groups);
    free(set->plugins);
    free(set->per_worker);
    if (set->cfg != NULL)
        cfg_unref(set->cfg);
    free(set);
}

struct plugin_set *plugin_set_ref(struct plugin_set *set)
{
    atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    return set;
}

void plugin_set_unref(struct plugin_set *set)
{
    if (set != NULL && atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) == 1)
        plugin_set_free(set);
}

static bool plugin_same_env(const struct cfg_plugin *a, const struct cfg_plugin *b)
{
    if (a->n_environment != b->n_environment)
        return false;
    for (size_t i = 0; i < a->n_environment; i++)
        if (strcmp(a->environment[i], b->environment[i]) != 0)
            return false;
    return true;
}

/* The group plugin i joins (same module, non-empty vm_id and VM configuration), or a new
 * one. @return 0, or -1 with a message (members of a group must agree on the limits). */
static int plugin_group_of(struct plugin_set *set, size_t i, struct plugin_module *pm, bool own,
                           char *err, size_t errlen)
{
    const struct cfg_plugin *p = set->plugins[i].cfg;
    for (size_t g = 0; !own && p->vm_id[0] != '\0' && g < set->n_groups; g++) {
        struct plugin_group *gr = &set->groups[g];
        const struct cfg_plugin *f = gr->first;
        if (gr->mod != pm || strcmp(f->vm_id, p->vm_id) != 0 || gr->vmcfg.configuration == NULL ||
            f->vm_configuration_len != p->vm_configuration_len ||
            memcmp(f->vm_configuration, p->vm_configuration, p->vm_configuration_len) != 0)
            continue;
        if (f->max_memory != p->max_memory || f->fuel != p->fuel ||
            f->max_execution_time_ms != p->max_execution_time_ms || !plugin_same_env(f, p)) {
            snprintf(err, errlen,
                     "shares vm_id \"%s\" with [plugin:%s], so it must have the same "
                     "max_memory, fuel, max_execution_time and environment",
                     p->vm_id, f->name);
            return -1;
        }
        size_t *m = realloc(gr->members, (gr->n_members + 1) * sizeof(*m));
        if (m == NULL)
            goto nomem;
        gr->members = m;
        set->plugins[i].group = g;
        set->plugins[i].member = gr->n_members;
        gr->members[gr->n_members++] = i;
        plugin_module_put(pm); /* the group holds one reference */
        return 0;
    }
    struct plugin_group *gr = &set->groups[set->n_groups];
    gr->members = malloc(sizeof(*gr->members));
    if (gr->members == NULL)
        goto nomem;
    gr->mod = pm;
    gr->first = p;
    gr->members[0] = i;
    gr->n_members = 1;
    gr->max_execution_ms = p->max_execution_time_ms;
    gr->vmcfg = (struct pw_vm_config){
        .trace = set->trace,
        .vm_id = p->vm_id,
        .configuration = (const uint8_t *)p->vm_configuration,
        .configuration_len = p->vm_configuration_len,
        .env = p->environment,
        .nenv = p->n_environment,
        .max_memory_pages = (uint32_t)(p->max_memory / 65536),
        .fuel_per_callback = p->fuel,
        .max_execution_ns = (uint64_t)p->max_execution_time_ms * 1000000u,
        .name = p->name,
    };
    set->plugins[i].group = set->n_groups++;
    set->plugins[i].member = 0;
    return 0;
nomem:
    plugin_module_put(pm);
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* Where an error about plugin p starts: "FILE:LINE: [plugin:NAME]: " (without a
 * configuration file: "PLUGIN_FILE: [plugin:NAME]: "). */
static void plugin_error(struct cfg_errors *errors, const struct cfg_generation *cfg,
                         const struct cfg_plugin *p, const char *why, const char *logs)
{
    /* One line per line of why (a trap's backtrace follows its reason), indented as the
     * plugin's log lines are: the message reads as one error over several lines. */
    char text[4096];
    size_t n = 0;
    for (const char *c = why; *c != '\0' && n + 3 < sizeof(text); c++) {
        text[n++] = *c;
        if (*c == '\n') {
            text[n++] = ' ';
            text[n++] = ' ';
        }
    }
    text[n] = '\0';
    if (cfg != NULL)
        cfg_errors_add(errors, "%s:%u: [plugin:%s]: %s%s", cfg->path, p->line, p->name, text, logs);
    else
        cfg_errors_add(errors, "%s: [plugin:%s]: %s%s", p->file, p->name, text, logs);
}

/* The observer of a canary: keeps the plugin's log lines for the error message. */
struct plugin_canary_log {
    char *text;
    size_t len;
    bool init;                             /* the image's initialisation is running */
    const struct plugin_observer *forward; /* where its log lines go too */
};

static void plugin_canary_event(void *arg, const struct plugin_event *ev)
{
    struct plugin_canary_log *cl = arg;
    if (ev->kind == PLUGIN_EV_HOSTCALL && cl->init)
        cl->forward->event(cl->forward->arg, ev); /* the runtime's initialisation, traced */
    if (ev->kind != PLUGIN_EV_LOG)
        return;
    if (cl->init)
        cl->forward->event(cl->forward->arg, ev);
    /* The layer's own failure report (not a plugin's line: those start "wasm log") is
     * already the reason of the error. */
    if (ev->level == PW_LOG_CRITICAL && strncmp(ev->text, "wasm log", 8) != 0)
        return;
    size_t n = strlen(ev->text);
    char *t = realloc(cl->text, cl->len + n + 4);
    if (t == NULL)
        return;
    cl->text = t;
    memcpy(t + cl->len, "\n  ", 3);
    memcpy(t + cl->len + 3, ev->text, n + 1);
    /* The plugin's text: no line breaks or terminal controls of its own. */
    for (char *c = t + cl->len + 3; *c != '\0'; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    cl->len += n + 3;
}

struct plugin_slot *plugin_slot_start(struct plugin_instances *inst, size_t g, char *err,
                                      size_t errlen);
static void plugin_instances_destroy(struct plugin_instances *inst);
static void plugin_grace_cb(struct plugin_timer *t);
static void plugin_reap_cb(struct plugin_timer *t);

/*
 * Runs every group's start sequence on a worker of its own (virtual clock: no timer
 * fires; callouts are accepted and never answered), as each real worker will. A failure
 * adds "FILE:LINE: [plugin:NAME]: why" with the plugin's log lines to errors.
 */
static void plugin_log_event(void *arg, const struct plugin_event *ev);

/*
 * p's root context did not start. When its SDK starts roots under other ids (C++ and
 * AssemblyScript SDKs pick a root context factory by plugin_root_id and abort on an
 * unknown one), says which, ahead of why: "the plugin registers root ids: a, b; <advice>".
 * More than 16 ids that all start mean the plugin does not choose by root id: no hint.
 */
static void plugin_root_id_hint(const struct plugin_set *set, const struct plugin_group *gr,
                                const struct cfg_plugin *p, char *why, size_t len)
{
    char ids[512];
    struct pw_plugin_config pc = {
        .name = p->name,
        .root_id = p->root_id,
        .configuration = (const uint8_t *)p->configuration,
        .configuration_len = p->configuration_len,
    };
    size_t n = pw_image_root_ids(gr->image, &gr->vmcfg, &pc, ids, sizeof(ids));
    if (n == 0 || n > 16)
        return;
    char *was = strdup(why);
    if (was == NULL)
        return;
    snprintf(why, len, "the plugin registers root id%s: %s; %s (%s%s%s)\n%s", n > 1 ? "s" : "", ids,
             set->root_id_advice, p->root_id[0] ? "not \"" : "it has none", p->root_id,
             p->root_id[0] ? "\"" : "", was);
    free(was);
}

static void plugin_set_canary(struct plugin_set *set, const struct plugin_observer *init_obs,
                              struct cfg_errors *errors)
{
    const struct plugin_observer log_obs = {plugin_log_event, NULL};
    struct event_base *base = event_base_new();
    if (base == NULL) {
        cfg_errors_add(errors, "cannot start plugins: out of memory");
        return;
    }
    struct plugin_canary_log cl = {.forward = init_obs != NULL ? init_obs : &log_obs};
    struct plugin_worker *w = plugin_worker_new(base, 0, NULL, NULL, true, NULL);
    struct plugin_instances *inst = w != NULL ? calloc(1, sizeof(*inst)) : NULL;
    if (inst == NULL || (inst->slots = calloc(set->n_groups, sizeof(*inst->slots))) == NULL) {
        cfg_errors_add(errors, "cannot start plugins: out of memory");
        free(inst);
        goto out;
    }
    plugin_worker_set_observer(w, &(struct plugin_observer){plugin_canary_event, &cl});
    plugin_worker_set_log_level(w, PW_LOG_TRACE);
    inst->w = w;
    inst->set = plugin_set_ref(set);
    inst->refs = 1;
    inst->canary = true;
    inst->next = w->all;
    w->all = inst;
    plugin_timer_init(&inst->grace, w, plugin_grace_cb);
    plugin_timer_init(&inst->reap, w, plugin_reap_cb);
    for (size_t g = 0; g < set->n_groups; g++) {
        char why[2048];
        why[0] = '\0';
        struct plugin_group *gr = &set->groups[g];
        /* The language runtime's initialisation runs once, into the image every VM of
         * the group starts from; then the canary VM runs the proxy-wasm start sequence. */
        cl.init = true;
        gr->image = pw_image_new(gr->mod->m, &gr->vmcfg, &plugin_host_ops, w, why, sizeof(why));
        cl.init = false;
        struct plugin_slot *sl =
            gr->image != NULL ? plugin_slot_start(inst, g, why, sizeof(why)) : &inst->slots[g];
        if (sl->vm == NULL) {
            const struct cfg_plugin *p = set->groups[g].first;
            for (size_t k = 0; k < set->groups[g].n_members; k++) {
                const struct cfg_plugin *m = set->plugins[set->groups[g].members[k]].cfg;
                if (strstr(why, m->name) != NULL)
                    p = m;
            }
            if (gr->image != NULL)
                plugin_root_id_hint(set, gr, p, why, sizeof(why));
            plugin_error(errors, set->cfg, p, why, cl.text != NULL ? cl.text : "");
        }
        free(cl.text);
        cl.text = NULL;
        cl.len = 0;
    }
    plugin_instances_destroy(inst);
out:
    if (w != NULL) {
        plugin_worker_shutdown(w, 0);
        plugin_worker_free(w);
    }
    free(cl.text);
    event_base_free(base);
}

struct plugin_set *plugin_set_new(const struct cfg_generation *cfg,
                                  const struct cfg_plugin *const *plugins, size_t n,
                                  const struct plugin_set_options *opt, struct cfg_errors *errors)
{
    if (plugins == NULL && cfg != NULL) {
        plugins = cfg->plugins;
        n = cfg->n_plugins;
    }
    struct plugin_set *set = calloc(1, sizeof(*set));
    if (set == NULL)
        goto nomem;
    atomic_init(&set->refs, 1);
    set->cfg = cfg != NULL ? cfg_ref(cfg) : NULL;
    set->trace = opt != NULL && opt->trace;
    if (opt != NULL && opt->properties != NULL)
        set->properties = *opt->properties;
    set->root_id_advice =
        opt != NULL && opt->root_id_advice != NULL ? opt->root_id_advice : "set its root_id";
    set->n_workers = opt != NULL && opt->n_workers > 0 ? opt->n_workers : 1;
    set->plugins = calloc(n ? n : 1, sizeof(*set->plugins));
    set->groups = calloc(n ? n : 1, sizeof(*set->groups));
    set->per_worker = calloc(set->n_workers, sizeof(*set->per_worker));
    if (set->plugins == NULL || set->groups == NULL || set->per_worker == NULL) {
        plugin_set_free(set);
        goto nomem;
    }
    size_t before = errors->count;
    set->n_plugins = n;
    for (size_t i = 0; i < n; i++) {
        const struct cfg_plugin *p = plugins[i];
        char err[2048];
        set->plugins[i].cfg = p;
        struct plugin_module *pm = plugin_module_get(p->file, err, sizeof(err));
        if (pm == NULL ||
            plugin_group_of(set, i, pm, opt != NULL && opt->own_vm != NULL && opt->own_vm[i], err,
                            sizeof(err)) < 0) {
            plugin_error(errors, cfg, p, err, "");
            set->n_plugins = i; /* the groups made so far are freed with the set */
            plugin_set_free(set);
            return NULL;
        }
        set->plugins[i].edits_body[0] = pw_module_has_export(pm->m, "proxy_on_request_body");
        set->plugins[i].edits_body[1] = pw_module_has_export(pm->m, "proxy_on_response_body");
    }
    plugin_set_canary(set, opt != NULL ? opt->init_observer : NULL, errors);
    if (errors->count > before) {
        plugin_set_unref(set);
        return NULL;
    }
    return set;
nomem:
    cfg_errors_add(errors, "out of memory");
    return NULL;
}

/* ---- timers ------------------------------------------------------------------------------- */

static void plugin_timer_fire(evutil_socket_t fd, short what, void *arg)
{
    struct plugin_timer *t = arg;
    t->armed = false;
    t->cb(t);
}

void plugin_timer_init(struct plugin_timer *t, struct plugin_worker *w,
                       void (*cb)(struct plugin_timer *t))
{
    memset(t, 0, sizeof(*t));
    t->w = w;
    t->cb = cb;
}

void plugin_timer_cancel(struct plugin_timer *t)
{
    if (!t->armed)
        return;
    t->armed = false;
    if (!t->w->virtual_clock) {
        event_del(&t->ev);
        return;
    }
    for (struct plugin_timer **pp = &t->w->vtimers; *pp != NULL; pp = &(*pp)->vnext) {
        if (*pp == t) {
            *pp = t->vnext;
            break;
        }
    }
}

void plugin_timer_arm(struct plugin_timer *t, uint64_t ms)
{
    struct plugin_worker *w = t->w;
    plugin_timer_cancel(t);
    t->armed = true;
    if (!w->virtual_clock) {
        if (!t->assigned) {
            evtimer_assign(&t->ev, w->base, plugin_timer_fire, t);
            t->assigned = true;
        }
        struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
        evtimer_add(&t->ev, &tv);
        return;
    }
    t->at_ms = w->vnow_ms + ms;
    struct plugin_timer **pp = &w->vtimers;
    while (*pp != NULL && (*pp)->at_ms <= t->at_ms) /* equal times keep their order */
        pp = &(*pp)->vnext;
    t->vnext = *pp;
    *pp = t;
}

bool plugin_worker_step(struct plugin_worker *w, uint64_t now_ms)
{
    struct plugin_timer *t = w->vtimers;
    if (t == NULL || t->at_ms > now_ms) {
        if (now_ms > w->vnow_ms)
            w->vnow_ms = now_ms;
        return false;
    }
    w->vtimers = t->vnext;
    if (t->at_ms > w->vnow_ms)
        w->vnow_ms = t->at_ms;
    t->armed = false;
    t->cb(t);
    return true;
}

uint64_t plugin_worker_next_timer(const struct plugin_worker *w)
{
    return w->vtimers != NULL ? w->vtimers->at_ms : UINT64_MAX;
}

bool plugin_worker_has_mail(struct plugin_worker *w)
{
    pthread_mutex_lock(&w->mbox_lock);
    bool mail = w->mbox != NULL;
    pthread_mutex_unlock(&w->mbox_lock);
    return mail;
}

uint64_t plugin_worker_now_ms(const struct plugin_worker *w)
{
    if (w->env_ops != NULL && w->env_ops->mono_ms != NULL)
        return w->env_ops->mono_ms(w->env);
    if (w->virtual_clock)
        return w->vnow_ms;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- observer --------------------------------------------------------------------------- */

static enum log_level plugin_log_level_of(enum pw_log_level l)
{
    switch (l) {
    case PW_LOG_TRACE:
    case PW_LOG_DEBUG:
        return LOG_LVL_DEBUG;
    case PW_LOG_INFO:
        return LOG_LVL_INFO;
    case PW_LOG_WARN:
        return LOG_LVL_WARN;
    default:
        return LOG_LVL_ERROR;
    }
}

/* waspd's observer: plugin log lines at their level; the rest at debug. */
static void plugin_log_event(void *arg, const struct plugin_event *ev)
{
    switch (ev->kind) {
    case PLUGIN_EV_LOG:
        log_msg(plugin_log_level_of(ev->level), "%s", ev->text);
        return;
    case PLUGIN_EV_START_FAILED:
        log_error("[plugin:%s]: cannot start on this worker: %s", ev->plugin, ev->text);
        return;
    case PLUGIN_EV_VM_REPLACED:
        log_warn("[plugin:%s]: a fresh VM replaces the failed one", ev->plugin);
        return;
    case PLUGIN_EV_ROOT_DONE_TIMEOUT:
        log_warn("[plugin:%s]: no proxy_done in time after proxy_on_done: the root context "
                 "ends now",
                 ev->plugin);
        return;
    default:
        break;
    }
    if (!log_enabled(LOG_LVL_DEBUG))
        return;
    switch (ev->kind) {
    case PLUGIN_EV_CALLBACK:
        log_debug("[plugin:%s] %s -> %s", ev->plugin, ev->callback, ev->result);
        break;
    case PLUGIN_EV_CONTINUE:
        log_debug("[plugin:%s] continue %s", ev->plugin, ev->dir ? "response" : "request");
        break;
    case PLUGIN_EV_CLOSE:
        log_debug("[plugin:%s] close %s", ev->plugin, ev->dir ? "response" : "request");
        break;
    case PLUGIN_EV_LOCAL_REPLY:
        log_debug("[plugin:%s] local reply %u (%s)", ev->plugin, ev->status, ev->text);
        break;
    case PLUGIN_EV_FAIL_OPEN:
        log_debug("[plugin:%s] failed: the stream goes on without it", ev->plugin);
        break;
    case PLUGIN_EV_FAIL_CLOSED:
        log_debug("[plugin:%s] failed: the stream gets 503", ev->plugin);
        break;
    case PLUGIN_EV_TICK:
        log_debug("[plugin:%s] tick", ev->plugin);
        break;
    case PLUGIN_EV_QUEUE_READY:
        log_debug("queue %u ready", ev->queue);
        break;
    case PLUGIN_EV_CALLOUT:
        log_debug("[plugin:%s] callout %u to %s: %s %s", ev->plugin, ev->token, ev->upstream,
                  ev->method ? ev->method : "-", ev->path ? ev->path : "-");
        break;
    case PLUGIN_EV_CALLOUT_RESPONSE:
        log_debug("[plugin:%s] callout %u answered: %s", ev->plugin, ev->token, ev->text);
        break;
    case PLUGIN_EV_CALLOUT_CANCELLED:
        log_debug("[plugin:%s] callout %u cancelled", ev->plugin, ev->token);
        break;
    case PLUGIN_EV_STARTED:
        log_debug("[plugin:%s] started (ABI %s)", ev->plugin, ev->abi);
        break;
    case PLUGIN_EV_ROOT_DONE_PENDING:
        log_debug("[plugin:%s] proxy_on_done: not done yet, waiting for proxy_done", ev->plugin);
        break;
    case PLUGIN_EV_HOSTCALL:
        log_debug("[plugin:%s] %s(%s) -> %s%s%s", ev->plugin, ev->hostcall, ev->text, ev->result,
                  ev->results[0] ? " " : "", ev->results);
        break;
    default:
        break;
    }
}

void plugin_emit(struct plugin_worker *w, const struct plugin_event *ev)
{
    if (w->obs.event == NULL)
        return;
    if (ev->stream == NULL && w->cur_stream != NULL) {
        struct plugin_event e = *ev;
        e.stream = w->cur_stream;
        w->obs.event(w->obs.arg, &e);
        return;
    }
    w->obs.event(w->obs.arg, ev);
}

/* ---- workers ------------------------------------------------------------------------------ */

struct plugin_worker *plugin_current_worker(void)
{
    return plugin_tls_worker;
}

void plugin_worker_bind(struct plugin_worker *w)
{
    plugin_tls_worker = w;
}

void plugin_worker_set_observer(struct plugin_worker *w, const struct plugin_observer *o)
{
    w->obs = *o;
}

void plugin_worker_set_log_level(struct plugin_worker *w, enum pw_log_level level)
{
    w->log_level = level;
}

static bool plugin_vm_is_live(struct plugin_worker *w, struct pw_vm *vm)
{
    for (struct plugin_instances *inst = w->all; inst != NULL; inst = inst->next) {
        for (size_t g = 0; g < inst->set->n_groups; g++) {
            struct plugin_slot *sl = &inst->slots[g];
            if (sl->vm != NULL && sl->vm->vm == vm)
                return true;
            for (struct plugin_vm *r = sl->retired; r != NULL; r = r->next)
                if (r->vm == vm)
                    return true;
        }
    }
    return false;
}

/* Queue wake-ups posted by any thread: delivered here, on the VM's own thread; those for
 * a VM that is gone are dropped. */
static void plugin_mbox_cb(evutil_socket_t fd, short what, void *arg)
{
    struct plugin_worker *w = arg;
    char drain[64];
    while (read(fd, drain, sizeof(drain)) > 0) {
    }
    pthread_mutex_lock(&w->mbox_lock);
    struct plugin_wake *list = w->mbox;
    w->mbox = NULL;
    pthread_mutex_unlock(&w->mbox_lock);
    /* Posted in order: the list is newest first. */
    struct plugin_wake *rev = NULL;
    while (list != NULL) {
        struct plugin_wake *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    while (rev != NULL) {
        struct plugin_wake *wk = rev;
        rev = wk->next;
        if (plugin_vm_is_live(w, wk->vm)) {
            plugin_emit(w,
                        &(struct plugin_event){.kind = PLUGIN_EV_QUEUE_READY, .queue = wk->queue});
            pw_vm_queue_ready(wk->vm, wk->ctx, wk->queue);
        }
        free(wk);
    }
}

struct plugin_worker *plugin_worker_new(struct event_base *base, unsigned index,
                                        const struct plugin_env_ops *env_ops, void *env,
                                        bool virtual_clock, void *daemon_worker)
{
    struct plugin_worker *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->base = base;
    w->index = index;
    w->env_ops = env_ops;
    w->env = env;
    w->virtual_clock = virtual_clock;
    w->daemon_worker = daemon_worker;
    w->obs = (struct plugin_observer){plugin_log_event, NULL};
    w->log_level = log_enabled(LOG_LVL_DEBUG) ? PW_LOG_DEBUG : PW_LOG_INFO;
    w->grace_ms = PLUGIN_SHUTDOWN_GRACE_MS;
    pthread_mutex_init(&w->mbox_lock, NULL);
    if (pipe2(w->mbox_fd, O_NONBLOCK | O_CLOEXEC) < 0) {
        pthread_mutex_destroy(&w->mbox_lock);
        free(w);
        return NULL;
    }
    event_assign(&w->mbox_ev, base, w->mbox_fd[0], EV_READ | EV_PERSIST, plugin_mbox_cb, w);
    event_add(&w->mbox_ev, NULL);
    return w;
}

unsigned plugin_worker_live(const struct plugin_worker *w)
{
    unsigned n = 0;
    for (const struct plugin_instances *i = w->all; i != NULL; i = i->next)
        n++;
    return n;
}

void plugin_worker_serve(struct plugin_worker *w, struct plugin_set *set)
{
    struct plugin_instances *old = w->current;
    w->current = NULL;
    if (set != NULL) {
        w->current = plugin_instances_get(w, set);
        if (w->current != NULL)
            plugin_instances_ref(w->current);
        else
            log_error("worker %u: cannot start the plugins: out of memory", w->index);
    }
    if (old != NULL)
        plugin_instances_unref(old);
}

void plugin_worker_shutdown(struct plugin_worker *w, uint64_t grace_ms)
{
    w->grace_ms = grace_ms;
    plugin_worker_serve(w, NULL);
    if (grace_ms == 0)
        while (w->all != NULL)
            plugin_instances_destroy(w->all);
}

void plugin_worker_free(struct plugin_worker *w)
{
    if (w == NULL)
        return;
    plugin_worker_shutdown(w, 0);
    event_del(&w->mbox_ev);
    close(w->mbox_fd[0]);
    close(w->mbox_fd[1]);
    while (w->mbox != NULL) {
        struct plugin_wake *n = w->mbox->next;
        free(w->mbox);
        w->mbox = n;
    }
    pthread_mutex_destroy(&w->mbox_lock);
    if (plugin_tls_worker == w)
        plugin_tls_worker = NULL;
    free(w);
}

/* ---- VMs: the clone step -------------------------------------------------------------- */

static void plugin_tick_cb(struct plugin_timer *t);

/*
 * Makes a VM of group g for a worker: a copy-on-write clone of the group's image (its
 * language runtime already initialised, once per generation), then a root context per
 * member (on_context_create, on_vm_start, on_configure). Every worker VM, and every fresh
 * VM of the reload policy, comes from here. @return the VM, or NULL with the reason in
 * err.
 */
static struct plugin_vm *plugin_vm_clone(struct plugin_slot *sl, char *err, size_t errlen)
{
    struct plugin_instances *inst = sl->inst;
    struct plugin_set *set = inst->set;
    const struct plugin_group *gr = &set->groups[sl->group];
    struct plugin_vm *pvm = calloc(1, sizeof(*pvm));
    if (pvm == NULL || (pvm->roots = calloc(gr->n_members, sizeof(*pvm->roots))) == NULL) {
        free(pvm);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pvm->slot = sl;
    struct pw_vm_config vc = gr->vmcfg;
    vc.userdata = pvm;
    vc.sandbox = inst->canary;
    /* The canary made the image (a set whose image failed is refused). */
    pvm->vm = pw_vm_new_from_image(gr->image, &vc, &plugin_host_ops, inst->w, err, errlen);
    if (pvm->vm == NULL) {
        free(pvm->roots);
        free(pvm);
        return NULL;
    }
    for (size_t k = 0; k < gr->n_members; k++) {
        size_t i = gr->members[k];
        const struct cfg_plugin *p = set->plugins[i].cfg;
        struct plugin_root *pr = &pvm->roots[k];
        pr->pvm = pvm;
        pr->plugin = i;
        plugin_timer_init(&pr->tick, inst->w, plugin_tick_cb);
        struct pw_plugin_config pc = {
            .name = p->name,
            .root_id = p->root_id,
            .configuration = (const uint8_t *)p->configuration,
            .configuration_len = p->configuration_len,
            .userdata = pr,
        };
        pr->root = pw_root_new(pvm->vm, &pc, err, errlen);
        if (pr->root == NULL) {
            pw_vm_free(pvm->vm);
            free(pvm->roots);
            free(pvm);
            return NULL;
        }
        plugin_emit(inst->w, &(struct plugin_event){.kind = PLUGIN_EV_STARTED,
                                                    .plugin = p->name,
                                                    .abi = pw_abi_name(pw_vm_abi(pvm->vm)),
                                                    .vm_of = k > 0 ? gr->first->name : NULL});
    }
    return pvm;
}

static void plugin_vm_free(struct plugin_vm *pvm)
{
    pw_vm_free(pvm->vm); /* ends what is left: roots get root_deleted */
    free(pvm->roots);
    free(pvm);
}

/* Starts the slot of group g in inst (its VM, or the failure). */
struct plugin_slot *plugin_slot_start(struct plugin_instances *inst, size_t g, char *err,
                                      size_t errlen)
{
    struct plugin_slot *sl = &inst->slots[g];
    sl->inst = inst;
    sl->group = g;
    sl->vm = plugin_vm_clone(sl, err, errlen);
    if (sl->vm == NULL) {
        sl->failures = 1;
        sl->last_fail_ms = plugin_worker_now_ms(inst->w);
        sl->retry_at_ms = sl->last_fail_ms + 1000;
    }
    return sl;
}

/* Whether every VM of inst is gone (freed). */
static bool plugin_instances_empty(const struct plugin_instances *inst)
{
    for (size_t g = 0; g < inst->set->n_groups; g++)
        if (inst->slots[g].vm != NULL || inst->slots[g].retired != NULL)
            return false;
    return true;
}

static void plugin_instances_destroy(struct plugin_instances *inst)
{
    struct plugin_worker *w = inst->w;
    for (size_t g = 0; inst->slots != NULL && g < inst->set->n_groups; g++) {
        struct plugin_slot *sl = &inst->slots[g];
        if (sl->vm != NULL) {
            plugin_vm_free(sl->vm);
            sl->vm = NULL;
        }
        while (sl->retired != NULL) {
            struct plugin_vm *r = sl->retired;
            sl->retired = r->next;
            plugin_vm_free(r);
        }
    }
    plugin_timer_cancel(&inst->grace);
    plugin_timer_cancel(&inst->reap);
    for (struct plugin_instances **pp = &w->all; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == inst) {
            *pp = inst->next;
            break;
        }
    }
    if (w->index < inst->set->n_workers && inst->set->per_worker[w->index] == inst)
        inst->set->per_worker[w->index] = NULL;
    if (w->current == inst)
        w->current = NULL;
    free(inst->slots);
    plugin_set_unref(inst->set);
    free(inst);
}

struct plugin_instances *plugin_instances_get(struct plugin_worker *w, struct plugin_set *set)
{
    if (w->index < set->n_workers && set->per_worker[w->index] != NULL)
        return set->per_worker[w->index];
    struct plugin_instances *inst = calloc(1, sizeof(*inst));
    if (inst == NULL)
        return NULL;
    inst->slots = calloc(set->n_groups ? set->n_groups : 1, sizeof(*inst->slots));
    if (inst->slots == NULL) {
        free(inst);
        return NULL;
    }
    inst->w = w;
    inst->set = plugin_set_ref(set);
    inst->next = w->all;
    w->all = inst;
    plugin_timer_init(&inst->grace, w, plugin_grace_cb);
    plugin_timer_init(&inst->reap, w, plugin_reap_cb);
    if (w->index < set->n_workers)
        set->per_worker[w->index] = inst;
    for (size_t g = 0; g < set->n_groups; g++) {
        char err[2048];
        struct plugin_slot *sl = plugin_slot_start(inst, g, err, sizeof(err));
        if (sl->vm == NULL)
            plugin_emit(w, &(struct plugin_event){.kind = PLUGIN_EV_START_FAILED,
                                                  .plugin = set->groups[g].first->name,
                                                  .text = err});
    }
    return inst;
}

void plugin_instances_ref(struct plugin_instances *inst)
{
    inst->refs++;
}

/* The grace for proxy_done is over: the roots still waiting are reported, then ended. */
static void plugin_grace_cb(struct plugin_timer *t)
{
    struct plugin_instances *inst =
        (struct plugin_instances *)((char *)t - offsetof(struct plugin_instances, grace));
    for (size_t g = 0; g < inst->set->n_groups; g++) {
        struct plugin_slot *sl = &inst->slots[g];
        for (struct plugin_vm *v = sl->vm != NULL ? sl->vm : sl->retired; v != NULL;
             v = v == sl->vm ? sl->retired : v->next) {
            for (size_t k = 0; k < inst->set->groups[g].n_members; k++) {
                const struct plugin_root *pr = &v->roots[k];
                if (pr->root != NULL)
                    plugin_emit(inst->w, &(struct plugin_event){
                                             .kind = PLUGIN_EV_ROOT_DONE_TIMEOUT,
                                             .plugin = plugin_name(inst->set, pr->plugin)});
            }
        }
    }
    plugin_instances_destroy(inst);
}

/* Ends the roots of pvm (on_done; on_delete now or after proxy_done). @return true when
 * every root is gone. */
static bool plugin_vm_end_roots(struct plugin_vm *pvm)
{
    bool all = true;
    struct plugin_instances *inst = pvm->slot->inst;
    size_t n = inst->set->groups[pvm->slot->group].n_members;
    for (size_t k = 0; k < n; k++) {
        struct plugin_root *pr = &pvm->roots[k];
        if (pr->root != NULL && !pw_root_shutdown(pr->root)) {
            all = false;
            plugin_emit(inst->w,
                        &(struct plugin_event){.kind = PLUGIN_EV_ROOT_DONE_PENDING,
                                               .plugin = plugin_name(inst->set, pr->plugin)});
        }
    }
    return all;
}

/* Frees the VMs of an ending inst whose roots are all gone and that carry no stream;
 * frees inst when none is left. */
static void plugin_instances_reap(struct plugin_instances *inst)
{
    for (size_t g = 0; g < inst->set->n_groups; g++) {
        struct plugin_slot *sl = &inst->slots[g];
        if (sl->vm != NULL) {
            sl->vm->retired = true;
            sl->vm->next = sl->retired;
            sl->retired = sl->vm;
            sl->vm = NULL;
        }
        for (struct plugin_vm **pp = &sl->retired; *pp != NULL;) {
            struct plugin_vm *r = *pp;
            bool roots_gone = true;
            size_t n = inst->set->groups[g].n_members;
            for (size_t k = 0; k < n; k++)
                if (r->roots[k].root != NULL)
                    roots_gone = false;
            if (r->streams == 0 && (roots_gone || pw_vm_failed(r->vm))) {
                *pp = r->next;
                plugin_vm_free(r);
            } else {
                pp = &r->next;
            }
        }
    }
    if (plugin_instances_empty(inst))
        plugin_instances_destroy(inst);
}

void plugin_instances_unref(struct plugin_instances *inst)
{
    if (--inst->refs > 0)
        return;
    struct plugin_worker *w = inst->w;
    inst->ending = true;
    if (w->index < inst->set->n_workers && inst->set->per_worker[w->index] == inst)
        inst->set->per_worker[w->index] = NULL;
    bool all = true;
    for (size_t g = 0; g < inst->set->n_groups; g++) {
        struct plugin_slot *sl = &inst->slots[g];
        if (sl->vm != NULL && !pw_vm_failed(sl->vm->vm) && !plugin_vm_end_roots(sl->vm))
            all = false;
    }
    if (!all && w->grace_ms > 0) {
        /* Roots wait for proxy_done; they get grace_ms of the worker's clock. */
        plugin_timer_arm(&inst->grace, w->grace_ms);
        return;
    }
    if (!all) {
        plugin_instances_destroy(inst);
        return;
    }
    plugin_instances_reap(inst);
}

static void plugin_reap_cb(struct plugin_timer *t)
{
    plugin_instances_reap(
        (struct plugin_instances *)((char *)t - offsetof(struct plugin_instances, reap)));
}

void plugin_vm_stream_done(struct plugin_vm *pvm)
{
    pvm->streams--;
    if (!pvm->retired || pvm->streams > 0)
        return;
    struct plugin_slot *sl = pvm->slot;
    if (sl->inst->ending) {
        plugin_instances_reap(sl->inst);
        return;
    }
    for (struct plugin_vm **pp = &sl->retired; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == pvm) {
            *pp = pvm->next;
            plugin_vm_free(pvm);
            return;
        }
    }
}

/* Back-off before the n-th fresh VM after consecutive failures: 0, 1 s, 2 s, 4 s ... 60 s. */
static uint64_t plugin_backoff_ms(unsigned failures)
{
    if (failures <= 1)
        return 0;
    if (failures - 2 >= 6)
        return PLUGIN_BACKOFF_MAX_MS;
    uint64_t ms = 1000ull << (failures - 2);
    return ms < PLUGIN_BACKOFF_MAX_MS ? ms : PLUGIN_BACKOFF_MAX_MS;
}

struct plugin_vm *plugin_vm_for_stream(struct plugin_instances *inst, size_t plugin)
{
    struct plugin_set *set = inst->set;
    struct plugin_slot *sl = &inst->slots[set->plugins[plugin].group];
    if (sl->vm != NULL && !pw_vm_failed(sl->vm->vm))
        return sl->vm;
    if (set->plugins[plugin].cfg->failure_policy != CFG_FAIL_RELOAD)
        return NULL;
    uint64_t now = plugin_worker_now_ms(inst->w);
    if (now < sl->retry_at_ms)
        return NULL; /* backing off: fail closed meanwhile */
    char err[2048];
    struct plugin_vm *pvm = plugin_vm_clone(sl, err, sizeof(err));
    const char *name = set->plugins[plugin].cfg->name;
    if (pvm == NULL) {
        sl->failures++;
        sl->last_fail_ms = now;
        sl->retry_at_ms =
            now +
            (plugin_backoff_ms(sl->failures + 1) ? plugin_backoff_ms(sl->failures + 1) : 1000);
        plugin_emit(inst->w, &(struct plugin_event){
                                 .kind = PLUGIN_EV_START_FAILED, .plugin = name, .text = err});
        return NULL;
    }
    sl->vm = pvm;
    plugin_emit(inst->w, &(struct plugin_event){.kind = PLUGIN_EV_VM_REPLACED, .plugin = name});
    return pvm;
}

/* The slot's VM failed: retire it (freed with its last stream); the next VM may come
 * after the back-off. */
static void plugin_vm_failed_cb(struct plugin_vm *pvm)
{
    struct plugin_slot *sl = pvm->slot;
    if (sl->vm != pvm)
        return;
    uint64_t now = plugin_worker_now_ms(sl->inst->w);
    if (sl->failures > 0 && now - sl->last_fail_ms > PLUGIN_BACKOFF_RESET_MS)
        sl->failures = 0;
    sl->failures++;
    sl->last_fail_ms = now;
    sl->retry_at_ms = now + plugin_backoff_ms(sl->failures);
    sl->vm = NULL;
    pvm->retired = true;
    pvm->next = sl->retired;
    sl->retired = pvm;
    /* Roots of a failed VM get no more ticks. */
    size_t n = sl->inst->set->groups[sl->group].n_members;
    for (size_t k = 0; k < n; k++)
        plugin_timer_cancel(&pvm->roots[k].tick);
}

/* ---- host operations of roots ---------------------------------------------------------- */

static void plugin_tick_cb(struct plugin_timer *t)
{
    struct plugin_root *pr = (struct plugin_root *)((char *)t - offsetof(struct plugin_root, tick));
    if (pr->root == NULL || pr->tick_ms == 0)
        return;
    plugin_timer_arm(&pr->tick, pr->tick_ms); /* on_tick may change the period */
    struct plugin_set *set = pr->pvm->slot->inst->set;
    plugin_emit(t->w, &(struct plugin_event){.kind = PLUGIN_EV_TICK,
                                             .plugin = plugin_name(set, pr->plugin)});
    pw_root_tick(pr->root);
}

static void host_set_tick_period(void *host, struct pw_root *root, uint32_t period_ms)
{
    struct plugin_root *pr = pw_root_userdata(root);
    pr->tick_ms = period_ms;
    if (period_ms == 0)
        plugin_timer_cancel(&pr->tick);
    else
        plugin_timer_arm(&pr->tick, period_ms);
}

static enum pw_status host_http_call(void *host, struct pw_root *root, uint32_t token,
                                     const struct pw_http_call *call)
{
    return plugin_callout_start(pw_root_userdata(root), token, call);
}

static void host_cancel_http_call(void *host, struct pw_root *root, uint32_t token)
{
    plugin_callout_cancel(pw_root_userdata(root), token);
}

/* [any thread] host is the VM's worker, alive as long as the process runs its threads. */
static void host_post_queue_ready(void *host, struct pw_vm *vm, uint32_t ctx, uint32_t queue)
{
    struct plugin_worker *w = host;
    struct plugin_wake *wk = malloc(sizeof(*wk));
    if (wk == NULL)
        return;
    *wk = (struct plugin_wake){.vm = vm, .ctx = ctx, .queue = queue};
    pthread_mutex_lock(&w->mbox_lock);
    bool was_empty = w->mbox == NULL;
    wk->next = w->mbox;
    w->mbox = wk;
    pthread_mutex_unlock(&w->mbox_lock);
    if (was_empty) {
        ssize_t r;
        do {
            r = write(w->mbox_fd[1], "q", 1);
        } while (r < 0 && errno == EINTR);
    }
}

static void host_log(void *host, enum pw_log_level level, const char *line, size_t len)
{
    struct plugin_worker *w = host;
    char buf[4096];
    size_t n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;
    memcpy(buf, line, n);
    buf[n] = '\0';
    plugin_emit(w, &(struct plugin_event){.kind = PLUGIN_EV_LOG, .level = level, .text = buf});
}

static enum pw_log_level host_log_level(void *host)
{
    return ((struct plugin_worker *)host)->log_level;
}

uint64_t plugin_host_clock_ns(void *host, bool monotonic)
{
    struct plugin_worker *w = host;
    if (monotonic)
        return plugin_worker_now_ms(w) * 1000000u;
    if (w->env_ops != NULL && w->env_ops->wall_ns != NULL)
        return w->env_ops->wall_ns(w->env);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void host_root_deleted(void *host, struct pw_root *root)
{
    struct plugin_root *pr = pw_root_userdata(root);
    struct plugin_instances *inst = pr->pvm->slot->inst;
    plugin_timer_cancel(&pr->tick);
    pr->tick_ms = 0;
    pr->root = NULL;
    if (inst->ending) {
        plugin_emit(inst->w, &(struct plugin_event){.kind = PLUGIN_EV_ROOT_DELETED,
                                                    .plugin = plugin_name(inst->set, pr->plugin)});
        /* Maybe its VM can go now; not from here (pw_vm_free may be on the stack). */
        if (inst->refs == 0)
            plugin_timer_arm(&inst->reap, 0);
    }
}

/* A traced hostcall (pw_vm_config.trace): reported as its own event, for the stream whose
 * context made it (or none for a root). */
static void host_trace(void *host, const struct pw_trace *t)
{
    plugin_emit(host,
                &(struct plugin_event){.kind = PLUGIN_EV_HOSTCALL,
                                       .plugin = t->plugin,
                                       .stream = plugin_fstate_stream(t->stream),
                                       .hostcall = t->hostcall,
                                       .text = t->args,
                                       .result = t->trapped ? "trap" : pw_status_name(t->status),
                                       .results = t->results,
                                       .token = t->context_id});
}

static void host_vm_failed(void *host, struct pw_vm *vm, const char *plugin, const char *callback,
                           const char *reason, const char *backtrace)
{
    struct plugin_worker *w = host;
    struct plugin_vm *pvm = pw_vm_userdata(vm);
    plugin_emit(w, &(struct plugin_event){.kind = PLUGIN_EV_TRAP,
                                          .plugin = plugin,
                                          .callback = callback,
                                          .text = reason,
                                          .backtrace = backtrace});
    if (pvm != NULL && pvm->slot != NULL)
        plugin_vm_failed_cb(pvm);
}

/* The clusters of the VM's own set (a worker serves several during a reload). */
static bool host_upstream_exists(void *host, struct pw_vm *vm, const char *name)
{
    struct plugin_vm *pvm = pw_vm_userdata(vm);
    if (pvm == NULL || pvm->slot == NULL)
        return false;
    return plugin_cluster_known(host, pvm->slot->inst->set, name);
}

const struct pw_host_ops plugin_host_ops = {
    .stream_map = plugin_host_stream_map,
    .stream_buffer = plugin_host_stream_buffer,
    .stream_info = plugin_host_stream_info,
    .continue_stream = plugin_host_continue_stream,
    .close_stream = plugin_host_close_stream,
    .send_local_response = plugin_host_send_local_response,
    .http_call = host_http_call,
    .cancel_http_call = host_cancel_http_call,
    .set_tick_period = host_set_tick_period,
    .post_queue_ready = host_post_queue_ready,
    .get_property = plugin_host_get_property,
    .log = host_log,
    .log_level = host_log_level,
    .clock_ns = plugin_host_clock_ns,
    .root_deleted = host_root_deleted,
    .vm_failed = host_vm_failed,
    .upstream_exists = host_upstream_exists,
    .trace = host_trace,
};
