/*
 * fuzz_h2.c - libFuzzer target for the HTTP/2 server connection (src/http2/h2.c): raw
 * client bytes go through nghttp2 with waspd's own callbacks, streams run through the
 * real filter chain to a local-response route, and the answers go back through the data
 * provider, exactly as in the daemon. Only the socket is a socketpair and the event loop
 * is turned by hand.
 *
 * Input: one control byte (bit 0: do not send the client preface first, so that the
 * preface check is fuzzed too; bits 1-7: how many bytes each write carries, 0 meaning
 * everything at once), then the client's bytes. The connection must end cleanly (the
 * client closes its side at the end); sanitizers catch the rest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "config/config.h"
#include "daemon/worker.h"
#include "http2/h2.h"
#include "log/log.h"
#include "upstream/upstream.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_config[] = "[daemon]\n"
                                  "workers = 1\n"
                                  "[listener:f]\n"
                                  "address = 127.0.0.1:1\n"
                                  "respond = 200 \"hello from wasp\"\n"
                                  "max_body_size = 4k\n"
                                  "max_header_size = 4k\n"
                                  "http2_max_streams = 8\n"
                                  "add_response_header = X-Fuzz: yes\n"
                                  "[route:tea]\n"
                                  "path_prefix = /tea\n"
                                  "respond = 418 \"short and stout\"\n";

static struct worker fuzz_worker;
static struct daemon_gen *fuzz_gen;

static void fuzz_init(void)
{
    struct cfg_errors errors = {0};
    log_set_level(LOG_LVL_ERROR);
    const struct cfg_generation *g = cfg_load_string("fuzz.ini", fuzz_config, &errors);
    CHECK(g != NULL);
    fuzz_gen = daemon_gen_new(g, 1, &errors);
    CHECK(fuzz_gen != NULL);
    fuzz_worker.base = event_base_new();
    fuzz_worker.gen = fuzz_gen;
    fuzz_worker.up = up_worker_new(fuzz_worker.base);
    CHECK(fuzz_worker.base != NULL && fuzz_worker.up != NULL);
}

/* Reads and drops what the server wrote. @return false once the server closed. */
static bool drain_client(int fd)
{
    char buf[65536];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r > 0)
            continue;
        return !(r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fuzz_worker.base == NULL)
        fuzz_init();
    if (size < 1 || size > 65536)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        return 0;
    bool preface = (data[0] & 1) == 0;
    size_t step = data[0] >> 1;
    data++;
    size--;
    struct evbuffer *pre = evbuffer_new();
    if (preface)
        evbuffer_add(pre, H2_PREFACE, H2_PREFACE_LEN);
    h2_conn_new(&fuzz_worker, sv[0], "fuzz", fuzz_gen, 0, NULL, NULL, pre);
    evbuffer_free(pre);
    size_t off = 0;
    bool open = true;
    for (int turn = 0; turn < 4096 && fuzz_worker.n_conns > 0; turn++) {
        if (off < size) {
            size_t n = step == 0 || size - off < step ? size - off : step;
            ssize_t w = write(sv[1], data + off, n);
            if (w > 0)
                off += (size_t)w;
        } else if (open) {
            shutdown(sv[1], SHUT_WR);
            open = false;
        }
        event_base_loop(fuzz_worker.base, EVLOOP_NONBLOCK);
        if (!drain_client(sv[1]) && off >= size)
            break;
    }
    /* What is still open (waiting on a timer) is closed as at worker exit. */
    h2_close_all(&fuzz_worker);
    event_base_loop(fuzz_worker.base, EVLOOP_NONBLOCK);
    CHECK(fuzz_worker.n_conns == 0);
    close(sv[1]);
    return 0;
}
