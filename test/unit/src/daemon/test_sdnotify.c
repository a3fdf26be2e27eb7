/*
 * test_sdnotify.c - the sd_notify datagram protocol (src/daemon/sdnotify.c):
 * each message arrives as one datagram on a path socket and on an
 * abstract-namespace ('@') socket; no NOTIFY_SOCKET means a silent no-op.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sdnotify.h"

struct receiver {
    int fd;
    char path[108];
};

/* Binds a datagram socket; `abstract` picks the '@' namespace. Sets
 * NOTIFY_SOCKET to its name. */
static void receiver_open(struct receiver *r, int abstract)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    socklen_t len;
    char env[120];

    r->fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(r->fd >= 0);
    if (abstract) {
        snprintf(r->path, sizeof(r->path), "wasp-sdnotify-test-%d", (int)getpid());
        memcpy(sun.sun_path + 1, r->path, strlen(r->path));
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(r->path));
        snprintf(env, sizeof(env), "@%s", r->path);
    } else {
        snprintf(r->path, sizeof(r->path), "/tmp/wasp-sdnotify-%d.sock", (int)getpid());
        unlink(r->path);
        strcpy(sun.sun_path, r->path);
        len = sizeof(sun);
        snprintf(env, sizeof(env), "%s", r->path);
    }
    assert_int_equal(bind(r->fd, (struct sockaddr *)&sun, len), 0);
    setenv("NOTIFY_SOCKET", env, 1);
}

static void receiver_close(struct receiver *r, int abstract)
{
    close(r->fd);
    if (!abstract)
        unlink(r->path);
    unsetenv("NOTIFY_SOCKET");
}

/* Receives one datagram (non-blocking: it must already be there). */
static const char *receive(struct receiver *r)
{
    static char buf[1024];
    ssize_t n = recv(r->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    assert_true(n >= 0);
    buf[n] = '\0';
    return buf;
}

static void check_messages(int abstract)
{
    struct receiver r;
    struct timespec ts;

    receiver_open(&r, abstract);
    assert_int_equal(sdnotify_ready(), 1);
    assert_string_equal(receive(&r), "READY=1");
    assert_int_equal(sdnotify_stopping(), 1);
    assert_string_equal(receive(&r), "STOPPING=1");
    assert_int_equal(sdnotify_status("serving %d listeners\nok", 2), 1);
    assert_string_equal(receive(&r), "STATUS=serving 2 listeners ok");
    assert_int_equal(sdnotify_send("READY=1\nSTATUS=x"), 1);
    assert_string_equal(receive(&r), "READY=1\nSTATUS=x");

    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned long long before =
        (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000ull;
    assert_int_equal(sdnotify_reloading(), 1);
    const char *msg = receive(&r);
    unsigned long long usec = 0;
    assert_int_equal(sscanf(msg, "RELOADING=1\nMONOTONIC_USEC=%llu", &usec), 1);
    assert_true(usec >= before);
    assert_true(usec - before < 10000000ull);
    receiver_close(&r, abstract);
}

static void test_messages_reach_a_path_socket(void **state)
{
    check_messages(0);
}

static void test_messages_reach_an_abstract_socket(void **state)
{
    check_messages(1);
}

static void test_without_notify_socket_nothing_is_sent(void **state)
{
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(sdnotify_ready(), 0);
    setenv("NOTIFY_SOCKET", "", 1);
    assert_int_equal(sdnotify_stopping(), 0);
    unsetenv("NOTIFY_SOCKET");
}

static void test_bad_notify_socket_is_an_error(void **state)
{
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    errno = 0;
    assert_int_equal(sdnotify_ready(), -1);
    assert_int_equal(errno, EINVAL);
    setenv("NOTIFY_SOCKET", "/nonexistent/wasp/notify.sock", 1);
    assert_int_equal(sdnotify_ready(), -1);
    assert_int_equal(errno, ENOENT);
    unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_reach_a_path_socket),
        cmocka_unit_test(test_messages_reach_an_abstract_socket),
        cmocka_unit_test(test_without_notify_socket_nothing_is_sent),
        cmocka_unit_test(test_bad_notify_socket_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
