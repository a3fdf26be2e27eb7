# lib.sh - shared helpers of the integration tests (sourced, bash).
#
# Each test starts its own processes on free loopback ports in a private temp dir and
# kills them on exit, whatever happens. Environment (set by ctest): WASPD (the daemon),
# TEST_UPSTREAM (test_upstream helper), SRC_DIR (the source tree).
set -euo pipefail

: "${WASPD:?WASPD must point to the waspd binary}"
T=$(mktemp -d "${TMPDIR:-/tmp}/wasp-it.XXXXXX")
# Sanitizer builds: every report of every sanitized process of the test (also those whose
# output a test only captures, such as a `waspd -t` expected to fail) goes to a file
# $T/sanitizer.PID, which fails the test at cleanup.
if [ "${WASP_SANITIZED:-0}" = 1 ]; then
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$T/sanitizer"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$T/sanitizer"
fi
PIDS=()

cleanup() {
    local rc=$?
    # TERM first (nginx's master then stops its worker), KILL what is left after 2 s.
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for i in $(seq 1 40); do
        local alive=0
        for p in "${PIDS[@]}"; do
            kill -0 "$p" 2>/dev/null && alive=1
        done
        [ $alive -eq 0 ] && break
        sleep 0.05
    done
    for p in "${PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    # Sanitizer builds: a report from any of our processes (waspd, test_upstream,
    # h2_client; leaks are reported at exit) fails the test.
    if [ "${WASP_SANITIZED:-0}" = 1 ] && [ $rc -eq 0 ] &&
        ls "$T"/sanitizer.* >/dev/null 2>&1; then
        for f in "$T"/sanitizer.*; do echo "--- $f"; head -n 40 "$f"; done >&2
        echo "FAIL: sanitizer report (above)" >&2
        rc=1
    fi
    if [ $rc -ne 0 ]; then
        for f in "$T"/*.err "$T"/ng/error.log; do
            [ -s "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }
        done
    fi
    rm -rf "$T"
    exit $rc
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

pass() {
    echo "ok: $*"
}

# A loopback port nothing listens on, below the kernel's ephemeral range so that no client
# connection can be holding it, and that no test (this one or another running at the
# same time, ctest -j) was handed in the last two minutes: ports handed out are noted,
# under a lock, in a registry every test shares.
PORT_REGISTRY=${TMPDIR:-/tmp}/wasp-it-ports
free_port() {
    (
        flock 9
        local p lo now
        lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
        now=$(date +%s)
        # Forget what was handed out more than two minutes ago.
        if [ -f "$PORT_REGISTRY" ]; then
            awk -v t=$((now - 120)) '$2 >= t' "$PORT_REGISTRY" >"$PORT_REGISTRY.new" &&
                mv "$PORT_REGISTRY.new" "$PORT_REGISTRY"
        fi
        while :; do
            p=$((10000 + (RANDOM * 32768 + RANDOM) % (lo - 10000)))
            grep -q "^$p " "$PORT_REGISTRY" 2>/dev/null && continue
            if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
                echo "$p $now" >>"$PORT_REGISTRY"
                echo "$p"
                return
            fi
        done
    ) 9>"$PORT_REGISTRY.lock"
}

# wait_until SECONDS CMD...: runs CMD every 50 ms until it succeeds (returns 0) or
# SECONDS have passed (returns 1). Tests wait for conditions with this, never for a fixed
# time: ctest -j2 on a loaded 2-core machine can delay any process by seconds.
wait_until() {
    local deadline=$(($(date +%s%N) + $1 * 1000000000))
    shift
    while :; do
        "$@" && return 0
        [ "$(date +%s%N)" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

# established PORT: true while some TCP connection to 127.0.0.1:PORT is established
# (the server side has accepted it, or the kernel has, for the listener's backlog).
established() {
    [ -n "$(ss -Htn state established "( sport = :$1 )" 2>/dev/null)" ]
}

# now_ms: milliseconds since the epoch.
now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# wait_port PORT: waits up to 20 s until something accepts on 127.0.0.1:PORT.
wait_port() {
    local i
    for i in $(seq 1 400); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    fail "nothing listens on port $1"
}

# start_nginx PORT: nginx as the upstream, root $T/ng/www. Locations:
#   /          static files          /up/       WebDAV PUT (uploads land in www/up/)
#   /chunked/  the same files, but chunked (sub_filter drops Content-Length)
#   /hdr       echoes Host, X-Forwarded-For, Via, X-Forwarded-Proto, Connection
# and whatever $NGINX_EXTRA holds (more server-level directives, e.g. locations).
start_nginx() {
    local port=$1 user=""
    mkdir -p "$T/ng/www/up"
    [ "$(id -u)" -eq 0 ] && user="user root;"
    cat >"$T/ng/nginx.conf" <<NGX
$user
worker_processes 1;
pid $T/ng/nginx.pid;
error_log $T/ng/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $T/ng/cb; proxy_temp_path $T/ng/pt;
    fastcgi_temp_path $T/ng/ft; uwsgi_temp_path $T/ng/ut; scgi_temp_path $T/ng/st;
    keepalive_requests 100000;
    server {
        listen 127.0.0.1:$port;
        root $T/ng/www;
        location / { }
        location /up/ { dav_methods PUT DELETE; create_full_put_path on;
                        client_max_body_size 200m; }
        location /chunked/ { alias $T/ng/www/; sub_filter_types *;
                             sub_filter 'wasp-never-appears' 'x'; }
        location /hdr { return 200 "host=\$host xff=\$http_x_forwarded_for via=\$http_via xfp=\$http_x_forwarded_proto conn=\$http_connection te=\$http_te\n"; }
        ${NGINX_EXTRA:-}
    }
}
NGX
    nginx -p "$T/ng" -c "$T/ng/nginx.conf" -g 'daemon off;' </dev/null >/dev/null 2>"$T/nginx.err" &
    PIDS+=($!)
    wait_port "$port"
}

# start_test_upstream PORT
start_test_upstream() {
    "${TEST_UPSTREAM:?}" "$1" </dev/null >/dev/null 2>"$T/test_upstream.err" &
    PIDS+=($!)
    wait_port "$1"
}

# start_waspd CONF PORT: runs waspd on CONF, waits for PORT; sets WASPD_PID.
start_waspd() {
    "$WASPD" -c "$1" </dev/null 2>>"$T/waspd.err" >>"$T/waspd.out" &
    WASPD_PID=$!
    PIDS+=("$WASPD_PID")
    wait_port "$2"
}

# wait_log SECONDS PATTERN: waits until waspd's error log has a line matching the
# extended regular expression PATTERN.
wait_log() {
    wait_until "$1" grep -qE -- "$2" "$T/waspd.err"
}

# self_signed NAME CN: a P-256 certificate and key, $T/NAME.pem and $T/NAME.key.
self_signed() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$2" \
        -days 1 -keyout "$T/$1.key" -out "$T/$1.pem" 2>/dev/null
}

# http ARGS...: curl with a bounded run time, silent, errors shown.
http() {
    curl -sS --max-time 20 "$@"
}
