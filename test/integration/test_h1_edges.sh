#!/usr/bin/env bash
# HTTP/1.1 edges end to end: trailers both ways (chunked request trailers reach the
# upstream, upstream response trailers reach the client), hop-by-hop removal including
# the names listed in Connection, Expect: 100-continue refused with 413 before the body,
# the upstream connect timeout (an endpoint whose accept queue is full drops SYNs), and
# the filter chain's pause/resume on a real request (test_pause: the built-in pause filter),
# the upstream keep-alive pool: a connection is reused, then closed after idle_timeout,
# and the cluster's read_timeout counting from the request's end: an upload slower than
# it still gets the upstream's answer (HTTP/1.1 and HTTP/2), a silent upstream a 504.
source "$(dirname "$0")/lib.sh"

: "${H2_CLIENT:?H2_CLIENT must point to h2_client (its echo-upstream mode)}"
echo_up=$(free_port)
up=$(free_port)
full=$(free_port)
wp=$(free_port)
pp=$(free_port)
sp=$(free_port)
hp=$(free_port)
"$H2_CLIENT" echo-upstream "$echo_up" </dev/null >/dev/null 2>"$T/echo.err" &
PIDS+=($!)
wait_port "$echo_up"
start_test_upstream "$up"
"$TEST_UPSTREAM" "$full" backlog0 </dev/null >/dev/null 2>"$T/full.err" &
PIDS+=($!)
listening() { [ -n "$(ss -Hltn "( sport = :$full )" 2>/dev/null)" ]; }
wait_until 20 listening || fail "backlog0 upstream not listening"
# One connection fills the accept queue of a backlog-0 listener (nobody accepts it).
exec 4<>"/dev/tcp/127.0.0.1/$full"

cat >"$T/w.ini" <<INI
[daemon]
workers = 1
[listener:web]
address = 127.0.0.1:$wp
cluster = up
max_body_size = 1k
[route:echo]
path_prefix = /echo
cluster = echo
[route:full]
path_prefix = /full
cluster = full
[listener:paused]
address = 127.0.0.1:$pp
cluster = echo
test_pause = 400ms
[listener:pausedsmall]
address = 127.0.0.1:$hp
cluster = up
test_pause = 200ms
hold_limit = 64k
[cluster:up]
endpoints = 127.0.0.1:$up
idle_timeout = 1s
[cluster:echo]
endpoints = 127.0.0.1:$echo_up
[cluster:full]
endpoints = 127.0.0.1:$full
connect_timeout = 1s
[listener:slowup]
address = 127.0.0.1:$sp
cluster = echo1s
request_buffering = off
[route:hang]
listener = slowup
path_prefix = /hang
cluster = up1s
[cluster:echo1s]
endpoints = 127.0.0.1:$echo_up
read_timeout = 1s
[cluster:up1s]
endpoints = 127.0.0.1:$up
read_timeout = 1s
INI
start_waspd "$T/w.ini" "$wp"
wait_port "$sp"

# slow_put PATH: PUTs 8 bytes to the slowup listener (/slow: echo1s, /hang: up1s), one every 350 ms (2.8 s, well past
# the cluster's 1 s read_timeout), then prints the answer and the milliseconds it took.
slow_put() {
    local start
    start=$(now_ms)
    exec 5<>"/dev/tcp/127.0.0.1/$sp"
    printf 'PUT %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 8\r\n\r\n' "$1" >&5
    for i in 1 2 3 4 5 6 7 8; do
        sleep 0.35
        printf x >&5
    done
    timeout 15 cat <&5 | tr -d '\r' || true
    exec 5<&-
    echo "ms $(($(now_ms) - start))"
}
# Started now, checked at the end (they run beside the tests below).
slow_put /slow >"$T/slow-echo" &
slow_jobs=$!
slow_put /hang >"$T/slow-hang" &
slow_jobs="$slow_jobs $!"
"$H2_CLIENT" body "$sp" /slow 8 w350 1 w350 1 w350 1 w350 1 w350 1 w350 1 w350 1 w350 1 \
    >"$T/slow-h2" &
slow_jobs="$slow_jobs $!"

# raw REQUEST_PRINTF_FORMAT: sends bytes on a new connection, prints the raw answer.
raw() {
    exec 3<>"/dev/tcp/127.0.0.1/$wp"
    printf "$1" >&3
    timeout 15 cat <&3 || true
    exec 3<&-
}

# Trailers, HTTP/1.1 both ways.
out=$(raw 'POST /echo HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Req-Trailer: abc\r\n\r\n' | tr -d '\r')
grep -q "^HTTP/1.1 200" <<<"$out" || fail "trailers: $(head -1 <<<"$out")"
grep -qi "^got x-req-trailer: abc$" <<<"$out" || fail "request trailer did not reach the upstream: $out"
pass "chunked request trailers reach the upstream"
grep -qi "^transfer-encoding: chunked" <<<"$out" || fail "response with trailers not chunked: $out"
# The trailer comes after the last chunk (0), before the final blank line.
awk '/^0$/ {z = 1; next} z && tolower($0) ~ /^x-resp-trailer: done$/ {f = 1} END {exit !f}' \
    <<<"$out" || fail "response trailer not after the last chunk: $out"
pass "upstream response trailers reach the client after the last chunk"

# Hop-by-hop: Connection, Keep-Alive, TE, Transfer-Encoding and every name listed in
# Connection are not forwarded; end-to-end headers are; Host is kept.
out=$(http -H "Host: kept.test" -H "Connection: keep-alive, X-Hop, x-other" -H "X-Hop: 1" \
      -H "X-Other: 2" -H "Keep-Alive: timeout=5" -H "TE: trailers" -H "X-End: 3" \
      "http://127.0.0.1:$wp/head" | tr -d '\r')
grep -qi "^x-end: 3$" <<<"$out" || fail "end-to-end header lost: $out"
grep -qi "^host: kept.test$" <<<"$out" || fail "Host not preserved: $out"
for h in x-hop x-other keep-alive te; do
    grep -qi "^$h:" <<<"$out" && fail "hop-by-hop $h forwarded: $out"
done
grep -qi "^connection: *keep-alive, X-Hop" <<<"$out" && fail "client Connection forwarded: $out"
pass "hop-by-hop headers (incl. those named in Connection) removed, Host kept"

# Expect: 100-continue with a too large Content-Length: 413 at once, no 100, no body read.
out=$(raw 'PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n' | tr -d '\r')
grep -q "^HTTP/1.1 100" <<<"$out" && fail "100 Continue for a body over max_body_size: $out"
grep -q "^HTTP/1.1 413" <<<"$out" || fail "Expect with a too large body: $(head -1 <<<"$out"), want 413"
pass "Expect: 100-continue over max_body_size -> 413 without 100"
# Within the limit: 100 Continue, then the answer.
out=$(raw 'PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nhello' | tr -d '\r')
grep -q "^HTTP/1.1 100 Continue" <<<"$out" || fail "no 100 Continue: $out"
grep -q "^HTTP/1.1 200" <<<"$out" || fail "Expect: no final answer: $out"
pass "Expect: 100-continue -> 100 then the upstream's answer"

# Connect timeout: SYNs to the full endpoint are dropped; 504 after ~connect_timeout,
# long before the kernel gives up on its own (about 2 minutes).
start=$(now_ms)
code=$(http -o "$T/b" -w '%{http_code}' "http://127.0.0.1:$wp/full")
ms=$(($(now_ms) - start))
[ "$code" = 504 ] || fail "connect timeout: $code, want 504 (gateway timeout)"
[ "$ms" -ge 900 ] && [ "$ms" -lt 12000 ] || fail "connect timeout 1s, 504 after $ms ms"
[ -s "$T/b" ] || fail "504 without a body"
pass "connect timeout -> 504 after ${ms} ms"
exec 4<&-

# Pause and resume in the filter chain: request headers wait 400 ms, the body and its
# trailers queue behind them and are not lost, the response headers wait 400 ms more.
start=$(now_ms)
exec 3<>"/dev/tcp/127.0.0.1/$pp"
printf 'POST /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Req-Trailer: held\r\n\r\n' >&3
out=$(timeout 15 cat <&3 | tr -d '\r' || true)
exec 3<&-
ms=$(($(now_ms) - start))
grep -q "^HTTP/1.1 200" <<<"$out" || fail "paused request: $(head -1 <<<"$out")"
grep -qi "^got x-req-trailer: held$" <<<"$out" || fail "body/trailers behind the pause lost: $out"
[ "$ms" -ge 780 ] || fail "test_pause = 400ms twice, but the answer came after $ms ms"
pass "pause/resume: request and response held 2 x 400 ms ($ms ms), nothing lost"

# Body behind request headers paused with back-pressure (as a plugin's auth callout
# pauses them) is held with back-pressure, not bounded by hold_limit: a 300 KB upload
# through a 64k hold_limit gets the upstream's answer, not 413. test_upstream reads
# exactly Content-Length bytes before it answers, so "ok" means the whole body arrived.
head -c 300000 /dev/zero >"$T/300k"
out=$(http -w ' %{http_code}' -H 'Expect:' -H 'Content-Type: application/octet-stream' \
    --data-binary "@$T/300k" "http://127.0.0.1:$hp/upload")
[ "$out" = "ok
 200" ] || fail "300 KB upload behind paused headers, hold_limit 64k: $out"
pass "paused request headers: a 300 KB body behind them passes a 64k hold_limit"

# Upstream pool: two requests in a row use one pooled connection to the upstream; with
# nothing to do it is closed after the cluster's idle_timeout (1s).
upconns() { ss -Htn state established "( dport = :$up )" 2>/dev/null | wc -l; }
gone_up() { [ "$(upconns)" = 0 ]; }
wait_until 15 gone_up || fail "upstream connections left from earlier requests"
n0=$(grep -c "^request " "$T/test_upstream.err")
[ "$(http "http://127.0.0.1:$wp/a")" = ok ] || fail "pooled request a"
[ "$(http "http://127.0.0.1:$wp/b")" = ok ] || fail "pooled request b"
[ "$(grep -c "^request " "$T/test_upstream.err")" = $((n0 + 2)) ] || fail "upstream missed a request"
[ "$(upconns)" = 1 ] || fail "two requests in a row: $(upconns) upstream connections, want 1 (pooled)"
start=$(now_ms)
wait_until 15 gone_up || fail "pooled upstream connection not closed after idle_timeout"
ms=$(($(now_ms) - start))
pass "upstream keep-alive pool: one connection reused, closed when idle (${ms} ms)"

# read_timeout counts from the last request byte sent: slow uploads get their answer.
wait $slow_jobs
out=$(cat "$T/slow-echo")
grep -q "^HTTP/1.1 200" <<<"$out" || fail "slow upload with read_timeout 1s: $(head -1 <<<"$out")"
grep -q "^no trailers$" <<<"$out" || fail "slow upload: the upstream's answer is missing: $out"
ms=$(sed -n 's/^ms //p' <<<"$out")
[ "$ms" -ge 2800 ] || fail "the upload took only $ms ms"
grep -q "^status 200$" "$T/slow-h2" || fail "slow h2 upload with read_timeout 1s: $(cat "$T/slow-h2")"
pass "an upload slower than read_timeout gets the upstream's answer (h1 in $ms ms, and h2)"
out=$(cat "$T/slow-hang")
grep -q "^HTTP/1.1 504" <<<"$out" || fail "silent upstream after a slow upload: $(head -1 <<<"$out")"
ms=$(sed -n 's/^ms //p' <<<"$out")
[ "$ms" -ge 3700 ] && [ "$ms" -lt 12000 ] || fail "504 after $ms ms: want the 1 s read_timeout after the 2.8 s upload"
pass "a silent upstream: 504 one read_timeout after the request's end ($ms ms)"
