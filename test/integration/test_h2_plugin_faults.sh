#!/usr/bin/env bash
# Faults under load: h2load (h2c and HTTP/1.1) runs on a healthy listener with a plugin
# (add_header) while, on other listeners of the same 2 workers, a trapping plugin
# (hc_trap, fail_closed), an endless loop (hc_loop, cut at max_execution_time, fail_open) and a
# plugin exhausting max_memory (hc_loop on /hog, reload) fail again and again:
#   - 0 failed requests on the healthy listener, every answer 2xx with the plugin's header;
#   - each failing plugin's policy: 503 "plugin trap failed"; the loop's requests pass
#     through without it; the hog gets fresh VMs after its back-off (503 meanwhile);
#   - both workers live on.
source "$(dirname "$0")/lib.sh"
: "${EXAMPLE_PLUGINS:?}" "${TEST_PLUGINS:?}"

ng=$(free_port)
wp=$(free_port)
tp=$(free_port)
lp=$(free_port)
hp=$(free_port)
start_nginx "$ng"
for f in index.html 10bytes ok hog; do echo "hello" >"$T/ng/www/$f"; done
cat >"$T/w.ini" <<INI
[daemon]
workers = 2
log_level = info
access_log = off
[listener:healthy]
address = 127.0.0.1:$wp
cluster = ng
plugins = add_header
[listener:trap]
address = 127.0.0.1:$tp
cluster = ng
plugins = trap
[listener:loop]
address = 127.0.0.1:$lp
cluster = ng
plugins = loop
[listener:hog]
address = 127.0.0.1:$hp
cluster = ng
plugins = hog
[cluster:ng]
endpoints = 127.0.0.1:$ng
max_idle = 256
[plugin:add_header]
file = $EXAMPLE_PLUGINS/add_header.wasm
configuration = x-healthy: yes
[plugin:trap]
file = $TEST_PLUGINS/hc_trap.wasm
failure_policy = fail_closed
[plugin:loop]
file = $TEST_PLUGINS/hc_loop.wasm
max_execution_time = 50ms
failure_policy = fail_open
[plugin:hog]
file = $TEST_PLUGINS/hc_loop.wasm
max_memory = 4m
failure_policy = reload
INI
start_waspd "$T/w.ini" "$wp"
for p in "$tp" "$lp" "$hp"; do wait_port "$p"; done

timeout 60 h2load -c 4 -m 8 -D 6 "http://127.0.0.1:$wp/index.html" >"$T/h2c.out" 2>&1 &
l1=$!
timeout 60 h2load --h1 -c 4 -D 6 "http://127.0.0.1:$wp/index.html" >"$T/h1.out" 2>&1 &
l2=$!
PIDS+=("$l1" "$l2")

# While the load runs: each failing plugin, on new connections (both workers), for 5 s
# and until the hog's policy was seen whole (a fresh VM after a back-off), at most 15 s.
: >"$T/faults.out"
t0=$(now_ms)
seen_policy() {
    [ "$(grep -c '\[plugin:hog\]: a fresh VM replaces the failed one' "$T/waspd.err")" -ge 2 ] &&
        grep -q '^ok plugin hog failed 503$' "$T/faults.out" && grep -q '^ok hello 200$' "$T/faults.out"
}
while [ $(($(now_ms) - t0)) -lt 5000 ] || { ! seen_policy && [ $(($(now_ms) - t0)) -lt 15000 ]; }; do
    for req in "$tp/10bytes" "$lp/10bytes" "$hp/hog" "$hp/ok"; do
        out=$(curl -s --max-time 10 -w ' %{http_code}' "http://127.0.0.1:$req" | tr -d '\n')
        echo "${req#*/} $out" >>"$T/faults.out"
    done
    sleep 0.1
done
for l in "$l1" "$l2"; do
    wait "$l" || fail "h2load failed: $(cat "$T/h2c.out" "$T/h1.out")"
done

for f in h2c h1; do
    grep -qE "^requests: .* ([1-9][0-9]*) succeeded, 0 failed, 0 errored, 0 timeout" "$T/$f.out" ||
        fail "$f on the healthy listener: $(grep -E '^requests:' "$T/$f.out")"
    grep -qE "^status codes: [1-9][0-9]* 2xx, 0 3xx, 0 4xx, 0 5xx" "$T/$f.out" ||
        fail "$f on the healthy listener: $(grep -E '^status codes:' "$T/$f.out")"
    pass "$f healthy listener under faults: $(grep -E '^requests:' "$T/$f.out")"
done
http -D - -o /dev/null "http://127.0.0.1:$wp/index.html" | tr -d '\r' | grep -qi '^x-healthy: yes$' ||
    fail "the healthy listener's plugin no longer runs"

rounds=$(grep -c '^10bytes' "$T/faults.out")
[ "$rounds" -ge 6 ] || fail "only $((rounds / 2)) fault rounds"
# fail_closed: every request to the trapping plugin's listener gets 503 naming it.
grep "^10bytes" "$T/faults.out" | sed -n '1~2p' | grep -v '^10bytes plugin trap failed 503$' &&
    fail "trap: an answer other than 503 'plugin trap failed'"
grep -q 'plugin trap: proxy_on_request_headers failed: unreachable' "$T/waspd.err" || fail "trap not logged"
pass "trap (fail_closed): $((rounds / 2)) requests answered 503 'plugin trap failed'"
# fail_open: the looping plugin is cut at max_execution_time, its requests go on without it.
grep "^10bytes" "$T/faults.out" | sed -n '2~2p' | grep -v '^10bytes hello 200$' &&
    fail "loop: a request did not pass through: $(grep '^10bytes' "$T/faults.out" | sed -n '2~2p' | sort | uniq -c)"
grep -q 'plugin loop: proxy_on_request_headers failed: execution time exceeded' "$T/waspd.err" ||
    fail "the loop was not cut at max_execution_time"
pass "loop (fail_open): cut at max_execution_time, its $((rounds / 2)) requests passed through without it"
# reload: the hog aborts at max_memory, fresh VMs come after the back-off, 503 meanwhile.
grep -q '^hog plugin hog failed 503$' "$T/faults.out" || fail "hog: no 503"
grep -qE 'wasm log hog: out of memory after [0-9]+ MiB more' "$T/waspd.err" ||
    fail "hog: its allocator never saw max_memory"
fresh=$(grep -c '\[plugin:hog\]: a fresh VM replaces the failed one' "$T/waspd.err" || true)
[ "$fresh" -ge 2 ] || fail "hog: $fresh fresh VMs in 5 s of failures"
backoff=$(grep -c '^ok plugin hog failed 503$' "$T/faults.out" || true)
[ "$backoff" -ge 1 ] || fail "hog: no request failed closed during a back-off"
grep -q '^ok hello 200$' "$T/faults.out" || fail "hog: no request served by a fresh VM"
pass "hog (reload, max_memory): $fresh fresh VMs, $backoff requests 503 during back-offs"

kill -0 "$WASPD_PID" || fail "waspd died"
for w in 0 1; do
    grep -q "\[worker $w\] plugin" "$T/waspd.err" || fail "worker $w saw no failure (all faults on one worker)"
done
pass "both workers took faults and served the healthy listener throughout"
