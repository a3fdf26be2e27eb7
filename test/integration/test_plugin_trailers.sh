#!/usr/bin/env bash
# Trailers a plugin creates at the end of a body (Envoy's addDecodedTrailers /
# addEncodedTrailers; plugins/test/hc_trailers.c) are on the wire: request trailers reach
# the upstream after a chunked body (HTTP/1.1 and HTTP/2 clients alike; upstreams speak
# HTTP/1.1), response trailers reach the client as HTTP/1.1 chunked trailers and as an
# HTTP/2 trailing HEADERS frame, also for a response that came with a Content-Length. A
# plugin that buffers a request body until its end gets all of a 300 KiB body (reading
# goes on past the runner's high-water mark up to the hold limit).
source "$(dirname "$0")/lib.sh"

: "${H2_CLIENT:?H2_CLIENT must point to h2_client (echo-upstream and request modes)}"
: "${TEST_PLUGINS:?TEST_PLUGINS must point to the built test plugins}"
echo_up=$(free_port)
ng=$(free_port)
wp=$(free_port)
"$H2_CLIENT" echo-upstream "$echo_up" </dev/null >/dev/null 2>"$T/echo.err" &
PIDS+=($!)
wait_port "$echo_up"
start_nginx "$ng"
printf 'twelve bytes' >"$T/ng/www/file.txt"

cat >"$T/w.ini" <<INI
[daemon]
workers = 1
error_log = $T/error.log
[listener:web]
address = 127.0.0.1:$wp
cluster = ng
plugins = trailers
[route:echo]
path_prefix = /echo
cluster = echo
[cluster:ng]
endpoints = 127.0.0.1:$ng
[cluster:echo]
endpoints = 127.0.0.1:$echo_up
[plugin:trailers]
file = $TEST_PLUGINS/hc_trailers.wasm
INI
start_waspd "$T/w.ini" "$wp"

raw() {
    exec 3<>"/dev/tcp/127.0.0.1/$wp"
    printf "$1" >&3
    timeout 15 cat <&3 || true
    exec 3<&-
}

# HTTP/1.1: a request with a Content-Length body; the plugin adds x-body-length at its
# end, so the upstream gets it chunked with that trailer.
out=$(raw 'POST /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 11\r\n\r\nhello world' |
    tr -d '\r')
grep -q "^HTTP/1.1 200" <<<"$out" || fail "h1 POST: $(head -1 <<<"$out")"
grep -qi "^got x-body-length: 11$" <<<"$out" ||
    fail "the request trailer the plugin created did not reach the upstream: $out"
pass "h1: a request trailer created at the end of the body reaches the upstream"

# HTTP/1.1: a response with a Content-Length (nginx, a static file) gets the plugin's
# trailers: chunked, trailers after the last chunk.
out=$(raw 'GET /file.txt HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nConnection: close\r\n\r\n' |
    tr -d '\r')
grep -q "^HTTP/1.1 200" <<<"$out" || fail "h1 GET: $(head -1 <<<"$out")"
grep -qi "^transfer-encoding: chunked" <<<"$out" || fail "response with trailers not chunked: $out"
grep -qi "^content-length" <<<"$out" && fail "content-length kept beside the trailers: $out"
grep -q "^twelve bytes$" <<<"$out" || fail "h1 body: $out"
awk '/^0$/ {z = 1; next} z && tolower($0) ~ /^x-resp-length: 12$/ {a = 1}
     z && tolower($0) ~ /^x-added-by: hc_trailers$/ {b = 1} END {exit !(a && b)}' <<<"$out" ||
    fail "response trailers not after the last chunk: $out"
pass "h1: response trailers created at the end of the body are chunked trailers"

# HTTP/2 (h2c): the same request trailer, and the response trailers as trailing HEADERS.
out=$("$H2_CLIENT" request "$wp" POST /echo hello)
grep -q "^status 200" <<<"$out" || fail "h2 POST: $out"
grep -qi "^got x-body-length: 5$" <<<"$out" ||
    fail "h2: the request trailer the plugin created did not reach the upstream: $out"
pass "h2: a request trailer created at the end of the body reaches the upstream"
out=$("$H2_CLIENT" request "$wp" GET /file.txt)
grep -q "^status 200" <<<"$out" || fail "h2 GET: $out"
grep -q "twelve bytes" <<<"$out" || fail "h2 body: $out"
grep -q "trailer x-resp-length: 12$" <<<"$out" || fail "h2: no trailing HEADERS: $out"
grep -q "^trailer x-added-by: hc_trailers$" <<<"$out" || fail "h2: trailer missing: $out"
pass "h2: response trailers created at the end of the body are trailing HEADERS"

# The plugin's status for every one of these calls was OK (it logs them; waspd writes its
# log in batches: wait for the last one).
wait_until 10 grep -q "second response trailer: status" "$T/error.log" ||
    fail "the plugin's log lines are missing"
grep -q "status [1-9]" "$T/error.log" && fail "a trailer call was refused: $(grep 'status [1-9]' "$T/error.log")"
pass "the plugin saw OK for every trailer it created"

# A 300 KiB upload through the plugin, which holds the request body until its end: the
# body is read on past the 256 KiB high-water mark (it stalled there before) and the
# whole of it reaches the upstream (nginx's WebDAV PUT), followed by the trailer.
head -c 307200 /dev/urandom >"$T/big.bin"
code=$(http -o /dev/null -w '%{http_code}' -T "$T/big.bin" "http://127.0.0.1:$wp/up/big.bin")
case "$code" in 201 | 204) ;; *) fail "300 KiB upload through the buffering plugin: $code" ;; esac
cmp -s "$T/big.bin" "$T/ng/www/up/big.bin" || fail "the upload arrived changed"
grep -q "request trailer at the body's end: status 0" "$T/error.log" || fail "no trailer added"
pass "a 300 KiB request body buffered by a plugin goes upstream whole"
