/*
 * sdnotify.c - the sd_notify datagram protocol (see sdnotify.h): readiness,
 * reload and stop notifications for systemd's Type=notify services.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sdnotify.h"

/* Fills `sun` from $NOTIFY_SOCKET's value. @return the address length, or 0
 * when the value is not a usable socket name. */
static socklen_t notify_address(const char *name, struct sockaddr_un *sun)
{
    size_t len = strlen(name);

    if ((name[0] != '/' && name[0] != '@') || len < 2 || len >= sizeof(sun->sun_path))
        return 0;
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, name, len);
    if (name[0] == '@') {
        /* Abstract namespace: a leading NUL, and the length counts exactly
         * the name's bytes (no terminating NUL). */
        sun->sun_path[0] = '\0';
        return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    }
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
}

int sdnotify_send(const char *state)
{
    const char *name = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sun;
    socklen_t sun_len;
    ssize_t sent;
    int fd, saved;

    if (name == NULL || name[0] == '\0')
        return 0;
    sun_len = notify_address(name, &sun);
    if (sun_len == 0) {
        errno = EINVAL;
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun, sun_len);
    saved = errno;
    close(fd);
    if (sent < 0) {
        errno = saved;
        return -1;
    }
    return 1;
}

int sdnotify_ready(void)
{
    return sdnotify_send("READY=1");
}

int sdnotify_reloading(void)
{
    struct timespec ts;
    char msg[64];

    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000ull);
    return sdnotify_send(msg);
}

int sdnotify_stopping(void)
{
    return sdnotify_send("STOPPING=1");
}

int sdnotify_status(const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    memcpy(msg, "STATUS=", 7);
    va_start(ap, fmt);
    vsnprintf(msg + 7, sizeof(msg) - 7, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if (*p == '\n')
            *p = ' ';
    return sdnotify_send(msg);
}
