#!/usr/bin/env bash
# HTTP/2 protection and trailers: rapid reset (CVE-2023-44487) and PING / SETTINGS /
# empty DATA / PRIORITY / CONTINUATION floods end the connection with GOAWAY
# ENHANCE_YOUR_CALM (11) while the worker keeps serving other clients; an upload to a slow
# upstream is flow-controlled (waspd does not hold the body); trailers go both ways
# (h2 request trailers -> chunked HTTP/1.1 upstream -> response trailers -> h2).
source "$(dirname "$0")/lib.sh"
: "${H2_CLIENT:?H2_CLIENT must point to the h2_client test tool}"

ng=$(free_port)
up=$(free_port)
wp=$(free_port)
start_nginx "$ng"
echo small >"$T/ng/www/small.txt"
"$H2_CLIENT" echo-upstream "$up" </dev/null >/dev/null 2>"$T/echo.err" &
PIDS+=($!)
wait_port "$up"
slow=$(free_port)
"$H2_CLIENT" slow-upstream "$slow" </dev/null >/dev/null 2>"$T/slow.err" &
PIDS+=($!)
wait_port "$slow"
cat >"$T/w.ini" <<INI
[daemon]
workers = 1
[listener:web]
address = 127.0.0.1:$wp
cluster = ng
idle_timeout = 2s
[route:echo]
listener = web
path_prefix = /echo
cluster = echo
[route:slow]
listener = web
path_prefix = /slowup
cluster = slow
[cluster:slow]
endpoints = 127.0.0.1:$slow
[cluster:ng]
endpoints = 127.0.0.1:$ng
[cluster:echo]
endpoints = 127.0.0.1:$up
INI
start_waspd "$T/w.ini" "$wp"
h2c="http://127.0.0.1:$wp"

# A healthy client on its own connection during and after the floods.
h2load -n 200000 -c 1 -m 8 -D 6 "$h2c/small.txt" >"$T/bg.out" 2>&1 &
bg=$!
for kind in rapid-reset ping settings empty-data priority continuation; do
    timeout 30 "$H2_CLIENT" flood "$wp" "$kind" 20000 >"$T/flood.out" 2>&1 ||
        fail "$kind flood: client failed: $(cat "$T/flood.out")"
    grep -q "^goaway 11$" "$T/flood.out" ||
        fail "$kind flood: no GOAWAY ENHANCE_YOUR_CALM: $(tr '\n' ' ' <"$T/flood.out")"
    grep -q "^closed$" "$T/flood.out" || fail "$kind flood: connection not closed"
    pass "$kind flood: GOAWAY ENHANCE_YOUR_CALM and closed"
done
wait "$bg" || fail "background h2load failed: $(tail -5 "$T/bg.out")"
grep -qE "[1-9][0-9]* succeeded, 0 failed, 0 errored, 0 timeout" "$T/bg.out" ||
    fail "background client: $(grep requests: "$T/bg.out")"
for kind in RST_STREAM PING SETTINGS "empty DATA" PRIORITY CONTINUATION; do
    [ "$(grep -c "\[warn\] .*: h2: connection closed: $kind flood (GOAWAY ENHANCE_YOUR_CALM)" "$T/waspd.err")" = 1 ] ||
        fail "$kind flood: not one warning line: $(grep flood "$T/waspd.err")"
done
[ "$(http --http2-prior-knowledge "$h2c/small.txt")" = small ] || fail "served after floods"
pass "other clients served during and after the floods"

# Normal use stays below the limits: a few hundred cancelled streams are fine.
# (The client reads until the server closes: the idle timeout is shortened for that.)
timeout 30 "$H2_CLIENT" flood "$wp" rapid-reset 50 >"$T/few.out" 2>&1 || true
grep -q "^goaway 11$" "$T/few.out" && fail "50 resets must not count as a flood"
pass "50 resets are not a flood"

# Request back-pressure: 10 MB uploaded fast over h2c to an upstream reading ~2 MB/s;
# waspd acknowledges DATA (WINDOW_UPDATE) only as the upstream takes it, so it never
# holds the body.
head -c 10485760 /dev/urandom >"$T/up.bin"
rss() { awk '/^VmRSS/ {print $2}' "/proc/$WASPD_PID/status"; }
rss0=$(rss)
http --http2-prior-knowledge -T "$T/up.bin" "$h2c/slowup/x" >"$T/slowup.out" &
cl=$!
peak=0
while kill -0 "$cl" 2>/dev/null; do
    r=$(rss)
    [ "$r" -gt "$peak" ] && peak=$r
    sleep 0.1
done
wait "$cl" || fail "upload to the slow upstream failed"
n=$(sed -n 's/^read \([0-9]*\)$/\1/p' "$T/slowup.out")
[ -n "$n" ] && [ "$n" -gt 10485760 ] || fail "slow upstream got: $(cat "$T/slowup.out")"
grow=$((peak - rss0))
if ldd "$WASPD" | grep -q libasan; then
    pass "upload to a slow upstream complete (RSS not checked under ASan)"
else
    [ "$grow" -lt 5000 ] || fail "waspd grew by $grow kB for a 10 MB upload to a slow upstream"
    pass "upload to a slow upstream: waspd grew by $grow kB (flow control follows the upstream)"
fi

# Trailers both ways.
out=$(timeout 20 "$H2_CLIENT" trailers "$wp" /echo)
echo "$out" | grep -q "^status 200$" || fail "trailers: $out"
echo "$out" | grep -q "^got x-req-trailer: yes$" || fail "request trailer not forwarded: $out"
echo "$out" | grep -q "^trailer x-resp-trailer: done$" || fail "response trailer lost: $out"
pass "trailers: h2 request trailers reach the upstream, upstream trailers reach the h2 client"

# Response trailers also to curl (HTTP/2), and no trailers means none.
out=$(http --http2-prior-knowledge -D - -o /dev/null "$h2c/echo")
echo "$out" | grep -qi "^x-resp-trailer: done" || fail "curl did not see the trailer: $out"
pass "response trailers seen by curl"
