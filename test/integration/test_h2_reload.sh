#!/usr/bin/env bash
# HTTP/2 reload under load: h2load over h2c and over TLS runs while SIGHUP is sent 5
# times (new certificates each time, once a broken file): no request fails, long-lived
# HTTP/2 connections move to the new generation for new streams (the response header
# added by the configuration changes on the same connection), the certificate served to
# new connections is the newest.
source "$(dirname "$0")/lib.sh"

ng=$(free_port)
wp=$(free_port)
tp=$(free_port)
start_nginx "$ng"
echo "hello" >"$T/ng/www/index.html"
cert() { self_signed srv "$1"; }
write_conf() {
    cat >"$T/w.ini" <<INI
[daemon]
workers = 2
[listener:web]
address = 127.0.0.1:$wp
cluster = ng
add_response_header = X-Gen: $1
[listener:tls]
address = 127.0.0.1:$tp
protocol = https
tls_certificate = $T/srv.pem
tls_key = $T/srv.key
cluster = ng
add_response_header = X-Gen: $1
[cluster:ng]
endpoints = 127.0.0.1:$ng
max_idle = 256
INI
}
cert gen0
write_conf 0
start_waspd "$T/w.ini" "$wp"
wait_port "$tp"

timeout 60 h2load -c 4 -m 16 -D 6 "http://127.0.0.1:$wp/index.html" >"$T/h2c.out" 2>&1 &
l1=$!
timeout 60 h2load -c 4 -m 16 -D 6 "https://127.0.0.1:$tp/index.html" >"$T/tls.out" 2>&1 &
l2=$!
PIDS+=("$l1" "$l2")
sleep 0.7
for gen in 1 2 3 4 5; do
    if [ "$gen" = 3 ]; then
        printf '[listener:web]\naddress = 127.0.0.1:%s\ncluster = missing\n' "$wp" >"$T/w.ini"
    else
        cert "gen$gen"
        write_conf "$gen"
    fi
    kill -HUP "$WASPD_PID"
    sleep 0.8
done
for l in "$l1" "$l2"; do
    wait "$l" || fail "h2load failed: $(cat "$T/h2c.out" "$T/tls.out")"
done
for f in h2c tls; do
    grep -qE "^requests: .* ([1-9][0-9]*) succeeded, 0 failed, 0 errored, 0 timeout" "$T/$f.out" ||
        fail "$f requests failed during reloads: $(grep -E '^requests:' "$T/$f.out")"
    pass "$f: $(grep -E '^requests:' "$T/$f.out")"
done
pass "no failed HTTP/2 request across 5 reloads under load (h2c and TLS)"

wait_until 15 grep -q "generation 5 is live" "$T/waspd.err" || fail "generation 5 not live"
subj=$(openssl s_client -connect "127.0.0.1:$tp" </dev/null 2>/dev/null |
       sed -n 's/^subject=.*CN *= *\([^,/]*\).*/\1/p')
[ "$subj" = gen5 ] || fail "new connections get certificate '$subj', not gen5"
out=$(http -k --http2 -D - -o /dev/null "https://127.0.0.1:$tp/index.html" | tr -d '\r')
echo "$out" | grep -qi "^x-gen: 5$" || fail "TLS listener not on generation 5: $out"
pass "certificate and configuration of generation 5 live"

# One HTTP/2 connection across a reload: its next stream uses the new generation.
write_conf 6
# (over TLS: curl 7.88 cannot reuse an h2c prior-knowledge connection, with nginx too)
http -k --http2 --rate 1/s -D "$T/both.h" -o /dev/null -o /dev/null -w '%{num_connects}\n' \
    "https://127.0.0.1:$tp/index.html" "https://127.0.0.1:$tp/index.html" >"$T/conns.out" &
cl=$!
# HUP once the first answer is in (the second request follows it 1 s later).
wait_until 10 grep -qi "^x-gen: 5" "$T/both.h" 2>/dev/null || true
kill -HUP "$WASPD_PID"
wait "$cl" || fail "curl across the reload failed"
[ "$(awk '{s += $1} END {print s}' "$T/conns.out")" = 1 ] ||
    fail "curl did not reuse its connection: $(cat "$T/conns.out")"
gens=$(tr -d '\r' <"$T/both.h" | grep -i '^x-gen:' | tr '\n' ' ')
[ "$gens" = "x-gen: 5 x-gen: 6 " ] || fail "one connection across a reload saw: $gens"
pass "one HTTP/2 connection across a reload: the next stream runs on the new generation"
