/*
 * log.h - the error log (levels, one line per call, safe from any thread) and the access
 * log (one line per request, buffered per worker, flushed by size and on a timer).
 *
 * Both logs are plain file descriptors opened with O_APPEND: every line goes out in one
 * write(2), so workers need no lock. log_reopen() (SIGUSR1) swaps in freshly opened files
 * with dup2(2) on the same descriptor numbers, so writers never see a closed descriptor.
 */
#ifndef WASP_LOG_LOG_H
#define WASP_LOG_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN = 1, LOG_LVL_INFO = 2, LOG_LVL_DEBUG = 3 };

/*
 * Opens the logs. A NULL or empty path, or "stderr", means standard error for the error
 * log; for the access log NULL/empty means off, "stdout"/"stderr" the stream.
 * Main thread only, before workers start. @return 0, or -1 with a message in err.
 */
int log_open(const char *error_path, const char *access_path, enum log_level level, char *err,
             size_t errlen);

/* Reopens both files (SIGUSR1, log rotation). Main thread. @return 0 or -1 (logged). */
int log_reopen(void);

/* Changes the error log level (reload). */
void log_set_level(enum log_level level);

/* Parses "error|warn|info|debug". @return the level or -1. */
int log_level_parse(const char *s);

bool log_enabled(enum log_level level);

/*
 * Names the calling thread in its error-log lines ("worker 1": "TIME [level] [worker 1]
 * message"), as nginx's pid#tid and Envoy's [thread] do, so that what each worker (and
 * each worker's plugin VMs) did can be told apart. tag must outlive the thread's
 * logging (a string literal or the worker's own storage); NULL: no tag (the main thread).
 */
void log_set_thread_tag(const char *tag);

/* Writes one error-log line: time, level, [thread tag,] message. Any thread. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(LOG_LVL_DEBUG))                                                            \
            log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                                                   \
    } while (0)

/* What one access-log line says about a finished request. Strings need not be NUL-ended. */
struct log_access_entry {
    const char *client; /* "ip:port" */
    const char *method;
    size_t method_len;
    const char *target;
    size_t target_len;
    int http_minor;
    int http_major; /* 2: logged as HTTP/2.0 (else HTTP/1.minor) */
    int status;
    uint64_t bytes_sent; /* response bytes written to the client, head included */
    uint64_t start_usec; /* wall clock at the first byte of the request */
    uint64_t duration_usec;
    const char *upstream;  /* "ip:port" or NULL when answered locally */
    int64_t upstream_usec; /* -1 when no upstream was used */
};

/* A per-worker access-log buffer. Not thread-safe: one per worker. */
struct log_access_buf {
    char *data;
    size_t len, cap;
    uint64_t cached_sec;
    char cached_time[32];
};

bool log_access_enabled(void);
void log_access_init(struct log_access_buf *b);
void log_access_append(struct log_access_buf *b, const struct log_access_entry *e);
void log_access_flush(struct log_access_buf *b);
void log_access_free(struct log_access_buf *b);

/* Wall clock in microseconds. */
uint64_t log_now_usec(void);

#endif
