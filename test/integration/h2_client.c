/*
 * h2_client.c - HTTP/2 test tool for the integration tests (what curl, nghttp and h2load
 * cannot do). Cleartext (h2c prior knowledge), blocking I/O.
 *
 *   h2_client flood PORT KIND N      sends N frames of KIND as fast as it can, then reads
 *                                    until the server closes. KIND: rapid-reset (HEADERS
 *                                    + RST_STREAM pairs), ping, settings, empty-data
 *                                    (on a POST /echo kept open), priority,
 *                                    continuation (one header block never ended). Prints "goaway
 * ERROR_CODE" when a GOAWAY came and "closed" when the connection ended. h2_client trailers PORT
 * PATH     POSTs "hello" with request trailer x-req-trailer: yes; prints the status, the body and
 *                                    every response trailer as "trailer NAME: VALUE".
 *   h2_client body PORT PATH CL SIZE...  POSTs PATH declaring content-length CL (none if
 *                                    CL < 0) with one DATA frame per SIZE (the last ends the
 *                                    stream; wMS: a pause of MS ms between frames); prints
 *                                    "status N", "rst CODE", "goaway CODE", "closed" or
 *                                    "timeout".
 *   h2_client request PORT METHOD PATH [BODY]  sends METHOD with BODY (none when absent)
 *                                    and no trailers; prints the status, the body and
 *                                    every response trailer as "trailer NAME: VALUE".
 *   h2_client get PORT PATH          GETs PATH and reads until the server closes the
 *                                    connection: prints the status, the body, "goaway
 *                                    CODE" for a GOAWAY and "closed" (or "timeout" after
 *                                    10 s of silence).
 *   h2_client echo-upstream PORT     an HTTP/1.1 upstream on 127.0.0.1:PORT that answers
 *                                    each request with a chunked body listing the request
 *                                    trailers it got ("got NAME: VALUE") and a response
 *                                    trailer x-resp-trailer: done.
 *   h2_client slow-upstream PORT     an upstream reading requests at about 2 MB/s; it
 *                                    answers "read N" (N: bytes of the request it read)
 *                                    once the client went quiet for 1 s.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("connect");
        exit(2);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* Writes everything; false when the peer is gone. */
static bool write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        c += w;
        n -= (size_t)w;
    }
    return true;
}

/* ---- flood: raw frames ---- */

#define H2_PREFACE_BYTES "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

static size_t frame(uint8_t *b, size_t len, uint8_t type, uint8_t flags, uint32_t id)
{
    b[0] = (uint8_t)(len >> 16);
    b[1] = (uint8_t)(len >> 8);
    b[2] = (uint8_t)len;
    b[3] = type;
    b[4] = flags;
    b[5] = (uint8_t)(id >> 24) & 0x7f;
    b[6] = (uint8_t)(id >> 16);
    b[7] = (uint8_t)(id >> 8);
    b[8] = (uint8_t)id;
    return 9;
}

/* Reads frames until EOF (or 10 s); reports GOAWAY. */
static int read_until_close(int fd)
{
    uint8_t buf[65536];
    size_t have = 0;
    int goaway = -1;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 10000) <= 0) {
            printf("timeout\n");
            break;
        }
        ssize_t r = read(fd, buf + have, sizeof(buf) - have);
        if (r <= 0) {
            printf("closed\n");
            break;
        }
        have += (size_t)r;
        size_t off = 0;
        while (have - off >= 9) {
            size_t len = ((size_t)buf[off] << 16) | ((size_t)buf[off + 1] << 8) | buf[off + 2];
            if (have - off < 9 + len)
                break;
            if (buf[off + 3] == 7 && len >= 8) {
                const uint8_t *e = buf + off + 9 + 4;
                goaway = (int)(((uint32_t)e[0] << 24) | ((uint32_t)e[1] << 16) |
                               ((uint32_t)e[2] << 8) | e[3]);
                printf("goaway %d\n", goaway);
            }
            off += 9 + len;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
        if (have == sizeof(buf))
            have = 0; /* a frame larger than we care about */
    }
    fflush(stdout);
    return goaway;
}

static int do_flood(int port, const char *kind, long n)
{
    int fd = connect_port(port);
    signal(SIGPIPE, SIG_IGN);
    uint8_t out[1 << 16];
    size_t k = 0;
    memcpy(out, H2_PREFACE_BYTES, 24);
    k = 24;
    k += frame(out + k, 0, 4, 0, 0); /* empty SETTINGS */
    write_all(fd, out, k);
    /* GET / with :authority localhost, from the HPACK static table. */
    static const uint8_t block[] = {0x82, 0x86, 0x84, 0x41, 9,   'l', 'o',
                                    'c',  'a',  'l',  'h',  'o', 's', 't'};
    uint32_t id = 1;
    bool ok = true;
    for (long i = 0; i < n && ok; i++) {
        k = 0;
        if (strcmp(kind, "rapid-reset") == 0) {
            k += frame(out + k, sizeof(block), 1, 0x4 | 0x1, id);
            memcpy(out + k, block, sizeof(block));
            k += sizeof(block);
            k += frame(out + k, 4, 3, 0, id);
            memset(out + k, 0, 3);
            out[k + 3] = 8; /* CANCEL */
            k += 4;
            id += 2;
        } else if (strcmp(kind, "ping") == 0) {
            k += frame(out + k, 8, 6, 0, 0);
            memset(out + k, (int)i, 8);
            k += 8;
        } else if (strcmp(kind, "settings") == 0) {
            k += frame(out + k, 0, 4, 0, 0);
        } else if (strcmp(kind, "empty-data") == 0) {
            if (i == 0) {
                /* POST /echo, body never ends: stream 1 stays open upstream. */
                static const uint8_t post[] = {0x83, 0x86, 0x44, 5,   '/', 'e', 'c', 'h', 'o', 0x41,
                                               9,    'l',  'o',  'c', 'a', 'l', 'h', 'o', 's', 't'};
                k += frame(out + k, sizeof(post), 1, 0x4, 1);
                memcpy(out + k, post, sizeof(post));
                k += sizeof(post);
            }
            k += frame(out + k, 0, 0, 0, 1);
        } else if (strcmp(kind, "continuation") == 0) {
            /* One header block that never ends: HEADERS then CONTINUATIONs, each with
             * one more literal field (x-a: a), none with END_HEADERS. */
            static const uint8_t field[] = {0x00, 3, 'x', '-', 'a', 1, 'a'};
            if (i == 0) {
                k += frame(out + k, sizeof(block), 1, 0x1, 1);
                memcpy(out + k, block, sizeof(block));
                k += sizeof(block);
            }
            k += frame(out + k, sizeof(field), 9, 0, 1);
            memcpy(out + k, field, sizeof(field));
            k += sizeof(field);
        } else if (strcmp(kind, "priority") == 0) {
            k += frame(out + k, 5, 2, 0, 1 + 2 * (uint32_t)(i % 1000));
            memset(out + k, 0, 5);
            out[k + 3] = 0; /* depends on 0 */
            out[k + 4] = 15;
            k += 5;
        } else {
            fprintf(stderr, "unknown flood kind %s\n", kind);
            return 2;
        }
        ok = write_all(fd, out, k);
    }
    read_until_close(fd);
    close(fd);
    return 0;
}

/* ---- body: a request whose DATA may contradict its content-length ---- */

/* Appends an HPACK literal field without indexing (new name, no Huffman). */
static size_t hpack_literal(uint8_t *b, const char *name, const char *value)
{
    size_t k = 0, nl = strlen(name), vl = strlen(value);
    b[k++] = 0x00;
    b[k++] = (uint8_t)nl;
    memcpy(b + k, name, nl);
    k += nl;
    b[k++] = (uint8_t)vl;
    memcpy(b + k, value, vl);
    return k + vl;
}

/*
 * POST PATH with "content-length: CL" (none if CL < 0), then one DATA frame per size in
 * sizes (the last with END_STREAM, each at most 16384 bytes); "wMS" instead of a size
 * waits MS milliseconds. Reads until the stream
 * ends; prints "status N" for the response head, "rst CODE" for a RST_STREAM, "goaway
 * CODE", "closed" or "timeout".
 */
static int do_body(int port, const char *path, long cl, char **sizes, int nsizes)
{
    int fd = connect_port(port);
    signal(SIGPIPE, SIG_IGN);
    static uint8_t out[1 << 15];
    size_t k = 24;
    memcpy(out, H2_PREFACE_BYTES, 24);
    k += frame(out + k, 0, 4, 0, 0);
    uint8_t block[512];
    size_t bl = 0;
    block[bl++] = 0x83; /* :method POST */
    block[bl++] = 0x86; /* :scheme http */
    bl += hpack_literal(block + bl, ":path", path);
    bl += hpack_literal(block + bl, ":authority", "localhost");
    if (cl >= 0) {
        char v[32];
        snprintf(v, sizeof(v), "%ld", cl);
        bl += hpack_literal(block + bl, "content-length", v);
    }
    k += frame(out + k, bl, 1, 0x4, 1);
    memcpy(out + k, block, bl);
    k += bl;
    write_all(fd, out, k);
    int last = nsizes - 1;
    while (last >= 0 && sizes[last][0] == 'w')
        last--;
    for (int i = 0; i < nsizes; i++) {
        if (sizes[i][0] == 'w') {
            usleep((useconds_t)atoi(sizes[i] + 1) * 1000);
            continue;
        }
        size_t n = (size_t)atol(sizes[i]);
        if (n > sizeof(out) - 9)
            n = sizeof(out) - 9;
        k = frame(out, n, 0, i == last ? 0x1 : 0, 1);
        memset(out + k, 'd', n);
        if (!write_all(fd, out, k + n))
            break;
    }
    nghttp2_hd_inflater *inf;
    nghttp2_hd_inflate_new(&inf);
    uint8_t buf[65536];
    size_t have = 0;
    bool done = false;
    while (!done) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 10000) <= 0) {
            printf("timeout\n");
            break;
        }
        ssize_t r = read(fd, buf + have, sizeof(buf) - have);
        if (r <= 0) {
            printf("closed\n");
            break;
        }
        have += (size_t)r;
        size_t off = 0;
        while (!done && have - off >= 9) {
            uint8_t *f = buf + off;
            size_t len = ((size_t)f[0] << 16) | ((size_t)f[1] << 8) | f[2];
            uint32_t id = ((uint32_t)(f[5] & 0x7f) << 24) | ((uint32_t)f[6] << 16) |
                          ((uint32_t)f[7] << 8) | f[8];
            if (have - off < 9 + len)
                break;
            uint8_t *pl = f + 9;
            if (f[3] == 1 && id == 1) {
                /* HEADERS: decode for :status (no padding or priority from waspd) */
                uint8_t *in = pl;
                size_t left = len;
                for (;;) {
                    nghttp2_nv nv;
                    int fl = 0;
                    ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &fl, in, left, 1);
                    if (rv < 0)
                        break;
                    in += rv;
                    left -= (size_t)rv;
                    if (fl & NGHTTP2_HD_INFLATE_EMIT)
                        if (nv.namelen == 7 && memcmp(nv.name, ":status", 7) == 0)
                            printf("status %.*s\n", (int)nv.valuelen, nv.value);
                    if (fl & NGHTTP2_HD_INFLATE_FINAL) {
                        nghttp2_hd_inflate_end_headers(inf);
                        break;
                    }
                    if (rv == 0 && left == 0)
                        break;
                }
                done = (f[4] & 0x1) != 0;
            } else if (f[3] == 0 && id == 1) {
                done = (f[4] & 0x1) != 0;
            } else if (f[3] == 3 && id == 1 && len == 4) {
                printf("rst %u\n", ((uint32_t)pl[0] << 24) | ((uint32_t)pl[1] << 16) |
                                       ((uint32_t)pl[2] << 8) | pl[3]);
                done = true;
            } else if (f[3] == 7 && len >= 8) {
                printf("goaway %u\n", ((uint32_t)pl[4] << 24) | ((uint32_t)pl[5] << 16) |
                                          ((uint32_t)pl[6] << 8) | pl[7]);
            } else if (f[3] == 4 && !(f[4] & 0x1)) {
                uint8_t ack[9];
                frame(ack, 0, 4, 0x1, 0);
                write_all(fd, ack, 9);
            }
            off += 9 + len;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    fflush(stdout);
    nghttp2_hd_inflate_del(inf);
    close(fd);
    return 0;
}

/* ---- trailers: an nghttp2 client session ---- */

struct tctx {
    int fd;
    bool done;
    bool until_close;
    int status;
    bool in_trailers;
    const char *body;
    size_t body_off;
    bool req_trailers; /* the request ends with trailer x-req-trailer: yes */
};

static ssize_t t_send(nghttp2_session *s, const uint8_t *d, size_t n, int f, void *ud)
{
    struct tctx *t = ud;
    (void)s;
    (void)f;
    return write_all(t->fd, d, n) ? (ssize_t)n : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static ssize_t t_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                      nghttp2_data_source *src, void *ud)
{
    struct tctx *t = ud;
    (void)src;
    size_t left = strlen(t->body) - t->body_off;
    size_t n = left < len ? left : len;
    memcpy(buf, t->body + t->body_off, n);
    t->body_off += n;
    if (t->body_off == strlen(t->body) && !t->req_trailers) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    } else if (t->body_off == strlen(t->body)) {
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        nghttp2_nv tr[] = {{(uint8_t *)"x-req-trailer", (uint8_t *)"yes", 13, 3, 0}};
        nghttp2_submit_trailer(s, id, tr, 1);
    }
    return (ssize_t)n;
}

static int t_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                    const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
    struct tctx *t = ud;
    (void)s;
    (void)flags;
    if (f->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (nl == 7 && memcmp(name, ":status", 7) == 0)
        printf("status %.*s\n", (int)vl, value);
    else if (t->in_trailers)
        printf("trailer %.*s: %.*s\n", (int)nl, name, (int)vl, value);
    return 0;
}

static int t_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    struct tctx *t = ud;
    (void)s;
    t->in_trailers = f->headers.cat == NGHTTP2_HCAT_HEADERS;
    return 0;
}

static int t_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *d, size_t n,
                  void *ud)
{
    (void)s;
    (void)flags;
    (void)id;
    (void)ud;
    fwrite(d, 1, n, stdout);
    return 0;
}

static int t_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    struct tctx *t = ud;
    (void)s;
    (void)id;
    if (code != 0)
        printf("reset %u\n", code);
    t->done = true;
    return 0;
}

static int t_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    (void)s;
    (void)ud;
    if (f->hd.type == NGHTTP2_GOAWAY) {
        printf("goaway %u\n", f->goaway.error_code);
        fflush(stdout);
    }
    return 0;
}

/* POST with body and trailers (get: GET, no body, read until the server closes; method
 * set: that method with body, or none when body is NULL, no trailers, until the stream
 * closes). */
static int do_request(int port, const char *path, bool get, const char *method, const char *body)
{
    struct tctx t = {.fd = connect_port(port),
                     .body = method != NULL ? body : "hello",
                     .until_close = get,
                     .req_trailers = method == NULL && !get};
    if (method == NULL)
        method = get ? "GET" : "POST";
    get = get || t.body == NULL;
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, t_send);
    nghttp2_session_callbacks_set_on_header_callback(cb, t_header);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, t_begin_headers);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, t_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, t_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, t_frame_recv);
    nghttp2_session *s;
    nghttp2_session_client_new(&s, cb, &t);
    nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);
    char auth[32];
    snprintf(auth, sizeof(auth), "127.0.0.1:%d", port);
    nghttp2_nv nv[] = {
        {(uint8_t *)":method", (uint8_t *)method, 7, strlen(method), 0},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
        {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0},
        {(uint8_t *)":authority", (uint8_t *)auth, 10, strlen(auth), 0},
        {(uint8_t *)"te", (uint8_t *)"trailers", 2, 8, 0},
    };
    nghttp2_data_provider prd = {.read_callback = t_read};
    nghttp2_submit_request(s, NULL, nv, 5, get ? NULL : &prd, NULL);
    uint8_t buf[16384];
    while (!t.done || t.until_close) {
        if (nghttp2_session_send(s) != 0)
            break;
        struct pollfd p = {t.fd, POLLIN, 0};
        if (poll(&p, 1, 10000) <= 0) {
            printf("timeout\n");
            break;
        }
        ssize_t r = read(t.fd, buf, sizeof(buf));
        if (r <= 0) {
            printf("closed\n");
            break;
        }
        if (nghttp2_session_mem_recv(s, buf, (size_t)r) < 0)
            break;
    }
    fflush(stdout);
    nghttp2_session_del(s);
    nghttp2_session_callbacks_del(cb);
    close(t.fd);
    return t.done ? 0 : 1;
}

/* ---- echo-upstream ---- */

/* Reads until buf holds "\r\n\r\n" from *have on; @return end offset or -1. */
static long read_until_blank(int fd, char *buf, size_t cap, size_t *have, size_t from)
{
    for (;;) {
        buf[*have] = '\0';
        char *e = strstr(buf + from, "\r\n\r\n");
        if (e != NULL)
            return e + 4 - buf;
        if (*have + 1 >= cap)
            return -1;
        ssize_t r = read(fd, buf + *have, cap - 1 - *have);
        if (r <= 0)
            return -1;
        *have += (size_t)r;
    }
}

static void *echo_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[65536];
    size_t have = 0;
    for (;;) {
        long head = read_until_blank(fd, buf, sizeof(buf), &have, 0);
        if (head < 0)
            break;
        char report[4096] = "";
        size_t rl = 0;
        bool chunked = strcasestr(buf, "transfer-encoding: chunked") != NULL;
        long end = head;
        if (chunked) {
            /* Body chunks, then the last chunk and trailers up to the blank line. */
            size_t pos = (size_t)head;
            for (;;) {
                char *nl;
                while ((nl = strstr(buf + pos, "\r\n")) == NULL) {
                    ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);
                    if (r <= 0)
                        goto out;
                    have += (size_t)r;
                    buf[have] = '\0';
                }
                unsigned long sz = strtoul(buf + pos, NULL, 16);
                if (sz == 0) {
                    size_t tstart = (size_t)(nl + 2 - buf);
                    buf[have] = '\0';
                    if (strncmp(buf + tstart, "\r\n", 2) == 0) {
                        end = (long)tstart + 2;
                    } else {
                        long e = read_until_blank(fd, buf, sizeof(buf), &have, tstart);
                        if (e < 0)
                            goto out;
                        end = e;
                        for (char *l = buf + tstart; l < buf + e - 2;) {
                            char *le = strstr(l, "\r\n");
                            rl += (size_t)snprintf(report + rl, sizeof(report) - rl, "got %.*s\n",
                                                   (int)(le - l), l);
                            l = le + 2;
                        }
                    }
                    break;
                }
                size_t need = (size_t)(nl + 2 - buf) + sz + 2;
                while (have < need) {
                    ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);
                    if (r <= 0)
                        goto out;
                    have += (size_t)r;
                }
                buf[have] = '\0';
                pos = need;
            }
        } else {
            char *cl = strcasestr(buf, "content-length:");
            size_t n = cl ? strtoul(cl + 15, NULL, 10) : 0;
            while (have < (size_t)head + n) {
                ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);
                if (r <= 0)
                    goto out;
                have += (size_t)r;
            }
            end = head + (long)n;
        }
        if (rl == 0)
            rl = (size_t)snprintf(report, sizeof(report), "no trailers\n");
        char resp[8192];
        int n = snprintf(resp, sizeof(resp),
                         "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                         "transfer-encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n"
                         "x-resp-trailer: done\r\n\r\n",
                         rl, report);
        if (!write_all(fd, resp, (size_t)n))
            break;
        memmove(buf, buf + end, have - (size_t)end);
        have -= (size_t)end;
    }
out:
    close(fd);
    return NULL;
}

/* Slow upstream: reads the whole request at about 2 MB/s (16 KiB every 8 ms) until the
 * client side goes quiet for 1 s after a blank line was seen, then answers "read N". */
static void *slow_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[16384];
    size_t total = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 1000) <= 0)
            break;
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r <= 0)
            break;
        total += (size_t)r;
        usleep(8000);
    }
    char resp[256];
    char body[64];
    int bl = snprintf(body, sizeof(body), "read %zu\n", total);
    int n =
        snprintf(resp, sizeof(resp),
                 "HTTP/1.1 200 OK\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s", bl, body);
    write_all(fd, resp, (size_t)n);
    close(fd);
    return NULL;
}

static int do_echo_upstream(int port, bool slow)
{
    signal(SIGPIPE, SIG_IGN);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 64) < 0) {
        perror("listen");
        return 2;
    }
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_t t;
        if (pthread_create(&t, NULL, slow ? slow_conn : echo_conn, (void *)(intptr_t)fd) == 0)
            pthread_detach(t);
        else
            close(fd);
    }
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "flood") == 0)
        return do_flood(atoi(argv[2]), argv[3], atol(argv[4]));
    if (argc >= 5 && strcmp(argv[1], "body") == 0)
        return do_body(atoi(argv[2]), argv[3], atol(argv[4]), argv + 5, argc - 5);
    if (argc >= 4 && strcmp(argv[1], "trailers") == 0)
        return do_request(atoi(argv[2]), argv[3], false, NULL, NULL);
    if (argc >= 4 && strcmp(argv[1], "get") == 0)
        return do_request(atoi(argv[2]), argv[3], true, NULL, NULL);
    if (argc >= 5 && strcmp(argv[1], "request") == 0)
        return do_request(atoi(argv[2]), argv[4], false, argv[3], argc >= 6 ? argv[5] : NULL);
    if (argc >= 3 && strcmp(argv[1], "echo-upstream") == 0)
        return do_echo_upstream(atoi(argv[2]), false);
    if (argc >= 3 && strcmp(argv[1], "slow-upstream") == 0)
        return do_echo_upstream(atoi(argv[2]), true);
    fprintf(stderr, "usage: h2_client flood PORT KIND N | body PORT PATH CL [SIZE...] | "
                    "trailers PORT PATH | get PORT PATH | request PORT METHOD PATH [BODY] | "
                    "slow-upstream PORT | "
                    "echo-upstream PORT\n");
    return 2;
}
