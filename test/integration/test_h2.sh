#!/usr/bin/env bash
# HTTP/2 and TLS termination against a real nginx upstream: h2c with prior knowledge and
# by Upgrade: h2c, h2 over TLS (ALPN), ALPN fallback to HTTP/1.1, HTTP/1.1 still served on the cleartext
# listener, 10 MB up and down over h2 and h2c (checksums), split cookies joined, many
# concurrent streams (nghttp), a bad preface closes the connection, h2load with 0 failures,
# 431 for a too large header list, handshake and idle timeouts, a slow h2 reader does not
# make waspd buffer the response (back-pressure to the upstream).
source "$(dirname "$0")/lib.sh"

ng=$(free_port)
wp=$(free_port)
tp=$(free_port)
sp=$(free_port)
start_nginx "$ng"
head -c 10485760 /dev/urandom >"$T/ng/www/big.bin"
want=$(sha256sum <"$T/ng/www/big.bin" | cut -d' ' -f1)
echo small >"$T/ng/www/small.txt"
self_signed srv localhost
cat >"$T/w.ini" <<INI
[daemon]
workers = 2
access_log = $T/access.log
[listener:web]
address = 127.0.0.1:$wp
cluster = ng
idle_timeout = 2s
[listener:tls]
header_timeout = 1s
address = 127.0.0.1:$tp
protocol = https
tls_certificate = $T/srv.pem
tls_key = $T/srv.key
cluster = ng
[listener:small]
address = 127.0.0.1:$sp
cluster = ng
max_body_size = 1k
http2_max_streams = 7
[cluster:ng]
endpoints = 127.0.0.1:$ng
max_idle = 600
INI
"$WASPD" -t -c "$T/w.ini" >/dev/null 2>&1 || fail "waspd -t rejects a good TLS configuration"
start_waspd "$T/w.ini" "$wp"
wait_port "$tp"
wait_port "$sp"
h2c="http://127.0.0.1:$wp"
h2s="https://127.0.0.1:$tp"

# h2c with prior knowledge; the request reaches the upstream with Host from :authority.
out=$(http --http2-prior-knowledge -w ' %{http_version}' -H 'cookie: a=1' -H 'cookie: b=2' \
      "$h2c/hdr")
case "$out" in
"host=127.0.0.1 xff=127.0.0.1 via=1.1 wasp xfp=http conn= te="*" 2") ;;
*) fail "h2c prior knowledge: $out" ;;
esac
pass "h2c with prior knowledge"

# :authority becomes the upstream's Host (curl turns -H Host into :authority).
out=$(http --http2-prior-knowledge -H 'Host: example.test' "$h2c/hdr")
case "$out" in
"host=example.test "*) ;;
*) fail ":authority -> Host: $out" ;;
esac
pass ":authority forwarded as Host"
# The access log is flushed every second: wait for the line.
wait_until 15 grep -q '"GET /hdr HTTP/2.0" 200 ' "$T/access.log" 2>/dev/null || true
grep -q '"GET /hdr HTTP/2.0" 200 ' "$T/access.log" || fail "access log: $(tail -2 "$T/access.log")"
pass "access log says HTTP/2.0"

# HTTP/1.1 still works on the same cleartext listener.
[ "$(http -w '%{http_version}' -o /dev/null "$h2c/small.txt")" = "1.1" ] ||
    fail "HTTP/1.1 on the h2c listener"
pass "HTTP/1.1 next to h2c"

# Upgrade: h2c (curl --http2 on http://): 101, then the request answered over HTTP/2;
# a request with a body is not upgraded (HTTP/1.1 goes on).
out=$(http --http2 -w ' %{http_version}' "$h2c/hdr")
case "$out" in
"host=127.0.0.1 xff=127.0.0.1 via=1.1 wasp xfp=http conn= te="*" 2") ;;
*) fail "Upgrade: h2c: $out" ;;
esac
[ "$(http --http2 "$h2c/big.bin" | sha256sum | cut -d' ' -f1)" = "$want" ] ||
    fail "10 MB over an upgraded connection differs"
[ "$(http --http2 -d x -o /dev/null -w '%{http_version}' "$h2c/small.txt")" = 1.1 ] ||
    fail "a request with a body must not be upgraded"
pass "Upgrade: h2c (and not with a request body)"

# h2 over TLS via ALPN, scheme https forwarded.
out=$(http -k --http2 -w ' %{http_version}' "$h2s/hdr")
case "$out" in
*"xfp=https"*" 2") ;;
*) fail "h2 over TLS: $out" ;;
esac
pass "h2 over TLS (ALPN h2)"

# ALPN fallback: a client offering only http/1.1 gets HTTP/1.1 over TLS.
out=$(http -k --http1.1 -w ' %{http_version}' "$h2s/hdr")
case "$out" in
*"xfp=https"*" 1.1") ;;
*) fail "ALPN http/1.1 fallback: $out" ;;
esac
pass "ALPN fallback to http/1.1"

# 10 MB down and up, over h2c and h2+TLS.
for base in "$h2c --http2-prior-knowledge" "$h2s -k --http2"; do
    set -- $base
    url=$1
    shift
    got=$(http "$@" "$url/big.bin" | sha256sum | cut -d' ' -f1)
    [ "$got" = "$want" ] || fail "10 MB download over $url differs"
    rm -f "$T/ng/www/up/put.bin"
    code=$(http "$@" -T "$T/ng/www/big.bin" -o /dev/null -w '%{http_code}' "$url/up/put.bin")
    [ "$code" = 201 ] || fail "10 MB upload over $url: status $code"
    got=$(sha256sum <"$T/ng/www/up/put.bin" | cut -d' ' -f1)
    [ "$got" = "$want" ] || fail "10 MB upload over $url differs"
done
pass "10 MB up and down over h2c and h2 (checksums match)"

# Many concurrent streams on one connection (nghttp -m: the same URI N times).
nghttp -n -s -m 200 "$h2c/small.txt" >"$T/nghttp.out" 2>&1 || fail "nghttp: $(tail -3 "$T/nghttp.out")"
n=$(grep -cE '^ *[0-9]+ .* 200 ' "$T/nghttp.out" || true)
[ "$n" -ge 200 ] || { cat "$T/nghttp.out" | tail -5; fail "nghttp: $n of 200 streams answered 200"; }
pass "200 concurrent streams on one connection (nghttp)"

# A bad preface (not HTTP/2, not HTTP/1.1) gets the connection closed.
exec 3<>"/dev/tcp/127.0.0.1/$wp"
printf 'PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n' >&3
# Closed means EOF or a reset (unread bytes when waspd closes make the kernel send RST,
# which cat reports as an error); only timeout's 124 means it stayed open.
rc=0
timeout 5 cat <&3 >"$T/bad.out" 2>/dev/null || rc=$?
[ "$rc" != 124 ] || fail "bad preface: the connection stayed open"
exec 3<&-
pass "bad preface closes the connection"

# Preface then garbage frames: GOAWAY and close.
exec 3<>"/dev/tcp/127.0.0.1/$wp"
printf 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x09\x00\x00\x00\x00\x01junk' >&3
timeout 5 cat <&3 >"$T/bad2.out" || fail "bad first frame: the connection stayed open"
exec 3<&-
pass "a bad first frame closes the connection"

# h2load: many requests over many streams and connections, none may fail.
for url in "$h2c" "$h2s"; do
    h2load -n 100000 -c 8 -m 64 "$url/small.txt" >"$T/h2load.out" 2>&1 ||
        fail "h2load $url: $(tail -5 "$T/h2load.out")"
    grep -q "100000 succeeded, 0 failed, 0 errored, 0 timeout" "$T/h2load.out" ||
        fail "h2load $url: $(grep requests: "$T/h2load.out")"
    grep -q "status codes: 100000 2xx" "$T/h2load.out" || fail "h2load $url: non-2xx"
    pass "h2load $url: $(grep -E '^finished in' "$T/h2load.out")"
done
pass "h2load 100000 requests x 64 streams x 8 connections, h2c and TLS: 0 failed"

# The concurrent-stream limit is announced and enforced: nghttp opens 30 streams at once
# (before it saw the SETTINGS): 7 are answered, the others refused (REFUSED_STREAM).
nghttp -v -n -m 30 "http://127.0.0.1:$sp/small.txt" >"$T/lim.out" 2>&1 || true
grep -q "SETTINGS_MAX_CONCURRENT_STREAMS(0x03):7\]" "$T/lim.out" ||
    fail "http2_max_streams = 7 not announced"
n=$(grep -c 'recv HEADERS frame' "$T/lim.out" || true)
[ "$n" = 7 ] || fail "http2_max_streams = 7: $n streams answered"
n=$(grep -c 'error_code=REFUSED_STREAM' "$T/lim.out" || true)
[ "$n" = 23 ] || fail "http2_max_streams = 7: $n streams refused"
grep -q "SETTINGS_MAX_CONCURRENT_STREAMS(0x03):128\]" < <(nghttp -v -n "$h2c/small.txt" 2>&1) ||
    fail "default 128 streams not announced"
pass "SETTINGS_MAX_CONCURRENT_STREAMS: 128 by default, http2_max_streams = 7 enforced"

# HEAD: the length of the body, no body.
out=$(http --http2-prior-knowledge -I "$h2c/big.bin" | tr -d '\r')
echo "$out" | grep -q "^content-length: 10485760$" || fail "HEAD over h2: $out"
pass "HEAD over h2"

# max_body_size (1k here): 413 from the declared length, or from the DATA that arrives.
head -c 2000 /dev/zero >"$T/2k"
code=$(http --http2-prior-knowledge -o /dev/null -w '%{http_code}' --data-binary @"$T/2k" \
       "http://127.0.0.1:$sp/up/x")
[ "$code" = 413 ] || fail "h2 body over max_body_size (content-length): $code"
code=$(http --http2-prior-knowledge -o /dev/null -w '%{http_code}' -T - \
       "http://127.0.0.1:$sp/up/x" <"$T/2k")
[ "$code" = 413 ] || fail "h2 body over max_body_size (no content-length): $code"
pass "max_body_size over h2: 413"

# A header list over max_header_size (32k): 431, the connection goes on.
big=$(head -c 40000 /dev/zero | tr '\0' 'x')
code=$(http --http2-prior-knowledge -o /dev/null -w '%{http_code}' -H "x-big: $big" "$h2c/small.txt")
[ "$code" = 431 ] || fail "too large header list: $code"
pass "too large header list: 431"

# TLS handshake timeout (header_timeout = 1s): a silent client is closed.
start=$(date +%s%N)
exec 3<>"/dev/tcp/127.0.0.1/$tp"
timeout 10 cat <&3 >/dev/null || fail "silent TLS client not closed"
exec 3<&-
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -lt 5000 ] || fail "handshake timeout took $ms ms"
pass "TLS handshake timeout ($ms ms)"

# HTTP/2 idle timeout (2s): GOAWAY then close after the last stream.
start=$(date +%s%N)
out=$(timeout 20 "$H2_CLIENT" get "$wp" /small.txt)
ms=$((($(date +%s%N) - start) / 1000000))
echo "$out" | grep -q "^goaway 0$" && echo "$out" | grep -q "^closed$" ||
    fail "idle h2 connection: $(echo "$out" | tr '\n' ' ')"
[ "$ms" -ge 1500 ] && [ "$ms" -lt 8000 ] || fail "idle timeout after $ms ms"
pass "HTTP/2 idle timeout: GOAWAY and close ($ms ms)"

# Back-pressure: a client reading 10 MB at 2 MB/s; waspd must not buffer the file.
rss() { awk '/^VmRSS/ {print $2}' "/proc/$WASPD_PID/status"; }
rss0=$(rss)
http --http2-prior-knowledge --limit-rate 2M -o "$T/slow.bin" "$h2c/big.bin" &
slow=$!
peak=0
for _ in $(seq 1 30); do
    sleep 0.1
    r=$(rss)
    [ "$r" -gt "$peak" ] && peak=$r
done
wait "$slow" || fail "slow download failed"
[ "$(sha256sum <"$T/slow.bin" | cut -d' ' -f1)" = "$want" ] || fail "slow download differs"
grow=$((peak - rss0))
if ldd "$WASPD" | grep -q libasan; then
    # ASan's quarantine keeps freed buffers: RSS follows the bytes moved, not the backlog.
    pass "slow h2 reader: body intact (RSS not checked under ASan: grew by $grow kB)"
else
    [ "$grow" -lt 5000 ] || fail "waspd grew by $grow kB for a slow 10 MB reader"
    pass "slow h2 reader: waspd grew by $grow kB (bounded), body intact"
fi

# waspd -t checks the key matches the certificate.
self_signed other other
sed "s#$T/srv.key#$T/other.key#" "$T/w.ini" >"$T/bad.ini"
if "$WASPD" -t -c "$T/bad.ini" >"$T/t.out" 2>&1; then
    fail "waspd -t accepts a key that does not match the certificate"
fi
grep -q "does not match" "$T/t.out" || fail "waspd -t message: $(cat "$T/t.out")"
pass "waspd -t rejects a mismatched certificate/key"
