#!/usr/bin/env bash
# Upstream failures and config checking: 502 on a dead upstream, 504 on a slow one, one
# retry of an idempotent request whose pooled connection died (none for POST), round
# robin over endpoints, and waspd -t on good and bad files.
source "$(dirname "$0")/lib.sh"

up=$(free_port)
dead=$(free_port)
wp=$(free_port)
start_test_upstream "$up"
cat >"$T/w.ini" <<INI
[daemon]
workers = 1
[listener:web]
address = 127.0.0.1:$wp
cluster = slow
[route:dead]
path_prefix = /dead
cluster = dead
[cluster:slow]
endpoints = 127.0.0.1:$up
read_timeout = 1s
[cluster:dead]
endpoints = 127.0.0.1:$dead
INI
out=$("$WASPD" -t -c "$T/w.ini") || fail "waspd -t rejects a valid file: $out"
start_waspd "$T/w.ini" "$wp"
base="http://127.0.0.1:$wp"

code=$(http -o "$T/b" -w '%{http_code}' "$base/dead")
[ "$code" = 502 ] || fail "dead upstream: $code, want 502"
[ -s "$T/b" ] || fail "502 without a body"
pass "502 on a dead upstream"

start=$(date +%s%N)
code=$(http -o "$T/b" -w '%{http_code}' "$base/slow/3000")
ms=$((($(date +%s%N) - start) / 1000000))
[ "$code" = 504 ] || fail "slow upstream: $code, want 504"
[ "$ms" -lt 2500 ] || fail "504 took $ms ms with read_timeout = 1s"
pass "504 on a slow upstream after ${ms} ms"

[ "$(http "$base/slow/100")" = "slow 100" ] || fail "a fast enough answer must pass"
pass "answers within read_timeout pass"

# The pooled connection drops the next request without a byte: GET is retried once
# on a new connection, POST is not.
[ "$(http "$base/drop-next")" = "dropping the next request" ] || fail "drop-next"
[ "$(http "$base/after-drop")" = "ok" ] || fail "GET on a dead pooled connection not retried"
pass "idempotent request retried on a new connection"
http "$base/drop-next" >/dev/null
code=$(http -o /dev/null -w '%{http_code}' -X POST -d x "$base/post-after-drop")
[ "$code" = 502 ] || fail "POST on a dead pooled connection: $code, want 502 (no retry)"
pass "POST not retried (502)"

code=$(http -o /dev/null -w '%{http_code}' "$base/close")
[ "$code" = 502 ] || fail "upstream closing without an answer: $code, want 502"
pass "502 when the upstream closes without an answer"

# Round robin: two endpoints, each answers a different body.
ng1=$(free_port)
ng2=$(free_port)
rr=$(free_port)
mkdir -p "$T/rr1" "$T/rr2"
for i in 1 2; do
    p=$([ $i = 1 ] && echo "$ng1" || echo "$ng2")
    user=""
    [ "$(id -u)" -eq 0 ] && user="user root;"
    cat >"$T/rr$i/nginx.conf" <<NGX
$user
worker_processes 1; pid $T/rr$i/nginx.pid; error_log $T/rr$i/error.log;
events { worker_connections 64; }
http { access_log off; client_body_temp_path $T/rr$i/cb; proxy_temp_path $T/rr$i/pt;
       fastcgi_temp_path $T/rr$i/ft; uwsgi_temp_path $T/rr$i/ut; scgi_temp_path $T/rr$i/st;
       server { listen 127.0.0.1:$p; location / { return 200 "e$i\n"; } } }
NGX
    nginx -p "$T/rr$i" -c "$T/rr$i/nginx.conf" -g 'daemon off;' </dev/null >/dev/null 2>&1 &
    PIDS+=($!)
    wait_port "$p"
done
cat >"$T/rr.ini" <<INI
[daemon]
workers = 1
[listener:rr]
address = 127.0.0.1:$rr
cluster = two
[cluster:two]
endpoints = 127.0.0.1:$ng1, 127.0.0.1:$ng2
INI
start_waspd "$T/rr.ini" "$rr"
got=$(for i in 1 2 3 4; do http "http://127.0.0.1:$rr/"; done | sort | uniq -c | awk '{print $1 $2}' | tr '\n' ' ')
[ "$got" = "2e1 2e2 " ] || fail "round robin over two endpoints: $got"
pass "round robin"

# waspd -t on a bad file: exit 1, every error with file:line.
cat >"$T/bad.ini" <<INI
[daemon]
workers = many
[listener:web]
address = 127.0.0.1:notaport
cluster = nowhere
INI
set +e
out=$("$WASPD" -t -c "$T/bad.ini" 2>&1)
rc=$?
set -e
[ $rc = 1 ] || fail "waspd -t on a bad file exited $rc, want 1"
# Every error, each as file:line: [section] key: what is wrong.
grep -qF "bad.ini:2: [daemon] workers: " <<<"$out" || fail "bad workers value: $out"
grep -qF "bad.ini:4: [listener:web] address: " <<<"$out" || fail "bad address: $out"
grep -qF "bad.ini:5: [listener:web] cluster: unknown cluster 'nowhere'" <<<"$out" ||
    fail "unknown cluster: $out"
pass "waspd -t: exit 1 with file:line errors"
set +e
"$WASPD" -t -c "$T/does-not-exist.ini" >/dev/null 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "waspd -t on a missing file exited $rc"
pass "waspd -t on a missing file"
