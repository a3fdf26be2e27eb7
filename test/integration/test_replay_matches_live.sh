#!/usr/bin/env bash
# `wasp replay` and the live daemon run the same code: the same plugin chain on the same
# traffic makes the same plugin callbacks, in the same order, with the same results.
# The chain is hc_callout (a callout to the "authz" cluster that pauses the request until
# the answer), hc_body (pauses bodies until their end and rewrites them) and hc_headers;
# the traffic is a GET and a POST with a body, each answered "ok". waspd logs each
# callback at debug level ("[plugin:NAME] CALLBACK -> RESULT"); replay prints them as
# events. The two sequences must be equal.
source "$(dirname "$0")/lib.sh"

: "${TEST_PLUGINS:?}" "${WASP_TOOL:?}"
up=$(free_port)
port=$(free_port)
start_test_upstream "$up"
cat >"$T/w.ini" <<INI
[daemon]
workers = 1
log_level = debug
error_log = $T/live.log
access_log = off
[listener:web]
address = 127.0.0.1:$port
cluster = backend
plugins = hc_callout, hc_body, hc_headers
[cluster:backend]
endpoints = 127.0.0.1:$up
[cluster:authz]
endpoints = 127.0.0.1:$up
[plugin:hc_callout]
file = $TEST_PLUGINS/hc_callout.wasm
[plugin:hc_body]
file = $TEST_PLUGINS/hc_body.wasm
[plugin:hc_headers]
file = $TEST_PLUGINS/hc_headers.wasm
configuration = same-run
INI
start_waspd "$T/w.ini" "$port"

# The live traffic, one request at a time.
out=$(http -H 'x-case: get' "http://127.0.0.1:$port/a/page")
[ -n "$out" ] || fail "no answer to the GET"
out=$(http -H 'x-case: post' -H 'content-type: text/plain' --data-binary 'payload' \
    "http://127.0.0.1:$port/b/form")
[ -n "$out" ] || fail "no answer to the POST"
wait_until 10 grep -q "proxy_on_response_body -> continue" "$T/live.log" ||
    fail "waspd logged no callbacks"
# The second request's end (on_log) is logged once its stream is over.
sleep 0.2

# The same traffic recorded: what the client sent and what the upstream answered.
cat >"$T/traffic.json" <<JSON
[
{"sip": "127.0.0.1", "sp": "50001", "dip": "127.0.0.1", "dp": "$port", "method": "GET",
 "uri_path": "/a/page", "headers": {"host": "127.0.0.1:$port", "x-case": "get"},
 "forward_direction": true, "delta_ms": 0},
{"sip": "127.0.0.1", "sp": "$port", "dip": "127.0.0.1", "dp": "50001",
 "headers": {"content-type": "text/plain", "content-length": "2"}, "body": "ok",
 "forward_direction": false, "delta_ms": 1},
{"sip": "127.0.0.1", "sp": "50002", "dip": "127.0.0.1", "dp": "$port", "method": "POST",
 "uri_path": "/b/form", "headers": {"host": "127.0.0.1:$port", "x-case": "post",
 "content-type": "text/plain"}, "body": "payload", "forward_direction": true, "delta_ms": 10},
{"sip": "127.0.0.1", "sp": "$port", "dip": "127.0.0.1", "dp": "50002",
 "headers": {"content-type": "text/plain", "content-length": "2"}, "body": "ok",
 "forward_direction": false, "delta_ms": 1}
]
JSON
cat >"$T/callouts.json" <<JSON
[{"upstream": "authz", "status": 200, "headers": {"content-type": "text/plain"}, "body": "ok"}]
JSON
"$WASP_TOOL" replay --plugin "$TEST_PLUGINS/hc_callout.wasm" --plugin "$TEST_PLUGINS/hc_body.wasm" \
    --plugin "$TEST_PLUGINS/hc_headers.wasm" --config same-run --callouts "$T/callouts.json" \
    --traffic "$T/traffic.json" >"$T/replay.out" 2>&1 || fail "replay failed: $(cat "$T/replay.out")"

sed -nE 's/.*\[plugin:([a-z_]+)\] (proxy_on_[a-z_]+) -> ([a-z]+)$/\1 \2 \3/p' "$T/live.log" \
    >"$T/live.seq"
sed -nE 's/^#[0-9]+ callback plugin="([a-z_]+)" callback="(proxy_on_[a-z_]+)" result="([a-z]+)".*/\1 \2 \3/p' \
    "$T/replay.out" >"$T/replay.seq"
[ -s "$T/live.seq" ] || fail "no callback in waspd's log"
n=$(wc -l <"$T/replay.seq")
[ "$n" -ge 14 ] || fail "replay made only $n callbacks"
diff -u "$T/replay.seq" "$T/live.seq" >"$T/seq.diff" ||
    fail "replay and waspd differ: $(cat "$T/seq.diff")"
grep -q "hc_callout proxy_on_request_headers pause" "$T/live.seq" ||
    fail "the callout did not pause the request"
pass "replay and waspd made the same $n plugin callbacks in the same order"
