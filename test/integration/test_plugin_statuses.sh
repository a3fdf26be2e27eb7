#!/usr/bin/env bash
# The C++ SDK's richer body results live (plugins/test/hc_status.c), on chunked responses
# that reach the plugin in many pieces, over HTTP/1.1 and h2c:
#   StopIterationNoBuffer: each call sees the new piece alone and the bytes are the
#     plugin's; it writes everything back at the end, framed "<...>";
#   StopIterationAndWatermark: the host holds the pieces (each call sees the new one
#     alone) and all of them reach the client when the plugin continues.
# And the request side with a body in pieces: StopAllIterationAndBuffer from the headers
# holds the request until the plugin continues it from a tick.
source "$(dirname "$0")/lib.sh"

: "${TEST_PLUGINS:?TEST_PLUGINS must point to the built test plugins}"
ng=$(free_port)
np=$(free_port)
mp=$(free_port)
bp=$(free_port)
start_nginx "$ng"
head -c 307200 /dev/urandom | base64 -w 76 >"$T/ng/www/big.txt"
# Under the 256 KiB the runner holds before it pushes back on the upstream (a watermark
# hold the plugin never lets go of stops the body there, as Envoy's does).
head -c 98304 /dev/urandom | base64 -w 76 >"$T/ng/www/mid.txt"

cat >"$T/w.ini" <<INI
[daemon]
workers = 1
error_log = $T/error.log
[listener:nobuffer]
address = 127.0.0.1:$np
cluster = ng
plugins = no_buffer
[listener:watermark]
address = 127.0.0.1:$mp
cluster = ng
plugins = watermark
[listener:headers]
address = 127.0.0.1:$bp
cluster = ng
plugins = buffer_headers
[cluster:ng]
endpoints = 127.0.0.1:$ng
[plugin:no_buffer]
file = $TEST_PLUGINS/hc_status.wasm
configuration = no_buffer
[plugin:watermark]
file = $TEST_PLUGINS/hc_status.wasm
configuration = watermark
[plugin:buffer_headers]
file = $TEST_PLUGINS/hc_status.wasm
configuration = buffer_headers
INI
start_waspd "$T/w.ini" "$np"
wait_port "$mp"
wait_port "$bp"
{ printf '<'; cat "$T/ng/www/big.txt"; printf '>'; } >"$T/framed.txt"
size=$(wc -c <"$T/ng/www/big.txt")

# count PATTERN: lines of the error log (waspd writes it in batches: wait for them).
count() {
    grep -c "$1" "$T/error.log" || true
}
# ends PLUGIN N: PLUGIN logged its Nth end-of-body piece.
ends() {
    [ "$(count "wasm log $1: piece [0-9]*: [0-9]* bytes, eos 1")" -ge "$2" ]
}

round=0
for proto in http1.1 http2-prior-knowledge; do
    round=$((round + 1))
    before=$(count "wasm log no_buffer: piece")
    http --$proto -o "$T/got.txt" "http://127.0.0.1:$np/chunked/big.txt"
    cmp -s "$T/got.txt" "$T/framed.txt" ||
        fail "$proto NoBuffer: the client did not get the plugin's body ($(wc -c <"$T/got.txt") bytes)"
    wait_until 10 ends no_buffer $round || fail "$proto NoBuffer: the plugin's log lines are missing"
    n=$(($(count "wasm log no_buffer: piece") - before))
    [ "$n" -ge 2 ] || fail "$proto NoBuffer: the body came in $n piece(s), not several"
    # Each call saw one piece, never the body held so far: none is as long as the file.
    grep -q "piece [0-9]*: $size bytes" "$T/error.log" &&
        fail "$proto NoBuffer: a call saw the whole body"
    pass "$proto: StopIterationNoBuffer shows $n pieces alone, the plugin's body reaches the client"

    before=$(count "wasm log watermark: piece")
    http --$proto -o "$T/got.txt" "http://127.0.0.1:$mp/chunked/mid.txt"
    cmp -s "$T/got.txt" "$T/ng/www/mid.txt" || fail "$proto Watermark: the body changed"
    wait_until 10 ends watermark $round || fail "$proto Watermark: the plugin's log lines are missing"
    n=$(($(count "wasm log watermark: piece") - before))
    [ "$n" -ge 2 ] || fail "$proto Watermark: the body came in $n piece(s)"
    grep -q "piece [0-9]*: $(wc -c <"$T/ng/www/mid.txt") bytes" "$T/error.log" &&
        fail "$proto Watermark: a call saw the whole body"
    pass "$proto: StopIterationAndWatermark holds $n pieces and lets them all through"
done

# StopAllIterationAndBuffer from the request headers: a chunked upload waits behind them
# until the plugin's tick continues the request, then reaches nginx whole.
head -c 100000 /dev/urandom >"$T/up.bin"
code=$(http -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' -T "$T/up.bin" \
    "http://127.0.0.1:$bp/up/up.bin")
case "$code" in 201 | 204) ;; *) fail "upload behind StopAllIterationAndBuffer: $code" ;; esac
cmp -s "$T/up.bin" "$T/ng/www/up/up.bin" || fail "the upload arrived changed"
wait_until 10 grep -q "tick resumes the request" "$T/error.log" ||
    fail "the plugin's tick did not resume it"
pass "StopAllIterationAndBuffer holds a chunked upload until the plugin continues"
