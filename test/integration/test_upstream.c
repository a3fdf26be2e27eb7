/*
 * test_upstream.c - a tiny misbehaving HTTP/1.1 upstream for the integration tests
 * (what nginx cannot easily do). One thread per connection, blocking I/O.
 *
 *   GET /slow/MS     answers "slow MS" after MS milliseconds
 *   GET /head        answers with the request head it received (forwarded headers)
 *   GET /hang        never answers (until the peer closes)
 *   GET /close       closes the connection without an answer
 *   GET /drop-next   answers 200 with keep-alive, then drops the NEXT request on this
 *                    connection without a byte (a pooled connection that died)
 *   anything else    answers "ok"
 *
 * A Content-Length or chunked request body is read and dropped. Every request is logged as
 * "request PATH" on stderr once its head arrived (tests wait for that line).
 *
 *        test_upstream notify PATH  (a systemd notify socket: binds a datagram socket at
 *        PATH and prints each message on stdout as one line, newlines shown as '|')
 *
 * Usage: test_upstream PORT [backlog0]  (listens on 127.0.0.1:PORT until killed; with
 *        backlog0 it never accepts, so that connecting times out once the queue is full)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void reply(int fd, const char *body)
{
    char buf[512];
    int n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %zu\r\n\r\n%s",
                     strlen(body), body);
    if (write(fd, buf, (size_t)n) < 0)
        return;
}

/* Reads one request head into buf. @return its length or -1 on EOF/error. */
static int read_head(int fd, char *buf, size_t cap, size_t *have)
{
    for (;;) {
        buf[*have] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end != NULL)
            return (int)(end - buf) + 4;
        if (*have + 1 >= cap)
            return -1;
        ssize_t r = read(fd, buf + *have, cap - 1 - *have);
        if (r <= 0)
            return -1;
        *have += (size_t)r;
    }
}

/* The next byte of the connection: from buf first, then from fd. @return it, or -1. */
static int next_byte(int fd, char *buf, size_t *have)
{
    if (*have > 0) {
        int c = (unsigned char)buf[0];
        memmove(buf, buf + 1, --*have);
        return c;
    }
    unsigned char c;
    return read(fd, &c, 1) == 1 ? c : -1;
}

/* Reads one line (without its CRLF) into line. @return 0, or -1 on EOF. */
static int next_line(int fd, char *buf, size_t *have, char *line, size_t cap)
{
    size_t n = 0;
    for (;;) {
        int c = next_byte(fd, buf, have);
        if (c < 0)
            return -1;
        if (c == '\n')
            break;
        if (c != '\r' && n + 1 < cap)
            line[n++] = (char)c;
    }
    line[n] = '\0';
    return 0;
}

/* Reads and drops a chunked body with its trailers. @return 0, or -1 on EOF. */
static int skip_chunked(int fd, char *buf, size_t *have)
{
    char line[256];
    for (;;) {
        if (next_line(fd, buf, have, line, sizeof(line)) < 0)
            return -1;
        unsigned long size = strtoul(line, NULL, 16);
        if (size == 0)
            break;
        for (unsigned long i = 0; i < size + 2; i++) /* the data and its CRLF */
            if (next_byte(fd, buf, have) < 0)
                return -1;
    }
    do { /* trailers, up to the empty line */
        if (next_line(fd, buf, have, line, sizeof(line)) < 0)
            return -1;
    } while (line[0] != '\0');
    return 0;
}

/* Reads and drops a Content-Length or chunked body (part of it may be in buf already).
 * @return 0, or -1 when the peer went away first. */
static int skip_body(int fd, const char *head, char *buf, size_t *have)
{
    if (strcasestr(head, "\r\ntransfer-encoding: chunked") != NULL)
        return skip_chunked(fd, buf, have);
    const char *cl = strcasestr(head, "\r\ncontent-length:");
    size_t left = cl != NULL ? strtoul(cl + 17, NULL, 10) : 0;
    size_t take = left < *have ? left : *have;
    memmove(buf, buf + take, *have - take);
    *have -= take;
    left -= take;
    while (left > 0) {
        char junk[4096];
        ssize_t r = read(fd, junk, left < sizeof(junk) ? left : sizeof(junk));
        if (r <= 0)
            return -1;
        left -= (size_t)r;
    }
    return 0;
}

static void *serve(void *arg)
{
    int fd = (int)(long)arg;
    char buf[16384];
    size_t have = 0;
    bool drop_next = false;
    for (;;) {
        int len = read_head(fd, buf, sizeof(buf), &have);
        if (len < 0)
            break;
        char path[256] = "";
        sscanf(buf, "%*s %255s", path);
        /* One line per request on stderr: tests wait for it instead of sleeping. */
        fprintf(stderr, "request %s\n", path);
        char head[sizeof(buf)];
        memcpy(head, buf, (size_t)len);
        head[len] = '\0';
        memmove(buf, buf + len, have - (size_t)len);
        have -= (size_t)len;
        if (skip_body(fd, head, buf, &have) < 0)
            break;
        if (drop_next)
            break;
        if (strncmp(path, "/slow/", 6) == 0) {
            int ms = atoi(path + 6);
            usleep((useconds_t)ms * 1000);
            char body[64];
            snprintf(body, sizeof(body), "slow %d\n", ms);
            reply(fd, body);
        } else if (strcmp(path, "/head") == 0) {
            /* The request head as waspd forwarded it (up to the blank line). */
            static const char hdr[] = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n";
            char cl[64];
            int cn = snprintf(cl, sizeof(cl), "content-length: %d\r\n\r\n", len);
            if (write(fd, hdr, sizeof(hdr) - 1) < 0 || write(fd, cl, (size_t)cn) < 0 ||
                write(fd, head, (size_t)len) < 0)
                break;
        } else if (strcmp(path, "/hang") == 0) {
            char c;
            while (read(fd, &c, 1) > 0)
                ;
            break;
        } else if (strcmp(path, "/close") == 0) {
            break;
        } else if (strcmp(path, "/drop-next") == 0) {
            reply(fd, "dropping the next request\n");
            drop_next = true;
        } else {
            reply(fd, "ok\n");
        }
    }
    close(fd);
    return NULL;
}

/* The notify mode: receive sd_notify datagrams until killed. */
static int notify_listen(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "test_upstream: notify path too long\n");
        return 1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("test_upstream: notify bind");
        return 1;
    }
    char msg[4096];
    for (;;) {
        ssize_t n = recv(fd, msg, sizeof(msg) - 1, 0);
        if (n < 0)
            continue;
        for (ssize_t i = 0; i < n; i++)
            if (msg[i] == '\n')
                msg[i] = '|';
        msg[n] = '\0';
        printf("%s\n", msg);
        fflush(stdout);
    }
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "notify") == 0)
        return notify_listen(argv[2]);
    if (argc != 2 && !(argc == 3 && strcmp(argv[2], "backlog0") == 0)) {
        fprintf(stderr, "usage: test_upstream PORT [backlog0]\n");
        return 2;
    }
    /* backlog0: listen with a backlog of 0 and never accept. Once one connection sits in
     * the accept queue, the kernel drops further SYNs: connecting hangs (connect timeout). */
    bool never_accept = argc == 3;
    signal(SIGPIPE, SIG_IGN);
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, never_accept ? 0 : 128) < 0) {
        perror("test_upstream: bind");
        return 1;
    }
    while (never_accept)
        pause();
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_t t;
        if (pthread_create(&t, NULL, serve, (void *)(long)fd) != 0) {
            close(fd);
            continue;
        }
        pthread_detach(t);
    }
}
