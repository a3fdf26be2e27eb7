#!/usr/bin/env bash
# Plugin reloads under load: h2load over h2c and TLS (back-to-back runs) goes on through 5 SIGHUPs, each swapping
# the plugin file (the C add_header example <-> the AssemblyScript add_header, same path;
# log_level = warn keeps the AssemblyScript plugin's line per request out of the log)
# and its configuration; the third is a plugin whose proxy_on_configure fails:
#   - 0 failed requests over the whole run;
#   - after each good reload the new plugin's effect (its response header) is what new
#     requests get, and the previous plugin's is gone;
#   - the bad one is refused with FILE:LINE: [plugin:NAME] and the plugin's own log
#     line, and the running plugin stays;
#   - a stream in flight across a reload finishes with the plugin it started with.
source "$(dirname "$0")/lib.sh"
: "${EXAMPLE_PLUGINS:?}" "${AS_PLUGINS:?}"
[ -f "$AS_PLUGINS/add_header.wasm" ] || fail "AssemblyScript plugins not built (npm missing?)"

ng=$(free_port)
tu=$(free_port)
wp=$(free_port)
tp=$(free_port)
start_nginx "$ng"
start_test_upstream "$tu"
echo "hello" >"$T/ng/www/index.html"
self_signed srv localhost

# conf VERSION CONFIGURATION: the plugin file becomes VERSION (c or as), with its
# configuration; the file changes in one rename, as a deployment would do it.
conf() {
    local src=$EXAMPLE_PLUGINS/add_header.wasm root=""
    if [ "$1" = as ]; then
        src=$AS_PLUGINS/add_header.wasm
        root="root_id = add_header"
    fi
    cp "$src" "$T/tag.wasm.new"
    mv "$T/tag.wasm.new" "$T/tag.wasm"
    cat >"$T/w.ini" <<INI
[daemon]
workers = 2
log_level = warn
access_log = off
[listener:web]
address = 127.0.0.1:$wp
cluster = ng
plugins = tag
[listener:tls]
address = 127.0.0.1:$tp
protocol = https
tls_certificate = $T/srv.pem
tls_key = $T/srv.key
cluster = ng
plugins = tag
[route:slow]
path_prefix = /slow/
cluster = tu
[cluster:ng]
endpoints = 127.0.0.1:$ng
max_idle = 256
[cluster:tu]
endpoints = 127.0.0.1:$tu
[plugin:tag]
file = $T/tag.wasm
$root
configuration = $2
; h2load on 2 cores (the sanitizer build too): the default 100 ms per callback is wall
; time, and a preempted worker must not fail the plugin here.
max_execution_time = 10s
INI
}
# shows HEADER_LINE: new requests (h2c and TLS) get that response header line, and
# neither x-gen nor hello headers of another generation.
shows() {
    local out
    for url in "--http2-prior-knowledge http://127.0.0.1:$wp/index.html" \
        "-k --http2 https://127.0.0.1:$tp/index.html"; do
        read -r -a a <<<"$url"
        out=$(http -D - -o /dev/null "${a[@]}" | tr -d '\r' | grep -iE '^(x-gen|hello):')
        [ "$out" = "$1" ] || return 1
    done
}

conf c "x-gen: g0"
start_waspd "$T/w.ini" "$wp"
wait_port "$tp"
shows "x-gen: g0" || fail "generation 0: $(http -sD - -o /dev/null "http://127.0.0.1:$wp/index.html")"

# The load: h2load runs of 3 s back to back until the reloads are done (so that every
# switch happens under load however long a reload takes on this machine).
load() { # load NAME URL
    local i=0
    while [ ! -e "$T/stop" ]; do
        i=$((i + 1))
        timeout 60 h2load -c 4 -m 16 -D 3 "$2" >"$T/$1.$i.out" 2>&1 || echo "exit $?" >>"$T/$1.$i.out"
    done
}
load h2c "http://127.0.0.1:$wp/index.html" &
l1=$!
load tls "https://127.0.0.1:$tp/index.html" &
l2=$!
PIDS+=("$l1" "$l2")
sleep 0.5
for step in 1 2 3 4 5; do
    case $step in
    1) conf as "g1"; want="hello: g1" ;;
    2) conf c "x-gen: g2"; want="x-gen: g2" ;;
    3) conf c "no colon" ;; # add_header's proxy_on_configure refuses it
    4) conf as "g4"; want="hello: g4" ;;
    5) conf c "x-gen: g5"; want="x-gen: g5" ;;
    esac
    n=$(grep -c 'reload failed' "$T/waspd.err" || true)
    kill -HUP "$WASPD_PID"
    if [ "$step" = 3 ]; then
        wait_until 15 sh -c "[ \$(grep -c 'reload failed' '$T/waspd.err') -gt $n ]" ||
            fail "the bad plugin was not refused"
        grep -qE "w\.ini:[0-9]+: \[plugin:tag\]: plugin tag: proxy_on_configure returned false\$" "$T/waspd.err" ||
            fail "refusal without FILE:LINE: [plugin:NAME]: $(grep -A2 'plugin:tag' "$T/waspd.err")"
        grep -qE '^\S+ \[error\]   wasm log tag: add_header: configuration must be "name: value"$' "$T/waspd.err" ||
            fail "refusal without the plugin's own log line: $(grep -B1 -A3 'plugin:tag' "$T/waspd.err")"
        shows "x-gen: g2" || fail "after the refused reload the running plugin changed"
        pass "step 3: on_configure failure refused with FILE:LINE: [plugin:tag] and its log line; g2 stays"
        continue
    fi
    wait_until 15 shows "$want" || fail "step $step: new requests do not show '$want'"
    pass "step $step: new requests get '$want' (and nothing of the previous plugin)"
done
touch "$T/stop"
wait "$l1" "$l2"
for f in h2c tls; do
    total=0
    for o in "$T/$f".*.out; do
        grep -qE "^requests: .* ([1-9][0-9]*) succeeded, 0 failed, 0 errored, 0 timeout" "$o" ||
            fail "$f requests failed during plugin reloads ($o): $(grep -E '^requests:|^exit' "$o")"
        grep -qE "^status codes: [1-9][0-9]* 2xx, 0 3xx, 0 4xx, 0 5xx" "$o" ||
            fail "$f: $(grep -E '^status codes:' "$o")"
        total=$((total + $(sed -n 's/^requests: \([0-9]*\) total.*/\1/p' "$o")))
    done
    pass "$f: $total requests in $(ls "$T/$f".*.out | wc -l) h2load runs, 0 failed"
done
grep -qE 'critical|proxy_on_[a-z_]+ failed' "$T/waspd.err" &&
    fail "a plugin failed: $(grep -E 'critical|proxy_on_[a-z_]+ failed' "$T/waspd.err" | head -3)"
pass "no failed request through 5 plugin reloads (C <-> AssemblyScript, one refused) under h2c and TLS load"

# A stream in flight across a reload finishes on the plugin it started with; new ones get
# the new plugin.
# The upstream answers after 6 s: the reload must be in place while the stream is still
# waiting for it, or the check below would prove nothing.
http -D "$T/slow.h" -o /dev/null "http://127.0.0.1:$wp/slow/6000" &
cl=$!
wait_until 10 grep -q 'request /slow/6000' "$T/test_upstream.err" || fail "slow request not upstream"
conf as "g6"
kill -HUP "$WASPD_PID"
wait_until 15 shows "hello: g6" || fail "reload to g6 not applied"
kill -0 "$cl" 2>/dev/null || fail "the slow request ended before the reload was in place"
wait "$cl" || fail "the in-flight request failed across the reload"
out=$(tr -d '\r' <"$T/slow.h" | grep -iE '^(x-gen|hello):')
[ "$out" = "x-gen: g5" ] || fail "the in-flight stream got '$out', not its own plugin's x-gen: g5"
pass "a stream in flight across a reload keeps its plugin (x-gen: g5); new ones get hello: g6"
