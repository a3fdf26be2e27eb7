/*
 * main.c - waspd: flags, configuration load, worker start-up, and the main thread's
 * event loop: SIGHUP reloads the configuration as a new generation, SIGTERM/SIGINT
 * drain in-flight requests up to [daemon] drain_timeout, SIGUSR1 reopens the logs.
 */
#include "config/config.h"
#include "daemon/sdnotify.h"
#include "daemon/worker.h"
#include "log/log.h"

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef WASP_DEFAULT_CONFIG
#define WASP_DEFAULT_CONFIG "/etc/wasp/waspd.ini"
#endif

struct daemon {
    const char *config_path;
    struct event_base *base;
    struct daemon_gen *gen;
    struct worker *workers;
    unsigned n_workers;
    bool draining;
    struct event *drain_deadline;
    struct event *drain_poll;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: waspd [-c FILE] [-t] [-h]\n"
                 "\n"
                 "  -c FILE  configuration file (default " WASP_DEFAULT_CONFIG ")\n"
                 "  -t       check the configuration file, print every error, and exit:\n"
                 "           0 when it is valid, 1 otherwise\n"
                 "  -h       print this help and exit\n"
                 "\n"
                 "signals:\n"
                 "  SIGHUP   reload the configuration (a bad file keeps the running one)\n"
                 "  SIGTERM  stop accepting, drain in-flight requests up to drain_timeout, exit\n"
                 "  SIGINT   same as SIGTERM\n"
                 "  SIGUSR1  reopen the log files\n");
}

static enum log_level map_level(enum cfg_log_level l)
{
    switch (l) {
    case CFG_LOG_ERROR:
        return LOG_LVL_ERROR;
    case CFG_LOG_WARN:
        return LOG_LVL_WARN;
    case CFG_LOG_NOTICE:
    case CFG_LOG_INFO:
        return LOG_LVL_INFO;
    default:
        return LOG_LVL_DEBUG;
    }
}

static const char *log_dest_path(const struct cfg_log_dest *d)
{
    switch (d->kind) {
    case CFG_LOG_OFF:
        return "off";
    case CFG_LOG_STDERR:
        return "stderr";
    case CFG_LOG_STDOUT:
        return "stdout";
    default:
        return d->path;
    }
}

static void print_errors(const struct cfg_errors *e, bool to_log)
{
    for (size_t i = 0; i < e->count; i++) {
        if (!to_log) {
            fprintf(stderr, "%s\n", e->items[i]);
            continue;
        }
        /* A message over several lines (a plugin's log lines under its error): one log
         * line each, so that every line has its time and level. */
        for (const char *l = e->items[i]; l != NULL;) {
            const char *nl = strchr(l, '\n');
            log_error("%.*s", nl != NULL ? (int)(nl - l) : (int)strlen(l), l);
            l = nl != NULL ? nl + 1 : NULL;
        }
    }
}

/*
 * Loads and derives a runtime generation for n_workers workers (0: as the file says).
 * @return it, or NULL (errors printed/logged).
 */
static struct daemon_gen *load_gen(const char *path, unsigned n_workers, bool to_log)
{
    struct cfg_errors errors = {0};
    const struct cfg_generation *cfg = cfg_load(path, &errors);
    struct daemon_gen *g = NULL;
    if (cfg != NULL) {
        unsigned n = n_workers ? n_workers : cfg->daemon.workers ? cfg->daemon.workers : 1;
        g = daemon_gen_new(cfg, n, &errors);
    }
    if (g == NULL)
        print_errors(&errors, to_log);
    cfg_errors_free(&errors);
    return g;
}

/* True if some listener of g is bound on exactly this address. */
static bool gen_has_address(const struct daemon_gen *g, const struct cfg_address *a)
{
    if (g == NULL)
        return false;
    for (size_t i = 0; i < g->n_listeners; i++) {
        const struct cfg_address *b = &g->listeners[i].cfg->address;
        if (b->sa_len == a->sa_len && memcmp(&b->sa, &a->sa, a->sa_len) == 0)
            return true;
    }
    return false;
}

/*
 * Checks that every new listener address of g can be bound (before any worker tries),
 * so a reload never half-applies. @return 0 or -1 (errors logged or printed).
 */
static int probe_listeners(const struct daemon_gen *g, const struct daemon_gen *running,
                           bool to_log)
{
    int rc = 0;
    for (size_t i = 0; i < g->n_listeners; i++) {
        const struct cfg_listener *l = g->listeners[i].cfg;
        if (l->protocol == CFG_LISTENER_TCP) {
            if (to_log)
                log_warn("[listener:%s]: protocol = tcp is not served yet, skipped", l->name);
            else
                fprintf(stderr, "waspd: [listener:%s]: protocol = tcp is not served yet, skipped\n",
                        l->name);
            continue;
        }
        if (gen_has_address(running, &l->address))
            continue;
        if (worker_probe_address((const struct sockaddr *)&l->address.sa, l->address.sa_len) < 0) {
            if (to_log)
                log_error("[listener:%s]: cannot listen on %s: %s", l->name, l->address.text,
                          strerror(errno));
            else
                fprintf(stderr, "[listener:%s]: cannot listen on %s: %s\n", l->name,
                        l->address.text, strerror(errno));
            rc = -1;
        }
    }
    return rc;
}

static void do_reload(struct daemon *d)
{
    if (d->draining)
        return;
    log_info("reloading %s", d->config_path);
    sdnotify_reloading();
    struct daemon_gen *g = load_gen(d->config_path, d->n_workers, true);
    if (g != NULL && probe_listeners(g, d->gen, true) < 0) {
        daemon_gen_unref(g);
        g = NULL;
    }
    if (g == NULL) {
        log_error("reload failed: keeping configuration generation %llu",
                  (unsigned long long)d->gen->cfg->number);
        sdnotify_status("reload failed, serving generation %llu",
                        (unsigned long long)d->gen->cfg->number);
        sdnotify_ready();
        return;
    }
    if (g->cfg->daemon.workers != d->n_workers)
        log_warn("workers = %u takes effect at the next restart (running %u)",
                 g->cfg->daemon.workers, d->n_workers);
    log_set_level(map_level(g->cfg->daemon.log_level));
    for (unsigned i = 0; i < d->n_workers; i++) {
        daemon_gen_ref(g);
        if (worker_post(&d->workers[i], WORKER_MSG_GEN, g) < 0) {
            log_error("worker %u: cannot post the new generation", i);
            daemon_gen_unref(g);
        }
    }
    daemon_gen_unref(d->gen);
    d->gen = g;
    log_info("configuration generation %llu is live", (unsigned long long)g->cfg->number);
    sdnotify_status("serving generation %llu", (unsigned long long)g->cfg->number);
    sdnotify_ready();
}

static void drain_poll_cb(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    for (unsigned i = 0; i < d->n_workers; i++)
        if (!atomic_load(&d->workers[i].exited))
            return;
    event_base_loopexit(d->base, NULL);
}

static void drain_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    log_warn("drain deadline reached: closing the remaining connections");
    for (unsigned i = 0; i < d->n_workers; i++)
        worker_post(&d->workers[i], WORKER_MSG_STOP, NULL);
}

static void start_drain(struct daemon *d)
{
    if (d->draining) {
        log_warn("second stop signal: closing every connection now");
        drain_deadline_cb(-1, 0, d);
        return;
    }
    d->draining = true;
    sdnotify_stopping();
    uint64_t ms = d->gen->cfg->daemon.drain_timeout_ms;
    log_info("draining (up to %llu ms)", (unsigned long long)ms);
    for (unsigned i = 0; i < d->n_workers; i++)
        worker_post(&d->workers[i], WORKER_MSG_DRAIN, NULL);
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    d->drain_deadline = evtimer_new(d->base, drain_deadline_cb, d);
    evtimer_add(d->drain_deadline, &tv);
    d->drain_poll = event_new(d->base, -1, EV_PERSIST, drain_poll_cb, d);
    struct timeval poll = {0, 20000};
    event_add(d->drain_poll, &poll);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;
    switch (sig) {
    case SIGHUP:
        do_reload(d);
        break;
    case SIGUSR1:
        log_info("reopening log files");
        log_reopen();
        break;
    default:
        start_drain(d);
        break;
    }
}

static int write_pid_file(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%ld\n", (long)getpid());
    return fclose(f);
}

static int run(struct daemon *d)
{
    d->gen = load_gen(d->config_path, 0, false);
    if (d->gen == NULL)
        return 1;
    const struct cfg_daemon *dc = &d->gen->cfg->daemon;
    char err[512];
    if (log_open(log_dest_path(&dc->error_log), log_dest_path(&dc->access_log),
                 map_level(dc->log_level), err, sizeof(err)) < 0) {
        fprintf(stderr, "waspd: %s\n", err);
        return 1;
    }
    if (probe_listeners(d->gen, NULL, false) < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    /* Buffers come and go per request: keep freed memory instead of trimming the heap
     * (madvise) after every burst. */
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
    /* Workers never see the control signals: the main loop handles them. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, &old);

    /* The handlers exist before any worker does, so a signal in between is not lost
     * (it stays pending until the mask is restored below). */
    struct event *sigs[4] = {NULL, NULL, NULL, NULL};
    int signums[4] = {SIGHUP, SIGTERM, SIGINT, SIGUSR1};
    d->base = event_base_new();
    if (d->base == NULL)
        return 1;
    for (int i = 0; i < 4; i++) {
        sigs[i] = evsignal_new(d->base, signums[i], signal_cb, d);
        if (sigs[i] == NULL || event_add(sigs[i], NULL) < 0) {
            log_error("cannot install the signal handlers");
            goto free_signals;
        }
    }

    d->n_workers = dc->workers ? dc->workers : 1;
    d->workers = calloc(d->n_workers, sizeof(*d->workers));
    if (d->workers == NULL)
        goto free_signals;
    unsigned started = 0;
    for (; started < d->n_workers; started++) {
        if (worker_start(&d->workers[started], started, d->gen, err, sizeof(err)) < 0) {
            log_error("%s", err);
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    int status = 0;
    if (started < d->n_workers) {
        for (unsigned i = 0; i < started; i++)
            worker_post(&d->workers[i], WORKER_MSG_STOP, NULL);
        status = 1;
        goto join;
    }
    if (dc->pid_file != NULL && write_pid_file(dc->pid_file) < 0)
        log_warn("cannot write pid file %s: %s", dc->pid_file, strerror(errno));
    log_info("waspd %s: %u worker(s), configuration generation %llu", "0.1.0", d->n_workers,
             (unsigned long long)d->gen->cfg->number);
    sdnotify_status("serving generation %llu", (unsigned long long)d->gen->cfg->number);
    sdnotify_ready();

    event_base_dispatch(d->base);
    log_info("stopped");
join:
    for (unsigned i = 0; i < started; i++)
        worker_join(&d->workers[i]);
    free(d->workers);
    if (d->drain_deadline)
        event_free(d->drain_deadline);
    if (d->drain_poll)
        event_free(d->drain_poll);
    for (int i = 0; i < 4; i++)
        if (sigs[i] != NULL)
            event_free(sigs[i]);
    event_base_free(d->base);
    if (d->gen->cfg->daemon.pid_file != NULL)
        unlink(d->gen->cfg->daemon.pid_file);
    daemon_gen_unref(d->gen);
    return status;
free_signals:
    for (int i = 0; i < 4; i++)
        if (sigs[i] != NULL)
            event_free(sigs[i]);
    event_base_free(d->base);
    daemon_gen_unref(d->gen);
    return 1;
}

int main(int argc, char **argv)
{
    struct daemon d = {.config_path = WASP_DEFAULT_CONFIG};
    bool test = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:th")) != -1) {
        switch (opt) {
        case 'c':
            d.config_path = optarg;
            break;
        case 't':
            test = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "waspd: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (test) {
        log_set_level(LOG_LVL_WARN); /* only problems and the verdict */
        struct daemon_gen *g = load_gen(d.config_path, 0, false);
        if (g == NULL)
            return 1;
        daemon_gen_unref(g);
        printf("%s: configuration is valid\n", d.config_path);
        return 0;
    }
    return run(&d);
}
