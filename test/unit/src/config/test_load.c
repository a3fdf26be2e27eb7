/*
 * test_load.c - the configuration loader (src/config/load.c): every error
 * path with its exact message and line, the defaults, every value type,
 * file loading with relative paths, `waspd -t` output, refcounted
 * generations, and that the shipped etc/waspd.ini loads cleanly.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/internal.h"
#include "helpers.h"

static char tmpdir[64];
static char wasm_path[128], cert_path[128], key_path[128], conf_path[128];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup_files(void **state)
{
    strcpy(tmpdir, "/tmp/wasp-cfg-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(wasm_path, sizeof(wasm_path), "%s/p.wasm", tmpdir);
    snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", tmpdir);
    snprintf(key_path, sizeof(key_path), "%s/key.pem", tmpdir);
    snprintf(conf_path, sizeof(conf_path), "%s/conf.json", tmpdir);
    write_file(wasm_path, "\0asm");
    write_file(cert_path, "cert");
    write_file(key_path, "key");
    write_file(conf_path, "{\"from\": \"file\"}");
    return 0;
}

static int remove_files(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Formats a config text with the temp file paths substituted. */
static const char *fmt(const char *format, ...)
{
    static char bufs[4][4096];
    static unsigned next;
    char *buf = bufs[next++ % 4];
    va_list ap;
    va_start(ap, format);
    vsnprintf(buf, sizeof(bufs[0]), format, ap);
    va_end(ap);
    return buf;
}

/* ---- syntax ------------------------------------------------------------ */

static void test_key_outside_section_is_an_error(void **state)
{
    load_fails("workers = 2\n" LISTENER, "t.ini:1: workers: key outside of any section", NULL);
}

static void test_unknown_section_kind_is_an_error(void **state)
{
    load_fails(LISTENER "[frontend:x]\nfoo = 1\n",
               "t.ini:4: [frontend:x]: unknown section kind 'frontend' (daemon, listener, "
               "cluster, route, plugin)",
               NULL);
}

static void test_named_kind_without_name_is_an_error(void **state)
{
    load_fails(LISTENER "[cluster]\nendpoints = 127.0.0.1:1\n",
               "t.ini:4: [cluster]: needs a name: [cluster:NAME]", NULL);
}

static void test_daemon_with_name_is_an_error(void **state)
{
    load_fails("[daemon:x]\n" LISTENER, "t.ini:1: [daemon:x]: [daemon] takes no name", NULL);
}

static void test_bad_section_name_is_an_error(void **state)
{
    load_fails(LISTENER "[cluster:a/b]\n",
               "t.ini:4: [cluster:a/b]: 'a/b' is not a valid name (1-64 of A-Z a-z 0-9 _ . -)",
               NULL);
}

static void test_unclosed_section_header_is_an_error(void **state)
{
    load_fails(LISTENER "[cluster:x\n", "t.ini:4: section header without ']'", NULL);
}

static void test_text_after_section_header_is_an_error(void **state)
{
    load_fails(LISTENER "[daemon] x\n", "t.ini:4: text after the section header", NULL);
}

static void test_comment_after_section_header_is_fine(void **state)
{
    cfg_unref(load_ok("[daemon] ; the daemon\n" LISTENER));
}

static void test_duplicate_section_is_an_error_and_its_keys_ignored(void **state)
{
    load_fails(LISTENER "[listener:l]\nbogus = 1\n",
               "t.ini:4: [listener:l]: duplicate section (first at line 1)", NULL);
}

static void test_duplicate_key_is_an_error(void **state)
{
    load_fails("[daemon]\nworkers = 1\nworkers = 2\n" LISTENER,
               "t.ini:3: [daemon] workers: set twice (first at line 2)", NULL);
}

static void test_unknown_key_is_an_error(void **state)
{
    load_fails("[daemon]\nworker = 1\n" LISTENER, "t.ini:2: [daemon] worker: unknown key", NULL);
}

static void test_empty_key_is_an_error(void **state)
{
    load_fails("[daemon]\n= 1\n" LISTENER, "t.ini:2: [daemon] (empty): unknown key", NULL);
}

static void test_line_without_equals_is_an_error(void **state)
{
    load_fails("[daemon]\nworkers 2\n" LISTENER,
               "t.ini:2: [daemon]: expected 'key = value', got 'workers 2'", NULL);
}

static void test_too_long_line_is_an_error(void **state)
{
    char text[512];
    memset(text, 0, sizeof(text));
    strcpy(text, LISTENER "add_response_header = X-Long: ");
    memset(text + strlen(text), 'a', 250);
    strcat(text, "\n");
    load_fails(text,
               "t.ini:4: [listener:l]: line longer than 198 bytes (use configuration_file "
               "for long values)",
               NULL);
}

static void test_nul_byte_is_an_error(void **state)
{
    struct cfg_errors errors = {0};
    static const char text[] = LISTENER "x\0y = 1\n";
    /* cfg_load reads the file whole, NULs included: go through a file. */
    char path[160];
    snprintf(path, sizeof(path), "%s/nul.ini", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fwrite(text, 1, sizeof(text) - 1, f);
    fclose(f);
    assert_null(cfg_load(path, &errors));
    assert_int_equal(errors.count, 1);
    assert_non_null(strstr(errors.items[0], "nul.ini:4: NUL byte in line"));
    cfg_errors_free(&errors);
}

static void test_indented_keys_crlf_bom_and_comments_are_accepted(void **state)
{
    const struct cfg_generation *g =
        load_ok("\xEF\xBB\xBF# comment\r\n[daemon]\r\n   workers = 3 ; three\r\n"
                "\tlog_level = debug\r\n" LISTENER);
    assert_int_equal(g->daemon.workers, 3);
    assert_int_equal(g->daemon.log_level, CFG_LOG_DEBUG);
    cfg_unref(g);
}

static void test_every_error_is_collected_in_line_order(void **state)
{
    load_fails("[daemon]\nworkers = many\nlog_level = loud\n"
               "[listener:l]\ncluster = nowhere\nheader_timeout = 5\n"
               "[cluster:c]\n",
               "t.ini:2: [daemon] workers: 'many' is not 'auto' or a number 1..1024",
               "t.ini:3: [daemon] log_level: 'loud' is not one of: error, warn, notice, info, "
               "debug",
               "t.ini:4: [listener:l] address: missing (required)",
               "t.ini:5: [listener:l] cluster: unknown cluster 'nowhere'",
               "t.ini:6: [listener:l] header_timeout: '5' is not a duration (e.g. 250ms, 5s, "
               "1m, 1h; units required)",
               "t.ini:7: [cluster:c] endpoints: missing (required)", NULL);
}

static void test_no_listener_is_an_error(void **state)
{
    load_fails("[daemon]\nworkers = 1\n", "t.ini: no [listener:NAME] section: nothing to serve",
               NULL);
}

static void test_empty_file_is_an_error(void **state)
{
    load_fails("", "t.ini: no [listener:NAME] section: nothing to serve", NULL);
}

/* ---- [daemon] -------------------------------------------------------------- */

static void test_daemon_defaults(void **state)
{
    const struct cfg_generation *g = load_ok(LISTENER);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    assert_true(g->daemon.workers_auto);
    assert_int_equal(g->daemon.workers, cpus > 0 ? cpus : 1);
    assert_int_equal(g->daemon.error_log.kind, CFG_LOG_STDERR);
    assert_int_equal(g->daemon.access_log.kind, CFG_LOG_OFF);
    assert_int_equal(g->daemon.log_level, CFG_LOG_INFO);
    assert_int_equal(g->daemon.drain_timeout_ms, 30000);
    assert_null(g->daemon.pid_file);
    cfg_unref(g);
}

static void test_daemon_values(void **state)
{
    const struct cfg_generation *g =
        load_ok("[daemon]\nworkers = 4\nerror_log = /var/log/waspd/error.log\n"
                "access_log = stdout\nlog_level = warn\ndrain_timeout = 1m30s\n"
                "pid_file = /run/waspd.pid\n" LISTENER);

    assert_false(g->daemon.workers_auto);
    assert_int_equal(g->daemon.workers, 4);
    assert_int_equal(g->daemon.error_log.kind, CFG_LOG_FILE);
    assert_string_equal(g->daemon.error_log.path, "/var/log/waspd/error.log");
    assert_int_equal(g->daemon.access_log.kind, CFG_LOG_STDOUT);
    assert_int_equal(g->daemon.log_level, CFG_LOG_WARN);
    assert_int_equal(g->daemon.drain_timeout_ms, 90000);
    assert_string_equal(g->daemon.pid_file, "/run/waspd.pid");
    cfg_unref(g);
}

static void test_daemon_bad_values(void **state)
{
    load_fails("[daemon]\nworkers = 0\nerror_log =\ndrain_timeout = 2d\n" LISTENER,
               "t.ini:2: [daemon] workers: '0' is not 'auto' or a number 1..1024",
               "t.ini:3: [daemon] error_log: empty value (off, stderr, stdout or a file path)",
               "t.ini:4: [daemon] drain_timeout: '2d' is not a duration (e.g. 250ms, 5s, 1m, "
               "1h; units required)",
               NULL);
    load_fails("[daemon]\nworkers = 1025\ndrain_timeout = 25h\n" LISTENER,
               "t.ini:2: [daemon] workers: '1025' is not 'auto' or a number 1..1024",
               "t.ini:3: [daemon] drain_timeout: '25h' is out of range (0ms..86400000ms)", NULL);
}

/* ---- [listener:*] ------------------------------------------------------------ */

static void test_listener_defaults(void **state)
{
    const struct cfg_generation *g = load_ok(LISTENER);
    const struct cfg_listener *l = cfg_find_listener(g, "l");

    assert_non_null(l);
    assert_string_equal(l->name, "l");
    assert_int_equal(l->protocol, CFG_LISTENER_HTTP);
    assert_int_equal(l->max_request_line, 8192);
    assert_int_equal(l->max_header_size, 32768);
    assert_int_equal(l->max_headers, 100);
    assert_int_equal(l->http2_max_streams, 128);
    assert_int_equal(l->max_body_size, 0);
    assert_int_equal(l->header_timeout_ms, 10000);
    assert_int_equal(l->idle_timeout_ms, 60000);
    assert_int_equal(l->body_timeout_ms, 30000);
    assert_int_equal(l->test_pause_ms, 0);
    assert_int_equal(l->request_buffering, 64 << 10);
    assert_true(l->upgrades);
    assert_int_equal(l->tunnel_idle_timeout_ms, 300000);
    assert_int_equal(l->default_target.upgrades, CFG_SWITCH_UNSET);
    assert_int_equal(l->n_plugins, 0);
    assert_int_equal(l->n_routes, 0);
    assert_null(l->tls_certificate);
    assert_null(l->default_target.cluster);
    assert_non_null(l->default_target.respond);
    assert_int_equal(l->default_target.respond->status, 200);
    assert_int_equal(l->n_request_headers_add + l->n_request_headers_remove +
                         l->n_response_headers_add + l->n_response_headers_remove,
                     0);
    cfg_unref(g);
}

static void test_listener_values(void **state)
{
    const struct cfg_generation *g =
        load_ok(fmt("[plugin:a]\nfile = %s\n[plugin:b]\nfile = %s\n"
                    "[cluster:c]\nendpoints = 127.0.0.1:9000\n"
                    "[listener:l]\naddress = [::1]:8443\nprotocol = https\n"
                    "tls_certificate = %s\ntls_key = %s\nmax_request_line = 4k\n"
                    "max_header_size = 1m\nmax_headers = 50\nmax_body_size = 10m\n"
                    "hold_limit = 256k\n"
                    "http2_max_streams = 7\n"
                    "header_timeout = 250ms\nidle_timeout = 2m\nbody_timeout = 1h\n"
                    "test_pause = 150ms\n"
                    "plugins = b, a\ncluster = c\n"
                    "add_request_header = X-One: 1\nadd_request_header = X-Two:   two words\n"
                    "remove_request_header = Cookie\nadd_response_header = Server: wasp\n"
                    "remove_response_header = X-Powered-By\n",
                    wasm_path, wasm_path, cert_path, key_path));
    const struct cfg_listener *l = cfg_find_listener(g, "l");
    const struct sockaddr_in6 *sa = (const struct sockaddr_in6 *)&l->address.sa;

    assert_string_equal(l->address.text, "[::1]:8443");
    assert_string_equal(l->address.host, "::1");
    assert_int_equal(l->address.port, 8443);
    assert_int_equal(sa->sin6_family, AF_INET6);
    assert_int_equal(ntohs(sa->sin6_port), 8443);
    assert_int_equal(l->address.sa_len, sizeof(struct sockaddr_in6));
    assert_int_equal(l->protocol, CFG_LISTENER_HTTPS);
    assert_string_equal(l->tls_certificate, cert_path);
    assert_string_equal(l->tls_key, key_path);
    assert_int_equal(l->max_request_line, 4096);
    assert_int_equal(l->max_header_size, 1 << 20);
    assert_int_equal(l->max_headers, 50);
    assert_int_equal(l->http2_max_streams, 7);
    assert_int_equal(l->max_body_size, 10 << 20);
    assert_int_equal(l->hold_limit, 256 << 10);
    assert_int_equal(l->header_timeout_ms, 250);
    assert_int_equal(l->idle_timeout_ms, 120000);
    assert_int_equal(l->body_timeout_ms, 3600000);
    assert_int_equal(l->test_pause_ms, 150);
    assert_int_equal(l->n_plugins, 2);
    assert_ptr_equal(l->plugins[0], cfg_find_plugin(g, "b"));
    assert_ptr_equal(l->plugins[1], cfg_find_plugin(g, "a"));
    assert_ptr_equal(l->default_target.cluster, cfg_find_cluster(g, "c"));
    assert_null(l->default_target.respond);
    assert_null(l->default_target.route);
    assert_int_equal(l->n_request_headers_add, 2);
    assert_string_equal(l->request_headers_add[0].name, "X-One");
    assert_string_equal(l->request_headers_add[0].value, "1");
    assert_string_equal(l->request_headers_add[1].name, "X-Two");
    assert_string_equal(l->request_headers_add[1].value, "two words");
    assert_int_equal(l->n_request_headers_remove, 1);
    assert_string_equal(l->request_headers_remove[0].name, "Cookie");
    assert_null(l->request_headers_remove[0].value);
    assert_int_equal(l->n_response_headers_add, 1);
    assert_string_equal(l->response_headers_add[0].value, "wasp");
    assert_int_equal(l->n_response_headers_remove, 1);
    assert_string_equal(l->response_headers_remove[0].name, "X-Powered-By");
    cfg_unref(g);
}

static void test_listener_ipv4_and_wildcard_addresses(void **state)
{
    const struct cfg_generation *g =
        load_ok("[listener:a]\naddress = 127.0.0.1:8080\nrespond = 200\n"
                "[listener:b]\naddress = *:8081\nrespond = 204\n"
                "[listener:c]\naddress = 0.0.0.0:8082\nrespond = 200\n");
    const struct sockaddr_in *a = (const void *)&cfg_find_listener(g, "a")->address.sa;
    const struct sockaddr_in *b = (const void *)&cfg_find_listener(g, "b")->address.sa;

    assert_int_equal(g->n_listeners, 3);
    assert_string_equal(g->listeners[0]->name, "a");
    assert_string_equal(g->listeners[2]->name, "c");
    assert_int_equal(a->sin_family, AF_INET);
    assert_int_equal(ntohl(a->sin_addr.s_addr), INADDR_LOOPBACK);
    assert_int_equal(ntohs(a->sin_port), 8080);
    assert_int_equal(b->sin_family, AF_INET);
    assert_int_equal(b->sin_addr.s_addr, htonl(INADDR_ANY));
    assert_string_equal(cfg_find_listener(g, "b")->address.host, "0.0.0.0");
    assert_int_equal(cfg_find_listener(g, "b")->default_target.respond->status, 204);
    assert_int_equal(cfg_find_listener(g, "b")->default_target.respond->body_len, 0);
    cfg_unref(g);
}

static void test_listener_bad_addresses(void **state)
{
    load_fails("[listener:l]\nrespond = 200\naddress = 127.0.0.1\n",
               "t.ini:3: [listener:l] address: '127.0.0.1': missing ':port' (host:port)", NULL);
    load_fails("[listener:l]\nrespond = 200\naddress = 127.0.0.1:0\n",
               "t.ini:3: [listener:l] address: '127.0.0.1:0': bad port (1-65535)", NULL);
    load_fails("[listener:l]\nrespond = 200\naddress = 127.0.0.1:http\n",
               "t.ini:3: [listener:l] address: '127.0.0.1:http': bad port (1-65535)", NULL);
    load_fails("[listener:l]\nrespond = 200\naddress = ::1:80\n",
               "t.ini:3: [listener:l] address: '::1:80': IPv6 addresses need brackets: "
               "[::1]:8080",
               NULL);
    load_fails("[listener:l]\nrespond = 200\naddress = [::1:80\n",
               "t.ini:3: [listener:l] address: '[::1:80': missing ']' after an IPv6 address", NULL);
    load_fails("[listener:l]\nrespond = 200\naddress = [::1]\n",
               "t.ini:3: [listener:l] address: '[::1]': missing ':port'", NULL);
}

static void test_listener_address_used_twice_is_an_error(void **state)
{
    load_fails("[listener:a]\naddress = 127.0.0.1:8080\nrespond = 200\n"
               "[listener:b]\naddress = 127.0.0.1:8080\nrespond = 200\n",
               "t.ini:5: [listener:b] address: '127.0.0.1:8080' clashes with listener 'a' "
               "('127.0.0.1:8080')",
               NULL);
    load_fails("[listener:a]\naddress = 127.0.0.1:8080\nrespond = 200\n"
               "[listener:b]\naddress = *:8080\nrespond = 200\n",
               "t.ini:5: [listener:b] address: '*:8080' clashes with listener 'a' "
               "('127.0.0.1:8080')",
               NULL);
    load_fails("[listener:a]\naddress = [::]:8080\nrespond = 200\n"
               "[listener:b]\naddress = [::1]:8080\nrespond = 200\n",
               "t.ini:5: [listener:b] address: '[::1]:8080' clashes with listener 'a' "
               "('[::]:8080')",
               NULL);
    /* Other port, or the same port on two specific addresses: fine. */
    cfg_unref(load_ok("[listener:a]\naddress = 0.0.0.0:8080\nrespond = 200\n"
                      "[listener:b]\naddress = 0.0.0.0:8081\nrespond = 200\n"
                      "[listener:c]\naddress = 127.0.0.1:9090\nrespond = 200\n"
                      "[listener:d]\naddress = 127.0.0.2:9090\nrespond = 200\n"));
}

static void test_listener_bad_limits(void **state)
{
    load_fails(LISTENER "max_request_line = 10\nmax_header_size = 1x\nmax_headers = -1\n"
                        "max_body_size = 99999999999999999999g\nbody_timeout = 0\n",
               "t.ini:4: [listener:l] max_request_line: '10' is out of range (64..1048576 "
               "bytes)",
               "t.ini:5: [listener:l] max_header_size: '1x' is not a size (e.g. 8192, 64k, "
               "10m, 1g)",
               "t.ini:6: [listener:l] max_headers: '-1' is not a number",
               "t.ini:7: [listener:l] max_body_size: '99999999999999999999g' is not a size "
               "(e.g. 8192, 64k, 10m, 1g)",
               "t.ini:8: [listener:l] body_timeout: '0' is out of range (1ms..86400000ms)", NULL);
    load_fails(LISTENER "test_pause = 61s\n",
               "t.ini:4: [listener:l] test_pause: '61s' is out of range (0ms..60000ms)", NULL);
    load_fails(LISTENER "max_headers = 10001\n",
               "t.ini:4: [listener:l] max_headers: 10001 is out of range (1..10000)", NULL);
    load_fails(LISTENER "http2_max_streams = 0\n",
               "t.ini:4: [listener:l] http2_max_streams: 0 is out of range (1..10000)", NULL);
}

static void test_listener_request_buffering(void **state)
{
    const char *values[] = {"off", "1", "1m", "on"};
    const uint64_t want[] = {0, 1, 1 << 20, UINT64_MAX};
    for (size_t i = 0; i < 4; i++) {
        const struct cfg_generation *g =
            load_ok(fmt(LISTENER "max_body_size = 1m\nrequest_buffering = %s\n", values[i]));
        assert_true(cfg_find_listener(g, "l")->request_buffering == want[i]);
        cfg_unref(g);
    }
    load_fails(LISTENER "request_buffering = 0\n",
               "t.ini:4: [listener:l] request_buffering: '0' is not off, on or a size "
               "1..67108864 (e.g. 64k)",
               NULL);
    load_fails(LISTENER "request_buffering = 65m\n",
               "t.ini:4: [listener:l] request_buffering: '65m' is not off, on or a size "
               "1..67108864 (e.g. 64k)",
               NULL);
    load_fails(LISTENER "request_buffering = on\n",
               "t.ini:4: [listener:l] request_buffering: 'on' holds whole bodies in memory: it "
               "needs a max_body_size",
               NULL);
}

static void test_upgrades_on_listeners_and_routes(void **state)
{
    const struct cfg_generation *g =
        load_ok(LISTENER "upgrades = off\ntunnel_idle_timeout = 90s\n"
                         "[route:a]\npath_prefix = /a\nrespond = 200\nupgrades = on\n"
                         "[route:b]\npath_prefix = /b\nrespond = 200\nupgrades = off\n"
                         "[route:c]\npath_prefix = /c\nrespond = 200\n");
    const struct cfg_listener *l = cfg_find_listener(g, "l");
    assert_false(l->upgrades);
    assert_int_equal(l->tunnel_idle_timeout_ms, 90000);
    assert_int_equal(cfg_route_lookup(l, "h", 1, "/a", 2)->upgrades, CFG_SWITCH_ON);
    assert_int_equal(cfg_route_lookup(l, "h", 1, "/b", 2)->upgrades, CFG_SWITCH_OFF);
    assert_int_equal(cfg_route_lookup(l, "h", 1, "/c", 2)->upgrades, CFG_SWITCH_UNSET);
    cfg_unref(g);
    load_fails(LISTENER "upgrades = yes\n",
               "t.ini:4: [listener:l] upgrades: 'yes' is not one of: off, on", NULL);
    load_fails(LISTENER "[route:r]\nrespond = 200\nupgrades = 1\n",
               "t.ini:6: [route:r] upgrades: '1' is not one of: off, on", NULL);
    load_fails(LISTENER "tunnel_idle_timeout = 0\n",
               "t.ini:4: [listener:l] tunnel_idle_timeout: '0' is out of range "
               "(1ms..86400000ms)",
               NULL);
}

static void test_listener_bad_protocol(void **state)
{
    load_fails(LISTENER "protocol = http2\n",
               "t.ini:4: [listener:l] protocol: 'http2' is not one of: http, https, tcp", NULL);
}

static void test_listener_needs_somewhere_to_send_requests(void **state)
{
    load_fails("[listener:l]\naddress = 127.0.0.1:1\n",
               "t.ini:1: [listener:l]: nowhere to send requests: give cluster, respond or a "
               "[route:*] for it",
               NULL);
}

static void test_listener_cluster_and_respond_together_is_an_error(void **state)
{
    load_fails("[cluster:c]\nendpoints = 127.0.0.1:1\n" LISTENER "cluster = c\n",
               "t.ini:5: [listener:l] respond: give cluster or respond, not both", NULL);
}

static void test_listener_unknown_references(void **state)
{
    load_fails("[listener:l]\naddress = 127.0.0.1:1\ncluster = c\nplugins = p, q\n",
               "t.ini:3: [listener:l] cluster: unknown cluster 'c'",
               "t.ini:4: [listener:l] plugins: unknown plugin 'p'",
               "t.ini:4: [listener:l] plugins: unknown plugin 'q'", NULL);
}

static void test_listener_plugin_list_errors(void **state)
{
    load_fails(LISTENER "plugins = a, , b\n",
               "t.ini:4: [listener:l] plugins: empty item in list 'a, , b'", NULL);
    load_fails(fmt("[plugin:a]\nfile = %s\n" LISTENER "plugins = a,a\n", wasm_path),
               "t.ini:6: [listener:l] plugins: 'a' is listed twice", NULL);
    load_fails(LISTENER "plugins = a b\n",
               "t.ini:4: [listener:l] plugins: 'a b' is not a valid name", NULL);
}

static void test_https_needs_readable_certificate_and_key(void **state)
{
    load_fails(LISTENER "protocol = https\n",
               "t.ini:1: [listener:l] tls_certificate: missing (required for https)",
               "t.ini:1: [listener:l] tls_key: missing (required for https)", NULL);
    load_fails(fmt(LISTENER "protocol = https\ntls_certificate = %s/none.pem\ntls_key = %s\n",
                   tmpdir, key_path),
               fmt("t.ini:5: [listener:l] tls_certificate: cannot read '%s/none.pem': No such "
                   "file or directory",
                   tmpdir),
               NULL);
}

static void test_tls_keys_on_http_listener_are_an_error(void **state)
{
    load_fails(fmt(LISTENER "tls_certificate = %s\ntls_key = %s\n", cert_path, key_path),
               "t.ini:4: [listener:l] tls_certificate: only for protocol = https",
               "t.ini:5: [listener:l] tls_key: only for protocol = https", NULL);
}

static void test_tls_sni(void **state)
{
    const struct cfg_generation *g =
        load_ok(fmt(LISTENER "protocol = https\ntls_certificate = %s\ntls_key = %s\n"
                    "tls_sni = A.Example.com %s %s\ntls_sni = *.example.org %s %s\n",
                    cert_path, key_path, cert_path, key_path, cert_path, key_path));
    const struct cfg_listener *l = cfg_find_listener(g, "l");
    assert_int_equal(l->n_tls_sni, 2);
    assert_string_equal(l->tls_sni[0].name, "a.example.com");
    assert_string_equal(l->tls_sni[0].certificate, cert_path);
    assert_string_equal(l->tls_sni[0].key, key_path);
    assert_string_equal(l->tls_sni[1].name, "*.example.org");
    cfg_unref(g);

    load_fails(fmt(LISTENER "protocol = https\ntls_certificate = %s\ntls_key = %s\n"
                   "tls_sni = a.example.com %s\n",
                   cert_path, key_path, cert_path),
               fmt("t.ini:7: [listener:l] tls_sni: 'a.example.com %s' is not "
                   "'server-name certificate-file key-file'",
                   cert_path),
               NULL);
    load_fails(fmt(LISTENER "protocol = https\ntls_certificate = %s\ntls_key = %s\n"
                   "tls_sni = a/b %s %s\n",
                   cert_path, key_path, cert_path, key_path),
               "t.ini:7: [listener:l] tls_sni: 'a/b' is not a server name", NULL);
    load_fails(fmt(LISTENER "protocol = https\ntls_certificate = %s\ntls_key = %s\n"
                   "tls_sni = a.b %s %s\ntls_sni = A.b %s %s\n",
                   cert_path, key_path, cert_path, key_path, cert_path, key_path),
               "t.ini:8: [listener:l] tls_sni: server name 'a.b' given twice", NULL);
    load_fails(fmt(LISTENER "protocol = https\ntls_certificate = %s\ntls_key = %s\n"
                   "tls_sni = a.b %s %s/none.pem\n",
                   cert_path, key_path, cert_path, tmpdir),
               fmt("t.ini:7: [listener:l] tls_sni: cannot read '%s/none.pem': No such file or "
                   "directory",
                   tmpdir),
               NULL);
    load_fails(fmt(LISTENER "tls_sni = a.b %s %s\n", cert_path, key_path),
               "t.ini:4: [listener:l] tls_sni: only for protocol = https", NULL);
}

static void test_tcp_listener_rules(void **state)
{
    const struct cfg_generation *g =
        load_ok("[cluster:c]\nendpoints = 127.0.0.1:1\n"
                "[listener:t]\naddress = 127.0.0.1:2\nprotocol = tcp\ncluster = c\n"
                "[listener:h]\naddress = 127.0.0.1:3\n[route:everywhere]\nrespond = 200\n");
    assert_int_equal(cfg_find_listener(g, "t")->protocol, CFG_LISTENER_TCP);
    /* Routes without a listener list go to every listener but tcp ones. */
    assert_int_equal(cfg_find_listener(g, "t")->n_routes, 0);
    assert_int_equal(cfg_find_listener(g, "h")->n_routes, 1);
    cfg_unref(g);

    load_fails("[listener:t]\naddress = 127.0.0.1:2\nprotocol = tcp\nrespond = 200\n"
               "add_request_header = A: b\n",
               "t.ini:1: [listener:t] cluster: missing (required for protocol = tcp)",
               "t.ini:4: [listener:t] respond: not possible with protocol = tcp",
               "t.ini:5: [listener:t] add_request_header: not possible with protocol = tcp", NULL);
    load_fails("[cluster:c]\nendpoints = 127.0.0.1:1\n"
               "[listener:t]\naddress = 127.0.0.1:2\nprotocol = tcp\ncluster = c\n"
               "[route:r]\nlistener = t\nrespond = 200\n",
               "t.ini:8: [route:r] listener: listener 't' is protocol = tcp: it has no routes",
               NULL);
}

static void test_respond_values(void **state)
{
    const struct cfg_generation *g = load_ok("[listener:l]\naddress = 127.0.0.1:1\n"
                                             "respond = 503 \"  down\\tfor \\\"now\\\"\\\\\\n\"\n");
    const struct cfg_response *r = cfg_find_listener(g, "l")->default_target.respond;

    assert_int_equal(r->status, 503);
    assert_int_equal(r->body_len, strlen("  down\tfor \"now\"\\\n"));
    assert_memory_equal(r->body, "  down\tfor \"now\"\\\n", r->body_len);
    assert_string_equal(r->content_type, "text/plain; charset=utf-8");
    cfg_unref(g);

    g = load_ok("[listener:l]\naddress = 127.0.0.1:1\nrespond = 404 not here\n");
    r = cfg_find_listener(g, "l")->default_target.respond;
    assert_int_equal(r->status, 404);
    assert_string_equal(r->body, "not here");
    cfg_unref(g);
}

static void test_respond_bad_values(void **state)
{
    const char *msg = "is not 'STATUS [BODY]' with STATUS 200..599";
    char want[160];

    static const char *const bad[] = {"99", "100 continue", "600", "20x", "2000", "ok"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[160];
        snprintf(text, sizeof(text), "[listener:l]\naddress = 127.0.0.1:1\nrespond = %s\n", bad[i]);
        snprintf(want, sizeof(want), "t.ini:3: [listener:l] respond: '%s' %s", bad[i], msg);
        load_fails(text, want, NULL);
    }
    load_fails("[listener:l]\naddress = 127.0.0.1:1\nrespond = 200 a\\qb\n",
               "t.ini:3: [listener:l] respond: bad escape in body (use \\n \\r \\t \\\\ \\\")",
               NULL);
}

static void test_header_edit_bad_values(void **state)
{
    load_fails(LISTENER "add_request_header = NoColon\nadd_response_header = Bad Name: x\n"
                        "remove_request_header = A:b\nremove_response_header = (x)\n",
               "t.ini:4: [listener:l] add_request_header: 'NoColon' is not 'Header-Name: value'",
               "t.ini:5: [listener:l] add_response_header: 'Bad Name: x' is not "
               "'Header-Name: value'",
               "t.ini:6: [listener:l] remove_request_header: 'A:b' is not a header name",
               "t.ini:7: [listener:l] remove_response_header: '(x)' is not a header name", NULL);
}

/* ---- [cluster:*] ----------------------------------------------------------- */

static void test_cluster_defaults_and_values(void **state)
{
    const struct cfg_generation *g =
        load_ok("[cluster:d]\nendpoints = 127.0.0.1:9000\n"
                "[cluster:v]\nendpoints = 127.0.0.1:9001 , [::1]:9002,localhost:9003\n"
                "connect_timeout = 100ms\nread_timeout = 2s\nidle_timeout = 5m\n"
                "max_idle = 0\nretries = 0\nprotocol = http1\n" LISTENER);
    const struct cfg_cluster *d = cfg_find_cluster(g, "d");
    const struct cfg_cluster *v = cfg_find_cluster(g, "v");

    assert_int_equal(g->n_clusters, 2);
    assert_int_equal(d->n_endpoints, 1);
    assert_string_equal(d->endpoints[0].text, "127.0.0.1:9000");
    assert_int_equal(d->connect_timeout_ms, 5000);
    assert_int_equal(d->read_timeout_ms, 30000);
    assert_int_equal(d->idle_timeout_ms, 60000);
    assert_int_equal(d->max_idle, 32);
    assert_int_equal(d->retries, 1);
    assert_int_equal(d->protocol, CFG_UPSTREAM_HTTP1);

    assert_int_equal(v->n_endpoints, 3);
    assert_string_equal(v->endpoints[0].text, "127.0.0.1:9001");
    assert_int_equal(v->endpoints[0].port, 9001);
    assert_string_equal(v->endpoints[1].text, "[::1]:9002");
    assert_int_equal(v->endpoints[1].sa.ss_family, AF_INET6);
    assert_string_equal(v->endpoints[2].host, "localhost");
    assert_int_equal(v->endpoints[2].port, 9003);
    assert_int_equal(v->connect_timeout_ms, 100);
    assert_int_equal(v->read_timeout_ms, 2000);
    assert_int_equal(v->idle_timeout_ms, 300000);
    assert_int_equal(v->max_idle, 0);
    assert_int_equal(v->retries, 0);
    cfg_unref(g);
}

static void test_cluster_bad_values(void **state)
{
    load_fails("[cluster:c]\nendpoints = 127.0.0.1:1, *:80, 127.0.0.1\nretries = 2\n"
               "max_idle = lots\nprotocol = h2\nconnect_timeout = 5\n" LISTENER,
               "t.ini:2: [cluster:c] endpoints: '*:80': an endpoint needs a host",
               "t.ini:2: [cluster:c] endpoints: '127.0.0.1': missing ':port' (host:port)",
               "t.ini:3: [cluster:c] retries: 2 is out of range (0..1)",
               "t.ini:4: [cluster:c] max_idle: 'lots' is not a number",
               "t.ini:5: [cluster:c] protocol: 'h2' is not one of: http1",
               "t.ini:6: [cluster:c] connect_timeout: '5' is not a duration (e.g. 250ms, 5s, "
               "1m, 1h; units required)",
               NULL);
    load_fails("[cluster:c]\nendpoints = \n" LISTENER,
               "t.ini:2: [cluster:c] endpoints: empty item in list ''", NULL);
    load_fails("[cluster:c]\nread_timeout = 1s\n" LISTENER,
               "t.ini:1: [cluster:c] endpoints: missing (required)", NULL);
}

/* ---- [plugin:*] ------------------------------------------------------------- */

static void test_plugin_defaults(void **state)
{
    const struct cfg_generation *g = load_ok(fmt("[plugin:p]\nfile = %s\n" LISTENER, wasm_path));
    const struct cfg_plugin *p = cfg_find_plugin(g, "p");

    assert_string_equal(p->name, "p");
    assert_string_equal(p->file, wasm_path);
    assert_string_equal(p->root_id, "");
    assert_string_equal(p->vm_id, "");
    assert_string_equal(p->configuration, "");
    assert_int_equal(p->configuration_len, 0);
    assert_int_equal(p->failure_policy, CFG_FAIL_CLOSED);
    assert_int_equal(p->max_memory, 64 << 20);
    assert_int_equal(p->max_execution_time_ms, 100);
    assert_int_equal(p->fuel, 0);
    assert_int_equal(p->n_environment, 0);
    cfg_unref(g);
}

static void test_plugin_values(void **state)
{
    const struct cfg_generation *g = load_ok(
        fmt("[plugin:p]\nfile = %s\nroot_id = root\nvm_id = shared\n"
            "configuration = {\"a\": 1}\nfailure_policy = fail_open\nmax_memory = 128k\n"
            "max_execution_time = 2s\nfuel = 1000000\nenvironment = A=1\n"
            "environment = B_2=x=y\n"
            "[plugin:q]\nfile = %s\nconfiguration_file = %s\nfailure_policy = reload\n" LISTENER,
            wasm_path, wasm_path, conf_path));
    const struct cfg_plugin *p = cfg_find_plugin(g, "p");
    const struct cfg_plugin *q = cfg_find_plugin(g, "q");

    assert_string_equal(p->root_id, "root");
    assert_string_equal(p->vm_id, "shared");
    assert_string_equal(p->configuration, "{\"a\": 1}");
    assert_int_equal(p->configuration_len, 8);
    assert_int_equal(p->failure_policy, CFG_FAIL_OPEN);
    assert_int_equal(p->max_memory, 128 << 10);
    assert_int_equal(p->max_execution_time_ms, 2000);
    assert_int_equal(p->fuel, 1000000);
    assert_int_equal(p->n_environment, 2);
    assert_string_equal(p->environment[0], "A=1");
    assert_string_equal(p->environment[1], "B_2=x=y");
    assert_string_equal(q->configuration, "{\"from\": \"file\"}");
    assert_int_equal(q->configuration_len, strlen("{\"from\": \"file\"}"));
    assert_int_equal(q->failure_policy, CFG_FAIL_RELOAD);
    cfg_unref(g);
}

static void test_plugin_errors(void **state)
{
    load_fails("[plugin:p]\nroot_id = x\n" LISTENER, "t.ini:1: [plugin:p] file: missing (required)",
               NULL);
    load_fails(fmt("[plugin:p]\nfile = %s/missing.wasm\n" LISTENER, tmpdir),
               fmt("t.ini:2: [plugin:p] file: cannot read '%s/missing.wasm': No such file or "
                   "directory",
                   tmpdir),
               NULL);
    load_fails(fmt("[plugin:p]\nfile = %s\n" LISTENER, tmpdir),
               fmt("t.ini:2: [plugin:p] file: cannot read '%s': not a regular file", tmpdir), NULL);
    load_fails(fmt("[plugin:p]\nfile = %s\nconfiguration = x\nconfiguration_file = %s\n" LISTENER,
                   wasm_path, conf_path),
               "t.ini:4: [plugin:p] configuration_file: give configuration or "
               "configuration_file, not both",
               NULL);
    load_fails(fmt("[plugin:p]\nfile = %s\nconfiguration_file = %s/none.json\n" LISTENER, wasm_path,
                   tmpdir),
               fmt("t.ini:3: [plugin:p] configuration_file: cannot read '%s/none.json': No "
                   "such file or directory",
                   tmpdir),
               NULL);
    load_fails(fmt("[plugin:p]\nfile = %s\nfailure_policy = ignore\nmax_memory = 1k\n"
                   "max_execution_time = 2m\nfuel = many\nenvironment = 1A=b\n"
                   "environment = novalue\nenvironment = A=1\nenvironment = A=2\n" LISTENER,
                   wasm_path),
               "t.ini:3: [plugin:p] failure_policy: 'ignore' is not one of: fail_closed, "
               "fail_open, reload",
               "t.ini:4: [plugin:p] max_memory: '1k' is out of range (65536..4294967296 bytes)",
               "t.ini:5: [plugin:p] max_execution_time: '2m' is out of range (0ms..60000ms)",
               "t.ini:6: [plugin:p] fuel: 'many' is not a number",
               "t.ini:7: [plugin:p] environment: '1A=b' is not NAME=VALUE",
               "t.ini:8: [plugin:p] environment: 'novalue' is not NAME=VALUE",
               "t.ini:10: [plugin:p] environment: 'A' is set twice", NULL);
}

/* ---- [route:*] ------------------------------------------------------------- */

static void test_route_defaults_and_values(void **state)
{
    const struct cfg_generation *g =
        load_ok("[cluster:c]\nendpoints = 127.0.0.1:1\n" LISTENER "[route:any]\nrespond = 200 any\n"
                "[route:exact]\nhost = Api.Example.COM.\npath_prefix = /v1/\ncluster = c\n"
                "listener = l\n"
                "[route:wild]\nhost = *.example.com\nrespond = 204\n");
    const struct cfg_route *any = g->routes[0], *exact = g->routes[1], *wild = g->routes[2];

    assert_int_equal(g->n_routes, 3);
    assert_string_equal(any->name, "any");
    assert_int_equal(any->host_match, CFG_HOST_ANY);
    assert_null(any->host);
    assert_string_equal(any->path_prefix, "/");
    assert_int_equal(any->n_listeners, 0);
    assert_string_equal(any->target.route, "any");
    assert_int_equal(exact->host_match, CFG_HOST_EXACT);
    assert_string_equal(exact->host, "api.example.com");
    assert_int_equal(exact->host_len, strlen("api.example.com"));
    assert_string_equal(exact->path_prefix, "/v1/");
    assert_int_equal(exact->path_prefix_len, 4);
    assert_ptr_equal(exact->target.cluster, cfg_find_cluster(g, "c"));
    assert_int_equal(exact->n_listeners, 1);
    assert_string_equal(exact->listeners[0], "l");
    assert_int_equal(wild->host_match, CFG_HOST_SUFFIX);
    assert_string_equal(wild->host, ".example.com");
    assert_int_equal(wild->target.respond->status, 204);
    assert_int_equal(cfg_find_listener(g, "l")->n_routes, 3);
    cfg_unref(g);
}

static void test_route_errors(void **state)
{
    load_fails(LISTENER "[route:r]\nhost = a.com\n",
               "t.ini:4: [route:r]: needs 'cluster' or 'respond'", NULL);
    load_fails(LISTENER "[route:r]\ncluster = nope\n",
               "t.ini:5: [route:r] cluster: unknown cluster 'nope'", NULL);
    load_fails("[cluster:c]\nendpoints = 127.0.0.1:1\n" LISTENER
               "[route:r]\ncluster = c\nrespond = 200\n",
               "t.ini:8: [route:r] respond: give cluster or respond, not both", NULL);
    load_fails(LISTENER "[route:r]\nrespond = 200\nlistener = l, other\n",
               "t.ini:6: [route:r] listener: unknown listener 'other'", NULL);
    load_fails(LISTENER "[route:r]\nrespond = 200\nhost = a..b/c\npath_prefix = v1\n",
               "t.ini:6: [route:r] host: 'a..b/c' is not a host name, '*.suffix' or '*'",
               "t.ini:7: [route:r] path_prefix: 'v1' must start with '/' and hold no spaces", NULL);
    load_fails(LISTENER "[route:r]\nrespond = 200\nhost = *.\n",
               "t.ini:6: [route:r] host: '*.' is not a host name, '*.suffix' or '*'", NULL);
}

static void test_routes_alone_make_a_listener_valid(void **state)
{
    const struct cfg_generation *g =
        load_ok("[listener:l]\naddress = 127.0.0.1:1\n[route:r]\nrespond = 200\n");
    const struct cfg_listener *l = cfg_find_listener(g, "l");
    assert_null(l->default_target.cluster);
    assert_null(l->default_target.respond);
    assert_int_equal(l->n_routes, 1);
    cfg_unref(g);
}

/* ---- files, waspd -t, generations ----------------------------------------- */

static void test_load_file_resolves_relative_paths_against_its_directory(void **state)
{
    char path[160];
    struct cfg_errors errors = {0};

    snprintf(path, sizeof(path), "%s/rel.ini", tmpdir);
    write_file(path, "[plugin:p]\nfile = p.wasm\nconfiguration_file = conf.json\n"
                     "[listener:l]\naddress = 127.0.0.1:1\nrespond = 200\nplugins = p\n");
    const struct cfg_generation *g = cfg_load(path, &errors);
    assert_int_equal(errors.count, 0);
    assert_non_null(g);
    assert_string_equal(g->path, path);
    assert_string_equal(cfg_find_plugin(g, "p")->file, wasm_path);
    assert_string_equal(cfg_find_plugin(g, "p")->configuration, "{\"from\": \"file\"}");
    cfg_unref(g);
}

static void test_load_directory_is_an_error(void **state)
{
    struct cfg_errors errors = {0};
    char want[256];

    assert_null(cfg_load(tmpdir, &errors));
    assert_int_equal(errors.count, 1);
    snprintf(want, sizeof(want), "%s: cannot read: Is a directory", tmpdir);
    assert_string_equal(errors.items[0], want);
    cfg_errors_free(&errors);
}

static void test_control_characters_in_messages_are_masked(void **state)
{
    load_fails("[daemon]\nlog_level = a\x1b[31mb\n" LISTENER,
               "t.ini:2: [daemon] log_level: 'a?[31mb' is not one of: error, warn, notice, "
               "info, debug",
               NULL);
}

/* Multi-line messages (a plugin's log lines under its error) keep their line breaks; other
 * control characters are still masked. */
static void test_error_messages_keep_line_breaks(void **state)
{
    struct cfg_errors errors = {0};

    cfg_errors_add(&errors, "%s:%u: [plugin:%s]: %s%s", "w.ini", 7, "p", "failed",
                   "\n  plugin log \x1b[1m\r");
    assert_int_equal(errors.count, 1);
    assert_string_equal(errors.items[0], "w.ini:7: [plugin:p]: failed\n  plugin log ?[1m?");
    cfg_errors_free(&errors);
}

static void test_load_missing_file_is_an_error(void **state)
{
    struct cfg_errors errors = {0};
    char path[160], want[256];

    snprintf(path, sizeof(path), "%s/none.ini", tmpdir);
    assert_null(cfg_load(path, &errors));
    assert_int_equal(errors.count, 1);
    snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", path);
    assert_string_equal(errors.items[0], want);
    cfg_errors_free(&errors);
    assert_int_equal(errors.count, 0);
    assert_null(errors.items);
}

/* Runs cfg_check() on `text` and returns its output and status. */
static int check_text(const char *text, char *out, size_t size, char *path, size_t psize)
{
    snprintf(path, psize, "%s/check.ini", tmpdir);
    write_file(path, text);
    FILE *f = fmemopen(out, size, "w");
    assert_non_null(f);
    int rc = cfg_check(path, f);
    fclose(f);
    return rc;
}

static void test_check_prints_every_error_and_returns_1(void **state)
{
    char out[1024] = "", path[160], want[1024];

    assert_int_equal(check_text("[daemon]\nworkers = x\nfoo = 1\n" LISTENER, out, sizeof(out), path,
                                sizeof(path)),
                     1);
    snprintf(want, sizeof(want),
             "%s:2: [daemon] workers: 'x' is not 'auto' or a number 1..1024\n"
             "%s:3: [daemon] foo: unknown key\n%s: 2 errors\n",
             path, path, path);
    assert_string_equal(out, want);
}

static void test_check_reports_a_valid_file_and_returns_0(void **state)
{
    char out[1024] = "", path[160], want[256];

    assert_int_equal(check_text(LISTENER, out, sizeof(out), path, sizeof(path)), 0);
    snprintf(want, sizeof(want), "%s: configuration is valid\n", path);
    assert_string_equal(out, want);
}

static void test_generations_are_numbered_in_load_order(void **state)
{
    const struct cfg_generation *a = load_ok(LISTENER);
    struct cfg_errors errors = {0};
    assert_null(cfg_load_string("t.ini", "bad", &errors)); /* failures take no number */
    cfg_errors_free(&errors);
    const struct cfg_generation *b = load_ok(LISTENER);

    assert_true(a->number >= 1);
    assert_int_equal(b->number, a->number + 1);
    assert_int_equal(atomic_load(&a->refs), 1);
    cfg_unref(a);
    cfg_unref(b);
    cfg_unref(NULL);
}

static void *ref_unref_many(void *arg)
{
    const struct cfg_generation *g = arg;
    for (int i = 0; i < 100000; i++) {
        cfg_ref(g);
        cfg_unref(g);
    }
    return NULL;
}

static void test_refcount_is_thread_safe(void **state)
{
    const struct cfg_generation *g = load_ok(LISTENER);
    pthread_t threads[4];

    assert_ptr_equal(cfg_ref(g), g);
    assert_int_equal(atomic_load(&g->refs), 2);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, ref_unref_many, (void *)g), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    assert_int_equal(atomic_load(&g->refs), 2);
    cfg_unref(g);
    assert_int_equal(atomic_load(&g->refs), 1);
    /* Still readable with one reference left. */
    assert_string_equal(g->listeners[0]->name, "l");
    cfg_unref(g);
}

static void test_shipped_config_loads_cleanly(void **state)
{
    struct cfg_errors errors = {0};
    const struct cfg_generation *g = cfg_load(WASP_SHIPPED_CONFIG, &errors);

    for (size_t i = 0; i < errors.count; i++)
        print_error("%s\n", errors.items[i]);
    assert_int_equal(errors.count, 0);
    assert_non_null(g);
    /* `curl localhost:8080/` must be answered by the daemon itself. */
    assert_true(g->n_listeners >= 1);
    const struct cfg_listener *l = g->listeners[0];
    assert_int_equal(l->protocol, CFG_LISTENER_HTTP);
    assert_int_equal(l->address.port, 8080);
    const struct cfg_target *t = cfg_route_lookup(l, "localhost:8080", 14, "/", 1);
    assert_non_null(t);
    assert_non_null(t->respond);
    assert_int_equal(t->respond->status, 200);
    cfg_unref(g);
}

struct doc_check {
    char *text;
    int missing;
};

/* A key is documented when a line of the file starts with "; KEY " or
 * "KEY = " (a commented description or a live setting). */
static void check_documented(const char *kind, const char *key, void *arg)
{
    struct doc_check *c = arg;
    char commented[64], live[64];
    snprintf(commented, sizeof(commented), "\n; %s ", key);
    snprintf(live, sizeof(live), "\n%s = ", key);
    if (strstr(c->text, commented) == NULL && strstr(c->text, live) == NULL) {
        print_error("[%s] %s is not documented in etc/waspd.ini\n", kind, key);
        c->missing++;
    }
}

static void test_shipped_config_documents_every_key(void **state)
{
    static char text[65536];
    struct doc_check c = {text, 0};
    FILE *f = fopen(WASP_SHIPPED_CONFIG, "r");
    assert_non_null(f);
    size_t n = fread(text + 1, 1, sizeof(text) - 2, f);
    fclose(f);
    text[0] = '\n';
    text[n + 1] = '\0';
    cfg_each_key(check_documented, &c);
    assert_int_equal(c.missing, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_outside_section_is_an_error),
        cmocka_unit_test(test_unknown_section_kind_is_an_error),
        cmocka_unit_test(test_named_kind_without_name_is_an_error),
        cmocka_unit_test(test_daemon_with_name_is_an_error),
        cmocka_unit_test(test_bad_section_name_is_an_error),
        cmocka_unit_test(test_unclosed_section_header_is_an_error),
        cmocka_unit_test(test_text_after_section_header_is_an_error),
        cmocka_unit_test(test_comment_after_section_header_is_fine),
        cmocka_unit_test(test_duplicate_section_is_an_error_and_its_keys_ignored),
        cmocka_unit_test(test_duplicate_key_is_an_error),
        cmocka_unit_test(test_unknown_key_is_an_error),
        cmocka_unit_test(test_empty_key_is_an_error),
        cmocka_unit_test(test_line_without_equals_is_an_error),
        cmocka_unit_test(test_too_long_line_is_an_error),
        cmocka_unit_test(test_nul_byte_is_an_error),
        cmocka_unit_test(test_indented_keys_crlf_bom_and_comments_are_accepted),
        cmocka_unit_test(test_every_error_is_collected_in_line_order),
        cmocka_unit_test(test_no_listener_is_an_error),
        cmocka_unit_test(test_empty_file_is_an_error),
        cmocka_unit_test(test_daemon_defaults),
        cmocka_unit_test(test_daemon_values),
        cmocka_unit_test(test_daemon_bad_values),
        cmocka_unit_test(test_listener_defaults),
        cmocka_unit_test(test_listener_values),
        cmocka_unit_test(test_listener_ipv4_and_wildcard_addresses),
        cmocka_unit_test(test_listener_bad_addresses),
        cmocka_unit_test(test_listener_address_used_twice_is_an_error),
        cmocka_unit_test(test_listener_bad_limits),
        cmocka_unit_test(test_listener_request_buffering),
        cmocka_unit_test(test_upgrades_on_listeners_and_routes),
        cmocka_unit_test(test_listener_bad_protocol),
        cmocka_unit_test(test_listener_needs_somewhere_to_send_requests),
        cmocka_unit_test(test_listener_cluster_and_respond_together_is_an_error),
        cmocka_unit_test(test_listener_unknown_references),
        cmocka_unit_test(test_listener_plugin_list_errors),
        cmocka_unit_test(test_https_needs_readable_certificate_and_key),
        cmocka_unit_test(test_tls_keys_on_http_listener_are_an_error),
        cmocka_unit_test(test_tls_sni),
        cmocka_unit_test(test_tcp_listener_rules),
        cmocka_unit_test(test_respond_values),
        cmocka_unit_test(test_respond_bad_values),
        cmocka_unit_test(test_header_edit_bad_values),
        cmocka_unit_test(test_cluster_defaults_and_values),
        cmocka_unit_test(test_cluster_bad_values),
        cmocka_unit_test(test_plugin_defaults),
        cmocka_unit_test(test_plugin_values),
        cmocka_unit_test(test_plugin_errors),
        cmocka_unit_test(test_route_defaults_and_values),
        cmocka_unit_test(test_route_errors),
        cmocka_unit_test(test_routes_alone_make_a_listener_valid),
        cmocka_unit_test(test_load_file_resolves_relative_paths_against_its_directory),
        cmocka_unit_test(test_load_missing_file_is_an_error),
        cmocka_unit_test(test_load_directory_is_an_error),
        cmocka_unit_test(test_control_characters_in_messages_are_masked),
        cmocka_unit_test(test_error_messages_keep_line_breaks),
        cmocka_unit_test(test_check_prints_every_error_and_returns_1),
        cmocka_unit_test(test_check_reports_a_valid_file_and_returns_0),
        cmocka_unit_test(test_generations_are_numbered_in_load_order),
        cmocka_unit_test(test_refcount_is_thread_safe),
        cmocka_unit_test(test_shipped_config_loads_cleanly),
        cmocka_unit_test(test_shipped_config_documents_every_key),
    };
    return cmocka_run_group_tests(tests, setup_files, remove_files);
}
