/*
 * log.c - error log and access log (see log.h for the threading contract).
 */
#include "log/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define ACCESS_BUF_CAP 32768
#define ACCESS_LINE_MAX 2048

static int log_error_fd = STDERR_FILENO;
static int log_access_fd = -1;
static char *log_error_path;
static char *log_access_path;
static volatile int log_level_current = LOG_LVL_INFO;

static const char *const log_level_names[] = {"error", "warn", "info", "debug"};
static __thread const char *log_thread_tag;

uint64_t log_now_usec(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, log_level_names[i]) == 0)
            return i;
    return -1;
}

void log_set_level(enum log_level level)
{
    log_level_current = level;
}

bool log_enabled(enum log_level level)
{
    return (int)level <= log_level_current;
}

bool log_access_enabled(void)
{
    return log_access_fd >= 0;
}

/* Opens path for appending; "stdout"/"stderr" map to the streams. @return fd or -1. */
static int log_open_file(const char *path)
{
    if (strcmp(path, "stderr") == 0)
        return dup(STDERR_FILENO);
    if (strcmp(path, "stdout") == 0)
        return dup(STDOUT_FILENO);
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static int log_replace(int *fdp, char **pathp, const char *path, char *err, size_t errlen)
{
    int fd = log_open_file(path);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open log file %s: %s", path, strerror(errno));
        return -1;
    }
    char *copy = strdup(path);
    if (copy == NULL) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (*fdp >= 0 && *fdp != STDERR_FILENO) {
        /* Same descriptor number: writers on other threads never see it closed. */
        dup2(fd, *fdp);
        close(fd);
    } else {
        *fdp = fd;
    }
    free(*pathp);
    *pathp = copy;
    return 0;
}

int log_open(const char *error_path, const char *access_path, enum log_level level, char *err,
             size_t errlen)
{
    log_level_current = level;
    if (error_path != NULL && error_path[0] != '\0' && strcmp(error_path, "stderr") != 0) {
        if (log_replace(&log_error_fd, &log_error_path, error_path, err, errlen) < 0)
            return -1;
    }
    if (access_path != NULL && access_path[0] != '\0' && strcmp(access_path, "off") != 0) {
        if (log_replace(&log_access_fd, &log_access_path, access_path, err, errlen) < 0)
            return -1;
    }
    return 0;
}

int log_reopen(void)
{
    char err[256];
    int rc = 0;
    if (log_error_path != NULL &&
        log_replace(&log_error_fd, &log_error_path, log_error_path, err, sizeof(err)) < 0) {
        log_error("%s", err);
        rc = -1;
    }
    if (log_access_path != NULL &&
        log_replace(&log_access_fd, &log_access_path, log_access_path, err, sizeof(err)) < 0) {
        log_error("%s", err);
        rc = -1;
    }
    return rc;
}

/* Formats the wall clock as ISO 8601 UTC with milliseconds into buf (>= 32 bytes). */
static size_t log_format_time(char *buf, size_t cap, uint64_t usec)
{
    time_t sec = (time_t)(usec / 1000000u);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(buf + n, cap - n, ".%03uZ", (unsigned)(usec / 1000u % 1000u));
    return n;
}

void log_set_thread_tag(const char *tag)
{
    log_thread_tag = tag;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char line[4096];
    size_t n = log_format_time(line, sizeof(line), log_now_usec());
    n += (size_t)snprintf(line + n, sizeof(line) - n, " [%s] ", log_level_names[level]);
    if (log_thread_tag != NULL)
        n += (size_t)snprintf(line + n, sizeof(line) - n, "[%s] ", log_thread_tag);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    n += (size_t)m;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t w = write(log_error_fd, line, n);
    (void)w;
}

void log_access_init(struct log_access_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void log_access_flush(struct log_access_buf *b)
{
    if (b->len > 0 && log_access_fd >= 0) {
        ssize_t w = write(log_access_fd, b->data, b->len);
        (void)w;
    }
    b->len = 0;
}

void log_access_free(struct log_access_buf *b)
{
    log_access_flush(b);
    free(b->data);
    b->data = NULL;
    b->cap = 0;
}

/* Copies a request-line token, replacing bytes that would break the line format. */
static size_t log_copy_token(char *dst, size_t cap, const char *src, size_t len)
{
    size_t n = len < cap ? len : cap;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = (c < 0x21 || c == '"' || c >= 0x7f) ? '?' : (char)c;
    }
    return n;
}

void log_access_append(struct log_access_buf *b, const struct log_access_entry *e)
{
    if (log_access_fd < 0)
        return;
    if (b->data == NULL) {
        b->data = malloc(ACCESS_BUF_CAP);
        if (b->data == NULL)
            return;
        b->cap = ACCESS_BUF_CAP;
    }
    if (b->cap - b->len < ACCESS_LINE_MAX)
        log_access_flush(b);
    uint64_t sec = e->start_usec / 1000000u;
    if (sec != b->cached_sec) {
        time_t t = (time_t)sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(b->cached_time, sizeof(b->cached_time), "%Y-%m-%dT%H:%M:%S", &tm);
        b->cached_sec = sec;
    }
    char *p = b->data + b->len;
    char *end = b->data + b->cap;
    p += snprintf(p, (size_t)(end - p), "%s.%03uZ %s \"", b->cached_time,
                  (unsigned)(e->start_usec / 1000u % 1000u), e->client);
    p += log_copy_token(p, e->method_len < 32 ? e->method_len : 32, e->method, e->method_len);
    *p++ = ' ';
    p += log_copy_token(p, 1024, e->target, e->target_len);
    p += snprintf(p, (size_t)(end - p), " HTTP/%d.%d\" %d %llu %.3f ", e->http_major == 2 ? 2 : 1,
                  e->http_major == 2 ? 0 : e->http_minor, e->status,
                  (unsigned long long)e->bytes_sent, (double)e->duration_usec / 1e6);
    if (e->upstream != NULL && e->upstream_usec >= 0)
        p += snprintf(p, (size_t)(end - p), "%s %.3f\n", e->upstream,
                      (double)e->upstream_usec / 1e6);
    else
        p += snprintf(p, (size_t)(end - p), "- -\n");
    b->len = (size_t)(p - b->data);
}
