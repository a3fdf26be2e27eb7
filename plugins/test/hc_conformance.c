/*
 * hc_conformance: a test plugin that calls every proxy-wasm hostcall wasp links (ABI.md
 * §3: the 0.2.x set, the gRPC calls, and the 0.1.0-only ones) and checks the status of
 * each call, the well-formed uses and the misuses: bad guest pointers
 * (INVALID_MEMORY_ACCESS), unknown map/buffer/stream types (BAD_ARGUMENT), maps and
 * buffers that do not exist in the phase (reads NOT_FOUND or empty, never BAD_ARGUMENT;
 * a stream's writes OK and ignored), unknown context/queue/metric ids, read-only maps,
 * CAS mismatches, properties and their
 * Envoy encodings. Every failed check logs "FAIL <what>: ..." at error level; the root
 * context counts its checks and, at the end, logs
 * "conformance: N checks, M failures". It also exercises the lifecycle: the root's
 * proxy_on_done returns false and the root finishes with proxy_done from its next tick.
 *
 * Meant for `wasp replay` on ../shared/traffic/http_4pkts.json with
 * --root-id conf --vm-id confvm --config conf-config --vm-config vm-config
 * --callouts test/plugins/data/conformance_callouts.json (see test/plugins).
 */
#define _GNU_SOURCE /* memmem */
#include <wasi/api.h>

#include "proxy_wasm.h"

/* An address past the end of any memory this plugin has. */
#define BAD ((void *)0xfffffff0u)
#define BADP ((char **)0xfffffff0u)
#define BADS ((size_t *)0xfffffff0u)
#define BADU ((uint32_t *)0xfffffff0u)

static uint32_t checks, failures;
static uint32_t root_ctx;
static int requests;
static bool root_waiting;
static uint32_t queue_id;
static const char queued[] = "hello-queue";

/* ---- Checking ------------------------------------------------------------------------ */

static void fail(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(const char *what, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    failures++;
    wasp_log(WASP_LOG_ERROR, "FAIL %s: %s", what, msg);
}

/* A hostcall status. */
static void st(const char *what, int32_t got, int32_t want)
{
    checks++;
    if (got != want)
        fail(what, "status %d, want %d", got, want);
}

static void truth(const char *what, bool ok)
{
    checks++;
    if (!ok)
        fail(what, "not true");
}

/* Bytes equal to a string. */
static void bytes_eq(const char *what, const struct wasp_bytes *b, const char *want)
{
    checks++;
    if (!wasp_bytes_eq(b, want))
        fail(what, "got \"%.*s\", want \"%s\"", (int)b->len, b->data ? b->data : "", want);
}

/* Little-endian 8-byte integer (Envoy's int/uint/timestamp/duration encoding). */
static bool le64(const struct wasp_bytes *b, uint64_t *v)
{
    if (b->len != 8)
        return false;
    *v = 0;
    for (int i = 7; i >= 0; i--)
        *v = *v << 8 | (uint8_t)b->data[i];
    return true;
}

static void int_prop(const char *what, const char *a, const char *b, uint64_t want)
{
    struct wasp_bytes v;
    uint64_t got = 0;

    checks++;
    int32_t rc = wasp_get_property(&v, a, b, NULL);
    if (rc != WASP_OK)
        fail(what, "status %d", rc);
    else if (!le64(&v, &got))
        fail(what, "%zu bytes, want 8", v.len);
    else if (got != want)
        fail(what, "got %llu, want %llu", (unsigned long long)got, (unsigned long long)want);
    wasp_bytes_free(&v);
}

static void str_prop(const char *what, const char *a, const char *b, const char *want)
{
    struct wasp_bytes v;

    st(what, wasp_get_property(&v, a, b, NULL), WASP_OK);
    bytes_eq(what, &v, want);
    wasp_bytes_free(&v);
}

/* A header through its three-segment property path (request.headers.<name>). */
static void header_prop(const char *what, const char *a, const char *name, const char *want)
{
    struct wasp_bytes v;

    st(what, wasp_get_property(&v, a, "headers", name, NULL), WASP_OK);
    bytes_eq(what, &v, want);
    wasp_bytes_free(&v);
}

static void no_prop(const char *what, const char *a, const char *b)
{
    struct wasp_bytes v;

    st(what, wasp_get_property(&v, a, b, NULL), WASP_NOT_FOUND);
    wasp_bytes_free(&v);
}

/* Header map checks that hold in any phase where `map` does not exist. Writes answer
 * `write`: OK for a stream's maps 0-3 (acknowledged and ignored, so that SDKs that
 * panic on any other status go on), NOT_FOUND on a root and for maps 4-7. */
static void absent_map(const char *what, int32_t map, int32_t write)
{
    char *data = (char *)1;
    size_t size = 1;

    st(what, proxy_get_header_map_pairs(map, &data, &size), WASP_OK);
    truth(what, data == NULL && size == 0);
    size = 1;
    st(what, proxy_get_header_map_size(map, &size), WASP_OK);
    truth(what, size == 0);
    st(what, proxy_get_header_map_value(map, "k", 1, &data, &size), WASP_NOT_FOUND);
    st(what, proxy_add_header_map_value(map, "k", 1, "v", 1), write);
    st(what, proxy_replace_header_map_value(map, "k", 1, "v", 1), write);
    st(what, proxy_remove_header_map_value(map, "k", 1), write);
    st(what, proxy_set_header_map_pairs(map, NULL, 0), write);
    size = 1;
    st(what, proxy_get_header_map_size(map, &size), WASP_OK);
    truth("a write to an absent map creates nothing", size == 0);
}

/* Every header hostcall with an unknown map type, and with bad pointers. */
static void map_misuse(void)
{
    char *data;
    size_t size;

    st("map 8 pairs", proxy_get_header_map_pairs(8, &data, &size), WASP_BAD_ARGUMENT);
    st("map 8 size", proxy_get_header_map_size(8, &size), WASP_BAD_ARGUMENT);
    st("map 8 value", proxy_get_header_map_value(8, "k", 1, &data, &size), WASP_BAD_ARGUMENT);
    st("map 8 add", proxy_add_header_map_value(8, "k", 1, "v", 1), WASP_BAD_ARGUMENT);
    st("map 8 replace", proxy_replace_header_map_value(8, "k", 1, "v", 1), WASP_BAD_ARGUMENT);
    st("map 8 remove", proxy_remove_header_map_value(8, "k", 1), WASP_BAD_ARGUMENT);
    st("map 8 set pairs", proxy_set_header_map_pairs(8, NULL, 0), WASP_BAD_ARGUMENT);
    st("map pairs bad out", proxy_get_header_map_pairs(0, BADP, &size), WASP_INVALID_MEMORY_ACCESS);
    st("map size bad out", proxy_get_header_map_size(0, BADS), WASP_INVALID_MEMORY_ACCESS);
    st("map value bad key", proxy_get_header_map_value(0, BAD, 64, &data, &size),
       WASP_INVALID_MEMORY_ACCESS);
    st("map add bad value", proxy_add_header_map_value(0, "k", 1, BAD, 64),
       WASP_INVALID_MEMORY_ACCESS);
    st("map replace bad key", proxy_replace_header_map_value(0, BAD, 64, "v", 1),
       WASP_INVALID_MEMORY_ACCESS);
    st("map remove bad key", proxy_remove_header_map_value(0, BAD, 64), WASP_INVALID_MEMORY_ACCESS);
    st("map set bad data", proxy_set_header_map_pairs(0, BAD, 64), WASP_INVALID_MEMORY_ACCESS);
}

/* Buffer hostcalls with unknown types and bad pointers. */
static void buffer_misuse(void)
{
    char *data;
    size_t size;
    uint32_t flags;

    st("buffer 9 get", proxy_get_buffer_bytes(9, 0, 1, &data, &size), WASP_BAD_ARGUMENT);
    st("buffer 9 status", proxy_get_buffer_status(9, &size, &flags), WASP_BAD_ARGUMENT);
    st("buffer 9 set", proxy_set_buffer_bytes(9, 0, 0, "x", 1), WASP_BAD_ARGUMENT);
    st("buffer 5 get", proxy_get_buffer_bytes(5, 0, 1, &data, &size), WASP_NOT_FOUND);
    st("buffer 8 status", proxy_get_buffer_status(8, &size, &flags), WASP_NOT_FOUND);
    st("buffer 4 outside a callout", proxy_get_buffer_bytes(4, 0, 1, &data, &size), WASP_NOT_FOUND);
    st("buffer set bad data", proxy_set_buffer_bytes(0, 0, 0, BAD, 64), WASP_INVALID_MEMORY_ACCESS);
}

/* ---- Root context ----------------------------------------------------------------------- */

int32_t WASP_EXPORT(proxy_on_vm_start)(uint32_t root, uint32_t size)
{
    struct wasp_bytes b;
    char *data;
    size_t len;
    uint32_t flags;

    root_ctx = root;
    /* WASI output: stdout becomes an info log line, stderr an error line. */
    printf("to stdout\n");
    fflush(stdout);
    fprintf(stderr, "to stderr\n");
    st("vm config size", (int32_t)size, (int32_t)strlen("vm-config"));
    st("buffer 6 in on_vm_start", wasp_get_buffer(WASP_BUFFER_VM_CONFIGURATION, 0, size, &b),
       WASP_OK);
    bytes_eq("buffer 6", &b, "vm-config");
    wasp_bytes_free(&b);
    st("buffer 6 status", proxy_get_buffer_status(6, &len, &flags), WASP_OK);
    truth("buffer 6 status size", len == size);
    st("buffer 6 part", wasp_get_buffer(6, 3, 3, &b), WASP_OK);
    bytes_eq("buffer 6 part", &b, "con");
    wasp_bytes_free(&b);
    st("buffer 7 in on_vm_start", wasp_get_buffer(7, 0, 10, &b), WASP_NOT_FOUND);
    st("0.1.0 get_configuration in on_vm_start", proxy_get_configuration(&data, &len), WASP_OK);
    b.data = data;
    b.len = len;
    bytes_eq("0.1.0 get_configuration in on_vm_start", &b, "vm-config");
    wasp_bytes_free(&b);
    st("get_configuration bad out", proxy_get_configuration(BADP, &len),
       WASP_INVALID_MEMORY_ACCESS);
    st("buffer 6 read-only", proxy_set_buffer_bytes(6, 0, 0, "x", 1), WASP_BAD_ARGUMENT);
    return 1;
}

static void logging_and_time(void)
{
    int32_t level = -1;
    uint64_t now = 0;
    __wasi_timestamp_t wasi_now = 0;

    st("log", wasp_log(WASP_LOG_DEBUG, "conformance log line"), WASP_OK);
    st("log level 6", proxy_log(6, "x", 1), WASP_BAD_ARGUMENT);
    st("log bad message", proxy_log(WASP_LOG_INFO, BAD, 64), WASP_INVALID_MEMORY_ACCESS);
    st("get_log_level", proxy_get_log_level(&level), WASP_OK);
    truth("get_log_level value", level >= WASP_LOG_TRACE && level <= WASP_LOG_CRITICAL);
    st("get_log_level bad out", proxy_get_log_level((int32_t *)BAD), WASP_INVALID_MEMORY_ACCESS);
    st("current time", proxy_get_current_time_nanoseconds(&now), WASP_OK);
    truth("current time is after 2020", now > 1577836800000000000ull);
    st("current time bad out", proxy_get_current_time_nanoseconds((uint64_t *)BAD),
       WASP_INVALID_MEMORY_ACCESS);
    /* WASI's realtime clock is the same clock. */
    st("wasi clock_time_get", __wasi_clock_time_get(__WASI_CLOCKID_REALTIME, 1, &wasi_now), 0);
    truth("wasi clock == proxy clock", wasi_now == now);
    st("wasi clock 2", __wasi_clock_time_get(__WASI_CLOCKID_PROCESS_CPUTIME_ID, 1, &wasi_now),
       __WASI_ERRNO_NOTSUP);
    uint8_t rnd[16] = {0};
    st("wasi random_get", __wasi_random_get(rnd, sizeof(rnd)), 0);
    __wasi_size_t argc = 9, argv_size = 9;
    st("wasi args_sizes_get", __wasi_args_sizes_get(&argc, &argv_size), 0);
    truth("no arguments", argc == 0 && argv_size == 0);
}

static void shared_data(void)
{
    struct wasp_bytes v;
    uint32_t cas = 0, cas2 = 0;

    st("shared get missing", wasp_get_shared_data("conf-missing", &v, &cas), WASP_NOT_FOUND);
    st("shared set cas 0", wasp_set_shared_data("conf-k", "v1", 2, 0), WASP_OK);
    st("shared get", wasp_get_shared_data("conf-k", &v, &cas), WASP_OK);
    bytes_eq("shared get value", &v, "v1");
    wasp_bytes_free(&v);
    truth("shared cas is not 0", cas != 0);
    st("shared set stale cas", wasp_set_shared_data("conf-k", "v2", 2, cas + 1), WASP_CAS_MISMATCH);
    st("shared set with cas", wasp_set_shared_data("conf-k", "v3", 2, cas), WASP_OK);
    st("shared get again", wasp_get_shared_data("conf-k", &v, &cas2), WASP_OK);
    bytes_eq("shared value after cas set", &v, "v3");
    wasp_bytes_free(&v);
    truth("cas changes on set", cas2 != cas && cas2 != 0);
    st("shared old cas now stale", wasp_set_shared_data("conf-k", "v4", 2, cas), WASP_CAS_MISMATCH);
    st("shared cas on a missing key", wasp_set_shared_data("conf-none", "x", 1, 7),
       WASP_CAS_MISMATCH);
    st("shared set bad key", proxy_set_shared_data(BAD, 64, "x", 1, 0), WASP_INVALID_MEMORY_ACCESS);
    st("shared set bad value", proxy_set_shared_data("k", 1, BAD, 64, 0),
       WASP_INVALID_MEMORY_ACCESS);
    st("shared get bad cas out", proxy_get_shared_data("conf-k", 6, &v.data, &v.len, BADU),
       WASP_INVALID_MEMORY_ACCESS);
    st("shared get bad key", proxy_get_shared_data(BAD, 64, &v.data, &v.len, &cas),
       WASP_INVALID_MEMORY_ACCESS);
}

static void queues(void)
{
    uint32_t id = 0, id2 = 0;
    char *data;
    size_t len;

    st("queue register", proxy_register_shared_queue("conf-q", 6, &id), WASP_OK);
    truth("queue id", id != 0);
    st("queue register again", proxy_register_shared_queue("conf-q", 6, &id2), WASP_OK);
    truth("queue register again: same id", id2 == id);
    id2 = 0;
    st("queue resolve own vm", proxy_resolve_shared_queue("", 0, "conf-q", 6, &id2), WASP_OK);
    truth("queue resolve: same id", id2 == id);
    id2 = 0;
    st("queue resolve by vm_id", proxy_resolve_shared_queue("confvm", 6, "conf-q", 6, &id2),
       WASP_OK);
    truth("queue resolve by vm_id: same id", id2 == id);
    st("queue resolve other vm", proxy_resolve_shared_queue("nope", 4, "conf-q", 6, &id2),
       WASP_NOT_FOUND);
    st("queue resolve unknown", proxy_resolve_shared_queue("", 0, "conf-none", 9, &id2),
       WASP_NOT_FOUND);
    st("queue dequeue empty", proxy_dequeue_shared_queue(id, &data, &len), WASP_EMPTY);
    st("queue enqueue unknown", proxy_enqueue_shared_queue(0x7ffffff0u, "x", 1), WASP_NOT_FOUND);
    st("queue dequeue unknown", proxy_dequeue_shared_queue(0x7ffffff0u, &data, &len),
       WASP_NOT_FOUND);
    st("queue enqueue id 0", proxy_enqueue_shared_queue(0, "x", 1), WASP_NOT_FOUND);
    st("queue register bad name", proxy_register_shared_queue(BAD, 64, &id2),
       WASP_INVALID_MEMORY_ACCESS);
    st("queue register bad out", proxy_register_shared_queue("q", 1, BADU),
       WASP_INVALID_MEMORY_ACCESS);
    st("queue resolve bad vm_id", proxy_resolve_shared_queue(BAD, 64, "q", 1, &id2),
       WASP_INVALID_MEMORY_ACCESS);
    st("queue enqueue bad value", proxy_enqueue_shared_queue(id, BAD, 64),
       WASP_INVALID_MEMORY_ACCESS);
    st("queue dequeue bad out", proxy_dequeue_shared_queue(id, BADP, &len),
       WASP_INVALID_MEMORY_ACCESS);
    /* Delivered later, through the host, to this root's proxy_on_queue_ready. */
    queue_id = id;
    st("queue enqueue", proxy_enqueue_shared_queue(id, queued, strlen(queued)), WASP_OK);
}

static void metrics(void)
{
    uint32_t c = 0, c2 = 0, g = 0, h = 0, dummy;
    uint64_t v = 0;

    st("define counter", wasp_define_metric(WASP_METRIC_COUNTER, "conf_counter", &c), WASP_OK);
    st("define counter again", wasp_define_metric(WASP_METRIC_COUNTER, "conf_counter", &c2),
       WASP_OK);
    truth("same metric, same id", c == c2 && c != 0);
    st("define gauge", wasp_define_metric(WASP_METRIC_GAUGE, "conf_gauge", &g), WASP_OK);
    st("define histogram", wasp_define_metric(WASP_METRIC_HISTOGRAM, "conf_hist", &h), WASP_OK);
    truth("distinct ids", c != g && g != h && c != h);
    st("define type 3", proxy_define_metric(3, "x", 1, &dummy), WASP_BAD_ARGUMENT);
    st("define empty name", proxy_define_metric(0, "", 0, &dummy), WASP_BAD_ARGUMENT);
    st("define bad name", proxy_define_metric(0, BAD, 64, &dummy), WASP_INVALID_MEMORY_ACCESS);
    st("define bad out", proxy_define_metric(0, "x", 1, BADU), WASP_INVALID_MEMORY_ACCESS);
    st("counter increment", proxy_increment_metric(c, 2), WASP_OK);
    st("counter record adds", proxy_record_metric(c, 3), WASP_OK);
    st("counter get", proxy_get_metric(c, &v), WASP_OK);
    truth("counter value 5", v == 5);
    st("counter negative increment", proxy_increment_metric(c, -1), WASP_BAD_ARGUMENT);
    st("gauge record", proxy_record_metric(g, 7), WASP_OK);
    st("gauge increment down", proxy_increment_metric(g, -2), WASP_OK);
    st("gauge get", proxy_get_metric(g, &v), WASP_OK);
    truth("gauge value 5", v == 5);
    st("histogram record", proxy_record_metric(h, 42), WASP_OK);
    st("histogram get", proxy_get_metric(h, &v), WASP_BAD_ARGUMENT);
    st("histogram increment", proxy_increment_metric(h, 1), WASP_BAD_ARGUMENT);
    st("unknown metric get", proxy_get_metric(0x7ffffff0u, &v), WASP_NOT_FOUND);
    st("unknown metric record", proxy_record_metric(0x7ffffff0u, 1), WASP_NOT_FOUND);
    st("unknown metric increment", proxy_increment_metric(0x7ffffff0u, 1), WASP_NOT_FOUND);
    st("metric get bad out", proxy_get_metric(c, (uint64_t *)BAD), WASP_INVALID_MEMORY_ACCESS);
}

static void root_properties(void)
{
    struct wasp_bytes v;

    str_prop("plugin_name", "plugin_name", NULL, "hc_conformance");
    str_prop("plugin_root_id", "plugin_root_id", NULL, "conf");
    str_prop("plugin_vm_id", "plugin_vm_id", NULL, "confvm");
    no_prop("request.path on a root", "request", "path");
    no_prop("unknown property", "no_such", "thing");
    st("set_property", proxy_set_property("conf\0k", 6, "val", 3), WASP_OK);
    str_prop("set_property read back", "conf", "k", "val");
    st("set_property empty path", proxy_set_property("", 0, "v", 1), WASP_BAD_ARGUMENT);
    st("set_property bad path", proxy_set_property(BAD, 64, "v", 1), WASP_INVALID_MEMORY_ACCESS);
    st("set_property bad value", proxy_set_property("a", 1, BAD, 64), WASP_INVALID_MEMORY_ACCESS);
    st("get_property bad path", proxy_get_property(BAD, 64, &v.data, &v.len),
       WASP_INVALID_MEMORY_ACCESS);
    st("get_property bad out", proxy_get_property("plugin_name", 11, BADP, &v.len),
       WASP_INVALID_MEMORY_ACCESS);
}

/* Stream-only hostcalls from a root context, callouts misuse, unimplemented calls. */
static void root_misuse(void)
{
    uint32_t code, token, id;
    char *data;
    size_t len;
    struct wasp_bytes h = {0}, bad_h = {0};
    const char *no_authority[] = {":method", "GET", ":path", "/"};
    const char *full[] = {":method", "GET", ":path", "/", ":authority", "x"};

    absent_map("request headers on a root", WASP_MAP_REQUEST_HEADERS, WASP_NOT_FOUND);
    absent_map("response trailers on a root", WASP_MAP_RESPONSE_TRAILERS, WASP_NOT_FOUND);
    absent_map("callout headers outside a callout", WASP_MAP_HTTP_CALL_RESPONSE_HEADERS,
               WASP_NOT_FOUND);
    absent_map("gRPC metadata", WASP_MAP_GRPC_INITIAL_METADATA, WASP_NOT_FOUND);
    map_misuse();
    buffer_misuse();
    st("request body on a root", proxy_get_buffer_bytes(0, 0, 1, &data, &len), WASP_NOT_FOUND);
    st("set request body on a root", proxy_set_buffer_bytes(0, 0, 0, "x", 1), WASP_NOT_FOUND);
    st("continue_stream on a root", proxy_continue_stream(0), WASP_NOT_FOUND);
    st("continue_stream type 9", proxy_continue_stream(9), WASP_BAD_ARGUMENT);
    st("continue_stream upstream", proxy_continue_stream(3), WASP_UNIMPLEMENTED);
    st("close_stream on a root", proxy_close_stream(0), WASP_NOT_FOUND);
    st("close_stream type 9", proxy_close_stream(9), WASP_BAD_ARGUMENT);
    st("0.1.0 continue_request on a root", proxy_continue_request(), WASP_NOT_FOUND);
    st("0.1.0 continue_response on a root", proxy_continue_response(), WASP_NOT_FOUND);
    st("0.1.0 clear_route_cache", proxy_clear_route_cache(), WASP_OK);
    st("local reply on a root", proxy_send_local_response(403, "d", 1, "b", 1, NULL, 0, -1),
       WASP_NOT_FOUND);
    st("local reply bad body", proxy_send_local_response(403, "d", 1, BAD, 64, NULL, 0, -1),
       WASP_INVALID_MEMORY_ACCESS);
    st("get_status outside a callout", proxy_get_status(&code, &data, &len), WASP_NOT_FOUND);
    st("get_status bad out", proxy_get_status(BADU, &data, &len), WASP_INVALID_MEMORY_ACCESS);
    wasp_pairs_encode(no_authority, 2, &h);
    st("http_call without :authority",
       proxy_http_call("conf", 4, h.data, h.len, NULL, 0, NULL, 0, 1000, &token),
       WASP_BAD_ARGUMENT);
    wasp_bytes_free(&h);
    wasp_pairs_encode(full, 3, &h);
    st("http_call empty upstream",
       proxy_http_call("", 0, h.data, h.len, NULL, 0, NULL, 0, 1000, &token), WASP_BAD_ARGUMENT);
    st("http_call bad upstream",
       proxy_http_call(BAD, 64, h.data, h.len, NULL, 0, NULL, 0, 1000, &token),
       WASP_INVALID_MEMORY_ACCESS);
    st("http_call bad token out",
       proxy_http_call("conf", 4, h.data, h.len, NULL, 0, NULL, 0, 1000, BADU),
       WASP_INVALID_MEMORY_ACCESS);
    st("http_call timeout negative as an i32",
       proxy_http_call("conf", 4, h.data, h.len, NULL, 0, NULL, 0, 0xffffffffu, &token),
       WASP_BAD_ARGUMENT);
    st("http_call bad trailers before a bad timeout",
       proxy_http_call("conf", 4, h.data, h.len, NULL, 0, BAD, 64, 0xffffffffu, &token),
       WASP_INVALID_MEMORY_ACCESS);
    st("http_call malformed trailers",
       proxy_http_call("conf", 4, h.data, h.len, NULL, 0, h.data, h.len - 1, 1000, &token),
       WASP_BAD_ARGUMENT);
    bad_h.data = h.data;
    bad_h.len = h.len - 1; /* truncated: the last NUL is missing */
    st("http_call malformed headers",
       proxy_http_call("conf", 4, bad_h.data, bad_h.len, NULL, 0, NULL, 0, 1000, &token),
       WASP_BAD_ARGUMENT);
    wasp_bytes_free(&h);
    /* No gRPC upstream: Envoy's answers for a cluster it does not have and for tokens
     * that name no call (low bits 1) or stream (2), or are not gRPC tokens at all. */
    st("grpc_call unknown cluster",
       proxy_grpc_call("g", 1, "s", 1, "m", 1, NULL, 0, NULL, 0, 1000, &id), WASP_PARSE_FAILURE);
    st("grpc_call bad service name",
       proxy_grpc_call("g", 1, BAD, 64, "m", 1, NULL, 0, NULL, 0, 1000, &id),
       WASP_INVALID_MEMORY_ACCESS);
    st("grpc_stream unknown cluster", proxy_grpc_stream("g", 1, "s", 1, "m", 1, NULL, 0, &id),
       WASP_PARSE_FAILURE);
    st("grpc_send no such stream", proxy_grpc_send(6, "x", 1, 0), WASP_NOT_FOUND);
    st("grpc_send HTTP token", proxy_grpc_send(4, "x", 1, 0), WASP_BAD_ARGUMENT);
    st("grpc_send bad message", proxy_grpc_send(6, BAD, 64, 0), WASP_INVALID_MEMORY_ACCESS);
    st("grpc_cancel no such call", proxy_grpc_cancel(5), WASP_NOT_FOUND);
    st("grpc_cancel HTTP token", proxy_grpc_cancel(4), WASP_BAD_ARGUMENT);
    st("grpc_close no such stream", proxy_grpc_close(6), WASP_NOT_FOUND);
    st("foreign function unknown", proxy_call_foreign_function("nope", 4, "", 0, &data, &len),
       WASP_NOT_FOUND);
    st("foreign function bad name", proxy_call_foreign_function(BAD, 64, "", 0, &data, &len),
       WASP_INVALID_MEMORY_ACCESS);
    st("set_effective_context unknown", proxy_set_effective_context(0x7ffffff0u),
       WASP_BAD_ARGUMENT);
    st("set_effective_context root", proxy_set_effective_context(root_ctx), WASP_OK);
    st("proxy_done with nothing pending", proxy_done(), WASP_OK);
    st("set_tick_period", proxy_set_tick_period_milliseconds(10), WASP_OK);
}

int32_t WASP_EXPORT(proxy_on_configure)(uint32_t root, uint32_t size)
{
    struct wasp_bytes b;
    char *data;
    size_t len;
    uint32_t flags = 9;

    st("plugin config size", (int32_t)size, (int32_t)strlen("conf-config"));
    st("buffer 7 in on_configure", wasp_get_buffer(WASP_BUFFER_PLUGIN_CONFIGURATION, 0, size, &b),
       WASP_OK);
    bytes_eq("buffer 7", &b, "conf-config");
    wasp_bytes_free(&b);
    st("buffer 7 status", proxy_get_buffer_status(7, &len, &flags), WASP_OK);
    truth("buffer 7 status size", len == size);
    st("buffer 7 status bad out", proxy_get_buffer_status(7, BADS, &flags),
       WASP_INVALID_MEMORY_ACCESS);
    st("buffer 7 bad out", proxy_get_buffer_bytes(7, 0, 4, BADP, &len), WASP_INVALID_MEMORY_ACCESS);
    st("buffer 7 past the end", wasp_get_buffer(7, 100, 4, &b), WASP_OK);
    truth("buffer 7 past the end is empty", b.len == 0 && b.data == NULL);
    st("buffer 7 start+size overflows", proxy_get_buffer_bytes(7, 0xfffffff0u, 0x20, &data, &len),
       WASP_BAD_ARGUMENT);
    st("buffer 6 in on_configure", wasp_get_buffer(6, 0, 4, &b), WASP_NOT_FOUND);
    st("0.1.0 get_configuration in on_configure", proxy_get_configuration(&data, &len), WASP_OK);
    b.data = data;
    b.len = len;
    bytes_eq("0.1.0 get_configuration in on_configure", &b, "conf-config");
    wasp_bytes_free(&b);

    logging_and_time();
    shared_data();
    queues();
    metrics();
    root_properties();
    root_misuse();
    return 1;
}

void WASP_EXPORT(proxy_on_queue_ready)(uint32_t root, uint32_t id)
{
    struct wasp_bytes v = {0};

    st("queue_ready root", (int32_t)root, (int32_t)root_ctx);
    st("queue_ready id", (int32_t)id, (int32_t)queue_id);
    st("queue dequeue", proxy_dequeue_shared_queue(id, &v.data, &v.len), WASP_OK);
    bytes_eq("queue item", &v, queued);
    wasp_bytes_free(&v);
    st("queue drained", proxy_dequeue_shared_queue(id, &v.data, &v.len), WASP_EMPTY);
    wasp_log(WASP_LOG_INFO, "queue item delivered to the registering root");
}

void WASP_EXPORT(proxy_on_tick)(uint32_t root)
{
    if (root_waiting) {
        root_waiting = false;
        st("proxy_done of the root", proxy_done(), WASP_OK);
        wasp_log(WASP_LOG_INFO, "root calls proxy_done from its tick");
    }
}

int32_t WASP_EXPORT(proxy_on_done)(uint32_t ctx)
{
    if (ctx != root_ctx)
        return 1;
    /* Not yet: the next tick finishes with proxy_done. */
    root_waiting = true;
    wasp_log(WASP_LOG_INFO, "root on_done: not done yet");
    return 0;
}

void WASP_EXPORT(proxy_on_delete)(uint32_t ctx)
{
    if (ctx != root_ctx)
        return;
    truth("root deleted after proxy_done", !root_waiting);
    wasp_log(WASP_LOG_INFO, "conformance: %u checks, %u failures", checks, failures);
}

/* ---- Streams ----------------------------------------------------------------------------- */

struct call {
    uint32_t token;
    uint32_t stream;
    int request;
};
static struct call calls[8];

/* Properties of a request stream during its request headers. */
static void request_properties(uint32_t n)
{
    struct wasp_bytes v, hv;
    uint64_t now = 0, t = 0, port = 0;

    wasp_get_header(0, ":path", &hv);
    st("request.path", wasp_get_property(&v, "request", "path", NULL), WASP_OK);
    checks++;
    if (!(hv.len > 0 && v.len == hv.len && memcmp(v.data, hv.data, v.len) == 0))
        fail("request.path", "\"%.*s\" is not :path", (int)v.len, v.data ? v.data : "");
    wasp_bytes_free(&v);
    wasp_bytes_free(&hv);
    if (requests == 1) {
        str_prop("request.url_path", "request", "url_path", "/content/web/index.html");
        str_prop("request.query", "request", "query", "a=1");
        header_prop("request.headers.h1", "request", "h1", "v1");
    }
    str_prop("request.method", "request", "method", "GET");
    str_prop("request.scheme", "request", "scheme", "https");
    str_prop("request.host", "request", "host", "10.0.0.1:443");
    str_prop("request.protocol", "request", "protocol", "HTTP/1.1");
    str_prop("source.address", "source", "address",
             requests == 1 ? "10.0.0.2:50124" : "10.0.0.2:50125");
    int_prop("source.port", "source", "port", requests == 1 ? 50124 : 50125);
    str_prop("destination.address", "destination", "address", "10.0.0.1:443");
    int_prop("destination.port", "destination", "port", 443);
    proxy_get_current_time_nanoseconds(&now);
    st("request.time", wasp_get_property(&v, "request", "time", NULL), WASP_OK);
    truth("request.time is int64 ns == now", le64(&v, &t) && t == now);
    wasp_bytes_free(&v);
    int_prop("request.size", "request", "size", 0);
    st("connection.id", wasp_get_property(&v, "connection", "id", NULL), WASP_OK);
    truth("connection.id is 8 bytes", le64(&v, &port));
    wasp_bytes_free(&v);
    st("connection.mtls", wasp_get_property(&v, "connection", "mtls", NULL), WASP_OK);
    truth("connection.mtls is one byte 0", v.len == 1 && v.data[0] == 0);
    wasp_bytes_free(&v);
    no_prop("connection.tls_version without TLS", "connection", "tls_version");
    no_prop("request.duration before the request is complete", "request", "duration");
    no_prop("upstream.address before upstream", "upstream", "address");
    no_prop("response.code before the response", "response", "code");
    no_prop("response.code_details before the response", "response", "code_details");
    st("request.headers map", wasp_get_property(&v, "request", "headers", NULL), WASP_OK);
    {
        struct wasp_pairs it;
        const char *k, *val;
        size_t kl, vl;
        uint32_t count = 0;
        truth("request.headers is a pairs map", wasp_pairs_init(&it, &v));
        while (wasp_pairs_next(&it, &k, &kl, &val, &vl))
            count++;
        truth("request.headers has every header", count == n);
    }
    wasp_bytes_free(&v);
}

/* Header map edits on the request headers (n fields). */
static void request_header_edits(uint32_t n)
{
    struct wasp_bytes v, pairs;
    size_t size = 0;
    char *data;

    st("map size", proxy_get_header_map_size(0, &size), WASP_OK);
    pairs.data = NULL;
    pairs.len = 0;
    st("map pairs", proxy_get_header_map_pairs(0, &pairs.data, &pairs.len), WASP_OK);
    truth("map size == pairs size", size == pairs.len && size > 4);
    truth("pairs count == num_headers",
          pairs.len >= 4 && (uint8_t)pairs.data[0] == n && pairs.data[1] == 0);
    st("set pairs (same)", proxy_set_header_map_pairs(0, pairs.data, pairs.len), WASP_OK);
    st("set pairs malformed", proxy_set_header_map_pairs(0, pairs.data, pairs.len - 1),
       WASP_BAD_ARGUMENT);
    size = 0;
    st("map size after a malformed set", proxy_get_header_map_size(0, &size), WASP_OK);
    truth("a malformed set leaves the map", size == pairs.len);
    wasp_bytes_free(&pairs);

    st("add", wasp_add_header(0, "X-Conf", "a"), WASP_OK);
    st("get (case-insensitive)", wasp_get_header(0, "X-CONF", &v), WASP_OK);
    bytes_eq("get added", &v, "a");
    wasp_bytes_free(&v);
    st("add a second value", wasp_add_header(0, "x-conf", "b"), WASP_OK);
    st("get gives the first", wasp_get_header(0, "x-conf", &v), WASP_OK);
    bytes_eq("get gives the first", &v, "a");
    wasp_bytes_free(&v);
    st("replace", wasp_replace_header(0, "x-conf", "c"), WASP_OK);
    st("get replaced", wasp_get_header(0, "x-conf", &v), WASP_OK);
    bytes_eq("get replaced", &v, "c");
    wasp_bytes_free(&v);
    pairs.data = NULL;
    st("pairs after replace", proxy_get_header_map_pairs(0, &pairs.data, &pairs.len), WASP_OK);
    truth("replace leaves one value (lower-cased key)",
          (uint8_t)pairs.data[0] == n + 1 && memmem(pairs.data, pairs.len, "x-conf", 6) != NULL &&
              memmem(pairs.data, pairs.len, "X-Conf", 6) == NULL);
    wasp_bytes_free(&pairs);
    st("remove", wasp_remove_header(0, "x-conf"), WASP_OK);
    st("get removed", wasp_get_header(0, "x-conf", &v), WASP_NOT_FOUND);
    st("remove absent", wasp_remove_header(0, "x-conf"), WASP_OK);
    st("add empty key", proxy_add_header_map_value(0, "", 0, "v", 1), WASP_BAD_ARGUMENT);
    st("replace to add", wasp_replace_header(0, "x-conformance", "checked"), WASP_OK);
    /* Phase rules: the response does not exist yet. */
    absent_map("response headers during the request", WASP_MAP_RESPONSE_HEADERS, WASP_OK);
    absent_map("request trailers (none)", WASP_MAP_REQUEST_TRAILERS, WASP_OK);
    absent_map("callout headers outside a callout", WASP_MAP_HTTP_CALL_RESPONSE_HEADERS,
               WASP_NOT_FOUND);
    st("response body during the request", proxy_get_buffer_bytes(1, 0, 10, &data, &size),
       WASP_NOT_FOUND);
    map_misuse();
    buffer_misuse();
    /* Stream actions with bad arguments (no effect). */
    st("local reply status 99", proxy_send_local_response(99, "d", 1, "b", 1, NULL, 0, -1),
       WASP_BAD_ARGUMENT);
    st("local reply malformed headers",
       proxy_send_local_response(403, "d", 1, "b", 1, "\x05\0\0\0", 4, -1), WASP_BAD_ARGUMENT);
    st("local reply bad details", proxy_send_local_response(403, BAD, 64, "b", 1, NULL, 0, -1),
       WASP_INVALID_MEMORY_ACCESS);
    st("continue_stream type 9 on a stream", proxy_continue_stream(9), WASP_BAD_ARGUMENT);
    st("close_stream type 9 on a stream", proxy_close_stream(9), WASP_BAD_ARGUMENT);
}

int32_t WASP_EXPORT(proxy_on_request_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    uint32_t token = 0;
    char path[64];

    requests++;
    truth("headers-only request: end_of_stream", eos == 1);
    request_properties(n);
    request_header_edits(n);
    /* Request 1: a callout answered from the canned file; request 2: one that fails. */
    snprintf(path, sizeof(path), "/conf/%d", requests);
    const char *kv[] = {":method", "POST", ":path", path, ":authority", "conf.local"};
    struct wasp_bytes h = {0};
    wasp_pairs_encode(kv, 3, &h);
    st("http_call", proxy_http_call("conf", 4, h.data, h.len, "ping", 4, NULL, 0, 500, &token),
       WASP_OK);
    wasp_bytes_free(&h);
    truth("token", token != 0);
    for (size_t i = 0; i < 8; i++) {
        if (calls[i].token == 0) {
            calls[i] = (struct call){token, ctx, requests};
            break;
        }
    }
    return WASP_PAUSE;
}

void WASP_EXPORT(proxy_on_http_call_response)(uint32_t root, uint32_t token, uint32_t nh,
                                              uint32_t body_size, uint32_t nt)
{
    struct call call = {0};
    struct wasp_bytes v = {0};
    uint32_t code = 99;
    size_t size;
    uint32_t flags;

    st("callout answered on the root", (int32_t)root, (int32_t)root_ctx);
    for (size_t i = 0; i < 8; i++) {
        if (calls[i].token == token) {
            call = calls[i];
            calls[i].token = 0;
        }
    }
    truth("callout token known", call.token != 0);
    /* The SDK way: switch to the stream, read the answer (still the root's), resume. */
    st("set_effective_context stream", proxy_set_effective_context(call.stream), WASP_OK);
    st("get_status", proxy_get_status(&code, &v.data, &v.len), WASP_OK);
    if (call.request == 1) {
        truth("callout ok: 2 headers, 1 trailer", nh == 2 && nt == 1);
        truth("callout status code 0", code == 0);
        bytes_eq("callout status message", &v, "OK");
        wasp_bytes_free(&v);
        st("callout :status", wasp_get_header(6, ":status", &v), WASP_OK);
        bytes_eq("callout :status", &v, "200");
        wasp_bytes_free(&v);
        st("callout header", wasp_get_header(6, "x-conf-answer", &v), WASP_OK);
        bytes_eq("callout header", &v, "yes");
        wasp_bytes_free(&v);
        st("callout body", wasp_get_buffer(4, 0, body_size, &v), WASP_OK);
        bytes_eq("callout body", &v, "pong");
        wasp_bytes_free(&v);
        st("callout body status", proxy_get_buffer_status(4, &size, &flags), WASP_OK);
        truth("callout body size", size == body_size && body_size == 4);
        st("callout trailers", proxy_get_header_map_pairs(7, &v.data, &v.len), WASP_OK);
        truth("callout trailers hold one pair", v.len > 4 && v.data[0] == 1);
        wasp_bytes_free(&v);
        st("callout headers read-only", proxy_add_header_map_value(6, "k", 1, "v", 1),
           WASP_NOT_FOUND);
        st("callout body read-only", proxy_set_buffer_bytes(4, 0, 0, "x", 1), WASP_BAD_ARGUMENT);
        st("continue_stream", proxy_continue_stream(WASP_STREAM_REQUEST), WASP_OK);
    } else {
        truth("failed callout: 0 headers", nh == 0 && body_size == 0 && nt == 0);
        truth("failed callout: status 11", code == 11);
        bytes_eq("failed callout message", &v, "reset");
        wasp_bytes_free(&v);
        absent_map("failed callout headers", 6, WASP_NOT_FOUND);
        st("failed callout body", wasp_get_buffer(4, 0, 10, &v), WASP_NOT_FOUND);
        st("0.1.0 continue_request", proxy_continue_request(), WASP_OK);
    }
}

int32_t WASP_EXPORT(proxy_on_response_headers)(uint32_t ctx, uint32_t n, uint32_t eos)
{
    struct wasp_bytes v;

    int_prop("response.code", "response", "code", 200);
    str_prop("response.code_details", "response", "code_details", "via_upstream");
    header_prop("response.headers.rh1", "response", "rh1", "rv1");
    str_prop("upstream.address", "upstream", "address", "10.0.0.1:443");
    int_prop("upstream.port", "upstream", "port", 443);
    st("request.duration", wasp_get_property(&v, "request", "duration", NULL), WASP_OK);
    truth("request.duration is 8 bytes", v.len == 8);
    wasp_bytes_free(&v);
    st("response :status", wasp_get_header(2, ":status", &v), WASP_OK);
    bytes_eq("response :status", &v, "200");
    wasp_bytes_free(&v);
    st("response replace", wasp_replace_header(2, "rh1", "conf"), WASP_OK);
    /* The request went upstream: its headers are read-only now (a write is acknowledged
     * and ignored), still readable. */
    st("request headers read-only", wasp_add_header(0, "k", "v"), WASP_OK);
    st("request headers unchanged", wasp_get_header(0, "k", &v), WASP_NOT_FOUND);
    st("request headers readable", wasp_get_header(0, "x-conformance", &v), WASP_OK);
    bytes_eq("request header kept", &v, "checked");
    wasp_bytes_free(&v);
    st("request body during the response (none)", wasp_get_buffer(0, 0, 10, &v), WASP_NOT_FOUND);
    if (requests == 1) {
        /* A callout nobody waits for: its answer is slow, the stream ends first, and the
         * callout dies with it (proxy_on_http_call_response must never see this token). */
        uint32_t token = 0;
        const char *kv[] = {":method", "GET", ":path", "/slow", ":authority", "conf.local"};
        struct wasp_bytes h = {0};
        wasp_pairs_encode(kv, 3, &h);
        st("http_call (abandoned)",
           proxy_http_call("conf", 4, h.data, h.len, NULL, 0, NULL, 0, 0, &token), WASP_OK);
        wasp_bytes_free(&h);
    }
    return WASP_CONTINUE;
}

int32_t WASP_EXPORT(proxy_on_response_body)(uint32_t ctx, uint32_t size, uint32_t eos)
{
    struct wasp_bytes v;
    size_t len = 0;
    uint32_t flags = 0;

    st("response body status", proxy_get_buffer_status(1, &len, &flags), WASP_OK);
    truth("response body size", len == size);
    truth("response body end of stream flag", eos == 1 && flags == 1);
    st("response body", wasp_get_buffer(1, 0, size, &v), WASP_OK);
    bool hello = wasp_bytes_eq(&v, "Hello World!");
    truth("response body is the recorded one", hello || wasp_bytes_eq(&v, "ABCDEFGHI"));
    wasp_bytes_free(&v);
    int_prop("response.size", "response", "size", size);
    if (hello) {
        /* An arbitrary splice: "World" -> "wasp", then append and prepend. */
        st("splice", proxy_set_buffer_bytes(1, 6, 5, "wasp", 4), WASP_OK);
        st("append", proxy_set_buffer_bytes(1, 100, 0, ">", 1), WASP_OK);
        st("prepend", proxy_set_buffer_bytes(1, 0, 0, "<", 1), WASP_OK);
        st("body after the edits", wasp_get_buffer(1, 0, 100, &v), WASP_OK);
        bytes_eq("body after the edits", &v, "<Hello wasp!>");
        wasp_bytes_free(&v);
    } else {
        st("partial read", wasp_get_buffer(1, 2, 3, &v), WASP_OK);
        bytes_eq("partial read", &v, "CDE");
        wasp_bytes_free(&v);
        /* The second response is closed by the plugin after this callback. */
        st("close_stream", proxy_close_stream(WASP_STREAM_RESPONSE), WASP_OK);
    }
    return WASP_CONTINUE;
}

void WASP_EXPORT(proxy_on_log)(uint32_t ctx)
{
    struct wasp_bytes v;
    uint64_t size = 0, total = 0;

    st("request headers in on_log", wasp_get_header(0, "x-conformance", &v), WASP_OK);
    wasp_bytes_free(&v);
    st("request headers read-only in on_log", wasp_add_header(0, "k", "v"), WASP_OK);
    st("response headers read-only in on_log", wasp_replace_header(2, "rh1", "x"), WASP_OK);
    st("response header unchanged in on_log", wasp_get_header(2, "rh1", &v), WASP_OK);
    bytes_eq("response header unchanged in on_log", &v, "conf");
    wasp_bytes_free(&v);
    st("response.size", wasp_get_property(&v, "response", "size", NULL), WASP_OK);
    le64(&v, &size);
    wasp_bytes_free(&v);
    st("response.total_size", wasp_get_property(&v, "response", "total_size", NULL), WASP_OK);
    truth("response.total_size counts the headers", le64(&v, &total) && total > size);
    wasp_bytes_free(&v);
    st("request.total_size", wasp_get_property(&v, "request", "total_size", NULL), WASP_OK);
    truth("request.total_size counts the headers", le64(&v, &total) && total > 20);
    wasp_bytes_free(&v);
}
