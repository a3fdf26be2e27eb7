/*
 * test_properties.c - unit tests of hostcalls/properties.c: Envoy's property names and
 * binary encodings, set/get of plugin properties, the host fallback, NOT_FOUND.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake.h"

#define PATH 0x100u
#define V 0x200u
#define P 0x300u
#define S 0x304u

/* Gets a property whose path is given with '.' standing for the NUL separator. */
static uint32_t prop(struct pw_vm *vm, const char *dotted, const uint8_t **out, uint32_t *len)
{
    char path[128];
    size_t n = strlen(dotted);

    memcpy(path, dotted, n);
    for (size_t i = 0; i < n; i++)
        if (path[i] == '.')
            path[i] = '\0';
    fake_put(vm, PATH, path, n);
    uint32_t st = HC(get_property, vm, PATH, n, P, S);
    if (st == PW_OK)
        *out = fake_out(vm, P, S, len);
    return st;
}

static void expect_str(struct pw_vm *vm, const char *path, const char *want)
{
    const uint8_t *v;
    uint32_t len;

    uint32_t st_ = prop(vm, path, &v, &len);
    if (st_ != PW_OK)
        print_error("property %s: status %u\n", path, st_);
    assert_int_equal(st_, PW_OK);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(v, want, len);
}

static void expect_int(struct pw_vm *vm, const char *path, uint64_t want)
{
    const uint8_t *v;
    uint32_t len;

    assert_int_equal(prop(vm, path, &v, &len), PW_OK);
    assert_int_equal(len, 8);
    uint64_t got = 0;
    for (int i = 7; i >= 0; i--)
        got = got << 8 | v[i];
    assert_int_equal(got, want);
}

static int setup(void **state)
{
    fake_env_setup(state);
    struct fake_env *e = *state;
    struct pw_stream_info *i = &e->fs.info;

    i->source_address = "10.0.0.2:50124";
    i->source_port = 50124;
    i->destination_address = "10.0.0.1:443";
    i->destination_port = 443;
    i->connection_id = 42;
    i->protocol = "HTTP/1.1";
    i->request_time_ns = 1234567890123ull;
    pw_map_add(&e->fs.maps[0], ":method", 7, "GET", 3);
    pw_map_add(&e->fs.maps[0], ":authority", 10, "example.com", 11);
    return 0;
}

static void plugin_and_request_properties(void **state)
{
    struct fake_env *e = *state;

    expect_str(e->vm, "plugin_name", "plug");
    expect_str(e->vm, "plugin_root_id", "rid");
    expect_str(e->vm, "plugin_vm_id", "vm1");
    expect_str(e->vm, "request.path", "/a?b=1");
    expect_str(e->vm, "request.url_path", "/a");
    expect_str(e->vm, "request.query", "b=1");
    expect_str(e->vm, "request.method", "GET");
    expect_str(e->vm, "request.host", "example.com");
    expect_str(e->vm, "request.protocol", "HTTP/1.1");
    expect_int(e->vm, "request.time", 1234567890123ull);
    /* x-foo occurs twice: the values joined with "," (Envoy's CEL lookup) */
    expect_str(e->vm, "request.headers.x-foo", "one,two");
    expect_str(e->vm, "request.headers.X-Foo", "one,two");
    const uint8_t *v;
    uint32_t len;
    assert_int_equal(prop(e->vm, "request.headers", &v, &len), PW_OK);
    struct pw_map m = {0};
    assert_int_equal(pw_map_parse(v, len, &m), PW_OK);
    assert_int_equal(m.count, 5);
    pw_map_free(&m);
}

static void connection_properties_use_envoys_encodings(void **state)
{
    struct fake_env *e = *state;
    const uint8_t *v;
    uint32_t len;

    expect_str(e->vm, "source.address", "10.0.0.2:50124");
    expect_int(e->vm, "source.port", 50124);
    expect_str(e->vm, "destination.address", "10.0.0.1:443");
    expect_int(e->vm, "destination.port", 443);
    expect_int(e->vm, "connection.id", 42);
    assert_int_equal(prop(e->vm, "connection.mtls", &v, &len), PW_OK);
    assert_int_equal(len, 1);
    assert_int_equal(v[0], 0);
    assert_int_equal(prop(e->vm, "connection.tls_version", &v, &len), PW_NOT_FOUND);
    assert_int_equal(prop(e->vm, "upstream.address", &v, &len), PW_NOT_FOUND);
    /* Response properties appear with the response. */
    assert_int_equal(prop(e->vm, "response.code", &v, &len), PW_NOT_FOUND);
    e->fs.has_map[PW_MAP_RESPONSE_HEADERS] = true;
    pw_map_add(&e->fs.maps[2], ":status", 7, "404", 3);
    expect_int(e->vm, "response.code", 404);
    expect_str(e->vm, "response.headers.:status", "404");
}

static void set_property_is_read_back_and_unknown_is_not_found(void **state)
{
    struct fake_env *e = *state;
    const uint8_t *v;
    uint32_t len;

    fake_put(e->vm, PATH, "my\0key", 6);
    fake_put(e->vm, V, "val", 3);
    assert_int_equal(HC(set_property, e->vm, PATH, 6, V, 3), PW_OK);
    expect_str(e->vm, "my.key", "val");
    /* a trailing NUL is tolerated */
    fake_put(e->vm, PATH, "my\0key\0", 7);
    assert_int_equal(HC(get_property, e->vm, PATH, 7, P, S), PW_OK);
    /* set on the root is visible from its streams */
    fake_enter(e->vm, &e->root->ctx, PW_CB_TICK);
    fake_put(e->vm, PATH, "rootprop", 8);
    assert_int_equal(HC(set_property, e->vm, PATH, 8, V, 3), PW_OK);
    fake_enter(e->vm, &e->stream->ctx, PW_CB_REQUEST_HEADERS);
    expect_str(e->vm, "rootprop", "val");
    /* the host answers what the layer does not know */
    expect_str(e->vm, "host.only", "yes");
    assert_int_equal(prop(e->vm, "no.such.thing", &v, &len), PW_NOT_FOUND);
    assert_int_equal(HC(get_property, e->vm, 0xfff0, 0x100, P, S), PW_INVALID_MEMORY_ACCESS);
    assert_int_equal(HC(get_property, e->vm, PATH, 4, 0xfffe, S), PW_INVALID_MEMORY_ACCESS);
    assert_int_equal(HC(set_property, e->vm, PATH, 4, 0xfff0, 0x100), PW_INVALID_MEMORY_ACCESS);
}

static void sizes_durations_details_and_upstream(void **state)
{
    struct fake_env *e = *state;
    struct pw_stream_info *i = &e->fs.info;
    const uint8_t *v;
    uint32_t len;

    /* Request headers {:path /a?b=1, x-foo one, x-foo two, :method GET, :authority
     * example.com}: 5+6 + 5+3 + 5+3 + 7+3 + 10+11 = 58 bytes. */
    i->request_size = 10;
    expect_int(e->vm, "request.size", 10);
    expect_int(e->vm, "request.total_size", 68);
    expect_int(e->vm, "request.headers_bytes", 58);
    e->fs.has_map[PW_MAP_REQUEST_TRAILERS] = true;
    pw_map_add(&e->fs.maps[1], "t", 1, "12", 2);
    expect_int(e->vm, "request.total_size", 71);
    assert_int_equal(prop(e->vm, "request.duration", &v, &len), PW_NOT_FOUND);
    i->has_request_duration = true;
    i->request_duration_ns = 0; /* a complete request may take 0 ns on a virtual clock */
    expect_int(e->vm, "request.duration", 0);
    i->request_duration_ns = 5000000;
    expect_int(e->vm, "request.duration", 5000000);

    assert_int_equal(prop(e->vm, "response.code_details", &v, &len), PW_NOT_FOUND);
    e->fs.has_map[PW_MAP_RESPONSE_HEADERS] = true;
    pw_map_add(&e->fs.maps[2], ":status", 7, "200", 3);
    i->response_size = 4;
    i->response_code_details = "via_upstream";
    expect_str(e->vm, "response.code_details", "via_upstream");
    expect_int(e->vm, "response.size", 4);
    expect_int(e->vm, "response.total_size", 4 + 10);
    expect_int(e->vm, "response.headers_bytes", 10);
    assert_int_equal(prop(e->vm, "response.trailers", &v, &len), PW_NOT_FOUND);
    e->fs.has_map[PW_MAP_RESPONSE_TRAILERS] = true;
    pw_map_add(&e->fs.maps[3], "grpc-status", 11, "0", 1);
    expect_str(e->vm, "response.trailers.grpc-status", "0");
    expect_int(e->vm, "response.total_size", 4 + 10 + 12);

    i->upstream_address = "10.0.0.9:8080";
    i->upstream_port = 8080;
    expect_str(e->vm, "upstream.address", "10.0.0.9:8080");
    expect_int(e->vm, "upstream.port", 8080);
    i->tls = true;
    i->mtls = true;
    i->tls_version = "TLSv1.3";
    expect_str(e->vm, "connection.tls_version", "TLSv1.3");
    assert_int_equal(prop(e->vm, "connection.mtls", &v, &len), PW_OK);
    assert_int_equal(len, 1);
    assert_int_equal(v[0], 1);
    /* x-request-id when the host has no id of its own */
    assert_int_equal(prop(e->vm, "request.id", &v, &len), PW_NOT_FOUND);
    pw_map_add(&e->fs.maps[0], "x-request-id", 12, "abc", 3);
    expect_str(e->vm, "request.id", "abc");
    i->request_id = "host-id";
    expect_str(e->vm, "request.id", "host-id");
    /* Stream properties do not exist on a root context. */
    fake_enter(e->vm, &e->root->ctx, PW_CB_TICK);
    assert_int_equal(prop(e->vm, "request.path", &v, &len), PW_NOT_FOUND);
    assert_int_equal(prop(e->vm, "source.port", &v, &len), PW_NOT_FOUND);
    expect_str(e->vm, "plugin_name", "plug");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(plugin_and_request_properties, setup, fake_env_teardown),
        cmocka_unit_test_setup_teardown(connection_properties_use_envoys_encodings, setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(set_property_is_read_back_and_unknown_is_not_found, setup,
                                        fake_env_teardown),
        cmocka_unit_test_setup_teardown(sizes_durations_details_and_upstream, setup,
                                        fake_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
