#!/usr/bin/env bash
# Downstream limits and timeouts: request line (414), header count (431), body size
# (413, Content-Length and chunked), header timeout (408), body timeout (408), idle
# keep-alive timeout (close), and 404 when no route matches.
source "$(dirname "$0")/lib.sh"

ng=$(free_port)
wp=$(free_port)
start_nginx "$ng"
cat >"$T/w.ini" <<INI
[daemon]
workers = 1
[listener:web]
address = 127.0.0.1:$wp
max_request_line = 256
max_headers = 10
max_body_size = 1k
header_timeout = 1s
body_timeout = 1s
idle_timeout = 1500ms
[route:ng]
path_prefix = /up/
cluster = ng
[route:hdr]
path_prefix = /hdr
cluster = ng
[cluster:ng]
endpoints = 127.0.0.1:$ng
INI
start_waspd "$T/w.ini" "$wp"
base="http://127.0.0.1:$wp"

# raw REQUEST_PRINTF_FORMAT [SLEEP]: sends bytes on a new connection, prints the answer.
raw() {
    exec 3<>"/dev/tcp/127.0.0.1/$wp"
    printf "$1" >&3
    timeout 15 cat <&3 || true
    exec 3<&-
}

code=$(http -o /dev/null -w '%{http_code}' "$base/hdr?$(head -c 300 /dev/zero | tr '\0' a)")
[ "$code" = 414 ] || fail "long request line: $code, want 414"
pass "request line over max_request_line -> 414"

args=()
for i in $(seq 1 12); do args+=(-H "X-H$i: v"); done
code=$(http -o /dev/null -w '%{http_code}' "${args[@]}" "$base/hdr")
[ "$code" = 431 ] || fail "too many headers: $code, want 431"
pass "more than max_headers -> 431"

code=$(http -o /dev/null -w '%{http_code}' -X PUT --data-binary "@/dev/fd/3" "$base/up/a" \
       3< <(head -c 2000 /dev/zero))
[ "$code" = 413 ] || fail "Content-Length over max_body_size: $code, want 413"
code=$(head -c 5000 /dev/zero | http -o /dev/null -w '%{http_code}' -T - \
       -H "Transfer-Encoding: chunked" "$base/up/b")
[ "$code" = 413 ] || fail "chunked body over max_body_size: $code, want 413"
code=$(head -c 1000 /dev/zero | http -o /dev/null -w '%{http_code}' -T - "$base/up/c")
[ "$code" = 201 ] || [ "$code" = 204 ] || fail "body under max_body_size: $code"
pass "max_body_size -> 413 (Content-Length and chunked)"

start=$(date +%s%N)
out=$(raw 'GET /hdr HTTP/1.1\r\nHost: a\r\n')
ms=$((($(date +%s%N) - start) / 1000000))
grep -q "^HTTP/1.1 408" <<<"$out" || fail "incomplete head: $(head -1 <<<"$out"), want 408"
[ "$ms" -ge 900 ] && [ "$ms" -lt 10000 ] || fail "header timeout took $ms ms, want ~1000"
pass "header timeout -> 408 after ${ms} ms"

out=$(raw 'PUT /up/slow HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc')
grep -q "^HTTP/1.1 408" <<<"$out" || fail "stalled body: $(head -1 <<<"$out"), want 408"
pass "body timeout -> 408"

# Idle keep-alive: one answer, then the server closes after idle_timeout.
start=$(date +%s%N)
out=$(raw 'GET /hdr HTTP/1.1\r\nHost: a\r\n\r\n')
ms=$((($(date +%s%N) - start) / 1000000))
grep -q "^HTTP/1.1 200" <<<"$out" || fail "keep-alive request: $(head -1 <<<"$out")"
[ "$ms" -ge 1400 ] && [ "$ms" -lt 10000 ] || fail "idle close after $ms ms, want ~1500"
pass "idle keep-alive connection closed after ${ms} ms"

code=$(http -o /dev/null -w '%{http_code}' "$base/elsewhere")
[ "$code" = 404 ] || fail "no route: $code, want 404"
pass "no matching route -> 404"
