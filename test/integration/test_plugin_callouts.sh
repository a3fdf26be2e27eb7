#!/usr/bin/env bash
# proxy_http_call's upstream names in waspd are the [cluster:NAME] sections of the
# plugin's configuration: a name that is none of them is BAD_ARGUMENT at once (Envoy's
# answer for a cluster it does not have), also through the AssemblyScript SDK's own
# callout helper, which then answers 503 itself; a cluster name goes out through the
# worker's pool and its answer reaches the SDK's callback, which resumes the request. At
# log_level debug every hostcall is logged, decoded. A plugin configured without the root
# id its SDK needs is refused naming the ids it registers.
source "$(dirname "$0")/lib.sh"

: "${AS_PLUGINS:=}"
[ -f "$AS_PLUGINS/callout.wasm" ] || fail "AssemblyScript plugins not built (AS_PLUGINS=$AS_PLUGINS)"
: "${TEST_PLUGINS:?TEST_PLUGINS must point to the built test plugins}"
ng=$(free_port)
wp=$(free_port)
kp=$(free_port)
start_nginx "$ng"
echo hello >"$T/ng/www/file.txt"
echo allowed >"$T/ng/www/check"

cat >"$T/w.ini" <<INI
[daemon]
workers = 1
error_log = $T/error.log
log_level = debug
[listener:unknown]
address = 127.0.0.1:$wp
cluster = ng
plugins = as_unknown
[listener:known]
address = 127.0.0.1:$kp
cluster = ng
plugins = as_known
[cluster:ng]
endpoints = 127.0.0.1:$ng
[cluster:authz]
endpoints = 127.0.0.1:$ng
[plugin:as_unknown]
file = $AS_PLUGINS/callout.wasm
root_id = callout
configuration = nowhere
[plugin:as_known]
file = $AS_PLUGINS/callout.wasm
root_id = callout
configuration = authz
INI
start_waspd "$T/w.ini" "$wp"
wait_port "$kp"

out=$(http -o - -w ' %{http_code}' "http://127.0.0.1:$wp/file.txt")
[ "$out" = "callout refused
 503" ] || fail "AS httpCall to an unknown cluster: $out"
grep -q "httpCall to nowhere: result 2" "$T/error.log" || fail "the SDK did not see BAD_ARGUMENT"
pass "AS SDK: httpCall to a name that is no cluster is BAD_ARGUMENT, the plugin answers 503"
# At log_level debug waspd logs each hostcall of the plugins, decoded.
grep -q '\[plugin:as_unknown\] proxy_http_call(upstream="nowhere", headers={":method": "GET", ":path": "/check", ":authority": "callout.local"}, body="", trailers={}, timeout_ms=1000) -> BAD_ARGUMENT' "$T/error.log" ||
    fail "no decoded hostcall in the debug log: $(grep -m3 proxy_ "$T/error.log")"
pass "at debug level waspd logs every hostcall, decoded"

out=$(http -o - -w ' %{http_code}' "http://127.0.0.1:$kp/file.txt")
[ "$out" = "hello
 200" ] || fail "AS httpCall to a cluster: $out"
grep -q "httpCall to authz: result 0" "$T/error.log" || fail "the call was not accepted"
grep -q "callout answered: [0-9]* headers, status 200" "$T/error.log" ||
    fail "the answer of cluster authz did not reach the SDK's callback: $(cat "$T/error.log")"
pass "AS SDK: httpCall to a cluster goes out, its answer resumes the request"

# A plugin whose SDK picks its root context by root id, configured without one: waspd -t
# says which ids it knows.
cat >"$T/bad.ini" <<INI
[listener:web]
address = 127.0.0.1:$wp
cluster = ng
plugins = guard
[cluster:ng]
endpoints = 127.0.0.1:$ng
[plugin:guard]
file = $AS_PLUGINS/guard.wasm
INI
out=$("$WASPD" -t -c "$T/bad.ini" 2>&1) && fail "waspd -t accepted a plugin without its root id"
grep -q "bad.ini:7: \[plugin:guard\]: the plugin registers root id: guard; set its root_id (it has none)" <<<"$out" ||
    fail "no root id hint: $out"
pass "waspd -t names the root ids a plugin registers"
