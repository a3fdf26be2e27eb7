#!/usr/bin/env bash
# Framing errors never reach an upstream (request buffering): an HTTP/2 request whose
# DATA contradicts its content-length, and an HTTP/1.1 body cut short, are not forwarded
# at all; past the buffer such a request is reset on both sides and its upstream
# connection closed, not pooled. A small chunked body goes upstream with a
# Content-Length (request_buffering = off: chunked, as it came). HTTP/1.1 absolute-form
# targets: the authority replaces Host for routing and forwarding; userinfo or a scheme
# other than http/https -> 400.
source "$(dirname "$0")/lib.sh"

: "${H2_CLIENT:?H2_CLIENT must point to h2_client}"
up=$(free_port)
big=$(free_port)
wp=$(free_port)
op=$(free_port)
start_test_upstream "$up"
"$TEST_UPSTREAM" "$big" </dev/null >/dev/null 2>"$T/big.err" &
PIDS+=($!)
wait_port "$big"
cat >"$T/w.ini" <<INI
[daemon]
workers = 1
[listener:web]
address = 127.0.0.1:$wp
cluster = up
request_buffering = 1k
[listener:off]
address = 127.0.0.1:$op
cluster = up
request_buffering = off
[route:abs]
listener = web
host = abs.test
cluster = up
[route:other]
listener = web
host = other.test
respond = 200 "other\n"
[route:big]
listener = web
path_prefix = /big
cluster = big
[cluster:up]
endpoints = 127.0.0.1:$up
[cluster:big]
endpoints = 127.0.0.1:$big
INI
start_waspd "$T/w.ini" "$wp"
wait_port "$op"

# raw PORT REQUEST_PRINTF_FORMAT: sends bytes on a new connection, prints the answer.
raw() {
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf "$2" >&3
    timeout 15 cat <&3 || true
    exec 3<&-
}
seen() { grep -q "^request $1\$" "$T/test_upstream.err"; }
bigconns() { ss -Htn state established "( dport = :$big )" 2>/dev/null | wc -l; }

# HTTP/2: DATA beyond the content-length (10 declared, 20 sent) and short of it (5 sent,
# then END_STREAM): the stream is reset (PROTOCOL_ERROR, RFC 9113 §8.1.1) and the
# upstream never sees the request.
out=$("$H2_CLIENT" body "$wp" /h2-long 10 20)
grep -q "^rst 1$" <<<"$out" || fail "h2 DATA beyond content-length: $out, want rst 1"
out=$("$H2_CLIENT" body "$wp" /h2-short 10 5)
grep -q "^rst 1$" <<<"$out" || fail "h2 DATA short of content-length: $out, want rst 1"
# HTTP/1.1: a Content-Length body and a chunked body that end early (the client leaves).
exec 3<>"/dev/tcp/127.0.0.1/$wp"
printf 'POST /h1-short HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc' >&3
exec 4<>"/dev/tcp/127.0.0.1/$wp"
printf 'POST /h1-chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab' >&4
# A good request after them on each protocol: when it is through, so are the bad ones.
out=$("$H2_CLIENT" body "$wp" /h2-good 10 4 6)
grep -q "^status 200$" <<<"$out" || fail "h2 request with a matching length: $out"
exec 3<&- 4<&-
[ "$(http -d 'x=1' "http://127.0.0.1:$wp/h1-good")" = ok ] || fail "h1 request after the bad ones"
wait_until 10 seen /h1-good || fail "the good request did not reach the upstream"
sleep 0.3
for p in /h2-long /h2-short /h1-short /h1-chunked; do
    seen "$p" && fail "malformed request $p reached the upstream"
done
seen /h2-good || fail "h2 request with a matching length did not reach the upstream"
pass "malformed h2 (DATA vs content-length) and cut-short h1 requests never reach the upstream"

# Past the buffer (1k): the head goes upstream once 1k arrived; DATA beyond the length
# then resets the stream, and the upstream connection is closed, not pooled (the
# cluster's idle_timeout is 60 s).
out=$("$H2_CLIENT" body "$wp" /big-h2 4000 2000 w1000 3000)
grep -q "^rst 1$" <<<"$out" || fail "h2 DATA beyond a content-length past the buffer: $out"
wait_until 10 grep -q "^request /big-h2$" "$T/big.err" || fail "the head of a body past the buffer was not forwarded"
gone_big() { [ "$(bigconns)" = 0 ]; }
wait_until 10 gone_big || fail "upstream connection of a reset request left open: $(bigconns)"
# The same for HTTP/1.1: a body past the buffer that ends early (the client leaves).
exec 3<>"/dev/tcp/127.0.0.1/$wp"
printf 'POST /big-h1 HTTP/1.1\r\nHost: a\r\nContent-Length: 4000\r\n\r\n%02000d' 0 >&3
wait_until 10 grep -q "^request /big-h1$" "$T/big.err" || fail "h1 head past the buffer not forwarded"
exec 3<&-
wait_until 10 gone_big || fail "upstream connection of a cut-short h1 request left open: $(bigconns)"
pass "past the buffer: a framing error (h2) or a cut-short body (h1) closes the upstream connection"

# A small chunked body is read whole and forwarded with its length; with
# request_buffering = off it streams, chunked as it came.
out=$(raw "$wp" 'POST /head HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' | tr -d '\r')
grep -qi "^content-length: 5$" <<<"$out" || fail "buffered chunked body not re-framed: $out"
grep -qi "^transfer-encoding" <<<"$out" && fail "buffered chunked body still chunked: $out"
out=$(raw "$op" 'POST /head HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' | tr -d '\r')
grep -qi "^transfer-encoding: chunked$" <<<"$out" || fail "request_buffering = off: $out"
pass "buffered chunked body goes upstream with Content-Length; off streams it chunked"

# Absolute-form: the target's authority routes and becomes the forwarded Host.
out=$(raw "$wp" 'GET http://abs.test/head HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n' | tr -d '\r')
grep -q "^HTTP/1.1 200" <<<"$out" || fail "absolute-form: $(head -1 <<<"$out")"
grep -q "^GET /head HTTP/1.1$" <<<"$out" || fail "absolute-form not forwarded in origin-form: $out"
grep -qi "^host: abs.test$" <<<"$out" || fail "absolute-form authority not forwarded as Host: $out"
grep -qi "other.test" <<<"$out" && fail "the client's Host was forwarded: $out"
out=$(raw "$wp" 'GET HTTP://OTHER.TEST HTTP/1.1\r\nHost: abs.test\r\nConnection: close\r\n\r\n' | tr -d '\r')
[ "$(tail -1 <<<"$out")" = other ] || fail "absolute-form authority does not route: $out"
pass "absolute-form: the authority replaces Host for routing and forwarding"

# A request answered locally (here a respond route) does not wait for its body: no
# 100 Continue, the answer at once.
out=$(raw "$wp" 'POST /x HTTP/1.1\r\nHost: other.test\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n' | tr -d '\r')
grep -q "^HTTP/1.1 100" <<<"$out" && fail "100 Continue for a request answered locally: $out"
[ "$(head -1 <<<"$out")" = "HTTP/1.1 200 OK" ] && [ "$(tail -1 <<<"$out")" = other ] ||
    fail "local answer to a request with a body: $out"
pass "a locally answered request gets its answer before (and without) its body"
for t in 'ftp://abs.test/x' 'ws://abs.test/x' 'http://user@abs.test/x' 'http://u:p@abs.test/x'; do
    out=$(raw "$wp" "GET $t HTTP/1.1\r\nHost: abs.test\r\n\r\n" | tr -d '\r')
    grep -q "^HTTP/1.1 400" <<<"$out" || fail "GET $t: $(head -1 <<<"$out"), want 400"
done
pass "absolute-form with userinfo or a scheme other than http/https -> 400"
