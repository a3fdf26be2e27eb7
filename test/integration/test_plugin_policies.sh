#!/usr/bin/env bash
# Plugin failures and refusals live (one worker, so that each plugin has one VM to watch):
#   - a trap (hc_trap) is logged once with plugin, callback, reason and backtrace;
#     fail_closed answers 503 "plugin NAME failed" for that request and every later one
#     until a reload; fail_open lets the request and later ones through without the
#     plugin; reload gives new requests a fresh VM after a back-off (0, 1 s, 2 s ...)
#     during which they get 503;
#   - an endless loop (hc_loop) is cut by its fuel, or by max_execution_time; a plugin
#     exhausting max_memory (hc_loop on /hog) aborts and is replaced (reload policy);
#   - proxy_http_call naming a cluster the configuration does not have is BAD_ARGUMENT at
#     call time (hc_callout_args answers 503); gRPC calls fail as Envoy's do for a cluster
#     it cannot reach (hc_grpc answers 503, no trap);
#   - waspd -t and start refuse a module without the ABI marker and a plugin whose
#     on_configure fails (memory.grow over max_memory), naming FILE:LINE: [plugin:NAME]
#     with the plugin's own log lines.
source "$(dirname "$0")/lib.sh"
: "${TEST_PLUGINS:?}"
P=$TEST_PLUGINS

tu=$(free_port)
cp=$(free_port)
op=$(free_port)
rp=$(free_port)
lp=$(free_port)
xp=$(free_port)
hp=$(free_port)
ap=$(free_port)
gp=$(free_port)
start_test_upstream "$tu"
listener() { # listener NAME PORT PLUGIN
    printf '[listener:%s]\naddress = 127.0.0.1:%s\ncluster = tu\nplugins = %s\n' "$1" "$2" "$3"
}
{
    printf '[daemon]\nworkers = 1\nlog_level = info\naccess_log = off\n'
    listener closed "$cp" trap_closed
    listener open "$op" trap_open
    listener reload "$rp" trap_reload
    listener loop "$lp" loop
    listener slow "$xp" slow
    listener hog "$hp" hog
    listener args "$ap" args
    listener grpc "$gp" grpc
    cat <<INI
[cluster:tu]
endpoints = 127.0.0.1:$tu
[plugin:trap_closed]
file = $P/hc_trap.wasm
failure_policy = fail_closed
[plugin:trap_open]
file = $P/hc_trap.wasm
failure_policy = fail_open
[plugin:trap_reload]
file = $P/hc_trap.wasm
failure_policy = reload
[plugin:loop]
file = $P/hc_loop.wasm
fuel = 1000000
max_execution_time = 0
[plugin:slow]
file = $P/hc_loop.wasm
max_execution_time = 50ms
[plugin:hog]
file = $P/hc_loop.wasm
max_memory = 4m
failure_policy = reload
[plugin:args]
file = $P/hc_callout_args.wasm
configuration = ok
[plugin:grpc]
file = $P/hc_grpc.wasm
configuration = tu
INI
} >"$T/w.ini"
"$WASPD" -t -c "$T/w.ini" >"$T/t.out" 2>&1 || fail "waspd -t: $(cat "$T/t.out")"
start_waspd "$T/w.ini" "$cp"
for p in "$op" "$rp" "$lp" "$xp" "$hp" "$ap" "$gp"; do wait_port "$p"; done

# req PORT PATH: prints "STATUS BODY".
req() {
    http -o "$T/req.b" -w '%{http_code}' "http://127.0.0.1:$1$2" >"$T/req.st"
    echo "$(cat "$T/req.st") $(tr -d '\n' <"$T/req.b")"
}
expect() { # expect PORT PATH "STATUS BODY" WHAT
    local got
    got=$(req "$1" "$2")
    [ "$got" = "$3" ] || fail "$4: got '$got', want '$3'"
}
traps() { # traps PLUGIN: how many failures of PLUGIN were logged
    grep -c "plugin $1: proxy_on_request_headers failed: unreachable" "$T/waspd.err" || true
}

# ---- fail_closed ------------------------------------------------------------------------
expect "$cp" /ok "200 ok" "fail_closed before the trap"
expect "$cp" /10bytes "503 plugin trap_closed failed" "fail_closed: the trapping request"
expect "$cp" /ok "503 plugin trap_closed failed" "fail_closed: a later request"
wait_log 5 "plugin trap_closed: proxy_on_request_headers failed: unreachable" || fail "trap not logged"
grep -A3 "plugin trap_closed: proxy_on_request_headers failed" "$T/waspd.err" |
    grep -qE '#0 func\[[0-9]+\] crash_here' || fail "no backtrace: $(cat "$T/waspd.err")"
[ "$(traps trap_closed)" = 1 ] || fail "the failure was logged $(traps trap_closed) times"
pass "fail_closed: 503 'plugin NAME failed' for the trapping request and later ones; logged once with a backtrace"

# ---- fail_open ----------------------------------------------------------------------------
expect "$op" /10bytes "200 ok" "fail_open: the trapping request goes on without the plugin"
expect "$op" /ok "200 ok" "fail_open: a later request"
expect "$op" /10bytes "200 ok" "fail_open: another request that would trap"
[ "$(traps trap_open)" = 1 ] || fail "fail_open: failure logged $(traps trap_open) times (the plugin must stay out)"
pass "fail_open: the requests go on without the failed plugin"

# ---- reload, with back-off -------------------------------------------------------------
fresh() { grep -c '\[plugin:trap_reload\]: a fresh VM replaces the failed one' "$T/waspd.err" || true; }
expect "$rp" /10bytes "503 plugin trap_reload failed" "reload: the trapping request"
expect "$rp" /ok "200 ok" "reload: the first failure is replaced at once"
[ "$(fresh)" = 1 ] || fail "reload: no fresh VM logged"
# A second failure: 1 s of back-off, failing closed meanwhile.
expect "$rp" /10bytes "503 plugin trap_reload failed" "reload: the second trap"
t0=$(now_ms)
got=$(req "$rp" /ok)
if [ $(($(now_ms) - t0)) -lt 800 ]; then
    [ "$got" = "503 plugin trap_reload failed" ] || fail "reload: during the 1 s back-off got '$got'"
fi
[ "$(fresh)" = 1 ] || fail "reload: a fresh VM during the back-off"
wait_until 5 sh -c "[ \"\$(curl -s --max-time 5 http://127.0.0.1:$rp/ok)\" = ok ]" ||
    fail "reload: no fresh VM after the back-off"
dt=$(($(now_ms) - t0))
[ "$dt" -ge 900 ] || fail "reload: the back-off after the second failure lasted only $dt ms"
[ "$(fresh)" = 2 ] || fail "reload: $(fresh) fresh VMs logged, want 2"
# A third failure right away: 2 s.
expect "$rp" /10bytes "503 plugin trap_reload failed" "reload: the third trap"
t0=$(now_ms)
wait_until 8 sh -c "[ \"\$(curl -s --max-time 5 http://127.0.0.1:$rp/ok)\" = ok ]" ||
    fail "reload: no fresh VM after the second back-off"
dt=$(($(now_ms) - t0))
[ "$dt" -ge 1900 ] || fail "reload: the back-off after the third failure lasted only $dt ms"
[ "$(fresh)" = 3 ] || fail "reload: $(fresh) fresh VMs logged, want 3"
pass "reload: a fresh VM replaces a failed one, after a back-off of 0, then ~1 s, then ~2 s ($dt ms), failing closed meanwhile"

# ---- fuel and max_memory ---------------------------------------------------------------
t0=$(now_ms)
expect "$lp" /10bytes "503 plugin loop failed" "fuel: an endless loop"
[ $(($(now_ms) - t0)) -lt 5000 ] || fail "fuel: the loop was not cut quickly"
wait_log 5 'plugin loop: proxy_on_request_headers failed: fuel exhausted' || fail "fuel exhaustion not logged"
pass "fuel: an endless loop is cut, the request gets 503"
# No fuel limit, max_execution_time = 50ms: the loop is cut by the clock.
t0=$(now_ms)
expect "$xp" /10bytes "503 plugin slow failed" "max_execution_time: an endless loop"
dt=$(($(now_ms) - t0))
[ "$dt" -ge 50 ] && [ "$dt" -lt 5000 ] || fail "max_execution_time: answered after $dt ms"
wait_log 5 'plugin slow: proxy_on_request_headers failed: execution time exceeded' ||
    fail "the time budget failure is not logged"
expect "$xp" /ok "503 plugin slow failed" "max_execution_time: fail_closed after it"
pass "max_execution_time: an endless loop is cut at 50 ms ($dt ms for the request), 503"

expect "$hp" /hog "503 plugin hog failed" "max_memory: a plugin exhausting its memory"
wait_log 5 'wasm log hog: out of memory after [0-9]+ MiB more' || fail "the plugin's allocator never saw a failure"
mib=$(grep -oE 'wasm log hog: out of memory after [0-9]+' "$T/waspd.err" | grep -oE '[0-9]+$')
[ "$mib" -ge 1 ] && [ "$mib" -le 4 ] || fail "max_memory = 4m, yet it allocated $mib MiB more"
expect "$hp" /ok "200 ok" "max_memory: a fresh VM serves the next request"
grep -q '\[plugin:hog\]: a fresh VM replaces the failed one' "$T/waspd.err" || fail "hog not replaced"
pass "max_memory: memory.grow fails at the limit ($mib MiB more), the plugin aborts, 503, then a fresh VM"

# ---- callouts and gRPC to clusters that are not there -----------------------------------
expect "$ap" /x "503 refused" "proxy_http_call to an unknown cluster"
wait_log 5 'wasm log args: http_call ok: status 2$' || fail "http_call to an unknown cluster is not BAD_ARGUMENT"
expect "$gp" /x "503 no grpc" "gRPC without a gRPC client"
wait_log 5 'wasm log grpc: grpc_call: status 10$' || fail "grpc_call on a known cluster: $(grep 'grpc_call' "$T/waspd.err")"
grep -q 'wasm log grpc: grpc_cancel: status 1$' "$T/waspd.err" || fail "grpc_cancel of nothing"
grep -q 'unexpected status' "$T/waspd.err" && fail "a status the SDKs do not handle: $(grep unexpected "$T/waspd.err")"
pass "proxy_http_call: unknown cluster is BAD_ARGUMENT at call time; gRPC fails softly (INTERNAL_FAILURE, NOT_FOUND)"

# ---- fail_closed lasts until a reload -----------------------------------------------------
kill -HUP "$WASPD_PID"
wait_log 10 'generation 2 is live' || fail "reload not applied"
expect "$cp" /ok "200 ok" "fail_closed after a reload"
pass "fail_closed: a reload brings the plugin back"

# ---- refused at load -----------------------------------------------------------------------
cat >"$T/bad.ini" <<INI
[listener:x]
address = 127.0.0.1:$(free_port)
cluster = tu
plugins = noabi, grower
[cluster:tu]
endpoints = 127.0.0.1:$tu
[plugin:noabi]
file = $P/hc_noabi.wasm
[plugin:grower]
file = $P/hc_loop.wasm
configuration = grow
max_memory = 1m
INI
"$WASPD" -t -c "$T/bad.ini" >"$T/bad.out" 2>&1 && fail "waspd -t accepted bad plugins"
grep -qE "bad.ini:7: \[plugin:noabi\]: .*not a proxy-wasm module: it exports none of the ABI version markers" "$T/bad.out" ||
    fail "module without an ABI marker: $(cat "$T/bad.out")"
sed -i '/^\[plugin:noabi\]/,/^file/d; s/plugins = noabi, grower/plugins = grower/' "$T/bad.ini"
"$WASPD" -t -c "$T/bad.ini" >"$T/bad.out" 2>&1 && fail "waspd -t accepted a plugin whose on_configure fails"
grep -qE "bad.ini:7: \[plugin:grower\]: " "$T/bad.out" || fail "grower: no FILE:LINE: [plugin:NAME]: $(cat "$T/bad.out")"
grep -q "memory.grow refused" "$T/bad.out" || fail "grower: the plugin's log line is missing: $(cat "$T/bad.out")"
"$WASPD" -c "$T/bad.ini" >"$T/bad.start" 2>&1 && fail "waspd started with a failing plugin"
grep -q "memory.grow refused" "$T/bad.start" || fail "start: $(cat "$T/bad.start")"
pass "refused at load: no ABI marker, on_configure failing over max_memory (FILE:LINE: [plugin:NAME] + the plugin's log)"
